//! Admins: first-run setup, the last-admin rule, disabling, user search, and the audit log.

mod common;

use axum::http::{StatusCode, header};
use common::{STRONG_PASSWORD, TestApp, write_files};
use pathway::auth::token;
use pathway::db::admin;

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    (TestApp::with_content(dir.path()).await, dir)
}

/// Admin actions in the audit log (content loads are there too, tested in content_ops.rs).
async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select action from audit_log where action not like 'content.%' order by id")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_setup_token_creates_the_first_admin_once() {
    let (app, _dir) = app().await;
    pathway::routes::admin::announce_setup(&app.state).await.unwrap();
    let announced: i64 = sqlx::query_scalar("select count(*) from invites where kind = 'setup'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(announced, 1, "a setup link is made on a start without admins");

    let secret = token::generate();
    admin::create_setup_token(&app.db.pool, &token::hash(&secret))
        .await
        .unwrap();
    let (status, _, _) = app.get("/setup?token=wrong").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, page) = app.get(&format!("/setup?token={secret}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Create admin account"));

    let form = |password: &'static str| {
        vec![
            ("token", secret.clone()),
            ("username", "Root".into()),
            ("display_name", "Root".into()),
            ("password", password.into()),
        ]
    };
    let weak = form("short");
    let weak: Vec<(&str, &str)> = weak.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, page) = app.post_form("/setup", &weak, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("at least 10 characters") && page.contains(r#"value="root""#));

    // A learner who signed up before the first admin holds the name "taken".
    app.sign_up("taken").await;
    let clash = [
        ("token", secret.as_str()),
        ("username", "taken"),
        ("display_name", "T"),
        ("password", STRONG_PASSWORD),
    ];
    let (status, _, page) = app.post_form("/setup", &clash, None).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a clear message, not a 500"
    );
    assert!(page.contains("that username is taken"));

    let good = form(STRONG_PASSWORD);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, headers, _) = app.post_form("/setup", &good, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin");
    let cookie = common::session_cookie(&headers).unwrap();
    let (status, _, page) = app.get_as("/admin", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<strong>root</strong>"));

    // Used: the link is dead and says so, pointing to sign-in (issue 12), and so is any
    // other setup link now that an admin exists.
    let (status, _, page) = app.get(&format!("/setup?token={secret}")).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This setup link was already used"), "{page}");
    assert!(page.contains(r#"href="/signin?next=/admin""#), "{page}");
    assert!(!page.contains("Create admin account"));
    let (status, _, page) = app.post_form("/setup", &good, None).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This setup link was already used"), "{page}");
    let other = token::generate();
    admin::create_setup_token(&app.db.pool, &token::hash(&other))
        .await
        .unwrap();
    let (status, _, page) = app.get(&format!("/setup?token={other}")).await;
    assert_eq!(status, StatusCode::GONE, "expires once an admin exists");
    assert!(page.contains("already used"), "{page}");
    let (status, _, _) = app.get("/setup?token=wrong").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a link this server never made stays unknown"
    );
    pathway::routes::admin::announce_setup(&app.state).await.unwrap();
    let tokens: i64 = sqlx::query_scalar("select count(*) from invites where kind = 'setup'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(tokens, 3, "no new link once an admin exists");
    assert_eq!(audit_actions(&app).await, ["setup"]);
}

#[tokio::test]
async fn an_expired_setup_token_is_refused() {
    let (app, _dir) = app().await;
    let secret = token::generate();
    admin::create_setup_token(&app.db.pool, &token::hash(&secret))
        .await
        .unwrap();
    sqlx::query("update invites set expires_at = now() - interval '1 minute'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, _, page) = app.get(&format!("/setup?token={secret}")).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("This setup link has expired"), "{page}");
    assert!(page.contains("pathway admin create"), "{page}");
    // The next start's link replaces it; the dead one is cleared away.
    admin::create_setup_token(&app.db.pool, &token::hash(&token::generate()))
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from invites where kind = 'setup'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed() {
    let (app, _dir) = app().await;
    let root = app.sign_up_admin("root").await;
    let root_id = app.user_id("root").await;
    let (_, headers, _) = app
        .post_form(
            &format!("/admin/users/{root_id}/admin"),
            &[("value", "off")],
            Some(&root),
        )
        .await;
    assert_eq!(headers[header::LOCATION], "/admin?done=last-admin");
    let (_, _, page) = app.get_as("/admin?done=last-admin", &root).await;
    assert!(page.contains("without an active admin"));
    let is_admin: bool = sqlx::query_scalar("select is_admin from users where username = 'root'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(is_admin);

    app.sign_up("alice").await;
    let alice = app.user_id("alice").await;
    app.post_form(
        &format!("/admin/users/{alice}/admin"),
        &[("value", "on")],
        Some(&root),
    )
    .await;
    let (_, headers, _) = app
        .post_form(
            &format!("/admin/users/{root_id}/admin"),
            &[("value", "off")],
            Some(&root),
        )
        .await;
    assert_eq!(
        headers[header::LOCATION],
        "/admin?done=saved",
        "another admin exists now"
    );
    assert_eq!(
        audit_actions(&app).await,
        ["user.make_admin", "user.revoke_admin"]
    );
    // Root is no admin any more: the admin area is closed to them.
    let (status, _, _) = app.get_as("/admin", &root).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_and_cannot_sign_in() {
    let (app, _dir) = app().await;
    let root = app.sign_up_admin("root").await;
    let bob_cookie = app.sign_up("bob").await;
    let bob = app.user_id("bob").await;
    app.post_form(
        &format!("/admin/users/{bob}/disabled"),
        &[("value", "on")],
        Some(&root),
    )
    .await;
    let (status, _, _) = app.get_as("/dashboard", &bob_cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "their session ended");
    let (status, _, page) = app
        .post_form(
            "/signin",
            &[("username", "bob"), ("password", STRONG_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("This account is disabled"));
    app.post_form(
        &format!("/admin/users/{bob}/disabled"),
        &[("value", "off")],
        Some(&root),
    )
    .await;
    app.sign_in("bob", STRONG_PASSWORD, None).await;
    let (status, _, _) = app.get_as("/admin", &bob_cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let root_id = app.user_id("root").await;
    let (_, headers, _) = app
        .post_form(
            &format!("/admin/users/{root_id}/disabled"),
            &[("value", "on")],
            Some(&root),
        )
        .await;
    assert_eq!(
        headers[header::LOCATION],
        "/admin?done=last-admin",
        "the last admin cannot be disabled"
    );
    assert_eq!(audit_actions(&app).await, ["user.disable", "user.enable"]);
}

#[tokio::test]
async fn users_are_searchable_and_paginated_and_the_audit_log_filters() {
    let (app, _dir) = app().await;
    let root = app.sign_up_admin("root").await;
    for i in 0..29 {
        sqlx::query("insert into users (username, display_name, password_hash) values ($1, $2, 'x')")
            .bind(format!("user{i:02}"))
            .bind(format!("Person {i:02}"))
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    let (_, _, first) = app.get_as("/admin", &root).await;
    assert!(first.contains("30 users") && first.contains("Page 1 of 2"));
    assert_eq!(first.matches("<tr>").count(), 1 + 25, "header row and 25 users");
    let (_, _, second) = app.get_as("/admin?page=2", &root).await;
    assert_eq!(second.matches("<tr>").count(), 1 + 5, "header row and 5 users");
    let (_, _, found) = app.get_as("/admin?q=Person+07", &root).await;
    assert!(found.contains("1 user matching") && found.contains("<strong>user07</strong>"));
    let (_, _, literal) = app.get_as("/admin?q=%25", &root).await;
    assert!(
        literal.contains("0 users"),
        "search text is literal, not a LIKE pattern"
    );

    let u = app.user_id("user03").await;
    app.post_form(
        &format!("/admin/users/{u}/disabled"),
        &[("value", "on")],
        Some(&root),
    )
    .await;
    app.post_form(
        &format!("/admin/users/{u}/admin"),
        &[("value", "on")],
        Some(&root),
    )
    .await;
    let (_, _, audit) = app.get_as("/admin/audit?action=user.disable", &root).await;
    assert!(audit.contains("<code>user.disable</code>") && !audit.contains("<code>user.make_admin</code>"));
    assert!(
        audit.contains("<td>root</td>") && audit.contains(r#"<td><a href="/admin?q=user03">user03</a></td>"#)
    );
    // The filter is a literal prefix: `_` and `%` are not wildcards.
    let (_, _, audit) = app.get_as("/admin/audit?action=user_disable", &root).await;
    assert!(!audit.contains("<code>user.disable</code>"), "{audit}");
    let (_, _, audit) = app.get_as("/admin/audit?action=%25disable", &root).await;
    assert!(!audit.contains("<code>user.disable</code>"), "{audit}");
}

#[tokio::test]
async fn audit_entries_show_details_and_results_link_to_their_subject_and_filter_by_person_and_day() {
    let (app, _dir) = app().await;
    let root = app.sign_up_admin("root").await;
    app.sign_up("lea").await;
    app.sign_up("max").await;
    let lea = app.user_id("lea").await;
    let (status, _, _) = app
        .post_form(&format!("/admin/users/{lea}/reset"), &[], Some(&root))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = app
        .post_form(
            "/admin/mentorships",
            &[("mentor", "max"), ("mentee", "lea")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (status, _, audit) = app.get_as("/admin/audit", &root).await;
    assert_eq!(status, StatusCode::OK);
    // Details, each labelled; the result; and a link to what the entry names.
    assert!(audit.contains("<dt>valid hours</dt>"), "{audit}");
    assert!(audit.contains("<dt>mentee</dt><dd>lea</dd>"), "{audit}");
    assert!(audit.contains(r#"<a href="/admin?q=lea">lea</a>"#), "{audit}");
    assert!(
        audit.contains(r#"<a href="/admin/mentorships?q=max">max → lea</a>"#),
        "{audit}"
    );
    assert!(
        audit.contains(r#"<a href="/admin/content/loads/1">load 1</a>"#),
        "{audit}"
    );
    assert!(
        audit.contains("<td>Applied</td>") && audit.contains("<td>Done</td>"),
        "{audit}"
    );
    // Every filter is a labelled field.
    for label in ["Action", "Who", "From", "To"] {
        assert!(audit.contains(&format!(">{label}</label>")), "{label}");
    }

    // By person: the admin's own entries, or what the system did (the first content load).
    let (_, _, by_root) = app.get_as("/admin/audit?actor=Root", &root).await;
    // (The action names are also in the filter's suggestions: look at the entries' <code>.)
    assert!(
        by_root.contains("<code>user.reset_link</code>") && !by_root.contains("<code>content.applied</code>"),
        "{by_root}"
    );
    let (_, _, by_system) = app.get_as("/admin/audit?actor=system", &root).await;
    assert!(
        by_system.contains("<code>content.applied</code>")
            && !by_system.contains("<code>user.reset_link</code>"),
        "{by_system}"
    );
    let (status, _, unknown) = app.get_as("/admin/audit?actor=nobody", &root).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown.contains("Nobody is called “nobody”") && unknown.contains(r#"value="nobody""#),
        "{unknown}"
    );

    // By day, in the admin's time zone: today has them all, tomorrow and yesterday nothing.
    let today = time::OffsetDateTime::now_utc().date();
    let (yesterday, tomorrow) = (today.previous_day().unwrap(), today.next_day().unwrap());
    let (_, _, on_today) = app
        .get_as(&format!("/admin/audit?from={today}&to={today}"), &root)
        .await;
    assert!(on_today.contains("<code>user.reset_link</code>"), "{on_today}");
    let (_, _, later) = app.get_as(&format!("/admin/audit?from={tomorrow}"), &root).await;
    assert!(
        later.contains("No entries") && !later.contains("<code>user.reset_link</code>"),
        "{later}"
    );
    let (_, _, earlier) = app.get_as(&format!("/admin/audit?to={yesterday}"), &root).await;
    assert!(earlier.contains("No entries"), "{earlier}");
    let (status, _, bad) = app
        .get_as("/admin/audit?from=30.11.2026&action=user.", &root)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.contains("is not a date")
            && bad.contains(r#"value="30.11.2026""#)
            && bad.contains(r#"value="user.""#),
        "{bad}"
    );

    // Pages of 50, newest first, keeping the filter.
    sqlx::query(
        "insert into audit_log (actor_id, action, target, at)
         select $1, 'user.enable', 'lea', now() - make_interval(mins => g) from generate_series(1, 60) g",
    )
    .bind(app.user_id("root").await)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (_, _, first) = app.get_as("/admin/audit?action=user.enable", &root).await;
    assert_eq!(first.matches("<code>user.enable</code>").count(), 50);
    assert!(
        first.contains(r#"href="/admin/audit?action=user.enable&#38;page=2" rel="next""#),
        "{first}"
    );
    let (_, _, second) = app.get_as("/admin/audit?action=user.enable&page=2", &root).await;
    assert_eq!(second.matches("<code>user.enable</code>").count(), 10);
    assert!(second.contains("Newer entries") && !second.contains("Older entries"));
}

#[tokio::test]
async fn only_admins_reach_the_admin_area() {
    let (app, _dir) = app().await;
    let learner = app.sign_up("lea").await;
    for path in ["/admin", "/admin/audit"] {
        let (status, headers, body) = app.get_as(path, &learner).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(body.contains("Error 403"));
        let (status, _, _) = app.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let lea = app.user_id("lea").await;
    let (status, _, _) = app
        .post_form(
            &format!("/admin/users/{lea}/admin"),
            &[("value", "on")],
            Some(&learner),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let is_admin: bool = sqlx::query_scalar("select is_admin from users")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(!is_admin, "nobody can make themselves admin");
}

#[tokio::test]
async fn the_content_page_shows_loads_errors_and_retired_skills_with_learners() {
    let (app, dir) = app().await;
    let root = app.sign_up_admin("root").await;
    let lea = app.sign_up("lea").await;
    app.post_form(
        "/skills/dns-records/state",
        &[("state", "done"), ("version", "0")],
        Some(&lea),
    )
    .await;
    write_files(
        dir.path(),
        &[(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nx\n\n## Resolvers {#resolvers}\ny\n",
        )],
    );
    pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    write_files(dir.path(), &[("web/03-bad.md", "no front matter\n")]);
    pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    app.state.refresh_catalog().await.unwrap();

    let (status, _, page) = app.get_as("/admin/content", &root).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Web basics: 2 stages, 3 skills"));
    assert!(
        page.contains("<strong>Failed</strong>") && page.contains("web/03-bad.md:1: missing front matter"),
        "{page}"
    );
    assert!(page.contains("1 added, 1 updated, 0 renamed, 1 retired, 0 revived"));
    assert!(page.contains("<td>Records <code>dns-records</code></td><td>web</td>"));
    assert!(
        page.contains("<td>1</td></tr>"),
        "one learner has progress on the retired skill"
    );
    let (status, _, _) = app.get_as("/admin/content", &lea).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// `/admin` opens with figures: users, learners active this week, reviews waiting and the
/// last content load with its result (issue 12).
#[tokio::test]
async fn the_admin_page_opens_with_figures() {
    let (app, _dir) = app().await;
    let root = app.sign_up_admin("root").await;
    let ada = app.sign_up("ada").await;
    app.sign_up("bob").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&ada),
    )
    .await;
    sqlx::query("select fold_learner_counters()")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into review_requests (mentee_id, skill_id, status) select id, 'http-methods', 'pending' from users where username = 'ada'",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (status, _, page) = app.get_as("/admin", &root).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert!(page.contains("<dt>Users</dt><dd>3</dd>"), "{page}");
    assert!(
        page.contains("<dt>Learners active this week</dt><dd>1</dd>"),
        "{page}"
    );
    assert!(page.contains("<dt>Reviews waiting</dt><dd>1</dd>"), "{page}");
    assert!(
        page.contains(r#"<dt>Last content load</dt><dd><a href="/admin/content">Applied</a>"#),
        "{page}"
    );
    // Activity older than a week does not count.
    sqlx::query("update enrollments set last_activity_at = now() - interval '8 days'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (_, _, page) = app.get_as("/admin", &root).await;
    assert!(
        page.contains("<dt>Learners active this week</dt><dd>0</dd>"),
        "{page}"
    );
}
