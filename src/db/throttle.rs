//! Sign-in throttling (per address, per account and address, per trusted device) and per-window action limits.
//!
//! A sign-in attempt is counted *before* its password is checked, under a
//! per-username advisory lock, so parallel guesses cannot all slip under the
//! limit; a correct password then takes its own attempt back.

use sqlx::{PgExecutor, PgPool};

/// How many failures each scope tolerates within [`WINDOW_SECS`].
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    /// One address, whatever accounts it tries.
    pub per_address: i64,
    /// One account from one address (or one trusted device).
    pub per_account_address: i64,
    /// One account from every untrusted address together: past this many,
    /// each further attempt waits a delay that doubles, up to `max_delay_secs`.
    pub account_delay_after: i64,
    pub max_delay_secs: i64,
    pub window_secs: f64,
}

pub const SIGN_IN: SignInLimits = SignInLimits {
    per_address: 20,
    per_account_address: 5,
    account_delay_after: 10,
    max_delay_secs: 60,
    window_secs: 15.0 * 60.0,
};

/// Who is trying to sign in.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub username: &'a str,
    pub ip: Option<&'a str>,
    /// Hash of a device cookie that belongs to this account, if the browser sent one.
    pub trusted_device: Option<&'a str>,
}

/// The outcome of asking to check a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; the attempt is already counted as a failure under this id.
    Counted(i64),
    /// Too many failures: try again in this many seconds.
    Wait(i64),
}

/// Decides whether this attempt may check a password, and counts it if so,
/// atomically with respect to other attempts on the same username.
pub async fn admit_sign_in(
    pool: &PgPool,
    attempt: Attempt<'_>,
    limits: SignInLimits,
) -> sqlx::Result<Admission> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('sign-in:' || $1, 0))",
        attempt.username
    )
    .execute(&mut *tx)
    .await?;
    let wait = sqlx::query_scalar!(
        r#"with recent as (
               select username, ip, device_hash, failed_at from sign_in_failures
               where failed_at > now() - make_interval(secs => $4)
                 and (username = $1 or ip = $2)
           ), by_address as (
               select failed_at from recent where ip = $2 and $3::text is null
               order by failed_at desc limit $5
           ), by_account_address as (
               select failed_at from recent
               where username = $1 and $3::text is null and device_hash is null
                 and ip is not distinct from $2
               order by failed_at desc limit $6
           ), by_device as (
               select failed_at from recent where device_hash = $3
               order by failed_at desc limit $6
           ), by_account as (
               select count(*) as failures, max(failed_at) as latest from recent
               where username = $1 and device_hash is null and $3::text is null
           )
           select ceil(extract(epoch from greatest(
                      case when (select count(*) from by_address) >= $5
                           then (select min(failed_at) from by_address) + make_interval(secs => $4) - now() end,
                      case when (select count(*) from by_account_address) >= $6
                           then (select min(failed_at) from by_account_address) + make_interval(secs => $4) - now() end,
                      case when (select count(*) from by_device) >= $6
                           then (select min(failed_at) from by_device) + make_interval(secs => $4) - now() end,
                      case when (select failures from by_account) >= $7
                           then (select latest from by_account)
                                + make_interval(secs => least($8::bigint, power(2, least((select failures from by_account) - $7, 30))::bigint)::float8)
                                - now() end
                  )))::bigint as "wait""#,
        attempt.username,
        attempt.ip,
        attempt.trusted_device,
        limits.window_secs,
        limits.per_address,
        limits.per_account_address,
        limits.account_delay_after,
        limits.max_delay_secs,
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some(seconds) = wait.filter(|s| *s > 0) {
        tx.rollback().await?;
        return Ok(Admission::Wait(seconds));
    }
    let id = sqlx::query_scalar!(
        "insert into sign_in_failures (username, ip, device_hash) values ($1, $2, $3) returning id",
        attempt.username,
        attempt.ip,
        attempt.trusted_device,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Admission::Counted(id))
}

/// A correct password: the attempt was not a failure after all, and earlier
/// failures from this same address or device are forgiven.
pub async fn sign_in_succeeded(db: &PgPool, attempt: Attempt<'_>, counted: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from sign_in_failures
         where id = $1
            or (username = $2 and device_hash is not distinct from $4
                and (ip is not distinct from $3 or $4::text is not null))",
        counted,
        attempt.username,
        attempt.ip,
        attempt.trusted_device,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets every failure for an account (an admin's password reset).
pub async fn clear_sign_in_failures(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from sign_in_failures where username = $1", username)
        .execute(db)
        .await?;
    Ok(())
}

/// The account a device cookie belongs to, if it is still trusted.
pub async fn device_owner(db: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "select user_id from trusted_devices
         where token_hash = $1 and last_used_at > now() - interval '180 days'",
        token_hash
    )
    .fetch_optional(db)
    .await
}

/// Remembers a browser that signed in, or refreshes it.
pub async fn trust_device(db: impl PgExecutor<'_>, token_hash: &str, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into trusted_devices (token_hash, user_id) values ($1, $2)
         on conflict (token_hash) do update set user_id = $2, last_used_at = now()",
        token_hash,
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Counts one `action` by `subject` unless `limit` happened within `window_secs`;
/// returns the seconds to wait when over the limit.
pub async fn take(
    pool: &PgPool,
    action: &str,
    subject: &str,
    limit: i64,
    window_secs: f64,
) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))",
        action,
        subject
    )
    .execute(&mut *tx)
    .await?;
    let wait = sqlx::query_scalar!(
        r#"with recent as (
               select at from rate_events
               where action = $1 and subject = $2 and at > now() - make_interval(secs => $4)
               order by at desc limit $3
           )
           select case when (select count(*) from recent) >= $3
                       then ceil(extract(epoch from (select min(at) from recent)
                                 + make_interval(secs => $4) - now()))::bigint end as "wait""#,
        action,
        subject,
        limit,
        window_secs
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some(seconds) = wait {
        tx.rollback().await?;
        return Ok(Some(seconds.max(1)));
    }
    sqlx::query!(
        "insert into rate_events (action, subject) values ($1, $2)",
        action,
        subject
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(None)
}

/// Forgets failures and counted actions older than a day, and devices unused for 180 days.
pub async fn prune(db: &PgPool) -> sqlx::Result<u64> {
    let failures = sqlx::query!("delete from sign_in_failures where failed_at < now() - interval '1 day'")
        .execute(db)
        .await?
        .rows_affected();
    let events = sqlx::query!("delete from rate_events where at < now() - interval '1 day'")
        .execute(db)
        .await?
        .rows_affected();
    let devices =
        sqlx::query!("delete from trusted_devices where last_used_at < now() - interval '180 days'")
            .execute(db)
            .await?
            .rows_affected();
    Ok(failures + events + devices)
}

/// "3 minutes", "45 seconds": how long to wait, for messages.
pub fn wait_text(seconds: i64) -> String {
    if seconds < 60 {
        let s = seconds.max(1);
        format!("{s} second{}", if s == 1 { "" } else { "s" })
    } else {
        let minutes = (seconds + 59) / 60;
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    }
}
