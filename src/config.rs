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

    /// Seconds after which PostgreSQL cancels a statement (0: never).
    #[arg(
        long = "db-statement-timeout",
        env = "PATHWAY_DB_STATEMENT_TIMEOUT",
        default_value_t = 20,
        global = true
    )]
    pub db_statement_timeout_secs: u64,

    /// Directory of roadmap folders (see docs/content.md).
    #[arg(long, env = "PATHWAY_CONTENT_DIR", default_value = "content", global = true)]
    pub content_dir: PathBuf,

    /// Reload the content when files in the content directory change (after
    /// a quiet 500 ms). Changes that would retire skills with progress are
    /// held for an admin to confirm. Set to false to reload only on start-up
    /// and from the admin page.
    #[arg(long, env = "PATHWAY_WATCH_CONTENT", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub watch_content: bool,

    /// Hosts whose https:// iframes (video embeds) content may keep, comma-separated;
    /// the Content-Security-Policy's frame-src allows exactly these. `none` (or an
    /// empty value) keeps no embeds. Other iframes are dropped with a warning.
    #[arg(
        long,
        env = "PATHWAY_EMBED_HOSTS",
        value_delimiter = ',',
        default_value = "www.youtube-nocookie.com,player.vimeo.com",
        value_parser = parse_embed_host,
        global = true
    )]
    pub embed_hosts: Vec<String>,

    /// Directory of the stylesheet and other static files.
    #[arg(long, env = "PATHWAY_STATIC_DIR", default_value = "static", global = true)]
    pub static_dir: PathBuf,

    /// Who may create an account: anyone, or only holders of an invite link
    /// (create one with `pathway invite create`).
    #[arg(long, env = "PATHWAY_REGISTRATION", value_enum, default_value_t = Registration::Open, global = true)]
    pub registration: Registration,

    /// The address users reach Pathway at, used in invite links. Defaults to
    /// http://HOST:PORT.
    #[arg(long, env = "PATHWAY_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Mark the session cookie `Secure` (HTTPS only). Defaults to on when the
    /// public URL starts with https://.
    #[arg(long, env = "PATHWAY_SECURE_COOKIES", global = true)]
    pub secure_cookies: Option<bool>,

    /// Single sign-on: a TOML file naming OpenID Connect providers, and whether password
    /// sign-in is off (see docs/operations.md). No single sign-on when unset.
    #[arg(long, env = "PATHWAY_OIDC_CONFIG", global = true)]
    pub oidc_config: Option<PathBuf>,

    /// Minutes of inactivity after which a session expires.
    #[arg(
        long,
        env = "PATHWAY_SESSION_IDLE_MINUTES",
        default_value_t = 10080,
        global = true
    )]
    pub session_idle_minutes: i64,

    /// Days without activity after which a mentee is shown as stalled.
    #[arg(long, env = "PATHWAY_STALLED_DAYS", default_value_t = 14, global = true)]
    pub stalled_days: i64,

    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers name the
    /// real client (addresses or CIDR ranges, comma-separated). Empty: the
    /// headers are ignored and the TCP peer is the client.
    #[arg(long, env = "PATHWAY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::client_addr::parse_trusted, global = true)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Serve Prometheus metrics at http://ADDRESS/metrics (for example
    /// 127.0.0.1:9090). Off when unset; keep it off the public network.
    #[arg(long, env = "PATHWAY_METRICS_ADDRESS", global = true)]
    pub metrics_address: Option<std::net::SocketAddr>,

    /// Comments one person may post per minute.
    #[arg(
        long,
        env = "PATHWAY_COMMENTS_PER_MINUTE",
        default_value_t = 10,
        global = true
    )]
    pub comments_per_minute: i64,

    /// The time zone of anyone whose browser did not say theirs at sign-up (without
    /// JavaScript), and of pages shown to visitors; an IANA name such as Europe/Berlin.
    #[arg(
        long,
        env = "PATHWAY_TIME_ZONE",
        default_value = crate::time_zones::DEFAULT,
        value_parser = parse_time_zone,
        global = true
    )]
    pub time_zone: String,

    /// SMTP server that email goes through (for example smtp.example.com). Email is off
    /// when unset: every notice stays in the app.
    #[arg(long, env = "PATHWAY_SMTP_HOST", global = true)]
    pub smtp_host: Option<String>,

    /// SMTP port; defaults to 587 with starttls, 465 with tls and 25 with none.
    #[arg(long, env = "PATHWAY_SMTP_PORT", global = true)]
    pub smtp_port: Option<u16>,

    /// How the SMTP connection is encrypted: `starttls` (upgrade a plain connection, and
    /// refuse a server that cannot), `tls` (TLS from the first byte), or `none` (only for a
    /// relay on the same machine or network).
    #[arg(long, env = "PATHWAY_SMTP_TLS", value_enum, default_value_t = SmtpTls::Starttls, global = true)]
    pub smtp_tls: SmtpTls,

    /// SMTP user name; no authentication when unset.
    #[arg(long, env = "PATHWAY_SMTP_USERNAME", global = true)]
    pub smtp_username: Option<String>,

    /// SMTP password (with --smtp-username). Prefer the environment variable to the flag.
    #[arg(long, env = "PATHWAY_SMTP_PASSWORD", hide_env_values = true, global = true)]
    pub smtp_password: Option<String>,

    /// The sender of every email, such as "Pathway <pathway@example.com>"; needed with
    /// --smtp-host.
    #[arg(long, env = "PATHWAY_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,

    /// Seconds between checks for due background jobs (review nudges, quiet reminders, the
    /// daily digest) and for email to send.
    #[arg(
        long = "jobs-interval",
        env = "PATHWAY_JOBS_INTERVAL",
        default_value_t = 60,
        global = true
    )]
    pub jobs_interval_secs: u64,

    /// Days without progress after which a learner gets a friendly reminder (once per quiet
    /// spell; each learner can switch it off). 0 turns the reminders off.
    #[arg(long, env = "PATHWAY_QUIET_DAYS", default_value_t = 7, global = true)]
    pub quiet_days: i64,

    /// Let webhook endpoints use plain http:// to a loopback host (127.0.0.1, ::1,
    /// localhost), and deliveries reach loopback addresses: for a receiver on the same
    /// machine, and for tests. Off: HTTPS only, and no internal address.
    #[arg(long, env = "PATHWAY_WEBHOOK_ALLOW_INSECURE_LOOPBACK", global = true)]
    pub webhook_allow_http_loopback: bool,

    /// Admins must use two-factor sign-in: one who has not set it up is sent to do so
    /// before anything else.
    #[arg(long, env = "PATHWAY_REQUIRE_ADMIN_TWO_FACTOR", global = true)]
    pub require_admin_two_factor: bool,

    /// Megabytes of learners' stage and dashboard rows kept in memory between requests
    /// (each copy is used only while nothing it shows has changed). 0 keeps none.
    #[arg(long, env = "PATHWAY_VIEW_CACHE_MB", default_value_t = 64, global = true)]
    pub view_cache_mb: u64,

    /// Log filter, in tracing's EnvFilter syntax (e.g. "info" or "pathway=debug").
    #[arg(long, env = "PATHWAY_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log line format: `text` (coloured only on a terminal) or `json` (one object per line).
    #[arg(long, env = "PATHWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// One `--embed-hosts` entry: a bare host name such as `www.youtube-nocookie.com`.
