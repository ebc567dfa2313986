//! Statements per request on the hot pages: a ceiling, and no growth as roadmaps, history and mentees grow.

mod common;

use axum::http::{HeaderMap, StatusCode, header};
use common::{TestApp, count_statements, write_files};

/// The sample roadmap plus a second one, so a learner can be on several.
async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = common::sample_content();
    files.push((
        "ops/roadmap.md",
        "+++\ntitle = \"Operations\"\nsummary = \"Running things.\"\norder = 2\n+++\nKeep it up.\n",
    ));
    files.push((
        "ops/01-deploy.md",
        "+++\nid = \"deploy\"\ntitle = \"Deploying\"\n+++\nShip it.\n\n## Containers {#containers}\nImages.\n\n## Rollbacks {#rollbacks}\nUndo a release.\n",
    ));
    write_files(dir.path(), &files);
    (TestApp::with_content(dir.path()).await, dir)
}

async fn get_count(app: &TestApp, path: &str, cookie: &str) -> usize {
    let (count, (status, _, body)) = count_statements(app.get_as(path, cookie)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    count
}

/// A tick as progress.js sends it: the fragment comes back in the same request.
async fn tick_count(app: &TestApp, cookie: &str, skill: &str, state: &str, version: i32) -> usize {
    let version = version.to_string();
    let request = axum::http::Request::post(format!("/skills/{skill}/state"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .header("x-pathway-fragment", "1")
        .header("cookie", cookie)
        .body(axum::body::Body::from(common::serde_urlencoded(&[
            ("state", state),
            ("version", &version),
        ])))
        .unwrap();
    let (count, (status, _, body)): (usize, (StatusCode, HeaderMap, String)) =
        count_statements(app.request(request)).await;
    assert_eq!(status, StatusCode::OK, "tick {skill}: {body}");
    assert!(body.contains(skill), "the answer is the skill's fragment");
    count
}

/// Gives the user `events` more history on the sample skills (alternating states), a note,
/// evidence, a pending review, a mentor and a comment thread: everything the pages read.
async fn grow(app: &TestApp, username: &str, mentor: &str, events: usize) {
    let id = app.user_id(username).await;
    sqlx::query(
        "insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state, at)
         select nextval('progress_actions'), $1, s, $1, 'set', 'in_progress', 'done', now() - make_interval(hours => n)
         from generate_series(1, $2) n,
              lateral (select (array['http-methods', 'status-codes', 'dns-records', 'containers'])[1 + n % 4] as s) k",
    )
    .bind(id)
    .bind(events as i32)
    .execute(&app.db.pool)
    .await
    .unwrap();
    for (sql, skill) in [
        (
            "insert into enrollments (user_id, roadmap_id) values ($1, 'ops') on conflict do nothing",
            "",
        ),
        (
            "insert into notes (user_id, skill_id, body_md) values ($1, $2, 'A *note*.') on conflict do nothing",
            "http-methods",
        ),
        (
            "insert into evidence (user_id, skill_id, url, title) values ($1, $2, 'https://example.com/', 'Proof')",
            "http-methods",
        ),
    ] {
        let query = sqlx::query(sql).bind(id);
        let query = if skill.is_empty() {
            query
        } else {
            query.bind(skill)
        };
        query.execute(&app.db.pool).await.unwrap();
    }
    let mentor_id = app.user_id(mentor).await;
    sqlx::query(
        "insert into mentorships (mentee_id, mentor_id, status, responded_at) values ($1, $2, 'active', now())
         on conflict do nothing",
    )
    .bind(id)
    .bind(mentor_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into comments (mentee_id, skill_id, author_id, body_md) values ($1, 'http-methods', $2, 'Nice.')",
    )
    .bind(id)
    .bind(mentor_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn learner_pages_run_two_statements_whatever_their_history_and_one_when_unchanged() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    app.sign_up("mia").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;

    let stage = "/roadmaps/web/http";
    let views = async || {
        [
            get_count(&app, stage, &ada).await,
            get_count(&app, "/dashboard", &ada).await,
            get_count(&app, "/history", &ada).await,
        ]
    };
    let before = views().await;
    // Nothing changed: the stage page and dashboard use the rows the server kept
    // (src/view_cache.rs), so the session statement is the only one.
    let unchanged = views().await;
    grow(&app, "ada", "mia", 300).await;
    let after = views().await;
    assert_eq!(
        before, after,
        "stage, dashboard, history: statements grew with history"
    );
    // The session and its user, then the page's own rows.
    assert_eq!(after[0], 2, "stage page");
    assert_eq!(after[1], 2, "dashboard");
    assert_eq!(after[2], 2, "history");
    assert_eq!(unchanged, [1, 1, 2], "stage, dashboard, history viewed again");
    assert_eq!(views().await, [1, 1, 2], "viewed again after growing");

    // Another learner's data never adds statements, nor makes ada's kept rows stale.
    app.sign_up("zoe").await;
    grow(&app, "zoe", "mia", 50).await;
    assert_eq!(get_count(&app, stage, &ada).await, 1);
    // A tick's answer reads only the stage's progress, which the page could not use: the
    // stage page after a tick reads its rows again, once, and keeps them.
    tick_count(&app, &ada, "status-codes", "in_progress", 0).await;
    assert_eq!(
        get_count(&app, stage, &ada).await,
        2,
        "the stage page after a tick"
    );
    assert_eq!(get_count(&app, stage, &ada).await, 1, "and viewed again");
}

#[tokio::test]
async fn a_tick_runs_the_same_statements_with_300_events_as_with_none() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    app.sign_up("mia").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    // The first change of a skill also creates its row; measure later changes.
    tick_count(&app, &ada, "dns-records", "in_progress", 0).await;
    let fresh = tick_count(&app, &ada, "dns-records", "done", 1).await;
    grow(&app, "ada", "mia", 300).await;
    let grown = tick_count(&app, &ada, "dns-records", "in_progress", 2).await;
    assert_eq!(fresh, grown, "a tick's statements grew with history");
    // Session, the change (one call: start the roadmap if need be, lock, compare, write),
    // then the fragment.
    assert_eq!(grown, 3, "a tick ran {grown} statements");
}

#[tokio::test]
async fn mentor_pages_stay_constant_from_5_to_120_mentees_and_page_by_50() {
    let (app, _dir) = app().await;
    let mentor = app.sign_up("max").await;
    let mentor_id = app.user_id("max").await;
    let add = |from: usize, count: usize| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query(
                "with new_users as (
                     insert into users (username, display_name, password_hash)
                     select format('mentee%s', n), format('Mentee %s', lpad(n::text, 3, '0')), 'not-a-login'
                     from generate_series($1, $2) n returning id
                 ), enrolled as (
                     insert into enrollments (user_id, roadmap_id) select id, 'web' from new_users
                 ), progress as (
                     insert into skill_progress (user_id, skill_id, state, started_at, done_at)
                     select id, 'http-methods', 'done', now(), now() from new_users
                 ), events as (
                     insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state)
                     select nextval('progress_actions'), id, 'http-methods', id, 'set', 'not_started', 'done' from new_users
                 )
                 insert into mentorships (mentee_id, mentor_id, status, responded_at)
                 select id, $3, 'active', now() from new_users",
            )
            .bind(from as i32)
            .bind((from + count - 1) as i32)
            .bind(mentor_id)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    // Every mentee asks for a review, for the queue.
    let ask = || {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query(
                "insert into review_requests (mentee_id, skill_id, status, requested_at)
                 select u.id, 'http-methods', 'pending', now() - make_interval(mins => u.id::int)
                 from users u where u.username like 'mentee%' on conflict do nothing",
            )
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    add(1, 5).await;
    ask().await;
    let small = [
        get_count(&app, "/mentoring", &mentor).await,
        get_count(&app, "/mentoring/matrix/web", &mentor).await,
        get_count(&app, "/mentoring/reviews", &mentor).await,
    ];
    add(6, 115).await;
    ask().await;
    let large = [
        get_count(&app, "/mentoring", &mentor).await,
        get_count(&app, "/mentoring/matrix/web", &mentor).await,
        get_count(&app, "/mentoring?page=3", &mentor).await,
        get_count(&app, "/mentoring/matrix/web?page=2", &mentor).await,
        get_count(&app, "/mentoring/reviews", &mentor).await,
        get_count(&app, "/mentoring/reviews?page=6", &mentor).await,
    ];
    assert_eq!(small[..2], large[..2], "mentor pages grew with mentees");
    assert_eq!(small[2], large[4], "the review queue grew with requests");
    assert_eq!(large[4], large[5], "a later page of the queue costs the same");
    assert!(large[4] <= 3, "the review queue ran {} statements", large[4]);
    let (_, _, queue) = app.get_as("/mentoring/reviews?page=6", &mentor).await;
    assert!(
        queue.contains("120 requests wait") && queue.contains("Page 6 of 6"),
        "{queue}"
    );
    assert_eq!(queue.matches(r#"<li class="panel review-item""#).count(), 20);
    assert_eq!(large[0], large[2], "a later page costs the same");
    assert_eq!(large[1], large[3]);
    // Session, invitations, the mentees' stamp, the page's mentees, their enrollments and
    // their counts; the matrix reads no invitations or enrollments.
    assert!(large[0] <= 6, "the mentor dashboard ran {} statements", large[0]);
    assert!(large[1] <= 4, "the matrix ran {} statements", large[1]);
    // Viewed again with nothing changed: the kept rows, after the session, the invitations
    // and the stamp (src/view_cache.rs).
    // The dashboard's copies are kept per whole minute ("stalled" moves with the clock): a
    // minute that turned since the view above reads afresh once, and keeps that.
    let mut again = get_count(&app, "/mentoring?page=3", &mentor).await;
    if again != 3 {
        again = get_count(&app, "/mentoring?page=3", &mentor).await;
    }
    assert_eq!(again, 3);
    assert_eq!(get_count(&app, "/mentoring/matrix/web?page=2", &mentor).await, 2);

    // 120 mentees: 50, 50 and 20 a page, each mentee exactly once.
    let mut seen = std::collections::BTreeSet::new();
    for (page, expected) in [(1, 50), (2, 50), (3, 20)] {
        let (_, _, body) = app.get_as(&format!("/mentoring?page={page}"), &mentor).await;
        let names: Vec<&str> = body
            .match_indices(r#"<a href="/mentees/"#)
            .map(|(at, _)| body[at + 18..].split('"').next().unwrap())
            .collect();
        assert_eq!(names.len(), expected, "page {page}");
        seen.extend(names.into_iter().map(str::to_string));
        assert!(
            body.contains(&format!("Page {page} of 3")),
            "page {page} says where it is"
        );
    }
    assert_eq!(seen.len(), 120);
    let (_, _, matrix) = app.get_as("/mentoring/matrix/web?page=3", &mentor).await;
    assert_eq!(
        matrix.matches("<th scope=\"row\" class=\"matrix-name\">").count(),
        20
    );
    // A page past the end sends the mentor to the last page, not an empty "Page 9 of 3".
    let (status, headers, _) = app.get_as("/mentoring?page=9", &mentor).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/mentoring?page=3");
    let (status, headers, _) = app.get_as("/mentoring/matrix/web?page=9", &mentor).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/mentoring/matrix/web?page=3");
}

#[tokio::test]
async fn the_team_page_runs_the_same_statements_for_3_and_200_members() {
    let (app, _dir) = app().await;
    let root = app.sign_up_admin("root").await;
    let lena = app.sign_up("lena").await;
    app.post_form("/teams", &[("name", "Cohort"), ("lead", "lena")], Some(&root))
        .await;
    for roadmap in ["web", "ops"] {
        app.post_form("/teams/cohort/roadmaps", &[("roadmap", roadmap)], Some(&lena))
            .await;
    }
    // A tailored roadmap with dates, and a learner's own date: every part of the page works.
    app.post_form(
        "/teams/cohort/roadmaps/web/stages/http",
        &[("due", "2020-01-31"), ("rule_status-codes", "required")],
        Some(&lena),
    )
    .await;
    app.post_form(
        "/teams/cohort/roadmaps/web/stages/dns",
        &[("due", "2099-01-31"), ("rule_dns-records", "hidden")],
        Some(&lena),
    )
    .await;
    // Members with progress on every skill, a verification, and their own dates.
    let add = |from: i32, to: i32| {
        let app = &app;
        async move {
            sqlx::query(
                "insert into users (username, display_name, password_hash)
                 select 'member' || g, 'Member ' || g, 'x' from generate_series($1::int, $2::int) g",
            )
            .bind(from)
            .bind(to)
            .execute(&app.db.pool)
            .await
            .unwrap();
            sqlx::query(
                "insert into team_members (team_id, user_id, role)
                 select t.id, u.id, case when u.id % 10 = 0 then 'mentor' else 'learner' end
                 from teams t, users u where t.slug = 'cohort' and u.username like 'member%'
                 on conflict do nothing;",
            )
            .execute(&app.db.pool)
            .await
            .unwrap();
            sqlx::query(
                "insert into skill_progress (user_id, skill_id, state, started_at, done_at, updated_at)
                 select u.id, s.id, 'done', now(), now(), now() from users u, skills s
                 where u.username like 'member%' on conflict do nothing",
            )
            .execute(&app.db.pool)
            .await
            .unwrap();
            sqlx::query(
                "insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state, at)
                 select nextval('progress_actions'), u.id, s.id, u.id, 'set', 'not_started', 'done', now()
                 from users u, skills s where u.username like 'member%'
                   and not exists (select 1 from progress_events e where e.user_id = u.id)",
            )
            .execute(&app.db.pool)
            .await
            .unwrap();
            sqlx::query(
                "insert into team_learner_targets (team_id, user_id, roadmap_id, stage_id, due_on)
                 select m.team_id, m.user_id, 'web', 'dns', date '2030-01-01' from team_members m
                 where m.role = 'learner' on conflict do nothing",
            )
            .execute(&app.db.pool)
            .await
            .unwrap();
        }
    };
    add(1, 3).await;
    let few = get_count(&app, "/teams/cohort", &lena).await;
    add(4, 200).await;
    let (many, (status, _, page)) = count_statements(app.get_as("/teams/cohort", &lena)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Member 199") && page.contains("On track"), "{page}");
    assert_eq!(few, many, "the team page's statements grew with its members");
    assert!(many <= 10, "the team page ran {many} statements");
    // The feed pages through hundreds of completions at the same cost.
    let (paged, (_, _, page)) = count_statements(app.get_as("/teams/cohort?feed=3", &lena)).await;
    assert_eq!(paged, many);
    assert!(
        page.contains(r#"href="/teams/cohort?feed=2#feed">Newer"#)
            && page.contains(r#"href="/teams/cohort?feed=4#feed">Older"#),
        "{page}"
    );
    let csv = get_count(&app, "/teams/cohort/progress.csv", &lena).await;
    assert!(csv <= 7, "the CSV ran {csv} statements");
}
