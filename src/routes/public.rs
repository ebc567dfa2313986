//! Pages anyone can read: the roadmap list, a roadmap, and a stage; signed-in learners also see their progress there.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use time::OffsetDateTime;

use super::comments::{self, Thread};
use super::notes::{self, Workspace};
use super::{Layout, format_date, render};
use crate::app::AppState;
use crate::auth::MaybeUser;
use crate::content::Catalog;
use crate::content::catalog::{Roadmap, Skill, Stage};
use crate::db::progress::{self, ProgressMap};
use crate::db::reviews::Review;
use crate::db::users::User;
use crate::error::AppError;
use crate::progress::{SkillState, Tally};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/about", get(about))
        .route("/u/{username}", get(profile))
        .route("/roadmaps/{roadmap}", get(roadmap))
        .route("/roadmaps/{roadmap}/{stage}", get(stage))
        .route("/roadmaps/{roadmap}/{stage}/{skill}", get(skill))
}

#[derive(Template)]
#[template(path = "public/home.html")]
struct HomePage {
    layout: Layout,
    catalog: Arc<Catalog>,
    /// Indexes into the catalog: the learner's started roadmaps, first (oldest start first).
    started: Vec<usize>,
    /// Every other roadmap that passes the filter, by group in catalog order
    /// ("" last, shown as "Other roadmaps").
    groups: Vec<(String, Vec<usize>)>,
    /// Every group name, for the filter's list.
    group_names: Vec<String>,
    query: String,
    group: String,
    /// When a filter is in use: how many roadmaps it left, in words.
    filtered: Option<String>,
}

#[derive(Deserialize)]
struct HomeQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    group: String,
}

async fn home(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(query): Query<HomeQuery>,
) -> Result<Html<String>, AppError> {
    let catalog = state.catalog.load_full();
    let started_ids = match &user {
        Some(user) => progress::enrollments(&state.db, user.id).await?,
        None => Vec::new(),
    };
    let needle = query.q.trim().to_lowercase();
    let group = query.group.trim().to_string();
    let matches = |r: &Roadmap| {
        (group.is_empty() || r.group == group)
            && (needle.is_empty()
                || r.title.to_lowercase().contains(&needle)
                || r.summary.to_lowercase().contains(&needle)
                || r.group.to_lowercase().contains(&needle))
    };
    let started: Vec<usize> = started_ids
        .iter()
        .filter_map(|(id, _)| catalog.roadmaps.iter().position(|r| r.id == *id))
        .filter(|&i| matches(&catalog.roadmaps[i]))
        .collect();
    let mut group_names: Vec<String> = Vec::new();
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (index, roadmap) in catalog.roadmaps.iter().enumerate() {
        if !roadmap.group.is_empty() && !group_names.contains(&roadmap.group) {
            group_names.push(roadmap.group.clone());
        }
        if started.contains(&index) || !matches(roadmap) {
            continue;
        }
        match groups.iter_mut().find(|(name, _)| *name == roadmap.group) {
            Some((_, members)) => members.push(index),
            None => groups.push((roadmap.group.clone(), vec![index])),
        }
    }
    // Ungrouped roadmaps come after the named groups.
    groups.sort_by_key(|(name, _)| name.is_empty());
    let shown = started.len() + groups.iter().map(|(_, m)| m.len()).sum::<usize>();
    let filtering = !needle.is_empty() || !group.is_empty();
    render(&HomePage {
        layout: Layout::new(&state, user.as_ref(), "Roadmaps"),
        catalog,
        started,
        groups,
        group_names,
        query: query.q.trim().to_string(),
        group,
        filtered: filtering.then(|| match shown {
            0 => "No roadmap matches this filter.".to_string(),
            1 => "1 roadmap matches this filter.".to_string(),
            n => format!("{n} roadmaps match this filter."),
        }),
    })
}

#[derive(Template)]
#[template(path = "public/about.html")]
struct AboutPage {
    layout: Layout,
}

async fn about(State(state): State<AppState>, MaybeUser(user): MaybeUser) -> Result<Html<String>, AppError> {
    render(&AboutPage {
        layout: Layout::new(&state, user.as_ref(), "About Pathway"),
    })
}

/// A learner's standing on a roadmap they started.
pub struct Enrolled {
    pub started: String,
    /// When the last required skill was done, once the roadmap is complete.
    pub finished: Option<String>,
    pub tally: Tally,
    /// Progress per stage, in stage order.
    pub stages: Vec<Tally>,
}

#[derive(Template)]
#[template(path = "public/roadmap.html")]
struct RoadmapPage<'a> {
    layout: Layout,
    roadmap: &'a Roadmap,
    signed_in: bool,
    enrolled: Option<Enrolled>,
    /// Each stage with the learner's progress on it, if they started the roadmap.
    stages: Vec<(&'a Stage, Option<Tally>)>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct RoadmapQuery {
    done: Option<String>,
}

