-- Content operations: who or what triggered each load, plans held for an
-- admin, renames that carried progress, and sub-step checklists.

alter table content_loads drop constraint content_loads_status_check;
alter table content_loads add constraint content_loads_status_check
    check (status in ('applied', 'failed', 'held'));
alter table content_loads
    add column trigger    text not null default 'startup'
        check (trigger in ('startup', 'admin', 'watcher', 'cli')),
    add column loaded_by  bigint references users (id) on delete set null,
    add column renamed    integer not null default 0,
    add column moved      integer not null default 0,
    -- The change as planned: what was (or, when held, would be) added, retired, renamed.
    add column plan       jsonb;

-- An old skill id and the skill that took it over (`replaces=`), so links,
-- imports of old exports and later renames still find the right skill.
create table skill_aliases (
    old_id      text primary key references skills (id),
    new_id      text not null references skills (id),
    created_at  timestamptz not null default now()
);

create index skill_aliases_by_new on skill_aliases (new_id);

-- The task-list items of a skill body: [{"key": "...", "text": "..."}].
alter table skills add column steps jsonb not null default '[]';

-- Sub-steps a learner ticked. Keys of steps later removed are kept, not deleted.
create table step_ticks (
    user_id    bigint not null references users (id) on delete cascade,
    skill_id   text not null references skills (id),
    step_key   text not null,
    ticked_at  timestamptz not null default now(),
    primary key (user_id, skill_id, step_key)
);
