-- Content synced from the markdown files. Rows are never deleted: an item
-- that leaves the files is retired, and revived if its id comes back, so
-- progress keyed by its id is never lost.

create table roadmaps (
    id          text primary key,
    title       text not null,
    summary     text not null,
    intro_md    text not null,
    intro_html  text not null,
    position    integer not null,
    retired_at  timestamptz,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

create table stages (
    roadmap_id  text not null references roadmaps (id),
    id          text not null,
    title       text not null,
    intro_md    text not null,
    intro_html  text not null,
    position    integer not null,
    retired_at  timestamptz,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (roadmap_id, id)
);

create table skills (
    id            text primary key,
    roadmap_id    text not null,
    stage_id      text not null,
    title         text not null,
    body_md       text not null,
    body_html     text not null,
    optional      boolean not null default false,
    project       boolean not null default false,
    position      integer not null,
    -- Hash of the body with whitespace folded; progress records it when a
    -- skill is done, to tell the learner when the text changed since.
    content_hash  text not null,
    retired_at    timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    foreign key (roadmap_id, stage_id) references stages (roadmap_id, id)
);

create index skills_by_stage on skills (roadmap_id, stage_id, position);

-- One row per load that changed something or failed.
create table content_loads (
    id            bigserial primary key,
    loaded_at     timestamptz not null default now(),
    content_hash  text not null,
    status        text not null check (status in ('applied', 'failed')),
    added         integer not null default 0,
    updated       integer not null default 0,
    retired       integer not null default 0,
    revived       integer not null default 0,
    errors        jsonb not null default '[]'
);

create index content_loads_latest_applied on content_loads (id desc) where status = 'applied';
