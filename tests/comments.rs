//! Comment threads: who may post, order, references, the editing window, deletion, notifications.

mod common;

use axum::http::StatusCode;
use common::{TestApp, write_files};

struct World {
    app: TestApp,
    lea: String,
    max: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let app = TestApp::with_content(dir.path()).await;
    let lea = app.sign_up("lea").await;
    let max = app.sign_up("max").await;
    app.post_form("/progress/web/start", &[], Some(&lea)).await;
    app.post_form("/mentors/invite", &[("username", "max")], Some(&lea))
        .await;
    let id: i64 = sqlx::query_scalar("select max(id) from mentorships")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    app.post_form(&format!("/mentoring/{id}/accept"), &[], Some(&max))
        .await;
    World {
        app,
        lea,
        max,
        _dir: dir,
    }
}

async fn comment_ids(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("select id from comments order by id")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn learner_and_mentor_discuss_a_skill() {
    let w = world().await;
    let (status, headers, _) = w
        .app
        .post_form(
            "/threads/lea/http-methods/comments",
            &[("body", "Is **PUT** idempotent?")],
            Some(&w.lea),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/roadmaps/web/http/http-methods");
    let (status, headers, _) = w
        .app
        .post_form(
            "/threads/lea/http-methods/comments",
            &[("body", "Yes. <script>alert(1)</script>")],
            Some(&w.max),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/mentees/lea/web/http/http-methods");

    for (cookie, path) in [
        (&w.lea, "/roadmaps/web/http/http-methods"),
        (&w.max, "/mentees/lea/web/http"),
    ] {
        let (_, _, page) = w.app.get_as(path, cookie).await;
        let first = page
            .find("Is <strong>PUT</strong> idempotent?")
            .expect("the learner's comment");
        let second = page.find("Yes.").expect("the mentor's reply");
        assert!(first < second, "newest last");
        assert!(page.contains("<strong>lea name</strong>") && page.contains("<strong>max name</strong>"));
        assert!(!page.contains("<script>alert"));
    }
    let notes: Vec<(String, String)> = sqlx::query_as(
        "select u.username, n.summary from notifications n join users u on u.id = n.recipient_id
         where n.kind = 'comment' order by n.id",
    )
    .fetch_all(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        notes,
        [
            ("max".to_string(), "lea name commented on “Methods”".to_string()),
            ("lea".to_string(), "max name commented on “Methods”".to_string())
        ],
        "each side is told, never the author"
    );
}

#[tokio::test]
async fn comments_can_refer_to_reviews_and_evidence() {
    let w = world().await;
    w.app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "done"), ("version", "0")],
            Some(&w.lea),
        )
        .await;
    w.app
        .post_form("/skills/http-methods/review", &[], Some(&w.lea))
        .await;
    w.app
        .post_form(
            "/skills/http-methods/evidence",
            &[("url", "https://example.com/repo"), ("title", "My repo")],
            Some(&w.lea),
        )
        .await;
    let review: i64 = sqlx::query_scalar("select id from review_requests")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    let evidence: i64 = sqlx::query_scalar("select id from evidence")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    let (_, _, page) = w.app.get_as("/mentees/lea/web/http", &w.max).await;
    assert!(page.contains(&format!(r#"<option value="review:{review}">"#)));
    w.app
        .post_form(
            "/threads/lea/http-methods/comments",
            &[
                ("body", "About your repo"),
                ("ref", &format!("evidence:{evidence}")),
            ],
            Some(&w.max),
        )
        .await;
    w.app
        .post_form(
            "/threads/lea/http-methods/comments",
            &[("body", "And the request"), ("ref", &format!("review:{review}"))],
            Some(&w.max),
        )
        .await;
    // A reference from someone else's data is dropped, not followed.
    w.app
        .post_form(
            "/threads/lea/http-methods/comments",
            &[("body", "Odd ref"), ("ref", "evidence:999999")],
            Some(&w.max),
        )
        .await;
    let (_, _, page) = w.app.get_as("/roadmaps/web/http/http-methods", &w.lea).await;
    assert!(page.contains("about evidence “My repo”"));
    assert!(page.contains("about the review request of"));
    let refs: Vec<(Option<i64>, Option<i64>)> =
        sqlx::query_as("select review_request_id, evidence_id from comments order by id")
            .fetch_all(&w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(refs[2], (None, None));
}

#[tokio::test]
async fn authors_edit_within_15_minutes_and_delete_leaves_a_marker() {
    let w = world().await;
    w.app
        .post_form(
            "/threads/lea/http-methods/comments",
            &[("body", "First draft")],
            Some(&w.lea),
        )
        .await;
    let id = comment_ids(&w.app).await[0];
    let (status, _, _) = w
        .app
        .post_form(
            &format!("/comments/{id}/edit"),
            &[("body", "hijack")],
            Some(&w.max),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only the author edits");
    let (status, _, _) = w
        .app
        .post_form(
            &format!("/comments/{id}/edit"),
            &[("body", "Second draft")],
            Some(&w.lea),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = w.app.get_as("/mentees/lea/web/http", &w.max).await;
    assert!(page.contains("Second draft") && page.contains(" · edited"));

    sqlx::query("update comments set created_at = now() - interval '16 minutes'")
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    let (status, _, page) = w
        .app
        .post_form(
            &format!("/comments/{id}/edit"),
            &[("body", "Too late")],
            Some(&w.lea),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("can be edited for 15 minutes"));

    let (status, _, _) = w
        .app
        .post_form(&format!("/comments/{id}/delete"), &[], Some(&w.max))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only the author deletes");
    w.app
        .post_form(&format!("/comments/{id}/delete"), &[], Some(&w.lea))
        .await;
    let (_, _, page) = w.app.get_as("/mentees/lea/web/http", &w.max).await;
    assert!(page.contains("Comment deleted.") && !page.contains("Second draft"));
}

#[tokio::test]
async fn only_the_learner_and_their_mentors_may_post() {
    let w = world().await;
    let stranger = w.app.sign_up("sam").await;
    let (status, _, _) = w
        .app
        .post_form(
            "/threads/lea/http-methods/comments",
            &[("body", "hi")],
            Some(&stranger),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = w
        .app
        .post_form("/threads/lea/http-methods/comments", &[("body", "hi")], None)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, page) = w
        .app
        .post_form(
            "/threads/lea/http-methods/comments",
            &[("body", "  ")],
            Some(&w.lea),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Write a comment"));
    // An ex-mentor loses access with the link.
    let link: i64 = sqlx::query_scalar("select id from mentorships")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    w.app
        .post_form(&format!("/mentorships/{link}/end"), &[], Some(&w.lea))
        .await;
    let (status, _, _) = w
        .app
        .post_form(
            "/threads/lea/http-methods/comments",
            &[("body", "still here?")],
            Some(&w.max),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(comment_ids(&w.app).await.is_empty());
}
