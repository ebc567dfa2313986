//! The admin area's user tools: one-time password-reset links (and the public page that uses them), registration invites, and linking or unlinking mentors.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Layout, format_datetime, render};
use crate::app::AppState;
use crate::auth::{self, Admin, password, token};
use crate::client_addr::ClientAddr;
use crate::config::Registration;
use crate::db::admin::{self, InviteRow, LinkRow};
use crate::db::users::{self, User};
use crate::db::{mentorships, resets};
use crate::error::AppError;
use crate::notify::{self, Notice};
use crate::pages::paging::{ListQuery, PAGE_SIZE, page_count};
use crate::routes::form::Form;

/// Invites shown on the invites page.
const RECENT_INVITES: i64 = 50;
const DEFAULT_INVITE_DAYS: i32 = 7;
const MAX_INVITE_DAYS: i32 = 365;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/{id}/reset", post(make_reset_link))
        .route("/reset/{token}", get(reset_page).post(reset_password))
        .route("/admin/invites", get(invites_page).post(create_invite))
        .route("/admin/mentorships", get(links_page).post(link))
        .route("/admin/mentorships/{id}/end", post(unlink))
}

/// A page that shows a secret link once: never kept by a cache or the history.
fn secret_page(status: StatusCode, html: axum::response::Html<String>) -> Response {
    let mut response = (status, html).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Tells people what an admin did; a failed notification is logged, not shown.
async fn tell(
    state: &AppState,
    admin: &User,
    recipient: i64,
    kind: &'static str,
    summary: String,
    target: &str,
) {
    let notice = Notice {
        recipients: vec![recipient],
        actor_id: Some(admin.id),
        kind,
        summary,
        target_url: target.into(),
    };
    if let Err(error) = notify::send(state.notifier.as_ref(), notice).await {
        tracing::error!(%error, "could not deliver a notification");
    }
}

// ---------- password-reset links ----------

#[derive(Template)]
#[template(path = "admin/reset_link.html")]
struct ResetLinkPage {
    layout: Layout,
    username: String,
    link: String,
    expires: String,
    revoked: u64,
    /// The address the link was also emailed to, when email is on and the user has one.
    emailed_to: Option<String>,
}

/// Makes a reset link for a user and shows it once; when email is on, it also goes to the
/// user's address.
async fn make_reset_link(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let secret = token::generate();
    match resets::create(&state.db, admin.id, id, &token::hash(&secret)).await? {
        None => Err(AppError::NotFound),
        Some(Err(resets::Disabled(_))) => Ok(Redirect::to("/admin?done=reset-disabled").into_response()),
        Some(Ok(created)) => {
            let link = format!("{}/reset/{secret}", state.settings.public_url);
            let emailed_to = if state.settings.email {
                email_reset_link(&state, id, &created.username, &link).await?
            } else {
                None
            };
            let page = ResetLinkPage {
                layout: Layout::new(&state, Some(&admin), "Admin: password-reset link"),
                link,
                expires: format_datetime(created.expires_at),
                username: created.username,
                revoked: created.revoked,
                emailed_to,
            };
            Ok(secret_page(StatusCode::OK, render(&page)?))
        }
    }
}

/// Queues the reset link as email to the user's address, unless they have none or stopped
/// all email; returns the address.
async fn email_reset_link(
    state: &AppState,
    user_id: i64,
    username: &str,
    link: &str,
) -> Result<Option<String>, AppError> {
    let route = crate::db::email::routes_for(&state.db, &[user_id], crate::mail::ACCOUNT, "immediate")
        .await?
        .into_iter()
        .next();
    let Some(route) = route else { return Ok(None) };
    let message = crate::mail::reset_link(
        user_id,
        route.address.clone(),
        username,
        link,
        resets::VALID_HOURS,
    )?;
    crate::db::email::enqueue(&state.db, &[message]).await?;
    Ok(Some(route.address))
}

#[derive(Template)]
#[template(path = "account/reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    username: String,
    error: Option<String>,
}

