//! Learner progress: starting a roadmap, changing a skill's state, undo, whole stages, reset, dashboard and history.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Layout, format_date, render};
use crate::app::AppState;
use crate::auth::SignedIn;
use crate::charts::{self, DashboardCharts};
use crate::content::catalog::{Roadmap, Skill, Stage, place_of};
use crate::db::learner_view;
use crate::db::progress::{self, Change, Undo};

use crate::db::team_plans::{self, LearnerPlan};
use crate::db::users::User;
use crate::error::AppError;
use crate::pages::skill::{SkillProgress, back_to, render_skill_with, skill_ids};
use crate::pages::stage::{StagePanel, render_stage};
use crate::progress::{Rule, SkillState, Tally};
use crate::routes::form::Form;

/// Sent by static/progress.js: answer with the skill's fragment, not a redirect.
const FRAGMENT_HEADER: &str = "x-pathway-fragment";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/progress/{roadmap}/start", post(start_roadmap))
        .route("/progress/{roadmap}/reset", get(confirm_reset).post(reset))
        .route(
            "/progress/{roadmap}/{stage}/complete",
            get(confirm_complete).post(complete),
        )
        .route("/skills/{skill}/state", post(set_state))
        .route("/skills/{skill}/changes", get(changes))
        .route("/skills/{skill}/confirm", post(confirm))
        .route("/skills/{skill}/steps/{step}", post(tick_step))
        .route("/progress/undo", post(undo))
        .route("/dashboard", get(dashboard))
        .route("/history", get(history))
}

fn wants_fragment(headers: &HeaderMap) -> bool {
    headers.get(FRAGMENT_HEADER).is_some_and(|v| v == "1")
}

fn stage_url(roadmap: &Roadmap, stage: &Stage) -> String {
    format!("/roadmaps/{}/{}", roadmap.id, stage.id)
}

async fn start_roadmap(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(roadmap_id): Path<String>,
) -> Result<Redirect, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    progress::enroll(&state.db, user.id, &roadmap.id).await?;
    Ok(Redirect::to(&format!("/roadmaps/{}?done=started", roadmap.id)))
}

/// The answer to a state change made in place: the skill's block, then what else the
/// change moved (the stage's progress panel), which static/progress.js swaps by id.
#[derive(Template)]
#[template(path = "progress/_skill_change.html")]
struct SkillFragment<'a> {
    p: SkillProgress,
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    panel: Option<StagePanel>,
    signed_in: bool,
}

#[derive(Deserialize)]
struct StateForm {
    state: String,
    #[serde(default)]
    version: i32,
    /// "skill" when sent from the skill's own page, "next" from its "Done, next skill" button.
    #[serde(default)]
    back: String,
    /// `roadmap/stage` when sent from a stage that includes the skill: the answer stays there.
    #[serde(default)]
    at: String,
}

#[derive(Deserialize)]
struct StepForm {
    /// "on" ticks the sub-step, anything else unticks it.
    #[serde(default)]
    done: String,
    #[serde(default)]
    at: String,
}

/// What the sub-steps fragment needs: named like the stage page's `view`, so both render
/// `progress/_steps.html`.
struct StepsView<'a> {
    skill: &'a Skill,
    ticked: Option<std::collections::HashSet<String>>,
}

#[derive(Template)]
#[template(path = "progress/_steps_fragment.html")]
struct StepsFragment<'a> {
    view: StepsView<'a>,
}

