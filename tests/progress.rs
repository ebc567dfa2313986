//! Learner progress: states, the percent rule, dates, history, undo, stale forms, concurrency, whole stages, reset.

mod common;

use axum::http::{StatusCode, header};
use common::{TestApp, sample_content, write_files};
use pathway::db::progress::{self as db, Change};
use pathway::progress::SkillState;

struct Learner {
    app: TestApp,
    cookie: String,
    user_id: i64,
    _dir: tempfile::TempDir,
}

/// A learner signed up on the sample content (web: http {http-methods, status-codes (optional)}, dns {dns-records}).
async fn learner() -> Learner {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let app = TestApp::with_content(dir.path()).await;
    let cookie = app.sign_up("ada").await;
    let user_id = sqlx::query_scalar("select id from users where username = 'ada'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    Learner {
        app,
        cookie,
        user_id,
        _dir: dir,
    }
}

impl Learner {
    async fn start(&self) {
        let (status, headers, _) = self
            .app
            .post_form("/progress/web/start", &[], Some(&self.cookie))
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/roadmaps/web?done=started");
    }

    async fn version(&self, skill: &str) -> i32 {
        sqlx::query_scalar("select version from skill_progress where user_id = $1 and skill_id = $2")
            .bind(self.user_id)
            .bind(skill)
            .fetch_optional(&self.app.db.pool)
            .await
            .unwrap()
            .unwrap_or(0)
    }

    async fn state(&self, skill: &str) -> SkillState {
        db::for_skills(&self.app.db.pool, self.user_id, &[skill.to_string()])
            .await
            .unwrap()
            .state(skill)
    }

    /// Posts a state change as the no-JavaScript form does, with the current version.
    async fn set(&self, skill: &str, state: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let version = self.version(skill).await.to_string();
        self.app
            .post_form(
                &format!("/skills/{skill}/state"),
                &[("state", state), ("version", &version)],
                Some(&self.cookie),
            )
            .await
    }