async fn reset_page(
    State(state): State<AppState>,
    client: ClientAddr,
    Path(secret): Path<String>,
) -> Result<Response, AppError> {
    throttle_reset(&state, client).await?;
    let holder = resets::holder(&state.db, &token::hash(&secret))
        .await?
        .ok_or(AppError::NotFound)?;
    if !state.sso.password_allowed(&holder.username) {
        return Err(AppError::Forbidden);
    }
    let page = ResetPage {
        layout: Layout::new(&state, None, "Choose a new password"),
        token: secret,
        username: holder.username,
        error: None,
    };
    Ok(secret_page(StatusCode::OK, render(&page)?))
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    password: String,
}

/// Sets the new password, ends every other session of the user, and signs
/// this browser in as them.
/// Reset links opened or used per address within 15 minutes.
const RESETS_PER_ADDRESS: i64 = 20;

/// Counts one use of a reset link from this address; too many is a 429.
async fn throttle_reset(state: &AppState, client: ClientAddr) -> Result<(), AppError> {
    if let Some(address) = client.as_text()
        && crate::db::throttle::take(&state.db, "reset", &address, RESETS_PER_ADDRESS, 900.0)
            .await?
            .is_some()
    {
        return Err(AppError::TooManyRequests);
    }
    Ok(())
}

