//! Email pages: the one-click unsubscribe link every email carries (RFC 8058), and the admin page of failed sends.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Layout, format_datetime, render};
use crate::app::AppState;
use crate::auth::{Admin, MaybeUser, token};
use crate::db::{admin, email};
use crate::error::AppError;

/// Problems listed on the admin page.
const RECENT_PROBLEMS: i64 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/unsubscribe/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/admin/email", get(admin_page))
        .route("/admin/email/{id}/retry", post(retry_one))
        .route("/admin/email/retry", post(retry_given_up))
}

/// What an unsubscribe link stops, in words.
fn what_stops(category: &str) -> String {
    match category {
        crate::mail::ACCOUNT => "all email from Pathway".to_string(),
        crate::mail::DIGEST => "the daily digest emails".to_string(),
        crate::mail::INVITATION => "invitations to this address".to_string(),
        category => {
            let label = crate::mail::CATEGORIES
                .iter()
                .find(|(c, _)| *c == category)
                .map_or("these notices", |(_, label)| label);
            format!("emails about: {}", label.to_lowercase())
        }
    }
}

#[derive(Template)]
#[template(path = "account/unsubscribe.html")]
struct UnsubscribePage {
    layout: Layout,
    token: String,
    address: String,
    what: String,
    /// After the POST: what was stopped.
    done: Option<String>,
    /// Whether the "stop everything" button is offered besides the link's own.
    offer_all: bool,
}

async fn link(state: &AppState, secret: &str) -> Result<email::Unsubscribe, AppError> {
    email::unsubscribe_link(&state.db, &token::hash(secret))
        .await?
        .ok_or(AppError::NotFound)
}

/// A link opened in a browser only asks: a link scanner that follows it stops nothing.
async fn unsubscribe_page(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(secret): Path<String>,
) -> Result<Response, AppError> {
    let found = link(&state, &secret).await?;
    let page = UnsubscribePage {
        layout: Layout::new(&state, user.as_ref(), "Unsubscribe"),
        offer_all: found.category != crate::mail::ACCOUNT && found.user_id.is_some(),
        what: what_stops(&found.category),
        address: found.address,
        token: secret,
        done: None,
    };
    Ok(render(&page)?.into_response())
}

/// The one-click POST (a mail client sends `List-Unsubscribe=One-Click`, with no session and
/// from another origin, so this route skips the CSRF check), or the page's buttons; `all=yes`
/// stops every email.
async fn unsubscribe(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(secret): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let found = link(&state, &secret).await?;
    let all = url::form_urlencoded::parse(body.as_bytes()).any(|(key, value)| key == "all" && value == "yes");
    let Some(user_id) = found.user_id else {
        // An invitation to someone without an account: no more invitations to the address.
        email::suppress(&state.db, &found.address).await?;
        tracing::info!("an invited address unsubscribed");
        let what = what_stops(&found.category);
        let page = UnsubscribePage {
            layout: Layout::new(&state, user.as_ref(), "Unsubscribed"),
            offer_all: false,
            done: Some(what.clone()),
            what,
            address: found.address,
            token: secret,
        };
        return Ok(render(&page)?.into_response());
    };
    let mut tx = state.db.begin().await?;
    email::stop(&mut tx, user_id, &found.category, all).await?;
    tx.commit().await?;
    let what = if all {
        "all email from Pathway".to_string()
    } else {
        what_stops(&found.category)
    };
    tracing::info!(user = user_id, category = %found.category, all, "unsubscribed");
    let page = UnsubscribePage {
        layout: Layout::new(&state, user.as_ref(), "Unsubscribed"),
        offer_all: false,
        done: Some(what.clone()),
        what,
        address: found.address,
        token: secret,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Template)]
#[template(path = "admin/email.html")]
struct AdminEmailPage {
    layout: Layout,
    email_on: bool,
    max_attempts: i32,
    counts: email::Counts,
    problems: Vec<email::Problem>,
    notice: Option<&'static str>,
}

impl AdminEmailPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        format_datetime(*at)
    }
}

/// The outbox at a glance, and every message that failed at least once with its error.
async fn admin_page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(query): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let notice = match query.done.as_deref() {
        Some("retry") => {
            Some("Queued: Pathway tries again at its next check for email to send (every minute by default).")
        }
        Some("retry-none") => Some("No email was given up on: there was nothing to try again."),
        _ => None,
    };
    let page = AdminEmailPage {
        layout: Layout::new(&state, Some(&admin), "Admin: email"),
        email_on: state.settings.email,
        max_attempts: crate::mail::MAX_ATTEMPTS,
        counts: email::counts(&state.db).await?,
        problems: email::problems(&state.db, RECENT_PROBLEMS).await?,
        notice,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

/// "Try again now" on one failed message: after the SMTP server was fixed, say, without
/// waiting out its backoff, or once more after it was given up on.
async fn retry_one(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    email_on(&state)?;
    let mut tx = state.db.begin().await?;
    // None: never failed, already sent, or no such message.
    let address = email::retry(&mut *tx, id).await?.ok_or(AppError::NotFound)?;
    record_retry(&mut tx, admin.id, vec![address], Some(id)).await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/email?done=retry").into_response())
}

/// "Try every given-up email again".
async fn retry_given_up(State(state): State<AppState>, Admin(admin): Admin) -> Result<Response, AppError> {
    email_on(&state)?;
    let mut tx = state.db.begin().await?;
    let addresses = email::retry_given_up(&mut *tx).await?;
    if addresses.is_empty() {
        return Ok(Redirect::to("/admin/email?done=retry-none").into_response());
    }
    record_retry(&mut tx, admin.id, addresses, None).await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/email?done=retry").into_response())
}

/// Retrying needs a mail server to send through; the page offers no retry without one.
fn email_on(state: &AppState) -> Result<(), AppError> {
    if state.settings.email {
        Ok(())
    } else {
        Err(AppError::Invalid(
            "Email is off (no --smtp-host is set), so nothing can be sent. Set up the SMTP server first (docs/operations.md), then try again.",
        ))
    }
}

async fn record_retry(
    tx: &mut sqlx::PgConnection,
    admin_id: i64,
    mut addresses: Vec<String>,
    id: Option<i64>,
) -> sqlx::Result<()> {
    addresses.sort();
    addresses.dedup();
    let target = match id {
        Some(id) => format!("email {id}"),
        None => "given-up email".to_string(),
    };
    let details = serde_json::json!({ "to": addresses });
    admin::record(&mut *tx, Some(admin_id), "email.retry", &target, details).await
}
