//! Full-text search over live skills: ranked, counted and paged, with snippets for one page only.

use sqlx::PgExecutor;

/// Marks PostgreSQL puts around matched words; swapped for `<mark>` after escaping.
pub const MATCH_START: char = '\u{1}';
pub const MATCH_END: char = '\u{2}';

#[derive(Debug, Clone)]
pub struct Hit {
    pub skill_id: String,
    pub title: String,
    /// Plain text with matches between [`MATCH_START`] and [`MATCH_END`].
    pub snippet: String,
    /// 3: the title is the query; 2: the same ignoring punctuation; 1: the title
    /// matches; 0: only the summary or text does.
    pub title_rank: i32,
}

/// One page of hits and how many skills match in all.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub total: i64,
    pub hits: Vec<Hit>,
}

/// Skills matching `query` (web-search syntax: words, "phrases", -not, or),
/// in `roadmap` when given: a title equal to the query first, then title
/// matches, then by cover density divided by the length of the text, so a
/// long lesson that mentions a word often does not outrank a short one that
/// mentions it as densely. Only the page's rows get a headline (the costly part); ranking and
/// counting read the stored vector through its GIN index. Hostile input cannot
/// break the query: `websearch_to_tsquery` accepts any text.
pub async fn skills(
    db: impl PgExecutor<'_> + Copy,
    query: &str,
    roadmap: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Found> {
    let hits = sqlx::query_as!(
        PageRow,
        r#"with q as materialized (
               -- Computed once: in a generic plan a call per row would parse the query per row.
               select websearch_to_tsquery('english', $1) as q,
                      lower(regexp_replace($1, '^[[:space:][:punct:]]+|[[:space:][:punct:]]+$', '', 'g')) as bare
           ), matches as materialized (
               -- Materialized: sorting and counting then hold ids and ranks, not vectors.
               select s.id, s.title,
                      case when s.title_key = (select bare from q) then
                               case when lower(btrim(s.title)) = lower(btrim($1)) then 3 else 2 end
                           when s.title_search @@ (select q from q) then 1
                           else 0 end as title_rank,
                      ts_rank_cd(s.search, (select q from q), 2) as rank
               from skills s
               where s.retired_at is null and s.search @@ (select q from q)
                 and ($2::text is null or s.roadmap_id = $2)
           ), page as (
               select m.* from matches m
               order by m.title_rank desc, m.rank desc, m.title, m.id
               limit $3 offset $4
           )
           select p.id as "skill_id!", p.title as "title!", (select count(*) from matches) as "total!",
                  p.title_rank as "title_rank!",
                  ts_headline('english', coalesce(nullif(s.body_text, ''), s.summary), (select q from q),
                              'StartSel=' || chr(1) || ', StopSel=' || chr(2) ||
                              ', MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "') as "snippet!"
           from page p join skills s on s.id = p.id
           order by p.title_rank desc, p.rank desc, p.title, p.id"#,
        query,
        roadmap,
        limit,
        offset
    )
    .fetch_all(db)
    .await?;
    let total = match hits.first() {
        Some(first) => first.total,
        // Past the last page the window has no row to carry the count.
        None if offset > 0 => count(db, query, roadmap).await?,
        None => 0,
    };
    Ok(Found {
        total,
        hits: hits
            .into_iter()
            .map(|row| Hit {
                skill_id: row.skill_id,
                title: row.title,
                snippet: row.snippet,
                title_rank: row.title_rank,
            })
            .collect(),
    })
}

struct PageRow {
    skill_id: String,
    title: String,
    total: i64,
    title_rank: i32,
    snippet: String,
}

/// How many live skills match `query` (in `roadmap`, when given).
async fn count(db: impl PgExecutor<'_>, query: &str, roadmap: Option<&str>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from skills s
           where s.retired_at is null and s.search @@ websearch_to_tsquery('english', $1)
             and ($2::text is null or s.roadmap_id = $2)"#,
        query,
        roadmap
    )
    .fetch_one(db)
    .await
}
