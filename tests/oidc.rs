//! Single sign-on against a real OpenID provider on a loopback socket (written here with
//! openidconnect's own types): the whole redirect flow over HTTP, a bad state, a replayed code,
//! an expired ID token, a wrong audience, linking by verified email, require-SSO and unlinking.

mod common;
mod oidc_provider;

use axum::http::{StatusCode, header};
use common::{STRONG_PASSWORD, TestApp};
use oidc_provider::{CLIENT_ID, CLIENT_SECRET, Provider, account};
use pathway::app::{Limits, router_with, serve_with_limits};
use pathway::config::Settings;
use pathway::oidc::{FileConfig, ProviderConfig, Sso};
use tokio::net::TcpListener;

/// Pathway on a real socket whose public URL is its own address, signing in through `provider`.
struct Site {
    app: TestApp,
    base: String,
    provider: Provider,
}

impl Site {
    async fn start(require_sso: bool) -> Self {
        Self::start_with(require_sso, Vec::new()).await
    }

    async fn start_with(require_sso: bool, allowed_domains: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let provider = Provider::start(format!("{base}/auth/oidc/test/callback")).await;
        let settings = Settings {
            public_url: base.clone(),
            ..Settings::default()
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("content");
        let mut app = TestApp::with_settings(&dir, settings).await;
        let config = FileConfig {
            require_sso,
            break_glass_admin: Some("root".into()),
            providers: vec![ProviderConfig {
                id: "test".into(),
                name: "Test IdP".into(),
                issuer: provider.issuer.clone(),
                client_id: CLIENT_ID.into(),
                client_secret: Some(CLIENT_SECRET.into()),
                client_secret_env: None,
                scopes: vec!["email".into(), "profile".into()],
                allowed_domains,
                admin_group: Some("pathway-admins".into()),
                groups_claim: None,
            }],
        };
        app.state = app
            .state
            .clone()
            .with_sso(Sso::from_config(config, &base).unwrap());
        let limits = Limits::default();
        let router = router_with(app.state.clone(), limits);
        tokio::spawn(serve_with_limits(
            listener,
            router,
            std::future::pending(),
            limits,
        ));
        Self { app, base, provider }
    }

    fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    async fn users(&self) -> i64 {
        sqlx::query_scalar("select count(*) from users")
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap()
    }
}

/// One request, not following redirects: (status, Location, body).
async fn step(browser: &reqwest::Client, url: &str) -> (u16, String, String) {
    let response = browser.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

/// Follows the flow from the sign-in button to the provider and back: the callback URL, and
/// then the callback's answer.
async fn to_callback(site: &Site, browser: &reqwest::Client) -> String {
    let (status, to_provider, _) =
        step(browser, &format!("{}/auth/oidc/test?next=/history", site.base)).await;
    assert_eq!(status, 303, "the start redirects to the provider");
    assert!(
        to_provider.starts_with(&format!("{}/authorize?", site.provider.issuer)),
        "{to_provider}"
    );
    for part in [
        "code_challenge=",
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(to_provider.contains(part), "{part} missing from {to_provider}");
    }
    let (status, callback, body) = step(browser, &to_provider).await;
    assert_eq!(status, 303, "the provider answers: {body}");
    assert!(
        callback.starts_with(&format!("{}/auth/oidc/test/callback?", site.base)),
        "{callback}"
    );
    callback
}

async fn signed_in_as(site: &Site, browser: &reqwest::Client) -> Option<String> {
    let (status, _, body) = step(browser, &format!("{}/account", site.base)).await;
    (status == 200).then(|| {
        let start = body.find("id=\"f_display_name\"").unwrap_or(0);
        body[start..].chars().take(200).collect()
    })
}

#[tokio::test]
async fn the_whole_redirect_flow_creates_an_account_then_signs_it_in() {
    let site = Site::start(false).await;
    // The sign-in page offers the provider, and the password form still.
    let browser = site.browser();
    let (status, _, page) = step(&browser, &format!("{}/signin", site.base)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Sign in with Test IdP"), "{page}");
    assert!(page.contains("href=\"/auth/oidc/test\""));
    assert!(page.contains("name=\"password\""));

    let before = site.users().await;
    let callback = to_callback(&site, &browser).await;
    let (status, location, body) = step(&browser, &callback).await;
    assert_eq!((status, location.as_str()), (303, "/history"), "{body}");
    assert_eq!(site.users().await, before + 1);
    let (username, hash): (String, String) =
        sqlx::query_as("select u.username, u.password_hash from users u join user_identities i on i.user_id = u.id where i.provider = 'test' and i.subject = 'sub-1'")
            .fetch_one(&site.app.db.pool)
            .await
            .unwrap();
    assert_eq!(username, "grace");
    assert_eq!(hash, pathway::auth::password::NO_PASSWORD);
    assert!(signed_in_as(&site, &browser).await.is_some());
    // No password signs in to an account made this way.
    let (status, _, _) = site
        .app
        .post_form(
            "/signin",
            &[("username", "grace"), ("password", "!no-password")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A second browser signs in to the same account; nothing new is made.
    let other = site.browser();
    let callback = to_callback(&site, &other).await;
    let (status, location, _) = step(&other, &callback).await;
    assert_eq!((status, location.as_str()), (303, "/history"));
    assert_eq!(site.users().await, before + 1);
    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'sso.%' order by id")
            .fetch_all(&site.app.db.pool)
            .await
            .unwrap();
    assert_eq!(actions, ["sso.sign_up", "sso.sign_in"]);

    // Someone else whose preferred name is taken gets a name of their own.
    site.provider
        .sign_in_as(account("sub-2", "other@example.com", true, "grace"));
    let third = site.browser();
    let callback = to_callback(&site, &third).await;
    assert_eq!(step(&third, &callback).await.0, 303);
    let names: Vec<String> =
        sqlx::query_scalar("select username from users where username like 'grace%' order by id")
            .fetch_all(&site.app.db.pool)
            .await
            .unwrap();
    assert_eq!(names, ["grace", "grace-2"]);
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in() {
    let site = Site::start(false).await;
    let browser = site.browser();
    let start = browser
        .get(format!("{}/auth/oidc/test", site.base))
        .send()
        .await
        .unwrap();
    let before = start
        .cookies()
        .find(|c| c.name() == "pathway_session")
        .map(|c| c.value().to_string());
    let to_provider = start.headers()[header::LOCATION].to_str().unwrap().to_string();
    let (_, callback, _) = step(&browser, &to_provider).await;
    let done = browser.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), 303);
    let after = done
        .cookies()
        .find(|c| c.name() == "pathway_session")
        .map(|c| c.value().to_string());
    assert!(before.is_some() && after.is_some());
    assert_ne!(before, after, "sign-in must rotate the session id");
}

#[tokio::test]
async fn a_bad_state_is_refused() {
    let site = Site::start(false).await;
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    let tampered = callback.replace("state=", "state=x");
    let (status, _, body) = step(&browser, &tampered).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Start again"));
    assert!(signed_in_as(&site, &browser).await.is_none());
    // The pending sign-in was used up by the bad answer: the real one no longer works either.
    assert_eq!(step(&browser, &callback).await.0, 400);
    // A callback in a browser that never started a sign-in.
    let stranger = site.browser();
    assert_eq!(step(&stranger, &callback).await.0, 400);
    assert!(signed_in_as(&site, &stranger).await.is_none());
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    let site = Site::start(false).await;
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    assert_eq!(step(&browser, &callback).await.0, 303);
    // The same answer again: its state is spent.
    assert_eq!(step(&browser, &callback).await.0, 400);

    // The old code under a fresh state: Pathway sends it, the provider refuses it.
    let attacker = site.browser();
    let fresh = to_callback(&site, &attacker).await;
    let old_code = callback.split("code=").nth(1).unwrap().split('&').next().unwrap();
    let fresh_state = fresh.split("state=").nth(1).unwrap();
    let replay = format!(
        "{}/auth/oidc/test/callback?code={old_code}&state={fresh_state}",
        site.base
    );
    let (status, _, body) = step(&attacker, &replay).await;
    assert_eq!(status, 401, "{body}");
    assert!(signed_in_as(&site, &attacker).await.is_none());
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let site = Site::start(false).await;
    site.provider.state.knobs.lock().unwrap().expired = true;
    let before = site.users().await;
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    let (status, _, body) = step(&browser, &callback).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("could not confirm your sign-in"));
    assert!(signed_in_as(&site, &browser).await.is_none());
    assert_eq!(site.users().await, before);
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    let site = Site::start(false).await;
    site.provider.state.knobs.lock().unwrap().audience = Some("another-app".into());
    let before = site.users().await;
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    let (status, _, body) = step(&browser, &callback).await;
    assert_eq!(status, 401, "{body}");
    assert!(signed_in_as(&site, &browser).await.is_none());
    assert_eq!(site.users().await, before);
}

#[tokio::test]
async fn a_verified_email_links_only_with_the_accounts_password() {
    let site = Site::start(false).await;
    site.app.sign_up("ada").await;
    sqlx::query("update users set email = 'Ada@Example.com' where username = 'ada'")
        .execute(&site.app.db.pool)
        .await
        .unwrap();
    site.provider
        .sign_in_as(account("ada-sub", "ada@example.com", true, "ada.l"));
    let before = site.users().await;
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    let (status, location, _) = step(&browser, &callback).await;
    assert_eq!((status, location.as_str()), (303, "/auth/oidc/link"));
    let (status, _, page) = step(&browser, &format!("{}/auth/oidc/link", site.base)).await;
    assert_eq!(status, 200);
    assert!(page.contains("An account with this email exists"), "{page}");
    assert!(
        signed_in_as(&site, &browser).await.is_none(),
        "not signed in before the password"
    );

    let post = |password: &'static str| {
        browser
            .post(format!("{}/auth/oidc/link", site.base))
            .form(&[("password", password)])
            .send()
    };
    let wrong = post("not the password").await.unwrap();
    assert_eq!(wrong.status(), 422);
    assert!(signed_in_as(&site, &browser).await.is_none());
    let right = post(STRONG_PASSWORD).await.unwrap();
    assert_eq!(right.status(), 303);
    assert!(signed_in_as(&site, &browser).await.is_some());
    assert_eq!(site.users().await, before, "linked, not created");
    let owner: String = sqlx::query_scalar("select u.username from users u join user_identities i on i.user_id = u.id where i.subject = 'ada-sub'")
        .fetch_one(&site.app.db.pool)
        .await
        .unwrap();
    assert_eq!(owner, "ada");
    let linked: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'sso.link'")
        .fetch_one(&site.app.db.pool)
        .await
        .unwrap();
    assert_eq!(linked, 1);

    // Next time the provider signs ada straight in.
    let again = site.browser();
    let callback = to_callback(&site, &again).await;
    assert_eq!(step(&again, &callback).await.0, 303);
    assert!(signed_in_as(&site, &again).await.is_some());

    // The account page lists the identity; unlinking works while ada has a password.
    let (status, _, page) = step(&again, &format!("{}/account/identities", site.base)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Test IdP") && page.contains("ada@example.com"),
        "{page}"
    );
    let id: i64 = sqlx::query_scalar("select id from user_identities where subject = 'ada-sub'")
        .fetch_one(&site.app.db.pool)
        .await
        .unwrap();
    let unlink = again
        .post(format!("{}/account/identities/{id}/unlink", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unlink.status(), 303);
    let left: i64 = sqlx::query_scalar("select count(*) from user_identities")
        .fetch_one(&site.app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn an_unverified_email_never_links() {
    let site = Site::start(false).await;
    site.app.sign_up("ada").await;
    sqlx::query("update users set email = 'ada@example.com' where username = 'ada'")
        .execute(&site.app.db.pool)
        .await
        .unwrap();
    site.provider
        .sign_in_as(account("mallory", "ada@example.com", false, "ada"));
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    let (status, location, _) = step(&browser, &callback).await;
    assert_eq!((status, location.as_str()), (303, "/history"));
    let (owner, email): (String, Option<String>) = sqlx::query_as(
        "select u.username, u.email from users u join user_identities i on i.user_id = u.id where i.subject = 'mallory'",
    )
    .fetch_one(&site.app.db.pool)
    .await
    .unwrap();
    assert_eq!((owner.as_str(), email), ("ada-2", None));
}

#[tokio::test]
async fn the_only_way_to_sign_in_cannot_be_unlinked() {
    let site = Site::start(false).await;
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    assert_eq!(step(&browser, &callback).await.0, 303);
    let id: i64 = sqlx::query_scalar("select id from user_identities")
        .fetch_one(&site.app.db.pool)
        .await
        .unwrap();
    let refused = browser
        .post(format!("{}/account/identities/{id}/unlink", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("only way to sign in"));
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_through_the_provider() {
    let site = Site::start(false).await;
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    assert_eq!(step(&browser, &callback).await.0, 303);
    sqlx::query("update users set disabled_at = now() where username = 'grace'")
        .execute(&site.app.db.pool)
        .await
        .unwrap();
    let other = site.browser();
    let callback = to_callback(&site, &other).await;
    let (status, _, body) = step(&other, &callback).await;
    assert_eq!(status, 403, "{body}");
    assert!(signed_in_as(&site, &other).await.is_none());
}

#[tokio::test]
async fn require_sso_turns_passwords_off_but_for_the_break_glass_admin() {
    let site = Site::start(true).await;
    // Made before SSO was required (sign-up is off now): straight into the table.
    let hash = pathway::auth::password::hash(STRONG_PASSWORD.into())
        .await
        .unwrap();
    sqlx::query("insert into users (username, display_name, password_hash, is_admin) values ('root', 'Root', $1, true), ('ada', 'Ada', $1, false)")
        .bind(&hash)
        .execute(&site.app.db.pool)
        .await
        .unwrap();
    let (status, _, _) = site
        .app
        .post_form(
            "/signin",
            &[("username", "ada"), ("password", STRONG_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = site
        .app
        .post_form(
            "/signin",
            &[("username", "root"), ("password", STRONG_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = site.app.get("/signin").await;
    assert!(page.contains("Sign in with Test IdP"));
    assert!(
        page.contains("<details"),
        "the password form is tucked away for the break-glass admin"
    );
    assert!(!page.contains("Create an account"));
    let (status, headers, _) = site.app.get("/signup").await;
    assert_eq!(
        (status, headers[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/dashboard"),
        "no sign-up form"
    );
    let (status, _, _) = site
        .app
        .post_form(
            "/signup",
            &[
                ("username", "newbie"),
                ("display_name", "N"),
                ("password", STRONG_PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(site.app.get("/u/newbie").await.0 == StatusCode::NOT_FOUND);
    let made: i64 = sqlx::query_scalar("select count(*) from users where username = 'newbie'")
        .fetch_one(&site.app.db.pool)
        .await
        .unwrap();
    assert_eq!(made, 0);
    // The provider still signs people in.
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    assert_eq!(step(&browser, &callback).await.0, 303);
}

#[tokio::test]
async fn allowed_domains_keep_other_addresses_out() {
    let site = Site::start_with(false, vec!["example.org".into()]).await;
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    let (status, _, _) = step(&browser, &callback).await;
    assert_eq!(status, 403, "grace@example.com is not in example.org");
    site.provider
        .sign_in_as(account("sub-9", "kim@example.org", true, "kim"));
    let callback = to_callback(&site, &browser).await;
    assert_eq!(step(&browser, &callback).await.0, 303);
}

#[tokio::test]
async fn a_provider_that_is_down_leaves_password_sign_in_working() {
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::with_default_content().await;
    let config = FileConfig {
        require_sso: false,
        break_glass_admin: None,
        providers: vec![ProviderConfig {
            id: "down".into(),
            name: "Down IdP".into(),
            issuer,
            client_id: CLIENT_ID.into(),
            client_secret: None,
            client_secret_env: None,
            scopes: vec![],
            allowed_domains: vec![],
            admin_group: None,
            groups_claim: None,
        }],
    };
    let mut app = app;
    app.state = app
        .state
        .clone()
        .with_sso(Sso::from_config(config, "http://127.0.0.1:3000").unwrap());
    let (status, _, page) = app.get("/signin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Sign in with Down IdP"));
    let (status, _, body) = app.get("/auth/oidc/down").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    app.sign_up("ada").await;
    app.sign_in("ada", STRONG_PASSWORD, None).await;
}

#[tokio::test]
async fn the_admin_group_claim_grants_and_revokes_admin() {
    let site = Site::start(false).await;
    // Someone must stay admin for a revocation to be allowed.
    site.app.sign_up_admin("root").await;
    let mut grace = account("sub-1", "grace@example.com", true, "grace");
    grace.groups = Some(vec!["staff".into(), "pathway-admins".into()]);
    site.provider.sign_in_as(grace.clone());
    let browser = site.browser();
    let callback = to_callback(&site, &browser).await;
    assert_eq!(step(&browser, &callback).await.0, 303);
    let is_admin = || async {
        sqlx::query_scalar::<_, bool>("select is_admin from users where username = 'grace'")
            .fetch_one(&site.app.db.pool)
            .await
            .unwrap()
    };
    assert!(is_admin().await);
    assert_eq!(step(&browser, &format!("{}/admin", site.base)).await.0, 200);

    grace.groups = Some(vec!["staff".into()]);
    site.provider.sign_in_as(grace);
    let again = site.browser();
    let callback = to_callback(&site, &again).await;
    assert_eq!(step(&again, &callback).await.0, 303);
    assert!(!is_admin().await);
    assert_eq!(step(&again, &format!("{}/admin", site.base)).await.0, 403);
}
