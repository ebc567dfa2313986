//! Kept learner rows (src/view_cache.rs): a page viewed again shows every change since,
//! whoever made it and however, and every table their statements read moves the stamp.

mod common;

use axum::http::StatusCode;
use common::{TestApp, count_statements, write_files};

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    (TestApp::with_content(dir.path()).await, dir)
}

/// The page as `cookie` sees it, and how many statements it ran.
async fn view(app: &TestApp, path: &str, cookie: &str) -> (usize, String) {
    let (count, (status, _, body)) = count_statements(app.get_as(path, cookie)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    (count, body)
}

/// The mentor dashboard's copies are kept per whole minute ("stalled" moves with the clock),
/// so a minute turning between two views reads afresh. Tests that count its statements
/// start early in a minute, with 40 seconds to spare.
async fn early_in_a_minute() {
    let second = time::OffsetDateTime::now_utc().second();
    if second >= 20 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(61 - second))).await;
    }
}

/// Makes `mentor` an active mentor of each of `mentees`, as an accepted invitation does.
async fn link(app: &TestApp, mentees: &[&str], mentor: &str) {
    sqlx::query(
        "insert into mentorships (mentee_id, mentor_id, status, responded_at)
         select u.id, m.id, 'active', now() from users u, users m
         where u.username = any($1) and m.username = $2",
    )
    .bind(mentees)
    .bind(mentor)
    .execute(&app.db.pool)
    .await
    .unwrap();
}

async fn sql(app: &TestApp, statement: &str) {
    sqlx::query(statement).execute(&app.db.pool).await.unwrap();
}

#[tokio::test]
async fn a_page_viewed_again_shows_what_a_mentor_the_database_and_a_rename_changed() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let mia = app.sign_up("mia").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    link(&app, &["ada"], "mia").await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&ada),
    )
    .await;
    let (status, _, _) = app
        .post_form(
            "/skills/http-methods/review",
            &[("message", "please look")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let stage = "/roadmaps/web/http";
    let (_, page) = view(&app, stage, &ada).await;
    assert!(page.contains("Review requested"), "{page}");
    let (kept, again) = view(&app, stage, &ada).await;
    assert_eq!(kept, 1, "viewed again with nothing changed: the kept rows");
    assert_eq!(page, again, "the kept rows render the same page");

    // The mentor verifies through their own pages.
    let review: i64 = sqlx::query_scalar("select id from review_requests order by id desc limit 1")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (status, _, _) = app
        .post_form(&format!("/reviews/{review}/verify"), &[], Some(&mia))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (count, page) = view(&app, stage, &ada).await;
    assert_eq!(count, 2, "the verdict made the kept rows stale");
    assert!(page.contains("Verified by mia name"), "{page}");

    // The mentor renames themselves: every page that names them follows.
    sql(
        &app,
        "update users set display_name = 'Mia Moreau' where username = 'mia'",
    )
    .await;
    let (_, page) = view(&app, stage, &ada).await;
    assert!(page.contains("Verified by Mia Moreau"), "{page}");
    assert!(!page.contains("mia name"), "{page}");

    // A comment and a state written straight into the database (a script, another instance).
    let skill = "/roadmaps/web/http/http-methods";
    view(&app, skill, &ada).await;
    assert_eq!(view(&app, skill, &ada).await.0, 1);
    sql(
        &app,
        "insert into comments (mentee_id, skill_id, author_id, body_md)
         select a.id, 'http-methods', m.id, 'Nicely *done*.' from users a, users m
         where a.username = 'ada' and m.username = 'mia'",
    )
    .await;
    let (_, page) = view(&app, skill, &ada).await;
    assert!(page.contains("Nicely <em>done</em>."), "{page}");
    view(&app, "/dashboard", &ada).await;
    let (kept, dashboard) = view(&app, "/dashboard", &ada).await;
    assert_eq!(kept, 1);
    assert!(dashboard.contains("Web basics: 50% done"), "{dashboard}");
    sql(
        &app,
        "insert into skill_progress (user_id, skill_id, state, done_at)
         select id, 'dns-records', 'done', now() from users where username = 'ada'",
    )
    .await;
    let (count, dashboard) = view(&app, "/dashboard", &ada).await;
    assert_eq!(count, 2);
    assert!(dashboard.contains("Web basics: 100% done"), "{dashboard}");

    // Another learner's changes leave ada's kept rows in use.
    view(&app, stage, &ada).await;
    let zoe = app.sign_up("zoe").await;
    app.post_form("/progress/web/start", &[], Some(&zoe)).await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&zoe),
    )
    .await;
    assert_eq!(view(&app, stage, &ada).await.0, 1);
    assert_eq!(view(&app, "/dashboard", &ada).await.0, 1);

    // Ending the link changes what ada's page offers.
    sql(&app, "update mentorships set status = 'ended', ended_at = now()").await;
    let (count, _) = view(&app, stage, &ada).await;
    assert_eq!(count, 2, "the ended link made the kept rows stale");
}

