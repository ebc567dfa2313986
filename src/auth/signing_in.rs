//! Finishing a sign-in: the device cookie, the page to return to, and a sign-in waiting for its second factor.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{session_error, token};
use crate::app::AppState;
use crate::db::throttle;
use crate::db::users::{self, User};
use crate::error::AppError;

/// The cookie that marks a browser as one that signed in to an account
/// before; a lock-out triggered by someone else never applies to it.
const DEVICE_COOKIE: &str = "pathway_device";
const DEVICE_COOKIE_DAYS: i64 = 180;

/// Where people land after signing in or up.
const HOME_AFTER_SIGN_IN: &str = "/dashboard";

/// Where to go after signing in or up: the page that asked for it, else the dashboard.
pub fn after_sign_in(next: &str) -> String {
    super::return_path(next).unwrap_or_else(|| HOME_AFTER_SIGN_IN.to_string())
}

/// Signs `user` in (their password, and any second factor, checked), trusts this
/// browser for the sign-in throttle, and goes on to `next` or the dashboard.
pub async fn finish(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    user: &User,
    next: &str,
) -> Result<Response, AppError> {
    super::sign_in(session, user).await?;
    // Keep the browser's device token when it is this account's; otherwise issue one.
    let token = match device_cookie(headers) {
        Some(token) if throttle::device_owner(&state.db, &token::hash(&token)).await? == Some(user.id) => {
            token
        }
        _ => token::generate(),
    };
    throttle::trust_device(&state.db, &token::hash(&token), user.id).await?;
    let mut response = Redirect::to(&after_sign_in(next)).into_response();
    let cookie = tower_sessions::cookie::Cookie::build((DEVICE_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(tower_sessions::cookie::SameSite::Lax)
        .secure(state.settings.secure_cookies)
        .max_age(time::Duration::days(DEVICE_COOKIE_DAYS))
        .build();
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// The device token the browser sent, if any.
pub fn device_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(tower_sessions::cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == DEVICE_COOKIE)
        .map(|cookie| cookie.value().to_string())
        .filter(|token| token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The session key of a sign-in waiting for its second factor.
const PENDING_KEY: &str = "two_factor_pending";
/// How long the code page waits after the password.
const PENDING_SECS: i64 = 5 * 60;

/// A sign-in whose password was right, waiting for its second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub user_id: i64,
    /// `users.session_epoch` then: a password change meanwhile voids it.
    pub epoch: i32,
    /// Unix seconds.
    pub expires_at: i64,
    /// Where to go afterwards (already checked to be a local path, or empty).
    pub next: String,
}

/// Called once the password is right for an account with two-factor sign-in on:
/// remembers the half-done sign-in in the session and sends the browser to the code page.
pub async fn ask_for_code(session: &Session, user: &User, next: &str) -> Result<Response, AppError> {
    // Whatever this session was signed in as before, it is not any more.
    session
        .remove_value(super::SESSION_KEY)
        .await
        .map_err(session_error)?;
    session.cycle_id().await.map_err(session_error)?;
    let pending = Pending {
        user_id: user.id,
        epoch: user.session_epoch,
        expires_at: time::OffsetDateTime::now_utc().unix_timestamp() + PENDING_SECS,
        next: super::return_path(next).unwrap_or_default(),
    };
    session
        .insert(PENDING_KEY, pending)
        .await
        .map_err(session_error)?;
    Ok(Redirect::to("/signin/two-factor").into_response())
}

/// The waiting sign-in and its user, if it has not expired and still holds.
pub async fn pending(state: &AppState, session: &Session) -> Result<Option<(Pending, User)>, AppError> {
    let Some(pending) = session.get::<Pending>(PENDING_KEY).await.map_err(session_error)? else {
        return Ok(None);
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let user = if pending.expires_at > now {
        users::by_id(&state.db, pending.user_id)
            .await?
            .filter(|u| u.session_epoch == pending.epoch && !u.disabled)
    } else {
        None
    };
    match user {
        Some(user) => Ok(Some((pending, user))),
        None => {
            session.remove_value(PENDING_KEY).await.map_err(session_error)?;
            Ok(None)
        }
    }
}

/// The second factor checked: the waiting sign-in is done.
pub async fn finish_pending(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    pending: &Pending,
    user: &User,
) -> Result<Response, AppError> {
    session.remove_value(PENDING_KEY).await.map_err(session_error)?;
    finish(state, session, headers, user, &pending.next).await
}
