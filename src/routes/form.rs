//! `Form`: axum's form extractor, refusing control characters and oversized bodies with a clear page.

use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use serde::de::DeserializeOwned;

use crate::error::{AppError, CONTROL_CHARACTER};

/// A URL-encoded form (body for posts, query string for GET).
#[derive(Debug, Clone, Copy, Default)]
pub struct Form<T>(pub T);

/// Characters no field of Pathway stores: C0 controls other than tab, line
/// feed and carriage return, DEL, and the C1 controls. PostgreSQL rejects NUL
/// outright; the rest only cause trouble downstream.
pub fn has_control_character(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

const TOO_LARGE: &str =
    "The form you sent is larger than Pathway accepts (512 KB). Shorten the text and send it again.";

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let encoded = if request.method() == Method::GET || request.method() == Method::HEAD {
            request.uri().query().unwrap_or_default().as_bytes().to_vec()
        } else {
            let is_form = request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            if !is_form {
                return Err(AppError::BadRequest);
            }
            let bytes = axum::body::Bytes::from_request(request, state)
                .await
                .map_err(|rejection| {
                    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                        AppError::TooLarge(TOO_LARGE)
                    } else {
                        AppError::BadRequest
                    }
                })?;
            bytes.to_vec()
        };
        for (name, value) in url::form_urlencoded::parse(&encoded) {
            if has_control_character(&name) || has_control_character(&value) {
                return Err(AppError::Invalid(CONTROL_CHARACTER));
            }
        }
        serde_urlencoded::from_bytes(&encoded)
            .map(Self)
            .map_err(|_| AppError::BadRequest)
    }
}

#[cfg(test)]
mod tests {
    use super::has_control_character;

    #[test]
    fn only_stray_controls_are_refused() {
        assert!(!has_control_character("line one\r\nline two\tindented"));
        assert!(!has_control_character("naïve ✓ 日本"));
        assert!(has_control_character("nul\0byte"));
        assert!(has_control_character("bell\u{7}"));
        assert!(has_control_character("c1\u{85}"));
        assert!(has_control_character("del\u{7f}"));
    }
}