#[tokio::test]
async fn a_kept_skill_page_shows_its_note_and_comments_sanitized_and_as_last_written() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    app.sign_up("mia").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    sql(
        &app,
        "insert into notes (user_id, skill_id, body_md)
         select id, 'http-methods', 'First **draft** <script>alert(1)</script>' from users where username = 'ada'",
    )
    .await;
    sql(
        &app,
        "insert into comments (mentee_id, skill_id, author_id, body_md)
         select a.id, 'http-methods', m.id, 'Looks *good* <img src=x onerror=alert(2)>'
         from users a, users m where a.username = 'ada' and m.username = 'mia'",
    )
    .await;
    let skill = "/roadmaps/web/http/http-methods";
    let (_, page) = view(&app, skill, &ada).await;
    let (kept, again) = view(&app, skill, &ada).await;
    assert_eq!(kept, 1, "the kept rows");
    assert_eq!(
        page, again,
        "the note and comment drawn with the kept rows show the same"
    );
    assert!(page.contains("First <strong>draft</strong>"), "{page}");
    assert!(page.contains("Looks <em>good</em>"), "{page}");
    assert!(
        !page.contains("<script>alert") && !page.contains("onerror"),
        "{page}"
    );

    // Edited (by a script, another instance): the next view reads and draws them afresh.
    sql(
        &app,
        "update notes set body_md = 'Second *try*', updated_at = now()",
    )
    .await;
    sql(
        &app,
        "update comments set body_md = 'Even **better**', edited_at = now()",
    )
    .await;
    let (count, page) = view(&app, skill, &ada).await;
    assert_eq!(count, 2);
    assert!(page.contains("Second <em>try</em>"), "{page}");
    assert!(page.contains("Even <strong>better</strong>"), "{page}");
    assert!(!page.contains("draft") && !page.contains("Looks"), "{page}");
    assert_eq!(view(&app, skill, &ada).await, (1, page));
}

#[tokio::test]
async fn a_kept_dashboard_draws_its_charts_again_after_a_change() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    view(&app, "/dashboard", &ada).await;
    let (count, before) = view(&app, "/dashboard", &ada).await;
    assert_eq!(count, 1, "the second view uses the kept rows and charts");
    let stat = r#"completed this week</span><span class="stat-value">"#;
    assert!(before.contains(&format!("{stat}0<")), "{before}");
    assert!(
        before.contains("(on small screens, the last 12): 0 in all."),
        "{before}"
    );
    assert!(
        before.contains("0 active days, longest streak 0 days"),
        "{before}"
    );

    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&ada),
    )
    .await;
    let (count, after) = view(&app, "/dashboard", &ada).await;
    assert_eq!(count, 2, "the tick made the kept copy stale");
    assert!(after.contains(&format!("{stat}1<")), "{after}");
    assert!(
        after.contains("(on small screens, the last 12): 1 in all."),
        "{after}"
    );
    assert!(after.contains("1 active day, longest streak 1 day"), "{after}");
    // The weekly table (macros.html, shared with the team page) ends with this week's 1.
    assert!(after.contains("</td><td>1</td></tr>"), "{after}");
    assert!(after.contains("<tr><td>Week of "), "{after}");
    // The section is drawn once per copy, and the copy is used again as it was drawn.
    let (count, again) = view(&app, "/dashboard", &ada).await;
    assert_eq!(count, 1);
    assert_eq!(again, after);
}

