//! The JSON API under `/api/v1`: bearer-token auth, per-token rate limits, JSON errors, cursors, and the OpenAPI document.

pub mod content;
pub mod limits;
pub mod mentoring;
pub mod progress;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::app::AppState;
use crate::auth::token;
use crate::db::users::{self, User};
use crate::error::AppError;

pub use limits::RateLimiter;

/// What a token may do, as stored and as shown on the account page.
pub const SCOPES: [(&str, &str); 4] = [
    ("read:progress", "Read your progress and your teams"),
    ("write:progress", "Change your progress"),
    (
        "mentor:read",
        "Read your mentees' progress, your review queue and your teams' progress",
    ),
    ("mentor:review", "Verify or request changes on review requests"),
];

/// Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "pw_";

/// A new token: the prefix and 32 random bytes in hex.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", token::generate())
}

/// The API's routes, nested at `/api/v1` outside the session and CSRF layers: cookies are
/// never read here, only `Authorization: Bearer`.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/roadmaps", get(content::roadmaps))
        .route("/roadmaps/{roadmap}", get(content::roadmap))
        .route("/skills/{skill}", get(content::skill))
        .route("/progress", get(progress::list))
        .route("/progress/{skill}", get(progress::one).put(progress::set))
        .route("/mentees", get(mentoring::mentees))
        .route("/mentees/{username}/progress", get(mentoring::mentee_progress))
        .route("/reviews", get(mentoring::reviews))
        .route("/reviews/{id}/verify", axum::routing::post(mentoring::verify))
        .route(
            "/reviews/{id}/changes",
            axum::routing::post(mentoring::request_changes),
        )
        .route("/teams", get(mentoring::teams))
        .route("/teams/{team}/progress", get(mentoring::team_progress))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This path does not take that method.",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(middleware::from_fn_with_state(state, authenticate))
}

// ---------- errors ----------

/// The body of every error: `{"error":{"code":"not_found","message":"…"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `invalid_token`, `insufficient_scope`,
    /// `forbidden`, `not_found`, `bad_request`, `invalid_cursor`, `invalid`, `conflict`,
    /// `version_conflict`, `payload_too_large`, `method_not_allowed`, `rate_limited`,
    /// `unavailable`, `internal`.
    pub code: String,
    /// For people; may change.
    pub message: String,
}

/// An error answered as JSON with a stable code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
    /// The scope a 401/403 needs, for `WWW-Authenticate`.
    pub scope: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            scope: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Nothing here: it does not exist, or is not yours to see.",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pathway\""),
            );
        }
        if let Some(scope) = self.scope
            && let Ok(value) = HeaderValue::from_str(&format!(
                "Bearer realm=\"pathway\", error=\"insufficient_scope\", scope=\"{scope}\""
            ))
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The pages' errors, said in JSON: the same client errors stay client errors.
impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::NotFound => Self::not_found(),
            AppError::SignInRequired { .. } => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send a personal access token: Authorization: Bearer pw_…",
            ),
            AppError::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", "You may not do this."),
            AppError::BadRequest => Self::bad_request("The request is not valid."),
            AppError::Invalid(message) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
            AppError::TooManyRequests => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests.",
            ),
            AppError::TooLarge(message) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
            }
            AppError::MethodNotAllowed => Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This path does not take that method.",
            ),
            AppError::Unavailable(error) => {
                tracing::warn!(%error, "api: database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The database is not answering; try again shortly.",
                )
            }
            other => {
                tracing::error!(error = %other, "api: internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on our side.",
                )
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        AppError::from(error).into()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            _ => "bad_request",
        };
        Self::new(rejection.status(), code, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::not_found()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

/// `axum::Json` with JSON errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Path`; a path that does not parse names nothing: 404.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query` with JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

// ---------- auth ----------

/// The person behind a valid token, and what the token allows.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub token_id: i64,
    pub scopes: Vec<String>,
}

impl Caller {
    /// 403 `insufficient_scope` unless the token has `scope`.
    pub fn require(&self, scope: &'static str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) {
            return Ok(());
        }
        let mut error = ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("This token lacks the {scope} scope."),
        );
        error.scope = Some(scope);
        Err(error)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send a personal access token: Authorization: Bearer pw_… (cookies are not accepted here).",
            )
        })
    }
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "The token is unknown, revoked or expired, or its account is disabled.",
    )
}

