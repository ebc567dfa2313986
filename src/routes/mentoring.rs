//! Mentoring: a learner's "My mentors" page and invitations, a mentor's list of mentees, and read-only mentee views.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Layout, format_date, format_datetime, render};
use crate::actions::{MAX_REVIEW_TEXT, reviewable};
use crate::app::AppState;
use crate::auth::{SignedIn, token};
use crate::content::catalog::{Roadmap, Stage};
use crate::db::mentorships::{self, Mentorship, Scope};
use crate::db::reviews::{self, Review};
use crate::db::users::{self, User};
use crate::db::{notes, progress};
use crate::error::AppError;
use crate::notify::{self, Notice};
use crate::pages::overview::{RoadmapOverview, overview};
use crate::pages::skill::{SkillProgress, back_to, skill_ids, waited};
use crate::pages::stage::render_stage_with;
use crate::pages::thread::{Thread, load_threads};
use crate::pages::workspace::Workspace;
use crate::progress::Tally;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mentors", get(my_mentors))
        .route("/mentors/invite", post(invite_user))
        .route("/mentors/link", post(invite_link))
        .route("/mentors/{id}/revoke", post(revoke))
        .route("/mentorships/{id}/end", post(end))
        .route("/mentorships/{id}/cadence", post(set_cadence))
        .route("/mentorships/{id}/checkins", post(record_checkin))
        .route("/mentoring", get(mentoring))
        .route("/mentoring/{id}/accept", post(accept))
        .route("/mentoring/{id}/decline", post(decline))
        .route("/mentoring/invite/{token}", get(link_page).post(answer_link))
        .route("/mentoring/reviews", get(review_queue))
        .route("/mentoring/matrix/{roadmap}", get(matrix))
        .route("/mentees/{username}", get(mentee))
        .route("/mentees/{username}/{roadmap}/{stage}", get(mentee_stage))
        .route("/mentees/{username}/{roadmap}/{stage}/{skill}", get(mentee_skill))
        .route("/skills/{skill}/review", post(request_review))
        .route("/reviews/{id}/verify", post(verify))
        .route("/reviews/{id}/claim", post(claim))
        .route("/reviews/{id}/release", post(release))
        .route("/reviews/{id}/changes", post(request_changes))
}

#[derive(Deserialize)]
struct CadenceForm {
    #[serde(default)]
    days: String,
}

/// Where a check-in form goes back to: the mentee's mentors page, or the mentor's view of the mentee.
fn checkin_back(user: &User, link: &mentorships::CheckIns, done: &str) -> String {
    if user.id == link.mentee_id {
        format!("/mentors?done={done}#checkins-{}", link.mentorship_id)
    } else {
        format!("/mentees/{}?done={done}#checkins", link.mentee_username)
    }
}

