//! `pathway content import`: a lesson tree becomes content that checks, loads, and keeps its ids on re-import.

mod common;

use std::path::Path;
use std::process::Command;

use axum::http::StatusCode;
use common::{TestApp, write_files};
use pathway::content::import::ImportMap;
use pathway::content::sync;
use pathway::content::{Catalog, Content, parse_dir};

/// Runs the built binary; returns success and stdout + stderr.
fn pathway(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(args)
        .env("PATHWAY_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn import(src: &Path, dest: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["content", "import", src.to_str().unwrap(), dest.to_str().unwrap()];
    args.extend_from_slice(extra);
    pathway(&args)
}

const WELCOME: &str = "---\ntitle: Welcome to the course\ntags: [intro, start]\n---\n\
# Welcome to the course\n\nWhat you will learn.\n\n## Why\n\nBecause.\n\n\
```sh\n# a comment, not a heading\n## nor this\n```\n\n\
![A diagram](images/diagram.png)\n\nNext: [Git](../02_tools/git.md).\n\n\
<iframe src=\"https://video.example/x\"></iframe>\n";

fn source_tree(dir: &Path) {
    write_files(
        dir,
        &[
            ("LICENSE", "CC BY 4.0: credit the Open Web Course authors.\n"),
            ("README.md", "# Open Web Course\n\nHow to contribute.\n"),
            ("01-foundations/01-welcome.md", WELCOME),
            (
                "01-foundations/02-how-the-web-works.md",
                "+++\ntitle = \"How the web works\"\nid = \"web-basics\"\n+++\nClients and servers.\n",
            ),
            ("01-foundations/10-only-heading.md", "# Only a heading\n"),
            ("01-foundations/images/diagram.png", "not really a png"),
            ("02_tools/order.txt", "git\nterminal\nextra\n"),
            (
                "02_tools/terminal.md",
                "The terminal\n============\n\nType commands.\n",
            ),
            ("02_tools/git.md", "# Git\n\nCommit early.\n"),
            ("02_tools/extra/deep-dive.md", "Deeper still.\n"),
            ("notes.txt", "maintainer notes\n"),
        ],
    );
}

fn skills_by_stage(content: &Content) -> Vec<(String, Vec<(String, String)>)> {
    content.roadmaps[0]
        .stages
        .iter()
        .map(|stage| {
            (
                stage.id.clone(),
                stage
                    .skills
                    .iter()
                    .map(|s| (s.id.clone(), s.title.clone()))
                    .collect(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn a_lesson_tree_imports_checks_loads_and_keeps_its_ids_on_reimport() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("open-web-course");
    let content_dir = work.path().join("content");
    let dest = content_dir.join("open-web");
    source_tree(&src);

    let (ok, report) = import(&src, &dest, &[]);
    assert!(ok, "{report}");
    let src_text = src.display().to_string();
    for expected in [
        format!("{src_text}/01-foundations/01-welcome.md:3: front matter key not imported: tags"),
        format!("{src_text}/01-foundations/01-welcome.md:22: HTML <iframe> is not allowed"),
        format!("{src_text}/notes.txt: not a markdown lesson"),
        "2 stages, 6 skills, 3 warnings".to_string(),
        "Licence: copied".to_string(),
        "Check: OK".to_string(),
    ] {
        assert!(report.contains(&expected), "{expected:?} not in:\n{report}");
    }

    let (ok, text) = pathway(&["content", "check", content_dir.to_str().unwrap()]);
    assert!(
        ok && text.contains("OK, 1 roadmaps, 2 stages, 6 skills"),
        "{text}"
    );

    let content = parse_dir(&content_dir).unwrap();
    assert_eq!(content.roadmaps[0].id, "open-web");
    assert_eq!(content.roadmaps[0].title, "Open Web Course");
    assert_eq!(
        skills_by_stage(&content),
        [
            (
                "foundations".to_string(),
                pairs(&[
                    ("welcome", "Welcome to the course"),
                    ("web-basics", "How the web works"),
                    ("only-heading", "Only a heading"),
                ])
            ),
            (
                "tools".to_string(),
                pairs(&[
                    ("git", "Git"),
                    ("terminal", "The terminal"),
                    ("deep-dive", "Deep dive")
                ])
            ),
        ]
    );
    let welcome = &content.roadmaps[0].stages[0].skills[0].body_md;
    assert!(
        welcome.starts_with("What you will learn.\n\n### Why\n"),
        "{welcome}"
    );
    assert!(
        welcome.contains("```sh\n# a comment, not a heading\n## nor this\n```"),
        "code is untouched: {welcome}"
    );
    assert!(
        welcome.contains("![A diagram](assets/01-foundations/images/diagram.png)"),
        "{welcome}"
    );
    assert!(
        welcome.contains("[Git](/roadmaps/open-web/tools/git)"),
        "{welcome}"
    );
    assert!(dest.join("assets/01-foundations/images/diagram.png").is_file());
    assert!(dest.join("LICENSE").is_file());
    let roadmap_md = std::fs::read_to_string(dest.join("roadmap.md")).unwrap();
    assert!(
        roadmap_md.contains("Adapted from Open Web Course."),
        "{roadmap_md}"
    );

    let map: ImportMap =
        toml::from_str(&std::fs::read_to_string(dest.join(".import-map.toml")).unwrap()).unwrap();
    assert_eq!(map.source, src.canonicalize().unwrap().display().to_string());
    let entries: Vec<(&str, &str)> = map
        .skills
        .iter()
        .map(|s| (s.source.as_str(), s.id.as_str()))
        .collect();
    assert!(
        entries.contains(&("01-foundations/01-welcome.md", "welcome")),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("02_tools/extra/deep-dive.md", "deep-dive")),
        "{entries:?}"
    );
    assert!(
        map.stages
            .iter()
            .any(|s| s.source == "02_tools" && s.id == "tools")
    );

    // Importing unchanged lessons again changes nothing.
    let snapshot = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
        files.sort();
        files
    };
    let before = snapshot(&dest);
    let (ok, report) = import(&src, &dest, &[]);
    assert!(ok, "{report}");
    assert_eq!(snapshot(&dest), before);

    // The result loads into a real database.
    let app = TestApp::with_content(&content_dir).await;
    let catalog = Catalog::load(&app.db.pool).await.unwrap();
    assert!(catalog.skill("terminal").is_some() && catalog.skill("web-basics").is_some());
    // The link the import wrote between two lessons leads to the other skill's page.
    let (status, _, page) = app.get("/roadmaps/open-web/tools/git").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Commit early."), "{page}");
    let (status, _, page) = app.get("/roadmaps/open-web/foundations/welcome").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"href="/roadmaps/open-web/tools/git""#), "{page}");

    // Upstream retitles a lesson and renames two files (one with an id in its front matter).
    write_files(&src, &[("02_tools/git.md", "# Git basics\n\nCommit early.\n")]);
    std::fs::rename(
        src.join("02_tools/terminal.md"),
        src.join("02_tools/the-shell.md"),
    )
    .unwrap();
    write_files(&src, &[("02_tools/order.txt", "git\nthe-shell\nextra\n")]);
    std::fs::rename(
        src.join("01-foundations/02-how-the-web-works.md"),
        src.join("01-foundations/05-web.md"),
    )
    .unwrap();
    write_files(&src, &[("01-foundations/11-new.md", "# A new lesson\n")]);
    std::fs::remove_file(src.join("01-foundations/10-only-heading.md")).unwrap();

    let (ok, report) = import(&src, &dest, &[]);
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!(
            "{src_text}/01-foundations/10-only-heading.md: gone upstream; skill \"only-heading\""
        )),
        "{report}"
    );
    let content = parse_dir(&content_dir).unwrap();
    assert_eq!(
        skills_by_stage(&content),
        [
            (
                "foundations".to_string(),
                pairs(&[
                    ("welcome", "Welcome to the course"),
                    ("web-basics", "How the web works"),
                    ("new", "A new lesson"),
                ])
            ),
            (
                "tools".to_string(),
                pairs(&[
                    ("git", "Git basics"),
                    ("terminal", "The terminal"),
                    ("deep-dive", "Deep dive")
                ])
            ),
        ]
    );
    // Only the vanished lesson is retired; everything else keeps its id and so its progress.
    let plan = sync::plan(&app.db.pool, &content).await.unwrap();
    let retired: Vec<&str> = plan.retired.iter().map(|s| s.id.as_str()).collect();
    let added: Vec<&str> = plan.added.iter().map(|s| s.id.as_str()).collect();
    assert_eq!((retired, added), (vec!["only-heading"], vec!["new"]));
}

#[test]
fn a_destination_that_is_not_an_import_of_the_same_source_needs_force() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let other = work.path().join("other");
    source_tree(&src);
    source_tree(&other);
    let dest = work.path().join("content/course");
    write_files(&dest, &[("notes.md", "the admin's own file")]);

    let (ok, text) = import(&src, &dest, &[]);
    assert!(!ok && text.contains("is not an import"), "{text}");
    assert!(dest.join("notes.md").is_file(), "nothing was written");

    let (ok, text) = import(&src, &dest, &["--force"]);
    assert!(ok, "{text}");
    assert!(
        !dest.join("notes.md").exists(),
        "--force replaces the markdown files"
    );

    let (ok, text) = import(&other, &dest, &[]);
    assert!(!ok && text.contains("was imported from"), "{text}");

    let (ok, text) = import(&src, &work.path().join("content/Bad_Name"), &[]);
    assert!(!ok && text.contains("is the roadmap id"), "{text}");
}

