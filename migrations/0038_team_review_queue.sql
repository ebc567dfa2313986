-- Shared team review queues. A team's mentors and leads reach its learners' review requests
-- on the team's roadmaps, as a direct mentor reaches a mentee's: `mentor_reach` is every
-- such pair, either way. Any of them can claim a request for 30 minutes, so two mentors do
-- not review the same work at once; the first verdict still wins.
alter table review_requests
    add column claimed_by bigint references users (id) on delete set null,
    add column claimed_until timestamptz;

-- Who can review whom, on which roadmaps: active mentor links, and team mentors and leads
-- over the team's active learners (on the team's assigned roadmaps).
create view mentor_reach as
    select m.mentor_id, m.mentee_id, m.all_roadmaps, null::bigint as team_id,
           coalesce((select array_agg(r.roadmap_id) from mentorship_roadmaps r
                     where r.mentorship_id = m.id), '{}') as roadmaps
    from mentorships m
    where m.status = 'active' and m.mentor_id is not null
    union all
    select me.user_id, tm.user_id, false, me.team_id,
           coalesce((select array_agg(tr.roadmap_id) from team_roadmaps tr
                     where tr.team_id = me.team_id), '{}')
    from team_members me
    join team_members tm on tm.team_id = me.team_id and tm.role = 'learner' and tm.left_at is null
                        and tm.user_id <> me.user_id
    where me.role in ('mentor', 'lead') and me.left_at is null;

-- A team's members by team, for the reach above and the team's queue.
create index team_members_by_team on team_members (team_id, role) where left_at is null;

-- The sweep that tells learners and leads of stages past their target date (src/jobs.rs).
insert into jobs (name) values ('overdue_stages');
