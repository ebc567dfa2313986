//! Queries over the synced content tables: roadmaps, stages, skills and content loads.

use std::collections::{HashMap, HashSet};

use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::content::Diagnostic;
use crate::content::rows::{MetaJson, PlacementRow, RoadmapRow, SkillFacts, SkillRow, StageRow, StepsJson};

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
    pub moved: i32,
    pub errors: Vec<Diagnostic>,
    /// startup, admin, watcher or cli.
    pub trigger: String,
    /// The admin who pressed Reload or confirmed a plan.
    pub loaded_by: Option<String>,
    /// The plan as recorded (JSON: the content module reads it back); read only
    /// for held loads by [`latest_loads`], since an applied one may list thousands.
    pub plan: Option<serde_json::Value>,
    pub files_parsed: i32,
    pub files_reused: i32,
    pub skills_written: i32,
}

pub async fn latest_loads(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<ContentLoad>> {
    let rows = sqlx::query!(
        r#"select l.id, l.loaded_at, l.content_hash, l.status, l.added, l.updated, l.retired, l.revived,
                  l.renamed, l.moved, l.errors, l.trigger, u.username as "loaded_by?",
                  case when l.status = 'held' then l.plan end as plan,
                  l.files_parsed, l.files_reused, l.skills_written
           from content_loads l left join users u on u.id = l.loaded_by
           order by l.id desc limit $1"#,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ContentLoad {
            moved: r.moved,
            files_parsed: r.files_parsed,
            files_reused: r.files_reused,
            skills_written: r.skills_written,
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
            plan: r.plan,
        })
        .collect())
}

/// One load, without its plan (see [`load_plan_items`]).
pub async fn load(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<ContentLoad>> {
    let row = sqlx::query!(
        r#"select l.id, l.loaded_at, l.content_hash, l.status, l.added, l.updated, l.retired, l.revived,
                  l.renamed, l.moved, l.errors, l.trigger, u.username as "loaded_by?",
                  l.files_parsed, l.files_reused, l.skills_written
           from content_loads l left join users u on u.id = l.loaded_by
           where l.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| ContentLoad {
        id: r.id,
        loaded_at: r.loaded_at,
        content_hash: r.content_hash,
        status: r.status,
        added: r.added,
        updated: r.updated,
        retired: r.retired,
        revived: r.revived,
        renamed: r.renamed,
        moved: r.moved,
        errors: serde_json::from_value(r.errors).unwrap_or_default(),
        trigger: r.trigger,
        loaded_by: r.loaded_by,
        plan: None,
        files_parsed: r.files_parsed,
        files_reused: r.files_reused,
        skills_written: r.skills_written,
    }))
}

/// The length of each list in a load's plan (the arrays of its JSON, by key).
pub async fn load_plan_lengths(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<HashMap<String, i64>> {
    let rows = sqlx::query!(
        r#"select p.key as "key!", jsonb_array_length(p.value) as "length!"
           from content_loads l, jsonb_each(l.plan) p
           where l.id = $1 and jsonb_typeof(p.value) = 'array'"#,
        id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key, i64::from(r.length))).collect())
}

/// Items `offset..offset + limit` of the list `key` of a load's plan, as recorded:
/// a page of a large load reads only its own items out of the JSON.
pub async fn load_plan_items(
    db: impl PgExecutor<'_>,
    id: i64,
    key: &str,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<serde_json::Value>> {
    sqlx::query_scalar!(
        r#"select item.value as "value!" from content_loads l,
               jsonb_array_elements(l.plan -> $2) with ordinality as item (value, n)
           where l.id = $1 and jsonb_typeof(l.plan -> $2) = 'array'
           order by item.n offset $3 limit $4"#,
        id,
        key,
        offset,
        limit
    )
    .fetch_all(db)
    .await
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
/// plus skill renames and moves. A rename counts once, as renamed: not also as an
/// added new id and a retired old one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadCounts {
    pub added: i32,
    pub updated: i32,
    pub retired: i32,
    pub revived: i32,
    pub renamed: i32,
    pub moved: i32,
}

/// What applying a load cost: files parsed or taken from the file cache, skill rows written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadWork {
    pub files_parsed: i32,
    pub files_reused: i32,
    pub skills_written: i32,
}

#[allow(clippy::too_many_arguments)]
pub async fn record_applied_load(
    db: impl PgExecutor<'_>,
    content_hash: &str,
    counts: LoadCounts,
    work: LoadWork,
    touched_skills: &[String],
    trigger: &str,
    loaded_by: Option<i64>,
    plan: &serde_json::Value,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into content_loads (content_hash, status, added, updated, retired, revived, renamed, moved,
                                    trigger, loaded_by, plan, files_parsed, files_reused, skills_written,
                                    touched_skills)
         values ($1, 'applied', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) returning id",
        content_hash,
        counts.added,
        counts.updated,
        counts.retired,
        counts.revived,
        counts.renamed,
        counts.moved,
        trigger,
        loaded_by,
        plan,
        work.files_parsed,
        work.files_reused,
        work.skills_written,
        touched_skills
    )
    .fetch_one(db)
    .await
}

/// The newest applied load's id and content hash: the version a catalog shows.
pub async fn applied_version(db: impl PgExecutor<'_>) -> sqlx::Result<Option<(i64, String)>> {
    let row = sqlx::query!(
        "select id, content_hash from content_loads where status = 'applied' order by id desc limit 1"
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.id, r.content_hash)))
}