/// Ticks or unticks a sub-step; the skill's own state is left alone. With the
/// fragment header, answers with the re-rendered checklist instead of a redirect.
async fn tick_step(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((skill_id, step_key)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<StepForm>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (roadmap, stage, skill) = catalog
        .skill_at(&skill_id, place_of(&form.at))
        .ok_or(AppError::NotFound)?;
    if !skill.steps.iter().any(|s| s.key == step_key) {
        return Err(AppError::NotFound);
    }
    progress::enroll(&state.db, user.id, &roadmap.id).await?;
    crate::db::steps::set(&state.db, user.id, &skill.id, &step_key, form.done == "on").await?;
    if wants_fragment(&headers) {
        let mut ticked =
            crate::db::steps::ticked(&state.db, user.id, std::slice::from_ref(&skill.id)).await?;
        let fragment = StepsFragment {
            view: StepsView {
                skill,
                ticked: Some(ticked.remove(&skill.id).unwrap_or_default()),
            },
        };
        return Ok(render(&fragment)?.into_response());
    }
    // The checklist lives on the skill's own page.
    Ok(Redirect::to(&back_to(roadmap, stage, skill, "skill")).into_response())
}

async fn set_state(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(skill_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<StateForm>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (roadmap, stage, skill) = catalog
        .skill_at(&skill_id, place_of(&form.at))
        .ok_or(AppError::NotFound)?;
    let to: SkillState = form.state.parse().map_err(|_| AppError::BadRequest)?;
    let change =
        crate::actions::change_state(&state, user.id, &roadmap.id, &skill.id, to, form.version).await?;

    let conflict = match change {
        Change::Stale { current } => Some(format!(
            "Not saved: this skill was changed elsewhere (another tab or device) and is now “{}”. \
             Choose again if you still want “{}”.",
            current.label(),
            to.label()
        )),
        _ => None,
    };
    let action = match change {
        Change::Applied { action_id } => Some(action_id),
        _ => None,
    };
    if wants_fragment(&headers) {
        let status = if conflict.is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        };
        return skill_fragment(&state, user.id, (roadmap, stage, skill), action, conflict, status).await;
    }
    match conflict {
        Some(message) if form.back.is_empty() => {
            render_stage(
                &state,
                Some(&user),
                &roadmap.id,
                &stage.id,
                None,
                Some((skill.id.clone(), message)),
            )
            .await
        }
        Some(message) => {
            let conflict = Some((skill.id.clone(), message));
            let status = StatusCode::CONFLICT;
            render_skill_with(
                &state,
                Some(&user),
                &roadmap.id,
                &stage.id,
                &skill.id,
                None,
                conflict,
                None,
                status,
            )
            .await
        }
        None if form.back == "next" => {
            // "Done, next skill": on to the next skill of the roadmap, across stages.
            let target = match roadmap.neighbours(&skill.id).1 {
                Some((next_stage, next_skill)) => back_to(roadmap, next_stage, next_skill, "skill"),
                None => back_to(roadmap, stage, skill, "skill"),
            };
            Ok(Redirect::to(&target).into_response())
        }
        None => {
            let query = action.map(|a| format!("?changed={a}")).unwrap_or_default();
            let target = if form.back == "skill" {
                format!("{}{query}", back_to(roadmap, stage, skill, "skill"))
            } else {
                format!("{}{query}#{}", stage_url(roadmap, stage), skill.id)
            };
            Ok(Redirect::to(&target).into_response())
        }
    }
}

/// A skill's progress block as listed in `stage` of `roadmap`, with that stage's panel.
async fn skill_fragment(
    state: &AppState,
    user_id: i64,
    (roadmap, stage, skill): (&Roadmap, &Stage, &Skill),
    undo_action: Option<i64>,
    conflict: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    // The stage's progress in one statement, for its panel. Not the workspace (notes,
    // comments) the stage page's kept rows hold: this answer shows none of it, and htmx
    // swaps it in place, so no stage page view follows to use them.
    let ids = skill_ids(&stage.skills);
    let rows = learner_view::stage_progress(&state.db, user_id, &roadmap.id, &ids).await?;
    let mut p = SkillProgress::new(skill, &rows.progress).with_reviews(&rows.reviews, rows.has_mentor);
    p.undo_action = undo_action;
    p.conflict = conflict;
    let panel = rows
        .enrolled
        .then(|| StagePanel::new(stage, &rows.progress, &rows.plan, true, None));
    let fragment = SkillFragment {
        p,
        roadmap,
        stage,
        panel,
        signed_in: true,
    };
    Ok((status, render(&fragment)?).into_response())
}

#[derive(Deserialize)]
struct UndoForm {
    action: i64,
    #[serde(default)]
    back: String,
    #[serde(default)]
    at: String,
}

async fn undo(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    headers: HeaderMap,
    Form(form): Form<UndoForm>,
) -> Result<Response, AppError> {
    let outcome = progress::undo(&state.db, user.id, form.action).await?;
    let (skill_id, conflict) = match &outcome {
        Undo::Undone { skill_ids, .. } => (skill_ids[0].clone(), None),
        Undo::NotFound => return Err(AppError::NotFound),
        Undo::AlreadyUndone => (String::new(), Some("That change was already undone.".to_string())),
        Undo::ChangedSince { skill_id } => (
            skill_id.clone(),
            Some("Not undone: the skill was changed again since. Set it directly instead.".to_string()),
        ),
    };
    let catalog = state.catalog.load();
    let located = catalog.skill_at(&skill_id, place_of(&form.at));
    if wants_fragment(&headers)
        && let Some(located) = located
    {
        let status = if conflict.is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        };
        return skill_fragment(&state, user.id, located, None, conflict, status).await;
    }
    match (located, conflict) {
        (Some((roadmap, stage, skill)), Some(message)) => {
            render_stage(
                &state,
                Some(&user),
                &roadmap.id,
                &stage.id,
                None,
                Some((skill.id.clone(), message)),
            )
            .await
        }
        (Some((roadmap, stage, skill)), None) => {
            Ok(Redirect::to(&back_to(roadmap, stage, skill, &form.back)).into_response())
        }
        // A retired skill, or an action already undone: the history page explains.
        (None, _) => Ok(Redirect::to("/history").into_response()),
    }
}

