//! Reviews: requesting, verifying, requesting changes, one verdict per request, withdrawal, and who may answer.

mod common;

use axum::http::StatusCode;
use common::{TestApp, write_files};
use pathway::db::reviews;

struct World {
    app: TestApp,
    learner: String,
    mentor: String,
    _dir: tempfile::TempDir,
}

async fn link(app: &TestApp, learner: &str, mentor_username: &str, mentor: &str, form: &[(&str, &str)]) {
    let mut fields = vec![("username", mentor_username)];
    fields.extend_from_slice(form);
    app.post_form("/mentors/invite", &fields, Some(learner)).await;
    let id: i64 = sqlx::query_scalar("select max(id) from mentorships")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    app.post_form(&format!("/mentoring/{id}/accept"), &[], Some(mentor))
        .await;
}

/// A learner who marked http-methods done, with an active mentor on all roadmaps.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut files = common::sample_content();
    files.push(("ops/roadmap.md", "+++\ntitle = \"Ops\"\nsummary = \"s\"\n+++\n"));
    files.push((
        "ops/01-run.md",
        "+++\nid = \"run\"\ntitle = \"Run\"\n+++\n## Deploys {#deploys}\nx\n",
    ));
    write_files(dir.path(), &files);
    let app = TestApp::with_content(dir.path()).await;
    let learner = app.sign_up("lea").await;
    let mentor = app.sign_up("max").await;
    app.post_form("/progress/web/start", &[], Some(&learner)).await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&learner),
    )
    .await;
    link(&app, &learner, "max", &mentor, &[]).await;
    World {
        app,
        learner,
        mentor,
        _dir: dir,
    }
}

async fn request(w: &World) -> i64 {
    let (status, _, _) = w
        .app
        .post_form(
            "/skills/http-methods/review",
            &[("message", "Please check my demo")],
            Some(&w.learner),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    sqlx::query_scalar("select max(id) from review_requests")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap()
}

async fn kinds(app: &TestApp) -> Vec<(String, Option<String>, String)> {
    sqlx::query_as(
        "select e.kind, e.message, a.username from progress_events e join users a on a.id = e.actor_id order by e.id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_verified_skill_shows_who_verified_it() {
    let w = world().await;
    let (_, _, stage) = w.app.get_as("/roadmaps/web/http", &w.learner).await;
    assert!(stage.contains("Ask your mentors to review this skill"));
    let id = request(&w).await;

    let (_, _, stage) = w.app.get_as("/roadmaps/web/http", &w.learner).await;
    assert!(stage.contains("Review requested") && stage.contains("waiting less than a day"));
    let (_, _, mine) = w.app.get_as("/mentors", &w.learner).await;
    assert!(mine.contains("Your review requests") && mine.contains("Methods</a>: waiting less than a day"));

    let (_, _, mentee) = w.app.get_as("/mentees/lea/web/http", &w.mentor).await;
    assert!(mentee.contains("Please check my demo"));
    assert!(mentee.contains(&format!(r#"action="/reviews/{id}/verify""#)));
    let (status, _, _) = w
        .app
        .post_form(
            &format!("/reviews/{id}/verify"),
            &[("message", "Nice work")],
            Some(&w.mentor),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let today = pathway::routes::format_date(time::OffsetDateTime::now_utc());
    let (_, _, stage) = w.app.get_as("/roadmaps/web/http", &w.learner).await;
    assert!(
        stage.contains(&format!("Verified by max name on {today}")),
        "{stage}"
    );
    assert!(stage.contains("“Nice work”"));
    let (_, _, roadmap) = w.app.get_as("/roadmaps/web", &w.learner).await;
    assert!(roadmap.contains("1 of 2 required skills done (50%), 1 of them verified"));
    let (_, _, history) = w.app.get_as("/history", &w.learner).await;
    assert!(
        history.contains("Verified by max name: “Nice work”"),
        "the learner's history names the mentor"
    );
    let (_, _, timeline) = w.app.get_as("/mentees/lea", &w.mentor).await;
    assert!(timeline.contains("Review requested: “Please check my demo”"));
    assert!(roadmap.contains(r#"class="progress-verified""#));
    assert_eq!(
        kinds(&w.app)
            .await
            .into_iter()
            .filter(|k| k.0 == "review_requested" || k.0 == "verify")
            .collect::<Vec<_>>(),
        [
            (
                "review_requested".into(),
                Some("Please check my demo".into()),
                "lea".into()
            ),
            ("verify".into(), Some("Nice work".into()), "max".into())
        ],
        "every review action is in the history with its actor and message"
    );
}

#[tokio::test]
async fn requesting_changes_reopens_the_skill() {
    let w = world().await;
    let id = request(&w).await;
    let (status, _, page) = w
        .app
        .post_form(
            &format!("/reviews/{id}/changes"),
            &[("message", "")],
            Some(&w.mentor),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("a comment is needed"));
    w.app
        .post_form(
            &format!("/reviews/{id}/changes"),
            &[("message", "Add error handling")],
            Some(&w.mentor),
        )
        .await;
    let state: String =
        sqlx::query_scalar("select state from skill_progress where skill_id = 'http-methods'")
            .fetch_one(&w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(state, "in_progress");
    let (_, _, stage) = w.app.get_as("/roadmaps/web/http", &w.learner).await;
    assert!(stage.contains("Changes requested by max name on") && stage.contains("“Add error handling”"));
    let last = kinds(&w.app).await.pop().unwrap();
    assert_eq!(
        last,
        (
            "changes_requested".into(),
            Some("Add error handling".into()),
            "max".into()
        )
    );
}

#[tokio::test]
async fn the_first_of_two_mentors_decides() {
    let w = world().await;
    let second = w.app.sign_up("mia").await;
    link(&w.app, &w.learner, "mia", &second, &[]).await;
    let id = request(&w).await;
    let ids: (i64, i64) = sqlx::query_as(
        "select (select id from users where username = 'max'), (select id from users where username = 'mia')",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    let pool = &w.app.db.pool;
    let (a, b) = tokio::join!(
        reviews::answer(pool, ids.0, id, true, "ok"),
        reviews::answer(pool, ids.1, id, false, "not yet")
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "exactly one verdict: {outcomes:?}"
    );
    let loser = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    assert!(loser.ends_with("already answered this request."), "{loser}");
    let (status, _, page) = w
        .app
        .post_form(&format!("/reviews/{id}/verify"), &[], Some(&second))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("already answered"));
}

#[tokio::test]
async fn verification_is_withdrawn_when_the_skill_leaves_done() {
    let w = world().await;
    let id = request(&w).await;
    w.app
        .post_form(&format!("/reviews/{id}/verify"), &[], Some(&w.mentor))
        .await;
    let version: i32 =
        sqlx::query_scalar("select version from skill_progress where skill_id = 'http-methods'")
            .fetch_one(&w.app.db.pool)
            .await
            .unwrap();
    w.app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "in_progress"), ("version", &version.to_string())],
            Some(&w.learner),
        )
        .await;
    let verified: Option<i64> =
        sqlx::query_scalar("select verified_by from skill_progress where skill_id = 'http-methods'")
            .fetch_one(&w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(verified, None);
    assert!(
        kinds(&w.app).await.iter().any(|k| k.0 == "unverify"),
        "the withdrawal is recorded"
    );
    let (_, _, stage) = w.app.get_as("/roadmaps/web/http", &w.learner).await;
    assert!(!stage.contains("Verified by"));

    // A pending request is withdrawn the same way.
    let version = version + 1;
    w.app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "done"), ("version", &version.to_string())],
            Some(&w.learner),
        )
        .await;
    let id = request(&w).await;
    let version = version + 1;
    w.app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "skipped"), ("version", &version.to_string())],
            Some(&w.learner),
        )
        .await;
    let status: String = sqlx::query_scalar("select status from review_requests where id = $1")
        .bind(id)
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "withdrawn");
    let (status, _, page) = w
        .app
        .post_form(&format!("/reviews/{id}/verify"), &[], Some(&w.mentor))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("no longer open"));
}

