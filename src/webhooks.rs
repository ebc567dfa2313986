//! Outgoing webhooks: the events, URL rules, HMAC-SHA256 signing, and the sender the job loop runs over the queued deliveries.
//!
//! Deliveries are queued by triggers (migration 0042) in the transaction of the change, so a
//! rolled-back change sends nothing. [`deliver_due`] takes each due one with `for update skip
//! locked` (two servers never send one twice), posts it, and records the answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sqlx::PgPool;

use crate::db::webhooks::{self as db, Outcome};

/// The events an endpoint can ask for, with their labels on the forms.
pub const EVENTS: [(&str, &str); 4] = [
    ("skill.done", "A learner marks a skill done"),
    ("stage.done", "A learner finishes a stage's required skills"),
    ("review.requested", "A learner asks for a review"),
    ("review.answered", "A mentor verifies a skill or asks for changes"),
];

/// Waits after the 1st, 2nd, … failed try; after the last, the delivery is marked failed.
pub const BACKOFF_SECS: [i64; 5] = [60, 5 * 60, 30 * 60, 2 * 3600, 12 * 3600];
/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a receiver's body the log keeps.
pub const BODY_EXCERPT: usize = 2048;

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the `Pathway-Signature` header.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether an address is one the sender refuses unless told otherwise: loopback, private,
/// link-local, shared, unspecified, multicast, documentation and other non-public ranges.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
        }
    }
}

/// Whether `--webhook-allow-http-loopback` lets this address through.
fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    !is_internal(ip) || (allow_loopback && ip.to_canonical().is_loopback())
}

/// Why an endpoint URL is refused, in words for the form; None: fine. HTTPS only; plain
/// HTTP only to a loopback host, and only with `allow_loopback`.
pub fn url_problem(url: &str, allow_loopback: bool) -> Option<String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Some("Enter a full URL, such as https://example.org/hooks/pathway.".into());
    };
    if url.len() > 2000 {
        return Some("The URL is too long (at most 2,000 characters).".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("Put no user name or password in the URL: each delivery is signed instead.".into());
    }
    let Some(host) = parsed.host() else {
        return Some("The URL needs a host.".into());
    };
    let literal = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    let loopback = match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        _ => literal.is_some_and(|ip| ip.to_canonical().is_loopback()),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback => {}
        "http" => {
            return Some("The URL must start with https:// (deliveries carry learners’ progress).".into());
        }
        _ => return Some("The URL must start with https://.".into()),
    }
    if let Some(ip) = literal
        && !allowed(ip, allow_loopback)
    {
        return Some("That address is on a private or local network, which Pathway does not send to.".into());
    }
    None
}

/// Resolves a host for the client, refusing internal addresses (checked at every delivery,
/// so a name that later points inside is refused too, and the connection goes to the
/// address checked).
struct Guard {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_loopback;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.iter().copied().filter(|a| allowed(a.ip(), allow)).collect();
            if kept.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = if found.is_empty() {
                    format!("{host} has no address").into()
                } else {
                    format!("refused: {host} resolves to a private or local address").into()
                };
                return Err(refused);
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Sends deliveries: one HTTP client, no redirects followed, 10 s to answer.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl Sender {
    pub fn new(allow_loopback: bool) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            // A proxy would resolve the host itself, past the address check.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent("Pathway-Webhook")
            .dns_resolver(Arc::new(Guard { allow_loopback }))
            .build()?;
        Ok(Self {
            client,
            allow_loopback,
        })
    }

    /// Posts one delivery and says what came back.
    pub async fn send(&self, due: &db::Due) -> Outcome {
        let started = Instant::now();
        let mut outcome = self.try_send(due).await.unwrap_or_else(|error| Outcome {
            error: Some(error.chars().take(500).collect()),
            ..Outcome::default()
        });
        outcome.duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        outcome
    }

