//! Content operations: plans before loads, held changes, renames and merges that carry every row, Reload, the watcher, several instances, sub-steps.

mod common;

use std::path::Path;
use std::time::Duration;

use axum::http::{StatusCode, header};
use common::{TestApp, sample_content, write_files};
use pathway::AppState;
use pathway::content::parse::{read_sources, source_hash};
use pathway::content::sync::{self, LoadOutcome, Policy, Trigger};
use pathway::content::{Catalog, parse_dir};
use sqlx::PgPool;

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    (TestApp::with_content(dir.path()).await, dir)
}

/// Gives `user` a state on `skill` the way the app records it: a row and an event.
async fn set_state(pool: &PgPool, user: i64, skill: &str, state: &str, started_days_ago: i64) {
    sqlx::query(
        "insert into skill_progress (user_id, skill_id, state, started_at, done_at, updated_at)
         values ($1, $2, $3, now() - make_interval(days => $4::int),
                 case when $3 = 'done' then now() end, now() - make_interval(days => $4::int))
         on conflict (user_id, skill_id) do update set state = excluded.state",
    )
    .bind(user)
    .bind(skill)
    .bind(state)
    .bind(started_days_ago as i32)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state)
         values (nextval('progress_actions'), $1, $2, $1, 'set', 'not_started', $3)",
    )
    .bind(user)
    .bind(skill)
    .bind(state)
    .execute(pool)
    .await
    .unwrap();
}

async fn count(pool: &PgPool, table: &str, skill_column: &str, skill: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table} where {skill_column} = $1"))
        .bind(skill)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn skills_snapshot(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("select k::text from skills k order by id")
        .fetch_all(pool)
        .await
        .unwrap()
}

const HTTP_V2: &str = "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests and responses.\n\n\
    ## Headers {#http-headers}\nContent-Type and friends.\n\n\
    ## HTTP methods {#http-methods}\nGET, POST and PUT.\n";
const DNS_V2: &str = "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames to addresses.\n\n\
    ## Record types {#dns-record-types replaces=dns-records}\nA and AAAA.\n";