#[tokio::test]
async fn only_a_mentor_covering_the_roadmap_may_answer() {
    let w = world().await;
    let id = request(&w).await;
    // A mentor of someone else.
    let other_mentor = w.app.sign_up("omar").await;
    let other_learner = w.app.sign_up("olga").await;
    link(&w.app, &other_learner, "omar", &other_mentor, &[]).await;
    // A mentor scoped to another roadmap.
    let scoped = w.app.sign_up("sara").await;
    link(
        &w.app,
        &w.learner,
        "sara",
        &scoped,
        &[("scope", "chosen"), ("roadmap", "ops")],
    )
    .await;
    for cookie in [&other_mentor, &scoped, &w.learner] {
        let (status, _, _) = w
            .app
            .post_form(&format!("/reviews/{id}/verify"), &[], Some(cookie))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _, _) = w.app.post_form(&format!("/reviews/{id}/verify"), &[], None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let status: String = sqlx::query_scalar("select status from review_requests")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "pending");
}

#[tokio::test]
async fn reviews_need_a_done_skill_and_a_mentor() {
    let w = world().await;
    let (status, _, page) = w
        .app
        .post_form("/skills/dns-records/review", &[], Some(&w.learner))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Mark the skill done before asking for a review."));
    request(&w).await;
    let (status, _, page) = w
        .app
        .post_form("/skills/http-methods/review", &[], Some(&w.learner))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("already waiting"));

    let loner = w.app.sign_up("lone").await;
    w.app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "done"), ("version", "0")],
            Some(&loner),
        )
        .await;
    let (status, _, page) = w
        .app
        .post_form("/skills/http-methods/review", &[], Some(&loner))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("invite one on the My mentors page"));
}

