//! Public profiles: off by default, opt-in, only the chosen roadmaps, nothing private.

mod common;

use axum::http::StatusCode;
use common::{TestApp, write_files};

#[tokio::test]
async fn a_public_profile_is_opt_in_and_shows_only_chosen_progress() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = common::sample_content();
    files.push(("ops/roadmap.md", "+++\ntitle = \"Ops\"\nsummary = \"s\"\n+++\n"));
    files.push((
        "ops/01-run.md",
        "+++\nid = \"run\"\ntitle = \"Run\"\n+++\n## Deploys {#deploys}\nx\n",
    ));
    write_files(dir.path(), &files);
    let app = TestApp::with_content(dir.path()).await;
    let cookie = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&cookie)).await;
    app.post_form("/progress/ops/start", &[], Some(&cookie)).await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&cookie),
    )
    .await;
    app.post_form(
        "/skills/http-methods/note",
        &[("body", "private musings"), ("shared", "on")],
        Some(&cookie),
    )
    .await;
    app.post_form(
        "/skills/http-methods/evidence",
        &[("url", "https://example.com/proof"), ("title", "Proof")],
        Some(&cookie),
    )
    .await;

    let (status, _, _) = app.get("/u/ada").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "off by default");
    let (status, _, _) = app.get("/u/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, _, account) = app.get_as("/account", &cookie).await;
    assert!(
        account.contains(r#"name="roadmap" value="web""#)
            && account.contains(r#"name="roadmap" value="ops""#)
    );
    let (status, _, _) = app
        .post_form(
            "/account/public-profile",
            &[("public", "on"), ("roadmap", "web")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (status, _, page) = app.get("/u/ada").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>ada name</h1>"));
    assert!(page.contains("Web basics") && page.contains("1 of 2 required skills done (50%)"));
    assert!(!page.contains("Ops"), "roadmaps not chosen stay hidden");
    assert!(
        !page.contains("private musings") && !page.contains("example.com/proof"),
        "nothing private"
    );

    app.post_form("/account/public-profile", &[("roadmap", "web")], Some(&cookie))
        .await;
    let (status, _, _) = app.get("/u/ada").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "turned off again");
}
