//! Findings of the attack probe, each as a regression test: real client addresses over TCP,
//! throttles that cannot be turned against users, limits, timeouts, headers, and no 500s for
//! bad input.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::{LiveServer, STRONG_PASSWORD, TestApp, serde_urlencoded, session_cookie, write_files};
use pathway::app::{Limits, router_with};
use pathway::config::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A sign-in form post as a browser sends it, from `ip` when given.
fn sign_in_request(
    username: &str,
    password: &str,
    ip: Option<[u8; 4]>,
    cookie: Option<&str>,
) -> Request<Body> {
    let mut request = Request::post("/signin")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let mut request = request
        .body(Body::from(serde_urlencoded(&[
            ("username", username),
            ("password", password),
        ])))
        .unwrap();
    if let Some(ip) = ip {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    }
    request
}

/// `pathway_device=<token>` from a response, if it set one.
fn device_cookie(headers: &HeaderMap) -> Option<String> {
    common::set_cookie(headers, "pathway_device")
}

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    (TestApp::with_content(dir.path()).await, dir)
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db.pool).await.unwrap()
}

// ---------- a real server on a real socket ----------

#[tokio::test]
async fn the_per_address_throttle_sees_the_real_client_address_over_tcp() {
    let (app, _dir) = app().await;
    app.sign_up("grace").await;
    let server = LiveServer::start(&app, Limits::default()).await;
    // One client guessing across many accounts, and lying about its address.
    for i in 0..20 {
        let spoof = format!("\r\nX-Forwarded-For: 198.51.100.{i}");
        assert_eq!(
            server
                .sign_in(&format!("user{i}"), "wrong password", &spoof)
                .await,
            422
        );
    }
    let stored: Vec<Option<String>> = sqlx::query_scalar("select distinct ip from sign_in_failures")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![Some("127.0.0.1".to_string())],
        "the socket's address, not the header's"
    );
    assert_eq!(
        server.sign_in("grace", STRONG_PASSWORD, "").await,
        429,
        "the address is throttled"
    );
    server.stop().await;
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let settings = Settings {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Settings::default()
    };
    let app = TestApp::with_settings(dir.path(), settings).await;
    app.sign_up("grace").await;
    let server = LiveServer::start(&app, Limits::default()).await;
    for i in 0..20 {
        let from = "\r\nX-Forwarded-For: 203.0.113.50, 198.51.100.7";
        assert_eq!(server.sign_in(&format!("user{i}"), "wrong", from).await, 422);
    }
    let stored: String = sqlx::query_scalar("select distinct ip from sign_in_failures")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, "198.51.100.7", "the right-most address the proxy saw");
    let blocked = "\r\nX-Forwarded-For: 198.51.100.7";
    assert_eq!(server.sign_in("grace", STRONG_PASSWORD, blocked).await, 429);
    let elsewhere = "\r\nForwarded: for=\"[2001:db8::5]:1234\"";
    assert_eq!(
        server.sign_in("grace", STRONG_PASSWORD, elsewhere).await,
        303,
        "another client behind the same proxy signs in"
    );
    server.stop().await;
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_idle_connections_closed() {
    let (app, _dir) = app().await;
    let limits = Limits {
        header_read: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = LiveServer::start(&app, limits).await;
    let mut slowloris = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slowloris.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    for mut stream in slowloris {
        let mut buffer = Vec::new();
        // Reading ends only when the server closes the connection.
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut buffer))
            .await
            .expect("the server closed the half-sent request");
    }
    // A normal request still works.
    assert_eq!(server.send("GET /healthz HTTP/1.1", "").await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn sigterm_style_shutdown_lets_in_flight_requests_finish() {
    let (app, _dir) = app().await;
    let server = LiveServer::start(&app, Limits::default()).await;
    // Hold the sign-in lock so a sign-in is in flight when shutdown starts.
    let mut holder = app.db.pool.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('sign-in:' || 'slowpoke', 0))")
        .execute(&mut *holder)
        .await
        .unwrap();
    let address = server.address;
    let in_flight = tokio::spawn(async move {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let body = "username=slowpoke&password=whatever";
        let request = format!(
            "POST /signin HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nSec-Fetch-Site: same-origin\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown waits for the request in flight"
    );
    assert!(
        TcpStream::connect(address).await.is_err(),
        "no new connections once shutdown begins"
    );
    holder.rollback().await.unwrap();
    let response = in_flight.await.unwrap();
    assert!(response.starts_with("HTTP/1.1 422"), "{response}");
    stopping.await.unwrap();
}

// ---------- sign-in throttling ----------

#[tokio::test]
async fn parallel_guesses_cannot_slip_past_the_per_account_limit() {
    let (app, _dir) = app().await;
    app.sign_up("ada").await;
    let mut guesses = Vec::new();
    for i in 0..30 {
        let request = sign_in_request("ada", &format!("wrong guess {i}"), Some([203, 0, 113, 9]), None);
        let state = app.state.clone();
        guesses.push(tokio::spawn(async move {
            use tower::ServiceExt;
            pathway::router(state).oneshot(request).await.unwrap().status()
        }));
    }
    let mut checked = 0;
    let mut refused = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            StatusCode::UNPROCESSABLE_ENTITY => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((checked, refused), (5, 25), "only five passwords were checked");
    assert_eq!(count(&app, "select count(*) from sign_in_failures").await, 5);
}

#[tokio::test]
async fn a_lock_out_from_one_address_does_not_block_the_owner_elsewhere() {
    let (app, _dir) = app().await;
    app.sign_up("ada").await;
    let attacker = Some([203, 0, 113, 66]);
    for _ in 0..5 {
        let (status, _, _) = app.request(sign_in_request("ada", "wrong", attacker, None)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _, body) = app
        .request(sign_in_request("ada", STRONG_PASSWORD, attacker, None))
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker's address waits"
    );
    assert!(body.contains("Try again in 15 minutes"), "{body}");
    let (status, headers, _) = app
        .request(sign_in_request(
            "ada",
            STRONG_PASSWORD,
            Some([198, 51, 100, 1]),
            None,
        ))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the owner at home signs in");
    assert!(session_cookie(&headers).is_some());
}

#[tokio::test]
async fn a_device_that_signed_in_before_is_never_locked_out_by_someone_else() {
    let (app, _dir) = app().await;
    app.sign_up("ada").await;
    let home = Some([198, 51, 100, 1]);
    let (status, headers, _) = app
        .request(sign_in_request("ada", STRONG_PASSWORD, home, None))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let device = device_cookie(&headers).expect("a device cookie is issued at sign-in");
    let set_cookie = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("pathway_device="))
        .unwrap()
        .to_lowercase();
    assert!(
        set_cookie.contains("httponly") && set_cookie.contains("samesite=lax"),
        "{set_cookie}"
    );

    // Someone hammers the account from many addresses, and from the owner's own network.
    for i in 0..4u8 {
        for _ in 0..5 {
            app.request(sign_in_request("ada", "wrong", Some([203, 0, 113, i]), None))
                .await;
        }
    }
    for _ in 0..5 {
        app.request(sign_in_request("ada", "wrong", home, None)).await;
    }
    let (status, _, body) = app
        .request(sign_in_request(
            "ada",
            STRONG_PASSWORD,
            Some([192, 0, 2, 99]),
            None,
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "unknown devices wait a growing delay: {body}"
    );
    assert!(
        body.contains("second"),
        "a delay in seconds, not a 15-minute lock: {body}"
    );

    let (status, _, body) = app
        .request(sign_in_request("ada", STRONG_PASSWORD, home, Some(&device)))
        .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the owner's browser gets in: {body}"
    );

    // A device cookie is only good for its own account, and only for five wrong passwords.
    app.sign_up("bob").await;
    for _ in 0..5 {
        app.request(sign_in_request("bob", "wrong", home, None)).await;
    }
    let (status, _, _) = app
        .request(sign_in_request("bob", STRONG_PASSWORD, home, Some(&device)))
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "ada's device is no pass for bob's account"
    );
    for _ in 0..5 {
        let (status, _, _) = app
            .request(sign_in_request(
                "ada",
                "wrong",
                Some([192, 0, 2, 7]),
                Some(&device),
            ))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _, _) = app
        .request(sign_in_request(
            "ada",
            STRONG_PASSWORD,
            Some([192, 0, 2, 7]),
            Some(&device),
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a stolen device cookie gets five tries"
    );
}

#[tokio::test]
async fn sign_ups_are_throttled_per_address() {
    let (app, _dir) = app().await;
    let sign_up = |i: usize| {
        let username = format!("spam{i}");
        let mut request = Request::post("/signup")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(serde_urlencoded(&[
                ("username", &username),
                ("display_name", "Spam"),
                ("password", STRONG_PASSWORD),
            ])))
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 5], 1))));
        request
    };
    for i in 0..10 {
        let (status, _, body) = app.request(sign_up(i)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    }
    let (status, _, body) = app.request(sign_up(10)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("Too many accounts were created from your network"),
        "{body}"
    );
    assert!(
        body.contains("value=\"spam10\""),
        "the form keeps what was typed: {body}"
    );
    assert_eq!(count(&app, "select count(*) from users").await, 10);
}

