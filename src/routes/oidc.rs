//! Single sign-on routes: start and finish an OpenID Connect sign-in, link to an existing account, and the account's identities.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{Layout, render};
use crate::app::AppState;
use crate::auth::{self, MaybeUser, SignedIn, password, session_error};
use crate::client_addr::ClientAddr;
use crate::db::throttle::{self, Admission, Attempt};
use crate::db::{admin, identities, users};
use crate::error::AppError;
use crate::routes::form::Form;

/// A sign-in started at the provider must come back within this time.
const PENDING_SECONDS: i64 = 600;
const PENDING_KEY: &str = "oidc_pending";
const LINK_KEY: &str = "oidc_link";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/link", get(link_page).post(link))
        .route("/auth/oidc/{provider}", get(start))
        .route("/auth/oidc/{provider}/callback", get(callback))
        .route("/account/identities", get(identities_page))
        .route("/account/identities/{id}/unlink", post(unlink))
}

/// What the session keeps between the redirect to the provider and its answer.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    provider: String,
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    started: i64,
}

/// A provider account whose verified email matches a user: waiting for that user's password.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingLink {
    provider: String,
    subject: String,
    email: String,
    user_id: i64,
    next: String,
    started: i64,
    groups: Vec<String>,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[derive(Template)]
#[template(path = "oidc/problem.html")]
struct ProblemPage {
    layout: Layout,
    message: String,
}

/// A sign-in that went wrong: the reason, and a way back to the sign-in page.
fn problem(state: &AppState, status: StatusCode, message: impl Into<String>) -> Result<Response, AppError> {
    let page = ProblemPage {
        layout: Layout::new(state, None, "Sign-in did not work"),
        message: message.into(),
    };
    Ok((status, render(&page)?).into_response())
}

#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    session: Session,
    Path(provider_id): Path<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, AppError> {
    let Some(provider) = state.sso.provider(&provider_id) else {
        return Err(AppError::NotFound);
    };
    let client = match provider.client().await {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(provider = %provider.id, "OpenID Connect provider unreachable: {error:#}");
            return problem(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} is not answering right now. Try again in a minute.",
                    provider.name
                ),
            );
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &provider.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.url();
    let pending = Pending {
        provider: provider.id.clone(),
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        next: query
            .next
            .as_deref()
            .and_then(auth::return_path)
            .unwrap_or_default(),
        started: now(),
    };
    session
        .insert(PENDING_KEY, pending)
        .await
        .map_err(session_error)?;
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Equal without an early exit, so timing does not reveal a prefix of the expected state.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The claims Pathway uses, once the ID token is checked.
struct Verified {
    subject: String,
    /// Only an address the provider says is verified.
    email: Option<String>,
    preferred_username: Option<String>,
    name: Option<String>,
    /// The provider's `groups_claim`, for its `admin_group`.
    groups: Vec<String>,
}

