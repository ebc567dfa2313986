//! Accounts: sign-up, sign-in, throttling, sessions, CSRF, password change, deletion, invite-only registration.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use common::{STRONG_PASSWORD, TestApp, sample_content, serde_urlencoded, session_cookie, write_files};
use pathway::config::{Registration, Settings};

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    (TestApp::with_content(dir.path()).await, dir)
}

async fn user_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_up_signs_in_with_a_safe_cookie() {
    let (app, _dir) = app().await;
    let (status, headers, _) = app
        .post_form(
            "/signup",
            &[
                ("username", "Ada"),
                ("display_name", "Ada L."),
                ("email", ""),
                ("password", STRONG_PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/dashboard");
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "not Secure on plain http by default"
    );

    let cookie = session_cookie(&headers).unwrap();
    let (status, _, body) = app.get_as("/account", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Signed in as <strong>ada</strong>"),
        "usernames are lowercased"
    );
    assert!(body.contains("Ada L."));
    let hash: String = sqlx::query_scalar("select password_hash from users")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn a_bad_sign_up_keeps_the_values_and_explains() {
    let (app, _dir) = app().await;
    let (status, _, body) = app
        .post_form(
            "/signup",
            &[
                ("username", "grace"),
                ("display_name", "Grace"),
                ("email", "not-an-email"),
                ("password", "password123"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"value="grace""#), "username kept");
    assert!(body.contains(r#"value="not-an-email""#), "email kept");
    assert!(body.contains("too easy to guess"), "{body}");
    assert!(body.contains("name@example.com"));
    assert!(!body.contains("password123"), "the password is never echoed");
    assert!(body.contains(r#"aria-invalid="true""#));
    assert_eq!(user_count(&app).await, 0);

    let (status, _, body) = app
        .post_form(
            "/signup",
            &[
                ("username", "grace"),
                ("display_name", "Grace"),
                ("password", "short"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("at least 10 characters"));
}

#[tokio::test]
async fn duplicate_usernames_are_refused() {
    let (app, _dir) = app().await;
    app.sign_up("linus").await;
    let (status, _, body) = app
        .post_form(
            "/signup",
            &[
                ("username", "LINUS"),
                ("display_name", "Other"),
                ("password", STRONG_PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("That username is taken"));
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn sign_in_and_out() {
    let (app, _dir) = app().await;
    app.sign_up("ken").await;
    let cookie = app.sign_in("ken", STRONG_PASSWORD, None).await;
    let (_, _, home) = app.get_as("/", &cookie).await;
    assert!(home.contains("Sign out"));

    let (status, headers, _) = app.post_form("/signout", &[], Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/");
    let (status, headers, _) = app.get_as("/account", &cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the old cookie is signed out");
    assert_eq!(headers[header::LOCATION], "/signin?next=%2Faccount");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let (app, _dir) = app().await;
    app.sign_up("barbara").await;
    let (status, headers, wrong) = app
        .post_form(
            "/signin",
            &[("username", "barbara"), ("password", "not it at all")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(session_cookie(&headers).is_none());
    let (status, _, unknown) = app
        .post_form(
            "/signin",
            &[("username", "nobody"), ("password", "not it at all")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = "That username and password do not match an account.";
    assert!(wrong.contains(message) && unknown.contains(message));
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_a_clear_wait() {
    let (app, _dir) = app().await;
    app.sign_up("edsger").await;
    for _ in 0..5 {
        let (status, _, _) = app
            .post_form(
                "/signin",
                &[("username", "edsger"), ("password", "guess guess")],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, headers, body) = app
        .post_form(
            "/signin",
            &[("username", "edsger"), ("password", STRONG_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(
        body.contains("Too many failed sign-in attempts. Try again in 15 minutes."),
        "{body}"
    );
    assert!(session_cookie(&headers).is_none());
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled() {
    let (app, _dir) = app().await;
    app.sign_up("margaret").await;
    let from = |username: &str, password: &str| {
        let mut request = Request::post("/signin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(serde_urlencoded(&[
                ("username", username),
                ("password", password),
            ])))
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 7], 5555))));
        request
    };
    for i in 0..20 {
        let (status, _, _) = app.request(from(&format!("guess{i}"), "wrong password")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _, body) = app.request(from("margaret", STRONG_PASSWORD)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("Try again in"));
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in() {
    let (app, _dir) = app().await;
    app.sign_up("alan").await;
    let first = app.sign_in("alan", STRONG_PASSWORD, None).await;
    let second = app.sign_in("alan", STRONG_PASSWORD, Some(&first)).await;
    assert_ne!(first, second);
    let (status, _, _) = app.get_as("/account", &first).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the pre-sign-in id is dead");
    let (status, _, _) = app.get_as("/account", &second).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn cross_site_posts_are_rejected() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("mallory-target").await;
    let forged = |headers: &[(&str, &str)]| {
        let mut request = Request::post("/account/profile")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &cookie)
            .header(header::HOST, "127.0.0.1:3000");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(Body::from("display_name=pwned")).unwrap()
    };
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("origin", "https://evil.example")][..],
    ] {
        let (status, response_headers, body) = app.request(forged(headers)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(response_headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(body.contains("Error 403"));
    }
    let name: String = sqlx::query_scalar("select display_name from users")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(name, "mallory-target name");

    let (status, _, _) = app.request(forged(&[("origin", "http://127.0.0.1:3000")])).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "same-origin posts pass");
}

#[tokio::test]
async fn changing_the_password_signs_out_other_sessions() {
    let (app, _dir) = app().await;
    let laptop = app.sign_up("frances").await;
    let phone = app.sign_in("frances", STRONG_PASSWORD, None).await;

    let (status, _, body) = app
        .post_form(
            "/account/password",
            &[
                ("current_password", "wrong"),
                ("new_password", "another long passphrase here"),
            ],
            Some(&laptop),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("current password is not right"));

    let new_password = "quartz meadow bicycle thunder";
    let (status, headers, _) = app
        .post_form(
            "/account/password",
            &[
                ("current_password", STRONG_PASSWORD),
                ("new_password", new_password),
            ],
            Some(&laptop),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/account?done=password");
    let laptop = session_cookie(&headers).unwrap_or(laptop);
    let (status, _, body) = app.get_as("/account?done=password", &laptop).await;
    assert_eq!(status, StatusCode::OK, "this session stays signed in");
    assert!(body.contains("Your other sessions were signed out"));
    let (status, _, _) = app.get_as("/account", &phone).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the other session is signed out");
    app.sign_in("frances", new_password, None).await;
}

#[tokio::test]
async fn display_name_changes_validate() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("hedy").await;
    let (status, _, body) = app
        .post_form("/account/profile", &[("display_name", "  ")], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Enter the name other people will see."));
    let (status, _, _) = app
        .post_form("/account/profile", &[("display_name", "Hedy L.")], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, body) = app.get_as("/account?done=profile", &cookie).await;
    assert!(body.contains("Hedy L.") && body.contains("Your display name was saved."));
}

#[tokio::test]
async fn deleting_the_account_removes_its_data() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("grace").await;
    let other = app.sign_up("john").await;
    let (status, _, body) = app.get_as("/account", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("permanently deletes"));

    let (status, _, body) = app
        .post_form("/account/delete", &[("password", "nope")], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("nothing was deleted"));
    assert_eq!(user_count(&app).await, 2);

    let (status, _, body) = app
        .post_form("/account/delete", &[("password", STRONG_PASSWORD)], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Account deleted"));
    let left: Vec<String> = sqlx::query_scalar("select username from users")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, ["john"]);
    let (status, _, _) = app.get_as("/account", &cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app.get_as("/account", &other).await;
    assert_eq!(status, StatusCode::OK, "other users are untouched");
}

#[tokio::test]
async fn account_pages_need_a_signed_in_user() {
    let (app, _dir) = app().await;
    for path in ["/account"] {
        let (status, headers, _) = app.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], "/signin?next=%2Faccount");
    }
    for path in ["/account/profile", "/account/password", "/account/delete"] {
        let (status, headers, _) = app.post_form(path, &[], None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], "/signin");
    }
}

#[tokio::test]
async fn invite_only_registration_needs_a_valid_unused_invite() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let settings = Settings {
        registration: Registration::InviteOnly,
        ..Settings::default()
    };
    let app = TestApp::with_settings(dir.path(), settings).await;

    let (status, _, body) = app.get("/signup").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Registration on this Pathway is by invitation"));
    assert!(!body.contains(r#"action="/signup""#));
    let (status, _, _) = app
        .post_form(
            "/signup",
            &[
                ("username", "eve"),
                ("display_name", "Eve"),
                ("password", STRONG_PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let token = pathway::auth::token::generate();
    pathway::db::users::create_registration_invite(
        &app.db.pool,
        &pathway::auth::token::hash(&token),
        None,
        7,
        None,
    )
    .await
    .unwrap();
    let (_, _, body) = app.get(&format!("/signup?invite={token}")).await;
    assert!(body.contains(&format!(r#"name="invite" value="{token}""#)));
    let form = [
        ("username", "eve"),
        ("display_name", "Eve"),
        ("password", STRONG_PASSWORD),
        ("invite", token.as_str()),
    ];
    let (status, _, _) = app.post_form("/signup", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let reuse = [
        ("username", "mallory"),
        ("display_name", "M"),
        ("password", STRONG_PASSWORD),
        ("invite", token.as_str()),
    ];
    let (status, _, body) = app.post_form("/signup", &reuse, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("not valid any more"));
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn sessions_expire_after_inactivity_but_activity_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let settings = Settings {
        session_idle: time::Duration::seconds(2),
        ..Settings::default()
    };
    let app = TestApp::with_settings(dir.path(), settings).await;
    let cookie = app.sign_up("idle").await;
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let (status, _, _) = app.get_as("/account", &cookie).await;
        assert_eq!(status, StatusCode::OK, "each request extends the session");
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, headers, _) = app.get_as("/account", &cookie).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "expired after 2 s without a request"
    );
    assert_eq!(headers[header::LOCATION], "/signin?next=%2Faccount");
}

#[tokio::test]
async fn a_signed_in_page_does_not_rewrite_a_fresh_session() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("quiet").await;
    let expiry = || async {
        sqlx::query_scalar::<_, time::OffsetDateTime>("select max(expiry_date) from tower_sessions.session")
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
    };
    let before = expiry().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for path in ["/account", "/dashboard", "/roadmaps/web"] {
        let (status, headers, _) = app.get_as(path, &cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert!(session_cookie(&headers).is_none(), "{path}: no new cookie");
    }
    assert_eq!(expiry().await, before, "no session write for a fresh session");
}

#[tokio::test]
async fn a_session_loads_its_user_in_one_statement_and_older_sessions_are_upgraded() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let ada = app.user_id("ada").await;
    let owner = || {
        sqlx::query_scalar::<_, Option<i64>>("select user_id from tower_sessions.session")
            .fetch_all(&app.db.pool)
    };
    assert_eq!(
        owner().await.unwrap(),
        vec![Some(ada)],
        "the session row names its user"
    );

    // A session saved before the store knew its user still works, and learns it.
    sqlx::query("update tower_sessions.session set user_id = null")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, _, body) = app.get_as("/dashboard", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("ada name"));
    assert_eq!(owner().await.unwrap(), vec![Some(ada)]);

    // The user comes from the database on every request, never from the stored record.
    sqlx::query("update users set display_name = 'Ada Renamed' where id = $1")
        .bind(ada)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (_, _, body) = app.get_as("/dashboard", &cookie).await;
    assert!(body.contains("Ada Renamed"));

    // Deleting the user deletes their sessions with them.
    sqlx::query("delete from users where id = $1")
        .bind(ada)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert!(owner().await.unwrap().is_empty());
}

/// Sign-in and sign-up return to the page that asked for them, such as a mentor's
/// invitation link opened while signed out (issue 12); only local paths are followed.
#[tokio::test]
async fn signing_in_or_up_returns_to_the_page_that_asked_for_it() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let (_, _, page) = app
        .post_form("/mentors/link", &[("scope", "all")], Some(&ada))
        .await;
    let token = page
        .split("/mentoring/invite/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let invitation = format!("/mentoring/invite/{token}");
    let encoded: String = url::form_urlencoded::byte_serialize(invitation.as_bytes()).collect();

    // Signed out, the invitation sends to sign-in with the way back.
    let (status, headers, _) = app.get(&invitation).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let signin = headers[header::LOCATION].to_str().unwrap().to_string();
    assert_eq!(signin, format!("/signin?next={encoded}"));
    let (_, _, page) = app.get(&signin).await;
    assert!(
        page.contains(&format!(
            r#"<input type="hidden" name="next" value="{invitation}">"#
        )),
        "{page}"
    );
    // (askama's urlencode keeps `/`, which a query may hold.)
    assert!(
        page.contains(&format!(r#"href="/signup?next={invitation}""#)),
        "{page}"
    );

    // A new account made from there lands on the invitation.
    let (_, _, page) = app.get(&format!("/signup?next={encoded}")).await;
    assert!(
        page.contains(&format!(
            r#"<input type="hidden" name="next" value="{invitation}">"#
        )),
        "{page}"
    );
    let form = [
        ("username", "max"),
        ("display_name", "Max"),
        ("password", common::STRONG_PASSWORD),
        ("next", invitation.as_str()),
    ];
    let (status, headers, body) = app.post_form("/signup", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], invitation.as_str());
    let max = common::session_cookie(&headers).unwrap();
    let (status, _, page) = app.get_as(&invitation, &max).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("invites you to be their mentor"), "{page}");

    // So does signing in, and a failed attempt keeps the way back.
    let form = [
        ("username", "max"),
        ("password", "wrong password"),
        ("next", invitation.as_str()),
    ];
    let (status, _, page) = app.post_form("/signin", &form, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains(&format!(r#"name="next" value="{invitation}""#)),
        "{page}"
    );
    let form = [
        ("username", "max"),
        ("password", common::STRONG_PASSWORD),
        ("next", invitation.as_str()),
    ];
    let (status, headers, _) = app.post_form("/signin", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], invitation.as_str());

    // Anything that would leave the site, or loop, goes to the dashboard instead.
    for hostile in [
        "//evil.example/",
        "/\\evil.example/",
        "/\\/evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "evil.example",
        "/signin",
        "/signin?next=/x",
        "/ok\r\nSet-Cookie: x=1",
        "",
    ] {
        let form = [
            ("username", "max"),
            ("password", common::STRONG_PASSWORD),
            ("next", hostile),
        ];
        let (status, headers, _) = app.post_form("/signin", &form, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{hostile:?}");
        assert_eq!(headers[header::LOCATION], "/dashboard", "{hostile:?}");
        let query: String = url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect();
        let (_, _, page) = app.get(&format!("/signin?next={query}")).await;
        assert!(
            !page.contains(r#"name="next""#),
            "{hostile:?} is not carried: {page}"
        );
    }
    // Signed in already: /signin?next= goes straight there.
    let (status, headers, _) = app.get_as(&format!("/signin?next={encoded}"), &max).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], invitation.as_str());
}
