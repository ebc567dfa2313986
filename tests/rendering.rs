//! Rendering real curricula: the fixture under tests/fixtures/rendering parsed, checked, loaded and served.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestApp;
use pathway::config::Settings;
use pathway::content::parse::{Content, SkillDef, parse_dir};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rendering")
}

fn parsed() -> Content {
    parse_dir(&fixture()).unwrap_or_else(|invalid| panic!("{:#?}", invalid.diagnostics))
}

fn skill<'a>(content: &'a Content, id: &str) -> &'a SkillDef {
    content
        .roadmaps
        .iter()
        .flat_map(|r| &r.stages)
        .flat_map(|s| &s.skills)
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no skill {id}"))
}

/// A copy of the fixture to break, with `changes` written over it.
fn broken_copy(changes: &[(&str, &[u8])]) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture(), dir.path());
    for (path, bytes) in changes {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

#[test]
fn code_keeps_its_language_and_is_highlighted() {
    let content = parsed();
    let html = &skill(&content, "shell-basics").body_html;
    for language in ["bash", "python", "rust"] {
        assert!(
            html.contains(&format!(
                r#"<pre class="hl-code"><code class="language-{language}"><span class="hl-source"#
            )),
            "{language}: {html}"
        );
    }
    assert!(
        html.contains("hl-keyword") || html.contains("hl-storage"),
        "{html}"
    );
    // Unknown to the highlighter: the language stays, the code is plain and escaped.
    assert!(
        html.contains(r#"<code class="language-mermaid">graph LR; a --&gt; b"#),
        "{html}"
    );
    let sql = &skill(&content, "sql-first-query").body_html;
    assert!(
        sql.contains(r#"<code class="language-sql"><span class="hl-source hl-sql">"#),
        "{sql}"
    );
    assert!(!html.contains("style="), "the CSP forbids inline styles: {html}");
}

#[test]
fn headings_anchors_and_in_page_links_are_prefixed_and_resolve() {
    let content = parsed();
    let html = &skill(&content, "shell-basics").body_html;
    assert!(
        html.contains(r#"<h3 id="shell-basics--setup">Setup</h3>"#),
        "{html}"
    );
    assert!(
        html.contains(r##"<a class="heading-anchor" href="#shell-basics--setup" aria-label="Link to this section: Setup""##),
        "a visible self-link with an accessible name: {html}"
    );
    // Explicit anchors are prefixed too, and the links written before them follow.
    assert!(
        html.contains(r#"<span id="shell-basics--quiz-start"></span>"#),
        "{html}"
    );
    assert!(html.contains(r#"<a id="shell-basics--legacy""#), "{html}");
    for target in ["setup", "quiz-start", "legacy"] {
        assert!(
            html.contains(&format!(r##"href="#shell-basics--{target}""##)),
            "{target}: {html}"
        );
    }
    // Introductions get their own prefixes.
    let roadmap = &content
        .roadmaps
        .iter()
        .find(|r| r.id == "webdev")
        .unwrap()
        .intro_html;
    assert!(
        roadmap.contains(r#"<h2 id="roadmap_webdev--how-it-is-organised">"#)
            && roadmap.contains(r##"href="#roadmap_webdev--how-it-is-organised""##),
        "{roadmap}"
    );
    // No id from content lacks the prefix.
    for id in html.split(" id=\"").skip(1) {
        assert!(id.starts_with("shell-basics--"), "{id}");
    }
}

#[test]
fn callouts_footnotes_tables_and_details_render() {
    let content = parsed();
    let html = &skill(&content, "shell-basics").body_html;
    assert!(
        html.contains(r#"<aside class="callout callout-tip" role="note" aria-label="Tip">"#)
            && html.contains(r#"<p class="callout-title">Tip</p>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<aside class="callout callout-caution""#),
        "{html}"
    );
    assert!(
        html.contains(
            r#"<div class="callout callout-warning lesson-note lesson-note--warning" role="note">"#
        ),
        "{html}"
    );
    assert!(
        html.contains(r##"<sup class="footnote-reference"><a href="#shell-basics--fn-pipes""##)
            && html.contains(r#"<div class="footnote-definition" id="shell-basics--fn-pipes">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<th class="align-center">Does</th>"#)
            && html.contains(r#"<td class="align-right">0</td>"#),
        "{html}"
    );
    assert!(
        html.contains("<details>\n<summary>A hint for the quiz</summary>")
            && html.contains("<strong>standard output</strong>"),
        "{html}"
    );
    // The task item is a sub-step, not text.
    assert!(!html.contains("Run <code>wc -l</code>"), "{html}");
    assert_eq!(skill(&content, "shell-basics").steps.len(), 1);
}

#[test]
fn links_between_skills_and_files_resolve_to_their_pages() {
    let content = parsed();
    let git = &skill(&content, "git-intro").body_html;
    assert_eq!(
        git.matches(r#"href="/roadmaps/webdev/tools/shell-basics""#)
            .count(),
        2,
        "skill:id and #id: {git}"
    );
    assert!(
        git.contains(r#"href="/roadmaps/webdev/pages""#),
        "a stage file: {git}"
    );
    assert!(
        git.contains(r#"href="/roadmaps/webdev/pages/html-first-page""#),
        "{git}"
    );
    let sql = &skill(&content, "sql-first-query").body_html;
    assert!(
        sql.contains(r#"href="/roadmaps/webdev/tools/git-intro""#),
        "across roadmaps: {sql}"
    );
    let stage = &content.roadmaps[0].stages[0].intro_html;
    assert!(
        stage.contains(r##"href="/roadmaps/webdev/tools/shell-basics#shell-basics--setup""##),
        "{stage}"
    );
}

#[test]
fn assets_get_fingerprinted_urls_and_embeds_are_filtered() {
    let content = parsed();
    let git = &skill(&content, "git-intro").body_html;
    let svg = content
        .assets
        .iter()
        .find(|a| a.name == "commit-graph.svg")
        .unwrap();
    assert_eq!(svg.content_type, "image/svg+xml");
    assert!(
        git.contains(&format!(
            r#"<img src="/assets/{}/commit-graph.svg" alt="A commit graph with three commits on main">"#,
            svg.hash
        )),
        "{git}"
    );
    assert!(
        git.contains("/log.png\" alt=\"The git log output in a terminal\""),
        "./assets/img/…: {git}"
    );
    assert!(git.contains("/cheat-sheet.txt\""), "{git}");
    let page = &skill(&content, "html-first-page").body_html;
    assert!(
        page.contains(&format!("/assets/{}/commit-graph.svg", svg.hash)),
        "../assets/…: {page}"
    );
    assert_eq!(page.matches("<iframe").count(), 1, "{page}");
    assert!(
        page.contains(r#"src="https://www.youtube-nocookie.com/embed/abc123" title="Writing a first page""#)
            && page.contains(r#"loading="lazy""#)
            && page.contains(r#"sandbox="allow-scripts allow-same-origin allow-presentation allow-popups""#),
        "{page}"
    );
    assert!(!page.contains("videos.example.net"), "{page}");
    assert!(
        !page.contains("<script") && !page.contains("pwned") && !page.contains("onclick"),
        "{page}"
    );
}

#[test]
fn every_removal_is_a_warning_with_file_and_line() {
    let content = parsed();
    let warnings: Vec<String> = content.warnings.iter().map(ToString::to_string).collect();
    let pages = fixture().join("webdev/02-pages.md").display().to_string();
    let expected = [
        (13, "removed an <iframe> from https://videos.example.net/embed/9"),
        (15, "removed <script> and everything in it"),
        (17, "removed style= from <p>"),
        (17, "removed the event handler onclick= from <p>"),
        (19, "image ../assets/commit-graph.svg has no alt text"),
        (21, "in-page link #no-such-heading matches no heading"),
        // Its attributes go with it, in the same warning.
        (23, "removed the unsupported tag <font>"),
    ];
    assert_eq!(warnings.len(), expected.len(), "{warnings:#?}");
    for (line, start) in expected {
        let prefix = format!("{pages}:{line}: {start}");
        assert!(
            warnings.iter().any(|w| w.starts_with(&prefix)),
            "{prefix}\n{warnings:#?}"
        );
    }
}

#[test]
fn links_to_nothing_and_oversized_assets_are_errors() {
    let big = vec![0u8; 5 * 1024 * 1024 + 1];
    let dir = broken_copy(&[
        (
            "databases/02-more.md",
            b"+++\nid = \"more\"\ntitle = \"More\"\n+++\n## Joins {#sql-joins}\n\nSee [commits](skill:git-commit).\n\n![A schema](assets/schema.png)\n\n[The stage](../webdev/09-none.md) and [a skill](../webdev/01-tools.md#no-skill).\n",
        ),
        ("webdev/assets/huge.bin", &big),
    ]);
    let invalid = parse_dir(dir.path()).unwrap_err();
    let errors: Vec<String> = invalid.diagnostics.iter().map(ToString::to_string).collect();
    let more = dir.path().join("databases/02-more.md").display().to_string();
    for expected in [
        format!("{more}:7: link to unknown skill \"git-commit\""),
        format!("{more}:9: image assets/schema.png: there is no file assets/schema.png"),
        format!("{more}:11: link ../webdev/09-none.md points at nothing"),
        format!("{more}:11: link ../webdev/01-tools.md#no-skill points at nothing"),
        format!(
            "{}: asset is too large (5.0 MiB; the limit is 5 MiB per file)",
            dir.path().join("webdev/assets/huge.bin").display()
        ),
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(&expected)),
            "{expected}\n{errors:#?}"
        );
    }
    assert_eq!(errors.len(), 5, "{errors:#?}");
    // The warnings of what could be read still come along.
    assert!(!invalid.warnings.is_empty());
}

#[test]
fn assets_count_in_the_content_hash() {
    let before = parse_dir(&fixture()).unwrap().hash;
    let dir = broken_copy(&[("webdev/assets/cheat-sheet.txt", b"pwd  where am I\n")]);
    let after = parse_dir(dir.path()).unwrap().hash;
    assert_ne!(before, after, "a changed asset is a reload");
}

fn check(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(["content", "check"])
        .args(args)
        .env_remove("PATHWAY_EMBED_HOSTS")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout),
    )
}

#[test]
fn content_check_prints_warnings_and_strict_fails_on_them() {
    let dir = fixture().display().to_string();
    let (ok, output) = check(&[&dir]);
    assert!(ok, "{output}");
    assert!(
        output.contains("02-pages.md:15: warning: removed <script>"),
        "{output}"
    );
    assert!(
        output.contains("OK, 2 roadmaps, 3 stages, 4 skills, 7 warnings"),
        "{output}"
    );

    let (ok, output) = check(&[&dir, "--strict"]);
    assert!(!ok, "--strict fails on warnings: {output}");
    assert!(
        output.contains("7 warnings in") && output.contains("--strict"),
        "{output}"
    );

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("content")
        .display()
        .to_string();
    let (ok, output) = check(&[&shipped, "--strict"]);
    assert!(ok, "the shipped content has no warnings: {output}");
}

#[test]
fn embed_hosts_come_from_the_configuration() {
    let dir = fixture().display().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(["content", "check", &dir, "--embed-hosts", "videos.example.net"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!text.contains("videos.example.net/embed/9: embeds"), "{text}");
    assert!(
        text.contains("removed an <iframe> from https://www.youtube-nocookie.com"),
        "{text}"
    );
    let refused = Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args([
            "content",
            "check",
            &dir,
            "--embed-hosts",
            "https://videos.example.net/",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a host name"));
}

#[tokio::test]
async fn assets_are_served_immutable_with_their_type_and_no_script() {
    let app = TestApp::with_content(&fixture()).await;
    let content = parsed();
    let svg = content
        .assets
        .iter()
        .find(|a| a.name == "commit-graph.svg")
        .unwrap();
    let url = svg.url();
    let (status, headers, body) = app.get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_bytes(), svg.bytes.as_slice());
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    assert!(!headers.contains_key(header::SET_COOKIE));

    // Revalidation costs nothing; other files download rather than render.
    let etag = headers[header::ETAG].to_str().unwrap().to_string();
    let (status, _, _) = app
        .request(
            Request::get(&url)
                .header(header::IF_NONE_MATCH, etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let sheet = content
        .assets
        .iter()
        .find(|a| a.name == "cheat-sheet.txt")
        .unwrap();
    let (status, headers, _) = app.get(&sheet.url()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );

    let (status, _, _) = app.get(&format!("/assets/{}/x.svg", "0".repeat(64))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app.get("/assets/not-a-hash/x.svg").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_skill_page_shows_rendered_content() {
    let app = TestApp::with_content(&fixture()).await;
    let (status, _, page) = app.get("/roadmaps/webdev/tools/shell-basics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<code class="language-rust">"#), "{page}");
    assert!(page.contains(r#"<aside class="callout callout-tip""#), "{page}");
    assert!(page.contains("/static/highlight.css?v="), "{page}");
}

#[tokio::test]
async fn the_fixture_shares_a_skill_carries_metadata_and_groups_its_roadmaps() {
    let content = parsed();
    let sql = &content
        .roadmaps
        .iter()
        .find(|r| r.id == "databases")
        .unwrap()
        .stages[0];
    assert_eq!(sql.includes.len(), 1);
    assert_eq!(sql.includes[0].id, "git-intro");
    let git = skill(&content, "git-intro");
    assert_eq!(git.meta.minutes, Some(45));
    assert_eq!(git.meta.requires, ["shell-basics"]);

    let app = TestApp::with_content(&fixture()).await;
    // The databases roadmap lists the web roadmap's git skill, after its own skill.
    let (status, _, page) = app.get("/roadmaps/databases/sql").await;
    assert_eq!(status, StatusCode::OK);
    let own = page.find("/roadmaps/databases/sql/sql-first-query").unwrap();
    let shared = page
        .find("/roadmaps/databases/sql/git-intro")
        .expect("the included skill is listed");
    assert!(own < shared, "in heading order");
    let (status, _, page) = app.get("/roadmaps/databases/sql/git-intro").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("badge-shared"), "{page}");
    assert!(
        page.contains(">Web development, rendered › Tools of the trade</a>"),
        "{page}"
    );
    // Its metadata comes with it: level, time, prerequisites and resources.
    assert!(
        page.contains("Beginner") && page.contains("about 45 min"),
        "{page}"
    );
    assert!(
        page.contains("Before this") && page.contains("/roadmaps/webdev/tools/shell-basics"),
        "{page}"
    );
    assert!(page.contains("Git reference manual"), "{page}");
    // Two catalog groups on the home page.
    let (_, _, home) = app.get("/").await;
    assert!(
        home.contains("Web development") && home.contains(">Data<"),
        "{home}"
    );
}

#[tokio::test]
async fn the_csp_frame_src_follows_the_embed_hosts() {
    for (hosts, expected) in [
        (
            vec!["www.youtube-nocookie.com", "player.vimeo.com"],
            "frame-src https://www.youtube-nocookie.com https://player.vimeo.com;",
        ),
        (
            vec!["videos.example.org"],
            "frame-src https://videos.example.org;",
        ),
        (vec![], "frame-src 'none';"),
    ] {
        let settings = Settings {
            embed_hosts: hosts.iter().map(|h| (*h).to_string()).collect(),
            ..Settings::default()
        };
        let app = TestApp::with_settings(&fixture(), settings).await;
        let (_, headers, _) = app.get("/").await;
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains(expected), "{hosts:?}: {csp}");
        assert_eq!(csp.matches("frame-src").count(), 1, "{csp}");
    }
    assert_eq!(
        Settings::default().embed_hosts,
        ["www.youtube-nocookie.com", "player.vimeo.com"]
    );
}

#[tokio::test]
async fn the_admin_content_page_shows_the_live_warnings() {
    let app = TestApp::with_content(&fixture()).await;
    let cookie = app.sign_up_admin("ada").await;
    let (status, _, page) = app.get_as("/admin/content", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Warnings in the live content"), "{page}");
    assert!(
        page.contains("02-pages.md:15: removed &#60;script&#62; and everything in it"),
        "{page}"
    );
}

#[tokio::test]
async fn a_changed_asset_gets_a_new_url_and_the_old_one_keeps_working() {
    let dir = broken_copy(&[]);
    let app = TestApp::with_content(dir.path()).await;
    let before = parse_dir(dir.path()).unwrap();
    let old = before
        .assets
        .iter()
        .find(|a| a.name == "cheat-sheet.txt")
        .unwrap();

    std::fs::write(
        dir.path().join("webdev/assets/cheat-sheet.txt"),
        "pwd  where am I\n",
    )
    .unwrap();
    let outcome = pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    assert!(
        matches!(outcome, pathway::content::sync::LoadOutcome::Applied(_)),
        "{outcome:?}"
    );
    app.state.refresh_catalog().await.unwrap();

    let after = parse_dir(dir.path()).unwrap();
    let new = after.assets.iter().find(|a| a.name == "cheat-sheet.txt").unwrap();
    assert_ne!(old.url(), new.url());
    let (status, _, body) = app.get(&new.url()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "pwd  where am I\n"));
    // Pages (and caches) from before the load still name the old file.
    let (status, _, body) = app.get(&old.url()).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "ls  list files\ncd  change directory\n")
    );
    let (_, _, page) = app.get("/roadmaps/webdev/tools/git-intro").await;
    assert!(page.contains(&new.url()) && !page.contains(&old.url()), "{page}");
}