async fn callback(
    State(state): State<AppState>,
    session: Session,
    Path(provider_id): Path<String>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let Some(provider) = state.sso.provider(&provider_id) else {
        return Err(AppError::NotFound);
    };
    // Taken out whatever happens next: a state and code work once.
    let pending: Option<Pending> = session.remove(PENDING_KEY).await.map_err(session_error)?;
    let Some(pending) = pending.filter(|p| {
        p.provider == provider.id
            && now() - p.started <= PENDING_SECONDS
            && query.state.as_deref().is_some_and(|s| same(s, &p.state))
    }) else {
        return problem(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here, took too long, or was already used. Start again from the sign-in page.",
        );
    };
    if let Some(error) = query.error {
        tracing::info!(provider = %provider.id, %error, "the provider refused the sign-in");
        return problem(
            &state,
            StatusCode::UNAUTHORIZED,
            format!("{} did not sign you in. Try again.", provider.name),
        );
    }
    let Some(code) = query.code else {
        return problem(
            &state,
            StatusCode::BAD_REQUEST,
            "The provider's answer had no code. Start again.",
        );
    };
    let verified = match verify(provider, &pending, code).await {
        Ok(verified) => verified,
        Err(error) => {
            tracing::warn!(provider = %provider.id, "OpenID Connect sign-in refused: {error:#}");
            return problem(
                &state,
                StatusCode::UNAUTHORIZED,
                format!(
                    "Pathway could not confirm your sign-in with {}. Start again.",
                    provider.name
                ),
            );
        }
    };
    if !provider.allows(verified.email.as_deref()) {
        return problem(
            &state,
            StatusCode::FORBIDDEN,
            "Accounts with this email domain cannot sign in here. Ask an administrator.",
        );
    }

    if let Some(user_id) = identities::sign_in(
        &state.db,
        &provider.id,
        &verified.subject,
        verified.email.as_deref(),
    )
    .await?
    {
        return finish(
            &state,
            &session,
            &provider.id,
            user_id,
            "sso.sign_in",
            &pending.next,
            &verified.groups,
        )
        .await;
    }
    // A verified address that one account has: its owner must confirm with their password.
    if let Some(email) = &verified.email {
        let owners = identities::users_with_email(&state.db, email).await?;
        if let [user_id] = owners[..] {
            let link = PendingLink {
                provider: provider.id.clone(),
                subject: verified.subject.clone(),
                email: email.clone(),
                user_id,
                next: pending.next.clone(),
                started: now(),
                groups: verified.groups.clone(),
            };
            session.insert(LINK_KEY, link).await.map_err(session_error)?;
            return Ok(Redirect::to("/auth/oidc/link").into_response());
        }
        if owners.len() > 1 {
            return problem(
                &state,
                StatusCode::CONFLICT,
                "More than one account has this email address. Ask an administrator to link yours.",
            );
        }
    }
    let user_id = create_user(&state, &provider.id, &verified).await?;
    finish(
        &state,
        &session,
        &provider.id,
        user_id,
        "sso.sign_up",
        &pending.next,
        &verified.groups,
    )
    .await
}

/// Exchanges the code (with the PKCE verifier) and checks the ID token: signature, issuer,
/// audience, expiry and nonce.
async fn verify(
    provider: &crate::oidc::Provider,
    pending: &Pending,
    code: String,
) -> anyhow::Result<Verified> {
    let client = provider.client().await?;
    let response = client
        .exchange_code(AuthorizationCode::new(code))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .request_async(provider.http())
        .await
        .map_err(|error| anyhow::anyhow!("token request: {error:?}"))?;
    let id_token = response
        .id_token()
        .ok_or_else(|| anyhow::anyhow!("no ID token in the answer"))?;
    let claims = id_token.claims(&client.id_token_verifier(), &Nonce::new(pending.nonce.clone()))?;
    let email = claims
        .email()
        .filter(|_| claims.email_verified() == Some(true))
        .map(|email| email.as_str().trim().to_string());
    Ok(Verified {
        subject: claims.subject().as_str().to_string(),
        email,
        preferred_username: claims.preferred_username().map(|u| u.as_str().to_string()),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string()),
        groups: claims.additional_claims().groups(&provider.groups_claim),
    })
}

