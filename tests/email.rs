//! Background jobs and email, through a real SMTP server (Debian's python3-aiosmtpd, started
//! here on a free port): the messages' headers and both parts, one-click unsubscribe, the
//! digest, retries with backoff, and sweeps that send once across restarts and racing servers.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, write_files};
use pathway::config::{Settings, SmtpTls};
use pathway::jobs::{self, Context};
use pathway::mail::{self, Mailer};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const PUBLIC: &str = "http://pathway.test";

/// The SMTP sink: each message it accepts becomes a JSON file (tests/fixtures/smtp_sink.py).
struct Sink {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Sink {
    fn start() -> Self {
        Self::start_on(free_port())
    }

    fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp_sink.py");
        // Debian's interpreter, which python3-aiosmtpd installs into (not a pyenv's).
        let python = if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start the SMTP sink: is python3-aiosmtpd installed?");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP sink did not start (python3-aiosmtpd missing?)"
        );
        Self { child, dir, port }
    }

    fn mailer(&self) -> Mailer {
        mailer_on(self.port)
    }

    /// The messages received so far, in order.
    fn messages(&self) -> Vec<Value> {
        let mut paths: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mailer_on(port: u16) -> Mailer {
    Mailer::new(
        "127.0.0.1",
        Some(port),
        SmtpTls::None,
        None,
        "Pathway <pathway@example.test>",
        PUBLIC,
    )
    .unwrap()
}

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let settings = Settings {
        email: true,
        public_url: PUBLIC.into(),
        ..Settings::default()
    };
    (TestApp::with_settings(dir.path(), settings).await, dir)
}

fn context() -> Context {
    Context::new(
        &Settings {
            email: true,
            public_url: PUBLIC.into(),
            ..Settings::default()
        },
        std::time::Duration::from_secs(60),
    )
}

async fn set_email(app: &TestApp, username: &str) {
    sqlx::query("update users set email = $1 || '@example.test' where username = $1")
        .bind(username)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

async fn outbox_count(app: &TestApp, username: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from email_outbox o join users u on u.id = o.user_id where u.username = $1",
    )
    .bind(username)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn second_pool(app: &TestApp) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(app.db.options.clone())
        .await
        .unwrap()
}

fn header_of<'a>(message: &'a Value, name: &str) -> &'a str {
    message["headers"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header in {message}"))
}

