//! Accounts: sign up, sign in, sign out, and the account page (display name, email and reminders, time zone, password, deletion).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Layout, render};
use crate::app::AppState;
use crate::auth::names::{display_name_problem, username_problem};
use crate::auth::signing_in::{self, after_sign_in, device_cookie};
use crate::auth::{self, MaybeUser, SESSION_KEY, SessionAuth, SignedIn, password, session_error, token};
use crate::client_addr::ClientAddr;
use crate::config::Registration;
use crate::db::progress;
use crate::db::throttle::{self, Admission, Attempt};
use crate::db::users::{self, User};
use crate::error::AppError;
use crate::routes::form::Form;
use crate::time_zones;

/// Sign-ups allowed from one address per hour.
const SIGN_UPS_PER_ADDRESS: i64 = 10;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/account", get(account_page))
        .route("/account/profile", post(update_profile))
        .route("/account/password", post(change_password))
        .route("/account/time-zone", post(update_time_zone))
        .route("/account/delete", post(delete_account))
        .route("/account/public-profile", post(update_public_profile))
        .route("/account/email", post(update_email))
        .route("/account/email-preferences", post(update_email_preferences))
}

// ---------- sign up ----------

#[derive(Debug, Default, Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    invite: String,
    /// The page to return to afterwards (an invitation, say); only local paths are kept.
    #[serde(default)]
    next: String,
    /// The browser's time zone, filled in by script; empty (no script) or unknown means
    /// the server's default.
    #[serde(default)]
    time_zone: String,
}

/// Per-field messages; empty means valid.
#[derive(Debug, Default)]
struct SignUpErrors {
    username: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    form: Option<String>,
}

impl SignUpErrors {
    fn any(&self) -> bool {
        self.username.is_some()
            || self.display_name.is_some()
            || self.email.is_some()
            || self.password.is_some()
            || self.form.is_some()
    }
}

#[derive(Template)]
#[template(path = "account/signup.html")]
struct SignUpPage {
    layout: Layout,
    form: SignUpForm,
    errors: SignUpErrors,
    /// False in invite-only mode without a valid invite: no form is shown.
    open: bool,
}

#[derive(Deserialize)]
struct InviteQuery {
    invite: Option<String>,
    next: Option<String>,
}

async fn signup_page(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(query): Query<InviteQuery>,
) -> Result<Response, AppError> {
    let next = query
        .next
        .as_deref()
        .and_then(auth::return_path)
        .unwrap_or_default();
    // Under require_sso, accounts come only through single sign-on.
    if user.is_some() || state.sso.require_sso {
        return Ok(Redirect::to(&after_sign_in(&next)).into_response());
    }
    let invite = query.invite.unwrap_or_default();
    let open = registration_allowed(&state, &invite).await?;
    let page = SignUpPage {
        layout: Layout::new(&state, None, "Sign up"),
        form: SignUpForm {
            invite,
            next,
            ..SignUpForm::default()
        },
        errors: SignUpErrors::default(),
        open,
    };
    Ok(render(&page)?.into_response())
}

async fn registration_allowed(state: &AppState, invite: &str) -> Result<bool, AppError> {
    Ok(match state.settings.registration {
        Registration::Open => true,
        Registration::InviteOnly => {
            !invite.is_empty() && users::registration_invite_is_valid(&state.db, &token::hash(invite)).await?
        }
    })
}

fn email_problem(email: &str) -> Option<String> {
    crate::mail::address_problem(email)
}

