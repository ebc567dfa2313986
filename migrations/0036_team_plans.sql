-- Team plans: tailored roadmaps, stage target dates (per team and per learner), mentor
-- check-ins, and registration invites that put the new user in a team.

-- A team's tailoring of a skill of an assigned roadmap: hidden from its version of the
-- roadmap, or required even though the content marks it optional. Keyed by skill id, so
-- it survives content loads (renames carry it: db::renames); a retired skill is skipped.
create table team_skill_rules (
    team_id bigint not null references teams (id) on delete cascade,
    skill_id text not null references skills (id),
    rule text not null check (rule in ('hidden', 'required')),
    set_by bigint references users (id) on delete set null,
    set_at timestamptz not null default now(),
    primary key (team_id, skill_id)
);
-- A learner's pages read the rules of the skills they look at, across their teams.
create index team_skill_rules_by_skill on team_skill_rules (skill_id);

-- A target date per stage of an assigned roadmap (a calendar date: due at its end in the
-- viewer's zone). Unassigning the roadmap drops its dates.
create table team_stage_targets (
    team_id bigint not null,
    roadmap_id text not null,
    stage_id text not null,
    due_on date not null,
    primary key (team_id, roadmap_id, stage_id),
    foreign key (team_id, roadmap_id) references team_roadmaps (team_id, roadmap_id) on delete cascade,
    foreign key (roadmap_id, stage_id) references stages (roadmap_id, id)
);

-- A lead's date for one learner, in place of the team's date for that stage.
create table team_learner_targets (
    team_id bigint not null,
    user_id bigint not null,
    roadmap_id text not null,
    stage_id text not null,
    due_on date not null,
    primary key (team_id, user_id, roadmap_id, stage_id),
    foreign key (team_id, roadmap_id) references team_roadmaps (team_id, roadmap_id) on delete cascade,
    foreign key (team_id, user_id) references team_members (team_id, user_id) on delete cascade,
    foreign key (roadmap_id, stage_id) references stages (roadmap_id, id)
);
create index team_learner_targets_by_user on team_learner_targets (user_id);

-- The team feed pages through a team's learners' completions, newest first.
create index progress_events_done_by_user on progress_events (user_id, at desc) where to_state = 'done';

-- Check-ins: a cadence a mentor and a mentee agree (every 7 or 14 days), and each one held.
alter table mentorships add column checkin_days integer check (checkin_days in (7, 14));
create table mentorship_checkins (
    id bigserial primary key,
    mentorship_id bigint not null references mentorships (id) on delete cascade,
    recorded_by bigint references users (id) on delete set null,
    at timestamptz not null default now()
);
create index mentorship_checkins_by_link on mentorship_checkins (mentorship_id, at desc);

-- A registration invite may name a team and the role the new user gets in it.
alter table invites
    add column team_id bigint references teams (id) on delete set null,
    add column team_role text check (team_role in ('learner', 'mentor', 'lead')),
    add check (team_id is null or team_role is not null);