async fn roadmap(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(roadmap_id): Path<String>,
    Query(query): Query<RoadmapQuery>,
) -> Result<Html<String>, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    let enrolled = match &user {
        Some(user) => match progress::enrollment(&state.db, user.id, &roadmap.id).await? {
            Some(started) => {
                let ids = skill_ids(roadmap.stages.iter().flat_map(|s| &s.skills));
                let map = progress::for_skills(&state.db, user.id, &ids).await?;
                let tally = map.roadmap_tally(roadmap);
                let finished = (tally.state() == SkillState::Done)
                    .then(|| map.0.values().filter_map(|row| row.done_at).max())
                    .flatten();
                Some(Enrolled {
                    started: format_date(started),
                    finished: finished.map(format_date),
                    tally,
                    stages: roadmap.stages.iter().map(|s| map.stage_tally(s)).collect(),
                })
            }
            None => None,
        },
        None => None,
    };
    let stages = roadmap
        .stages
        .iter()
        .enumerate()
        .map(|(i, stage)| (stage, enrolled.as_ref().and_then(|e| e.stages.get(i).copied())))
        .collect();
    render(&RoadmapPage {
        layout: Layout::new(&state, user.as_ref(), roadmap.title.as_str()),
        roadmap,
        signed_in: user.is_some(),
        enrolled,
        stages,
        notice: match query.done.as_deref() {
            Some("started") => Some("You started this roadmap. Open a stage and mark skills as you go."),
            Some("reset") => Some("The roadmap was reset. Your history still lists every earlier change."),
            _ => None,
        },
    })
}

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
}

/// A change to show in one skill's note and evidence block (a refused form's values and message).
pub type WorkspaceEdit = (String, Box<dyn FnOnce(&mut Workspace) + Send>);

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
    tally: Option<Tally>,
    /// Dates rolled up from the skills: first started, and finished when the stage is done.
    started: Option<String>,
    finished: Option<String>,
    /// A multi-skill action to offer Undo for (mark stage done).
    undo_all: Option<(i64, usize)>,
    /// The authors' estimate for the required skills left, when they gave times.
    time_left: Option<String>,
}

#[derive(Deserialize)]
pub struct StageQuery {
    pub changed: Option<i64>,
}

async fn stage(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((roadmap_id, stage_id)): Path<(String, String)>,
    Query(query): Query<StageQuery>,
) -> Result<Response, AppError> {
    render_stage(&state, user.as_ref(), &roadmap_id, &stage_id, query.changed, None).await
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
    render_stage_with(state, user, roadmap_id, stage_id, changed, conflict, None, status).await
}

/// One learner's views of some skills of a stage: progress, workspace, thread, sub-steps.
struct LoadedSkills<'a> {
    enrolled: bool,
    map: ProgressMap,
    views: Vec<SkillView<'a>>,
    /// A multi-skill action to offer Undo for (mark stage done).
    undo_all: Option<(i64, usize)>,
}

