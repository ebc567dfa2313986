-- Each person's time zone: dates show in it, and their activity chart counts days and
-- weeks as they live them. 'UTC' until set (sign-up sends the browser's zone).
alter table users add column time_zone text not null default 'UTC';

-- Recounts follow each learner's zone.
create or replace function recount_learner_activity(learners bigint[]) returns void language sql as $$
    select lock_learner_counters();
    delete from learner_weeks where user_id = any(learners);
    with dropped as (
        delete from learner_week_changes where user_id = any(learners)
    )
    insert into learner_weeks (user_id, week, changes, completions)
    select e.user_id, date_trunc('week', e.at at time zone u.time_zone)::date,
           array[count(*) filter (where extract(isodow from e.at at time zone u.time_zone) = 1),
                 count(*) filter (where extract(isodow from e.at at time zone u.time_zone) = 2),
                 count(*) filter (where extract(isodow from e.at at time zone u.time_zone) = 3),
                 count(*) filter (where extract(isodow from e.at at time zone u.time_zone) = 4),
                 count(*) filter (where extract(isodow from e.at at time zone u.time_zone) = 5),
                 count(*) filter (where extract(isodow from e.at at time zone u.time_zone) = 6),
                 count(*) filter (where extract(isodow from e.at at time zone u.time_zone) = 7)]::integer[],
           count(*) filter (where e.to_state = 'done' and e.kind <> 'undo'
                              and not exists (select 1 from progress_events x
                                              where x.user_id = e.user_id and x.undoes = e.action_id))
    from progress_events e join users u on u.id = e.user_id
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

-- New events land on the learner's own day and week.
create or replace function learner_weeks_follow_new_events() returns trigger language plpgsql as $$
begin
    with counted as (
        select n.user_id, date_trunc('week', n.at at time zone z.time_zone)::date as week,
               extract(isodow from n.at at time zone z.time_zone)::int as dow,
               (n.to_state = 'done' and n.kind <> 'undo'
                and not exists (select 1 from progress_events u
                                where u.user_id = n.user_id and u.undoes = n.action_id))::int as completion
        from new_events n join users z on z.id = n.user_id
        union all
        -- Completions made before this statement whose action is undone for the first time now.
        select d.user_id, date_trunc('week', d.at at time zone z.time_zone)::date, 0, -1
        from (select distinct user_id, undoes from new_events where undoes is not null) u
        join users z on z.id = u.user_id
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
