//! Email: delivery preferences, the outbox (queued, sent, failed), digest items, and unsubscribe links.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub user_id: Option<i64>,
    pub to_address: String,
    pub category: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
}

/// A recipient who can get email, and how they want this category.
#[derive(Debug, Clone)]
pub struct Route {
    pub user_id: i64,
    pub address: String,
    pub mode: String,
}

/// Of `users`, those with an address who have not stopped email, with their mode for
/// `category` (`default_mode` when they have not chosen). One statement.
pub async fn routes_for(
    db: impl PgExecutor<'_>,
    users: &[i64],
    category: &str,
    default_mode: &str,
) -> sqlx::Result<Vec<Route>> {
    sqlx::query_as!(
        Route,
        r#"select u.id as user_id, u.email as "address!", coalesce(p.mode, $3) as "mode!"
           from users u
           left join email_preferences p on p.user_id = u.id and p.category = $2
           where u.id = any($1) and u.email is not null and not u.email_stopped
             and u.disabled_at is null"#,
        users,
        category,
        default_mode
    )
    .fetch_all(db)
    .await
}

/// Queues messages, in one statement.
pub async fn enqueue(db: impl PgExecutor<'_>, messages: &[Outgoing]) -> sqlx::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let users: Vec<Option<i64>> = messages.iter().map(|m| m.user_id).collect();
    let to: Vec<String> = messages.iter().map(|m| m.to_address.clone()).collect();
    let categories: Vec<String> = messages.iter().map(|m| m.category.clone()).collect();
    let subjects: Vec<String> = messages.iter().map(|m| m.subject.clone()).collect();
    let texts: Vec<String> = messages.iter().map(|m| m.body_text.clone()).collect();
    let htmls: Vec<String> = messages.iter().map(|m| m.body_html.clone()).collect();
    sqlx::query!(
        "insert into email_outbox (user_id, to_address, category, subject, body_text, body_html)
         select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])",
        &users as &[Option<i64>],
        &to,
        &categories,
        &subjects,
        &texts,
        &htmls
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Keeps a notice for the digests of `users`, in one statement.
pub async fn add_digest_items(
    db: impl PgExecutor<'_>,
    users: &[i64],
    category: &str,
    summary: &str,
    target_url: &str,
) -> sqlx::Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "insert into email_digest_items (user_id, category, summary, target_url)
         select unnest($1::bigint[]), $2, $3, $4",
        users,
        category,
        summary,
        target_url
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The notices waiting for one person's digest.
#[derive(Debug, Clone)]
pub struct DigestBatch {
    pub user_id: i64,
    /// None: no address any more, or email stopped; the items are dropped unsent.
    pub address: Option<String>,
    pub summaries: Vec<String>,
    pub targets: Vec<String>,
}

/// Takes every waiting digest item (deleting them), grouped by person, in one statement;
/// the caller queues the digests in the same transaction.
pub async fn take_digests(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<DigestBatch>> {
    sqlx::query_as!(
        DigestBatch,
        r#"with taken as (delete from email_digest_items returning id, user_id, summary, target_url)
           select t.user_id as "user_id!",
                  case when u.email_stopped or u.disabled_at is not null then null else u.email end as address,
                  array_agg(t.summary order by t.id) as "summaries!",
                  array_agg(t.target_url order by t.id) as "targets!"
           from taken t join users u on u.id = t.user_id
           group by t.user_id, u.email, u.email_stopped, u.disabled_at
           order by t.user_id"#
    )
    .fetch_all(db)
    .await
}

/// A queued message, as the sender reads it.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub to_address: String,
    pub category: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub attempts: i32,
}

/// The next message due, held for this transaction; one another transaction holds is
/// skipped, so two senders never take the same message.
pub async fn next_due(db: impl PgExecutor<'_>) -> sqlx::Result<Option<Queued>> {
    sqlx::query_as!(
        Queued,
        "select id, to_address, category, subject, body_text, body_html, attempts
         from email_outbox where status = 'pending' and next_attempt_at <= now()
         order by next_attempt_at, id limit 1 for update skip locked"
    )
    .fetch_optional(db)
    .await
}

pub async fn mark_sent(db: impl PgExecutor<'_>, id: i64, unsubscribe_hash: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update email_outbox set status = 'sent', sent_at = now(), attempts = attempts + 1,
                unsubscribe_hash = $2
         where id = $1",
        id,
        unsubscribe_hash
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed try: the next one after 2^(tries − 1) minutes, at most six hours;
/// after `max_attempts` tries the message is marked failed.
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: i64,
    error: &str,
    max_attempts: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update email_outbox set attempts = attempts + 1, last_error = $2,
                status = case when attempts + 1 >= $3 then 'failed' else 'pending' end,
                next_attempt_at = now() + least(make_interval(mins => power(2, attempts)::int),
                                                interval '6 hours')
         where id = $1",
        id,
        error,
        max_attempts
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A message that failed at least once, for the admin page.
#[derive(Debug, Clone)]
pub struct Problem {
    pub id: i64,
    pub to_address: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: String,
    pub created_at: OffsetDateTime,
    pub next_attempt_at: OffsetDateTime,
}

/// The latest messages that failed at least once (retrying, given up, or sent in the end).
pub async fn problems(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<Problem>> {
    sqlx::query_as!(
        Problem,
        r#"select id, to_address, subject, status, attempts, last_error as "last_error!",
                  created_at, next_attempt_at
           from email_outbox where last_error is not null
           order by created_at desc, id desc limit $1"#,
        limit
    )
    .fetch_all(db)
    .await
}

/// Makes message `id` due now if it failed and is not sent: one still retrying skips the
/// rest of its wait; one given up on gets one more try (its count of tries stays true, so
/// a further failure gives up again). Returns its address, for the audit log.
pub async fn retry(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update email_outbox set status = 'pending', next_attempt_at = now()
         where id = $1 and last_error is not null and status in ('pending', 'failed')
         returning to_address",
        id
    )
    .fetch_optional(db)
    .await
}

/// [`retry`] for every message given up on. Returns their addresses.
pub async fn retry_given_up(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "update email_outbox set status = 'pending', next_attempt_at = now()
         where status = 'failed' returning to_address"
    )
    .fetch_all(db)
    .await
}

