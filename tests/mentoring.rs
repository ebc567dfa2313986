//! Mentor links: invitations by username and by link, their lifecycle, scope, ending, and what a mentor sees.

mod common;

use axum::http::{StatusCode, header};
use common::{TestApp, write_files};

fn content() -> Vec<(&'static str, &'static str)> {
    let mut files = common::sample_content();
    files.push((
        "ops/roadmap.md",
        "+++\ntitle = \"Ops\"\nsummary = \"Running services.\"\n+++\n",
    ));
    files.push((
        "ops/01-run.md",
        "+++\nid = \"run\"\ntitle = \"Run\"\n+++\n## Deploys {#deploys}\nx\n",
    ));
    files
}

struct World {
    app: TestApp,
    learner: String,
    mentor: String,
    _dir: tempfile::TempDir,
}

/// A learner with progress on two roadmaps, a private and a shared note, and a would-be mentor.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &content());
    let app = TestApp::with_content(dir.path()).await;
    let learner = app.sign_up("lea").await;
    let mentor = app.sign_up("max").await;
    for roadmap in ["web", "ops"] {
        app.post_form(&format!("/progress/{roadmap}/start"), &[], Some(&learner))
            .await;
    }
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&learner),
    )
    .await;
    app.post_form(
        "/skills/http-methods/note",
        &[("body", "shared thoughts here"), ("shared", "on")],
        Some(&learner),
    )
    .await;
    app.post_form(
        "/skills/status-codes/note",
        &[("body", "my private diary")],
        Some(&learner),
    )
    .await;
    app.post_form(
        "/skills/http-methods/evidence",
        &[("url", "https://example.com/lea-proof"), ("title", "Proof")],
        Some(&learner),
    )
    .await;
    World {
        app,
        learner,
        mentor,
        _dir: dir,
    }
}

