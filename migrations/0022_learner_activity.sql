-- The dashboard's charts and "last activity" read counters that triggers keep, so the
-- page costs the same for a learner with 50 changes as for one with 5,000: a row per
-- learner and week (changes per weekday, completions) and a column per enrollment.

-- Per learner and ISO week (Monday, UTC): `changes[1..7]` counts every progress event
-- on each weekday, `completions` the events that made a skill done and were not undone,
-- exactly as the dashboard counted them from progress_events before.
create table learner_weeks (
    user_id bigint not null references users (id) on delete cascade,
    week date not null,
    changes integer[] not null default '{0,0,0,0,0,0,0}',
    completions integer not null default 0,
    primary key (user_id, week)
);

alter table enrollments add column last_activity_at timestamptz;

-- Recounts the given learners' weeks from their events, and their enrollments' last
-- activity from their progress rows (used by the migration, by triggers after bulk
-- rewrites of history, and by tests as the reference).
create function recount_learner_activity(learners bigint[]) returns void language sql as $$
    delete from learner_weeks where user_id = any(learners);
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
    update enrollments en set last_activity_at = (
        select max(p.updated_at) from skill_progress p join skills s on s.id = p.skill_id
        where p.user_id = en.user_id and s.roadmap_id = en.roadmap_id)
    where en.user_id = any(learners);
$$;

-- New events, once per statement: add each to its weekday, count new completions that
-- no undo reverts, and take back completions that a first undo of their action reverts.
create function learner_weeks_follow_new_events() returns trigger language plpgsql as $$
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
    ), per_week as (
        select user_id, week,
               array[count(*) filter (where dow = 1), count(*) filter (where dow = 2),
                     count(*) filter (where dow = 3), count(*) filter (where dow = 4),
                     count(*) filter (where dow = 5), count(*) filter (where dow = 6),
                     count(*) filter (where dow = 7)]::integer[] as changes,
               sum(completion)::int as completions
        from counted group by 1, 2
    )
    insert into learner_weeks as w (user_id, week, changes, completions)
    select user_id, week, changes, completions from per_week
    order by user_id, week
    on conflict (user_id, week) do update set
        changes = array[w.changes[1] + excluded.changes[1], w.changes[2] + excluded.changes[2],
                        w.changes[3] + excluded.changes[3], w.changes[4] + excluded.changes[4],
                        w.changes[5] + excluded.changes[5], w.changes[6] + excluded.changes[6],
                        w.changes[7] + excluded.changes[7]],
        completions = w.completions + excluded.completions;
    return null;
end;
$$;

create trigger progress_events_learner_weeks
    after insert on progress_events
    referencing new table as new_events
    for each statement execute function learner_weeks_follow_new_events();

-- History rewritten in bulk (the demo backdates its events): recount those learners.
-- A rename moves events to another skill id, which changes no count.
create function learner_activity_follow_rewrites() returns trigger language plpgsql as $$
begin
    perform recount_learner_activity(array(
        select distinct n.user_id from changed n join previous o on o.id = n.id
        where (n.user_id, n.at, n.kind, n.to_state, n.action_id, n.undoes)
              is distinct from (o.user_id, o.at, o.kind, o.to_state, o.action_id, o.undoes)
        union
        select o.user_id from changed n join previous o on o.id = n.id where n.user_id <> o.user_id));
    return null;
end;
$$;

create trigger progress_events_rewritten
    after update on progress_events
    referencing old table as previous new table as changed
    for each statement execute function learner_activity_follow_rewrites();

-- A progress row written: its enrollment's last activity moves forward. Pages show it
-- as a date, so it moves only when it is a minute or more behind: a learner's quick run
-- of ticks does not queue on this one row.
create function enrollments_follow_progress() returns trigger language plpgsql as $$
begin
    update enrollments en set last_activity_at = c.latest
    from (select n.user_id, s.roadmap_id, max(n.updated_at) as latest
          from changed n join skills s on s.id = n.skill_id
          group by 1, 2) c
    where en.user_id = c.user_id and en.roadmap_id = c.roadmap_id
      and (en.last_activity_at is null or c.latest >= en.last_activity_at + interval '1 minute');
    return null;
end;
$$;

create trigger skill_progress_inserted_activity
    after insert on skill_progress
    referencing new table as changed
    for each statement execute function enrollments_follow_progress();

create trigger skill_progress_updated_activity
    after update on skill_progress
    referencing new table as changed
    for each statement execute function enrollments_follow_progress();

-- A new enrollment starts from the progress its learner already has on the roadmap.
create function enrollments_start_activity() returns trigger language plpgsql as $$
begin
    new.last_activity_at := (
        select max(p.updated_at) from skill_progress p join skills s on s.id = p.skill_id
        where p.user_id = new.user_id and s.roadmap_id = new.roadmap_id);
    return new;
end;
$$;

create trigger enrollments_start_activity
    before insert on enrollments
    for each row execute function enrollments_start_activity();

select recount_learner_activity(array(select id from users));
