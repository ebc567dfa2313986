//! Content assets (the files of roadmaps' `assets/` folders) and the warnings each content load recorded.

use sqlx::{PgExecutor, PgPool};

use crate::content::Diagnostic;
use crate::content::links::AssetDef;

/// Stores the files a load needs; files already stored (same bytes, same hash) cost nothing.
pub async fn store(db: impl PgExecutor<'_>, assets: &[AssetDef]) -> sqlx::Result<()> {
    if assets.is_empty() {
        return Ok(());
    }
    let hashes: Vec<String> = assets.iter().map(|a| a.hash.clone()).collect();
    let types: Vec<String> = assets.iter().map(|a| a.content_type.clone()).collect();
    let bytes: Vec<Vec<u8>> = assets.iter().map(|a| a.bytes.clone()).collect();
    sqlx::query!(
        "insert into content_assets (hash, content_type, bytes)
         select * from unnest($1::text[], $2::text[], $3::bytea[])
         on conflict (hash) do nothing",
        &hashes,
        &types,
        &bytes
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A stored file: its content type and bytes.
pub struct StoredAsset {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub async fn get(pool: &PgPool, hash: &str) -> sqlx::Result<Option<StoredAsset>> {
    sqlx::query_as!(
        StoredAsset,
        "select content_type, bytes from content_assets where hash = $1",
        hash
    )
    .fetch_optional(pool)
    .await
}

/// Records the warnings of load `id` (in the same transaction that records the load).
pub async fn record_warnings(db: impl PgExecutor<'_>, id: i64, warnings: &[Diagnostic]) -> sqlx::Result<()> {
    sqlx::query!(
        "update content_loads set warnings = $2 where id = $1",
        id,
        serde_json::to_value(warnings).unwrap_or_default()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The warnings of the live content: those recorded with the latest applied load.
pub async fn live_warnings(pool: &PgPool) -> sqlx::Result<Vec<Diagnostic>> {
    let warnings = sqlx::query_scalar!(
        "select warnings from content_loads where status = 'applied' order by id desc limit 1"
    )
    .fetch_optional(pool)
    .await?;
    Ok(warnings
        .and_then(|value| serde_json::from_value(value).ok())
        .unwrap_or_default())
}
