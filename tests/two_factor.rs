//! Two-factor sign-in through the router on a real database: enrolment, the code step, replay and throttling, recovery codes, turning it off, admins made to enrol, and reset links.

mod common;

use axum::http::{StatusCode, header};
use common::{STRONG_PASSWORD, TestApp, sample_content, session_cookie, write_files};
use pathway::auth::totp;
use pathway::config::Settings;

async fn app_with(settings: Settings) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    (TestApp::with_settings(dir.path(), settings).await, dir)
}

async fn app() -> (TestApp, tempfile::TempDir) {
    app_with(Settings::default()).await
}

/// The text between `marker` and the next `<`.
fn text_after<'a>(page: &'a str, marker: &str) -> &'a str {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {page}"))
        + marker.len();
    page[start..].split('<').next().unwrap()
}

/// The code for `steps` time steps from now.
fn code(secret: &[u8], steps: i64) -> String {
    let at = totp::now().saturating_add_signed(steps * 30);
    totp::code_at(secret, at).unwrap()
}

/// Lets the next code be the current one again (tests that are not about replay).
async fn forget_used_codes(app: &TestApp) {
    sqlx::query("update two_factor set last_step = 0")
        .execute(&app.db.pool)
        .await
        .unwrap();
}

/// Sets up two-factor sign-in for the session in `cookie`; returns the secret and the recovery codes.
async fn enrol(app: &TestApp, cookie: &str) -> (Vec<u8>, Vec<String>, String) {
    let (status, headers, page) = app.get_as("/account/two-factor/setup", cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let secret_text = text_after(&page, r#"<code id="totp_secret">"#).to_string();
    let secret = totp::from_base32(&secret_text).unwrap();
    let used = code(&secret, 0);
    let (status, _, page) = app
        .post_form("/account/two-factor/setup", &[("code", &used)], Some(cookie))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let codes: Vec<String> = page
        .split("<li><code>")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{page}");
    (secret, codes, used)
}

/// Signs in with the password; returns the half-signed-in session cookie.
async fn password_step(app: &TestApp, username: &str, next: Option<&str>) -> String {
    let mut form = vec![("username", username), ("password", STRONG_PASSWORD)];
    if let Some(next) = next {
        form.push(("next", next));
    }
    let (status, headers, body) = app.post_form("/signin", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], "/signin/two-factor");
    session_cookie(&headers).expect("the password step keeps a session")
}

async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    app.get_as("/account", cookie).await.0 == StatusCode::OK
}

