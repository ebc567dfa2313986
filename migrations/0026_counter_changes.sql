-- Counters without hot rows. Ticks used to update the learner's stage tally, week row and
-- enrollment in place, so a learner's concurrent changes queued on those rows (and could
-- deadlock, taking them in different orders). Now a change appends its deltas to these
-- tables, which nothing updates; `fold_learner_counters()`, run about every second by one
-- server, moves them into the totals. Readers add a learner's pending deltas to the totals,
-- so every page is exact at once.
--
-- No foreign keys: a key check would take a share lock on the user's row for every tick.
-- Deltas of a deleted user are dropped by the next fold.

create table stage_tally_changes (
    user_id bigint not null,
    roadmap_id text not null,
    stage_id text not null,
    done integer not null,
    optional_done integer not null,
    in_progress integer not null,
    skipped integer not null,
    verified integer not null
);
create index stage_tally_changes_user on stage_tally_changes (user_id);

create table learner_week_changes (
    user_id bigint not null,
    week date not null,
    changes integer[] not null,
    completions integer not null
);
create index learner_week_changes_user on learner_week_changes (user_id);

create table enrollment_activity_changes (
    user_id bigint not null,
    roadmap_id text not null,
    at timestamptz not null
);
create index enrollment_activity_changes_user on enrollment_activity_changes (user_id, roadmap_id);

-- The fold and the recounts take this lock, so a recount never races a fold.
create function lock_learner_counters() returns void language sql as $$
    select pg_advisory_xact_lock(7165016442001);
$$;

-- Moves every pending delta into the totals. Returns false, doing nothing, when another
-- session is folding or recounting.
create function fold_learner_counters() returns boolean language plpgsql as $$
begin
    if not pg_try_advisory_xact_lock(7165016442001) then
        return false;
    end if;
    with moved as (
        delete from stage_tally_changes returning *
    ), summed as (
        select m.user_id, m.roadmap_id, m.stage_id, sum(m.done)::int as done,
               sum(m.optional_done)::int as optional_done, sum(m.in_progress)::int as in_progress,
               sum(m.skipped)::int as skipped, sum(m.verified)::int as verified
        from moved m
        where exists (select 1 from users u where u.id = m.user_id)
        group by 1, 2, 3
    )
    insert into stage_tallies as t (user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified)
    select * from summed order by 1, 2, 3
    on conflict (user_id, roadmap_id, stage_id) do update set
        done = t.done + excluded.done,
        optional_done = t.optional_done + excluded.optional_done,
        in_progress = t.in_progress + excluded.in_progress,
        skipped = t.skipped + excluded.skipped,
        verified = t.verified + excluded.verified;

    with moved as (
        delete from learner_week_changes returning *
    ), summed as (
        select m.user_id, m.week,
               array[sum(m.changes[1]), sum(m.changes[2]), sum(m.changes[3]), sum(m.changes[4]),
                     sum(m.changes[5]), sum(m.changes[6]), sum(m.changes[7])]::integer[] as changes,
               sum(m.completions)::int as completions
        from moved m
        where exists (select 1 from users u where u.id = m.user_id)
        group by 1, 2
    )
    insert into learner_weeks as w (user_id, week, changes, completions)
    select * from summed order by 1, 2
    on conflict (user_id, week) do update set
        changes = array[w.changes[1] + excluded.changes[1], w.changes[2] + excluded.changes[2],
                        w.changes[3] + excluded.changes[3], w.changes[4] + excluded.changes[4],
                        w.changes[5] + excluded.changes[5], w.changes[6] + excluded.changes[6],
                        w.changes[7] + excluded.changes[7]],
        completions = w.completions + excluded.completions;

    with moved as (
        delete from enrollment_activity_changes returning *
    ), latest as (
        select user_id, roadmap_id, max(at) as at from moved group by 1, 2
    )
    update enrollments en set last_activity_at = l.at
    from latest l
    where en.user_id = l.user_id and en.roadmap_id = l.roadmap_id
      and (en.last_activity_at is null or en.last_activity_at < l.at);
    return true;
end;
$$;

-- One progress row changed: append its old contribution taken off and its new one added.
create or replace function stage_tallies_follow_progress() returns trigger language plpgsql as $$
declare
    s record;
begin
    if tg_op = 'DELETE' and not exists (select 1 from users where id = old.user_id) then
        -- The learner is being deleted: their tallies go with them.
        return null;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        select roadmap_id, stage_id, optional into s from skills where id = old.skill_id and retired_at is null;
        if found and old.state <> 'not_started' then
            insert into stage_tally_changes (user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified)
            values (old.user_id, s.roadmap_id, s.stage_id,
                    -(old.state = 'done' and not s.optional)::int,
                    -(old.state = 'done' and s.optional)::int,
                    -(old.state = 'in_progress')::int,
                    -(old.state = 'skipped' and not s.optional)::int,
                    -(old.state = 'done' and not s.optional and old.verified_by is not null)::int);
        end if;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        select roadmap_id, stage_id, optional into s from skills where id = new.skill_id and retired_at is null;
        if found and new.state <> 'not_started' then
            insert into stage_tally_changes (user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified)
            values (new.user_id, s.roadmap_id, s.stage_id,
                    (new.state = 'done' and not s.optional)::int,
                    (new.state = 'done' and s.optional)::int,
                    (new.state = 'in_progress')::int,
                    (new.state = 'skipped' and not s.optional)::int,
                    (new.state = 'done' and not s.optional and new.verified_by is not null)::int);
        end if;
    end if;
    return null;