#[derive(Template)]
#[template(path = "progress/confirm_complete.html")]
struct ConfirmCompletePage<'a> {
    layout: Layout,
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    to_change: Vec<(&'a Skill, SkillState)>,
}

/// Required skills of `stage` that are not done yet, with their state.
/// The skills "Mark stage done" marks: the required ones, as the learner's teams tailor them
/// (a team can require an optional skill or hide a required one).
fn counted<'a>(stage: &'a Stage, plan: &LearnerPlan) -> impl Iterator<Item = &'a Skill> {
    stage.skills.iter().filter(move |s| match plan.rule_of(&s.id) {
        Some(Rule::Required) => true,
        Some(Rule::Hidden) => false,
        None => !s.optional,
    })
}

/// The learner's team plan on `roadmap`; only team members have one to read.
async fn plan_of(state: &AppState, user: &User, roadmap: &Roadmap) -> Result<LearnerPlan, AppError> {
    Ok(if user.in_team {
        team_plans::learner_plan(&state.db, user.id, &roadmap.id).await?
    } else {
        LearnerPlan::default()
    })
}

fn not_done<'a>(
    stage: &'a Stage,
    plan: &LearnerPlan,
    map: &progress::ProgressMap,
) -> Vec<(&'a Skill, SkillState)> {
    counted(stage, plan)
        .map(|s| (s, map.state(&s.id)))
        // A skip is the learner's explicit choice: "Mark stage done" keeps it.
        .filter(|(_, state)| !matches!(state, SkillState::Done | SkillState::Skipped))
        .collect()
}

async fn confirm_complete(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((roadmap_id, stage_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    let (_, stage) = roadmap.stage(&stage_id).ok_or(AppError::NotFound)?;
    let map = progress::for_skills(&state.db, user.id, &skill_ids(&stage.skills)).await?;
    let plan = plan_of(&state, &user, roadmap).await?;
    Ok(render(&ConfirmCompletePage {
        layout: Layout::new(&state, Some(&user), format!("Mark “{}” done", stage.title)),
        roadmap,
        stage,
        to_change: not_done(stage, &plan, &map),
    })?
    .into_response())
}

async fn complete(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((roadmap_id, stage_id)): Path<(String, String)>,
) -> Result<Redirect, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    let (_, stage) = roadmap.stage(&stage_id).ok_or(AppError::NotFound)?;
    progress::enroll(&state.db, user.id, &roadmap.id).await?;
    let plan = plan_of(&state, &user, roadmap).await?;
    let required: Vec<String> = counted(stage, &plan).map(|s| s.id.clone()).collect();
    let action = progress::mark_done(&state.db, user.id, &required).await?;
    let query = action.map(|a| format!("?changed={a}")).unwrap_or_default();
    Ok(Redirect::to(&format!("{}{query}", stage_url(roadmap, stage))))
}

/// Only a roadmap the learner started can be reset: anything else is not found.
async fn require_started(state: &AppState, user_id: i64, roadmap: &Roadmap) -> Result<(), AppError> {
    match progress::enrollment(&state.db, user_id, &roadmap.id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound),
    }
}

#[derive(Template)]
#[template(path = "progress/confirm_reset.html")]
struct ConfirmResetPage<'a> {
    layout: Layout,
    roadmap: &'a Roadmap,
    tally: Tally,
}

