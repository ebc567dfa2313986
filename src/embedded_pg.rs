//! A private PostgreSQL cluster started from the installed binaries, used when `DATABASE_URL` is unset.
//!
//! The cluster lives in one directory, listens only on a Unix socket inside
//! it (no TCP port, so nothing on the machine conflicts), is created with
//! `initdb` on first use, reused afterwards, and stopped by the last Pathway
//! process using it (a server, or a CLI command run beside one).

use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Gid, Uid, User};
use sqlx::postgres::PgConnectOptions;

/// The superuser created by `initdb`, and the database Pathway uses.
pub const SUPERUSER: &str = "postgres";
pub const DATABASE: &str = "pathway";
/// Only names the socket file; no TCP port is opened.
const SOCKET_PORT: u16 = 5432;
/// Unix socket paths are limited to about 107 bytes.
const MAX_SOCKET_DIR_LEN: usize = 90;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "no PostgreSQL server binaries found (looked for initdb via pg_config --bindir, PATH and \
         /usr/lib/postgresql/*/bin). Either install PostgreSQL (e.g. `apt-get install postgresql`) \
         or set DATABASE_URL to an existing database"
    )]
    BinariesNotFound,
    #[error(
        "running as root, and PostgreSQL refuses to run as root: create an unprivileged `postgres` \
         user (installing PostgreSQL does) or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    #[error("the data directory path {0} is too long for a Unix socket; choose a shorter --pg-data-dir")]
    PathTooLong(PathBuf),
    #[error("{action} failed: {detail}")]
    Command { action: String, detail: String },
    #[error("cannot prepare the data directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// A running private cluster, in use by this process until [`EmbeddedPostgres::release`].
///
/// Every Pathway process using the cluster holds a shared `flock` on
/// `<data dir>.lock`. Releasing trades it for an exclusive lock without
/// waiting: only a process that gets it (nobody else is using the cluster)
/// stops PostgreSQL. So a CLI command run beside a server never stops the
/// server's database, and a lock left by a killed process vanishes with it.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    /// Set when running as root: the cluster runs as this user.
    run_as: Option<(Uid, Gid)>,
    usage: Flock<File>,
    origin: Origin,
}

/// How [`EmbeddedPostgres::start`] found the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// It was stopped (or new), and this process started it.
    Started,
    /// Another Pathway process is using it; this one joined.
    Shared,
    /// It was running with no Pathway process using it, such as after a crash or `kill -9`.
    Leftover,
}

/// What [`EmbeddedPostgres::release`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// This was the last process using the cluster, and stopped it.
    Stopped,
    /// Another Pathway process still uses the cluster, so it keeps running.
    LeftRunning,
}

/// Finds the directory holding `initdb`, `pg_ctl` and `postgres`.
pub fn find_bin_dir(explicit: Option<&Path>) -> Result<PathBuf, EmbeddedError> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = explicit {
        return if has_tools(dir) {
            Ok(dir.to_path_buf())
        } else {
            Err(EmbeddedError::BinariesNotFound)
        };
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_tools(&dir) {
            return Ok(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_tools(&dir) {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, dir)| dir)
        .ok_or(EmbeddedError::BinariesNotFound)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedError + '_ {
    move |source| EmbeddedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl EmbeddedPostgres {
    /// Starts (creating on first use) the cluster in `data_dir`. If the
    /// cluster is already running, for example after a crash, it is reused.
    pub fn start(data_dir: &Path, bin_dir: Option<&Path>) -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir(bin_dir)?;
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name(SUPERUSER)
                .ok()
                .flatten()
                .ok_or(EmbeddedError::NoUnprivilegedUser)?;
            Some((user.uid, user.gid))
        } else {
            None
        };

        fs::create_dir_all(data_dir).map_err(io_error(data_dir))?;
        let data_dir = data_dir.canonicalize().map_err(io_error(data_dir))?;
        if data_dir.as_os_str().len() > MAX_SOCKET_DIR_LEN {
            return Err(EmbeddedError::PathTooLong(data_dir));
        }
        // PostgreSQL insists on a private data directory.
        fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700)).map_err(io_error(&data_dir))?;
        if let Some((uid, gid)) = run_as {
            grant_traverse(&data_dir, uid, gid)?;
            chown_tree(&data_dir, uid, gid)?;
        }

        let (usage, alone) = lock_usage(&data_dir)?;
        let mut cluster = Self {
            data_dir,
            bin_dir,
            run_as,
            usage,
            origin: Origin::Started,
        };
        if !cluster.data_dir.join("PG_VERSION").is_file() {
            let mut args = vec![OsString::from("--pgdata"), cluster.data_dir.clone().into()];
            args.extend(
                [
                    "--username",
                    SUPERUSER,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--no-locale",
                ]
                .map(OsString::from),
            );
            cluster.run("initdb", "initdb", args)?;
        }
        if cluster.is_running() {
            cluster.origin = if alone { Origin::Leftover } else { Origin::Shared };
        } else {
            let options = format!(
                "-k '{}' -p {SOCKET_PORT} -c listen_addresses='' -c unix_socket_permissions=0700",
                cluster.data_dir.display()
            );
            let mut args = vec![OsString::from("--pgdata"), cluster.data_dir.clone().into()];
            args.extend([OsString::from("--log"), cluster.log_file().into()]);
            args.extend(["--wait", "--timeout", "60", "--options", &options, "start"].map(OsString::from));
            cluster.run("starting PostgreSQL", "pg_ctl", args)?;
        }
        Ok(cluster)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether this process started the cluster, joined another's, or found a leftover.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Ends this process's use of the cluster, stopping it only when no other
    /// Pathway process is using it.
    pub fn release(self) -> Result<Released, EmbeddedError> {
        if self.usage.relock(FlockArg::LockExclusiveNonblock).is_err() {
            return Ok(Released::LeftRunning);
        }
        // The exclusive lock is held until `self` drops, so nobody starts
        // using the cluster while it stops.
        self.stop()?;
        Ok(Released::Stopped)
    }

    /// The server's log, kept inside the data directory.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("postgres.log")
    }

    /// Connection options for `database` over the cluster's socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.data_dir)
            .port(SOCKET_PORT)
            .username(SUPERUSER)
            .database(database)
    }

    pub fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("--pgdata")
            .arg(&self.data_dir)
            .arg("status")
            .output()
            .is_ok_and(|out| out.status.success())
    }

    /// Stops the cluster with a fast shutdown and waits for it, whoever else
    /// uses it; [`EmbeddedPostgres::release`] is the polite way.
    pub fn stop(&self) -> Result<(), EmbeddedError> {
        if !self.is_running() {
            return Ok(());
        }
        let mut args = vec![OsString::from("--pgdata"), self.data_dir.clone().into()];
        args.extend(["--mode", "fast", "--wait", "--timeout", "60", "stop"].map(OsString::from));
        self.run("stopping PostgreSQL", "pg_ctl", args)
    }

    /// A command that runs as the cluster's owner, in its own process group
    /// so that a Ctrl-C in the terminal reaches only Pathway, which then
    /// stops PostgreSQL in order.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command.current_dir("/").process_group(0);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        command
    }

    fn run(&self, action: &str, program: &str, args: Vec<OsString>) -> Result<(), EmbeddedError> {
        let output = self
            .command(program)
            .args(args)
            .output()
            .map_err(|error| EmbeddedError::Command {
                action: action.to_string(),
                detail: error.to_string(),
            })?;
        if output.status.success() {
            return Ok(());
        }
        let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&output.stdout).trim().to_string();
        }
        detail.push_str(&format!(" (see {})", self.log_file().display()));
        Err(EmbeddedError::Command {
            action: action.to_string(),
            detail,
        })
    }
}

