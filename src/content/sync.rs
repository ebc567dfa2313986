//! Loading a content directory into PostgreSQL: planned first, one transaction, nothing deleted, unchanged files write nothing.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::PgPool;

use super::Diagnostic;
use super::parse::{
    CachedFile, Content, FileCache, Invalid, SourceFolder, Sources, parse_dir, parse_folders,
    parse_folders_reusing, read_sources, source_hash,
};
use super::plan::{self, Existing, Plan};
use super::render::{Renderer, configured};
use super::rows::{PlacementRow, RoadmapRow, SkillFacts, SkillRow, StageRow};
use crate::db::admin as audit;
use crate::db::content::{self as db, LoadCounts, LoadWork};
use crate::db::renames;

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The files are the ones last loaded: nothing was written.
    Unchanged,
    /// The files were valid and the database now matches them.
    Applied(LoadCounts),
    /// The plan would retire skills with progress, and the policy says ask
    /// first: nothing changed, the plan waits for an admin.
    Held(Box<Plan>),
    /// Some file has an error: the content tables are untouched.
    Failed(Vec<Diagnostic>),
}

/// Who or what started a load; recorded with it and in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    /// An admin pressed Reload (or confirmed a plan): their user id.
    Admin(i64),
    Watcher,
    Cli,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Admin(_) => "admin",
            Self::Watcher => "watcher",
            Self::Cli => "cli",
        }
    }

    fn user(self) -> Option<i64> {
        match self {
            Self::Admin(id) => Some(id),
            _ => None,
        }
    }
}

/// When a plan may be applied without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Apply whatever the files say (an admin confirmed, or a script asked).
    Apply,
    /// Hold the change when it would retire skills that have progress.
    HoldRetiringProgress,
    /// Apply unless it would retire skills that have progress; then record nothing and
    /// return the plan as held, for the admin who asked to confirm it (Reload).
    AskRetiringProgress,
}

/// Parses `dir` and syncs it into the database, applying any plan.
pub async fn load_dir(pool: &PgPool, dir: &Path) -> sqlx::Result<LoadOutcome> {
    load_dir_with(pool, dir, Trigger::Cli, Policy::Apply).await
}

/// Parses `dir` off the async workers (it reads files and renders markdown).
pub async fn parse(dir: &Path) -> sqlx::Result<Result<Content, Invalid>> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || parse_dir(&dir))
        .await
        .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))
}

/// Reads `dir` and hashes what it read (its content version), off the async
/// workers, without parsing; [`parse_read`] parses it afterwards if need be.
pub async fn read(dir: &Path) -> sqlx::Result<Result<(Vec<SourceFolder>, String), Invalid>> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        read_sources(&dir).map(|folders| {
            let hash = source_hash(&folders);
            (folders, hash)
        })
    })
    .await
    .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))
}

/// Parses folders [`read`] from `dir`, off the async workers.
pub async fn parse_read(dir: &Path, folders: Vec<SourceFolder>) -> sqlx::Result<Result<Content, Invalid>> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || parse_folders(&dir, folders))
        .await
        .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))
}

/// The parse of every file kept by the last applied load (`content_files`); entries
/// this build cannot read are left out, and so parsed again.
pub async fn file_cache(pool: &PgPool) -> sqlx::Result<FileCache> {
    let rows = db::kept_files(pool).await?;
    tokio::task::spawn_blocking(move || {
        let files = rows
            .into_iter()
            .filter_map(|(path, hash, json)| {
                let file: CachedFile = serde_json::from_str(&json).ok()?;
                (file.hash == hash).then(|| (PathBuf::from(path), file))
            })
            .collect();
        FileCache { files }
    })
    .await
    .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))
}

/// Parses folders [`read`] from `dir`, taking the files that did not change from the
/// file cache. The content keeps what it was parsed from, so that an apply that finds
/// a kept file's rows changed since ([`stale_kept_files`]) parses that file again.
pub async fn parse_read_reusing(
    pool: &PgPool,
    dir: &Path,
    folders: Vec<SourceFolder>,
) -> sqlx::Result<Result<Content, Invalid>> {
    let started = std::time::Instant::now();
    let cache = file_cache(pool).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        files = cache.files.len(),
        "content: file cache read"
    );
    if cache.files.is_empty() {
        return parse_read(dir, folders).await;
    }
    let sources = Arc::new(Sources {
        root: dir.to_path_buf(),
        folders,
        cache,
    });
    let parsed = reparse(sources, &[]).await;
    tracing::debug!(ms = started.elapsed().as_millis(), "content: parsed");
    parsed
}