async fn reset_password(
    State(state): State<AppState>,
    session: Session,
    client: ClientAddr,
    Path(secret): Path<String>,
    Form(form): Form<ResetForm>,
) -> Result<Response, AppError> {
    throttle_reset(&state, client).await?;
    let token_hash = token::hash(&secret);
    let holder = resets::holder(&state.db, &token_hash)
        .await?
        .ok_or(AppError::NotFound)?;
    // Passwords are off under require_sso, but for the break-glass admin.
    if !state.sso.password_allowed(&holder.username) {
        return Err(AppError::Forbidden);
    }
    let email = holder.email.clone().unwrap_or_default();
    if let Some(problem) =
        password::weakness(&form.password, &[&holder.username, &holder.display_name, &email])
    {
        let page = ResetPage {
            layout: Layout::new(&state, None, "Choose a new password"),
            token: secret,
            username: holder.username,
            error: Some(problem),
        };
        return Ok(secret_page(StatusCode::UNPROCESSABLE_ENTITY, render(&page)?));
    }
    let hash = password::hash(form.password).await?;
    // Used, revoked or expired since the check above: the same 404.
    let user_id = resets::redeem(&state.db, &token_hash, &hash)
        .await?
        .ok_or(AppError::NotFound)?;
    crate::db::throttle::clear_sign_in_failures(&state.db, &holder.username).await?;
    let user = users::by_id(&state.db, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // A reset link replaces the password only: two-factor sign-in still asks for its code.
    if crate::db::two_factor::is_enabled(&state.db, user.id).await? {
        return crate::auth::signing_in::ask_for_code(&session, &user, "/account?done=password").await;
    }
    auth::sign_in(&session, &user).await?;
    Ok(Redirect::to("/account?done=password").into_response())
}

// ---------- registration invites ----------

#[derive(Template)]
#[template(path = "admin/invites.html")]
struct InvitesPage {
    layout: Layout,
    registration_open: bool,
    days: String,
    error: Option<String>,
    /// The invite just made: (link, expires), shown only now.
    new_link: Option<(String, String)>,
    invites: Vec<(InviteRow, String, String)>,
    /// Teams an invite can put the new user in: (slug, name).
    teams: Vec<(String, String)>,
    /// The form's team (slug, or empty) and role.
    team: String,
    team_role: String,
    /// The form's address to email the link to (optional), and what became of the email.
    email: String,
    email_error: Option<String>,
    sent: Option<String>,
}

impl InvitesPage {
    async fn new(state: &AppState, admin: &User) -> Result<Self, AppError> {
        let invites = admin::registration_invites(&state.db, RECENT_INVITES)
            .await?
            .into_iter()
            .map(|i| {
                let (created, expires) = (format_datetime(i.created_at), format_datetime(i.expires_at));
                (i, created, expires)
            })
            .collect();
        let teams = crate::db::teams::list(&state.db, admin.id, true)
            .await?
            .into_iter()
            .map(|t| (t.slug, t.name))
            .collect();
        Ok(Self {
            layout: Layout::new(state, Some(admin), "Admin: invites"),
            registration_open: state.settings.registration == Registration::Open,
            days: DEFAULT_INVITE_DAYS.to_string(),
            error: None,
            new_link: None,
            invites,
            teams,
            team: String::new(),
            team_role: "learner".into(),
            email: String::new(),
            email_error: None,
            sent: None,
        })
    }
}

async fn invites_page(State(state): State<AppState>, Admin(admin): Admin) -> Result<Response, AppError> {
    Ok(render(&InvitesPage::new(&state, &admin).await?)?.into_response())
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    days: String,
    /// A team's slug, or empty for none.
    #[serde(default)]
    team: String,
    #[serde(default)]
    team_role: String,
    /// An address to email the link to; empty: nobody.
    #[serde(default)]
    email: String,
}

/// Makes a registration invite and shows its link once; emails it when asked.
async fn create_invite(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let days = form.days.trim();
    let valid_days = days
        .parse::<i32>()
        .ok()
        .filter(|d| (1..=MAX_INVITE_DAYS).contains(d));
    let role = crate::db::teams::ROLES.into_iter().find(|r| *r == form.team_role);
    let team = if form.team.is_empty() {
        Ok(None)
    } else {
        match (crate::db::teams::by_slug(&state.db, &form.team).await?, role) {
            (Some(team), Some(role)) => Ok(Some((team, role))),
            _ => Err("Choose one of the teams and a role, or no team."),
        }
    };
    let address = form.email.trim();
    let email_error = crate::mail::address_problem(address);
    let (Some(valid_days), Ok(team), None) = (valid_days, team.clone(), &email_error) else {
        let mut page = InvitesPage::new(&state, &admin).await?;
        page.days = days.chars().take(20).collect();
        page.team = form.team.chars().take(80).collect();
        page.team_role = form.team_role.chars().take(20).collect();
        page.email = address.chars().take(254).collect();
        page.error = match team {
            Err(message) => Some(message.to_string()),
            Ok(_) if valid_days.is_none() => Some(format!(
                "Valid for: enter a whole number of days from 1 to {MAX_INVITE_DAYS}."
            )),
            Ok(_) => None,
        };
        page.email_error = email_error;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let secret = token::generate();
    admin::create_invite(
        &state.db,
        admin.id,
        &token::hash(&secret),
        valid_days,
        team.as_ref().map(|(t, role)| (t.id, t.slug.as_str(), *role)),
    )
    .await?;
    let mut page = InvitesPage::new(&state, &admin).await?;
    let expires = page
        .invites
        .first()
        .map(|(_, _, expires)| expires.clone())
        .unwrap_or_default();
    let link = format!("{}/signup?invite={secret}", state.settings.public_url);
    if !address.is_empty() {
        let purpose = match &team {
            Some((t, _)) => format!("create an account and join the team {}", t.name),
            None => "create an account".to_string(),
        };
        let mail = crate::mail::send_invitation(
            &state.db,
            state.settings.email,
            address,
            (&admin.display_name, &purpose),
            &link,
            valid_days,
        )
        .await
        .map_err(AppError::Internal)?;
        page.sent = Some(mail.message());
    }
    page.new_link = Some((link, expires));
    page.days = valid_days.to_string();
    if let Some((t, role)) = &team {
        page.team = t.slug.clone();
        page.team_role = role.to_string();
    }
    Ok(secret_page(StatusCode::OK, render(&page)?))
}

// ---------- mentor links ----------

#[derive(Template)]
#[template(path = "admin/mentorships.html")]
struct LinksPage {
    layout: Layout,
    mentor: String,
    mentee: String,
    mentor_error: Option<String>,
    mentee_error: Option<String>,
    error: Option<String>,
    notice: Option<&'static str>,
    query: String,
    links: Vec<(LinkRow, String)>,
    page: i64,
    pages: i64,
    total: i64,
}

impl LinksPage {
    async fn new(state: &AppState, admin: &User, query: &ListQuery) -> Result<Self, AppError> {
        let (page, search) = (query.page(), query.search());
        let (links, total) = admin::active_links(&state.db, &search, PAGE_SIZE, query.offset()).await?;
        Ok(Self {
            layout: Layout::new(state, Some(admin), "Admin: mentorships"),
            mentor: String::new(),
            mentee: String::new(),
            mentor_error: None,
            mentee_error: None,
            error: None,
            notice: match query.done.as_deref() {
                Some("linked") => Some("Linked. Both people were notified."),
                Some("ended") => Some("The link was ended. Both people were notified."),
                _ => None,
            },
            query: search,
            links: links
                .into_iter()
                .map(|l| {
                    let since = format_datetime(l.since);
                    (l, since)
                })
                .collect(),
            page,
            pages: page_count(total),
            total,
        })
    }
}

async fn links_page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    Ok(render(&LinksPage::new(&state, &admin, &query).await?)?.into_response())
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    mentor: String,
    #[serde(default)]
    mentee: String,
}

/// Finds a user by the username typed into a form; the error is for that field.
async fn find_user(state: &AppState, username: &str) -> Result<Result<User, String>, AppError> {
    if username.is_empty() {
        return Ok(Err("Enter a username.".into()));
    }
    Ok(match users::by_username(&state.db, username).await? {
        None => Err(format!("There is no user named “{username}”.")),
        Some(user) if user.disabled => Err(format!("{username}’s account is disabled.")),
        Some(user) => Ok(user),
    })
}

/// Makes MENTOR a mentor of MENTEE on all roadmaps, as `pathway mentor link` does.
async fn link(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Form(form): Form<LinkForm>,
) -> Result<Response, AppError> {
    let mentor_name: String = form.mentor.trim().to_lowercase().chars().take(64).collect();
    let mentee_name: String = form.mentee.trim().to_lowercase().chars().take(64).collect();
    let mentor = find_user(&state, &mentor_name).await?;
    let mentee = find_user(&state, &mentee_name).await?;
    let outcome = match (mentor, mentee) {
        (Ok(mentor), Ok(mentee)) if mentor.id == mentee.id => Err((
            None,
            None,
            "Choose two different people: nobody can be their own mentor.".to_string(),
        )),
        (Ok(mentor), Ok(mentee)) => match mentorships::link(&state.db, mentor.id, mentee.id).await? {
            Ok(id) => Ok((mentor, mentee, id)),
            Err(_) => Err((
                None,
                None,
                format!(
                    "{} already mentors {}, or has an invitation from them waiting for an answer.",
                    mentor.username, mentee.username
                ),
            )),
        },
        (mentor, mentee) => Err((
            mentor.err(),
            mentee.err(),
            "Check the usernames below.".to_string(),
        )),
    };
    let (mentor, mentee, id) = match outcome {
        Ok(linked) => linked,
        Err((mentor_error, mentee_error, message)) => {
            let mut page = LinksPage::new(&state, &admin, &ListQuery::default()).await?;
            page.mentor = mentor_name;
            page.mentee = mentee_name;
            page.mentor_error = mentor_error;
            page.mentee_error = mentee_error;
            page.error = Some(message);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    admin::record(
        &state.db,
        Some(admin.id),
        "mentorship.link",
        &format!("{} → {}", mentor.username, mentee.username),
        serde_json::json!({ "mentorship": id, "mentor": mentor.username, "mentee": mentee.username }),
    )
    .await?;
    tell(
        &state,
        &admin,
        mentor.id,
        "link_made",
        format!(
            "{} (admin) made you a mentor of {}",
            admin.display_name, mentee.display_name
        ),
        "/mentoring",
    )
    .await;
    tell(
        &state,
        &admin,
        mentee.id,
        "link_made",
        format!(
            "{} (admin) made {} your mentor",
            admin.display_name, mentor.display_name
        ),
        "/mentors",
    )
    .await;
    Ok(Redirect::to("/admin/mentorships?done=linked").into_response())
}

/// Ends an active link, as either side can at /mentorships/{id}/end.
async fn unlink(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    let ended = admin::end_link(&state.db, admin.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    tell(
        &state,
        &admin,
        ended.mentor_id,
        "link_ended",
        format!(
            "{} (admin) ended your mentoring of {}",
            admin.display_name, ended.mentee_name
        ),
        "/mentoring",
    )
    .await;
    tell(
        &state,
        &admin,
        ended.mentee_id,
        "link_ended",
        format!(
            "{} (admin) ended {}’s mentoring of you",
            admin.display_name, ended.mentor_name
        ),
        "/mentors",
    )
    .await;
    Ok(Redirect::to("/admin/mentorships?done=ended"))
}
