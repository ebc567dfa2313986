//! Export and import: round trip, idempotence, invalid files, unknown ids, CSV, and ownership.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, sample_content, write_files};
use pathway::transfer::ProgressFile;

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    (TestApp::with_content(dir.path()).await, dir)
}

/// A learner with some of everything: states, history (with an undo), a note, a link.
async fn busy_learner(app: &TestApp, username: &str) -> String {
    let cookie = app.sign_up(username).await;
    app.post_form("/progress/web/start", &[], Some(&cookie)).await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "in_progress"), ("version", "0")],
        Some(&cookie),
    )
    .await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "1")],
        Some(&cookie),
    )
    .await;
    app.post_form(
        "/skills/dns-records/state",
        &[("state", "skipped"), ("version", "0")],
        Some(&cookie),
    )
    .await;
    app.post_form(
        "/skills/http-methods/note",
        &[
            ("body", "GET is safe, \"POST\" is not,\nremember"),
            ("shared", "on"),
        ],
        Some(&cookie),
    )
    .await;
    app.post_form(
        "/skills/http-methods/evidence",
        &[("url", "https://example.com/demo"), ("title", "Demo")],
        Some(&cookie),
    )
    .await;
    cookie
}

async fn export(app: &TestApp, cookie: &str) -> (String, ProgressFile) {
    let (status, headers, body) = app.get_as("/account/export.json", cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"pathway-progress-")
    );
    let file = serde_json::from_str(&body).unwrap();
    (body, file)
}

async fn import(app: &TestApp, cookie: &str, json: &str) -> (StatusCode, String) {
    let boundary = "XpathwayBoundaryX";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.json\"\r\n\
         Content-Type: application/json\r\n\r\n{json}\r\n--{boundary}--\r\n"
    );
    let request = Request::post("/account/import")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(header::COOKIE, cookie)
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .unwrap();
    let (status, _, page) = app.request(request).await;
    (status, page)
}

async fn counts(app: &TestApp, username: &str) -> [i64; 5] {
    let mut out = [0; 5];
    for (i, table) in [
        "enrollments",
        "skill_progress",
        "progress_events",
        "notes",
        "evidence",
    ]
    .iter()
    .enumerate()
    {
        out[i] = sqlx::query_scalar(&format!(
            "select count(*) from {table} t join users u on u.id = t.user_id where u.username = $1"
        ))
        .bind(username)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    }
    out
}

#[tokio::test]
async fn export_then_import_elsewhere_round_trips() {
    let (app, _dir) = app().await;
    let ada = busy_learner(&app, "ada").await;
    let (_, file) = export(&app, &ada).await;
    assert_eq!(file.format, "pathway-progress");
    assert_eq!(file.skills.len(), 2);
    assert_eq!(file.events.len(), 3);
    assert_eq!(file.notes[0].body, "GET is safe, \"POST\" is not,\nremember");

    // Another instance with the same content.
    let (other, _dir2) = app_pair().await;
    let grace = other.sign_up("grace").await;
    let (status, page) = import(&other, &grace, &serde_json::to_string(&file).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("2 skill states changed"));
    let (_, copy) = export(&other, &grace).await;
    let states = |f: &ProgressFile| {
        f.skills
            .iter()
            .map(|s| (s.skill.clone(), s.state.clone(), s.done_at))
            .collect::<Vec<_>>()
    };
    assert_eq!(states(&copy), states(&file));
    assert_eq!(copy.notes, file.notes);
    assert_eq!(copy.evidence, file.evidence);
    assert_eq!(copy.roadmaps, file.roadmaps);
    // The original history comes across, plus one line per state the import set.
    assert_eq!(copy.events.len(), file.events.len() + 2);
    assert!(
        copy.events
            .iter()
            .all(|e| file.events.contains(e) || e.kind == "import")
    );
}

async fn app_pair() -> (TestApp, tempfile::TempDir) {
    app().await
}

#[tokio::test]
async fn importing_the_same_file_twice_changes_nothing() {
    let (app, _dir) = app().await;
    let ada = busy_learner(&app, "ada").await;
    let (json, _) = export(&app, &ada).await;
    let grace = app.sign_up("grace").await;
    import(&app, &grace, &json).await;
    let after_first = counts(&app, "grace").await;
    let (status, page) = import(&app, &grace, &json).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Nothing was new"), "{page}");
    assert_eq!(counts(&app, "grace").await, after_first);

    // Re-importing your own export is a no-op too.
    let before = counts(&app, "ada").await;
    import(&app, &ada, &json).await;
    assert_eq!(counts(&app, "ada").await, before);
}

