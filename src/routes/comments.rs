//! Comment threads on a mentee's skills: posting (the mentee or their mentors), editing within 15 minutes, deleting.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;

use super::{Layout, render};
use crate::app::AppState;
use crate::auth::SignedIn;
use crate::db::comments::{self, EDIT_MINUTES};
use crate::db::mentorships;
use crate::db::throttle;
use crate::db::users::{self, User};
use crate::error::AppError;
use crate::notify::{self, Notice};
use crate::pages::skill::back_to;
use crate::routes::form::Form;

pub const MAX_COMMENT_CHARS: usize = 5_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/threads/{username}/{skill}/comments", post(add))
        .route("/comments/{id}/edit", post(edit))
        .route("/comments/{id}/delete", post(delete))
}

#[derive(Template)]
#[template(path = "mentoring/review_answered.html")]
struct MessagePage {
    layout: Layout,
    message: String,
    back: String,
}

/// The thread's page for the viewer: their own skill page, or the mentor's view of it.
fn back_url(state: &AppState, viewer: &User, mentee: &User, skill_id: &str) -> String {
    let catalog = state.catalog.load();
    let Some((roadmap, stage, skill)) = catalog.skill(skill_id) else {
        return "/".into();
    };
    if viewer.id == mentee.id {
        back_to(roadmap, stage, skill, "skill")
    } else {
        format!(
            "/mentees/{}/{}/{}/{}",
            mentee.username, roadmap.id, stage.id, skill_id
        )
    }
}

/// The mentee, if `viewer` is them or an active mentor covering the skill's roadmap.
async fn thread_access(
    state: &AppState,
    viewer: &User,
    mentee_id: i64,
    skill_id: &str,
) -> Result<User, AppError> {
    let mentee = users::by_id(&state.db, mentee_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if viewer.id == mentee.id {
        return Ok(mentee);
    }
    let listed_in = state.catalog.load().roadmaps_of(skill_id);
    if listed_in.is_empty() {
        return Err(AppError::NotFound);
    }
    match mentorships::active_scope(&state.db, viewer.id, mentee.id).await? {
        Some(scope) if scope.covers_any(&listed_in) => Ok(mentee),
        _ => Err(AppError::NotFound),
    }
}

fn message(
    state: &AppState,
    viewer: &User,
    status: StatusCode,
    message: &str,
    back: String,
) -> Result<Response, AppError> {
    let page = MessagePage {
        layout: Layout::new(state, Some(viewer), "Comment"),
        message: message.to_string(),
        back,
    };
    Ok((status, render(&page)?).into_response())
}

#[derive(Deserialize)]
struct CommentForm {
    #[serde(default)]
    body: String,
    #[serde(default, rename = "ref")]
    reference: String,
}

async fn add(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((username, skill_id)): Path<(String, String)>,
    Form(form): Form<CommentForm>,
) -> Result<Response, AppError> {
    let owner = users::by_username(&state.db, &username)
        .await?
        .ok_or(AppError::NotFound)?;
    let mentee = thread_access(&state, &user, owner.id, &skill_id).await?;
    let back = back_url(&state, &user, &mentee, &skill_id);
    let body = form.body.trim();
    if body.is_empty() || body.chars().count() > MAX_COMMENT_CHARS {
        let text = format!("Write a comment of 1 to {MAX_COMMENT_CHARS} characters.");
        return message(&state, &user, StatusCode::UNPROCESSABLE_ENTITY, &text, back);
    }
    let per_minute = state.settings.comments_per_minute;
    if let Some(wait) = throttle::take(&state.db, "comment", &user.id.to_string(), per_minute, 60.0).await? {
        let text = format!(
            "You are commenting faster than Pathway allows ({per_minute} a minute). Try again in {}.",
            throttle::wait_text(wait)
        );
        return message(&state, &user, StatusCode::TOO_MANY_REQUESTS, &text, back);
    }
    let (review, evidence) = match form.reference.split_once(':') {
        Some(("review", id)) => (id.parse().ok(), None),
        Some(("evidence", id)) => (None, id.parse().ok()),
        _ => (None, None),
    };
    comments::add(&state.db, mentee.id, &skill_id, user.id, body, review, evidence).await?;

    // Everyone taking part: the learner and their mentors on this roadmap.
    let catalog = state.catalog.load();
    if let Some((roadmap, stage, skill)) = catalog.skill(&skill_id) {
        let mut recipients =
            mentorships::mentors_for(&state.db, mentee.id, &catalog.roadmaps_of(&skill.id)).await?;
        recipients.push(mentee.id);
        let notice = Notice {
            actor_id: Some(user.id),
            kind: "comment",
            summary: format!("{} commented on “{}”", user.display_name, skill.title),
            target_url: String::new(),
            recipients: Vec::new(),
        };
        for recipient in recipients {
            let target_url = if recipient == mentee.id {
                format!("/roadmaps/{}/{}/{}", roadmap.id, stage.id, skill.id)
            } else {
                format!(
                    "/mentees/{}/{}/{}#{}",
                    mentee.username, roadmap.id, stage.id, skill.id
                )
            };
            let notice = Notice {
                recipients: vec![recipient],
                target_url,
                ..notice.clone()
            };
            if let Err(error) = notify::send(state.notifier.as_ref(), notice).await {
                tracing::error!(%error, "could not deliver a notification");
            }
        }
    }
    Ok(Redirect::to(&back).into_response())
}

#[derive(Deserialize)]
struct EditForm {
    #[serde(default)]
    body: String,
}

async fn edit(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    Form(form): Form<EditForm>,
) -> Result<Response, AppError> {
    let (mentee_id, skill_id, author, editable, deleted) =
        comments::locate(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if author != Some(user.id) || deleted {
        return Err(AppError::NotFound);
    }
    let mentee = thread_access(&state, &user, mentee_id, &skill_id).await?;
    let back = back_url(&state, &user, &mentee, &skill_id);
    let body = form.body.trim();
    if !editable {
        let text = format!(
            "Comments can be edited for {EDIT_MINUTES} minutes after posting; this one can only be deleted now."
        );
        return message(&state, &user, StatusCode::CONFLICT, &text, back);
    }
    if body.is_empty() || body.chars().count() > MAX_COMMENT_CHARS {
        let text = format!("Write a comment of 1 to {MAX_COMMENT_CHARS} characters.");
        return message(&state, &user, StatusCode::UNPROCESSABLE_ENTITY, &text, back);
    }
    comments::edit(&state.db, id, user.id, body).await?;
    Ok(Redirect::to(&back).into_response())
}

async fn delete(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let (mentee_id, skill_id, author, _, deleted) =
        comments::locate(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if author != Some(user.id) || deleted {
        return Err(AppError::NotFound);
    }
    let mentee = users::by_id(&state.db, mentee_id)
        .await?
        .ok_or(AppError::NotFound)?;
    comments::delete(&state.db, id, user.id).await?;
    Ok(Redirect::to(&back_url(&state, &user, &mentee, &skill_id)).into_response())
}
