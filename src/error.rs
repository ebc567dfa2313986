//! `AppError`, the one error type handlers return, and the middleware that renders every error as an HTML page.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::pages::{Layout, render};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// Sends the visitor to sign in, then back to `next` (a page they asked for).
    #[error("sign-in required")]
    SignInRequired { next: Option<String> },
    #[error("forbidden")]
    Forbidden,
    #[error("bad request")]
    BadRequest,
    /// Input that can never be stored (a NUL byte, say): 422 with what to fix.
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    /// A per-address or per-person limit was reached.
    #[error("too many requests")]
    TooManyRequests,
    /// A body over its limit: 413 naming the limit.
    #[error("request too large")]
    TooLarge(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the database is not answering")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("template error: {0}")]
    Template(#[from] askama::Error),
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

/// Database errors that say something about the request, not the server,
/// become the matching client error; a lost connection becomes a 503.
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            match db.code().as_deref() {
                // character_not_in_repertoire, untranslatable_character: a NUL byte.
                Some("22021" | "22P05") => return Self::Invalid(CONTROL_CHARACTER),
                // foreign_key_violation: the request named something that does not exist.
                Some("23503") => return Self::NotFound,
                // query_canceled: the statement timeout; admin_shutdown and friends: a restart.
                Some("57014" | "57P01" | "57P02" | "57P03") => return Self::Unavailable(error),
                // string_data_right_truncation, check_violation, numeric_value_out_of_range.
                Some("22001" | "23514" | "22003") => return Self::BadRequest,
                _ => {}
            }
        }
        if matches!(
            error,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
        ) {
            return Self::Unavailable(error);
        }
        Self::Database(error)
    }
}

/// The message for text that contains a control character.
pub const CONTROL_CHARACTER: &str = "The text you sent contains an invisible control character (such as a NUL byte) \
     that Pathway cannot store. Go back, remove it (retyping the text usually does), and send it again.";

/// What the error page should say; attached to the response for [`render_error_pages`].
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub message: &'static str,
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::SignInRequired { .. } => StatusCode::SEE_OTHER,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Template(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::SignInRequired { next } = self {
            return Redirect::to(&crate::auth::signin_url(next.as_deref())).into_response();
        }
        let status = self.status();
        if status.is_server_error() {
            // Details go to the log, never to the page.
            tracing::error!(error = %self, "request failed");
        }
        let message = match self {
            Self::Invalid(message) | Self::TooLarge(message) => message,
            _ => user_message(status),
        };
        let mut response = (status, status.canonical_reason().unwrap_or("Error")).into_response();
        response.extensions_mut().insert(ErrorPage { message });
        response
    }
}

/// A plain explanation of `status` that reveals nothing internal.
fn user_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => {
            "There is no page at this address. It may have moved, or the link may be mistyped."
        }
        StatusCode::METHOD_NOT_ALLOWED => "This page does not accept that kind of request.",
        StatusCode::TOO_MANY_REQUESTS => {
            "There were too many attempts from your network in a short time. Wait a few minutes and try again."
        }
        StatusCode::PAYLOAD_TOO_LARGE => "What you sent is larger than Pathway accepts.",
        StatusCode::FORBIDDEN => {
            "You are not allowed to do this. If you submitted a form, reload the page and try again from this site."
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            "Pathway cannot reach its database right now. Please try again in a moment."
        }
        s if s.is_server_error() => "Something went wrong on our side. It has been logged; please try again.",
        _ => "The request could not be handled. Please check it and try again.",
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorTemplate {
    layout: Layout,
    status: u16,
    message: &'static str,
}

/// Turns every error response (from a handler, a panic, a rejected request
/// or a missing static file) into the HTML error page, keeping its status.
pub async fn render_error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let user = request
        .extensions()
        .get::<CurrentUser>()
        .and_then(|c| c.0.clone());
    let response = next.run(request).await;
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_html {
        return response;
    }
    let message = response
        .extensions()
        .get::<ErrorPage>()
        .map_or_else(|| user_message(status), |page| page.message);
    let title = status.canonical_reason().unwrap_or("Error");
    let page = ErrorTemplate {
        layout: Layout::new(&state, user.as_ref(), title),
        status: status.as_u16(),
        message,
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    match render(&page) {
        Ok(Html(body)) => {
            parts.headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            Response::from_parts(parts, body.into())
        }
        Err(_) => (status, title).into_response(),
    }
}

/// CatchPanicLayer's handler: a 500 that the error-page middleware renders.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    AppError::Internal(anyhow::anyhow!("a request handler panicked")).into_response()
}
