//! The application: shared state, the router, and the server loop with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRef};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use crate::assets::Assets;
use crate::auth;
use crate::config::{Config, Settings};
use crate::content::Catalog;
use crate::content::Content;
use crate::content::sync::{self, LoadOutcome, Policy, Trigger};
use crate::db::Database;
use crate::error::{self, AppError};
use crate::notify::{InApp, Notifier};
use crate::routes;

/// Everything a request handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    /// The live content; replaced whole after each applied load.
    pub catalog: Arc<ArcSwap<Catalog>>,
    pub assets: Arc<Assets>,
    pub settings: Arc<Settings>,
    /// How notices reach people (in-app, and email when it is on).
    pub notifier: Arc<dyn Notifier>,
    /// Counters and timings for `/metrics` on `--metrics-address`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The zone visitors and accounts without one see dates in (`--time-zone`), resolved once.
    pub default_zone: crate::time_zones::Zone,
    /// Per-token request buckets for the JSON API (src/api/limits.rs).
    pub api_limiter: Arc<crate::api::RateLimiter>,
    /// Single sign-on providers (`--oidc-config`); none by default.
    pub sso: Arc<crate::oidc::Sso>,
    /// Learners' stage and dashboard rows, kept while unchanged (`--view-cache-mb`).
    pub view_cache: Arc<crate::view_cache::ViewCache>,
}

impl AppState {
    pub fn new(db: PgPool, catalog: Catalog, static_dir: &Path, settings: Settings) -> Self {
        let email = settings.email.then(|| settings.public_url.clone());
        let settings_zone = settings.time_zone.clone();
        let view_cache = crate::view_cache::ViewCache::new(settings.view_cache_mb);
        Self {
            db: db.clone(),
            catalog: Arc::new(ArcSwap::from_pointee(catalog)),
            assets: Arc::new(Assets::new(static_dir)),
            settings: Arc::new(settings),
            notifier: Arc::new(InApp {
                db: db.clone(),
                email,
            }),
            metrics: Arc::new(crate::metrics::Metrics::default()),
            default_zone: crate::time_zones::Zone::named(&settings_zone),
            api_limiter: Arc::new(crate::api::RateLimiter::default()),
            sso: Arc::new(crate::oidc::Sso::default()),
            view_cache: Arc::new(view_cache),
        }
    }

    /// The same state, signing in through these providers.
    pub fn with_sso(mut self, sso: crate::oidc::Sso) -> Self {
        self.sso = Arc::new(sso);
        self
    }

    /// Brings the live content up to the database's and swaps it in.
    pub async fn refresh_catalog(&self) -> sqlx::Result<()> {
        // Only what the loads since the current catalog wrote is read.
        let catalog = self.catalog.load().refresh(&self.db).await?;
        self.catalog.store(Arc::new(catalog));
        Ok(())
    }

    /// Loads the content directory now, and serves the result when applied.
    pub async fn reload(&self, trigger: Trigger, policy: Policy) -> sqlx::Result<LoadOutcome> {
        let outcome = load_content_with(&self.db, &self.settings.content_dir, trigger, policy).await?;
        if matches!(outcome, LoadOutcome::Applied(_)) {
            self.refresh_catalog().await?;
        }
        Ok(outcome)
    }

    /// Tells the admins when a load nobody was watching (start-up, the file watcher) was
    /// held or failed: once per recorded load, through the notifier.
    pub async fn tell_admins(&self, outcome: &LoadOutcome) -> anyhow::Result<()> {
        let summary = match outcome {
            LoadOutcome::Held(plan) => {
                let skills = plan.retired_with_progress().len();
                format!(
                    "A content change is waiting for you: it would retire {skills} {} with learner progress",
                    if skills == 1 { "skill" } else { "skills" }
                )
            }
            LoadOutcome::Failed(errors) => format!(
                "The content files have {} {}; the previous content stays live",
                errors.len(),
                if errors.len() == 1 { "error" } else { "errors" }
            ),
            LoadOutcome::Applied(_) | LoadOutcome::Unchanged => return Ok(()),
        };
        let Some(load) = crate::db::content::latest_loads(&self.db, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(());
        };
        let target_url = format!("/admin/content?load={}", load.id);
        if load.status == "applied"
            || crate::db::notifications::exists_for_target(&self.db, &target_url).await?
        {
            return Ok(());
        }
        let notice = crate::notify::Notice {
            recipients: crate::db::admin::active_admin_ids(&self.db).await?,
            actor_id: None,
            kind: if load.status == "held" {
                "content_held"
            } else {
                "content_failed"
            },
            summary,
            target_url,
        };
        crate::notify::send(self.notifier.as_ref(), notice).await
    }

