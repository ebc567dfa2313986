//! The admin content pages: what is live, the latest loads, Reload with an impact preview, and held plans.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Layout, format_datetime, render};
use crate::app::AppState;
use crate::auth::Admin;
use crate::content::Diagnostic;
use crate::content::plan::{LISTED, Plan, Rename, SkillChange};
use crate::content::sync::{self, Files, LoadOutcome, Policy, Trigger};
use crate::db::content::{self as db, ContentLoad, RetiredSkill};
use crate::error::AppError;
use crate::routes::form::Form;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/content", get(content_page))
        .route("/admin/content/plan", get(plan_page))
        .route("/admin/content/loads/{id}", get(load_page))
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
    /// Each load and when and by whom; its lists are on its own page.
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
        Ok((folders, _)) => match sync::parse_read_reusing(&state.db, dir, folders).await? {
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
        .and_then(|l| l.plan.clone())
        .and_then(|plan| serde_json::from_value::<Plan>(plan).ok());
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
    // Planned and applied in one transaction; a plan that retires progress comes back unapplied.
    match state
        .apply_content(&content, Trigger::Admin(admin.id), Policy::AskRetiringProgress)
        .await?
    {
        LoadOutcome::Held(plan) => {
            let page = PlanPage {
                layout: Layout::new(&state, Some(&admin), "Admin: content plan"),
                plan: Some(*plan),
                errors: Vec::new(),
                error: None,
            };
            Ok(render(&page)?.into_response())
        }
        outcome => outcome_redirect(outcome),
    }
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
    outcome_redirect(
        state
            .apply_content(&content, Trigger::Admin(admin.id), Policy::Apply)
            .await?,
    )
}

/// The lists of a load's plan, as `?kind=` names them: (kind, key in the plan's JSON, heading).
const KINDS: &[(&str, &str, &str)] = &[
    ("added", "added", "Added"),
    ("updated", "updated", "Updated (title, text or badges)"),
    ("moved", "moved", "Moved to another stage"),
    ("renamed", "renamed", "Renamed or merged"),
    ("retired", "retired", "Retired"),
    ("revived", "revived", "Revived"),
];

/// Errors of a failed load listed on its page; `pathway content check` prints them all.
const ERRORS_SHOWN: usize = 100;

#[derive(Deserialize)]
struct LoadQuery {
    kind: Option<String>,
    page: Option<i64>,
}

/// One of a load's lists, a page of it.
enum Items {
    Skills(Vec<SkillChange>),
    Renames(Vec<Rename>),
}

#[derive(Template)]
#[template(path = "admin/content_load.html")]
struct LoadPage {
    layout: Layout,
    load: ContentLoad,
    when: String,
    /// (kind, heading, how many) for every list of the plan, empty ones included.
    kinds: Vec<(&'static str, &'static str, i64)>,
    /// The list shown: its kind and heading, this page of it, the page and the page count.
    kind: &'static str,
    heading: &'static str,
    items: Items,
    page: i64,
    pages: i64,
    errors: Vec<Diagnostic>,
    errors_more: usize,
    /// Roadmaps and stages added or retired, listed whole (there are few).
    places: Vec<(&'static str, Vec<String>)>,
}

/// One load: its counts, what it cost, and its lists of skills a page at a time.
async fn load_page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
    Query(query): Query<LoadQuery>,
) -> Result<Response, AppError> {
    let Some(mut load) = db::load(&state.db, id).await? else {
        return Err(AppError::NotFound);
    };
    let lengths = db::load_plan_lengths(&state.db, id).await?;
    let kinds: Vec<(&str, &str, i64)> = KINDS
        .iter()
        .map(|&(kind, key, heading)| (kind, heading, lengths.get(key).copied().unwrap_or(0)))
        .collect();
    // The list asked for, or else the first that has anything.
    let (kind, key, heading) = KINDS
        .iter()
        .copied()
        .find(|k| Some(k.0) == query.kind.as_deref())
        .or_else(|| {
            KINDS
                .iter()
                .copied()
                .find(|k| lengths.get(k.1).is_some_and(|&n| n > 0))
        })
        .unwrap_or(KINDS[0]);
    let total = lengths.get(key).copied().unwrap_or(0);
    let per_page = LISTED as i64;
    let pages = ((total + per_page - 1) / per_page).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let raw = db::load_plan_items(&state.db, id, key, (page - 1) * per_page, per_page).await?;
    let items = if kind == "renamed" {
        Items::Renames(
            raw.into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect(),
        )
    } else {
        Items::Skills(
            raw.into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect(),
        )
    };
    let mut places = Vec::new();
    for (key, label) in [
        ("roadmaps_added", "Roadmaps added"),
        ("roadmaps_retired", "Roadmaps retired"),
        ("stages_added", "Stages added"),
        ("stages_retired", "Stages retired"),
    ] {
        if lengths.get(key).is_some_and(|&n| n > 0) {
            let ids = db::load_plan_items(&state.db, id, key, 0, 1000).await?;
            places.push((
                label,
                ids.into_iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ));
        }
    }
    let errors_more = load.errors.len().saturating_sub(ERRORS_SHOWN);
    let mut errors = std::mem::take(&mut load.errors);
    errors.truncate(ERRORS_SHOWN);
    let when = format!("{} by {}", format_datetime(load.loaded_at), started_by(&load));
    let page = LoadPage {
        layout: Layout::new(&state, Some(&admin), format!("Admin: content load {id}")),
        load,
        when,
        kinds,
        kind,
        heading,
        items,
        page,
        pages,
        errors,
        errors_more,
        places,
    };
    Ok(render(&page)?.into_response())
}
