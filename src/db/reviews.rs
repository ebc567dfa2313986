//! Review requests: a learner asks for a skill to be checked; the first mentor's verdict closes it.

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
