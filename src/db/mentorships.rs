//! Mentor links: invitations (by username or by single-use link), acceptance, scope and ending.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

/// How long an invitation stays open.
pub const INVITE_DAYS: i32 = 7;

/// Which of the mentee's roadmaps a link covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Only(Vec<String>),
}

impl Scope {
    pub fn covers(&self, roadmap_id: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(ids) => ids.iter().any(|id| id == roadmap_id),
        }
    }

    /// Whether it covers any of `roadmap_ids`: a shared skill is in scope when any roadmap
    /// that lists it is.
    pub fn covers_any(&self, roadmap_ids: &[String]) -> bool {
        roadmap_ids.iter().any(|id| self.covers(id))
    }
}

/// One link as either side sees it.
#[derive(Debug, Clone)]
pub struct Mentorship {
    pub id: i64,
    pub mentee_id: i64,
    pub mentee_username: String,
    pub mentee_name: String,
    pub mentor_id: Option<i64>,
    pub mentor_username: Option<String>,
    pub mentor_name: Option<String>,
    pub status: String,
    pub is_link: bool,
    pub expired: bool,
    pub scope: Scope,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub responded_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    /// The agreed check-in cadence in days (7 or 14), and the latest check-in held.
    pub checkin_days: Option<i32>,
    pub last_checkin: Option<OffsetDateTime>,
}

impl Mentorship {
    /// An invitation still waiting for an answer.
    pub fn is_pending(&self) -> bool {
        self.status == "invited" && !self.expired
    }
}

/// Links where the user is the mentee, or the mentor: two queries whatever their number.
pub async fn for_user(db: &PgPool, user_id: i64) -> sqlx::Result<Vec<Mentorship>> {
    for_user_where(db, user_id, false).await
}

/// A link as [`for_user_where`] reads it, before its roadmaps are attached.
struct LinkRow {
    id: i64,
    mentee_id: i64,
    mentee_username: String,
    mentee_name: String,
    mentor_id: Option<i64>,
    mentor_username: Option<String>,
    mentor_name: Option<String>,
    status: String,
    is_link: bool,
    expired: bool,
    all_roadmaps: bool,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    responded_at: Option<OffsetDateTime>,
    ended_at: Option<OffsetDateTime>,
    checkin_days: Option<i32>,
    last_checkin: Option<OffsetDateTime>,
}

/// Links of the user, or only those still at the invitation stage. Two statement texts, not a
/// flag parameter: with `(not $2 or status = 'invited')` PostgreSQL re-planned the statement on
/// every mentor dashboard, which cost ten times its execution.
async fn for_user_where(db: &PgPool, user_id: i64, invited_only: bool) -> sqlx::Result<Vec<Mentorship>> {
    let rows = if invited_only {
        sqlx::query_as!(
            LinkRow,
            r#"select m.id, m.mentee_id, e.username as mentee_username, e.display_name as mentee_name,
                      m.mentor_id, o.username as "mentor_username?", o.display_name as "mentor_name?",
                      m.status, m.token_hash is not null as "is_link!",
                      (m.expires_at <= now()) as "expired!",
                      m.all_roadmaps, m.created_at, m.expires_at, m.responded_at, m.ended_at,
                      m.checkin_days,
                      (select max(c.at) from mentorship_checkins c where c.mentorship_id = m.id) as last_checkin
               from mentorships m
               join users e on e.id = m.mentee_id
               left join users o on o.id = m.mentor_id
               where m.mentor_id = $1 and m.status = 'invited'
               order by m.created_at desc, m.id desc"#,
            user_id
        )
        .fetch_all(db)
        .await?
    } else {
        sqlx::query_as!(
            LinkRow,
            r#"select m.id, m.mentee_id, e.username as mentee_username, e.display_name as mentee_name,
                      m.mentor_id, o.username as "mentor_username?", o.display_name as "mentor_name?",
                      m.status, m.token_hash is not null as "is_link!",
                      (m.status = 'invited' and m.expires_at <= now()) as "expired!",
                      m.all_roadmaps, m.created_at, m.expires_at, m.responded_at, m.ended_at,
                      m.checkin_days,
                      (select max(c.at) from mentorship_checkins c where c.mentorship_id = m.id) as last_checkin
               from mentorships m
               join users e on e.id = m.mentee_id
               left join users o on o.id = m.mentor_id
               where m.mentee_id = $1 or m.mentor_id = $1
               order by m.created_at desc, m.id desc"#,
            user_id
        )
        .fetch_all(db)
        .await?
    };
    // Only links limited to some roadmaps have rows to read.
    let ids: Vec<i64> = rows.iter().filter(|r| !r.all_roadmaps).map(|r| r.id).collect();
    let scoped = if ids.is_empty() {
        Vec::new()
    } else {
        sqlx::query!(
            "select mentorship_id, roadmap_id from mentorship_roadmaps where mentorship_id = any($1)
             order by roadmap_id",
            &ids
        )
        .fetch_all(db)
        .await?
    };
    Ok(rows
        .into_iter()
        .map(|r| Mentorship {
            scope: if r.all_roadmaps {
                Scope::All
            } else {
                Scope::Only(
                    scoped
                        .iter()
                        .filter(|s| s.mentorship_id == r.id)
                        .map(|s| s.roadmap_id.clone())
                        .collect(),
                )
            },
            id: r.id,
            mentee_id: r.mentee_id,
            mentee_username: r.mentee_username,
            mentee_name: r.mentee_name,
            mentor_id: r.mentor_id,
            mentor_username: r.mentor_username,
            mentor_name: r.mentor_name,
            status: r.status,
            is_link: r.is_link,
            expired: r.expired,
            created_at: r.created_at,
            expires_at: r.expires_at,
            responded_at: r.responded_at,
            ended_at: r.ended_at,
            checkin_days: r.checkin_days,
            last_checkin: r.last_checkin,
        })
        .collect())
}

