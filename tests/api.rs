//! The JSON API: personal access tokens (create, shown once, list, revoke, expiry), scopes, cookie refusal,
//! other people's data, mentor reach, reviews, cursors, rate limits, the error shape and the OpenAPI document.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::{TestApp, write_files};
use serde_json::{Value, json};

fn content() -> Vec<(&'static str, &'static str)> {
    let mut files = common::sample_content();
    files.push((
        "ops/roadmap.md",
        "+++\ntitle = \"Ops\"\nsummary = \"Running services.\"\n+++\n",
    ));
    files.push((
        "ops/01-run.md",
        "+++\nid = \"run\"\ntitle = \"Run\"\n+++\n## Deploys {#deploys}\nx\n",
    ));
    files
}

const ALL_SCOPES: [&str; 4] = ["read:progress", "write:progress", "mentor:read", "mentor:review"];

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &content());
    (TestApp::with_content(dir.path()).await, dir)
}

/// Creates a token on the account page; returns the page and the token shown on it.
async fn create_token_page(
    app: &TestApp,
    cookie: &str,
    name: &str,
    scopes: &[&str],
    expiry: &str,
) -> (StatusCode, String, Option<String>) {
    let mut form = vec![("name", name), ("expiry", expiry)];
    form.extend(scopes.iter().map(|s| ("scope", *s)));
    let (status, _, page) = app.post_form("/account/tokens", &form, Some(cookie)).await;
    let token = page
        .split("value=\"pw_")
        .nth(1)
        .map(|rest| format!("pw_{}", rest.split('"').next().unwrap()));
    (status, page, token)
}

async fn create_token(app: &TestApp, cookie: &str, scopes: &[&str]) -> String {
    let (status, page, token) = create_token_page(app, cookie, "script", scopes, "30").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    token.expect("the new token is shown")
}

/// One API call: (status, headers, JSON body).
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let (status, headers, text) = app.request(request).await;
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("not JSON ({status}) from {method} {path}: {text}"));
    (status, headers, value)
}

async fn get(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let (status, _, body) = call(app, "GET", path, Some(token), None).await;
    (status, body)
}

fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// Links `mentor` to `mentee` on every roadmap, as the pages do.
async fn link(app: &TestApp, mentee_cookie: &str, mentor: &str, mentor_cookie: &str) {
    app.post_form(
        "/mentors/invite",
        &[("username", mentor), ("scope", "all")],
        Some(mentee_cookie),
    )
    .await;
    let id: i64 = sqlx::query_scalar("select max(id) from mentorships")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (status, _, _) = app
        .post_form(&format!("/mentoring/{id}/accept"), &[], Some(mentor_cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_token_is_shown_once_stored_hashed_listed_and_revoked() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let eve = app.sign_up("eve").await;
    let (status, page, token) =
        create_token_page(&app, &ada, "nightly report", &["read:progress"], "30").await;
    assert_eq!(status, StatusCode::OK);
    let token = token.expect("shown once");
    assert!(token.starts_with("pw_") && token.len() == 67, "{token}");
    assert!(page.contains("shown only this once"));
    // Only the hash is stored; the list never shows the token again.
    let (stored, hash): (String, String) = sqlx::query_as("select prefix, token_hash from api_tokens")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(token.starts_with(&stored) && hash != token && !hash.contains(&token[3..]));
    let (_, _, list) = app.get_as("/account/tokens", &ada).await;
    assert!(list.contains("nightly report") && list.contains("read:progress") && list.contains("Revoke"));
    assert!(!list.contains(&token), "the token is never shown again");
    // The account page links to the tokens.
    let (_, _, account) = app.get_as("/account", &ada).await;
    assert!(account.contains("/account/tokens"));

    // It works, and its use is recorded (at most once a minute).
    let (status, body) = get(&app, "/api/v1/progress", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let used: Option<time::OffsetDateTime> = sqlx::query_scalar("select last_used_at from api_tokens")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(used.is_some());

    // Bad forms are refused with the reason.
    let (status, page, token_shown) = create_token_page(&app, &ada, "", &["read:progress"], "30").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Give the token a name") && token_shown.is_none());
    let (status, page, _) = create_token_page(&app, &ada, "x", &[], "30").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("at least one scope"));
    let (status, _, _) = create_token_page(&app, &ada, "x", &["admin:everything"], "30").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown scopes are dropped, leaving none"
    );
    let (status, _, _) = create_token_page(&app, &ada, "x", &["read:progress"], "forever").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // At most 50 working tokens per account.
    sqlx::query(
        "insert into api_tokens (user_id, name, prefix, token_hash, scopes)
         select user_id, 'bulk', 'pw_0', 'h' || n, '{read:progress}' from api_tokens, generate_series(1, 49) n",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (status, page, shown) = create_token_page(&app, &ada, "one more", &["read:progress"], "30").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("revoke one first") && shown.is_none());
    sqlx::query("delete from api_tokens where name = 'bulk'")
        .execute(&app.db.pool)
        .await
        .unwrap();

    // Someone else cannot revoke it; its owner can, and it stops working at once.
    let id: i64 = sqlx::query_scalar("select id from api_tokens")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (status, _, _) = app
        .post_form(&format!("/account/tokens/{id}/revoke"), &[], Some(&eve))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, _) = app
        .post_form(&format!("/account/tokens/{id}/revoke"), &[], Some(&ada))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/account/tokens?done=revoked");
    let (status, body) = get(&app, "/api/v1/progress", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "invalid_token");
    let (_, _, list) = app.get_as("/account/tokens?done=revoked", &ada).await;
    assert!(list.contains("Revoked") && list.contains("no longer works"));
    // Signed out, the tokens page asks to sign in.
    let (status, _, _) = app.get("/account/tokens").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn expired_disabled_and_deleted_tokens_stop_working() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let (_, _, token) = create_token_page(&app, &ada, "week", &["read:progress"], "7").await;
    let token = token.unwrap();
    let days: f64 =
        sqlx::query_scalar("select extract(epoch from expires_at - now())::float8 / 86400 from api_tokens")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!((6.9..=7.0).contains(&days), "{days}");
    let never = create_token(&app, &ada, &["read:progress"]).await;
    let (_, _, forever) = create_token_page(&app, &ada, "forever", &["read:progress"], "none").await;
    let forever = forever.unwrap();
    assert_eq!(get(&app, "/api/v1/progress", &forever).await.0, StatusCode::OK);

    sqlx::query("update api_tokens set expires_at = now() - interval '1 second' where name = 'week'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, body) = get(&app, "/api/v1/progress", &token).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_token"));
    let (_, _, list) = app.get_as("/account/tokens", &ada).await;
    assert!(list.contains("Expired"));
    assert_eq!(get(&app, "/api/v1/progress", &never).await.0, StatusCode::OK);

    // An admin disabling the account stops its tokens at once.
    sqlx::query("update users set disabled_at = now() where username = 'ada'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        get(&app, "/api/v1/progress", &never).await.0,
        StatusCode::UNAUTHORIZED
    );
    sqlx::query("update users set disabled_at = null where username = 'ada'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(get(&app, "/api/v1/progress", &never).await.0, StatusCode::OK);

    // Deleting the account deletes its tokens.
    let (status, _, _) = app
        .post_form(
            "/account/delete",
            &[("password", common::STRONG_PASSWORD)],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let left: i64 = sqlx::query_scalar("select count(*) from api_tokens")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        get(&app, "/api/v1/progress", &never).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn cookies_are_not_accepted_and_errors_are_json() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    // A session cookie alone is not a credential here.
    let (status, headers, body) = app.get_as("/api/v1/progress", &ada).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code(&body), "unauthorized");
    assert!(body["error"]["message"].is_string());
    // A cookie-authenticated write without a token changes nothing, whatever the Origin.
    let request = Request::put("/api/v1/progress/http-methods")
        .header(header::COOKIE, &ada)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"state":"done"}"#))
        .unwrap();
    let (status, _, _) = app.request(request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Malformed credentials.
    for value in ["Bearer nope", "Basic YWRhOnB3", "Bearer pw_0000"] {
        let request = Request::get("/api/v1/progress")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = app.request(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{value}");
        assert!(body.contains("\"invalid_token\""), "{body}");
    }

    let token = create_token(&app, &ada, &ALL_SCOPES).await;
    // Unknown paths, methods, ids and bodies: JSON with stable codes.
    let cases: [(&str, &str, Option<Value>, StatusCode, &str); 7] = [
        ("GET", "/api/v1/nothing", None, StatusCode::NOT_FOUND, "not_found"),
        (
            "DELETE",
            "/api/v1/progress",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "GET",
            "/api/v1/progress/no-such-skill",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/api/v1/reviews/abc/verify",
            Some(json!({})),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "PUT",
            "/api/v1/progress/http-methods",
            Some(json!({"state": "finished"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "PUT",
            "/api/v1/progress/http-methods",
            Some(json!({"state": "done", "extra": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "GET",
            "/api/v1/progress?cursor=%%%",
            None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
    ];
    for (method, path, body, want, want_code) in cases {
        let (status, _, body) = call(&app, method, path, Some(&token), body).await;
        assert_eq!(
            (status, code(&body)),
            (want, want_code),
            "{method} {path}: {body}"
        );
    }
    let request = Request::put("/api/v1/progress/http-methods")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (status, _, body) = app.request(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"bad_request\""), "{body}");
    let (status, body) = get(&app, "/api/v1/progress?cursor=bm90LWEtbnVtYmVy&limit=500", &token).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
    let (status, body) = get(&app, "/api/v1/mentees?cursor=bm90LWEtbnVtYmVy", &token).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_cursor"));
}

#[tokio::test]
async fn public_content_pages_by_cursor() {
    let (app, _dir) = app().await;
    let (status, _, body) = call(&app, "GET", "/api/v1/roadmaps?limit=1", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let first = body["items"][0]["id"].as_str().unwrap().to_string();
    let cursor = body["next_cursor"].as_str().expect("a second page").to_string();
    let (_, _, next) = call(
        &app,
        "GET",
        &format!("/api/v1/roadmaps?limit=1&cursor={cursor}"),
        None,
        None,
    )
    .await;
    let second = next["items"][0]["id"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert!(next["next_cursor"].is_null(), "two roadmaps: {next}");
    let ids: BTreeSet<String> = [first, second].into();
    assert_eq!(ids, ["ops".to_string(), "web".to_string()].into());

    let (status, _, web) = call(&app, "GET", "/api/v1/roadmaps/web", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(web["stages"][0]["id"], "http");
    assert_eq!(web["stages"][0]["skills"][1]["id"], "status-codes");
    assert_eq!(web["stages"][0]["skills"][1]["optional"], true);
    let (status, _, skill) = call(&app, "GET", "/api/v1/skills/dns-records", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (skill["roadmap_id"].as_str(), skill["stage_id"].as_str()),
        (Some("web"), Some("dns"))
    );
    let (status, _, body) = call(&app, "GET", "/api/v1/roadmaps/nope", None, None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn progress_is_read_and_written_through_the_pages_code_path() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let token = create_token(&app, &ada, &["read:progress", "write:progress"]).await;

    let (status, one) = get(&app, "/api/v1/progress/http-methods", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (one["state"].as_str(), one["version"].as_i64()),
        (Some("not_started"), Some(0))
    );

    let (status, _, body) = call(
        &app,
        "PUT",
        "/api/v1/progress/http-methods",
        Some(&token),
        Some(json!({"state": "done", "version": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], true);
    assert_eq!(body["progress"]["state"], "done");
    let version = body["progress"]["version"].as_i64().unwrap();
    // As a tick on the page: the roadmap is started, the event logged, the tally counted.
    let enrolled: i64 = sqlx::query_scalar("select count(*) from enrollments where roadmap_id = 'web'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(enrolled, 1);
    let events: Vec<(String, String)> =
        sqlx::query_as("select kind, to_state from progress_events where skill_id = 'http-methods'")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(events, vec![("set".to_string(), "done".to_string())]);
    let (_, _, stage) = app.get_as("/roadmaps/web/http", &ada).await;
    assert!(stage.contains("1 of 1"), "the stage page counts it: {stage}");

    // The same state again changes nothing; an old version is a conflict.
    let (_, _, again) = call(
        &app,
        "PUT",
        "/api/v1/progress/http-methods",
        Some(&token),
        Some(json!({"state": "done"})),
    )
    .await;
    assert_eq!(again["changed"], false);
    let (status, _, stale) = call(
        &app,
        "PUT",
        "/api/v1/progress/http-methods",
        Some(&token),
        Some(json!({"state": "skipped", "version": version - 1})),
    )
    .await;
    assert_eq!((status, code(&stale)), (StatusCode::CONFLICT, "version_conflict"));

    // Pages of one, by cursor, until the end.
    for skill in ["dns-records", "status-codes"] {
        let (status, _, _) = call(
            &app,
            "PUT",
            &format!("/api/v1/progress/{skill}"),
            Some(&token),
            Some(json!({"state": "in_progress"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/progress?limit=1".to_string();
    loop {
        let (status, page) = get(&app, &path, &token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page["items"].as_array().unwrap().len() <= 1);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["skill_id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/progress?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["dns-records", "http-methods", "status-codes"]);
}

#[tokio::test]
async fn each_scope_allows_its_routes_and_refuses_the_others() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let max = app.sign_up("max").await;
    link(&app, &ada, "max", &max).await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&ada),
    )
    .await;
    app.post_form(
        "/skills/http-methods/review",
        &[("message", "please look")],
        Some(&ada),
    )
    .await;
    let review: i64 = sqlx::query_scalar("select id from review_requests")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("insert into teams (slug, name) values ('alpha', 'Alpha')")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("insert into team_members (team_id, user_id, role) select t.id, u.id, 'lead' from teams t, users u where u.username = 'max'")
        .execute(&app.db.pool)
        .await
        .unwrap();

    // (scope, method, path, body) for every route that needs a token.
    let verdict = format!("/api/v1/reviews/{review}/verify");
    let changes = format!("/api/v1/reviews/{review}/changes");
    let routes: Vec<(&str, &str, String, Option<Value>)> = vec![
        ("read:progress", "GET", "/api/v1/progress".into(), None),
        (
            "read:progress",
            "GET",
            "/api/v1/progress/dns-records".into(),
            None,
        ),
        ("read:progress", "GET", "/api/v1/teams".into(), None),
        (
            "write:progress",
            "PUT",
            "/api/v1/progress/dns-records".into(),
            Some(json!({"state": "in_progress"})),
        ),
        ("mentor:read", "GET", "/api/v1/mentees".into(), None),
        ("mentor:read", "GET", "/api/v1/mentees/ada/progress".into(), None),
        ("mentor:read", "GET", "/api/v1/reviews".into(), None),
        ("mentor:read", "GET", "/api/v1/teams/alpha/progress".into(), None),
        // A message-less request for changes is refused after the scope check (422); it shows the scope passed.
        ("mentor:review", "POST", changes.clone(), Some(json!({}))),
    ];
    for scope in ALL_SCOPES {
        let token = create_token(&app, &max, &[scope]).await;
        for (needs, method, path, body) in &routes {
            let (status, headers, reply) = call(&app, method, path, Some(&token), body.clone()).await;
            if needs == &scope {
                assert!(
                    status.is_success() || status == StatusCode::UNPROCESSABLE_ENTITY,
                    "{scope} {method} {path}: {status} {reply}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{scope} {method} {path}: {reply}");
                assert_eq!(code(&reply), "insufficient_scope");
                assert!(
                    headers[header::WWW_AUTHENTICATE]
                        .to_str()
                        .unwrap()
                        .contains(needs)
                );
            }
        }
    }
    // Public routes take any token, or none.
    let token = create_token(&app, &max, &["mentor:review"]).await;
    for path in [
        "/api/v1/roadmaps",
        "/api/v1/roadmaps/web",
        "/api/v1/skills/deploys",
        "/api/v1/openapi.json",
    ] {
        assert_eq!(get(&app, path, &token).await.0, StatusCode::OK, "{path}");
    }
    // The verdict itself, with its scope.
    let (status, _, body) = call(
        &app,
        "POST",
        &verdict,
        Some(&token),
        Some(json!({"message": "nice"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn mentors_reach_only_their_mentees_and_answer_reviews() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let max = app.sign_up("max").await;
    let eve = app.sign_up("eve").await;
    let omar = app.sign_up("omar").await;
    link(&app, &ada, "max", &max).await;
    link(&app, &eve, "omar", &omar).await;
    for skill in ["http-methods", "dns-records"] {
        app.post_form(
            &format!("/skills/{skill}/state"),
            &[("state", "done"), ("version", "0")],
            Some(&ada),
        )
        .await;
        app.post_form(
            &format!("/skills/{skill}/review"),
            &[("message", "check me")],
            Some(&ada),
        )
        .await;
    }
    let max_token = create_token(&app, &max, &["mentor:read", "mentor:review"]).await;
    let omar_token = create_token(&app, &omar, &["mentor:read", "mentor:review"]).await;
    let ada_token = create_token(&app, &ada, &ALL_SCOPES).await;

    let (_, mentees) = get(&app, "/api/v1/mentees", &max_token).await;
    assert_eq!(
        mentees["items"],
        json!([{"username": "ada", "display_name": "ada name"}])
    );
    let (status, progress) = get(&app, "/api/v1/mentees/ada/progress", &max_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(progress["items"].as_array().unwrap().len(), 2, "{progress}");
    // Another mentor's mentee, oneself, and nobody at all: not found, alike.
    for (token, path) in [
        (&omar_token, "/api/v1/mentees/ada/progress"),
        (&max_token, "/api/v1/mentees/eve/progress"),
        (&max_token, "/api/v1/mentees/max/progress"),
        (&max_token, "/api/v1/mentees/nobody/progress"),
        (&ada_token, "/api/v1/mentees/max/progress"),
    ] {
        let (status, body) = get(&app, path, token).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let (_, omars) = get(&app, "/api/v1/reviews", &omar_token).await;
    assert_eq!(omars["total"], 0);

    // The queue, a page at a time.
    let (_, first) = get(&app, "/api/v1/reviews?limit=1", &max_token).await;
    assert_eq!(first["total"], 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = get(
        &app,
        &format!("/api/v1/reviews?limit=1&cursor={cursor}"),
        &max_token,
    )
    .await;
    assert!(second["next_cursor"].is_null());
    let ids: Vec<i64> = [&first, &second]
        .iter()
        .map(|p| p["items"][0]["id"].as_i64().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(first["items"][0]["mentee"]["username"], "ada");

    // Someone else's mentor cannot answer; the mentor verifies one and asks changes on the other.
    let (status, _, body) = call(
        &app,
        "POST",
        &format!("/api/v1/reviews/{}/verify", ids[0]),
        Some(&omar_token),
        Some(json!({})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _, body) = call(
        &app,
        "POST",
        &format!("/api/v1/reviews/{}/verify", ids[0]),
        Some(&max_token),
        Some(json!({"message": "good"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "verified");
    let (status, _, body) = call(
        &app,
        "POST",
        &format!("/api/v1/reviews/{}/changes", ids[0]),
        Some(&max_token),
        Some(json!({"message": "again"})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
    let (status, _, body) = call(
        &app,
        "POST",
        &format!("/api/v1/reviews/{}/changes", ids[1]),
        Some(&max_token),
        Some(json!({"message": " "})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );
    let (status, _, body) = call(
        &app,
        "POST",
        &format!("/api/v1/reviews/{}/changes", ids[1]),
        Some(&max_token),
        Some(json!({"message": "add examples"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "changes_requested");
    // As on the pages: the learner is told, and the skill is back in progress.
    let told: i64 = sqlx::query_scalar("select count(*) from notifications n join users u on u.id = n.recipient_id where u.username = 'ada' and n.kind = 'review_answered'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(told, 2);
    let (_, mine) = get(&app, "/api/v1/progress", &ada_token).await;
    let states: Vec<(String, bool)> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["state"].as_str().unwrap().to_string(),
                i["verified"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        states.contains(&("done".to_string(), true)) && states.contains(&("in_progress".to_string(), false)),
        "{states:?}"
    );
    // A learner's own token reaches no review of theirs.
    let (status, _, _) = call(
        &app,
        "POST",
        &format!("/api/v1/reviews/{}/verify", ids[1]),
        Some(&ada_token),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn teams_are_listed_and_their_progress_shown_to_leads_and_mentors() {
    let (app, _dir) = app().await;
    let lena = app.sign_up("lena").await;
    let mia = app.sign_up("mia").await;
    let bob = app.sign_up("bob").await;
    app.post_form(
        "/skills/deploys/state",
        &[("state", "done"), ("version", "0")],
        Some(&mia),
    )
    .await;
    sqlx::query("insert into teams (slug, name) values ('alpha', 'Alpha')")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("insert into team_roadmaps (team_id, roadmap_id) select id, 'ops' from teams")
        .execute(&app.db.pool)
        .await
        .unwrap();
    for (user, role) in [("lena", "lead"), ("mia", "learner")] {
        sqlx::query("insert into team_members (team_id, user_id, role) select t.id, u.id, $2 from teams t, users u where u.username = $1")
            .bind(user)
            .bind(role)
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    let lead = create_token(&app, &lena, &["read:progress", "mentor:read"]).await;
    let learner = create_token(&app, &mia, &["read:progress", "mentor:read"]).await;
    let outsider = create_token(&app, &bob, &["read:progress", "mentor:read"]).await;

    let (_, teams) = get(&app, "/api/v1/teams", &learner).await;
    assert_eq!(teams["items"][0]["slug"], "alpha");
    assert_eq!(teams["items"][0]["role"], "learner");
    let (_, none) = get(&app, "/api/v1/teams", &outsider).await;
    assert_eq!(none["items"], json!([]));

    let (status, table) = get(&app, "/api/v1/teams/alpha/progress", &lead).await;
    assert_eq!(status, StatusCode::OK, "{table}");
    assert_eq!(table["roadmaps"], json!(["ops"]));
    let row = &table["items"][0];
    assert_eq!(
        (
            row["username"].as_str(),
            row["roadmap_id"].as_str(),
            row["done"].as_i64()
        ),
        (Some("mia"), Some("ops"), Some(1))
    );
    let (status, body) = get(&app, "/api/v1/teams/alpha/progress", &learner).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = get(&app, "/api/v1/teams/alpha/progress", &outsider).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = get(&app, "/api/v1/teams/nope/progress", &lead).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn each_token_has_its_own_rate_limit() {
    let (mut app, _dir) = app().await;
    app.state.api_limiter = Arc::new(pathway::api::RateLimiter::new(2, 0.01));
    let ada = app.sign_up("ada").await;
    let first = create_token(&app, &ada, &["read:progress"]).await;
    let second = create_token(&app, &ada, &["read:progress"]).await;
    assert_eq!(get(&app, "/api/v1/progress", &first).await.0, StatusCode::OK);
    assert_eq!(get(&app, "/api/v1/progress", &first).await.0, StatusCode::OK);
    let (status, headers, body) = call(&app, "GET", "/api/v1/progress", Some(&first), None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let wait: u64 = headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=100).contains(&wait), "{wait}");
    // Another token is not held back by the first.
    assert_eq!(get(&app, "/api/v1/progress", &second).await.0, StatusCode::OK);
}

/// `(METHOD, /api/v1/path)` for every `.route(` in src/api/, read from the source.
fn api_routes() -> BTreeSet<(String, String)> {
    let source =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/mod.rs"))
            .unwrap();
    let mut routes = BTreeSet::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap();
        let call = chunk.split("\n        .").next().unwrap();
        for (token, method) in [
            ("get(", "GET"),
            ("post(", "POST"),
            ("put(", "PUT"),
            ("delete(", "DELETE"),
        ] {
            let mut rest = call;
            while let Some(at) = rest.find(token) {
                let before = rest[..at].chars().last();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    routes.insert((method.to_string(), format!("/api/v1{path}")));
                }
                rest = &rest[at + token.len()..];
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_api_route_is_in_the_openapi_document_and_it_is_well_formed() {
    let (app, _dir) = app().await;
    let (status, headers, doc) = call(&app, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let declared = api_routes();
    assert!(declared.len() >= 14, "{declared:?}");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    assert_eq!(declared, documented, "router routes vs. OpenAPI paths");

    // Structure: each operation has an id, a tag and responses, every parameter of the path
    // is declared, and every $ref names a schema in the document.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut operation_ids = BTreeSet::new();
    assert!(doc["components"]["securitySchemes"]["token"]["scheme"] == "bearer");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                operation_ids.insert(op["operationId"].as_str().unwrap()),
                "{method} {path}: a unique operationId"
            );
            assert!(op["tags"][0].is_string(), "{method} {path}");
            assert!(
                !op["responses"].as_object().unwrap().is_empty(),
                "{method} {path}"
            );
            let names: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            let wanted: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(names, wanted, "{method} {path}");
            if let Some(security) = op["security"].as_array() {
                for scope in security.iter().flat_map(|s| s["token"].as_array().unwrap()) {
                    assert!(ALL_SCOPES.contains(&scope.as_str().unwrap()), "{method} {path}");
                }
            }
        }
    }
    let text = doc.to_string();
    // For the external validator (docs/api.md): PATHWAY_OPENAPI_OUT=path writes the document there.
    if let Ok(out) = std::env::var("PATHWAY_OPENAPI_OUT") {
        std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target}"));
        assert!(schemas.contains_key(name), "dangling {target}");
    }

    // The reference page lists every operation, with no script or inline style.
    let (status, _, page) = app.get("/docs/api").await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in &declared {
        assert!(
            page.contains(&format!("{method} {path}")),
            "{method} {path} missing from /docs/api"
        );
    }
    assert!(page.contains("ErrorBody") && page.contains("insufficient_scope"));
    assert!(!page.contains("<script>") && !page.contains("style="));
}

#[tokio::test]
async fn a_request_runs_a_fixed_number_of_statements_and_records_use_once_a_minute() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let token = create_token(&app, &ada, &["read:progress", "write:progress"]).await;
    // The first use records the time; the next, within the minute, writes nothing.
    let (first, _) = common::count_statements(get(&app, "/api/v1/progress", &token)).await;
    let (second, _) = common::count_statements(get(&app, "/api/v1/progress", &token)).await;
    assert_eq!(
        second + 1,
        first,
        "the last-used time is written once a minute at most"
    );
    assert!(second <= 3, "token, user, page: {second}");
    for skill in ["http-methods", "status-codes", "dns-records"] {
        call(
            &app,
            "PUT",
            &format!("/api/v1/progress/{skill}"),
            Some(&token),
            Some(json!({"state": "done"})),
        )
        .await;
    }
    let (more, _) = common::count_statements(get(&app, "/api/v1/progress", &token)).await;
    assert_eq!(more, second, "no more statements for more progress");
}