async fn audited(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_log where action = $1")
        .bind(action)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn enrolment_shows_a_qr_code_and_confirms_with_a_code() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let (_, _, account) = app.get_as("/account", &cookie).await;
    assert!(account.contains("Two-factor authentication"));
    assert!(account.contains("Set up two-factor authentication"));

    let (status, headers, page) = app.get_as("/account/two-factor/setup", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let svg = &page[page.find("<svg").expect("an inline QR code")..page.find("</svg>").unwrap()];
    assert!(!svg.contains("style"), "the CSP forbids style attributes");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("style-src 'self'")
    );
    let secret_text = text_after(&page, r#"<code id="totp_secret">"#).to_string();
    // Reloading shows the same secret, so a scanned code stays good.
    let (_, _, again) = app.get_as("/account/two-factor/setup", &cookie).await;
    assert_eq!(text_after(&again, r#"<code id="totp_secret">"#), secret_text);
    let secret = totp::from_base32(&secret_text).unwrap();

    let wrong = if code(&secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (status, _, page) = app
        .post_form("/account/two-factor/setup", &[("code", wrong)], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("That code is not right"));
    assert_eq!(audited(&app, "two_factor.enable").await, 0);

    let (status, _, page) = app
        .post_form(
            "/account/two-factor/setup",
            &[("code", &code(&secret, 0))],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Save your recovery codes"));
    assert_eq!(page.matches("<li><code>").count(), 10);
    assert_eq!(audited(&app, "two_factor.enable").await, 1);
    let stored: Vec<String> = sqlx::query_scalar("select code_hash from recovery_codes")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    let first = text_after(&page, "<li><code>");
    assert!(
        !stored.iter().any(|h| h == first),
        "recovery codes are stored hashed"
    );

    let (_, _, account) = app.get_as("/account", &cookie).await;
    assert!(account.contains("Manage two-factor authentication"));
    let (_, headers, _) = app.get_as("/account/two-factor/setup", &cookie).await;
    assert_eq!(headers[header::LOCATION], "/account/two-factor");
}

#[tokio::test]
async fn sign_in_asks_for_a_code_after_the_password_and_refuses_a_replay() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let (secret, _, _) = enrol(&app, &cookie).await;

    let half = password_step(&app, "ada", Some("/account")).await;
    assert!(
        !signed_in(&app, &half).await,
        "the password alone does not sign in"
    );
    let (status, _, page) = app.get_as("/signin/two-factor", &half).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Enter the 6-digit code"));
    assert!(page.contains("Use a recovery code instead"));

    let wrong = if code(&secret, 1) == "123456" {
        "654321"
    } else {
        "123456"
    };
    let (status, _, page) = app
        .post_form("/signin/two-factor", &[("code", wrong)], Some(&half))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("That code is not right"));
    assert!(!signed_in(&app, &half).await);

    // The enrolment used this step's code; the next one is accepted.
    let next_code = code(&secret, 1);
    let (status, headers, _) = app
        .post_form("/signin/two-factor", &[("code", &next_code)], Some(&half))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/account", "the return path is kept");
    let full = session_cookie(&headers).expect("a new session id");
    assert_ne!(full, half, "signing in rotates the session id");
    assert!(signed_in(&app, &full).await);
    assert!(common::set_cookie(&headers, "pathway_device").is_some());

    // The same code again, within its window: refused.
    let half = password_step(&app, "ada", None).await;
    let (status, _, page) = app
        .post_form("/signin/two-factor", &[("code", &next_code)], Some(&half))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("already used"), "{page}");
    assert!(!signed_in(&app, &half).await);
}

#[tokio::test]
async fn the_code_page_needs_a_recent_password() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let (secret, _, _) = enrol(&app, &cookie).await;
    let (status, _, page) = app.get("/signin/two-factor").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Sign in again"));
    let (_, headers, _) = app
        .post_form("/signin/two-factor", &[("code", "123456")], None)
        .await;
    assert_eq!(headers[header::LOCATION], "/signin");

    // A password change after the password step voids it.
    let half = password_step(&app, "ada", None).await;
    sqlx::query("update users set session_epoch = session_epoch + 1")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (_, headers, _) = app
        .post_form("/signin/two-factor", &[("code", &code(&secret, 1))], Some(&half))
        .await;
    assert_eq!(headers[header::LOCATION], "/signin");
    assert!(!signed_in(&app, &half).await);
}

#[tokio::test]
async fn code_attempts_are_throttled_per_account() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let (secret, _, _) = enrol(&app, &cookie).await;
    let half = password_step(&app, "ada", None).await;
    let right = code(&secret, 1);
    let wrong = if right == "999999" { "999998" } else { "999999" };
    // The enrolment counted one.
    for _ in 0..9 {
        let (status, _, _) = app
            .post_form("/signin/two-factor", &[("code", wrong)], Some(&half))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _, page) = app
        .post_form("/signin/two-factor", &[("code", &right)], Some(&half))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Too many codes"), "{page}");
    assert!(!signed_in(&app, &half).await);
    // Recovery codes share the limit.
    let (_, _, page) = app
        .post_form(
            "/signin/recovery-code",
            &[("recovery_code", "aaaa-bbbb-cccc-dddd")],
            Some(&half),
        )
        .await;
    assert!(page.contains("Too many codes"));
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let (_, codes, _) = enrol(&app, &cookie).await;

    let half = password_step(&app, "ada", None).await;
    let (status, _, page) = app.get_as("/signin/recovery-code", &half).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Recovery code"));
    // Case and dashes do not matter.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let (status, headers, _) = app
        .post_form("/signin/recovery-code", &[("recovery_code", &typed)], Some(&half))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/dashboard");
    assert!(signed_in(&app, &session_cookie(&headers).unwrap()).await);
    assert_eq!(audited(&app, "two_factor.recovery_code").await, 1);

    let half = password_step(&app, "ada", None).await;
    let (status, _, page) = app
        .post_form(
            "/signin/recovery-code",
            &[("recovery_code", &codes[3])],
            Some(&half),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("used already"));
    let (_, _, manage) = app.get_as("/account/two-factor", &cookie).await;
    assert!(manage.contains("9 unused recovery codes"), "{manage}");
}