#[tokio::test]
async fn an_invalid_file_is_reported_per_item_and_nothing_is_applied() {
    let (app, _dir) = app().await;
    let ada = busy_learner(&app, "ada").await;
    let (json, _) = export(&app, &ada).await;
    let grace = app.sign_up("grace").await;
    let before = counts(&app, "grace").await;

    let (status, page) = import(&app, &grace, "{ not json").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Nothing was imported") && page.contains("line 1, column"));

    let broken = json
        .replacen("\"state\": \"done\"", "\"state\": \"finished\"", 1)
        .replacen("https://example.com/demo", "javascript:alert(1)", 1);
    let (status, page) = import(&app, &grace, &broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("skills[1] (http-methods): unknown state"), "{page}");
    assert!(
        page.contains("evidence[0] (http-methods): Enter a full web address"),
        "{page}"
    );
    assert_eq!(counts(&app, "grace").await, before, "nothing applied");

    let (status, _) = import(
        &app,
        &grace,
        &json.replacen("\"version\": 1", "\"version\": 9", 1),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn unknown_skill_ids_are_kept_aside_and_reported() {
    let (app, dir) = app().await;
    let ada = busy_learner(&app, "ada").await;
    let (json, _) = export(&app, &ada).await;
    let renamed = json.replace("dns-records", "ghost-skill");
    let grace = app.sign_up("grace").await;
    let (status, page) = import(&app, &grace, &renamed).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("kept aside, not dropped"));
    assert!(page.contains("skill: <code>ghost-skill</code>"));
    let kept: i64 = sqlx::query_scalar("select count(*) from import_unmatched")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(kept >= 2, "the state and its events");
    import(&app, &grace, &renamed).await;
    let again: i64 = sqlx::query_scalar("select count(*) from import_unmatched")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(again, kept, "not duplicated");
    let state: String = sqlx::query_scalar(
        "select state from skill_progress p join users u on u.id = p.user_id where username = 'grace' and skill_id = 'http-methods'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(state, "done", "known items still land");

    // When the content gains that skill, the kept-aside items land and are forgotten.
    write_files(
        dir.path(),
        &[(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nN.\n\n## Records {#dns-records}\nA.\n\n## Ghost {#ghost-skill}\nB.\n",
        )],
    );
    let outcome = app
        .state
        .reload(
            pathway::content::sync::Trigger::Cli,
            pathway::content::sync::Policy::Apply,
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, pathway::content::sync::LoadOutcome::Applied(_)),
        "{outcome:?}"
    );
    let left: i64 = sqlx::query_scalar("select count(*) from import_unmatched")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "matched and forgotten");
    let ghost: String = sqlx::query_scalar(
        "select state from skill_progress p join users u on u.id = p.user_id where username = 'grace' and skill_id = 'ghost-skill'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        ghost, "skipped",
        "ada's skipped state, imported by grace, found its skill"
    );
}

#[tokio::test]
async fn csv_export_has_one_row_per_skill() {
    let (app, _dir) = app().await;
    let ada = busy_learner(&app, "ada").await;
    let (status, headers, body) = app.get_as("/account/export.csv", &ada).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "every skill of the started roadmap");
    let http = rows.iter().find(|r| &r[2] == "http-methods").unwrap();
    assert_eq!(&http[5], "done");
    assert_eq!(
        &http[9], "GET is safe, \"POST\" is not,\nremember",
        "quoted properly"
    );
    assert_eq!(&http[10], "https://example.com/demo");
    let optional = rows.iter().find(|r| &r[2] == "status-codes").unwrap();
    assert_eq!((&optional[4], &optional[5]), ("yes", "not_started"));
}

#[tokio::test]
async fn exports_are_private() {
    let (app, _dir) = app().await;
    busy_learner(&app, "ada").await;
    for path in ["/account/export.json", "/account/export.csv", "/account/import"] {
        let (status, headers, _) = app.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        let back: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(headers[header::LOCATION], format!("/signin?next={back}").as_str());
    }
    let eve = app.sign_up("eve").await;
    let (_, file) = export(&app, &eve).await;
    assert!(file.skills.is_empty() && file.notes.is_empty() && file.evidence.is_empty());
    assert_eq!(file.username, "eve");
}

