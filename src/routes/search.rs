//! `/search`: skills across every roadmap, with the signed-in learner's state on each result.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;

use super::{Layout, render};
use crate::app::AppState;
use crate::auth::MaybeUser;
use crate::content::plain::TAG_BREAK;
use crate::db::search::{self, MATCH_END, MATCH_START};
use crate::db::{progress, users::User};
use crate::error::AppError;
use crate::progress::SkillState;

/// Longer queries are cut: nobody types more, and it bounds the work.
pub const MAX_QUERY_CHARS: usize = 200;
/// Results per page.
pub const PER_PAGE: i64 = 20;
/// Pages past this are not served: 10,000 results is more than anyone reads,
/// and the offset bounds the ranking work.
const MAX_PAGE: i64 = 500;

pub fn router() -> Router<AppState> {
    Router::new().route("/search", get(search))
}

/// Every field is text, so a hand-edited URL never answers 400.
#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    /// A roadmap id; empty or unknown means every roadmap.
    #[serde(default)]
    roadmap: String,
    page: Option<String>,
}

struct SearchResult {
    href: String,
    title: String,
    roadmap_href: String,
    roadmap_title: String,
    stage_href: String,
    stage_title: String,
    /// Escaped text with `<mark>` around matches.
    snippet_html: String,
    state: Option<SkillState>,
}

/// A roadmap in the filter.
struct RoadmapOption {
    id: String,
    title: String,
}

#[derive(Template)]
#[template(path = "public/search.html")]
struct SearchPage {
    layout: Layout,
    query: String,
    roadmaps: Vec<RoadmapOption>,
    /// The roadmap searched in, when one was chosen: (id, title).
    roadmap: Option<(String, String)>,
    results: Vec<SearchResult>,
    /// Skills matching, over every page.
    total: i64,
    page: i64,
    pages: i64,
    /// The number of the page's first result in the whole list.
    first: i64,
    previous_href: Option<String>,
    next_href: Option<String>,
}

/// `/search?q=…&roadmap=…&page=…`, with an empty roadmap and page 1 left out.
fn page_href(query: &str, roadmap: Option<&str>, page: i64) -> String {
    let mut params = vec![("q", query.to_string())];
    if let Some(roadmap) = roadmap {
        params.push(("roadmap", roadmap.to_string()));
    }
    if page > 1 {
        params.push(("page", page.to_string()));
    }
    format!(
        "/search?{}",
        serde_urlencoded::to_string(params).unwrap_or_default()
    )
}

/// Escapes the snippet, then turns PostgreSQL's match marks into `<mark>`.
fn snippet_html(snippet: &str) -> String {
    let mut html = String::with_capacity(snippet.len() + 16);
    for c in snippet.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            MATCH_START => html.push_str("<mark>"),
            MATCH_END => html.push_str("</mark>"),
            TAG_BREAK => {}
            c => html.push(c),
        }
    }
    html
}

async fn search(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(query): Query<SearchQuery>,
) -> Result<Html<String>, AppError> {
    let query_text: String = query
        .q
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_QUERY_CHARS)
        .collect::<String>()
        .trim()
        .to_string();
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.trim().parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_PAGE);
    let catalog = state.catalog.load();
    let roadmaps: Vec<RoadmapOption> = catalog
        .roadmaps
        .iter()
        .map(|r| RoadmapOption {
            id: r.id.clone(),
            title: r.title.clone(),
        })
        .collect();
    let roadmap = catalog
        .roadmap(query.roadmap.trim())
        .map(|r| (r.id.clone(), r.title.clone()));
    drop(catalog);
    let roadmap_id = roadmap.as_ref().map(|(id, _)| id.as_str());
    let (results, total) = if query_text.is_empty() {
        (Vec::new(), 0)
    } else {
        find(&state, user.as_ref(), &query_text, roadmap_id, page).await?
    };
    let pages = ((total + PER_PAGE - 1) / PER_PAGE).clamp(1, MAX_PAGE);
    let title = match (query_text.is_empty(), page) {
        (true, _) => "Search".to_string(),
        (false, 1) => format!("Search: {query_text}"),
        (false, page) => format!("Search: {query_text} (page {page})"),
    };
    render(&SearchPage {
        layout: Layout::new(&state, user.as_ref(), title),
        previous_href: (page > 1 && total > 0)
            .then(|| page_href(&query_text, roadmap_id, (page - 1).min(pages))),
        next_href: (page < pages).then(|| page_href(&query_text, roadmap_id, page + 1)),
        query: query_text,
        roadmaps,
        roadmap,
        results,
        total,
        first: (page - 1) * PER_PAGE + 1,
        page,
        pages,
    })
}

async fn find(
    state: &AppState,
    user: Option<&User>,
    query: &str,
    roadmap: Option<&str>,
    page: i64,
) -> Result<(Vec<SearchResult>, i64), AppError> {
    let found = search::skills(&state.db, query, roadmap, PER_PAGE, (page - 1) * PER_PAGE).await?;
    let progress = match user {
        Some(user) => {
            let ids: Vec<String> = found.hits.iter().map(|h| h.skill_id.clone()).collect();
            Some(progress::for_skills(&state.db, user.id, &ids).await?)
        }
        None => None,
    };
    let catalog = state.catalog.load();
    let results = found
        .hits
        .into_iter()
        .filter_map(|hit| {
            // The catalog is the live content; a hit it lacks was just retired.
            let (roadmap, stage, skill) = catalog.skill(&hit.skill_id)?;
            Some(SearchResult {
                href: format!("/roadmaps/{}/{}/{}", roadmap.id, stage.id, skill.id),
                title: skill.title.clone(),
                roadmap_href: format!("/roadmaps/{}", roadmap.id),
                roadmap_title: roadmap.title.clone(),
                stage_href: format!("/roadmaps/{}/{}", roadmap.id, stage.id),
                stage_title: stage.title.clone(),
                snippet_html: snippet_html(&hit.snippet),
                state: progress.as_ref().map(|p| p.state(&skill.id)),
            })
        })
        .collect();
    Ok((results, found.total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_escaped_before_marking() {
        let raw = format!("use {MATCH_START}<{TAG_BREAK}script>{MATCH_END} & \"quotes\"");
        assert_eq!(
            snippet_html(&raw),
            "use <mark>&lt;script&gt;</mark> &amp; &quot;quotes&quot;"
        );
    }
}
