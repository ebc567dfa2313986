//! The files of roadmaps' `assets/` folders, served from PostgreSQL under URLs that name their content.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::AppError;

/// A URL names the bytes (their SHA-256), so they never change under it.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// Opened on its own, an asset (an SVG, say) is a sandboxed document that runs no script
/// and loads nothing but itself; inline styles only style it.
const ASSET_POLICY: HeaderValue =
    HeaderValue::from_static("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox");

/// Types a browser shows in the page; anything else downloads.
fn shown_inline(content_type: &str) -> bool {
    content_type.starts_with("image/")
        || content_type.starts_with("video/")
        || content_type.starts_with("audio/")
        || content_type == "application/pdf"
        || content_type == "text/plain"
}

/// `GET /assets/{hash}/{name}`: the name is for people and downloads; the hash finds the file.
pub async fn serve(
    State(state): State<AppState>,
    Path((hash, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if hash.len() != 64
        || !hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(AppError::NotFound);
    }
    let etag = format!("\"{hash}\"");
    let etag_value = HeaderValue::from_str(&etag).map_err(|_| AppError::NotFound)?;
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    if cached {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag_value), (header::CACHE_CONTROL, IMMUTABLE)],
        )
            .into_response());
    }
    let asset = crate::db::assets::get(&state.db, &hash)
        .await?
        .ok_or(AppError::NotFound)?;
    let content_type = HeaderValue::from_str(&asset.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let safe_name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let disposition = if shown_inline(&asset.content_type) {
        "inline".to_string()
    } else {
        format!("attachment; filename=\"{safe_name}\"")
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, IMMUTABLE),
            (header::ETAG, etag_value),
            (header::CONTENT_SECURITY_POLICY, ASSET_POLICY),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        asset.bytes,
    )
        .into_response())
}