    /// Applies content an admin has seen the plan of (`Policy::Apply`), or asked to
    /// load (`Policy::AskRetiringProgress`: a plan that retires progress comes back held).
    pub async fn apply_content(
        &self,
        content: &Content,
        trigger: Trigger,
        policy: Policy,
    ) -> sqlx::Result<LoadOutcome> {
        let outcome = sync::apply_with(&self.db, content, trigger, policy).await?;
        log_outcome(&self.settings.content_dir, &outcome);
        if matches!(outcome, LoadOutcome::Applied(_)) {
            self.refresh_catalog().await?;
        }
        Ok(outcome)
    }
}

/// Strict by default: no inline script or style, no framing, forms post only
/// here, and images only from this instance (user markdown keeps no remote
/// images, so a shared note cannot carry a tracking pixel). Frames come only from
/// the embed hosts content may use (`--embed-hosts`), or from nowhere.
pub fn content_security_policy(embed_hosts: &[String]) -> String {
    let frames = if embed_hosts.is_empty() {
        "'none'".to_string()
    } else {
        embed_hosts
            .iter()
            .map(|host| format!("https://{host}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-src {frames}; \
         frame-ancestors 'none'"
    )
}

/// Pathway uses none of these browser features; deny them to any page.
const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), camera=(), display-capture=(), \
     geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), \
     publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), interest-cohort=()";

/// Limits that keep one slow or greedy client from holding the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A client must send a request's headers within this time (also closes idle keep-alive connections).
    pub header_read: Duration,
    /// A request body must arrive within this time.
    pub body_read: Duration,
    /// A handler must answer within this time, or the client gets a 503.
    pub handler: Duration,
    /// Requests served at once; others wait for a slot (within `handler`).
    pub concurrent_requests: usize,
    /// The largest request body outside imports.
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            handler: Duration::from_secs(30),
            concurrent_requests: 512,
            // A 20,000-character note, URL-encoded, with room to spare.
            body_bytes: 512 * 1024,
        }
    }
}

/// The whole application as one router, with the default [`Limits`]; tests call this directly.
pub fn router(state: AppState) -> Router {
    router_with(state, Limits::default())
}

/// The application with chosen limits.
pub fn router_with(state: AppState, limits: Limits) -> Router {
    // From memory, with its own ETag, encoding and Cache-Control handling (`assets`); a
    // missing file or another method is still the designed error page.
    let static_files = axum::routing::get(crate::assets::serve)
        .with_state(state.assets.clone())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::render_error_pages,
        ));

    // Roadmaps' assets/ files, from the database: like static files, no session or CSRF check.
    let content_assets = Router::new()
        .route(
            "/assets/{hash}/{name}",
            axum::routing::get(routes::content_assets::serve),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::render_error_pages,
        ));

    let sessions = SessionManagerLayer::new(crate::db::sessions::Sessions::new(state.db.clone()))
        .with_name("pathway_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.settings.secure_cookies)
        .with_expiry(Expiry::OnInactivity(state.settings.session_idle))
        // Saved when changed; `auth::load_user` re-saves a signed-in session once an
        // eighth of the idle timeout has passed, so inactivity (not age) still ends it.
        .with_always_save(false);

    // Only where browsers reach us over HTTPS: one year, as the HSTS preload list expects.
    let hsts = state
        .settings
        .public_url
        .starts_with("https://")
        .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));

    let pages = Router::new()
        .merge(routes::public::router())
        .merge(routes::account::router())
        .merge(routes::progress::router())
        .merge(routes::notes::router())
        .merge(routes::search::router())
        .merge(routes::transfer::router())
        .merge(routes::mentoring::router())
        .merge(routes::notifications::router())
        .merge(routes::comments::router())
        .merge(routes::admin::router())
        .merge(routes::admin_content::router())
        .merge(routes::admin_users::router())
        .merge(routes::teams::router())
        .merge(routes::tokens::router())
        .merge(routes::oidc::router())
        .merge(routes::email::router())
        .merge(routes::webhooks::router())
        .merge(routes::two_factor::router())
        .merge(routes::health::router())
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        // Imports lift this for their own route.
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(CatchPanicLayer::custom(error::panic_response))
        // Cross-site form posts are refused by their Origin / Sec-Fetch-Site headers; but
        // RFC 8058's one-click unsubscribe comes from the mail provider, and its unguessable
        // token is its protection.
        .layer(CsrfLayer::new().with_insecure_bypass(|method, uri| {
            method == axum::http::Method::POST && uri.path().starts_with("/unsubscribe/")
        }))
        // After the user is loaded: admins may have to set up two-factor sign-in first.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            routes::two_factor::require_for_admins,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::render_error_pages,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), auth::load_user))
        .layer(sessions)
        // Again outside the session layers, for their own failures (the database
        // down while loading a session): rendered without a user.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::render_error_pages,
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.body_read));
    // Static files skip the layers above: no session, user, CSRF check or request body.
    // They keep those below (request id, trace, metrics, security headers).
    let app = Router::new()
        .nest_service("/static", static_files)
        .merge(content_assets)
        // Bearer tokens only: outside the session, user and CSRF layers of the pages.
        .nest("/api/v1", crate::api::router(state.clone()))
        .merge(pages)
        // A response with a policy of its own (a content asset's) keeps it.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&content_security_policy(&state.settings.embed_hosts))
                .expect("host names are valid header characters"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::record,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(middleware::from_fn(tag_request))
        .layer(middleware::from_fn(run_to_completion))
        .with_state(state);
    // Around the whole app rather than per route: one set of slots for every request,
    // and waiting for a slot counts against the handler timeout.
    Router::new().fallback_service(
        ServiceBuilder::new()
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                limits.handler,
            ))
            .layer(GlobalConcurrencyLimitLayer::new(limits.concurrent_requests))
            .service(app),
    )
}

