//! End to end in a real browser: headless Chromium driven through chromedriver (WebDriver).
//!
//! Each test starts the `pathway` binary (with a private PostgreSQL cluster in a temporary
//! directory, or on a fresh database of the server `DATABASE_URL` names when that is set), its own
//! chromedriver on a free port and a headless Chromium with a fresh profile, then walks a
//! learner's journey: with JavaScript, without it, and by keyboard alone.
//!
//! They need Debian's `chromium` and `chromium-driver` packages and fail (never skip) without them.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

mod oidc_provider;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PASSWORD: &str = "violet tractor harbour lantern";
const STAGE: &str = "/roadmaps/backend/how-the-web-works";
const SKILL: &str = "client-server";
/// How long to wait for anything the browser or the server does.
const TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(25);

// ---------------------------------------------------------------------------
// Processes: the server, the database it uses, chromedriver and the browser.
// ---------------------------------------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status of `GET path` on 127.0.0.1:`port`, if anything answered. Reads the status line
/// only: chromedriver keeps the connection open despite `Connection: close`.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line).ok()?;
    status_line.split(' ').nth(1)?.parse().ok()
}

/// Sends SIGTERM to `pid` (a negative pid names a process group), waits up to 20 s for `child`,
/// then SIGKILLs it.
fn terminate(child: &mut Child, pid: libc::pid_t) {
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = child.wait();
}

/// A temporary directory the cluster's owner can enter even when tests run as root.
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A database of its own on the `DATABASE_URL` server, dropped when done with.
struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create(admin_url: &str) -> Self {
        let name = format!("pathway_browser_{}_{}", std::process::id(), free_port());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("cannot connect to the PostgreSQL server DATABASE_URL names");
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(admin_url, &name);
        Self {
            admin_url: admin_url.to_string(),
            name,
            url,
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside any async context we can borrow: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// `url` (postgres://user:pass@host:port/db?options) naming database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..authority_end])
}

/// The `pathway` binary, serving on a free port of 127.0.0.1.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
    _database: Option<ScratchDatabase>,
    _dir: tempfile::TempDir,
}

/// Copies the directory tree `from` into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl Server {
    async fn start() -> Self {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        Self::start_with(&manifest.join("content"), &[]).await
    }

    /// Serves the roadmaps in `content`, with extra environment variables.
    async fn start_with(content: &Path, env: &[(&str, &str)]) -> Self {
        let dir = open_tempdir();
        let port = free_port();
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_pathway"));
        command
            .env("PATHWAY_HOST", "127.0.0.1")
            .env("NO_COLOR", "1")
            .env("PATHWAY_PORT", port.to_string())
            .env("PATHWAY_CONTENT_DIR", content)
            .env("PATHWAY_STATIC_DIR", manifest.join("static"))
            .env_remove("PATHWAY_PUBLIC_URL")
            .env_remove("PATHWAY_REGISTRATION")
            .env_remove("PATHWAY_SECURE_COOKIES")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        let database = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let database = ScratchDatabase::create(&url).await;
                command.env("DATABASE_URL", &database.url);
                Some(database)
            }
            _ => {
                command
                    .env_remove("DATABASE_URL")
                    .env("PATHWAY_PG_DATA_DIR", dir.path().join("pg"));
                None
            }
        };
        let child = command.spawn().unwrap();
        let mut server = Self {
            child,
            port,
            log,
            _database: database,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_status(port, "/healthz") != Some(200) {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "the server exited ({status}) before serving:\n{}",
                    server.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the server did not come up within 60 s:\n{}",
                server.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The first-run setup link the server logged.
    fn setup_link(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log
            .find("/setup?token=")
            .unwrap_or_else(|| panic!("no setup link in the server log:\n{}", self.log_tail()));
        let link: String = log[start..].chars().take_while(|c| !c.is_whitespace()).collect();
        self.url(&link)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        terminate(&mut self.child, pid);
        if std::thread::panicking() {
            eprintln!("--- server log (last lines) ---\n{}", self.log_tail());
        }
    }
}

/// Fails, naming the fix, when the browser or its driver is not installed.
fn require_browser() {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).is_file(),
            "{path} is missing: the browser tests drive Debian's Chromium through chromedriver. \
             Install both with `apt-get install chromium chromium-driver` (CI installs them)."
        );
    }
}

