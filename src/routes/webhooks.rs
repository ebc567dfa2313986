//! Webhook pages: site-wide endpoints for admins (/admin/webhooks), a team's for its leads (/teams/{team}/webhooks), each with its deliveries log.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Layout, format_datetime, render};
use crate::app::AppState;
use crate::auth::{SignedIn, token};
use crate::db::admin;
use crate::db::teams::{self, Team};
use crate::db::users::User;
use crate::db::webhooks::{self, Attempt, Delivery, Endpoint};
use crate::error::AppError;
use crate::routes::form::Form;
use crate::webhooks::EVENTS;

/// Deliveries shown in an endpoint's log.
const LOG_LENGTH: i64 = 50;
/// Endpoints one owner may register.
const MAX_ENDPOINTS: usize = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/webhooks", get(site_list).post(site_create))
        .route("/admin/webhooks/{id}", get(site_endpoint))
        .route("/admin/webhooks/{id}/delete", post(site_delete))
        .route("/admin/webhooks/{id}/active", post(site_active))
        .route("/admin/webhooks/{id}/ping", post(site_ping))
        .route("/admin/webhooks/deliveries/{id}/redeliver", post(site_redeliver))
        .route("/teams/{team}/webhooks", get(team_list).post(team_create))
        .route("/teams/{team}/webhooks/{id}", get(team_endpoint))
        .route("/teams/{team}/webhooks/{id}/delete", post(team_delete))
        .route("/teams/{team}/webhooks/{id}/active", post(team_active))
        .route("/teams/{team}/webhooks/{id}/ping", post(team_ping))
        .route(
            "/teams/{team}/webhooks/deliveries/{id}/redeliver",
            post(team_redeliver),
        )
}

/// Whose endpoints a page shows: the site's, or a team's.
enum Owner {
    Site,
    Team(Team),
}

impl Owner {
    fn team_id(&self) -> Option<i64> {
        match self {
            Self::Site => None,
            Self::Team(team) => Some(team.id),
        }
    }

    fn base(&self) -> String {
        match self {
            Self::Site => "/admin/webhooks".into(),
            Self::Team(team) => format!("/teams/{}/webhooks", team.slug),
        }
    }

    fn title(&self) -> String {
        match self {
            Self::Site => "Webhooks".into(),
            Self::Team(team) => format!("Webhooks of {}", team.name),
        }
    }

    /// Where the audit log says it happened.
    fn target(&self, url: &str) -> String {
        match self {
            Self::Site => format!("site: {url}"),
            Self::Team(team) => format!("{}: {url}", team.slug),
        }
    }
}

/// Site-wide endpoints are for admins; anyone else is told there is no such page.
fn site(user: &User) -> Result<Owner, AppError> {
    if user.is_admin {
        Ok(Owner::Site)
    } else {
        Err(AppError::NotFound)
    }
}

/// A team's endpoints are for its leads (and admins); anyone else gets a 404.
async fn team(state: &AppState, user: &User, slug: &str) -> Result<Owner, AppError> {
    let team = teams::by_slug(&state.db, slug).await?.ok_or(AppError::NotFound)?;
    if !user.is_admin && teams::role_of(&state.db, team.id, user.id).await?.as_deref() != Some("lead") {
        return Err(AppError::NotFound);
    }
    Ok(Owner::Team(team))
}

/// The create form: the URL and a checkbox per event (named like the event, `.` as `_`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EndpointForm {
    url: String,
    skill_done: Option<String>,
    stage_done: Option<String>,
    review_requested: Option<String>,
    review_answered: Option<String>,
}

impl EndpointForm {
    fn events(&self) -> Vec<String> {
        [
            (&self.skill_done, EVENTS[0].0),
            (&self.stage_done, EVENTS[1].0),
            (&self.review_requested, EVENTS[2].0),
            (&self.review_answered, EVENTS[3].0),
        ]
        .into_iter()
        .filter(|(checked, _)| checked.is_some())
        .map(|(_, event)| event.to_string())
        .collect()
    }
}

/// An event checkbox on the form.
struct EventChoice {
    field: String,
    label: &'static str,
    name: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "webhooks/list.html")]
