-- Mentoring: a consented link between a mentee (who invites) and a mentor.
-- Rows are never deleted while both people exist: ended links stay as history.

create table mentorships (
    id            bigserial primary key,
    mentee_id     bigint not null references users (id) on delete cascade,
    -- Null for a link invite nobody has accepted yet.
    mentor_id     bigint references users (id) on delete cascade,
    status        text not null check (status in ('invited', 'active', 'declined', 'revoked', 'ended')),
    all_roadmaps  boolean not null default true,
    -- Link invites: only the token's hash is kept.
    token_hash    text unique,
    expires_at    timestamptz,
    created_at    timestamptz not null default now(),
    responded_at  timestamptz,
    ended_at      timestamptz,
    ended_by      bigint references users (id) on delete set null,
    check (mentor_id is null or mentor_id <> mentee_id)
);

-- One pending or active link per pair.
create unique index mentorships_one_open_per_pair on mentorships (mentor_id, mentee_id)
    where status in ('invited', 'active') and mentor_id is not null;
create index mentorships_by_mentor on mentorships (mentor_id, status);
create index mentorships_by_mentee on mentorships (mentee_id, status);

-- The roadmaps a link covers when it does not cover all of them.
create table mentorship_roadmaps (
    mentorship_id  bigint not null references mentorships (id) on delete cascade,
    roadmap_id     text not null references roadmaps (id),
    primary key (mentorship_id, roadmap_id)
);
