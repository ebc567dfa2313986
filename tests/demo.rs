//! `pathway demo`: the seeded data gives a newcomer the mentor experience at once.

mod common;

use axum::http::StatusCode;
use common::TestApp;

#[tokio::test]
async fn the_demo_seeds_a_mentor_three_learners_their_activity_and_a_cohort() {
    let app = TestApp::with_default_content().await;
    let catalog = app.state.catalog.load_full();
    let accounts = pathway::demo::seed(&app.db.pool, &catalog).await.unwrap();
    assert_eq!(accounts.learners, ["ada", "grace", "linus"]);

    let mentor = app.sign_in("mentor", pathway::demo::PASSWORD, None).await;
    let (status, _, page) = app.get_as("/mentoring", &mentor).await;
    assert_eq!(status, StatusCode::OK);
    for name in ["Ada Lovelace", "Grace Hopper", "Linus Learner"] {
        assert!(page.contains(name), "{name} is a mentee");
    }
    assert_eq!(
        page.matches("badge-stalled").count(),
        1,
        "only Linus has been quiet for a month"
    );
    let linus = page.find("Linus Learner").unwrap();
    let ada = page.find("Ada Lovelace").unwrap();
    assert!(ada < linus, "reviews waiting first, then the stalled mentee");
    assert!(page.contains("review waits for you"));

    let (_, _, ada_page) = app
        .get_as("/mentees/ada/backend/how-the-web-works", &mentor)
        .await;
    assert!(ada_page.contains("Verified by Morgan Mentor"));
    assert!(ada_page.contains("Review requested"), "a review is waiting");
    assert!(ada_page.contains("CNAME versus ALIAS"), "a conversation");
    assert!(
        ada_page.contains("The server never sees the screen"),
        "a shared note"
    );

    // The mentor leads a cohort of a dozen, with two more mentors, on the backend roadmap,
    // tailored and with target dates some learners are behind on.
    let (status, _, team) = app.get_as("/teams/backend-cohort", &mentor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(team.contains("Backend cohort") && team.contains("Add to the team"));
    assert_eq!(
        team.matches(r#"<th scope="row">"#).count(),
        12,
        "a progress row per learner"
    );
    assert!(team.contains("Behind") && team.contains("On track"), "{team}");
    assert_eq!(accounts.team_mentors, ["sam", "rita"]);
    let (_, _, plan) = app
        .get_as("/teams/backend-cohort/roadmaps/backend", &mentor)
        .await;
    assert_eq!(plan.matches(r#"<option value="hidden" selected>"#).count(), 2);
    assert_eq!(plan.matches(r#"<option value="required" selected>"#).count(), 1);
    let (_, _, mentee) = app.get_as("/mentees/ada", &mentor).await;
    assert!(
        mentee.contains("<strong>weekly</strong>") && mentee.contains("next was due"),
        "{mentee}"
    );

    let learner = app.sign_in("ada", pathway::demo::PASSWORD, None).await;
    let (_, _, dashboard) = app.get_as("/dashboard", &learner).await;
    assert!(dashboard.contains("of them verified"));

    let again = pathway::demo::seed(&app.db.pool, &catalog).await;
    assert!(again.is_err(), "seeding twice is refused");
}