/// Signs the user in under a new session id, as the password sign-in does.
async fn finish(
    state: &AppState,
    session: &Session,
    provider: &str,
    user_id: i64,
    action: &str,
    next: &str,
    groups: &[String],
) -> Result<Response, AppError> {
    let user = users::by_id(&state.db, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if user.disabled {
        return problem(
            state,
            StatusCode::FORBIDDEN,
            "This account is disabled. Contact an administrator.",
        );
    }
    sync_admin(state, provider, &user, groups).await?;
    admin::record(
        &state.db,
        Some(user.id),
        action,
        &user.username,
        serde_json::json!({ "provider": provider }),
    )
    .await?;
    auth::sign_in(session, &user).await?;
    let to = auth::return_path(next).unwrap_or_else(|| "/dashboard".to_string());
    Ok(Redirect::to(&to).into_response())
}

/// With an `admin_group`, the provider decides who is an admin: membership grants it, its
/// absence revokes it (never from the break-glass admin, nor from the last admin).
async fn sync_admin(
    state: &AppState,
    provider: &str,
    user: &users::User,
    groups: &[String],
) -> Result<(), AppError> {
    let Some(group) = state.sso.provider(provider).and_then(|p| p.admin_group.clone()) else {
        return Ok(());
    };
    let member = groups.contains(&group);
    let break_glass = state.sso.break_glass_admin.as_deref() == Some(user.username.as_str());
    if user.is_admin == member || (break_glass && !member) {
        return Ok(());
    }
    if let Some(Err(admin::LastAdmin)) =
        admin::set_flags(&state.db, user.id, user.id, Some(member), None).await?
    {
        tracing::warn!(user = %user.username, "not revoking the last admin from the group claim");
    }
    Ok(())
}

/// A username from the provider's preferred name or email: allowed characters only, made unique.
fn username_base(verified: &Verified) -> String {
    let source = verified
        .preferred_username
        .clone()
        .or_else(|| {
            verified
                .email
                .as_ref()
                .and_then(|e| e.split('@').next().map(str::to_string))
        })
        .unwrap_or_default();
    let mut name: String = source
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_start_matches(['-', '_']).chars().take(24).collect();
    if name.len() < 3 {
        name = format!("user{name}");
    }
    name
}

async fn create_user(state: &AppState, provider: &str, verified: &Verified) -> Result<i64, AppError> {
    let base = username_base(verified);
    let mut username = base.clone();
    let mut n = 1;
    while identities::username_taken(&state.db, &username).await? {
        n += 1;
        username = if n < 20 {
            format!("{base}-{n}")
        } else {
            format!("{base}-{}", &crate::auth::token::generate()[..6])
        };
    }
    let display_name: String = verified
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| username.clone())
        .trim()
        .chars()
        .take(80)
        .collect();
    let mut tx = state.db.begin().await?;
    let id = users::create(
        &mut *tx,
        &username,
        &display_name,
        verified.email.as_deref(),
        password::NO_PASSWORD,
    )
    .await?;
    users::set_time_zone(&mut tx, id, &state.settings.time_zone).await?;
    identities::link(
        &mut *tx,
        provider,
        &verified.subject,
        id,
        verified.email.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

// ---------- linking to an existing account ----------

#[derive(Template)]
#[template(path = "oidc/link.html")]
struct LinkPage {
    layout: Layout,
    provider_name: String,
    username: String,
    error: Option<String>,
}

async fn pending_link(session: &Session) -> Result<Option<PendingLink>, AppError> {
    let link: Option<PendingLink> = session.get(LINK_KEY).await.map_err(session_error)?;
    Ok(link.filter(|l| now() - l.started <= PENDING_SECONDS))
}

async fn link_page(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Response, AppError> {
    let Some(link) = pending_link(&session).await? else {
        return problem(
            &state,
            StatusCode::BAD_REQUEST,
            "This link request expired. Sign in with your provider again.",
        );
    };
    let account = users::by_id(&state.db, link.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let page = LinkPage {
        layout: Layout::new(&state, user.as_ref(), "Link your account"),
        provider_name: provider_name(&state, &link.provider),
        username: account.username,
        error: None,
    };
    Ok(render(&page)?.into_response())
}

fn provider_name(state: &AppState, id: &str) -> String {
    state
        .sso
        .provider(id)
        .map_or_else(|| id.to_string(), |p| p.name.clone())
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    password: String,
}

async fn link(
    State(state): State<AppState>,
    session: Session,
    client: ClientAddr,
    Form(form): Form<LinkForm>,
) -> Result<Response, AppError> {
    let Some(link) = pending_link(&session).await? else {
        return problem(
            &state,
            StatusCode::BAD_REQUEST,
            "This link request expired. Sign in with your provider again.",
        );
    };
    let account = users::by_id(&state.db, link.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let refuse = |status: StatusCode, message: String| -> Result<Response, AppError> {
        let page = LinkPage {
            layout: Layout::new(&state, None, "Link your account"),
            provider_name: provider_name(&state, &link.provider),
            username: account.username.clone(),
            error: Some(message),
        };
        Ok((status, render(&page)?).into_response())
    };
    // Throttled like the password sign-in: this is one.
    let ip = client.as_text();
    let attempt = Attempt {
        username: &account.username,
        ip: ip.as_deref(),
        trusted_device: None,
    };
    let counted = match throttle::admit_sign_in(&state.db, attempt, throttle::SIGN_IN).await? {
        Admission::Counted(id) => id,
        Admission::Wait(seconds) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed attempts. Try again in {}.",
                    throttle::wait_text(seconds)
                ),
            );
        }
    };
    let stored = users::password_hash(&state.db, account.id).await?;
    if !password::verify(form.password, stored).await? {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That password does not match this account.".into(),
        );
    }
    throttle::sign_in_succeeded(&state.db, attempt, counted).await?;
    session.remove_value(LINK_KEY).await.map_err(session_error)?;
    if !identities::link(
        &state.db,
        &link.provider,
        &link.subject,
        account.id,
        Some(&link.email),
    )
    .await?
    {
        return problem(
            &state,
            StatusCode::CONFLICT,
            "This provider account is already linked.",
        );
    }
    admin::record(
        &state.db,
        Some(account.id),
        "sso.link",
        &account.username,
        serde_json::json!({ "provider": link.provider }),
    )
    .await?;
    finish(
        &state,
        &session,
        &link.provider,
        account.id,
        "sso.sign_in",
        &link.next,
        &link.groups,
    )
    .await
}

// ---------- the account's identities ----------

#[derive(Template)]
#[template(path = "oidc/identities.html")]
struct IdentitiesPage {
    layout: Layout,
    /// (id, provider name, email, linked on)
    identities: Vec<(i64, String, String, String)>,
    has_password: bool,
    error: Option<String>,
}

async fn identities_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
) -> Result<Response, AppError> {
    Ok(render(&identities_view(&state, &user, None).await?)?.into_response())
}

