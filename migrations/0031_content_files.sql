-- What each content file parsed to when it was last applied, so that a load parses
-- only the files that changed (content::parse::FileCache).
create table content_files (
    path text primary key,
    -- FileCache::hash_of: the file's path and bytes, the renderer and the build.
    hash text not null,
    -- content::parse::CachedFile as JSON: the parse without skill texts, the
    -- warnings and the link lookups of its rendering. Text, not jsonb: it is only
    -- ever read whole by the app, and jsonb's conversion back to text costs more
    -- than the rest of a one-file load.
    parsed text not null,
    -- The content version of the applied load that kept it: the cache is used only
    -- while that is still the applied version (a load by an older build, which keeps
    -- no parses, or a version reset by a migration, makes the next load parse all).
    content_hash text not null,
    updated_at timestamptz not null default now()
);

-- What a load cost, and which skills it wrote: servers refresh only those.
alter table content_loads
    add column files_parsed int not null default 0,
    add column files_reused int not null default 0,
    add column skills_written int not null default 0,
    -- Ids of the skill rows the load wrote or retired (null: unknown, reload all).
    add column touched_skills text[];