/// The skills that loads applied after load `after` wrote, or `None` when one of them
/// did not record it (loads from before migration 0031).
pub async fn skills_touched_since(db: impl PgExecutor<'_>, after: i64) -> sqlx::Result<Option<Vec<String>>> {
    let rows = sqlx::query_scalar!(
        "select touched_skills from content_loads where status = 'applied' and id > $1 order by id",
        after
    )
    .fetch_all(db)
    .await?;
    let mut ids = Vec::new();
    for touched in rows {
        let Some(touched) = touched else {
            return Ok(None);
        };
        ids.extend(touched);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(Some(ids))
}

/// The kept parse of every content file, as (path, hash, JSON text), if the applied
/// load is the one that kept them (none otherwise).
pub async fn kept_files(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(String, String, String)>> {
    let rows = sqlx::query!(
        "select path, hash, parsed from content_files
         where content_hash = (select content_hash from content_loads where status = 'applied'
                               order by id desc limit 1)"
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.path, r.hash, r.parsed)).collect())
}

/// Keeps the parse of the files just applied, (path, hash, JSON text), forgets files
/// that are gone (every path not in `present`), and marks them all as kept by the load
/// of `content_hash`.
pub async fn keep_files(
    db: &mut sqlx::PgConnection,
    content_hash: &str,
    parsed: &[(String, String, String)],
    present: &[String],
) -> sqlx::Result<()> {
    sqlx::query!("delete from content_files where path <> all($1)", present)
        .execute(&mut *db)
        .await?;
    sqlx::query!("update content_files set content_hash = $1", content_hash)
        .execute(&mut *db)
        .await?;
    if parsed.is_empty() {
        return Ok(());
    }
    let paths: Vec<&str> = parsed.iter().map(|p| p.0.as_str()).collect();
    let hashes: Vec<&str> = parsed.iter().map(|p| p.1.as_str()).collect();
    let texts: Vec<&str> = parsed.iter().map(|p| p.2.as_str()).collect();
    sqlx::query!(
        "insert into content_files (path, hash, parsed, content_hash)
         select f.*, $4 from unnest($1::text[], $2::text[], $3::text[]) as f
         on conflict (path) do update set hash = excluded.hash, parsed = excluded.parsed,
             content_hash = excluded.content_hash, updated_at = now()",
        &paths as &[&str],
        &hashes as &[&str],
        &texts as &[&str],
        content_hash
    )
    .execute(&mut *db)
    .await?;
    Ok(())
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

/// Every skill without its texts: what a plan compares.
pub async fn all_skill_facts(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<SkillFacts>> {
    sqlx::query_as!(
        SkillFacts,
        r#"select id, roadmap_id, stage_id, title, optional, project, position, content_hash,
                  meta as "meta: MetaJson", retired_at is not null as "retired!"
           from skills"#
    )
    .fetch_all(db)
    .await
}

/// The whole rows of `ids`.
pub async fn skills_by_id(db: impl PgExecutor<'_>, ids: &[String]) -> sqlx::Result<Vec<SkillRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as!(
        SkillRow,
        r#"select id, roadmap_id, stage_id, title, body_md, body_html, body_text, optional, project, position,
                  content_hash, steps as "steps: StepsJson", meta as "meta: MetaJson",
                  retired_at is not null as "retired!"
           from skills where id = any($1)"#,
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn all_skills(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<SkillRow>> {
    sqlx::query_as!(
        SkillRow,
        r#"select id, roadmap_id, stage_id, title, body_md, body_html, body_text, optional, project, position,
                  content_hash, steps as "steps: StepsJson", meta as "meta: MetaJson",
                  retired_at is not null as "retired!"
           from skills order by roadmap_id, stage_id, position, id"#
    )
    .fetch_all(db)
    .await
}

/// Every include of a skill in another stage.
pub async fn all_placements(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<PlacementRow>> {
    sqlx::query_as!(
        PlacementRow,
        "select skill_id, roadmap_id, stage_id, position from skill_placements
         order by roadmap_id, stage_id, position"
    )
    .fetch_all(db)
    .await
}

/// Removes includes that left the files. One statement; the tally trigger recounts
/// the learners of those skills.
pub async fn remove_placements(db: impl PgExecutor<'_>, rows: &[PlacementRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let skills: Vec<_> = rows.iter().map(|r| r.skill_id.clone()).collect();
    let roadmaps: Vec<_> = rows.iter().map(|r| r.roadmap_id.clone()).collect();
    let stages: Vec<_> = rows.iter().map(|r| r.stage_id.clone()).collect();
    sqlx::query!(
        "delete from skill_placements p
         using unnest($1::text[], $2::text[], $3::text[]) as gone (skill_id, roadmap_id, stage_id)
         where p.skill_id = gone.skill_id and p.roadmap_id = gone.roadmap_id and p.stage_id = gone.stage_id",
        &skills,
        &roadmaps,
        &stages
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Adds includes, or moves them within their stage. One statement.
pub async fn upsert_placements(db: impl PgExecutor<'_>, rows: &[PlacementRow]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let skills: Vec<_> = rows.iter().map(|r| r.skill_id.clone()).collect();
    let roadmaps: Vec<_> = rows.iter().map(|r| r.roadmap_id.clone()).collect();
    let stages: Vec<_> = rows.iter().map(|r| r.stage_id.clone()).collect();
    let positions: Vec<_> = rows.iter().map(|r| r.position).collect();
    sqlx::query!(
        "insert into skill_placements (skill_id, roadmap_id, stage_id, position)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::int[])
         on conflict (roadmap_id, stage_id, skill_id) do update set position = excluded.position",
        &skills,
        &roadmaps,
        &stages,
        &positions
    )
    .execute(db)
    .await?;
    Ok(())
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
