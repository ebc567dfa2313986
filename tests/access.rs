//! Every route, as an anonymous visitor and as another learner: the outcome is exactly the one intended,
//! and the first learner's private data never shows. A route without an entry here fails the test.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{TestApp, sample_content, write_files};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    /// 303 to /signin.
    SignIn,
    /// 303 somewhere else.
    Redirect,
    NotFound,
    Status(u16),
}

use Expect::*;

/// (method, route as written in the router, anonymous, another learner).
const TABLE: &[(&str, &str, Expect, Expect)] = &[
    ("GET", "/", Ok, Ok),
    ("GET", "/about", Ok, Ok),
    ("GET", "/roadmaps/{roadmap}", Ok, Ok),
    ("GET", "/roadmaps/{roadmap}/{stage}", Ok, Ok),
    ("GET", "/u/{username}", NotFound, NotFound),
    ("GET", "/search", Ok, Ok),
    ("GET", "/healthz", Ok, Ok),
    ("GET", "/signup", Ok, Redirect),
    ("POST", "/signup", Status(422), Status(422)),
    ("GET", "/signin", Ok, Redirect),
    ("POST", "/signin", Status(422), Status(422)),
    ("GET", "/account", SignIn, Ok),
    ("POST", "/account/profile", SignIn, Status(422)),
    ("POST", "/account/password", SignIn, Status(422)),
    ("POST", "/account/delete", SignIn, Status(422)),
    ("POST", "/account/public-profile", SignIn, Redirect),
    ("GET", "/account/export.json", SignIn, Ok),
    ("GET", "/account/export.csv", SignIn, Ok),
    ("GET", "/account/import", SignIn, Ok),
    ("POST", "/account/import", SignIn, Status(400)),
    // The other learner has not started the roadmap yet (it starts just below): nothing to reset.
    ("GET", "/progress/{roadmap}/reset", SignIn, NotFound),
    ("POST", "/progress/{roadmap}/reset", SignIn, NotFound),
    ("POST", "/progress/{roadmap}/start", SignIn, Redirect),
    ("POST", "/skills/{skill}/state", SignIn, Redirect),
    ("GET", "/progress/{roadmap}/{stage}/complete", SignIn, Ok),
    ("POST", "/progress/{roadmap}/{stage}/complete", SignIn, Redirect),
    // The first learner's action and evidence: not found for anyone else.
    ("POST", "/progress/undo", SignIn, NotFound),
    ("GET", "/dashboard", SignIn, Ok),
    ("GET", "/history", SignIn, Ok),
    ("POST", "/skills/{skill}/note", SignIn, Redirect),
    ("POST", "/skills/{skill}/evidence", SignIn, Redirect),
    ("POST", "/evidence/{id}/delete", SignIn, NotFound),
    ("GET", "/mentors", SignIn, Ok),
    ("POST", "/mentors/invite", SignIn, Status(422)),
    ("POST", "/mentors/link", SignIn, Ok),
    ("POST", "/mentors/{id}/revoke", SignIn, NotFound),
    ("POST", "/mentorships/{id}/end", SignIn, NotFound),
    ("GET", "/mentoring", SignIn, Ok),
    ("GET", "/mentoring/matrix/{roadmap}", SignIn, Ok),
    ("POST", "/mentoring/{id}/accept", SignIn, NotFound),
    ("POST", "/mentoring/{id}/decline", SignIn, NotFound),
    ("GET", "/mentoring/invite/{token}", SignIn, Status(410)),
    ("POST", "/mentoring/invite/{token}", SignIn, Status(409)),
    // Not the first learner's mentor: their progress is not found.
    ("GET", "/mentees/{username}", SignIn, NotFound),
    ("GET", "/mentees/{username}/{roadmap}/{stage}", SignIn, NotFound),
    ("POST", "/skills/{skill}/review", SignIn, Status(422)),
    ("POST", "/reviews/{id}/verify", SignIn, NotFound),
    ("POST", "/reviews/{id}/changes", SignIn, NotFound),
    ("GET", "/notifications", SignIn, Ok),
    ("POST", "/notifications/{id}/open", SignIn, NotFound),
    ("POST", "/notifications/read-all", SignIn, Redirect),
    ("POST", "/threads/{username}/{skill}/comments", SignIn, NotFound),
    ("POST", "/comments/{id}/edit", SignIn, NotFound),
    ("POST", "/comments/{id}/delete", SignIn, NotFound),
    // Last: it ends the session.
    ("POST", "/signout", Redirect, Redirect),
];

