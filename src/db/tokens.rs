//! Personal access tokens for the JSON API: created, listed and revoked on the account page, looked up by hash.

use sqlx::PgExecutor;
use time::OffsetDateTime;

/// A token as its owner's list shows it (never the token itself).
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// The most live tokens one account may hold.
pub const MAX_LIVE: usize = 50;

/// Stores a new token's hash; the caller shows the token once.
pub async fn create(
    db: impl PgExecutor<'_>,
    user_id: i64,
    name: &str,
    prefix: &str,
    token_hash: &str,
    scopes: &[String],
    expires_at: Option<OffsetDateTime>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into api_tokens (user_id, name, prefix, token_hash, scopes, expires_at)
         values ($1, $2, $3, $4, $5, $6) returning id",
        user_id,
        name,
        prefix,
        token_hash,
        scopes,
        expires_at
    )
    .fetch_one(db)
    .await
}

/// The user's tokens, live ones first, then newest first; revoked and expired ones stay
/// listed as history (up to 200 in all, so every live one shows: see `MAX_LIVE`).
pub async fn list(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query_as!(
        TokenRow,
        "select id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at
         from api_tokens where user_id = $1
         order by revoked_at is null and (expires_at is null or expires_at > now()) desc, id desc
         limit 200",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Revokes one of the user's tokens; false when it is not theirs or already revoked.
pub async fn revoke(db: impl PgExecutor<'_>, user_id: i64, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update api_tokens set revoked_at = now() where id = $1 and user_id = $2 and revoked_at is null",
        id,
        user_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A live token behind a request.
#[derive(Debug, Clone)]
pub struct LiveToken {
    pub id: i64,
    pub user_id: i64,
    pub scopes: Vec<String>,
    pub last_used_at: Option<OffsetDateTime>,
}

/// The token with this hash, if it is neither revoked nor expired and its owner is not
/// disabled: one probe of the unique index on `token_hash`.
pub async fn live(db: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<Option<LiveToken>> {
    sqlx::query_as!(
        LiveToken,
        "select t.id, t.user_id, t.scopes, t.last_used_at
         from api_tokens t join users u on u.id = t.user_id
         where t.token_hash = $1 and t.revoked_at is null
           and (t.expires_at is null or t.expires_at > now())
           and u.disabled_at is null",
        token_hash
    )
    .fetch_optional(db)
    .await
}

/// Records use now, unless it was recorded within the last minute: one write a minute at most.
pub async fn touch(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update api_tokens set last_used_at = now()
         where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')",
        id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One page of the user's progress rows by skill id, after `after` (a cursor).
#[derive(Debug, Clone)]
pub struct ProgressItem {
    pub skill_id: String,
    pub state: String,
    pub version: i32,
    pub started_at: Option<OffsetDateTime>,
    pub done_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    pub verified_at: Option<OffsetDateTime>,
}

/// A page of `user_id`'s progress, by skill id: a range scan of the primary key.
pub async fn progress_page(
    db: impl PgExecutor<'_>,
    user_id: i64,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<ProgressItem>> {
    sqlx::query_as!(
        ProgressItem,
        "select skill_id, state, version, started_at, done_at, updated_at, verified_at
         from skill_progress
         where user_id = $1 and ($2::text is null or skill_id > $2)
         order by skill_id limit $3",
        user_id,
        after,
        limit
    )
    .fetch_all(db)
    .await
}

/// A mentee as the API lists them.
#[derive(Debug, Clone)]
pub struct MenteeItem {
    pub id: i64,
    pub username: String,
    pub display_name: String,
}

/// A page of the people `mentor_id` reaches (mentor links and teams, `mentor_reach`), by id.
pub async fn mentees_page(
    db: impl PgExecutor<'_>,
    mentor_id: i64,
    after: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<MenteeItem>> {
    sqlx::query_as!(
        MenteeItem,
        "select u.id, u.username, u.display_name from users u
         where u.id in (select r.mentee_id from mentor_reach r where r.mentor_id = $1)
           and ($2::bigint is null or u.id > $2)
         order by u.id limit $3",
        mentor_id,
        after,
        limit
    )
    .fetch_all(db)
    .await
}
