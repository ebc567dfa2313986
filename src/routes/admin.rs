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

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    action: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    action: String,
    entries: Vec<(AuditEntry, String)>,
}

async fn audit_page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(query): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let action: String = query.action.trim().chars().take(60).collect();
    let entries = admin::audit(&state.db, &action, 200)
        .await?
        .into_iter()
        .map(|e| {
            let when = format_datetime(e.at);
            (e, when)
        })
        .collect();
    Ok(render(&AuditPage {
        layout: Layout::new(&state, Some(&admin), "Admin: audit log"),
        action,
        entries,
    })?
    .into_response())
}
