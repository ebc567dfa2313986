-- Teams and cohorts: people with roles, the roadmaps assigned to them, and invite links.
create table teams (
    id bigserial primary key,
    slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name text not null check (length(name) between 1 and 80),
    created_by bigint references users (id) on delete set null,
    created_at timestamptz not null default now()
);

-- One row per person and team, kept after they leave (left_at) as history; access
-- follows only rows with left_at null.
create table team_members (
    team_id bigint not null references teams (id) on delete cascade,
    user_id bigint not null references users (id) on delete cascade,
    role text not null check (role in ('learner', 'mentor', 'lead')),
    joined_at timestamptz not null default now(),
    left_at timestamptz,
    primary key (team_id, user_id)
);
-- "My teams", and every access check that starts from the person.
create index team_members_by_user on team_members (user_id) where left_at is null;

create table team_roadmaps (
    team_id bigint not null references teams (id) on delete cascade,
    roadmap_id text not null references roadmaps (id),
    assigned_at timestamptz not null default now(),
    primary key (team_id, roadmap_id)
);

-- Join links: single- or multi-use, with an expiry, revocable. Only a hash is kept.
create table team_invites (
    id bigserial primary key,
    team_id bigint not null references teams (id) on delete cascade,
    token_hash text not null unique,
    role text not null check (role in ('learner', 'mentor', 'lead')),
    max_uses integer check (max_uses is null or max_uses >= 1),
    uses integer not null default 0,
    expires_at timestamptz not null,
    revoked_at timestamptz,
    created_by bigint references users (id) on delete set null,
    created_at timestamptz not null default now()
);
create index team_invites_by_team on team_invites (team_id, created_at desc);
