//! Administration: admins, the first-run setup token, user management and the audit log.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

pub async fn admin_exists(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from users where is_admin and disabled_at is null) as "exists!""#
    )
    .fetch_one(db)
    .await
}

/// Stores a new setup token (valid for a day) unless an admin exists.
/// Every admin who can sign in, for notices only admins act on.
pub async fn active_admin_ids(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!("select id from users where is_admin and disabled_at is null order by id")
        .fetch_all(db)
        .await
}

/// A new setup token; expired ones, which can never work again, are removed so that
/// restarts without an admin do not pile them up.
pub async fn create_setup_token(db: &PgPool, token_hash: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from invites where kind = 'setup' and expires_at < now()")
        .execute(db)
        .await?;
    sqlx::query!(
        "insert into invites (token_hash, kind, expires_at) values ($1, 'setup', now() + interval '1 day')",
        token_hash
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A setup token is valid while unused, unexpired, and no admin exists yet.
pub async fn setup_token_valid(db: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from invites where token_hash = $1 and kind = 'setup' and used_at is null
                           and revoked_at is null and expires_at > now())
              and not exists (select 1 from users where is_admin and disabled_at is null) as "valid!""#,
        token_hash
    )
    .fetch_one(db)
    .await
}

/// Why a setup link no longer works, so its page can say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupLink {
    Valid,
    /// Used, or an admin exists already: sign in instead.
    AlreadySetUp,
    /// Expired or withdrawn before anyone used it.
    Expired,
    /// Not a setup link this server made.
    Unknown,
}

pub async fn setup_link(db: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<SetupLink> {
    let row = sqlx::query!(
        r#"select (select used_at is not null or exists (select 1 from users where is_admin and disabled_at is null))
                  as "set_up?",
                  (select revoked_at is not null or expires_at <= now()) as "expired?"
           from invites where token_hash = $1 and kind = 'setup'"#,
        token_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => SetupLink::Unknown,
        Some(r) if r.set_up == Some(true) => SetupLink::AlreadySetUp,
        Some(r) if r.expired == Some(true) => SetupLink::Expired,
        Some(_) => SetupLink::Valid,
    })
}

