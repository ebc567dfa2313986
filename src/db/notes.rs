//! A learner's private notes and evidence links, per skill.

use std::collections::HashMap;

use sqlx::PgExecutor;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Note {
    pub skill_id: String,
    pub body_md: String,
    pub shared_with_mentors: bool,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Evidence {
    pub id: i64,
    pub skill_id: String,
    pub url: String,
    pub title: String,
    pub created_at: OffsetDateTime,
}

/// The user's notes on `skill_ids`, by skill: one query.
pub async fn notes(
    db: impl PgExecutor<'_>,
    user_id: i64,
    skill_ids: &[String],
) -> sqlx::Result<HashMap<String, Note>> {
    let rows = sqlx::query_as!(
        Note,
        "select skill_id, body_md, shared_with_mentors, updated_at from notes
         where user_id = $1 and skill_id = any($2)",
        user_id,
        skill_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|n| (n.skill_id.clone(), n)).collect())
}

/// Saves a note; an empty body deletes it.
pub async fn save_note(
    db: impl PgExecutor<'_>,
    user_id: i64,
    skill_id: &str,
    body_md: &str,
    shared: bool,
) -> sqlx::Result<()> {
    if body_md.trim().is_empty() {
        sqlx::query!(
            "delete from notes where user_id = $1 and skill_id = $2",
            user_id,
            skill_id
        )
        .execute(db)
        .await?;
    } else {
        sqlx::query!(
            "insert into notes (user_id, skill_id, body_md, shared_with_mentors) values ($1, $2, $3, $4)
             on conflict (user_id, skill_id) do update
             set body_md = excluded.body_md, shared_with_mentors = excluded.shared_with_mentors, updated_at = now()",
            user_id,
            skill_id,
            body_md,
            shared
        )
        .execute(db)
        .await?;
    }
    Ok(())
}

/// The user's evidence on `skill_ids`, oldest first: one query.
pub async fn evidence(
    db: impl PgExecutor<'_>,
    user_id: i64,
    skill_ids: &[String],
) -> sqlx::Result<Vec<Evidence>> {
    sqlx::query_as!(
        Evidence,
        "select id, skill_id, url, title, created_at from evidence
         where user_id = $1 and skill_id = any($2) order by created_at, id",
        user_id,
        skill_ids
    )
    .fetch_all(db)
    .await
}

/// Evidence links one person may keep on one skill.
pub const MAX_EVIDENCE_PER_SKILL: i64 = 20;

/// Adds a link unless the skill already has [`MAX_EVIDENCE_PER_SKILL`]; `None` then.
pub async fn add_evidence(
    db: impl PgExecutor<'_>,
    user_id: i64,
    skill_id: &str,
    url: &str,
    title: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "insert into evidence (user_id, skill_id, url, title)
         select $1, $2, $3, $4
         where (select count(*) from evidence where user_id = $1 and skill_id = $2) < $5
         returning id",
        user_id,
        skill_id,
        url,
        title,
        MAX_EVIDENCE_PER_SKILL
    )
    .fetch_optional(db)
    .await
}

/// Deletes one of the user's evidence links; false if it is not theirs (or gone).
pub async fn delete_evidence(db: impl PgExecutor<'_>, user_id: i64, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "delete from evidence where id = $1 and user_id = $2 returning skill_id",
        id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// The notes the user chose to share with their mentors, on `skill_ids`.
pub async fn shared_notes(
    db: impl PgExecutor<'_>,
    user_id: i64,
    skill_ids: &[String],
) -> sqlx::Result<HashMap<String, Note>> {
    let rows = sqlx::query_as!(
        Note,
        "select skill_id, body_md, shared_with_mentors, updated_at from notes
         where user_id = $1 and skill_id = any($2) and shared_with_mentors",
        user_id,
        skill_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|n| (n.skill_id.clone(), n)).collect())
}
