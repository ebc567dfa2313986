//! The admin area and first-run setup: users (search, admin, disable) and the audit log; content is in `admin_content`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Layout, format_datetime, render};
use crate::app::AppState;
use crate::auth::names::{display_name_problem, username_problem};
use crate::auth::{self, Admin, password, token};
use crate::db::admin::{self, AuditEntry, LastAdmin, UserRow};
use crate::db::users::{self, User};
use crate::error::AppError;
use crate::pages::paging::{ListQuery, PAGE_SIZE, page_count};
use crate::routes::form::Form;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/setup", get(setup_page).post(setup))
        .route("/admin", get(users_page))
        .route("/admin/users/{id}/admin", post(set_admin))
        .route("/admin/users/{id}/disabled", post(set_disabled))
        .route("/admin/audit", get(audit_page))
}

/// On a start with no admin: a one-time setup link, logged for whoever runs the server.
pub async fn announce_setup(state: &AppState) -> Result<(), AppError> {
    if admin::admin_exists(&state.db).await? {
        return Ok(());
    }
    let secret = token::generate();
    admin::create_setup_token(&state.db, &token::hash(&secret)).await?;
    tracing::warn!(
        "no admin yet: create the first one at {}/setup?token={secret} (valid for 24 hours, once), \
         or run `pathway admin create USERNAME`",
        state.settings.public_url
    );
    Ok(())
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Debug, Default, Deserialize)]
struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "admin/setup.html")]
struct SetupPage {
    layout: Layout,
    form: SetupForm,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/setup_closed.html")]
struct SetupClosedPage {
    layout: Layout,
    set_up: bool,
}

/// A used or expired setup link says so (410) and points to sign-in; an unknown one is 404.
async fn setup_closed(state: &AppState, token_hash: &str) -> Result<Response, AppError> {
    let set_up = match admin::setup_link(&state.db, token_hash).await? {
        admin::SetupLink::AlreadySetUp => true,
        admin::SetupLink::Expired => false,
        admin::SetupLink::Unknown | admin::SetupLink::Valid => return Err(AppError::NotFound),
    };
    let page = SetupClosedPage {
        layout: Layout::new(state, None, "This setup link does not work any more"),
        set_up,
    };
    Ok((StatusCode::GONE, render(&page)?).into_response())
}

async fn setup_page(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let token_hash = token::hash(&query.token);
    if !admin::setup_token_valid(&state.db, &token_hash).await? {
        return setup_closed(&state, &token_hash).await;
    }
    let form = SetupForm {
        token: query.token,
        ..SetupForm::default()
    };
    Ok(render(&SetupPage {
        layout: Layout::new(&state, None, "Set up Pathway"),
        form,
        error: None,
    })?
    .into_response())
}

async fn setup(
    State(state): State<AppState>,
    session: Session,
    Form(mut form): Form<SetupForm>,
) -> Result<Response, AppError> {
    let token_hash = token::hash(&form.token);
    if !admin::setup_token_valid(&state.db, &token_hash).await? {
        return setup_closed(&state, &token_hash).await;
    }
    form.username = form.username.trim().to_lowercase();
    form.display_name = form.display_name.trim().to_string();
    let problem = username_problem(&form.username)
        .map(|p| format!("Username: {p}"))
        .or_else(|| display_name_problem(&form.display_name).map(|p| format!("Display name: {p}")))
        .or_else(|| password::weakness(&form.password, &[&form.username, &form.display_name]));
    if let Some(problem) = problem {
        form.password.clear();
        let page = SetupPage {
            layout: Layout::new(&state, None, "Set up Pathway"),
            form,
            error: Some(problem),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let hash = password::hash(form.password.clone()).await?;
    let created =
        admin::complete_setup(&state.db, &token_hash, &form.username, &form.display_name, &hash).await;
    let id = match created {
        Ok(id) => id.ok_or(AppError::NotFound)?,
        // Learners may have signed up before the first admin: their names are taken.
        Err(sqlx::Error::Database(error)) if error.constraint() == Some("users_username_key") => {
            form.password.clear();
            let page = SetupPage {
                layout: Layout::new(&state, None, "Set up Pathway"),
                form,
                error: Some("Username: that username is taken; choose another.".into()),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
        Err(error) => return Err(error.into()),
    };
    let user = users::by_id(&state.db, id).await?.ok_or(AppError::NotFound)?;
    auth::sign_in(&session, &user).await?;
    Ok(Redirect::to("/admin").into_response())
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    query: String,
    users: Vec<UserRow>,
    page: i64,
    pages: i64,
    total: i64,
    me: i64,
    notice: Option<&'static str>,
    overview: admin::Overview,
    /// When the last content load ran, for display.
    last_load_at: Option<String>,
}

async fn users_page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let (page, search) = (query.page(), query.search());
    let (users, total) = admin::users(&state.db, &search, PAGE_SIZE, query.offset()).await?;
    let overview = admin::overview(&state.db).await?;
    let notice = match query.done.as_deref() {
        Some("saved") => Some("Saved."),
        Some("two-factor-off") => {
            Some("Two-factor authentication is off for that user: their password alone signs them in.")
        }
        Some("last-admin") => Some(
            "Refused: that would leave Pathway without an active admin. Make someone else an admin first.",
        ),
        Some("reset-disabled") => Some(
            "No reset link was made: that account is disabled, and a disabled account's links do not work. Enable it first.",
        ),
        _ => None,
    };
    Ok(render(&UsersPage {
        layout: Layout::new(&state, Some(&admin), "Admin: users"),
        query: search,
        users,
        page,
        pages: page_count(total),
        total,
        me: admin.id,
        notice,
        last_load_at: overview
            .last_load
            .as_ref()
            .map(|(_, at, _)| crate::pages::format_datetime(*at)),
        overview,
    })?
    .into_response())
}

#[derive(Deserialize)]
struct FlagForm {
    value: String,
}

async fn set_admin(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
    Form(form): Form<FlagForm>,
) -> Result<Redirect, AppError> {
    change(&state, &admin, id, Some(form.value == "on"), None).await
}

async fn set_disabled(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
    Form(form): Form<FlagForm>,
) -> Result<Redirect, AppError> {
    change(&state, &admin, id, None, Some(form.value == "on")).await
}

async fn change(
    state: &AppState,
    admin: &User,
    id: i64,
    is_admin: Option<bool>,
    disabled: Option<bool>,
) -> Result<Redirect, AppError> {
    match admin::set_flags(&state.db, admin.id, id, is_admin, disabled).await? {
        None => Err(AppError::NotFound),
        Some(Err(LastAdmin)) => Ok(Redirect::to("/admin?done=last-admin")),
        Some(Ok(())) => Ok(Redirect::to("/admin?done=saved")),
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    action: String,
    /// A username, or "system" for what no person did.
    #[serde(default)]
    actor: String,
    /// Days (YYYY-MM-DD) in the admin's time zone, both included.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    page: Option<i64>,
}

/// Audit entries per page.
const AUDIT_PAGE: i64 = 50;

/// The actions Pathway records, offered as suggestions in the filter.
const AUDIT_ACTIONS: &[&str] = &[
    "setup",
    "admin.create",
    "user.make_admin",
    "user.revoke_admin",
    "user.disable",
    "user.enable",
    "user.reset_link",
    "user.password_reset",
    "two_factor.enable",
    "two_factor.disable",
    "two_factor.new_recovery_codes",
    "two_factor.recovery_code",
    "two_factor.admin_disable",
    "invite.create",
    "mentorship.link",
    "mentorship.end",
    "content.applied",
    "content.held",
    "content.failed",
    "team.create",
    "team.member_add",
    "team.role",
    "team.member_remove",
    "team.leave",
    "team.assign",
    "team.unassign",
    "team.invite_create",
    "team.invite_revoke",
    "team.join",
    "team.plan",
    "team.learner_target",
    "sso.sign_up",
    "sso.sign_in",
    "sso.link",
    "sso.unlink",
    "webhook_created",
    "webhook_deleted",
    "webhook_enabled",
    "webhook_disabled",
    "email.retry",
];

/// Lists in details show this many items, then say how many more there are.
const DETAIL_ITEMS: usize = 10;

/// One audit entry as the page shows it.
struct AuditLine {
    when: String,
    actor: Option<String>,
    action: String,
    target: String,
    /// Where the entry's subject can be seen, if anywhere.
    target_href: Option<String>,
    result: &'static str,
    details: Vec<(String, String)>,
}

impl AuditLine {
    fn new(entry: AuditEntry) -> Self {
        let when = format_datetime(entry.at);
        let (result, target_href) = match entry.action.as_str() {
            "content.applied" => ("Applied", Some(load_href(&entry.target))),
            "content.held" => ("Held for confirmation", Some(load_href(&entry.target))),
            "content.failed" => ("Failed: nothing changed", Some(load_href(&entry.target))),
            "invite.create" => ("Done", Some("/admin/invites".to_string())),
            action if action.starts_with("team.") => {
                let team = entry
                    .details
                    .get("team")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                ("Done", Some(format!("/teams/{}", urlencode(team))))
            }
            action if action.starts_with("mentorship.") => {
                let mentor = entry
                    .details
                    .get("mentor")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                (
                    "Done",
                    Some(format!("/admin/mentorships?q={}", urlencode(mentor))),
                )
            }
            // Everything else names a person by username.
            _ => ("Done", Some(format!("/admin?q={}", urlencode(&entry.target)))),
        };
        Self {
            when,
            actor: entry.actor,
            details: details_of(&entry.details),
            action: entry.action,
            target: entry.target,
            target_href,
            result,
        }
    }
}

/// A load's own page from the entry's target ("load 12"), else the content page.
fn load_href(target: &str) -> String {
    match target.strip_prefix("load ").and_then(|id| id.parse::<i64>().ok()) {
        Some(id) => format!("/admin/content/loads/{id}"),
        None => "/admin/content".to_string(),
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// An entry's details as labelled text: lists are cut short, nested values shown as JSON.
fn details_of(details: &serde_json::Value) -> Vec<(String, String)> {
    let Some(fields) = details.as_object() else {
        return Vec::new();
    };
    fields
        .iter()
        .filter(|(_, value)| !value.is_null() && value.as_array().is_none_or(|items| !items.is_empty()))
        .map(|(key, value)| {
            let label = key.replace('_', " ");
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Array(items) => {
                    let mut shown: Vec<String> = items
                        .iter()
                        .take(DETAIL_ITEMS)
                        .map(|item| item.as_str().map_or_else(|| item.to_string(), str::to_string))
                        .collect();
                    if items.len() > DETAIL_ITEMS {
                        shown.push(format!("and {} more", items.len() - DETAIL_ITEMS));
                    }
                    shown.join("; ")
                }
                other => other.to_string(),
            };
            (label, text)
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    action: String,
    actor: String,
    from: String,
    to: String,
    actions: &'static [&'static str],
    /// Why the filter could not be used, if it could not.
    problem: Option<String>,
    entries: Vec<AuditLine>,
    page: i64,
    /// The newer and older pages, with the same filter.
    newer_href: Option<String>,
    older_href: Option<String>,
}

async fn audit_page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(query): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let clip = |text: &str| -> String { text.trim().chars().take(60).collect() };
    let (action, actor, from, to) = (
        clip(&query.action),
        clip(&query.actor),
        clip(&query.from),
        clip(&query.to),
    );
    let page = query.page.unwrap_or(1).clamp(1, 100_000);
    let zone = crate::time_zones::viewer();
    let day = |text: &str| -> Result<Option<time::Date>, String> {
        if text.is_empty() {
            return Ok(None);
        }
        time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
            .map(Some)
            .map_err(|_| format!("“{text}” is not a date. Use the form YYYY-MM-DD, such as 2026-11-30."))
    };
    let mut filter = admin::AuditFilter {
        action: action.clone(),
        ..Default::default()
    };
    let mut problem = None;
    match (day(&from), day(&to)) {
        (Ok(since), Ok(until)) => {
            filter.since = since.map(|d| zone.start_of(d));
            // "To" is a whole day: up to the start of the next one.
            filter.until = until.and_then(|d| d.next_day()).map(|d| zone.start_of(d));
        }
        (Err(message), _) | (_, Err(message)) => problem = Some(message),
    }
    if !actor.is_empty() {
        if actor.eq_ignore_ascii_case("system") {
            filter.actor = Some(None);
        } else {
            match users::by_username(&state.db, &actor.to_lowercase()).await? {
                Some(user) => filter.actor = Some(Some(user.id)),
                None => {
                    problem = Some(format!(
                        "Nobody is called “{actor}”. Give a username, or “system”."
                    ))
                }
            }
        }
    }
    let (entries, more) = if problem.is_some() {
        (Vec::new(), false)
    } else {
        // One row more than a page says whether there is an older page, without counting.
        let mut rows = admin::audit(&state.db, &filter, AUDIT_PAGE + 1, (page - 1) * AUDIT_PAGE).await?;
        let more = rows.len() as i64 > AUDIT_PAGE;
        rows.truncate(AUDIT_PAGE as usize);
        (rows.into_iter().map(AuditLine::new).collect(), more)
    };
    let page_href = |page: i64| {
        let filter = [
            ("action", &action),
            ("actor", &actor),
            ("from", &from),
            ("to", &to),
        ];
        let kept = filter.iter().filter(|(_, value)| !value.is_empty());
        let query =
            serde_urlencoded::to_string(kept.chain([&("page", &page.to_string())]).collect::<Vec<_>>());
        format!("/admin/audit?{}", query.unwrap_or_default())
    };
    let newer_href = (page > 1).then(|| page_href(page - 1));
    let older_href = more.then(|| page_href(page + 1));
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = AuditPage {
        layout: Layout::new(&state, Some(&admin), "Admin: audit log"),
        action,
        actor,
        from,
        to,
        actions: AUDIT_ACTIONS,
        problem,
        entries,
        page,
        newer_href,
        older_href,
    };
    Ok((status, render(&page)?).into_response())
}