/// Creates the first admin with the setup token, in one transaction: the token
/// works once, and not at all once an admin exists.
pub async fn complete_setup(
    pool: &PgPool,
    token_hash: &str,
    username: &str,
    display_name: &str,
    password_hash: &str,
) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    sqlx::query!("select pg_advisory_xact_lock(7077)")
        .execute(&mut *tx)
        .await?;
    if !setup_token_valid(&mut *tx, token_hash).await? {
        return Ok(None);
    }
    let id = sqlx::query_scalar!(
        "insert into users (username, display_name, password_hash, is_admin) values ($1, $2, $3, true) returning id",
        username,
        display_name,
        password_hash
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "update invites set used_at = now(), used_by = $2 where token_hash = $1 and kind = 'setup'",
        token_hash,
        id
    )
    .execute(&mut *tx)
    .await?;
    record(&mut *tx, Some(id), "setup", username, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Creates an admin account directly (the `admin create` command).
pub async fn create_admin(pool: &PgPool, username: &str, password_hash: &str) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "insert into users (username, display_name, password_hash, is_admin) values ($1, $1, $2, true) returning id",
        username,
        password_hash
    )
    .fetch_one(&mut *tx)
    .await?;
    record(
        &mut *tx,
        None,
        "admin.create",
        username,
        serde_json::json!({ "via": "cli" }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
    /// Has two-factor sign-in on.
    pub two_factor: bool,
}

/// One page of users matching `search` (username, display name or email), and the total.
pub async fn users(db: &PgPool, search: &str, limit: i64, offset: i64) -> sqlx::Result<(Vec<UserRow>, i64)> {
    let pattern = super::contains_pattern(search);
    let rows = sqlx::query_as!(
        UserRow,
        r#"select id, username, display_name, email, is_admin, disabled_at is not null as "disabled!", created_at,
                  exists (select 1 from two_factor t where t.user_id = users.id) as "two_factor!"
           from users
           where username ilike $1 or display_name ilike $1 or coalesce(email, '') ilike $1
           order by username limit $2 offset $3"#,
        pattern,
        limit,
        offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "n!" from users
           where username ilike $1 or display_name ilike $1 or coalesce(email, '') ilike $1"#,
        pattern
    )
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// Why an admin change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastAdmin;

/// Grants or revokes admin, or disables or enables a user, refusing anything
/// that would leave no active admin. Recorded in the audit log.
pub async fn set_flags(
    pool: &PgPool,
    actor_id: i64,
    user_id: i64,
    is_admin: Option<bool>,
    disabled: Option<bool>,
) -> sqlx::Result<Option<Result<(), LastAdmin>>> {
    let mut tx = pool.begin().await?;
    // Serializes admin changes, so two admins cannot demote each other at once.
    sqlx::query!("select pg_advisory_xact_lock(7078)")
        .execute(&mut *tx)
        .await?;
    let Some(target) = sqlx::query!(
        r#"select username, is_admin, disabled_at is not null as "disabled!" from users where id = $1 for update"#,
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let will_be_admin = is_admin.unwrap_or(target.is_admin) && !disabled.unwrap_or(target.disabled);
    if target.is_admin && !target.disabled && !will_be_admin {
        let others = sqlx::query_scalar!(
            r#"select count(*) as "n!" from users where is_admin and disabled_at is null and id <> $1"#,
            user_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if others == 0 {
            return Ok(Some(Err(LastAdmin)));
        }
    }
    sqlx::query!(
        "update users set is_admin = coalesce($2, is_admin),
                          disabled_at = case when $3 = true then coalesce(disabled_at, now())
                                             when $3 = false then null else disabled_at end
         where id = $1",
        user_id,
        is_admin,
        disabled
    )
    .execute(&mut *tx)
    .await?;
    let action = match (is_admin, disabled) {
        (Some(true), _) => "user.make_admin",
        (Some(false), _) => "user.revoke_admin",
        (_, Some(true)) => "user.disable",
        _ => "user.enable",
    };
    record(
        &mut *tx,
        Some(actor_id),
        action,
        &target.username,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Ok(())))
}

pub async fn record(
    db: impl PgExecutor<'_>,
    actor_id: Option<i64>,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into audit_log (actor_id, action, target, details) values ($1, $2, $3, $4)",
        actor_id,
        action,
        target,
        details
    )
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
    pub at: OffsetDateTime,
}

/// Which audit entries to list: all of them, or narrowed by action, person and time.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A literal prefix of the action (`user.` or `content.applied`); empty for all.
    pub action: String,
    /// Only this person's entries (`Some(None)`: only the system's, which has no actor).
    pub actor: Option<Option<i64>>,
    /// From this instant, inclusive.
    pub since: Option<OffsetDateTime>,
    /// Before this instant.
    pub until: Option<OffsetDateTime>,
}

/// The latest entries that pass `filter`, newest first, `limit` of them after skipping `offset`.
pub async fn audit(
    db: impl PgExecutor<'_>,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    let (by_actor, actor) = match filter.actor {
        None => (false, None),
        Some(actor) => (true, actor),
    };
    sqlx::query_as!(
        AuditEntry,
        r#"select a.id, u.username as "actor?", a.action, a.target, a.details, a.at
           from audit_log a left join users u on u.id = a.actor_id
           where starts_with(a.action, $1)
             and (not $2 or ($3::bigint is null and a.actor_id is null) or a.actor_id = $3)
             and ($4::timestamptz is null or a.at >= $4)
             and ($5::timestamptz is null or a.at < $5)
           order by a.at desc, a.id desc limit $6 offset $7"#,
        filter.action,
        by_actor,
        actor,
        filter.since,
        filter.until,
        limit,
        offset
    )
    .fetch_all(db)
    .await
}

/// A registration invite as the admin list shows it.
#[derive(Debug, Clone)]
pub struct InviteRow {
    pub id: i64,
    pub created_by: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_by: Option<String>,
    pub used_at: Option<OffsetDateTime>,
    /// unused, used, expired or revoked.
    pub status: String,
    /// The team (name) and role the invite puts the new user in.
    pub team: Option<String>,
    pub team_role: Option<String>,
}

