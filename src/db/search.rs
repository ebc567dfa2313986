//! Full-text search over live skills.

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
    pub title_match: bool,
}

/// Skills matching `query` (web-search syntax: words, "phrases", -not, or),
/// title matches first, then by rank. Hostile input cannot break the query:
/// `websearch_to_tsquery` accepts any text.
pub async fn skills(db: impl PgExecutor<'_>, query: &str, limit: i64) -> sqlx::Result<Vec<Hit>> {
    sqlx::query_as!(
        Hit,
        r#"with q as (select websearch_to_tsquery('english', $1) as q)
           select s.id as skill_id, s.title,
                  ts_headline('english', s.body_md, q.q,
                              'StartSel=' || chr(1) || ', StopSel=' || chr(2) ||
                              ', MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "') as "snippet!",
                  to_tsvector('english', s.title) @@ q.q as "title_match!"
           from skills s, q
           where s.retired_at is null and s.search @@ q.q
           order by 4 desc, ts_rank(s.search, q.q) desc, s.title
           limit $2"#,
        query,
        limit
    )
    .fetch_all(db)
    .await
}