async fn signup(
    State(state): State<AppState>,
    session: Session,
    client: ClientAddr,
    Form(mut form): Form<SignUpForm>,
) -> Result<Response, AppError> {
    if state.sso.require_sso {
        return Ok(Redirect::to("/signin").into_response());
    }
    form.username = form.username.trim().to_lowercase();
    form.display_name = form.display_name.trim().to_string();
    form.email = form.email.trim().to_string();
    form.next = auth::return_path(&form.next).unwrap_or_default();
    let mut errors = SignUpErrors {
        username: username_problem(&form.username),
        display_name: display_name_problem(&form.display_name),
        email: email_problem(&form.email),
        password: password::weakness(&form.password, &[&form.username, &form.display_name, &form.email]),
        form: None,
    };
    let open = registration_allowed(&state, &form.invite).await?;
    if !open {
        errors.form =
            Some("This invite link is not valid any more. Ask an administrator for a new one.".into());
    }

    if !errors.any()
        && let Some(address) = client.as_text()
        && let Some(wait) =
            throttle::take(&state.db, "sign-up", &address, SIGN_UPS_PER_ADDRESS, 3600.0).await?
    {
        errors.form = Some(format!(
            "Too many accounts were created from your network recently. Try again in {}.",
            throttle::wait_text(wait)
        ));
    }

    let mut user_id = None;
    if !errors.any() {
        let hash = password::hash(form.password.clone()).await?;
        let mut tx = state.db.begin().await?;
        let email = (!form.email.is_empty()).then_some(form.email.as_str());
        match users::create(&mut *tx, &form.username, &form.display_name, email, &hash).await {
            Ok(id) => {
                let zone = if time_zones::is_known(&form.time_zone) {
                    &form.time_zone
                } else {
                    &state.settings.time_zone
                };
                users::set_time_zone(&mut tx, id, zone).await?;
                // An invite is used even when registration is open: it may name a team.
                let used = if form.invite.is_empty() {
                    None
                } else {
                    users::use_registration_invite(&mut *tx, &token::hash(&form.invite), id).await?
                };
                let invite_ok = state.settings.registration == Registration::Open || used.is_some();
                if invite_ok {
                    if let Some((team_id, role)) = used.and_then(|u| u.team) {
                        crate::db::teams::join_on_sign_up(&mut tx, team_id, id, &role, &form.username)
                            .await?;
                    }
                    tx.commit().await?;
                    user_id = Some(id);
                } else {
                    errors.form =
                        Some("This invite link was just used. Ask an administrator for a new one.".into());
                }
            }
            Err(sqlx::Error::Database(error)) if error.constraint() == Some("users_username_key") => {
                errors.username = Some("That username is taken; choose another.".into());
            }
            Err(error) => return Err(error.into()),
        }
    }

    let Some(user_id) = user_id else {
        form.password.clear();
        let page = SignUpPage {
            layout: Layout::new(&state, None, "Sign up"),
            form,
            errors,
            open,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let user = users::by_id(&state.db, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    auth::sign_in(&session, &user).await?;
    Ok(Redirect::to(&after_sign_in(&form.next)).into_response())
}

// ---------- sign in / out ----------

#[derive(Debug, Default, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Template)]
#[template(path = "account/signin.html")]
struct SignInPage {
    layout: Layout,
    username: String,
    error: Option<String>,
    /// A local path to return to, or empty.
    next: String,
    /// Single sign-on: (provider id, name) buttons, and whether the password form shows.
    sso: Vec<(String, String)>,
    password_form: bool,
}

async fn signin_page(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(query): Query<InviteQuery>,
) -> Result<Response, AppError> {
    let next = query
        .next
        .as_deref()
        .and_then(auth::return_path)
        .unwrap_or_default();
    if user.is_some() {
        return Ok(Redirect::to(&after_sign_in(&next)).into_response());
    }
    Ok(render(&SignInPage {
        layout: Layout::new(&state, None, "Sign in"),
        username: String::new(),
        error: None,
        next,
        sso: state.sso.buttons(),
        password_form: !state.sso.require_sso,
    })?
    .into_response())
}

async fn signin(
    State(state): State<AppState>,
    session: Session,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    let username = form.username.trim().to_lowercase();
    let next = auth::return_path(&form.next).unwrap_or_default();
    let refuse = |status: StatusCode, message: String| -> Result<Response, AppError> {
        let page = SignInPage {
            layout: Layout::new(&state, None, "Sign in"),
            username: username.clone(),
            error: Some(message),
            next: next.clone(),
            sso: state.sso.buttons(),
            password_form: !state.sso.require_sso,
        };
        Ok((status, render(&page)?).into_response())
    };

    // Single sign-on only (--oidc-config require_sso), but for the break-glass admin.
    if !state.sso.password_allowed(&username) {
        return refuse(
            StatusCode::FORBIDDEN,
            "Password sign-in is off here: use single sign-on.".into(),
        );
    }

    // A device cookie counts only for the account it was issued to.
    let device = device_cookie(&headers).map(|token| token::hash(&token));
    let trusted_device = match &device {
        Some(hash) => {
            let owner = throttle::device_owner(&state.db, hash).await?;
            let account = users::by_username(&state.db, &username).await?;
            (owner.is_some() && owner == account.map(|u| u.id)).then_some(hash.as_str())
        }
        None => None,
    };
    let ip = client.as_text();
    let attempt = Attempt {
        username: &username,
        ip: ip.as_deref(),
        trusted_device,
    };
    let counted = match throttle::admit_sign_in(&state.db, attempt, throttle::SIGN_IN).await? {
        Admission::Counted(id) => id,
        Admission::Wait(seconds) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed sign-in attempts. Try again in {}.",
                    throttle::wait_text(seconds)
                ),
            );
        }
    };

    let credentials = users::credentials(&state.db, &username).await?;
    let stored = credentials
        .as_ref()
        .map_or_else(password::decoy_hash, |(_, hash)| hash.clone());
    let matches = password::verify(form.password, stored).await? && credentials.is_some();
    let user = match credentials {
        Some((user, _)) if matches => user,
        // The attempt stays counted as a failure.
        _ => {
            // The same words whether or not the username exists.
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "That username and password do not match an account. Check both and try again.".into(),
            );
        }
    };
    throttle::sign_in_succeeded(&state.db, attempt, counted).await?;
    if user.disabled {
        return refuse(
            StatusCode::FORBIDDEN,
            "This account is disabled. Contact an administrator.".into(),
        );
    }
    // With two-factor sign-in on, the password only opens the code page.
    if crate::db::two_factor::is_enabled(&state.db, user.id).await? {
        return signing_in::ask_for_code(&session, &user, &next).await;
    }
    signing_in::finish(&state, &session, &headers, &user, &next).await
}