    async fn events(&self) -> Vec<(String, String, String, String)> {
        sqlx::query_as(
            "select skill_id, kind, from_state, to_state from progress_events where user_id = $1 order by id",
        )
        .bind(self.user_id)
        .fetch_all(&self.app.db.pool)
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn starting_a_roadmap_shows_progress_and_controls() {
    let l = learner().await;
    let (_, _, before) = l.app.get_as("/roadmaps/web", &l.cookie).await;
    assert!(before.contains("Start this roadmap"));
    l.start().await;
    let (status, _, roadmap) = l.app.get_as("/roadmaps/web?done=started", &l.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(roadmap.contains("Your progress"));
    assert!(roadmap.contains(r#"<progress max="100" value="0""#));
    assert!(roadmap.contains("0 of 2 required skills done (0%)"));
    let (_, _, stage) = l.app.get_as("/roadmaps/web/http", &l.cookie).await;
    assert!(stage.contains(r#"aria-label="Status of Methods""#));
    assert!(stage.contains(r#"value="done" class="state-button" aria-pressed="false""#));

    let (_, _, anonymous) = l.app.get("/roadmaps/web/http").await;
    assert!(anonymous.contains("to track your progress") && !anonymous.contains("state-button"));
}

#[tokio::test]
async fn every_state_transition_is_applied_and_logged() {
    let l = learner().await;
    l.start().await;
    let mut expected = Vec::new();
    let mut current = SkillState::NotStarted;
    for from in SkillState::ALL {
        for to in SkillState::ALL {
            if from == to {
                continue;
            }
            if current != from {
                l.set("http-methods", from.as_str()).await;
                expected.push((
                    "http-methods".to_string(),
                    "set".to_string(),
                    current.to_string(),
                    from.to_string(),
                ));
            }
            let (status, headers, _) = l.set("http-methods", to.as_str()).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{from} -> {to}");
            let location = headers[header::LOCATION].to_str().unwrap();
            assert!(location.starts_with("/roadmaps/web/http?changed="), "{location}");
            assert!(location.ends_with("#http-methods"), "{location}");
            assert_eq!(l.state("http-methods").await, to);
            expected.push((
                "http-methods".to_string(),
                "set".to_string(),
                from.to_string(),
                to.to_string(),
            ));
            current = to;
        }
    }
    assert_eq!(l.events().await, expected);
}

#[tokio::test]
async fn setting_the_same_state_again_writes_nothing() {
    let l = learner().await;
    l.start().await;
    l.set("http-methods", "done").await;
    l.set("http-methods", "done").await;
    assert_eq!(l.events().await.len(), 1);
}

#[tokio::test]
async fn unknown_skills_and_states_are_refused() {
    let l = learner().await;
    let (status, _, _) = l
        .app
        .post_form(
            "/skills/nope/state",
            &[("state", "done"), ("version", "0")],
            Some(&l.cookie),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = l.set("http-methods", "finished").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Error 400"));
}

#[tokio::test]
async fn percent_counts_optional_and_skipped_skills_honestly() {
    let l = learner().await;
    l.start().await;
    l.set("status-codes", "done").await; // optional
    let (_, _, page) = l.app.get_as("/roadmaps/web", &l.cookie).await;
    assert!(
        page.contains("0 of 2 required skills done (0%), 1 optional done"),
        "{page}"
    );
    l.set("dns-records", "skipped").await;
    l.set("http-methods", "done").await;
    let (_, _, page) = l.app.get_as("/roadmaps/web", &l.cookie).await;
    assert!(
        page.contains("1 of 1 required skills done (100%), 1 skipped, 1 optional done"),
        "{page}"
    );
    assert!(page.contains(r#"<progress max="100" value="100""#));
    // Stage states roll up: http is done (its only required skill is done), dns done by skipping.
    assert_eq!(
        page.matches(r#"<span class="state-badge state-done">Done</span>"#)
            .count(),
        2
    );
    let (_, _, dashboard) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(
        dashboard.contains("1 of 1 required skills done (100%)"),
        "the dashboard uses the same rule"
    );
}

#[tokio::test]
async fn dates_are_kept_and_shown() {
    let l = learner().await;
    l.start().await;
    l.set("http-methods", "in_progress").await;
    l.set("http-methods", "done").await;
    let (started, done, hash): (
        Option<time::OffsetDateTime>,
        Option<time::OffsetDateTime>,
        Option<String>,
    ) = sqlx::query_as(
        "select started_at, done_at, done_content_hash from skill_progress where skill_id = 'http-methods'",
    )
    .fetch_one(&l.app.db.pool)
    .await
    .unwrap();
    assert!(started.unwrap() <= done.unwrap());
    let content_hash: String =
        sqlx::query_scalar("select content_hash from skills where id = 'http-methods'")
            .fetch_one(&l.app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        hash.as_deref(),
        Some(content_hash.as_str()),
        "the text's hash is recorded when done"
    );
    let event_hash: Option<String> =
        sqlx::query_scalar("select content_hash from progress_events where to_state = 'done'")
            .fetch_one(&l.app.db.pool)
            .await
            .unwrap();
    assert_eq!(event_hash, Some(content_hash));

    let today = pathway::routes::format_date(time::OffsetDateTime::now_utc());
    let (_, _, stage) = l.app.get_as("/roadmaps/web/http", &l.cookie).await;
    assert!(
        stage.contains(&format!("Started {today} · Done {today} · Last changed {today}")),
        "{stage}"
    );
    assert!(
        stage.contains(&format!("Finished {today}")),
        "the stage is finished: its dates roll up"
    );
}

#[tokio::test]
async fn undo_appears_after_a_change_and_reverts_it() {
    let l = learner().await;
    l.start().await;
    let (_, headers, _) = l.set("http-methods", "done").await;
    let location = headers[header::LOCATION]
        .to_str()
        .unwrap()
        .split('#')
        .next()
        .unwrap()
        .to_string();
    let action = location.split("changed=").nth(1).unwrap().to_string();
    let (_, _, page) = l.app.get_as(&location, &l.cookie).await;
    assert!(
        page.contains(&format!(r#"name="action" value="{action}""#)),
        "Undo is offered"
    );

    let (status, headers, _) = l
        .app
        .post_form("/progress/undo", &[("action", &action)], Some(&l.cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/roadmaps/web/http#http-methods");
    assert_eq!(l.state("http-methods").await, SkillState::NotStarted);
    let done_at: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select done_at from skill_progress where skill_id = 'http-methods'")
            .fetch_one(&l.app.db.pool)
            .await
            .unwrap();
    assert!(done_at.is_none(), "the date set by the undone change is cleared");

    // History keeps both lines; the first is marked undone.
    let (_, _, history) = l.app.get_as("/history", &l.cookie).await;
    assert!(history.contains("Not started → Done"));
    assert!(history.contains("Done → Not started"));
    assert!(history.contains("(undone)"));

    // A second undo of the same action changes nothing.
    l.app
        .post_form("/progress/undo", &[("action", &action)], Some(&l.cookie))
        .await;
    assert_eq!(l.events().await.len(), 2);
}

#[tokio::test]
async fn undo_is_refused_when_the_skill_changed_since() {
    let l = learner().await;
    l.start().await;
    let (_, headers, _) = l.set("http-methods", "done").await;
    let action = common::changed_action(&headers);
    l.set("http-methods", "skipped").await;
    let (status, _, body) = l
        .app
        .post_form("/progress/undo", &[("action", &action)], Some(&l.cookie))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("changed again since"));
    assert_eq!(l.state("http-methods").await, SkillState::Skipped);
}

#[tokio::test]
async fn the_javascript_path_gets_the_fragment() {
    let l = learner().await;
    l.start().await;
    let request = axum::http::Request::post("/skills/http-methods/state")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &l.cookie)
        .header("sec-fetch-site", "same-origin")
        .header("x-pathway-fragment", "1")
        .body(axum::body::Body::from("state=in_progress&version=0"))
        .unwrap();
    let (status, _, body) = l.app.request(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.trim_start()
            .starts_with(r#"<div class="skill-progress state-in_progress" id="progress_http-methods""#)
    );
    assert!(!body.contains("<html"));
    assert!(body.contains(r#"value="in_progress" class="state-button" aria-pressed="true""#));
    assert!(body.contains(r#"name="version" value="1""#));
    assert!(body.contains("/progress/undo"));
    // The stage's panel comes along, current, to be swapped by its id (issue 12: it stayed
    // at 0 % until a reload).
    let panel = body
        .split(r#"<div id="stage_panel_http" class="stage-panel">"#)
        .nth(1)
        .unwrap_or_else(|| panic!("no stage panel in {body}"));
    assert!(
        panel.contains("0 of 1 required skills done (0%), 1 in progress"),
        "{panel}"
    );

    let request = |form: &'static str| {
        axum::http::Request::post("/skills/http-methods/state")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &l.cookie)
            .header("sec-fetch-site", "same-origin")
            .header("x-pathway-fragment", "1")
            .body(axum::body::Body::from(form))
            .unwrap()
    };
    let (_, _, body) = l.app.request(request("state=done&version=1")).await;
    let panel = body.split(r#"id="stage_panel_http""#).nth(1).unwrap();
    assert!(panel.contains("1 of 1 required skills done (100%)"), "{panel}");
    assert!(
        !panel.contains("Mark stage done"),
        "nothing is left to mark: {panel}"
    );
    // And the stage page renders the same panel.
    let (_, _, page) = l.app.get_as("/roadmaps/web/http", &l.cookie).await;
    assert!(page.contains(r#"<div id="stage_panel_http" class="stage-panel">"#));
    assert!(page.contains("1 of 1 required skills done (100%)"));
}

#[tokio::test]
async fn a_stale_form_is_detected_and_shown() {
    let l = learner().await;
    l.start().await;
    // Two tabs rendered the skill at version 0; the first saves.
    let form = |state: &'static str| [("state", state), ("version", "0")];
    let (status, _, _) = l
        .app
        .post_form("/skills/http-methods/state", &form("done"), Some(&l.cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, body) = l
        .app
        .post_form("/skills/http-methods/state", &form("skipped"), Some(&l.cookie))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("this skill was changed elsewhere"), "{body}");
    assert!(body.contains("is now “Done”"));
    assert_eq!(
        l.state("http-methods").await,
        SkillState::Done,
        "the newer change stands"
    );
    assert_eq!(l.events().await.len(), 1);
}

#[tokio::test]
async fn concurrent_changes_never_lose_an_event() {
    let l = learner().await;
    l.start().await;
    for round in 0..5 {
        let version = l.version("http-methods").await;
        // Two different changes, both away from the current state.
        let current = l.state("http-methods").await;
        let mut others = SkillState::ALL
            .into_iter()
            .filter(|s| *s != current)
            .skip(round % 2);
        let (a, b) = (others.next().unwrap(), others.next().unwrap());
        let pool = &l.app.db.pool;
        let (first, second) = tokio::join!(
            db::set_state(pool, l.user_id, Some("web"), "http-methods", a, version),
            db::set_state(pool, l.user_id, Some("web"), "http-methods", b, version)
        );
        let outcomes = [first.unwrap(), second.unwrap()];
        let applied = outcomes
            .iter()
            .filter(|c| matches!(c, Change::Applied { .. }))
            .count();
        let stale = outcomes
            .iter()
            .filter(|c| matches!(c, Change::Stale { .. }))
            .count();
        assert_eq!(
            (applied, stale),
            (1, 1),
            "round {round}: exactly one wins, the other is told: {outcomes:?}"
        );
    }
    // Every applied change has its event, and the state is the latest event's.
    let events = l.events().await;
    assert_eq!(events.len(), 5);
    for pair in events.windows(2) {
        assert_eq!(pair[0].3, pair[1].2, "each event starts where the previous ended");
    }
    assert_eq!(l.state("http-methods").await.as_str(), events.last().unwrap().3);
}

#[tokio::test]
async fn marking_a_stage_done_is_one_undoable_action() {
    let l = learner().await;
    l.start().await;
    // A stage of two required skills and an optional one.
    write_files(
        l._dir.path(),
        &[(
            "web/01-http.md",
            "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nIntro.\n\n## Methods {#http-methods}\nx\n\n\
             ## Headers {#http-headers}\ny\n\n## Status codes {#status-codes .optional}\nz\n",
        )],
    );
    pathway::app::load_content(&l.app.db.pool, l._dir.path())
        .await
        .unwrap();
    l.app.state.refresh_catalog().await.unwrap();
    l.set("http-methods", "in_progress").await;

    let (status, _, confirm) = l.app.get_as("/progress/web/http/complete", &l.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        confirm.contains("This marks <strong>2 skills</strong> as done"),
        "{confirm}"
    );
    let (status, headers, _) = l
        .app
        .post_form("/progress/web/http/complete", &[], Some(&l.cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers[header::LOCATION].to_str().unwrap().to_string();
    assert_eq!(l.state("http-methods").await, SkillState::Done);
    assert_eq!(l.state("http-headers").await, SkillState::Done);
    assert_eq!(
        l.state("status-codes").await,
        SkillState::NotStarted,
        "optional skills are left alone"
    );
    let grouped: i64 =
        sqlx::query_scalar("select count(distinct action_id) from progress_events where kind = 'stage_done'")
            .fetch_one(&l.app.db.pool)
            .await
            .unwrap();
    assert_eq!(grouped, 1);

    let (_, _, page) = l.app.get_as(&location, &l.cookie).await;
    assert!(page.contains("Marked 2 skills done."));
    let action = location.split("changed=").nth(1).unwrap();
    l.app
        .post_form("/progress/undo", &[("action", action)], Some(&l.cookie))
        .await;
    assert_eq!(
        l.state("http-methods").await,
        SkillState::InProgress,
        "back to where it was"
    );
    assert_eq!(l.state("http-headers").await, SkillState::NotStarted);
}

#[tokio::test]
async fn reset_starts_over_and_keeps_history() {
    let l = learner().await;
    l.start().await;
    l.set("http-methods", "done").await;
    l.set("dns-records", "skipped").await;
    let (status, _, confirm) = l.app.get_as("/progress/web/reset", &l.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        confirm.contains("1 done, 0 in progress and 1 skipped"),
        "{confirm}"
    );
    let (status, headers, _) = l.app.post_form("/progress/web/reset", &[], Some(&l.cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/roadmaps/web?done=reset");
    assert_eq!(l.state("http-methods").await, SkillState::NotStarted);
    assert_eq!(l.state("dns-records").await, SkillState::NotStarted);
    let events = l.events().await;
    assert_eq!(events.len(), 4, "two changes and two reset lines");
    assert!(events[2..].iter().all(|e| e.1 == "reset"));
    let (_, _, history) = l.app.get_as("/history", &l.cookie).await;
    assert_eq!(history.matches("Reset").count(), 2);
}

#[tokio::test]
async fn the_dashboard_lists_started_roadmaps_with_a_continue_link() {
    let l = learner().await;
    let (_, _, empty) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(empty.contains("You have not started a roadmap yet"));
    l.start().await;
    l.set("http-methods", "done").await;
    let (status, _, page) = l.app.get_as("/dashboard", &l.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("1 of 2 required skills done (50%)"));
    assert!(
        page.contains(r##"href="/roadmaps/web/dns/dns-records">Continue"##),
        "{page}"
    );
    assert!(page.contains("Last activity"));
}

#[tokio::test]
async fn progress_pages_and_actions_need_sign_in() {
    let l = learner().await;
    for path in [
        "/dashboard",
        "/history",
        "/progress/web/reset",
        "/progress/web/http/complete",
    ] {
        let (status, headers, _) = l.app.get(path).await;
        let back: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(
            (status, headers[header::LOCATION].to_str().unwrap()),
            (StatusCode::SEE_OTHER, format!("/signin?next={back}").as_str()),
            "{path}"
        );
    }
    for path in [
        "/progress/web/start",
        "/progress/web/reset",
        "/progress/web/http/complete",
        "/skills/http-methods/state",
        "/progress/undo",
    ] {
        let (status, headers, _) = l
            .app
            .post_form(
                path,
                &[("state", "done"), ("version", "0"), ("action", "1")],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], "/signin", "{path}");
    }
}

#[tokio::test]
async fn another_learner_can_neither_see_nor_undo_my_progress() {
    let l = learner().await;
    l.start().await;
    let (_, headers, _) = l.set("http-methods", "done").await;
    let action = common::changed_action(&headers);

    let other = l.app.sign_up("mallory").await;
    let (_, _, page) = l.app.get_as("/roadmaps/web", &other).await;
    assert!(
        page.contains("Start this roadmap"),
        "mallory sees her own (empty) progress"
    );
    let (_, _, history) = l.app.get_as("/history", &other).await;
    assert!(history.contains("No changes yet"));
    let (status, _, _) = l
        .app
        .post_form("/progress/undo", &[("action", &action)], Some(&other))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(l.state("http-methods").await, SkillState::Done);
    let (_, _, stage) = l
        .app
        .get_as(&format!("/roadmaps/web/http?changed={action}"), &other)
        .await;
    assert!(
        !stage.contains(&format!(r#"value="{action}""#)),
        "no undo of someone else's action"
    );
}

#[tokio::test]
async fn progress_on_a_removed_skill_survives_and_stays_in_history() {
    let l = learner().await;
    l.start().await;
    l.set("dns-records", "done").await;
    write_files(
        l._dir.path(),
        &[(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nx\n\n## Resolvers {#resolvers}\ny\n",
        )],
    );
    pathway::app::load_content(&l.app.db.pool, l._dir.path())
        .await
        .unwrap();
    l.app.state.refresh_catalog().await.unwrap();
    assert_eq!(
        l.state("dns-records").await,
        SkillState::Done,
        "kept while retired"
    );
    let (_, _, history) = l.app.get_as("/history", &l.cookie).await;
    assert!(
        history.contains("Records <span class=\"meta\">(retired)</span>"),
        "{history}"
    );
}

#[tokio::test]
async fn the_dashboard_charts_completions_and_active_days() {
    let l = learner().await;
    l.start().await;
    l.set("http-methods", "done").await;
    l.set("dns-records", "done").await;
    // An undone completion does not count.
    let (_, headers, _) = l.set("status-codes", "done").await;
    let action = common::changed_action(&headers);
    l.app
        .post_form("/progress/undo", &[("action", &action)], Some(&l.cookie))
        .await;

    let (_, _, page) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(page.contains(r#"<svg class="chart chart-weekly""#));
    assert!(page.contains("2 skills completed in the last 26 weeks"), "{page}");
    let this_week = pathway::charts::WeeklyChart::new(pathway::charts::today(), 1, &[]).weeks[0].0;
    let label = pathway::charts::WeeklyChart::label(this_week);
    assert!(
        page.contains(&format!("<tr><td>{label}</td><td>2</td></tr>")),
        "the table gives the same numbers"
    );
    assert!(page.contains(r#"<svg class="chart chart-heatmap""#));
    assert!(page.contains("1 active day, longest streak 1 day"));
}

/// The dashboard's counters (migration 0022) against the figures the event log gives:
/// changes per day, completions per week with undone ones left out, last activity.
async fn assert_counters_match_the_log(l: &Learner, step: &str) {
    // Pending deltas added to the totals, as pages read them; then folded (migration 0026).
    assert_counters_match_the_log_once(l, &format!("{step}, with deltas pending")).await;
    let folded: bool = sqlx::query_scalar("select fold_learner_counters()")
        .fetch_one(&l.app.db.pool)
        .await
        .unwrap();
    assert!(folded);
    let pending: i64 = sqlx::query_scalar(
        "select (select count(*) from stage_tally_changes) + (select count(*) from learner_week_changes)
                + (select count(*) from enrollment_activity_changes)",
    )
    .fetch_one(&l.app.db.pool)
    .await
    .unwrap();
    assert_eq!(pending, 0, "the fold leaves no delta behind");
    assert_counters_match_the_log_once(l, &format!("{step}, folded")).await;
}

/// The learner's weeks as pages read them: the totals plus the pending deltas.
const WEEKS: &str = "(select user_id, week,
                             array[sum(changes[1]), sum(changes[2]), sum(changes[3]), sum(changes[4]),
                                   sum(changes[5]), sum(changes[6]), sum(changes[7])]::integer[] as changes,
                             sum(completions) as completions
                      from (select user_id, week, changes, completions from learner_weeks
                            union all
                            select user_id, week, changes, completions from learner_week_changes) a
                      group by 1, 2)";

async fn assert_counters_match_the_log_once(l: &Learner, step: &str) {
    let pool = &l.app.db.pool;
    let from_counters: Vec<(time::Date, i64)> = sqlx::query_as(&format!(
        "select w.week + (d.i - 1), w.changes[d.i]::bigint
         from {WEEKS} w, generate_series(1, 7) d(i)
         where w.user_id = $1 and w.changes[d.i] > 0 order by 1"
    ))
    .bind(l.user_id)
    .fetch_all(pool)
    .await
    .unwrap();
    let from_log: Vec<(time::Date, i64)> = sqlx::query_as(
        "select (at at time zone 'UTC')::date, count(*) from progress_events
         where user_id = $1 group by 1 order by 1",
    )
    .bind(l.user_id)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(from_counters, from_log, "changes per day after {step}");
    let weekly_counters: Vec<(time::Date, i64)> = sqlx::query_as(&format!(
        "select week, completions::bigint from {WEEKS} w
         where user_id = $1 and completions <> 0 order by 1"
    ))
    .bind(l.user_id)
    .fetch_all(pool)
    .await
    .unwrap();
    let weekly_log: Vec<(time::Date, i64)> = sqlx::query_as(
        "select date_trunc('week', e.at at time zone 'UTC')::date, count(*) from progress_events e
         where e.user_id = $1 and e.to_state = 'done' and e.kind <> 'undo'
           and not exists (select 1 from progress_events u where u.user_id = e.user_id and u.undoes = e.action_id)
         group by 1 order by 1",
    )
    .bind(l.user_id)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(weekly_counters, weekly_log, "completions per week after {step}");
    let (kept, latest): (Option<time::OffsetDateTime>, Option<time::OffsetDateTime>) = sqlx::query_as(
        "select greatest(en.last_activity_at,
                         (select max(c.at) from enrollment_activity_changes c
                          where c.user_id = en.user_id and c.roadmap_id = en.roadmap_id)),
                (select max(p.updated_at) from skill_progress p join skills s on s.id = p.skill_id
                 where p.user_id = en.user_id and s.roadmap_id = en.roadmap_id)
         from enrollments en where en.user_id = $1 and en.roadmap_id = 'web'",
    )
    .bind(l.user_id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(kept, latest, "last activity after {step}");
}

#[tokio::test]
async fn dashboard_counters_follow_changes_undos_stages_resets_and_rewritten_history() {
    let l = learner().await;
    // Progress before the roadmap is started counts from the moment it is.
    l.set("http-methods", "in_progress").await;
    l.start().await;
    assert_counters_match_the_log(&l, "starting with progress").await;
    l.set("http-methods", "done").await;
    l.set("dns-records", "done").await;
    assert_counters_match_the_log(&l, "two completions").await;
    let (_, _, page) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(page.contains(": 2 in all."), "{page}");

    // Undo the last completion: the week loses it, the day keeps both changes.
    let (_, headers, _) = l.set("dns-records", "skipped").await;
    let action = common::changed_action(&headers);
    l.app
        .post_form("/progress/undo", &[("action", &action)], Some(&l.cookie))
        .await;
    assert_counters_match_the_log(&l, "an undo").await;
    l.set("http-methods", "in_progress").await;
    l.set("http-methods", "done").await;
    let (_, headers, _) = l.set("status-codes", "done").await;
    let optional_done = common::changed_action(&headers);
    l.app
        .post_form("/progress/undo", &[("action", &optional_done)], Some(&l.cookie))
        .await;
    assert_counters_match_the_log(&l, "undoing a completion").await;

    // A whole stage at once, then a reset, then the log backdated across weeks.
    l.app
        .post_form("/progress/web/http/complete", &[], Some(&l.cookie))
        .await;
    l.app.post_form("/progress/web/reset", &[], Some(&l.cookie)).await;
    assert_counters_match_the_log(&l, "a stage and a reset").await;
    sqlx::query(
        "update progress_events set at = at - make_interval(days => (id % 20)::int) where user_id = $1",
    )
    .bind(l.user_id)
    .execute(&l.app.db.pool)
    .await
    .unwrap();
    assert_counters_match_the_log(&l, "backdating").await;
    let (_, _, page) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(page.contains("Last activity"), "{page}");
}

#[tokio::test]
async fn continue_skips_stages_whose_required_skills_are_all_done_or_skipped() {
    let l = learner().await;
    l.start().await;
    l.set("http-methods", "done").await;
    // status-codes is optional: the http stage is complete, so "Continue" goes to dns.
    let (_, _, page) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(
        page.contains(r##"href="/roadmaps/web/dns/dns-records">Continue"##),
        "{page}"
    );
    l.set("dns-records", "skipped").await;
    let (_, _, page) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(page.contains("Every required skill is done or skipped"), "{page}");
    l.set("http-methods", "in_progress").await;
    let (_, _, page) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(
        page.contains(r##"href="/roadmaps/web/http/http-methods">Continue"##),
        "{page}"
    );
}

/// One learner's 40 changes sent at once (two tabs, a script, a fast clicker): every one
/// is saved, none waits on another's counters or deadlocks, and the counters come out
/// exact, pending and folded (migration 0026).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_by_one_learner_all_land_and_count_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut stage = String::from("+++\nid = \"many\"\ntitle = \"Many\"\n+++\nLots.\n");
    for n in 0..40 {
        stage.push_str(&format!("\n## Skill {n} {{#skill-{n}}}\nText {n}.\n"));
    }
    write_files(
        dir.path(),
        &[
            (
                "big/roadmap.md",
                "+++\ntitle = \"Big\"\nsummary = \"Many skills.\"\n+++\nBig.\n",
            ),
            ("big/01-many.md", &stage),
        ],
    );
    let app = TestApp::with_content(dir.path()).await;
    let cookie = app.sign_up("ada").await;
    let (status, _, _) = app.post_form("/progress/big/start", &[], Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let app = std::sync::Arc::new(app);
    let ticks = (0..40).map(|n| {
        let app = app.clone();
        let cookie = cookie.clone();
        tokio::spawn(async move {
            let state = if n % 4 == 0 { "skipped" } else { "done" };
            let (status, _, body) = app
                .post_form(
                    &format!("/skills/skill-{n}/state"),
                    &[("state", state), ("version", "0")],
                    Some(&cookie),
                )
                .await;
            assert_eq!(status, StatusCode::SEE_OTHER, "tick {n}: {body}");
        })
    });
    for tick in ticks {
        tick.await.unwrap();
    }
    let pool = &app.db.pool;
    let counts = pathway::db::progress::stage_counts(pool, &[], None)
        .await
        .unwrap();
    assert!(counts.is_empty(), "nobody asked for");
    let user_id: i64 = sqlx::query_scalar("select id from users where username = 'ada'")
        .fetch_one(pool)
        .await
        .unwrap();
    for folded in [false, true] {
        if folded {
            let done: bool = sqlx::query_scalar("select fold_learner_counters()")
                .fetch_one(pool)
                .await
                .unwrap();
            assert!(done);
        }
        let counts = pathway::db::progress::stage_counts(pool, &[user_id], Some("big"))
            .await
            .unwrap();
        let stage = counts[&(user_id, "big".to_string(), "many".to_string())];
        assert_eq!(
            (stage.done, stage.skipped, stage.in_progress),
            (30, 10, 0),
            "folded: {folded}"
        );
        // The dashboard's bars read the tallies.
        let (_, _, page) = app.get_as("/dashboard", &cookie).await;
        assert!(
            page.contains("30 of 30 required skills done (100%)"),
            "folded: {folded}\n{page}"
        );
    }
    let events: i64 = sqlx::query_scalar("select count(*) from progress_events where user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(events, 40);
}

/// The server's fold task empties the deltas on its own, and pages read the same counts.
#[tokio::test]
async fn the_fold_task_moves_deltas_into_the_totals() {
    let l = learner().await;
    l.start().await;
    l.set("http-methods", "done").await;
    let pool = &l.app.db.pool;
    let pending = || async {
        sqlx::query_scalar::<_, i64>(
            "select (select count(*) from stage_tally_changes) + (select count(*) from learner_week_changes)
                    + (select count(*) from enrollment_activity_changes)",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    };
    assert!(pending().await > 0);
    // The folder's own pool, closed below as the server's is at shutdown.
    let folder_pool = sqlx::PgPool::connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let task = tokio::spawn(pathway::app::fold_counters(
        folder_pool.clone(),
        std::time::Duration::from_millis(50),
    ));
    let started = std::time::Instant::now();
    while pending().await > 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "never folded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Once its pool closes the folder stops, instead of failing every second.
    folder_pool.close().await;
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("the folder stops when its pool closes")
        .unwrap();
    let tallied: i64 =
        sqlx::query_scalar("select done::bigint from stage_tallies where user_id = $1 and stage_id = 'http'")
            .bind(l.user_id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(tallied, 1);
    let (_, _, page) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(page.contains("1 of 2 required skills done (50%)"), "{page}");
}

/// A fold waits for nobody: while a recount (or another server's fold) holds the lock it
/// skips, and the deltas stay counted; the deltas of a deleted learner are dropped.
#[tokio::test]
async fn folding_skips_while_locked_and_drops_deleted_learners() {
    let l = learner().await;
    l.start().await;
    l.set("http-methods", "done").await;
    let pool = &l.app.db.pool;
    let mut other = pool.begin().await.unwrap();
    sqlx::query("select lock_learner_counters()")
        .execute(&mut *other)
        .await
        .unwrap();
    let folded: bool = sqlx::query_scalar("select fold_learner_counters()")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(!folded, "the lock is held elsewhere");
    other.rollback().await.unwrap();
    let pending: i64 = sqlx::query_scalar("select count(*) from stage_tally_changes where user_id = $1")
        .bind(l.user_id)
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(pending > 0);
    let (_, _, page) = l.app.get_as("/dashboard", &l.cookie).await;
    assert!(page.contains("1 of 2 required skills done (50%)"), "{page}");

    sqlx::query("delete from users where id = $1")
        .bind(l.user_id)
        .execute(pool)
        .await
        .unwrap();
    let folded: bool = sqlx::query_scalar("select fold_learner_counters()")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(folded);
    let left: i64 = sqlx::query_scalar(
        "select (select count(*) from stage_tally_changes) + (select count(*) from stage_tallies)
                + (select count(*) from learner_week_changes) + (select count(*) from learner_weeks)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(left, 0, "nothing of the deleted learner is left");
}

/// "Mark stage done" completes what is left and keeps the learner's skips: a skip is an
/// explicit choice (issue 12).
#[tokio::test]
async fn marking_a_stage_done_keeps_skipped_skills_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "ops/roadmap.md",
                "+++\ntitle = \"Ops\"\nsummary = \"Running things.\"\n+++\nOps.\n",
            ),
            (
                "ops/01-basics.md",
                "+++\nid = \"basics\"\ntitle = \"Basics\"\n+++\nFirst.\n\n\
                 ## Shell {#shell}\nThe shell.\n\n## Editors {#editors}\nVim.\n\n## Logs {#logs}\njournalctl.\n",
            ),
        ],
    );
    let app = TestApp::with_content(dir.path()).await;
    let cookie = app.sign_up("ada").await;
    let (status, _, _) = app
        .post_form(
            "/skills/editors/state",
            &[("state", "skipped"), ("version", "0")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (_, _, confirm) = app.get_as("/progress/ops/basics/complete", &cookie).await;
    assert!(
        confirm.contains("This marks <strong>2 skills</strong> as done"),
        "{confirm}"
    );
    assert!(
        !confirm.contains("Editors"),
        "a skipped skill is not offered: {confirm}"
    );
    let (status, _, _) = app
        .post_form("/progress/ops/basics/complete", &[], Some(&cookie))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let states: Vec<(String, String)> =
        sqlx::query_as("select skill_id, state from skill_progress order by skill_id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        states,
        [("editors", "skipped"), ("logs", "done"), ("shell", "done")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let (_, _, confirm) = app.get_as("/progress/ops/basics/complete", &cookie).await;
    assert!(confirm.contains("already done or skipped"), "{confirm}");
}

/// The roadmap at a glance (issue 12): every stage in order with its skills as marks in the
/// learner's states, "you are here" on the stage of the next skill, and one Continue action.
#[tokio::test]
async fn the_roadmap_page_maps_the_path_with_states_and_one_continue() {
    let l = learner().await;
    let (_, _, visitor) = l.app.get("/roadmaps/web").await;
    assert!(visitor.contains(r#"<ol class="path">"#), "{visitor}");
    assert!(!visitor.contains("Continue:") && !visitor.contains("You are here"));
    assert!(visitor.contains(r#"<li class="mark state-not_started" title="Methods: Not started"><span class="visually-hidden">Methods: Not started</span></li>"#), "{visitor}");

    l.start().await;
    let (_, _, page) = l.app.get_as("/roadmaps/web", &l.cookie).await;
    assert!(
        page.contains(r#"href="/roadmaps/web/http/http-methods">Continue: Methods</a>"#),
        "{page}"
    );
    l.set("http-methods", "done").await;
    l.set("status-codes", "in_progress").await;
    let (_, _, page) = l.app.get_as("/roadmaps/web", &l.cookie).await;
    // A skill in progress comes before one not started.
    assert!(
        page.contains(r#"href="/roadmaps/web/http/status-codes">Continue: Status codes</a>"#),
        "{page}"
    );
    assert!(page.contains(r#"<li class="mark state-done" title="Methods: Done">"#));
    assert!(
        page.contains(r#"<li class="mark state-in_progress optional" title="Status codes: In progress">"#)
    );
    let here = page.find("You are here").unwrap();
    assert!(
        page[..here].contains(r#"href="/roadmaps/web/http">HTTP</a>"#) && !page[..here].contains(">DNS</a>")
    );
    assert_eq!(page.matches(r#"aria-current="step""#).count(), 1);

    l.set("status-codes", "skipped").await;
    let (_, _, page) = l.app.get_as("/roadmaps/web", &l.cookie).await;
    assert!(
        page.contains(r#"href="/roadmaps/web/dns/dns-records">Continue: Records</a>"#),
        "{page}"
    );
    l.set("dns-records", "done").await;
    let (_, _, page) = l.app.get_as("/roadmaps/web", &l.cookie).await;
    assert!(
        !page.contains("Continue:") && page.contains("Every required skill is done or skipped"),
        "{page}"
    );
}

#[tokio::test]
async fn history_pages_hold_fifty_changes_each_newest_first() {
    let l = learner().await;
    l.start().await;
    // 55 changes: methods in progress and done in turn, then dns records done last.
    for i in 0..54 {
        let to = if i % 2 == 0 { "in_progress" } else { "done" };
        assert_eq!(l.set("http-methods", to).await.0, StatusCode::SEE_OTHER);
    }
    assert_eq!(l.set("dns-records", "done").await.0, StatusCode::SEE_OTHER);
    let rows = |page: &str| page.matches("<tr>").count() - 1; // less the header row
    let (_, _, first) = l.app.get_as("/history", &l.cookie).await;
    assert_eq!(rows(&first), 50, "{first}");
    assert!(first.contains(r#"href="/history?page=2" rel="next">Older changes"#));
    assert!(!first.contains("Newer changes"));
    // Newest first: the last change heads the first page.
    let newest = first.find("Records").unwrap();
    assert!(newest < first.find("Methods").unwrap());
    let (_, _, second) = l.app.get_as("/history?page=2", &l.cookie).await;
    assert_eq!(rows(&second), 5, "{second}");
    assert!(second.contains(r#"href="/history?page=1" rel="prev">Newer changes"#));
    assert!(!second.contains("Older changes") && !second.contains("Records"));
    // The oldest change, methods started, ends the last page.
    assert!(
        second.trim_end().contains("Not started → In progress"),
        "{second}"
    );
    let (_, _, past) = l.app.get_as("/history?page=3", &l.cookie).await;
    assert!(past.contains("No older changes."));
}

#[tokio::test]
async fn folded_counter_deltas_give_their_space_back() {
    let l = learner().await;
    let pool = &l.app.db.pool;
    // A burst of deltas, as a stream of ticks leaves between two folds.
    sqlx::query(
        "insert into stage_tally_changes (user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified)
         select $1, 'web', 'http', 1, 0, 0, 0, 0 from generate_series(1, 20000)",
    )
    .bind(l.user_id)
    .execute(pool)
    .await
    .unwrap();
    let size = || async {
        sqlx::query_scalar::<_, i64>("select pg_relation_size('stage_tally_changes')")
            .fetch_one(pool)
            .await
            .unwrap()
    };
    assert!(pathway::db::progress::fold_counters(pool).await.unwrap());
    assert!(
        size().await > 100 * 8192,
        "20,000 deleted rows still take their pages"
    );
    pathway::db::progress::vacuum_counter_changes(pool).await.unwrap();
    assert_eq!(size().await, 0, "the vacuum hands the emptied pages back");
    // The totals kept every delta.
    let done: i32 = sqlx::query_scalar(
        "select done from stage_tallies where user_id = $1 and roadmap_id = 'web' and stage_id = 'http'",
    )
    .bind(l.user_id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(done, 20000);
}

#[tokio::test]
async fn a_tick_whose_client_goes_away_still_finishes_and_leaves_every_connection_usable() {
    let l = learner().await;
    l.start().await;
    let tick = async |state: &'static str, version: &'static str| {
        l.app
            .post_form(
                "/skills/http-methods/state",
                &[("state", state), ("version", version)],
                Some(&l.cookie),
            )
            .await
    };
    let (status, _, _) = tick("in_progress", "0").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Another connection holds the row, so the next tick waits inside its transaction.
    let mut blocker = l.app.db.pool.begin().await.unwrap();
    sqlx::query("select 1 from skill_progress where user_id = $1 for update")
        .bind(l.user_id)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let waited = tokio::time::timeout(std::time::Duration::from_millis(500), tick("done", "1")).await;
    assert!(waited.is_err(), "the tick waits on the row");
    // The client has gone (its future is dropped); the row is let go.
    blocker.commit().await.unwrap();
    let mut state = String::new();
    for _ in 0..100 {
        state = sqlx::query_scalar(
            "select state from skill_progress where user_id = $1 and skill_id = 'http-methods'",
        )
        .bind(l.user_id)
        .fetch_one(&l.app.db.pool)
        .await
        .unwrap();
        if state == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, "done", "the change was finished, not dropped halfway");
    // No connection went back to the pool inside a transaction.
    for _ in 0..20 {
        let (status, _, body) = l.app.get_as("/dashboard", &l.cookie).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        sqlx::raw_sql("vacuum (skip_locked) learner_week_changes")
            .execute(&l.app.db.pool)
            .await
            .unwrap();
    }
}