async fn status_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("select status from mentorships where id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn last_link_id(app: &TestApp) -> i64 {
    sqlx::query_scalar("select max(id) from mentorships")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn invite_by_username_accept_see_progress_then_end() {
    let w = world().await;
    let (status, headers, _) = w
        .app
        .post_form(
            "/mentors/invite",
            &[("username", "max"), ("scope", "all")],
            Some(&w.learner),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/mentors?done=invited");
    let id = last_link_id(&w.app).await;

    // Before accepting, nothing is visible.
    let (status, _, _) = w.app.get_as("/mentees/lea", &w.mentor).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, requests) = w.app.get_as("/mentoring", &w.mentor).await;
    assert!(requests.contains("asks you to mentor them on all roadmaps"));

    let (status, _, _) = w
        .app
        .post_form(&format!("/mentoring/{id}/accept"), &[], Some(&w.mentor))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&w.app, id).await, "active");

    let (_, _, mine) = w.app.get_as("/mentors", &w.learner).await;
    assert!(
        mine.contains("<strong>max name (@max)</strong>: all roadmaps"),
        "the learner sees who can see them"
    );
    let (_, _, list) = w.app.get_as("/mentoring", &w.mentor).await;
    assert!(list.contains(r#"<a href="/mentees/lea">lea name</a>"#));
    assert!(list.contains("1 of 2 required skills done (50%)"));

    let (status, _, overview) = w.app.get_as("/mentees/lea", &w.mentor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(overview.contains("Web basics") && overview.contains("Ops"));
    assert!(overview.contains("Recent activity"), "an activity timeline");
    assert!(
        overview.contains("Methods</a>: Not started → Done (Changed)"),
        "{overview}"
    );
    let (status, _, stage) = w.app.get_as("/mentees/lea/web/http", &w.mentor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(stage.contains("shared thoughts here"), "shared notes are shown");
    assert!(
        stage.contains("https://example.com/lea-proof"),
        "evidence is shown"
    );
    assert!(!stage.contains("my private diary"), "private notes never are");
    assert!(!stage.contains("state-button"), "read-only");

    // Either side can end it; access ends at once and the row stays.
    let (status, headers, _) = w
        .app
        .post_form(&format!("/mentorships/{id}/end"), &[], Some(&w.mentor))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/mentoring?done=ended");
    assert_eq!(status_of(&w.app, id).await, "ended");
    let (status, _, _) = w.app.get_as("/mentees/lea/web/http", &w.mentor).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, mine) = w.app.get_as("/mentors", &w.learner).await;
    assert!(mine.contains("Past links") && mine.contains("Ended"));
}

#[tokio::test]
async fn a_scoped_link_shows_only_its_roadmaps() {
    let w = world().await;
    w.app
        .post_form(
            "/mentors/invite",
            &[("username", "max"), ("scope", "chosen"), ("roadmap", "ops")],
            Some(&w.learner),
        )
        .await;
    let id = last_link_id(&w.app).await;
    w.app
        .post_form(&format!("/mentoring/{id}/accept"), &[], Some(&w.mentor))
        .await;
    let (_, _, overview) = w.app.get_as("/mentees/lea", &w.mentor).await;
    assert!(overview.contains("Ops") && !overview.contains("Web basics"));
    let (status, _, _) = w.app.get_as("/mentees/lea/web/http", &w.mentor).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "out of scope");
    let (status, _, _) = w.app.get_as("/mentees/lea/ops/run", &w.mentor).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn decline_revoke_and_bad_usernames() {
    let w = world().await;
    let (status, _, page) = w
        .app
        .post_form("/mentors/invite", &[("username", "nobody")], Some(&w.learner))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("There is no user with that username"));
    let (status, _, page) = w
        .app
        .post_form("/mentors/invite", &[("username", "lea")], Some(&w.learner))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("You cannot be your own mentor"));

    w.app
        .post_form("/mentors/invite", &[("username", "max")], Some(&w.learner))
        .await;
    let (status, _, page) = w
        .app
        .post_form("/mentors/invite", &[("username", "max")], Some(&w.learner))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "one open invitation per pair"
    );
    assert!(page.contains("already has your invitation"));
    let id = last_link_id(&w.app).await;
    w.app
        .post_form(&format!("/mentoring/{id}/decline"), &[], Some(&w.mentor))
        .await;
    assert_eq!(status_of(&w.app, id).await, "declined");
    let (status, _, _) = w
        .app
        .post_form(&format!("/mentoring/{id}/accept"), &[], Some(&w.mentor))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a declined invitation cannot be accepted later"
    );

    w.app
        .post_form("/mentors/invite", &[("username", "max")], Some(&w.learner))
        .await;
    let id = last_link_id(&w.app).await;
    let (status, _, _) = w
        .app
        .post_form(&format!("/mentors/{id}/revoke"), &[], Some(&w.mentor))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only the learner withdraws their invitation"
    );
    w.app
        .post_form(&format!("/mentors/{id}/revoke"), &[], Some(&w.learner))
        .await;
    assert_eq!(status_of(&w.app, id).await, "revoked");
    let (status, _, _) = w
        .app
        .post_form(&format!("/mentoring/{id}/accept"), &[], Some(&w.mentor))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invite_links_are_single_use_expire_and_can_be_withdrawn() {
    let w = world().await;
    let (status, _, page) = w
        .app
        .post_form("/mentors/link", &[("scope", "all")], Some(&w.learner))
        .await;
    assert_eq!(status, StatusCode::OK);
    let link = page
        .split("/mentoring/invite/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let path = format!("/mentoring/invite/{link}");

    let (status, _, own) = w.app.get_as(&path, &w.learner).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(own.contains("This is your own invitation"));

    let (status, _, invite) = w.app.get_as(&path, &w.mentor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(invite.contains("invites you to be their mentor"));
    let (status, headers, _) = w
        .app
        .post_form(&path, &[("decision", "accept")], Some(&w.mentor))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/mentoring?done=accepted");
    let (status, _, _) = w.app.get_as("/mentees/lea", &w.mentor).await;
    assert_eq!(status, StatusCode::OK);

    // Used: nobody else can use it.
    let third = w.app.sign_up("tom").await;
    let (status, _, page) = w
        .app
        .post_form(&path, &[("decision", "accept")], Some(&third))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("no longer open"));

    // Expired.
    let (_, _, page) = w.app.post_form("/mentors/link", &[], Some(&w.learner)).await;
    let expired = page
        .split("/mentoring/invite/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    sqlx::query("update mentorships set expires_at = now() - interval '1 minute' where id = (select max(id) from mentorships)")
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    let (status, _, _) = w
        .app
        .get_as(&format!("/mentoring/invite/{expired}"), &third)
        .await;
    assert_eq!(status, StatusCode::GONE);
    let (status, _, _) = w
        .app
        .post_form(
            &format!("/mentoring/invite/{expired}"),
            &[("decision", "accept")],
            Some(&third),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Withdrawn.
    let (_, _, page) = w.app.post_form("/mentors/link", &[], Some(&w.learner)).await;
    let withdrawn = page
        .split("/mentoring/invite/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let id = last_link_id(&w.app).await;
    w.app
        .post_form(&format!("/mentors/{id}/revoke"), &[], Some(&w.learner))
        .await;
    let (status, _, _) = w
        .app
        .post_form(
            &format!("/mentoring/invite/{withdrawn}"),
            &[("decision", "accept")],
            Some(&third),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, _) = w.app.get_as("/mentees/lea", &third).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_learner_can_end_a_link_too() {
    let w = world().await;
    w.app
        .post_form("/mentors/invite", &[("username", "max")], Some(&w.learner))
        .await;
    let id = last_link_id(&w.app).await;
    w.app
        .post_form(&format!("/mentoring/{id}/accept"), &[], Some(&w.mentor))
        .await;
    let stranger = w.app.sign_up("tom").await;
    let (status, _, _) = w
        .app
        .post_form(&format!("/mentorships/{id}/end"), &[], Some(&stranger))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only the two people in a link can end it"
    );
    let (status, headers, _) = w
        .app
        .post_form(&format!("/mentorships/{id}/end"), &[], Some(&w.learner))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/mentors?done=ended");
    let (status, _, _) = w.app.get_as("/mentees/lea", &w.mentor).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stalled_mentees_are_flagged_first() {
    let w = world().await;
    let quiet = w.app.sign_up("quinn").await;
    for (cookie, username) in [(&w.learner, "lea"), (&quiet, "quinn")] {
        let _ = username;
        w.app
            .post_form("/mentors/invite", &[("username", "max")], Some(cookie))
            .await;
        let id = last_link_id(&w.app).await;
        w.app
            .post_form(&format!("/mentoring/{id}/accept"), &[], Some(&w.mentor))
            .await;
    }
    let (_, _, page) = w.app.get_as("/mentoring", &w.mentor).await;
    let quinn = page.find(r#"<a href="/mentees/quinn">"#).unwrap();
    let lea = page.find(r#"<a href="/mentees/lea">"#).unwrap();
    assert!(quinn < lea, "the stalled mentee (no activity) comes first");
    assert_eq!(
        page.matches(r#"<span class="badge badge-stalled">stalled</span>"#)
            .count(),
        1
    );
}

#[test]
fn the_cli_links_a_mentor_and_a_mentee() {
    // Covered through the library function the CLI calls; the binary needs a database URL.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let w = world().await;
        let (lea, max): (i64, i64) = sqlx::query_as(
            "select (select id from users where username = 'lea'), (select id from users where username = 'max')",
        )
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
        pathway::db::mentorships::link(&w.app.db.pool, max, lea).await.unwrap().unwrap();
        let (status, _, _) = w.app.get_as("/mentees/lea", &w.mentor).await;
        assert_eq!(status, StatusCode::OK);
        let again = pathway::db::mentorships::link(&w.app.db.pool, max, lea).await.unwrap();
        assert!(again.is_err(), "linking twice is refused");
    });
}

#[tokio::test]
async fn a_mentor_reads_each_skill_on_its_own_page_and_answers_there() {
    let w = world().await;
    w.app
        .post_form(
            "/mentors/invite",
            &[("username", "max"), ("scope", "all")],
            Some(&w.learner),
        )
        .await;
    let id = last_link_id(&w.app).await;
    w.app
        .post_form(&format!("/mentoring/{id}/accept"), &[], Some(&w.mentor))
        .await;

    // The stage page links each skill to its own page.
    let (_, _, stage) = w.app.get_as("/mentees/lea/web/http", &w.mentor).await;
    assert!(
        stage.contains(r#"<a href="/mentees/lea/web/http/http-methods">Methods</a>"#),
        "{stage}"
    );

    let (status, _, page) = w
        .app
        .get_as("/mentees/lea/web/http/http-methods", &w.mentor)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<h1 id="h_http-methods">Methods"#), "{page}");
    // The whole text is open, not folded away as on the stage page.
    assert!(!page.contains("The skill's text"), "{page}");
    assert!(page.contains("GET and POST."));
    assert!(page.contains("shared thoughts here") && page.contains("https://example.com/lea-proof"));
    assert!(!page.contains("my private diary"), "private notes never show");
    assert!(!page.contains("state-button"), "read-only");
    assert!(page.contains("Add a comment"), "the discussion is here");
    // Previous and next follow the roadmap, across stages.
    assert!(
        page.contains(r#"href="/mentees/lea/web/http/status-codes" rel="next""#),
        "{page}"
    );
    assert!(!page.contains(r#"rel="prev""#));
    let (_, _, last) = w
        .app
        .get_as("/mentees/lea/web/http/status-codes", &w.mentor)
        .await;
    assert!(
        last.contains(r#"href="/mentees/lea/web/dns/dns-records" rel="next""#),
        "{last}"
    );

    // A skill asked for under another stage moves to its own; unknown ones are not found.
    let (status, headers, _) = w.app.get_as("/mentees/lea/web/dns/http-methods", &w.mentor).await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(headers[header::LOCATION], "/mentees/lea/web/http/http-methods");
    for path in [
        "/mentees/lea/web/http/nope",
        "/mentees/lea/nope/http/http-methods",
        "/mentees/lea/ops/http/http-methods",
    ] {
        let (status, _, _) = w.app.get_as(path, &w.mentor).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    // A verdict given on the skill page returns there.
    let (status, _, _) = w
        .app
        .post_form(
            "/skills/http-methods/review",
            &[("message", "please look")],
            Some(&w.learner),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = w
        .app
        .get_as("/mentees/lea/web/http/http-methods", &w.mentor)
        .await;
    assert!(
        page.contains("Verify this skill") && page.contains(r#"name="back" value="skill""#),
        "{page}"
    );
    let review: i64 = sqlx::query_scalar("select id from review_requests order by id desc limit 1")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    let (status, headers, _) = w
        .app
        .post_form(
            &format!("/reviews/{review}/verify"),
            &[("back", "skill")],
            Some(&w.mentor),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/mentees/lea/web/http/http-methods");
    let (_, _, page) = w
        .app
        .get_as("/mentees/lea/web/http/http-methods", &w.mentor)
        .await;
    assert!(page.contains("badge-verified"), "{page}");

    // Access ends with the link.
    w.app
        .post_form(&format!("/mentorships/{id}/end"), &[], Some(&w.mentor))
        .await;
    let (status, _, _) = w
        .app
        .get_as("/mentees/lea/web/http/http-methods", &w.mentor)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn mentor_and_mentee_agree_a_check_in_cadence_and_record_check_ins() {
    let w = world().await;
    w.app
        .post_form(
            "/mentors/invite",
            &[("username", "max"), ("scope", "all")],
            Some(&w.learner),
        )
        .await;
    let id = last_link_id(&w.app).await;
    // Before the link is active, nobody sets check-ins on it.
    let (status, _, _) = w
        .app
        .post_form(
            &format!("/mentorships/{id}/cadence"),
            &[("days", "7")],
            Some(&w.learner),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    w.app
        .post_form(&format!("/mentoring/{id}/accept"), &[], Some(&w.mentor))
        .await;

    // The mentee sets weekly; both sides see it, and the mentor is told.
    let (status, headers, _) = w
        .app
        .post_form(
            &format!("/mentorships/{id}/cadence"),
            &[("days", "7")],
            Some(&w.learner),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[header::LOCATION],
        format!("/mentors?done=cadence#checkins-{id}")
    );
    let (_, _, mentee_view) = w.app.get_as("/mentees/lea", &w.mentor).await;
    assert!(
        mentee_view.contains("<strong>weekly</strong> · none recorded yet · next by"),
        "{mentee_view}"
    );
    let (_, _, notes) = w.app.get_as("/notifications", &w.mentor).await;
    assert!(notes.contains("set weekly check-ins"), "{notes}");

    // The mentor records a check-in (long ago, here) and goes fortnightly: the next one is due.
    let (status, headers, _) = w
        .app
        .post_form(&format!("/mentorships/{id}/checkins"), &[], Some(&w.mentor))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/mentees/lea?done=checkin#checkins");
    assert_eq!(
        w.app.notices("lea", "checkin").await,
        ["max name recorded a check-in"],
        "the mentee is told, the mentor who recorded it is not"
    );
    assert!(
        w.app
            .notices("max", "checkin")
            .await
            .iter()
            .all(|n| !n.contains("recorded"))
    );
    sqlx::query("update mentorship_checkins set at = now() - interval '20 days'")
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    w.app
        .post_form(
            &format!("/mentorships/{id}/cadence"),
            &[("days", "14")],
            Some(&w.mentor),
        )
        .await;
    let (_, _, mine) = w.app.get_as("/mentors", &w.learner).await;
    assert!(
        mine.contains("<strong>fortnightly</strong> · last ") && mine.contains("next was due"),
        "{mine}"
    );
    // A stranger: 404.
    let eve = w.app.sign_up("eve").await;
    let (status, _, _) = w
        .app
        .post_form(&format!("/mentorships/{id}/checkins"), &[], Some(&eve))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
