-- Skill metadata from the `+++` block under a skill heading (content::meta): summary,
-- estimated time, level, prerequisites and typed resources, kept as one JSON value the
-- catalog reads back. The summary is also written to `skills.summary` (migration 0021), for search.
alter table skills add column meta jsonb not null default '{}';
