//! Mentoring and teams over the API: mentees and their progress, the review queue and verdicts, the caller's teams.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::progress::ProgressOut;
use super::{ApiError, ApiJson, ApiPath, ApiQuery, Caller, PageQuery, cursor, page_in_memory, split_page};
use crate::app::AppState;
use crate::db::{mentorships, reviews, teams, users};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MenteeOut {
    pub username: String,
    pub display_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MenteeList {
    pub items: Vec<MenteeOut>,
    pub next_cursor: Option<String>,
}

/// The people the caller mentors: by an active mentor link, or as a team's mentor or lead.
#[utoipa::path(get, path = "/api/v1/mentees", operation_id = "list_mentees", tag = "mentoring", params(PageQuery),
    security(("token" = ["mentor:read"])),
    responses(
        (status = 200, description = "A page of mentees", body = MenteeList),
        (status = 400, description = "A bad cursor or limit", body = super::ErrorBody),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks mentor:read", body = super::ErrorBody),
    ))]
pub async fn mentees(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<MenteeList>, ApiError> {
    caller.require("mentor:read")?;
    let limit = query.limit()?;
    let after = query.after_number()?;
    let rows = crate::db::tokens::mentees_page(&state.db, caller.user.id, after, limit + 1).await?;
    let (rows, next_cursor) = split_page(rows, limit, |m| m.id.to_string());
    Ok(Json(MenteeList {
        items: rows
            .into_iter()
            .map(|m| MenteeOut {
                username: m.username,
                display_name: m.display_name,
            })
            .collect(),
        next_cursor,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MenteeProgress {
    pub mentee: MenteeOut,
    /// Skills with progress on the roadmaps the caller reaches, by skill id.
    pub items: Vec<ProgressOut>,
    pub next_cursor: Option<String>,
}

/// A mentee's progress on the roadmaps the caller's link or team covers. Anyone the caller
/// does not mentor is not found.
#[utoipa::path(get, path = "/api/v1/mentees/{username}/progress", operation_id = "get_mentee_progress", tag = "mentoring",
    params(("username" = String, Path, description = "The mentee's username"), PageQuery),
    security(("token" = ["mentor:read"])),
    responses(
        (status = 200, description = "A page of the mentee's progress", body = MenteeProgress),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks mentor:read", body = super::ErrorBody),
        (status = 404, description = "Not a mentee of the caller", body = super::ErrorBody),
    ))]
pub async fn mentee_progress(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(username): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<MenteeProgress>, ApiError> {
    caller.require("mentor:read")?;
    let mentee = users::by_username(&state.db, &username)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let scope = mentorships::active_scope(&state.db, caller.user.id, mentee.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let map = crate::db::progress::for_user(&state.db, mentee.id).await?;
    let catalog = state.catalog.load();
    let mut rows: Vec<ProgressOut> = map
        .0
        .values()
        .filter(|row| scope.covers_any(&catalog.roadmaps_of(&row.skill_id)))
        .map(|row| ProgressOut::from_row(&row.skill_id, Some(row)))
        .collect();
    rows.sort_by(|a, b| a.skill_id.cmp(&b.skill_id));
    let (items, next_cursor) = page_in_memory(&rows, &query, |r| r.skill_id.clone())?;
    Ok(Json(MenteeProgress {
        mentee: MenteeOut {
            username: mentee.username,
            display_name: mentee.display_name,
        },
        items,
        next_cursor,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewOut {
    pub id: i64,
    pub mentee: MenteeOut,
    pub skill_id: String,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: OffsetDateTime,
    /// Another mentor working on it until `claimed_until`, if any.
    pub claimed_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewList {
    /// Oldest first.
    pub items: Vec<ReviewOut>,
    /// Waiting in all.
    pub total: i64,
    pub next_cursor: Option<String>,
}

/// The review requests waiting for the caller, oldest first (the pages' review queue).
#[utoipa::path(get, path = "/api/v1/reviews", operation_id = "list_reviews", tag = "mentoring", params(PageQuery),
    security(("token" = ["mentor:read"])),
    responses(
        (status = 200, description = "A page of the queue", body = ReviewList),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks mentor:read", body = super::ErrorBody),
    ))]
pub async fn reviews(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ReviewList>, ApiError> {
    caller.require("mentor:read")?;
    let limit = query.limit()?;
    // The queue is ordered by waiting time, not id: the cursor is a position in it.
    let offset = query.after_number()?.unwrap_or(0).max(0);
    let (queued, total) = reviews::queue(&state.db, caller.user.id, None, None, limit, offset).await?;
    let end = offset + queued.len() as i64;
    let next_cursor = (end < total).then(|| cursor(&end.to_string()));
    Ok(Json(ReviewList {
        items: queued
            .into_iter()
            .map(|q| ReviewOut {
                id: q.id,
                mentee: MenteeOut {
                    username: q.username,
                    display_name: q.display_name,
                },
                skill_id: q.skill_id,
                message: q.message,
                requested_at: q.requested_at,
                claimed_by: q.claim.map(|(_, name, _)| name),
            })
            .collect(),
        total,
        next_cursor,
    }))
}

/// A verdict's comment.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictBody {
    /// Optional when verifying; required when requesting changes.
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictOut {
    pub id: i64,
    /// `verified` or `changes_requested`.
    pub status: String,
    pub skill_id: String,
    pub answer: Option<String>,
}

async fn verdict(
    state: &AppState,
    caller: &Caller,
    id: i64,
    verify: bool,
    message: &str,
) -> Result<Json<VerdictOut>, ApiError> {
    caller.require("mentor:review")?;
    let (_, _, roadmap_id, stage_id) = crate::actions::reviewable(state, &caller.user, id).await?;
    let comment: String = message
        .trim()
        .chars()
        .take(crate::actions::MAX_REVIEW_TEXT)
        .collect();
    if !verify && comment.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "Say what to change: a message is needed when you request changes.",
        ));
    }
    match crate::actions::record_verdict(
        state,
        &caller.user,
        id,
        verify,
        &comment,
        (&roadmap_id, &stage_id),
    )
    .await?
    {
        Ok(review) => Ok(Json(VerdictOut {
            id: review.id,
            status: review.status,
            skill_id: review.skill_id,
            answer: review.answer,
        })),
        Err(message) => Err(ApiError::new(StatusCode::CONFLICT, "conflict", message)),
    }
}

/// Verifies the skill of a waiting request (the first verdict wins).
#[utoipa::path(post, path = "/api/v1/reviews/{id}/verify", operation_id = "verify_review", tag = "mentoring",
    params(("id" = i64, Path, description = "The review request's id")),
    request_body(content = VerdictBody, description = "An optional comment"),
    security(("token" = ["mentor:review"])),
    responses(
        (status = 200, description = "Verified", body = VerdictOut),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks mentor:review", body = super::ErrorBody),
        (status = 404, description = "No such request the caller may answer", body = super::ErrorBody),
        (status = 409, description = "Already answered, withdrawn, or claimed by another mentor", body = super::ErrorBody),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<VerdictBody>,
) -> Result<Json<VerdictOut>, ApiError> {
    verdict(&state, &caller, id, true, &body.message).await
}

/// Requests changes on a waiting request: the skill goes back to in progress.
#[utoipa::path(post, path = "/api/v1/reviews/{id}/changes", operation_id = "request_review_changes", tag = "mentoring",
    params(("id" = i64, Path, description = "The review request's id")),
    request_body(content = VerdictBody, description = "What to change (required)"),
    security(("token" = ["mentor:review"])),
    responses(
        (status = 200, description = "Changes requested", body = VerdictOut),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks mentor:review", body = super::ErrorBody),
        (status = 404, description = "No such request the caller may answer", body = super::ErrorBody),
        (status = 409, description = "Already answered, withdrawn, or claimed by another mentor", body = super::ErrorBody),
        (status = 422, description = "No message", body = super::ErrorBody),
    ))]
pub async fn request_changes(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<VerdictBody>,
) -> Result<Json<VerdictOut>, ApiError> {
    verdict(&state, &caller, id, false, &body.message).await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamOut {
    pub slug: String,
    pub name: String,
    pub members: i64,
    /// The caller's role: `learner`, `mentor` or `lead`.
    pub role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    pub items: Vec<TeamOut>,
    pub next_cursor: Option<String>,
}

/// The teams the caller is in, by name.
#[utoipa::path(get, path = "/api/v1/teams", operation_id = "list_teams", tag = "teams", params(PageQuery),
    security(("token" = ["read:progress"])),
    responses(
        (status = 200, description = "A page of teams", body = TeamList),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks read:progress", body = super::ErrorBody),
    ))]
pub async fn teams(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<TeamList>, ApiError> {
    caller.require("read:progress")?;
    let all: Vec<TeamOut> = teams::list(&state.db, caller.user.id, false)
        .await?
        .into_iter()
        .map(|t| TeamOut {
            slug: t.slug,
            name: t.name,
            members: t.members,
            role: t.role,
        })
        .collect();
    let (items, next_cursor) = page_in_memory(&all, &query, |t| t.slug.clone())?;
    Ok(Json(TeamList { items, next_cursor }))
}

/// One learner's counts on one stage of one of the team's roadmaps.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamProgressRow {
    pub username: String,
    pub display_name: String,
    pub roadmap_id: String,
    /// Null for a learner with nothing on the roadmap yet.
    pub stage_id: Option<String>,
    pub done: i64,
    pub optional_done: i64,
    pub in_progress: i64,
    pub skipped: i64,
    pub verified: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamProgress {
    pub slug: String,
    pub name: String,
    /// The team's assigned roadmaps.
    pub roadmaps: Vec<String>,
    /// By learner, roadmap and stage.
    pub items: Vec<TeamProgressRow>,
    pub next_cursor: Option<String>,
}

/// The team's progress table, for its leads and mentors (as on the team page). A learner of
/// the team is refused (403); anyone outside it is not found.
#[utoipa::path(get, path = "/api/v1/teams/{team}/progress", operation_id = "get_team_progress", tag = "teams",
    params(("team" = String, Path, description = "The team's slug"), PageQuery),
    security(("token" = ["mentor:read"])),
    responses(
        (status = 200, description = "A page of the progress table", body = TeamProgress),
        (status = 401, description = "No valid token", body = super::ErrorBody),
        (status = 403, description = "The token lacks mentor:read, or the caller is a learner of the team", body = super::ErrorBody),
        (status = 404, description = "Not the caller's team", body = super::ErrorBody),
    ))]
pub async fn team_progress(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<TeamProgress>, ApiError> {
    caller.require("mentor:read")?;
    let team = teams::by_slug(&state.db, &slug)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // The team page's rule: admins and the team's leads and mentors see its progress.
    match teams::role_of(&state.db, team.id, caller.user.id)
        .await?
        .as_deref()
    {
        _ if caller.user.is_admin => {}
        Some("lead" | "mentor") => {}
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Only the team's leads and mentors see its progress.",
            ));
        }
        None => return Err(ApiError::not_found()),
    }
    let members = teams::members(&state.db, team.id).await?;
    let names: std::collections::HashMap<i64, &teams::Member> =
        members.iter().map(|m| (m.user_id, m)).collect();
    let mut rows: Vec<TeamProgressRow> = teams::progress(&state.db, team.id)
        .await?
        .into_iter()
        .filter_map(|c| {
            let member = names.get(&c.user_id)?;
            Some(TeamProgressRow {
                username: member.username.clone(),
                display_name: member.display_name.clone(),
                roadmap_id: c.roadmap_id,
                stage_id: c.stage_id,
                done: c.done,
                optional_done: c.optional_done,
                in_progress: c.in_progress,
                skipped: c.skipped,
                verified: c.verified,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.username, &a.roadmap_id, &a.stage_id).cmp(&(&b.username, &b.roadmap_id, &b.stage_id))
    });
    let key = |r: &TeamProgressRow| {
        format!(
            "{}\n{}\n{}",
            r.username,
            r.roadmap_id,
            r.stage_id.as_deref().unwrap_or("")
        )
    };
    let (items, next_cursor) = page_in_memory(&rows, &query, key)?;
    Ok(Json(TeamProgress {
        slug: team.slug,
        name: team.name,
        roadmaps: teams::roadmaps(&state.db, team.id).await?,
        items,
        next_cursor,
    }))
}
