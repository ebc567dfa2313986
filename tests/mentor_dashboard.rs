//! The mentor's dashboard: figures on a known dataset, the matrix, and a query count that does not grow with mentees.

mod common;

use axum::http::StatusCode;
use common::{TestApp, write_files};

async fn queries_for(app: &TestApp, path: &str, cookie: &str) -> usize {
    let (count, status) = common::count_statements(app.get_as(path, cookie)).await;
    assert_eq!(status.0, StatusCode::OK, "{path}");
    count
}

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    (TestApp::with_content(dir.path()).await, dir)
}

/// Adds `count` mentees of `mentor_id` straight into the database, each with some progress.
async fn add_mentees(app: &TestApp, mentor_id: i64, from: usize, count: usize) {
    for i in from..from + count {
        let id: i64 = sqlx::query_scalar(
            "insert into users (username, display_name, password_hash) values ($1, $2, 'not-a-login') returning id",
        )
        .bind(format!("mentee{i:03}"))
        .bind(format!("Mentee {i:03}"))
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        sqlx::query("insert into enrollments (user_id, roadmap_id) values ($1, 'web')")
            .bind(id)
            .execute(&app.db.pool)
            .await
            .unwrap();
        sqlx::query("insert into mentorships (mentee_id, mentor_id, status, responded_at) values ($1, $2, 'active', now())")
            .bind(id)
            .bind(mentor_id)
            .execute(&app.db.pool)
            .await
            .unwrap();
        pathway::db::progress::set_state(
            &app.db.pool,
            id,
            None,
            "http-methods",
            pathway::progress::SkillState::Done,
            0,
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn the_dashboard_query_count_stays_constant_from_5_to_50_mentees() {
    let (app, _dir) = app().await;
    let mentor = app.sign_up("max").await;
    let mentor_id: i64 = sqlx::query_scalar("select id from users where username = 'max'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    add_mentees(&app, mentor_id, 0, 5).await;
    let with_5 = queries_for(&app, "/mentoring", &mentor).await;
    let matrix_5 = queries_for(&app, "/mentoring/matrix/web", &mentor).await;
    add_mentees(&app, mentor_id, 5, 45).await;
    let with_50 = queries_for(&app, "/mentoring", &mentor).await;
    let matrix_50 = queries_for(&app, "/mentoring/matrix/web", &mentor).await;
    assert!(with_5 > 3, "the counter sees queries ({with_5})");
    assert_eq!(
        with_5, with_50,
        "dashboard: {with_5} queries with 5 mentees, {with_50} with 50"
    );
    assert_eq!(matrix_5, matrix_50, "matrix: {matrix_5} vs {matrix_50}");
    let (_, _, page) = app.get_as("/mentoring", &mentor).await;
    assert_eq!(page.matches(r#"<a href="/mentees/mentee"#).count(), 50);
}

#[tokio::test]
async fn the_dashboard_figures_match_a_known_dataset() {
    let (app, _dir) = app().await;
    let max = app.sign_up("max").await;
    let lea = app.sign_up("lea").await;
    let ben = app.sign_up("ben").await;
    for (cookie, name) in [(&lea, "lea"), (&ben, "ben")] {
        let _ = name;
        app.post_form("/progress/web/start", &[], Some(cookie)).await;
        app.post_form("/mentors/invite", &[("username", "max")], Some(cookie))
            .await;
        let id: i64 = sqlx::query_scalar("select max(id) from mentorships")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        app.post_form(&format!("/mentoring/{id}/accept"), &[], Some(&max))
            .await;
    }
    // Lea: 2 of 2 required done, one waiting for review for 3 days. Ben: nothing for 20 days.
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&lea),
    )
    .await;
    app.post_form(
        "/skills/dns-records/state",
        &[("state", "done"), ("version", "0")],
        Some(&lea),
    )
    .await;
    app.post_form("/skills/dns-records/review", &[], Some(&lea)).await;
    sqlx::query("update review_requests set requested_at = now() - interval '3 days'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "in_progress"), ("version", "0")],
        Some(&ben),
    )
    .await;
    sqlx::query("update skill_progress set updated_at = now() - interval '20 days' where user_id = (select id from users where username = 'ben')")
        .execute(&app.db.pool)
        .await
        .unwrap();
    // Last activity is read from the event log, so Ben's change happened 20 days ago there too.
    sqlx::query("update progress_events set at = now() - interval '20 days' where user_id = (select id from users where username = 'ben')")
        .execute(&app.db.pool)
        .await
        .unwrap();

    let (_, _, page) = app.get_as("/mentoring", &max).await;
    let lea_at = page.find(r#"<a href="/mentees/lea">"#).unwrap();
    let ben_at = page.find(r#"<a href="/mentees/ben">"#).unwrap();
    assert!(lea_at < ben_at, "a waiting review comes first");
    let lea_card = &page[lea_at..ben_at];
    assert!(lea_card.contains("2 of 2 required skills done (100%)"));
    assert!(
        lea_card.contains(
            r#"<a href="/mentoring/reviews?mentee=lea"><strong>1 review waits for you</strong><span class="visually-hidden"> from "#
        ),
        "{lea_card}"
    );
    assert!(lea_card.contains("</a>, the oldest for 3 days"), "{lea_card}");
    assert!(
        page.contains(r#"<a href="/mentoring/reviews"><strong>1 review waits for you</strong></a>"#),
        "the dashboard leads to the queue"
    );
    assert!(
        lea_card.contains("new changes since your last visit")
            || lea_card.contains("changes since your last visit")
    );
    let ben_card = &page[ben_at..];
    assert!(
        ben_card.contains("stalled") && ben_card.contains("0 of 2 required skills done (0%), 1 in progress")
    );

    // Visiting Lea clears "new since my last visit".
    app.get_as("/mentees/lea", &max).await;
    let (_, _, page) = app.get_as("/mentoring", &max).await;
    let lea_card = &page
        [page.find(r#"<a href="/mentees/lea">"#).unwrap()..page.find(r#"<a href="/mentees/ben">"#).unwrap()];
    assert!(!lea_card.contains("since your last visit"), "{lea_card}");

    let (_, _, matrix) = app.get_as("/mentoring/matrix/web", &max).await;
    assert!(matrix.contains(r#"<td class="shade-4"><a href="/mentees/lea/web/http">1/1<span class="visually-hidden"> (100%)</span></a></td>"#), "{matrix}");
    assert!(matrix.contains(r#"<td class="shade-0"><a href="/mentees/ben/web/dns">0/1<span class="visually-hidden"> (0%)</span></a></td>"#));
    // Numbered stage columns whose accessible name is the full title, listed under the table too.
    assert!(
        matrix.contains(r#"<th scope="col" class="matrix-stage" title="HTTP">1<span class="visually-hidden">. HTTP</span></th>"#),
        "{matrix}"
    );
    assert!(matrix.contains(r#"<ol class="matrix-legend">"#) && matrix.contains("<li>DNS</li>"));
}

#[tokio::test]
async fn new_since_visit_is_counted_up_to_a_cap_whatever_the_history() {
    let (app, _dir) = app().await;
    let mentor = app.sign_up("max").await;
    let mentor_id = app.user_id("max").await;
    add_mentees(&app, mentor_id, 0, 1).await;
    let mentee_id = app.user_id("mentee000").await;
    // A long history since the mentor last looked.
    sqlx::query(
        "insert into progress_events (action_id, user_id, skill_id, kind, from_state, to_state, at)
         select g, $1, 'http-methods', 'set', 'in_progress', 'done', now() - g * interval '1 minute'
         from generate_series(1, 500) g",
    )
    .bind(mentee_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let stalled_before = time::OffsetDateTime::now_utc() - time::Duration::days(14);
    let (mentees, _, _) =
        pathway::db::mentorships::mentee_overview(&app.db.pool, mentor_id, stalled_before, 50, 0)
            .await
            .unwrap();
    let mentee = mentees.iter().find(|m| m.mentee_id == mentee_id).unwrap();
    assert_eq!(
        mentee.new_since_visit,
        pathway::db::mentorships::NEW_SINCE_VISIT_CAP
    );
    let (_, _, page) = app.get_as("/mentoring", &mentor).await;
    assert!(page.contains("99+ new changes since your last visit"), "{page}");
}
