//! Comment threads between a learner and their mentors, one per skill.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

/// Authors may edit a comment for this long after posting it.
pub const EDIT_MINUTES: i64 = 15;

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: i64,
    pub skill_id: String,
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub body_md: String,
    pub review_request_id: Option<i64>,
    pub evidence_title: Option<String>,
    pub created_at: OffsetDateTime,
    pub edited_at: Option<OffsetDateTime>,
    pub deleted: bool,
}

/// The threads of `mentee_id` on `skill_ids`, oldest first: one query.
pub async fn threads(
    db: impl PgExecutor<'_>,
    mentee_id: i64,
    skill_ids: &[String],
) -> sqlx::Result<Vec<Comment>> {
    sqlx::query_as!(
        Comment,
        r#"select c.id, c.skill_id, c.author_id, u.display_name as "author_name?", c.body_md,
                  c.review_request_id, e.title as "evidence_title?", c.created_at, c.edited_at,
                  c.deleted_at is not null as "deleted!"
           from comments c
           left join users u on u.id = c.author_id
           left join evidence e on e.id = c.evidence_id
           where c.mentee_id = $1 and c.skill_id = any($2)
           order by c.created_at, c.id"#,
        mentee_id,
        skill_ids
    )
    .fetch_all(db)
    .await
}

/// Adds a comment; references are kept only if they belong to this thread.
pub async fn add(
    db: &PgPool,
    mentee_id: i64,
    skill_id: &str,
    author_id: i64,
    body_md: &str,
    review_request_id: Option<i64>,
    evidence_id: Option<i64>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into comments (mentee_id, skill_id, author_id, body_md, review_request_id, evidence_id)
         values ($1, $2, $3, $4,
                 (select id from review_requests where id = $5 and mentee_id = $1 and skill_id = $2),
                 (select id from evidence where id = $6 and user_id = $1 and skill_id = $2))
         returning id",
        mentee_id,
        skill_id,
        author_id,
        body_md,
        review_request_id,
        evidence_id
    )
    .fetch_one(db)
    .await
}

/// Where a comment lives: (mentee id, skill id, author id, minutes since posting, deleted).
pub async fn locate(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<(i64, String, Option<i64>, bool, bool)>> {
    let row = sqlx::query!(
        r#"select mentee_id, skill_id, author_id,
                  created_at > now() - make_interval(mins => $2) as "editable!",
                  deleted_at is not null as "deleted!"
           from comments where id = $1"#,
        id,
        EDIT_MINUTES as i32
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.mentee_id, r.skill_id, r.author_id, r.editable, r.deleted)))
}

/// Edits the author's comment within the editing window; false otherwise.
pub async fn edit(db: impl PgExecutor<'_>, id: i64, author_id: i64, body_md: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update comments set body_md = $3, edited_at = now()
         where id = $1 and author_id = $2 and deleted_at is null
           and created_at > now() - make_interval(mins => $4)",
        id,
        author_id,
        body_md,
        EDIT_MINUTES as i32
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Deletes the author's comment: the thread then shows "comment deleted".
pub async fn delete(db: impl PgExecutor<'_>, id: i64, author_id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update comments set deleted_at = now(), body_md = '' where id = $1 and author_id = $2 and deleted_at is null",
        id,
        author_id
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}
