//! A learner's note and evidence links on each skill: save, share toggle, add and remove links.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;

use super::render;
use crate::app::AppState;
use crate::auth::SignedIn;
use crate::content::catalog::{Skill, place_of};
use crate::db::notes;
use crate::error::AppError;
use crate::notes::{MAX_NOTE_CHARS, MAX_TITLE_CHARS, evidence_url_problem};
use crate::pages::skill::{WorkspaceEdit, back_to, render_skill_with};
use crate::pages::workspace::{Workspace, workspaces};
use crate::routes::form::Form;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/skills/{skill}/note", post(save_note))
        .route("/skills/{skill}/evidence", post(add_evidence))
        .route("/evidence/{id}/delete", post(delete_evidence))
}

#[derive(Template)]
#[template(path = "progress/_skill_workspace.html")]
struct WorkspaceFragment {
    w: Workspace,
}

/// Answers a workspace change: the fragment for JavaScript, or the stage page.
async fn respond(
    state: &AppState,
    user: &crate::db::users::User,
    skill: &Skill,
    at: &str,
    headers: &HeaderMap,
    edit: impl FnOnce(&mut Workspace) + Send + 'static,
    status: StatusCode,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    // An included skill's forms send its place, so the answer is the page they were on.
    let (roadmap, stage, skill) = catalog
        .skill_at(&skill.id, place_of(at))
        .or_else(|| catalog.skill(&skill.id))
        .ok_or(AppError::NotFound)?;
    if headers.get("x-pathway-fragment").is_some_and(|v| v == "1") {
        let mut all = workspaces(state, user.id, std::slice::from_ref(skill)).await?;
        let mut w = all.remove(&skill.id).ok_or(AppError::NotFound)?;
        edit(&mut w);
        return Ok((status, render(&WorkspaceFragment { w })?).into_response());
    }
    // Notes and evidence live on the skill's own page.
    if status.is_success() {
        return Ok(Redirect::to(&back_to(roadmap, stage, skill, "skill")).into_response());
    }
    let edit: WorkspaceEdit = (skill.id.clone(), Box::new(edit));
    render_skill_with(
        state,
        Some(user),
        &roadmap.id,
        &stage.id,
        &skill.id,
        None,
        None,
        Some(edit),
        status,
    )
    .await
}

#[derive(Deserialize)]
struct NoteForm {
    /// Where an included skill's form was shown ("roadmap/stage").
    #[serde(default)]
    at: String,
    #[serde(default)]
    body: String,
    /// A checkbox: present when ticked.
    shared: Option<String>,
}

async fn save_note(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(skill_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<NoteForm>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (_, _, skill) = catalog.skill(&skill_id).ok_or(AppError::NotFound)?;
    let shared = form.shared.is_some();
    if form.body.chars().count() > MAX_NOTE_CHARS {
        let body = form.body.clone();
        return respond(
            &state,
            &user,
            skill,
            &form.at,
            &headers,
            move |w| {
                w.note_md = body;
                w.shared = shared;
                w.note_error = Some(format!(
                    "Notes can be at most {MAX_NOTE_CHARS} characters; this one was not saved."
                ));
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    notes::save_note(&state.db, user.id, &skill.id, &form.body, shared).await?;
    respond(
        &state,
        &user,
        skill,
        &form.at,
        &headers,
        |w| w.saved = Some("Note saved."),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct EvidenceForm {
    #[serde(default)]
    at: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    title: String,
}

async fn add_evidence(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(skill_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<EvidenceForm>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (_, _, skill) = catalog.skill(&skill_id).ok_or(AppError::NotFound)?;
    let url = form.url.trim().to_string();
    let mut title = form.title.trim().to_string();
    let mut problem = evidence_url_problem(&url);
    if problem.is_none() && title.is_empty() {
        title = url::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
    }
    if problem.is_none() && title.chars().count() > MAX_TITLE_CHARS {
        problem = Some(format!("Use a title of at most {MAX_TITLE_CHARS} characters."));
    }
    if problem.is_none()
        && notes::add_evidence(&state.db, user.id, &skill.id, &url, &title)
            .await?
            .is_none()
    {
        problem = Some(format!(
            "A skill can have at most {} links. Remove one before adding another.",
            notes::MAX_EVIDENCE_PER_SKILL
        ));
    }
    if let Some(problem) = problem {
        let (url, title) = (form.url.clone(), form.title.clone());
        return respond(
            &state,
            &user,
            skill,
            &form.at,
            &headers,
            move |w| {
                w.evidence_url = url;
                w.evidence_title = title;
                w.evidence_error = Some(problem);
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    respond(
        &state,
        &user,
        skill,
        &form.at,
        &headers,
        |w| w.saved = Some("Link added."),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct PlaceForm {
    #[serde(default)]
    at: String,
}

async fn delete_evidence(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(form): Form<PlaceForm>,
) -> Result<Response, AppError> {
    // Someone else's link is "not found": its existence is not revealed.
    let skill_id = notes::delete_evidence(&state.db, user.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let catalog = state.catalog.load();
    match catalog.skill(&skill_id) {
        Some((_, _, skill)) => {
            respond(
                &state,
                &user,
                skill,
                &form.at,
                &headers,
                |w| w.saved = Some("Link removed."),
                StatusCode::OK,
            )
            .await
        }
        None => Ok(Redirect::to("/dashboard").into_response()),
    }
}
