//! A team's shared review queue: the team's mentors and leads reach its learners' requests on
//! its roadmaps, claim one for 30 minutes, and the first verdict wins.

mod common;

use axum::http::{StatusCode, header};
use common::{TestApp, sample_content, write_files};
use pathway::db::{mentorships, reviews, teams};

struct Cohort {
    _dir: tempfile::TempDir,
    app: TestApp,
    team: i64,
    /// Session cookies.
    lea: String,
    tom: String,
    ann: String,
    /// A mentor of another team.
    bob: String,
}

async fn add(app: &TestApp, team: i64, username: &str, role: &str) {
    let id = app.user_id(username).await;
    let mut conn = app.db.pool.acquire().await.unwrap();
    teams::add_member(&mut conn, team, id, role, true).await.unwrap();
}

/// Team "cohort" on roadmap "web": Lea learns, Tom and Ann mentor. Bob mentors "other".
/// Lea has marked Methods done and asked for a review.
async fn cohort() -> Cohort {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let app = TestApp::with_content(dir.path()).await;
    let lea = app.sign_up("lea").await;
    let tom = app.sign_up("tom").await;
    let ann = app.sign_up("ann").await;
    let bob = app.sign_up("bob").await;
    let tom_id = app.user_id("tom").await;
    let team = teams::create(&app.db.pool, "cohort", "Cohort", tom_id)
        .await
        .unwrap()
        .unwrap();
    let other = teams::create(&app.db.pool, "other", "Other", tom_id)
        .await
        .unwrap()
        .unwrap();
    {
        let mut conn = app.db.pool.acquire().await.unwrap();
        teams::assign(&mut conn, team, "web").await.unwrap();
        teams::assign(&mut conn, other, "web").await.unwrap();
    }
    add(&app, team, "lea", "learner").await;
    add(&app, team, "tom", "mentor").await;
    add(&app, team, "ann", "lead").await;
    add(&app, other, "bob", "mentor").await;
    let (status, _, body) = app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "done"), ("version", "0")],
            Some(&lea),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, _, body) = app
        .post_form(
            "/skills/http-methods/review",
            &[("message", "check my notes")],
            Some(&lea),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    Cohort {
        _dir: dir,
        app,
        team,
        lea,
        tom,
        ann,
        bob,
    }
}

