-- Every distinct text a skill has had, keyed by its whitespace-folded hash, so a
-- learner can see what changed since they completed a skill.
create table skill_revisions (
    skill_id       text not null references skills (id),
    content_hash   text not null,
    body_md        text not null,
    first_seen_at  timestamptz not null default now(),
    primary key (skill_id, content_hash)
);

insert into skill_revisions (skill_id, content_hash, body_md)
select id, content_hash, body_md from skills;