#[tokio::test]
async fn a_notice_goes_by_email_with_both_parts_and_a_working_one_click_unsubscribe() {
    let sink = Sink::start();
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let max = app.sign_up("max").await;
    let eve = app.sign_up("eve").await;
    set_email(&app, "ada").await;
    let (status, _, _) = app
        .post_form(
            "/account/email-preferences",
            &[("quiet_reminders", "on"), ("mode_mentoring", "immediate")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    app.post_form("/mentors/invite", &[("username", "ada")], Some(&max))
        .await;
    assert_eq!(outbox_count(&app, "ada").await, 1);
    let report = mail::send_due(&app.db.pool, &sink.mailer(), 10).await.unwrap();
    assert_eq!(report, mail::SendReport { sent: 1, failed: 0 });

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["rcpt_tos"][0], "ada@example.test");
    assert!(header_of(message, "From").contains("pathway@example.test"));
    assert_eq!(
        header_of(message, "Subject"),
        "max name invited you to be their mentor"
    );
    assert_eq!(message["content_type"], "multipart/alternative");
    assert_eq!(
        header_of(message, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    let unsubscribe = header_of(message, "List-Unsubscribe");
    let url = unsubscribe
        .strip_prefix('<')
        .and_then(|u| u.strip_suffix('>'))
        .unwrap();
    let token = url.strip_prefix(&format!("{PUBLIC}/unsubscribe/")).unwrap();
    assert_eq!(token.len(), 64);
    let text = message["text"].as_str().unwrap();
    let html = message["html"].as_str().unwrap();
    assert!(text.contains("max name invited you to be their mentor"), "{text}");
    assert!(text.contains(&format!("{PUBLIC}/")), "{text}");
    assert!(
        text.contains(url),
        "the plain part carries the unsubscribe link: {text}"
    );
    assert!(
        html.contains("<p>max name invited you to be their mentor</p>"),
        "{html}"
    );
    assert!(html.contains(&format!("<a href=\"{url}\">")), "{html}");
    // Only the token's hash is kept.
    let stored: Option<String> = sqlx::query_scalar("select unsubscribe_hash from email_outbox")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_ne!(stored.as_deref(), Some(token));

    // Opening the link only asks.
    let path = format!("/unsubscribe/{token}");
    let (status, _, page) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("<form method=\"post\" action=\"{path}\"")),
        "{page}"
    );
    assert!(page.contains("ada@example.test"));
    // The mail provider's one-click POST: another origin, no session, no CSRF token.
    let (status, _, page) = app
        .request(
            Request::post(&path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ORIGIN, "https://mail.example.com")
                .header("sec-fetch-site", "cross-site")
                .body(Body::from("List-Unsubscribe=One-Click"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Unsubscribed"));
    let mode: String = sqlx::query_scalar(
        "select mode from email_preferences p join users u on u.id = p.user_id
         where u.username = 'ada' and category = 'mentoring'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(mode, "in_app");
    // A made-up token is nothing.
    let (status, _, _) = app
        .post_form(&format!("/unsubscribe/{}", "0".repeat(64)), &[], None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Other forms still need same-origin posts.
    let (status, _, _) = app
        .request(
            Request::post("/account/email-preferences")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, &ada)
                .header("sec-fetch-site", "cross-site")
                .body(Body::from("quiet_reminders=on"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The next invitation stays in the app.
    app.post_form("/mentors/invite", &[("username", "ada")], Some(&eve))
        .await;
    assert_eq!(app.notices("ada", "mentor_invited").await.len(), 2);
    assert_eq!(outbox_count(&app, "ada").await, 1);

    // "Stop all email" from the page's second button, then turned back on from the account page.
    app.post_form(&path, &[("all", "yes")], None).await;
    let stopped: bool = sqlx::query_scalar("select email_stopped from users where username = 'ada'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(stopped);
    let (_, _, account) = app.get_as("/account", &ada).await;
    assert!(
        account.contains("You stopped all email from Pathway"),
        "{account}"
    );
    app.post_form(
        "/account/email-preferences",
        &[("mode_mentoring", "immediate")],
        Some(&ada),
    )
    .await;
    let (stopped, reminders): (bool, bool) =
        sqlx::query_as("select email_stopped, quiet_reminders from users where username = 'ada'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(!stopped && !reminders);
}

#[tokio::test]
async fn the_account_page_sets_the_address_and_refuses_a_bad_one_with_the_values_kept() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let (status, _, page) = app
        .post_form("/account/email", &[("email", "not an address")], Some(&ada))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("value=\"not an address\""), "{page}");
    assert!(page.contains("aria-invalid=\"true\""));
    let (status, _, _) = app
        .post_form("/account/email", &[("email", "ada@example.test")], Some(&ada))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = app.get_as("/account", &ada).await;
    assert!(page.contains("value=\"ada@example.test\""));
    // Every kind has a choice, with the defaults: nudges and reminders by email.
    assert!(page.contains("<select id=\"f_mode_nudges\" name=\"mode_nudges\">"));
    assert!(page.contains("<option value=\"immediate\" selected>Email right away</option>"));
    let (status, _, _) = app
        .post_form("/account/email", &[("email", "")], Some(&ada))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let email: Option<String> = sqlx::query_scalar("select email from users where username = 'ada'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(email, None);
}

#[tokio::test]
async fn a_digest_bundles_several_notices_into_one_email_once() {
    let sink = Sink::start();
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    set_email(&app, "ada").await;
    app.post_form(
        "/account/email-preferences",
        &[("mode_mentoring", "digest")],
        Some(&ada),
    )
    .await;
    for inviter in ["max", "eve", "tom"] {
        let cookie = app.sign_up(inviter).await;
        app.post_form("/mentors/invite", &[("username", "ada")], Some(&cookie))
            .await;
    }
    assert_eq!(
        outbox_count(&app, "ada").await,
        0,
        "nothing goes out before the digest"
    );

    jobs::make_due(&app.db.pool).await.unwrap();
    let ran = jobs::run_due(&app.db.pool, &context()).await.unwrap();
    assert!(ran.contains(&("email_digest", 1)), "{ran:?}");
    // Run again at once (a restart): the items were taken with the digest.
    jobs::make_due(&app.db.pool).await.unwrap();
    let ran = jobs::run_due(&app.db.pool, &context()).await.unwrap();
    assert!(ran.contains(&("email_digest", 0)), "{ran:?}");
    mail::send_due(&app.db.pool, &sink.mailer(), 10).await.unwrap();

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        header_of(&messages[0], "Subject"),
        "Your Pathway digest: 3 updates"
    );
    let text = messages[0]["text"].as_str().unwrap();
    let html = messages[0]["html"].as_str().unwrap();
    for inviter in ["max", "eve", "tom"] {
        let line = format!("{inviter} name invited you to be their mentor");
        assert!(text.contains(&line), "{text}");
        assert!(html.contains(&line), "{html}");
    }
    assert!(header_of(&messages[0], "List-Unsubscribe").starts_with(&format!("<{PUBLIC}/unsubscribe/")));

    // Unsubscribing from a digest turns the digests back to in-app only.
    let url = header_of(&messages[0], "List-Unsubscribe")
        .trim_matches(['<', '>'])
        .to_string();
    let path = url.strip_prefix(PUBLIC).unwrap();
    let (status, _, _) = app
        .request(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("List-Unsubscribe=One-Click"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let digests: i64 = sqlx::query_scalar("select count(*) from email_preferences where mode = 'digest'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(digests, 0);
}

#[tokio::test]
async fn a_refused_connection_is_retried_with_backoff_and_shown_to_admins() {
    let (app, _dir) = app().await;
    let admin = app.sign_up_admin("root").await;
    let ada = app.sign_up("ada").await;
    let max = app.sign_up("max").await;
    set_email(&app, "ada").await;
    app.post_form(
        "/account/email-preferences",
        &[("mode_mentoring", "immediate")],
        Some(&ada),
    )
    .await;
    app.post_form("/mentors/invite", &[("username", "ada")], Some(&max))
        .await;

    // Nothing listens on the port yet.
    let port = free_port();
    let mailer = mailer_on(port);
    let report = mail::send_due(&app.db.pool, &mailer, 10).await.unwrap();
    assert_eq!(report, mail::SendReport { sent: 0, failed: 1 });
    let (attempts, status, error, wait): (i32, String, String, f64) = sqlx::query_as(
        "select attempts, status, last_error, extract(epoch from next_attempt_at - now())::float8
         from email_outbox",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((attempts, status.as_str()), (1, "pending"));
    assert!(
        (50.0..=61.0).contains(&wait),
        "first retry after a minute, not {wait}"
    );
    // Not due yet: nothing is tried.
    let report = mail::send_due(&app.db.pool, &mailer, 10).await.unwrap();
    assert_eq!(report, mail::SendReport::default());

    // A second failure doubles the wait.
    sqlx::query("update email_outbox set next_attempt_at = now()")
        .execute(&app.db.pool)
        .await
        .unwrap();
    mail::send_due(&app.db.pool, &mailer, 10).await.unwrap();
    let wait: f64 =
        sqlx::query_scalar("select extract(epoch from next_attempt_at - now())::float8 from email_outbox")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(
        (110.0..=121.0).contains(&wait),
        "second retry after two minutes, not {wait}"
    );

    // The admin page lists it with the error.
    let (status, _, page) = app.get_as("/admin/email", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("ada@example.test"), "{page}");
    assert!(page.contains("retrying"));
    let shown = error.chars().take(20).collect::<String>();
    assert!(
        page.contains(&shown) || page.contains("Connection refused"),
        "{error} not in {page}"
    );
    assert!(page.contains("href=\"/admin/email\" aria-current=\"page\""));

    // The server comes up: the next try goes through.
    let sink = Sink::start_on(port);
    sqlx::query("update email_outbox set next_attempt_at = now()")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let report = mail::send_due(&app.db.pool, &sink.mailer(), 10).await.unwrap();
    assert_eq!(report, mail::SendReport { sent: 1, failed: 0 });
    assert_eq!(sink.messages().len(), 1);
    let (attempts, status): (i32, String) = sqlx::query_as("select attempts, status from email_outbox")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((attempts, status.as_str()), (3, "sent"));

    // After the last attempt a message is given up on.
    sqlx::query("update email_outbox set status = 'pending', attempts = $1, next_attempt_at = now()")
        .bind(mail::MAX_ATTEMPTS - 1)
        .execute(&app.db.pool)
        .await
        .unwrap();
    mail::send_due(&app.db.pool, &mailer_on(free_port()), 10)
        .await
        .unwrap();
    let status: String = sqlx::query_scalar("select status from email_outbox")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "failed");
}

#[tokio::test]
async fn an_admin_tries_failed_email_again_once_the_server_is_back() {
    let (app, _dir) = app().await;
    let admin = app.sign_up_admin("root").await;
    let ada = app.sign_up("ada").await;
    let bea = app.sign_up("bea").await;
    for (username, learner, mentor) in [("ada", &ada, "max"), ("bea", &bea, "tom")] {
        set_email(&app, username).await;
        app.post_form(
            "/account/email-preferences",
            &[("mode_mentoring", "immediate")],
            Some(learner),
        )
        .await;
        let mentor = app.sign_up(mentor).await;
        app.post_form("/mentors/invite", &[("username", username)], Some(&mentor))
            .await;
    }
    // Both messages fail until they are given up on.
    let port = free_port();
    sqlx::query("update email_outbox set attempts = $1")
        .bind(mail::MAX_ATTEMPTS - 1)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let report = mail::send_due(&app.db.pool, &mailer_on(port), 10).await.unwrap();
    assert_eq!(report, mail::SendReport { sent: 0, failed: 2 });
    let rows = || async {
        sqlx::query_as::<_, (i64, String, String, i32, bool)>(
            "select id, to_address, status, attempts, next_attempt_at <= now() from email_outbox order by to_address",
        )
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
    };
    let before = rows().await;
    assert!(before.iter().all(|r| r.2 == "failed"), "{before:?}");

    // Only admins may ask, and only for a message that failed.
    let ada_message = before[0].0;
    let path = format!("/admin/email/{ada_message}/retry");
    let (status, _, _) = app.post_form(&path, &[], Some(&ada)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, page) = app.get_as("/admin/email", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Try every given-up email again"), "{page}");
    assert!(page.contains(&format!(r#"action="{path}""#)), "{page}");
    assert!(page.contains("Try again now"), "{page}");

    // One message: due now, one more try, its tries kept.
    let (status, headers, _) = app.post_form(&path, &[], Some(&admin)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/email?done=retry");
    let after = rows().await;
    assert_eq!(
        (after[0].2.as_str(), after[0].3, after[0].4),
        ("pending", mail::MAX_ATTEMPTS, true)
    );
    assert_eq!(after[1].2, "failed", "the other stays given up on");
    let (_, _, page) = app.get_as("/admin/email?done=retry", &admin).await;
    assert!(page.contains("tries again at its next check"), "{page}");

    // The server is still down: one try, given up on again.
    let report = mail::send_due(&app.db.pool, &mailer_on(port), 10).await.unwrap();
    assert_eq!(report, mail::SendReport { sent: 0, failed: 1 });
    assert_eq!(rows().await[0].2, "failed");

    // The server is back: "try every given-up email again" sends both.
    let sink = Sink::start_on(port);
    let (status, headers, _) = app.post_form("/admin/email/retry", &[], Some(&admin)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/email?done=retry");
    let report = mail::send_due(&app.db.pool, &sink.mailer(), 10).await.unwrap();
    assert_eq!(report, mail::SendReport { sent: 2, failed: 0 });
    assert_eq!(sink.messages().len(), 2);
    assert!(rows().await.iter().all(|r| r.2 == "sent"));

    // A sent message cannot be retried (it would go twice); nothing is left to retry.
    let (status, _, _) = app.post_form(&path, &[], Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, headers, _) = app.post_form("/admin/email/retry", &[], Some(&admin)).await;
    assert_eq!(headers[header::LOCATION], "/admin/email?done=retry-none");
    let (_, _, page) = app.get_as("/admin/email", &admin).await;
    assert!(!page.contains("Try every given-up email again"), "{page}");

    // Both retries are in the audit log, with the addresses.
    let audit: Vec<(String, Value)> =
        sqlx::query_as("select target, details from audit_log where action = 'email.retry' order by id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0].0, format!("email {ada_message}"));
    assert_eq!(audit[0].1["to"], serde_json::json!(["ada@example.test"]));
    assert_eq!(audit[1].1["to"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn with_email_off_no_retry_is_offered_or_taken() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let app = TestApp::with_settings(dir.path(), Settings::default()).await;
    let admin = app.sign_up_admin("root").await;
    // A message given up on while email was on, before it was switched off.
    let id: i64 = sqlx::query_scalar(
        "insert into email_outbox (to_address, category, subject, body_text, body_html, status, attempts, last_error)
         values ('ada@example.test', 'reviews', 'A review', 'text', '<p>html</p>', 'failed', 10, 'refused')
         returning id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (_, _, page) = app.get_as("/admin/email", &admin).await;
    assert!(
        page.contains("Email is off") && page.contains("A review"),
        "{page}"
    );
    assert!(
        !page.contains("Try again now") && !page.contains("Try every"),
        "{page}"
    );
    for path in [
        format!("/admin/email/{id}/retry"),
        "/admin/email/retry".to_string(),
    ] {
        let (status, _, page) = app.post_form(&path, &[], Some(&admin)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(page.contains("Set up the SMTP server first"), "{page}");
    }
    let status: String = sqlx::query_scalar("select status from email_outbox")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "failed");
}

#[tokio::test]
async fn two_senders_send_each_message_once() {
    let sink = Sink::start();
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    set_email(&app, "ada").await;
    app.post_form(
        "/account/email-preferences",
        &[("mode_mentoring", "immediate")],
        Some(&ada),
    )
    .await;
    for inviter in ["mentor1", "mentor2", "mentor3", "mentor4", "mentor5", "mentor6"] {
        let cookie = app.sign_up(inviter).await;
        app.post_form("/mentors/invite", &[("username", "ada")], Some(&cookie))
            .await;
    }
    let other = second_pool(&app).await;
    let (one, two) = (sink.mailer(), sink.mailer());
    let (a, b) = tokio::join!(
        mail::send_due(&app.db.pool, &one, 100),
        mail::send_due(&other, &two, 100)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sent + b.sent, 6);
    assert_eq!(sink.messages().len(), 6);
    let mut subjects: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| header_of(m, "Subject").to_string())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 6, "no message went twice");
}

/// Ada asks for a review of a skill of `web`; max is her direct mentor; team alpha (web
/// assigned) has tom as mentor, lena as lead and fred as a mentor who left; team beta (web not
/// assigned) has bob as mentor.
async fn waiting_review(app: &TestApp) {
    let ada = app.sign_up("ada").await;
    for name in ["max", "tom", "lena", "fred", "bob", "eve"] {
        app.sign_up(name).await;
    }
    set_email(app, "max").await;
    pathway::db::mentorships::link(&app.db.pool, app.user_id("max").await, app.user_id("ada").await)
        .await
        .unwrap()
        .unwrap();
    let (status, _, _) = app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "done"), ("version", "0")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, body) = app
        .post_form(
            "/skills/http-methods/review",
            &[("message", "please")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    sqlx::query(
        "with t as (insert into teams (slug, name) values ('alpha', 'Alpha'), ('beta', 'Beta') returning id, slug)
         insert into team_members (team_id, user_id, role, left_at)
         select t.id, u.id, m.role, case when m.gone then now() end
         from (values ('alpha', 'ada', 'learner', false), ('alpha', 'tom', 'mentor', false),
                      ('alpha', 'lena', 'lead', false), ('alpha', 'fred', 'mentor', true),
                      ('beta', 'ada', 'learner', false), ('beta', 'bob', 'mentor', false))
              as m (team, username, role, gone)
         join t on t.slug = m.team join users u on u.username = m.username",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into team_roadmaps (team_id, roadmap_id) select id, 'web' from teams where slug = 'alpha'",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
}

async fn backdate_review(app: &TestApp, days: i32) {
    sqlx::query("update review_requests set requested_at = now() - make_interval(days => $1)")
        .bind(days)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_waiting_review_nudges_mentors_at_two_days_and_the_lead_at_five_exactly_once() {
    let (app, _dir) = app().await;
    waiting_review(&app).await;
    let other = second_pool(&app).await;

    // A day: nothing yet.
    backdate_review(&app, 1).await;
    jobs::run_due(&app.db.pool, &context()).await.unwrap();
    assert!(app.notices("max", "review_nudge").await.is_empty());

    // Three days, two servers at once: one of them nudges, once.
    backdate_review(&app, 3).await;
    jobs::make_due(&app.db.pool).await.unwrap();
    let (one, two) = (context(), context());
    let (a, b) = tokio::join!(jobs::run_due(&app.db.pool, &one), jobs::run_due(&other, &two));
    let ran: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(
        ran.iter().filter(|(name, _)| *name == "review_nudges").count(),
        1,
        "one server ran the sweep: {ran:?}"
    );
    for (who, count) in [
        ("max", 1),
        ("tom", 1),
        ("lena", 0),
        ("fred", 0),
        ("bob", 0),
        ("eve", 0),
        ("ada", 0),
    ] {
        assert_eq!(app.notices(who, "review_nudge").await.len(), count, "{who}");
    }
    assert_eq!(
        app.notices("max", "review_nudge").await,
        ["ada name’s review request for “Methods” has waited 2 days for an answer"]
    );
    // Max has an address, and nudges go by email unless he chose otherwise.
    assert_eq!(outbox_count(&app, "max").await, 1);

    // A restart: the sweep runs again at once and sends nothing new.
    jobs::make_due(&app.db.pool).await.unwrap();
    jobs::run_due(&app.db.pool, &context()).await.unwrap();
    assert_eq!(app.notices("max", "review_nudge").await.len(), 1);
    assert_eq!(app.notices("tom", "review_nudge").await.len(), 1);

    // Six days: the lead, once; the mentors are not told again.
    backdate_review(&app, 6).await;
    for _ in 0..2 {
        jobs::make_due(&app.db.pool).await.unwrap();
        jobs::run_due(&other, &context()).await.unwrap();
    }
    for (who, count) in [("max", 1), ("tom", 1), ("lena", 1), ("fred", 0), ("bob", 0)] {
        assert_eq!(app.notices(who, "review_nudge").await.len(), count, "{who}");
    }
    let recorded: Vec<(String, Vec<i64>)> =
        sqlx::query_as("select step, recipients from job_sends where kind = 'review_nudge' order by step")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1], ("5d".to_string(), vec![app.user_id("lena").await]));
    let outcome: String = sqlx::query_scalar("select last_outcome from jobs where name = 'review_nudges'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(outcome, "0 sent");
}

#[tokio::test]
async fn an_answered_review_is_not_nudged() {
    let (app, _dir) = app().await;
    waiting_review(&app).await;
    sqlx::query("update review_requests set status = 'withdrawn'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    backdate_review(&app, 6).await;
    jobs::run_due(&app.db.pool, &context()).await.unwrap();
    let sent: i64 = sqlx::query_scalar("select count(*) from notifications where kind = 'review_nudge'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(sent, 0);
}

#[tokio::test]
async fn a_quiet_learner_gets_one_reminder_per_quiet_spell_unless_switched_off() {
    let sink = Sink::start();
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    let eve = app.sign_up("eve").await;
    set_email(&app, "ada").await;
    for cookie in [&ada, &eve] {
        app.post_form(
            "/skills/http-methods/state",
            &[("state", "in_progress"), ("version", "0")],
            Some(cookie),
        )
        .await;
    }
    // Eve switches reminders off.
    app.post_form("/account/email-preferences", &[], Some(&eve)).await;
    pathway::db::progress::fold_counters(&app.db.pool).await.unwrap();

    let quiet = |days: i32| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query("update enrollments set last_activity_at = now() - make_interval(days => $1)")
                .bind(days)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    quiet(3).await;
    jobs::run_due(&app.db.pool, &context()).await.unwrap();
    assert!(app.notices("ada", "quiet_reminder").await.is_empty());

    quiet(8).await;
    for _ in 0..3 {
        jobs::make_due(&app.db.pool).await.unwrap();
        jobs::run_due(&app.db.pool, &context()).await.unwrap();
    }
    assert_eq!(app.notices("ada", "quiet_reminder").await.len(), 1);
    assert!(app.notices("eve", "quiet_reminder").await.is_empty());
    mail::send_due(&app.db.pool, &sink.mailer(), 10).await.unwrap();
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "reminders go by email by default");
    assert!(
        messages[0]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("{PUBLIC}/dashboard"))
    );

    // She came back, then went quiet again: a new spell, one more reminder.
    quiet(10).await;
    jobs::make_due(&app.db.pool).await.unwrap();
    jobs::run_due(&app.db.pool, &context()).await.unwrap();
    assert_eq!(app.notices("ada", "quiet_reminder").await.len(), 2);
}

#[tokio::test]
async fn a_reset_link_goes_to_the_users_address() {
    let sink = Sink::start();
    let (app, _dir) = app().await;
    let admin = app.sign_up_admin("root").await;
    app.sign_up("ada").await;
    set_email(&app, "ada").await;
    let id = app.user_id("ada").await;
    let (status, _, page) = app
        .post_form(&format!("/admin/users/{id}/reset"), &[], Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("It was also emailed to ada’s address, ada@example.test"),
        "{page}"
    );
    mail::send_due(&app.db.pool, &sink.mailer(), 10).await.unwrap();
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let text = messages[0]["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{PUBLIC}/reset/")))
        .unwrap();
    assert!(page.contains(link), "the same link as on the page");
    assert!(messages[0]["html"].as_str().unwrap().contains(link));
}

#[tokio::test]
async fn a_person_added_to_a_team_is_told_and_emailed_if_they_chose_so() {
    let sink = Sink::start();
    let (app, _dir) = app().await;
    let lena = app.sign_up("lena").await;
    let ada = app.sign_up("ada").await;
    set_email(&app, "ada").await;
    app.post_form(
        "/account/email-preferences",
        &[("mode_teams", "immediate")],
        Some(&ada),
    )
    .await;
    sqlx::query(
        "with t as (insert into teams (slug, name) values ('alpha', 'Alpha') returning id)
         insert into team_members (team_id, user_id, role) select t.id, u.id, 'lead' from t, users u
         where u.username = 'lena'",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (status, _, body) = app
        .post_form(
            "/teams/alpha/members",
            &[("member_username", "ada"), ("role", "learner")],
            Some(&lena),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        app.notices("ada", "team_added").await,
        ["lena name added you to the team “Alpha” as learner"]
    );
    mail::send_due(&app.db.pool, &sink.mailer(), 10).await.unwrap();
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("{PUBLIC}/teams/alpha"))
    );
}

/// The link an invitation email carries, and its unsubscribe path.
fn invitation_links(message: &Value) -> (String, String) {
    let text = message["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with(PUBLIC) && !w.contains("/unsubscribe/"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_string();
    let unsubscribe = header_of(message, "List-Unsubscribe")
        .trim_start_matches('<')
        .trim_end_matches('>')
        .strip_prefix(PUBLIC)
        .unwrap()
        .to_string();
    (link, unsubscribe)
}

#[tokio::test]
async fn invitations_go_by_email_to_people_without_accounts_until_they_unsubscribe() {
    let sink = Sink::start();
    let (app, _dir) = app().await;
    let admin = app.sign_up_admin("root").await;

    // An admin's registration invite, emailed.
    let (status, _, page) = app
        .post_form(
            "/admin/invites",
            &[("days", "7"), ("email", "New.Person@Example.test")],
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("The invitation is on its way to new.person@example.test."),
        "{page}"
    );
    // A bad address comes back with the values kept, and makes no invite.
    let (status, _, page) = app
        .post_form(
            "/admin/invites",
            &[("days", "9"), ("email", "not an address")],
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("value=\"not an address\"") && page.contains("value=\"9\""),
        "{page}"
    );

    // A lead's team join link, emailed to the same person.
    let root = app.user_id("root").await;
    pathway::db::teams::create(&app.db.pool, "cohort", "Cohort", root)
        .await
        .unwrap()
        .unwrap();
    let (status, _, page) = app
        .post_form(
            "/teams/cohort/invites",
            &[
                ("role", "learner"),
                ("uses", "1"),
                ("days", "3"),
                ("email", "new.person@example.test"),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("The invitation is on its way to new.person@example.test."),
        "{page}"
    );

    let report = mail::send_due(&app.db.pool, &sink.mailer(), 10).await.unwrap();
    assert_eq!(report, mail::SendReport { sent: 2, failed: 0 });
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    for message in &messages {
        assert_eq!(message["rcpt_tos"][0], "new.person@example.test");
        assert_eq!(message["content_type"], "multipart/alternative");
        assert_eq!(
            header_of(message, "List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click"
        );
    }
    assert_eq!(
        header_of(&messages[0], "Subject"),
        "root name invites you to create an account on Pathway"
    );
    assert_eq!(
        header_of(&messages[1], "Subject"),
        "root name invites you to join the team Cohort as a learner on Pathway"
    );
    let (signup, _) = invitation_links(&messages[0]);
    assert!(
        signup.starts_with(&format!("{PUBLIC}/signup?invite=")),
        "{signup}"
    );
    assert!(
        messages[0]["html"]
            .as_str()
            .unwrap()
            .contains(&format!("<a href=\"{signup}\">"))
    );
    let (join, unsubscribe) = invitation_links(&messages[1]);
    assert!(join.starts_with(&format!("{PUBLIC}/team-invites/")), "{join}");

    // One click: no more invitations to that address, and the next one says so.
    let (status, _, page) = app
        .request(
            Request::post(&unsubscribe)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .body(Body::from("List-Unsubscribe=One-Click"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("invitations to this address"), "{page}");
    let (status, _, page) = app
        .post_form(
            "/admin/invites",
            &[("days", "7"), ("email", "NEW.person@example.test")],
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Not emailed: new.person@example.test asked Pathway not to send it invitations."),
        "{page}"
    );
    assert!(
        page.contains("Invite link"),
        "the link is still made and shown: {page}"
    );
    let queued: i64 = sqlx::query_scalar("select count(*) from email_outbox where user_id is null")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(queued, 2);
}

#[tokio::test]
async fn a_large_backlog_of_quiet_learners_is_reminded_in_batches_each_once() {
    let (app, _dir) = app().await;
    let backlog = jobs::SWEEP_BATCH + 50;
    sqlx::raw_sql(&format!(
        "insert into users (username, display_name, password_hash)
         select 'quiet' || n, 'Quiet ' || n, 'x' from generate_series(1, {backlog}) n;
         insert into enrollments (user_id, roadmap_id, started_at, last_activity_at)
         select id, 'web', now() - interval '30 days', now() - interval '30 days'
         from users where username like 'quiet%';"
    ))
    .execute(&app.db.pool)
    .await
    .unwrap();
    let reminded = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from notifications where kind = 'quiet_reminder'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
    };
    let mut conn = app.db.pool.acquire().await.unwrap();
    let first = jobs::quiet_reminders(&mut conn, &context()).await.unwrap();
    assert_eq!(first, jobs::SWEEP_BATCH as u64, "one pass sends one batch");
    assert_eq!(reminded().await, jobs::SWEEP_BATCH);
    let second = jobs::quiet_reminders(&mut conn, &context()).await.unwrap();
    assert_eq!(second, 50, "the next pass takes the rest");
    assert_eq!(jobs::quiet_reminders(&mut conn, &context()).await.unwrap(), 0);
    assert_eq!(reminded().await, backlog, "each learner once");
}
