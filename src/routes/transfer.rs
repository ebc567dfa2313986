//! Export (JSON and CSV) and import (JSON) of a learner's own progress.

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Layout, format_date, render};
use crate::app::AppState;
use crate::auth::SignedIn;
use crate::db::transfer::{self, ImportReport};
use crate::error::AppError;
use crate::transfer::{MAX_FILE_BYTES, validate};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/export.json", get(export_json))
        .route("/account/export.csv", get(export_csv))
        .route(
            "/account/import",
            get(import_page)
                .post(import)
                .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 64 * 1024)),
        )
}

fn attachment(content_type: &'static str, filename: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// Today in the downloader's time zone, for the file name.
fn today() -> String {
    crate::time_zones::viewer().today().to_string()
}

async fn export_json(State(state): State<AppState>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let file = transfer::export(&state.db, user.id, &user.username).await?;
    let body = serde_json::to_vec_pretty(&file).map_err(|e| AppError::Internal(e.into()))?;
    Ok(attachment(
        "application/json",
        format!("pathway-progress-{}-{}.json", user.username, today()),
        body,
    ))
}

/// One row per skill of every started roadmap, plus skills with progress elsewhere.
pub use crate::transfer::spreadsheet_safe;

async fn export_csv(State(state): State<AppState>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let file = transfer::export(&state.db, user.id, &user.username).await?;
    let catalog = state.catalog.load();
    let mut out = csv::Writer::from_writer(Vec::new());
    let write_error = |e: csv::Error| AppError::Internal(e.into());
    out.write_record([
        "roadmap",
        "stage",
        "skill_id",
        "skill",
        "optional",
        "state",
        "started_at",
        "done_at",
        "updated_at",
        "note",
        "evidence",
    ])
    .map_err(write_error)?;
    let rfc = |t: Option<time::OffsetDateTime>| {
        t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default()
    };
    let mut listed = std::collections::HashSet::new();
    let started: Vec<&str> = file.roadmaps.iter().map(|r| r.roadmap.as_str()).collect();
    let mut rows: Vec<(String, String, String, String, bool)> = Vec::new();
    for roadmap in catalog
        .roadmaps
        .iter()
        .filter(|r| started.contains(&r.id.as_str()))
    {
        for stage in &roadmap.stages {
            // A shared skill is exported once, under its home.
            for skill in stage.skills.iter().filter(|k| k.home.is_none()) {
                rows.push((
                    roadmap.id.clone(),
                    stage.id.clone(),
                    skill.id.clone(),
                    skill.title.clone(),
                    skill.optional,
                ));
            }
        }
    }
    for entry in &file.skills {
        if !rows.iter().any(|r| r.2 == entry.skill) {
            let (roadmap, stage, title, optional) = catalog
                .skill(&entry.skill)
                .map(|(r, s, k)| (r.id.clone(), s.id.clone(), k.title.clone(), k.optional))
                .unwrap_or_else(|| (String::new(), String::new(), "(retired)".into(), false));
            rows.push((roadmap, stage, entry.skill.clone(), title, optional));
        }
    }
    for (roadmap, stage, skill_id, title, optional) in rows {
        if !listed.insert(skill_id.clone()) {
            continue;
        }
        let progress = file.skills.iter().find(|s| s.skill == skill_id);
        let note = file
            .notes
            .iter()
            .find(|n| n.skill == skill_id)
            .map(|n| n.body.as_str())
            .unwrap_or("");
        let links: Vec<&str> = file
            .evidence
            .iter()
            .filter(|e| e.skill == skill_id)
            .map(|e| e.url.as_str())
            .collect();
        out.write_record([
            roadmap.as_str(),
            stage.as_str(),
            skill_id.as_str(),
            &spreadsheet_safe(&title),
            if optional { "yes" } else { "no" },
            progress.map_or("not_started", |p| p.state.as_str()),
            &rfc(progress.and_then(|p| p.started_at)),
            &rfc(progress.and_then(|p| p.done_at)),
            &rfc(progress.and_then(|p| p.updated_at)),
            &spreadsheet_safe(note),
            &spreadsheet_safe(&links.join(" ")),
        ])
        .map_err(write_error)?;
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        format!("pathway-progress-{}-{}.csv", user.username, today()),
        body,
    ))
}

#[derive(Template)]
#[template(path = "account/import.html")]
struct ImportPage {
    layout: Layout,
    problems: Vec<String>,
    report: Option<ImportReport>,
    kept_aside: i64,
    exported: Option<String>,
}

async fn import_page(State(state): State<AppState>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let kept_aside = transfer::unmatched_count(&state.db, user.id).await?;
    Ok(render(&ImportPage {
        layout: Layout::new(&state, Some(&user), "Import progress"),
        problems: Vec::new(),
        report: None,
        kept_aside,
        exported: None,
    })?
    .into_response())
}

const IMPORT_TOO_LARGE: &str = "That file is larger than an import may be (5 MiB). \
     Export again from Pathway, or split the file.";

async fn import(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    let mut bytes = None;
    let refused = |error: axum::extract::multipart::MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge(IMPORT_TOO_LARGE)
        } else {
            AppError::BadRequest
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(refused)? {
        if field.name() == Some("file") {
            bytes = Some(field.bytes().await.map_err(refused)?);
        }
    }
    let page = |problems: Vec<String>,
                report: Option<ImportReport>,
                exported: Option<String>,
                kept_aside: i64| ImportPage {
        layout: Layout::new(&state, Some(&user), "Import progress"),
        problems,
        report,
        kept_aside,
        exported,
    };
    let bytes = match bytes {
        Some(bytes) if !bytes.is_empty() => bytes,
        _ => {
            let body = render(&page(vec!["choose a file to import".into()], None, None, 0))?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response());
        }
    };
    let (skills, roadmaps) = transfer::known_ids(&state.db).await?;
    let aliases = crate::db::content::aliases(&state.db).await?;
    let plan = match validate(&bytes, &skills, &roadmaps, &aliases) {
        Ok(plan) => plan,
        Err(problems) => {
            let body = render(&page(problems, None, None, 0))?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response());
        }
    };
    let exported = serde_json::from_slice::<crate::transfer::ProgressFile>(&bytes)
        .ok()
        .map(|f| format_date(f.exported_at));
    let report = match transfer::apply(&state.db, user.id, &plan).await? {
        Ok(report) => report,
        Err(full) => {
            let problem = format!(
                "this file has items for {} skills or roadmaps this instance does not know; at most {} \
                 such items are kept per person (with this file it would be {}). Nothing was imported.",
                plan.unmatched.len(),
                transfer::MAX_KEPT_ASIDE,
                full.would_keep
            );
            let kept_aside = transfer::unmatched_count(&state.db, user.id).await?;
            let body = render(&page(vec![problem], None, None, kept_aside))?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response());
        }
    };
    let kept_aside = transfer::unmatched_count(&state.db, user.id).await?;
    Ok(render(&page(Vec::new(), Some(report), exported, kept_aside))?.into_response())
}
