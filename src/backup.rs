//! `pathway backup` and `pathway restore`: `pg_dump` and `pg_restore` against Pathway's database, the private cluster included.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::db::Database;
use crate::embedded_pg::{self, Origin};

/// How the PostgreSQL tools reach the database this configuration uses.
fn connection_args(config: &Config, database: &Database) -> Vec<OsString> {
    match (&config.database_url, &database.embedded) {
        (Some(url), _) => vec![format!("--dbname={url}").into()],
        (None, Some(cluster)) => {
            let mut host = OsString::from("--host=");
            host.push(cluster.data_dir());
            vec![
                host,
                "--port=5432".into(),
                format!("--username={}", embedded_pg::SUPERUSER).into(),
                format!("--dbname={}", embedded_pg::DATABASE).into(),
            ]
        }
        (None, None) => Vec::new(),
    }
}

fn tool(config: &Config, name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = embedded_pg::find_bin_dir(config.pg_bin_dir.as_deref())?;
    let path = dir.join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} not found beside initdb in {}",
        name,
        dir.display()
    );
    Ok(path)
}

fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Writes the whole database to `file` in pg_dump's custom format. Safe while the server runs.
pub async fn backup(config: &Config, file: &Path) -> anyhow::Result<()> {
    let database = Database::open(config).await?;
    let mut command = Command::new(tool(config, "pg_dump")?);
    command
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--file")
        .arg(file)
        .args(connection_args(config, &database));
    let result = tokio::task::spawn_blocking(move || run(command, "pg_dump")).await?;
    database.close().await?;
    result
}

/// Replaces the database's contents with those of a backup made by [`backup`].
/// Refuses while a server uses the private cluster: stop it first.
pub async fn restore(config: &Config, file: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(file.is_file(), "{} is not a file", file.display());
    let database = Database::open(config).await?;
    if database.embedded.as_ref().map(|c| c.origin()) == Some(Origin::Shared) {
        database.close().await?;
        bail!("a Pathway server is using this database; stop it, then restore");
    }
    let mut command = Command::new(tool(config, "pg_restore")?);
    command
        .arg("--clean")
        .arg("--if-exists")
        .arg("--no-owner")
        .arg("--single-transaction")
        .arg("--exit-on-error")
        .args(connection_args(config, &database))
        .arg(file);
    let result = tokio::task::spawn_blocking(move || run(command, "pg_restore")).await?;
    database.close().await?;
    result
}
