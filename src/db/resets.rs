//! One-time password-reset links: made by an admin, used once by whoever holds the link.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

use super::admin::record;

/// How long a reset link works.
pub const VALID_HOURS: i32 = 24;

/// A reset link that was just made.
#[derive(Debug, Clone)]
pub struct Created {
    pub username: String,
    pub expires_at: OffsetDateTime,
    /// Older unused links of the same user that stopped working.
    pub revoked: u64,
}

/// Why no link was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled(pub String);

/// Stores a reset link for `user_id` (only its hash), revokes the user's older
/// unused links, and records it in the audit log, in one transaction. `None` if
/// the user does not exist.
pub async fn create(
    pool: &PgPool,
    actor_id: i64,
    user_id: i64,
    token_hash: &str,
) -> sqlx::Result<Option<Result<Created, Disabled>>> {
    let mut tx = pool.begin().await?;
    // The user's row lock serializes two admins making links for the same person.
    let Some(user) = sqlx::query!(
        r#"select username, disabled_at is not null as "disabled!" from users where id = $1 for update"#,
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(Some(Err(Disabled(user.username))));
    }
    let revoked = sqlx::query!(
        "update password_resets set revoked_at = now()
         where user_id = $1 and used_at is null and revoked_at is null",
        user_id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let expires_at = sqlx::query_scalar!(
        "insert into password_resets (user_id, token_hash, created_by, expires_at)
         values ($1, $2, $3, now() + make_interval(hours => $4)) returning expires_at",
        user_id,
        token_hash,
        actor_id,
        VALID_HOURS
    )
    .fetch_one(&mut *tx)
    .await?;
    record(
        &mut *tx,
        Some(actor_id),
        "user.reset_link",
        &user.username,
        serde_json::json!({ "valid_hours": VALID_HOURS, "revoked_older": revoked }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Ok(Created {
        username: user.username,
        expires_at,
        revoked,
    })))
}

/// Who a working link belongs to: unused, not revoked, not expired, and the
/// account enabled. Anything else is `None`, with no hint of why.
#[derive(Debug, Clone)]
pub struct Holder {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
}

pub async fn holder(db: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<Option<Holder>> {
    sqlx::query_as!(
        Holder,
        "select u.id as user_id, u.username, u.display_name, u.email
         from password_resets r join users u on u.id = r.user_id
         where r.token_hash = $1 and r.used_at is null and r.revoked_at is null
           and r.expires_at > now() and u.disabled_at is null",
        token_hash
    )
    .fetch_optional(db)
    .await
}

/// Uses the link: one conditional update claims it (so it works once even when
/// sent twice at the same moment), then the password is stored and the session
/// epoch bumped (every existing session of the user ends), and the change is
/// recorded. Returns the user's id, or `None` if the link no longer works.
pub async fn redeem(pool: &PgPool, token_hash: &str, password_hash: &str) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let Some(claimed) = sqlx::query!(
        "update password_resets r set used_at = now()
         from users u
         where r.token_hash = $1 and u.id = r.user_id and r.used_at is null and r.revoked_at is null
           and r.expires_at > now() and u.disabled_at is null
         returning r.id, r.user_id, u.username",
        token_hash
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    super::users::set_password(&mut *tx, claimed.user_id, password_hash).await?;
    record(
        &mut *tx,
        Some(claimed.user_id),
        "user.password_reset",
        &claimed.username,
        serde_json::json!({ "reset_link": claimed.id }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(claimed.user_id))
}
