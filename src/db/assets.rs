//! Content assets (the files of roadmaps' `assets/` folders) and the warnings each content load recorded.

use std::collections::HashSet;

use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::content::Diagnostic;
use crate::content::links::AssetDef;

/// Bytes sent in one insert: a load with many large files goes in several statements.
const BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Stores the files a load needs that are not stored yet: an edit that changes no
/// asset sends none of their bytes.
pub async fn store(conn: &mut PgConnection, assets: &[AssetDef]) -> sqlx::Result<()> {
    if assets.is_empty() {
        return Ok(());
    }
    let hashes: Vec<String> = assets.iter().map(|a| a.hash.clone()).collect();
    let stored: HashSet<String> =
        sqlx::query_scalar!("select hash from content_assets where hash = any($1)", &hashes)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let mut seen = HashSet::new();
    let missing: Vec<&AssetDef> = assets
        .iter()
        .filter(|a| !stored.contains(&a.hash) && seen.insert(a.hash.as_str()))
        .collect();
    let mut start = 0;
    while start < missing.len() {
        let mut end = start;
        let mut size = 0;
        while end < missing.len() && (end == start || size + missing[end].bytes.len() <= BATCH_BYTES) {
            size += missing[end].bytes.len();
            end += 1;
        }
        let batch = &missing[start..end];
        let hashes: Vec<String> = batch.iter().map(|a| a.hash.clone()).collect();
        let types: Vec<String> = batch.iter().map(|a| a.content_type.clone()).collect();
        let bytes: Vec<Vec<u8>> = batch.iter().map(|a| a.bytes.clone()).collect();
        sqlx::query!(
            "insert into content_assets (hash, content_type, bytes)
             select * from unnest($1::text[], $2::text[], $3::bytea[])
             on conflict (hash) do nothing",
            &hashes,
            &types,
            &bytes
        )
        .execute(&mut *conn)
        .await?;
        start = end;
    }
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
