//! Shared skills: a skill defined once and included in other stages has one state everywhere,
//! counts in every roadmap that lists it, and is reviewed and exported once.

mod common;

use std::path::Path;

use axum::http::{StatusCode, header};
use common::{TestApp, write_files};
use pathway::content::Catalog;
use pathway::content::parse::parse_dir;
use pathway::db::mentorships::{self, Scope};

const WEB_ROADMAP: &str = "+++\ntitle = \"Web\"\nsummary = \"Web basics.\"\norder = 1\n+++\n";
const WEB_BASICS: &str = "+++\nid = \"basics\"\ntitle = \"Basics\"\n+++\n\
    ## Git basics {#git-basics}\nCommit and push.\n\n\
    ## HTML {#html}\nTags.\n";
const OPS_ROADMAP: &str = "+++\ntitle = \"Ops\"\nsummary = \"Running services.\"\norder = 2\n+++\n";
const OPS_TOOLS: &str = "+++\nid = \"tools\"\ntitle = \"Tools\"\n+++\n\
    ## Shell {#shell}\nPipes.\n\n\
    ## {include=git-basics}\n\n\
    ## Logs {#logs}\nTail them.\n";
const OPS_TOOLS_WITHOUT: &str = "+++\nid = \"tools\"\ntitle = \"Tools\"\n+++\n\
    ## Shell {#shell}\nPipes.\n\n\
    ## Logs {#logs}\nTail them.\n";

fn content(dir: &Path, ops_tools: &str) {
    write_files(
        dir,
        &[
            ("web/roadmap.md", WEB_ROADMAP),
            ("web/01-basics.md", WEB_BASICS),
            ("ops/roadmap.md", OPS_ROADMAP),
            ("ops/01-tools.md", ops_tools),
        ],
    );
}

async fn shared_app() -> (tempfile::TempDir, TestApp) {
    let dir = tempfile::tempdir().unwrap();
    content(dir.path(), OPS_TOOLS);
    let app = TestApp::with_content(dir.path()).await;
    (dir, app)
}

/// The learner's done count per stage, as pages read it (totals plus pending deltas).
async fn done_in(app: &TestApp, user_id: i64, roadmap: &str, stage: &str) -> i64 {
    sqlx::query_scalar(
        "select coalesce(sum(done), 0)::bigint from (
             select done from stage_tallies where user_id = $1 and roadmap_id = $2 and stage_id = $3
             union all
             select done from stage_tally_changes where user_id = $1 and roadmap_id = $2 and stage_id = $3) t",
    )
    .bind(user_id)
    .bind(roadmap)
    .bind(stage)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn reload(app: &TestApp, dir: &Path) {
    pathway::app::load_content(&app.db.pool, dir).await.unwrap();
    app.state
        .catalog
        .store(std::sync::Arc::new(Catalog::load(&app.db.pool).await.unwrap()));
}

#[tokio::test]
async fn an_included_skill_is_listed_in_order_and_counted_once_per_roadmap() {
    let (_dir, app) = shared_app().await;
    let catalog = app.state.catalog.load();
    let ops = catalog.roadmap("ops").unwrap();
    let ids: Vec<&str> = ops.stages[0].skills.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(
        ids,
        ["shell", "git-basics", "logs"],
        "includes keep their place among the headings"
    );
    assert_eq!(ops.skill_count(), 3);
    assert_eq!(catalog.roadmap("web").unwrap().skill_count(), 2);
    assert_eq!(catalog.skill_count(), 4, "a shared skill is one skill");
    let (home, stage, _) = catalog.skill("git-basics").unwrap();
    assert_eq!((home.id.as_str(), stage.id.as_str()), ("web", "basics"));
    assert_eq!(catalog.roadmaps_of("git-basics"), ["web", "ops"]);

    let (status, _, body) = app.get("/roadmaps/ops/tools").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("/roadmaps/ops/tools/git-basics"), "{body}");
    assert!(
        body.contains("badge-shared"),
        "the included copy is marked shared"
    );
    let (status, _, body) = app.get("/roadmaps/ops/tools/git-basics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Commit and push."), "the definition's text shows");
    assert!(
        body.contains("href=\"/roadmaps/web/basics/git-basics\">Web › Basics</a>"),
        "the page names the other place: {body}"
    );
    let (_, _, body) = app.get("/roadmaps/web/basics/git-basics").await;
    assert!(
        body.contains("href=\"/roadmaps/ops/tools/git-basics\">Ops › Tools</a>"),
        "{body}"
    );
}