/// The review queue: every waiting request of the mentor's mentees, oldest first, with the
/// skill's text, the shared note (never a private one), evidence and history, and a verdict
/// given in place that returns to the queue (issue 12).
#[tokio::test]
async fn the_review_queue_lists_waiting_reviews_oldest_first_and_answers_in_place() {
    let w = world().await;
    let app = &w.app;
    // A second mentee, whose request is older; and a third learner with another mentor.
    let ida = app.sign_up("ida").await;
    app.post_form("/progress/web/start", &[], Some(&ida)).await;
    app.post_form(
        "/skills/dns-records/state",
        &[("state", "done"), ("version", "0")],
        Some(&ida),
    )
    .await;
    link(app, &ida, "max", &w.mentor, &[]).await;
    let (status, _, _) = app
        .post_form(
            "/skills/dns-records/review",
            &[("message", "Records done")],
            Some(&ida),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    sqlx::query("update review_requests set requested_at = now() - interval '3 days'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let other = app.sign_up("olga").await;
    let stranger = app.sign_up("sam").await;
    app.post_form("/progress/web/start", &[], Some(&stranger)).await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&stranger),
    )
    .await;
    link(app, &stranger, "olga", &other, &[]).await;
    app.post_form(
        "/skills/http-methods/review",
        &[("message", "Not for max")],
        Some(&stranger),
    )
    .await;
    // lea shares her note and adds evidence; ida keeps her note private.
    app.post_form(
        "/skills/http-methods/note",
        &[("body", "GET is **safe**."), ("shared", "on")],
        Some(&w.learner),
    )
    .await;
    app.post_form(
        "/skills/http-methods/evidence",
        &[("url", "https://example.org/demo"), ("title", "My demo")],
        Some(&w.learner),
    )
    .await;
    app.post_form(
        "/skills/dns-records/note",
        &[("body", "secret diary")],
        Some(&ida),
    )
    .await;
    let lea_request = request(&w).await;

    let (status, _, page) = app.get_as("/mentoring/reviews", &w.mentor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("2 requests wait, oldest first."), "{page}");
    let ida_at = page.find("Records done").expect("ida's request");
    let lea_at = page.find("Please check my demo").expect("lea's request");
    assert!(ida_at < lea_at, "the oldest first");
    assert!(!page.contains("Not for max"), "another mentor's mentee");
    assert!(!page.contains("secret diary"), "a private note never shows");
    assert!(page.contains("GET is <strong>safe</strong>."), "{page}");
    assert!(
        page.contains(r#"<a href="https://example.org/demo" rel="noopener noreferrer nofollow">My demo</a>"#)
    );
    assert!(page.contains("<summary>The skill's text"), "collapsed skill text");
    assert!(page.contains("GET and POST."), "the skill's text is there");
    assert!(page.contains("History of this skill"));
    assert!(page.contains("Not started → Done"), "{page}");
    assert!(page.contains("Review requested"), "{page}");

    // The dashboard says how many wait and links to the queue, and per mentee.
    let (_, _, dashboard) = app.get_as("/mentoring", &w.mentor).await;
    assert!(
        dashboard.contains(r#"<a href="/mentoring/reviews"><strong>2 reviews wait for you</strong></a>"#),
        "{dashboard}"
    );
    assert!(dashboard.contains(r#"href="/mentoring/reviews?mentee=lea""#));
    let (_, _, only_lea) = app.get_as("/mentoring/reviews?mentee=lea", &w.mentor).await;
    assert!(
        only_lea.contains("1 request waits") && !only_lea.contains("Records done"),
        "{only_lea}"
    );

    // Verify from the queue: back to it, with one fewer.
    let (status, headers, _) = app
        .post_form(
            &format!("/reviews/{lea_request}/verify"),
            &[("message", "Nice"), ("back", "queue")],
            Some(&w.mentor),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[axum::http::header::LOCATION],
        "/mentoring/reviews?done=verified"
    );
    let (_, _, page) = app.get_as("/mentoring/reviews?done=verified", &w.mentor).await;
    assert!(page.contains("Verified. The learner has been told."));
    assert!(
        page.contains("1 request waits") && !page.contains("Please check my demo"),
        "{page}"
    );

    // Non-mentors and the other mentor see only their own (empty or not) queue.
    let (status, _, page) = app.get_as("/mentoring/reviews", &w.learner).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Nothing waits for you"), "{page}");
    let (_, _, page) = app.get_as("/mentoring/reviews", &other).await;
    assert!(
        page.contains("Not for max") && !page.contains("Records done"),
        "{page}"
    );
    // Narrowing to someone who is not one's mentee names nobody: not found.
    for who in ["sam", "olga", "nobody"] {
        let (status, _, page) = app
            .get_as(&format!("/mentoring/reviews?mentee={who}"), &w.mentor)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}");
        assert!(
            !page.contains("sam name") && !page.contains("olga name"),
            "{page}"
        );
    }
    // A mentee with nothing waiting is named, with an empty list.
    let (status, _, page) = app.get_as("/mentoring/reviews?mentee=lea", &w.mentor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Reviews waiting for you: lea name")
            && page.contains("Nothing waits for you from this mentee"),
        "{page}"
    );
}
