//! Outgoing webhooks: delivered to a receiver on loopback, signed, retried with backoff, logged; team scoping, URL rules, SSRF refusal and who may manage them.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{TestApp, write_files};
use hmac::{Hmac, KeyInit, Mac};
use pathway::config::Settings;
use pathway::webhooks::{Sender, deliver_due};
use sha2::Sha256;

/// What the receiver got: one request's headers and body.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_string()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A receiver on 127.0.0.1: records each request and answers the next queued status (200
/// when none is queued).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let receiver = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, format!("http://127.0.0.1:{port}/hook"))
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> (StatusCode, String) {
    receiver.got.lock().unwrap().push(Got { headers, body });
    let code = receiver.answers.lock().unwrap().pop_front().unwrap_or(200);
    (StatusCode::from_u16(code).unwrap(), format!("answered {code}"))
}

/// Checks `Pathway-Signature` as a receiver would: HMAC-SHA256 of "<t>.<body>" with the secret.
fn signed_by(got: &Got, secret: &str) -> bool {
    let header = got.header("pathway-signature");
    let mut t = "";
    let mut v1 = "";
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value,
            Some(("v1", value)) => v1 = value,
            _ => {}
        }
    }
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - t.parse::<i64>().unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", got.body).as_bytes());
    (0..300).contains(&age) && mac.verify_slice(&hex::decode(v1).unwrap()).is_ok()
}

struct World {
    app: TestApp,
    admin: String,
    _dir: tempfile::TempDir,
}

/// The sample content and an admin, with http:// to loopback allowed as `allow_loopback` says.
async fn world_with(allow_loopback: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut files = common::sample_content();
    files.push(("ops/roadmap.md", "+++\ntitle = \"Ops\"\nsummary = \"s\"\n+++\n"));
    files.push((
        "ops/01-run.md",
        "+++\nid = \"run\"\ntitle = \"Run\"\n+++\n## Deploys {#deploys}\nx\n",
    ));
    write_files(dir.path(), &files);
    let settings = Settings {
        webhook_allow_http_loopback: allow_loopback,
        ..Settings::default()
    };
    let app = TestApp::with_settings(dir.path(), settings).await;
    let admin = app.sign_up_admin("root").await;
    World {
        app,
        admin,
        _dir: dir,
    }
}

async fn world() -> World {
    world_with(true).await
}

