-- Roadmaps can be grouped into paths or categories on the home page (`group` in roadmap.md).
alter table roadmaps add column group_name text not null default '';