    async fn try_send(&self, due: &db::Due) -> Result<Outcome, String> {
        // The URL was checked when saved; checked again, as the rules may have changed since.
        if let Some(problem) = url_problem(&due.url, self.allow_loopback) {
            return Err(format!("refused: {problem}"));
        }
        let mut payload = due.payload.clone();
        payload["delivery"] = due.id.into();
        let body = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let response = self
            .client
            .post(&due.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Pathway-Event", &due.event)
            .header("Pathway-Delivery", due.id.to_string())
            .header("Pathway-Signature", signature(&due.secret, now, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = i32::from(response.status().as_u16());
        let mut excerpt = Vec::new();
        let mut response = response;
        // Reads no more than the excerpt: a receiver streaming forever is cut off.
        while excerpt.len() < BODY_EXCERPT {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(BODY_EXCERPT);
        let body = String::from_utf8_lossy(&excerpt).replace('\0', "");
        Ok(Outcome {
            status: Some(status),
            body: Some(body),
            error: (!(200..300).contains(&status)).then(|| format!("the receiver answered {status}")),
            duration_ms: 0,
        })
    }
}

/// The error and its causes, which say what went wrong (refused address, timeout, TLS).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// After `attempts` tries (this one included) failed: seconds to the next, or None to give up.
pub fn retry_in(attempts: i32) -> Option<i64> {
    usize::try_from(attempts - 1)
        .ok()
        .and_then(|i| BACKOFF_SECS.get(i).copied())
}

/// What [`deliver_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub delivered: u64,
    pub failed: u64,
}

/// Sends up to `limit` due deliveries, each in its own transaction holding its row.
pub async fn deliver_due(pool: &PgPool, sender: &Sender, limit: usize) -> anyhow::Result<Report> {
    let mut report = Report::default();
    for _ in 0..limit {
        let mut tx = pool.begin().await?;
        let Some(due) = db::next_due(&mut *tx).await? else {
            break;
        };
        let outcome = sender.send(&due).await;
        if outcome.succeeded() {
            report.delivered += 1;
        } else {
            report.failed += 1;
            tracing::warn!(delivery = due.id, error = ?outcome.error, "a webhook delivery failed; it is tried again later");
        }
        let retry = if outcome.succeeded() {
            None
        } else {
            retry_in(due.attempts + 1)
        };
        db::record_attempt(&mut *tx, due.id, &outcome, retry).await?;
        tx.commit().await?;
    }
    Ok(report)
}

/// Deliveries sent at once: each holds a connection while its receiver answers.
const SENDERS: usize = 4;
/// Delivered and failed deliveries are kept this many days in the logs.
const KEEP_DAYS: i32 = 30;

/// The server's delivery loop: every `every`, [`deliver_due`] on a few tasks at once (they
/// skip each other's rows); about hourly, drop finished deliveries older than [`KEEP_DAYS`].
pub async fn run(pool: PgPool, sender: Sender, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let prune_every = (3600 / every.as_secs().max(1)).max(1);
    let mut ticks: u64 = 0;
    loop {
        interval.tick().await;
        if pool.is_closed() {
            return;
        }
        let mut senders = tokio::task::JoinSet::new();
        for _ in 0..SENDERS {
            let (pool, sender) = (pool.clone(), sender.clone());
            senders.spawn(async move { deliver_due(&pool, &sender, 50).await });
        }
        let mut total = Report::default();
        while let Some(done) = senders.join_next().await {
            match done {
                Ok(Ok(report)) => {
                    total.delivered += report.delivered;
                    total.failed += report.failed;
                }
                Ok(Err(error)) => tracing::warn!(%error, "could not send webhooks"),
                Err(error) => tracing::warn!(%error, "a webhook sender stopped"),
            }
        }
        if total.delivered + total.failed > 0 {
            tracing::info!(
                delivered = total.delivered,
                failed = total.failed,
                "webhooks sent"
            );
        }
        if ticks.is_multiple_of(prune_every)
            && let Err(error) = db::prune(&pool, KEEP_DAYS).await
        {
            tracing::warn!(%error, "could not prune old webhook deliveries");
        }
        ticks += 1;
    }
}
