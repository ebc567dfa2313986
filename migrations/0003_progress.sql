-- Learner progress: the current state per skill plus an append-only log of
-- every change. Progress references skills without cascades: skills are
-- never deleted, so progress survives any content change.

create table enrollments (
    user_id     bigint not null references users (id) on delete cascade,
    roadmap_id  text not null references roadmaps (id),
    started_at  timestamptz not null default now(),
    primary key (user_id, roadmap_id)
);

create table skill_progress (
    user_id            bigint not null references users (id) on delete cascade,
    skill_id           text not null references skills (id),
    state              text not null check (state in ('not_started', 'in_progress', 'done', 'skipped')),
    -- First time the skill left "not started", and first time it was done.
    started_at         timestamptz,
    done_at            timestamptz,
    updated_at         timestamptz not null default now(),
    -- Bumped on every change; a form carries the version it was rendered
    -- with, so a stale form cannot silently overwrite a newer change.
    version            integer not null default 1,
    -- The skill's content hash when it was last marked done.
    done_content_hash  text,
    primary key (user_id, skill_id)
);

-- One user action (a click, "mark stage done", an undo, a reset) may write
-- several events; they share an action id, and undo reverts a whole action.
create sequence progress_actions;

create table progress_events (
    id            bigserial primary key,
    action_id     bigint not null,
    user_id       bigint not null references users (id) on delete cascade,
    skill_id      text not null references skills (id),
    actor_id      bigint references users (id) on delete set null,
    kind          text not null check (kind in ('set', 'stage_done', 'undo', 'reset', 'import')),
    from_state    text not null,
    to_state      text not null,
    -- For undo events: the action they revert.
    undoes        bigint,
    content_hash  text,
    at            timestamptz not null default now()
);

create index progress_events_by_user on progress_events (user_id, at desc);
create index progress_events_by_action on progress_events (action_id);
create index progress_events_by_skill on progress_events (skill_id);
create index progress_events_undoes on progress_events (undoes) where undoes is not null;

create table notes (
    user_id              bigint not null references users (id) on delete cascade,
    skill_id             text not null references skills (id),
    body_md              text not null,
    shared_with_mentors  boolean not null default false,
    updated_at           timestamptz not null default now(),
    primary key (user_id, skill_id)
);

create table evidence (
    id          bigserial primary key,
    user_id     bigint not null references users (id) on delete cascade,
    skill_id    text not null references skills (id),
    url         text not null check (url ~ '^https?://'),
    title       text not null,
    created_at  timestamptz not null default now()
);

create index evidence_by_user_skill on evidence (user_id, skill_id);
