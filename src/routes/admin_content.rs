//! The admin content pages: what is live, the latest loads, Reload with an impact preview, and held plans.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Layout, format_datetime, render};
use crate::app::AppState;
use crate::auth::Admin;
use crate::content::Diagnostic;
use crate::content::plan::Plan;
use crate::content::sync::{self, Files, LoadOutcome, Trigger};
use crate::db::content::{self as db, ContentLoad, RetiredSkill};
use crate::error::AppError;
use crate::routes::form::Form;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/content", get(content_page))
        .route("/admin/content/plan", get(plan_page))
        .route("/admin/content/reload", post(reload))
        .route("/admin/content/apply", post(apply))
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/content.html")]
struct ContentPage {
    layout: Layout,
    version: Option<String>,
    /// (title, stages, skills) per live roadmap.
    roadmaps: Vec<(String, usize, usize)>,
    /// When the live version was applied, and by whom or what.
    live_since: Option<(String, String)>,
    /// A held plan that still matches the newest load: it waits for an admin.
    pending: Option<Plan>,
    loads: Vec<(ContentLoad, String)>,
    /// The most recently retired skills, and how many more there are.
    retired: Vec<(RetiredSkill, String)>,
    retired_more: i64,
    notice: Option<&'static str>,
    /// Warnings recorded with the live content's load (the first [`WARNINGS_SHOWN`]), and how many more.
    warnings: Vec<Diagnostic>,
    warnings_more: usize,
    watching: bool,
    /// How the files on disk compare with the live content.
    files: FilesState,
}

/// The content directory as it is now, against what is served.
enum FilesState {
    Live,
    Changed,
    Broken(usize),
}

/// Retired skills listed on the content page; older ones are counted, not listed,
/// so the page costs the same after years of retirements.
const RETIRED_SHOWN: i64 = 100;
/// Warnings listed on the content page; `pathway content check` prints them all.
const WARNINGS_SHOWN: usize = 100;

/// Who or what started a load, in words.
fn started_by(load: &ContentLoad) -> String {
    match (load.trigger.as_str(), &load.loaded_by) {
        ("admin", Some(name)) => format!("{name} (Reload)"),
        ("admin", None) => "an admin (Reload)".into(),
        ("watcher", _) => "the file watcher".into(),
        ("cli", _) => "the command line".into(),
        _ => "server start-up".into(),
    }
}

/// What content is live, what the last loads did, and what was retired.
async fn content_page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(query): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    // Files that hash to the live version need no parsing to say so.
    let dir = &state.settings.content_dir;
    let (files, files_hash) = match sync::read(dir).await? {
        Ok((_, hash)) if catalog.version.as_deref() == Some(hash.as_str()) => (FilesState::Live, hash),
        Ok((folders, _)) => match sync::parse_read(dir, folders).await? {
            Ok(content) => (FilesState::Changed, content.hash),
            Err(invalid) => (FilesState::Broken(invalid.diagnostics.len()), invalid.hash),
        },
        Err(invalid) => (FilesState::Broken(invalid.diagnostics.len()), invalid.hash),
    };
    let loads = db::latest_loads(&state.db, 10).await?;
    let live_since = loads
        .iter()
        .find(|l| l.status == "applied")
        .map(|l| (format_datetime(l.loaded_at), started_by(l)));
    // A held plan is pending only while the files are still the ones it was made from.
    let pending = loads
        .first()
        .filter(|l| l.status == "held" && l.content_hash == files_hash)
        .and_then(|l| l.plan.clone());
    let loads = loads
        .into_iter()
        .map(|l| {
            let when = format!("{} by {}", format_datetime(l.loaded_at), started_by(&l));
            (l, when)
        })
        .collect();
    let (retired, retired_total) = db::retired_skills(&state.db, RETIRED_SHOWN).await?;
    let retired_more = retired_total - retired.len() as i64;
    let retired = retired
        .into_iter()
        .map(|r| {
            let when = format_datetime(r.retired_at);
            (r, when)
        })
        .collect();
    let mut warnings = crate::db::assets::live_warnings(&state.db).await?;
    let warnings_more = warnings.len().saturating_sub(WARNINGS_SHOWN);
    warnings.truncate(WARNINGS_SHOWN);
    let notice = match query.done.as_deref() {
        Some("applied") => Some("Applied: the new content is live."),
        Some("unchanged") => Some("Nothing to do: the files match the live content."),
        Some("failed") => Some("The files have errors, listed under the latest load. Nothing changed."),
        _ => None,
    };
    Ok(render(&ContentPage {
        layout: Layout::new(&state, Some(&admin), "Admin: content"),
        version: catalog.version.as_ref().map(|v| v.chars().take(12).collect()),
        roadmaps: catalog
            .roadmaps
            .iter()
            .map(|r| (r.title.clone(), r.stages.len(), r.skill_count()))
            .collect(),
        live_since,
        pending,
        loads,
        retired,
        retired_more,
        notice,
        warnings,
        warnings_more,
        watching: state.settings.watch_content,
        files,
    })?
    .into_response())
}

