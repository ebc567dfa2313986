//! Faults as tests: a database restart while learners tick, two instances serving one user
//! in turn, and a content apply killed halfway.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{LiveServer, TestApp, write_files};
use pathway::app::Limits;
use pathway::config::Settings;
use pathway::content::Catalog;
use pathway::embedded_pg::{self, EmbeddedPostgres};
use pathway::{AppState, db};
use sqlx::postgres::PgPoolOptions;

fn default_content() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("content")
}

/// A tick posted over TCP with `cookie`; returns the status.
async fn tick(server: &LiveServer, cookie: &str, skill: &str) -> u16 {
    let head = format!(
        "POST /skills/{skill}/state HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nSec-Fetch-Site: same-origin\r\nCookie: {cookie}"
    );
    server.send(&head, "state=done&version=0").await.0
}

#[tokio::test]
async fn a_database_restart_while_ticking_loses_no_acknowledged_tick() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("pg");
    let cluster = EmbeddedPostgres::start(&data, None).unwrap();
    embedded_pg::ensure_database(&cluster, "pathway").await.unwrap();
    // The server's own pool settings (no ping before acquiring).
    let pool = db::pool_options(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(cluster.connect_options("pathway"))
        .await
        .unwrap();
    db::migrate(&pool).await.unwrap();
    pathway::app::load_content(&pool, &default_content())
        .await
        .unwrap();
    let catalog = Catalog::load(&pool).await.unwrap();
    let skills: Vec<String> = catalog.roadmaps[0]
        .stages
        .iter()
        .flat_map(|s| s.skills.iter().map(|k| k.id.clone()))
        .take(60)
        .collect();
    let roadmap = catalog.roadmaps[0].id.clone();
    let state = AppState::new(
        pool.clone(),
        catalog,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("static"),
        Settings::default(),
    );
    let server = LiveServer::serve(state.clone(), Limits::default()).await;
    let password = common::STRONG_PASSWORD;
    let body = common::serde_urlencoded(&[
        ("username", "ada"),
        ("display_name", "Ada"),
        ("password", password),
    ]);
    let (status, response) = server
        .send(
            "POST /signup HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nSec-Fetch-Site: same-origin",
            &body,
        )
        .await;
    assert_eq!(status, 303, "{response}");
    let cookie = response
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: pathway_session="))
        .map(|v| format!("pathway_session={}", v.split(';').next().unwrap()))
        .expect("a session cookie");
    let start = format!(
        "POST /progress/{roadmap}/start HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nSec-Fetch-Site: same-origin\r\nCookie: {cookie}"
    );
    assert_eq!(server.send(&start, "").await.0, 303);

    let mut outcomes = Vec::new();
    for (i, skill) in skills.iter().enumerate() {
        if i == 20 {
            // A fast shutdown drops every connection, as a restart or failover does.
            cluster.stop().unwrap();
            let again = EmbeddedPostgres::start(&data, None).unwrap();
            std::mem::forget(again);
        }
        outcomes.push((skill.clone(), tick(&server, &cookie, skill).await));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acknowledged: Vec<&String> = outcomes
        .iter()
        .filter(|(_, status)| *status == 303)
        .map(|(skill, _)| skill)
        .collect();
    for (skill, status) in &outcomes {
        assert!(*status == 303 || *status == 503, "{skill}: {status}, never a 500");
    }
    assert!(
        outcomes[outcomes.len() - 20..].iter().all(|(_, s)| *s == 303),
        "the server recovered by itself: {outcomes:?}"
    );
    let stored: Vec<String> = sqlx::query_scalar(
        "select distinct s.id from progress_events e join skills s on s.id = e.skill_id where e.to_state = 'done'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for skill in acknowledged {
        assert!(stored.contains(skill), "acknowledged tick on {skill} was lost");
    }
    server.stop().await;
    pool.close().await;
    cluster.stop().unwrap();
}

#[tokio::test]
async fn one_user_alternating_between_two_instances_sees_one_account() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let first = TestApp::with_content(dir.path()).await;
    // A second instance: its own pool and state on the same database.
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(first.db.options.clone())
        .await
        .unwrap();
    let catalog = Catalog::load(&pool).await.unwrap();
    let second = AppState::new(
        pool,
        catalog,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("static"),
        Settings::default(),
    );
    let a = LiveServer::start(&first, Limits::default()).await;
    let b = LiveServer::serve(second, Limits::default()).await;

    let cookie = first.sign_up("ada").await;
    let post = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nSec-Fetch-Site: same-origin\r\nCookie: {cookie}"
        )
    };
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nCookie: {cookie}");
    assert_eq!(b.send(&post("/progress/web/start"), "").await.0, 303);
    assert_eq!(
        a.send(&post("/skills/http-methods/state"), "state=done&version=0")
            .await
            .0,
        303
    );
    assert_eq!(
        b.send(&post("/skills/dns-records/state"), "state=in_progress&version=0")
            .await
            .0,
        303
    );
    let (status, page) = a.send(&get("/roadmaps/web/dns"), "").await;
    assert_eq!(status, 200);
    assert!(page.contains("In progress"), "instance A sees B's tick");
    let (status, page) = b.send(&get("/roadmaps/web/http"), "").await;
    assert_eq!(status, 200);
    assert!(page.contains("Done"), "instance B sees A's tick");
    // Signing out on one instance ends the session on both.
    assert_eq!(a.send(&post("/signout"), "").await.0, 303);
    let (status, _) = b.send(&get("/dashboard"), "").await;
    assert_eq!(status, 303, "signed out everywhere");
    a.stop().await;
    b.stop().await;
}

