//! What people do on both the pages and the API: change a skill's state, answer a review. One code path each, so events, tallies and notices stay the same.

use crate::app::AppState;
use crate::db::mentorships;
use crate::db::progress::{self, Change};
use crate::db::reviews::{self, Review};
use crate::db::users::{self, User};
use crate::error::AppError;
use crate::notify::{self, Notice};
use crate::progress::SkillState;

/// The longest review request message or verdict comment kept.
pub const MAX_REVIEW_TEXT: usize = 2_000;

/// Sets a skill's state if the learner saw `expected_version` (0 = never changed). Ticking
/// a skill starts its roadmap, so nothing a learner does is lost.
pub async fn change_state(
    state: &AppState,
    user_id: i64,
    roadmap_id: &str,
    skill_id: &str,
    to: SkillState,
    expected_version: i32,
) -> Result<Change, AppError> {
    Ok(progress::set_state(
        &state.db,
        user_id,
        Some(roadmap_id),
        skill_id,
        to,
        expected_version,
    )
    .await?)
}

/// The request, if the mentor may answer it (a link or team covering its roadmap): with
/// the mentee's username and the roadmap and stage it is answered in. Anything else: 404.
pub async fn reviewable(
    state: &AppState,
    mentor: &User,
    id: i64,
) -> Result<(Review, String, String, String), AppError> {
    let review = reviews::by_id(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let catalog = state.catalog.load();
    let scope = mentorships::active_scope(&state.db, mentor.id, review.mentee_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // A shared skill is answered where the link covers it.
    let (roadmap, stage, _) = catalog
        .skill_where(&review.skill_id, |r| scope.covers(r))
        .ok_or(AppError::NotFound)?;
    let mentee = users::by_id(&state.db, review.mentee_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((review, mentee.username, roadmap.id.clone(), stage.id.clone()))
}

/// Records a verdict on a request the mentor may answer ([`reviewable`]) and tells the
/// learner. `Err` says why it was not recorded (answered already, withdrawn, claimed).
pub async fn record_verdict(
    state: &AppState,
    mentor: &User,
    id: i64,
    verify: bool,
    comment: &str,
    (roadmap_id, stage_id): (&str, &str),
) -> Result<Result<Review, String>, AppError> {
    let review = match reviews::answer(&state.db, mentor.id, id, verify, comment).await? {
        Ok(review) => review,
        Err(message) => return Ok(Err(message)),
    };
    let title = state
        .catalog
        .load()
        .skill(&review.skill_id)
        .map(|(_, _, k)| k.title.clone())
        .unwrap_or_default();
    let summary = if verify {
        format!("{} verified “{title}”", mentor.display_name)
    } else {
        format!("{} requested changes on “{title}”", mentor.display_name)
    };
    let notice = Notice {
        recipients: vec![review.mentee_id],
        actor_id: Some(mentor.id),
        kind: "review_answered",
        summary,
        target_url: format!("/roadmaps/{roadmap_id}/{stage_id}/{}", review.skill_id),
    };
    if let Err(error) = notify::send(state.notifier.as_ref(), notice).await {
        tracing::error!(%error, "could not deliver a notification");
    }
    Ok(Ok(review))
}
