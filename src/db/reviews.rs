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
    let closed = sqlx::query!(
        "update review_requests set status = $3, answered_by = $2, answered_at = now(), answer = $4
         where id = $1 and status = 'pending' returning mentee_id, skill_id",
        id,
        mentor_id,
        status,
        comment
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(closed) = closed else {
        tx.rollback().await?;
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
/// mentees on roadmaps their link covers, optionally of one mentee (by username).
/// Returns the page and the number waiting in all. One statement; each lookup is an
/// index probe per mentee or per request, so the cost follows the mentees and the page.
pub async fn queue(
    db: impl PgExecutor<'_>,
    mentor_id: i64,
    mentee: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<QueuedReview>, i64)> {
    let rows = sqlx::query!(
        r#"with links as (
               select m.mentee_id, m.all_roadmaps,
                      coalesce((select array_agg(r.roadmap_id) from mentorship_roadmaps r
                                where r.mentorship_id = m.id), '{}') as roadmaps
               from mentorships m
               where m.mentor_id = $1 and m.status = 'active'
                 and ($2::text is null or m.mentee_id = (select id from users where username = $2))
           ), waiting as (
               select q.id, q.mentee_id, q.skill_id, q.message, q.requested_at
               from links l
               cross join lateral (
                   select q.id, q.mentee_id, q.skill_id, q.message, q.requested_at
                   from review_requests q join skills s on s.id = q.skill_id
                   where q.mentee_id = l.mentee_id and q.status = 'pending'
                     and (l.all_roadmaps or s.roadmap_id = any(l.roadmaps))
               ) q
           ), page as (
               select w.*, count(*) over () as total from waiting w
               order by w.requested_at, w.id limit $3 offset $4
           )
           select p.id as "id!", p.mentee_id as "mentee_id!", u.username, u.display_name,
                  p.skill_id as "skill_id!", p.message as "message!", p.requested_at as "requested_at!",
                  p.total as "total!",
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
        QUEUE_HISTORY
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
            })
            .collect(),
        total,
    ))
}