/// chromedriver, in a process group of its own with the browser it launches; both are
/// stopped when this is dropped, also when a test panics.
struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(javascript: bool) -> Self {
        require_browser();
        let profile = tempfile::tempdir().unwrap();
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {CHROMEDRIVER}: {e}"));
        let mut browser = Self {
            client: None,
            driver,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_status(port, "/status") != Some(200) {
            if let Ok(Some(status)) = browser.driver.try_wait() {
                panic!("chromedriver exited ({status}) before it was ready");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver was not ready within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1200,900",
                // style.css scrolls smoothly unless reduced motion is preferred, and chromedriver
                // clicks before a smooth scroll-into-view has finished ("click intercepted").
                "--force-prefers-reduced-motion",
                format!("--user-data-dir={}", browser._profile.path().display()),
            ],
        });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start {CHROMIUM}: {e}"));
        browser.client = Some(client);
        browser
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Ends the WebDriver session (the browser quits), then chromedriver.
    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = -libc::pid_t::try_from(self.driver.id()).unwrap();
        terminate(&mut self.driver, group);
        // Let the browser's own processes (same group) go before their profile is removed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while unsafe { libc::kill(group, 0) } == 0 {
            if Instant::now() > deadline {
                unsafe { libc::kill(group, libc::SIGKILL) };
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---------------------------------------------------------------------------
// Browser helpers.
// ---------------------------------------------------------------------------

/// Polls `check` until it yields a value, or fails after `TIMEOUT` saying what was awaited.
async fn eventually<T>(c: &Client, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            panic!("timed out after {TIMEOUT:?} waiting for {what} (at {url})");
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

async fn url(c: &Client) -> String {
    c.current_url().await.unwrap().to_string()
}

/// Waits until the current URL satisfies `ok`, and returns it.
async fn wait_for_url(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    eventually(c, what, async || Some(url(c).await).filter(|u| ok(u))).await
}

fn state_button(skill: &str, state: &str) -> String {
    format!("#progress_{skill} button[name=state][value={state}]")
}

/// Which state buttons of `skill` say `aria-pressed="true"` (None while the block is missing,
/// e.g. mid-swap).
async fn pressed_states(c: &Client, skill: &str) -> Option<Vec<String>> {
    let buttons = c
        .find_all(Locator::Css(&format!("#progress_{skill} button[name=state]")))
        .await
        .ok()?;
    if buttons.len() != 4 {
        return None;
    }
    let mut pressed = Vec::new();
    for button in buttons {
        if button.attr("aria-pressed").await.ok()?.as_deref() == Some("true") {
            pressed.push(button.attr("value").await.ok()??);
        }
    }
    Some(pressed)
}

/// Waits until exactly `state` is pressed for `skill`.
async fn wait_for_state(c: &Client, skill: &str, state: &str) {
    let mut last = None;
    let found = tokio::time::timeout(TIMEOUT, async {
        loop {
            let now = pressed_states(c, skill).await;
            if now.as_deref() == Some(&[state.to_string()][..]) {
                return;
            }
            last = now;
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    if found.is_err() {
        panic!(
            "{skill} never showed only `{state}` pressed within {TIMEOUT:?}; last pressed: {last:?} at {}",
            url(c).await
        );
    }
}

async fn press(c: &Client, key: Key) {
    let key = char::from(key);
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    c.perform_actions(keys).await.unwrap();
}

/// Types `text` into whatever has focus.
async fn type_text(c: &Client, text: &str) {
    let mut keys = KeyActions::new("keyboard".into());
    for ch in text.chars() {
        keys = keys
            .then(KeyAction::Down { value: ch })
            .then(KeyAction::Up { value: ch });
    }
    c.perform_actions(keys).await.unwrap();
}

/// Presses Tab until `is_target` (a JavaScript expression over `el`, the active element) holds,
/// at most 200 times; returns the number of presses.
async fn tab_to(c: &Client, what: &str, is_target: &str) -> usize {
    let script = format!("const el = document.activeElement; return !!(el && ({is_target}));");
    for presses in 0..=200 {
        if js(c, &script).await == json!(true) {
            return presses;
        }
        press(c, Key::Tab).await;
    }
    let active = js(
        c,
        "const el = document.activeElement; return el && el.outerHTML.slice(0, 200);",
    )
    .await;
    panic!("{what} was not reached with 200 Tab presses; focus is on {active}");
}

fn username(prefix: &str) -> String {
    format!("{prefix}_{}", free_port())
}

/// Signs up by filling the form with the mouse and keyboard as a learner would.
async fn sign_up(c: &Client, server: &Server, username: &str) {
    sign_up_as(c, server, username, "Browser Learner").await;
}

/// Signs up as `username`, shown as `display_name`.
async fn sign_up_as(c: &Client, server: &Server, username: &str, display_name: &str) {
    c.goto(&server.url("/signup")).await.unwrap();
    for (field, value) in [
        ("#f_username", username),
        ("#f_display_name", display_name),
        ("#f_email", ""),
        ("#f_password", PASSWORD),
    ] {
        let input = c.find(Locator::Css(field)).await.unwrap();
        input.click().await.unwrap();
        if !value.is_empty() {
            input.send_keys(value).await.unwrap();
        }
    }
    c.find(Locator::XPath(
        "//form[@action='/signup']//button[normalize-space()='Create account']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_for_url(c, "the dashboard after signing up", |u| u.ends_with("/dashboard")).await;
}

/// Creates the first admin, "root", through the one-time setup link; ends in the admin area.
async fn set_up_admin(c: &Client, server: &Server) {
    c.goto(&server.setup_link()).await.unwrap();
    for (field, value) in [
        ("#f_username", "root"),
        ("#f_display_name", "Site Admin"),
        ("#f_password", PASSWORD),
    ] {
        c.find(Locator::Css(field))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    click_xpath(
        c,
        "the setup button",
        "//button[normalize-space()='Create admin account']",
    )
    .await;
    wait_for_url(c, "the admin area", |u| u.ends_with("/admin")).await;
}

/// Starts the backend roadmap from its page, then opens its first stage by its link.
async fn start_backend_and_open_first_stage(c: &Client, server: &Server) {
    c.goto(&server.url("/roadmaps/backend")).await.unwrap();
    c.find(Locator::XPath("//button[normalize-space()='Start this roadmap']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(c, "the roadmap page after starting it", |u| {
        u.contains("done=started")
    })
    .await;
    c.find(Locator::Css("ol.path > li:first-child h3 a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let stage = server.url(STAGE);
    wait_for_url(c, "the first stage", |u| u == stage).await;
    wait_for_state(c, SKILL, "not_started").await;
}

/// Clicks the element `css` finds, failing with `what` when there is none.
async fn click_css(c: &Client, what: &str, css: &str) {
    match c.find(Locator::Css(css)).await {
        Ok(element) => element.click().await.unwrap(),
        Err(e) => panic!("no {what} ({css}) at {}: {e}", url(c).await),
    }
}

/// Clicks the element `xpath` finds, failing with `what` when there is none.
async fn click_xpath(c: &Client, what: &str, xpath: &str) {
    match c.find(Locator::XPath(xpath)).await {
        Ok(element) => element.click().await.unwrap(),
        Err(e) => panic!("no {what} ({xpath}) at {}: {e}", url(c).await),
    }
}

/// The visible text of the first element `css` matches, if any.
async fn text_of(c: &Client, css: &str) -> Option<String> {
    let script = format!(
        "const el = document.querySelector({}); return el ? el.innerText : null;",
        json!(css)
    );
    js(c, &script).await.as_str().map(str::to_string)
}

/// Waits until the first element `css` matches shows `needle`, and returns its text.
async fn wait_for_text(c: &Client, css: &str, needle: &str) -> String {
    let mut last = None;
    let found = tokio::time::timeout(TIMEOUT, async {
        loop {
            let now = text_of(c, css).await;
            if let Some(text) = now.as_ref().filter(|t| t.contains(needle)) {
                return text.clone();
            }
            last = now;
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    found
        .unwrap_or_else(|_| panic!("`{css}` never showed {needle:?} within {TIMEOUT:?}; last text: {last:?}"))
}

/// The unread count in the header's Notifications link (0 without a badge).
async fn unread_badge(c: &Client) -> u64 {
    let script = "const b = document.querySelector('header a[href=\"/notifications\"] .count-badge'); \
                  return b ? parseInt(b.textContent, 10) : 0;";
    js(c, script).await.as_u64().unwrap_or(0)
}

/// The accessible name the browser computes for `element` (WebDriver "Get Computed Label"),
/// as a screen reader would announce it.
async fn accessible_name(c: &Client, element: &fantoccini::elements::Element) -> String {
    #[derive(Debug)]
    struct ComputedLabel(String);
    impl fantoccini::wd::WebDriverCompatibleCommand for ComputedLabel {
        fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
            base.join(&format!(
                "session/{}/element/{}/computedlabel",
                session.unwrap_or_default(),
                self.0
            ))
        }
        fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
            (axum::http::Method::GET, None)
        }
    }
    let label = c
        .issue_cmd(ComputedLabel(element.element_id().to_string()))
        .await
        .unwrap();
    label.as_str().unwrap_or_default().to_string()
}

// ---------------------------------------------------------------------------
// The journeys.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn with_javascript_a_state_change_swaps_the_skill_in_place_and_keeps_focus() {
    require_browser();
    let server = Server::start().await;
    let browser = Browser::start(true).await;
    let c = browser.client();

    sign_up(c, &server, &username("js")).await;
    start_backend_and_open_first_stage(c, &server).await;
    let stage = server.url(STAGE);
    // A mark that a navigation or reload would wipe out.
    js(c, "window.pathwayMark = 'same document'; return null;").await;

    c.find(Locator::Css(&state_button(SKILL, "done")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_state(c, SKILL, "done").await;
    assert_eq!(
        url(c).await,
        stage,
        "the page navigated instead of swapping the fragment"
    );
    assert_eq!(
        js(c, "return window.pathwayMark ?? null;").await,
        json!("same document"),
        "the page reloaded"
    );
    // The stage's progress panel follows in place (issue 12: it stayed at 0 % until a reload).
    let panel = "#stage_panel_how-the-web-works .progress-text";
    wait_for_text(c, panel, "1 of 8 required skills done").await;
    let bar = js(
        c,
        "return document.querySelector('#stage_panel_how-the-web-works progress').value;",
    )
    .await;
    assert!(bar.as_f64().unwrap() > 0.0, "the bar moved: {bar}");
    let focus = format!(
        "return document.activeElement === document.querySelector('{}');",
        state_button(SKILL, "done")
    );
    assert_eq!(
        js(c, &focus).await,
        json!(true),
        "focus left the Done button after the swap"
    );
    let block = format!("#progress_{SKILL}");
    let busy = c
        .find(Locator::Css(&block))
        .await
        .unwrap()
        .attr("aria-busy")
        .await
        .unwrap();
    assert_eq!(busy, None, "the swapped-in block is still marked busy");
    let badge = c
        .find(Locator::Css(&format!("{block} .state-badge")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(badge, "Done");
    // Only the one block was replaced: the others are still there, untouched.
    let blocks = js(
        c,
        "return document.querySelectorAll('[data-skill-progress]').length;",
    )
    .await;
    assert!(
        blocks.as_u64().unwrap() > 1,
        "{blocks} progress blocks left on the page"
    );

    // Undo is swapped in place too: same document, same URL, focus kept in the block.
    c.find(Locator::Css(&format!("{block} form.undo-form button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_state(c, SKILL, "not_started").await;
    assert_eq!(url(c).await, stage, "undo did not navigate");
    assert_eq!(
        js(c, "return window.pathwayMark ?? null;").await,
        Value::String("same document".into()),
        "undo did not reload the page"
    );

    // Done again on a fresh load of the page, then reload: it was saved.
    c.goto(&stage).await.unwrap();
    wait_for_state(c, SKILL, "not_started").await;
    c.find(Locator::Css(&state_button(SKILL, "done")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_state(c, SKILL, "done").await;
    assert_eq!(url(c).await, stage);
    js(c, "window.pathwayMark = 'same document'; return null;").await;
    c.refresh().await.unwrap();
    assert_eq!(
        js(c, "return window.pathwayMark ?? null;").await,
        Value::Null,
        "not reloaded"
    );
    wait_for_state(c, SKILL, "done").await;
    assert_eq!(url(c).await, stage);

    // A sub-step ticks in place on its skill's page, and the "n/m" badge follows.
    let projects = server.url("/roadmaps/backend/portfolio-projects/project-todo-api");
    c.goto(&projects).await.unwrap();
    let badge = "#steps_badge_project-todo-api";
    wait_for_text(c, badge, "0/4").await;
    js(c, "window.pathwayMark = 'same document'; return null;").await;
    let first_step = "#project-todo-api .step-toggle";
    click_css(c, "the first sub-step", first_step).await;
    wait_for_text(c, badge, "1/4").await;
    let pressed = js(
        c,
        "return document.querySelector('#project-todo-api .step-toggle').getAttribute('aria-pressed');",
    )
    .await;
    assert_eq!(pressed, Value::String("true".into()));
    let focused = js(
        c,
        "return document.activeElement.classList.contains('step-toggle');",
    )
    .await;
    assert_eq!(focused, Value::Bool(true), "focus stays on the sub-step");
    assert_eq!(url(c).await, projects, "ticking a sub-step did not navigate");
    assert_eq!(
        js(c, "return window.pathwayMark ?? null;").await,
        Value::String("same document".into()),
        "ticking a sub-step reloaded the page"
    );

    // The roadmap's map shows the skill done, the first stage as "you are here", and one
    // Continue action that leads to the next skill (issue 12).
    c.goto(&server.url("/roadmaps/backend")).await.unwrap();
    let first_mark = js(
        c,
        "const m = document.querySelector('ol.path > li:first-child ol.marks > li'); \
         return m ? m.className + '|' + m.textContent.trim() : null;",
    )
    .await;
    let first_mark = first_mark.as_str().unwrap_or_default().to_string();
    assert!(
        first_mark.starts_with("mark state-done|") && first_mark.ends_with(": Done"),
        "{first_mark}"
    );
    let here = text_of(c, "ol.path > li[aria-current=step] h3")
        .await
        .unwrap_or_default();
    // (innerText follows the CSS capitals.)
    assert!(
        here.contains("How the web works") && here.to_lowercase().contains("you are here"),
        "{here}"
    );
    click_xpath(
        c,
        "the Continue action",
        "//main//a[starts-with(normalize-space(), 'Continue: ')]",
    )
    .await;
    wait_for_url(c, "the next skill", |u| {
        u.starts_with(&stage) && !u.ends_with(SKILL) && u != stage
    })
    .await;

    browser.close().await;
}

#[tokio::test]
async fn without_javascript_the_forms_post_redirect_and_undo() {
    require_browser();
    let server = Server::start().await;
    let browser = Browser::start(false).await;
    let c = browser.client();

    sign_up(c, &server, &username("nojs")).await;
    start_backend_and_open_first_stage(c, &server).await;

    c.find(Locator::Css(&state_button(SKILL, "done")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // A navigation proves JavaScript is really off: progress.js would have swapped in place.
    let after = wait_for_url(c, "the redirect after setting the state", |u| {
        u.contains("changed=")
    })
    .await;
    assert!(after.contains(&format!("{STAGE}?changed=")), "{after}");
    assert!(after.ends_with(&format!("#{SKILL}")), "{after}");
    wait_for_state(c, SKILL, "done").await;

    c.refresh().await.unwrap();
    wait_for_state(c, SKILL, "done").await;
    let undo = c
        .find(Locator::XPath(&format!(
            "//*[@id='progress_{SKILL}']//form[@action='/progress/undo']//button[normalize-space()='Undo']"
        )))
        .await
        .expect("no Undo button in the skill's block after the change");
    undo.click().await.unwrap();
    let back = wait_for_url(c, "the redirect after undoing", |u| !u.contains("changed=")).await;
    assert!(back.ends_with(&format!("{STAGE}#{SKILL}")), "{back}");
    wait_for_state(c, SKILL, "not_started").await;
    let undo_left = c
        .find_all(Locator::Css(&format!("#progress_{SKILL} form.undo-form")))
        .await
        .unwrap();
    assert!(
        undo_left.is_empty(),
        "an Undo button is still offered after undoing"
    );

    browser.close().await;
}

#[tokio::test]
async fn the_journey_works_by_keyboard_alone() {
    require_browser();
    let server = Server::start().await;
    let browser = Browser::start(true).await;
    let c = browser.client();

    // Sign up: Tab from the top of the page to each field, type, Enter to submit.
    c.goto(&server.url("/signup")).await.unwrap();
    tab_to(c, "the username field", "el.id === 'f_username'").await;
    type_text(c, &username("kbd")).await;
    tab_to(c, "the display name field", "el.id === 'f_display_name'").await;
    type_text(c, "Keyboard Learner").await;
    tab_to(c, "the password field", "el.id === 'f_password'").await;
    type_text(c, PASSWORD).await;
    press(c, Key::Enter).await;
    wait_for_url(c, "the dashboard after signing up", |u| u.ends_with("/dashboard")).await;

    // Start the roadmap.
    c.goto(&server.url("/roadmaps/backend")).await.unwrap();
    tab_to(
        c,
        "the Start this roadmap button",
        "el.tagName === 'BUTTON' && el.textContent.trim() === 'Start this roadmap'",
    )
    .await;
    press(c, Key::Enter).await;
    wait_for_url(c, "the roadmap page after starting it", |u| {
        u.contains("done=started")
    })
    .await;

    // On the stage page, Tab to the skill's In progress button and press Enter.
    let stage = server.url(STAGE);
    c.goto(&stage).await.unwrap();
    wait_for_state(c, SKILL, "not_started").await;
    let in_progress = state_button(SKILL, "in_progress");
    let presses = tab_to(
        c,
        "the In progress button",
        &format!("el.matches('{in_progress}')"),
    )
    .await;
    assert!(presses > 0);
    press(c, Key::Enter).await;
    wait_for_state(c, SKILL, "in_progress").await;
    assert_eq!(
        url(c).await,
        stage,
        "Enter navigated instead of swapping in place"
    );
    let focused = |selector: &str| format!("return document.activeElement.matches('{selector}');");
    assert_eq!(
        js(c, &focused(&in_progress)).await,
        json!(true),
        "focus left the In progress button"
    );

    // Focus stays usable in the new block: Tab moves on to Done, Space presses it.
    press(c, Key::Tab).await;
    let done = state_button(SKILL, "done");
    assert_eq!(
        js(c, &focused(&done)).await,
        json!(true),
        "Tab did not move from In progress to Done"
    );
    press(c, Key::Space).await;
    wait_for_state(c, SKILL, "done").await;
    assert_eq!(
        js(c, &focused(&done)).await,
        json!(true),
        "focus left the Done button"
    );
    assert_eq!(url(c).await, stage);

    browser.close().await;
}

#[tokio::test]
async fn the_mentor_loop_from_invitation_to_verified() {
    require_browser();
    // One server, two browsers with profiles of their own: the learner's and the mentor's.
    let (server, learner, mentor) = tokio::join!(Server::start(), Browser::start(true), Browser::start(true));
    let (lea, max) = (learner.client(), mentor.client());
    let stage = server.url(STAGE);
    let block = format!("#progress_{SKILL}");

    // 1. Both sign up.
    tokio::join!(
        sign_up_as(max, &server, "max", "Max Mentor"),
        sign_up_as(lea, &server, "lea", "Lea Learner"),
    );

    // 2. The learner starts the roadmap and marks the skill done.
    start_backend_and_open_first_stage(lea, &server).await;
    assert_eq!(url(lea).await, stage);
    lea.find(Locator::Css(&state_button(SKILL, "done")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_state(lea, SKILL, "done").await;

    // 3. The learner invites max by username, for all their roadmaps (the default).
    lea.goto(&server.url("/mentors")).await.unwrap();
    let field = lea.find(Locator::Css("#f_mentor_username")).await.unwrap();
    field.click().await.unwrap();
    field.send_keys("max").await.unwrap();
    assert_eq!(
        js(lea, "return document.querySelector('#user_scope_all').checked;").await,
        json!(true),
        "“All my roadmaps” is not the default scope"
    );
    click_xpath(
        lea,
        "Send invitation button",
        "//form[@action='/mentors/invite']//button[normalize-space()='Send invitation']",
    )
    .await;
    wait_for_url(lea, "My mentors after inviting", |u| u.contains("done=invited")).await;
    wait_for_text(lea, "main", "Invitation sent").await;

    // 4. The mentor sees the invitation, with a notification, and accepts it.
    max.goto(&server.url("/mentoring")).await.unwrap();
    let unread = unread_badge(max).await;
    assert!(unread > 0, "no unread badge for the mentor after the invitation");
    wait_for_text(max, "main", "Lea Learner (@lea) asks you to mentor them").await;
    let accept = max
        .find(Locator::XPath(
            "//section[@aria-labelledby='h_requests']//form[contains(@action, '/accept')]\
             //button[starts-with(normalize-space(), 'Accept')]",
        ))
        .await
        .expect("no Accept button for the invitation");
    let action = js(
        max,
        "return document.querySelector('#h_requests').parentElement\
         .querySelector('form[action$=\"/accept\"]').getAttribute('action');",
    )
    .await;
    let action = action.as_str().unwrap();
    let id = action
        .strip_prefix("/mentoring/")
        .and_then(|rest| rest.strip_suffix("/accept"))
        .unwrap_or_default();
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        "unexpected accept action {action}"
    );
    accept.click().await.unwrap();
    wait_for_url(max, "Mentoring after accepting", |u| u.contains("done=accepted")).await;
    wait_for_text(max, "main", "You are now a mentor").await;
    wait_for_text(max, "#h_mentees + ul", "Lea Learner").await;

    // 5. The learner asks for a review of the done skill.
    lea.goto(&stage).await.unwrap();
    wait_for_state(lea, SKILL, "done").await;
    lea.find(Locator::Css(&format!("{block} details.review-request > summary")))
        .await
        .expect("no review request offered once a mentor can see the roadmap")
        .click()
        .await
        .unwrap();
    let message = lea
        .find(Locator::Css(&format!("#review_message_{SKILL}")))
        .await
        .unwrap();
    message.click().await.unwrap();
    message
        .send_keys("Could you check my notes on requests and responses?")
        .await
        .unwrap();
    click_xpath(
        lea,
        "Request review button",
        &format!(
            "//*[@id='progress_{SKILL}']//details[contains(@class, 'review-request')]\
             //button[normalize-space()='Request review']"
        ),
    )
    .await;
    wait_for_url(lea, "the skill's page after requesting a review", |u| {
        u == format!("{stage}/{SKILL}")
    })
    .await;
    wait_for_text(lea, &block, "Review requested").await;
    assert!(
        lea.find_all(Locator::Css(&format!("{block} details.review-request")))
            .await
            .unwrap()
            .is_empty(),
        "a second review can be requested while one is pending"
    );

    // 6. The mentor follows the notification to the skill and verifies it.
    max.goto(&server.url("/notifications")).await.unwrap();
    click_xpath(
        max,
        "review request notification",
        "//ul[contains(@class, 'notification-list')]//form[contains(@action, '/open')]\
         //button[normalize-space()='Lea Learner asked for a review of “Client and server”']",
    )
    .await;
    let skill_page = server.url(&format!("/mentees/lea/backend/how-the-web-works#{SKILL}"));
    wait_for_url(max, "the mentee's skill from the notification", |u| {
        u == skill_page
    })
    .await;
    let section = format!("section#{SKILL}");
    wait_for_text(
        max,
        &section,
        "Could you check my notes on requests and responses?",
    )
    .await;
    let comment = max
        .find(Locator::Css(&format!("{section} form textarea[id^=verify_]")))
        .await
        .expect("no comment field in the verify form");
    comment.click().await.unwrap();
    comment.send_keys("Clear and complete.").await.unwrap();
    click_xpath(
        max,
        "Verify this skill button",
        &format!("//section[@id='{SKILL}']//button[normalize-space()='Verify this skill']"),
    )
    .await;
    wait_for_text(max, &section, "Review answered by Max Mentor").await;
    wait_for_text(max, &format!("{section} .verified"), "Verified by Max Mentor on ").await;

    // 7. The learner sees the verification and is told about it.
    lea.goto(&stage).await.unwrap();
    let verified = wait_for_text(lea, &block, "Verified by Max Mentor on ").await;
    assert!(
        verified.contains("Clear and complete."),
        "no mentor's comment in {verified:?}"
    );
    assert!(
        text_of(lea, &format!("{block} .badge-verified")).await.is_some(),
        "no verified badge"
    );
    assert!(unread_badge(lea).await > 0, "no unread badge for the learner");
    lea.goto(&server.url("/notifications")).await.unwrap();
    wait_for_text(lea, "main", "Max Mentor verified “Client and server”").await;
    click_xpath(
        lea,
        "verification notification",
        "//ul[contains(@class, 'notification-list')]\
         //button[normalize-space()='Max Mentor verified “Client and server”']",
    )
    .await;
    wait_for_url(lea, "the skill's page from the notification", |u| {
        u == format!("{stage}/{SKILL}")
    })
    .await;

    tokio::join!(learner.close(), mentor.close());
}

#[tokio::test]
async fn an_admin_edits_content_sees_the_plan_confirms_and_progress_follows_the_rename() {
    require_browser();
    let content = open_tempdir();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("content"),
        content.path(),
    );
    // Reload by the button, so the test controls when the files are read.
    let server = Server::start_with(content.path(), &[("PATHWAY_WATCH_CONTENT", "false")]).await;
    let browser = Browser::start(true).await;
    let c = browser.client();

    // A learner finishes one skill and starts another.
    let learner = username("lena");
    sign_up(c, &server, &learner).await;
    start_backend_and_open_first_stage(c, &server).await;
    click_css(c, "the Done button", &state_button(SKILL, "done")).await;
    wait_for_state(c, SKILL, "done").await;
    click_css(
        c,
        "the In progress button",
        &state_button("tcp-ip", "in_progress"),
    )
    .await;
    wait_for_state(c, "tcp-ip", "in_progress").await;
    click_xpath(c, "the Sign out button", "//form[@action='/signout']//button").await;
    wait_for_url(c, "the page after signing out", |u| !u.contains("/roadmaps/")).await;

    // The first admin comes in through the one-time setup link.
    set_up_admin(c, &server).await;

    // The admin renames a skill (keeping its progress) and removes another one.
    let stage_file = content.path().join("backend/01-how-the-web-works.md");
    let text = std::fs::read_to_string(&stage_file).unwrap();
    let text = text.replace(
        "## Client and server {#client-server}\n",
        "## Clients and servers {#clients-and-servers replaces=client-server}\n\nRenamed in the browser test.\n",
    );
    let start = text.find("## TCP/IP, ports and packets").unwrap();
    let end = text.find("## HTTP requests and methods").unwrap();
    let text = format!("{}{}", &text[..start], &text[end..]);
    std::fs::write(&stage_file, text).unwrap();

    c.goto(&server.url("/admin/content")).await.unwrap();
    click_xpath(
        c,
        "the Reload button",
        "//button[normalize-space()='Reload content']",
    )
    .await;
    let plan = wait_for_text(c, "main", "I understand").await;
    assert!(
        plan.contains("clients-and-servers takes over client-server"),
        "{plan}"
    );
    assert!(
        plan.contains("tcp-ip") && plan.contains("1 learner with progress"),
        "{plan}"
    );
    assert!(plan.contains("1 renamed, 1 retired"), "{plan}");
    // The box must be ticked (the server refuses otherwise; tests/content_ops.rs checks that).
    click_css(c, "the confirmation box", "#confirm_retire").await;
    click_xpath(
        c,
        "the Apply button",
        "//button[normalize-space()='Apply this change']",
    )
    .await;
    wait_for_url(c, "the content page after applying", |u| {
        u.contains("done=applied")
    })
    .await;
    wait_for_text(c, "main", "Applied: the new content is live").await;

    // The learner sees the new text, and their progress came along.
    click_xpath(c, "the Sign out button", "//form[@action='/signout']//button").await;
    wait_for_url(c, "the page after signing out", |u| !u.contains("/admin")).await;
    c.goto(&server.url("/signin")).await.unwrap();
    c.find(Locator::Css("#f_username"))
        .await
        .unwrap()
        .send_keys(&learner)
        .await
        .unwrap();
    c.find(Locator::Css("#f_password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click_xpath(
        c,
        "the Sign in button",
        "//form[@action='/signin']//button[@type='submit']",
    )
    .await;
    wait_for_url(c, "the page after signing in", |u| !u.contains("/signin")).await;
    c.goto(&server.url(&format!("{STAGE}/clients-and-servers")))
        .await
        .unwrap();
    wait_for_text(c, "#clients-and-servers", "Renamed in the browser test.").await;
    wait_for_state(c, "clients-and-servers", "done").await;
    c.goto(&server.url(STAGE)).await.unwrap();
    wait_for_state(c, "clients-and-servers", "done").await;
    assert!(
        text_of(c, "#tcp-ip").await.is_none(),
        "the removed skill is gone from the page"
    );

    browser.close().await;
}

/// On a skill's own page, "Done, next skill" at the end of the text marks it done and
/// moves on, with JavaScript (after the buttons above changed the state in place) and without.
async fn finish_a_skill_on_its_own_page(javascript: bool) {
    require_browser();
    let server = Server::start().await;
    let browser = Browser::start(javascript).await;
    let c = browser.client();
    sign_up(
        c,
        &server,
        &username(if javascript { "skilljs" } else { "skillnojs" }),
    )
    .await;
    start_backend_and_open_first_stage(c, &server).await;
    click_xpath(
        c,
        "the link to the first skill's own page",
        &format!("//li[@id='{SKILL}']//a[normalize-space()='Client and server']"),
    )
    .await;
    let page = server.url(&format!("{STAGE}/{SKILL}"));
    wait_for_url(c, "the skill's page", |u| u == page).await;
    let heading = wait_for_text(c, "h1", "Client and server").await;
    assert!(heading.contains("Client and server"));

    // The buttons above the text: in place with JavaScript, a redirect back here without.
    c.find(Locator::Css(&state_button(SKILL, "in_progress")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_state(c, SKILL, "in_progress").await;
    if !javascript {
        let now = url(c).await;
        assert!(now.starts_with(&format!("{page}?changed=")), "{now}");
    }

    // The end of the text: done, and on to the next skill.
    click_xpath(
        c,
        "the Done, next skill button",
        "//button[starts-with(normalize-space(), 'Done, next skill')]",
    )
    .await;
    let next = server.url(&format!("{STAGE}/tcp-ip"));
    wait_for_url(c, "the next skill's page", |u| u == next).await;
    c.goto(&page).await.unwrap();
    wait_for_state(c, SKILL, "done").await;
    browser.close().await;
}

#[tokio::test]
async fn with_javascript_done_next_skill_follows_a_change_made_in_place() {
    finish_a_skill_on_its_own_page(true).await;
}

#[tokio::test]
async fn without_javascript_a_skill_page_ticks_and_moves_on() {
    finish_a_skill_on_its_own_page(false).await;
}

/// The control labelled `label` (found through the label's `for`, as a screen reader would).
fn labelled(label: &str) -> String {
    format!("//*[@id=//label[normalize-space()='{label}']/@for]")
}

#[tokio::test]
async fn search_pages_through_every_match_and_filters_by_roadmap_without_javascript() {
    require_browser();
    let content = open_tempdir();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("content"),
        content.path(),
    );
    // 45 skills that mention lanterns, in a roadmap of their own.
    let mut stage = String::from("+++\nid = \"lighting\"\ntitle = \"Lighting\"\n+++\n");
    for n in 1..=45 {
        stage.push_str(&format!(
            "\n## Lantern care {n:02} {{#lantern-care-{n:02}}}\nTrim the wick of lantern {n:02} and clean its glass.\n"
        ));
    }
    std::fs::create_dir_all(content.path().join("lanterns")).unwrap();
    std::fs::write(
        content.path().join("lanterns/roadmap.md"),
        "+++\ntitle = \"Lanterns\"\nsummary = \"Keeping the lights on.\"\n+++\n",
    )
    .unwrap();
    std::fs::write(content.path().join("lanterns/01-lighting.md"), stage).unwrap();
    let server = Server::start_with(content.path(), &[("PATHWAY_WATCH_CONTENT", "false")]).await;
    let browser = Browser::start(false).await;
    let c = browser.client();

    c.goto(&server.url("/search")).await.unwrap();
    c.find(Locator::XPath(&labelled("Search every roadmap")))
        .await
        .expect("no search field labelled \"Search every roadmap\"")
        .send_keys("lantern")
        .await
        .unwrap();
    c.find(Locator::XPath(&labelled("Roadmap")))
        .await
        .expect("no roadmap filter labelled \"Roadmap\"")
        .select_by_label("Lanterns")
        .await
        .unwrap();
    click_xpath(
        c,
        "the Search button of the search form",
        "//main//form[@role='search']//button[normalize-space()='Search']",
    )
    .await;
    wait_for_url(c, "the first page of results", |u| {
        u.contains("q=lantern") && u.contains("roadmap=lanterns")
    })
    .await;
    let status = wait_for_text(c, "[role=status]", "skills match").await;
    assert_eq!(status, "45 skills match “lantern” in Lanterns. Page 1 of 3.");
    let count = |c: &Client| {
        let c = c.clone();
        async move { c.find_all(Locator::Css(".search-result")).await.unwrap().len() }
    };
    assert_eq!(count(c).await, 20);

    click_xpath(
        c,
        "the link to the next page",
        "//a[@aria-label='Next page of results']",
    )
    .await;
    wait_for_url(c, "the second page", |u| u.contains("page=2")).await;
    wait_for_text(c, ".pager", "Page 2 of 3").await;
    assert_eq!(count(c).await, 20);
    let first_on_two = text_of(c, ".search-result h2").await.unwrap();
    assert!(first_on_two.starts_with("Lantern care"), "{first_on_two}");

    click_xpath(
        c,
        "the link to the next page",
        "//a[@aria-label='Next page of results']",
    )
    .await;
    wait_for_url(c, "the last page", |u| u.contains("page=3")).await;
    wait_for_text(c, ".pager", "Page 3 of 3").await;
    assert_eq!(count(c).await, 5);
    assert!(
        c.find_all(Locator::XPath("//a[@aria-label='Next page of results']"))
            .await
            .unwrap()
            .is_empty(),
        "no next page after the last"
    );

    click_xpath(
        c,
        "the link to the previous page",
        "//a[@aria-label='Previous page of results']",
    )
    .await;
    wait_for_url(c, "the second page again", |u| u.contains("page=2")).await;
    assert_eq!(
        text_of(c, ".search-result h2").await.unwrap(),
        first_on_two,
        "the same page comes back"
    );

    // Each hit says where it lives and links there.
    click_xpath(
        c,
        "the link to the hit's stage",
        "//li[@class='search-result']//p[@class='meta']/a[normalize-space()='Lighting']",
    )
    .await;
    wait_for_url(c, "the stage page", |u| {
        u.ends_with("/roadmaps/lanterns/lighting")
    })
    .await;

    browser.close().await;
}

/// Issue 12's defects in the page chrome: a pressed state button is named by its state
/// alone (the CSS check mark is decoration), and every page's first heading clears the
/// header instead of touching it.
#[tokio::test]
async fn pressed_state_buttons_keep_their_name_and_headings_clear_the_header() {
    require_browser();
    let server = Server::start().await;
    let browser = Browser::start(true).await;
    let c = browser.client();
    sign_up(c, &server, &username("chrome")).await;
    start_backend_and_open_first_stage(c, &server).await;
    click_css(c, "the Done button", &state_button(SKILL, "done")).await;
    wait_for_state(c, SKILL, "done").await;
    let pressed = c
        .find(Locator::Css(&format!(
            "#progress_{SKILL} button[aria-pressed=true]"
        )))
        .await
        .unwrap();
    assert_eq!(accessible_name(c, &pressed).await, "Done");
    // The mark is still drawn for sighted users.
    let mark = js(
        c,
        &format!(
            "return getComputedStyle(document.querySelector('#progress_{SKILL} button[aria-pressed=true]'), '::before').content;"
        ),
    )
    .await;
    assert!(mark.as_str().unwrap_or_default().contains('✓'), "{mark}");

    for path in [STAGE, "/dashboard", "/roadmaps/backend", "/search?q=http"] {
        c.goto(&server.url(path)).await.unwrap();
        let gap = js(
            c,
            "const header = document.querySelector('body > header, header').getBoundingClientRect(); \
             const first = document.querySelector('main').firstElementChild.getBoundingClientRect(); \
             return first.top - header.bottom;",
        )
        .await;
        let gap = gap.as_f64().unwrap();
        assert!(
            gap >= 16.0,
            "{path}: the first thing in main starts {gap} px below the header"
        );
    }
    browser.close().await;
}

/// Issue 12: sign-up keeps the browser's time zone (the server's default without
/// JavaScript), and dates show in it.
async fn sign_up_keeps_the_time_zone(javascript: bool) {
    require_browser();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let server = Server::start_with(
        &manifest.join("content"),
        &[("PATHWAY_TIME_ZONE", "America/New_York")],
    )
    .await;
    let browser = Browser::start(javascript).await;
    let c = browser.client();
    // Neither the server's default nor the machine's zone, so only the browser can say it.
    devtools(
        c,
        "Emulation.setTimezoneOverride",
        json!({ "timezoneId": "Asia/Tokyo" }),
    )
    .await;
    sign_up(c, &server, &username("zone")).await;
    c.goto(&server.url("/account")).await.unwrap();
    let expected = if javascript {
        "Asia/Tokyo"
    } else {
        "America/New_York"
    };
    let picker = c
        .find(Locator::XPath(
            "//select[@id=//label[normalize-space()='Time zone']/@for]",
        ))
        .await
        .unwrap();
    assert_eq!(picker.prop("value").await.unwrap().as_deref(), Some(expected));
    // Dates follow it: the history names the zone's abbreviation.
    start_backend_and_open_first_stage(c, &server).await;
    click_css(c, "the Done button", &state_button(SKILL, "done")).await;
    if javascript {
        wait_for_state(c, SKILL, "done").await;
    } else {
        // The form's own navigation first, or it can land after the one below.
        wait_for_url(c, "the stage page after Done", |u| u.contains("changed=")).await;
    }
    c.goto(&server.url("/history")).await.unwrap();
    let now = pathway::time_zones::Zone::named(expected).time(time::OffsetDateTime::now_utc());
    let abbreviation = now.rsplit(' ').next().unwrap().to_string();
    // "30 Nov 2026, 21:52 JST": the zone's abbreviation after the time.
    wait_for_text(c, "main", &format!(" {abbreviation}")).await;
    browser.close().await;
}

#[tokio::test]
async fn with_javascript_sign_up_keeps_the_browsers_time_zone() {
    sign_up_keeps_the_time_zone(true).await;
}

#[tokio::test]
async fn without_javascript_sign_up_takes_the_servers_time_zone() {
    sign_up_keeps_the_time_zone(false).await;
}

/// Issue 12: an invitation link opened while signed out survives signing up (sign-up returns
/// to it), and the mentor verifies the review from the queue the dashboard links to.
#[tokio::test]
async fn an_invitation_survives_signing_up_and_the_mentor_verifies_from_the_queue() {
    require_browser();
    let (server, learner, mentor) =
        tokio::join!(Server::start(), Browser::start(true), Browser::start(false));
    let (lea, max) = (learner.client(), mentor.client());
    sign_up_as(lea, &server, "lena", "Lena Learner").await;
    start_backend_and_open_first_stage(lea, &server).await;
    click_css(lea, "the Done button", &state_button(SKILL, "done")).await;
    wait_for_state(lea, SKILL, "done").await;

    // The learner makes an invite link.
    lea.goto(&server.url("/mentors")).await.unwrap();
    click_xpath(
        lea,
        "Create invite link",
        "//button[normalize-space()='Create invite link']",
    )
    .await;
    let link = eventually(lea, "the invite link", async || {
        js(lea, "const f = document.querySelector('input[aria-label=\"Invite link\"]'); return f ? f.value : null;")
            .await
            .as_str()
            .map(str::to_string)
    })
    .await;

    // Someone without an account opens it: sign-in, then "Create an account", then back to it.
    max.goto(&link).await.unwrap();
    wait_for_url(max, "sign-in with the way back", |u| u.contains("/signin?next=")).await;
    click_xpath(
        max,
        "Create an account link",
        "//main//a[normalize-space()='Create an account']",
    )
    .await;
    wait_for_url(max, "sign-up with the way back", |u| u.contains("/signup?next=")).await;
    for (label, value) in [
        ("Username", "milo"),
        ("Display name", "Milo Mentor"),
        ("Password", PASSWORD),
    ] {
        let field = max
            .find(Locator::XPath(&format!(
                "//input[@id=//label[starts-with(normalize-space(), '{label}')]/@for]"
            )))
            .await
            .unwrap_or_else(|_| panic!("no field labelled {label}"));
        field.click().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    click_xpath(
        max,
        "Create account button",
        "//button[normalize-space()='Create account']",
    )
    .await;
    wait_for_url(max, "the invitation after signing up", |u| u == link).await;
    wait_for_text(max, "main", "invites you to be their mentor").await;
    click_xpath(max, "Accept button", "//main//button[normalize-space()='Accept']").await;
    wait_for_url(max, "Mentoring after accepting", |u| u.contains("done=accepted")).await;

    // The learner asks for a review.
    lea.goto(&server.url(STAGE)).await.unwrap();
    click_css(
        lea,
        "the review request",
        &format!("#progress_{SKILL} details.review-request > summary"),
    )
    .await;
    click_xpath(
        lea,
        "Request review button",
        &format!("//*[@id='progress_{SKILL}']//button[normalize-space()='Request review']"),
    )
    .await;
    wait_for_url(lea, "the skill page after asking", |u| {
        u.contains(&format!("/{SKILL}"))
    })
    .await;

    // The mentor follows the dashboard's count to the queue and verifies there.
    max.goto(&server.url("/mentoring")).await.unwrap();
    click_xpath(
        max,
        "the queue link",
        "//main//a[normalize-space()='1 review waits for you']",
    )
    .await;
    wait_for_url(max, "the review queue", |u| u.ends_with("/mentoring/reviews")).await;
    wait_for_text(max, "main", "1 request waits, oldest first.").await;
    let comment = max
        .find(Locator::XPath(
            "//textarea[@id=//label[normalize-space()='Comment (optional)']/@for]",
        ))
        .await
        .unwrap();
    comment.click().await.unwrap();
    comment.send_keys("Well done.").await.unwrap();
    click_xpath(
        max,
        "Verify button",
        "//main//button[starts-with(normalize-space(), 'Verify')]",
    )
    .await;
    wait_for_url(max, "the queue after verifying", |u| u.contains("done=verified")).await;
    wait_for_text(max, "main", "Verified. The learner has been told.").await;
    wait_for_text(max, "main", "Nothing waits for you").await;
    tokio::join!(learner.close(), mentor.close());
}

/// Makes the page `width` CSS pixels wide, as a phone is (Chrome DevTools' device metrics,
/// through chromedriver), whatever the window's own minimum size.
async fn emulate_width(c: &Client, width: u32) {
    devtools(
        c,
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": width, "height": 800, "deviceScaleFactor": 1, "mobile": false }),
    )
    .await;
}

/// Runs a Chrome DevTools command through chromedriver's `goog/cdp/execute`.
async fn devtools(c: &Client, cmd: &str, params: Value) {
    #[derive(Debug)]
    struct Cdp(Value);
    impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
        fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
            base.join(&format!(
                "session/{}/goog/cdp/execute",
                session.unwrap_or_default()
            ))
        }
        fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
            (axum::http::Method::POST, Some(self.0.to_string()))
        }
    }
    c.issue_cmd(Cdp(json!({ "cmd": cmd, "params": params })))
        .await
        .unwrap();
}

/// Whether the header link to `href` can be seen (not inside the closed menu) and is the
/// element at its own centre, inside the viewport.
async fn header_link_visible(c: &Client, href: &str) -> bool {
    let script = format!(
        "const a = document.querySelector('header nav a[href=\"{href}\"]'); \
         if (!a || !a.checkVisibility()) return false; \
         const r = a.getBoundingClientRect(); \
         if (r.width === 0 || r.left < 0 || r.right > window.innerWidth) return false; \
         const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); \
         return !!hit && (hit === a || a.contains(hit));"
    );
    js(c, &script).await == json!(true)
}

/// Issue 12: at 360 px the header is one row (the brand, search and a "Menu" button); the
/// links hide behind "Menu", which opens them by mouse or keyboard, with or without
/// JavaScript (a <details>), and each link is then reachable with Tab and followed with Enter.
async fn the_phone_menu_is_one_row_and_opens(javascript: bool) {
    require_browser();
    let server = Server::start().await;
    let browser = Browser::start(javascript).await;
    let c = browser.client();
    sign_up(
        c,
        &server,
        &username(if javascript { "menujs" } else { "menunojs" }),
    )
    .await;
    // Wide (the window is 1200 px): the links are a row that WebDriver too sees, no "Menu".
    let dashboard = c
        .find(Locator::Css("header nav a[href='/dashboard']"))
        .await
        .unwrap();
    assert!(
        dashboard.is_displayed().await.unwrap(),
        "the header's links are hidden at 1200 px"
    );
    let menu = c.find(Locator::Css("header summary")).await.unwrap();
    assert!(!menu.is_displayed().await.unwrap(), "\"Menu\" shows at 1200 px");
    emulate_width(c, 360).await;
    c.goto(&server.url("/roadmaps/backend")).await.unwrap();
    assert_eq!(js(c, "return window.innerWidth;").await, json!(360));

    let row = js(
        c,
        "const box = s => document.querySelector(s).getBoundingClientRect(); \
         const header = box('header'); \
         const middles = ['header .brand', 'header #site_q', 'header summary'].map(s => { const r = box(s); return (r.top + r.bottom) / 2; }); \
         return { height: header.height, spread: Math.max(...middles) - Math.min(...middles), \
                  overflow: document.documentElement.scrollWidth - window.innerWidth };",
    )
    .await;
    let height = row["height"].as_f64().unwrap();
    assert!(height <= 72.0, "the header is {height} px tall at 360 px: {row}");
    assert!(
        row["spread"].as_f64().unwrap() < 8.0,
        "brand, search and Menu are not one row: {row}"
    );
    // (Negative when a scroll bar takes room: innerWidth counts it, scrollWidth does not.)
    assert!(
        row["overflow"].as_f64().unwrap() <= 0.0,
        "the page scrolls sideways: {row}"
    );
    for href in ["/dashboard", "/history", "/account"] {
        assert!(
            !header_link_visible(c, href).await,
            "{href} shows before the menu is opened"
        );
    }
    let summary = c.find(Locator::Css("header summary")).await.unwrap();
    assert_eq!(summary.text().await.unwrap(), "Menu");

    // The mouse opens and closes it.
    summary.click().await.unwrap();
    eventually(c, "the open menu's links", async || {
        header_link_visible(c, "/dashboard").await.then_some(())
    })
    .await;
    for href in ["/", "/history", "/mentors", "/notifications", "/account"] {
        assert!(
            header_link_visible(c, href).await,
            "{href} is not shown in the open menu"
        );
    }
    assert!(
        !header_link_visible(c, "/mentoring").await,
        "a learner has no Mentoring link"
    );
    let overflow = js(
        c,
        "return document.documentElement.scrollWidth - window.innerWidth;",
    )
    .await;
    assert!(
        overflow.as_f64().unwrap() <= 0.0,
        "the open menu makes the page scroll sideways"
    );
    summary.click().await.unwrap();
    eventually(c, "the menu to close", async || {
        (!header_link_visible(c, "/dashboard").await).then_some(())
    })
    .await;

    // The keyboard: Tab to "Menu", Enter opens it, Tab reaches a link, Enter follows it.
    c.refresh().await.unwrap();
    tab_to(c, "the Menu button", "el.matches('header summary')").await;
    press(c, Key::Enter).await;
    eventually(c, "the menu opened by Enter", async || {
        header_link_visible(c, "/history").await.then_some(())
    })
    .await;
    tab_to(
        c,
        "the History link in the menu",
        "el.matches('header nav a[href=\"/history\"]')",
    )
    .await;
    press(c, Key::Enter).await;
    wait_for_url(c, "the History page, from the menu by keyboard", |u| {
        u.ends_with("/history")
    })
    .await;
    browser.close().await;
}

#[tokio::test]
async fn with_javascript_the_phone_menu_is_one_row_and_opens() {
    the_phone_menu_is_one_row_and_opens(true).await;
}

#[tokio::test]
async fn without_javascript_the_phone_menu_is_one_row_and_opens() {
    the_phone_menu_is_one_row_and_opens(false).await;
}

/// Issue 13: an admin creates a team and leads it, assigns a roadmap and makes a join link; a
/// newcomer opens it signed out, signs up, joins and ticks a skill; the lead's table shows it.
#[tokio::test]
async fn a_lead_builds_a_team_and_sees_a_newcomers_progress() {
    require_browser();
    let (server, lead, learner, mentor) = tokio::join!(
        Server::start(),
        Browser::start(false),
        Browser::start(true),
        Browser::start(false)
    );
    let (c, l, t) = (lead.client(), learner.client(), mentor.client());
    set_up_admin(c, &server).await;
    sign_up_as(t, &server, "tomas", "Tomas Mentor").await;

    // The header's Teams link, then the form, found by their labels.
    click_xpath(
        c,
        "the Teams link",
        "//nav[@aria-label='Main']//a[normalize-space()='Teams']",
    )
    .await;
    for (label, value) in [("Team name", "Browser cohort"), ("Lead (optional)", "root")] {
        c.find(Locator::XPath(&format!(
            "//input[@id=//label[normalize-space()='{label}']/@for]"
        )))
        .await
        .unwrap_or_else(|_| panic!("no field labelled {label}"))
        .send_keys(value)
        .await
        .unwrap();
    }
    click_xpath(c, "Create team", "//button[normalize-space()='Create team']").await;
    wait_for_url(c, "the new team", |u| u.contains("/teams/browser-cohort")).await;
    wait_for_text(c, "main", "The team was created.").await;
    // Backend is the only roadmap: it is what the picker offers.
    click_xpath(c, "Assign", "//button[normalize-space()='Assign']").await;
    wait_for_text(c, "main", "The roadmap is assigned").await;
    click_xpath(
        c,
        "Make a join link",
        "//button[normalize-space()='Make a join link']",
    )
    .await;
    // The click only sends the form: wait for the answer before reading the link.
    wait_for_text(c, "main", "Your new join link").await;
    let link = c
        .find(Locator::XPath(
            "//input[@id=//label[normalize-space()='Join link']/@for]",
        ))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(link.contains("/team-invites/"), "{link}");

    // The lead adds a mentor by username, with the role chosen by its label.
    let field = c
        .find(Locator::XPath(
            "//input[@id=//label[normalize-space()='Username']/@for]",
        ))
        .await
        .unwrap();
    field.send_keys("tomas").await.unwrap();
    c.find(Locator::XPath(
        "//select[@id=//label[normalize-space()='Role']/@for]",
    ))
    .await
    .unwrap()
    .select_by_label("Mentor")
    .await
    .unwrap();
    click_xpath(
        c,
        "Add to the team",
        "//button[normalize-space()='Add to the team']",
    )
    .await;
    wait_for_text(c, "main", "Tomas Mentor").await;

    // A newcomer: the link asks to sign in, sign-up comes back to it, and they join.
    l.goto(&link).await.unwrap();
    wait_for_url(l, "sign-in with the way back", |u| u.contains("/signin?next=")).await;
    click_xpath(
        l,
        "Create an account link",
        "//main//a[normalize-space()='Create an account']",
    )
    .await;
    for (label, value) in [
        ("Username", "nia"),
        ("Display name", "Nia Newcomer"),
        ("Password", PASSWORD),
    ] {
        let field = l
            .find(Locator::XPath(&format!(
                "//input[@id=//label[starts-with(normalize-space(), '{label}')]/@for]"
            )))
            .await
            .unwrap_or_else(|_| panic!("no field labelled {label}"));
        field.click().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    click_xpath(
        l,
        "Create account button",
        "//button[normalize-space()='Create account']",
    )
    .await;
    wait_for_url(l, "the join link after signing up", |u| u == link).await;
    wait_for_text(l, "main", "You are invited to join Browser cohort as a learner.").await;
    click_xpath(
        l,
        "Join button",
        "//main//button[normalize-space()='Join Browser cohort']",
    )
    .await;
    wait_for_text(l, "main", "Welcome to the team.").await;

    // The assigned roadmap is already started: the learner ticks a skill on its stage.
    l.goto(&server.url(STAGE)).await.unwrap();
    click_css(l, "the Done button", &state_button(SKILL, "done")).await;
    wait_for_state(l, SKILL, "done").await;

    // She asks for a review: the team's mentors can give it.
    click_xpath(
        l,
        "the review request disclosure",
        "//summary[normalize-space()='Ask your mentors to review this skill']",
    )
    .await;
    click_xpath(
        l,
        "Request review",
        "//button[normalize-space()='Request review']",
    )
    .await;
    wait_for_text(l, "main", "Review requested").await;

    // The team's mentor finds it from the team page, claims it and verifies it.
    t.goto(&server.url("/dashboard")).await.unwrap();
    click_xpath(
        t,
        "the Teams link",
        "//nav[@aria-label='Main']//a[normalize-space()='Teams']",
    )
    .await;
    click_xpath(t, "the team", "//main//a[normalize-space()='Browser cohort']").await;
    click_xpath(t, "Review queue", "//main//a[normalize-space()='Review queue']").await;
    wait_for_text(t, "main", "Review queue of Browser cohort").await;
    click_xpath(
        t,
        "Claim",
        "//main//button[starts-with(normalize-space(), 'Claim')]",
    )
    .await;
    wait_for_text(t, "main", "Claimed for 30 minutes").await;
    click_xpath(
        t,
        "Verify",
        "//main//button[starts-with(normalize-space(), 'Verify')]",
    )
    .await;
    wait_for_text(t, "main", "Verified. The learner has been told.").await;

    // The lead's table has the newcomer's row with that skill counted and verified.
    c.goto(&server.url("/teams/browser-cohort")).await.unwrap();
    let row = wait_for_text(c, "table.team-progress", "Nia Newcomer").await;
    assert!(row.contains("1 of "), "{row}");
    assert!(row.contains("1 verified"), "{row}");
    tokio::join!(lead.close(), learner.close(), mentor.close());
}

/// The code an authenticator app shows for `secret` (base32, as the page prints it),
/// `steps` time steps from now: computed here with totp-rs, not by Pathway.
fn authenticator_code(secret: &str, steps: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    let app = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    app.generate(now.saturating_add_signed(steps * 30))
}

/// Fills the field labelled `label` with `value`.
async fn fill_labelled(c: &Client, label: &str, value: &str) {
    match c.find(Locator::XPath(&labelled(label))).await {
        Ok(input) => input.send_keys(value).await.unwrap(),
        Err(e) => panic!("no field labelled {label:?} at {}: {e}", url(c).await),
    }
}

async fn sign_in_with_password(c: &Client, server: &Server, name: &str) {
    c.goto(&server.url("/signin")).await.unwrap();
    fill_labelled(c, "Username", name).await;
    fill_labelled(c, "Password", PASSWORD).await;
    click_xpath(
        c,
        "the Sign in button",
        "//form[@action='/signin']//button[normalize-space()='Sign in']",
    )
    .await;
}

#[tokio::test]
async fn a_learner_sets_up_two_factor_sign_in_and_signs_in_with_a_code_and_a_recovery_code() {
    require_browser();
    let server = Server::start().await;
    let browser = Browser::start(true).await;
    let c = browser.client();
    let name = username("totp");
    sign_up(c, &server, &name).await;

    // From the account page to the set-up page: a QR code, and the secret as text.
    c.goto(&server.url("/account")).await.unwrap();
    click_xpath(
        c,
        "the set-up link",
        "//a[normalize-space()='Set up two-factor authentication']",
    )
    .await;
    wait_for_url(c, "the set-up page", |u| u.ends_with("/account/two-factor/setup")).await;
    let qr = c.find(Locator::Css("figure.qr svg")).await.expect("a QR code");
    assert_eq!(
        accessible_name(c, &qr).await,
        "QR code to scan with your authenticator app"
    );
    assert!(qr.attr("style").await.unwrap().is_none());
    let secret = text_of(c, "#totp_secret").await.expect("the secret as text");
    let secret = secret.trim().to_string();

    fill_labelled(c, "Code from your app", &authenticator_code(&secret, 0)).await;
    click_xpath(
        c,
        "the confirm button",
        "//button[normalize-space()='Turn on two-factor authentication']",
    )
    .await;
    wait_for_text(c, "h1", "Two-factor authentication is on").await;
    let mut codes = Vec::new();
    for code in c.find_all(Locator::Css("ul.recovery-codes code")).await.unwrap() {
        codes.push(code.text().await.unwrap());
    }
    assert_eq!(codes.len(), 10, "{codes:?}");
    click_xpath(
        c,
        "the saved link",
        "//a[normalize-space()='I have saved my recovery codes']",
    )
    .await;
    wait_for_url(c, "the two-factor page", |u| u.ends_with("/account/two-factor")).await;
    wait_for_text(c, "main", "10 unused recovery codes").await;

    // Signing in again: the password, then the next code from the app.
    click_xpath(c, "the Sign out button", "//form[@action='/signout']//button").await;
    wait_for_url(c, "the page after signing out", |u| !u.contains("/account")).await;
    sign_in_with_password(c, &server, &name).await;
    wait_for_url(c, "the code page", |u| u.ends_with("/signin/two-factor")).await;
    c.goto(&server.url("/account")).await.unwrap();
    wait_for_url(c, "the sign-in page: the password alone is not enough", |u| {
        u.contains("/signin")
    })
    .await;
    c.goto(&server.url("/signin/two-factor")).await.unwrap();
    fill_labelled(
        c,
        "Enter the 6-digit code from your authenticator app",
        &authenticator_code(&secret, 1),
    )
    .await;
    click_xpath(c, "the Verify button", "//button[normalize-space()='Verify']").await;
    wait_for_url(c, "the dashboard after the code", |u| u.ends_with("/dashboard")).await;

    // And with a recovery code instead, which then counts as used.
    click_xpath(c, "the Sign out button", "//form[@action='/signout']//button").await;
    wait_for_url(c, "the page after signing out", |u| !u.contains("/dashboard")).await;
    sign_in_with_password(c, &server, &name).await;
    wait_for_url(c, "the code page", |u| u.ends_with("/signin/two-factor")).await;
    click_xpath(
        c,
        "the recovery link",
        "//a[normalize-space()='Use a recovery code instead']",
    )
    .await;
    wait_for_url(c, "the recovery-code page", |u| {
        u.ends_with("/signin/recovery-code")
    })
    .await;
    fill_labelled(c, "Recovery code", &codes[0]).await;
    click_xpath(c, "the Sign in button", "//button[normalize-space()='Sign in']").await;
    wait_for_url(c, "the dashboard after the recovery code", |u| {
        u.ends_with("/dashboard")
    })
    .await;
    c.goto(&server.url("/account/two-factor")).await.unwrap();
    wait_for_text(c, "main", "9 unused recovery codes").await;

    browser.close().await;
}

#[tokio::test]
async fn signing_in_through_an_openid_provider_without_javascript() {
    require_browser();
    // The provider runs in this test; the server learns of it from its config file.
    let provider = oidc_provider::Provider::start(String::new()).await;
    let dir = open_tempdir();
    let config = dir.path().join("oidc.toml");
    std::fs::write(
        &config,
        format!(
            "[[provider]]\nid = \"test\"\nname = \"Test IdP\"\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
            provider.issuer,
            oidc_provider::CLIENT_ID,
            oidc_provider::CLIENT_SECRET
        ),
    )
    .unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let server = Server::start_with(
        &manifest.join("content"),
        &[("PATHWAY_OIDC_CONFIG", config.to_str().unwrap())],
    )
    .await;
    *provider.state.redirect_uri.lock().unwrap() = server.url("/auth/oidc/test/callback");
    let browser = Browser::start(false).await;
    let c = browser.client();

    c.goto(&server.url("/signin")).await.unwrap();
    click_xpath(
        c,
        "the provider's button",
        "//a[normalize-space()='Sign in with Test IdP']",
    )
    .await;
    wait_for_url(c, "the dashboard after signing in through the provider", |u| {
        u.ends_with("/dashboard")
    })
    .await;
    c.goto(&server.url("/account/identities")).await.unwrap();
    wait_for_text(c, "main", "Test IdP").await;
    wait_for_text(c, "main", "grace@example.com").await;

    browser.close().await;
}