#[test]
fn several_roadmaps_import_into_a_content_directory_with_unique_ids() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("curriculum");
    let content_dir = work.path().join("content");
    write_files(
        &src,
        &[
            ("LICENSE", "MIT\n"),
            ("01-frontend/01-basics/intro.md", "# Intro to the frontend\n"),
            ("02-backend/01-basics/intro.md", "# Intro to the backend\n"),
            ("02-backend/02-data/sql.md", "# SQL\n"),
        ],
    );
    write_files(
        &content_dir,
        &[
            (
                "existing/roadmap.md",
                "+++\ntitle = \"Existing\"\nsummary = \"Was here first.\"\n+++\n",
            ),
            (
                "existing/01-s.md",
                "+++\nid = \"s\"\ntitle = \"S\"\n+++\n## SQL {#sql}\nTaken.\n",
            ),
        ],
    );

    let (ok, text) = import(&src, &content_dir, &["--roadmaps"]);
    assert!(ok, "{text}");
    assert!(text.contains("Check: OK, 3 roadmaps"), "{text}");
    for roadmap in ["frontend", "backend"] {
        assert!(
            content_dir.join(roadmap).join("LICENSE").is_file(),
            "{roadmap}: {text}"
        );
        let map = std::fs::read_to_string(content_dir.join(roadmap).join(".import-map.toml")).unwrap();
        assert!(
            map.contains(&format!("source = \"{}", src.join("0").display())),
            "{map}"
        );
    }
    let content = parse_dir(&content_dir).unwrap();
    let ids: Vec<(String, Vec<String>)> = content
        .roadmaps
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.stages
                    .iter()
                    .flat_map(|s| &s.skills)
                    .map(|s| s.id.clone())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("frontend".to_string(), vec!["intro".to_string()]),
            (
                "backend".to_string(),
                vec!["basics-intro".to_string(), "data-sql".to_string()]
            ),
            ("existing".to_string(), vec!["sql".to_string()]),
        ]
    );
}
