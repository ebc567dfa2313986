-- Bench data on top of `pathway demo`, set-based (no per-row loops). Run by bench/run with
--   psql -v ON_ERROR_STOP=1 -f bench/seed.sql "host=<pg data dir> user=postgres dbname=pathway"
-- Every bench account signs in with the demo password (the hash is copied from `ada`).
--
-- Accounts:
--   learner-00001 .. learner-05000   60..530 events each on `backend` (about 1.47 M in all)
--   mentor300 + m300-mentee-001..200 200 active mentees with 300 events each
--   mentor50  + m50-mentee-001..200  200 active mentees with 50 events each
--   learner50, learner300            50 and 300 events
--   benchticker                      enrolled, no progress: the tick benchmark changes its skills
--   benchadmin                       an admin
--
-- Progress follows the learner's path through the roadmap's skills in order: each skill goes
-- not started -> in progress -> done (now and then skipped), and after a pass through the whole
-- roadmap is reopened and done again. In every block of 12 events, the 11th undoes the 10th
-- (kind 'undo', `undoes` = the undone action's id, as progress::undo writes) and the 12th makes
-- the change again. skill_progress is then derived from each (user, skill)'s events, so the
-- current state is always the state of the last event.

\set ON_ERROR_STOP on
\timing on
set synchronous_commit = off;
set work_mem = '256MB';
set maintenance_work_mem = '512MB';

begin;

do $$ begin
  if exists (select 1 from users where username = 'mentor300') then
    raise exception 'bench data is already there (user mentor300 exists)';
  end if;
  if not exists (select 1 from users where username = 'ada') then
    raise exception 'run `pathway demo` first: the bench accounts copy ada''s password hash';
  end if;
end $$;

-- The roadmap's live skills, in path order: n = 0 .. S-1.
create temp table bench_skills on commit drop as
select (row_number() over (order by st.position, s.position, s.id) - 1)::int as n, s.id, s.content_hash
from skills s join stages st on st.roadmap_id = s.roadmap_id and st.id = s.stage_id
where s.roadmap_id = 'backend' and s.retired_at is null and st.retired_at is null;
create unique index on bench_skills (n);
analyze bench_skills;
select count(*) as skill_count from bench_skills \gset

-- Who to create: events to generate, and the window (days ago) their events spread over.
create temp table bench_people (
    username text primary key, display_name text not null, kind text not null,
    n_events int not null, start_days int not null, end_days int not null, seq int not null
) on commit drop;

insert into bench_people
select format('learner-%s', lpad(i::text, 5, '0')), format('Learner %s', i), 'learner',
       60 + (i * 7919) % 471,            -- 60 .. 530 events, 295 on average
       182 - (i % 60),                   -- started 17 to 26 weeks ago
       (i * 31) % 46,                    -- last active today .. 45 days ago (some stalled)
       i
from generate_series(1, 5000) i;

insert into bench_people
select format('m300-mentee-%s', lpad(i::text, 3, '0')), format('Mentee 300-%s', lpad(i::text, 3, '0')),
       'm300', 300, 182 - (i % 30), i % 2, i
from generate_series(1, 200) i;

insert into bench_people
select format('m50-mentee-%s', lpad(i::text, 3, '0')), format('Mentee 50-%s', lpad(i::text, 3, '0')),
       'm50', 50, 182 - (i % 30), i % 2, i
from generate_series(1, 200) i;

insert into bench_people values
    ('learner50',   'Bench Learner 50',   'single', 50,  182, 0, 1),
    ('learner300',  'Bench Learner 300',  'single', 300, 182, 0, 2),
    ('benchticker', 'Bench Ticker',       'ticker', 0,   30,  0, 1),
    ('mentor300',   'Mentor of 300s',     'mentor', 0,   200, 0, 1),
    ('mentor50',    'Mentor of 50s',      'mentor', 0,   200, 0, 2),
    ('benchadmin',  'Bench Admin',        'admin',  0,   200, 0, 1);

insert into users (username, display_name, password_hash, is_admin, created_at)
select p.username, p.display_name, (select password_hash from users where username = 'ada'),
       p.kind = 'admin', now() - make_interval(days => p.start_days + 1)
from bench_people p
order by p.kind, p.seq;

-- Learners with their ids, and where their action ids start in a reserved block.
create temp table bench_plan on commit drop as
select u.id as user_id, p.kind, p.seq, p.n_events, p.start_days, p.end_days,
       (sum(p.n_events) over (order by u.id) - p.n_events)::bigint as event_offset
from bench_people p join users u using (username)
where p.kind in ('learner', 'm300', 'm50', 'single', 'ticker');
analyze bench_plan;

insert into enrollments (user_id, roadmap_id, started_at)
select user_id, 'backend', now() - make_interval(days => start_days) from bench_plan;

-- Reserve one action id per generated event: action = base + offset + event number.
select nextval('progress_actions') as action_base, (select sum(n_events) from bench_plan) as total_events \gset
select setval('progress_actions', :action_base + :total_events + 1) as action_next \gset

-- The events. e = event number (0-based), blk/r = its block of 12 and place in it,
-- j = the logical change (the undo and the redo repeat the block's 10th change),
-- k = skill index, t = how often this user touched the skill before this change.
insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state, undoes,
                             content_hash, at)
select :action_base + g.event_offset + g.e + 1,
       g.user_id, s.id, g.user_id,
       case when g.r = 10 then 'undo' else 'set' end,
       case when g.r = 10 then g.to_s else g.from_s end,
       case when g.r = 10 then g.from_s else g.to_s end,
       case when g.r = 10 then :action_base + g.event_offset + (g.e - 1) + 1 end,
       case when (case when g.r = 10 then g.from_s else g.to_s end) = 'done' then s.content_hash end,
       now() - make_interval(days => g.start_days)
             + make_interval(secs => (g.start_days - g.end_days) * 86400.0 * (g.e + 1) / (g.n_events + 1))
from (
    select x.*,
           case when x.t = 0 then 'not_started'
                when (x.t - 1) % 2 = 0 then 'in_progress'
                when (x.user_id + x.k) % 17 = 0 then 'skipped'
                else 'done' end as from_s,
           case when x.t % 2 = 0 then 'in_progress'
                when (x.user_id + x.k) % 17 = 0 then 'skipped'
                else 'done' end as to_s
    from (
        select w.*, (w.j / 2) % :skill_count as k, (w.j % 2) + 2 * (w.j / (2 * :skill_count)) as t
        from (
            select p.user_id, p.n_events, p.start_days, p.end_days, p.event_offset, e, e % 12 as r,
                   (e / 12) * 10 + least(e % 12, 9) as j
            from bench_plan p, generate_series(0, p.n_events - 1) e
        ) w
    ) x
) g
join bench_skills s on s.n = g.k;

-- Current state per (user, skill): the last event's.
insert into skill_progress (user_id, skill_id, state, started_at, done_at, updated_at, version, done_content_hash)
select a.user_id, a.skill_id, a.state, a.started_at,
       case when a.state = 'done' then a.done_at end, a.updated_at, a.version,
       case when a.state = 'done' then s.content_hash end
from (
    select e.user_id, e.skill_id,
           (array_agg(e.to_state order by e.at desc, e.id desc))[1] as state,
           min(e.at) filter (where e.to_state <> 'not_started') as started_at,
           min(e.at) filter (where e.to_state = 'done') as done_at,
           max(e.at) as updated_at,
           count(*)::int as version
    from progress_events e
    where e.user_id in (select user_id from bench_plan)
    group by e.user_id, e.skill_id
) a join skills s on s.id = a.skill_id;

-- Mentor links: mentor300 and mentor50, 200 active mentees each, last visit a few days back.
insert into mentorships (mentee_id, mentor_id, status, all_roadmaps, created_at, responded_at)
select p.user_id, m.id, 'active', true, now() - interval '150 days', now() - interval '149 days'
from bench_plan p
join users m on m.username = case p.kind when 'm300' then 'mentor300' else 'mentor50' end
where p.kind in ('m300', 'm50');

insert into mentor_visits (mentor_id, mentee_id, seen_at)
select m.id, p.user_id, now() - interval '3 days' - make_interval(hours => p.seq % 48)
from bench_plan p
join users m on m.username = case p.kind when 'm300' then 'mentor300' else 'mentor50' end
where p.kind in ('m300', 'm50');

-- Pending review requests: a third of the mentees ask about one or two done skills.
create temp table bench_pending on commit drop as
select q.user_id, q.skill_id, now() - make_interval(days => q.seq % 9, hours => q.rn::int) as requested_at
from (
    select p.user_id, p.seq, sp.skill_id, row_number() over (partition by p.user_id order by sp.updated_at desc) as rn
    from bench_plan p join skill_progress sp on sp.user_id = p.user_id and sp.state = 'done'
    where p.kind in ('m300', 'm50') and p.seq % 3 = 0
) q
where q.rn <= 1 + q.seq % 2;

insert into review_requests (mentee_id, skill_id, message, status, requested_at)
select user_id, skill_id, 'Could you check this one? I built the practice exercise.', 'pending', requested_at
from bench_pending;

insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state, message, at)
select nextval('progress_actions'), user_id, skill_id, user_id, 'review_requested', 'done', 'done',
       'Could you check this one? I built the practice exercise.', requested_at