/// Registers an endpoint through the form at `base` for `events`; returns its id and secret.
async fn register(app: &TestApp, base: &str, cookie: &str, url: &str, events: &[&str]) -> (i64, String) {
    let mut form = vec![("url", url)];
    let fields: Vec<String> = events.iter().map(|e| e.replace('.', "_")).collect();
    for field in &fields {
        form.push((field.as_str(), "on"));
    }
    let (status, headers, body) = app.post_form(base, &form, Some(cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = headers["location"].to_str().unwrap();
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let (status, _, page) = app.get_as(location, cookie).await;
    assert_eq!(status, StatusCode::OK);
    let secret: String = sqlx::query_scalar("select secret from webhook_endpoints where id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(page.contains(&secret), "the owner sees the secret");
    (id, secret)
}

async fn deliver(app: &TestApp) -> pathway::webhooks::Report {
    deliver_due(&app.db.pool, &Sender::new(true).unwrap(), 50)
        .await
        .unwrap()
}

async fn tick(app: &TestApp, cookie: &str, skill: &str) {
    let (status, _, body) = app
        .post_form(
            &format!("/skills/{skill}/state"),
            &[("state", "done"), ("version", "0")],
            Some(cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db.pool).await.unwrap()
}

#[tokio::test]
async fn a_skill_done_delivers_skill_and_stage_events_signed() {
    let w = world().await;
    let (receiver, url) = Receiver::start().await;
    let (_, secret) = register(
        &w.app,
        "/admin/webhooks",
        &w.admin,
        &url,
        &["skill.done", "stage.done"],
    )
    .await;
    let ada = w.app.sign_up("ada").await;

    tick(&w.app, &ada, "http-methods").await;
    let report = deliver(&w.app).await;
    assert_eq!(report.delivered, 2);

    let got = receiver.got();
    assert_eq!(got.len(), 2);
    for g in &got {
        assert!(signed_by(g, &secret), "a valid signature: {:?}", g.headers);
        assert!(!signed_by(g, "another secret"));
        assert_eq!(g.header("content-type"), "application/json");
        assert_eq!(g.header("user-agent"), "Pathway-Webhook");
        assert_eq!(g.header("pathway-delivery"), g.json()["delivery"].to_string());
    }
    let skill = got
        .iter()
        .find(|g| g.header("pathway-event") == "skill.done")
        .unwrap()
        .json();
    assert_eq!(skill["event"], "skill.done");
    assert_eq!(skill["learner"]["username"], "ada");
    assert_eq!(skill["learner"]["display_name"], "ada name");
    assert_eq!(skill["roadmap"]["id"], "web");
    assert_eq!(skill["roadmap"]["title"], "Web basics");
    assert_eq!(skill["stage"]["id"], "http");
    assert_eq!(skill["skill"]["id"], "http-methods");
    assert_eq!(skill["skill"]["title"], "Methods");
    assert!(skill["occurred_at"].is_string());
    // The optional skill is not needed: the stage is done with its only required one.
    let stage = got
        .iter()
        .find(|g| g.header("pathway-event") == "stage.done")
        .unwrap()
        .json();
    assert_eq!(stage["stage"]["id"], "http");
    assert_eq!(stage["stage"]["title"], "HTTP");
    assert_eq!(stage["skill"]["id"], "http-methods");

    // The optional skill sends skill.done only; so does undoing nothing. Nothing is sent twice.
    tick(&w.app, &ada, "status-codes").await;
    assert_eq!(deliver(&w.app).await.delivered, 1);
    assert_eq!(receiver.got()[2].header("pathway-event"), "skill.done");
    assert_eq!(deliver(&w.app).await, pathway::webhooks::Report::default());
}

/// A learner who marked http-methods done, with max as mentor.
async fn with_mentor(w: &World) -> (String, String) {
    let lea = w.app.sign_up("lea").await;
    let max = w.app.sign_up("max").await;
    tick(&w.app, &lea, "http-methods").await;
    w.app
        .post_form("/mentors/invite", &[("username", "max")], Some(&lea))
        .await;
    let id = count(&w.app, "select max(id) from mentorships").await;
    w.app
        .post_form(&format!("/mentoring/{id}/accept"), &[], Some(&max))
        .await;
    (lea, max)
}

#[tokio::test]
async fn review_requests_and_answers_are_delivered() {
    let w = world().await;
    let (receiver, url) = Receiver::start().await;
    let (lea, max) = with_mentor(&w).await;
    let (_, secret) = register(
        &w.app,
        "/admin/webhooks",
        &w.admin,
        &url,
        &["review.requested", "review.answered"],
    )
    .await;
    let (status, _, _) = w
        .app
        .post_form(
            "/skills/http-methods/review",
            &[("message", "Please check")],
            Some(&lea),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = count(&w.app, "select max(id) from review_requests").await;
    let (status, _, _) = w
        .app
        .post_form(
            &format!("/reviews/{id}/verify"),
            &[("message", "Nice work")],
            Some(&max),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(deliver(&w.app).await.delivered, 2);

    let got = receiver.got();
    assert!(got.iter().all(|g| signed_by(g, &secret)));
    let requested = got[0].json();
    assert_eq!(requested["event"], "review.requested");
    assert_eq!(requested["review"]["id"], id);
    assert_eq!(requested["review"]["status"], "pending");
    assert_eq!(requested["review"]["message"], "Please check");
    assert_eq!(requested["learner"]["username"], "lea");
    assert_eq!(requested["skill"]["id"], "http-methods");
    let answered = got[1].json();
    assert_eq!(answered["event"], "review.answered");
    assert_eq!(answered["review"]["status"], "verified");
    assert_eq!(answered["review"]["answer"], "Nice work");
    assert_eq!(answered["review"]["reviewer"]["username"], "max");
}

#[tokio::test]
async fn a_team_endpoint_gets_only_its_learners_on_its_roadmaps() {
    let w = world().await;
    let (receiver, url) = Receiver::start().await;
    let ada = w.app.sign_up("ada").await;
    let eve = w.app.sign_up("eve").await;
    let lena = w.app.sign_up("lena").await;
    sqlx::raw_sql(
        "insert into teams (slug, name) values ('alpha', 'Alpha');
         insert into team_members (team_id, user_id, role)
         select t.id, u.id, m.role from (values ('ada', 'learner'), ('lena', 'lead')) as m(username, role)
         join teams t on t.slug = 'alpha' join users u on u.username = m.username;
         insert into team_roadmaps (team_id, roadmap_id) select id, 'web' from teams where slug = 'alpha';",
    )
    .execute(&w.app.db.pool)
    .await
    .unwrap();
    let (id, _) = register(&w.app, "/teams/alpha/webhooks", &lena, &url, &["skill.done"]).await;
    let (status, _, list) = w.app.get_as("/teams/alpha/webhooks", &lena).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&url));
    // Not a site-wide endpoint: the admin page does not list it.
    let (_, _, site) = w.app.get_as("/admin/webhooks", &w.admin).await;
    assert!(!site.contains(&url));

    tick(&w.app, &eve, "http-methods").await; // not in the team
    tick(&w.app, &ada, "deploys").await; // ops is not the team's roadmap
    tick(&w.app, &ada, "http-methods").await;
    assert_eq!(deliver(&w.app).await.delivered, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["learner"]["username"], "ada");
    assert_eq!(got[0].json()["skill"]["id"], "http-methods");

    // The log shows the delivery to the lead.
    let (_, _, log) = w.app.get_as(&format!("/teams/alpha/webhooks/{id}"), &lena).await;
    assert!(log.contains("skill.done") && log.contains("delivered"));
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_backoff_and_both_answers_are_logged() {
    let w = world().await;
    let (receiver, url) = Receiver::start().await;
    receiver.answers.lock().unwrap().push_back(500);
    let (id, _) = register(&w.app, "/admin/webhooks", &w.admin, &url, &["skill.done"]).await;
    let ada = w.app.sign_up("ada").await;
    tick(&w.app, &ada, "http-methods").await;

    assert_eq!(deliver(&w.app).await.failed, 1);
    let (status, attempts, wait): (String, i32, f64) = sqlx::query_as(
        "select status, attempts, extract(epoch from next_attempt_at - now())::float8 from webhook_deliveries",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!(
        (50.0..=61.0).contains(&wait),
        "the first retry waits a minute: {wait}"
    );
    // Not due yet: nothing goes out.
    assert_eq!(deliver(&w.app).await, pathway::webhooks::Report::default());
    assert_eq!(receiver.got().len(), 1);

    sqlx::query("update webhook_deliveries set next_attempt_at = now() - interval '1 second'")
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(deliver(&w.app).await.delivered, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].header("pathway-delivery"),
        got[1].header("pathway-delivery")
    );
    let answers: Vec<(Option<i32>, Option<String>)> =
        sqlx::query_as("select response_status, response_body from webhook_attempts order by id")
            .fetch_all(&w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        answers,
        vec![
            (Some(500), Some("answered 500".to_string())),
            (Some(200), Some("answered 200".to_string()))
        ]
    );
    let (_, _, log) = w.app.get_as(&format!("/admin/webhooks/{id}"), &w.admin).await;
    assert!(log.contains("500, 200"), "{log}");
    assert!(log.contains("answered 500"));

    // The schedule, and giving up after the last wait.
    assert_eq!(pathway::webhooks::retry_in(1), Some(60));
    assert_eq!(pathway::webhooks::retry_in(2), Some(300));
    assert_eq!(pathway::webhooks::retry_in(5), Some(12 * 3600));
    assert_eq!(pathway::webhooks::retry_in(6), None);
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_given_up() {
    let w = world().await;
    let (receiver, url) = Receiver::start().await;
    receiver.answers.lock().unwrap().extend([500; 6]);
    register(&w.app, "/admin/webhooks", &w.admin, &url, &["skill.done"]).await;
    let ada = w.app.sign_up("ada").await;
    tick(&w.app, &ada, "http-methods").await;
    for _ in 0..6 {
        assert_eq!(deliver(&w.app).await.failed, 1);
        sqlx::query("update webhook_deliveries set next_attempt_at = now() - interval '1 second'")
            .execute(&w.app.db.pool)
            .await
            .unwrap();
    }
    assert_eq!(deliver(&w.app).await, pathway::webhooks::Report::default());
    let status: String = sqlx::query_scalar("select status from webhook_deliveries")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(count(&w.app, "select count(*) from webhook_attempts").await, 6);
}

#[tokio::test]
async fn nothing_is_queued_without_an_endpoint_a_disabled_one_or_a_rolled_back_change() {
    let w = world().await;
    let ada = w.app.sign_up("ada").await;
    tick(&w.app, &ada, "http-methods").await;
    assert_eq!(count(&w.app, "select count(*) from webhook_deliveries").await, 0);

    let (_, url) = Receiver::start().await;
    let (id, _) = register(&w.app, "/admin/webhooks", &w.admin, &url, &["review.requested"]).await;
    // A request made and rolled back queues nothing.
    let mut tx = w.app.db.pool.begin().await.unwrap();
    sqlx::query(
        "insert into review_requests (mentee_id, skill_id, status)
         select id, 'http-methods', 'pending' from users where username = 'ada'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    let queued: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(queued, 1, "queued in the change's transaction");
    tx.rollback().await.unwrap();
    assert_eq!(count(&w.app, "select count(*) from webhook_deliveries").await, 0);

    // An event the endpoint did not ask for, and any event once it is disabled.
    tick(&w.app, &ada, "dns-records").await;
    let (status, _, _) = w
        .app
        .post_form(
            &format!("/admin/webhooks/{id}/active"),
            &[("active", "no")],
            Some(&w.admin),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    sqlx::query(
        "insert into review_requests (mentee_id, skill_id, status)
         select id, 'http-methods', 'pending' from users where username = 'ada'",
    )
    .execute(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(count(&w.app, "select count(*) from webhook_deliveries").await, 0);
}

#[tokio::test]
async fn endpoints_must_be_https_unless_loopback_is_allowed() {
    use pathway::webhooks::url_problem;
    assert_eq!(url_problem("https://hooks.example.org/pathway", false), None);
    assert!(url_problem("http://hooks.example.org/pathway", false).is_some());
    assert!(url_problem("http://hooks.example.org/pathway", true).is_some());
    assert!(url_problem("http://127.0.0.1:9000/hook", false).is_some());
    assert_eq!(url_problem("http://127.0.0.1:9000/hook", true), None);
    assert_eq!(url_problem("http://localhost:9000/hook", true), None);
    assert_eq!(url_problem("http://[::1]:9000/hook", true), None);
    assert!(url_problem("ftp://example.org/", true).is_some());
    assert!(url_problem("https://user:pw@example.org/", false).is_some());
    assert!(url_problem("not a url", false).is_some());
    for internal in [
        "https://10.1.2.3/",
        "https://192.168.1.1/",
        "https://172.16.0.1/",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://0.0.0.0/",
        "https://100.64.0.1/",
    ] {
        assert!(url_problem(internal, true).is_some(), "{internal}");
    }

    // Without the flag, the form refuses http:// to loopback, keeping what was typed.
    let w = world_with(false).await;
    let (status, _, page) = w
        .app
        .post_form(
            "/admin/webhooks",
            &[("url", "http://127.0.0.1:9/hook"), ("review_answered", "on")],
            Some(&w.admin),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("must start with https://"), "{page}");
    assert!(page.contains(r#"value="http://127.0.0.1:9/hook""#));
    assert!(page.contains(r#"name="review_answered" value="on" checked"#));
    assert!(!page.contains(r#"name="skill_done" value="on" checked"#));
    let (status, _, page) = w
        .app
        .post_form(
            "/admin/webhooks",
            &[("url", "https://hooks.example.org/x")],
            Some(&w.admin),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Choose at least one event"));
    assert_eq!(count(&w.app, "select count(*) from webhook_endpoints").await, 0);
}

#[tokio::test]
async fn deliveries_to_internal_addresses_are_refused_when_sent() {
    let w = world().await;
    let (receiver, url) = Receiver::start().await;
    let port = url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/hook")
        .to_string();
    // A name that resolves to loopback, over https; and plain http (both saved before the rules).
    for target in [format!("https://localhost:{port}/hook"), url.clone()] {
        sqlx::query(
            "insert into webhook_endpoints (url, secret, events) values ($1, 's', array['skill.done'])",
        )
        .bind(&target)
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    }
    let ada = w.app.sign_up("ada").await;
    tick(&w.app, &ada, "http-methods").await;
    let strict = Sender::new(false).unwrap();
    let report = deliver_due(&w.app.db.pool, &strict, 10).await.unwrap();
    assert_eq!(report.failed, 2);
    assert!(receiver.got().is_empty());
    let errors: Vec<String> = sqlx::query_scalar("select error from webhook_attempts order by id")
        .fetch_all(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e.contains("refused")), "{errors:?}");
}

#[tokio::test]
async fn a_test_delivery_and_a_redelivery() {
    let w = world().await;
    let (receiver, url) = Receiver::start().await;
    let (id, secret) = register(&w.app, "/admin/webhooks", &w.admin, &url, &["skill.done"]).await;
    let (status, _, _) = w
        .app
        .post_form(&format!("/admin/webhooks/{id}/ping"), &[], Some(&w.admin))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(deliver(&w.app).await.delivered, 1);
    let got = receiver.got();
    assert_eq!(got[0].header("pathway-event"), "ping");
    assert!(signed_by(&got[0], &secret));
    assert_eq!(got[0].json()["endpoint"]["id"], id);

    let delivery = count(&w.app, "select max(id) from webhook_deliveries").await;
    let (status, headers, _) = w
        .app
        .post_form(
            &format!("/admin/webhooks/deliveries/{delivery}/redeliver"),
            &[],
            Some(&w.admin),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], format!("/admin/webhooks/{id}").as_str());
    assert_eq!(deliver(&w.app).await.delivered, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].header("pathway-delivery"), delivery.to_string());
    assert_eq!(count(&w.app, "select count(*) from webhook_attempts").await, 2);

    // Deleting it is audited, and takes its log along.
    let (status, _, _) = w
        .app
        .post_form(&format!("/admin/webhooks/{id}/delete"), &[], Some(&w.admin))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(count(&w.app, "select count(*) from webhook_deliveries").await, 0);
    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'webhook%' order by id")
            .fetch_all(&w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(actions, ["webhook_created", "webhook_deleted"]);
}

#[tokio::test]
async fn only_admins_and_team_leads_reach_webhooks() {
    let w = world().await;
    let (_, url) = Receiver::start().await;
    let ada = w.app.sign_up("ada").await;
    let lena = w.app.sign_up("lena").await;
    let bob = w.app.sign_up("bob").await;
    sqlx::raw_sql(
        "insert into teams (slug, name) values ('alpha', 'Alpha'), ('beta', 'Beta');
         insert into team_members (team_id, user_id, role)
         select t.id, u.id, m.role
         from (values ('alpha', 'ada', 'learner'), ('alpha', 'lena', 'lead'), ('beta', 'bob', 'lead'))
              as m(team, username, role)
         join teams t on t.slug = m.team join users u on u.username = m.username;",
    )
    .execute(&w.app.db.pool)
    .await
    .unwrap();
    let (site, _) = register(&w.app, "/admin/webhooks", &w.admin, &url, &["skill.done"]).await;
    let (team, _) = register(&w.app, "/teams/alpha/webhooks", &lena, &url, &["skill.done"]).await;

    for cookie in [&ada, &lena, &bob] {
        for path in ["/admin/webhooks".to_string(), format!("/admin/webhooks/{site}")] {
            assert_eq!(
                w.app.get_as(&path, cookie).await.0,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let (status, _, _) = w
            .app
            .post_form(&format!("/admin/webhooks/{site}/delete"), &[], Some(cookie))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    for cookie in [&ada, &bob] {
        assert_eq!(
            w.app.get_as("/teams/alpha/webhooks", cookie).await.0,
            StatusCode::NOT_FOUND
        );
        let (status, _, _) = w
            .app
            .post_form(&format!("/teams/alpha/webhooks/{team}/delete"), &[], Some(cookie))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Bob leads beta: alpha's endpoint is not found through his team either.
    assert_eq!(
        w.app
            .get_as(&format!("/teams/beta/webhooks/{team}"), &bob)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // The lead reaches only the team's endpoints, not the site's.
    assert_eq!(
        w.app
            .get_as(&format!("/teams/alpha/webhooks/{site}"), &lena)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, headers, _) = w.app.get("/admin/webhooks").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers["location"].to_str().unwrap().starts_with("/signin"));
    assert_eq!(count(&w.app, "select count(*) from webhook_endpoints").await, 2);
}

#[tokio::test]
async fn a_cross_site_post_is_refused() {
    let w = world().await;
    let request = axum::http::Request::post("/admin/webhooks")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .header("cookie", &w.admin)
        .body(axum::body::Body::from(
            "url=https%3A%2F%2Fevil.example%2F&skill_done=on",
        ))
        .unwrap();
    let (status, _, _) = w.app.request(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(count(&w.app, "select count(*) from webhook_endpoints").await, 0);
}

#[tokio::test]
async fn marking_a_whole_stage_done_sends_one_stage_event() {
    let w = world().await;
    let (receiver, url) = Receiver::start().await;
    register(
        &w.app,
        "/admin/webhooks",
        &w.admin,
        &url,
        &["skill.done", "stage.done"],
    )
    .await;
    let ada = w.app.sign_up("ada").await;
    w.app.post_form("/progress/web/start", &[], Some(&ada)).await;
    let (status, _, _) = w
        .app
        .post_form("/progress/web/http/complete", &[], Some(&ada))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    deliver(&w.app).await;
    let mut events: Vec<String> = receiver.got().iter().map(|g| g.header("pathway-event")).collect();
    events.sort();
    // The stage's required skill (completing leaves optional ones), and the stage once.
    assert_eq!(events, ["skill.done", "stage.done"]);
}

#[tokio::test]
async fn two_senders_never_send_one_delivery_twice() {
    let w = world().await;
    let (receiver, url) = Receiver::start().await;
    let (id, _) = register(&w.app, "/admin/webhooks", &w.admin, &url, &["skill.done"]).await;
    for _ in 0..8 {
        w.app
            .post_form(&format!("/admin/webhooks/{id}/ping"), &[], Some(&w.admin))
            .await;
    }
    let (one, two) = (Sender::new(true).unwrap(), Sender::new(true).unwrap());
    let (a, b) = tokio::join!(
        deliver_due(&w.app.db.pool, &one, 50),
        deliver_due(&w.app.db.pool, &two, 50)
    );
    assert_eq!(a.unwrap().delivered + b.unwrap().delivered, 8);
    let mut ids: Vec<String> = receiver
        .got()
        .iter()
        .map(|g| g.header("pathway-delivery"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    assert_eq!(receiver.got().len(), 8);
}