async fn identities_view(
    state: &AppState,
    user: &users::User,
    error: Option<String>,
) -> Result<IdentitiesPage, AppError> {
    let identities = identities::of_user(&state.db, user.id)
        .await?
        .into_iter()
        .map(|i| {
            (
                i.id,
                provider_name(state, &i.provider),
                i.email.unwrap_or_default(),
                super::format_date(i.created_at),
            )
        })
        .collect();
    let has_password = users::password_hash(&state.db, user.id).await? != password::NO_PASSWORD;
    Ok(IdentitiesPage {
        layout: Layout::new(state, Some(user), "Single sign-on"),
        identities,
        has_password,
        error,
    })
}

async fn unlink(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let mut tx = state.db.begin().await?;
    // Locks the user's row, so two unlinks at once cannot both pass the count.
    let hash = identities::lock_password_hash(&mut *tx, user.id).await?;
    let remaining = identities::of_user(&mut *tx, user.id).await?.len();
    let usable_password = hash != password::NO_PASSWORD && state.sso.password_allowed(&user.username);
    if remaining <= 1 && !usable_password {
        drop(tx);
        let page = identities_view(
            &state,
            &user,
            Some("This is your only way to sign in: set a password (or link another provider) before unlinking it.".into()),
        )
        .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let Some(provider) = identities::unlink(&mut *tx, user.id, id).await? else {
        return Err(AppError::NotFound);
    };
    admin::record(
        &mut *tx,
        Some(user.id),
        "sso.unlink",
        &user.username,
        serde_json::json!({ "provider": provider }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/account/identities").into_response())
}
