//! Pages anyone can read: the roadmap list, a roadmap, and a stage with its skills.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;

use super::{Layout, render};
use crate::app::AppState;
use crate::auth::MaybeUser;
use crate::content::Catalog;
use crate::content::catalog::{Roadmap, Stage};
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/roadmaps/{roadmap}", get(roadmap))
        .route("/roadmaps/{roadmap}/{stage}", get(stage))
}

#[derive(Template)]
#[template(path = "public/home.html")]
struct HomePage {
    layout: Layout,
    catalog: Arc<Catalog>,
}

async fn home(State(state): State<AppState>, MaybeUser(user): MaybeUser) -> Result<Html<String>, AppError> {
    render(&HomePage {
        layout: Layout::new(&state, user.as_ref(), "Roadmaps"),
        catalog: state.catalog.load_full(),
    })
}

#[derive(Template)]
#[template(path = "public/roadmap.html")]
struct RoadmapPage<'a> {
    layout: Layout,
    roadmap: &'a Roadmap,
}

async fn roadmap(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(roadmap_id): Path<String>,
) -> Result<Html<String>, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    render(&RoadmapPage {
        layout: Layout::new(&state, user.as_ref(), roadmap.title.as_str()),
        roadmap,
    })
}

#[derive(Template)]
#[template(path = "public/stage.html")]
struct StagePage<'a> {
    layout: Layout,
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    /// 1-based position of the stage in its roadmap.
    number: usize,
    previous: Option<&'a Stage>,
    next: Option<&'a Stage>,
}

async fn stage(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((roadmap_id, stage_id)): Path<(String, String)>,
) -> Result<Html<String>, AppError> {
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    let (index, stage) = roadmap.stage(&stage_id).ok_or(AppError::NotFound)?;
    render(&StagePage {
        layout: Layout::new(
            &state,
            user.as_ref(),
            format!("{} · {}", stage.title, roadmap.title),
        ),
        roadmap,
        stage,
        number: index + 1,
        previous: index.checked_sub(1).and_then(|i| roadmap.stages.get(i)),
        next: roadmap.stages.get(index + 1),
    })
}
