//! The notifications page: open one (it marks itself read), or mark all read.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::{Layout, format_datetime, render};
use crate::app::AppState;
use crate::auth::SignedIn;
use crate::db::notifications::{self, Notification};
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list))
        .route("/notifications/{id}/open", post(open))
        .route("/notifications/read-all", post(read_all))
}

#[derive(Template)]
#[template(path = "mentoring/notifications.html")]
struct NotificationsPage {
    layout: Layout,
    items: Vec<(Notification, String)>,
}

async fn list(State(state): State<AppState>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let items = notifications::recent(&state.db, user.id, 100)
        .await?
        .into_iter()
        .map(|n| {
            let when = format_datetime(n.created_at);
            (n, when)
        })
        .collect();
    Ok(render(&NotificationsPage {
        layout: Layout::new(&state, Some(&user), "Notifications"),
        items,
    })?
    .into_response())
}

/// Marks the notification read and follows it. Targets are paths Pathway wrote itself.
async fn open(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    let target = notifications::open(&state.db, user.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !target.starts_with('/') || target.starts_with("//") {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&target))
}

async fn read_all(State(state): State<AppState>, SignedIn(user): SignedIn) -> Result<Redirect, AppError> {
    notifications::mark_all_read(&state.db, user.id).await?;
    Ok(Redirect::to("/notifications"))
}