fn parse_time_zone(value: &str) -> Result<String, String> {
    if crate::time_zones::is_known(value) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "unknown time zone '{value}': give an IANA name such as UTC, Europe/Berlin or America/New_York"
        ))
    }
}

fn parse_embed_host(value: &str) -> Result<String, String> {
    let host = value.trim().to_ascii_lowercase();
    if host.is_empty() || host == "none" {
        return Ok(String::new());
    }
    let valid = host
        .split('.')
        .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !valid {
        return Err(format!(
            "\"{value}\" is not a host name; give bare hosts such as www.youtube-nocookie.com, without https:// or a path"
        ));
    }
    Ok(host)
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// How the SMTP connection is encrypted (`--smtp-tls`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    None,
    #[default]
    Starttls,
    Tls,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registration {
    /// Anyone can sign up.
    #[default]
    Open,
    /// Signing up needs an invite link.
    InviteOnly,
}

/// The settings request handlers need, derived from [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub registration: Registration,
    pub public_url: String,
    pub secure_cookies: bool,
    pub session_idle: time::Duration,
    pub stalled_days: i64,
    /// Where the roadmap folders are, for Reload and the watcher.
    pub content_dir: PathBuf,
    /// Whether file changes reload the content (shown on the admin page).
    pub watch_content: bool,
    /// Proxies whose forwarded-for headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Comments one person may post per minute.
    pub comments_per_minute: i64,
    /// Hosts content may embed iframes from; the CSP's frame-src lists exactly these.
    pub embed_hosts: Vec<String>,
    /// The zone for new accounts whose browser said none, and for signed-out visitors.
    pub time_zone: String,
    /// Whether email goes out (`--smtp-host` is set): notices are also queued as email.
    pub email: bool,
    /// Days of quiet before a learner's reminder; 0: no reminders.
    pub quiet_days: i64,
    /// `--webhook-allow-http-loopback`: http:// to loopback endpoints is accepted.
    pub webhook_allow_http_loopback: bool,
    /// Admins must set up two-factor sign-in before anything else.
    pub require_admin_two_factor: bool,
    /// `--view-cache-mb`: memory for kept learner rows (src/view_cache.rs).
    pub view_cache_mb: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            registration: Registration::Open,
            public_url: "http://127.0.0.1:3000".into(),
            secure_cookies: false,
            session_idle: time::Duration::days(7),
            stalled_days: 14,
            content_dir: PathBuf::from("content"),
            watch_content: false,
            trusted_proxies: Vec::new(),
            comments_per_minute: 10,
            embed_hosts: crate::content::render::RenderOptions::default().embed_hosts,
            time_zone: crate::time_zones::DEFAULT.to_string(),
            email: false,
            quiet_days: 7,
            webhook_allow_http_loopback: false,
            require_admin_two_factor: false,
            view_cache_mb: 64,
        }
    }
}

