//! Review requests: a learner asks for a skill to be checked; the first mentor's verdict closes it.

use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

use super::mentorships::Refusal;
use super::progress::{Dates, lock_rows, next_action, write_change};
use crate::progress::SkillState;

#[derive(Debug, Clone)]
pub struct Review {
    pub id: i64,
    pub mentee_id: i64,
    pub skill_id: String,
    pub message: String,
    pub status: String,
    pub requested_at: OffsetDateTime,
    pub answered_by: Option<String>,
    pub answered_at: Option<OffsetDateTime>,
    pub answer: Option<String>,
}

/// Asks for a review of a skill the learner marked done.
pub async fn request(
    pool: &PgPool,
    mentee_id: i64,
    skill_id: &str,
    message: &str,
) -> sqlx::Result<Result<i64, Refusal>> {
    let mut tx = pool.begin().await?;
    let current = lock_rows(&mut tx, mentee_id, &[skill_id.to_string()]).await?;
    if current.get(skill_id).map(|(state, _)| *state) != Some(SkillState::Done) {
        return Ok(Err(Refusal("Mark the skill done before asking for a review.")));
    }
    let Some(id) = sqlx::query_scalar!(
        "insert into review_requests (mentee_id, skill_id, message, status) values ($1, $2, $3, 'pending')
         on conflict do nothing returning id",
        mentee_id,
        skill_id,
        message
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(Err(Refusal("A review of this skill is already waiting.")));
    };
    let action = next_action(&mut tx).await?;
    sqlx::query!(
        "insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state, message)
         values ($1, $2, $3, $2, 'review_requested', 'done', 'done', $4)",
        action,
        mentee_id,
        skill_id,
        message
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// A learner's review requests on `skill_ids`, newest first: one query.
pub async fn for_skills(
    db: impl PgExecutor<'_>,
    mentee_id: i64,
    skill_ids: &[String],
) -> sqlx::Result<Vec<Review>> {
    sqlx::query_as!(
        Review,
        r#"select r.id, r.mentee_id, r.skill_id, r.message, r.status, r.requested_at,
                  u.display_name as "answered_by?", r.answered_at, r.answer
           from review_requests r left join users u on u.id = r.answered_by
           where r.mentee_id = $1 and r.skill_id = any($2)
           order by r.requested_at desc, r.id desc"#,
        mentee_id,
        skill_ids
    )
    .fetch_all(db)
    .await
}

/// A learner's pending requests, oldest first.
pub async fn pending_for_mentee(db: impl PgExecutor<'_>, mentee_id: i64) -> sqlx::Result<Vec<Review>> {
    sqlx::query_as!(
        Review,
        r#"select r.id, r.mentee_id, r.skill_id, r.message, r.status, r.requested_at,
                  null::text as "answered_by?", r.answered_at, r.answer
           from review_requests r where r.mentee_id = $1 and r.status = 'pending' order by r.requested_at"#,
        mentee_id
    )
    .fetch_all(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Review>> {
    sqlx::query_as!(
        Review,
        r#"select r.id, r.mentee_id, r.skill_id, r.message, r.status, r.requested_at,
                  u.display_name as "answered_by?", r.answered_at, r.answer
           from review_requests r left join users u on u.id = r.answered_by where r.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// A mentor's verdict. The caller checks the mentor may review this learner's
/// roadmap; this closes the request only if it is still pending, so the first
/// verdict wins and a second one is told who answered.
pub async fn answer(
    pool: &PgPool,
    mentor_id: i64,
    id: i64,
    verify: bool,
    comment: &str,
) -> sqlx::Result<Result<Review, String>> {
    let mut tx = pool.begin().await?;
    let status = if verify { "verified" } else { "changes_requested" };
    // Someone else's running claim holds the request; one's own, or an expired one, does not.
    let closed = sqlx::query!(
        "update review_requests set status = $3, answered_by = $2, answered_at = now(), answer = $4,
                claimed_by = null, claimed_until = null
         where id = $1 and status = 'pending'
           and (claimed_by is null or claimed_by = $2 or claimed_until <= now())
         returning mentee_id, skill_id",
        id,
        mentor_id,
        status,
        comment
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(closed) = closed else {
        tx.rollback().await?;
        if let Some((name, until)) = claimed_by_other(pool, id, mentor_id).await? {
            return Ok(Err(format!(
                "{name} is reviewing this request (claimed until {}); answer it after the claim ends, or leave it to them.",
                crate::pages::format_datetime(until)
            )));
        }
        let review = by_id(pool, id).await?;
        return Ok(Err(match review {
            Some(Review {
                answered_by: Some(name),
                status,
                ..
            }) if status != "withdrawn" => format!("{name} already answered this request."),
            _ => "This request is no longer open: the learner changed the skill since.".to_string(),
        }));
    };
    let action = next_action(&mut tx).await?;
    if verify {
        sqlx::query!(
            "update skill_progress set verified_by = $3, verified_at = now() where user_id = $1 and skill_id = $2",
            closed.mentee_id,
            closed.skill_id,
            mentor_id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "insert into progress_events (action_id, user_id, skill_id, actor_id, kind, from_state, to_state, message)
             values ($1, $2, $3, $4, 'verify', 'done', 'done', $5)",
            action,
            closed.mentee_id,
            closed.skill_id,
            mentor_id,
            comment
        )
        .execute(&mut *tx)
        .await?;
    } else {
        lock_rows(&mut tx, closed.mentee_id, std::slice::from_ref(&closed.skill_id)).await?;
        write_change(
            &mut tx,
            action,
            closed.mentee_id,
            mentor_id,
            &closed.skill_id,
            SkillState::Done,
            SkillState::InProgress,
            "changes_requested",
            None,
            Dates::Keep,
            Some(comment),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(by_id(pool, id).await?.expect("the request was just answered")))
}

/// How long a claim holds a request for the mentor who took it.
pub const CLAIM_MINUTES: i64 = 30;

/// The claim someone other than `mentor_id` holds on a pending request: (their name, until).
async fn claimed_by_other(
    db: impl PgExecutor<'_>,
    id: i64,
    mentor_id: i64,
) -> sqlx::Result<Option<(String, OffsetDateTime)>> {
    let row = sqlx::query!(
        r#"select u.display_name, r.claimed_until as "claimed_until!"
           from review_requests r join users u on u.id = r.claimed_by
           where r.id = $1 and r.status = 'pending' and r.claimed_by <> $2 and r.claimed_until > now()"#,
        id,
        mentor_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.display_name, r.claimed_until)))
}

/// Claims a pending request for `mentor_id` for [`CLAIM_MINUTES`] (again, if it is theirs).
/// Two mentors racing: the row lock lets one win; the other is told who has it.
pub async fn claim(db: &PgPool, mentor_id: i64, id: i64) -> sqlx::Result<Result<OffsetDateTime, String>> {
    let claimed = sqlx::query_scalar!(
        r#"update review_requests
           set claimed_by = $2, claimed_until = now() + make_interval(mins => $3::int)
           where id = $1 and status = 'pending'
             and (claimed_by is null or claimed_by = $2 or claimed_until <= now())
           returning claimed_until as "until!""#,
        id,
        mentor_id,
        CLAIM_MINUTES as i32
    )
    .fetch_optional(db)
    .await?;
    if let Some(until) = claimed {
        return Ok(Ok(until));
    }
    Ok(Err(match claimed_by_other(db, id, mentor_id).await? {
        Some((name, until)) => format!(
            "{name} claimed this request first, until {}.",
            crate::pages::format_datetime(until)
        ),
        None => "This request is no longer waiting for a review.".to_string(),
    }))
}

/// Gives up `mentor_id`'s claim on a request; false when they held none.
pub async fn release(db: impl PgExecutor<'_>, mentor_id: i64, id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update review_requests set claimed_by = null, claimed_until = null
         where id = $1 and claimed_by = $2 and status = 'pending'",
        id,
        mentor_id
    )
    .execute(db)
    .await?
    .rows_affected()
        > 0)
}

/// A request waiting in a mentee's list: (id, skill id, message, requested at).
pub type Waiting = (i64, String, String, OffsetDateTime);

/// The first `limit` of `mentee_id`'s pending requests on roadmaps `scope` covers (a shared
/// skill counts when any roadmap listing it is covered), oldest first, and how many there are.
/// Only what the mentee page lists: no notes, evidence or history, unlike [`queue`].
pub async fn waiting_from(
    db: impl PgExecutor<'_>,
    mentee_id: i64,
    scope: &crate::db::mentorships::Scope,
    limit: i64,
) -> sqlx::Result<(Vec<Waiting>, i64)> {
    let (all, roadmaps) = match scope {
        crate::db::mentorships::Scope::All => (true, Vec::new()),
        crate::db::mentorships::Scope::Only(ids) => (false, ids.clone()),
    };
    let rows = sqlx::query!(
        r#"select q.id, q.skill_id, q.message, q.requested_at, count(*) over () as "total!"
           from review_requests q join skills s on s.id = q.skill_id
           where q.mentee_id = $1 and q.status = 'pending'
             and ($2 or s.roadmap_id = any($3)
                  or exists (select 1 from skill_placements sp
                             where sp.skill_id = s.id and sp.roadmap_id = any($3)))
           order by q.requested_at, q.id
           limit $4"#,
        mentee_id,
        all,
        &roadmaps,
        limit
    )
    .fetch_all(db)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((
        rows.into_iter()
            .map(|r| (r.id, r.skill_id, r.message, r.requested_at))
            .collect(),
        total,
    ))
}

/// A waiting review request in a mentor's queue, with what judging it needs.
#[derive(Debug, Clone)]
pub struct QueuedReview {
    pub id: i64,
    pub mentee_id: i64,
    pub username: String,
    pub display_name: String,
    pub skill_id: String,
    pub message: String,
    pub requested_at: OffsetDateTime,
    /// The learner's note, only when shared with mentors.
    pub shared_note: Option<String>,
    /// Evidence links: (title, url).
    pub evidence: Vec<(String, String)>,
    /// The skill's latest events for this learner, newest first.
    pub history: Vec<QueuedEvent>,
    /// The roadmaps the mentor's link covers: a shared skill is shown in one of them.
    pub scope: crate::db::mentorships::Scope,
    /// A mentor working on it: (user id, display name, until when). Expired claims are None.
    pub claim: Option<(i64, String, OffsetDateTime)>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct QueuedEvent {
    pub kind: String,
    pub from_state: String,
    pub to_state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: Option<String>,
    pub message: Option<String>,
    /// A later undo reverted it.
    pub undone: bool,
}

/// Events of a skill shown beside a queued request.
pub const QUEUE_HISTORY: i64 = 10;

/// One page of the requests waiting for `mentor_id`, oldest first: those of active
/// mentees on roadmaps their link covers, and of learners of teams where the mentor is a
/// mentor or lead on the team's roadmaps (`mentor_reach`); optionally of one mentee (by
/// username) or of one team's learners.
/// Returns the page and the number waiting in all. One statement; each lookup is an
/// index probe per mentee or per request, so the cost follows the mentees and the page.
pub async fn queue(
    db: impl PgExecutor<'_>,
    mentor_id: i64,
    mentee: Option<&str>,
    team_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<QueuedReview>, i64)> {
    let rows = sqlx::query!(
        r#"with reach as (
               select r.mentee_id, r.all_roadmaps, r.roadmaps from mentor_reach r
               where r.mentor_id = $1
                 and ($2::text is null or r.mentee_id = (select id from users where username = $2))
                 and ($6::bigint is null or r.team_id = $6)
           ), links as (
               -- A learner reached by a link and by a team (or two teams) is listed once.
               select r.mentee_id, bool_or(r.all_roadmaps) as all_roadmaps,
                      coalesce(array_agg(distinct x.roadmap_id) filter (where x.roadmap_id is not null), '{}')
                        as roadmaps
               from reach r left join lateral unnest(r.roadmaps) x (roadmap_id) on true
               group by r.mentee_id
           ), waiting as (
               select q.id, q.mentee_id, q.skill_id, q.message, q.requested_at, q.claimed_by, q.claimed_until,
                      l.all_roadmaps, l.roadmaps
               from links l
               cross join lateral (
                   select q.id, q.mentee_id, q.skill_id, q.message, q.requested_at, q.claimed_by, q.claimed_until
                   from review_requests q join skills s on s.id = q.skill_id
                   where q.mentee_id = l.mentee_id and q.status = 'pending'
                     and (l.all_roadmaps or s.roadmap_id = any(l.roadmaps)
                          or exists (select 1 from skill_placements sp
                                     where sp.skill_id = s.id and sp.roadmap_id = any(l.roadmaps)))
               ) q
           ), page as (
               select w.*, count(*) over () as total from waiting w
               order by w.requested_at, w.id limit $3 offset $4
           )
           select p.id as "id!", p.mentee_id as "mentee_id!", u.username, u.display_name,
                  p.skill_id as "skill_id!", p.message as "message!", p.requested_at as "requested_at!",
                  p.total as "total!", p.all_roadmaps as "all_roadmaps!", p.roadmaps as "roadmaps!: Vec<String>",
                  case when p.claimed_until > now() then p.claimed_by end as claimed_by,
                  case when p.claimed_until > now() then p.claimed_until end as claimed_until,
                  (select c.display_name from users c where c.id = p.claimed_by and p.claimed_until > now())
                    as claimed_by_name,
                  (select n.body_md from notes n
                   where n.user_id = p.mentee_id and n.skill_id = p.skill_id and n.shared_with_mentors) as shared_note,
                  (select coalesce(json_agg(json_build_array(e.title, e.url) order by e.created_at, e.id), '[]')
                   from evidence e where e.user_id = p.mentee_id and e.skill_id = p.skill_id)
                    as "evidence!: Json<Vec<(String, String)>>",
                  (select coalesce(json_agg(json_build_object(
                              'kind', h.kind, 'from_state', h.from_state, 'to_state', h.to_state,
                              'at', h.at, 'actor', h.actor, 'message', h.message, 'undone', h.undone)
                              order by h.at desc, h.id desc), '[]')
                   from (select e.id, e.kind, e.from_state, e.to_state, e.at, e.message,
                                (select a.display_name from users a where a.id = e.actor_id) as actor,
                                exists (select 1 from progress_events u
                                        where u.user_id = e.user_id and u.undoes = e.action_id) as undone
                         from progress_events e
                         where e.user_id = p.mentee_id and e.skill_id = p.skill_id
                         order by e.at desc, e.id desc limit $5) h)
                    as "history!: Json<Vec<QueuedEvent>>"
           from page p join users u on u.id = p.mentee_id
           order by p.requested_at, p.id"#,
        mentor_id,
        mentee,
        limit,
        offset,
        QUEUE_HISTORY,
        team_id
    )
    .fetch_all(db)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((
        rows.into_iter()
            .map(|r| QueuedReview {
                id: r.id,
                mentee_id: r.mentee_id,
                username: r.username,
                display_name: r.display_name,
                skill_id: r.skill_id,
                message: r.message,
                requested_at: r.requested_at,
                shared_note: r.shared_note,
                evidence: r.evidence.0,
                history: r.history.0,
                claim: match (r.claimed_by, r.claimed_by_name, r.claimed_until) {
                    (Some(id), Some(name), Some(until)) => Some((id, name, until)),
                    _ => None,
                },
                scope: if r.all_roadmaps {
                    crate::db::mentorships::Scope::All
                } else {
                    crate::db::mentorships::Scope::Only(r.roadmaps)
                },
            })
            .collect(),
        total,
    ))
}
