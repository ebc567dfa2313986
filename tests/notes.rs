//! Notes and evidence: saving, sanitizing, sharing, validation, deletion and privacy.

mod common;

use axum::http::{StatusCode, header};
use common::{TestApp, sample_content, write_files};

async fn app_with_learner() -> (TestApp, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let app = TestApp::with_content(dir.path()).await;
    let cookie = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&cookie)).await;
    (app, cookie, dir)
}

#[tokio::test]
async fn a_note_is_saved_rendered_sanitized_and_private_by_default() {
    let (app, cookie, _dir) = app_with_learner().await;
    let body = "Remember **idempotency**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2))";
    let (status, headers, _) = app
        .post_form("/skills/http-methods/note", &[("body", body)], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/http/http-methods");

    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &cookie).await;
    assert!(page.contains("<strong>idempotency</strong>"));
    assert!(page.contains("Private: only you can see it"));
    let lower = page.to_lowercase();
    // The raw text stays editable (escaped) in the textarea; the rendered note has neither.
    assert!(!lower.contains("<script>alert"));
    assert!(!lower.contains(r#"href="javascript:"#));
    assert!(
        page.contains("&#60;script&#62;alert(1)"),
        "escaped in the textarea"
    );

    app.post_form(
        "/skills/http-methods/note",
        &[("body", body), ("shared", "on")],
        Some(&cookie),
    )
    .await;
    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &cookie).await;
    assert!(page.contains("Shared with your mentors"));
    let shared: bool = sqlx::query_scalar("select shared_with_mentors from notes")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(shared);

    // Saving an empty note removes it.
    app.post_form("/skills/http-methods/note", &[("body", "  ")], Some(&cookie))
        .await;
    let count: i64 = sqlx::query_scalar("select count(*) from notes")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn an_overlong_note_is_refused_and_kept_in_the_form() {
    let (app, cookie, _dir) = app_with_learner().await;
    let long = "word ".repeat(5_000);
    let (status, _, page) = app
        .post_form("/skills/http-methods/note", &[("body", &long)], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Notes can be at most 20000 characters"));
    assert!(page.contains(&long.trim_end()[..100]), "the text is not lost");
    let count: i64 = sqlx::query_scalar("select count(*) from notes")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn evidence_links_must_be_http_and_default_their_title() {
    let (app, cookie, _dir) = app_with_learner().await;
    for bad in [
        "javascript:alert(1)",
        "ftp://example.com/file",
        "not a url",
        "https://",
    ] {
        let (status, _, page) = app
            .post_form(
                "/skills/http-methods/evidence",
                &[("url", bad), ("title", "My work")],
                Some(&cookie),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(page.contains("starting with https:// or http://"), "{bad}");
        assert!(page.contains(r#"value="My work""#), "values are kept");
    }
    let (status, _, _) = app
        .post_form(
            "/skills/http-methods/evidence",
            &[("url", "https://github.com/ada/http-demo"), ("title", "")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &cookie).await;
    assert!(
        page.contains(
            r#"<a href="https://github.com/ada/http-demo" rel="noopener noreferrer nofollow">github.com</a>"#
        ),
        "{page}"
    );
}

#[tokio::test]
async fn only_the_owner_can_remove_evidence() {
    let (app, cookie, _dir) = app_with_learner().await;
    app.post_form(
        "/skills/http-methods/evidence",
        &[("url", "https://example.com/a"), ("title", "A")],
        Some(&cookie),
    )
    .await;
    let id: i64 = sqlx::query_scalar("select id from evidence")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let other = app.sign_up("mallory").await;
    let (status, _, _) = app
        .post_form(&format!("/evidence/{id}/delete"), &[], Some(&other))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app.post_form(&format!("/evidence/{id}/delete"), &[], None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "anonymous: to sign-in");
    let count: i64 = sqlx::query_scalar("select count(*) from evidence")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    let (status, _, _) = app
        .post_form(&format!("/evidence/{id}/delete"), &[], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let count: i64 = sqlx::query_scalar("select count(*) from evidence")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn another_learner_never_sees_my_note_or_links() {
    let (app, cookie, _dir) = app_with_learner().await;
    app.post_form(
        "/skills/http-methods/note",
        &[("body", "my secret plan"), ("shared", "on")],
        Some(&cookie),
    )
    .await;
    app.post_form(
        "/skills/http-methods/evidence",
        &[("url", "https://example.com/mine"), ("title", "Mine")],
        Some(&cookie),
    )
    .await;
    let other = app.sign_up("eve").await;
    app.post_form("/progress/web/start", &[], Some(&other)).await;
    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &other).await;
    assert!(!page.contains("my secret plan"));
    assert!(!page.contains("example.com/mine"));
    let (_, _, anonymous) = app.get("/roadmaps/web/http").await;
    assert!(!anonymous.contains("my secret plan"));
}

#[tokio::test]
async fn the_javascript_path_gets_the_workspace_fragment() {
    let (app, cookie, _dir) = app_with_learner().await;
    let request = axum::http::Request::post("/skills/http-methods/note")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "same-origin")
        .header("x-pathway-fragment", "1")
        .body(axum::body::Body::from("body=hello+_world_"))
        .unwrap();
    let (status, _, body) = app.request(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.trim_start()
            .starts_with(r#"<div class="workspace" id="workspace_http-methods""#)
    );
    assert!(body.contains("<em>world</em>") && body.contains("Note saved."));
    assert!(!body.contains("<html"));
}
