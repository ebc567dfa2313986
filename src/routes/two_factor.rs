//! Two-factor sign-in (TOTP): enrolment with a QR code, the code step of signing in, recovery codes, turning it off.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;

use super::{Layout, render};
use crate::app::AppState;
use crate::auth::{Admin, CurrentUser, MaybeUser, SignedIn, session_error, signing_in, totp};
use crate::db::throttle;
use crate::db::two_factor as db;
use crate::db::users::{self, User};
use crate::error::AppError;
use crate::routes::form::Form;

/// The session key of a secret shown for enrolment but not yet confirmed.
const SETUP_KEY: &str = "two_factor_setup";
/// Codes (app or recovery) one account may try within [`CODE_WINDOW_SECS`].
const CODES_PER_ACCOUNT: i64 = 10;
const CODE_WINDOW_SECS: f64 = 15.0 * 60.0;
/// The name apps list the account under.
const ISSUER: &str = "Pathway";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/two-factor", get(manage_page))
        .route("/account/two-factor/setup", get(setup_page).post(confirm_setup))
        .route("/account/two-factor/recovery-codes", post(regenerate_codes))
        .route("/account/two-factor/disable", post(disable))
        .route("/signin/two-factor", get(code_page).post(check_code))
        .route(
            "/signin/recovery-code",
            get(recovery_page).post(check_recovery_code),
        )
        .route("/admin/users/{id}/two-factor", post(admin_disable))
}

// ---------- checking codes ----------

/// What became of a code.
enum Checked {
    Accepted,
    Wrong(String),
}

/// Counts one try for the account; too many within the window is refused.
async fn throttled(state: &AppState, user_id: i64) -> Result<Option<String>, AppError> {
    let wait = throttle::take(
        &state.db,
        "two-factor",
        &user_id.to_string(),
        CODES_PER_ACCOUNT,
        CODE_WINDOW_SECS,
    )
    .await?;
    Ok(wait.map(|seconds| {
        format!(
            "Too many codes were tried for this account. Try again in {}.",
            throttle::wait_text(seconds)
        )
    }))
}

/// Checks an authenticator code for an enrolled user: throttled, and each time
/// step accepted once, so a code seen over a shoulder cannot be used again.
async fn check_app_code(state: &AppState, user_id: i64, code: &str) -> Result<Checked, AppError> {
    if let Some(message) = throttled(state, user_id).await? {
        return Ok(Checked::Wrong(message));
    }
    let Some(enrolment) = db::enrolment(&state.db, user_id).await? else {
        return Ok(Checked::Wrong(
            "Two-factor authentication is not on for this account.".into(),
        ));
    };
    let Some(step) = totp::matching_step(&enrolment.secret, code, totp::now()) else {
        return Ok(Checked::Wrong(
            "That code is not right. Enter the 6-digit code your app shows now.".into(),
        ));
    };
    if !db::accept_step(&state.db, user_id, step).await? {
        return Ok(Checked::Wrong(
            "That code was already used. Wait for your app to show the next one.".into(),
        ));
    }
    Ok(Checked::Accepted)
}

/// Spends a recovery code, throttled like app codes; its use is audited.
async fn check_recovery(state: &AppState, user: &User, code: &str) -> Result<Checked, AppError> {
    let user_id = user.id;
    if let Some(message) = throttled(state, user_id).await? {
        return Ok(Checked::Wrong(message));
    }
    if !db::use_recovery_code(&state.db, user_id, &totp::recovery_hash(code)).await? {
        return Ok(Checked::Wrong(
            "That recovery code is not right, or it was used already.".into(),
        ));
    }
    let left = db::recovery_codes_left(&state.db, user_id).await?;
    crate::db::admin::record(
        &state.db,
        Some(user_id),
        "two_factor.recovery_code",
        &user.username,
        json!({ "codes_left": left }),
    )
    .await?;
    Ok(Checked::Accepted)
}

/// An app code, or (when it does not look like one) a recovery code.
async fn check_any(state: &AppState, user: &User, code: &str) -> Result<Checked, AppError> {
    let digits = code.chars().filter(|c| !c.is_whitespace()).count();
    if digits == 6
        && code
            .trim()
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace())
    {
        check_app_code(state, user.id, code).await
    } else {
        check_recovery(state, user, code).await
    }
}

/// A page with a secret or recovery codes on it: no cache or history may keep it.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Fresh recovery codes for `user_id`, replacing any earlier ones.
async fn new_codes(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user_id: i64,
) -> Result<Vec<String>, AppError> {
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_hash(c)).collect();
    db::replace_recovery_codes(tx, user_id, &hashes).await?;
    Ok(codes)
}

// ---------- enrolment and management ----------

#[derive(Template)]
#[template(path = "account/two_factor.html")]
struct ManagePage {
    layout: Layout,
    enabled: bool,
    codes_left: i64,
    notice: Option<&'static str>,
    regenerate_error: Option<String>,
    disable_error: Option<String>,
    /// Admins must keep it on (`--require-admin-two-factor`).
    required: bool,
}

