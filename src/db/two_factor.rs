//! Two-factor sign-in: each enrolled user's TOTP secret, the last code step accepted, and recovery codes.

use sqlx::{PgExecutor, Postgres, Transaction};

/// An enrolled user's secret and the last time step accepted for them.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub secret: Vec<u8>,
    pub last_step: i64,
}

pub async fn enrolment(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Option<Enrolment>> {
    sqlx::query_as!(
        Enrolment,
        "select secret, last_step from two_factor where user_id = $1",
        user_id
    )
    .fetch_optional(db)
    .await
}

pub async fn is_enabled(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<bool> {
    Ok(
        sqlx::query_scalar!("select 1 as \"one!\" from two_factor where user_id = $1", user_id)
            .fetch_optional(db)
            .await?
            .is_some(),
    )
}

/// Turns two-factor sign-in on with `secret`, whose code for `step` was just
/// entered, and replaces any recovery codes with `code_hashes`.
pub async fn enable(
    tx: &mut Transaction<'_, Postgres>,
    user_id: i64,
    secret: &[u8],
    step: i64,
    code_hashes: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into two_factor (user_id, secret, last_step) values ($1, $2, $3)
         on conflict (user_id) do update set secret = $2, last_step = $3, enabled_at = now()",
        user_id,
        secret,
        step
    )
    .execute(&mut **tx)
    .await?;
    replace_recovery_codes(tx, user_id, code_hashes).await
}

/// Records that the code for `step` was used; false when that step (or a later
/// one) was already accepted, so a code cannot be replayed within its window.
pub async fn accept_step(db: impl PgExecutor<'_>, user_id: i64, step: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update two_factor set last_step = $2 where user_id = $1 and last_step < $2",
        user_id,
        step
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn replace_recovery_codes(
    tx: &mut Transaction<'_, Postgres>,
    user_id: i64,
    code_hashes: &[String],
) -> sqlx::Result<()> {
    sqlx::query!("delete from recovery_codes where user_id = $1", user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query!(
        "insert into recovery_codes (user_id, code_hash) select $1, unnest($2::text[])",
        user_id,
        code_hashes
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Spends a recovery code; false when it is not one of the user's unused codes.
pub async fn use_recovery_code(db: impl PgExecutor<'_>, user_id: i64, code_hash: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update recovery_codes set used_at = now()
         where user_id = $1 and code_hash = $2 and used_at is null",
        user_id,
        code_hash
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn recovery_codes_left(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "select count(*) as \"n!\" from recovery_codes where user_id = $1 and used_at is null",
        user_id
    )
    .fetch_one(db)
    .await
}

/// Turns two-factor sign-in off: the secret and every recovery code go.
pub async fn disable(tx: &mut Transaction<'_, Postgres>, user_id: i64) -> sqlx::Result<bool> {
    sqlx::query!("delete from recovery_codes where user_id = $1", user_id)
        .execute(&mut **tx)
        .await?;
    let done = sqlx::query!("delete from two_factor where user_id = $1", user_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