/// Runs each request to its end in a task of its own, even when the client goes away or
/// the handler timeout answers first. Dropping a handler halfway would drop its database
/// work with it, and a future dropped inside a transaction's BEGIN or COMMIT can hand its
/// connection back to the pool still in the transaction: every later statement on that
/// connection then fails ("current transaction is aborted").
async fn run_to_completion(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "a request's task failed");
            // The pages' own panic handler is inside; this is the rest (the API, static files).
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on the server. Try again; if it keeps happening, tell the administrator the time it happened.",
            )
                .into_response()
        }
    }
}

/// A request's id: on its log lines, and in its `X-Request-Id` response header.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Gives each request an id (16 hex digits) and returns it to the client.
async fn tag_request(
    mut request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    let id = hex::encode(bytes);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The span every log line of a request carries: its id, method and path,
/// with secret path segments and the whole query string left out.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map_or("-", |id| id.0.as_str());
    tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
    )
}

/// `/reset/<token>` → `/reset/…`: links that work as passwords (or unsubscribe someone)
/// never reach the log.
pub fn loggable_path(path: &str) -> String {
    for prefix in ["/reset/", "/mentoring/invite/", "/unsubscribe/"] {
        if let Some(rest) = path.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return format!("{prefix}…");
        }
    }
    path.to_string()
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, router, shutdown, Limits::default()).await
}

