//! Notifications: who is told what, never yourself, the header count, opening and marking read.

mod common;

use axum::http::{StatusCode, header};
use common::{TestApp, write_files};

async fn unread(app: &TestApp, username: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select n.summary from notifications n join users u on u.id = n.recipient_id
         where u.username = $1 and n.read_at is null order by n.id",
    )
    .bind(username)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_mentoring_loop_notifies_the_other_side_only() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let app = TestApp::with_content(dir.path()).await;
    let lea = app.sign_up("lea").await;
    let max = app.sign_up("max").await;

    app.post_form("/mentors/invite", &[("username", "max")], Some(&lea))
        .await;
    assert_eq!(
        unread(&app, "max").await,
        ["lea name invited you to be their mentor"]
    );
    assert!(
        unread(&app, "lea").await.is_empty(),
        "no notification for your own action"
    );
    let (_, _, header_html) = app.get_as("/", &max).await;
    assert!(header_html.contains(
        r#"Notifications <span class="count-badge">1<span class="visually-hidden"> unread</span>"#
    ));

    let id: i64 = sqlx::query_scalar("select max(id) from mentorships")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    app.post_form(&format!("/mentoring/{id}/accept"), &[], Some(&max))
        .await;
    assert_eq!(
        unread(&app, "lea").await,
        ["max name accepted your mentor invitation"]
    );
    assert!(
        unread(&app, "max").await.is_empty(),
        "answering the invitation settles its notification"
    );

    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&lea),
    )
    .await;
    app.post_form("/skills/http-methods/review", &[], Some(&lea))
        .await;
    assert_eq!(
        unread(&app, "max").await.last().unwrap(),
        "lea name asked for a review of “Methods”"
    );
    let review: i64 = sqlx::query_scalar("select max(id) from review_requests")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    app.post_form(&format!("/reviews/{review}/verify"), &[], Some(&max))
        .await;
    assert_eq!(
        unread(&app, "lea").await.last().unwrap(),
        "max name verified “Methods”"
    );

    // Opening a notification follows it and marks it read.
    let (_, _, page) = app.get_as("/notifications", &lea).await;
    assert!(page.contains("max name verified “Methods”"));
    let note: i64 = sqlx::query_scalar(
        "select n.id from notifications n join users u on u.id = n.recipient_id
         where u.username = 'lea' and n.kind = 'review_answered'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (status, headers, _) = app
        .post_form(&format!("/notifications/{note}/open"), &[], Some(&lea))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/http/http-methods");
    assert_eq!(
        unread(&app, "lea").await,
        ["max name accepted your mentor invitation"]
    );

    // Somebody else cannot open it.
    let (status, _, _) = app
        .post_form(&format!("/notifications/{note}/open"), &[], Some(&max))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    app.post_form("/notifications/read-all", &[], Some(&lea)).await;
    assert!(unread(&app, "lea").await.is_empty());

    app.post_form(&format!("/mentorships/{id}/end"), &[], Some(&lea))
        .await;
    assert_eq!(
        unread(&app, "max").await.last().unwrap(),
        "lea name ended your mentoring link"
    );
}
