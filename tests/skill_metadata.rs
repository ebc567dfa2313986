//! Skill metadata: summary, time, level, prerequisites and resources, from the file to the pages.

mod common;

use axum::http::StatusCode;
use common::{TestApp, write_files};

const HTTP: &str = "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests and responses.\n\n\
## Methods {#http-methods}\n\
+++\n\
summary = \"What each verb promises.\"\n\
time = \"1h 30m\"\n\
level = \"beginner\"\n\
requires = [\"dns-records\"]\n\
\n\
[[resources]]\n\
kind = \"docs\"\n\
title = \"MDN: request methods\"\n\
url = \"https://developer.mozilla.org/en-US/docs/Web/HTTP/Methods\"\n\
+++\n\
GET and POST.\n\n\
## Status codes {#status-codes}\n\
+++\n\
time = \"45m\"\n\
+++\n\
200 and 404.\n\n\
## Caching {#caching .optional}\n\
+++\n\
time = \"2h\"\n\
+++\n\
Optional, so never counted in the time left.\n";

fn content() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "web/roadmap.md",
            "+++\ntitle = \"Web basics\"\nsummary = \"How the web works.\"\norder = 1\n+++\nStart here.\n",
        ),
        ("web/01-http.md", HTTP),
        (
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames.\n\n## Records {#dns-records}\nA and AAAA.\n",
        ),
    ]
}

fn check(dir: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(["content", "check"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn metadata_shows_on_the_stage_and_skill_pages() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &content());
    let app = TestApp::with_content(dir.path()).await;

    let (status, _, stage) = app.get("/roadmaps/web/http").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        stage.contains("What each verb promises."),
        "the summary under the title: {stage}"
    );
    assert!(
        stage.contains(r#"<span class="badge badge-level">Beginner</span>"#),
        "{stage}"
    );
    assert!(stage.contains("about 1 h 30 min"), "{stage}");
    // 1 h 30 + 45 min of required skills; the optional one is left out.
    assert!(
        stage.contains("Estimated time for the required skills: about 2 h 15 min."),
        "{stage}"
    );

    let (_, _, page) = app.get("/roadmaps/web/http/http-methods").await;
    assert!(
        page.contains(r#"<p class="lead">What each verb promises.</p>"#),
        "{page}"
    );
    assert!(page.contains(r#"<h2 id="h_before">Before this</h2>"#), "{page}");
    assert!(
        page.contains(r#"<a href="/roadmaps/web/dns/dns-records">Records</a>"#),
        "{page}"
    );
    assert!(page.contains("Official docs"), "{page}");
    assert!(page.contains(r#"href="https://developer.mozilla.org/en-US/docs/Web/HTTP/Methods""#));
    assert!(!page.contains("+++"), "the block is not part of the text: {page}");
    assert!(page.contains("GET and POST."));

    // Signed in and following the roadmap: each prerequisite's state, and the time left shrinks.
    let ada = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    app.post_form(
        "/skills/dns-records/state",
        &[("state", "done"), ("version", "0")],
        Some(&ada),
    )
    .await;
    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &ada).await;
    let before = &page[page.find("h_before").unwrap()..];
    assert!(
        before.contains(r#"Records</a> <span class="state-badge state-done">Done</span>"#),
        "{before}"
    );
    app.post_form(
        "/skills/status-codes/state",
        &[("state", "done"), ("version", "0")],
        Some(&ada),
    )
    .await;
    let (_, _, stage) = app.get_as("/roadmaps/web/http", &ada).await;
    assert!(
        stage.contains("Estimated time left for the required skills: about 1 h 30 min."),
        "{stage}"
    );
}

#[tokio::test]
async fn changing_metadata_updates_the_skill_and_bad_metadata_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &content());
    let app = TestApp::with_content(dir.path()).await;
    write_files(
        dir.path(),
        &[(
            "web/01-http.md",
            &HTTP.replace("level = \"beginner\"", "level = \"advanced\""),
        )],
    );
    let outcome = pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    let pathway::content::sync::LoadOutcome::Applied(counts) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        (counts.updated, counts.added),
        (1, 0),
        "a metadata change updates the skill"
    );
    app.state.refresh_catalog().await.unwrap();
    let (_, _, page) = app.get("/roadmaps/web/http/http-methods").await;
    assert!(page.contains(">Advanced</span>"), "{page}");

    // Errors, each with file:line: an unknown prerequisite and a loop, then an unknown key.
    let broken = HTTP
        .replace("requires = [\"dns-records\"]", "requires = [\"nope\"]")
        .replace("time = \"45m\"", "time = \"45m\"\nrequires = [\"caching\"]")
        .replace("time = \"2h\"", "time = \"2h\"\nrequires = [\"status-codes\"]");
    write_files(dir.path(), &[("web/01-http.md", &broken)]);
    let (ok, text) = check(dir.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("01-http.md:7: requires names \"nope\", which is no skill"),
        "{text}"
    );
    assert!(
        text.contains("prerequisites of") && text.contains("status-codes → caching → status-codes"),
        "{text}"
    );
    write_files(
        dir.path(),
        &[("web/01-http.md", &HTTP.replace("level = ", "levels = "))],
    );
    let (ok, text) = check(dir.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("01-http.md:11: invalid skill metadata: unknown field `levels`"),
        "{text}"
    );
    // The live content is untouched by the broken files.
    let outcome = pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    assert!(
        matches!(outcome, pathway::content::sync::LoadOutcome::Failed(_)),
        "{outcome:?}"
    );
    let (_, _, page) = app.get("/roadmaps/web/http/http-methods").await;
    assert!(page.contains(">Advanced</span>"), "{page}");
}

#[tokio::test]
async fn a_prerequisite_follows_a_rename_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &content());
    let app = TestApp::with_content(dir.path()).await;
    write_files(
        dir.path(),
        &[(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames.\n\n## DNS records {#records replaces=dns-records}\nA and AAAA.\n",
        )],
    );
    let (ok, text) = check(dir.path());
    assert!(ok, "a warning, not an error: {text}");
    assert!(
        text.contains("01-http.md:7") && text.contains("\"dns-records\", which is now \"records\""),
        "{text}"
    );
    let outcome = pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    assert!(
        matches!(outcome, pathway::content::sync::LoadOutcome::Applied(_)),
        "{outcome:?}"
    );
    app.state.refresh_catalog().await.unwrap();
    let (_, _, page) = app.get("/roadmaps/web/http/http-methods").await;
    assert!(
        page.contains(r#"<a href="/roadmaps/web/dns/records">DNS records</a>"#),
        "{page}"
    );
}
