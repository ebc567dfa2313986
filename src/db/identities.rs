//! Queries over single sign-on identities (`user_identities`): a provider's subject linked to a user.

use sqlx::PgExecutor;
use time::OffsetDateTime;

/// One linked provider account, for the account page.
#[derive(Debug, Clone)]
pub struct Identity {
    pub id: i64,
    pub provider: String,
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// The user a provider's subject signs in as, marking the identity used.
pub async fn sign_in(
    db: impl PgExecutor<'_>,
    provider: &str,
    subject: &str,
    email: Option<&str>,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "update user_identities set last_used_at = now(), email = coalesce($3, email)
         where provider = $1 and subject = $2 returning user_id",
        provider,
        subject,
        email
    )
    .fetch_optional(db)
    .await
}

/// Links a subject to a user; false when the subject is already linked (to anyone).
pub async fn link(
    db: impl PgExecutor<'_>,
    provider: &str,
    subject: &str,
    user_id: i64,
    email: Option<&str>,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "insert into user_identities (provider, subject, user_id, email, last_used_at)
         values ($1, $2, $3, $4, now()) on conflict (provider, subject) do nothing",
        provider,
        subject,
        user_id,
        email
    )
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn of_user(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<Identity>> {
    sqlx::query_as!(
        Identity,
        "select id, provider, email, created_at, last_used_at from user_identities
         where user_id = $1 order by created_at, id",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Removes one of the user's identities; its provider, or `None` when it is not theirs.
pub async fn unlink(db: impl PgExecutor<'_>, user_id: i64, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "delete from user_identities where id = $1 and user_id = $2 returning provider",
        id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Users whose address is `email` (compared without case): more than one means no link is offered.
pub async fn users_with_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "select id from users where lower(email) = lower($1) order by id limit 2",
        email
    )
    .fetch_all(db)
    .await
}

/// Whether `username` is free, for deriving a new account's name.
pub async fn username_taken(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from users where username = $1) as "taken!""#,
        username
    )
    .fetch_one(db)
    .await
}

/// The user's password hash, locking their row until the transaction ends.
pub async fn lock_password_hash(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<String> {
    sqlx::query_scalar!(
        "select password_hash from users where id = $1 for update",
        user_id
    )
    .fetch_one(db)
    .await
}
