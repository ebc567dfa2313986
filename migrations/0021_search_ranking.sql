-- Search that ranks: a plain-text body for snippets, a summary, a weighted vector (title A,
-- summary B, body C) over the plain text instead of the markdown, and title keys for ranking.

-- The loader writes the exact plain text (markdown stripped in Rust, content::plain) and
-- the renderer version bump makes the next load rewrite every skill. Until then this
-- approximation keeps search useful: HTML tags, link targets and markdown marks removed.
alter table skills add column body_text text not null default '';
alter table skills add column summary text not null default '';

update skills set body_text = trim(
    regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(body_md, '<[^>]*>', ' ', 'g'),
                    '!?\[([^\]]*)\]\([^)]*\)', '\1', 'g'),
                '^\s{0,3}(#{1,6}|>|[-*+]|\d+[.)])\s+', '', 'gn'),
            '[*`~]+', '', 'g'),
        '\s+', ' ', 'g'));

alter table skills drop column search;
alter table skills add column search tsvector generated always as (
    setweight(to_tsvector('english', title), 'A')
    || setweight(to_tsvector('english', summary), 'B')
    || setweight(to_tsvector('english', body_text), 'C')
) stored;

-- Kept in the row (compressed if need be) rather than moved out to TOAST with the bodies:
-- ranking reads the vector of every match, and a TOAST fetch per row made a common word
-- five times slower at 10,000 skills.
alter table skills alter column search set storage main;

create index skills_search on skills using gin (search) where retired_at is null;

-- Ranking reads these for every matching row, so they are stored rather than computed per
-- search: the title without surrounding punctuation, lower-cased (an exact title match
-- ranks first), and the title's own vector (title matches rank next).
alter table skills add column title_key text generated always as (
    lower(regexp_replace(title, '^[[:space:][:punct:]]+|[[:space:][:punct:]]+$', '', 'g'))
) stored;
alter table skills add column title_search tsvector generated always as (to_tsvector('english', title)) stored;
