-- Files of roadmaps' assets/ folders, keyed by the SHA-256 of their bytes and served
-- under /assets/{hash}/{name}. Rows are never deleted: a held or failed load keeps the
-- previous content live, and its pages (or browsers' caches of them) name older files.
create table content_assets (
    hash          text primary key check (hash ~ '^[0-9a-f]{64}$'),
    content_type  text not null,
    bytes         bytea not null,
    first_loaded  timestamptz not null default now()
);

-- What `pathway content check` warns about in the files of each load (removed HTML,
-- images without alt text, links to no heading), as [{path, line, message}].
alter table content_loads add column warnings jsonb not null default '[]';
