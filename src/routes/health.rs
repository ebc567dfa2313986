//! `/healthz` (the process and database answer) and `/readyz` (also: content is loaded, so traffic can come).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;

use crate::app::AppState;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz(State(db): State<PgPool>) -> Result<&'static str, AppError> {
    sqlx::query!("select 1 as one")
        .fetch_one(&db)
        .await
        .map_err(AppError::Unavailable)?;
    Ok("ok")
}

/// Ready for traffic: the database answers and a content version is being served.
async fn readyz(State(state): State<AppState>) -> Result<Response, AppError> {
    sqlx::query!("select 1 as one")
        .fetch_one(&state.db)
        .await
        .map_err(AppError::Unavailable)?;
    let catalog = state.catalog.load();
    let Some(version) = &catalog.version else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            "no content is loaded yet; see /admin/content or the log for errors",
        )
            .into_response());
    };
    Ok(format!("ready: content {}", &version[..version.len().min(12)]).into_response())
}