#[tokio::test]
async fn a_kept_mentor_dashboard_is_drawn_again_for_another_catalog_or_time_zone() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let mia = app.sign_up("mia").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    link(&app, &["ada"], "mia").await;
    // A last activity at noon UTC: 1 Jan in UTC, already 2 Jan at UTC+14. The link (inserted
    // after it) moves the stamps, so the first view reads it.
    sql(
        &app,
        "update enrollments set last_activity_at = '2026-01-01 12:00:00+00'",
    )
    .await;
    sql(&app, "update mentorships set responded_at = now()").await;
    early_in_a_minute().await;
    view(&app, "/mentoring", &mia).await;
    let (count, page) = view(&app, "/mentoring", &mia).await;
    assert_eq!(count, 3, "kept");
    assert!(page.contains("Last activity 1 Jan 2026"), "{page}");

    // The mentor moves to UTC+14: the rows are still kept, the dates are written again.
    sql(
        &app,
        "update users set time_zone = 'Pacific/Kiritimati' where username = 'mia'",
    )
    .await;
    let (count, page) = view(&app, "/mentoring", &mia).await;
    assert_eq!(count, 3, "the rows are still kept");
    assert!(page.contains("Last activity 2 Jan 2026"), "{page}");

    // A catalog swapped in without the stamp moving names the roadmap anew.
    let mut renamed = (**app.state.catalog.load()).clone();
    renamed.roadmaps.iter_mut().find(|r| r.id == "web").unwrap().title = "Web foundations".into();
    app.state.catalog.store(std::sync::Arc::new(renamed));
    let (count, page) = view(&app, "/mentoring", &mia).await;
    assert_eq!(count, 3);
    assert!(page.contains("Web foundations"), "{page}");
}

#[tokio::test]
async fn kept_rows_are_off_with_a_zero_budget() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let settings = pathway::config::Settings {
        view_cache_mb: 0,
        ..Default::default()
    };
    let app = TestApp::with_settings(dir.path(), settings).await;
    let ada = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    for _ in 0..2 {
        assert_eq!(view(&app, "/roadmaps/web/http", &ada).await.0, 2);
        assert_eq!(view(&app, "/dashboard", &ada).await.0, 2);
    }
}

/// Tables the learner statements read that need no trigger of their own: counters that
/// triggers on the tables above keep in the same transaction (the fold only moves rows
/// between them, keeping the sums the pages read), the stamps themselves, and names of
/// common table expressions.
const DERIVED: &[&str] = &[
    "links",
    "summary",
    "page",
    "stage_tallies",
    "stage_tally_changes",
    "learner_weeks",
    "learner_week_changes",
    "enrollment_activity_changes",
    "view_versions",
    "view_epoch",
    "started",
];

