//! `/healthz`: 200 when the database answers.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use sqlx::PgPool;

use crate::app::AppState;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz(State(db): State<PgPool>) -> Result<&'static str, AppError> {
    sqlx::query!("select 1 as one")
        .fetch_one(&db)
        .await
        .map_err(AppError::Unavailable)?;
    Ok("ok")
}
