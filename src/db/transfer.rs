//! Reading everything a learner owns for export, and applying a validated import in one transaction.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

use crate::progress::SkillState;
use crate::transfer::{
    EventEntry, EvidenceEntry, FORMAT, ImportPlan, NoteEntry, ProgressFile, RoadmapEntry, SkillEntry,
    StepEntry, VERSION,
};

/// The user's whole progress as a portable file: six queries.
pub async fn export(pool: &PgPool, user_id: i64, username: &str) -> sqlx::Result<ProgressFile> {
    let roadmaps = sqlx::query!(
        "select roadmap_id, started_at from enrollments where user_id = $1 order by started_at, roadmap_id",
        user_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| RoadmapEntry {
        roadmap: r.roadmap_id,
        started_at: r.started_at,
    })
    .collect();
    let skills = sqlx::query!(
        "select skill_id, state, started_at, done_at, updated_at, done_content_hash
         from skill_progress where user_id = $1 order by skill_id",
        user_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| SkillEntry {
        skill: r.skill_id,
        state: r.state,
        started_at: r.started_at,
        done_at: r.done_at,
        updated_at: Some(r.updated_at),
        done_content_hash: r.done_content_hash,
    })
    .collect();
    let events = sqlx::query!(
        "select skill_id, kind, from_state, to_state, at from progress_events where user_id = $1 order by at, id",
        user_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| EventEntry {
        skill: r.skill_id,
        kind: r.kind,
        from: r.from_state,
        to: r.to_state,
        at: r.at,
    })
    .collect();
    let notes = sqlx::query!(
        "select skill_id, body_md, shared_with_mentors, updated_at from notes where user_id = $1 order by skill_id",
        user_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| NoteEntry {
        skill: r.skill_id,
        body: r.body_md,
        shared_with_mentors: r.shared_with_mentors,
        updated_at: r.updated_at,
    })
    .collect();
    let evidence = sqlx::query!(
        "select skill_id, url, title, created_at from evidence where user_id = $1 order by created_at, id",
        user_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| EvidenceEntry {
        skill: r.skill_id,
        url: r.url,
        title: r.title,
        added_at: r.created_at,
    })
    .collect();
    let steps = sqlx::query!(
        "select skill_id, step_key, ticked_at from step_ticks where user_id = $1 order by skill_id, step_key",
        user_id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| StepEntry {
        skill: r.skill_id,
        key: r.step_key,
        ticked_at: r.ticked_at,
    })
    .collect();
    Ok(ProgressFile {
        format: FORMAT.into(),
        version: VERSION,
        exported_at: OffsetDateTime::now_utc(),
        username: username.into(),
        roadmaps,
        skills,
        events,
        notes,
        evidence,
        steps,
    })
}

/// Every skill id (live or retired) and every roadmap id this instance knows.
pub async fn known_ids(db: &PgPool) -> sqlx::Result<(HashSet<String>, HashSet<String>)> {
    let skills = sqlx::query_scalar!("select id from skills").fetch_all(db).await?;
    let roadmaps = sqlx::query_scalar!("select id from roadmaps")
        .fetch_all(db)
        .await?;
    Ok((skills.into_iter().collect(), roadmaps.into_iter().collect()))
}

/// What an import changed. Importing the same file again yields all zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub roadmaps_started: u64,
    pub states_changed: u64,
    pub events_added: u64,
    pub notes_saved: u64,
    pub evidence_added: u64,
    pub steps_ticked: u64,
    /// (item, id) kept aside because this instance does not know the id.
    pub unmatched: Vec<(String, String)>,
}

