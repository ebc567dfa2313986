//! Queries over the synced content tables: roadmaps, stages, skills and content loads.

use std::collections::{HashMap, HashSet};

use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::content::Diagnostic;
use crate::content::meta::SkillMeta;
use crate::content::parse::Step;

/// The channel an applied load is announced on, so every instance refreshes its cache.
pub const CONTENT_CHANNEL: &str = "pathway_content";

/// Serializes content loads across every instance sharing the database.
pub const CONTENT_LOCK_KEY: i64 = 0x7061_7468_7761_7901; // "pathway\x01"

pub async fn lock_content(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query!("select pg_advisory_xact_lock($1)", CONTENT_LOCK_KEY)
        .execute(db)
        .await?;
    Ok(())
}

/// Hash of the most recent load, applied or failed.
pub async fn latest_load_hash(db: impl PgExecutor<'_>) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select content_hash from content_loads order by id desc limit 1")
        .fetch_optional(db)
        .await
}

#[derive(Debug, Clone)]
pub struct ContentLoad {
    pub id: i64,
    pub loaded_at: OffsetDateTime,
    pub content_hash: String,
    pub status: String,
    pub added: i32,
    pub updated: i32,
    pub retired: i32,
    pub revived: i32,
    pub renamed: i32,
    pub errors: Vec<Diagnostic>,
    /// startup, admin, watcher or cli.
    pub trigger: String,
    /// The admin who pressed Reload or confirmed a plan.
    pub loaded_by: Option<String>,
    pub plan: Option<crate::content::plan::Plan>,
}

pub async fn latest_loads(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<ContentLoad>> {
    let rows = sqlx::query!(
        r#"select l.id, l.loaded_at, l.content_hash, l.status, l.added, l.updated, l.retired, l.revived,
                  l.renamed, l.errors, l.trigger, u.username as "loaded_by?", l.plan
           from content_loads l left join users u on u.id = l.loaded_by
           order by l.id desc limit $1"#,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ContentLoad {
            id: r.id,
            loaded_at: r.loaded_at,
            content_hash: r.content_hash,
            status: r.status,
            added: r.added,
            updated: r.updated,
            retired: r.retired,
            revived: r.revived,
            renamed: r.renamed,
            errors: serde_json::from_value(r.errors).unwrap_or_default(),
            trigger: r.trigger,
            loaded_by: r.loaded_by,
            plan: r.plan.and_then(|plan| serde_json::from_value(plan).ok()),
        })
        .collect())
}

/// The hash of the content currently in the tables.
pub async fn applied_hash(db: impl PgExecutor<'_>) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select content_hash from content_loads where status = 'applied' order by id desc limit 1"
    )
    .fetch_optional(db)
    .await
}

pub async fn record_failed_load(
    db: impl PgExecutor<'_>,
    content_hash: &str,
    errors: &[Diagnostic],
    trigger: &str,
    loaded_by: Option<i64>,
) -> sqlx::Result<i64> {
    let errors = serde_json::to_value(errors).unwrap_or_default();
    sqlx::query_scalar!(
        "insert into content_loads (content_hash, status, errors, trigger, loaded_by)
         values ($1, 'failed', $2, $3, $4) returning id",
        content_hash,
        errors,
        trigger,
        loaded_by
    )
    .fetch_one(db)
    .await
}

/// A plan that waits for an admin because it would retire skills with progress.
pub async fn record_held_load(
    db: impl PgExecutor<'_>,
    content_hash: &str,
    trigger: &str,
    plan: &serde_json::Value,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into content_loads (content_hash, status, trigger, plan) values ($1, 'held', $2, $3) returning id",
        content_hash,
        trigger,
        plan
    )
    .fetch_one(db)
    .await
}

/// Row-level counts of an applied load (roadmaps, stages and skills together),
/// plus skill renames and moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadCounts {
    pub added: i32,
    pub updated: i32,
    pub retired: i32,
    pub revived: i32,
    pub renamed: i32,
    pub moved: i32,
}

pub async fn record_applied_load(
    db: impl PgExecutor<'_>,
    content_hash: &str,
    counts: LoadCounts,
    trigger: &str,
    loaded_by: Option<i64>,
    plan: &serde_json::Value,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into content_loads (content_hash, status, added, updated, retired, revived, renamed, moved,
                                    trigger, loaded_by, plan)
         values ($1, 'applied', $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id",
        content_hash,
        counts.added,
        counts.updated,
        counts.retired,
        counts.revived,
        counts.renamed,
        counts.moved,
        trigger,
        loaded_by,
        plan
    )
    .fetch_one(db)
    .await
}