/// How long a graceful shutdown waits for open requests before it gives up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// [`serve`] with chosen limits. Each connection gets `TCP_NODELAY` (no
/// Nagle stall between headers and body), a header-read timeout, and the
/// client's address for throttling.
pub async fn serve_with_limits(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    use hyper::body::Incoming;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_buf_size(64 * 1024);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(axum::body::Body::new)
            });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, "connection ended: {error}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("gave up waiting for open requests after {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

/// Loads the content directory into the database, whatever it retires, and
/// logs the outcome. On any error the previous content stays live.
pub async fn load_content(pool: &PgPool, dir: &Path) -> sqlx::Result<LoadOutcome> {
    load_content_with(pool, dir, Trigger::Cli, Policy::Apply).await
}

/// Loads the content directory under `policy`, and logs the outcome.
pub async fn load_content_with(
    pool: &PgPool,
    dir: &Path,
    trigger: Trigger,
    policy: Policy,
) -> sqlx::Result<LoadOutcome> {
    let outcome = sync::load_dir_with(pool, dir, trigger, policy).await?;
    log_outcome(dir, &outcome);
    Ok(outcome)
}

/// Logs what a load did, with every error of a failed one.
pub fn log_outcome(dir: &Path, outcome: &LoadOutcome) {
    match outcome {
        LoadOutcome::Unchanged => {
            tracing::info!(dir = %dir.display(), "content unchanged since the last load")
        }
        LoadOutcome::Applied(counts) => tracing::info!(
            dir = %dir.display(),
            added = counts.added,
            updated = counts.updated,
            moved = counts.moved,
            renamed = counts.renamed,
            retired = counts.retired,
            revived = counts.revived,
            "content loaded"
        ),
        LoadOutcome::Held(plan) => {
            for line in plan.report().lines().filter(|l| !l.is_empty()) {
                tracing::warn!("{line}");
            }
            tracing::warn!(
                "content change held: it would retire skills with learner progress; still serving \
                 the previous content. An admin can review and apply it at /admin/content"
            );
        }
        LoadOutcome::Failed(diagnostics) => {
            for diagnostic in diagnostics {
                tracing::error!("{diagnostic}");
            }
            tracing::error!(
                errors = diagnostics.len(),
                "content has errors; still serving the previously loaded content"
            );
        }
    }
}

/// Keeps this instance's catalog in step with loads applied by any instance
/// sharing the database: LISTEN for announcements, and every 30 seconds
/// compare the recorded content version in case one was missed.
pub async fn follow_content_loads(state: AppState) {
    use sqlx::postgres::PgListener;
    let check_every = std::time::Duration::from_secs(30);
    // Ends with the pool, when the server shuts down.
    while !state.db.is_closed() {
        let mut listener = match PgListener::connect_with(&state.db).await {
            Ok(listener) => listener,
            Err(_) if state.db.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for content loads; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(crate::db::content::CONTENT_CHANNEL).await {
            tracing::warn!(%error, "cannot listen for content loads; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            continue;
        }
        // A load applied before the LISTEN took effect sent its notice to nobody.
        refresh_if_stale(&state).await;
        loop {
            match tokio::time::timeout(check_every, listener.recv()).await {
                Ok(Ok(_)) => {
                    if let Err(error) = state.refresh_catalog().await {
                        tracing::warn!(%error, "cannot refresh the content after a load");
                    }
                }
                Ok(Err(_)) if state.db.is_closed() => return,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "lost the content-load listener; reconnecting");
                    break;
                }
                Err(_) => refresh_if_stale(&state).await,
            }
        }
    }
}

async fn refresh_if_stale(state: &AppState) {
    if state.db.is_closed() {
        return;
    }
    match crate::db::content::applied_hash(&state.db).await {
        Ok(version) if version != state.catalog.load().version => {
            if let Err(error) = state.refresh_catalog().await {
                tracing::warn!(%error, "cannot refresh the content");
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot read the content version"),
    }
}

/// Reloads the content when its files change, once they have been quiet for
/// `quiet`. Plans that would retire skills with progress are held.
pub async fn watch_content(state: AppState, quiet: std::time::Duration) -> anyhow::Result<()> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, EventKind::Access(_))
        {
            let _ = tx.send(());
        }
    })
    .context("cannot start the content watcher")?;
    watcher
        .watch(&state.settings.content_dir, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", state.settings.content_dir.display()))?;
    tracing::info!(dir = %state.settings.content_dir.display(), "watching the content directory for changes");
    while rx.recv().await.is_some() {
        // Editors write in bursts: wait until the files have been quiet for a moment.
        loop {
            match tokio::time::timeout(quiet, rx.recv()).await {
                Ok(Some(())) => {}
                Ok(None) => return Ok(()),
                Err(_) => break,
            }
        }
        match state.reload(Trigger::Watcher, Policy::HoldRetiringProgress).await {
            Ok(outcome) => {
                if let Err(error) = state.tell_admins(&outcome).await {
                    tracing::warn!("could not tell the admins about the content load: {error:#}");
                }
            }
            Err(error) => tracing::error!(%error, "content reload failed"),
        }
    }
    Ok(())
}

/// `pathway serve`: database, content, HTTP, then an orderly shutdown.
pub async fn run_server(config: Config) -> anyhow::Result<()> {
    let database = Database::open(&config).await?;
    let result = serve_with(&config, &database.pool).await;
    database.close().await?;
    result
}