async fn confirm_reset(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(roadmap_id): Path<String>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    require_started(&state, user.id, roadmap).await?;
    let ids = skill_ids(roadmap.stages.iter().flat_map(|s| &s.skills));
    let map = progress::for_skills(&state.db, user.id, &ids).await?;
    Ok(render(&ConfirmResetPage {
        layout: Layout::new(&state, Some(&user), format!("Reset “{}”", roadmap.title)),
        roadmap,
        tally: map.roadmap_tally(roadmap),
    })?
    .into_response())
}

async fn reset(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(roadmap_id): Path<String>,
) -> Result<Redirect, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    require_started(&state, user.id, roadmap).await?;
    progress::reset_roadmap(&state.db, user.id, &roadmap.id).await?;
    Ok(Redirect::to(&format!("/roadmaps/{}?done=reset", roadmap.id)))
}

/// One started roadmap on the dashboard.
struct DashboardRoadmap<'a> {
    roadmap: &'a Roadmap,
    tally: Tally,
    started: String,
    last_activity: Option<String>,
    /// The first required skill (in order) that is neither done nor skipped.
    next: Option<(&'a Stage, &'a Skill)>,
}

/// A stage with a target date from one of the learner's teams, not finished yet.
struct Due<'a> {
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    due: String,
    overdue: bool,
    team: String,
}

#[derive(Template)]
#[template(path = "progress/dashboard.html")]
struct DashboardPage<'a> {
    layout: Layout,
    roadmaps: Vec<DashboardRoadmap<'a>>,
    /// Overdue first, then by date.
    due: Vec<Due<'a>>,
    others: Vec<&'a Roadmap>,
    charts: &'a DashboardCharts,
}

/// Weeks shown in the completions chart.
const CHART_WEEKS: usize = 26;

async fn dashboard(State(state): State<AppState>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    // One statement for the page (see db::learner_view), none while its rows are kept.
    let kept = state
        .view_cache
        .dashboard(&state.db, &user, charts::today(), CHART_WEEKS)
        .await?;
    let rows = &kept.rows;
    let map = &rows.next_stage_progress;
    let mut roadmaps = Vec::new();
    for enrollment in &rows.enrollments {
        let Some(roadmap) = catalog.roadmap(&enrollment.roadmap_id) else {
            continue;
        };
        let tally = roadmap
            .stages
            .iter()
            .map(|stage| {
                let counts = rows
                    .stage_counts
                    .get(&(roadmap.id.clone(), stage.id.clone()))
                    .copied()
                    .unwrap_or_default();
                rows.plan.tailor(stage, Tally::from_counts(stage, counts), |id| {
                    rows.plan.states.get(id).copied().unwrap_or_default()
                })
            })
            .fold(Tally::default(), |sum, stage| sum + stage);
        // Only the next stage's rows were read: earlier stages are complete by their tallies.
        let next = enrollment
            .next_stage
            .as_deref()
            .and_then(|id| roadmap.stage(id))
            .and_then(|(_, stage)| {
                stage
                    .skills
                    .iter()
                    .find(|k| {
                        !k.optional && !matches!(map.state(&k.id), SkillState::Done | SkillState::Skipped)
                    })
                    .map(|skill| (stage, skill))
            });
        roadmaps.push(DashboardRoadmap {
            roadmap,
            tally,
            started: format_date(enrollment.started_at),
            last_activity: enrollment.last_activity_at.map(format_date),
            next,
        });
    }
    let others = catalog
        .roadmaps
        .iter()
        .filter(|r| !rows.enrollments.iter().any(|e| e.roadmap_id == r.id))
        .collect();
    // A stage is due until the skills its team's version requires are done or skipped.
    let viewer_today = crate::time_zones::viewer().today();
    let mut due: Vec<(time::Date, Due)> = rows
        .plan
        .due
        .iter()
        .filter_map(|(roadmap_id, stage_id, day, team)| {
            let roadmap = catalog.roadmap(roadmap_id)?;
            let (_, stage) = roadmap.stage(stage_id)?;
            let counts = rows
                .stage_counts
                .get(&(roadmap_id.clone(), stage_id.clone()))
                .copied()
                .unwrap_or_default();
            let tally = rows.plan.tailor(stage, Tally::from_counts(stage, counts), |id| {
                rows.plan.states.get(id).copied().unwrap_or_default()
            });
            (tally.remaining() > 0).then(|| {
                (
                    *day,
                    Due {
                        roadmap,
                        stage,
                        due: crate::pages::format_day(*day),
                        overdue: *day < viewer_today,
                        team: team.clone(),
                    },
                )
            })
        })
        .collect();
    due.sort_by_key(|(day, _)| *day);
    Ok(render(&DashboardPage {
        layout: Layout::new(&state, Some(&user), "Dashboard"),
        roadmaps,
        due: due.into_iter().map(|(_, d)| d).collect(),
        others,
        charts: &kept.charts,
    })?
    .into_response())
}