/// Tells every instance listening on [`CONTENT_CHANNEL`] that load `id` was
/// applied; PostgreSQL delivers it when the transaction commits.
pub async fn announce_load(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query!("select pg_notify($1, $2)", CONTENT_CHANNEL, id.to_string())
        .execute(db)
        .await?;
    Ok(())
}

/// Starts, for each learner with progress on one of `skill_ids`, the roadmap that
/// skill is now in, so progress carried into another roadmap is not hidden.
pub async fn enroll_learners_of(db: impl PgExecutor<'_>, skill_ids: &[String]) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into enrollments (user_id, roadmap_id)
         select distinct p.user_id, s.roadmap_id from skill_progress p join skills s on s.id = p.skill_id
         where p.skill_id = any($1) and p.state <> 'not_started'
         on conflict do nothing",
        skill_ids
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Learners with any progress, note or evidence on each of `skill_ids` (skills
/// without any are left out): one query. It reads only those skills' rows, through
/// the `(skill_id, user_id)` indexes, so its cost follows how many learners those
/// skills have, not how much progress everyone has recorded.
pub async fn learners_per_skill(
    db: impl PgExecutor<'_>,
    skill_ids: &[String],
) -> sqlx::Result<HashMap<String, i64>> {
    if skill_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        r#"select skill_id as "skill_id!", count(distinct user_id) as "learners!" from (
               select skill_id, user_id from skill_progress
               where skill_id = any($1) and state <> 'not_started'
               union all select skill_id, user_id from notes where skill_id = any($1)
               union all select skill_id, user_id from evidence where skill_id = any($1)
           ) touched group by skill_id"#,
        skill_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.skill_id, r.learners)).collect())
}

/// Old ids an earlier load already carried over to another skill.
pub async fn aliased_ids(db: impl PgExecutor<'_>) -> sqlx::Result<HashSet<String>> {
    let ids = sqlx::query_scalar!("select old_id from skill_aliases")
        .fetch_all(db)
        .await?;
    Ok(ids.into_iter().collect())
}

