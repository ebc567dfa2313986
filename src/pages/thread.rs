//! The comment thread on one of a mentee's skills, as the mentee's and the mentor's pages show it.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{format_date, format_datetime};
use crate::app::AppState;
use crate::content::catalog::Skill;
use crate::db::comments::{self, Comment, EDIT_MINUTES};
use crate::db::notes::{self, Evidence};
use crate::db::reviews::{self, Review};
use crate::db::users::User;
use crate::error::AppError;
use crate::markdown::user_markdown_to_html;

pub struct CommentView {
    pub id: i64,
    pub author: String,
    pub body_md: String,
    pub body_html: String,
    pub when: String,
    pub edited: bool,
    pub deleted: bool,
    pub reference: Option<String>,
    pub can_edit: bool,
    pub can_delete: bool,
}

/// One skill's thread as a page shows it.
pub struct Thread {
    pub mentee_username: String,
    pub skill_id: String,
    pub skill_title: String,
    pub comments: Vec<CommentView>,
    /// What a new comment may refer to: (form value, label).
    pub refs: Vec<(String, String)>,
}

/// Threads for `skills`, seen by `viewer_id`; built from rows loaded once per page.
/// `comment_html` holds comments already drawn, by id (others are drawn here).
pub fn threads(
    skills: &[Skill],
    mentee_username: &str,
    viewer_id: i64,
    (comments, comment_html): (&[Comment], &HashMap<i64, String>),
    skill_reviews: &[Review],
    evidence: &[Evidence],
) -> HashMap<String, Thread> {
    let edit_window = OffsetDateTime::now_utc() - time::Duration::minutes(EDIT_MINUTES);
    skills
        .iter()
        .map(|skill| {
            let comments = comments
                .iter()
                .filter(|c| c.skill_id == skill.id)
                .map(|c| {
                    let mine = c.author_id == Some(viewer_id) && !c.deleted;
                    CommentView {
                        id: c.id,
                        author: c
                            .author_name
                            .clone()
                            .unwrap_or_else(|| "A deleted account".into()),
                        body_md: c.body_md.clone(),
                        body_html: comment_html
                            .get(&c.id)
                            .cloned()
                            .unwrap_or_else(|| user_markdown_to_html(&c.body_md)),
                        when: format_datetime(c.created_at),
                        edited: c.edited_at.is_some(),
                        deleted: c.deleted,
                        reference: c
                            .review_request_id
                            .and_then(|id| skill_reviews.iter().find(|r| r.id == id))
                            .map(|r| format!("the review request of {}", format_date(r.requested_at)))
                            .or_else(|| c.evidence_title.clone().map(|t| format!("evidence “{t}”"))),
                        can_edit: mine && c.created_at > edit_window,
                        can_delete: mine,
                    }
                })
                .collect();
            let refs = skill_reviews
                .iter()
                .filter(|r| r.skill_id == skill.id)
                .map(|r| {
                    (
                        format!("review:{}", r.id),
                        format!("Review request of {}", format_date(r.requested_at)),
                    )
                })
                .chain(
                    evidence
                        .iter()
                        .filter(|e| e.skill_id == skill.id)
                        .map(|e| (format!("evidence:{}", e.id), format!("Evidence: {}", e.title))),
                )
                .collect();
            (
                skill.id.clone(),
                Thread {
                    mentee_username: mentee_username.to_string(),
                    skill_id: skill.id.clone(),
                    skill_title: skill.title.clone(),
                    comments,
                    refs,
                },
            )
        })
        .collect()
}

/// Loads and builds the threads of a stage: three queries.
pub async fn load_threads(
    state: &AppState,
    mentee: &User,
    viewer_id: i64,
    skills: &[Skill],
) -> Result<HashMap<String, Thread>, AppError> {
    let ids: Vec<String> = skills.iter().map(|s| s.id.clone()).collect();
    let comments = comments::threads(&state.db, mentee.id, &ids).await?;
    let skill_reviews = reviews::for_skills(&state.db, mentee.id, &ids).await?;
    let evidence = notes::evidence(&state.db, mentee.id, &ids).await?;
    Ok(threads(
        skills,
        &mentee.username,
        viewer_id,
        (&comments, &HashMap::new()),
        &skill_reviews,
        &evidence,
    ))
}