#[tokio::test]
async fn every_table_the_kept_pages_read_moves_the_stamp() {
    let (app, _dir) = app().await;
    // The statements behind the kept pages: the first string literal of each function.
    let kept = [
        ("src/db/learner_view.rs", "stage"),
        ("src/db/learner_view.rs", "dashboard"),
        ("src/db/mentorships.rs", "mentee_overview"),
        ("src/db/mentorships.rs", "mentees_on_roadmap"),
        ("src/db/progress.rs", "enrollments_of"),
        ("src/db/progress.rs", "stage_counts"),
    ];
    let mut read = std::collections::BTreeSet::new();
    for (file, function) in kept {
        let source = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let body = source
            .split_once(&format!("pub async fn {function}("))
            .unwrap_or_else(|| panic!("{function} in {file}"))
            .1;
        let statement = match (body.find("r#\""), body.find('"')) {
            (Some(raw), Some(plain)) if raw < plain => body[raw + 3..].split("\"#").next().unwrap(),
            (_, Some(plain)) => body[plain + 1..].split('"').next().unwrap(),
            _ => panic!("no statement in {function}"),
        };
        // What follows `from` and `join`.
        let words: Vec<&str> = statement.split_whitespace().collect();
        for pair in words.windows(2) {
            if matches!(pair[0], "from" | "join") && pair[1] != "lateral" && !pair[1].starts_with('(') {
                let name: String = pair[1]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !DERIVED.contains(&name.as_str()) {
                    read.insert(name);
                }
            }
        }
    }
    for table in [
        "skill_progress",
        "mentor_reach",
        "mentor_visits",
        "review_requests",
    ] {
        assert!(read.contains(table), "{table} not found in {read:?}");
    }
    // Views stand for the tables they read.
    let mut tables = std::collections::BTreeSet::new();
    for name in &read {
        let base: Vec<String> = sqlx::query_scalar(
            "select distinct u.relname::text from pg_class v
             join pg_depend d on d.classid = 'pg_rewrite'::regclass
             join pg_rewrite r on r.oid = d.objid and r.ev_class = v.oid
             join pg_class u on u.oid = d.refobjid and u.oid <> v.oid and u.relkind = 'r'
             where v.relname = $1 and v.relkind = 'v'",
        )
        .bind(name)
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
        if base.is_empty() {
            tables.insert(name.clone());
        } else {
            tables.extend(base);
        }
    }
    for table in &tables {
        let stamped: bool = sqlx::query_scalar(
            "select exists (select 1 from pg_trigger t join pg_class c on c.oid = t.tgrelid
                            join pg_proc p on p.oid = t.tgfoid
                            where c.relname = $1 and p.proname in
                                ('view_version_follows_user', 'view_version_follows_mentee',
                                 'view_version_follows_events', 'view_version_follows_link',
                                 'view_version_follows_mentor', 'bump_view_epoch'))",
        )
        .bind(table)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        assert!(
            stamped || DERIVED.contains(&table.as_str()),
            "{table} is read by a kept page's statement but no trigger moves the view stamp \
             when it changes (migrations/0044_view_versions.sql)"
        );
    }
    assert!(
        tables.contains("mentorship_roadmaps") && tables.contains("skill_placements"),
        "{tables:?}"
    );
}