impl ManagePage {
    async fn new(state: &AppState, user: &User) -> Result<Self, AppError> {
        Ok(Self {
            layout: Layout::new(state, Some(user), "Two-factor authentication"),
            enabled: db::is_enabled(&state.db, user.id).await?,
            codes_left: db::recovery_codes_left(&state.db, user.id).await?,
            notice: None,
            regenerate_error: None,
            disable_error: None,
            required: required_for(state, user),
        })
    }
}

fn required_for(state: &AppState, user: &User) -> bool {
    user.is_admin && state.settings.require_admin_two_factor
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn manage_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Query(query): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let mut page = ManagePage::new(&state, &user).await?;
    page.notice = match query.done.as_deref() {
        Some("disabled") => Some("Two-factor authentication is off. Signing in needs only your password."),
        _ => None,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Template)]
#[template(path = "account/two_factor_setup.html")]
struct SetupPage {
    layout: Layout,
    /// The QR code, as SVG made here (so `|safe` in the template).
    qr_svg: String,
    secret: String,
    error: Option<String>,
    /// An admin sent here because admins must use it.
    required: bool,
}

/// A secret waiting for its first code, tied to the user it was made for.
#[derive(Serialize, Deserialize)]
struct SetupSecret {
    user_id: i64,
    secret: String,
}

/// The secret being enrolled: the one already shown to this session, or a new one.
async fn setup_secret(session: &Session, user: &User) -> Result<Vec<u8>, AppError> {
    let kept = session
        .get::<SetupSecret>(SETUP_KEY)
        .await
        .map_err(session_error)?
        .filter(|s| s.user_id == user.id)
        .and_then(|s| totp::from_base32(&s.secret));
    if let Some(secret) = kept {
        return Ok(secret);
    }
    let secret = totp::new_secret();
    session
        .insert(
            SETUP_KEY,
            SetupSecret {
                user_id: user.id,
                secret: totp::base32(&secret),
            },
        )
        .await
        .map_err(session_error)?;
    Ok(secret)
}

async fn setup_response(
    state: &AppState,
    session: &Session,
    user: &User,
    error: Option<String>,
) -> Result<Response, AppError> {
    let secret = setup_secret(session, user).await?;
    let url = totp::otpauth_url(ISSUER, &user.username, &secret);
    let page = SetupPage {
        layout: Layout::new(state, Some(user), "Set up two-factor authentication"),
        qr_svg: totp::qr_svg(&url).ok_or_else(|| AppError::Internal(anyhow::anyhow!("QR code too large")))?,
        secret: totp::base32(&secret),
        required: required_for(state, user),
        error,
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(no_store((status, render(&page)?).into_response()))
}

async fn setup_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    session: Session,
) -> Result<Response, AppError> {
    if db::is_enabled(&state.db, user.id).await? {
        return Ok(Redirect::to("/account/two-factor").into_response());
    }
    setup_response(&state, &session, &user, None).await
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Template)]
#[template(path = "account/two_factor_codes.html")]
struct CodesPage {
    layout: Layout,
    codes: Vec<String>,
    /// Just turned on, rather than codes replaced.
    enabled_now: bool,
}

async fn confirm_setup(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    session: Session,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    if db::is_enabled(&state.db, user.id).await? {
        return Ok(Redirect::to("/account/two-factor").into_response());
    }
    if let Some(message) = throttled(&state, user.id).await? {
        return setup_response(&state, &session, &user, Some(message)).await;
    }
    let secret = setup_secret(&session, &user).await?;
    let Some(step) = totp::matching_step(&secret, &form.code, totp::now()) else {
        let message = "That code is not right. Enter the 6-digit code your app shows for Pathway now.";
        return setup_response(&state, &session, &user, Some(message.into())).await;
    };
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_hash(c)).collect();
    let mut tx = state.db.begin().await?;
    db::enable(&mut tx, user.id, &secret, step, &hashes).await?;
    crate::db::admin::record(
        &mut *tx,
        Some(user.id),
        "two_factor.enable",
        &user.username,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    session.remove_value(SETUP_KEY).await.map_err(session_error)?;
    let page = CodesPage {
        layout: Layout::new(&state, Some(&user), "Save your recovery codes"),
        codes,
        enabled_now: true,
    };
    Ok(no_store(render(&page)?.into_response()))
}

