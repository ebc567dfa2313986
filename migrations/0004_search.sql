-- Full-text search over skills: titles weigh more than bodies.
alter table skills add column search tsvector generated always as (
    setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body_md), 'B')
) stored;

create index skills_search on skills using gin (search) where retired_at is null;
