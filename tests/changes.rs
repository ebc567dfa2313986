//! "Changed since you completed it": flagged on a material change, not on whitespace; diff, confirm, re-open.

mod common;

use axum::http::StatusCode;
use common::{TestApp, write_files};

fn http_stage(body: &str) -> String {
    format!(
        "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests and responses.\n\n## Methods {{#http-methods}}\n{body}\n\n\
         ## Status codes {{#status-codes .optional}}\n200 and 404.\n"
    )
}

async fn reload(app: &TestApp, dir: &std::path::Path, body: &str) {
    write_files(dir, &[("web/01-http.md", &http_stage(body))]);
    pathway::app::load_content(&app.db.pool, dir).await.unwrap();
    app.state.refresh_catalog().await.unwrap();
}

#[tokio::test]
async fn a_material_change_is_flagged_with_a_diff_and_can_be_confirmed_or_reopened() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let app = TestApp::with_content(dir.path()).await;
    let lea = app.sign_up("lea").await;
    let max = app.sign_up("max").await;
    app.post_form("/mentors/invite", &[("username", "max")], Some(&lea))
        .await;
    let link: i64 = sqlx::query_scalar("select id from mentorships")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    app.post_form(&format!("/mentoring/{link}/accept"), &[], Some(&max))
        .await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&lea),
    )
    .await;
    let (status, _, _) = app.get_as("/skills/dns-records/changes", &lea).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only a done skill has changes to show"
    );

    // Whitespace only: not a change.
    reload(&app, dir.path(), "GET   and\nPOST.").await;
    let (_, _, page) = app.get_as("/roadmaps/web/http", &lea).await;
    assert!(!page.contains("changed since you completed it"));

    // A material change.
    reload(&app, dir.path(), "GET, POST and PUT.\n\nPUT is idempotent.").await;
    let (_, _, page) = app.get_as("/roadmaps/web/http", &lea).await;
    assert!(page.contains("The text changed since you completed it."));
    let (_, _, mentor) = app.get_as("/mentees/lea/web/http", &max).await;
    assert!(
        mentor.contains("The text changed since lea name completed it."),
        "mentors see it too"
    );
    let (status, _, diff) = app.get_as("/skills/http-methods/changes", &lea).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        diff.contains(r#"<li class="diff-removed">"#) && diff.contains("<code>GET and POST.</code>"),
        "{diff}"
    );
    assert!(diff.contains(r#"<li class="diff-added">"#) && diff.contains("<code>PUT is idempotent.</code>"));

    // Still done: the marker goes.
    app.post_form("/skills/http-methods/confirm", &[], Some(&lea))
        .await;
    let (_, _, page) = app.get_as("/roadmaps/web/http", &lea).await;
    assert!(!page.contains("The text changed since you completed it."));

    // Another change; this time re-open it.
    reload(&app, dir.path(), "Methods are verbs.").await;
    let (_, _, page) = app.get_as("/roadmaps/web/http", &lea).await;
    assert!(page.contains("The text changed since you completed it."));
    let version: i32 = sqlx::query_scalar("select version from skill_progress")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "in_progress"), ("version", &version.to_string())],
        Some(&lea),
    )
    .await;
    let (_, _, page) = app.get_as("/roadmaps/web/http", &lea).await;
    assert!(
        !page.contains("The text changed since you completed it."),
        "re-opened: nothing to flag"
    );

    let (status, _, _) = app
        .post_form("/skills/http-methods/confirm", &[], Some(&lea))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only a done skill can be confirmed"
    );
}