#[tokio::test]
async fn ticked_sub_steps_travel_and_review_history_does_not_block_an_import() {
    let with_steps = || {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &sample_content());
        write_files(
            dir.path(),
            &[(
                "web/01-http.md",
                "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests.\n\n## Methods {#http-methods}\nGET.\n\n\
                 - [ ] Send a request {#send}\n- [ ] Read the table\n",
            )],
        );
        dir
    };
    let dir = with_steps();
    let app = TestApp::with_content(dir.path()).await;
    let ada = busy_learner(&app, "ada").await;
    let (status, _, _) = app
        .post_form("/skills/http-methods/steps/send", &[("done", "on")], Some(&ada))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A review request is history too; it names this instance's mentors, so it is not imported.
    sqlx::query(
        "insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state)
         select nextval('progress_actions'), id, 'http-methods', id, 'review_requested', 'done', 'done'
         from users where username = 'ada'",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (_, file) = export(&app, &ada).await;
    assert_eq!(file.steps.len(), 1);
    assert_eq!(
        (file.steps[0].skill.as_str(), file.steps[0].key.as_str()),
        ("http-methods", "send")
    );
    assert!(file.events.iter().any(|e| e.kind == "review_requested"));

    let dir2 = with_steps();
    let other = TestApp::with_content(dir2.path()).await;
    let grace = other.sign_up("grace").await;
    let json = serde_json::to_string(&file).unwrap();
    let (status, page) = import(&other, &grace, &json).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("1 sub-steps ticked"), "{page}");
    let (_, copy) = export(&other, &grace).await;
    assert_eq!(copy.steps.len(), 1);
    assert_eq!(copy.steps[0].key, "send");
    assert!(!copy.events.iter().any(|e| e.kind == "review_requested"));
    let (_, _, stage) = other.get_as("/roadmaps/web/http", &grace).await;
    assert!(stage.contains("1/2<span"), "{stage}");
    // Again: nothing new.
    let (_, page) = import(&other, &grace, &json).await;
    assert!(page.contains("0 sub-steps ticked"), "{page}");
}

#[test]
fn an_old_export_follows_a_merge_of_two_skills_into_one() {
    let file = serde_json::json!({
        "format": "pathway-progress", "version": 1, "exported_at": "2026-01-01T00:00:00Z", "username": "ada",
        "skills": [
            {"skill": "old-a", "state": "in_progress", "started_at": "2025-01-01T00:00:00Z"},
            {"skill": "old-b", "state": "done", "started_at": "2025-06-01T00:00:00Z", "done_at": "2025-07-01T00:00:00Z"},
            {"skill": "kept", "state": "skipped"}
        ],
        "notes": [
            {"skill": "old-a", "body": "first", "updated_at": "2025-01-02T00:00:00Z"},
            {"skill": "old-b", "body": "second", "shared_with_mentors": true, "updated_at": "2025-07-02T00:00:00Z"}
        ],
        "events": [{"skill": "old-a", "kind": "set", "from": "not_started", "to": "in_progress", "at": "2025-01-01T00:00:00Z"}],
        "steps": [{"skill": "old-b", "key": "deploy", "ticked_at": "2025-07-01T00:00:00Z"}]
    });
    let known: std::collections::HashSet<String> = ["merged", "kept"].map(String::from).into();
    let roadmaps = std::collections::HashSet::new();
    let aliases = [("old-a", "merged"), ("old-b", "merged")]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .into();
    let plan = pathway::transfer::validate(file.to_string().as_bytes(), &known, &roadmaps, &aliases).unwrap();
    let skills: Vec<(&str, &str)> = plan
        .skills
        .iter()
        .map(|(e, _)| (e.skill.as_str(), e.state.as_str()))
        .collect();
    assert_eq!(
        skills,
        [("merged", "done"), ("kept", "skipped")],
        "the most advanced state wins"
    );
    let merged = &plan.skills[0].0;
    assert_eq!(merged.started_at.unwrap().year(), 2025);
    assert_eq!(
        merged.started_at.unwrap().month(),
        time::Month::January,
        "the earliest start is kept"
    );
    assert_eq!(plan.notes.len(), 1);
    assert_eq!(plan.notes[0].body, "first\n\nsecond");
    assert!(plan.notes[0].shared_with_mentors);
    assert_eq!(plan.events[0].0.skill, "merged");
    assert_eq!(plan.steps[0].skill, "merged");
    assert!(plan.unmatched.is_empty());
}
