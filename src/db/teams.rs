//! Teams: members and their roles, assigned roadmaps, join links, and the team's progress table.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Team {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// A role in a team, as stored.
pub const ROLES: [&str; 3] = ["learner", "mentor", "lead"];

/// The slug is taken by another team.
#[derive(Debug)]
pub struct SlugTaken;

pub async fn create(
    db: impl PgExecutor<'_>,
    slug: &str,
    name: &str,
    created_by: i64,
) -> sqlx::Result<Result<i64, SlugTaken>> {
    // `on conflict do nothing`, not a caught error: the transaction stays usable for the next try.
    let created = sqlx::query_scalar!(
        "insert into teams (slug, name, created_by) values ($1, $2, $3) on conflict (slug) do nothing returning id",
        slug,
        name,
        created_by
    )
    .fetch_optional(db)
    .await?;
    Ok(created.ok_or(SlugTaken))
}

pub async fn by_slug(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<Team>> {
    sqlx::query_as!(
        Team,
        "select id, slug, name, created_at from teams where slug = $1",
        slug
    )
    .fetch_optional(db)
    .await
}

/// `user_id`'s role in the team, while they are a member.
pub async fn role_of(db: impl PgExecutor<'_>, team_id: i64, user_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select role from team_members where team_id = $1 and user_id = $2 and left_at is null",
        team_id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Whether `user_id` is the team's only lead while others remain in it: they may then not
/// leave, be removed or stop being lead, or the team would have nobody to manage it. Locks
/// the team's row first, so two leads leaving at once cannot both pass.
pub async fn is_last_lead(db: &mut PgConnection, team_id: i64, user_id: i64) -> sqlx::Result<bool> {
    sqlx::query!("select id from teams where id = $1 for update", team_id)
        .fetch_optional(&mut *db)
        .await?;
    sqlx::query_scalar!(
        r#"select count(*) filter (where user_id = $2 and role = 'lead') = 1
                  and count(*) filter (where user_id <> $2 and role = 'lead') = 0
                  and count(*) filter (where user_id <> $2) > 0 as "last!"
           from team_members where team_id = $1 and left_at is null"#,
        team_id,
        user_id
    )
    .fetch_one(&mut *db)
    .await
}

/// A team in a list, with how many people are in it.
#[derive(Debug, Clone)]
pub struct TeamSummary {
    pub slug: String,
    pub name: String,
    pub members: i64,
    /// The viewer's role, if they are in it.
    pub role: Option<String>,
}

/// The teams `user_id` is in, or with `all`, every team (for admins), by name.
pub async fn list(db: impl PgExecutor<'_>, user_id: i64, all: bool) -> sqlx::Result<Vec<TeamSummary>> {
    sqlx::query_as!(
        TeamSummary,
        r#"select t.slug, t.name,
                  (select count(*) from team_members c where c.team_id = t.id and c.left_at is null) as "members!",
                  m.role as "role?"
           from teams t
           left join team_members m on m.team_id = t.id and m.user_id = $1 and m.left_at is null
           where $2 or m.user_id is not null
           order by lower(t.name), t.id"#,
        user_id,
        all
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub joined_at: OffsetDateTime,
}

/// The current members: leads, then mentors, then learners, each by name.
pub async fn members(db: impl PgExecutor<'_>, team_id: i64) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as!(
        Member,
        r#"select m.user_id, u.username, u.display_name, m.role, m.joined_at
           from team_members m join users u on u.id = m.user_id
           where m.team_id = $1 and m.left_at is null
           order by case m.role when 'lead' then 0 when 'mentor' then 1 else 2 end,
                    lower(u.display_name), u.id"#,
        team_id
    )
    .fetch_all(db)
    .await
}

/// Adds someone (or brings a former member back) with `role`; a current member keeps
/// their role unless `change_role`. Learners start the team's roadmaps. Returns whether
/// they were not a member before.
pub async fn add_member(
    db: &mut PgConnection,
    team_id: i64,
    user_id: i64,
    role: &str,
    change_role: bool,
) -> sqlx::Result<bool> {
    let before = role_of(&mut *db, team_id, user_id).await?;
    sqlx::query!(
        "insert into team_members (team_id, user_id, role) values ($1, $2, $3)
         on conflict (team_id, user_id) do update
         set role = case when team_members.left_at is null and not $4 then team_members.role else excluded.role end,
             joined_at = case when team_members.left_at is null then team_members.joined_at else now() end,
             left_at = null",
        team_id,
        user_id,
        role,
        change_role
    )
    .execute(&mut *db)
    .await?;
    enroll_learners(&mut *db, team_id, Some(user_id)).await?;
    Ok(before.is_none())
}

/// Starts the team's roadmaps for its learners (or one of them), as an assignment means.
async fn enroll_learners(db: &mut PgConnection, team_id: i64, only: Option<i64>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into enrollments (user_id, roadmap_id)
         select m.user_id, r.roadmap_id
         from team_members m join team_roadmaps r on r.team_id = m.team_id
         where m.team_id = $1 and m.left_at is null and m.role = 'learner'
           and ($2::bigint is null or m.user_id = $2)
         on conflict do nothing",
        team_id,
        only
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Ends someone's membership now (the row stays as history). False if they were not a member.
pub async fn remove_member(db: impl PgExecutor<'_>, team_id: i64, user_id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update team_members set left_at = now() where team_id = $1 and user_id = $2 and left_at is null",
        team_id,
        user_id
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// The roadmaps assigned to the team, in the order they were assigned.
pub async fn roadmaps(db: impl PgExecutor<'_>, team_id: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select roadmap_id from team_roadmaps where team_id = $1 order by assigned_at, roadmap_id",
        team_id
    )
    .fetch_all(db)
    .await
}

/// Assigns a roadmap (its learners start it). False if it already was.
pub async fn assign(db: &mut PgConnection, team_id: i64, roadmap_id: &str) -> sqlx::Result<bool> {
    let added = sqlx::query!(
        "insert into team_roadmaps (team_id, roadmap_id) values ($1, $2) on conflict do nothing",
        team_id,
        roadmap_id
    )
    .execute(&mut *db)
    .await?
    .rows_affected()
        == 1;
    if added {
        enroll_learners(db, team_id, None).await?;
    }
    Ok(added)
}

/// Takes a roadmap off the team; its learners keep their progress and their own enrollment.
pub async fn unassign(db: impl PgExecutor<'_>, team_id: i64, roadmap_id: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "delete from team_roadmaps where team_id = $1 and roadmap_id = $2",
        team_id,
        roadmap_id
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// One learner's counts on one stage of an assigned roadmap.
#[derive(Debug, Clone, Default)]
pub struct LearnerCounts {
    pub user_id: i64,
    pub roadmap_id: String,
    /// None for a learner with no counts on the roadmap yet.
    pub stage_id: Option<String>,
    pub done: i64,
    pub optional_done: i64,
    pub in_progress: i64,
    pub skipped: i64,
    pub verified: i64,
}

/// Every current learner's counts on every stage of every assigned roadmap, in one statement: the stage
/// tallies and their pending changes (migration 0026), so the cost follows the team's size,
/// not anyone's history.
pub async fn progress(db: impl PgExecutor<'_>, team_id: i64) -> sqlx::Result<Vec<LearnerCounts>> {
    sqlx::query_as!(
        LearnerCounts,
        r#"select m.user_id as "user_id!", r.roadmap_id as "roadmap_id!", t.stage_id as "stage_id?",
                  greatest(coalesce(sum(t.done), 0), 0)::bigint as "done!",
                  greatest(coalesce(sum(t.optional_done), 0), 0)::bigint as "optional_done!",
                  greatest(coalesce(sum(t.in_progress), 0), 0)::bigint as "in_progress!",
                  greatest(coalesce(sum(t.skipped), 0), 0)::bigint as "skipped!",
                  greatest(coalesce(sum(t.verified), 0), 0)::bigint as "verified!"
           from team_members m
           join team_roadmaps r on r.team_id = m.team_id
           left join lateral (
               select stage_id, done, optional_done, in_progress, skipped, verified
               from stage_tallies where user_id = m.user_id and roadmap_id = r.roadmap_id
               union all
               select stage_id, done, optional_done, in_progress, skipped, verified
               from stage_tally_changes where user_id = m.user_id and roadmap_id = r.roadmap_id
           ) t on true
           where m.team_id = $1 and m.left_at is null and m.role = 'learner'
           group by m.user_id, r.roadmap_id, t.stage_id"#,
        team_id
    )
    .fetch_all(db)
    .await
}

/// A join link as the team page lists it.
#[derive(Debug, Clone)]
pub struct Invite {
    pub id: i64,
    pub role: String,
    pub max_uses: Option<i32>,
    pub uses: i32,
    pub expires_at: OffsetDateTime,
    pub created_by: Option<String>,
    /// open, used up, expired or revoked.
    pub status: String,
}

pub async fn create_invite(
    db: impl PgExecutor<'_>,
    team_id: i64,
    token_hash: &str,
    role: &str,
    max_uses: Option<i32>,
    days: i32,
    created_by: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into team_invites (team_id, token_hash, role, max_uses, expires_at, created_by)
         values ($1, $2, $3, $4, now() + make_interval(days => $5), $6) returning id",
        team_id,
        token_hash,
        role,
        max_uses,
        days,
        created_by
    )
    .fetch_one(db)
    .await
}

/// The latest 50 links of the team.
pub async fn invites(db: impl PgExecutor<'_>, team_id: i64) -> sqlx::Result<Vec<Invite>> {
    sqlx::query_as!(
        Invite,
        r#"select i.id, i.role, i.max_uses, i.uses, i.expires_at, u.username as "created_by?",
                  case when i.revoked_at is not null then 'revoked'
                       when i.max_uses is not null and i.uses >= i.max_uses then 'used up'
                       when i.expires_at <= now() then 'expired'
                       else 'open' end as "status!"
           from team_invites i left join users u on u.id = i.created_by
           where i.team_id = $1
           order by i.created_at desc, i.id desc limit 50"#,
        team_id
    )
    .fetch_all(db)
    .await
}

pub async fn revoke_invite(db: impl PgExecutor<'_>, team_id: i64, id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update team_invites set revoked_at = now() where id = $1 and team_id = $2 and revoked_at is null",
        id,
        team_id
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// An open join link: (team, role it gives).
pub async fn open_invite(db: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<Option<(Team, String)>> {
    let row = sqlx::query!(
        r#"select t.id, t.slug, t.name, t.created_at, i.role
           from team_invites i join teams t on t.id = i.team_id
           where i.token_hash = $1 and i.revoked_at is null and i.expires_at > now()
             and (i.max_uses is null or i.uses < i.max_uses)"#,
        token_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        (
            Team {
                id: r.id,
                slug: r.slug,
                name: r.name,
                created_at: r.created_at,
            },
            r.role,
        )
    }))
}

/// Uses a join link for `user_id`: one use is counted only if they were not already in the
/// team, and only while the link is open (two people racing for a last use: one wins).
/// Returns the team, or None if the link is not open.
pub async fn join(db: &mut PgConnection, token_hash: &str, user_id: i64) -> sqlx::Result<Option<Team>> {
    let Some((team, role)) = open_invite(&mut *db, token_hash).await? else {
        return Ok(None);
    };
    if role_of(&mut *db, team.id, user_id).await?.is_some() {
        return Ok(Some(team));
    }
    let counted = sqlx::query!(
        "update team_invites set uses = uses + 1
         where token_hash = $1 and revoked_at is null and expires_at > now()
           and (max_uses is null or uses < max_uses)",
        token_hash
    )
    .execute(&mut *db)
    .await?
    .rows_affected()
        == 1;
    if !counted {
        return Ok(None);
    }
    add_member(db, team.id, user_id, &role, false).await?;
    Ok(Some(team))
}

/// Puts a user who just signed up with a registration invite naming a team into it, with
/// the invite's role, and records it as the team's other changes are (actor: the new user).
pub async fn join_on_sign_up(
    db: &mut PgConnection,
    team_id: i64,
    user_id: i64,
    role: &str,
    username: &str,
) -> sqlx::Result<()> {
    let Some(slug) = sqlx::query_scalar!("select slug from teams where id = $1", team_id)
        .fetch_optional(&mut *db)
        .await?
    else {
        return Ok(());
    };
    add_member(&mut *db, team_id, user_id, role, true).await?;
    super::admin::record(
        &mut *db,
        Some(user_id),
        "team.join",
        &format!("{slug}: {username}"),
        serde_json::json!({ "team": slug, "member": username, "role": role, "via": "registration invite" }),
    )
    .await
}