/// Old id to the skill that took it over, for links and imports of old exports.
pub async fn aliases(db: impl PgExecutor<'_>) -> sqlx::Result<HashMap<String, String>> {
    let rows = sqlx::query!("select old_id, new_id from skill_aliases")
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.old_id, r.new_id)).collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoadmapRow {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub group_name: String,
    pub intro_md: String,
    pub intro_html: String,
    pub position: i32,
    pub retired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRow {
    pub roadmap_id: String,
    pub id: String,
    pub title: String,
    pub intro_md: String,
    pub intro_html: String,
    pub position: i32,
    pub retired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillRow {
    pub id: String,
    pub roadmap_id: String,
    pub stage_id: String,
    pub title: String,
    pub body_md: String,
    pub body_html: String,
    /// The body without markdown or HTML, for search.
    pub body_text: String,
    pub optional: bool,
    pub project: bool,
    pub position: i32,
    pub content_hash: String,
    pub steps: Json<Vec<Step>>,
    pub meta: Json<SkillMeta>,
    pub retired: bool,
}

pub async fn all_roadmaps(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<RoadmapRow>> {
    sqlx::query_as!(
        RoadmapRow,
        r#"select id, title, summary, group_name, intro_md, intro_html, position,
                  retired_at is not null as "retired!"
           from roadmaps order by position, title, id"#
    )
    .fetch_all(db)
    .await
}

pub async fn all_stages(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<StageRow>> {
    sqlx::query_as!(
        StageRow,
        r#"select roadmap_id, id, title, intro_md, intro_html, position, retired_at is not null as "retired!"
           from stages order by roadmap_id, position, id"#
    )
    .fetch_all(db)
    .await
}

pub async fn all_skills(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<SkillRow>> {
    sqlx::query_as!(
        SkillRow,
        r#"select id, roadmap_id, stage_id, title, body_md, body_html, body_text, optional, project, position,
                  content_hash, steps as "steps: Json<Vec<Step>>", meta as "meta: Json<SkillMeta>",
                  retired_at is not null as "retired!"
           from skills order by roadmap_id, stage_id, position, id"#
    )
    .fetch_all(db)
    .await
}

/// Inserts or updates roadmaps, reviving retired ones. One statement for all rows.
pub async fn upsert_roadmaps(db: impl PgExecutor<'_>, rows: &[RoadmapRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<_> = rows.iter().map(|r| r.id.clone()).collect();
    let titles: Vec<_> = rows.iter().map(|r| r.title.clone()).collect();
    let summaries: Vec<_> = rows.iter().map(|r| r.summary.clone()).collect();
    let intro_mds: Vec<_> = rows.iter().map(|r| r.intro_md.clone()).collect();
    let intro_htmls: Vec<_> = rows.iter().map(|r| r.intro_html.clone()).collect();
    let positions: Vec<_> = rows.iter().map(|r| r.position).collect();
    let groups: Vec<_> = rows.iter().map(|r| r.group_name.clone()).collect();
    sqlx::query!(
        "insert into roadmaps (id, title, summary, intro_md, intro_html, position, group_name)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[])
         on conflict (id) do update set
             title = excluded.title, summary = excluded.summary, intro_md = excluded.intro_md,
             intro_html = excluded.intro_html, position = excluded.position,
             group_name = excluded.group_name, retired_at = null, updated_at = now()",
        &ids,
        &titles,
        &summaries,
        &intro_mds,
        &intro_htmls,
        &positions,
        &groups
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn upsert_stages(db: impl PgExecutor<'_>, rows: &[StageRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let roadmap_ids: Vec<_> = rows.iter().map(|r| r.roadmap_id.clone()).collect();
    let ids: Vec<_> = rows.iter().map(|r| r.id.clone()).collect();
    let titles: Vec<_> = rows.iter().map(|r| r.title.clone()).collect();
    let intro_mds: Vec<_> = rows.iter().map(|r| r.intro_md.clone()).collect();
    let intro_htmls: Vec<_> = rows.iter().map(|r| r.intro_html.clone()).collect();
    let positions: Vec<_> = rows.iter().map(|r| r.position).collect();
    sqlx::query!(
        "insert into stages (roadmap_id, id, title, intro_md, intro_html, position)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
         on conflict (roadmap_id, id) do update set
             title = excluded.title, intro_md = excluded.intro_md, intro_html = excluded.intro_html,
             position = excluded.position, retired_at = null, updated_at = now()",
        &roadmap_ids,
        &ids,
        &titles,
        &intro_mds,
        &intro_htmls,
        &positions
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn upsert_skills(db: impl PgExecutor<'_>, rows: &[SkillRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<_> = rows.iter().map(|r| r.id.clone()).collect();
    let roadmap_ids: Vec<_> = rows.iter().map(|r| r.roadmap_id.clone()).collect();
    let stage_ids: Vec<_> = rows.iter().map(|r| r.stage_id.clone()).collect();
    let titles: Vec<_> = rows.iter().map(|r| r.title.clone()).collect();
    let body_mds: Vec<_> = rows.iter().map(|r| r.body_md.clone()).collect();
    let body_htmls: Vec<_> = rows.iter().map(|r| r.body_html.clone()).collect();
    let body_texts: Vec<_> = rows.iter().map(|r| r.body_text.clone()).collect();
    let optionals: Vec<_> = rows.iter().map(|r| r.optional).collect();
    let projects: Vec<_> = rows.iter().map(|r| r.project).collect();
    let positions: Vec<_> = rows.iter().map(|r| r.position).collect();
    let hashes: Vec<_> = rows.iter().map(|r| r.content_hash.clone()).collect();
    let steps: Vec<_> = rows
        .iter()
        .map(|r| serde_json::to_value(&r.steps.0).unwrap_or_default())
        .collect();
    let metas: Vec<_> = rows
        .iter()
        .map(|r| serde_json::to_value(&r.meta.0).unwrap_or_default())
        .collect();
    let summaries: Vec<String> = rows.iter().map(|r| r.meta.0.summary.clone()).collect();
    sqlx::query!(
        "insert into skills (id, roadmap_id, stage_id, title, body_md, body_html, optional, project,
                             position, content_hash, steps, meta, summary, body_text)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::bool[], $8::bool[], $9::int[], $10::text[], $11::jsonb[], $12::jsonb[],
                              $13::text[], $14::text[])
         on conflict (id) do update set
             roadmap_id = excluded.roadmap_id, stage_id = excluded.stage_id, title = excluded.title,
             body_md = excluded.body_md, body_html = excluded.body_html, body_text = excluded.body_text,
             optional = excluded.optional,
             project = excluded.project, position = excluded.position,
             content_hash = excluded.content_hash, steps = excluded.steps, meta = excluded.meta,
             summary = excluded.summary, retired_at = null, updated_at = now()",
        &ids,
        &roadmap_ids,
        &stage_ids,
        &titles,
        &body_mds,
        &body_htmls,
        &optionals,
        &projects,
        &positions,
        &hashes,
        &steps,
        &metas,
        &summaries,
        &body_texts
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn retire_roadmaps(db: impl PgExecutor<'_>, ids: &[String]) -> sqlx::Result<()> {
    sqlx::query!(
        "update roadmaps set retired_at = now(), updated_at = now() where id = any($1) and retired_at is null",
        ids
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Retires stages given as parallel (roadmap id, stage id) lists.
pub async fn retire_stages(
    db: impl PgExecutor<'_>,
    roadmap_ids: &[String],
    ids: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "update stages set retired_at = now(), updated_at = now()
         from unnest($1::text[], $2::text[]) as gone (roadmap_id, id)
         where stages.roadmap_id = gone.roadmap_id and stages.id = gone.id and stages.retired_at is null",
        roadmap_ids,
        ids
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn retire_skills(db: impl PgExecutor<'_>, ids: &[String]) -> sqlx::Result<()> {
    sqlx::query!(
        "update skills set retired_at = now(), updated_at = now() where id = any($1) and retired_at is null",
        ids
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Keeps the text of each upserted skill, once per distinct hash.
pub async fn record_revisions(db: impl PgExecutor<'_>, rows: &[SkillRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<_> = rows.iter().map(|r| r.id.clone()).collect();
    let hashes: Vec<_> = rows.iter().map(|r| r.content_hash.clone()).collect();
    let bodies: Vec<_> = rows.iter().map(|r| r.body_md.clone()).collect();
    sqlx::query!(
        "insert into skill_revisions (skill_id, content_hash, body_md)
         select * from unnest($1::text[], $2::text[], $3::text[]) on conflict do nothing",
        &ids,
        &hashes,
        &bodies
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A skill's text at the revision with `content_hash`, and its current text.
pub async fn revision_and_current(
    db: impl PgExecutor<'_>,
    skill_id: &str,
    content_hash: &str,
) -> sqlx::Result<Option<(String, String)>> {
    let row = sqlx::query!(
        "select r.body_md as old_md, s.body_md as new_md from skill_revisions r join skills s on s.id = r.skill_id
         where r.skill_id = $1 and r.content_hash = $2",
        skill_id,
        content_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.old_md, r.new_md)))
}

/// A retired skill and how many learners have progress on it.
#[derive(Debug, Clone)]
pub struct RetiredSkill {
    pub id: String,
    pub title: String,
    pub roadmap_id: String,
    pub retired_at: OffsetDateTime,
    pub learners: i64,
    /// The skill that took over its progress (`replaces=`), if any.
    pub renamed_to: Option<String>,
}

/// The most recently retired skills (at most `limit`), with their learner counts
/// counted as a plan counts them (progress, notes or evidence), and how many skills
/// are retired in all: three queries, whose cost follows `limit`, not the history.
pub async fn retired_skills(db: &sqlx::PgPool, limit: i64) -> sqlx::Result<(Vec<RetiredSkill>, i64)> {
    let rows = sqlx::query!(
        r#"select s.id, s.title, s.roadmap_id, s.retired_at as "retired_at!", a.new_id as "renamed_to?"
           from skills s left join skill_aliases a on a.old_id = s.id
           where s.retired_at is not null
           order by s.retired_at desc, s.id
           limit $1"#,
        limit
    )
    .fetch_all(db)
    .await?;
    let total = if (rows.len() as i64) < limit {
        rows.len() as i64
    } else {
        sqlx::query_scalar!(r#"select count(*) as "count!" from skills where retired_at is not null"#)
            .fetch_one(db)
            .await?
    };
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let learners = learners_per_skill(db, &ids).await?;
    let skills = rows
        .into_iter()
        .map(|r| RetiredSkill {
            learners: learners.get(&r.id).copied().unwrap_or(0),
            id: r.id,
            title: r.title,
            roadmap_id: r.roadmap_id,
            retired_at: r.retired_at,
            renamed_to: r.renamed_to,
        })
        .collect();
    Ok((skills, total))
}
