//! One skill as a learner sees it (progress control, note and evidence block, thread), and the skill's own page.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::thread::{self, Thread};
use super::workspace::{self, Workspace};
use super::{Layout, format_date, render};
use crate::app::AppState;
use crate::content::catalog::{Roadmap, Skill, Stage};
use crate::db::learner_view::StageRows;
use crate::db::progress::{self, ProgressMap};
use crate::db::reviews::Review;
use crate::db::users::User;
use crate::error::AppError;
use crate::progress::SkillState;

pub fn skill_ids<'a>(skills: impl IntoIterator<Item = &'a Skill>) -> Vec<String> {
    skills.into_iter().map(|s| s.id.clone()).collect()
}

/// What the progress control of one skill shows.
#[derive(Debug, Clone)]
pub struct SkillProgress {
    pub skill_id: String,
    pub skill_title: String,
    pub state: SkillState,
    pub version: i32,
    pub started: Option<String>,
    pub done: Option<String>,
    pub updated: Option<String>,
    /// The action to offer Undo for, right after a change.
    pub undo_action: Option<i64>,
    /// Set when a stale form was refused.
    pub conflict: Option<String>,
    /// "Verified by Max on 5 Nov 2026", while the skill stays done.
    pub verified: Option<String>,
    /// The latest review request, in words, and the mentor's comment.
    pub review: Option<(String, Option<String>)>,
    /// Done, not verified, nothing pending, and a mentor who can review it.
    pub can_request_review: bool,
    /// Done, and the skill's text changed materially since (whitespace does not count).
    pub changed_since_done: bool,
    /// Where its forms come back to: "skill" on the skill's own page (see [`back_to`]).
    pub back: &'static str,
    /// `roadmap/stage` when the skill is shown in a stage that includes it (see `catalog::Skill::at`).
    pub at: String,
}

impl SkillProgress {
    pub fn new(skill: &Skill, progress: &ProgressMap) -> Self {
        let row = progress.get(&skill.id);
        let state = row.map_or(SkillState::NotStarted, |r| r.state);
        Self {
            skill_id: skill.id.clone(),
            skill_title: skill.title.clone(),
            state,
            version: row.map_or(0, |r| r.version),
            started: row
                .and_then(|r| r.started_at)
                .filter(|_| state != SkillState::NotStarted)
                .map(format_date),
            done: row
                .and_then(|r| r.done_at)
                .filter(|_| state == SkillState::Done)
                .map(format_date),
            updated: row.map(|r| format_date(r.updated_at)),
            undo_action: None,
            conflict: None,
            verified: row
                .filter(|r| r.state == SkillState::Done)
                .and_then(|r| Some((r.verified_by.clone()?, r.verified_at?)))
                .map(|(name, at)| format!("Verified by {name} on {}", format_date(at))),
            review: None,
            can_request_review: false,
            changed_since_done: row.is_some_and(|r| {
                r.state == SkillState::Done
                    && r.done_content_hash
                        .as_ref()
                        .is_some_and(|h| *h != skill.content_hash)
            }),
            back: "",
            at: skill.at.clone(),
        }
    }

    /// Adds the latest review request (`reviews` newest first) and whether one can be asked for.
    pub fn with_reviews(mut self, reviews: &[Review], has_mentor: bool) -> Self {
        let latest = reviews.iter().find(|r| r.skill_id == self.skill_id);
        self.review = latest.and_then(|r| match r.status.as_str() {
            "pending" => Some((
                format!(
                    "Review requested {}, waiting {}",
                    format_date(r.requested_at),
                    waited(r.requested_at)
                ),
                None,
            )),
            "changes_requested" => Some((
                format!(
                    "Changes requested by {} on {}",
                    r.answered_by.as_deref().unwrap_or("a former mentor"),
                    r.answered_at.map(format_date).unwrap_or_default()
                ),
                r.answer.clone().filter(|a| !a.is_empty()),
            )),
            "verified" if self.verified.is_some() => r
                .answer
                .clone()
                .filter(|a| !a.is_empty())
                .map(|a| (String::from("Mentor's comment"), Some(a))),
            _ => None,
        });
        let pending = latest.is_some_and(|r| r.status == "pending");
        self.can_request_review =
            has_mentor && self.state == SkillState::Done && self.verified.is_none() && !pending;
        self
    }
}

