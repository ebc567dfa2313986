//! The home page with many roadmaps: grouped, filterable without JavaScript, started ones first.

mod common;

use axum::http::StatusCode;
use common::{TestApp, write_files};

/// Eight roadmaps: three in "Web", two in "Data", three without a group.
fn catalog() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let roadmaps = [
        ("frontend", "Frontend", "Web", "Pages that people use."),
        ("backend", "Backend", "Web", "Servers and databases."),
        ("devops", "DevOps", "Web", "Shipping and running software."),
        ("sql", "SQL", "Data", "Queries over relational data."),
        (
            "analytics",
            "Analytics",
            "Data",
            "Questions answered with numbers.",
        ),
        ("git", "Git", "", "Version control for everyone."),
        ("writing", "Technical writing", "", "Docs that people read."),
        ("career", "Career", "", "From junior to lead."),
    ];
    for (index, (id, title, group, summary)) in roadmaps.iter().enumerate() {
        let group_line = if group.is_empty() {
            String::new()
        } else {
            format!("group = \"{group}\"\n")
        };
        files.push((
            format!("{id}/roadmap.md"),
            format!(
                "+++\ntitle = \"{title}\"\nsummary = \"{summary}\"\norder = {index}\n{group_line}+++\nIntro.\n"
            ),
        ));
        files.push((
            format!("{id}/01-start.md"),
            format!("+++\nid = \"start\"\ntitle = \"Start\"\n+++\n\n## First {{#{id}-first}}\nText.\n"),
        ));
    }
    files
}

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let files = catalog();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    write_files(dir.path(), &refs);
    (TestApp::with_content(dir.path()).await, dir)
}

fn position(page: &str, needle: &str) -> usize {
    page.find(needle)
        .unwrap_or_else(|| panic!("{needle} is not on the page:\n{page}"))
}

#[tokio::test]
async fn roadmaps_are_listed_by_group_with_the_ungrouped_last() {
    let (app, _dir) = app().await;
    let (status, _, page) = app.get("/").await;
    assert_eq!(status, StatusCode::OK);
    let web = position(&page, ">Web</h2>");
    let data = position(&page, ">Data</h2>");
    let other = position(&page, ">Other roadmaps</h2>");
    assert!(
        web < data && data < other,
        "groups in catalog order, ungrouped last"
    );
    assert!(web < position(&page, ">DevOps</a>") && position(&page, ">DevOps</a>") < data);
    assert!(data < position(&page, ">Analytics</a>") && position(&page, ">Analytics</a>") < other);
    assert!(other < position(&page, ">Git</a>"));
    // The filter is a plain GET form with labels.
    assert!(page.contains(r#"<label for="f_roadmap_q">Find a roadmap</label>"#));
    assert!(page.contains(r#"<option value="Data">Data</option>"#), "{page}");
}

#[tokio::test]
async fn the_filter_narrows_by_words_and_by_group() {
    let (app, _dir) = app().await;
    let (_, _, page) = app.get("/?q=DATA").await;
    assert!(page.contains("3 roadmaps match this filter."), "{page}");
    assert!(
        page.contains(">SQL</a>") && page.contains(">Backend</a>"),
        "summary and group words match"
    );
    assert!(!page.contains(">Git</a>"));

    let (_, _, page) = app.get("/?group=Web").await;
    assert!(page.contains("3 roadmaps match this filter."), "{page}");
    assert!(
        page.contains(r#"<option value="Web" selected>Web</option>"#),
        "{page}"
    );
    assert!(!page.contains(">SQL</a>"));

    let (_, _, page) = app.get("/?q=serv&group=Web").await;
    assert!(page.contains("1 roadmap matches this filter."), "{page}");
    assert!(page.contains(r#"value="serv""#), "the words are kept in the form");

    let (_, _, page) = app.get("/?q=%3Cscript%3Ealert(1)%3C/script%3E").await;
    assert!(page.contains("No roadmap matches this filter."));
    assert!(!page.contains("<script>alert(1)"), "the query is escaped");
}

#[tokio::test]
async fn a_learners_started_roadmaps_come_first() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    app.post_form("/progress/career/start", &[], Some(&ada)).await;
    app.post_form("/progress/sql/start", &[], Some(&ada)).await;
    let (_, _, page) = app.get_as("/", &ada).await;
    let started = position(&page, ">Your roadmaps</h2>");
    let web = position(&page, ">Web</h2>");
    assert!(started < web);
    assert!(started < position(&page, ">Career</a>") && position(&page, ">Career</a>") < web);
    assert!(position(&page, ">SQL</a>") < web);
    assert_eq!(
        page.matches(">SQL</a>").count(),
        1,
        "listed once, under Your roadmaps"
    );
    // Someone else's start is not mine.
    let (_, _, other) = app.get_as("/", &app.sign_up("bob").await).await;
    assert!(!other.contains("Your roadmaps"));
}