async fn request_id(app: &TestApp) -> i64 {
    sqlx::query_scalar("select id from review_requests where status = 'pending'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_teams_mentors_and_lead_see_the_request_and_nobody_else_does() {
    let c = cohort().await;
    for cookie in [&c.tom, &c.ann] {
        let (status, _, body) = c.app.get_as("/mentoring/reviews?team=cohort", cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Review queue of Cohort"), "{body}");
        assert!(body.contains("check my notes"), "{body}");
        assert_eq!(body.matches("class=\"panel review-item\"").count(), 1);
        // The whole queue holds it too, and the header offers Mentoring.
        let (_, _, body) = c.app.get_as("/mentoring/reviews", cookie).await;
        assert!(body.contains("check my notes"), "{body}");
        assert!(body.contains("<a href=\"/mentoring\">Mentoring</a>"), "{body}");
        // The learner's skill page is open to them, as to a direct mentor.
        let (status, _, _) = c.app.get_as("/mentees/lea/web/http/http-methods", cookie).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Another team's mentor, and the learner herself, reach nothing of it.
    let (_, _, body) = c.app.get_as("/mentoring/reviews", &c.bob).await;
    assert!(!body.contains("check my notes"), "{body}");
    let (status, _, _) = c.app.get_as("/mentoring/reviews?team=cohort", &c.bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = c.app.get_as("/mentoring/reviews?team=cohort", &c.lea).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = c.app.get_as("/mentees/lea/web/http/http-methods", &c.bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let id = request_id(&c.app).await;
    let (status, _, _) = c
        .app
        .post_form(&format!("/reviews/{id}/claim"), &[], Some(&c.bob))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A mentor who leaves the team loses the queue at once.
    let tom = c.app.user_id("tom").await;
    teams::remove_member(&c.app.db.pool, c.team, tom).await.unwrap();
    let (_, _, body) = c.app.get_as("/mentoring/reviews", &c.tom).await;
    assert!(!body.contains("check my notes"), "{body}");
    let (status, _, _) = c
        .app
        .post_form(
            &format!("/reviews/{id}/verify"),
            &[("back", "queue")],
            Some(&c.tom),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_claim_holds_the_request_for_its_mentor_until_released() {
    let c = cohort().await;
    let id = request_id(&c.app).await;
    let (status, headers, _) = c
        .app
        .post_form(
            &format!("/reviews/{id}/claim"),
            &[("team", "cohort")],
            Some(&c.tom),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[header::LOCATION],
        format!("/mentoring/reviews?done=claimed&team=cohort#review_{id}").as_str()
    );
    let (_, _, body) = c.app.get_as("/mentoring/reviews?team=cohort", &c.ann).await;
    assert!(body.contains("Claimed by tom name until"), "{body}");
    assert!(
        !body.contains(&format!("/reviews/{id}/verify")),
        "no verdict forms while Tom has it: {body}"
    );
    let (_, _, body) = c.app.get_as("/mentoring/reviews?team=cohort", &c.tom).await;
    assert!(body.contains(&format!("/reviews/{id}/release")), "{body}");

    // Ann can neither claim it nor answer it meanwhile.
    let (status, _, body) = c
        .app
        .post_form(&format!("/reviews/{id}/claim"), &[], Some(&c.ann))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("tom name claimed this request first"), "{body}");
    let (status, _, body) = c
        .app
        .post_form(
            &format!("/reviews/{id}/verify"),
            &[("back", "queue")],
            Some(&c.ann),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("tom name is reviewing this request"), "{body}");

    // Released, it is anyone's again.
    let (status, _, _) = c
        .app
        .post_form(&format!("/reviews/{id}/release"), &[], Some(&c.tom))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = c
        .app
        .post_form(&format!("/reviews/{id}/claim"), &[], Some(&c.ann))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // An expired claim holds nothing.
    sqlx::query("update review_requests set claimed_until = now() - interval '1 minute' where id = $1")
        .bind(id)
        .execute(&c.app.db.pool)
        .await
        .unwrap();
    let (_, _, body) = c.app.get_as("/mentoring/reviews?team=cohort", &c.tom).await;
    assert!(!body.contains("Claimed by"), "{body}");
    let (status, headers, body) = c
        .app
        .post_form(
            &format!("/reviews/{id}/verify"),
            &[("back", "queue")],
            Some(&c.tom),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], "/mentoring/reviews?done=verified");
    let verified_by: Option<i64> =
        sqlx::query_scalar("select verified_by from skill_progress where skill_id = 'http-methods'")
            .fetch_one(&c.app.db.pool)
            .await
            .unwrap();
    assert_eq!(verified_by, Some(c.app.user_id("tom").await));
}

#[tokio::test]
async fn two_mentors_racing_for_a_claim_or_a_verdict_get_one_each() {
    let c = cohort().await;
    let id = request_id(&c.app).await;
    let (tom, ann) = (c.app.user_id("tom").await, c.app.user_id("ann").await);
    for _ in 0..5 {
        let (a, b) = tokio::join!(
            reviews::claim(&c.app.db.pool, tom, id),
            reviews::claim(&c.app.db.pool, ann, id)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.is_ok() != b.is_ok(), "exactly one claim wins: {a:?} {b:?}");
        let winner = if a.is_ok() { tom } else { ann };
        assert!(reviews::release(&c.app.db.pool, winner, id).await.unwrap());
    }
    let (a, b) = tokio::join!(
        reviews::answer(&c.app.db.pool, tom, id, true, "good"),
        reviews::answer(&c.app.db.pool, ann, id, false, "redo")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_ok() != b.is_ok(), "the first verdict wins: {a:?} {b:?}");
    let status: String = sqlx::query_scalar("select status from review_requests where id = $1")
        .bind(id)
        .fetch_one(&c.app.db.pool)
        .await
        .unwrap();
    assert!(status == "verified" || status == "changes_requested");
}

#[tokio::test]
async fn direct_mentor_links_keep_working_beside_teams() {
    let c = cohort().await;
    // Bob becomes Lea's direct mentor: he now reaches her request, once, beside the team.
    let (lea, bob) = (c.app.user_id("lea").await, c.app.user_id("bob").await);
    mentorships::link(&c.app.db.pool, bob, lea)
        .await
        .unwrap()
        .unwrap();
    let (_, _, body) = c.app.get_as("/mentoring/reviews", &c.bob).await;
    assert!(body.contains("check my notes"), "{body}");
    assert_eq!(body.matches("class=\"panel review-item\"").count(), 1, "{body}");
    // Tom, in the team and also linked directly, still sees it once.
    let tom = c.app.user_id("tom").await;
    mentorships::link(&c.app.db.pool, tom, lea)
        .await
        .unwrap()
        .unwrap();
    let (_, _, body) = c.app.get_as("/mentoring/reviews", &c.tom).await;
    assert_eq!(body.matches("class=\"panel review-item\"").count(), 1, "{body}");
}

#[tokio::test]
async fn a_learner_with_only_a_team_can_ask_for_reviews_and_its_mentors_hear_of_it() {
    let c = cohort().await;
    // `cohort` asked for a review with no direct mentor: the team's mentors made it possible.
    let lea = c.app.user_id("lea").await;
    let mut mentors = mentorships::mentors_for(&c.app.db.pool, lea, &["web".to_string()])
        .await
        .unwrap();
    mentors.sort_unstable();
    let mut expected = vec![c.app.user_id("tom").await, c.app.user_id("ann").await];
    expected.sort_unstable();
    assert_eq!(mentors, expected, "the other team's mentor is not one of Lea's");
    let told: i64 = sqlx::query_scalar(
        "select count(*) from notifications where kind = 'review_requested' and recipient_id = any($1)",
    )
    .bind(&expected)
    .fetch_one(&c.app.db.pool)
    .await
    .unwrap();
    assert_eq!(told, 2, "both were told");
    // On a roadmap the team is not assigned, nobody can review.
    assert!(
        !mentorships::has_mentor_for(&c.app.db.pool, lea, &["other-roadmap".to_string()])
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_stage_past_its_date_tells_the_learner_and_the_lead_once_per_date() {
    use pathway::db::team_plans;
    use pathway::jobs::{self, Context};
    let c = cohort().await;
    let context = Context::new(
        &pathway::config::Settings::default(),
        std::time::Duration::from_secs(60),
    );
    let today = time::OffsetDateTime::now_utc().date();
    // The HTTP stage is due tomorrow: nothing yet.
    team_plans::set_stage_target(
        &c.app.db.pool,
        c.team,
        "web",
        "http",
        Some(today.next_day().unwrap()),
    )
    .await
    .unwrap();
    jobs::make_due(&c.app.db.pool).await.unwrap();
    jobs::run_due(&c.app.db.pool, &context).await.unwrap();
    assert!(c.app.notices("lea", "stage_overdue").await.is_empty());

    // Two days ago: HTTP's only required skill is Methods, which Lea has done (Status
    // codes is optional), so she is not behind.
    let past = today.previous_day().unwrap().previous_day().unwrap();
    team_plans::set_stage_target(&c.app.db.pool, c.team, "web", "http", Some(past))
        .await
        .unwrap();
    jobs::make_due(&c.app.db.pool).await.unwrap();
    jobs::run_due(&c.app.db.pool, &context).await.unwrap();
    assert!(
        c.app.notices("lea", "stage_overdue").await.is_empty(),
        "the stage is done"
    );

    // The DNS stage was due two days ago and Lea has not done it: Lea and Ann (the lead) hear,
    // Tom (a mentor) does not; running again, even from a "restarted" server, sends nothing.
    team_plans::set_stage_target(&c.app.db.pool, c.team, "web", "dns", Some(past))
        .await
        .unwrap();
    for _ in 0..2 {
        jobs::make_due(&c.app.db.pool).await.unwrap();
        jobs::run_due(&c.app.db.pool, &context).await.unwrap();
    }
    let lea = c.app.notices("lea", "stage_overdue").await;
    assert_eq!(lea.len(), 1, "{lea:?}");
    assert!(lea[0].starts_with("“DNS” was due on"), "{lea:?}");
    let ann = c.app.notices("ann", "stage_overdue").await;
    assert_eq!(ann.len(), 1, "{ann:?}");
    assert!(
        ann[0].starts_with("lea name is behind: “DNS” was due on"),
        "{ann:?}"
    );
    assert!(c.app.notices("tom", "stage_overdue").await.is_empty());

    // Lea's own later date replaces the team's; once it passes she hears again, once.
    let lea_id = c.app.user_id("lea").await;
    team_plans::set_learner_target(
        &c.app.db.pool,
        c.team,
        lea_id,
        "web",
        "dns",
        Some(today.previous_day().unwrap()),
    )
    .await
    .unwrap();
    jobs::make_due(&c.app.db.pool).await.unwrap();
    jobs::run_due(&c.app.db.pool, &context).await.unwrap();
    assert_eq!(c.app.notices("lea", "stage_overdue").await.len(), 2);
    // Done now: nothing more, whatever the date.
    let (status, _, _) = c
        .app
        .post_form(
            "/skills/dns-records/state",
            &[("state", "done"), ("version", "0")],
            Some(&c.lea),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    team_plans::set_learner_target(&c.app.db.pool, c.team, lea_id, "web", "dns", Some(past))
        .await
        .unwrap();
    jobs::make_due(&c.app.db.pool).await.unwrap();
    jobs::run_due(&c.app.db.pool, &context).await.unwrap();
    assert_eq!(c.app.notices("lea", "stage_overdue").await.len(), 2);
}
