//! Paging for the searchable admin lists: the `?q=…&page=…` query and the page count.

use serde::Deserialize;

/// Rows on one page of an admin list.
pub const PAGE_SIZE: i64 = 25;

/// The query of a searchable, paged admin list: `?q=…&page=…`, plus `done=` after a change.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
    pub done: Option<String>,
}

impl ListQuery {
    /// The search text, trimmed and at most 100 characters.
    pub fn search(&self) -> String {
        self.q.trim().chars().take(100).collect()
    }

    /// The 1-based page asked for.
    pub fn page(&self) -> i64 {
        self.page.unwrap_or(1).max(1)
    }

    /// Rows to skip for this page.
    pub fn offset(&self) -> i64 {
        (self.page() - 1) * PAGE_SIZE
    }
}

/// How many pages `total` rows fill (at least one, so "page 1 of 1" reads right).
pub fn page_count(total: i64) -> i64 {
    ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1)
}