#[derive(Template)]
#[template(path = "admin/plan.html")]
struct PlanPage {
    layout: Layout,
    plan: Option<Plan>,
    errors: Vec<Diagnostic>,
    error: Option<&'static str>,
}

impl PlanPage {
    fn learners_at_risk(&self) -> i64 {
        self.plan
            .as_ref()
            .map_or(0, |p| p.retired_with_progress().iter().map(|s| s.learners).sum())
    }
}

/// The plan of files that hash to the live version: nothing to do.
fn unchanged_plan(hash: String) -> Plan {
    Plan {
        content_hash: hash,
        ..Plan::default()
    }
}

/// The dry run: what Reload would do with the files as they are now.
async fn plan_page(State(state): State<AppState>, Admin(admin): Admin) -> Result<Response, AppError> {
    let layout = Layout::new(&state, Some(&admin), "Admin: content plan");
    let (plan, errors) = match sync::read_if_changed(&state.db, &state.settings.content_dir).await? {
        Files::Live(hash) => (Some(unchanged_plan(hash)), Vec::new()),
        Files::Changed(content) => (Some(sync::plan(&state.db, &content).await?), Vec::new()),
        Files::Invalid(invalid) => (None, invalid.diagnostics),
    };
    let page = PlanPage {
        layout,
        plan,
        errors,
        error: None,
    };
    Ok(render(&page)?.into_response())
}

/// Reload: applies at once when nothing with progress would be retired;
/// otherwise shows the plan and asks.
async fn reload(State(state): State<AppState>, Admin(admin): Admin) -> Result<Response, AppError> {
    let content = match sync::read_if_changed(&state.db, &state.settings.content_dir).await? {
        Files::Live(_) => {
            crate::app::log_outcome(&state.settings.content_dir, &LoadOutcome::Unchanged);
            return outcome_redirect(LoadOutcome::Unchanged);
        }
        Files::Changed(content) => content,
        Files::Invalid(invalid) => {
            let outcome = sync::record_failure(&state.db, &invalid, Trigger::Admin(admin.id)).await?;
            crate::app::log_outcome(&state.settings.content_dir, &outcome);
            return Ok(Redirect::to("/admin/content?done=failed").into_response());
        }
    };
    let plan = sync::plan(&state.db, &content).await?;
    if plan.retires_progress() {
        let page = PlanPage {
            layout: Layout::new(&state, Some(&admin), "Admin: content plan"),
            plan: Some(plan),
            errors: Vec::new(),
            error: None,
        };
        return Ok(render(&page)?.into_response());
    }
    outcome_redirect(state.apply_content(&content, Trigger::Admin(admin.id)).await?)
}

fn outcome_redirect(outcome: LoadOutcome) -> Result<Response, AppError> {
    let done = match outcome {
        LoadOutcome::Applied(_) => "applied",
        LoadOutcome::Unchanged => "unchanged",
        LoadOutcome::Held(_) | LoadOutcome::Failed(_) => "failed",
    };
    Ok(Redirect::to(&format!("/admin/content?done={done}")).into_response())
}

#[derive(Deserialize)]
struct ApplyForm {
    /// The content hash of the plan the admin saw.
    #[serde(default)]
    hash: String,
    /// "yes" when the admin confirmed retiring skills with progress.
    #[serde(default)]
    confirm: String,
}

/// Applies the plan the admin saw, if the files are still the ones planned.
async fn apply(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Form(form): Form<ApplyForm>,
) -> Result<Response, AppError> {
    let layout = || Layout::new(&state, Some(&admin), "Admin: content plan");
    let content = match sync::read_if_changed(&state.db, &state.settings.content_dir).await? {
        Files::Live(hash) if hash == form.hash => return outcome_redirect(LoadOutcome::Unchanged),
        Files::Live(hash) => {
            let page = PlanPage {
                layout: layout(),
                plan: Some(unchanged_plan(hash)),
                errors: Vec::new(),
                error: Some(
                    "The files changed since you saw the plan. Here is the plan for the files as they are now.",
                ),
            };
            return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
        }
        Files::Changed(content) => content,
        Files::Invalid(invalid) => {
            let page = PlanPage {
                layout: layout(),
                plan: None,
                errors: invalid.diagnostics,
                error: Some(
                    "The files changed since you saw the plan, and now have errors. Nothing changed.",
                ),
            };
            return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
        }
    };
    let plan = sync::plan(&state.db, &content).await?;
    if content.hash != form.hash {
        let page = PlanPage {
            layout: layout(),
            plan: Some(plan),
            errors: Vec::new(),
            error: Some(
                "The files changed since you saw the plan. Here is the plan for the files as they are now.",
            ),
        };
        return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
    }
    if plan.retires_progress() && form.confirm != "yes" {
        let page = PlanPage {
            layout: layout(),
            plan: Some(plan),
            errors: Vec::new(),
            error: Some("Tick the box to confirm retiring skills that have learner progress."),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    outcome_redirect(state.apply_content(&content, Trigger::Admin(admin.id)).await?)
}