end;
$$;

-- Recounts take the fold's lock and drop the learners' pending deltas in the same
-- statement that recounts them, so a change committed meanwhile is counted exactly once:
-- either in the snapshot the recount reads, or as a delta it did not see.
create or replace function recount_stage_tallies(learners bigint[]) returns void language sql as $$
    select lock_learner_counters();
    delete from stage_tallies where user_id = any(learners);
    with dropped as (
        delete from stage_tally_changes where user_id = any(learners)
    )
    insert into stage_tallies (user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified)
    select p.user_id, s.roadmap_id, s.stage_id,
           count(*) filter (where p.state = 'done' and not s.optional),
           count(*) filter (where p.state = 'done' and s.optional),
           count(*) filter (where p.state = 'in_progress'),
           count(*) filter (where p.state = 'skipped' and not s.optional),
           count(*) filter (where p.state = 'done' and not s.optional and p.verified_by is not null)
    from skill_progress p join skills s on s.id = p.skill_id
    where p.user_id = any(learners) and s.retired_at is null and p.state <> 'not_started'
    group by p.user_id, s.roadmap_id, s.stage_id;
$$;

create or replace function recount_learner_activity(learners bigint[]) returns void language sql as $$
    select lock_learner_counters();
    delete from learner_weeks where user_id = any(learners);
    with dropped as (
        delete from learner_week_changes where user_id = any(learners)
    )
    insert into learner_weeks (user_id, week, changes, completions)
    select e.user_id, date_trunc('week', e.at at time zone 'UTC')::date,
           array[count(*) filter (where extract(isodow from e.at at time zone 'UTC') = 1),
                 count(*) filter (where extract(isodow from e.at at time zone 'UTC') = 2),
                 count(*) filter (where extract(isodow from e.at at time zone 'UTC') = 3),
                 count(*) filter (where extract(isodow from e.at at time zone 'UTC') = 4),
                 count(*) filter (where extract(isodow from e.at at time zone 'UTC') = 5),
                 count(*) filter (where extract(isodow from e.at at time zone 'UTC') = 6),
                 count(*) filter (where extract(isodow from e.at at time zone 'UTC') = 7)]::integer[],
           count(*) filter (where e.to_state = 'done' and e.kind <> 'undo'
                              and not exists (select 1 from progress_events u
                                              where u.user_id = e.user_id and u.undoes = e.action_id))
    from progress_events e
    where e.user_id = any(learners)
    group by 1, 2;
    with dropped as (
        delete from enrollment_activity_changes where user_id = any(learners)
    )
    update enrollments en set last_activity_at = (
        select max(p.updated_at) from skill_progress p join skills s on s.id = p.skill_id
        where p.user_id = en.user_id and s.roadmap_id = en.roadmap_id)
    where en.user_id = any(learners);
$$;

-- New events, once per statement: append each to its weekday, with completions that no
-- undo reverts, and take back completions that a first undo of their action reverts.
create or replace function learner_weeks_follow_new_events() returns trigger language plpgsql as $$
begin
    with counted as (
        select n.user_id, date_trunc('week', n.at at time zone 'UTC')::date as week,
               extract(isodow from n.at at time zone 'UTC')::int as dow,
               (n.to_state = 'done' and n.kind <> 'undo'
                and not exists (select 1 from progress_events u
                                where u.user_id = n.user_id and u.undoes = n.action_id))::int as completion
        from new_events n
        union all
        -- Completions made before this statement whose action is undone for the first time now.
        select d.user_id, date_trunc('week', d.at at time zone 'UTC')::date, 0, -1
        from (select distinct user_id, undoes from new_events where undoes is not null) u
        join progress_events d on d.action_id = u.undoes and d.user_id = u.user_id
        where d.to_state = 'done' and d.kind <> 'undo'
          and not exists (select 1 from new_events n where n.id = d.id)
          and not exists (select 1 from progress_events o
                          where o.user_id = u.user_id and o.undoes = u.undoes
                            and not exists (select 1 from new_events n where n.id = o.id))
    )
    insert into learner_week_changes (user_id, week, changes, completions)
    select user_id, week,
           array[count(*) filter (where dow = 1), count(*) filter (where dow = 2),
                 count(*) filter (where dow = 3), count(*) filter (where dow = 4),
                 count(*) filter (where dow = 5), count(*) filter (where dow = 6),
                 count(*) filter (where dow = 7)]::integer[],
           sum(completion)::int
    from counted group by 1, 2;
    return null;
end;
$$;

-- Progress rows written: append the latest change per enrollment.
create or replace function enrollments_follow_progress() returns trigger language plpgsql as $$
begin
    insert into enrollment_activity_changes (user_id, roadmap_id, at)
    select n.user_id, s.roadmap_id, max(n.updated_at)
    from changed n join skills s on s.id = n.skill_id
    group by 1, 2;
    return null;
end;
$$;