/// Either side of an active link sets the check-in cadence (weekly, fortnightly, or none);
/// the other is told.
async fn set_cadence(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    crate::routes::form::Form(form): crate::routes::form::Form<CadenceForm>,
) -> Result<Response, AppError> {
    let link = mentorships::checkins(&state.db, id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    // The select offers only these; anything else leaves the cadence as it was.
    let days = match form.days.as_str() {
        "7" => Some(7),
        "14" => Some(14),
        "" => None,
        _ => link.days,
    };
    if days != link.days {
        mentorships::set_checkin_days(&state.db, id, days).await?;
        let other = mentorships::other_side(&state.db, id, user.id).await?;
        let words = match days {
            Some(7) => "weekly",
            Some(14) => "fortnightly",
            _ => "no regular",
        };
        tell(
            &state,
            other,
            &user,
            "checkin",
            format!("{} set {words} check-ins", user.display_name),
            checkin_back_for_other(&user, &link),
        )
        .await;
    }
    Ok(Redirect::to(&checkin_back(&user, &link, "cadence")).into_response())
}

/// Either side records that a check-in happened now; the other is told, so their
/// "next check-in" moves without surprise.
async fn record_checkin(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let link = mentorships::checkins(&state.db, id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    mentorships::record_checkin(&state.db, id, user.id).await?;
    let other = mentorships::other_side(&state.db, id, user.id).await?;
    tell(
        &state,
        other,
        &user,
        "checkin",
        format!("{} recorded a check-in", user.display_name),
        checkin_back_for_other(&user, &link),
    )
    .await;
    Ok(Redirect::to(&checkin_back(&user, &link, "checkin")).into_response())
}

/// Where the other side of the link sees its check-ins.
fn checkin_back_for_other(user: &User, link: &mentorships::CheckIns) -> String {
    if user.id == link.mentee_id {
        format!("/mentees/{}#checkins", link.mentee_username)
    } else {
        format!("/mentors#checkins-{}", link.mentorship_id)
    }
}

/// Tells `recipients` (never the actor) what `actor` did. A failed notification
/// is logged, not shown: the action itself already happened.
async fn tell(
    state: &AppState,
    recipients: Vec<i64>,
    actor: &User,
    kind: &'static str,
    summary: String,
    target_url: String,
) {
    let notice = Notice {
        recipients,
        actor_id: Some(actor.id),
        kind,
        summary,
        target_url,
    };
    if let Err(error) = notify::send(state.notifier.as_ref(), notice).await {
        tracing::error!(%error, "could not deliver a notification");
    }
}

/// Form fields, with `roadmap` repeated for each ticked roadmap.
struct ScopedForm {
    fields: HashMap<String, String>,
    scope: Scope,
}

/// Parses a scoped form, refusing control characters and roadmaps that do not exist.
fn parse_scoped_form(state: &AppState, body: &str) -> Result<ScopedForm, AppError> {
    let mut fields = HashMap::new();
    let mut roadmaps = Vec::new();
    let catalog = state.catalog.load();
    for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
        if crate::routes::form::has_control_character(&key)
            || crate::routes::form::has_control_character(&value)
        {
            return Err(AppError::Invalid(crate::error::CONTROL_CHARACTER));
        }
        if key == "roadmap" && catalog.roadmap(&value).is_none() {
            return Err(AppError::Invalid(
                "That roadmap does not exist any more. Reload the page and choose from the list.",
            ));
        }
        if key == "roadmap" {
            roadmaps.push(value.into_owned());
        } else {
            fields.insert(key.into_owned(), value.into_owned());
        }
    }
    let scope = if fields.get("scope").map(String::as_str) == Some("chosen") {
        Scope::Only(roadmaps)
    } else {
        Scope::All
    };
    Ok(ScopedForm { fields, scope })
}

fn scope_text(scope: &Scope, state: &AppState) -> String {
    match scope {
        Scope::All => "all roadmaps".into(),
        Scope::Only(ids) if ids.is_empty() => "no roadmaps".into(),
        Scope::Only(ids) => {
            let catalog = state.catalog.load();
            ids.iter()
                .map(|id| catalog.roadmap(id).map_or(id.clone(), |r| r.title.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// A link as a row on either page.
struct LinkRow {
    id: i64,
    /// The other person: "Ada (@ada)".
    other: String,
    scope: String,
    status: &'static str,
    since: String,
    pending: bool,
    active: bool,
    is_link: bool,
    checkin: CheckinView,
}

/// A link's check-ins as either side sees them.
struct CheckinView {
    id: i64,
    /// 7, 14, or None before a cadence is agreed.
    days: Option<i32>,
    last: Option<String>,
    next: Option<String>,
    /// The next check-in's day has passed.
    late: bool,
}

impl CheckinView {
    fn new(id: i64, days: Option<i32>, last: Option<OffsetDateTime>, since: OffsetDateTime) -> Self {
        let next = days.map(|d| last.unwrap_or(since) + time::Duration::days(i64::from(d)));
        Self {
            id,
            days,
            last: last.map(format_date),
            next: next.map(format_date),
            late: next.is_some_and(|n| n < OffsetDateTime::now_utc()),
        }
    }

    fn cadence(&self) -> &'static str {
        match self.days {
            Some(7) => "weekly",
            Some(14) => "fortnightly",
            _ => "not agreed yet",
        }
    }
}

fn link_row(state: &AppState, m: &Mentorship, as_mentee: bool) -> LinkRow {
    let other = if as_mentee {
        match (&m.mentor_name, &m.mentor_username) {
            (Some(name), Some(username)) => format!("{name} (@{username})"),
            _ => "Anyone with the link".into(),
        }
    } else {
        format!("{} (@{})", m.mentee_name, m.mentee_username)
    };
    let status = match m.status.as_str() {
        "invited" if m.expired => "Invitation expired",
        "invited" => "Invitation pending",
        "active" => "Active",
        "declined" => "Declined",
        "revoked" => "Invitation withdrawn",
        _ => "Ended",
    };
    let since = m.ended_at.or(m.responded_at).unwrap_or(m.created_at);
    LinkRow {
        checkin: CheckinView::new(
            m.id,
            m.checkin_days,
            m.last_checkin,
            m.responded_at.unwrap_or(m.created_at),
        ),
        id: m.id,
        other,
        scope: scope_text(&m.scope, state),
        status,
        since: format_date(since),
        pending: m.is_pending(),
        active: m.status == "active",
        is_link: m.is_link,
    }
}

#[derive(Template)]
#[template(path = "mentoring/my_mentors.html")]
struct MyMentorsPage {
    layout: Layout,
    active: Vec<LinkRow>,
    pending: Vec<LinkRow>,
    past: Vec<LinkRow>,
    /// Roadmaps the learner started, for choosing a scope.
    roadmaps: Vec<(String, String)>,
    username: String,
    error: Option<&'static str>,
    notice: Option<&'static str>,
    new_link: Option<String>,
    /// Pending review requests: (skill title, link, waited).
    waiting: Vec<(String, String, String)>,
}

async fn my_mentors_page(
    state: &AppState,
    user: &User,
    error: Option<&'static str>,
    notice: Option<&'static str>,
    new_link: Option<String>,
    username: String,
) -> Result<MyMentorsPage, AppError> {
    let links = mentorships::for_user(&state.db, user.id).await?;
    let mine: Vec<LinkRow> = links
        .iter()
        .filter(|m| m.mentee_id == user.id)
        .map(|m| link_row(state, m, true))
        .collect();
    let catalog = state.catalog.load();
    let roadmaps = progress::enrollments(&state.db, user.id)
        .await?
        .into_iter()
        .filter_map(|(id, _)| catalog.roadmap(&id).map(|r| (id, r.title.clone())))
        .collect();
    let (active, rest): (Vec<_>, Vec<_>) = mine.into_iter().partition(|l| l.active);
    let (pending, past): (Vec<_>, Vec<_>) = rest.into_iter().partition(|l| l.pending);
    let waiting = reviews::pending_for_mentee(&state.db, user.id)
        .await?
        .into_iter()
        .filter_map(|r| {
            let (roadmap, stage, skill) = catalog.skill(&r.skill_id)?;
            let href = format!("/roadmaps/{}/{}/{}", roadmap.id, stage.id, skill.id);
            Some((skill.title.clone(), href, waited(r.requested_at)))
        })
        .collect();
    Ok(MyMentorsPage {
        waiting,
        layout: Layout::new(state, Some(user), "My mentors"),
        active,
        pending,
        past,
        roadmaps,
        username,
        error,
        notice,
        new_link,
    })
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn my_mentors(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Query(query): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let notice = match query.done.as_deref() {
        Some("invited") => Some("Invitation sent. It stays open for 7 days."),
        Some("revoked") => Some("Invitation withdrawn."),
        Some("ended") => Some("The link has ended. That mentor can no longer see your progress."),
        Some("cadence") => Some("Saved the check-in cadence."),
        Some("checkin") => Some("Check-in recorded."),
        _ => None,
    };
    Ok(render(&my_mentors_page(&state, &user, None, notice, None, String::new()).await?)?.into_response())
}

async fn invite_user(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    body: String,
) -> Result<Response, AppError> {
    let form = parse_scoped_form(&state, &body)?;
    let username = form
        .fields
        .get("username")
        .map(|u| u.trim().to_lowercase())
        .unwrap_or_default();
    let refusal = match users::by_username(&state.db, &username).await? {
        None => {
            Some("There is no user with that username. Check the spelling, or send an invite link instead.")
        }
        Some(mentor) => match mentorships::invite_user(&state.db, user.id, mentor.id, &form.scope).await? {
            Ok(_) => {
                let summary = format!("{} invited you to be their mentor", user.display_name);
                tell(
                    &state,
                    vec![mentor.id],
                    &user,
                    "mentor_invited",
                    summary,
                    "/mentoring".into(),
                )
                .await;
                None
            }
            Err(refusal) => Some(refusal.0),
        },
    };
    match refusal {
        None => Ok(Redirect::to("/mentors?done=invited").into_response()),
        Some(message) => {
            let page = my_mentors_page(&state, &user, Some(message), None, None, username).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

async fn invite_link(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    body: String,
) -> Result<Response, AppError> {
    let form = parse_scoped_form(&state, &body)?;
    let secret = token::generate();
    mentorships::invite_link(&state.db, user.id, &token::hash(&secret), &form.scope).await?;
    let link = format!("{}/mentoring/invite/{secret}", state.settings.public_url);
    let page = my_mentors_page(&state, &user, None, None, Some(link), String::new()).await?;
    Ok(render(&page)?.into_response())
}

async fn revoke(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    if !mentorships::revoke(&state.db, user.id, id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/mentors?done=revoked"))
}

async fn end(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    let links = mentorships::for_user(&state.db, user.id).await?;
    let as_mentor = links.iter().any(|m| m.id == id && m.mentor_id == Some(user.id));
    let other = mentorships::end(&state.db, user.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (summary, target) = if as_mentor {
        (
            format!("{} ended their mentoring of you", user.display_name),
            "/mentors",
        )
    } else {
        (
            format!("{} ended your mentoring link", user.display_name),
            "/mentoring",
        )
    };
    tell(&state, vec![other], &user, "link_ended", summary, target.into()).await;
    Ok(Redirect::to(if as_mentor {
        "/mentoring?done=ended"
    } else {
        "/mentors?done=ended"
    }))
}

/// A mentee on the mentor's page, attention first.
struct MenteeRow {
    username: String,
    name: String,
    link_id: i64,
    roadmaps: Vec<(String, String, Tally)>,
    last_activity: Option<String>,
    stalled: bool,
    /// Reviews waiting for this mentor, and how long the oldest has waited.
    reviews_waiting: usize,
    oldest_review: Option<String>,
    /// Events since the mentor last opened this mentee.
    new_since_visit: i64,
}

#[derive(Template)]
#[template(path = "mentoring/mentoring.html")]
struct MentoringPage {
    layout: Layout,
    requests: Vec<LinkRow>,
    /// `_mentees.html`, drawn once per kept copy of the rows.
    mentees: Arc<str>,
    notice: Option<&'static str>,
    /// Review requests waiting for this mentor, over every mentee.
    reviews_waiting: i64,
}

/// The mentor dashboard's page of mentee cards.
#[derive(Template)]
#[template(path = "mentoring/_mentees.html")]
struct MenteesSection {
    mentees: Vec<MenteeRow>,
    /// Active mentees in all, over every page.
    total: i64,
    page: i64,
    pages: i64,
    stalled_days: i64,
}

/// Mentees per page on the mentor dashboard and the matrix.
pub const MENTEES_PER_PAGE: i64 = 50;

#[derive(Deserialize)]
struct MentoringQuery {
    done: Option<String>,
    page: Option<String>,
}

/// The 1-based page asked for; anything unreadable is the first page.
fn page_number(page: Option<&str>) -> i64 {
    page.and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, i64::from(i32::MAX))
}

/// Tallies each of `user_ids` on each roadmap the catalog has, from stage counts made in SQL.
fn roadmap_tallies(
    roadmap: &Roadmap,
    user_id: i64,
    counts: &HashMap<(i64, String, String), progress::StageCounts>,
) -> Vec<Tally> {
    roadmap
        .stages
        .iter()
        .map(|stage| {
            let key = (user_id, roadmap.id.clone(), stage.id.clone());
            Tally::from_counts(stage, counts.get(&key).copied().unwrap_or_default())
        })
        .collect()
}

async fn mentoring(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Query(query): Query<MentoringQuery>,
) -> Result<Response, AppError> {
    let page = page_number(query.page.as_deref());
    let requests = mentorships::invitations_for(&state.db, user.id)
        .await?
        .iter()
        .map(|m| link_row(&state, m, false))
        .collect();
    // Whole minutes, so that views within a minute can share the kept rows.
    let now = OffsetDateTime::now_utc();
    let minute = now
        - time::Duration::seconds(now.second().into())
        - time::Duration::nanoseconds(now.nanosecond().into());
    let stalled_after = minute - time::Duration::days(state.settings.stalled_days);
    let rows = state
        .view_cache
        .mentor_dashboard(
            &state.db,
            &user,
            stalled_after,
            (MENTEES_PER_PAGE, (page - 1) * MENTEES_PER_PAGE),
        )
        .await?;
    let (total, reviews_waiting) = (rows.total, rows.reviews_waiting);
    // A page past the end (a bookmark from when there were more mentees) shows the last one.
    if rows.mentees.is_empty() && page > 1 {
        let total = mentorships::active_mentee_count(&state.db, user.id, None).await?;
        return Ok(Redirect::to(&format!("/mentoring?page={}", page_count(total))).into_response());
    }
    let (enrollments, counts) = (&rows.enrollments, &rows.counts);
    let catalog = state.catalog.load();
    let draw = || {
        let mentees: Vec<MenteeRow> = rows
            .mentees
            .iter()
            .map(|m| {
                let roadmaps: Vec<&Roadmap> = enrollments
                    .iter()
                    .filter(|(uid, rid, _)| *uid == m.mentee_id && m.scope.covers(rid))
                    .filter_map(|(_, rid, _)| catalog.roadmap(rid))
                    .collect();
                MenteeRow {
                    roadmaps: roadmaps
                        .iter()
                        .map(|r| {
                            let tally = roadmap_tallies(r, m.mentee_id, counts)
                                .into_iter()
                                .fold(Tally::default(), |sum, t| sum + t);
                            (r.id.clone(), r.title.clone(), tally)
                        })
                        .collect(),
                    last_activity: m.last_activity.map(format_date),
                    stalled: m.last_activity.is_none_or(|at| at < stalled_after),
                    reviews_waiting: m.reviews_waiting as usize,
                    oldest_review: m.oldest_review.map(waited),
                    new_since_visit: m.new_since_visit,
                    username: m.username.clone(),
                    name: m.display_name.clone(),
                    link_id: m.link_id,
                }
            })
            .collect();
        MenteesSection {
            mentees,
            total,
            page,
            pages: page_count(total),
            stalled_days: state.settings.stalled_days,
        }
        .render()
    };
    let mentees = rows.drawn.get_or_draw(&catalog, &user.time_zone, draw)?;
    Ok(render(&MentoringPage {
        layout: Layout::new(&state, Some(&user), "Mentoring"),
        requests,
        mentees,
        reviews_waiting,
        notice: match query.done.as_deref() {
            Some("accepted") => Some("You are now a mentor. Your mentee's progress is listed below."),
            Some("declined") => Some("Invitation declined."),
            Some("ended") => Some("The link has ended."),
            _ => None,
        },
    })?
    .into_response())
}

/// How many pages of mentees `total` fills (at least one).
fn page_count(total: i64) -> i64 {
    ((total + MENTEES_PER_PAGE - 1) / MENTEES_PER_PAGE).max(1)
}

async fn accept(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    answer(&state, &user, Some(id), None, true).await
}

async fn decline(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    answer(&state, &user, Some(id), None, false).await
}

async fn answer(
    state: &AppState,
    user: &User,
    id: Option<i64>,
    token_hash: Option<&str>,
    accept: bool,
) -> Result<Response, AppError> {
    match mentorships::respond(&state.db, user.id, id, token_hash, accept).await? {
        Ok((_, mentee_id)) => {
            crate::db::notifications::settle(&state.db, user.id, mentee_id, "mentor_invited").await?;
            let (kind, verb) = if accept {
                ("invite_accepted", "accepted")
            } else {
                ("invite_declined", "declined")
            };
            let summary = format!("{} {verb} your mentor invitation", user.display_name);
            tell(state, vec![mentee_id], user, kind, summary, "/mentors".into()).await;
            Ok(Redirect::to(if accept {
                "/mentoring?done=accepted"
            } else {
                "/mentoring?done=declined"
            })
            .into_response())
        }
        Err(refusal) if id.is_some() && token_hash.is_none() && refusal.0.starts_with("This invitation") => {
            // Someone else's or a closed invitation: nothing to reveal.
            Err(AppError::NotFound)
        }
        Err(refusal) => {
            let page = LinkInvitePage {
                layout: Layout::new(state, Some(user), "Mentor invitation"),
                invite: None,
                error: Some(refusal.0),
            };
            Ok((StatusCode::CONFLICT, render(&page)?).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "mentoring/invite.html")]
struct LinkInvitePage {
    layout: Layout,
    /// (mentee's display name, username, scope text).
    invite: Option<(String, String, String)>,
    error: Option<&'static str>,
}

async fn link_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(secret): Path<String>,
) -> Result<Response, AppError> {
    let found = mentorships::link_invite(&state.db, &token::hash(&secret)).await?;
    let (invite, error) = match found {
        Some((_, mentee_id, _, _)) if mentee_id == user.id => (
            None,
            Some("This is your own invitation: send the link to the person you want as a mentor."),
        ),
        Some((id, _, name, username)) => (Some((name, username, link_scope(&state, id).await?)), None),
        None => (
            None,
            Some("This invitation is no longer open: it was used, withdrawn or has expired."),
        ),
    };
    let status = if invite.is_some() {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    let page = LinkInvitePage {
        layout: Layout::new(&state, Some(&user), "Mentor invitation"),
        invite,
        error,
    };
    Ok((status, render(&page)?).into_response())
}

async fn link_scope(state: &AppState, id: i64) -> Result<String, AppError> {
    let ids = sqlx::query_scalar!(
        "select roadmap_id from mentorship_roadmaps where mentorship_id = $1",
        id
    )
    .fetch_all(&state.db)
    .await?;
    let all = sqlx::query_scalar!("select all_roadmaps from mentorships where id = $1", id)
        .fetch_one(&state.db)
        .await?;
    Ok(scope_text(
        &if all { Scope::All } else { Scope::Only(ids) },
        state,
    ))
}

#[derive(Deserialize)]
struct AnswerForm {
    decision: String,
}

async fn answer_link(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(secret): Path<String>,
    crate::routes::form::Form(form): crate::routes::form::Form<AnswerForm>,
) -> Result<Response, AppError> {
    answer(
        &state,
        &user,
        None,
        Some(&token::hash(&secret)),
        form.decision == "accept",
    )
    .await
}

/// The mentee and the scope the signed-in mentor has on them, or 404.
async fn mentee_in_scope(state: &AppState, mentor: &User, username: &str) -> Result<(User, Scope), AppError> {
    let mentee = users::by_username(&state.db, username)
        .await?
        .ok_or(AppError::NotFound)?;
    let scope = mentorships::active_scope(&state.db, mentor.id, mentee.id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((mentee, scope))
}

#[derive(Template)]
#[template(path = "mentoring/mentee.html")]
struct MenteePage<'a> {
    layout: Layout,
    mentee: User,
    roadmaps: Vec<RoadmapOverview<'a>>,
    /// The mentee's latest events on roadmaps in scope: (when, event).
    timeline: Vec<(String, progress::Event)>,
    /// Their reviews waiting for this mentor, oldest first: (skill page, skill title, waited, message).
    waiting: Vec<(String, String, String, String)>,
    /// How many wait in all (the list shows the first few).
    waiting_total: i64,
    /// The link's check-ins.
    checkin: Option<CheckinView>,
}

/// Waiting reviews listed on a mentee's page; the queue has the rest.
const MENTEE_PAGE_REVIEWS: i64 = 10;

async fn mentee(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(username): Path<String>,
) -> Result<Response, AppError> {
    let (mentee, scope) = mentee_in_scope(&state, &user, &username).await?;
    mentorships::record_visit(&state.db, user.id, mentee.id).await?;
    let enrolled = progress::enrollments(&state.db, mentee.id).await?;
    let map = progress::for_user(&state.db, mentee.id).await?;
    let catalog = state.catalog.load();
    let in_scope: Vec<String> = enrolled
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| scope.covers(id))
        .collect();
    let roadmaps = overview(&catalog, &in_scope, &map);
    let timeline = progress::recent_events(&state.db, mentee.id, 100, 0)
        .await?
        .into_iter()
        .filter(|e| scope.covers(&e.roadmap_id))
        .take(30)
        .map(|e| (super::format_datetime(e.at), e))
        .collect();
    let (queued, waiting_total) =
        reviews::waiting_from(&state.db, mentee.id, &scope, MENTEE_PAGE_REVIEWS).await?;
    let waiting = queued
        .into_iter()
        .filter_map(|(_, skill_id, message, requested_at)| {
            let (roadmap, stage, skill) = catalog.skill_where(&skill_id, |id| scope.covers(id))?;
            Some((
                format!(
                    "/mentees/{}/{}/{}/{}",
                    mentee.username, roadmap.id, stage.id, skill.id
                ),
                skill.title.clone(),
                waited(requested_at),
                message,
            ))
        })
        .collect();
    let checkin = mentorships::checkins_between(&state.db, user.id, mentee.id)
        .await?
        .map(|c| CheckinView::new(c.mentorship_id, c.days, c.last, c.since));
    Ok(render(&MenteePage {
        checkin,
        waiting,
        waiting_total,
        timeline,
        layout: Layout::new(&state, Some(&user), format!("{} · mentee", mentee.display_name)),
        mentee,
        roadmaps,
    })?
    .into_response())
}

struct MenteeSkill<'a> {
    skill: &'a crate::content::catalog::Skill,
    p: SkillProgress,
    w: Workspace,
    /// The latest review request, and how long it has waited.
    review: Option<(Review, String)>,
    thread: Option<Thread>,
    /// Sub-steps ticked, of how many.
    steps: (usize, usize),
}

#[derive(Template)]
#[template(path = "mentoring/mentee_stage.html")]
struct MenteeStagePage<'a> {
    layout: Layout,
    mentee: User,
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    tally: Tally,
    skills: Vec<MenteeSkill<'a>>,
}

async fn mentee_stage(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((username, roadmap_id, stage_id)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let (mentee, scope) = mentee_in_scope(&state, &user, &username).await?;
    if !scope.covers(&roadmap_id) {
        return Err(AppError::NotFound);
    }
    mentorships::record_visit(&state.db, user.id, mentee.id).await?;
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    let (_, stage) = roadmap.stage(&stage_id).ok_or(AppError::NotFound)?;
    let ids = skill_ids(&stage.skills);
    let map = progress::for_skills(&state.db, mentee.id, &ids).await?;
    // Only shared notes: private notes never reach a mentor's page.
    let shared = notes::shared_notes(&state.db, mentee.id, &ids).await?;
    let evidence = notes::evidence(&state.db, mentee.id, &ids).await?;
    let stage_reviews = reviews::for_skills(&state.db, mentee.id, &ids).await?;
    let mut threads = load_threads(&state, &mentee, user.id, &stage.skills).await?;
    let ticked = crate::db::steps::ticked(&state.db, mentee.id, &ids).await?;
    let skills = stage
        .skills
        .iter()
        .map(|skill| {
            let links: Vec<&notes::Evidence> = evidence.iter().filter(|e| e.skill_id == skill.id).collect();
            MenteeSkill {
                skill,
                p: SkillProgress::new(skill, &map),
                w: Workspace::new(skill, shared.get(&skill.id), &links),
                review: stage_reviews
                    .iter()
                    .find(|r| r.skill_id == skill.id)
                    .map(|r| (r.clone(), waited(r.requested_at))),
                thread: threads.remove(&skill.id),
                steps: (
                    ticked.get(&skill.id).map_or(0, |t| skill.steps_done(t)),
                    skill.steps.len(),
                ),
            }
        })
        .collect();
    Ok(render(&MenteeStagePage {
        layout: Layout::new(
            &state,
            Some(&user),
            format!("{} · {}", stage.title, mentee.display_name),
        ),
        tally: map.stage_tally(stage),
        mentee,
        roadmap,
        stage,
        skills,
    })?
    .into_response())
}

#[derive(Template)]
#[template(path = "mentoring/mentee_skill.html")]
struct MenteeSkillPage<'a> {
    layout: Layout,
    mentee: User,
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    item: MenteeSkill<'a>,
    previous: Option<(&'a Stage, &'a crate::content::catalog::Skill)>,
    next: Option<(&'a Stage, &'a crate::content::catalog::Skill)>,
}

/// One skill of a mentee on its own page, as the learner has one: the whole text, their
/// state, the review with its verdict forms, shared note, evidence and discussion, and the
/// previous and next skills of the roadmap.
async fn mentee_skill(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((username, roadmap_id, stage_id, skill_id)): Path<(String, String, String, String)>,
) -> Result<Response, AppError> {
    let (mentee, scope) = mentee_in_scope(&state, &user, &username).await?;
    let catalog = state.catalog.load();
    if !scope.covers(&roadmap_id) {
        // A shared skill linked at its home (notifications, comment threads) is shown in
        // a roadmap the link covers, if one lists it.
        return match catalog.skill_where(&skill_id, |r| scope.covers(r)) {
            Some((r, s, k)) => Ok(Redirect::to(&format!(
                "/mentees/{}/{}/{}/{}",
                mentee.username, r.id, s.id, k.id
            ))
            .into_response()),
            None => Err(AppError::NotFound),
        };
    }
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    let Some((_, stage)) = roadmap.stage(&stage_id) else {
        return Err(AppError::NotFound);
    };
    let Some(skill) = stage.skills.iter().find(|k| k.id == skill_id) else {
        // A skill that moved to another stage of the roadmap keeps its old links working.
        return match catalog.skill(&skill_id) {
            Some((r, s, k)) if r.id == roadmap.id => Ok(Redirect::permanent(&format!(
                "/mentees/{}/{}/{}/{}",
                mentee.username, r.id, s.id, k.id
            ))
            .into_response()),
            _ => Err(AppError::NotFound),
        };
    };
    mentorships::record_visit(&state.db, user.id, mentee.id).await?;
    let ids = vec![skill.id.clone()];
    let map = progress::for_skills(&state.db, mentee.id, &ids).await?;
    // Only a shared note: private notes never reach a mentor's page.
    let shared = notes::shared_notes(&state.db, mentee.id, &ids).await?;
    let evidence = notes::evidence(&state.db, mentee.id, &ids).await?;
    let review = reviews::for_skills(&state.db, mentee.id, &ids)
        .await?
        .into_iter()
        .find(|r| r.skill_id == skill.id)
        .map(|r| {
            let waited = waited(r.requested_at);
            (r, waited)
        });
    let mut threads = load_threads(&state, &mentee, user.id, std::slice::from_ref(skill)).await?;
    let ticked = crate::db::steps::ticked(&state.db, mentee.id, &ids).await?;
    let links: Vec<&notes::Evidence> = evidence.iter().collect();
    let item = MenteeSkill {
        skill,
        p: SkillProgress::new(skill, &map),
        w: Workspace::new(skill, shared.get(&skill.id), &links),
        review,
        thread: threads.remove(&skill.id),
        steps: (
            ticked.get(&skill.id).map_or(0, |t| skill.steps_done(t)),
            skill.steps.len(),
        ),
    };
    let (previous, next) = roadmap.neighbours(&skill.id);
    Ok(render(&MenteeSkillPage {
        layout: Layout::new(
            &state,
            Some(&user),
            format!("{} · {}", skill.title, mentee.display_name),
        ),
        mentee,
        roadmap,
        stage,
        item,
        previous,
        next,
    })?
    .into_response())
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    message: String,
    /// Where the verdict was given, to return there: "queue" (the review queue), "skill" (the
    /// mentee's skill page), or anything else for the mentee's stage page.
    #[serde(default)]
    back: String,
    /// Where an included skill's request form was shown ("roadmap/stage"), to return there.
    #[serde(default)]
    at: String,
}

/// Requests per page of the review queue.
const QUEUE_PAGE: i64 = 20;

/// One event of a skill's history beside a queued request, as `progress/_event_how.html` reads it.
struct QueueEventView {
    when: String,
    from: &'static str,
    to: &'static str,
    kind: String,
    actor: Option<String>,
    message: Option<String>,
    undone: bool,
}

struct QueueItem<'a> {
    review: reviews::QueuedReview,
    waited: String,
    requested: String,
    roadmap: &'a Roadmap,
    stage: &'a Stage,
    skill: &'a crate::content::catalog::Skill,
    note_html: String,
    history: Vec<QueueEventView>,
    /// "Claimed by Max until 14:30 CET", while a claim runs.
    claim_line: Option<String>,
    /// The viewer holds the claim (offer Release), or someone else does (hold the verdicts back).
    claimed_by_me: bool,
    claimed_by_other: bool,
}

#[derive(Template)]
#[template(path = "mentoring/reviews.html")]
struct ReviewQueuePage<'a> {
    layout: Layout,
    items: Vec<QueueItem<'a>>,
    total: i64,
    page: i64,
    pages: i64,
    /// The mentee the list is narrowed to (username, display name), if any.
    mentee: Option<(String, String)>,
    /// `&mentee=…` (or `&team=…`) for the page links when narrowed, else empty.
    page_filter: String,
    notice: Option<&'static str>,
    /// The team whose shared queue this is: (slug, name).
    team: Option<(String, String)>,
}

#[derive(Deserialize)]
struct QueueQuery {
    page: Option<String>,
    mentee: Option<String>,
    /// A team's slug: only that team's learners, on its roadmaps (its shared queue).
    team: Option<String>,
    done: Option<String>,
}

/// Every review waiting for the signed-in mentor, oldest first, with the skill's text,
/// the learner's shared note, evidence and history, and the verdict forms in place.
async fn review_queue(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Query(query): Query<QueueQuery>,
) -> Result<Response, AppError> {
    let page = page_number(query.page.as_deref());
    let mentee = query.mentee.as_deref().filter(|m| !m.is_empty());
    // A team's queue is open to its mentors and leads; to anyone else the team does not exist.
    let team = match query.team.as_deref().filter(|t| !t.is_empty()) {
        Some(slug) => {
            let team = crate::db::teams::by_slug(&state.db, slug)
                .await?
                .ok_or(AppError::NotFound)?;
            let role = crate::db::teams::role_of(&state.db, team.id, user.id).await?;
            if !matches!(role.as_deref(), Some("mentor" | "lead")) {
                return Err(AppError::NotFound);
            }
            Some(team)
        }
        None => None,
    };
    let (queued, total) = reviews::queue(
        &state.db,
        user.id,
        mentee,
        team.as_ref().map(|t| t.id),
        QUEUE_PAGE,
        (page - 1) * QUEUE_PAGE,
    )
    .await?;
    let pages = ((total + QUEUE_PAGE - 1) / QUEUE_PAGE).max(1);
    if queued.is_empty() && page > pages {
        let mut target = format!("/mentoring/reviews?page={pages}");
        if let Some(team) = &team {
            target.push_str(&format!("&team={}", team.slug));
        }
        if let Some(m) = mentee {
            target.push_str(&format!(
                "&mentee={}",
                url::form_urlencoded::byte_serialize(m.as_bytes()).collect::<String>()
            ));
        }
        return Ok(Redirect::to(&target).into_response());
    }
    let catalog = state.catalog.load();
    // Narrowed to one mentee: only a mentee of this mentor is named, anyone else is not found.
    let narrowed = match mentee {
        Some(username) => match queued.first() {
            Some(r) => Some((r.username.clone(), r.display_name.clone())),
            None => {
                let other = users::by_username(&state.db, username)
                    .await?
                    .ok_or(AppError::NotFound)?;
                mentorships::active_scope(&state.db, user.id, other.id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                Some((other.username, other.display_name))
            }
        },
        None => None,
    };
    let items = queued
        .into_iter()
        .filter_map(|review| {
            // A request on a skill no longer in the content cannot be judged here.
            let (roadmap, stage, skill) =
                catalog.skill_where(&review.skill_id, |r| review.scope.covers(r))?;
            let history = review
                .history
                .iter()
                .map(|e| QueueEventView {
                    when: format_date(e.at),
                    from: state_label(&e.from_state),
                    to: state_label(&e.to_state),
                    kind: e.kind.clone(),
                    actor: e.actor.clone(),
                    message: e.message.clone().filter(|m| !m.is_empty()),
                    undone: e.undone,
                })
                .collect();
            let claim_line = review
                .claim
                .as_ref()
                .map(|(_, name, until)| format!("Claimed by {name} until {}", format_datetime(*until)));
            let claimed_by_me = review.claim.as_ref().is_some_and(|(id, _, _)| *id == user.id);
            Some(QueueItem {
                claimed_by_other: review.claim.is_some() && !claimed_by_me,
                claimed_by_me,
                claim_line,
                waited: waited(review.requested_at),
                requested: format_date(review.requested_at),
                note_html: review
                    .shared_note
                    .as_deref()
                    .map(crate::markdown::user_markdown_to_html)
                    .unwrap_or_default(),
                roadmap,
                stage,
                skill,
                history,
                review,
            })
        })
        .collect();
    let mut page_filter = narrowed.as_ref().map_or_else(String::new, |(username, _)| {
        format!(
            "&mentee={}",
            url::form_urlencoded::byte_serialize(username.as_bytes()).collect::<String>()
        )
    });
    if let Some(team) = &team {
        page_filter.push_str(&format!("&team={}", team.slug));
    }
    Ok(render(&ReviewQueuePage {
        layout: Layout::new(&state, Some(&user), "Reviews waiting for you"),
        page_filter,
        items,
        total,
        page,
        pages,
        mentee: narrowed,
        notice: match query.done.as_deref() {
            Some("verified") => Some("Verified. The learner has been told."),
            Some("changes") => Some("Changes requested. The learner has been told."),
            Some("claimed") => Some("Claimed for 30 minutes: the other mentors see that you are on it."),
            Some("released") => Some("Released: any mentor can take it now."),
            _ => None,
        },
        team: team.map(|t| (t.slug, t.name)),
    })?
    .into_response())
}

fn state_label(state: &str) -> &'static str {
    state
        .parse::<crate::progress::SkillState>()
        .map_or("Unknown", |s| s.label())
}

async fn request_review(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(skill_id): Path<String>,
    crate::routes::form::Form(form): crate::routes::form::Form<ReviewForm>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (roadmap, stage, skill) = catalog
        .skill_at(&skill_id, crate::content::catalog::place_of(&form.at))
        .or_else(|| catalog.skill(&skill_id))
        .ok_or(AppError::NotFound)?;
    let listed_in = catalog.roadmaps_of(&skill.id);
    let message: String = form.message.trim().chars().take(MAX_REVIEW_TEXT).collect();
    let refusal = if mentorships::has_mentor_for(&state.db, user.id, &listed_in).await? {
        reviews::request(&state.db, user.id, &skill.id, &message)
            .await?
            .err()
            .map(|r| r.0)
    } else {
        Some("No mentor of yours can see this roadmap: invite one on the My mentors page first.")
    };
    match refusal {
        None => {
            let mentors = mentorships::mentors_for(&state.db, user.id, &listed_in).await?;
            let summary = format!("{} asked for a review of “{}”", user.display_name, skill.title);
            let target = format!(
                "/mentees/{}/{}/{}#{}",
                user.username, roadmap.id, stage.id, skill.id
            );
            tell(&state, mentors, &user, "review_requested", summary, target).await;
            Ok(Redirect::to(&back_to(roadmap, stage, skill, "skill")).into_response())
        }
        Some(message) => {
            let conflict = Some((skill.id.clone(), message.to_string()));
            render_stage_with(
                &state,
                Some(&user),
                &roadmap.id,
                &stage.id,
                None,
                conflict,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn verify(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    crate::routes::form::Form(form): crate::routes::form::Form<ReviewForm>,
) -> Result<Response, AppError> {
    answer_review(&state, &user, id, true, &form.message, &form.back).await
}

async fn request_changes(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    crate::routes::form::Form(form): crate::routes::form::Form<ReviewForm>,
) -> Result<Response, AppError> {
    answer_review(&state, &user, id, false, &form.message, &form.back).await
}

#[derive(Template)]
#[template(path = "mentoring/review_answered.html")]
struct ReviewAnsweredPage {
    layout: Layout,
    message: String,
    back: String,
}

async fn answer_review(
    state: &AppState,
    mentor: &User,
    id: i64,
    verify: bool,
    comment: &str,
    from: &str,
) -> Result<Response, AppError> {
    let (review, username, roadmap_id, stage_id) = reviewable(state, mentor, id).await?;
    let from_queue = from == "queue";
    let back = match from {
        "queue" => "/mentoring/reviews".to_string(),
        "skill" => format!("/mentees/{username}/{roadmap_id}/{stage_id}/{}", review.skill_id),
        _ => format!("/mentees/{username}/{roadmap_id}/{stage_id}#{}", review.skill_id),
    };
    let comment: String = comment.trim().chars().take(MAX_REVIEW_TEXT).collect();
    if !verify && comment.is_empty() {
        let page = ReviewAnsweredPage {
            layout: Layout::new(state, Some(mentor), "Review"),
            message: "Say what to change: a comment is needed when you request changes.".into(),
            back,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    match crate::actions::record_verdict(state, mentor, id, verify, &comment, (&roadmap_id, &stage_id))
        .await?
    {
        Ok(_) => {
            let done = if verify { "verified" } else { "changes" };
            let target = if from_queue {
                format!("/mentoring/reviews?done={done}")
            } else {
                back
            };
            Ok(Redirect::to(&target).into_response())
        }
        Err(message) => {
            let page = ReviewAnsweredPage {
                layout: Layout::new(state, Some(mentor), "Review"),
                message,
                back,
            };
            Ok((StatusCode::CONFLICT, render(&page)?).into_response())
        }
    }
}

#[derive(Deserialize)]
struct ClaimForm {
    /// The team whose queue the form was on, to return to it.
    #[serde(default)]
    team: String,
}

/// The queue a claim form came from, at the request, saying what was `done`.
fn queue_url(team: &str, done: Option<&str>, id: i64) -> String {
    let mut query: Vec<String> = done.map(|d| format!("done={d}")).into_iter().collect();
    // Team slugs are ids; anything else is not echoed into the link.
    if crate::content::parse::is_valid_id(team) {
        query.push(format!("team={team}"));
    }
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    format!("/mentoring/reviews{query}#review_{id}")
}

/// Takes a request for 30 minutes, so the team's other mentors leave it alone.
async fn claim(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    crate::routes::form::Form(form): crate::routes::form::Form<ClaimForm>,
) -> Result<Response, AppError> {
    reviewable(&state, &user, id).await?;
    match reviews::claim(&state.db, user.id, id).await? {
        Ok(_) => Ok(Redirect::to(&queue_url(&form.team, Some("claimed"), id)).into_response()),
        Err(message) => {
            let page = ReviewAnsweredPage {
                layout: Layout::new(&state, Some(&user), "Review"),
                message,
                back: queue_url(&form.team, None, id),
            };
            Ok((StatusCode::CONFLICT, render(&page)?).into_response())
        }
    }
}

/// Gives a claimed request back to the queue.
async fn release(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    crate::routes::form::Form(form): crate::routes::form::Form<ClaimForm>,
) -> Result<Response, AppError> {
    reviewable(&state, &user, id).await?;
    reviews::release(&state.db, user.id, id).await?;
    Ok(Redirect::to(&queue_url(&form.team, Some("released"), id)).into_response())
}

/// One cell of the mentees × stages matrix.
struct MatrixCell {
    href: String,
    /// For people: "<1" rather than 0 for a non-zero share.
    percent: String,
    /// 0 to 4, for the shading; the numbers are in the text too.
    shade: u32,
    text: String,
}

#[derive(Template)]
#[template(path = "mentoring/matrix.html")]
struct MatrixPage {
    layout: Layout,
    /// `_matrix.html`, drawn once per kept copy of the rows.
    body: Arc<str>,
}

/// The matrix page's content: mentees × stages, the legend and the page links.
#[derive(Template)]
#[template(path = "mentoring/_matrix.html")]
struct MatrixBody<'a> {
    roadmap: &'a Roadmap,
    rows: Vec<(String, String, Vec<MatrixCell>)>,
    total: i64,
    page: i64,
    pages: i64,
    /// This page's own path, for the page links.
    path: String,
}

/// Mentees × stages for one roadmap, a page of mentees at a time: a constant
/// number of queries for any number of mentees.
async fn matrix(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(roadmap_id): Path<String>,
    Query(query): Query<MentoringQuery>,
) -> Result<Response, AppError> {
    let page = page_number(query.page.as_deref());
    let catalog = state.catalog.load();
    let roadmap = catalog.roadmap(&roadmap_id).ok_or(AppError::NotFound)?;
    let kept = state
        .view_cache
        .matrix(
            &state.db,
            &user,
            &roadmap.id,
            (MENTEES_PER_PAGE, (page - 1) * MENTEES_PER_PAGE),
        )
        .await?;
    if kept.mentees.is_empty() && page > 1 {
        let total = mentorships::active_mentee_count(&state.db, user.id, Some(&roadmap.id)).await?;
        let last = format!("/mentoring/matrix/{}?page={}", roadmap.id, page_count(total));
        return Ok(Redirect::to(&last).into_response());
    }
    let (total, counts) = (kept.total, &kept.counts);
    let draw = || {
        let rows = kept
            .mentees
            .iter()
            .map(|(id, username, name)| {
                let cells = roadmap
                    .stages
                    .iter()
                    .zip(roadmap_tallies(roadmap, *id, counts))
                    .map(|(stage, t)| MatrixCell {
                        href: format!("/mentees/{}/{}/{}", username, roadmap.id, stage.id),
                        percent: t.percent_label(),
                        shade: t.percent().div_ceil(25).min(4),
                        text: format!("{}/{}", t.done, t.required - t.skipped),
                    })
                    .collect();
                (name.clone(), username.clone(), cells)
            })
            .collect();
        MatrixBody {
            roadmap,
            rows,
            total,
            page,
            pages: page_count(total),
            path: format!("/mentoring/matrix/{}", roadmap.id),
        }
        .render()
    };
    let body = kept.drawn.get_or_draw(&catalog, &user.time_zone, draw)?;
    Ok(render(&MatrixPage {
        layout: Layout::new(&state, Some(&user), format!("{} · mentees", roadmap.title)),
        body,
    })?
    .into_response())
}
