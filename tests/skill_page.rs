//! A page per skill: the whole text, controls above and below it, and forms that come back to it.

mod common;

use axum::http::{StatusCode, header};
use common::{TestApp, sample_content, write_files};

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    (TestApp::with_content(dir.path()).await, dir)
}

async fn version(app: &TestApp, skill: &str) -> String {
    let version: Option<i32> = sqlx::query_scalar(
        "select version from skill_progress where skill_id = $1 and user_id = (select id from users where username = 'ada')",
    )
    .bind(skill)
    .fetch_optional(&app.db.pool)
    .await
    .unwrap();
    version.unwrap_or(0).to_string()
}

#[tokio::test]
async fn each_skill_has_a_page_with_its_text_and_neighbours() {
    let (app, _dir) = app().await;
    let (status, _, page) = app.get("/roadmaps/web/http/http-methods").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<h1 id="h_http-methods">Methods"#), "{page}");
    assert!(page.contains("Skill 1 of 2"), "{page}");
    assert!(
        page.contains(r#"href="/roadmaps/web/http/status-codes" rel="next""#),
        "the next skill, in the same stage: {page}"
    );
    assert!(
        !page.contains(r#"rel="prev""#),
        "nothing comes before the first skill"
    );
    assert!(
        page.contains("to track your progress"),
        "anonymous visitors are invited to sign in"
    );
    assert!(!page.contains("state-button"), "and get no controls");

    let (_, _, last_of_stage) = app.get("/roadmaps/web/http/status-codes").await;
    assert!(
        last_of_stage.contains(r#"href="/roadmaps/web/dns/dns-records" rel="next""#),
        "the next skill crosses into the next stage: {last_of_stage}"
    );
    assert!(last_of_stage.contains(r#"href="/roadmaps/web/http/http-methods" rel="prev""#));

    // The stage page lists the skills, linking to each one's page; the text is there.
    let (_, _, stage) = app.get("/roadmaps/web/http").await;
    assert!(
        stage.contains(r#"<a href="/roadmaps/web/http/http-methods">Methods</a>"#),
        "{stage}"
    );
    assert!(
        !stage.contains("GET and POST."),
        "the text is on the skill's page: {stage}"
    );
    assert!(page.contains("GET and POST."), "{page}");

    for missing in [
        "/roadmaps/web/http/nope",
        "/roadmaps/web/dns/http-methods",
        "/roadmaps/nope/http/http-methods",
    ] {
        let (status, _, _) = app.get(missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn forms_on_a_skill_page_come_back_to_it_and_done_moves_on() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &ada).await;
    assert!(
        page.contains(r#"aria-label="Status of Methods""#),
        "controls at the top"
    );
    assert!(page.contains("Done, next skill →"), "and at the end: {page}");
    assert!(page.contains(r#"name="back" value="skill""#));
    assert!(
        page.contains(r#"<label for="note_http-methods">"#),
        "notes on the page"
    );

    // A state button: back to this page, with Undo offered.
    let v = version(&app, "http-methods").await;
    let (status, headers, _) = app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "in_progress"), ("version", &v), ("back", "skill")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers[header::LOCATION].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/roadmaps/web/http/http-methods?changed="),
        "{location}"
    );
    let (_, _, page) = app.get_as(&location, &ada).await;
    assert!(page.contains(r#"value="in_progress" class="state-button" aria-pressed="true""#));
    assert!(page.contains(">Undo</button>"), "{page}");

    // "Done, next skill": marked done, and on to the next skill.
    let v = version(&app, "http-methods").await;
    let (status, headers, _) = app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "done"), ("version", &v), ("back", "next")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/http/status-codes");
    let state: String =
        sqlx::query_scalar("select state from skill_progress where skill_id = 'http-methods'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(state, "done");
    // The last skill of the roadmap stays on its page.
    let (_, headers, _) = app
        .post_form(
            "/skills/dns-records/state",
            &[("state", "done"), ("version", "0"), ("back", "next")],
            Some(&ada),
        )
        .await;
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/dns/dns-records");

    // A stale form is refused on the skill page itself.
    let (status, _, page) = app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "skipped"), ("version", "1"), ("back", "skill")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains(r#"<h1 id="h_http-methods">"#), "{page}");
    assert!(page.contains("Not saved"), "{page}");

    // Notes: saved and back here; too long re-renders this page with the text kept.
    let (status, headers, _) = app
        .post_form(
            "/skills/http-methods/note",
            &[("body", "GET is safe."), ("back", "skill")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/http/http-methods");
    let long = "x".repeat(20_001);
    let (status, _, page) = app
        .post_form(
            "/skills/http-methods/note",
            &[("body", &long), ("back", "skill")],
            Some(&ada),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains(r#"<h1 id="h_http-methods">"#),
        "the skill page, not the stage"
    );
    assert!(page.contains(&long), "the text is kept");

    // Without `back`, a state change from the stage page's list comes back to the list.
    let v = version(&app, "http-methods").await;
    let (_, headers, _) = app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "in_progress"), ("version", &v)],
            Some(&ada),
        )
        .await;
    let location = headers[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("/roadmaps/web/http?changed=") && location.ends_with("#http-methods"),
        "{location}"
    );

    // Evidence added and removed from the skill page comes back to it.
    let (_, headers, _) = app
        .post_form(
            "/skills/http-methods/evidence",
            &[
                ("url", "https://example.org/methods"),
                ("title", "My notes"),
                ("back", "skill"),
            ],
            Some(&ada),
        )
        .await;
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/http/http-methods");
    let id: i64 = sqlx::query_scalar("select id from evidence")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (_, headers, _) = app
        .post_form(
            &format!("/evidence/{id}/delete"),
            &[("back", "skill")],
            Some(&ada),
        )
        .await;
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/http/http-methods");
}

#[tokio::test]
async fn a_skill_page_shows_only_the_viewers_own_progress() {
    let (app, _dir) = app().await;
    let ada = app.sign_up("ada").await;
    app.post_form("/progress/web/start", &[], Some(&ada)).await;
    app.post_form(
        "/skills/http-methods/note",
        &[("body", "Ada's private thought")],
        Some(&ada),
    )
    .await;
    let mallory = app.sign_up("mallory").await;
    let (_, _, page) = app.get_as("/roadmaps/web/http/http-methods", &mallory).await;
    assert!(!page.contains("private thought"));
    assert!(page.contains("Start this roadmap"), "{page}");
}
