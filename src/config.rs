//! Typed configuration from command-line flags and environment variables.

use std::net::IpAddr;
use std::path::PathBuf;

/// Settings shared by every subcommand; each flag also reads an environment variable.
#[derive(clap::Args, Debug, Clone)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "PATHWAY_HOST", default_value = "127.0.0.1", global = true)]
    pub host: IpAddr,

    /// Port the HTTP server listens on.
    #[arg(long, env = "PATHWAY_PORT", default_value_t = 3000, global = true)]
    pub port: u16,

    /// PostgreSQL connection URL. When unset, Pathway starts a private
    /// cluster in --pg-data-dir from the installed PostgreSQL binaries.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// Data directory of the private PostgreSQL cluster (used when DATABASE_URL is unset).
    #[arg(
        long,
        env = "PATHWAY_PG_DATA_DIR",
        default_value = "data/postgres",
        global = true
    )]
    pub pg_data_dir: PathBuf,

    /// Directory holding initdb and pg_ctl; found automatically when unset.
    #[arg(long, env = "PATHWAY_PG_BIN_DIR", global = true)]
    pub pg_bin_dir: Option<PathBuf>,

    /// Maximum number of database connections in the pool.
    #[arg(long, env = "PATHWAY_DB_MAX_CONNECTIONS", default_value_t = 10, global = true)]
    pub db_max_connections: u32,

    /// Directory of roadmap folders (see docs/content.md).
    #[arg(long, env = "PATHWAY_CONTENT_DIR", default_value = "content", global = true)]
    pub content_dir: PathBuf,

    /// Directory of the stylesheet and other static files.
    #[arg(long, env = "PATHWAY_STATIC_DIR", default_value = "static", global = true)]
    pub static_dir: PathBuf,

    /// Log filter, in tracing's EnvFilter syntax (e.g. "info" or "pathway=debug").
    #[arg(long, env = "PATHWAY_LOG", default_value = "info", global = true)]
    pub log: String,
}