/// Every (method, path) the router declares, read from `src/routes/*.rs`.
fn declared_routes() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let chunks: Vec<&str> = source.split(".route(").skip(1).collect();
        for chunk in chunks {
            let path = chunk.split('"').nth(1).unwrap().to_string();
            // The handlers: up to the end of this `.route(...)` call.
            let call = chunk.split("\n        .").next().unwrap_or(chunk);
            // The last `.route(` of a router ends with the function.
            let call = call.split("\n}").next().unwrap_or(call);
            let call = call.split(".route(").next().unwrap();
            for (token, method) in [("get(", "GET"), ("post(", "POST")] {
                let mut rest = call;
                while let Some(at) = rest.find(token) {
                    let before = rest[..at].chars().last();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        routes.insert((method.to_string(), path.clone()));
                    }
                    rest = &rest[at + token.len()..];
                }
            }
        }
    }
    routes
}

#[test]
fn every_route_has_an_entry() {
    let declared = declared_routes();
    let table: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = declared.difference(&table).collect();
    let stale: Vec<_> = table.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in the access table: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "entries for routes that no longer exist: {stale:?}"
    );
    assert!(declared.len() >= 30, "the route scan found only {declared:?}");
}

#[tokio::test]
async fn each_route_answers_each_actor_as_intended_and_never_leaks() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let app = TestApp::with_content(dir.path()).await;

    // The learner whose data must stay private.
    let ada = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    let (_, headers, _) = app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "done"), ("version", "0")],
            Some(&ada),
        )
        .await;
    let location = headers[header::LOCATION].to_str().unwrap();
    let action = location
        .split("changed=")
        .nth(1)
        .unwrap()
        .split('#')
        .next()
        .unwrap()
        .to_string();
    let secret_note = "ada-private-note-7f3a";
    let secret_link = "https://example.com/ada-secret-proof";
    app.post_form("/skills/http-methods/note", &[("body", secret_note)], Some(&ada))
        .await;
    app.post_form(
        "/skills/http-methods/evidence",
        &[("url", secret_link), ("title", "Ada proof")],
        Some(&ada),
    )
    .await;
    let evidence_id: i64 = sqlx::query_scalar("select id from evidence")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    // Ada's own pending mentor invitation.
    app.post_form("/mentors/link", &[("scope", "all")], Some(&ada))
        .await;
    let mentorship_id: i64 = sqlx::query_scalar("select id from mentorships")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();

    let snapshot = || async {
        sqlx::query_scalar::<_, String>(
            "select string_agg(x, '|' order by x) from (
                 select 'p:' || skill_id || ':' || state || ':' || version as x from skill_progress p
                     join users u on u.id = p.user_id where u.username = 'ada'
                 union all select 'n:' || body_md from notes n join users u on u.id = n.user_id where u.username = 'ada'
                 union all select 'e:' || url from evidence e join users u on u.id = e.user_id where u.username = 'ada'
                 union all select 'm:' || m.id || ':' || m.status || ':' || coalesce(m.mentor_id, 0) from mentorships m
                     join users u on u.id = m.mentee_id where u.username = 'ada'
             ) t",
        )
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
    };
    let before = snapshot().await;

    let body = format!(
        "state=done&version=0&action={action}&body=x&url=https%3A%2F%2Fexample.org%2Fmine&title=t&display_name=\
         &decision=accept"
    );
    for (actor, cookie) in [("anonymous", None), ("another learner", Some("eve"))] {
        let cookie = match cookie {
            Some(name) => Some(app.sign_up(name).await),
            None => None,
        };
        for (method, route, anonymous, other) in TABLE {
            let expected = if cookie.is_some() { *other } else { *anonymous };
            let path = route
                .replace("{roadmap}", "web")
                .replace("{stage}", "http")
                .replace("{skill}", "http-methods")
                .replace("{username}", "ada")
                .replace(
                    "{id}",
                    &if route.starts_with("/evidence") {
                        evidence_id
                    } else {
                        mentorship_id
                    }
                    .to_string(),
                )
                .replace("{token}", "not-a-real-invite-token");
            let mut request = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&path)
                .header("sec-fetch-site", "same-origin");
            if let Some(cookie) = &cookie {
                request = request.header(header::COOKIE, cookie);
            }
            let request = if *method == "POST" {
                request
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body.clone()))
                    .unwrap()
            } else {
                request.body(Body::empty()).unwrap()
            };
            let (status, headers, page) = app.request(request).await;
            let location = headers
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_string());
            let actual = match (status.as_u16(), location.as_deref()) {
                (200, _) => Ok,
                (303, Some("/signin")) => SignIn,
                (303, _) => Redirect,
                (404, _) => NotFound,
                (code, _) => Status(code),
            };
            assert_eq!(actual, expected, "{actor}: {method} {path} answered {status}");
            assert!(
                !page.contains(secret_note),
                "{actor}: {method} {path} leaked the note"
            );
            assert!(
                !page.contains(secret_link),
                "{actor}: {method} {path} leaked the evidence"
            );
            if status == StatusCode::OK && *method == "GET" {
                assert!(
                    !page.contains(&format!(r#"name="action" value="{action}""#)),
                    "{method} {path}"
                );
            }
        }
    }
    assert_eq!(snapshot().await, before, "nothing of ada's changed");
}
