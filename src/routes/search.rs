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
use crate::db::search::{self, MATCH_END, MATCH_START};
use crate::db::{progress, users::User};
use crate::error::AppError;
use crate::progress::SkillState;

/// Longer queries are cut: nobody types more, and it bounds the work.
pub const MAX_QUERY_CHARS: usize = 200;
const MAX_RESULTS: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/search", get(search))
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

struct SearchResult {
    href: String,
    title: String,
    roadmap_title: String,
    stage_title: String,
    /// Escaped text with `<mark>` around matches.
    snippet_html: String,
    state: Option<SkillState>,
}

#[derive(Template)]
#[template(path = "public/search.html")]
struct SearchPage {
    layout: Layout,
    query: String,
    results: Vec<SearchResult>,
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
    let results = if query_text.is_empty() {
        Vec::new()
    } else {
        find(&state, user.as_ref(), &query_text).await?
    };
    let title = if query_text.is_empty() {
        "Search".to_string()
    } else {
        format!("Search: {query_text}")
    };
    render(&SearchPage {
        layout: Layout::new(&state, user.as_ref(), title),
        query: query_text,
        results,
    })
}

async fn find(state: &AppState, user: Option<&User>, query: &str) -> Result<Vec<SearchResult>, AppError> {
    let hits = search::skills(&state.db, query, MAX_RESULTS).await?;
    let progress = match user {
        Some(user) => {
            let ids: Vec<String> = hits.iter().map(|h| h.skill_id.clone()).collect();
            Some(progress::for_skills(&state.db, user.id, &ids).await?)
        }
        None => None,
    };
    let catalog = state.catalog.load();
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            // The catalog is the live content; a hit it lacks was just retired.
            let (roadmap, stage, skill) = catalog.skill(&hit.skill_id)?;
            Some(SearchResult {
                href: format!("/roadmaps/{}/{}#{}", roadmap.id, stage.id, skill.id),
                title: skill.title.clone(),
                roadmap_title: roadmap.title.clone(),
                stage_title: stage.title.clone(),
                snippet_html: snippet_html(&hit.snippet),
                state: progress.as_ref().map(|p| p.state(&skill.id)),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_escaped_before_marking() {
        let raw = format!("use {MATCH_START}<script>{MATCH_END} & \"quotes\"");
        assert_eq!(
            snippet_html(&raw),
            "use <mark>&lt;script&gt;</mark> &amp; &quot;quotes&quot;"
        );
    }
}
