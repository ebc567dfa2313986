-- Each learner's counts per stage, kept up to date by triggers, so pages that show
-- many learners at once (the mentor dashboard, the matrix) read one row per learner
-- and stage instead of a row per skill: their cost no longer grows with how far the
-- learners have come. Only live skills count, as on every page.
create table stage_tallies (
    user_id bigint not null references users (id) on delete cascade,
    roadmap_id text not null,
    stage_id text not null,
    done integer not null default 0,
    optional_done integer not null default 0,
    in_progress integer not null default 0,
    skipped integer not null default 0,
    verified integer not null default 0,
    primary key (user_id, roadmap_id, stage_id)
);

-- Recounts the given learners from their progress rows.
create function recount_stage_tallies(learners bigint[]) returns void language sql as $$
    delete from stage_tallies where user_id = any(learners);
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

-- One progress row changed: take its old contribution off and add its new one.
create function stage_tallies_follow_progress() returns trigger language plpgsql as $$
declare
    s record;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        select roadmap_id, stage_id, optional into s from skills where id = old.skill_id and retired_at is null;
        if found and old.state <> 'not_started' then
            -- An update, never an insert: when a user is being deleted, their tallies may already be gone.
            update stage_tallies set
                done = done - (old.state = 'done' and not s.optional)::int,
                optional_done = optional_done - (old.state = 'done' and s.optional)::int,
                in_progress = in_progress - (old.state = 'in_progress')::int,
                skipped = skipped - (old.state = 'skipped' and not s.optional)::int,
                verified = verified - (old.state = 'done' and not s.optional and old.verified_by is not null)::int
            where user_id = old.user_id and roadmap_id = s.roadmap_id and stage_id = s.stage_id;
        end if;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        select roadmap_id, stage_id, optional into s from skills where id = new.skill_id and retired_at is null;
        if found and new.state <> 'not_started' then
            insert into stage_tallies as t (user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified)
            values (new.user_id, s.roadmap_id, s.stage_id,
                    (new.state = 'done' and not s.optional)::int,
                    (new.state = 'done' and s.optional)::int,
                    (new.state = 'in_progress')::int,
                    (new.state = 'skipped' and not s.optional)::int,
                    (new.state = 'done' and not s.optional and new.verified_by is not null)::int)
            on conflict (user_id, roadmap_id, stage_id) do update set
                done = t.done + excluded.done,
                optional_done = t.optional_done + excluded.optional_done,
                in_progress = t.in_progress + excluded.in_progress,
                skipped = t.skipped + excluded.skipped,
                verified = t.verified + excluded.verified;
        end if;
    end if;
    return null;
end;
$$;

create trigger skill_progress_tallies
    after insert or delete or update of state, verified_by, skill_id, user_id on skill_progress
    for each row execute function stage_tallies_follow_progress();

-- A content load that moves, retires, revives or re-flags skills recounts their learners, once per statement.
create function stage_tallies_follow_skills() returns trigger language plpgsql as $$
begin
    perform recount_stage_tallies(array(
        select distinct p.user_id
        from new_skills n join old_skills o on o.id = n.id
        join skill_progress p on p.skill_id = n.id
        where (n.roadmap_id, n.stage_id, n.optional, n.retired_at is null)
              is distinct from (o.roadmap_id, o.stage_id, o.optional, o.retired_at is null)));
    return null;
end;
$$;

create trigger skills_tallies
    after update on skills
    referencing old table as old_skills new table as new_skills
    for each statement execute function stage_tallies_follow_skills();

select recount_stage_tallies(array(select id from users));
