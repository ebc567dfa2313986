//! Test support: a fresh PostgreSQL database per test, content fixtures, and requests through the router.
#![allow(dead_code)]

use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use pathway::app::{Limits, router_with, serve_with_limits};
use pathway::config::Settings;
use pathway::content::Catalog;
use pathway::embedded_pg::EmbeddedPostgres;
use pathway::{AppState, router};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// The server tests create their databases on: `DATABASE_URL` when set,
/// otherwise a private cluster under the target directory, started once per
/// test process and stopped when it exits.
fn server() -> PgConnectOptions {
    static SERVER: OnceLock<PgConnectOptions> = OnceLock::new();
    SERVER
        .get_or_init(|| match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                PgConnectOptions::from_str(&url).expect("DATABASE_URL is not a valid URL")
            }
            _ => {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pg");
                let cluster = EmbeddedPostgres::start(&dir, None)
                    .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL cluster: {e}"));
                let options = cluster.connect_options("postgres");
                EMBEDDED.set(cluster).expect("cluster started twice");
                unsafe { libc::atexit(stop_embedded) };
                options
            }
        })
        .clone()
}

static EMBEDDED: OnceLock<EmbeddedPostgres> = OnceLock::new();

extern "C" fn stop_embedded() {
    if let Some(cluster) = EMBEDDED.get() {
        let _ = cluster.stop();
    }
}

/// A database of its own for one test, migrated, dropped when the test ends.
pub struct TestDb {
    pub pool: PgPool,
    pub options: PgConnectOptions,
    name: String,
}

impl TestDb {
    pub async fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "pathway_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let server = server();
        let mut admin = PgConnection::connect_with(&server.clone().database("postgres"))
            .await
            .expect("cannot connect to the test PostgreSQL server");
        sqlx::query(&format!("drop database if exists {name} with (force)"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let options = server.database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect_with(options.clone())
            .await
            .unwrap();
        pathway::db::migrate(&pool).await.unwrap();
        Self { pool, options, name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = server();
        let name = self.name.clone();
        // Drop runs outside any async context we can borrow: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect_with(&server.database("postgres")).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Writes `files` (path relative to `dir`, contents) into `dir`.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

/// A small valid roadmap: two stages, three skills, one optional.
pub fn sample_content() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "web/roadmap.md",
            "+++\ntitle = \"Web basics\"\nsummary = \"How the web works.\"\norder = 1\n+++\nStart **here**.\n",
        ),
        (
            "web/01-http.md",
            "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests and responses.\n\n\
             ## Methods {#http-methods}\nGET and POST.\n\n\
             ## Status codes {#status-codes .optional}\n200 and 404.\n",
        ),
        (
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames to addresses.\n\n## Records {#dns-records}\nA and AAAA.\n",
        ),
    ]
}

/// The application under test: a database, the content loaded from `dir`, and the router.
pub struct TestApp {
    pub db: TestDb,
    pub state: AppState,
}

impl TestApp {
    pub async fn with_content(dir: &Path) -> Self {
        Self::with_settings(dir, Settings::default()).await
    }

    pub async fn with_settings(dir: &Path, mut settings: Settings) -> Self {
        settings.content_dir = dir.to_path_buf();
        let db = TestDb::new().await;
        pathway::app::load_content(&db.pool, dir).await.unwrap();
        let catalog = Catalog::load(&db.pool).await.unwrap();
        let static_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let state = AppState::new(db.pool.clone(), catalog, &static_dir, settings);
        Self { db, state }
    }

    /// The shipped `content/` directory.
    pub async fn with_default_content() -> Self {
        Self::with_content(&Path::new(env!("CARGO_MANIFEST_DIR")).join("content")).await
    }