async fn signout(session: Session) -> Result<Redirect, AppError> {
    session.flush().await.map_err(session_error)?;
    Ok(Redirect::to("/"))
}

// ---------- account page ----------

#[derive(Template)]
#[template(path = "account/settings.html")]
struct AccountPage {
    layout: Layout,
    user: User,
    public_profile: bool,
    /// Started roadmaps: (id, title, shown on the public profile).
    profile_roadmaps: Vec<(String, String, bool)>,
    display_name: String,
    notice: Option<&'static str>,
    name_error: Option<String>,
    password_error: Option<String>,
    delete_error: Option<String>,
    /// The zone chosen (or, after a refused change, the one asked for).
    time_zone: String,
    time_zone_error: Option<String>,
    /// What the picker offers: every `Region/City`, plus the current zone if the browser
    /// gave an older alias the list leaves out.
    zone_choices: Vec<&'static str>,
    /// "14:03 CET": the time now in the chosen zone, so a wrong choice shows.
    zone_now: String,
    /// The address field (after a refused change, what was typed).
    email: String,
    email_error: Option<String>,
    /// Whether this Pathway sends email at all.
    email_on: bool,
    quiet_reminders: bool,
    email_stopped: bool,
    /// (category, label, chosen mode) for each kind of notice.
    email_choices: Vec<(&'static str, &'static str, String)>,
    /// (mode, label) the choices offer.
    email_modes: &'static [(&'static str, &'static str)],
    /// Whether two-factor sign-in is on.
    two_factor: bool,
}