struct ListPage {
    layout: Layout,
    heading: String,
    base: String,
    is_site: bool,
    endpoints: Vec<Endpoint>,
    url: String,
    choices: Vec<EventChoice>,
    error: Option<String>,
}

impl ListPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        format_datetime(*at)
    }
}

async fn list_page(
    state: &AppState,
    user: &User,
    owner: &Owner,
    url: &str,
    chosen: &[String],
    error: Option<String>,
) -> Result<ListPage, AppError> {
    let endpoints = webhooks::list(&state.db, owner.team_id()).await?;
    let fresh = url.is_empty() && chosen.is_empty();
    Ok(ListPage {
        layout: Layout::new(state, Some(user), owner.title()),
        heading: owner.title(),
        base: owner.base(),
        is_site: matches!(owner, Owner::Site),
        endpoints,
        url: url.to_string(),
        choices: EVENTS
            .iter()
            .map(|(name, label)| EventChoice {
                field: name.replace('.', "_"),
                label,
                name,
                // A new form asks for every event.
                checked: fresh || chosen.iter().any(|c| c == name),
            })
            .collect(),
        error,
    })
}

async fn show_list(state: &AppState, user: &User, owner: Owner) -> Result<Response, AppError> {
    let page = list_page(state, user, &owner, "", &[], None).await?;
    Ok(render(&page)?.into_response())
}

