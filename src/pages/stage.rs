//! A stage's page: its skills with the learner's progress, notes, evidence and threads.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::skill::{Detail, SkillView, load_skills};
use super::{Layout, format_date, render};
use crate::app::AppState;
use crate::content::catalog::{Roadmap, Stage};
use crate::db::progress::ProgressMap;
use crate::db::team_plans::LearnerPlan;
use crate::db::users::User;
use crate::error::AppError;
use crate::progress::{Rule, SkillState, Tally};

#[derive(Template)]
#[template(path = "public/stage.html")]
pub struct StagePage<'a> {
    layout: Layout,
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    /// 1-based position of the stage in its roadmap.
    number: usize,
    previous: Option<&'a Stage>,
    next: Option<&'a Stage>,
    signed_in: bool,
    skills: Vec<SkillView<'a>>,
    panel: StagePanel,
    /// The stage's target date from the learner's teams: (date, overdue, team).
    due: Option<(String, bool, String)>,
    /// Skills every team of the learner's that assigns the roadmap hides: listed apart.
    hidden: usize,
}

/// Renders a stage page; `conflict` marks a refused stale change (status 409).
pub async fn render_stage(
    state: &AppState,
    user: Option<&User>,
    roadmap_id: &str,
    stage_id: &str,
    changed: Option<i64>,
    conflict: Option<(String, String)>,
) -> Result<Response, AppError> {
    let status = if conflict.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    render_stage_with(state, user, roadmap_id, stage_id, changed, conflict, status).await
}

/// [`render_stage`] with the given status.
pub async fn render_stage_with(
    state: &AppState,
    user: Option<&User>,
    roadmap_id: &str,
    stage_id: &str,
    changed: Option<i64>,
    conflict: Option<(String, String)>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(roadmap_id).ok_or(AppError::NotFound)?;
    let (index, stage) = roadmap.stage(stage_id).ok_or(AppError::NotFound)?;
    let loaded = load_skills(
        state,
        user,
        roadmap,
        &stage.skills,
        &[],
        changed,
        conflict,
        Detail::Progress,
    )
    .await?;
    let map = &loaded.rows.progress;
    let panel = StagePanel::new(stage, map, &loaded.rows.plan, loaded.enrolled, loaded.undo_all);
    let today = crate::time_zones::viewer().today();
    let due = loaded.rows.plan.due(&roadmap.id, &stage.id).map(|(day, team)| {
        let unfinished = panel_unfinished(stage, map, &loaded.rows.plan);
        (
            super::format_day(day),
            unfinished && day < today,
            team.to_string(),
        )
    });
    let hidden = loaded
        .views
        .iter()
        .filter(|v| v.team.as_ref().is_some_and(|(h, _)| *h))
        .count();
    let page = StagePage {
        layout: Layout::new(state, user, format!("{} · {}", stage.title, roadmap.title)),
        roadmap,
        stage,
        number: index + 1,
        previous: index.checked_sub(1).and_then(|i| roadmap.stages.get(i)),
        next: roadmap.stages.get(index + 1),
        signed_in: user.is_some(),
        skills: loaded.views,
        panel,
        due,
        hidden,
    };
    Ok((status, render(&page)?).into_response())
}

/// The learner's progress panel of a stage (`public/_stage_panel.html`): on the stage
/// page, and sent again beside a skill changed in place.
#[derive(Debug, Clone)]
pub struct StagePanel {
    /// None for visitors and learners who have not started the roadmap.
    pub tally: Option<Tally>,
    /// Dates rolled up from the skills: first started, and finished when the stage is done.
    pub started: Option<String>,
    pub finished: Option<String>,
    /// A multi-skill action to offer Undo for (mark stage done).
    pub undo_all: Option<(i64, usize)>,
    /// The authors' estimate for the required skills left, when they gave times.
    pub time_left: Option<String>,
}

impl StagePanel {
    /// From the progress rows of the stage's skills (`map` may hold others too), counted
    /// as the learner's teams' version of the stage (`plan`).
    pub fn new(
        stage: &Stage,
        map: &ProgressMap,
        plan: &LearnerPlan,
        enrolled: bool,
        undo_all: Option<(i64, usize)>,
    ) -> Self {
        let tally = enrolled.then(|| {
            plan.tailor(stage, map.stage_tally(stage), |id| {
                (
                    map.state(id),
                    map.get(id).is_some_and(|r| r.verified_by.is_some()),
                )
            })
        });
        let started = stage
            .skills
            .iter()
            .filter_map(|s| map.get(&s.id).and_then(|r| r.started_at))
            .min();
        let finished: Option<OffsetDateTime> = match tally {
            Some(t) if t.state() == SkillState::Done => stage
                .skills
                .iter()
                .filter_map(|s| map.get(&s.id).and_then(|r| r.done_at))
                .max(),
            _ => None,
        };
        // Estimated time of the required skills not yet done or skipped (all of them for visitors).
        let minutes_left: u32 = stage
            .skills
            .iter()
            .filter(|k| {
                counts(plan, k) && !matches!(map.state(&k.id), SkillState::Done | SkillState::Skipped)
            })
            .filter_map(|k| k.meta.minutes)
            .sum();
        Self {
            tally,
            started: started.map(format_date),
            finished: finished.map(format_date),
            undo_all,
            time_left: (minutes_left > 0).then(|| crate::content::meta::format_minutes(minutes_left)),
        }
    }
}

/// Whether the learner's teams' version of the stage requires the skill.
fn counts(plan: &LearnerPlan, skill: &crate::content::catalog::Skill) -> bool {
    match plan.rule_of(&skill.id) {
        Some(Rule::Hidden) => false,
        Some(Rule::Required) => true,
        None => !skill.optional,
    }
}

/// Whether a skill the learner's teams' version requires is neither done nor skipped.
fn panel_unfinished(stage: &Stage, map: &ProgressMap, plan: &LearnerPlan) -> bool {
    stage
        .skills
        .iter()
        .any(|k| counts(plan, k) && !matches!(map.state(&k.id), SkillState::Done | SkillState::Skipped))
}