#[tokio::test]
async fn ticking_it_in_either_roadmap_is_one_state_that_both_count() {
    let (_dir, app) = shared_app().await;
    let cookie = app.sign_up("lea").await;
    let lea = app.user_id("lea").await;

    // Ticked where it is included: the answer stays on that stage.
    let (status, headers, body) = app
        .post_form(
            "/skills/git-basics/state",
            &[("state", "done"), ("version", "0"), ("at", "ops/tools")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = headers[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("/roadmaps/ops/tools?changed="), "{location}");
    assert!(location.ends_with("#git-basics"), "{location}");

    assert_eq!(done_in(&app, lea, "ops", "tools").await, 1);
    assert_eq!(
        done_in(&app, lea, "web", "basics").await,
        1,
        "one state, counted at home too"
    );
    // Ticking it started the roadmap it was ticked in.
    let started: Vec<String> =
        sqlx::query_scalar("select roadmap_id from enrollments where user_id = $1 order by roadmap_id")
            .bind(lea)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(started, ["ops"]);

    // Its home shows the same state once the learner follows that roadmap too.
    let pressed = "value=\"done\" class=\"state-button\" aria-pressed=\"true\"";
    let (_, _, body) = app.get_as("/roadmaps/ops/tools/git-basics", &cookie).await;
    assert!(body.contains(pressed), "{body}");
    app.post_form("/progress/web/start", &[], Some(&cookie)).await;
    let (_, _, body) = app.get_as("/roadmaps/web/basics/git-basics", &cookie).await;
    assert!(body.contains(pressed), "{body}");
    // And its forms on the including stage carry that stage back.
    let (_, _, body) = app.get_as("/roadmaps/ops/tools", &cookie).await;
    assert!(body.contains("name=\"at\" value=\"ops/tools\""), "{body}");

    // The counters equal a recount, folded or not.
    sqlx::query("select fold_learner_counters()")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("select recount_stage_tallies(array[$1::bigint])")
        .bind(lea)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(done_in(&app, lea, "ops", "tools").await, 1);
    assert_eq!(done_in(&app, lea, "web", "basics").await, 1);

    // Back to not started from its home: both drop.
    let (status, _, _) = app
        .post_form(
            "/skills/git-basics/state",
            &[("state", "not_started"), ("version", "1")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(done_in(&app, lea, "ops", "tools").await, 0);
    assert_eq!(done_in(&app, lea, "web", "basics").await, 0);
}

#[tokio::test]
async fn removing_an_include_keeps_the_progress_and_adding_it_back_counts_it_again() {
    let (dir, app) = shared_app().await;
    let cookie = app.sign_up("lea").await;
    let lea = app.user_id("lea").await;
    app.post_form(
        "/skills/git-basics/state",
        &[("state", "done"), ("version", "0")],
        Some(&cookie),
    )
    .await;
    assert_eq!(done_in(&app, lea, "ops", "tools").await, 1);

    content(dir.path(), OPS_TOOLS_WITHOUT);
    let plan = pathway::content::sync::plan(&app.db.pool, &parse_dir(dir.path()).unwrap())
        .await
        .unwrap();
    assert_eq!(plan.unincluded, ["git-basics in ops/tools"]);
    assert!(
        plan.report()
            .contains("Shared skills no longer included (progress kept): git-basics in ops/tools")
    );
    reload(&app, dir.path()).await;
    assert_eq!(
        done_in(&app, lea, "ops", "tools").await,
        0,
        "no longer listed, no longer counted"
    );
    assert_eq!(
        done_in(&app, lea, "web", "basics").await,
        1,
        "the progress itself is kept"
    );
    assert!(app.state.catalog.load().included_in("git-basics").is_empty());
    let (status, _, _) = app.get("/roadmaps/ops/tools/git-basics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    content(dir.path(), OPS_TOOLS);
    let plan = pathway::content::sync::plan(&app.db.pool, &parse_dir(dir.path()).unwrap())
        .await
        .unwrap();
    assert_eq!(plan.included, ["git-basics in ops/tools"]);
    reload(&app, dir.path()).await;
    assert_eq!(
        done_in(&app, lea, "ops", "tools").await,
        1,
        "included again, counted again"
    );
    let (status, _, _) = app.get("/roadmaps/ops/tools/git-basics").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_rename_of_the_definition_is_followed_by_its_includes() {
    let (dir, app) = shared_app().await;
    let cookie = app.sign_up("lea").await;
    let lea = app.user_id("lea").await;
    app.post_form(
        "/skills/git-basics/state",
        &[("state", "done"), ("version", "0")],
        Some(&cookie),
    )
    .await;
    // The definition takes a new id; the include still names the old one.
    write_files(
        dir.path(),
        &[(
            "web/01-basics.md",
            &WEB_BASICS.replace("{#git-basics}", "{#git-essentials replaces=git-basics}"),
        )],
    );
    let parsed = parse_dir(dir.path()).unwrap();
    assert!(
        parsed.warnings.iter().any(|w| w.to_string().contains(
            "01-tools.md:8: warning: include names \"git-basics\", which is now \"git-essentials\""
        ) || w
            .message
            .contains("include names \"git-basics\", which is now \"git-essentials\"")),
        "{:?}",
        parsed.warnings
    );
    reload(&app, dir.path()).await;
    let catalog = app.state.catalog.load();
    assert_eq!(catalog.roadmaps_of("git-essentials"), ["web", "ops"]);
    assert_eq!(
        done_in(&app, lea, "ops", "tools").await,
        1,
        "the renamed skill's progress counts where it is included"
    );
}

fn check(files: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    content(dir.path(), OPS_TOOLS);
    write_files(dir.path(), files);
    match parse_dir(dir.path()) {
        Ok(_) => Vec::new(),
        Err(invalid) => invalid
            .diagnostics
            .iter()
            .map(|d| {
                let path = d
                    .path
                    .strip_prefix(dir.path())
                    .unwrap_or(&d.path)
                    .display()
                    .to_string();
                format!("{path}:{}: {}", d.line, d.message)
            })
            .collect(),
    }
}

#[test]
fn content_check_rejects_includes_that_cannot_work() {
    let unknown = check(&[(
        "ops/01-tools.md",
        &OPS_TOOLS.replace("include=git-basics", "include=git-basic"),
    )]);
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0].starts_with("ops/01-tools.md:8: include names \"git-basic\", which no stage defines"),
        "{unknown:?}"
    );

    let own_stage = check(&[(
        "web/01-basics.md",
        &format!("{WEB_BASICS}\n## {{include=html}}\n"),
    )]);
    assert!(
        own_stage
            .iter()
            .any(|d| d.contains("\"html\" is defined in this stage")),
        "{own_stage:?}"
    );

    let twice = check(&[(
        "ops/02-more.md",
        "+++\nid = \"more\"\ntitle = \"More\"\n+++\n## {include=git-basics}\n",
    )]);
    assert!(
        twice
            .iter()
            .any(|d| d.starts_with("ops/02-more.md:5: \"git-basics\" is already in this roadmap")),
        "{twice:?}"
    );

    let with_text = check(&[(
        "ops/01-tools.md",
        &OPS_TOOLS.replace(
            "## {include=git-basics}\n",
            "## {include=git-basics}\nMy own words.\n",
        ),
    )]);
    assert!(
        with_text
            .iter()
            .any(|d| d.starts_with("ops/01-tools.md:9: text under `## {include=git-basics}` would be lost")),
        "{with_text:?}"
    );

    let decorated = check(&[(
        "ops/01-tools.md",
        &OPS_TOOLS.replace("{include=git-basics}", "{include=git-basics .optional}"),
    )]);
    assert!(
        decorated
            .iter()
            .any(|d| d.contains("an include heading takes only `include=id`")),
        "{decorated:?}"
    );

    let no_id = check(&[(
        "ops/01-tools.md",
        &OPS_TOOLS.replace("{include=git-basics}", "{include}"),
    )]);
    assert!(
        no_id.iter().any(|d| d.contains("include needs one skill id")),
        "{no_id:?}"
    );

    // A stage may consist of includes only.
    assert!(
        check(&[(
            "ops/02-review.md",
            "+++\nid = \"review\"\ntitle = \"Review\"\n+++\n## {include=html}\n"
        )])
        .is_empty()
    );
}

#[tokio::test]
async fn a_mentor_of_either_roadmap_sees_its_review_once() {
    let (_dir, app) = shared_app().await;
    let lea_cookie = app.sign_up("lea").await;
    let max_cookie = app.sign_up("max").await;
    let (lea, max) = (app.user_id("lea").await, app.user_id("max").await);
    // Max mentors Lea on Ops only; the skill's home is Web.
    let id = mentorships::invite_user(&app.db.pool, lea, max, &Scope::Only(vec!["ops".into()]))
        .await
        .unwrap()
        .unwrap();
    mentorships::respond(&app.db.pool, max, Some(id), None, true)
        .await
        .unwrap()
        .unwrap();
    app.post_form(
        "/skills/git-basics/state",
        &[("state", "done"), ("version", "0"), ("at", "ops/tools")],
        Some(&lea_cookie),
    )
    .await;
    let (status, _, body) = app
        .post_form(
            "/skills/git-basics/review",
            &[("message", "please look")],
            Some(&lea_cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    let (status, _, body) = app.get_as("/mentoring/reviews", &max_cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("please look"), "{body}");
    assert_eq!(
        body.matches("class=\"panel review-item\"").count(),
        1,
        "listed once: {body}"
    );
    // Shown, and linked, in the roadmap the link covers.
    assert!(
        body.contains("href=\"/mentees/lea/ops/tools/git-basics\""),
        "{body}"
    );
    assert!(!body.contains("/mentees/lea/web/"), "{body}");
    let (status, _, _) = app.get_as("/mentees/lea/ops/tools/git-basics", &max_cookie).await;
    assert_eq!(status, StatusCode::OK);
    // Links to its home (notifications, threads) lead to the covered place; other skills
    // of the uncovered roadmap stay out of reach.
    let (status, headers, _) = app
        .get_as("/mentees/lea/web/basics/git-basics", &max_cookie)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/mentees/lea/ops/tools/git-basics");
    let (status, _, _) = app.get_as("/mentees/lea/web/basics/html", &max_cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // And the verdict lands.
    let review: i64 = sqlx::query_scalar("select id from review_requests where mentee_id = $1")
        .bind(lea)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (status, headers, body) = app
        .post_form(
            &format!("/reviews/{review}/verify"),
            &[("message", "good"), ("back", "queue")],
            Some(&max_cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let _ = headers;
    let status: String = sqlx::query_scalar("select status from review_requests where id = $1")
        .bind(review)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "verified");
    let waiting: i64 = sqlx::query_scalar("select count(*) from review_requests where mentee_id = $1")
        .bind(lea)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(waiting, 1);
}

#[tokio::test]
async fn the_export_carries_a_shared_skill_once() {
    let (_dir, app) = shared_app().await;
    let cookie = app.sign_up("lea").await;
    for at in ["web/basics", "ops/tools"] {
        // Start both roadmaps, so both list the skill.
        let roadmap = at.split('/').next().unwrap();
        app.post_form(&format!("/progress/{roadmap}/start"), &[], Some(&cookie))
            .await;
    }
    app.post_form(
        "/skills/git-basics/state",
        &[("state", "done"), ("version", "0")],
        Some(&cookie),
    )
    .await;
    let (status, _, csv) = app.get_as("/account/export.csv", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<&str> = csv.lines().filter(|l| l.contains(",git-basics,")).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert!(
        rows[0].starts_with("web,basics,git-basics,"),
        "under its home: {csv}"
    );
    let (_, _, json) = app.get_as("/account/export.json", &cookie).await;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let listed = json["skills"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["skill"] == "git-basics")
        .count();
    assert_eq!(listed, 1, "{json}");
}

#[tokio::test]
async fn notes_evidence_and_review_requests_answer_on_the_including_stage() {
    let (_dir, app) = shared_app().await;
    let cookie = app.sign_up("lea").await;
    app.post_form("/progress/ops/start", &[], Some(&cookie)).await;
    // The included copy's page carries its place in every workspace form.
    let (_, _, page) = app.get_as("/roadmaps/ops/tools/git-basics", &cookie).await;
    assert!(
        page.matches("name=\"at\" value=\"ops/tools\"").count() >= 3,
        "{page}"
    );
    let here = "/roadmaps/ops/tools/git-basics";
    let at = ("at", "ops/tools");

    let (status, headers, _) = app
        .post_form(
            "/skills/git-basics/note",
            &[("body", "Rebase with care."), at],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], here);
    let (status, headers, _) = app
        .post_form(
            "/skills/git-basics/evidence",
            &[("url", "https://example.com/my-repo"), ("title", ""), at],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], here);
    // A bad link re-renders the included page, with the stage's breadcrumb.
    let (status, _, page) = app
        .post_form(
            "/skills/git-basics/evidence",
            &[("url", "not a link"), ("title", ""), at],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("href=\"/roadmaps/ops/tools\""), "{page}");
    assert!(page.contains("value=\"not a link\""), "{page}");
    let id: i64 = sqlx::query_scalar("select id from evidence where skill_id = 'git-basics'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (status, headers, _) = app
        .post_form(&format!("/evidence/{id}/delete"), &[at], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], here);

    // Without a place the forms answer at the skill's home, as before.
    let (_, headers, _) = app
        .post_form("/skills/git-basics/note", &[("body", "Home.")], Some(&cookie))
        .await;
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/basics/git-basics");

    // A review request from the included copy, with a mentor of the including roadmap.
    let mentor = app.sign_up("maya").await;
    let lea = app.user_id("lea").await;
    let maya = app.user_id("maya").await;
    let link = mentorships::invite_user(&app.db.pool, lea, maya, &Scope::Only(vec!["ops".into()]))
        .await
        .unwrap()
        .unwrap();
    mentorships::respond(&app.db.pool, maya, Some(link), None, true)
        .await
        .unwrap()
        .unwrap();
    drop(mentor);
    app.post_form(
        "/skills/git-basics/state",
        &[("state", "done"), ("version", "0"), at],
        Some(&cookie),
    )
    .await;
    let (status, headers, body) = app
        .post_form("/skills/git-basics/review", &[("message", ""), at], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], here);
}
