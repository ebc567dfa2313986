//! Search: ranking, empty results, hostile input, state on results.

mod common;

use axum::http::StatusCode;
use common::{TestApp, write_files};

fn content() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "ops/roadmap.md",
            "+++\ntitle = \"Ops\"\nsummary = \"Running services.\"\n+++\n",
        ),
        (
            "ops/01-speed.md",
            "+++\nid = \"speed\"\ntitle = \"Speed\"\n+++\nFaster.\n\n\
             ## Load balancers {#load-balancers}\nSpread traffic. A cache in front helps; cache hits, cache misses, \
             cache keys and cache invalidation all matter here, so think about the cache.\n\n\
             ## Caching basics {#caching-basics}\nKeep answers close to the client.\n\n\
             ## Queues {#queues}\nDecouple <b>producers</b> & consumers.\n",
        ),
    ]
}

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &content());
    (TestApp::with_content(dir.path()).await, dir)
}

#[tokio::test]
async fn title_matches_rank_above_body_matches() {
    let (app, _dir) = app().await;
    let (status, _, page) = app.get("/search?q=cache").await;
    assert_eq!(status, StatusCode::OK);
    let title_hit = page
        .find(r##"<a href="/roadmaps/ops/speed#caching-basics">Caching basics</a>"##)
        .unwrap();
    let body_hit = page
        .find(r##"<a href="/roadmaps/ops/speed#load-balancers">Load balancers</a>"##)
        .unwrap();
    assert!(
        title_hit < body_hit,
        "the title match comes first despite fewer words"
    );
    assert!(page.contains("2 skills match “cache”."));
    assert!(page.contains(r#"<a href="/roadmaps/ops">Ops</a> › <a href="/roadmaps/ops/speed">Speed</a>"#));
    assert!(page.contains("<mark>cache</mark>"));
}

#[tokio::test]
async fn no_results_and_empty_queries() {
    let (app, _dir) = app().await;
    let (status, _, page) = app.get("/search?q=kubernetes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No skills match “kubernetes”."));
    let (status, _, page) = app.get("/search").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("No skills match"));
    let (_, _, home) = app.get("/").await;
    assert!(
        home.contains(r#"role="search" action="/search""#),
        "a search box sits in the header"
    );
}

#[tokio::test]
async fn hostile_queries_never_error() {
    let (app, _dir) = app().await;
    let long = "a".repeat(10_000);
    let hostile = [
        "%22",
        "%27",
        "%22unterminated",
        "a%20%26%20b%20%7C%20!c",
        "%3A*",
        "(((",
        "-",
        "OR",
        "-cache%20OR",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "%00",
        "%E2%80%8F",
        "cache%27%3B%20drop%20table%20skills%3B--",
        long.as_str(),
    ];
    for q in hostile {
        let (status, _, page) = app.get(&format!("/search?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "{}", &q[..q.len().min(40)]);
        assert!(!page.contains("<script>alert"), "{q}");
    }
    let (_, _, page) = app.get("/search?q=%22cache%20invalidation%22").await;
    assert!(page.contains("Load balancers"), "phrases work");
    let count: i64 = sqlx::query_scalar("select count(*) from skills")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn snippets_escape_content_markup() {
    let (app, _dir) = app().await;
    let (_, _, page) = app.get("/search?q=producers").await;
    let snippet = page
        .split(r#"<p class="snippet">"#)
        .nth(1)
        .unwrap()
        .split("</p>")
        .next()
        .unwrap();
    assert!(snippet.contains("<mark>producers</mark>"), "{snippet}");
    assert!(snippet.contains("&amp; consumers"), "{snippet}");
    assert!(
        !snippet.contains("<b>"),
        "markup from content never reaches the snippet: {snippet}"
    );
}

#[tokio::test]
async fn signed_in_learners_see_their_state_on_results() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    app.post_form(
        "/skills/queues/state",
        &[("state", "done"), ("version", "0")],
        Some(&cookie),
    )
    .await;
    let (_, _, page) = app.get_as("/search?q=queues", &cookie).await;
    assert!(page.contains(r#"<span class="state-badge state-done">Done</span>"#));
    let (_, _, anonymous) = app.get("/search?q=queues").await;
    assert!(!anonymous.contains("state-badge"));
}

#[tokio::test]
async fn retired_skills_are_not_found() {
    let (app, dir) = app().await;
    write_files(
        dir.path(),
        &[(
            "ops/01-speed.md",
            "+++\nid = \"speed\"\ntitle = \"Speed\"\n+++\nx\n\n## Queues {#queues}\ny\n",
        )],
    );
    pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    app.state.refresh_catalog().await.unwrap();
    let (_, _, page) = app.get("/search?q=cache").await;
    assert!(page.contains("No skills match"));
}