/// "3 days", "less than a day": how long a request has waited.
pub fn waited(since: OffsetDateTime) -> String {
    let days = (OffsetDateTime::now_utc() - since).whole_days();
    match days {
        0 => "less than a day".into(),
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

impl SkillProgress {
    pub fn is(&self, state: &str) -> bool {
        self.state.as_str() == state
    }
}

pub struct SkillView<'a> {
    pub skill: &'a Skill,
    pub progress: Option<SkillProgress>,
    pub workspace: Option<Workspace>,
    /// The discussion with the learner's mentors, once there is a mentor or a comment.
    pub thread: Option<Thread>,
    /// The sub-steps the learner ticked, when they follow the roadmap.
    pub ticked: Option<HashSet<String>>,
    /// The learner's teams' word on it: (hidden, the teams' names), hidden when every
    /// team that assigns the roadmap hides it, else required by the named teams.
    pub team: Option<(bool, String)>,
}

impl SkillView<'_> {
    /// The teams that hide it, when the learner's teams' version hides it.
    pub fn hidden_by(&self) -> Option<&str> {
        self.team.as_ref().filter(|(h, _)| *h).map(|(_, t)| t.as_str())
    }

    /// The teams that require it, when it is optional in the content.
    pub fn required_by(&self) -> Option<&str> {
        self.team.as_ref().filter(|(h, _)| !*h).map(|(_, t)| t.as_str())
    }
}

/// A change to show in one skill's note and evidence block (a refused form's values and message).
pub type WorkspaceEdit = (String, Box<dyn FnOnce(&mut Workspace) + Send>);

/// What a page shows of each skill beyond its progress.
pub(super) enum Detail {
    /// Progress only: the stage page lists skills, and their notes and threads are on each
    /// skill's own page, so it neither builds nor draws them.
    Progress,
    /// Also each skill's note and evidence block and its thread, with `edit` shown in one block.
    Workspace(Option<WorkspaceEdit>),
}

/// One learner's views of some skills of a stage: progress, workspace, thread, sub-steps.
pub(super) struct LoadedSkills<'a> {
    pub(super) enrolled: bool,
    pub(super) views: Vec<SkillView<'a>>,
    /// A multi-skill action to offer Undo for (mark stage done).
    pub(super) undo_all: Option<(i64, usize)>,
    /// The learner's rows (empty when not enrolled), perhaps shared with later requests:
    /// progress, and the teams' tailoring and dates for this roadmap.
    pub(super) rows: Arc<StageRows>,
}

/// Loads what `user` sees of `skills`, and the progress of `also_progress_of` (one
/// statement; see db::learner_view).
#[allow(clippy::too_many_arguments)]
pub(super) async fn load_skills<'a>(
    state: &AppState,
    user: Option<&User>,
    roadmap: &Roadmap,
    skills: &'a [Skill],
    also_progress_of: &[String],
    changed: Option<i64>,
    conflict: Option<(String, String)>,
    detail: Detail,
) -> Result<LoadedSkills<'a>, AppError> {
    let mut undo_skills = HashSet::new();
    let mut undo_action = None;
    let mut workspaces = HashMap::new();
    let mut threads = HashMap::new();
    let mut rows = Arc::new(StageRows::default());
    if let Some(user) = user {
        let mut ids = skill_ids(skills);
        ids.extend(also_progress_of.iter().cloned());
        let read = state.view_cache.stage(&state.db, user, &roadmap.id, ids).await?;
        // A learner who has not started the roadmap sees none of it.
        if read.enrolled {
            rows = read;
            if let Detail::Workspace(edit) = detail {
                let drawn = rows.drawn_markdown();
                workspaces = workspace::workspaces_from(skills, &rows.notes, &drawn.notes, &rows.evidence);
                threads = thread::threads(
                    skills,
                    &user.username,
                    user.id,
                    (&rows.comments, &drawn.comments),
                    &rows.reviews,
                    &rows.evidence,
                );
                if let Some((skill_id, edit)) = edit
                    && let Some(workspace) = workspaces.get_mut(&skill_id)
                {
                    edit(workspace);
                }
            }
            if let Some(action) = changed {
                undo_skills = progress::undoable_action(&state.db, user.id, action)
                    .await?
                    .into_iter()
                    .collect();
                undo_action = (!undo_skills.is_empty()).then_some(action);
            }
        }
    }
    let enrolled = rows.enrolled;
    let (map, plan, has_mentor) = (&rows.progress, &rows.plan, rows.has_mentor);
    let single_undo = undo_skills.len() == 1;
    let views = skills
        .iter()
        .map(|skill| SkillView {
            skill,
            progress: enrolled.then(|| {
                let mut view = SkillProgress::new(skill, map).with_reviews(&rows.reviews, has_mentor);
                if single_undo && undo_skills.contains(&skill.id) {
                    view.undo_action = undo_action;
                }
                if let Some((skill_id, message)) = &conflict
                    && *skill_id == skill.id
                {
                    view.conflict = Some(message.clone());
                }
                view
            }),
            workspace: workspaces.remove(&skill.id),
            thread: threads
                .remove(&skill.id)
                .filter(|t: &Thread| has_mentor || !t.comments.is_empty()),
            ticked: enrolled.then(|| rows.ticked.get(&skill.id).cloned().unwrap_or_default()),
            team: plan
                .hidden_by(&skill.id)
                .map(|teams| (true, teams.join(", ")))
                .or_else(|| {
                    plan.required_by(&skill.id)
                        .filter(|_| skill.optional)
                        .map(|teams| (false, teams.join(", ")))
                }),
        })
        .collect();
    Ok(LoadedSkills {
        enrolled,
        views,
        undo_all: undo_action
            .filter(|_| !single_undo)
            .map(|a| (a, undo_skills.len())),
        rows,
    })
}