async fn create(
    state: &AppState,
    user: &User,
    owner: Owner,
    form: EndpointForm,
) -> Result<Response, AppError> {
    let url = form.url.trim().to_string();
    let events = form.events();
    let existing = webhooks::list(&state.db, owner.team_id()).await?.len();
    let problem = if existing >= MAX_ENDPOINTS {
        Some(format!(
            "At most {MAX_ENDPOINTS} endpoints: delete one you no longer use first."
        ))
    } else if let Some(problem) =
        crate::webhooks::url_problem(&url, state.settings.webhook_allow_http_loopback)
    {
        Some(problem)
    } else if events.is_empty() {
        Some("Choose at least one event to send.".into())
    } else {
        None
    };
    if let Some(problem) = problem {
        let page = list_page(state, user, &owner, &url, &events, Some(problem)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let secret = format!("whsec_{}", token::generate());
    let mut tx = state.db.begin().await?;
    let id = webhooks::create(&mut *tx, owner.team_id(), &url, &secret, &events, user.id).await?;
    admin::record(
        &mut *tx,
        Some(user.id),
        "webhook_created",
        &owner.target(&url),
        serde_json::json!({ "endpoint": id, "url": url, "events": events }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}/{id}", owner.base())).into_response())
}

/// A delivery in the log, with its tries.
struct LogRow {
    delivery: Delivery,
    tries: Vec<Attempt>,
}

#[derive(Template)]
#[template(path = "webhooks/endpoint.html")]
struct EndpointPage {
    layout: Layout,
    base: String,
    endpoint: Endpoint,
    labels: Vec<&'static str>,
    log: Vec<LogRow>,
}

impl EndpointPage {
    fn when(&self, at: &time::OffsetDateTime) -> String {
        format_datetime(*at)
    }

    fn codes(&self, delivery: &Delivery) -> String {
        delivery
            .responses
            .iter()
            .map(|code| code.map_or_else(|| "no answer".to_string(), |c| c.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn endpoint_page(state: &AppState, user: &User, owner: Owner, id: i64) -> Result<Response, AppError> {
    let endpoint = webhooks::get(&state.db, owner.team_id(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    let deliveries = webhooks::deliveries(&state.db, endpoint.id, LOG_LENGTH).await?;
    let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
    let mut tries: HashMap<i64, Vec<Attempt>> = HashMap::new();
    for attempt in webhooks::attempts(&state.db, &ids).await? {
        tries.entry(attempt.delivery_id).or_default().push(attempt);
    }
    let labels = EVENTS
        .iter()
        .filter(|(name, _)| endpoint.events.iter().any(|e| e == name))
        .map(|(_, label)| *label)
        .collect();
    let page = EndpointPage {
        layout: Layout::new(state, Some(user), format!("Webhook {}", endpoint.url)),
        base: owner.base(),
        labels,
        log: deliveries
            .into_iter()
            .map(|delivery| LogRow {
                tries: tries.remove(&delivery.id).unwrap_or_default(),
                delivery,
            })
            .collect(),
        endpoint,
    };
    Ok(render(&page)?.into_response())
}

async fn delete(state: &AppState, user: &User, owner: Owner, id: i64) -> Result<Response, AppError> {
    let mut tx = state.db.begin().await?;
    let endpoint = webhooks::get(&mut *tx, owner.team_id(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    webhooks::delete(&mut *tx, owner.team_id(), id).await?;
    admin::record(
        &mut *tx,
        Some(user.id),
        "webhook_deleted",
        &owner.target(&endpoint.url),
        serde_json::json!({ "endpoint": id, "url": endpoint.url }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&owner.base()).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActiveForm {
    /// "yes" to enable; anything else disables.
    active: String,
}

async fn set_active(
    state: &AppState,
    user: &User,
    owner: Owner,
    id: i64,
    form: ActiveForm,
) -> Result<Response, AppError> {
    let active = form.active == "yes";
    let mut tx = state.db.begin().await?;
    let endpoint = webhooks::get(&mut *tx, owner.team_id(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    webhooks::set_active(&mut *tx, owner.team_id(), id, active).await?;
    admin::record(
        &mut *tx,
        Some(user.id),
        if active {
            "webhook_enabled"
        } else {
            "webhook_disabled"
        },
        &owner.target(&endpoint.url),
        serde_json::json!({ "endpoint": id }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}/{id}", owner.base())).into_response())
}

async fn ping(state: &AppState, owner: Owner, id: i64) -> Result<Response, AppError> {
    let endpoint = webhooks::get(&state.db, owner.team_id(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    webhooks::queue_ping(&state.db, &endpoint).await?;
    Ok(Redirect::to(&format!("{}/{id}", owner.base())).into_response())
}

async fn redeliver(state: &AppState, owner: Owner, id: i64) -> Result<Response, AppError> {
    let endpoint = webhooks::redeliver(&state.db, owner.team_id(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Redirect::to(&format!("{}/{endpoint}", owner.base())).into_response())
}

// ---------- the routes, per owner ----------

async fn site_list(State(state): State<AppState>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let owner = site(&user)?;
    show_list(&state, &user, owner).await
}

async fn site_create(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Form(form): Form<EndpointForm>,
) -> Result<Response, AppError> {
    let owner = site(&user)?;
    create(&state, &user, owner, form).await
}

async fn site_endpoint(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let owner = site(&user)?;
    endpoint_page(&state, &user, owner, id).await
}

async fn site_delete(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let owner = site(&user)?;
    delete(&state, &user, owner, id).await
}

async fn site_active(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    Form(form): Form<ActiveForm>,
) -> Result<Response, AppError> {
    let owner = site(&user)?;
    set_active(&state, &user, owner, id, form).await
}

async fn site_ping(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let owner = site(&user)?;
    ping(&state, owner, id).await
}

async fn site_redeliver(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let owner = site(&user)?;
    redeliver(&state, owner, id).await
}

async fn team_list(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let owner = team(&state, &user, &slug).await?;
    show_list(&state, &user, owner).await
}

async fn team_create(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Form(form): Form<EndpointForm>,
) -> Result<Response, AppError> {
    let owner = team(&state, &user, &slug).await?;
    create(&state, &user, owner, form).await
}

async fn team_endpoint(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let owner = team(&state, &user, &slug).await?;
    endpoint_page(&state, &user, owner, id).await
}

async fn team_delete(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let owner = team(&state, &user, &slug).await?;
    delete(&state, &user, owner, id).await
}

async fn team_active(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, i64)>,
    Form(form): Form<ActiveForm>,
) -> Result<Response, AppError> {
    let owner = team(&state, &user, &slug).await?;
    set_active(&state, &user, owner, id, form).await
}

async fn team_ping(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let owner = team(&state, &user, &slug).await?;
    ping(&state, owner, id).await
}

async fn team_redeliver(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let owner = team(&state, &user, &slug).await?;
    redeliver(&state, owner, id).await
}