/// Loads what `user` sees of `skills`, and the progress of `also_progress_of` (one
/// statement; see db::learner_view).
#[allow(clippy::too_many_arguments)]
async fn load_skills<'a>(
    state: &AppState,
    user: Option<&User>,
    roadmap: &Roadmap,
    skills: &'a [Skill],
    also_progress_of: &[String],
    changed: Option<i64>,
    conflict: Option<(String, String)>,
    edit: Option<WorkspaceEdit>,
) -> Result<LoadedSkills<'a>, AppError> {
    let mut enrolled = false;
    let mut map = ProgressMap::default();
    let mut undo_skills = HashSet::new();
    let mut undo_action = None;
    let mut workspaces = HashMap::new();
    let mut stage_reviews = Vec::new();
    let mut has_mentor = false;
    let mut threads = HashMap::new();
    let mut ticked = HashMap::new();
    if let Some(user) = user {
        let mut ids = skill_ids(skills);
        ids.extend(also_progress_of.iter().cloned());
        let rows = crate::db::learner_view::stage(&state.db, user.id, &roadmap.id, &ids).await?;
        enrolled = rows.enrolled;
        if enrolled {
            map = rows.progress;
            workspaces = notes::workspaces_from(skills, &rows.notes, &rows.evidence);
            stage_reviews = rows.reviews;
            has_mentor = rows.has_mentor;
            ticked = rows.ticked;
            threads = comments::threads(
                skills,
                &user.username,
                user.id,
                &rows.comments,
                &stage_reviews,
                &rows.evidence,
            );
            if let Some((skill_id, edit)) = edit
                && let Some(workspace) = workspaces.get_mut(&skill_id)
            {
                edit(workspace);
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
    let single_undo = undo_skills.len() == 1;
    let views = skills
        .iter()
        .map(|skill| SkillView {
            skill,
            progress: enrolled.then(|| {
                let mut view = SkillProgress::new(skill, &map).with_reviews(&stage_reviews, has_mentor);
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
            ticked: enrolled.then(|| ticked.remove(&skill.id).unwrap_or_default()),
        })
        .collect();
    Ok(LoadedSkills {
        enrolled,
        map,
        views,
        undo_all: undo_action
            .filter(|_| !single_undo)
            .map(|a| (a, undo_skills.len())),
    })
}

/// [`render_stage`], also showing `edit` in one skill's note and evidence block.
#[allow(clippy::too_many_arguments)]
pub async fn render_stage_with(
    state: &AppState,
    user: Option<&User>,
    roadmap_id: &str,
    stage_id: &str,
    changed: Option<i64>,
    conflict: Option<(String, String)>,
    edit: Option<WorkspaceEdit>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(roadmap_id).ok_or(AppError::NotFound)?;
    let (index, stage) = roadmap.stage(stage_id).ok_or(AppError::NotFound)?;
    let loaded = load_skills(state, user, roadmap, &stage.skills, &[], changed, conflict, edit).await?;
    let map = &loaded.map;
    let tally = loaded.enrolled.then(|| map.stage_tally(stage));
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
        .filter(|k| !k.optional && !matches!(map.state(&k.id), SkillState::Done | SkillState::Skipped))
        .filter_map(|k| k.meta.minutes)
        .sum();
    let page = StagePage {
        layout: Layout::new(state, user, format!("{} · {}", stage.title, roadmap.title)),
        roadmap,
        stage,
        number: index + 1,
        previous: index.checked_sub(1).and_then(|i| roadmap.stages.get(i)),
        next: roadmap.stages.get(index + 1),
        signed_in: user.is_some(),
        skills: loaded.views,
        tally,
        started: started.map(format_date),
        finished: finished.map(format_date),
        undo_all: loaded.undo_all,
        time_left: (minutes_left > 0).then(|| crate::content::meta::format_minutes(minutes_left)),
    };
    Ok((status, render(&page)?).into_response())
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
}

async fn skill(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((roadmap_id, stage_id, skill_id)): Path<(String, String, String)>,
    Query(query): Query<StageQuery>,
) -> Result<Response, AppError> {
    let conflict = None;
    render_skill_with(
        &state,
        user.as_ref(),
        &roadmap_id,
        &stage_id,
        &skill_id,
        query.changed,
        conflict,
        None,
        StatusCode::OK,
    )
    .await
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
    let mut loaded = load_skills(state, user, roadmap, skills, requires, changed, conflict, edit).await?;
    // "Before this": each prerequisite with the learner's state of it.
    let before = requires
        .iter()
        .filter_map(|id| catalog.skill(id))
        .map(|(r, s, k)| {
            let href = format!("/roadmaps/{}/{}/{}", r.id, s.id, k.id);
            (
                href,
                k.title.clone(),
                loaded.enrolled.then(|| loaded.map.state(&k.id)),
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

/// A roadmap on a public profile, its progress, and each stage's.
pub type RoadmapOverview<'a> = (&'a Roadmap, Tally, Vec<(&'a Stage, Tally)>);

/// Each roadmap's progress and each of its stages', for one learner.
pub fn overview<'a>(
    catalog: &'a Catalog,
    roadmap_ids: impl IntoIterator<Item = &'a String>,
    map: &ProgressMap,
) -> Vec<RoadmapOverview<'a>> {
    roadmap_ids
        .into_iter()
        .filter_map(|id| catalog.roadmap(id))
        .map(|roadmap| {
            let stages = roadmap.stages.iter().map(|s| (s, map.stage_tally(s))).collect();
            (roadmap, map.roadmap_tally(roadmap), stages)
        })
        .collect()
}

#[derive(Template)]
#[template(path = "public/profile.html")]
struct ProfilePage<'a> {
    layout: Layout,
    display_name: String,
    username: String,
    roadmaps: Vec<RoadmapOverview<'a>>,
}

/// `/u/{username}`: only when the learner opted in, and only the roadmaps they chose.
async fn profile(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(username): Path<String>,
) -> Result<Html<String>, AppError> {
    let (user_id, display_name, roadmap_ids) = progress::public_profile(&state.db, &username)
        .await?
        .ok_or(AppError::NotFound)?;
    let map = progress::for_user(&state.db, user_id).await?;
    let catalog = state.catalog.load();
    let roadmaps = overview(&catalog, &roadmap_ids, &map);
    render(&ProfilePage {
        layout: Layout::new(&state, viewer.as_ref(), display_name.as_str()),
        display_name,
        username,
        roadmaps,
    })
}
