-- Skill metadata from the `+++` block under a skill heading (content::meta): summary,
-- estimated time, level, prerequisites and typed resources, kept as one JSON value the
-- catalog reads back. The summary also has a column of its own, for search.
alter table skills add column meta jsonb not null default '{}';
alter table skills add column if not exists summary text not null default '';
