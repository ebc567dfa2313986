//! The address the running server was started with, for links printed by CLI commands.

use sqlx::PgExecutor;

/// Records the server's public URL (the last server started wins).
pub async fn record(db: impl PgExecutor<'_>, public_url: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into server_address (public_url) values ($1)
         on conflict (singleton) do update set public_url = excluded.public_url, recorded_at = now()",
        public_url
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The public URL the last server started with, if one has run on this database.
pub async fn recorded(db: impl PgExecutor<'_>) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select public_url from server_address")
        .fetch_optional(db)
        .await
}