impl AccountPage {
    async fn new(state: &AppState, user: User) -> Result<Self, AppError> {
        let catalog = state.catalog.load();
        let profile_roadmaps = progress::profile_choices(&state.db, user.id)
            .await?
            .into_iter()
            .filter_map(|(id, shown)| catalog.roadmap(&id).map(|r| (id, r.title.clone(), shown)))
            .collect();
        let email_settings = crate::db::email::settings(&state.db, user.id).await?;
        let email_choices = crate::mail::CATEGORIES
            .iter()
            .map(|&(category, label)| {
                let mode = email_settings
                    .chosen
                    .iter()
                    .find(|(c, _)| c == category)
                    .map_or(crate::mail::default_mode(category).to_string(), |(_, m)| {
                        m.clone()
                    });
                (category, label, mode)
            })
            .collect();
        Ok(Self {
            two_factor: crate::db::two_factor::is_enabled(&state.db, user.id).await?,
            email: user.email.clone().unwrap_or_default(),
            email_error: None,
            email_on: state.settings.email,
            quiet_reminders: email_settings.quiet_reminders,
            email_stopped: email_settings.email_stopped,
            email_choices,
            email_modes: crate::mail::MODES,
            layout: Layout::new(state, Some(&user), "Your account"),
            public_profile: users::has_public_profile(&state.db, user.id).await?,
            profile_roadmaps,
            display_name: user.display_name.clone(),
            time_zone: user.time_zone.clone(),
            time_zone_error: None,
            zone_choices: time_zones::choices().iter().map(String::as_str).collect(),
            zone_now: user.zone().time(time::OffsetDateTime::now_utc()),
            user,
            notice: None,
            name_error: None,
            password_error: None,
            delete_error: None,
        })
    }

    /// Whether the picker lacks `zone` and must offer it on its own.
    fn zone_missing(&self, zone: &str) -> bool {
        !self.zone_choices.contains(&zone)
    }

