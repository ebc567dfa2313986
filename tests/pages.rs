//! Every page through the router: status, key content, error pages, static files and headers.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{TestApp, write_files};

fn assert_html(headers: &axum::http::HeaderMap) {
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
}

#[tokio::test]
async fn home_lists_both_roadmaps_with_counts() {
    let app = TestApp::with_default_content().await;
    let (status, headers, body) = app.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert_html(&headers);
    assert!(
        body.contains(r#"<a href="/roadmaps/backend">Backend Developer</a>"#),
        "{body}"
    );
    assert!(
        body.contains(r#"<a href="/roadmaps/career">Backend career ladder</a>"#),
        "{body}"
    );
    let catalog = app.state.catalog.load();
    let backend = catalog.roadmap("backend").unwrap();
    assert!(body.contains(&format!(
        "{} stages · {} skills ({} optional)",
        backend.stages.len(),
        backend.skill_count(),
        backend.optional_count()
    )));
    // Backend has order = 1, career order = 2.
    assert!(body.find("Backend Developer").unwrap() < body.find("Backend career ladder").unwrap());
}

#[tokio::test]
async fn roadmap_page_lists_stages_in_order_with_their_skills() {
    let app = TestApp::with_default_content().await;
    let (status, _, body) = app.get("/roadmaps/backend").await;
    assert_eq!(status, StatusCode::OK);
    let catalog = app.state.catalog.load();
    let backend = catalog.roadmap("backend").unwrap();
    assert!(body.contains("<h1>Backend Developer</h1>"));
    let mut last = 0;
    for stage in &backend.stages {
        let link = format!(r#"<a href="/roadmaps/backend/{}">"#, stage.id);
        let at = body.find(&link).unwrap_or_else(|| panic!("{link} missing"));
        assert!(at > last, "stage {} out of order", stage.id);
        last = at;
        for skill in &stage.skills {
            assert!(body.contains(&format!(r#"href="/roadmaps/backend/{}/{}""#, stage.id, skill.id)));
        }
    }
    assert!(body.contains(r#"<span class="badge badge-optional">optional</span>"#));
}

#[tokio::test]
async fn every_stage_page_renders_each_skill_with_an_anchor() {
    let app = TestApp::with_default_content().await;
    let catalog = app.state.catalog.load_full();
    for roadmap in &catalog.roadmaps {
        for (index, stage) in roadmap.stages.iter().enumerate() {
            let (status, headers, body) = app.get(&format!("/roadmaps/{}/{}", roadmap.id, stage.id)).await;
            assert_eq!(status, StatusCode::OK, "{}/{}", roadmap.id, stage.id);
            assert_html(&headers);
            assert!(body.contains(&format!("Stage {} of {}", index + 1, roadmap.stages.len())));
            for skill in &stage.skills {
                // Old `#skill-id` links still land on the skill's row, which links to its own page.
                assert!(body.contains(&format!(r#"<li class="skill skill-summary" id="{}""#, skill.id)));
                assert!(body.contains(&format!(
                    r#"<a href="/roadmaps/{}/{}/{}">"#,
                    roadmap.id, stage.id, skill.id
                )));
            }
            let has_previous = body.contains(r#"rel="prev""#);
            let has_next = body.contains(r#"rel="next""#);
            assert_eq!(has_previous, index > 0);
            assert_eq!(has_next, index + 1 < roadmap.stages.len());
            if let Some(next) = roadmap.stages.get(index + 1) {
                assert!(body.contains(&format!(
                    r#"href="/roadmaps/{}/{}" rel="next""#,
                    roadmap.id, next.id
                )));
            }
        }
    }
}

#[tokio::test]
async fn unknown_pages_get_the_html_404_page() {
    let app = TestApp::with_default_content().await;
    for path in [
        "/roadmaps/nope",
        "/roadmaps/backend/nope",
        "/nope",
        "/roadmaps/career/how-the-web-works",
    ] {
        let (status, headers, body) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_html(&headers);
        assert!(body.contains("<h1>Not Found</h1>"), "{body}");
        assert!(body.contains("Error 404"));
        assert!(
            body.contains("/static/style.css?v="),
            "the error page uses the layout"
        );
    }
}

#[tokio::test]
async fn wrong_method_gets_the_html_405_page() {
    let app = TestApp::with_default_content().await;
    let (status, headers, body) = app.request(Request::post("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_html(&headers);
    assert!(body.contains("Error 405"));
}

#[tokio::test]
async fn static_files_are_fingerprinted_cached_and_compressed() {
    let app = TestApp::with_default_content().await;
    let (_, _, home) = app.get("/").await;
    let version = &app.state.assets.version;
    let href = format!("/static/style.css?v={version}");
    assert!(home.contains(&href));

    let (status, headers, body) = app.get(&href).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/css");
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(body.contains(":focus-visible"));

    let request = Request::get(&href)
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = app.request(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");

    let (status, headers, _) = app.get("/static/missing.css").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_html(&headers);
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::with_default_content().await;
    let (_, headers, _) = app.get("/").await;
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
}

#[tokio::test]
async fn templates_use_no_inline_script_style_or_handlers() {
    let app = TestApp::with_default_content().await;
    for path in [
        "/",
        "/roadmaps/backend",
        "/roadmaps/backend/how-the-web-works",
        "/nope",
    ] {
        let (_, _, body) = app.get(path).await;
        let lower = body.to_lowercase();
        assert_eq!(
            lower.matches("<script").count(),
            lower.matches(r#"<script src="/static/"#).count(),
            "{path}: only scripts from /static/"
        );
        assert!(!lower.contains(" style="), "{path}");
        assert!(!lower.contains(" onclick="), "{path}");
    }
}

#[tokio::test]
async fn healthz_answers_when_the_database_does() {
    let app = TestApp::with_default_content().await;
    let (status, _, body) = app.get("/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));

    app.state.db.close().await;
    let (status, headers, body) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_html(&headers);
    assert!(body.contains("cannot reach its database"));
    let lower = body.to_lowercase();
    assert!(
        !lower.contains("sqlx") && !lower.contains("pool"),
        "no internals leak: {body}"
    );
}

#[tokio::test]
async fn content_html_is_sanitized_on_the_page() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "x/roadmap.md",
                "+++\ntitle = \"X\"\nsummary = \"s\"\n+++\n<script>alert('intro')</script>\n",
            ),
            (
                "x/01-a.md",
                "+++\nid = \"a\"\ntitle = \"A\"\n+++\n<img src=x onerror=\"alert(1)\">\n\n\
                 ## Skill {#skill}\n<script>alert(2)</script>\n\n[link](javascript:alert(3))\n\n\
                 <a href=\"javascript:alert(4)\" onclick=\"alert(5)\">x</a>\n",
            ),
        ],
    );
    let app = TestApp::with_content(dir.path()).await;
    for path in ["/roadmaps/x", "/roadmaps/x/a"] {
        let (status, _, body) = app.get(path).await;
        assert_eq!(status, StatusCode::OK);
        let lower = body.to_lowercase();
        assert!(!lower.contains("<script>"), "{path}: {body}");
        assert_eq!(
            lower.matches("<script").count(),
            1,
            "{path}: only the site's own script"
        );
        assert!(!lower.contains("onerror"), "{path}");
        assert!(!lower.contains("onclick"), "{path}");
        assert!(!lower.contains("javascript:"), "{path}");
        assert!(!lower.contains("alert("), "{path}");
    }
}

/// The header's main navigation, cut out of a page.
fn main_nav(page: &str) -> &str {
    let start = page
        .find(r#"<nav aria-label="Main""#)
        .expect("no main navigation");
    let end = start + page[start..].find("</nav>").unwrap();
    &page[start..end]
}

/// Issue 12: the header is role-aware. Mentoring shows only for a mentor (an active link,
/// or an invitation waiting for their answer), Admin only for an admin; an ended link
/// takes Mentoring away on the next page. Knowing it costs no statement of its own.
#[tokio::test]
async fn the_header_shows_mentoring_only_to_mentors_and_admin_only_to_admins() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &common::sample_content());
    let app = TestApp::with_content(dir.path()).await;
    let learner = app.sign_up("lea").await;
    let mentor = app.sign_up("max").await;
    let invited = app.sign_up("ivy").await;
    let admin = app.sign_up_admin("root").await;
    let (lea, max, ivy) = (
        app.user_id("lea").await,
        app.user_id("max").await,
        app.user_id("ivy").await,
    );
    sqlx::query(
        "insert into mentorships (mentee_id, mentor_id, status) values ($1, $2, 'active'), ($1, $3, 'invited')",
    )
    .bind(lea)
    .bind(max)
    .bind(ivy)
    .execute(&app.db.pool)
    .await
    .unwrap();

    for (who, cookie, mentoring, is_admin) in [
        ("a learner", &learner, false, false),
        ("a mentor", &mentor, true, false),
        ("someone invited to mentor", &invited, true, false),
        ("an admin", &admin, false, true),
    ] {
        let (status, _, page) = app.get_as("/about", cookie).await;
        assert_eq!(status, StatusCode::OK);
        let nav = main_nav(&page);
        assert_eq!(
            nav.contains(r#"<a href="/mentoring">Mentoring</a>"#),
            mentoring,
            "{who}: {nav}"
        );
        assert_eq!(
            nav.contains(r#"<a href="/admin">Admin</a>"#),
            is_admin,
            "{who}: {nav}"
        );
        assert!(
            nav.contains(r#"<a href="/dashboard">Dashboard</a>"#),
            "{who}: {nav}"
        );
        // The narrow-screen menu is plain HTML: a <details> with a "Menu" summary.
        assert!(
            nav.contains(r#"<summary class="nav-toggle">Menu"#),
            "{who}: {nav}"
        );
    }
    let (_, _, anonymous) = app.get("/about").await;
    let nav = main_nav(&anonymous);
    assert!(!nav.contains("/mentoring") && !nav.contains("/admin") && nav.contains(r#"href="/signin""#));

    // The mentor detection rides on the statement that loads the session's user.
    let (for_learner, _) = common::count_statements(app.get_as("/about", &learner)).await;
    let (for_mentor, _) = common::count_statements(app.get_as("/about", &mentor)).await;
    assert_eq!(
        for_mentor, for_learner,
        "a mentor's page costs what a learner's does"
    );

    sqlx::query("update mentorships set status = 'ended', ended_at = now() where mentor_id = $1")
        .bind(max)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (_, _, page) = app.get_as("/about", &mentor).await;
    assert!(
        !main_nav(&page).contains("/mentoring"),
        "an ended link is no longer mentoring"
    );
}

/// Issue 12: one skill of 105 is under 1 %, and reads "<1%" (never "0%"), with a bar that
/// is not empty, on every page that shows the roadmap's or stage's progress.
#[tokio::test]
async fn a_start_below_one_percent_reads_less_than_one_percent_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut stage = String::from("+++\nid = \"all\"\ntitle = \"Everything\"\n+++\nMany skills.\n");
    for i in 1..=105 {
        stage.push_str(&format!("\n## Skill {i} {{#skill-{i}}}\nText {i}.\n"));
    }
    write_files(
        dir.path(),
        &[
            (
                "big/roadmap.md",
                "+++\ntitle = \"Big\"\nsummary = \"Long.\"\norder = 1\n+++\nA long road.\n",
            ),
            ("big/01-all.md", &stage),
        ],
    );
    let app = TestApp::with_content(dir.path()).await;
    let cookie = app.sign_up("lea").await;
    let (status, _, _) = app.post_form("/progress/big/start", &[], Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app
        .post_form(
            "/skills/skill-1/state",
            &[("state", "done"), ("version", "0")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    for path in ["/roadmaps/big", "/roadmaps/big/all", "/dashboard"] {
        let (status, _, page) = app.get_as(path, &cookie).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        // "<" as the page escapes it, whichever entity the template engine picks.
        let page = page.replace("&#60;", "<").replace("&lt;", "<");
        assert!(
            page.contains("1 of 105 required skills done (<1%)"),
            "{path}: {page}"
        );
        assert!(
            !page.contains("(0%)") && !page.contains(">0%<"),
            "{path} shows 0%: {page}"
        );
        assert!(
            page.contains(r#"<span class="figure-value"><1%</span>"#),
            "{path}: the large figure: {page}"
        );
        assert!(
            page.contains(r#"<progress max="100" value="1" class="progress-done" aria-label="#),
            "{path}: the bar is drawn, not empty: {page}"
        );
    }
}