impl Config {
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{}", self.host, self.port))
            .trim_end_matches('/')
            .to_string()
    }

    pub fn settings(&self) -> Settings {
        let public_url = self.public_url();
        Settings {
            registration: self.registration,
            secure_cookies: self.secure_cookies.unwrap_or(public_url.starts_with("https://")),
            public_url,
            session_idle: time::Duration::minutes(self.session_idle_minutes.max(1)),
            stalled_days: self.stalled_days.max(1),
            content_dir: self.content_dir.clone(),
            watch_content: self.watch_content,
            trusted_proxies: self.trusted_proxies.clone(),
            comments_per_minute: self.comments_per_minute.max(1),
            embed_hosts: self.render_options().embed_hosts,
            time_zone: self.time_zone.clone(),
            email: self.smtp_host.is_some(),
            quiet_days: self.quiet_days.max(0),
            webhook_allow_http_loopback: self.webhook_allow_http_loopback,
            require_admin_two_factor: self.require_admin_two_factor,
            view_cache_mb: self.view_cache_mb,
        }
    }

    /// How content renders in this process: the embed hosts, without blanks or repeats.
    pub fn render_options(&self) -> crate::content::render::RenderOptions {
        let mut hosts: Vec<String> = Vec::new();
        for host in &self.embed_hosts {
            if !host.is_empty() && !hosts.contains(host) {
                hosts.push(host.clone());
            }
        }
        crate::content::render::RenderOptions { embed_hosts: hosts }
    }
}