/// Makes a registration invite (valid `days`; with `team`, the new user joins that team
/// with that role: (id, slug, role)) and records it, in one transaction. Returns the invite's id.
pub async fn create_invite(
    pool: &PgPool,
    actor_id: i64,
    token_hash: &str,
    days: i32,
    team: Option<(i64, &str, &str)>,
) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    super::users::create_registration_invite(
        &mut *tx,
        token_hash,
        Some(actor_id),
        days,
        team.map(|(id, _, role)| (id, role)),
    )
    .await?;
    let id = sqlx::query_scalar!("select id from invites where token_hash = $1", token_hash)
        .fetch_one(&mut *tx)
        .await?;
    record(
        &mut *tx,
        Some(actor_id),
        "invite.create",
        &format!("invite #{id}"),
        serde_json::json!({
            "kind": "registration", "valid_days": days,
            "team": team.map(|(_, slug, _)| slug), "role": team.map(|(_, _, role)| role),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The latest registration invites, newest first.
pub async fn registration_invites(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<InviteRow>> {
    sqlx::query_as!(
        InviteRow,
        r#"select i.id, c.username as "created_by?", i.created_at, i.expires_at,
                  u.username as "used_by?", i.used_at,
                  case when i.used_at is not null then 'used'
                       when i.revoked_at is not null then 'revoked'
                       when i.expires_at <= now() then 'expired'
                       else 'unused' end as "status!",
                  t.name as "team?", i.team_role
           from invites i
           left join users c on c.id = i.created_by
           left join users u on u.id = i.used_by
           left join teams t on t.id = i.team_id
           where i.kind = 'registration'
           order by i.created_at desc, i.id desc limit $1"#,
        limit
    )
    .fetch_all(db)
    .await
}

/// An active mentor link as the admin list shows it.
#[derive(Debug, Clone)]
pub struct LinkRow {
    pub id: i64,
    pub mentor_username: String,
    pub mentor_name: String,
    pub mentee_username: String,
    pub mentee_name: String,
    pub all_roadmaps: bool,
    pub since: OffsetDateTime,
}

/// One page of active mentor links where either side matches `search`, and the total.
pub async fn active_links(
    db: &PgPool,
    search: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<LinkRow>, i64)> {
    let pattern = super::contains_pattern(search);
    let rows = sqlx::query_as!(
        LinkRow,
        r#"select m.id, o.username as mentor_username, o.display_name as mentor_name,
                  e.username as mentee_username, e.display_name as mentee_name, m.all_roadmaps,
                  coalesce(m.responded_at, m.created_at) as "since!"
           from mentorships m
           join users o on o.id = m.mentor_id
           join users e on e.id = m.mentee_id
           where m.status = 'active'
             and (o.username ilike $1 or o.display_name ilike $1 or e.username ilike $1 or e.display_name ilike $1)
           order by o.username, e.username, m.id limit $2 offset $3"#,
        pattern,
        limit,
        offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "n!"
           from mentorships m
           join users o on o.id = m.mentor_id
           join users e on e.id = m.mentee_id
           where m.status = 'active'
             and (o.username ilike $1 or o.display_name ilike $1 or e.username ilike $1 or e.display_name ilike $1)"#,
        pattern
    )
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// Both sides of a link an admin ended.
#[derive(Debug, Clone)]
pub struct EndedLink {
    pub mentor_id: i64,
    pub mentor_username: String,
    pub mentor_name: String,
    pub mentee_id: i64,
    pub mentee_username: String,
    pub mentee_name: String,
}

/// Ends an active link as an admin, the way either side ends it (the row stays
/// as history, access ends at once), and records it. `None` if it is not active.
pub async fn end_link(pool: &PgPool, actor_id: i64, id: i64) -> sqlx::Result<Option<EndedLink>> {
    let mut tx = pool.begin().await?;
    let Some(ended) = sqlx::query_as!(
        EndedLink,
        r#"with ended as (
               update mentorships set status = 'ended', ended_at = now(), ended_by = $1
               where id = $2 and status = 'active'
               returning mentor_id, mentee_id
           )
           select o.id as mentor_id, o.username as mentor_username, o.display_name as mentor_name,
                  e.id as mentee_id, e.username as mentee_username, e.display_name as mentee_name
           from ended join users o on o.id = ended.mentor_id join users e on e.id = ended.mentee_id"#,
        actor_id,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    record(
        &mut *tx,
        Some(actor_id),
        "mentorship.end",
        &format!("{} → {}", ended.mentor_username, ended.mentee_username),
        serde_json::json!({ "mentorship": id, "mentor": ended.mentor_username, "mentee": ended.mentee_username }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(ended))
}

/// The figures `/admin` opens with.
#[derive(Debug, Clone)]
pub struct Overview {
    pub users: i64,
    /// Learners with a change on a started roadmap in the last 7 days.
    pub active_this_week: i64,
    pub reviews_waiting: i64,
    /// The latest content load: (id, when, status).
    pub last_load: Option<(i64, OffsetDateTime, String)>,
}

/// [`Overview`] in one statement; every part is a count over a small table or an index.
pub async fn overview(db: impl PgExecutor<'_>) -> sqlx::Result<Overview> {
    let row = sqlx::query!(
        r#"select (select count(*) from users) as "users!",
                  (select count(distinct user_id) from enrollments
                   where last_activity_at >= now() - interval '7 days') as "active!",
                  (select count(*) from review_requests where status = 'pending') as "waiting!",
                  l.id as "load_id?", l.loaded_at as "loaded_at?", l.status as "load_status?"
           from (select 1) one
           left join lateral (select id, loaded_at, status from content_loads order by id desc limit 1) l on true"#
    )
    .fetch_one(db)
    .await?;
    Ok(Overview {
        users: row.users,
        active_this_week: row.active,
        reviews_waiting: row.waiting,
        last_load: match (row.load_id, row.loaded_at, row.load_status) {
            (Some(id), Some(at), Some(status)) => Some((id, at, status)),
            _ => None,
        },
    })
}