/// An active link's check-ins, as both sides see them.
#[derive(Debug, Clone)]
pub struct CheckIns {
    pub mentorship_id: i64,
    pub mentee_username: String,
    pub mentee_id: i64,
    /// 7 or 14, once agreed.
    pub days: Option<i32>,
    pub last: Option<OffsetDateTime>,
    /// When the link became active: the first check-in is due a cadence after it.
    pub since: OffsetDateTime,
}

/// The check-ins of the active link `id`, if `user_id` is on either side of it.
pub async fn checkins(db: impl PgExecutor<'_>, id: i64, user_id: i64) -> sqlx::Result<Option<CheckIns>> {
    sqlx::query_as!(
        CheckIns,
        r#"select m.id as mentorship_id, e.username as mentee_username, m.mentee_id,
                  m.checkin_days as days,
                  (select max(c.at) from mentorship_checkins c where c.mentorship_id = m.id) as last,
                  coalesce(m.responded_at, m.created_at) as "since!"
           from mentorships m join users e on e.id = m.mentee_id
           where m.id = $1 and m.status = 'active' and (m.mentee_id = $2 or m.mentor_id = $2)"#,
        id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// The check-ins of the active link between a mentor and a mentee.
pub async fn checkins_between(
    db: impl PgExecutor<'_>,
    mentor_id: i64,
    mentee_id: i64,
) -> sqlx::Result<Option<CheckIns>> {
    sqlx::query_as!(
        CheckIns,
        r#"select m.id as mentorship_id, e.username as mentee_username, m.mentee_id,
                  m.checkin_days as days,
                  (select max(c.at) from mentorship_checkins c where c.mentorship_id = m.id) as last,
                  coalesce(m.responded_at, m.created_at) as "since!"
           from mentorships m join users e on e.id = m.mentee_id
           where m.mentor_id = $1 and m.mentee_id = $2 and m.status = 'active'"#,
        mentor_id,
        mentee_id
    )
    .fetch_optional(db)
    .await
}

/// Sets the cadence of an active link (the caller checked the user is on it).
pub async fn set_checkin_days(db: impl PgExecutor<'_>, id: i64, days: Option<i32>) -> sqlx::Result<()> {
    sqlx::query!(
        "update mentorships set checkin_days = $2 where id = $1 and status = 'active'",
        id,
        days
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The other side of link `id` from `user_id`.
pub async fn other_side(db: impl PgExecutor<'_>, id: i64, user_id: i64) -> sqlx::Result<Vec<i64>> {
    let row = sqlx::query!("select mentee_id, mentor_id from mentorships where id = $1", id)
        .fetch_one(db)
        .await?;
    Ok([Some(row.mentee_id), row.mentor_id]
        .into_iter()
        .flatten()
        .filter(|u| *u != user_id)
        .collect())
}

/// Records that a check-in happened now.
pub async fn record_checkin(db: impl PgExecutor<'_>, id: i64, recorded_by: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into mentorship_checkins (mentorship_id, recorded_by) values ($1, $2)",
        id,
        recorded_by
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What `mentor_id` may see and review of `mentee_id`'s work, if anything: the union of
/// their active mentor link and the teams where one is a mentor or lead and the other a
/// learner (on the team's roadmaps). One statement over the `mentor_reach` view.
pub async fn active_scope(db: &PgPool, mentor_id: i64, mentee_id: i64) -> sqlx::Result<Option<Scope>> {
    let row = sqlx::query!(
        r#"select count(*) as "links!", coalesce(bool_or(r.all_roadmaps), false) as "all_roadmaps!",
                  coalesce(array_agg(distinct x.roadmap_id) filter (where x.roadmap_id is not null), '{}')
                    as "roadmaps!: Vec<String>"
           from mentor_reach r
           left join lateral unnest(r.roadmaps) x (roadmap_id) on true
           where r.mentor_id = $1 and r.mentee_id = $2"#,
        mentor_id,
        mentee_id
    )
    .fetch_one(db)
    .await?;
    Ok(match row {
        r if r.links == 0 => None,
        r if r.all_roadmaps => Some(Scope::All),
        r => Some(Scope::Only(r.roadmaps)),
    })
}

/// Why an invitation could not be made or answered, in words for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub &'static str);

async fn insert_scope(
    db: impl PgExecutor<'_>,
    mentorship_id: i64,
    roadmap_ids: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into mentorship_roadmaps (mentorship_id, roadmap_id) select $1, unnest($2::text[])
         on conflict do nothing",
        mentorship_id,
        roadmap_ids
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Invites an existing user to mentor `mentee_id`.
pub async fn invite_user(
    pool: &PgPool,
    mentee_id: i64,
    mentor_id: i64,
    scope: &Scope,
) -> sqlx::Result<Result<i64, Refusal>> {
    if mentee_id == mentor_id {
        return Ok(Err(Refusal("You cannot be your own mentor.")));
    }
    let mut tx = pool.begin().await?;
    // Expired invitations no longer block a new one.
    sqlx::query!(
        "update mentorships set status = 'revoked', ended_at = now()
         where mentor_id = $1 and mentee_id = $2 and status = 'invited' and expires_at <= now()",
        mentor_id,
        mentee_id
    )
    .execute(&mut *tx)
    .await?;
    let inserted = sqlx::query_scalar!(
        "insert into mentorships (mentee_id, mentor_id, status, all_roadmaps, expires_at)
         values ($1, $2, 'invited', $3, now() + make_interval(days => $4))
         on conflict do nothing returning id",
        mentee_id,
        mentor_id,
        matches!(scope, Scope::All),
        INVITE_DAYS
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = inserted else {
        return Ok(Err(Refusal(
            "This person is already your mentor or already has your invitation.",
        )));
    };
    if let Scope::Only(ids) = scope {
        insert_scope(&mut *tx, id, ids).await?;
    }
    tx.commit().await?;
    Ok(Ok(id))
}

/// Creates a single-use invite link; the caller shows the token once.
pub async fn invite_link(
    pool: &PgPool,
    mentee_id: i64,
    token_hash: &str,
    scope: &Scope,
) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "insert into mentorships (mentee_id, status, all_roadmaps, token_hash, expires_at)
         values ($1, 'invited', $2, $3, now() + make_interval(days => $4)) returning id",
        mentee_id,
        matches!(scope, Scope::All),
        token_hash,
        INVITE_DAYS
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Scope::Only(ids) = scope {
        insert_scope(&mut *tx, id, ids).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The open invitation behind a link token: (id, mentee's display name, username).
pub async fn link_invite(db: &PgPool, token_hash: &str) -> sqlx::Result<Option<(i64, i64, String, String)>> {
    let row = sqlx::query!(
        "select m.id, m.mentee_id, u.display_name, u.username from mentorships m join users u on u.id = m.mentee_id
         where m.token_hash = $1 and m.status = 'invited' and m.mentor_id is null and m.expires_at > now()",
        token_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.id, r.mentee_id, r.display_name, r.username)))
}

/// Answers an invitation: by link (`token_hash`) or addressed to `mentor_id` (`id`).
pub async fn respond(
    pool: &PgPool,
    mentor_id: i64,
    id: Option<i64>,
    token_hash: Option<&str>,
    accept: bool,
) -> sqlx::Result<Result<(i64, i64), Refusal>> {
    let status = if accept { "active" } else { "declined" };
    let result = sqlx::query!(
        "update mentorships set mentor_id = $1, status = $4, responded_at = now()
         where status = 'invited' and expires_at > now() and mentee_id <> $1
           and ((id = $2 and mentor_id = $1) or (token_hash = $3 and mentor_id is null))
         returning id, mentee_id",
        mentor_id,
        id,
        token_hash,
        status
    )
    .fetch_optional(pool)
    .await;
    match result {
        Ok(Some(row)) => Ok(Ok((row.id, row.mentee_id))),
        Ok(None) => Ok(Err(Refusal(
            "This invitation is no longer open: it was used, withdrawn, answered or has expired.",
        ))),
        Err(sqlx::Error::Database(error)) if error.constraint() == Some("mentorships_one_open_per_pair") => {
            Ok(Err(Refusal("You already mentor this person.")))
        }
        Err(sqlx::Error::Database(error)) if error.constraint() == Some("mentorships_check") => {
            Ok(Err(Refusal("You cannot be your own mentor.")))
        }
        Err(error) => Err(error),
    }
}

/// Withdraws one of the mentee's pending invitations.
pub async fn revoke(db: impl PgExecutor<'_>, mentee_id: i64, id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update mentorships set status = 'revoked', ended_at = now(), ended_by = $1
         where id = $2 and mentee_id = $1 and status = 'invited'",
        mentee_id,
        id
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Ends an active link; either side may. Access ends at once; the row stays as
/// history. Returns the other person's id.
pub async fn end(db: impl PgExecutor<'_>, user_id: i64, id: i64) -> sqlx::Result<Option<i64>> {
    let row = sqlx::query!(
        "update mentorships set status = 'ended', ended_at = now(), ended_by = $1
         where id = $2 and status = 'active' and (mentee_id = $1 or mentor_id = $1)
         returning mentee_id, mentor_id",
        user_id,
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        if r.mentee_id == user_id {
            r.mentor_id.unwrap_or(0)
        } else {
            r.mentee_id
        }
    }))
}

/// The learner's active mentors, and their teams' mentors and leads, who can see any of
/// `roadmap_ids` (the roadmaps that list a skill).
pub async fn mentors_for(db: &PgPool, mentee_id: i64, roadmap_ids: &[String]) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"select distinct r.mentor_id as "mentor_id!" from mentor_reach r
           where r.mentee_id = $1 and (r.all_roadmaps or r.roadmaps && $2::text[])"#,
        mentee_id,
        roadmap_ids
    )
    .fetch_all(db)
    .await
}

/// Links two users directly (the CLI's `mentor link`, for admins).
pub async fn link(pool: &PgPool, mentor_id: i64, mentee_id: i64) -> sqlx::Result<Result<i64, Refusal>> {
    match invite_user(pool, mentee_id, mentor_id, &Scope::All).await? {
        Ok(id) => Ok(respond(pool, mentor_id, Some(id), None, true)
            .await?
            .map(|(id, _)| id)),
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// Whether the learner has an active mentor who can see any of `roadmap_ids`.
pub async fn has_mentor_for(db: &PgPool, mentee_id: i64, roadmap_ids: &[String]) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (
               select 1 from mentor_reach r
               where r.mentee_id = $1 and (r.all_roadmaps or r.roadmaps && $2::text[])
           ) as "exists!""#,
        mentee_id,
        roadmap_ids
    )
    .fetch_one(db)
    .await
}

/// Records that the mentor just looked at the mentee.
pub async fn record_visit(db: impl PgExecutor<'_>, mentor_id: i64, mentee_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into mentor_visits (mentor_id, mentee_id) values ($1, $2)
         on conflict (mentor_id, mentee_id) do update set seen_at = now()",
        mentor_id,
        mentee_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// "New since your last visit" counts stop here; the page shows "99+".
pub const NEW_SINCE_VISIT_CAP: i64 = 100;

/// What a mentor's dashboard and matrix read of their mentees has changed when this moves:
/// how many active mentees they have, and the sum of those mentees' view versions
/// (migration 0044), which only grow. The set itself changes only with a link, which moves
/// the mentor's own version.
pub async fn mentees_stamp(db: impl PgExecutor<'_>, mentor_id: i64) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"select (select count(*) from mentorships m where m.mentor_id = $1 and m.status = 'active') as "mentees!",
                  (select coalesce(sum(v.version), 0) from mentorships m
                   join view_versions v on v.user_id = m.mentee_id
                   where m.mentor_id = $1 and m.status = 'active')::bigint as "versions!""#,
        mentor_id
    )
    .fetch_one(db)
    .await?;
    Ok((row.mentees, row.versions))
}

/// One active mentee on a mentor's page, with what decides their place in the list.
#[derive(Debug, Clone)]
pub struct MenteeSummary {
    pub link_id: i64,
    pub mentee_id: i64,
    pub username: String,
    pub display_name: String,
    pub scope: Scope,
    /// Pending review requests on roadmaps the link covers, and the oldest one's time.
    pub reviews_waiting: i64,
    pub oldest_review: Option<OffsetDateTime>,
    /// The latest change on a started roadmap the link covers.
    pub last_activity: Option<OffsetDateTime>,
    /// Changes since the mentor last opened this mentee, up to [`NEW_SINCE_VISIT_CAP`].
    pub new_since_visit: i64,
}

/// One page of a mentor's active mentees, attention first: the longest-waiting
/// review, then mentees quiet since `stalled_before`, then by name. Returns the
/// page, the number of mentees in all, and the reviews waiting over all of them. One statement; every lookup in it is
/// an index probe per mentee, so the cost follows the number of mentees, not
/// the length of their history.
pub async fn mentee_overview(
    db: impl PgExecutor<'_>,
    mentor_id: i64,
    stalled_before: OffsetDateTime,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<MenteeSummary>, i64, i64)> {
    let rows = sqlx::query!(
        r#"with links as (
               select m.id, m.mentee_id, m.all_roadmaps,
                      coalesce((select array_agg(r.roadmap_id order by r.roadmap_id) from mentorship_roadmaps r
                                where r.mentorship_id = m.id), '{}') as roadmaps
               from mentorships m where m.mentor_id = $1 and m.status = 'active'
           ), summary as (
               select l.id as link_id, l.mentee_id, u.username, u.display_name, l.all_roadmaps, l.roadmaps,
                      w.waiting, w.oldest, a.at as last_at,
                      coalesce(a.at >= $2, false) as active
               from links l
               -- A probe per mentee, never a scan of every user (`offset 0` keeps it a probe).
               cross join lateral (
                   select username, display_name from users where id = l.mentee_id offset 0
               ) u
               cross join lateral (
                   select count(*) as waiting, min(q.requested_at) as oldest
                   from review_requests q join skills s on s.id = q.skill_id
                   where q.mentee_id = l.mentee_id and q.status = 'pending'
                     and (l.all_roadmaps or s.roadmap_id = any(l.roadmaps)
                          or exists (select 1 from skill_placements sp
                                     where sp.skill_id = s.id and sp.roadmap_id = any(l.roadmaps)))
               ) w
               -- Last activity on the roadmaps in scope, kept per enrollment by a trigger
               -- (migration 0022) with the changes not yet folded in (0026): a probe of a
               -- few rows, however long the history.
               cross join lateral (
                   select max(greatest(en.last_activity_at,
                                       (select max(c.at) from enrollment_activity_changes c
                                        where c.user_id = en.user_id and c.roadmap_id = en.roadmap_id))) as at
                   from enrollments en
                   where en.user_id = l.mentee_id and (l.all_roadmaps or en.roadmap_id = any(l.roadmaps))
               ) a
           ), page as (
               select summary.*, count(*) over () as total, sum(waiting) over () as all_waiting from summary
               order by waiting = 0, oldest, active, lower(display_name), mentee_id
               limit $3 offset $4
           )
           -- Changes since the last visit are only shown, never sorted on: counted for this page only.
           select p.link_id as "link_id!", p.mentee_id as "mentee_id!", p.username as "username!",
                  p.display_name as "display_name!", p.all_roadmaps as "all_roadmaps!", p.roadmaps as "roadmaps!",
                  p.waiting as "waiting!", p.oldest as "oldest?", p.last_at as "last_at?", n.fresh as "fresh!",
                  p.total as "total!", p.all_waiting::bigint as "all_waiting!"
           from page p
           cross join lateral (
               select count(*) as fresh from (
                   select 1 from progress_events e
                   where e.user_id = p.mentee_id
                     and e.at > coalesce((select v.seen_at from mentor_visits v
                                          where v.mentor_id = $1 and v.mentee_id = p.mentee_id),
                                         '-infinity'::timestamptz)
                   order by e.at desc limit $5
               ) recent
           ) n
           order by p.waiting = 0, p.oldest, p.active, lower(p.display_name), p.mentee_id"#,
        mentor_id,
        stalled_before,
        limit,
        offset,
        NEW_SINCE_VISIT_CAP
    )
    .fetch_all(db)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let all_waiting = rows.first().map_or(0, |r| r.all_waiting);
    let mentees = rows
        .into_iter()
        .map(|r| MenteeSummary {
            link_id: r.link_id,
            mentee_id: r.mentee_id,
            username: r.username,
            display_name: r.display_name,
            scope: if r.all_roadmaps {
                Scope::All
            } else {
                Scope::Only(r.roadmaps)
            },
            reviews_waiting: r.waiting,
            oldest_review: r.oldest,
            last_activity: r.last_at,
            new_since_visit: r.fresh,
        })
        .collect();
    Ok((mentees, total, all_waiting))
}

/// One page of the mentor's active mentees whose link covers `roadmap_id`, by
/// name: (id, username, display name), and how many there are in all.
pub async fn mentees_on_roadmap(
    db: impl PgExecutor<'_>,
    mentor_id: i64,
    roadmap_id: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<(i64, String, String)>, i64)> {
    let rows = sqlx::query!(
        r#"select u.id, u.username, u.display_name, count(*) over () as "total!"
           from mentorships m join users u on u.id = m.mentee_id
           where m.mentor_id = $1 and m.status = 'active'
             and (m.all_roadmaps or exists (select 1 from mentorship_roadmaps r
                                            where r.mentorship_id = m.id and r.roadmap_id = $2))
           order by lower(u.display_name), u.id
           limit $3 offset $4"#,
        mentor_id,
        roadmap_id,
        limit,
        offset
    )
    .fetch_all(db)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((
        rows.into_iter()
            .map(|r| (r.id, r.username, r.display_name))
            .collect(),
        total,
    ))
}

/// Invitations waiting for this mentor's answer.
pub async fn invitations_for(db: &PgPool, mentor_id: i64) -> sqlx::Result<Vec<Mentorship>> {
    let mut links = for_user_where(db, mentor_id, true).await?;
    links.retain(|m| m.mentor_id == Some(mentor_id) && m.is_pending());
    Ok(links)
}

/// How many active mentees `mentor_id` has, on `roadmap_id` if given: for sending
/// a request for a page past the end to the last page.
pub async fn active_mentee_count(
    db: impl PgExecutor<'_>,
    mentor_id: i64,
    roadmap_id: Option<&str>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from mentorships m
           where m.mentor_id = $1 and m.status = 'active'
             and ($2::text is null or m.all_roadmaps
                  or exists (select 1 from mentorship_roadmaps r
                             where r.mentorship_id = m.id and r.roadmap_id = $2))"#,
        mentor_id,
        roadmap_id
    )
    .fetch_one(db)
    .await
}