    fn respond(self, status: StatusCode) -> Result<Response, AppError> {
        Ok((status, render(&self)?).into_response())
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn account_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Query(query): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let mut page = AccountPage::new(&state, user).await?;
    page.notice = match query.done.as_deref() {
        Some("profile") => Some("Your display name was saved."),
        Some("password") => Some("Your password was changed. Your other sessions were signed out."),
        Some("public-profile") => Some("Your public profile settings were saved."),
        Some("time-zone") => Some("Your time zone was saved. Dates now show in it."),
        Some("email") => Some("Your email address was saved."),
        Some("email-preferences") => Some("Your email and reminder choices were saved."),
        _ => None,
    };
    page.respond(StatusCode::OK)
}

#[derive(Deserialize)]
struct ProfileForm {
    #[serde(default)]
    display_name: String,
}

async fn update_profile(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Form(form): Form<ProfileForm>,
) -> Result<Response, AppError> {
    let name = form.display_name.trim().to_string();
    if let Some(problem) = display_name_problem(&name) {
        let mut page = AccountPage::new(&state, user).await?;
        page.display_name = name;
        page.name_error = Some(problem);
        return page.respond(StatusCode::UNPROCESSABLE_ENTITY);
    }
    users::set_display_name(&state.db, user.id, &name).await?;
    Ok(Redirect::to("/account?done=profile").into_response())
}

#[derive(Deserialize)]
struct TimeZoneForm {
    #[serde(default)]
    time_zone: String,
}

async fn update_time_zone(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Form(form): Form<TimeZoneForm>,
) -> Result<Response, AppError> {
    let zone = form.time_zone.trim().to_string();
    if !time_zones::is_known(&zone) {
        let mut page = AccountPage::new(&state, user).await?;
        page.time_zone_error = Some(format!(
            "“{zone}” is not a time zone Pathway knows. Choose one from the list, such as Europe/Berlin."
        ));
        page.time_zone = zone;
        return page.respond(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let mut tx = state.db.begin().await?;
    users::set_time_zone(&mut tx, user.id, &zone).await?;
    tx.commit().await?;
    Ok(Redirect::to("/account?done=time-zone").into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    session: Session,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let stored = users::password_hash(&state.db, user.id).await?;
    let problem = if !password::verify(form.current_password, stored).await? {
        Some("Your current password is not right.".to_string())
    } else {
        let email = user.email.clone().unwrap_or_default();
        password::weakness(&form.new_password, &[&user.username, &user.display_name, &email])
    };
    if let Some(problem) = problem {
        let mut page = AccountPage::new(&state, user).await?;
        page.password_error = Some(problem);
        return page.respond(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let hash = password::hash(form.new_password).await?;
    let epoch = users::set_password(&state.db, user.id, &hash).await?;
    // This session stays signed in (under a new id); all others are out.
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(SESSION_KEY, SessionAuth::new(user.id, epoch))
        .await
        .map_err(session_error)?;
    Ok(Redirect::to("/account?done=password").into_response())
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "account/deleted.html")]
struct DeletedPage {
    layout: Layout,
}

async fn delete_account(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    session: Session,
    Form(form): Form<DeleteForm>,
) -> Result<Response, AppError> {
    let stored = users::password_hash(&state.db, user.id).await?;
    if !password::verify(form.password, stored).await? {
        let mut page = AccountPage::new(&state, user).await?;
        page.delete_error = Some("That password is not right; nothing was deleted.".into());
        return page.respond(StatusCode::UNPROCESSABLE_ENTITY);
    }
    users::delete(&state.db, user.id).await?;
    session.flush().await.map_err(session_error)?;
    tracing::info!(user = %user.username, "account deleted");
    Ok(render(&DeletedPage {
        layout: Layout::new(&state, None, "Account deleted"),
    })?
    .into_response())
}

/// The public-profile form: a switch, and one checkbox per started roadmap
/// (repeated `roadmap` fields, which a plain form sends).
async fn update_public_profile(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    body: String,
) -> Result<Redirect, AppError> {
    let mut public = false;
    let mut roadmaps = Vec::new();
    for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
        match key.as_ref() {
            "public" => public = true,
            "roadmap" => roadmaps.push(value.into_owned()),
            _ => {}
        }
    }
    progress::set_profile(&state.db, user.id, public, &roadmaps).await?;
    Ok(Redirect::to("/account?done=public-profile"))
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

/// Sets or clears the address email goes to.
async fn update_email(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Form(form): Form<EmailForm>,
) -> Result<Response, AppError> {
    let address = form.email.trim().to_string();
    if let Some(problem) = email_problem(&address) {
        let mut page = AccountPage::new(&state, user).await?;
        page.email = address;
        page.email_error = Some(problem);
        return page.respond(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let address = (!address.is_empty()).then_some(address.as_str());
    crate::db::email::set_address(&state.db, user.id, address).await?;
    Ok(Redirect::to("/account?done=email#email").into_response())
}

/// The reminder switch and a delivery per kind of notice (`mode_<category>` fields). Modes
/// are saved only when this Pathway sends email; saving them turns a "stop all" off.
async fn update_email_preferences(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    body: String,
) -> Result<Response, AppError> {
    let mut quiet_reminders = false;
    let mut modes = Vec::new();
    for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
        if key == "quiet_reminders" {
            quiet_reminders = true;
        } else if let Some(category) = key.strip_prefix("mode_") {
            let known = crate::mail::CATEGORIES.iter().any(|(c, _)| *c == category)
                && crate::mail::MODES.iter().any(|(m, _)| *m == value);
            if !known {
                return Err(AppError::BadRequest);
            }
            modes.push((category.to_string(), value.into_owned()));
        }
    }
    let modes = (state.settings.email && !modes.is_empty()).then_some(modes.as_slice());
    let mut tx = state.db.begin().await?;
    crate::db::email::save_settings(&mut tx, user.id, quiet_reminders, modes).await?;
    tx.commit().await?;
    Ok(Redirect::to("/account?done=email-preferences#email").into_response())
}