from bench_pending;

-- Answered reviews among the general learners: one verified skill for every 5th learner
-- (answered by the demo mentor), withdrawn ones for every 7th.
create temp table bench_verified on commit drop as
select q.user_id, q.skill_id, q.updated_at + interval '2 hours' as requested_at,
       least(q.updated_at + interval '26 hours', now()) as answered_at
from (
    select p.user_id, sp.skill_id, sp.updated_at,
           row_number() over (partition by p.user_id order by sp.updated_at) as rn
    from bench_plan p join skill_progress sp on sp.user_id = p.user_id and sp.state = 'done'
    where p.kind = 'learner' and p.seq % 5 = 0
) q
where q.rn = 1;

insert into review_requests (mentee_id, skill_id, message, status, requested_at, answered_by, answered_at, answer)
select v.user_id, v.skill_id, '', 'verified', v.requested_at, m.id, v.answered_at, 'Clear work, well done.'
from bench_verified v, users m where m.username = 'mentor';

update skill_progress sp set verified_by = m.id, verified_at = v.answered_at
from bench_verified v, users m
where m.username = 'mentor' and sp.user_id = v.user_id and sp.skill_id = v.skill_id;

insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state, message, at)
select nextval('progress_actions'), v.user_id, v.skill_id, v.user_id, 'review_requested', 'done', 'done', '', v.requested_at
from bench_verified v
union all
select nextval('progress_actions'), v.user_id, v.skill_id, m.id, 'verify', 'done', 'done', 'Clear work, well done.', v.answered_at
from bench_verified v, users m where m.username = 'mentor';