#[tokio::test]
async fn recovery_codes_can_be_replaced_with_a_code() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let (secret, old, _) = enrol(&app, &cookie).await;
    let (status, _, page) = app
        .post_form(
            "/account/two-factor/recovery-codes",
            &[("code", "")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("That code is not right"));
    let (status, _, page) = app
        .post_form(
            "/account/two-factor/recovery-codes",
            &[("code", &code(&secret, 1))],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Your old recovery codes no longer work"));
    assert_eq!(page.matches("<li><code>").count(), 10);
    assert_eq!(audited(&app, "two_factor.new_recovery_codes").await, 1);
    let half = password_step(&app, "ada", None).await;
    let (status, _, _) = app
        .post_form(
            "/signin/recovery-code",
            &[("recovery_code", &old[0])],
            Some(&half),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn turning_it_off_needs_a_fresh_code() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let (secret, _, used) = enrol(&app, &cookie).await;
    // The code the enrolment used is not fresh.
    let (status, _, page) = app
        .post_form("/account/two-factor/disable", &[("code", &used)], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("already used"), "{page}");
    let (status, headers, _) = app
        .post_form(
            "/account/two-factor/disable",
            &[("code", &code(&secret, 1))],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/account/two-factor?done=disabled");
    assert_eq!(audited(&app, "two_factor.disable").await, 1);
    let count: i64 = sqlx::query_scalar("select count(*) from recovery_codes")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    // The password alone signs in again.
    app.sign_in("ada", STRONG_PASSWORD, None).await;
}

#[tokio::test]
async fn admins_can_be_required_to_enrol_first() {
    let (app, _dir) = app_with(Settings {
        require_admin_two_factor: true,
        ..Settings::default()
    })
    .await;
    let root = app.sign_up_admin("root").await;
    let learner = app.sign_up("ada").await;
    for path in ["/admin", "/dashboard", "/account"] {
        let (status, headers, _) = app.get_as(path, &root).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], "/account/two-factor/setup", "{path}");
    }
    assert_eq!(app.get_as("/dashboard", &learner).await.0, StatusCode::OK);
    let (_, _, page) = app.get_as("/account/two-factor/setup", &root).await;
    assert!(page.contains("Administrators of this Pathway must use two-factor authentication"));
    let (secret, _, _) = enrol(&app, &root).await;
    assert_eq!(app.get_as("/admin", &root).await.0, StatusCode::OK);
    let (status, _, page) = app
        .post_form(
            "/account/two-factor/disable",
            &[("code", &code(&secret, 1))],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("cannot be turned off"));
}

#[tokio::test]
async fn a_reset_link_does_not_skip_the_code() {
    let (app, _dir) = app().await;
    let root = app.sign_up_admin("root").await;
    let cookie = app.sign_up("ada").await;
    let (secret, _, _) = enrol(&app, &cookie).await;
    forget_used_codes(&app).await;
    let id = app.user_id("ada").await;
    let (status, _, page) = app
        .post_form(&format!("/admin/users/{id}/reset"), &[], Some(&root))
        .await;
    assert_eq!(status, StatusCode::OK);
    let marker = r#"value="http://127.0.0.1:3000/reset/"#;
    let start = page.find(marker).unwrap() + marker.len();
    let token = page[start..].split('"').next().unwrap();
    let (status, headers, _) = app
        .post_form(
            &format!("/reset/{token}"),
            &[("password", "a brand new passphrase for ada")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/signin/two-factor");
    let half = session_cookie(&headers).unwrap();
    assert!(!signed_in(&app, &half).await);
    let (_, headers, _) = app
        .post_form("/signin/two-factor", &[("code", &code(&secret, 0))], Some(&half))
        .await;
    assert_eq!(headers[header::LOCATION], "/account?done=password");
    assert!(signed_in(&app, &session_cookie(&headers).unwrap()).await);
}

#[tokio::test]
async fn an_admin_turns_it_off_for_someone_locked_out() {
    let (app, _dir) = app().await;
    let root = app.sign_up_admin("root").await;
    let cookie = app.sign_up("ada").await;
    enrol(&app, &cookie).await;
    let id = app.user_id("ada").await;
    let (_, _, page) = app.get_as("/admin", &root).await;
    assert!(page.contains(&format!(r#"action="/admin/users/{id}/two-factor""#)));
    assert!(page.contains("Turn off two-factor"));
    // Only admins.
    let (status, _, _) = app
        .post_form(&format!("/admin/users/{id}/two-factor"), &[], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = app
        .post_form(&format!("/admin/users/{id}/two-factor"), &[], Some(&root))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin?done=two-factor-off");
    assert_eq!(audited(&app, "two_factor.admin_disable").await, 1);
    let told: Vec<String> = sqlx::query_scalar(
        "select n.summary from notifications n where n.recipient_id = $1 and n.kind = 'two_factor_off'",
    )
    .bind(id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        told,
        ["root name (admin) turned off two-factor authentication on your account"]
    );
    app.sign_in("ada", STRONG_PASSWORD, None).await;
    let (_, _, page) = app.get_as("/admin", &root).await;
    assert!(!page.contains(&format!(r#"action="/admin/users/{id}/two-factor""#)));
}
