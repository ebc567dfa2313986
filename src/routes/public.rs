//! Pages anyone can read: the roadmap list, a roadmap, and a stage; signed-in learners also see their progress there.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Layout, format_date, format_day, render};
use crate::app::AppState;
use crate::auth::MaybeUser;
use crate::content::Catalog;
use crate::content::catalog::{Roadmap, Skill, Stage};
use crate::db::progress;
use crate::db::team_plans::{self, LearnerPlan};
use crate::error::AppError;
use crate::pages::overview::{RoadmapOverview, overview};
use crate::pages::skill::{render_skill_with, skill_ids};
use crate::pages::stage::render_stage;
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
    /// The path: each stage with its skills as marks in the learner's states.
    stages: Vec<PathStage<'a>>,
    /// The skill to go on with: the first in progress, else the first required one left.
    next: Option<(&'a Stage, &'a Skill)>,
    notice: Option<&'static str>,
}

/// One stage on the roadmap's map.
struct PathStage<'a> {
    stage: &'a Stage,
    number: usize,
    /// The learner's progress on it, if they started the roadmap.
    tally: Option<Tally>,
    /// Its skills in order with the learner's state (not started for visitors) and what
    /// the learner's teams say: "Hidden by …", "Required by …" or empty.
    marks: Vec<(&'a Skill, SkillState, String)>,
    /// The stage's target date from the learner's teams: (date, overdue, team).
    due: Option<(String, bool, String)>,
    /// The stage holding the next skill: "you are here".
    here: bool,
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
    let mut map = None;
    let mut plan = LearnerPlan::default();
    let enrolled = match &user {
        Some(user) => match progress::enrollment(&state.db, user.id, &roadmap.id).await? {
            Some(started) => {
                let ids = skill_ids(roadmap.stages.iter().flat_map(|s| &s.skills));
                let rows = progress::for_skills(&state.db, user.id, &ids).await?;
                plan = team_plans::learner_plan(&state.db, user.id, &roadmap.id).await?;
                // The learner's teams' version: hidden skills leave, required ones join.
                let stages: Vec<Tally> = roadmap
                    .stages
                    .iter()
                    .map(|s| {
                        plan.tailor(s, rows.stage_tally(s), |id| {
                            let verified = rows.0.get(id).is_some_and(|r| r.verified_by.is_some());
                            (rows.state(id), verified)
                        })
                    })
                    .collect();
                let tally = stages.iter().fold(Tally::default(), |sum, t| sum + *t);
                let finished = (tally.state() == SkillState::Done)
                    .then(|| rows.0.values().filter_map(|row| row.done_at).max())
                    .flatten();
                map = Some(rows);
                Some(Enrolled {
                    started: format_date(started),
                    finished: finished.map(format_date),
                    tally,
                    stages,
                })
            }
            None => None,
        },
        None => None,
    };
    let state_of = |skill: &Skill| {
        map.as_ref()
            .map_or(SkillState::NotStarted, |m| m.state(&skill.id))
    };
    let all = || {
        roadmap
            .stages
            .iter()
            .flat_map(|st| st.skills.iter().map(move |k| (st, k)))
    };
    let next = enrolled.as_ref().and_then(|_| {
        all()
            .find(|(_, k)| state_of(k) == SkillState::InProgress)
            .or_else(|| all().find(|(_, k)| !k.optional && matches!(state_of(k), SkillState::NotStarted)))
    });
    let today = crate::time_zones::viewer().today();
    let stages = roadmap
        .stages
        .iter()
        .enumerate()
        .map(|(i, stage)| PathStage {
            stage,
            number: i + 1,
            tally: enrolled.as_ref().and_then(|e| e.stages.get(i).copied()),
            marks: stage
                .skills
                .iter()
                .map(|k| {
                    let note = plan
                        .hidden_by(&k.id)
                        .map(|t| format!("Hidden by {}", t.join(", ")))
                        .or_else(|| {
                            plan.required_by(&k.id)
                                .filter(|_| k.optional)
                                .map(|t| format!("Required by {}", t.join(", ")))
                        })
                        .unwrap_or_default();
                    (k, state_of(k), note)
                })
                .collect(),
            due: plan.due(&roadmap.id, &stage.id).map(|(day, team)| {
                let open = enrolled
                    .as_ref()
                    .and_then(|e| e.stages.get(i))
                    .is_none_or(|t| t.remaining() > 0);
                (format_day(day), open && day < today, team.to_string())
            }),
            here: next.is_some_and(|(st, _)| st.id == stage.id),
        })
        .collect();
    render(&RoadmapPage {
        layout: Layout::new(&state, user.as_ref(), roadmap.title.as_str()),
        roadmap,
        signed_in: user.is_some(),
        enrolled,
        stages,
        next,
        notice: match query.done.as_deref() {
            Some("started") => Some("You started this roadmap. Open a stage and mark skills as you go."),
            Some("reset") => Some("The roadmap was reset. Your history still lists every earlier change."),
            _ => None,
        },
    })
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