/// The lock file beside the data directory (never inside: `initdb` wants it empty).
pub fn lock_path(data_dir: &Path) -> PathBuf {
    let mut name = data_dir.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the shared usage lock, and says whether this process was alone
/// when it came (no other Pathway process using the cluster).
fn lock_usage(data_dir: &Path) -> Result<(Flock<File>, bool), EmbeddedError> {
    let path = lock_path(data_dir);
    let file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_error(&path))?;
    let lock_error = |path: &Path, errno: nix::errno::Errno| EmbeddedError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::from(errno),
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            lock.relock(FlockArg::LockShared)
                .map_err(|e| lock_error(&path, e))?;
            Ok((lock, true))
        }
        // Others use it, or one is stopping it: wait for a shared lock, which a
        // stopping process grants only once PostgreSQL is down.
        Err((file, _)) => {
            let lock = Flock::lock(file, FlockArg::LockShared).map_err(|(_, e)| lock_error(&path, e))?;
            Ok((lock, false))
        }
    }
}

/// Lets the cluster's owner reach `dir`: any parent directory it cannot
/// search (a 0700 home or temporary directory, say) gets the search bit,
/// never the read bit, so its listing stays private.
fn grant_traverse(dir: &Path, uid: Uid, gid: Gid) -> Result<(), EmbeddedError> {
    use std::os::unix::fs::MetadataExt;
    for parent in dir.ancestors().skip(1) {
        let meta = fs::metadata(parent).map_err(io_error(parent))?;
        let bit = if meta.uid() == uid.as_raw() {
            0o100
        } else if meta.gid() == gid.as_raw() {
            0o010
        } else {
            0o001
        };
        if meta.mode() & bit == 0 {
            let mode = (meta.mode() | bit) & 0o7777;
            fs::set_permissions(parent, fs::Permissions::from_mode(mode)).map_err(io_error(parent))?;
            tracing::warn!(
                directory = %parent.display(),
                "added search permission so the postgres user can reach the data directory; \
                 choose a --pg-data-dir elsewhere to avoid this"
            );
        }
    }
    Ok(())
}

/// Gives the cluster's owner every file in `dir` (when run as root).
fn chown_tree(dir: &Path, uid: Uid, gid: Gid) -> Result<(), EmbeddedError> {
    std::os::unix::fs::lchown(dir, Some(uid.as_raw()), Some(gid.as_raw())).map_err(io_error(dir))?;
    if dir.is_dir() && !dir.is_symlink() {
        for entry in fs::read_dir(dir).map_err(io_error(dir))? {
            let path = entry.map_err(io_error(dir))?.path();
            chown_tree(&path, uid, gid)?;
        }
    }
    Ok(())
}

/// Creates `database` in the cluster if it does not exist yet.
pub async fn ensure_database(cluster: &EmbeddedPostgres, database: &str) -> sqlx::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(&cluster.connect_options("postgres")).await?;
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
        .bind(database)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        sqlx::query(&format!("create database \"{}\"", database.replace('"', "\"\"")))
            .execute(&mut conn)
            .await?;
    }
    conn.close().await
}