struct HistoryLine {
    event: progress::Event,
    when: String,
    /// Where the skill is now, if it is still live.
    href: Option<String>,
}

#[derive(Template)]
#[template(path = "progress/history.html")]
struct HistoryPage {
    layout: Layout,
    lines: Vec<HistoryLine>,
    page: i64,
    /// Whether older changes follow on the next page.
    more: bool,
}

/// Changes per page of the history.
const HISTORY_PER_PAGE: i64 = 50;

#[derive(Deserialize)]
struct HistoryQuery {
    page: Option<String>,
}

async fn history(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, AppError> {
    let page = query
        .page
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let catalog = state.catalog.load();
    // One row more than a page says whether there is an older page, without counting them all.
    let mut events = progress::recent_events(
        &state.db,
        user.id,
        HISTORY_PER_PAGE + 1,
        (page - 1) * HISTORY_PER_PAGE,
    )
    .await?;
    let more = events.len() as i64 > HISTORY_PER_PAGE;
    events.truncate(HISTORY_PER_PAGE as usize);
    let lines = events
        .into_iter()
        .map(|event| HistoryLine {
            when: super::format_datetime(event.at),
            href: catalog
                .skill(&event.skill_id)
                .map(|(r, s, k)| format!("/roadmaps/{}/{}/{}", r.id, s.id, k.id)),
            event,
        })
        .collect();
    Ok(render(&HistoryPage {
        layout: Layout::new(&state, Some(&user), "History"),
        lines,
        page,
        more,
    })?
    .into_response())
}

/// One line of a text diff: "added", "removed" or "same", and the text.
pub struct DiffLine {
    pub kind: &'static str,
    pub text: String,
}

/// A line diff of two markdown texts.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|change| DiffLine {
            kind: match change.tag() {
                similar::ChangeTag::Delete => "removed",
                similar::ChangeTag::Insert => "added",
                similar::ChangeTag::Equal => "same",
            },
            text: change.value().trim_end_matches('\n').to_string(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "progress/changes.html")]
struct ChangesPage<'a> {
    layout: Layout,
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    skill: &'a Skill,
    p: SkillProgress,
    lines: Vec<DiffLine>,
    done: Option<String>,
}

/// What changed in a skill's text since the learner completed it.
async fn changes(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(skill_id): Path<String>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (roadmap, stage, skill) = catalog.skill(&skill_id).ok_or(AppError::NotFound)?;
    let map = progress::for_skills(&state.db, user.id, std::slice::from_ref(&skill.id)).await?;
    let row = map
        .get(&skill.id)
        .filter(|r| r.state == SkillState::Done)
        .ok_or(AppError::NotFound)?;
    let done_hash = row.done_content_hash.clone().unwrap_or_default();
    let lines = match crate::db::content::revision_and_current(&state.db, &skill.id, &done_hash).await? {
        Some((old, new)) => diff_lines(&old, &new),
        None => Vec::new(),
    };
    Ok(render(&ChangesPage {
        layout: Layout::new(&state, Some(&user), format!("What changed: {}", skill.title)),
        roadmap,
        stage,
        skill,
        p: SkillProgress::new(skill, &map),
        done: row.done_at.map(format_date),
        lines,
    })?
    .into_response())
}

async fn confirm(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(skill_id): Path<String>,
) -> Result<Redirect, AppError> {
    let catalog = state.catalog.load();
    let (roadmap, stage, skill) = catalog.skill(&skill_id).ok_or(AppError::NotFound)?;
    if !progress::confirm_done(&state.db, user.id, &skill.id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&format!(
        "{}#{}",
        stage_url(roadmap, stage),
        skill.id
    )))
}
