-- Shared skills: a skill defined once (its row in `skills` is its home) can be included in
-- other stages, of any roadmap, with `## {include=skill-id}`. Progress stays keyed by the
-- skill alone, so it has one state everywhere; each stage that lists it counts it.
--
-- Placements are derived from the files on every load: a removed include deletes its row,
-- which loses nothing (no history hangs on a placement).
create table skill_placements (
    skill_id text not null references skills (id),
    roadmap_id text not null,
    stage_id text not null,
    -- Among the stage's `##` headings, in the same order as skills.position.
    position integer not null,
    primary key (roadmap_id, stage_id, skill_id),
    foreign key (roadmap_id, stage_id) references stages (roadmap_id, id)
);
-- From a skill to every stage that lists it: the tally triggers' lookup.
create index skill_placements_by_skill on skill_placements (skill_id);

-- Every stage that lists a skill: its home, and each include.
create view skill_places as
    select s.id as skill_id, s.roadmap_id, s.stage_id, s.optional, s.retired_at
    from skills s
    union all
    select p.skill_id, p.roadmap_id, p.stage_id, s.optional, s.retired_at
    from skill_placements p join skills s on s.id = p.skill_id;

-- A progress row changed: its deltas go to every stage that lists the skill.
create or replace function stage_tallies_follow_progress() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' and not exists (select 1 from users where id = old.user_id) then
        -- The learner is being deleted: their tallies go with them.
        return null;
    end if;
    if tg_op in ('UPDATE', 'DELETE') and old.state <> 'not_started' then
        insert into stage_tally_changes (user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified)
        select old.user_id, s.roadmap_id, s.stage_id,
               -(old.state = 'done' and not s.optional)::int,
               -(old.state = 'done' and s.optional)::int,
               -(old.state = 'in_progress')::int,
               -(old.state = 'skipped' and not s.optional)::int,
               -(old.state = 'done' and not s.optional and old.verified_by is not null)::int
        from skill_places s where s.skill_id = old.skill_id and s.retired_at is null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') and new.state <> 'not_started' then
        insert into stage_tally_changes (user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified)
        select new.user_id, s.roadmap_id, s.stage_id,
               (new.state = 'done' and not s.optional)::int,
               (new.state = 'done' and s.optional)::int,
               (new.state = 'in_progress')::int,
               (new.state = 'skipped' and not s.optional)::int,
               (new.state = 'done' and not s.optional and new.verified_by is not null)::int
        from skill_places s where s.skill_id = new.skill_id and s.retired_at is null;
    end if;
    return null;
end;
$$;

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
    from skill_progress p join skill_places s on s.skill_id = p.skill_id
    where p.user_id = any(learners) and s.retired_at is null and p.state <> 'not_started'
    group by p.user_id, s.roadmap_id, s.stage_id;
$$;

-- A load that adds or removes includes recounts the learners of those skills, once per statement.
create function stage_tallies_follow_placements() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform recount_stage_tallies(array(
            select distinct p.user_id from new_places n join skill_progress p on p.skill_id = n.skill_id));
    elsif tg_op = 'DELETE' then
        perform recount_stage_tallies(array(
            select distinct p.user_id from old_places o join skill_progress p on p.skill_id = o.skill_id));
    end if;
    return null;
end;
$$;

create trigger skill_placements_added
    after insert on skill_placements
    referencing new table as new_places
    for each statement execute function stage_tallies_follow_placements();
create trigger skill_placements_removed
    after delete on skill_placements
    referencing old table as old_places
    for each statement execute function stage_tallies_follow_placements();

-- Activity counts for every roadmap that lists the skill.
create or replace function enrollments_follow_progress() returns trigger language plpgsql as $$
begin
    insert into enrollment_activity_changes (user_id, roadmap_id, at)
    select n.user_id, s.roadmap_id, max(n.updated_at)
    from changed n join skill_places s on s.skill_id = n.skill_id
    group by 1, 2;
    return null;
end;
$$;

-- A recount dates each enrollment by its latest change on any skill the roadmap lists.
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
        select max(p.updated_at) from skill_progress p join skill_places s on s.skill_id = p.skill_id
        where p.user_id = en.user_id and s.roadmap_id = en.roadmap_id)
    where en.user_id = any(learners);
$$;