async fn serve_with(config: &Config, pool: &PgPool) -> anyhow::Result<()> {
    // A wrong email setting stops the start, before anything else happens.
    let mailer = crate::mail::Mailer::from_config(config)?;
    // At start-up too, a change that would retire skills with progress waits for an admin.
    let outcome = load_content_with(
        pool,
        &config.content_dir,
        Trigger::Startup,
        Policy::HoldRetiringProgress,
    )
    .await?;
    let catalog = Catalog::load(pool).await?;
    if catalog.roadmaps.is_empty() {
        tracing::warn!(
            "no roadmaps are loaded yet; fix the content errors above (the watcher or Reload picks up the fix)"
        );
    }
    let mut state = AppState::new(pool.clone(), catalog, &config.static_dir, config.settings());
    if let Some(path) = &config.oidc_config {
        state = state.with_sso(crate::oidc::Sso::load(path, &config.public_url())?);
        state.sso.discover_in_background();
    }
    if let Err(error) = state.tell_admins(&outcome).await {
        tracing::warn!("could not tell the admins about the content load: {error:#}");
    }
    // CLI commands run beside this server print their links on its address.
    if let Err(error) = crate::db::server_address::record(pool, &config.public_url()).await {
        tracing::warn!(%error, "could not record the server's address for CLI links");
    }
    routes::admin::announce_setup(&state)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    tokio::spawn(housekeeping(pool.clone()));
    tokio::spawn(fold_counters(pool.clone(), std::time::Duration::from_secs(1)));
    tokio::spawn(follow_content_loads(state.clone()));
    // Nudges, reminders, the digest and the email outbox (migration 0035, `jobs`).
    if mailer.is_none() {
        tracing::info!("email is off (no --smtp-host): notices stay in the app");
    }
    let every = Duration::from_secs(config.jobs_interval_secs.max(1));
    tokio::spawn(crate::jobs::run(
        pool.clone(),
        crate::jobs::Context::new(&state.settings, every),
        mailer,
    ));
    // Webhook deliveries (migration 0042): their own loop, so slow receivers never hold up the sweeps.
    tokio::spawn(crate::webhooks::run(
        pool.clone(),
        crate::webhooks::Sender::new(config.webhook_allow_http_loopback)?,
        every,
    ));
    if config.watch_content {
        let watched = state.clone();
        tokio::spawn(async move {
            if let Err(error) = watch_content(watched, std::time::Duration::from_millis(500)).await {
                tracing::error!("{error:#}; content reloads only from the admin page until restart");
            }
        });
    }
    if let Some(address) = config.metrics_address {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} for metrics (--metrics-address)"))?;
        tracing::info!("metrics at http://{address}/metrics");
        let metrics = crate::metrics::router(state.clone());
        tokio::spawn(async move {
            if let Err(error) = serve(listener, metrics, std::future::pending()).await {
                tracing::error!(%error, "the metrics listener stopped");
            }
        });
    }
    let address = SocketAddr::new(config.host, config.port);
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}; is another server using it? (--port)"))?;
    tracing::info!("Pathway is listening on http://{address}/");
    serve(listener, router(state), shutdown_signal()).await?;
    tracing::info!("server stopped");
    Ok(())
}

/// Deletes expired sessions and old sign-in failures, hourly.
async fn housekeeping(pool: PgPool) {
    use tower_sessions::ExpiredDeletion;
    let store = crate::db::sessions::Sessions::new(pool.clone());
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        interval.tick().await;
        // Shut down: the pool closes before the runtime drops this task.
        if pool.is_closed() {
            return;
        }
        if let Err(error) = store.delete_expired().await {
            tracing::warn!(%error, "could not delete expired sessions");
        }
        if let Err(error) = crate::db::throttle::prune(&pool).await {
            tracing::warn!(%error, "could not prune throttling records");
        }
    }
}

/// Folds between two vacuums of the delta tables.
const VACUUM_EVERY_FOLDS: u64 = 5;

/// Moves the learners' counter deltas into their totals every `period` (a second in the
/// server), so the deltas a page adds stay a handful of rows (migration 0026). With
/// several servers, one folds at a time and the others skip.
pub async fn fold_counters(pool: PgPool, period: std::time::Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let mut ticks: u64 = 0;
    loop {
        interval.tick().await;
        // Shut down: a fold now would only fail and warn about the closed pool.
        if pool.is_closed() {
            return;
        }
        ticks += 1;
        // Every few folds, give the deleted deltas' space back (see vacuum_counter_changes).
        if ticks.is_multiple_of(VACUUM_EVERY_FOLDS)
            && let Err(error) = crate::db::progress::vacuum_counter_changes(&pool).await
            && !failing
        {
            tracing::warn!(%error, "could not vacuum the progress counter deltas");
        }
        match crate::db::progress::fold_counters(&pool).await {
            // Said once per outage, not every second.
            Err(error) if !failing => {
                tracing::warn!(%error, "could not fold the progress counters; retrying every second");
                failing = true;
            }
            Err(_) => {}
            Ok(_) => failing = false,
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
