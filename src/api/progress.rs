//! The caller's own progress over the API: read it, and change a skill's state through the pages' own code path.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{ApiError, ApiJson, ApiPath, ApiQuery, Caller, PageQuery, split_page};
use crate::app::AppState;
use crate::db::progress::Change;
use crate::progress::SkillState;

/// A skill's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    NotStarted,
    InProgress,
    Done,
    Skipped,
}

impl From<StateName> for SkillState {
    fn from(state: StateName) -> Self {
        match state {
            StateName::NotStarted => Self::NotStarted,
            StateName::InProgress => Self::InProgress,
            StateName::Done => Self::Done,
            StateName::Skipped => Self::Skipped,
        }
    }
}

impl From<SkillState> for StateName {
    fn from(state: SkillState) -> Self {
        match state {
            SkillState::NotStarted => Self::NotStarted,
            SkillState::InProgress => Self::InProgress,
            SkillState::Done => Self::Done,
            SkillState::Skipped => Self::Skipped,
        }
    }
}

/// One skill's progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgressOut {
    pub skill_id: String,
    #[schema(value_type = String, example = "done")]
    pub state: String,
    /// Send it back when changing the state: a change made from an older version is refused (409).
    pub version: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<OffsetDateTime>,
    /// A mentor verified it.
    pub verified: bool,
}

impl From<crate::db::tokens::ProgressItem> for ProgressOut {
    fn from(row: crate::db::tokens::ProgressItem) -> Self {
        Self {
            skill_id: row.skill_id,
            state: row.state,
            version: row.version,
            started_at: row.started_at,
            done_at: row.done_at,
            updated_at: Some(row.updated_at),
            verified: row.verified_at.is_some(),
        }
    }
}

impl ProgressOut {
    pub fn from_row(skill_id: &str, row: Option<&crate::db::progress::ProgressRow>) -> Self {
        match row {
            Some(row) => Self {
                skill_id: skill_id.to_string(),
                state: row.state.as_str().to_string(),
                version: row.version,
                started_at: row.started_at,
                done_at: row.done_at,
                updated_at: Some(row.updated_at),
                verified: row.verified_at.is_some(),
            },
            None => Self {
                skill_id: skill_id.to_string(),
                state: SkillState::NotStarted.as_str().to_string(),
                version: 0,
                started_at: None,
                done_at: None,
                updated_at: None,
                verified: false,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressList {
    /// Skills with any progress, by skill id.
    pub items: Vec<ProgressOut>,
    pub next_cursor: Option<String>,
}

/// The caller's progress on every skill they have touched, by skill id.
#[utoipa::path(get, path = "/api/v1/progress", operation_id = "list_progress", tag = "progress", params(PageQuery),
    security(("token" = ["read:progress"])),
    responses(
        (status = 200, description = "A page of progress", body = ProgressList),
        (status = 400, description = "A bad cursor or limit", body = super::ErrorBody),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks read:progress (insufficient_scope)", body = super::ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = super::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ProgressList>, ApiError> {
    caller.require("read:progress")?;
    let limit = query.limit()?;
    let after = query.after()?;
    let rows =
        crate::db::tokens::progress_page(&state.db, caller.user.id, after.as_deref(), limit + 1).await?;
    let (rows, next_cursor) = split_page(rows, limit, |r| r.skill_id.clone());
    Ok(Json(ProgressList {
        items: rows.into_iter().map(ProgressOut::from).collect(),
        next_cursor,
    }))
}

/// The caller's progress on one skill (not started, version 0, when untouched).
#[utoipa::path(get, path = "/api/v1/progress/{skill}", operation_id = "get_progress", tag = "progress",
    params(("skill" = String, Path, description = "The skill's id")),
    security(("token" = ["read:progress"])),
    responses(
        (status = 200, description = "The skill's progress", body = ProgressOut),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks read:progress", body = super::ErrorBody),
        (status = 404, description = "No such skill", body = super::ErrorBody),
    ))]
pub async fn one(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(skill_id): ApiPath<String>,
) -> Result<Json<ProgressOut>, ApiError> {
    caller.require("read:progress")?;
    let skill = state
        .catalog
        .load()
        .skill(&skill_id)
        .map(|(_, _, k)| k.id.clone());
    let skill = skill.ok_or_else(ApiError::not_found)?;
    let map =
        crate::db::progress::for_skills(&state.db, caller.user.id, std::slice::from_ref(&skill)).await?;
    Ok(Json(ProgressOut::from_row(&skill, map.get(&skill))))
}

/// A change of one skill's state.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetProgress {
    pub state: StateName,
    /// The version the change is based on (from a read); omit it to change whatever the
    /// current state is.
    pub version: Option<i32>,
}

/// What a change did, and the skill's progress after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressChange {
    /// False when the skill already had that state.
    pub changed: bool,
    pub progress: ProgressOut,
}

/// Sets a skill's state as ticking it on its page does: the same code starts the skill's
/// roadmap, records the event and updates the tallies.
#[utoipa::path(put, path = "/api/v1/progress/{skill}", operation_id = "set_progress", tag = "progress",
    params(("skill" = String, Path, description = "The skill's id")),
    request_body = SetProgress,
    security(("token" = ["write:progress"])),
    responses(
        (status = 200, description = "Changed, or already so", body = ProgressChange),
        (status = 400, description = "A body that is not JSON", body = super::ErrorBody),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks write:progress", body = super::ErrorBody),
        (status = 404, description = "No such skill", body = super::ErrorBody),
        (status = 409, description = "Changed since `version` (version_conflict)", body = super::ErrorBody),
        (status = 422, description = "An unknown state or field", body = super::ErrorBody),
    ))]
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(skill_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetProgress>,
) -> Result<Json<ProgressChange>, ApiError> {
    caller.require("write:progress")?;
    let catalog = state.catalog.load();
    let (roadmap, _, skill) = catalog.skill(&skill_id).ok_or_else(ApiError::not_found)?;
    let ids = [skill.id.clone()];
    let version = match body.version {
        Some(version) => version,
        None => crate::db::progress::for_skills(&state.db, caller.user.id, &ids)
            .await?
            .get(&skill.id)
            .map_or(0, |row| row.version),
    };
    let to = SkillState::from(body.state);
    let change =
        crate::actions::change_state(&state, caller.user.id, &roadmap.id, &skill.id, to, version).await?;
    if let Change::Stale { current } = change {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "version_conflict",
            format!(
                "The skill changed since version {version} and is now {}; read it again and retry.",
                current.as_str()
            ),
        ));
    }
    let map = crate::db::progress::for_skills(&state.db, caller.user.id, &ids).await?;
    Ok(Json(ProgressChange {
        changed: matches!(change, Change::Applied { .. }),
        progress: ProgressOut::from_row(&skill.id, map.get(&skill.id)),
    }))
}
