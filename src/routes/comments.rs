//! Comment threads on a mentee's skills: posting (the mentee or their mentors), editing within 15 minutes, deleting.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Layout, format_datetime, render};
use crate::app::AppState;
use crate::auth::SignedIn;
use crate::content::catalog::Skill;
use crate::db::comments::{self, Comment, EDIT_MINUTES};
use crate::db::notes::Evidence;
use crate::db::reviews::Review;
use crate::db::throttle;
use crate::db::users::{self, User};
use crate::db::{mentorships, notes, reviews};
use crate::error::AppError;
use crate::markdown::user_markdown_to_html;
use crate::notify::{self, Notice};
use crate::routes::form::Form;

pub const MAX_COMMENT_CHARS: usize = 5_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/threads/{username}/{skill}/comments", post(add))
        .route("/comments/{id}/edit", post(edit))
        .route("/comments/{id}/delete", post(delete))
}

pub struct CommentView {
    pub id: i64,
    pub author: String,
    pub body_md: String,
    pub body_html: String,
    pub when: String,
    pub edited: bool,
    pub deleted: bool,
    pub reference: Option<String>,
    pub can_edit: bool,
    pub can_delete: bool,
}

/// One skill's thread as a page shows it.
pub struct Thread {
    pub mentee_username: String,
    pub skill_id: String,
    pub skill_title: String,
    pub comments: Vec<CommentView>,
    /// What a new comment may refer to: (form value, label).
    pub refs: Vec<(String, String)>,
}

/// Threads for `skills`, seen by `viewer_id`; built from rows loaded once per page.
pub fn threads(
    skills: &[Skill],
    mentee_username: &str,
    viewer_id: i64,
    comments: &[Comment],
    skill_reviews: &[Review],
    evidence: &[Evidence],
) -> HashMap<String, Thread> {
    let edit_window = OffsetDateTime::now_utc() - time::Duration::minutes(EDIT_MINUTES);
    skills
        .iter()
        .map(|skill| {
            let comments = comments
                .iter()
                .filter(|c| c.skill_id == skill.id)
                .map(|c| {
                    let mine = c.author_id == Some(viewer_id) && !c.deleted;
                    CommentView {
                        id: c.id,
                        author: c
                            .author_name
                            .clone()
                            .unwrap_or_else(|| "A deleted account".into()),
                        body_md: c.body_md.clone(),
                        body_html: user_markdown_to_html(&c.body_md),
                        when: format_datetime(c.created_at),
                        edited: c.edited_at.is_some(),
                        deleted: c.deleted,
                        reference: c
                            .review_request_id
                            .and_then(|id| skill_reviews.iter().find(|r| r.id == id))
                            .map(|r| format!("the review request of {}", super::format_date(r.requested_at)))
                            .or_else(|| c.evidence_title.clone().map(|t| format!("evidence “{t}”"))),
                        can_edit: mine && c.created_at > edit_window,
                        can_delete: mine,
                    }
                })
                .collect();
            let refs = skill_reviews
                .iter()
                .filter(|r| r.skill_id == skill.id)
                .map(|r| {
                    (
                        format!("review:{}", r.id),
                        format!("Review request of {}", super::format_date(r.requested_at)),
                    )
                })
                .chain(
                    evidence
                        .iter()
                        .filter(|e| e.skill_id == skill.id)
                        .map(|e| (format!("evidence:{}", e.id), format!("Evidence: {}", e.title))),
                )
                .collect();
            (
                skill.id.clone(),
                Thread {
                    mentee_username: mentee_username.to_string(),
                    skill_id: skill.id.clone(),
                    skill_title: skill.title.clone(),
                    comments,
                    refs,
                },
            )
        })
        .collect()
}

/// Loads and builds the threads of a stage: three queries.
pub async fn load_threads(
    state: &AppState,
    mentee: &User,
    viewer_id: i64,
    skills: &[Skill],
) -> Result<HashMap<String, Thread>, AppError> {
    let ids: Vec<String> = skills.iter().map(|s| s.id.clone()).collect();
    let comments = comments::threads(&state.db, mentee.id, &ids).await?;
    let skill_reviews = reviews::for_skills(&state.db, mentee.id, &ids).await?;
    let evidence = notes::evidence(&state.db, mentee.id, &ids).await?;
    Ok(threads(
        skills,
        &mentee.username,
        viewer_id,
        &comments,
        &skill_reviews,
        &evidence,
    ))
}

#[derive(Template)]
#[template(path = "mentoring/review_answered.html")]
struct MessagePage {
    layout: Layout,
    message: String,
    back: String,
}

/// The thread's page for the viewer: their own stage page, or the mentor's view of it.
fn back_url(state: &AppState, viewer: &User, mentee: &User, skill_id: &str) -> String {
    let catalog = state.catalog.load();
    let Some((roadmap, stage, skill)) = catalog.skill(skill_id) else {
        return "/".into();
    };
    if viewer.id == mentee.id {
        super::public::back_to(roadmap, stage, skill, "skill")
    } else {
        format!(
            "/mentees/{}/{}/{}#{}",
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
    let roadmap_id = state
        .catalog
        .load()
        .skill(skill_id)
        .map(|(r, _, _)| r.id.clone())
        .ok_or(AppError::NotFound)?;
    match mentorships::active_scope(&state.db, viewer.id, mentee.id).await? {
        Some(scope) if scope.covers(&roadmap_id) => Ok(mentee),
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
        let mut recipients = mentorships::mentors_for(&state.db, mentee.id, &roadmap.id).await?;
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