#[tokio::test]
async fn the_plan_names_each_kind_of_change_and_writes_nothing() {
    let (app, dir) = app().await;
    let pool = &app.db.pool;
    app.sign_up("ada").await;
    let ada = app.user_id("ada").await;
    set_state(pool, ada, "status-codes", "done", 3).await;
    set_state(pool, ada, "dns-records", "in_progress", 2).await;
    write_files(
        dir.path(),
        &[("web/01-http.md", HTTP_V2), ("web/02-dns.md", DNS_V2)],
    );

    let content = parse_dir(dir.path()).unwrap();
    let before = skills_snapshot(pool).await;
    let plan = sync::plan(pool, &content).await.unwrap();
    assert_eq!(skills_snapshot(pool).await, before, "planning writes nothing");

    let ids = |items: &[pathway::content::plan::SkillChange]| {
        items.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&plan.added), ["http-headers"]);
    assert_eq!(ids(&plan.updated), ["http-methods"], "title and text changed");
    assert!(
        plan.moved.is_empty(),
        "http-methods is now second in its stage, which is not a move: {:?}",
        plan.moved
    );
    assert_eq!(ids(&plan.retired), ["status-codes"]);
    assert_eq!(plan.retired[0].learners, 1);
    assert_eq!(plan.renamed.len(), 1);
    assert_eq!(plan.renamed[0].id, "dns-record-types");
    assert_eq!(plan.renamed[0].from, ["dns-records"]);
    assert_eq!(plan.renamed[0].learners, 1);
    assert!(plan.revived.is_empty());
    assert!(plan.retires_progress());
    let report = plan.report();
    assert!(
        report.contains("1 added, 1 updated, 0 moved, 1 renamed, 1 retired"),
        "{report}"
    );
    assert!(report.contains("dns-record-types <- dns-records"), "{report}");
    assert!(
        report.contains("status-codes") && report.contains("Warning"),
        "{report}"
    );

    // The watcher's policy holds it: nothing changes, and the hold is recorded once.
    for _ in 0..2 {
        let outcome = sync::apply_with(pool, &content, Trigger::Watcher, Policy::HoldRetiringProgress)
            .await
            .unwrap();
        assert!(matches!(outcome, LoadOutcome::Held(_)), "{outcome:?}");
    }
    assert_eq!(skills_snapshot(pool).await, before, "a held plan changes nothing");
    let held: i64 = sqlx::query_scalar("select count(*) from content_loads where status = 'held'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(held, 1);

    // Applied, each kind of change lands.
    let outcome = sync::apply_with(pool, &content, Trigger::Admin(ada), Policy::Apply)
        .await
        .unwrap();
    let LoadOutcome::Applied(counts) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((counts.renamed, counts.moved), (1, 0));
    let catalog = Catalog::load(pool).await.unwrap();
    let (_, stage, methods) = catalog.skill("http-methods").unwrap();
    assert_eq!(methods.title, "HTTP methods");
    assert_eq!(stage.skills[0].id, "http-headers");
    assert!(catalog.skill("status-codes").is_none());
    assert!(catalog.skill("dns-records").is_none());
    assert!(catalog.skill("dns-record-types").is_some());
    assert_eq!(
        count(pool, "skill_progress", "skill_id", "status-codes").await,
        1,
        "retired keeps progress"
    );
    assert_eq!(
        count(pool, "skill_progress", "skill_id", "dns-record-types").await,
        1,
        "renamed carries it"
    );
    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'content.%' order by id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert!(
        actions.ends_with(&["content.held".to_string(), "content.applied".to_string()]),
        "{actions:?}"
    );
    // Loading the same files again is a no-op, and plans nothing.
    assert_eq!(sync::apply(pool, &content).await.unwrap(), LoadOutcome::Unchanged);
    assert!(sync::plan(pool, &content).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_plan_that_retires_nothing_with_progress_applies_under_the_watchers_policy() {
    let (app, dir) = app().await;
    let pool = &app.db.pool;
    // status-codes has no progress: retiring it is safe.
    write_files(dir.path(), &[("web/01-http.md", HTTP_V2)]);
    let content = parse_dir(dir.path()).unwrap();
    let outcome = sync::apply_with(pool, &content, Trigger::Watcher, Policy::HoldRetiringProgress)
        .await
        .unwrap();
    assert!(matches!(outcome, LoadOutcome::Applied(_)), "{outcome:?}");
}

#[tokio::test]
async fn a_rename_carries_every_kind_of_row_and_old_exports_follow_it() {
    let (app, dir) = app().await;
    let pool = &app.db.pool;
    app.sign_up("ada").await;
    app.sign_up("max").await;
    let ada = app.user_id("ada").await;
    let max = app.user_id("max").await;
    set_state(pool, ada, "dns-records", "done", 5).await;
    sqlx::query("update skill_progress set verified_by = $1, verified_at = now() where user_id = $2")
        .bind(max)
        .bind(ada)
        .execute(pool)
        .await
        .unwrap();
    for statement in [
        "insert into notes (user_id, skill_id, body_md) values ($1, 'dns-records', 'my dig notes')",
        "insert into evidence (user_id, skill_id, url, title) values ($1, 'dns-records', 'https://example.org/dig', 'dig')",
        "insert into review_requests (mentee_id, skill_id, status) values ($1, 'dns-records', 'pending')",
        "insert into step_ticks (user_id, skill_id, step_key) values ($1, 'dns-records', 'run-dig')",
    ] {
        sqlx::query(statement).bind(ada).execute(pool).await.unwrap();
    }
    sqlx::query("insert into comments (mentee_id, skill_id, author_id, body_md) values ($1, 'dns-records', $2, 'nice')")
        .bind(ada)
        .bind(max)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into notifications (recipient_id, kind, summary, target_url) values ($1, 'comment', 'x', '/roadmaps/web/dns#dns-records')",
    )
    .bind(ada)
    .execute(pool)
    .await
    .unwrap();

    write_files(dir.path(), &[("web/02-dns.md", DNS_V2)]);
    let outcome = pathway::app::load_content(pool, dir.path()).await.unwrap();
    assert!(matches!(outcome, LoadOutcome::Applied(_)), "{outcome:?}");

    for (table, column) in [
        ("skill_progress", "skill_id"),
        ("progress_events", "skill_id"),
        ("notes", "skill_id"),
        ("evidence", "skill_id"),
        ("review_requests", "skill_id"),
        ("comments", "skill_id"),
        ("step_ticks", "skill_id"),
    ] {
        assert_eq!(
            count(pool, table, column, "dns-records").await,
            0,
            "{table} left on the old id"
        );
        assert_eq!(
            count(pool, table, column, "dns-record-types").await,
            1,
            "{table} moved"
        );
    }
    let (state, verified_by): (String, Option<i64>) =
        sqlx::query_as("select state, verified_by from skill_progress where skill_id = 'dns-record-types'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), verified_by), ("done", Some(max)));
    let target: String = sqlx::query_scalar("select target_url from notifications")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(target, "/roadmaps/web/dns#dns-record-types");
    let alias: String = sqlx::query_scalar("select new_id from skill_aliases where old_id = 'dns-records'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(alias, "dns-record-types");
    // The old row stays, retired, for its history.
    let retired: bool =
        sqlx::query_scalar("select retired_at is not null from skills where id = 'dns-records'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(retired);
    // The learner's page shows the skill under its new id, done.
    app.state.refresh_catalog().await.unwrap();
    let cookie = app.sign_in("ada", common::STRONG_PASSWORD, None).await;
    sqlx::query("insert into enrollments (user_id, roadmap_id) values ($1, 'web') on conflict do nothing")
        .bind(ada)
        .execute(pool)
        .await
        .unwrap();
    let new_id: String = sqlx::query_scalar("select skill_id from notes where body_md like '%my dig notes%'")
        .fetch_one(pool)
        .await
        .unwrap();
    let (_, _, page) = app.get_as(&format!("/roadmaps/web/dns/{new_id}"), &cookie).await;
    assert!(
        page.contains("Record types") && page.contains("my dig notes"),
        "{page}"
    );

    // An export made before the rename lands on the new id.
    let export = serde_json::json!({
        "format": "pathway-progress", "version": 1, "exported_at": "2026-01-01T00:00:00Z", "username": "ada",
        "skills": [{"skill": "dns-records", "state": "done"}],
        "notes": [{"skill": "dns-records", "body": "old note", "updated_at": "2026-01-01T00:00:00Z"}],
    });
    let (skills, roadmaps) = pathway::db::transfer::known_ids(pool).await.unwrap();
    let aliases = pathway::db::content::aliases(pool).await.unwrap();
    let plan =
        pathway::transfer::validate(export.to_string().as_bytes(), &skills, &roadmaps, &aliases).unwrap();
    assert_eq!(plan.skills[0].0.skill, "dns-record-types");
    assert_eq!(plan.notes[0].skill, "dns-record-types");

    // Loading again does not move anything twice, and the replaces list can stay.
    assert_eq!(
        pathway::app::load_content(pool, dir.path()).await.unwrap(),
        LoadOutcome::Unchanged
    );
}

#[tokio::test]
async fn a_merge_keeps_the_most_advanced_state_and_all_history() {
    let (app, dir) = app().await;
    let pool = &app.db.pool;
    app.sign_up("ada").await;
    let ada = app.user_id("ada").await;
    set_state(pool, ada, "http-methods", "in_progress", 10).await;
    set_state(pool, ada, "status-codes", "done", 2).await;
    sqlx::query("insert into notes (user_id, skill_id, body_md) values ($1, 'http-methods', 'about GET'), ($1, 'status-codes', 'about 404')")
        .bind(ada)
        .execute(pool)
        .await
        .unwrap();

    write_files(
        dir.path(),
        &[(
            "web/01-http.md",
            "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests.\n\n\
             ## Methods and status codes {#http-basics replaces=http-methods,status-codes}\nBoth.\n",
        )],
    );
    let content = parse_dir(dir.path()).unwrap();
    let plan = sync::plan(pool, &content).await.unwrap();
    assert!(
        plan.retired.is_empty(),
        "merged skills are renamed, not retired: {plan:?}"
    );
    assert!(!plan.retires_progress());
    assert_eq!(plan.renamed[0].from, ["http-methods", "status-codes"]);
    sync::apply(pool, &content).await.unwrap();

    let (state, started_days): (String, f64) = sqlx::query_as(
        "select state, extract(day from now() - started_at)::float8 from skill_progress where skill_id = 'http-basics'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(state, "done", "the most advanced state wins");
    assert!(started_days >= 9.0, "the earliest start is kept: {started_days}");
    assert_eq!(
        count(pool, "progress_events", "skill_id", "http-basics").await,
        2,
        "all history kept"
    );
    let note: String = sqlx::query_scalar("select body_md from notes where skill_id = 'http-basics'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(note.contains("about GET") && note.contains("about 404"), "{note}");
    assert_eq!(count(pool, "skill_progress", "skill_id", "http-methods").await, 0);
}

fn errors_of(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    write_files(dir.path(), files);
    let errors: Vec<String> = parse_dir(dir.path())
        .unwrap_err()
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    errors.join("\n")
}

#[test]
fn replaces_is_validated_with_file_and_line() {
    let head = "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nIntro.\n\n## Records {#dns-records}\nA.\n\n";
    let text = errors_of(&[(
        "web/02-dns.md",
        &format!("{head}## Types {{#dns-types replaces=dns-records}}\nB.\n"),
    )]);
    assert!(
        text.contains("02-dns.md:10: skill \"dns-types\" replaces \"dns-records\", but \"dns-records\" is still defined at"),
        "{text}"
    );
    let text = errors_of(&[
        (
            "web/02-dns.md",
            &format!("{head}## Self {{#loop replaces=loop,Bad_Id}}\nC.\n"),
        ),
        ("ops/roadmap.md", "+++\ntitle = \"Ops\"\nsummary = \"S.\"\n+++\n"),
        (
            "ops/01-a.md",
            "+++\nid = \"a\"\ntitle = \"A\"\n+++\n## A {#ops-a replaces=old}\n",
        ),
        (
            "ops/02-b.md",
            "+++\nid = \"b\"\ntitle = \"B\"\n+++\n## B {#ops-b replaces=old}\n",
        ),
    ]);
    assert!(
        text.contains("02-dns.md:10: skill \"loop\" cannot replace itself"),
        "{text}"
    );
    assert!(
        text.contains("02-dns.md:10: invalid id \"Bad_Id\" in replaces="),
        "{text}"
    );
    assert!(
        text.contains("02-b.md:5: \"old\" is already replaced by the skill at"),
        "{text}"
    );
}

#[tokio::test]
async fn reload_applies_safe_changes_and_asks_before_retiring_progress() {
    let (app, dir) = app().await;
    let admin = app.sign_up_admin("root").await;
    let learner = app.sign_up("ada").await;
    let ada = app.user_id("ada").await;

    // A title edit retires nothing: Reload applies it straight away.
    write_files(
        dir.path(),
        &[(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames.\n\n## DNS records {#dns-records}\nA and AAAA.\n",
        )],
    );
    let (status, headers, _) = app.post_form("/admin/content/reload", &[], Some(&admin)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/content?done=applied");
    assert_eq!(
        app.state.catalog.load().skill("dns-records").unwrap().2.title,
        "DNS records"
    );
    let (_, _, page) = app.get_as("/admin/content?done=applied", &admin).await;
    assert!(
        page.contains("Applied: the new content is live") && page.contains("root (Reload)"),
        "{page}"
    );

    // Removing a skill with progress: Reload shows the plan and asks.
    set_state(&app.db.pool, ada, "status-codes", "done", 1).await;
    write_files(
        dir.path(),
        &[(
            "web/01-http.md",
            "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests.\n\n## Methods {#http-methods}\nGET and POST.\n",
        )],
    );
    let (status, _, page) = app.post_form("/admin/content/reload", &[], Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("status-codes") && page.contains("1 learner with progress"),
        "{page}"
    );
    assert!(page.contains("I understand"), "{page}");
    assert!(
        app.state.catalog.load().skill("status-codes").is_some(),
        "nothing changed yet"
    );
    let hash = parse_dir(dir.path()).unwrap().hash;

    let (status, _, page) = app
        .post_form("/admin/content/apply", &[("hash", hash.as_str())], Some(&admin))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no confirmation");
    assert!(page.contains("Tick the box"), "{page}");
    let (status, _, page) = app
        .post_form(
            "/admin/content/apply",
            &[("hash", "stale"), ("confirm", "yes")],
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the files changed since the plan");
    assert!(page.contains("changed since you saw the plan"), "{page}");
    assert!(app.state.catalog.load().skill("status-codes").is_some());

    let (status, headers, _) = app
        .post_form(
            "/admin/content/apply",
            &[("hash", hash.as_str()), ("confirm", "yes")],
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/content?done=applied");
    assert!(app.state.catalog.load().skill("status-codes").is_none());
    assert_eq!(
        count(&app.db.pool, "skill_progress", "skill_id", "status-codes").await,
        1
    );
    let (_, _, page) = app.get_as("/roadmaps/web/http", &learner).await;
    assert!(!page.contains("Status codes"));

    // A broken file: the error is shown with file:line, the content stays.
    write_files(
        dir.path(),
        &[("web/02-dns.md", "+++\nid = \"dns\"\n+++\n## Oops\n")],
    );
    let (_, _, plan_page) = app.get_as("/admin/content/plan", &admin).await;
    assert!(plan_page.contains("02-dns.md:2: missing `title`"), "{plan_page}");
    let (status, headers, _) = app.post_form("/admin/content/reload", &[], Some(&admin)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/content?done=failed");
    assert!(
        app.state.catalog.load().skill("dns-records").is_some(),
        "the old content stays live"
    );
    let (_, _, page) = app.get_as("/admin/content", &admin).await;
    assert!(
        page.contains("02-dns.md:4: skill heading &#34;Oops&#34; has no id"),
        "{page}"
    );

    // Every load is in the audit log, with the admin who started it.
    let entries: Vec<(String, Option<String>)> = sqlx::query_as(
        "select a.action, u.username from audit_log a left join users u on u.id = a.actor_id
         where a.action like 'content.%' order by a.id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let root = Some("root".to_string());
    assert_eq!(
        entries,
        [
            ("content.applied".to_string(), None),
            ("content.applied".to_string(), root.clone()),
            ("content.applied".to_string(), root.clone()),
            ("content.failed".to_string(), root.clone()),
        ]
    );
    let (_, _, audit) = app.get_as("/admin/audit?action=content", &admin).await;
    assert!(
        audit.contains("<code>content.failed</code>") && audit.contains("<code>content.applied</code>"),
        "{audit}"
    );
}

/// Polls `check` for up to ten seconds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn the_watcher_applies_safe_edits_and_holds_retirements_for_an_admin() {
    let (app, dir) = app().await;
    let admin = app.sign_up_admin("root").await;
    app.sign_up("ada").await;
    let ada = app.user_id("ada").await;
    let watcher = tokio::spawn(pathway::app::watch_content(
        app.state.clone(),
        Duration::from_millis(200),
    ));
    // The watcher registers with the kernel once it first runs: write until it has seen
    // an edit (rewriting the same text is harmless).
    let state = app.state.clone();
    let edited = "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames.\n\n## Watched records {#dns-records}\nA.\n";
    let mut writes = 0;
    eventually("the watcher to apply the edit", async || {
        if writes % 10 == 0 {
            write_files(dir.path(), &[("web/02-dns.md", edited)]);
        }
        writes += 1;
        state
            .catalog
            .load()
            .skill("dns-records")
            .is_some_and(|s| s.2.title == "Watched records")
    })
    .await;

    set_state(&app.db.pool, ada, "dns-records", "done", 1).await;
    write_files(
        dir.path(),
        &[(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames.\n\n## Something else {#dns-other}\nB.\n",
        )],
    );
    let pool = app.db.pool.clone();
    eventually("the watcher to hold the change", async || {
        sqlx::query_scalar::<_, i64>("select count(*) from content_loads where status = 'held'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 1
    })
    .await;
    assert!(
        app.state.catalog.load().skill("dns-records").is_some(),
        "held: still live"
    );
    // The admins are told, once per held load.
    let pool = app.db.pool.clone();
    let told = async || {
        sqlx::query_scalar::<_, String>(
            "select n.summary || ' -> ' || n.target_url from notifications n join users u on u.id = n.recipient_id
             where u.username = 'root'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    eventually("the admins to be told", async || told().await.len() == 1).await;
    let notices = told().await;
    assert!(
        notices[0].starts_with("A content change is waiting for you: it would retire 1 skill with learner progress -> /admin/content?load="),
        "{notices:?}"
    );
    let held = pathway::content::sync::load_dir_with(
        &app.db.pool,
        dir.path(),
        Trigger::Watcher,
        Policy::HoldRetiringProgress,
    )
    .await
    .unwrap();
    app.state.tell_admins(&held).await.unwrap();
    assert_eq!(told().await.len(), 1, "not told twice about one held load");
    assert!(app.state.catalog.load().skill("dns-other").is_none());
    let (_, _, page) = app.get_as("/admin/content", &admin).await;
    assert!(
        page.contains("A change is waiting for you") && page.contains("dns-records"),
        "{page}"
    );
    watcher.abort();
}

#[tokio::test]
async fn two_instances_on_one_database_both_serve_a_load() {
    let (app, dir) = app().await;
    // A second instance: its own pool and catalog on the same database.
    let pool_b = sqlx::postgres::PgPoolOptions::new()
        .max_connections(3)
        .connect_with(app.db.options.clone())
        .await
        .unwrap();
    let catalog_b = Catalog::load(&pool_b).await.unwrap();
    let static_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let b = AppState::new(
        pool_b,
        catalog_b,
        &static_dir,
        app.state.settings.as_ref().clone(),
    );
    // However soon the load comes, the follower picks it up: by its NOTIFY, or by the
    // version check it makes once it is listening.
    let follower = tokio::spawn(pathway::app::follow_content_loads(b.clone()));

    write_files(
        dir.path(),
        &[(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames.\n\n## Records, again {#dns-records}\nA.\n",
        )],
    );
    let outcome = app.state.reload(Trigger::Cli, Policy::Apply).await.unwrap();
    assert!(matches!(outcome, LoadOutcome::Applied(_)), "{outcome:?}");
    eventually("the second instance to serve the new content", async || {
        b.catalog
            .load()
            .skill("dns-records")
            .is_some_and(|s| s.2.title == "Records, again")
    })
    .await;
    assert_eq!(b.catalog.load().version, app.state.catalog.load().version);

    // The follower is listening now, so the next load reaches it by NOTIFY (its fallback
    // check comes only every 30 seconds, after this test would have given up).
    write_files(
        dir.path(),
        &[(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames.\n\n## Records, notified {#dns-records}\nA.\n",
        )],
    );
    app.state.reload(Trigger::Cli, Policy::Apply).await.unwrap();
    eventually("the second instance to hear of the next load", async || {
        b.catalog
            .load()
            .skill("dns-records")
            .is_some_and(|s| s.2.title == "Records, notified")
    })
    .await;
    // The second instance did not load the files itself: one applied load each time.
    let applied: i64 = sqlx::query_scalar("select count(*) from content_loads where status = 'applied'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(applied, 3, "the first load and these two");
    follower.abort();
}

const STEPS: &str = "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests.\n\n\
    ## Methods {#http-methods}\nGET and POST.\n\n\
    - [ ] Send a GET with curl {#curl}\n- [ ] Read the method table\n- plain item\n";

#[tokio::test]
async fn sub_steps_tick_per_learner_and_never_change_the_skill_state() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    write_files(dir.path(), &[("web/01-http.md", STEPS)]);
    let app = TestApp::with_content(dir.path()).await;
    let catalog = app.state.catalog.load();
    let (_, _, skill) = catalog.skill("http-methods").unwrap();
    let keys: Vec<&str> = skill.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["curl", "read-the-method-table"]);
    assert_eq!(skill.steps[0].text, "Send a GET with curl");
    assert!(
        !skill.body_html.contains("Send a GET"),
        "steps are shown as the checklist, not twice"
    );
    assert!(skill.body_html.contains("plain item"));
    drop(catalog);

    let (status, headers, _) = app
        .post_form("/skills/http-methods/steps/curl", &[("done", "on")], None)
        .await;
    assert_eq!(
        (status, headers[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/signin")
    );
    let ada = app.sign_up("ada").await;
    let (status, headers, _) = app
        .post_form("/skills/http-methods/steps/curl", &[("done", "on")], Some(&ada))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/http/http-methods");
    let (status, _, _) = app
        .post_form(
            "/skills/http-methods/steps/no-such-step",
            &[("done", "on")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &ada).await;
    assert!(
        page.contains("1/2<span class=\"visually-hidden\"> sub-steps done"),
        "{page}"
    );
    assert!(page.contains(r#"aria-pressed="true""#) && page.contains(r#"aria-pressed="false""#));
    let state: Option<String> =
        sqlx::query_scalar("select state from skill_progress where skill_id = 'http-methods'")
            .fetch_optional(&app.db.pool)
            .await
            .unwrap();
    assert!(
        state.is_none_or(|s| s == "not_started"),
        "ticking a step is not progress on the skill"
    );
    // Another learner sees their own, empty checklist.
    let eve = app.sign_up("eve").await;
    app.post_form("/progress/web/start", &[], Some(&eve)).await;
    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &eve).await;
    assert!(page.contains("0/2<span"), "{page}");

    // Rewording a step with an explicit key keeps its tick; unticking works.
    write_files(
        dir.path(),
        &[(
            "web/01-http.md",
            &STEPS.replace("Send a GET with curl", "Send GET and HEAD with curl"),
        )],
    );
    pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    app.state.refresh_catalog().await.unwrap();
    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &ada).await;
    assert!(
        page.contains("Send GET and HEAD with curl") && page.contains("1/2<span"),
        "{page}"
    );
    app.post_form("/skills/http-methods/steps/curl", &[("done", "off")], Some(&ada))
        .await;
    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &ada).await;
    assert!(page.contains("0/2<span"), "{page}");

    // With JavaScript, the answer is the checklist alone, to swap in place.
    let request = axum::http::Request::post("/skills/http-methods/steps/curl")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &ada)
        .header("sec-fetch-site", "same-origin")
        .header("x-pathway-fragment", "1")
        .body(axum::body::Body::from("done=on&step=curl"))
        .unwrap();
    let (status, _, fragment) = app.request(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        fragment.trim_start().starts_with("<div class=\"steps\""),
        "{fragment}"
    );
    // The heading's badge comes along out of band, swapped by its id.
    assert!(
        fragment.contains(r#"<span class="badge badge-steps" id="steps_badge_http-methods">1/2<span"#)
            && !fragment.contains("<html"),
        "{fragment}"
    );
}

#[test]
fn duplicate_sub_step_keys_are_errors_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    write_files(
        dir.path(),
        &[(
            "web/01-http.md",
            "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests.\n\n## Methods {#http-methods}\n\n\
             - [ ] Read it\n- [ ] Read it\n- [ ] Other {#Bad Key}\n",
        )],
    );
    let text: Vec<String> = parse_dir(dir.path())
        .unwrap_err()
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    let text = text.join("\n");
    assert!(
        text.contains("01-http.md:10: two sub-steps of this skill have the key \"read-it\""),
        "{text}"
    );
    assert!(
        text.contains("01-http.md:11: invalid sub-step key \"Bad Key\""),
        "{text}"
    );
}

fn pathway(app: &TestApp, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(args)
        .env("DATABASE_URL", common::database_url(app))
        .env("PATHWAY_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when not writing to a terminal: {text:?}"
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn the_command_line_prints_the_plan_and_applies_only_what_is_safe() {
    let (app, dir) = app().await;
    app.sign_up("ada").await;
    let ada = app.user_id("ada").await;
    set_state(&app.db.pool, ada, "status-codes", "done", 1).await;
    write_files(
        dir.path(),
        &[("web/01-http.md", HTTP_V2), ("web/02-dns.md", DNS_V2)],
    );
    let path = dir.path().to_str().unwrap();

    let (ok, text) = pathway(&app, &["content", "plan", path]);
    assert!(ok, "{text}");
    assert!(
        text.contains("Skills: 1 added, 1 updated, 0 moved, 1 renamed, 1 retired, 0 revived."),
        "{text}"
    );
    assert!(
        text.contains("status-codes \"Status codes\" in web/http (1 learner)"),
        "{text}"
    );

    let (ok, text) = pathway(&app, &["content", "apply", path]);
    assert!(!ok, "a change retiring progress needs --allow-retire: {text}");
    assert!(text.contains("Not applied"), "{text}");
    assert!(
        Catalog::load(&app.db.pool)
            .await
            .unwrap()
            .skill("status-codes")
            .is_some()
    );

    let (ok, text) = pathway(&app, &["content", "apply", "--allow-retire", path]);
    assert!(ok && text.contains("Applied."), "{text}");
    assert!(
        Catalog::load(&app.db.pool)
            .await
            .unwrap()
            .skill("status-codes")
            .is_none()
    );
    let (ok, text) = pathway(&app, &["content", "plan", path]);
    assert!(ok && text.contains("No changes"), "{text}");

    write_files(dir.path(), &[("web/02-dns.md", "+++\nid = \"dns\"\n+++\n")]);
    let (ok, text) = pathway(&app, &["content", "plan", path]);
    assert!(!ok && text.contains("02-dns.md:2: missing `title`"), "{text}");
}

#[tokio::test]
async fn progress_carried_into_another_roadmap_shows_there() {
    let (app, dir) = app().await;
    let pool = &app.db.pool;
    app.sign_up("ada").await;
    let ada = app.user_id("ada").await;
    sqlx::query("insert into enrollments (user_id, roadmap_id) values ($1, 'web')")
        .bind(ada)
        .execute(pool)
        .await
        .unwrap();
    set_state(pool, ada, "dns-records", "done", 1).await;
    set_state(pool, ada, "status-codes", "in_progress", 1).await;
    app.sign_up("eve").await;
    let eve = app.user_id("eve").await;
    sqlx::query("insert into enrollments (user_id, roadmap_id) values ($1, 'web')")
        .bind(eve)
        .execute(pool)
        .await
        .unwrap();
    set_state(pool, eve, "http-methods", "done", 1).await;
    // dns-records moves to a new roadmap; status-codes is renamed into it.
    std::fs::remove_file(dir.path().join("web/02-dns.md")).unwrap();
    write_files(
        dir.path(),
        &[
            (
                "web/01-http.md",
                "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nR.\n\n## Methods {#http-methods}\nGET.\n",
            ),
            (
                "ops/roadmap.md",
                "+++\ntitle = \"Ops\"\nsummary = \"Running things.\"\n+++\n",
            ),
            (
                "ops/01-names.md",
                "+++\nid = \"names\"\ntitle = \"Names\"\n+++\nN.\n\n## Records {#dns-records}\nA.\n\n\
                 ## Codes in logs {#log-codes replaces=status-codes}\nB.\n",
            ),
        ],
    );
    let outcome = pathway::app::load_content(pool, dir.path()).await.unwrap();
    assert!(matches!(outcome, LoadOutcome::Applied(_)), "{outcome:?}");
    let roadmaps: Vec<String> =
        sqlx::query_scalar("select roadmap_id from enrollments where user_id = $1 order by roadmap_id")
            .bind(ada)
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        roadmaps,
        ["ops", "web"],
        "ada now follows the roadmap her progress moved to"
    );
    // Someone with no progress on the moved skills is not enrolled anywhere new.
    let eves: Vec<String> = sqlx::query_scalar("select roadmap_id from enrollments where user_id = $1")
        .bind(eve)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(eves, ["web"]);
}

/// Records the files now in `dir` as the applied version without loading them.
async fn pretend_applied(pool: &PgPool, dir: &Path) {
    let hash = source_hash(&read_sources(dir).unwrap());
    sqlx::query("insert into content_loads (content_hash, status, trigger) values ($1, 'applied', 'cli')")
        .bind(hash)
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn files_with_the_applied_version_are_never_parsed() {
    let (app, dir) = app().await;
    let pool = &app.db.pool;
    let root = app.sign_up_admin("root").await;
    // A stage file the parser rejects: any load that parses these files fails.
    write_files(dir.path(), &[("web/03-broken.md", "no front matter\n")]);
    let path = dir.path().to_str().unwrap();
    let (ok, text) = pathway(&app, &["content", "apply", path]);
    assert!(
        !ok && text.contains("03-broken.md:1: missing front matter"),
        "{text}"
    );

    // Once their hash is the applied version, comparing hashes must come first, so
    // no path reaches the parser and sees the error.
    pretend_applied(pool, dir.path()).await;
    let (ok, text) = pathway(&app, &["content", "apply", path]);
    assert!(ok && text.contains("Nothing to apply"), "{text}");
    assert!(!text.contains("missing front matter"), "{text}");
    let (ok, text) = pathway(&app, &["content", "plan", path]);
    assert!(ok && text.contains("No changes"), "{text}");
    assert_eq!(
        sync::load_dir(pool, dir.path()).await.unwrap(),
        LoadOutcome::Unchanged
    );
    assert!(matches!(
        sync::read_if_changed(pool, dir.path()).await.unwrap(),
        sync::Files::Live(_)
    ));

    app.state.refresh_catalog().await.unwrap();
    let (status, _, page) = app.get_as("/admin/content", &root).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("The files on disk match the live content."),
        "{page}"
    );
    let (status, _, page) = app.get_as("/admin/content/plan", &root).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("No changes to skills") && !page.contains("missing front matter"),
        "{page}"
    );
    let (status, headers, _) = app.post_form("/admin/content/reload", &[], Some(&root)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/content?done=unchanged");
    let failed: i64 = sqlx::query_scalar("select count(*) from content_loads where status = 'failed'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(failed, 0, "nothing recorded the broken file as a failed load");
}

#[tokio::test]
async fn a_plan_of_thousands_of_skills_is_listed_in_part_on_the_admin_pages() {
    let (app, dir) = app().await;
    let root = app.sign_up_admin("root").await;
    let mut stage = String::from("+++\nid = \"many\"\ntitle = \"Many\"\n+++\nLots.\n");
    for n in 0..250 {
        stage.push_str(&format!("\n## Skill {n} {{#many-{n}}}\nText {n}.\n"));
    }
    write_files(dir.path(), &[("web/03-many.md", stage.as_str())]);

    let (status, _, page) = app.get_as("/admin/content/plan", &root).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h3>Added (250)</h3>"), "{page}");
    assert!(page.contains("<code>many-99</code>") && !page.contains("<code>many-100</code>"));
    assert!(page.contains("<li>and 150 more</li>"), "{page}");

    let (status, _, _) = app.post_form("/admin/content/reload", &[], Some(&root)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, page) = app.get_as("/admin/content", &root).await;
    assert_eq!(status, StatusCode::OK);
    // Rows: the stage and its 250 skills.
    assert!(page.contains("251 added"), "{page}");
    assert!(
        !page.contains("<code>many-0</code>"),
        "the content page counts, the load's page lists: {page}"
    );
    let load: i64 = sqlx::query_scalar("select max(id) from content_loads")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(page.contains(&format!("/admin/content/loads/{load}")), "{page}");
    let (status, _, page) = app.get_as(&format!("/admin/content/loads/{load}"), &root).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Added, page 1 of 3"), "{page}");
    assert!(
        page.contains("<code>many-99</code>") && !page.contains("<code>many-100</code>"),
        "{page}"
    );
    let (_, _, page) = app
        .get_as(&format!("/admin/content/loads/{load}?kind=added&page=3"), &root)
        .await;
    assert!(
        page.contains("<code>many-249</code>") && !page.contains("<code>many-199</code>"),
        "{page}"
    );
    assert!(
        page.contains(">Previous page</a>") && !page.contains(">Next page</a>"),
        "{page}"
    );
    let (status, _, _) = app
        .get_as(&format!("/admin/content/loads/{}", load + 100), &root)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A rename is reported once, as a rename: not also as an added and a retired skill.
#[tokio::test]
async fn a_rename_is_counted_once_as_renamed() {
    let (app, dir) = app().await;
    let root = app.sign_up_admin("root").await;
    write_files(dir.path(), &[("web/02-dns.md", DNS_V2)]);
    let content = parse_dir(dir.path()).unwrap();
    let plan = sync::plan(&app.db.pool, &content).await.unwrap();
    assert!(plan.added.is_empty() && plan.retired.is_empty(), "{plan:?}");
    assert_eq!(plan.renamed.len(), 1);
    let report = plan.report();
    assert!(
        report.contains("0 added, 0 updated, 0 moved, 1 renamed, 0 retired"),
        "{report}"
    );
    assert_eq!(report.matches("dns-record-types").count(), 1, "{report}");

    let outcome = sync::apply(&app.db.pool, &content).await.unwrap();
    let LoadOutcome::Applied(counts) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (counts.added, counts.retired, counts.renamed),
        (0, 0, 1),
        "the new id is not added and the old one not retired: {counts:?}"
    );
    app.state.refresh_catalog().await.unwrap();
    let (_, _, page) = app.get_as("/admin/content", &root).await;
    assert!(
        page.contains("0 added, 0 updated, 1 renamed, 0 retired"),
        "{page}"
    );
}

/// Only a change of stage is a move: a skill pushed down its stage by a new one is not.
#[tokio::test]
async fn only_a_new_stage_is_a_move() {
    let (app, dir) = app().await;
    // A new first skill in the HTTP stage pushes both others down.
    write_files(
        dir.path(),
        &[(
            "web/01-http.md",
            "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests and responses.\n\n\
             ## Headers {#http-headers}\nContent-Type.\n\n\
             ## HTTP methods {#http-methods}\nGET and POST.\n\n\
             ## Status codes {#status-codes .optional}\n200 and 404.\n",
        )],
    );
    let content = parse_dir(dir.path()).unwrap();
    let plan = sync::plan(&app.db.pool, &content).await.unwrap();
    assert!(plan.moved.is_empty(), "{:?}", plan.moved);
    assert!(!plan.report().contains("Moved"), "{}", plan.report());
    let LoadOutcome::Applied(counts) = sync::apply(&app.db.pool, &content).await.unwrap() else {
        panic!()
    };
    assert_eq!(counts.moved, 0);
    let catalog = Catalog::load(&app.db.pool).await.unwrap();
    let (_, stage, _) = catalog.skill("http-methods").unwrap();
    let order: Vec<&str> = stage.skills.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        order,
        ["http-headers", "http-methods", "status-codes"],
        "the new order is stored all the same"
    );

    // Moving a skill to another stage is a move.
    write_files(
        dir.path(),
        &[
            (
                "web/01-http.md",
                "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests and responses.\n\n\
                 ## Headers {#http-headers}\nContent-Type.\n\n\
                 ## HTTP methods {#http-methods}\nGET and POST.\n",
            ),
            (
                "web/02-dns.md",
                "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames to addresses.\n\n\
                 ## Records {#dns-records}\nA and AAAA.\n\n\
                 ## Status codes {#status-codes .optional}\n200 and 404.\n",
            ),
        ],
    );
    let content = parse_dir(dir.path()).unwrap();
    let plan = sync::plan(&app.db.pool, &content).await.unwrap();
    let moved: Vec<&str> = plan.moved.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(moved, ["status-codes"]);
}
