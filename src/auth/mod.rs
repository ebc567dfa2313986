//! Who is signed in: session contents, the middleware that loads the user once per request, and extractors.

pub mod names;
pub mod password;
pub mod signing_in;
pub mod token;
pub mod totp;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::app::AppState;
use crate::db::users::{self, User};
use crate::error::AppError;

/// What a signed-in session stores.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SessionAuth {
    pub user_id: i64,
    /// Must match `users.session_epoch`; a password change bumps it.
    pub epoch: i32,
    /// When the session was last saved (Unix seconds). Saving on every request
    /// cost a write per page; the session is saved again only once this is
    /// older than [`REFRESH_FRACTION`] of the idle timeout.
    #[serde(default)]
    pub saved_at: i64,
}

impl SessionAuth {
    pub fn new(user_id: i64, epoch: i32) -> Self {
        Self {
            user_id,
            epoch,
            saved_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        }
    }
}

/// A session is re-saved (sliding its expiry) once this share of the idle
/// timeout has passed since it was last saved, so it expires after between
/// 7/8 of the idle timeout and the whole of it without activity.
pub const REFRESH_FRACTION: i64 = 8;

pub const SESSION_KEY: &str = "auth";

/// The signed-in user, if any; put in the request's extensions by [`load_user`].
#[derive(Debug, Clone, Default)]
pub struct CurrentUser(pub Option<User>);

/// Loads the session's user once per request. A session whose user is gone,
/// disabled, or signed out by a password change is emptied.
pub async fn load_user(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let user = if request.uri().path().starts_with("/static/") {
        None
    } else {
        match session_user(&state, &session).await {
            Ok(user) => user,
            Err(error) => return error.into_response(),
        }
    };
    let signed_in = user.is_some();
    let zone = user
        .as_ref()
        .map_or_else(|| state.default_zone.clone(), User::zone);
    request.extensions_mut().insert(CurrentUser(user));
    let mut response = crate::time_zones::for_viewer(zone, next.run(request)).await;
    // A signed-in page is one person's: no shared cache may keep it, nor the back-forward history after sign-out.
    if signed_in && !response.headers().contains_key(header::CACHE_CONTROL) {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    response
}

async fn session_user(state: &AppState, session: &Session) -> Result<Option<User>, AppError> {
    let Some(auth) = session
        .get::<SessionAuth>(SESSION_KEY)
        .await
        .map_err(session_error)?
    else {
        return Ok(None);
    };
    // The store loaded the user with the session (db::sessions); a session
    // saved before it did so has no user in it yet and is looked up once.
    let loaded = session
        .get::<User>(crate::db::sessions::USER_KEY)
        .await
        .map_err(session_error)?
        .filter(|user| user.id == auth.user_id);
    let older_session = loaded.is_none();
    let user = match loaded {
        Some(user) => Some(user),
        None => users::by_id(&state.db, auth.user_id)
            .await
            .map_err(AppError::Unavailable)?,
    };
    match user {
        Some(user) if user.session_epoch == auth.epoch && !user.disabled => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let refresh_after = state.settings.session_idle.whole_seconds() / REFRESH_FRACTION;
            if older_session || now - auth.saved_at >= refresh_after {
                session
                    .insert(
                        SESSION_KEY,
                        SessionAuth {
                            saved_at: now,
                            ..auth
                        },
                    )
                    .await
                    .map_err(session_error)?;
                if older_session {
                    // Written now, even within the second it was saved in, so
                    // its row learns the user and later loads need one statement.
                    session.save().await.map_err(session_error)?;
                }
            }
            Ok(Some(user))
        }
        _ => {
            session.flush().await.map_err(session_error)?;
            Ok(None)
        }
    }
}

/// The session store is the database: when it fails, say so with a 503, not a 500.
pub fn session_error(error: tower_sessions::session::Error) -> AppError {
    use tower_sessions::session::Error;
    use tower_sessions::session_store::Error as StoreError;
    match error {
        Error::Store(StoreError::Backend(detail)) => {
            tracing::warn!("session store: {detail}");
            AppError::Unavailable(sqlx::Error::Protocol(format!("session store: {detail}")))
        }
        other => AppError::Internal(anyhow::anyhow!("session store: {other}")),
    }
}

/// Starts a signed-in session under a new id, so an id planted before
/// sign-in is worthless afterwards.
pub async fn sign_in(session: &Session, user: &User) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(SESSION_KEY, SessionAuth::new(user.id, user.session_epoch))
        .await
        .map_err(session_error)
}

/// Any visitor: `MaybeUser(None)` when signed out.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<User>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts.extensions.get::<CurrentUser>().and_then(|c| c.0.clone()),
        ))
    }
}

/// A signed-in user; anyone else is sent to the sign-in page.
#[derive(Debug, Clone)]
pub struct SignedIn(pub User);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .and_then(|c| c.0.clone())
            .map(Self)
            .ok_or_else(|| AppError::SignInRequired {
                // Only a page can be returned to; a form post cannot be replayed.
                next: (parts.method == axum::http::Method::GET)
                    .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_string()))
                    .flatten()
                    .and_then(|next| return_path(&next)),
            })
    }
}

/// `next` when it is a path on this site, safe to redirect to after signing in;
/// anything else (another host, `//host`, `/\host`, a scheme, control characters, the
/// sign-in pages themselves) is dropped, so `?next=` is never an open redirect.
pub fn return_path(next: &str) -> Option<String> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2000
        // Browsers read `\` as `/`, so `/\host` would leave the site.
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    if !local {
        return None;
    }
    let uri: axum::http::Uri = next.parse().ok()?;
    if uri.scheme().is_some() || uri.authority().is_some() {
        return None;
    }
    let path = uri.path();
    let loops = ["/signin", "/signup", "/signout"].contains(&path);
    (!loops).then(|| next.to_string())
}

/// The sign-in page, returning to `next` afterwards when it is a local path.
pub fn signin_url(next: Option<&str>) -> String {
    match next.and_then(return_path) {
        Some(next) => format!(
            "/signin?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        ),
        None => "/signin".to_string(),
    }
}

/// A signed-in admin; anyone else signed in gets 403.
pub struct Admin(pub User);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await?;
        if user.is_admin {
            Ok(Self(user))
        } else {
            Err(AppError::Forbidden)
        }
    }
}
