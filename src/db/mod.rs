//! Database access: connecting (to DATABASE_URL or the embedded cluster), migrations, and one module per table group.

pub mod admin;
pub mod comments;
pub mod content;
pub mod mentorships;
pub mod notes;
pub mod notifications;
pub mod progress;
pub mod renames;
pub mod resets;
pub mod reviews;
pub mod search;
pub mod steps;
pub mod transfer;
pub mod users;

use std::str::FromStr;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Config;
use crate::embedded_pg::{self, EmbeddedPostgres};

/// Migrations from `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// A connection pool, and the private cluster behind it if Pathway started one.
pub struct Database {
    pub pool: PgPool,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the private cluster, then migrates.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let (options, embedded) = match &config.database_url {
            Some(url) => (PgConnectOptions::from_str(url)?, None),
            None => {
                let data_dir = config.pg_data_dir.clone();
                let bin_dir = config.pg_bin_dir.clone();
                let cluster = tokio::task::spawn_blocking(move || {
                    EmbeddedPostgres::start(&data_dir, bin_dir.as_deref())
                })
                .await??;
                tracing::info!(data_dir = %cluster.data_dir().display(), "started the private PostgreSQL cluster");
                embedded_pg::ensure_database(&cluster, embedded_pg::DATABASE).await?;
                (cluster.connect_options(embedded_pg::DATABASE), Some(cluster))
            }
        };
        let pool = PgPoolOptions::new()
            .max_connections(config.db_max_connections)
            .connect_with(options)
            .await?;
        migrate(&pool).await?;
        Ok(Self { pool, embedded })
    }

    /// Closes the pool, then stops the private cluster if there is one.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.embedded {
            tokio::task::spawn_blocking(move || cluster.stop()).await??;
            tracing::info!("stopped the private PostgreSQL cluster");
        }
        Ok(())
    }
}

/// Runs Pathway's migrations and creates the session store's table.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await?;
    tower_sessions_sqlx_store::PostgresStore::new(pool.clone())
        .migrate()
        .await?;
    Ok(())
}

/// A `LIKE`/`ILIKE` pattern matching `search` anywhere, taken literally (its `%`, `_`
/// and `\` are escaped).
pub fn contains_pattern(search: &str) -> String {
    let escaped = search
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}
