//! Database access: connecting (to DATABASE_URL or the embedded cluster), migrations, and one module per table group.

pub mod admin;
pub mod assets;
pub mod comments;
pub mod content;
pub mod email;
pub mod identities;
pub mod learner_view;
pub mod mentorships;
pub mod notes;
pub mod notifications;
pub mod progress;
pub mod renames;
pub mod resets;
pub mod reviews;
pub mod search;
pub mod server_address;
pub mod sessions;
pub mod steps;
pub mod team_plans;
pub mod teams;
pub mod throttle;
pub mod tokens;
pub mod transfer;
pub mod two_factor;
pub mod users;
pub mod webhooks;

use std::str::FromStr;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Config;
use crate::embedded_pg::{self, EmbeddedPostgres, Origin, Released};

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
                let data_dir = cluster.data_dir().display();
                match cluster.origin() {
                    Origin::Started => tracing::info!(%data_dir, "started the private PostgreSQL cluster"),
                    Origin::Shared => tracing::info!(
                        %data_dir,
                        "using the private PostgreSQL cluster another Pathway process started; it keeps running for that process"
                    ),
                    Origin::Leftover => tracing::warn!(
                        %data_dir,
                        "reusing the private PostgreSQL cluster left running by a process that did not stop it (a crash or kill -9?)"
                    ),
                }
                embedded_pg::ensure_database(&cluster, embedded_pg::DATABASE).await?;
                (cluster.connect_options(embedded_pg::DATABASE), Some(cluster))
            }
        };
        let options = with_statement_timeout(options, config.db_statement_timeout_secs);
        let pool = pool_options(config.db_max_connections)
            .connect_with(options)
            .await?;
        migrate(&pool).await?;
        Ok(Self { pool, embedded })
    }

    /// Closes the pool, then stops the private cluster if no other Pathway process uses it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.embedded {
            match tokio::task::spawn_blocking(move || cluster.release()).await?? {
                Released::Stopped => tracing::info!("stopped the private PostgreSQL cluster"),
                Released::LeftRunning => tracing::info!(
                    "left the private PostgreSQL cluster running for the other Pathway process using it"
                ),
            }
        }
        Ok(())
    }
}

/// The pool the server uses.
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        // No ping before each acquire: it doubled the round trips of every page. A
        // connection that died (a database restart) fails its query once, is dropped,
        // and that request gets the 503 page.
        .test_before_acquire(false)
}

/// Any statement running longer than `seconds` is cancelled by the server,
/// so one slow query cannot hold a connection for good (0 turns it off).
pub fn with_statement_timeout(options: PgConnectOptions, seconds: u64) -> PgConnectOptions {
    options.options([("statement_timeout", format!("{}s", seconds))])
}

/// Runs Pathway's migrations (the session table among them).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await?;
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