/// Parses `sources` again, without taking `stale` from its cache.
async fn reparse(sources: Arc<Sources>, stale: &[PathBuf]) -> sqlx::Result<Result<Content, Invalid>> {
    let sources = if stale.is_empty() {
        sources
    } else {
        let mut cache = sources.cache.clone();
        for path in stale {
            cache.files.remove(path);
        }
        Arc::new(Sources {
            root: sources.root.clone(),
            folders: sources.folders.clone(),
            cache,
        })
    };
    tokio::task::spawn_blocking(move || {
        let renderer = Renderer::new(configured().clone());
        let mut parsed = parse_folders_reusing(&sources.root, &sources.folders, &renderer, &sources.cache);
        if let Ok(content) = &mut parsed
            && content.reused_files() > 0
        {
            content.sources = Some(Arc::clone(&sources));
        }
        parsed
    })
    .await
    .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))
}

/// Stage files taken from the file cache whose skills are not in the database as that
/// file would have written them (rows changed by hand, or by a load of other files).
fn stale_kept_files(content: &Content, facts: &[SkillFacts]) -> Vec<PathBuf> {
    let by_id: HashMap<&str, &SkillFacts> = facts.iter().map(|f| (f.id.as_str(), f)).collect();
    let mut stale = Vec::new();
    for roadmap in &content.roadmaps {
        for stage in roadmap.stages.iter().filter(|s| s.reused) {
            let positions = stage.skill_positions();
            let agrees = stage.skills.iter().zip(positions).all(|(skill, position)| {
                by_id.get(skill.id.as_str()).is_some_and(|f| {
                    !f.retired
                        && f.roadmap_id == roadmap.id
                        && f.stage_id == stage.id
                        && f.position == position
                        && f.title == skill.title
                        && f.content_hash == skill.content_hash
                        && f.optional == skill.optional
                        && f.project == skill.project
                        && f.meta.0 == skill.meta
                })
            });
            if !agrees {
                stale.push(stage.path.clone());
            }
        }
    }
    stale
}

/// A content directory compared with the live content, parsed only when it differs.
#[derive(Debug)]
pub enum Files {
    /// The files hash to the version last applied (this hash): nothing was parsed.
    Live(String),
    /// The files differ from the live content and are valid.
    Changed(Content),
    /// The files differ from the live content and have errors.
    Invalid(Invalid),
}

/// Reads and hashes `dir`, and parses it only when that hash is not the applied
/// version's: an unchanged directory costs a read, a hash and one indexed query,
/// however many skills it holds.
pub async fn read_if_changed(pool: &PgPool, dir: &Path) -> sqlx::Result<Files> {
    let read = read(dir).await?;
    parse_unless_live(pool, dir, read).await
}

/// The rest of [`read_if_changed`] once [`read`] has read `dir`, for a caller that
/// reads the files while it does something else (the CLI connects meanwhile).
pub async fn parse_unless_live(
    pool: &PgPool,
    dir: &Path,
    read: Result<(Vec<SourceFolder>, String), Invalid>,
) -> sqlx::Result<Files> {
    let folders = match read {
        Ok((_, hash)) if db::applied_hash(pool).await?.as_deref() == Some(hash.as_str()) => {
            return Ok(Files::Live(hash));
        }
        Ok((folders, _)) => folders,
        Err(invalid) => return Ok(Files::Invalid(invalid)),
    };
    Ok(match parse_read_reusing(pool, dir, folders).await? {
        Ok(content) => Files::Changed(content),
        Err(invalid) => Files::Invalid(invalid),
    })
}

