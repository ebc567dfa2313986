-- Imported progress whose skill ids this instance does not know: kept, not
-- dropped, so it can be matched later (for example after a rename).
create table import_unmatched (
    id            bigserial primary key,
    user_id       bigint not null references users (id) on delete cascade,
    skill_id      text not null,
    item          text not null check (item in ('roadmap', 'skill', 'event', 'note', 'evidence')),
    payload       jsonb not null,
    -- Hash of the payload, so importing the same file twice keeps one copy.
    payload_hash  text not null,
    imported_at   timestamptz not null default now(),
    unique (user_id, payload_hash)
);