/// Roadmap `big` with `stages` × 100 skills; `version` changes every body.
fn big_roadmap(dir: &Path, stages: usize, version: &str) {
    write_files(
        dir,
        &[(
            "big/roadmap.md",
            "+++\ntitle = \"Big\"\nsummary = \"Many skills.\"\norder = 9\n+++\nMany skills.\n",
        )],
    );
    for stage in 0..stages {
        let mut text = format!("+++\nid = \"big-{stage}\"\ntitle = \"Stage {stage}\"\n+++\nIntro.\n");
        for skill in 0..100 {
            text.push_str(&format!(
                "\n## Skill {stage}-{skill} {{#big-{stage}-{skill}}}\nText {version} of skill {skill}.\n"
            ));
        }
        write_files(dir, &[(&format!("big/{stage:02}-stage.md"), &text)]);
    }
}

/// Live skills, live skills whose text says `word`, and the applied content version.
async fn content_state(app: &TestApp, word: &str) -> (i64, i64, String) {
    sqlx::query_as(
        "select (select count(*) from skills where retired_at is null),
                (select count(*) from skills where retired_at is null and body_md like '%' || $1 || '%'),
                (select content_hash from content_loads where status = 'applied' order by id desc limit 1)",
    )
    .bind(word)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

fn apply_command(app: &TestApp, dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pathway"));
    command
        .args(["content", "apply", "--allow-retire"])
        .arg(dir)
        .env("DATABASE_URL", common::database_url(app))
        .env("PATHWAY_LOG", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

#[tokio::test]
async fn a_content_apply_killed_halfway_leaves_the_old_or_the_new_content() {
    let dir = tempfile::tempdir().unwrap();
    big_roadmap(dir.path(), 20, "one");
    let app = TestApp::with_content(dir.path()).await;

    // Version two: every text edited and one stage removed; time a whole apply of it.
    big_roadmap(dir.path(), 20, "two");
    std::fs::remove_file(dir.path().join("big/19-stage.md")).unwrap();
    let started = std::time::Instant::now();
    assert!(apply_command(&app, dir.path()).status().unwrap().success());
    let whole_apply = started.elapsed();
    let (live, edited, two) = content_state(&app, "two").await;
    assert_eq!((live, edited), (1900, 1900));

    // Version three brings the stage back and edits everything again; kill it at points
    // through the time a whole apply takes.
    big_roadmap(dir.path(), 20, "three");
    let mut finished = false;
    for tenths in [2, 4, 5, 6, 7, 8, 9] {
        let mut child = apply_command(&app, dir.path()).spawn().unwrap();
        tokio::time::sleep(whole_apply * tenths / 10).await;
        let _ = child.kill();
        let status = child.wait().unwrap();
        let (live, edited, version) = content_state(&app, "three").await;
        let whole_old = live == 1900 && edited == 0 && version == two;
        let whole_new = live == 2000 && edited == 2000 && version != two;
        assert!(
            whole_old || whole_new,
            "killed at {tenths}/10 of {whole_apply:?} ({status}): {live} live skills, {edited} edited, version {version}"
        );
        if whole_new {
            finished = true;
            break;
        }
    }
    if !finished {
        assert!(apply_command(&app, dir.path()).status().unwrap().success());
        let (live, edited, _) = content_state(&app, "three").await;
        assert_eq!((live, edited), (2000, 2000), "a later apply finishes the job");
    }
}
