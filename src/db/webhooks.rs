//! Webhooks: endpoints (site-wide or a team's), their queued deliveries, and each try's response.

use sqlx::PgExecutor;
use time::OffsetDateTime;

/// A registered endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: i64,
    pub team_id: Option<i64>,
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: OffsetDateTime,
}

/// The endpoints of one owner (`team_id` None: the site-wide ones), newest first.
pub async fn list(db: impl PgExecutor<'_>, team_id: Option<i64>) -> sqlx::Result<Vec<Endpoint>> {
    sqlx::query_as!(
        Endpoint,
        "select id, team_id, url, secret, events, active, created_at from webhook_endpoints
         where team_id is not distinct from $1 order by id desc",
        team_id
    )
    .fetch_all(db)
    .await
}

/// One endpoint of that owner, or None (another owner's is not found either).
pub async fn get(db: impl PgExecutor<'_>, team_id: Option<i64>, id: i64) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as!(
        Endpoint,
        "select id, team_id, url, secret, events, active, created_at from webhook_endpoints
         where id = $1 and team_id is not distinct from $2",
        id,
        team_id
    )
    .fetch_optional(db)
    .await
}

pub async fn create(
    db: impl PgExecutor<'_>,
    team_id: Option<i64>,
    url: &str,
    secret: &str,
    events: &[String],
    created_by: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into webhook_endpoints (team_id, url, secret, events, created_by)
         values ($1, $2, $3, $4, $5) returning id",
        team_id,
        url,
        secret,
        events,
        created_by
    )
    .fetch_one(db)
    .await
}

/// Deletes an endpoint (and its log); whether there was one.
pub async fn delete(db: impl PgExecutor<'_>, team_id: Option<i64>, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "delete from webhook_endpoints where id = $1 and team_id is not distinct from $2",
        id,
        team_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_active(
    db: impl PgExecutor<'_>,
    team_id: Option<i64>,
    id: i64,
    active: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update webhook_endpoints set active = $3 where id = $1 and team_id is not distinct from $2",
        id,
        team_id,
        active
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Queues a `ping` to one endpoint, whether or not it is active (the owner asked for it).
pub async fn queue_ping(db: impl PgExecutor<'_>, endpoint: &Endpoint) -> sqlx::Result<i64> {
    let payload = serde_json::json!({
        "event": "ping",
        "occurred_at": OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "endpoint": { "id": endpoint.id, "url": endpoint.url, "events": endpoint.events },
    });
    sqlx::query_scalar!(
        "insert into webhook_deliveries (endpoint_id, event, payload) values ($1, 'ping', $2) returning id",
        endpoint.id,
        payload
    )
    .fetch_one(db)
    .await
}

/// A delivery in an endpoint's log.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub event: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: OffsetDateTime,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    /// Every try's response code (None: no response), oldest first.
    pub responses: Vec<Option<i32>>,
}

/// The latest deliveries to an endpoint.
pub async fn deliveries(
    db: impl PgExecutor<'_>,
    endpoint_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<Delivery>> {
    sqlx::query_as!(
        Delivery,
        r#"select d.id, d.event, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error,
                  d.created_at,
                  array(select a.response_status from webhook_attempts a
                        where a.delivery_id = d.id order by a.id) as "responses!: Vec<Option<i32>>"
           from webhook_deliveries d where d.endpoint_id = $1
           order by d.id desc limit $2"#,
        endpoint_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// One try, as the log keeps it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub delivery_id: i64,
    pub at: OffsetDateTime,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub duration_ms: i32,
    pub error: Option<String>,
}

/// Every try of the deliveries to an endpoint shown in its log.
pub async fn attempts(db: impl PgExecutor<'_>, delivery_ids: &[i64]) -> sqlx::Result<Vec<Attempt>> {
    sqlx::query_as!(
        Attempt,
        "select delivery_id, at, response_status, response_body, duration_ms, error
         from webhook_attempts where delivery_id = any($1) order by delivery_id desc, id",
        delivery_ids
    )
    .fetch_all(db)
    .await
}

/// Sends a delivery again at once: its backoff starts over, its tries so far stay in the log.
/// Only a delivery of an endpoint of that owner.
pub async fn redeliver(db: impl PgExecutor<'_>, team_id: Option<i64>, id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "update webhook_deliveries d set status = 'pending', attempts = 0, next_attempt_at = now()
         from webhook_endpoints e
         where d.id = $1 and e.id = d.endpoint_id and e.team_id is not distinct from $2
         returning d.endpoint_id",
        id,
        team_id
    )
    .fetch_optional(db)
    .await
}

/// A delivery as the sender reads it.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    pub event: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub url: String,
    pub secret: String,
}

/// The next delivery due, held for this transaction; one another transaction holds is
/// skipped, so two senders never send the same delivery. Disabled endpoints wait.
pub async fn next_due(db: impl PgExecutor<'_>) -> sqlx::Result<Option<Due>> {
    sqlx::query_as!(
        Due,
        "select d.id, d.event, d.payload, d.attempts, e.url, e.secret
         from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
         where d.status = 'pending' and d.next_attempt_at <= now() and (e.active or d.event = 'ping')
         order by d.next_attempt_at, d.id limit 1 for update of d skip locked"
    )
    .fetch_optional(db)
    .await
}

/// What one try got.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: Option<i32>,
    pub body: Option<String>,
    pub duration_ms: i32,
    pub error: Option<String>,
}

impl Outcome {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Records a try and moves the delivery on: delivered on a 2xx; else tried again after
/// `retry_in_secs`, or failed when that is None. One statement.
pub async fn record_attempt(
    db: impl PgExecutor<'_>,
    id: i64,
    outcome: &Outcome,
    retry_in_secs: Option<i64>,
) -> sqlx::Result<()> {
    let status = if outcome.succeeded() {
        "delivered"
    } else if retry_in_secs.is_some() {
        "pending"
    } else {
        "failed"
    };
    sqlx::query!(
        "with tried as (
             insert into webhook_attempts (delivery_id, response_status, response_body, duration_ms, error)
             values ($1, $2, $3, $4, $5)
         )
         update webhook_deliveries set attempts = attempts + 1, status = $6, last_status = $2, last_error = $5,
                delivered_at = case when $6 = 'delivered' then now() end,
                next_attempt_at = now() + make_interval(secs => coalesce($7::float8, 0))
         where id = $1",
        id,
        outcome.status,
        outcome.body,
        outcome.duration_ms,
        outcome.error,
        status,
        retry_in_secs.map(|s| s as f64)
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Drops delivered and failed deliveries older than `days` (their tries go with them).
pub async fn prune(db: impl PgExecutor<'_>, days: i32) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from webhook_deliveries where status <> 'pending' and created_at < now() - make_interval(days => $1)",
        days
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
