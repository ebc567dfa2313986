//! Queries over users, failed sign-ins and invites.

use sqlx::PgExecutor;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub is_admin: bool,
    pub session_epoch: i32,
    pub disabled: bool,
    /// Unread notifications, for the header (counted only when loading the signed-in user).
    pub unread: i64,
    /// Mentors someone (an active link, or an invitation waiting for an answer): the header
    /// shows Mentoring. Loaded, like `unread`, only with the signed-in user.
    #[serde(default)]
    pub is_mentor: bool,
    /// Their IANA time zone: every date they see is shown in it.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// In a team: the header shows Teams. Loaded, like `unread`, only with the signed-in user.
    #[serde(default)]
    pub in_team: bool,
    /// What their stage page and dashboard show was last changed at this stamp (read with
    /// the session; none when loaded otherwise): see `view_cache`.
    #[serde(default)]
    pub view_stamp: Option<super::learner_view::ViewStamp>,
}

fn default_time_zone() -> String {
    crate::time_zones::DEFAULT.to_string()
}

impl User {
    /// The zone this person's dates are shown in.
    pub fn zone(&self) -> crate::time_zones::Zone {
        crate::time_zones::Zone::named(&self.time_zone)
    }
}

/// [`User`] as the statements below read it: without a view stamp, which only the session has.
struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    email: Option<String>,
    is_admin: bool,
    session_epoch: i32,
    disabled: bool,
    unread: i64,
    is_mentor: bool,
    time_zone: String,
    in_team: bool,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            email: r.email,
            is_admin: r.is_admin,
            session_epoch: r.session_epoch,
            disabled: r.disabled,
            unread: r.unread,
            is_mentor: r.is_mentor,
            time_zone: r.time_zone,
            in_team: r.in_team,
            view_stamp: None,
        }
    }
}

pub async fn by_id(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        UserRow,
        r#"select id, username, display_name, email, is_admin, session_epoch,
                  disabled_at is not null as "disabled!",
                  (select count(*) from notifications n where n.recipient_id = users.id and n.read_at is null)
                      as "unread!",
                  (exists (select 1 from mentorships m where m.mentor_id = users.id
                                                         and m.status in ('active', 'invited'))
                   or exists (select 1 from team_members t where t.user_id = users.id and t.left_at is null
                                                            and t.role in ('mentor', 'lead'))) as "is_mentor!",
                  time_zone,
                  exists (select 1 from team_members t where t.user_id = users.id and t.left_at is null)
                      as "in_team!"
           from users where id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
    .map(|row| row.map(User::from))
}

/// The user and their password hash, for signing in.
pub async fn credentials(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<Option<(User, String)>> {
    let row = sqlx::query!(
        r#"select id, username, display_name, email, is_admin, session_epoch,
                  disabled_at is not null as "disabled!", password_hash, time_zone
           from users where username = $1"#,
        username
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        (
            User {
                id: r.id,
                username: r.username,
                display_name: r.display_name,
                email: r.email,
                is_admin: r.is_admin,
                session_epoch: r.session_epoch,
                disabled: r.disabled,
                unread: 0,
                is_mentor: false,
                time_zone: r.time_zone,
                in_team: false,
                view_stamp: None,
            },
            r.password_hash,
        )
    }))
}

pub async fn password_hash(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<String> {
    sqlx::query_scalar!("select password_hash from users where id = $1", id)
        .fetch_one(db)
        .await
}

pub async fn create(
    db: impl PgExecutor<'_>,
    username: &str,
    display_name: &str,
    email: Option<&str>,
    password_hash: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into users (username, display_name, email, password_hash) values ($1, $2, $3, $4) returning id",
        username,
        display_name,
        email,
        password_hash
    )
    .fetch_one(db)
    .await
}

/// Moves someone to another time zone. Their activity chart counts days where they live,
/// so it is recounted from their own events (never anyone else's).
pub async fn set_time_zone(db: &mut sqlx::PgConnection, id: i64, time_zone: &str) -> sqlx::Result<()> {
    let changed = sqlx::query!(
        "update users set time_zone = $2 where id = $1 and time_zone <> $2",
        id,
        time_zone
    )
    .execute(&mut *db)
    .await?
    .rows_affected();
    if changed > 0 {
        sqlx::query_scalar!(
            r#"select count(*) as "recounted!" from (select recount_learner_activity(array[$1::bigint])) r"#,
            id
        )
        .fetch_one(&mut *db)
        .await?;
    }
    Ok(())
}

pub async fn set_display_name(db: impl PgExecutor<'_>, id: i64, display_name: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set display_name = $2 where id = $1",
        id,
        display_name
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Stores a new password hash and bumps the session epoch, which signs out
/// every other session. Returns the new epoch.
pub async fn set_password(db: impl PgExecutor<'_>, id: i64, password_hash: &str) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        "update users set password_hash = $2, session_epoch = session_epoch + 1 where id = $1
         returning session_epoch",
        id,
        password_hash
    )
    .fetch_one(db)
    .await
}

/// Deletes the account; everything the user owns goes with it (cascades).
pub async fn delete(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query!("delete from users where id = $1", id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn create_registration_invite(
    db: impl PgExecutor<'_>,
    token_hash: &str,
    created_by: Option<i64>,
    valid_days: i32,
    team: Option<(i64, &str)>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into invites (token_hash, kind, created_by, expires_at, team_id, team_role)
         values ($1, 'registration', $2, now() + make_interval(days => $3), $4, $5)",
        token_hash,
        created_by,
        valid_days,
        team.map(|t| t.0),
        team.map(|t| t.1)
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What a used registration invite brings: the team and role it names, if any.
#[derive(Debug, Clone, Default)]
pub struct UsedInvite {
    pub team: Option<(i64, String)>,
}

/// Marks a valid registration invite used; None if it is unknown, used, revoked or expired.
pub async fn use_registration_invite(
    db: impl PgExecutor<'_>,
    token_hash: &str,
    user_id: i64,
) -> sqlx::Result<Option<UsedInvite>> {
    let row = sqlx::query!(
        "update invites set used_at = now(), used_by = $2
         where token_hash = $1 and kind = 'registration' and used_at is null and revoked_at is null
           and expires_at > now()
         returning team_id, team_role",
        token_hash,
        user_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| UsedInvite {
        team: r.team_id.zip(r.team_role),
    }))
}

pub async fn registration_invite_is_valid(db: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from invites
                          where token_hash = $1 and kind = 'registration' and used_at is null
                            and revoked_at is null and expires_at > now()) as "valid!""#,
        token_hash
    )
    .fetch_one(db)
    .await
}

pub async fn has_public_profile(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar!("select public_profile from users where id = $1", id)
        .fetch_one(db)
        .await
}

pub async fn by_username(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        UserRow,
        r#"select id, username, display_name, email, is_admin, session_epoch,
                  disabled_at is not null as "disabled!", 0::bigint as "unread!",
                  false as "is_mentor!", time_zone, false as "in_team!"
           from users where username = $1"#,
        username
    )
    .fetch_optional(db)
    .await
    .map(|row| row.map(User::from))
}