/// Parses `dir` and syncs it into the database. Files whose version is the
/// live one are not even parsed (a watcher burst or a restart costs a read and
/// a hash). A failed load is recorded (once per distinct set of files) but
/// leaves the content tables alone.
pub async fn load_dir_with(
    pool: &PgPool,
    dir: &Path,
    trigger: Trigger,
    policy: Policy,
) -> sqlx::Result<LoadOutcome> {
    match read_if_changed(pool, dir).await? {
        Files::Live(_) => Ok(LoadOutcome::Unchanged),
        Files::Changed(content) => apply_with(pool, &content, trigger, policy).await,
        Files::Invalid(invalid) => record_failure(pool, &invalid, trigger).await,
    }
}

/// Records a load that failed validation (once per distinct set of files).
pub async fn record_failure(pool: &PgPool, invalid: &Invalid, trigger: Trigger) -> sqlx::Result<LoadOutcome> {
    let mut tx = pool.begin().await?;
    db::lock_content(&mut *tx).await?;
    if db::latest_load_hash(&mut *tx).await?.as_deref() != Some(invalid.hash.as_str()) {
        let id = db::record_failed_load(
            &mut *tx,
            &invalid.hash,
            &invalid.diagnostics,
            trigger.name(),
            trigger.user(),
        )
        .await?;
        let details = serde_json::json!({
            "trigger": trigger.name(),
            "errors": invalid.diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        audit::record(
            &mut *tx,
            trigger.user(),
            "content.failed",
            &format!("load {id}"),
            details,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(LoadOutcome::Failed(invalid.diagnostics.clone()))
}

/// Computes what loading `content` would do, without writing anything.
pub async fn plan(pool: &PgPool, content: &Content) -> sqlx::Result<Plan> {
    let mut conn = pool.acquire().await?;
    let rows = read_rows(&mut conn).await?;
    rows.plan(&mut conn, content).await
}

/// The content rows a plan is computed against, read once per load.
struct Rows {
    roadmaps: Vec<RoadmapRow>,
    stages: Vec<StageRow>,
    skills: Vec<SkillFacts>,
    aliased: HashSet<String>,
    placements: Vec<PlacementRow>,
}

impl Rows {
    /// The plan, with learners counted for the skills it touches only.
    async fn plan(&self, conn: &mut sqlx::PgConnection, content: &Content) -> sqlx::Result<Plan> {
        let mut plan = plan::compute(
            content,
            &Existing {
                roadmaps: &self.roadmaps,
                stages: &self.stages,
                skills: &self.skills,
                aliased: &self.aliased,
                placements: &self.placements,
            },
        );
        let learners = db::learners_per_skill(&mut *conn, &plan.counted_skills()).await?;
        plan.count_learners(&learners);
        Ok(plan)
    }
}

async fn read_rows(conn: &mut sqlx::PgConnection) -> sqlx::Result<Rows> {
    Ok(Rows {
        roadmaps: db::all_roadmaps(&mut *conn).await?,
        stages: db::all_stages(&mut *conn).await?,
        skills: db::all_skill_facts(&mut *conn).await?,
        aliased: db::aliased_ids(&mut *conn).await?,
        placements: db::all_placements(&mut *conn).await?,
    })
}

/// Syncs valid content whatever it retires (as a script would).
pub async fn apply(pool: &PgPool, content: &Content) -> sqlx::Result<LoadOutcome> {
    apply_with(pool, content, Trigger::Cli, Policy::Apply).await
}

/// Syncs valid content in one transaction, under an advisory lock so that
/// only one instance applies a given load. Renames move every row of the
/// old ids in the same transaction. Other instances hear of it by NOTIFY.
pub async fn apply_with(
    pool: &PgPool,
    content: &Content,
    trigger: Trigger,
    policy: Policy,
) -> sqlx::Result<LoadOutcome> {
    Ok(apply_planned(pool, content, trigger, policy).await?.0)
}

/// [`apply_with`], also returning the plan it applied or held (none when unchanged
/// or failed).
pub async fn apply_planned(
    pool: &PgPool,
    content: &Content,
    trigger: Trigger,
    policy: Policy,
) -> sqlx::Result<(LoadOutcome, Option<Plan>)> {
    let mut content = std::borrow::Cow::Borrowed(content);
    loop {
        let stale = match apply_once(pool, &content, trigger, policy).await? {
            Attempt::Done(outcome, plan) => return Ok((outcome, plan.map(|plan| *plan))),
            Attempt::Stale(stale) => stale,
        };
        // Rows of kept files changed since they were kept: parse those files again.
        tracing::info!(
            files = stale.len(),
            "kept content files no longer match the database; parsing them again"
        );
        let Some(sources) = content.sources.clone() else {
            return Err(sqlx::Error::Protocol(
                "kept content files without their sources".into(),
            ));
        };
        match reparse(sources, &stale).await? {
            Ok(fresh) => content = std::borrow::Cow::Owned(fresh),
            Err(invalid) => return Ok((record_failure(pool, &invalid, trigger).await?, None)),
        }
    }
}

enum Attempt {
    Done(LoadOutcome, Option<Box<Plan>>),
    /// These kept files' rows are not as the files would write them.
    Stale(Vec<PathBuf>),
}

async fn apply_once(
    pool: &PgPool,
    content: &Content,
    trigger: Trigger,
    policy: Policy,
) -> sqlx::Result<Attempt> {
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    db::lock_content(&mut *tx).await?;
    if db::applied_hash(&mut *tx).await?.as_deref() == Some(content.hash.as_str()) {
        tx.rollback().await?;
        return Ok(Attempt::Done(LoadOutcome::Unchanged, None));
    }

    let rows = read_rows(&mut tx).await?;
    tracing::debug!(ms = started.elapsed().as_millis(), "content apply: rows read");
    let stale = stale_kept_files(content, &rows.skills);
    if !stale.is_empty() {
        tx.rollback().await?;
        return Ok(Attempt::Stale(stale));
    }
    let plan = rows.plan(&mut tx, content).await?;
    if policy == Policy::AskRetiringProgress && plan.retires_progress() {
        tx.rollback().await?;
        return Ok(Attempt::Done(
            LoadOutcome::Held(Box::new(plan.clone())),
            Some(Box::new(plan)),
        ));
    }
    if policy == Policy::HoldRetiringProgress && plan.retires_progress() {
        // Hold it once per distinct set of files; the admin page shows it.
        if db::latest_load_hash(&mut *tx).await?.as_deref() != Some(content.hash.as_str()) {
            let plan_json = serde_json::to_value(&plan).unwrap_or_default();
            let id = db::record_held_load(&mut *tx, &content.hash, trigger.name(), &plan_json).await?;
            let details = serde_json::json!({ "trigger": trigger.name(), "plan": plan.summary() });
            audit::record(
                &mut *tx,
                trigger.user(),
                "content.held",
                &format!("load {id}"),
                details,
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(Attempt::Done(
            LoadOutcome::Held(Box::new(plan.clone())),
            Some(Box::new(plan)),
        ));
    }

    tracing::debug!(ms = started.elapsed().as_millis(), "content apply: planned");
    let (roadmaps, stages, skills) = desired_rows(content);
    let mut counts = LoadCounts::default();
    let (roadmap_upserts, roadmap_retired) = diff(
        roadmaps,
        rows.roadmaps,
        |r| r.id.clone(),
        |r| r.retired,
        &mut counts,
    );
    let (stage_upserts, stage_retired) = diff(
        stages,
        rows.stages,
        |s| (s.roadmap_id.clone(), s.id.clone()),
        |s| s.retired,
        &mut counts,
    );
    // Skills of files taken from the cache are not in `skills`: their rows are as they were.
    let desired_ids: Vec<String> = skills.iter().map(|s| s.id.clone()).collect();
    let stored = db::skills_by_id(&mut *tx, &desired_ids).await?;
    let mut skill_counts = LoadCounts::default();
    let (skill_upserts, _) = diff(skills, stored, |s| s.id.clone(), |s| s.retired, &mut skill_counts);
    let wanted: HashSet<&str> = content
        .roadmaps
        .iter()
        .flat_map(|r| &r.stages)
        .flat_map(|s| &s.skills)
        .map(|s| s.id.as_str())
        .collect();
    let skill_retired: Vec<&SkillFacts> = rows
        .skills
        .iter()
        .filter(|s| !s.retired && !wanted.contains(s.id.as_str()))
        .collect();
    skill_counts.retired = i32::try_from(skill_retired.len()).unwrap_or(i32::MAX);
    // A rename is counted once, as renamed: its new id is not also "added", nor its old ids "retired".
    let renamed_into_new: HashSet<&str> = plan
        .renamed
        .iter()
        .filter(|r| !r.into_existing)
        .map(|r| r.id.as_str())
        .collect();
    let renamed_from: HashSet<&str> = plan
        .renamed
        .iter()
        .flat_map(|r| r.from.iter().map(String::as_str))
        .collect();
    let count_in = |ids: &mut dyn Iterator<Item = &str>, among: &HashSet<&str>| {
        i32::try_from(ids.filter(|id| among.contains(id)).count()).unwrap_or(i32::MAX)
    };
    counts.added += skill_counts.added
        - count_in(
            &mut skill_upserts.iter().map(|s| s.id.as_str()),
            &renamed_into_new,
        );
    counts.retired +=
        skill_counts.retired - count_in(&mut skill_retired.iter().map(|s| s.id.as_str()), &renamed_from);
    counts.updated += skill_counts.updated;
    counts.revived += skill_counts.revived;

    // With the rows that name them, so pages never link to a file not stored yet.
    crate::db::assets::store(&mut tx, &content.assets).await?;
    // Parents before children, so a skill moved to a new stage finds it.
    db::upsert_roadmaps(&mut *tx, &roadmap_upserts).await?;
    db::upsert_stages(&mut *tx, &stage_upserts).await?;
    db::upsert_skills(&mut *tx, &skill_upserts).await?;
    db::record_revisions(&mut *tx, &skill_upserts).await?;
    // Includes are derived from the files: those gone are deleted, the rest written as they are.
    let placements = desired_placements(content);
    let stored_placements = rows.placements;
    let key = |p: &PlacementRow| (p.skill_id.clone(), p.roadmap_id.clone(), p.stage_id.clone());
    let wanted: HashSet<_> = placements.iter().map(key).collect();
    let stored: HashSet<&PlacementRow> = stored_placements.iter().collect();
    let placement_gone: Vec<PlacementRow> = stored_placements
        .iter()
        .filter(|p| !wanted.contains(&key(p)))
        .cloned()
        .collect();
    let placement_new: Vec<PlacementRow> = placements
        .iter()
        .filter(|d| !stored.contains(d))
        .cloned()
        .collect();
    db::remove_placements(&mut *tx, &placement_gone).await?;
    db::upsert_placements(&mut *tx, &placement_new).await?;
    let live_ids: Vec<String> = content
        .roadmaps
        .iter()
        .flat_map(|r| &r.stages)
        .flat_map(|s| &s.skills)
        .map(|s| s.id.clone())
        .collect();
    renames::forget_aliases(&mut tx, &live_ids).await?;
    for rename in &plan.renamed {
        renames::carry(&mut tx, &rename.from, &rename.id).await?;
    }
    // Progress that moved or was renamed into another roadmap shows there at once.
    let arrived: Vec<String> = plan
        .moved
        .iter()
        .map(|s| s.id.clone())
        .chain(plan.renamed.iter().map(|r| r.id.clone()))
        .collect();
    if !arrived.is_empty() {
        db::enroll_learners_of(&mut *tx, &arrived).await?;
    }
    counts.renamed = i32::try_from(plan.renamed.len()).unwrap_or(i32::MAX);
    counts.moved = i32::try_from(plan.moved.len()).unwrap_or(i32::MAX);
    let retired_ids: Vec<String> = skill_retired.iter().map(|s| s.id.clone()).collect();
    if !retired_ids.is_empty() {
        db::retire_skills(&mut *tx, &retired_ids).await?;
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
    keep_parsed_files(&mut tx, content).await?;
    let touched: Vec<String> = skill_upserts
        .iter()
        .map(|s| s.id.clone())
        .chain(retired_ids)
        .collect();
    let work = LoadWork {
        files_parsed: i32::try_from(content.parsed_files.len()).unwrap_or(i32::MAX),
        files_reused: i32::try_from(content.reused_files()).unwrap_or(i32::MAX),
        skills_written: i32::try_from(touched.len()).unwrap_or(i32::MAX),
    };
    let plan_json = serde_json::to_value(&plan).unwrap_or_default();
    let id = db::record_applied_load(
        &mut *tx,
        &content.hash,
        counts,
        work,
        &touched,
        trigger.name(),
        trigger.user(),
        &plan_json,
    )
    .await?;
    crate::db::assets::record_warnings(&mut *tx, id, &content.warnings).await?;
    let details = serde_json::json!({
        "trigger": trigger.name(),
        "plan": plan.summary(),
        "renamed": plan.renamed.iter().map(|r| format!("{} <- {}", r.id, r.from.join(", "))).collect::<Vec<_>>(),
        "retired": plan.retired.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
    });
    audit::record(
        &mut *tx,
        trigger.user(),
        "content.applied",
        &format!("load {id}"),
        details,
    )
    .await?;
    db::announce_load(&mut *tx, id).await?;
    tracing::debug!(ms = started.elapsed().as_millis(), "content apply: written");
    tx.commit().await?;
    tracing::debug!(ms = started.elapsed().as_millis(), "content apply: committed");
    // Imported items that waited for these skills can land now.
    match crate::db::transfer::rematch_kept_aside(pool).await {
        Ok(0) => {}
        Ok(matched) => tracing::info!(matched, "matched kept-aside import items to the new content"),
        Err(error) => tracing::warn!(%error, "could not match kept-aside import items"),
    }
    Ok(Attempt::Done(LoadOutcome::Applied(counts), Some(Box::new(plan))))
}

/// Keeps what the files parsed for this load gave, for the next load to reuse.
async fn keep_parsed_files(tx: &mut sqlx::PgConnection, content: &Content) -> sqlx::Result<()> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let parsed: Vec<(String, String, String)> = content
        .parsed_files
        .iter()
        .filter_map(|(p, file)| Some((path(p), file.hash.clone(), serde_json::to_string(file).ok()?)))
        .collect();
    let present: Vec<String> = content.source_files.iter().map(|p| path(p)).collect();
    db::keep_files(tx, &content.hash, &parsed, &present).await
}

/// The rows the database should hold for `content`; skills only for the stage files
/// parsed this time (those taken from the cache are stored already).
fn desired_rows(content: &Content) -> (Vec<RoadmapRow>, Vec<StageRow>, Vec<SkillRow>) {
    let mut roadmaps = Vec::new();
    let mut stages = Vec::new();
    let mut skills = Vec::new();
    for roadmap in &content.roadmaps {
        roadmaps.push(RoadmapRow {
            id: roadmap.id.clone(),
            title: roadmap.title.clone(),
            summary: roadmap.summary.clone(),
            group_name: roadmap.group.clone(),
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
            if stage.reused {
                continue;
            }
            for (skill, position) in stage.skills.iter().zip(stage.skill_positions()) {
                skills.push(SkillRow {
                    id: skill.id.clone(),
                    roadmap_id: roadmap.id.clone(),
                    stage_id: stage.id.clone(),
                    title: skill.title.clone(),
                    body_md: skill.body_md.clone(),
                    body_html: skill.body_html.clone(),
                    body_text: skill.body_text.clone(),
                    optional: skill.optional,
                    project: skill.project,
                    position,
                    content_hash: skill.content_hash.clone(),
                    steps: sqlx::types::Json(skill.steps.clone()),
                    meta: sqlx::types::Json(skill.meta.clone()),
                    retired: false,
                });
            }
        }
    }
    (roadmaps, stages, skills)
}

/// Every include of every stage, as the database should hold them.
fn desired_placements(content: &Content) -> Vec<PlacementRow> {
    content
        .roadmaps
        .iter()
        .flat_map(|r| r.stages.iter().map(move |s| (r, s)))
        .flat_map(|(r, s)| {
            s.includes.iter().map(move |include| PlacementRow {
                skill_id: include.id.clone(),
                roadmap_id: r.id.clone(),
                stage_id: s.id.clone(),
                position: i32::try_from(include.index).unwrap_or(i32::MAX),
            })
        })
        .collect()
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
