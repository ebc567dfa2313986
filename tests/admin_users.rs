//! The admin area's user tools: password-reset links, registration invites, and linking or
//! unlinking mentors, each recorded in the audit log.

mod common;

use axum::http::{StatusCode, header};
use common::{STRONG_PASSWORD, TestApp, write_files};
use pathway::config::{Registration, Settings};

const NEW_PASSWORD: &str = "copper meadow giraffe sonnet";

async fn app_with(settings: Settings) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    (TestApp::with_settings(dir.path(), settings).await, dir)
}

async fn app() -> (TestApp, tempfile::TempDir) {
    app_with(Settings::default()).await
}

/// Creates an admin directly (sign-up may be invite-only) and signs them in.
async fn admin(app: &TestApp, username: &str) -> String {
    let hash = pathway::auth::password::hash(STRONG_PASSWORD.into())
        .await
        .unwrap();
    pathway::db::admin::create_admin(&app.db.pool, username, &hash)
        .await
        .unwrap();
    app.sign_in(username, STRONG_PASSWORD, None).await
}

/// (actor, action, target, details) of every audit entry, oldest first.
async fn audit(app: &TestApp) -> Vec<(Option<String>, String, String, serde_json::Value)> {
    sqlx::query_as(
        "select u.username, a.action, a.target, a.details from audit_log a
         left join users u on u.id = a.actor_id order by a.id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

async fn audited(app: &TestApp, action: &str) -> Vec<(Option<String>, String, serde_json::Value)> {
    audit(app)
        .await
        .into_iter()
        .filter(|(_, a, _, _)| a == action)
        .map(|(actor, _, target, details)| (actor, target, details))
        .collect()
}

/// The secret after `marker` in a page (up to the closing quote).
fn secret_after(page: &str, marker: &str) -> String {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

async fn make_reset_link(app: &TestApp, admin_cookie: &str, username: &str) -> String {
    let id = app.user_id(username).await;
    let (status, headers, page) = app
        .post_form(&format!("/admin/users/{id}/reset"), &[], Some(admin_cookie))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    secret_after(&page, r#"value="http://127.0.0.1:3000/reset/"#)
}

async fn notifications_of(app: &TestApp, username: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "select n.kind, n.summary from notifications n join users u on u.id = n.recipient_id
         where u.username = $1 order by n.id",
    )
    .bind(username)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

// ---------- password-reset links ----------

#[tokio::test]
async fn a_reset_link_sets_the_password_once_and_ends_every_other_session() {
    let (app, _dir) = app().await;
    let root = admin(&app, "root").await;
    let ada_first = app.sign_up("ada").await;
    let ada_second = app.sign_in("ada", STRONG_PASSWORD, None).await;

    let (_, _, users) = app.get_as("/admin", &root).await;
    let ada_id = app.user_id("ada").await;
    assert!(users.contains(&format!(r#"action="/admin/users/{ada_id}/reset""#)));

    let secret = make_reset_link(&app, &root, "ada").await;
    // Only the hash is stored, valid for a day.
    let (stored, hours): (String, f64) = sqlx::query_as(
        "select token_hash, extract(epoch from expires_at - created_at)::float8 / 3600 from password_resets",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(stored, pathway::auth::token::hash(&secret));
    assert_ne!(stored, secret);
    assert!((hours - 24.0).abs() < 0.01, "valid for {hours} hours");
    let entries = audited(&app, "user.reset_link").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0.as_deref(), Some("root"));
    assert_eq!(entries[0].1, "ada");
    assert!(
        !entries[0].2.to_string().contains(&secret),
        "the audit log never holds the secret"
    );

    let path = format!("/reset/{secret}");
    let (status, headers, page) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(page.contains("<strong>ada</strong>") && page.contains(r#"for="f_password""#));

    // A weak password: the form again, with the reason, and the password not echoed.
    for weak in ["short", "adaadaada1"] {
        let (status, _, page) = app.post_form(&path, &[("password", weak)], None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        assert!(page.contains("field-error") && page.contains(r#"aria-invalid="true""#));
        assert!(!page.contains(weak), "{weak} was echoed");
    }
    let (status, _, _) = app.get(&path).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a refused password does not use the link up"
    );

    let (status, headers, _) = app
        .post_form(&path, &[("password", NEW_PASSWORD)], Some(&ada_first))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/account?done=password");
    let fresh = common::session_cookie(&headers).expect("the holder is signed in");
    let (status, _, page) = app.get_as("/account?done=password", &fresh).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Your password was changed"));

    // The sessions ada had before are over.
    for old in [&ada_first, &ada_second] {
        let (status, headers, _) = app.get_as("/account", old).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/signin?next=%2Faccount");
    }
    let (status, _, _) = app
        .post_form(
            "/signin",
            &[("username", "ada"), ("password", STRONG_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the old password is gone"
    );
    app.sign_in("ada", NEW_PASSWORD, None).await;

    // Once only.
    let (status, _, _) = app.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app
        .post_form(&path, &[("password", "another strong passphrase here")], None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.sign_in("ada", NEW_PASSWORD, None).await;

    let used = audited(&app, "user.password_reset").await;
    assert_eq!(used.len(), 1);
    assert_eq!((used[0].0.as_deref(), used[0].1.as_str()), (Some("ada"), "ada"));
}

#[tokio::test]
async fn replaced_expired_unknown_and_disabled_links_are_all_the_same_404() {
    let (app, _dir) = app().await;
    let root = admin(&app, "root").await;
    app.sign_up("ada").await;

    let older = make_reset_link(&app, &root, "ada").await;
    let ada_id = app.user_id("ada").await;
    let (_, _, page) = app
        .post_form(&format!("/admin/users/{ada_id}/reset"), &[], Some(&root))
        .await;
    assert!(page.contains("An older unused reset link for ada stopped working"));
    let newer = secret_after(&page, r#"value="http://127.0.0.1:3000/reset/"#);
    let (status, _, unknown_page) = app.get(&format!("/reset/{older}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a new link kills the older one");
    let (status, _, _) = app
        .post_form(&format!("/reset/{older}"), &[("password", NEW_PASSWORD)], None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app.get(&format!("/reset/{newer}")).await;
    assert_eq!(status, StatusCode::OK);

    // Expired.
    sqlx::query("update password_resets set expires_at = now() - interval '1 second'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    for path in [format!("/reset/{newer}"), "/reset/not-a-token".to_string()] {
        let (status, _, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(page, unknown_page, "nothing tells the cases apart");
        let (status, _, _) = app.post_form(&path, &[("password", NEW_PASSWORD)], None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    // A disabled account's link does not work, and no new one is made.
    let live = make_reset_link(&app, &root, "ada").await;
    let (status, _, _) = app
        .post_form(
            &format!("/admin/users/{ada_id}/disabled"),
            &[("value", "on")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, page) = app.get(&format!("/reset/{live}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(page, unknown_page);
    let (status, _, _) = app
        .post_form(&format!("/reset/{live}"), &[("password", NEW_PASSWORD)], None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, _) = app
        .post_form(&format!("/admin/users/{ada_id}/reset"), &[], Some(&root))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin?done=reset-disabled");
    let (_, _, page) = app.get_as("/admin?done=reset-disabled", &root).await;
    assert!(page.contains("that account is disabled"));
    let links: i64 = sqlx::query_scalar("select count(*) from password_resets")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(links, 3);
    let used: i64 = sqlx::query_scalar("select count(*) from password_resets where used_at is not null")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(used, 0, "no link was used");
    assert!(audited(&app, "user.password_reset").await.is_empty());
}

#[tokio::test]
async fn only_admins_make_reset_links() {
    let (app, _dir) = app().await;
    admin(&app, "root").await;
    app.sign_up("ada").await;
    let eve = app.sign_up("eve").await;
    let ada_id = app.user_id("ada").await;
    let path = format!("/admin/users/{ada_id}/reset");
    let (status, _, _) = app.post_form(&path, &[], Some(&eve)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = app.post_form(&path, &[], None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/signin");
    let (status, _, _) = app.post_form("/admin/users/999999/reset", &[], Some(&eve)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let links: i64 = sqlx::query_scalar("select count(*) from password_resets")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(links, 0);
    assert!(audited(&app, "user.reset_link").await.is_empty());
}

#[tokio::test]
async fn a_reset_link_for_an_unknown_user_is_404() {
    let (app, _dir) = app().await;
    let root = admin(&app, "root").await;
    let (status, _, _) = app.post_form("/admin/users/999999/reset", &[], Some(&root)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---------- registration invites ----------

#[tokio::test]
async fn an_invite_from_the_admin_page_lets_someone_sign_up_under_invite_only() {
    let settings = Settings {
        registration: Registration::InviteOnly,
        ..Settings::default()
    };
    let (app, _dir) = app_with(settings).await;
    let root = admin(&app, "root").await;

    let (status, _, page) = app.get_as("/admin/invites", &root).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Registration is by invitation") && page.contains("No invites yet"));
    assert!(page.contains(r#"<label for="f_days">"#) && page.contains(r#"value="7""#));

    for bad in ["0", "366", "soon", ""] {
        let (status, _, page) = app
            .post_form("/admin/invites", &[("days", bad)], Some(&root))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(page.contains("whole number of days") && page.contains(&format!(r#"value="{bad}""#)));
    }
    assert!(audited(&app, "invite.create").await.is_empty());

    let (status, headers, page) = app
        .post_form("/admin/invites", &[("days", "3")], Some(&root))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let secret = secret_after(&page, r#"value="http://127.0.0.1:3000/signup?invite="#);
    assert!(page.contains("unused"));
    let days: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8 / 86400 from invites
         where kind = 'registration' and token_hash = $1",
    )
    .bind(pathway::auth::token::hash(&secret))
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!((days - 3.0).abs() < 0.001);
    let entries = audited(&app, "invite.create").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0.as_deref(), Some("root"));
    assert_eq!(entries[0].2["valid_days"], 3);
    // Shown once: the list never has it again.
    let (_, _, page) = app.get_as("/admin/invites", &root).await;
    assert!(!page.contains(&secret));

    let form = [
        ("username", "eve"),
        ("display_name", "Eve"),
        ("password", STRONG_PASSWORD),
        ("invite", secret.as_str()),
    ];
    let (status, _, body) = app.post_form("/signup", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, _, page) = app.get_as("/admin/invites", &root).await;
    assert!(page.contains(">used<") && page.contains("<td>eve</td>"));

    // A second invite left to expire shows as expired.
    app.post_form("/admin/invites", &[("days", "1")], Some(&root))
        .await;
    sqlx::query("update invites set expires_at = now() - interval '1 second' where used_at is null")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (_, _, page) = app.get_as("/admin/invites", &root).await;
    assert!(page.contains(">expired<"));
}

#[tokio::test]
async fn under_open_registration_invites_still_work_but_are_not_needed() {
    let (app, _dir) = app().await;
    let root = admin(&app, "root").await;
    let (_, _, page) = app.get_as("/admin/invites", &root).await;
    assert!(page.contains("invites are not needed"));
    let (status, _, page) = app
        .post_form("/admin/invites", &[("days", "7")], Some(&root))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/signup?invite="));
    let eve = app.sign_up("eve").await;
    let (status, _, _) = app.get_as("/admin/invites", &eve).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = app
        .post_form("/admin/invites", &[("days", "7")], Some(&eve))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(audited(&app, "invite.create").await.len(), 1);
}

// ---------- mentor links ----------

#[tokio::test]
async fn an_admin_links_a_mentor_who_then_sees_the_mentee_and_unlinks_them() {
    let (app, _dir) = app().await;
    let root = admin(&app, "root").await;
    let ada = app.sign_up("ada").await;
    let max = app.sign_up("max").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;

    let (status, _, page) = app.get_as("/admin/mentorships", &root).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<label for="f_mentor">"#) && page.contains(r#"<label for="f_mentee">"#));
    assert!(page.contains("0 active links"));
    let (status, _, _) = app.get_as("/mentees/ada", &max).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, headers, _) = app
        .post_form(
            "/admin/mentorships",
            &[("mentor", " Max "), ("mentee", "ada")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/mentorships?done=linked");
    let (status, _, _) = app.get_as("/mentees/ada", &max).await;
    assert_eq!(status, StatusCode::OK, "the mentor now sees the mentee");
    let link: (i64, String, bool) = sqlx::query_as("select id, status, all_roadmaps from mentorships")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((link.1.as_str(), link.2), ("active", true));
    let entries = audited(&app, "mentorship.link").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0.as_deref(), Some("root"));
    assert_eq!(entries[0].1, "max → ada");
    assert_eq!(entries[0].2["mentorship"], link.0);
    let max_notes = notifications_of(&app, "max").await;
    let ada_notes = notifications_of(&app, "ada").await;
    assert!(
        max_notes
            .iter()
            .any(|(k, s)| k == "link_made" && s.contains("mentor of ada name"))
    );
    assert!(
        ada_notes
            .iter()
            .any(|(k, s)| k == "link_made" && s.contains("max name your mentor"))
    );

    let (_, _, page) = app.get_as("/admin/mentorships?done=linked", &root).await;
    assert!(page.contains("Linked.") && page.contains("1 active link."));
    assert!(page.contains(&format!(r#"action="/admin/mentorships/{}/end""#, link.0)));
    let (_, _, page) = app.get_as("/admin/mentorships?q=ad", &root).await;
    assert!(page.contains("1 active link matching"));
    let (_, _, page) = app.get_as("/admin/mentorships?q=zzz", &root).await;
    assert!(page.contains("0 active links matching") && !page.contains("/end\""));

    // Linking them again is refused with a reason.
    let (status, _, page) = app
        .post_form(
            "/admin/mentorships",
            &[("mentor", "max"), ("mentee", "ada")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("max already mentors ada"));

    let end = format!("/admin/mentorships/{}/end", link.0);
    let (status, headers, _) = app.post_form(&end, &[], Some(&max)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not through the admin route");
    assert!(headers.get(header::LOCATION).is_none());
    let (status, headers, _) = app.post_form(&end, &[], Some(&root)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/mentorships?done=ended");
    let (status, _, _) = app.get_as("/mentees/ada", &max).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "access ends at once");
    let (status, ended_by): (String, i64) =
        sqlx::query_as("select status, ended_by from mentorships where id = $1")
            .bind(link.0)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), ended_by), ("ended", app.user_id("root").await));
    let entries = audited(&app, "mentorship.end").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].0.as_deref(), entries[0].1.as_str()),
        (Some("root"), "max → ada")
    );
    assert!(
        notifications_of(&app, "max")
            .await
            .iter()
            .any(|(k, s)| k == "link_ended" && s.contains("ended your mentoring of ada name"))
    );
    assert!(
        notifications_of(&app, "ada")
            .await
            .iter()
            .any(|(k, s)| k == "link_ended" && s.contains("max name’s mentoring of you"))
    );
    let (status, _, _) = app.post_form(&end, &[], Some(&root)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an ended link cannot be ended again"
    );
    assert_eq!(audited(&app, "mentorship.end").await.len(), 1);

    // Once ended, the same pair can be linked again.
    let (status, _, _) = app
        .post_form(
            "/admin/mentorships",
            &[("mentor", "max"), ("mentee", "ada")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn unknown_or_identical_usernames_are_refused_with_the_values_kept() {
    let (app, _dir) = app().await;
    let root = admin(&app, "root").await;
    app.sign_up("ada").await;

    let (status, _, page) = app
        .post_form(
            "/admin/mentorships",
            &[("mentor", "nobody"), ("mentee", "ada")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("There is no user named “nobody”."));
    assert!(page.contains(r#"name="mentor" type="text" value="nobody""#));
    assert!(page.contains(r#"name="mentee" type="text" value="ada""#));
    assert!(page.contains(r#"id="f_mentor_error""#) && !page.contains(r#"id="f_mentee_error""#));

    let (status, _, page) = app
        .post_form(
            "/admin/mentorships",
            &[("mentor", "ada"), ("mentee", "ghost")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("There is no user named “ghost”.") && page.contains(r#"value="ghost""#));

    let (status, _, page) = app
        .post_form(
            "/admin/mentorships",
            &[("mentor", "ada"), ("mentee", "ADA")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("nobody can be their own mentor"));

    let (status, _, page) = app
        .post_form(
            "/admin/mentorships",
            &[("mentor", ""), ("mentee", "")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Enter a username."));

    let links: i64 = sqlx::query_scalar("select count(*) from mentorships")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(links, 0);
    assert!(
        audit(&app)
            .await
            .iter()
            .all(|(_, action, _, _)| !action.starts_with("mentorship.")),
        "nothing to record"
    );
    assert!(notifications_of(&app, "ada").await.is_empty());
}
