//! Public content over the API: roadmaps, their stages and skills, from the live catalog (no database query).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, ApiPath, ApiQuery, PageQuery, page_in_memory};
use crate::app::AppState;
use crate::content::catalog::{Roadmap, Skill, Stage};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoadmapSummary {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub stages: usize,
    /// Required and optional skills.
    pub skills: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoadmapList {
    pub items: Vec<RoadmapSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkillOut {
    pub id: String,
    pub title: String,
    pub optional: bool,
    pub project: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageOut {
    pub id: String,
    pub title: String,
    pub skills: Vec<SkillOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoadmapOut {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub stages: Vec<StageOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkillDetail {
    pub id: String,
    pub title: String,
    pub optional: bool,
    pub project: bool,
    /// Where the skill is defined.
    pub roadmap_id: String,
    pub stage_id: String,
    /// The skill's text, as sanitized HTML.
    pub body_html: String,
    /// Every roadmap that lists it (a skill can be shared).
    pub roadmaps: Vec<String>,
}

fn skill_out(skill: &Skill) -> SkillOut {
    SkillOut {
        id: skill.id.clone(),
        title: skill.title.clone(),
        optional: skill.optional,
        project: skill.project,
    }
}

fn stage_out(stage: &Stage) -> StageOut {
    StageOut {
        id: stage.id.clone(),
        title: stage.title.clone(),
        skills: stage.skills.iter().map(skill_out).collect(),
    }
}

fn summary(roadmap: &Roadmap) -> RoadmapSummary {
    RoadmapSummary {
        id: roadmap.id.clone(),
        title: roadmap.title.clone(),
        summary: roadmap.summary.clone(),
        stages: roadmap.stages.len(),
        skills: roadmap.stages.iter().map(|s| s.skills.len()).sum(),
    }
}

/// The roadmaps, in the home page's order.
#[utoipa::path(get, path = "/api/v1/roadmaps", operation_id = "list_roadmaps", tag = "content", params(PageQuery),
    responses(
        (status = 200, description = "A page of roadmaps", body = RoadmapList),
        (status = 400, description = "A bad cursor or limit", body = super::ErrorBody),
    ))]
pub async fn roadmaps(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<RoadmapList>, ApiError> {
    let catalog = state.catalog.load();
    let all: Vec<RoadmapSummary> = catalog.roadmaps.iter().map(summary).collect();
    let (items, next_cursor) = page_in_memory(&all, &query, |r| r.id.clone())?;
    Ok(Json(RoadmapList { items, next_cursor }))
}

/// One roadmap with its stages and their skills, in order.
#[utoipa::path(get, path = "/api/v1/roadmaps/{roadmap}", operation_id = "get_roadmap", tag = "content",
    params(("roadmap" = String, Path, description = "The roadmap's id")),
    responses(
        (status = 200, description = "The roadmap", body = RoadmapOut),
        (status = 404, description = "No such roadmap", body = super::ErrorBody),
    ))]
pub async fn roadmap(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RoadmapOut>, ApiError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&id).ok_or_else(ApiError::not_found)?;
    Ok(Json(RoadmapOut {
        id: roadmap.id.clone(),
        title: roadmap.title.clone(),
        summary: roadmap.summary.clone(),
        stages: roadmap.stages.iter().map(stage_out).collect(),
    }))
}

/// One skill, with its text.
#[utoipa::path(get, path = "/api/v1/skills/{skill}", operation_id = "get_skill", tag = "content",
    params(("skill" = String, Path, description = "The skill's id")),
    responses(
        (status = 200, description = "The skill", body = SkillDetail),
        (status = 404, description = "No such skill", body = super::ErrorBody),
    ))]
pub async fn skill(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SkillDetail>, ApiError> {
    let catalog = state.catalog.load();
    let (roadmap, stage, skill) = catalog.skill(&id).ok_or_else(ApiError::not_found)?;
    Ok(Json(SkillDetail {
        id: skill.id.clone(),
        title: skill.title.clone(),
        optional: skill.optional,
        project: skill.project,
        roadmap_id: roadmap.id.clone(),
        stage_id: stage.id.clone(),
        body_html: skill.body_html.clone(),
        roadmaps: catalog.roadmaps_of(&skill.id),
    }))
}