#[tokio::test]
async fn reset_links_are_throttled_per_address() {
    let (app, _dir) = app().await;
    let open = |ip: [u8; 4]| {
        let mut request = Request::get("/reset/0123456789abcdef")
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 1))));
        request
    };
    for _ in 0..20 {
        assert_eq!(app.request(open([203, 0, 113, 5])).await.0, StatusCode::NOT_FOUND);
    }
    let (status, _, body) = app.request(open([203, 0, 113, 5])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("too many attempts"), "{body}");
    assert_eq!(
        app.request(open([198, 51, 100, 5])).await.0,
        StatusCode::NOT_FOUND
    );
}

// ---------- limits and bad input ----------

#[tokio::test]
async fn evidence_links_and_comments_have_limits() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&cookie)).await;
    for i in 0..20 {
        let url = format!("https://example.org/{i}");
        let (status, _, body) = app
            .post_form(
                "/skills/http-methods/evidence",
                &[("url", &url), ("title", "")],
                Some(&cookie),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    }
    let (status, _, body) = app
        .post_form(
            "/skills/http-methods/evidence",
            &[("url", "https://example.org/21"), ("title", "one more")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("at most 20 links"), "{body}");
    assert!(body.contains("one more"), "the form keeps the input");

    let path = "/threads/ada/http-methods/comments";
    for i in 0..10 {
        let text = format!("comment {i}");
        let (status, _, _) = app.post_form(path, &[("body", &text)], Some(&cookie)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (status, _, body) = app
        .post_form(path, &[("body", "one too many")], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("10 a minute"), "{body}");
}

#[tokio::test]
async fn control_characters_are_refused_with_a_message_never_a_500() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let (status, _, body) = app
        .post_form(
            "/skills/http-methods/note",
            &[("body", "before\0after")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("invisible control character"), "{body}");
    let (status, _, _) = app
        .post_form("/signin", &[("username", "ada\0"), ("password", "x")], None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Path and query parameters reach the database too.
    for path in [
        "/u/ada%00",
        "/mentees/ada%00/web/http",
        "/search?q=%00",
        "/admin?q=%00",
        "/admin/audit?action=%00",
    ] {
        let (status, _, body) = app.get_as(path, &cookie).await;
        assert!(!status.is_server_error(), "{path}: {status} {body}");
    }
    // Tabs and line breaks are ordinary text.
    let (status, _, _) = app
        .post_form(
            "/skills/http-methods/note",
            &[("body", "a\tb\r\nc")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// Every declared route, with bad values in its path, query and form, as an anonymous visitor,
/// a learner and an admin: client errors or success, never a server error.
#[tokio::test]
async fn no_route_answers_bad_input_with_a_server_error() {
    let (app, _dir) = app().await;
    let learner = app.sign_up("ada").await;
    let admin = app.sign_up_admin("root").await;
    let long = "x".repeat(2_000);
    let values = [
        "%00",
        "..%2F..%2Fetc",
        "-1",
        "99999999999999999999",
        &long,
        "%F0%9F%92%A9",
        "web",
    ];
    let fields = [
        "body",
        "note",
        "title",
        "url",
        "username",
        "display_name",
        "password",
        "current_password",
        "new_password",
        "confirm",
        "q",
        "scope",
        "roadmap",
        "state",
        "version",
        "reference",
        "email",
        "days",
        "action",
        "answer",
        "message",
        "verdict",
        "reason",
        "key",
        "ticked",
        "shared",
        "filter",
    ];
    let mut failures = Vec::new();
    for (method, route) in common::declared_routes() {
        if route == "/signout" || route.ends_with("/delete") && route.starts_with("/account") {
            continue;
        }
        for value in values {
            let path: String = route
                .split('/')
                .map(|segment| if segment.starts_with('{') { value } else { segment })
                .collect::<Vec<_>>()
                .join("/");
            let form: String = fields
                .iter()
                .map(|f| format!("{f}={value}"))
                .collect::<Vec<_>>()
                .join("&");
            for cookie in [None, Some(&learner), Some(&admin)] {
                let mut request = if method == "GET" {
                    Request::get(format!("{path}?{form}"))
                } else {
                    Request::post(&path)
                        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .header("sec-fetch-site", "same-origin")
                };
                if let Some(cookie) = cookie {
                    request = request.header(header::COOKIE, cookie.as_str());
                }
                let body = if method == "GET" {
                    Body::empty()
                } else {
                    Body::from(form.clone())
                };
                let (status, _, _) = app.request(request.body(body).unwrap()).await;
                if status.is_server_error() {
                    failures.push(format!("{method} {path} ({value}): {status}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "server errors: {failures:#?}");
}

#[tokio::test]
async fn foreign_keys_are_not_found_not_500() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&cookie)).await;
    let (status, _, body) = app
        .post_form(
            "/mentors/invite",
            &[
                ("username", "ada"),
                ("scope", "chosen"),
                ("roadmap", "no-such-roadmap"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("That roadmap does not exist"), "{body}");
    let (status, _, _) = app
        .post_form(
            "/mentors/link",
            &[("scope", "chosen"), ("roadmap", "nope")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = app
        .post_form(
            "/threads/ada/no-such-skill/comments",
            &[("body", "hello")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn csv_exports_cannot_run_formulas_in_a_spreadsheet() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&cookie)).await;
    app.post_form(
        "/skills/http-methods/note",
        &[("body", "=HYPERLINK(\"https://evil.example\",\"click\")")],
        Some(&cookie),
    )
    .await;
    let (status, _, csv) = app.get_as("/account/export.csv", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"),
        "{csv}"
    );
    assert_eq!(
        pathway::routes::transfer::spreadsheet_safe("@SUM(A1)"),
        "'@SUM(A1)"
    );
    assert_eq!(pathway::routes::transfer::spreadsheet_safe("-5"), "'-5");
    assert_eq!(pathway::routes::transfer::spreadsheet_safe("plain"), "plain");
}

/// A multipart import request carrying `file`.
fn import_request(cookie: &str, file: &[u8]) -> Request<Body> {
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.json\"\r\nContent-Type: application/json\r\n\r\n",
    );
    body.extend_from_slice(file);
    body.extend_from_slice(b"\r\n--XBOUNDARY--\r\n");
    Request::post("/account/import")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XBOUNDARY")
        .header("sec-fetch-site", "same-origin")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn imports_have_a_size_limit_and_a_cap_on_items_kept_aside() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let (status, _, body) = app
        .request(import_request(&cookie, &vec![b' '; 6 * 1024 * 1024]))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("5 MiB"), "{body}");

    let skills: Vec<String> = (0..1_001)
        .map(|i| format!(r#"{{"skill":"unknown-{i}","state":"done"}}"#))
        .collect();
    let file = format!(
        r#"{{"format":"pathway-progress","version":1,"exported_at":"2026-01-01T00:00:00Z","username":"ada","roadmaps":[],"skills":[{}],"events":[],"notes":[],"evidence":[]}}"#,
        skills.join(",")
    );
    let (status, _, body) = app.request(import_request(&cookie, file.as_bytes())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("at most 1000"), "{body}");
    assert_eq!(
        count(&app, "select count(*) from import_unmatched").await,
        0,
        "nothing kept"
    );
}

// ---------- headers, error pages and faults ----------

#[tokio::test]
async fn security_headers_on_pages_errors_and_static_files() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let stylesheet = format!("/static/style.css?v={}", app.state.assets.version);
    for (path, signed_in) in [
        ("/", false),
        ("/nowhere", false),
        (stylesheet.as_str(), false),
        ("/dashboard", true),
        ("/nowhere", true),
    ] {
        let (status, headers, _) = if signed_in {
            app.get_as(path, &cookie).await
        } else {
            app.get(path).await
        };
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("img-src 'self' data:;"),
            "{path}: no remote images: {csp}"
        );
        assert!(
            headers["permissions-policy"]
                .to_str()
                .unwrap()
                .contains("camera=()"),
            "{path}"
        );
        assert!(headers.contains_key("x-request-id"), "{path}");
        assert!(
            !headers.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "plain HTTP: no HSTS"
        );
        if signed_in {
            assert_eq!(
                headers[header::CACHE_CONTROL],
                "private, no-store",
                "{path} {status}"
            );
        }
    }
    let (_, headers, _) = app.get(&stylesheet).await;
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );

    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let https = Settings {
        public_url: "https://pathway.example".into(),
        ..Settings::default()
    };
    let secure = TestApp::with_settings(dir.path(), https).await;
    for path in ["/", "/nowhere", stylesheet.as_str()] {
        let (_, headers, _) = secure.get(path).await;
        assert!(
            headers[header::STRICT_TRANSPORT_SECURITY]
                .to_str()
                .unwrap()
                .contains("max-age=31536000"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_signed_in_user_gets_the_designed_503_page_when_the_database_is_down() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    app.state.db.close().await;
    let (status, headers, body) = app.get_as("/dashboard", &cookie).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(body.contains("cannot reach its database"), "{body}");
    assert!(!body.to_lowercase().contains("pool"), "no internals: {body}");
    let (status, _, _) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_handler_that_takes_too_long_answers_503() {
    let (app, _dir) = app().await;
    let limits = Limits {
        handler: Duration::from_millis(300),
        ..Limits::default()
    };
    let mut holder = app.db.pool.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('sign-in:' || 'stuck', 0))")
        .execute(&mut *holder)
        .await
        .unwrap();
    use tower::ServiceExt;
    let response = router_with(app.state.clone(), limits)
        .oneshot(sign_in_request("stuck", "whatever", None, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    holder.rollback().await.unwrap();
}

#[tokio::test]
async fn a_statement_past_the_timeout_is_cancelled_and_reported_as_unavailable() {
    let db = common::TestDb::new().await;
    let options = pathway::db::with_statement_timeout(db.options.clone(), 1);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = sqlx::query("select pg_sleep(5)")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4));
    let error = pathway::error::AppError::from(error);
    assert!(
        matches!(error, pathway::error::AppError::Unavailable(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn readyz_says_whether_content_is_loaded() {
    let (app, _dir) = app().await;
    let (status, _, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with("ready"), "{body}");
}

#[test]
fn secret_links_never_reach_the_log() {
    assert_eq!(pathway::app::loggable_path("/reset/abc123"), "/reset/…");
    assert_eq!(
        pathway::app::loggable_path("/mentoring/invite/abc"),
        "/mentoring/invite/…"
    );
    assert_eq!(pathway::app::loggable_path("/roadmaps/web"), "/roadmaps/web");
}

#[tokio::test]
async fn metrics_count_requests_by_declared_route_on_their_own_router() {
    let (app, _dir) = app().await;
    app.get("/healthz").await;
    app.get("/roadmaps/web").await;
    app.get("/reset/secret-token-abc").await;
    let (status, _, _) = app.get("/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not on the public router");
    use tower::ServiceExt;
    let response = pathway::metrics::router(app.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains(r#"pathway_http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/roadmaps/{roadmap}""#), "{text}");
    assert!(text.contains(r#"route="/reset/{token}""#), "{text}");
    assert!(
        !text.contains("secret-token-abc"),
        "raw paths never appear: {text}"
    );
    assert!(
        text.contains("pathway_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("pathway_db_pool_connections"), "{text}");
    assert!(text.contains("pathway_content_info{version="), "{text}");
}

#[tokio::test]
async fn an_oversized_form_gets_413_naming_the_limit() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    let huge = "x".repeat(600 * 1024);
    let (status, _, body) = app
        .post_form("/skills/http-methods/note", &[("body", &huge)], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("512 KB"), "{body}");
}

#[tokio::test]
async fn requests_past_the_concurrency_limit_wait_for_a_slot_and_stuck_ones_time_out() {
    let (app, _dir) = app().await;
    let limits = Limits {
        concurrent_requests: 1,
        handler: Duration::from_millis(1500),
        ..Limits::default()
    };
    let router = router_with(app.state.clone(), limits);
    let mut holder = app.db.pool.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('sign-in:' || 'stuck', 0))")
        .execute(&mut *holder)
        .await
        .unwrap();
    use tower::ServiceExt;
    let busy = tokio::spawn(router.clone().oneshot(sign_in_request("stuck", "x", None, None)));
    // Wait until that request holds its slot, blocked on the lock.
    while sqlx::query_scalar::<_, i64>(
        "select count(*) from pg_locks where locktype = 'advisory' and not granted",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
        == 0
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    let waiting = router
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    // The only slot was taken: /healthz waited until the stuck request was cut off
    // by the handler timeout, then got the slot.
    assert!(
        busy.is_finished(),
        "the slot came free only when the stuck request ended"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(waiting.status(), StatusCode::OK);
    assert_eq!(
        busy.await.unwrap().unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    holder.rollback().await.unwrap();
}