    pub async fn request(&self, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, HeaderMap, String) {
        self.request(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// A GET carrying `cookie` (as `name=value`).
    pub async fn get_as(&self, path: &str, cookie: &str) -> (StatusCode, HeaderMap, String) {
        self.request(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// A same-origin form POST, as a browser sends it, optionally with a cookie.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.request(request.body(Body::from(serde_urlencoded(form))).unwrap())
            .await
    }

    /// Signs up `username` with a strong password; returns the session cookie.
    pub async fn sign_up(&self, username: &str) -> String {
        let display_name = format!("{username} name");
        let form = [
            ("username", username),
            ("display_name", display_name.as_str()),
            ("password", STRONG_PASSWORD),
        ];
        let (status, headers, body) = self.post_form("/signup", &form, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-up failed: {body}");
        session_cookie(&headers).expect("sign-up sets a session cookie")
    }

    /// Signs up `username` and gives them the admin flag; returns the session cookie.
    pub async fn sign_up_admin(&self, username: &str) -> String {
        let cookie = self.sign_up(username).await;
        sqlx::query("update users set is_admin = true where username = $1")
            .bind(username)
            .execute(&self.db.pool)
            .await
            .unwrap();
        cookie
    }

    /// The summaries of `username`'s notifications of `kind`, oldest first.
    pub async fn notices(&self, username: &str, kind: &str) -> Vec<String> {
        sqlx::query_scalar(
            "select n.summary from notifications n join users u on u.id = n.recipient_id
             where u.username = $1 and n.kind = $2 order by n.id",
        )
        .bind(username)
        .bind(kind)
        .fetch_all(&self.db.pool)
        .await
        .unwrap()
    }

    /// The id of the user called `username`.
    pub async fn user_id(&self, username: &str) -> i64 {
        sqlx::query_scalar("select id from users where username = $1")
            .bind(username)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// Signs in; returns the new session cookie.
    pub async fn sign_in(&self, username: &str, password: &str, cookie: Option<&str>) -> String {
        let form = [("username", username), ("password", password)];
        let (status, headers, body) = self.post_form("/signin", &form, cookie).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in failed: {body}");
        session_cookie(&headers).expect("sign-in sets a session cookie")
    }
}

pub const STRONG_PASSWORD: &str = "violet tractor harbour lantern";

/// The undoable action id a state change redirects with (`…?changed=<id>#skill`).
pub fn changed_action(headers: &HeaderMap) -> String {
    let location = headers[header::LOCATION].to_str().unwrap();
    let after = location
        .split("changed=")
        .nth(1)
        .unwrap_or_else(|| panic!("no changed= in the redirect to {location}"));
    after.split('#').next().unwrap().to_string()
}

/// `pathway_session=<id>` from a response's Set-Cookie, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    set_cookie(headers, "pathway_session")
}

/// `name=value` of the cookie called `name` that a response sets, if any.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// application/x-www-form-urlencoded encoding of `pairs`.
pub fn serde_urlencoded(pairs: &[(&str, &str)]) -> String {
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Every (method, path) the router declares, read from `src/routes/*.rs`.
pub fn declared_routes() -> std::collections::BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut routes = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let chunks: Vec<&str> = source.split(".route(").skip(1).collect();
        for chunk in chunks {
            let path = chunk.split('"').nth(1).unwrap().to_string();
            // The handlers: up to the end of this `.route(...)` call.
            let call = chunk.split("\n        .").next().unwrap_or(chunk);
            // The last `.route(` of a router ends with the function.
            let call = call.split("\n}").next().unwrap_or(call);
            let call = call.split(".route(").next().unwrap();
            for (token, method) in [("get(", "GET"), ("post(", "POST")] {
                let mut rest = call;
                while let Some(at) = rest.find(token) {
                    let before = rest[..at].chars().last();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        routes.insert((method.to_string(), path.clone()));
                    }
                    rest = &rest[at + token.len()..];
                }
            }
        }
    }
    routes
}

/// The app served on a loopback port, as `pathway serve` does.
pub struct LiveServer {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LiveServer {
    pub async fn start(app: &TestApp, limits: Limits) -> Self {
        Self::serve(app.state.clone(), limits).await
    }

    /// Serves `state` (which may belong to another instance than a `TestApp`).
    pub async fn serve(state: pathway::AppState, limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let router = router_with(state, limits);
        let task = tokio::spawn(serve_with_limits(
            listener,
            router,
            async {
                let _ = stopped.await;
            },
            limits,
        ));
        Self {
            address,
            stop: Some(stop),
            task,
        }
    }

    /// Sends a raw HTTP/1.1 request and reads the whole answer.
    pub async fn send(&self, head: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.address).await.unwrap();
        let request = format!(
            "{head}\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response.split(' ').nth(1).unwrap().parse().unwrap();
        (status, response)
    }

    pub async fn sign_in(&self, username: &str, password: &str, extra_headers: &str) -> u16 {
        let body = serde_urlencoded(&[("username", username), ("password", password)]);
        let head = format!(
            "POST /signin HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nSec-Fetch-Site: same-origin{extra_headers}"
        );
        self.send(&head, &body).await.0
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

/// A `DATABASE_URL` for the test's own database (TCP or the embedded cluster's socket).
pub fn database_url(app: &TestApp) -> String {
    let options = &app.db.options;
    let database = options.get_database().unwrap_or("postgres");
    format!(
        // The host parameter wins over the placeholder, and may be a socket directory.
        "postgres://{}@localhost:{}/{database}?host={}",
        options.get_username(),
        options.get_port(),
        options
            .get_socket()
            .map_or_else(|| options.get_host().to_string(), |s| s.display().to_string())
    )
}

thread_local! {
    /// SQL statements run on this thread; each test runs on a thread of its own.
    static STATEMENTS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts the statements sqlx logs (target `sqlx::query`).
struct StatementCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            STATEMENTS.with(|count| count.set(count.get() + 1));
        }
    }
}

/// Runs `work` and returns how many SQL statements it ran on this thread, with its output.
/// The subscriber is global, so that no callsite's interest is cached as "never";
/// the count is per thread, and `#[tokio::test]` runs each test on a thread of its own.
pub async fn count_statements<T>(work: impl std::future::Future<Output = T>) -> (usize, T) {
    use tracing_subscriber::layer::SubscriberExt;
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(StatementCounter))
            .expect("no other global subscriber in this test binary");
    });
    let before = STATEMENTS.with(std::cell::Cell::get);
    let output = work.await;
    (STATEMENTS.with(std::cell::Cell::get) - before, output)
}
