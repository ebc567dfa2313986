//! In-app notifications: written by the notifier, listed and marked read by their recipient.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Notification {
    pub id: i64,
    pub kind: String,
    pub summary: String,
    pub target_url: String,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}

/// Stores one notification per recipient in a single statement.
pub async fn insert(
    db: impl PgExecutor<'_>,
    recipients: &[i64],
    actor_id: Option<i64>,
    kind: &str,
    summary: &str,
    target_url: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into notifications (recipient_id, actor_id, kind, summary, target_url)
         select unnest($1::bigint[]), $2, $3, $4, $5",
        recipients,
        actor_id,
        kind,
        summary,
        target_url
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn recent(db: impl PgExecutor<'_>, user_id: i64, limit: i64) -> sqlx::Result<Vec<Notification>> {
    sqlx::query_as!(
        Notification,
        "select id, kind, summary, target_url, created_at, read_at from notifications
         where recipient_id = $1 order by created_at desc, id desc limit $2",
        user_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// Marks one of the user's notifications read and returns where it leads.
pub async fn open(db: impl PgExecutor<'_>, user_id: i64, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update notifications set read_at = coalesce(read_at, now()) where id = $1 and recipient_id = $2
         returning target_url",
        id,
        user_id
    )
    .fetch_optional(db)
    .await
}

pub async fn mark_all_read(db: &PgPool, user_id: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "update notifications set read_at = now() where recipient_id = $1 and read_at is null",
        user_id
    )
    .execute(db)
    .await?
    .rows_affected())
}

/// Whether any notification leads to `target_url`: raised once, even if asked twice.
pub async fn exists_for_target(db: impl PgExecutor<'_>, target_url: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from notifications where target_url = $1) as "exists!""#,
        target_url
    )
    .fetch_one(db)
    .await
}

/// Marks read what `recipient` was told by `actor` of `kind`: answering an
/// invitation settles the notice about it.
pub async fn settle(db: impl PgExecutor<'_>, recipient: i64, actor: i64, kind: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update notifications set read_at = now()
         where recipient_id = $1 and actor_id = $2 and kind = $3 and read_at is null",
        recipient,
        actor,
        kind
    )
    .execute(db)
    .await?;
    Ok(())
}