async fn regenerate_codes(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    if let Checked::Wrong(message) = check_app_code(&state, user.id, &form.code).await? {
        let mut page = ManagePage::new(&state, &user).await?;
        page.regenerate_error = Some(message);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut tx = state.db.begin().await?;
    let codes = new_codes(&mut tx, user.id).await?;
    crate::db::admin::record(
        &mut *tx,
        Some(user.id),
        "two_factor.new_recovery_codes",
        &user.username,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    let page = CodesPage {
        layout: Layout::new(&state, Some(&user), "Your new recovery codes"),
        codes,
        enabled_now: false,
    };
    Ok(no_store(render(&page)?.into_response()))
}

async fn disable(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let refused = if required_for(&state, &user) {
        Some(
            "Administrators of this Pathway must use two-factor authentication, so it cannot be turned off."
                .to_string(),
        )
    } else {
        match check_any(&state, &user, &form.code).await? {
            Checked::Accepted => None,
            Checked::Wrong(message) => Some(message),
        }
    };
    if let Some(message) = refused {
        let mut page = ManagePage::new(&state, &user).await?;
        page.disable_error = Some(message);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let mut tx = state.db.begin().await?;
    db::disable(&mut tx, user.id).await?;
    crate::db::admin::record(
        &mut *tx,
        Some(user.id),
        "two_factor.disable",
        &user.username,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/account/two-factor?done=disabled").into_response())
}

/// An admin turns it off for someone locked out (phone and recovery codes lost).
async fn admin_disable(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let user = users::by_id(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let was_on = db::disable(&mut tx, user.id).await?;
    if was_on {
        crate::db::admin::record(
            &mut *tx,
            Some(admin.id),
            "two_factor.admin_disable",
            &user.username,
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    if was_on {
        // They should hear of it: if they did not ask, someone talked an admin into it.
        let notice = crate::notify::Notice {
            recipients: vec![user.id],
            actor_id: Some(admin.id),
            kind: "two_factor_off",
            summary: format!(
                "{} (admin) turned off two-factor authentication on your account",
                admin.display_name
            ),
            target_url: "/account/two-factor".into(),
        };
        if let Err(error) = crate::notify::send(state.notifier.as_ref(), notice).await {
            tracing::error!(%error, "could not deliver a notification");
        }
    }
    Ok(Redirect::to("/admin?done=two-factor-off").into_response())
}

// ---------- the code step of signing in ----------

#[derive(Template)]
#[template(path = "account/two_factor_signin.html")]
struct CodeStepPage {
    layout: Layout,
    /// Asking for a recovery code rather than an app code.
    recovery: bool,
    error: Option<String>,
}

fn code_step(state: &AppState, recovery: bool, error: Option<String>) -> Result<Response, AppError> {
    let page = CodeStepPage {
        layout: Layout::new(state, None, "Two-factor authentication"),
        recovery,
        error,
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, render(&page)?).into_response())
}

/// No sign-in waiting for a code: someone signed in goes on; anyone else is
/// told the sign-in expired (a page) or sent back to the password (a post).
fn start_again(state: &AppState, user: Option<User>, page: bool) -> Result<Response, AppError> {
    if user.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    if !page {
        return Ok(Redirect::to("/signin").into_response());
    }
    render(&ExpiredPage {
        layout: Layout::new(state, None, "Sign in again"),
    })
    .map(IntoResponse::into_response)
}

#[derive(Template)]
#[template(path = "account/two_factor_expired.html")]
struct ExpiredPage {
    layout: Layout,
}

async fn code_page(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    session: Session,
) -> Result<Response, AppError> {
    match signing_in::pending(&state, &session).await? {
        Some(_) => code_step(&state, false, None),
        None => start_again(&state, user, true),
    }
}

async fn recovery_page(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    session: Session,
) -> Result<Response, AppError> {
    match signing_in::pending(&state, &session).await? {
        Some(_) => code_step(&state, true, None),
        None => start_again(&state, user, true),
    }
}

async fn check_code(
    State(state): State<AppState>,
    MaybeUser(signed_in): MaybeUser,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let Some((pending, user)) = signing_in::pending(&state, &session).await? else {
        return start_again(&state, signed_in, false);
    };
    match check_app_code(&state, user.id, &form.code).await? {
        Checked::Accepted => signing_in::finish_pending(&state, &session, &headers, &pending, &user).await,
        Checked::Wrong(message) => code_step(&state, false, Some(message)),
    }
}

#[derive(Deserialize)]
struct RecoveryForm {
    #[serde(default)]
    recovery_code: String,
}

async fn check_recovery_code(
    State(state): State<AppState>,
    MaybeUser(signed_in): MaybeUser,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<RecoveryForm>,
) -> Result<Response, AppError> {
    let Some((pending, user)) = signing_in::pending(&state, &session).await? else {
        return start_again(&state, signed_in, false);
    };
    match check_recovery(&state, &user, &form.recovery_code).await? {
        Checked::Accepted => signing_in::finish_pending(&state, &session, &headers, &pending, &user).await,
        Checked::Wrong(message) => code_step(&state, true, Some(message)),
    }
}

// ---------- admins must enrol ----------

/// With `--require-admin-two-factor`, an admin who has not set it up is sent to
/// do so from every page but that one (and signing out).
pub async fn require_for_admins(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let admin = request
        .extensions()
        .get::<CurrentUser>()
        .and_then(|c| c.0.as_ref())
        .filter(|u| u.is_admin)
        .map(|u| u.id);
    if let Some(id) = admin.filter(|_| state.settings.require_admin_two_factor) {
        let path = request.uri().path();
        let exempt = path.starts_with("/account/two-factor") || path == "/signout";
        if !exempt {
            match db::is_enabled(&state.db, id).await {
                Ok(true) => {}
                Ok(false) => return Redirect::to("/account/two-factor/setup").into_response(),
                Err(error) => return AppError::from(error).into_response(),
            }
        }
    }
    next.run(request).await
}