/// Checks a bearer token when one is sent (public endpoints need none), counts it against
/// its rate limit, and records its use at most once a minute. Statements: the token, its
/// user, and now and then the last-used time.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return next.run(request).await;
    };
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| t.starts_with(TOKEN_PREFIX) && t.len() <= 200);
    let Some(secret) = secret else {
        return invalid_token().into_response();
    };
    match caller(&state, secret).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            let mut response = next.run(request).await;
            // One person's data: no shared cache may keep it.
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn caller(state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    let live = crate::db::tokens::live(&state.db, &token::hash(secret))
        .await?
        .ok_or_else(invalid_token)?;
    if let Err(wait) = state.api_limiter.check(live.id) {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("Too many requests with this token; try again in {wait} s."),
        );
        error.retry_after = Some(wait);
        return Err(error);
    }
    let stale = live
        .last_used_at
        .is_none_or(|at| time::OffsetDateTime::now_utc() - at > time::Duration::minutes(1));
    if stale {
        crate::db::tokens::touch(&state.db, live.id).await?;
    }
    let user = users::by_id(&state.db, live.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(invalid_token)?;
    Ok(Caller {
        user,
        token_id: live.id,
        scopes: live.scopes,
    })
}

// ---------- pagination ----------

/// `?cursor=…&limit=…` on list endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

impl PageQuery {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            ))),
        }
    }

    /// The decoded cursor: the last key of the previous page.
    pub fn after(&self) -> Result<Option<String>, ApiError> {
        let Some(cursor) = self.cursor.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_cursor",
                    "The cursor is not one this API gave out.",
                )
            })
    }

    /// The cursor as a number (an id or a position).
    pub fn after_number(&self) -> Result<Option<i64>, ApiError> {
        self.after()?
            .map(|key| {
                key.parse::<i64>().map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_cursor",
                        "The cursor is not one this API gave out.",
                    )
                })
            })
            .transpose()
    }
}

/// An opaque cursor for `key`, the last item of a page.
pub fn cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Fetch one more than asked: if it came, there is a next page, starting after the last kept.
pub fn split_page<T>(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if items.len() as i64 > limit {
        items.truncate(limit as usize);
        let next = items.last().map(|last| cursor(&key(last)));
        (items, next)
    } else {
        (items, None)
    }
}

/// Pages a list already in memory (the catalog, a user's teams) by a unique key.
pub fn page_in_memory<T: Clone>(
    items: &[T],
    query: &PageQuery,
    key: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = query.limit()?;
    let start = match query.after()? {
        None => 0,
        Some(after) => items
            .iter()
            .position(|item| key(item) == after)
            .map(|at| at + 1)
            // The item the cursor named is gone: start over rather than skip anything.
            .unwrap_or(0),
    };
    let rest: Vec<T> = items[start.min(items.len())..]
        .iter()
        .take(limit as usize + 1)
        .cloned()
        .collect();
    Ok(split_page(rest, limit, key))
}

// ---------- OpenAPI ----------

/// The OpenAPI 3.1 document, built from the handlers' `#[utoipa::path]` attributes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pathway API",
        version = "1",
        description = "Roadmaps, your progress, your mentees and reviews, and your teams. \
                       Authenticate with a personal access token from Account → Personal access tokens: \
                       `Authorization: Bearer pw_…`."
    ),
    paths(
        openapi_json,
        content::roadmaps,
        content::roadmap,
        content::skill,
        progress::list,
        progress::one,
        progress::set,
        mentoring::mentees,
        mentoring::mentee_progress,
        mentoring::reviews,
        mentoring::verify,
        mentoring::request_changes,
        mentoring::teams,
        mentoring::team_progress,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerToken),
    tags(
        (name = "content", description = "Roadmaps, stages and skills: public, no token needed."),
        (name = "progress", description = "The caller's own progress."),
        (name = "mentoring", description = "Mentees, review requests and verdicts."),
        (name = "teams", description = "The caller's teams and, for leads and mentors, their progress."),
        (name = "meta", description = "This document."),
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A personal access token (pw_…) with the scopes the operation lists.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as served (built once).
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "get_openapi", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    Json(openapi()).into_response()
}
