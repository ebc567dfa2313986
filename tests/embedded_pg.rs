//! The embedded launcher, and the real binary end to end: start, serve, stop on SIGTERM, restart with the data kept.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pathway::embedded_pg::{EmbeddedError, EmbeddedPostgres, Origin, Released, find_bin_dir};
use sqlx::{Connection, PgConnection};

/// A temporary directory the cluster's owner can enter even when tests run as root.
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[tokio::test]
async fn starts_connects_stops_and_restarts_with_the_data_kept() {
    // A private (0700) parent, as `mktemp -d` or a home directory would be.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = dir.path().join("pg");

    let cluster = EmbeddedPostgres::start(&data, None).unwrap();
    if nix::unistd::Uid::effective().is_root() {
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o701,
            "only the search bit is added for the postgres user"
        );
    }
    assert!(cluster.is_running());
    assert!(data.join("PG_VERSION").is_file(), "initdb ran");
    let opts = std::fs::read_to_string(data.join("postmaster.opts")).unwrap();
    assert!(opts.contains("listen_addresses="), "no TCP listener: {opts}");

    let mut conn = PgConnection::connect_with(&cluster.connect_options("postgres"))
        .await
        .unwrap();
    sqlx::query("create table kept (note text)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("insert into kept values ('still here')")
        .execute(&mut conn)
        .await
        .unwrap();
    let listen: String = sqlx::query_scalar("show listen_addresses")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(listen, "");
    conn.close().await.unwrap();

    cluster.stop().unwrap();
    assert!(!cluster.is_running());
    assert!(!data.join("postmaster.pid").exists(), "stopped cleanly");

    let cluster = EmbeddedPostgres::start(&data, None).unwrap();
    let mut conn = PgConnection::connect_with(&cluster.connect_options("postgres"))
        .await
        .unwrap();
    let note: String = sqlx::query_scalar("select note from kept")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(note, "still here");
    conn.close().await.unwrap();
    cluster.stop().unwrap();
}

#[test]
fn a_missing_installation_names_both_fixes() {
    let error = find_bin_dir(Some(Path::new("/nonexistent"))).unwrap_err();
    assert!(matches!(error, EmbeddedError::BinariesNotFound));
    let message = error.to_string();
    assert!(message.contains("install PostgreSQL"), "{message}");
    assert!(message.contains("DATABASE_URL"), "{message}");
}