#[tokio::test]
async fn a_mentor_page_viewed_again_shows_what_mentees_did_and_the_last_visit() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let mia = app.sign_up("mia").await;
    let zoe = app.sign_up("zoe").await;
    for cookie in [&ada, &zoe] {
        app.post_form("/progress/web/start", &[], Some(cookie)).await;
    }
    link(&app, &["ada", "zoe"], "mia").await;
    early_in_a_minute().await;
    let (first, page) = view(&app, "/mentoring", &mia).await;
    assert!(page.contains("0 of 2 required skills done"), "{page}");
    let (kept, again) = view(&app, "/mentoring", &mia).await;
    assert_eq!(kept, 3, "session, invitations and the mentees' stamp");
    assert!(first > kept, "{first} statements the first time");
    assert_eq!(page, again);

    // A mentee's tick shows, with its "new since your last visit".
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&ada),
    )
    .await;
    let (count, page) = view(&app, "/mentoring", &mia).await;
    assert_eq!(count, first, "the tick made the kept rows stale");
    assert!(page.contains("1 of 2 required skills done"), "{page}");
    assert!(page.contains("1 new change since your last visit"), "{page}");
    // Opening the mentee is a visit: the count goes.
    view(&app, "/mentees/ada", &mia).await;
    let (count, page) = view(&app, "/mentoring", &mia).await;
    assert_eq!(count, first, "the visit made the kept rows stale");
    assert!(!page.contains("since your last visit"), "{page}");
    // A mentee renamed.
    sql(
        &app,
        "update users set display_name = 'Zoe Zed' where username = 'zoe'",
    )
    .await;
    let (_, page) = view(&app, "/mentoring", &mia).await;
    assert!(page.contains("Zoe Zed"), "{page}");

    // The matrix.
    let matrix_path = "/mentoring/matrix/web";
    let (first, matrix) = view(&app, matrix_path, &mia).await;
    assert_eq!(view(&app, matrix_path, &mia).await, (2, matrix.clone()));
    let zoe_dns = r#"<a href="/mentees/zoe/web/dns">1/1"#;
    assert!(!matrix.contains(zoe_dns), "{matrix}");
    app.post_form(
        "/skills/dns-records/state",
        &[("state", "done"), ("version", "0")],
        Some(&zoe),
    )
    .await;
    let (count, matrix) = view(&app, matrix_path, &mia).await;
    assert_eq!(count, first);
    assert!(matrix.contains(zoe_dns), "{matrix}");
    // The table is drawn once per kept copy and catalog: a catalog swapped in without the
    // stamp moving (a content load commits, then swaps) draws it again with the new names.
    assert_eq!(view(&app, matrix_path, &mia).await, (2, matrix.clone()));
    assert!(matrix.contains("<li>DNS</li>"), "{matrix}");
    let mut renamed = (**app.state.catalog.load()).clone();
    let web = renamed.roadmaps.iter_mut().find(|r| r.id == "web").unwrap();
    web.stages.iter_mut().find(|s| s.id == "dns").unwrap().title = "Name lookups".into();
    app.state.catalog.store(std::sync::Arc::new(renamed));
    let (count, matrix) = view(&app, matrix_path, &mia).await;
    assert_eq!(count, 2, "the rows are still kept");
    assert!(matrix.contains("<li>Name lookups</li>"), "{matrix}");
    assert!(!matrix.contains("<li>DNS</li>"), "{matrix}");

    // A link that ends takes the mentee off both kept pages.
    sql(
        &app,
        "update mentorships set status = 'ended', ended_at = now()
         where mentee_id = (select id from users where username = 'zoe')",
    )
    .await;
    assert!(!view(&app, "/mentoring", &mia).await.1.contains("Zoe Zed"));
    assert!(!view(&app, matrix_path, &mia).await.1.contains("/mentees/zoe/"));
}

#[tokio::test]
async fn views_at_once_of_a_stale_page_read_its_rows_once() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let mia = app.sign_up("mia").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    link(&app, &["ada"], "mia").await;
    early_in_a_minute().await;
    let pages = [
        ("/mentoring", &mia, "http-methods"),
        ("/roadmaps/web/http", &ada, "status-codes"),
    ];
    for (path, cookie, skill) in pages {
        let (first, before) = view(&app, path, cookie).await;
        let (kept, _) = view(&app, path, cookie).await;
        assert!(first > kept, "{path}: {first} statements read, {kept} kept");
        app.post_form(
            &format!("/skills/{skill}/state"),
            &[("state", "done"), ("version", "0")],
            Some(&ada),
        )
        .await;
        // Four tabs at once: each runs what a kept view runs, and one of them reads the rows.
        let (count, answers) = count_statements(async {
            tokio::join!(
                app.get_as(path, cookie),
                app.get_as(path, cookie),
                app.get_as(path, cookie),
                app.get_as(path, cookie)
            )
        })
        .await;
        let (a, b, c, d) = answers;
        for (status, _, body) in [&a, &b, &c, &d] {
            assert_eq!(*status, StatusCode::OK, "{path}: {body}");
            assert_eq!(*body, a.2, "{path}: every view shows the same rows");
        }
        assert_ne!(a.2, before, "{path}: the change shows");
        assert_eq!(
            count,
            4 * kept + (first - kept),
            "{path}: the rows were read more than once"
        );
    }
}
