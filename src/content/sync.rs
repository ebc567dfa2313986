//! Loading a content directory into PostgreSQL: one transaction, nothing deleted, unchanged files write nothing.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;

use sqlx::PgPool;

use super::Diagnostic;
use super::parse::{Content, Invalid, parse_dir};
use crate::db::content::{self as db, LoadCounts, RoadmapRow, SkillRow, StageRow};

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The files are the ones last loaded: nothing was written.
    Unchanged,
    /// The files were valid and the database now matches them.
    Applied(LoadCounts),
    /// Some file has an error: the content tables are untouched.
    Failed(Vec<Diagnostic>),
}

/// Parses `dir` and syncs it into the database. A failed load is recorded
/// (once per distinct set of files) but leaves the content tables alone.
pub async fn load_dir(pool: &PgPool, dir: &Path) -> sqlx::Result<LoadOutcome> {
    // Parsing reads files and renders markdown: keep it off the async workers.
    let dir = dir.to_path_buf();
    let parsed = tokio::task::spawn_blocking(move || parse_dir(&dir))
        .await
        .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))?;
    match parsed {
        Ok(content) => apply(pool, &content).await,
        Err(invalid) => record_failure(pool, &invalid).await,
    }
}

async fn record_failure(pool: &PgPool, invalid: &Invalid) -> sqlx::Result<LoadOutcome> {
    let mut tx = pool.begin().await?;
    db::lock_content(&mut *tx).await?;
    if db::latest_load_hash(&mut *tx).await?.as_deref() != Some(invalid.hash.as_str()) {
        db::record_failed_load(&mut *tx, &invalid.hash, &invalid.diagnostics).await?;
    }
    tx.commit().await?;
    Ok(LoadOutcome::Failed(invalid.diagnostics.clone()))
}

/// Syncs valid content in one transaction, under an advisory lock so that
/// only one instance applies a given load.
pub async fn apply(pool: &PgPool, content: &Content) -> sqlx::Result<LoadOutcome> {
    let mut tx = pool.begin().await?;
    db::lock_content(&mut *tx).await?;
    if db::latest_load_hash(&mut *tx).await?.as_deref() == Some(content.hash.as_str()) {
        tx.rollback().await?;
        return Ok(LoadOutcome::Unchanged);
    }

    let (roadmaps, stages, skills) = desired_rows(content);
    let mut counts = LoadCounts::default();
    let (roadmap_upserts, roadmap_retired) = diff(
        roadmaps,
        db::all_roadmaps(&mut *tx).await?,
        |r| r.id.clone(),
        |r| r.retired,
        &mut counts,
    );
    let (stage_upserts, stage_retired) = diff(
        stages,
        db::all_stages(&mut *tx).await?,
        |s| (s.roadmap_id.clone(), s.id.clone()),
        |s| s.retired,
        &mut counts,
    );
    let (skill_upserts, skill_retired) = diff(
        skills,
        db::all_skills(&mut *tx).await?,
        |s| s.id.clone(),
        |s| s.retired,
        &mut counts,
    );

    // Parents before children, so a skill moved to a new stage finds it.
    db::upsert_roadmaps(&mut *tx, &roadmap_upserts).await?;
    db::upsert_stages(&mut *tx, &stage_upserts).await?;
    db::upsert_skills(&mut *tx, &skill_upserts).await?;
    db::record_revisions(&mut *tx, &skill_upserts).await?;
    if !skill_retired.is_empty() {
        let ids: Vec<String> = skill_retired.into_iter().map(|s| s.id).collect();
        db::retire_skills(&mut *tx, &ids).await?;
    }
    if !stage_retired.is_empty() {
        let (roadmap_ids, ids): (Vec<String>, Vec<String>) =
            stage_retired.into_iter().map(|s| (s.roadmap_id, s.id)).unzip();
        db::retire_stages(&mut *tx, &roadmap_ids, &ids).await?;
    }
    if !roadmap_retired.is_empty() {
        let ids: Vec<String> = roadmap_retired.into_iter().map(|r| r.id).collect();
        db::retire_roadmaps(&mut *tx, &ids).await?;
    }
    db::record_applied_load(&mut *tx, &content.hash, counts).await?;
    tx.commit().await?;
    Ok(LoadOutcome::Applied(counts))
}

/// The rows the database should hold for `content`.
fn desired_rows(content: &Content) -> (Vec<RoadmapRow>, Vec<StageRow>, Vec<SkillRow>) {
    let mut roadmaps = Vec::new();
    let mut stages = Vec::new();
    let mut skills = Vec::new();
    for roadmap in &content.roadmaps {
        roadmaps.push(RoadmapRow {
            id: roadmap.id.clone(),
            title: roadmap.title.clone(),
            summary: roadmap.summary.clone(),
            intro_md: roadmap.intro_md.clone(),
            intro_html: roadmap.intro_html.clone(),
            position: roadmap.order,
            retired: false,
        });
        for stage in &roadmap.stages {
            stages.push(StageRow {
                roadmap_id: roadmap.id.clone(),
                id: stage.id.clone(),
                title: stage.title.clone(),
                intro_md: stage.intro_md.clone(),
                intro_html: stage.intro_html.clone(),
                position: i32::try_from(stage.number).unwrap_or(i32::MAX),
                retired: false,
            });
            for (position, skill) in stage.skills.iter().enumerate() {
                skills.push(SkillRow {
                    id: skill.id.clone(),
                    roadmap_id: roadmap.id.clone(),
                    stage_id: stage.id.clone(),
                    title: skill.title.clone(),
                    body_md: skill.body_md.clone(),
                    body_html: skill.body_html.clone(),
                    optional: skill.optional,
                    project: skill.project,
                    position: i32::try_from(position).unwrap_or(i32::MAX),
                    content_hash: skill.content_hash.clone(),
                    retired: false,
                });
            }
        }
    }
    (roadmaps, stages, skills)
}

/// Splits `desired` against `existing` into rows to upsert (new, changed or
/// revived) and existing live rows to retire, counting each kind.
fn diff<R: PartialEq, K: Eq + Hash>(
    desired: Vec<R>,
    existing: Vec<R>,
    key: impl Fn(&R) -> K,
    is_retired: impl Fn(&R) -> bool,
    counts: &mut LoadCounts,
) -> (Vec<R>, Vec<R>) {
    let mut existing: HashMap<K, R> = existing.into_iter().map(|row| (key(&row), row)).collect();
    let mut upserts = Vec::new();
    for row in desired {
        match existing.remove(&key(&row)) {
            None => {
                counts.added += 1;
                upserts.push(row);
            }
            Some(old) if is_retired(&old) => {
                counts.revived += 1;
                upserts.push(row);
            }
            Some(old) if old != row => {
                counts.updated += 1;
                upserts.push(row);
            }
            Some(_) => {}
        }
    }
    let retired: Vec<R> = existing.into_values().filter(|row| !is_retired(row)).collect();
    counts.retired += i32::try_from(retired.len()).unwrap_or(i32::MAX);
    (upserts, retired)
}
