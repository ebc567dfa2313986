-- What a learner's stage page and dashboard, and a mentor's dashboard and matrix, read is
-- kept in the server's memory between requests (src/view_cache.rs), stamped with counters
-- read before or with the rows: the person's `view_versions` (see below) and the single
-- `view_epoch` row, which the session statement reads too. A kept copy is used only while
-- they have not moved. Triggers move them in the
-- same transaction as the change, whichever path wrote it (pages, API, CLI, content load):
-- - the learner's own rows (progress, events, notes, evidence, step ticks, enrollments,
--   review requests, comments, mentor links) move the learner's version; a mentor's links
--   and visits move the mentor's (their pages also add up their mentees' versions);
-- - rows many learners' pages show (content, teams and their plans, a mentor's display
--   name, a link's roadmaps) move the epoch, which drops every kept copy. They change
--   seldom.
-- The counters never go back, so equal stamps mean an unchanged page.
-- A learner's version is the sum of a few slot rows, and a transaction bumps the slot of its
-- connection: ticks of one learner from several connections at once (an API client, a bench)
-- then do not queue on one row lock held until each commit. Every committed bump adds one
-- to the sum and nothing takes away, so snapshots that agree on the sum agree on the change.
create table view_versions (
    -- No foreign key: a deleted user's cascaded deletes still bump it on their way out.
    user_id bigint not null,
    slot smallint not null,
    version bigint not null default 0,
    primary key (user_id, slot)
);

create table view_epoch (
    only_row boolean primary key default true check (only_row),
    epoch bigint not null default 0
);
insert into view_epoch default values;

create function bump_view_version(uid bigint) returns void language plpgsql as $$
declare
    s smallint := pg_backend_pid() % 16;
begin
    if uid is null then
        return;
    end if;
    update view_versions set version = version + 1 where user_id = uid and slot = s;
    if not found then
        insert into view_versions as v (user_id, slot, version) values (uid, s, 1)
        on conflict (user_id, slot) do update set version = v.version + 1;
    end if;
end;
$$;

-- Row triggers on tables keyed by `user_id`.
create function view_version_follows_user() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform bump_view_version(new.user_id);
    elsif tg_op = 'DELETE' then
        perform bump_view_version(old.user_id);
    else
        perform bump_view_version(new.user_id);
        if new.user_id is distinct from old.user_id then
            perform bump_view_version(old.user_id);
        end if;
    end if;
    return null;
end;
$$;

-- Row triggers on tables keyed by `mentee_id`.
create function view_version_follows_mentee() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform bump_view_version(new.mentee_id);
    elsif tg_op = 'DELETE' then
        perform bump_view_version(old.mentee_id);
    else
        perform bump_view_version(new.mentee_id);
        if new.mentee_id is distinct from old.mentee_id then
            perform bump_view_version(old.mentee_id);
        end if;
    end if;
    return null;
end;
$$;

create trigger skill_progress_view_version after insert or update or delete on skill_progress
    for each row execute function view_version_follows_user();
create trigger notes_view_version after insert or update or delete on notes
    for each row execute function view_version_follows_user();
create trigger evidence_view_version after insert or update or delete on evidence
    for each row execute function view_version_follows_user();
create trigger step_ticks_view_version after insert or update or delete on step_ticks
    for each row execute function view_version_follows_user();
-- Not on `last_activity_at`: the counter fold moves it without changing what pages show
-- (they read it together with the changes not yet folded in).
create trigger enrollments_view_version
    after insert or update of user_id, roadmap_id, started_at, on_profile or delete on enrollments
    for each row execute function view_version_follows_user();
create trigger review_requests_view_version after insert or update or delete on review_requests
    for each row execute function view_version_follows_mentee();
create trigger comments_view_version after insert or update or delete on comments
    for each row execute function view_version_follows_mentee();

-- A mentor link: its mentee's pages (whether a mentor can review) and its mentor's
-- (their mentees and invitations), lowest id first so two links never wait on each other.
create function view_version_follows_link() returns trigger language plpgsql as $$
declare
    people bigint[];
begin
    if tg_op = 'INSERT' then
        people := array[new.mentee_id, new.mentor_id];
    elsif tg_op = 'DELETE' then
        people := array[old.mentee_id, old.mentor_id];
    else
        people := array[new.mentee_id, new.mentor_id, old.mentee_id, old.mentor_id];
    end if;
    perform bump_view_version(p) from (select distinct p from unnest(people) p
                                       where p is not null order by p) d;
    return null;
end;
$$;

create trigger mentorships_view_version after insert or update or delete on mentorships
    for each row execute function view_version_follows_link();

-- A mentor's visit to a mentee resets that mentee's "new since your last visit".
create function view_version_follows_mentor() returns trigger language plpgsql as $$
begin
    perform bump_view_version(case when tg_op = 'DELETE' then old.mentor_id else new.mentor_id end);
    return null;
end;
$$;

create trigger mentor_visits_view_version after insert or update or delete on mentor_visits
    for each row execute function view_version_follows_mentor();

-- Events arrive in bulk on imports: one bump per learner and statement.
create function view_version_follows_events() returns trigger language plpgsql as $$
begin
    perform bump_view_version(u.user_id) from (select distinct user_id from changed order by 1) u;
    return null;
end;
$$;

create trigger progress_events_inserted_view_version after insert on progress_events
    referencing new table as changed
    for each statement execute function view_version_follows_events();
create trigger progress_events_updated_view_version after update on progress_events
    referencing new table as changed
    for each statement execute function view_version_follows_events();

create function bump_view_epoch() returns trigger language plpgsql as $$
begin
    update view_epoch set epoch = epoch + 1;
    return null;
end;
$$;

-- Content, read by the dashboard's next-stage and team-rule lookups (`skill_places` is a
-- view over skills and their placements).
create trigger stages_view_epoch after insert or update or delete on stages
    for each statement execute function bump_view_epoch();
create trigger skills_view_epoch after insert or update or delete on skills
    for each statement execute function bump_view_epoch();
create trigger skill_placements_view_epoch after insert or update or delete on skill_placements
    for each statement execute function bump_view_epoch();
-- Teams and their plans, and a mentor link's roadmaps (`mentor_reach`).
create trigger teams_view_epoch after insert or update or delete on teams
    for each statement execute function bump_view_epoch();
create trigger team_members_view_epoch after insert or update or delete on team_members
    for each statement execute function bump_view_epoch();
create trigger team_roadmaps_view_epoch after insert or update or delete on team_roadmaps
    for each statement execute function bump_view_epoch();
create trigger team_skill_rules_view_epoch after insert or update or delete on team_skill_rules
    for each statement execute function bump_view_epoch();
create trigger team_stage_targets_view_epoch after insert or update or delete on team_stage_targets
    for each statement execute function bump_view_epoch();
create trigger team_learner_targets_view_epoch after insert or update or delete on team_learner_targets
    for each statement execute function bump_view_epoch();
create trigger mentorship_roadmaps_view_epoch after insert or update or delete on mentorship_roadmaps
    for each statement execute function bump_view_epoch();
-- Names shown beside verifications, answers and comments, and on mentors' pages.
create trigger users_renamed_view_epoch after update of display_name, username on users
    for each row when ((old.display_name, old.username) is distinct from (new.display_name, new.username))
    execute function bump_view_epoch();