/// One skill on its own page: the whole text, the state controls above and below it,
/// notes, evidence, reviews and the mentor thread, and the skills before and after it.
#[derive(Template)]
#[template(path = "public/skill.html")]
pub struct SkillPage<'a> {
    layout: Layout,
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    /// 1-based position of the stage in its roadmap, and of the skill in its stage.
    number: usize,
    skill_number: usize,
    view: SkillView<'a>,
    signed_in: bool,
    /// The skills before and after this one, across stage boundaries: (stage, skill).
    previous: Option<(&'a Stage, &'a Skill)>,
    next: Option<(&'a Stage, &'a Skill)>,
    /// Prerequisites: link, title and the learner's state (when they follow the roadmap).
    before: Vec<(String, String, Option<SkillState>)>,
    /// The other stages that list this skill (its home and its includes): link and "Roadmap › Stage".
    shared: Vec<(String, String)>,
}

/// Renders a skill's page; `conflict` marks a refused stale change, `edit` a refused workspace form.
#[allow(clippy::too_many_arguments)]
pub async fn render_skill_with(
    state: &AppState,
    user: Option<&User>,
    roadmap_id: &str,
    stage_id: &str,
    skill_id: &str,
    changed: Option<i64>,
    conflict: Option<(String, String)>,
    edit: Option<WorkspaceEdit>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(roadmap_id).ok_or(AppError::NotFound)?;
    let (index, stage) = roadmap.stage(stage_id).ok_or(AppError::NotFound)?;
    let position = stage
        .skills
        .iter()
        .position(|k| k.id == skill_id)
        .ok_or(AppError::NotFound)?;
    let skills = &stage.skills[position..=position];
    let requires = &skills[0].meta.requires;
    let mut loaded = load_skills(
        state,
        user,
        roadmap,
        skills,
        requires,
        changed,
        conflict,
        Detail::Workspace(edit),
    )
    .await?;
    // "Before this": each prerequisite with the learner's state of it.
    let before = requires
        .iter()
        .filter_map(|id| catalog.skill(id))
        .map(|(r, s, k)| {
            let href = format!("/roadmaps/{}/{}/{}", r.id, s.id, k.id);
            (
                href,
                k.title.clone(),
                loaded.enrolled.then(|| loaded.rows.progress.state(&k.id)),
            )
        })
        .collect();
    let shared = catalog
        .skill(skill_id)
        .map(|(r, s, _)| (r, s))
        .into_iter()
        .chain(catalog.included_in(skill_id))
        .filter(|(r, s)| (r.id.as_str(), s.id.as_str()) != (roadmap.id.as_str(), stage.id.as_str()))
        .map(|(r, s)| {
            (
                format!("/roadmaps/{}/{}/{}", r.id, s.id, skill_id),
                format!("{} › {}", r.title, s.title),
            )
        })
        .collect();
    let (previous, next) = roadmap.neighbours(skill_id);
    let mut view = loaded.views.remove(0);
    // The state buttons come back to this page (the other forms always do).
    if let Some(p) = view.progress.as_mut() {
        p.back = "skill";
    }
    let page = SkillPage {
        layout: Layout::new(state, user, format!("{} · {}", view.skill.title, roadmap.title)),
        roadmap,
        stage,
        number: index + 1,
        skill_number: position + 1,
        view,
        signed_in: user.is_some(),
        previous,
        next,
        before,
        shared,
    };
    Ok((status, render(&page)?).into_response())
}

/// Where a per-skill form goes back to: the skill's own page when it was sent from
/// there (`back=skill`), else the skill on its stage page.
pub fn back_to(roadmap: &Roadmap, stage: &Stage, skill: &Skill, back: &str) -> String {
    if back == "skill" {
        format!("/roadmaps/{}/{}/{}", roadmap.id, stage.id, skill.id)
    } else {
        format!("/roadmaps/{}/{}#{}", roadmap.id, stage.id, skill.id)
    }
}