/// The `pathway` binary, serving with the embedded default.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(root: &Path, content: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_pathway"))
            .env_remove("DATABASE_URL")
            .env("PATHWAY_PORT", port.to_string())
            .env("PATHWAY_PG_DATA_DIR", root.join("pg"))
            .env("PATHWAY_CONTENT_DIR", content)
            .env(
                "PATHWAY_STATIC_DIR",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("static"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.try_get("/healthz").is_none() {
            assert!(
                Instant::now() < deadline,
                "the server did not come up within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn try_get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split(' ').nth(1)?.parse().ok()?;
        Some((status, response))
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path).expect("request failed")
    }

    /// Sends `signal` (SIGINT is Ctrl-C) and waits for a clean exit.
    fn stop(mut self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status {status}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_binary_serves_stops_on_a_signal_and_keeps_serving_good_content_after_a_bad_edit() {
    let root = open_tempdir();
    let content = root.path().join("content");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("content"), &content);

    let server = Server::start(root.path(), &content);
    let (status, home) = server.get("/");
    assert_eq!(status, 200);
    assert!(home.contains("Backend Developer") && home.contains("Backend career ladder"));
    let (status, stage) = server.get("/roadmaps/backend/how-the-web-works");
    assert_eq!(status, 200);
    server.stop(libc::SIGINT);
    assert!(
        !root.path().join("pg/postmaster.pid").exists(),
        "PostgreSQL stopped with the server"
    );

    // Break a file on disk, then restart: the last good content is still served.
    let first_stage = content.join("backend/01-how-the-web-works.md");
    let original = std::fs::read_to_string(&first_stage).unwrap();
    std::fs::write(&first_stage, original.replacen("+++", "", 1)).unwrap();
    let server = Server::start(root.path(), &content);
    let (status, again) = server.get("/roadmaps/backend/how-the-web-works");
    assert_eq!(status, 200);
    let body = |r: &str| r.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    assert_eq!(body(&again), body(&stage), "the same page as before the bad edit");
    server.stop(libc::SIGTERM);
    assert!(!root.path().join("pg/postmaster.pid").exists());
}

#[tokio::test]
async fn a_second_user_of_the_cluster_never_stops_it_for_the_first() {
    let dir = open_tempdir();
    let data = dir.path().join("pg");
    let server = EmbeddedPostgres::start(&data, None).unwrap();
    assert_eq!(server.origin(), Origin::Started);
    let cli = EmbeddedPostgres::start(&data, None).unwrap();
    assert_eq!(cli.origin(), Origin::Shared, "joined the running cluster");

    assert_eq!(cli.release().unwrap(), Released::LeftRunning);
    assert!(server.is_running(), "the first user's database is still up");
    let conn = PgConnection::connect_with(&server.connect_options("postgres"))
        .await
        .unwrap();
    conn.close().await.unwrap();

    assert_eq!(
        server.release().unwrap(),
        Released::Stopped,
        "the last user stops it"
    );
    assert!(!data.join("postmaster.pid").exists());
}

/// Runs a `pathway` CLI command against the embedded cluster in `root`.
fn run_cli(root: &Path, content: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("PATHWAY_PG_DATA_DIR", root.join("pg"))
        .env("PATHWAY_CONTENT_DIR", content)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn cli_commands_beside_a_live_server_leave_its_database_running_and_kill_9_leftovers_are_reused() {
    let root = open_tempdir();
    let content = root.path().join("content");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("content"), &content);

    let mut server = Server::start(root.path(), &content);
    for args in [&["invite", "create"][..], &["content", "apply"], &["demo"]] {
        let output = run_cli(root.path(), &content, args);
        assert!(output.status.success(), "{args:?}: {output:?}");
        // Links printed beside a running server point at its port, not the CLI's default.
        let printed = String::from_utf8_lossy(&output.stdout);
        if args[0] != "content" {
            assert!(
                printed.contains(&format!("http://127.0.0.1:{}/", server.port)),
                "`pathway {}` printed: {printed}",
                args.join(" ")
            );
            assert!(!printed.contains(":3000/"), "{printed}");
        }
        let (status, body) = server.get("/healthz");
        assert_eq!(
            status,
            200,
            "after `pathway {}` the server still reaches its database: {body}",
            args.join(" ")
        );
    }
    let (status, _) = server.get("/roadmaps/backend");
    assert_eq!(status, 200);

    // A server killed outright leaves PostgreSQL running and no lock behind.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(
        root.path().join("pg/postmaster.pid").exists(),
        "PostgreSQL outlived the killed server"
    );

    // The next server takes the leftover over and stops it when it stops.
    let server = Server::start(root.path(), &content);
    assert_eq!(server.get("/healthz").0, 200);
    server.stop(libc::SIGTERM);
    assert!(
        !root.path().join("pg/postmaster.pid").exists(),
        "the server that took over the leftover cluster stopped it"
    );

    // A CLI command with no server running starts the cluster and stops it again.
    let output = run_cli(root.path(), &content, &["invite", "create"]);
    assert!(output.status.success(), "{output:?}");
    assert!(!root.path().join("pg/postmaster.pid").exists());
}

#[tokio::test]
async fn backup_and_restore_round_trip_through_the_private_cluster() {
    let root = open_tempdir();
    let content = root.path().join("content");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("content"), &content);
    let output = run_cli(root.path(), &content, &["demo"]);
    assert!(output.status.success(), "{output:?}");
    let file = root.path().join("pathway.backup");
    let file_arg = file.to_str().unwrap();
    let output = run_cli(root.path(), &content, &["backup", file_arg]);
    assert!(output.status.success(), "{output:?}");
    assert!(std::fs::metadata(&file).unwrap().len() > 1000);

    // Restore into a brand-new instance, and find the same people and progress there.
    let other = open_tempdir();
    let output = run_cli(other.path(), &content, &["restore", file_arg]);
    assert!(output.status.success(), "{output:?}");
    let count = |dir: &Path| {
        let dir = dir.join("pg");
        async move {
            let cluster = EmbeddedPostgres::start(&dir, None).unwrap();
            let mut conn = PgConnection::connect_with(&cluster.connect_options("pathway"))
                .await
                .unwrap();
            let counts: (i64, i64) =
                sqlx::query_as("select (select count(*) from users), (select count(*) from progress_events)")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            conn.close().await.unwrap();
            cluster.release().unwrap();
            counts
        }
    };
    let before = count(root.path()).await;
    assert!(before.0 >= 4 && before.1 > 10, "{before:?}");
    assert_eq!(count(other.path()).await, before);

    // Restoring under a live server is refused.
    let server = Server::start(other.path(), &content);
    let output = run_cli(other.path(), &content, &["restore", file_arg]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("stop it"),
        "{output:?}"
    );
    server.stop(libc::SIGTERM);
}

#[test]
fn a_cluster_left_running_with_no_user_is_reported_as_a_leftover() {
    let dir = open_tempdir();
    let data = dir.path().join("pg");
    let crashed = EmbeddedPostgres::start(&data, None).unwrap();
    // What a killed process leaves: PostgreSQL running, and no lock held.
    drop(crashed);
    let next = EmbeddedPostgres::start(&data, None).unwrap();
    assert_eq!(next.origin(), Origin::Leftover);
    assert_eq!(
        next.release().unwrap(),
        Released::Stopped,
        "adopted, then stopped"
    );
    assert!(!data.join("postmaster.pid").exists());
}