insert into review_requests (mentee_id, skill_id, message, status, requested_at, answered_at)
select p.user_id, sp.skill_id, 'Is this enough?', 'withdrawn', sp.updated_at - interval '1 day', sp.updated_at
from bench_plan p join skill_progress sp on sp.user_id = p.user_id and sp.state = 'in_progress' and sp.version > 2
where p.kind = 'learner' and p.seq % 7 = 0;

-- Notes on the first three skills each learner touched; every other learner shares them.
insert into notes (user_id, skill_id, body_md, shared_with_mentors, updated_at)
select p.user_id, s.id,
       format(E'What I learned about **%s**:\n\n- read the docs twice\n- built the practice exercise\n\nOpen question: how does this behave under load?', s.id),
       p.seq % 2 = 0, now() - make_interval(days => p.end_days)
from bench_plan p join bench_skills s on s.n < 3
where p.n_events >= 6;

commit;

-- Vacuumed as well as analyzed: otherwise autovacuum starts on the 1.5 M new rows during
-- the first measurements (B among them) and makes the ratios depend on when it ran.
vacuum (analyze);

select (select count(*) from users) as users,
       (select count(*) from progress_events) as progress_events,
       (select count(*) from skill_progress) as skill_progress,
       (select count(*) from review_requests where status = 'pending') as pending_reviews,
       (select count(*) from notes) as notes;