fn earliest(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Applies a validated plan in one transaction. Nothing already present is
/// duplicated, so a second import of the same file changes nothing.
pub async fn apply(
    pool: &PgPool,
    user_id: i64,
    plan: &ImportPlan,
) -> sqlx::Result<Result<ImportReport, KeptAsideFull>> {
    let mut tx = pool.begin().await?;
    let mut report = ImportReport::default();

    for entry in &plan.roadmaps {
        report.roadmaps_started += sqlx::query!(
            "insert into enrollments (user_id, roadmap_id, started_at) values ($1, $2, $3) on conflict do nothing",
            user_id,
            entry.roadmap,
            entry.started_at
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    // History first, so the import's own events come after it.
    for (entry, from, to) in &plan.events {
        report.events_added += sqlx::query!(
            "insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state, at)
             select nextval('progress_actions'), $1, $2, $1, $3, $4, $5, $6
             where not exists (select 1 from progress_events
                               where user_id = $1 and skill_id = $2 and kind = $3 and from_state = $4
                                 and to_state = $5 and at = $6)",
            user_id,
            entry.skill,
            entry.kind,
            from.as_str(),
            to.as_str(),
            entry.at
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    let ids: Vec<String> = plan.skills.iter().map(|(e, _)| e.skill.clone()).collect();
    let current: HashMap<String, (SkillState, Option<OffsetDateTime>, Option<OffsetDateTime>)> =
        sqlx::query!(
            "select skill_id, state, started_at, done_at from skill_progress
         where user_id = $1 and skill_id = any($2) for update",
            user_id,
            &ids
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.skill_id,
                (r.state.parse().unwrap_or_default(), r.started_at, r.done_at),
            )
        })
        .collect();
    let action_id: i64 = sqlx::query_scalar!(r#"select nextval('progress_actions') as "id!""#)
        .fetch_one(&mut *tx)
        .await?;
    for (entry, state) in &plan.skills {
        let (from, started, done) = current.get(&entry.skill).copied().unwrap_or_default();
        let new_started = earliest(started, entry.started_at);
        let new_done = earliest(done, entry.done_at);
        if from == *state && new_started == started && new_done == done {
            continue;
        }
        sqlx::query!(
            "insert into skill_progress (user_id, skill_id, state, started_at, done_at, done_content_hash)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (user_id, skill_id) do update set
                 state = excluded.state, started_at = excluded.started_at, done_at = excluded.done_at,
                 done_content_hash = coalesce(excluded.done_content_hash, skill_progress.done_content_hash),
                 updated_at = now(), version = skill_progress.version + 1",
            user_id,
            entry.skill,
            state.as_str(),
            new_started,
            new_done,
            entry.done_content_hash
        )
        .execute(&mut *tx)
        .await?;
        if from != *state {
            report.states_changed += 1;
            sqlx::query!(
                "insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state)
                 values ($1, $2, $3, $2, 'import', $4, $5)",
                action_id,
                user_id,
                entry.skill,
                from.as_str(),
                state.as_str()
            )
            .execute(&mut *tx)
            .await?;
        }
    }

    for note in &plan.notes {
        // The newer note wins; an equal one is left alone.
        report.notes_saved += sqlx::query!(
            "insert into notes (user_id, skill_id, body_md, shared_with_mentors, updated_at)
             values ($1, $2, $3, $4, $5)
             on conflict (user_id, skill_id) do update
             set body_md = excluded.body_md, shared_with_mentors = excluded.shared_with_mentors,
                 updated_at = excluded.updated_at
             where notes.updated_at < excluded.updated_at",
            user_id,
            note.skill,
            note.body,
            note.shared_with_mentors,
            note.updated_at
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    for link in &plan.evidence {
        report.evidence_added += sqlx::query!(
            "insert into evidence (user_id, skill_id, url, title, created_at)
             select $1, $2, $3, $4, $5
             where not exists (select 1 from evidence where user_id = $1 and skill_id = $2 and url = $3)",
            user_id,
            link.skill,
            link.url,
            link.title,
            link.added_at
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    for step in &plan.steps {
        report.steps_ticked += sqlx::query!(
            "insert into step_ticks (user_id, skill_id, step_key, ticked_at) values ($1, $2, $3, $4)
             on conflict do nothing",
            user_id,
            step.skill,
            step.key,
            step.ticked_at
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    for (item, id, payload) in &plan.unmatched {
        let hash = hex::encode(Sha256::digest(format!("{item}\0{payload}").as_bytes()));
        sqlx::query!(
            "insert into import_unmatched (user_id, skill_id, item, payload, payload_hash)
             values ($1, $2, $3, $4, $5) on conflict do nothing",
            user_id,
            id,
            item,
            payload,
            hash
        )
        .execute(&mut *tx)
        .await?;
        report.unmatched.push((item.to_string(), id.clone()));
    }

    // Checked after the inserts, since importing the same items again adds none.
    let kept_aside = unmatched_count(&mut *tx, user_id).await?;
    if kept_aside > MAX_KEPT_ASIDE {
        tx.rollback().await?;
        return Ok(Err(KeptAsideFull {
            would_keep: kept_aside,
        }));
    }
    tx.commit().await?;
    Ok(Ok(report))
}

/// Items for unknown skills kept aside per learner, at most; beyond it an import is refused whole.
pub const MAX_KEPT_ASIDE: i64 = 1_000;

/// An import refused because it would keep more than [`MAX_KEPT_ASIDE`] items aside.
#[derive(Debug, Clone, Copy)]
pub struct KeptAsideFull {
    pub would_keep: i64,
}

/// How many imported items are kept aside for the user.
pub async fn unmatched_count(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from import_unmatched where user_id = $1"#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// Applies kept-aside import items whose skill or roadmap now exists (a load added it,
/// or renamed an id to it), then forgets them. Returns how many items were matched.
/// Runs after an applied content load; each learner's items go through the same
/// validation and merge as an upload.
pub async fn rematch_kept_aside(pool: &PgPool) -> sqlx::Result<u64> {
    let rows = sqlx::query!(
        "select i.id, i.user_id, i.item, i.payload from import_unmatched i
         where case when i.item = 'roadmap' then exists (select 1 from roadmaps r where r.id = i.skill_id)
                    else exists (select 1 from skills s where s.id = i.skill_id)
                         or exists (select 1 from skill_aliases a where a.old_id = i.skill_id) end
         order by i.user_id, i.id"
    )
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let (skills, roadmaps) = known_ids(pool).await?;
    let aliases = crate::db::content::aliases(pool).await?;
    let mut per_user: Vec<(i64, Vec<i64>, serde_json::Value)> = Vec::new();
    for row in rows {
        if per_user.last().is_none_or(|(user, _, _)| *user != row.user_id) {
            let file = serde_json::json!({
                "format": FORMAT, "version": VERSION,
                "exported_at": "1970-01-01T00:00:00Z", "username": "",
                "roadmaps": [], "skills": [], "events": [], "notes": [], "evidence": [], "steps": [],
            });
            per_user.push((row.user_id, Vec::new(), file));
        }
        let (_, ids, file) = per_user.last_mut().expect("pushed above");
        ids.push(row.id);
        let list = match row.item.as_str() {
            "roadmap" => "roadmaps",
            "skill" => "skills",
            "event" => "events",
            "note" => "notes",
            "evidence" => "evidence",
            _ => "steps",
        };
        if let Some(items) = file[list].as_array_mut() {
            // One state and one note per skill: a later import's item replaces an earlier one.
            let same_skill = |item: &serde_json::Value| item["skill"] == row.payload["skill"];
            match items
                .iter_mut()
                .find(|item| matches!(list, "skills" | "notes") && same_skill(item))
            {
                Some(earlier) => *earlier = row.payload,
                None => items.push(row.payload),
            }
        }
    }
    let mut matched = 0;
    for (user_id, ids, file) in per_user {
        let bytes = file.to_string().into_bytes();
        match crate::transfer::validate(&bytes, &skills, &roadmaps, &aliases) {
            Ok(plan) => {
                if apply(pool, user_id, &plan).await?.is_err() {
                    tracing::warn!(
                        user_id,
                        "kept-aside import items would overflow the limit; left aside"
                    );
                    continue;
                }
                sqlx::query!("delete from import_unmatched where id = any($1)", &ids)
                    .execute(pool)
                    .await?;
                matched += ids.len() as u64;
            }
            Err(problems) => {
                tracing::warn!(user_id, ?problems, "kept-aside import items could not be matched")
            }
        }
    }
    Ok(matched)
}