/// How the outbox stands: waiting, sent in the last day, given up on.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub pending: i64,
    pub sent_today: i64,
    pub failed: i64,
}

pub async fn counts(db: impl PgExecutor<'_>) -> sqlx::Result<Counts> {
    sqlx::query_as!(
        Counts,
        r#"select count(*) filter (where status = 'pending') as "pending!",
                  count(*) filter (where status = 'sent' and sent_at > now() - interval '1 day') as "sent_today!",
                  count(*) filter (where status = 'failed') as "failed!"
           from email_outbox"#
    )
    .fetch_one(db)
    .await
}

/// What an unsubscribe link stops.
#[derive(Debug, Clone)]
pub struct Unsubscribe {
    /// None for an invitation to someone without an account: unsubscribing suppresses the address.
    pub user_id: Option<i64>,
    pub category: String,
    pub address: String,
}

pub async fn unsubscribe_link(
    db: impl PgExecutor<'_>,
    token_hash: &str,
) -> sqlx::Result<Option<Unsubscribe>> {
    sqlx::query_as!(
        Unsubscribe,
        r#"select user_id, category, to_address as address
           from email_outbox where unsubscribe_hash = $1"#,
        token_hash
    )
    .fetch_optional(db)
    .await
}

/// Whether `address` (lower case) asked for no more invitations.
pub async fn suppressed(db: impl PgExecutor<'_>, address: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from email_suppressions where address = $1) as "exists!""#,
        address
    )
    .fetch_one(db)
    .await
}

/// Sends no more invitations to `address`.
pub async fn suppress(db: impl PgExecutor<'_>, address: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into email_suppressions (address) values (lower($1)) on conflict do nothing",
        address
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Stops a category's email for a person (`digest`: every category they get as a digest),
/// or all their email.
pub async fn stop(db: &mut PgConnection, user_id: i64, category: &str, all: bool) -> sqlx::Result<()> {
    if all || category == crate::mail::ACCOUNT {
        sqlx::query!("update users set email_stopped = true where id = $1", user_id)
            .execute(&mut *db)
            .await?;
    } else if category == crate::mail::DIGEST {
        sqlx::query!(
            "update email_preferences set mode = 'in_app' where user_id = $1 and mode = 'digest'",
            user_id
        )
        .execute(&mut *db)
        .await?;
    } else {
        sqlx::query!(
            "insert into email_preferences (user_id, category, mode) values ($1, $2, 'in_app')
             on conflict (user_id, category) do update set mode = 'in_app'",
            user_id,
            category
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// A person's email settings for the account page.
#[derive(Debug, Clone)]
pub struct Settings {
    pub quiet_reminders: bool,
    pub email_stopped: bool,
    /// (category, mode) for the categories they chose.
    pub chosen: Vec<(String, String)>,
}

pub async fn settings(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Settings> {
    let row = sqlx::query!(
        r#"select u.quiet_reminders, u.email_stopped,
                  coalesce(array_agg(p.category order by p.category) filter (where p.category is not null), '{}') as "categories!",
                  coalesce(array_agg(p.mode order by p.category) filter (where p.category is not null), '{}') as "modes!"
           from users u left join email_preferences p on p.user_id = u.id
           where u.id = $1 group by u.id"#,
        user_id
    )
    .fetch_one(db)
    .await?;
    Ok(Settings {
        quiet_reminders: row.quiet_reminders,
        email_stopped: row.email_stopped,
        chosen: row.categories.into_iter().zip(row.modes).collect(),
    })
}

/// Saves a person's choices: the reminder switch, and a mode per category (which also
/// turns email back on after a "stop all"). One transaction, three statements.
pub async fn save_settings(
    db: &mut PgConnection,
    user_id: i64,
    quiet_reminders: bool,
    modes: Option<&[(String, String)]>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set quiet_reminders = $2, email_stopped = email_stopped and $3 where id = $1",
        user_id,
        quiet_reminders,
        modes.is_none()
    )
    .execute(&mut *db)
    .await?;
    if let Some(modes) = modes {
        let (categories, modes): (Vec<String>, Vec<String>) = modes.iter().cloned().unzip();
        sqlx::query!(
            "insert into email_preferences (user_id, category, mode)
             select $1, * from unnest($2::text[], $3::text[])
             on conflict (user_id, category) do update set mode = excluded.mode",
            user_id,
            &categories,
            &modes
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Sets or clears a person's email address.
pub async fn set_address(db: impl PgExecutor<'_>, user_id: i64, address: Option<&str>) -> sqlx::Result<()> {
    sqlx::query!("update users set email = $2 where id = $1", user_id, address)
        .execute(db)
        .await?;
    Ok(())
}
