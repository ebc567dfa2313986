//! Teams and cohorts: the team list, a team's page (members, roadmaps, progress table, feed, join links), its CSV export, a roadmap's team plan (tailoring, target dates), and joining by link.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use time::Date;

use super::{Layout, format_date, format_day, render};
use crate::app::AppState;
use crate::auth::{SignedIn, token};
use crate::charts::WeeklyChart;
use crate::content::catalog::{Catalog, Roadmap};
use crate::db::admin;
use crate::db::progress::StageCounts;
use crate::db::team_plans::{self, FeedItem, TeamPlan};
use crate::db::teams::{self, Invite, Member, ROLES, Team, TeamSummary};
use crate::db::users::{self, User};
use crate::error::AppError;
use crate::progress::{Rule, SkillState, Tally};
use crate::routes::form::Form;

/// Feed items per page of the team page.
const FEED_PAGE: i64 = 20;
/// Weeks in the team's completions chart: 12 fit a 360 px screen.
const CHART_WEEKS: usize = 12;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams", get(list_page).post(create))
        .route("/teams/{team}", get(team_page))
        .route("/teams/{team}/progress.csv", get(progress_csv))
        .route("/teams/{team}/members", post(add_member))
        .route("/teams/{team}/members/{id}/role", post(set_role))
        .route("/teams/{team}/members/{id}/remove", post(remove_member))
        .route("/teams/{team}/leave", post(leave))
        .route("/teams/{team}/roadmaps", post(assign))
        .route("/teams/{team}/roadmaps/{roadmap}/remove", post(unassign))
        .route("/teams/{team}/roadmaps/{roadmap}", get(plan_page))
        .route(
            "/teams/{team}/roadmaps/{roadmap}/stages/{stage}",
            post(save_stage),
        )
        .route(
            "/teams/{team}/roadmaps/{roadmap}/learner-targets",
            post(set_learner_target),
        )
        .route("/teams/{team}/invites", post(create_invite))
        .route("/teams/{team}/invites/{id}/revoke", post(revoke_invite))
        .route("/team-invites/{token}", get(join_page).post(join))
}

/// What the viewer may do with a team. Anyone else, former members included, gets a 404:
/// a team's existence is not told to outsiders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// A site admin, whether or not in the team: manages it.
    Admin,
    /// Manages members, roadmaps and links, and sees everyone's progress.
    Lead,
    /// Sees everyone's progress.
    Mentor,
    /// Sees the team, its roadmaps and members, and their own progress only.
    Learner,
}

impl Standing {
    fn manages(self) -> bool {
        matches!(self, Self::Admin | Self::Lead)
    }

    fn sees_progress(self) -> bool {
        !matches!(self, Self::Learner)
    }
}

/// The team and the viewer's standing in it, or not found.
async fn team_for(
    state: &AppState,
    user: &User,
    slug: &str,
) -> Result<(Team, Standing, Option<String>), AppError> {
    let team = teams::by_slug(&state.db, slug).await?.ok_or(AppError::NotFound)?;
    let role = teams::role_of(&state.db, team.id, user.id).await?;
    let standing = match role.as_deref() {
        _ if user.is_admin => Standing::Admin,
        Some("lead") => Standing::Lead,
        Some("mentor") => Standing::Mentor,
        Some(_) => Standing::Learner,
        None => return Err(AppError::NotFound),
    };
    Ok((team, standing, role))
}

/// The team, if the viewer manages it; a member who does not gets 403.
async fn managed_team(state: &AppState, user: &User, slug: &str) -> Result<Team, AppError> {
    let (team, standing, _) = team_for(state, user, slug).await?;
    if !standing.manages() {
        return Err(AppError::Forbidden);
    }
    Ok(team)
}

fn role_label(role: &str) -> &'static str {
    match role {
        "lead" => "Lead",
        "mentor" => "Mentor",
        _ => "Learner",
    }
}

/// Records a change to `team` in the audit log, naming what it changed (`subject`: a
/// member, a roadmap, a link); the details always say which team.
async fn audit(
    db: &mut sqlx::PgConnection,
    actor: &User,
    action: &str,
    team: &Team,
    subject: &str,
    mut details: serde_json::Value,
) -> sqlx::Result<()> {
    details["team"] = team.slug.clone().into();
    let target = format!("{}: {subject}", team.slug);
    admin::record(db, Some(actor.id), action, &target, details).await
}

fn team_url(team: &Team) -> String {
    format!("/teams/{}", team.slug)
}

// ---------- the list ----------

#[derive(Template)]
#[template(path = "teams/list.html")]
struct ListPage {
    layout: Layout,
    teams: Vec<TeamSummary>,
    is_admin: bool,
    name: String,
    lead: String,
    error: Option<String>,
}

impl ListPage {
    fn role_label(&self, role: &str) -> &'static str {
        role_label(role)
    }
}

async fn list_page(State(state): State<AppState>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let page = list(&state, &user, String::new(), String::new(), None).await?;
    Ok(render(&page)?.into_response())
}

async fn list(
    state: &AppState,
    user: &User,
    name: String,
    lead: String,
    error: Option<String>,
) -> Result<ListPage, AppError> {
    Ok(ListPage {
        layout: Layout::new(state, Some(user), "Teams"),
        teams: teams::list(&state.db, user.id, user.is_admin).await?,
        is_admin: user.is_admin,
        name,
        lead,
        error,
    })
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    /// The first lead's username; empty to add people later.
    #[serde(default)]
    lead: String,
}

/// A URL-safe id from the name: lowercase letters, digits and dashes.
fn slug_of(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(50).collect();
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() { "team".into() } else { slug }
}

async fn create(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Form(form): Form<CreateForm>,
) -> Result<Response, AppError> {
    if !user.is_admin {
        return Err(AppError::Forbidden);
    }
    let name = form.name.trim().to_string();
    let lead_name = form.lead.trim().to_lowercase();
    let refuse = |message: String| async {
        let page = list(&state, &user, name.clone(), lead_name.clone(), Some(message)).await?;
        Ok::<Response, AppError>((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    if name.is_empty() || name.chars().count() > 80 {
        return refuse("Give the team a name of 1 to 80 characters.".into()).await;
    }
    let lead = if lead_name.is_empty() {
        None
    } else {
        match users::by_username(&state.db, &lead_name).await? {
            Some(lead) if !lead.disabled => Some(lead),
            _ => {
                return refuse(format!(
                    "Nobody is called “{lead_name}”: give the lead's username, or leave it empty."
                ))
                .await;
            }
        }
    };
    let base = slug_of(&name);
    let mut tx = state.db.begin().await?;
    // "Design", "design-2", …: a name may repeat, its address may not.
    let mut created = None;
    for n in 1..=20 {
        let slug = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        if let Ok(id) = teams::create(&mut *tx, &slug, &name, user.id).await? {
            created = Some((id, slug));
            break;
        }
    }
    let Some((id, slug)) = created else {
        return refuse("Too many teams have this name. Choose another.".into()).await;
    };
    if let Some(lead) = &lead {
        teams::add_member(&mut tx, id, lead.id, "lead", true).await?;
    }
    admin::record(
        &mut *tx,
        Some(user.id),
        "team.create",
        &slug,
        serde_json::json!({ "team": slug, "name": name, "lead": lead.as_ref().map(|l| l.username.clone()) }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/teams/{slug}?done=created")).into_response())
}

// ---------- a team's page ----------

/// A learner's standing against one roadmap's target dates.
#[derive(Debug, Clone, Default)]
struct Track {
    /// Stages past their date with required skills left: (stage title, due).
    overdue: Vec<(String, String)>,
    /// The nearest date ahead of a stage not finished: (stage title, due).
    next: Option<(String, String)>,
    /// Whether any stage has a date for this learner.
    dated: bool,
}

impl Track {
    fn label(&self) -> &'static str {
        if !self.overdue.is_empty() {
            "Behind"
        } else if self.dated {
            "On track"
        } else {
            "No target dates"
        }
    }

    /// on_track, behind or empty: the CSV's words.
    fn code(&self) -> &'static str {
        if !self.overdue.is_empty() {
            "behind"
        } else if self.dated {
            "on_track"
        } else {
            ""
        }
    }
}

/// One learner on one roadmap: the team's (tailored) tally and the dates.
struct Cell {
    tally: Tally,
    track: Track,
}

/// One learner's row of the progress table: a cell per assigned roadmap.
struct ProgressRow {
    member: Member,
    cells: Vec<Cell>,
}

/// The team's plan as lookups: rules by skill, learners' states of ruled skills, and dates.
struct PlanIndex<'a> {
    rules: HashMap<&'a str, Rule>,
    states: HashMap<(i64, &'a str), (SkillState, bool)>,
    team_dates: HashMap<(&'a str, &'a str), Date>,
    learner_dates: HashMap<(i64, &'a str, &'a str), Date>,
}

impl<'a> PlanIndex<'a> {
    fn new(plan: &'a TeamPlan) -> Self {
        Self {
            rules: plan.rules.iter().map(|(s, r)| (s.as_str(), *r)).collect(),
            states: plan
                .ruled_states
                .iter()
                .map(|(u, s, st, v)| ((*u, s.as_str()), (st.parse().unwrap_or_default(), *v)))
                .collect(),
            team_dates: plan
                .stage_targets
                .iter()
                .map(|(r, s, d)| ((r.as_str(), s.as_str()), *d))
                .collect(),
            learner_dates: plan
                .learner_targets
                .iter()
                .map(|(u, r, s, d)| ((*u, r.as_str(), s.as_str()), *d))
                .collect(),
        }
    }

    /// The date `user_id` has for a stage: a lead's own date for them, else the team's.
    fn due(&self, user_id: i64, roadmap_id: &str, stage_id: &str) -> Option<Date> {
        self.learner_dates
            .get(&(user_id, roadmap_id, stage_id))
            .or_else(|| self.team_dates.get(&(roadmap_id, stage_id)))
            .copied()
    }
}

/// `user_id`'s cell on `roadmap`: each stage's counts tailored by the team's rules, summed,
/// and each stage with a date checked against `today`.
fn cell(
    roadmap: &Roadmap,
    user_id: i64,
    counts: &HashMap<(i64, &str, &str), &teams::LearnerCounts>,
    plan: &PlanIndex<'_>,
    today: Date,
) -> Cell {
    let mut total = Tally::default();
    let mut track = Track::default();
    for stage in &roadmap.stages {
        let c = counts.get(&(user_id, roadmap.id.as_str(), stage.id.as_str()));
        let n = |f: fn(&teams::LearnerCounts) -> i64| c.map_or(0, |c| f(c)) as u32;
        let stage_counts = StageCounts {
            done: n(|c| c.done),
            optional_done: n(|c| c.optional_done),
            in_progress: n(|c| c.in_progress),
            skipped: n(|c| c.skipped),
            verified: n(|c| c.verified),
        };
        let tally = Tally::from_counts(stage, stage_counts).tailored(stage.skills.iter().filter_map(|k| {
            plan.rules.get(k.id.as_str()).map(|rule| {
                let (state, verified) = plan
                    .states
                    .get(&(user_id, k.id.as_str()))
                    .copied()
                    .unwrap_or_default();
                (k, *rule, state, verified)
            })
        }));
        total = total + tally;
        if let Some(due) = plan.due(user_id, &roadmap.id, &stage.id) {
            track.dated = true;
            if tally.remaining() > 0 {
                if due < today {
                    track.overdue.push((stage.title.clone(), format_day(due)));
                } else if track.next.is_none() {
                    track.next = Some((stage.title.clone(), format_day(due)));
                }
            }
        }
    }
    Cell { tally: total, track }
}

#[derive(Template)]
#[template(path = "teams/team.html")]
struct TeamPage<'a> {
    layout: Layout,
    team: Team,
    standing: Standing,
    /// The viewer's own role, if they are in the team.
    role: Option<String>,
    members: Vec<(Member, String)>,
    /// (id, title) of the assigned roadmaps, in order.
    roadmaps: Vec<(String, String)>,
    /// Roadmaps that could still be assigned.
    unassigned: Vec<(&'a str, &'a str)>,
    rows: Vec<ProgressRow>,
    invites: Vec<(Invite, String)>,
    notice: Option<&'static str>,
    /// A join link just made: shown once.
    new_link: Option<String>,
    member_error: Option<String>,
    /// Why a change to the members was refused (it would leave the team without a lead),
    /// shown at the top of the page the browser lands on.
    members_error: Option<&'static str>,
    member_username: String,
    invite_error: Option<String>,
    /// The join link form's address, kept when the form comes back, and what became of the email.
    invite_email: String,
    invite_sent: Option<String>,
    roles: [&'static str; 3],
    /// The feed page shown (1-based), its items (item, when, skill title), and whether
    /// there are older ones; empty for learners.
    feed_page: i64,
    feed: Vec<(FeedItem, String, String)>,
    feed_more: bool,
    /// The team's completions per week, for those who see its progress.
    weekly: Option<WeeklyChart>,
}

impl TeamPage<'_> {
    /// Mentors and leads review the team's requests from its shared queue.
    fn reviews_here(&self) -> bool {
        matches!(self.role.as_deref(), Some("mentor" | "lead"))
    }

    fn role_label(&self, role: &str) -> &'static str {
        role_label(role)
    }
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
    /// The feed's page, 1-based.
    feed: Option<String>,
}

async fn team_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    axum::extract::Query(query): axum::extract::Query<DoneQuery>,
) -> Result<Response, AppError> {
    let (team, standing, role) = team_for(&state, &user, &slug).await?;
    let catalog = state.catalog.load();
    let feed_page = query
        .feed
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=1000).contains(p))
        .unwrap_or(1);
    let mut page = load_team_page_at(&state, &user, &catalog, team, standing, role, feed_page).await?;
    page.notice = match query.done.as_deref() {
        Some("created") => Some("The team was created. Add people, assign roadmaps, or make a join link."),
        Some("member") => Some("Saved."),
        Some("removed") => Some("They are no longer in the team; their progress stays theirs."),
        Some("assigned") => Some("The roadmap is assigned: the team's learners have started it."),
        Some("unassigned") => Some("The roadmap is no longer assigned. Learners keep their progress."),
        Some("revoked") => Some("The link was revoked: it no longer works."),
        Some("joined") => Some("Welcome to the team."),
        _ => None,
    };
    Ok(render(&page)?.into_response())
}

async fn load_team_page<'a>(
    state: &AppState,
    user: &User,
    catalog: &'a Catalog,
    team: Team,
    standing: Standing,
    role: Option<String>,
) -> Result<TeamPage<'a>, AppError> {
    load_team_page_at(state, user, catalog, team, standing, role, 1).await
}

/// The team page with the feed at `feed_page`. Statements: the team, the viewer's role,
/// members, roadmaps, the plan, the progress, the feed and chart, the links: a fixed
/// number whatever the team's size.
async fn load_team_page_at<'a>(
    state: &AppState,
    user: &User,
    catalog: &'a Catalog,
    team: Team,
    standing: Standing,
    role: Option<String>,
    feed_page: i64,
) -> Result<TeamPage<'a>, AppError> {
    let members = teams::members(&state.db, team.id).await?;
    let assigned = teams::roadmaps(&state.db, team.id).await?;
    let roadmaps: Vec<(String, String)> = assigned
        .iter()
        .filter_map(|id| catalog.roadmap(id).map(|r| (r.id.clone(), r.title.clone())))
        .collect();
    let unassigned = catalog
        .roadmaps
        .iter()
        .filter(|r| !assigned.contains(&r.id))
        .map(|r| (r.id.as_str(), r.title.as_str()))
        .collect();
    let plan = team_plans::plan(&state.db, team.id).await?;
    let rows = progress_rows(state, user, catalog, &team, standing, &members, &roadmaps, &plan).await?;
    let (feed, feed_more, weekly) = if standing.sees_progress() {
        let today = crate::time_zones::viewer().today();
        let since = today - time::Duration::weeks(CHART_WEEKS as i64);
        let activity =
            team_plans::activity(&state.db, team.id, FEED_PAGE, (feed_page - 1) * FEED_PAGE, since).await?;
        let feed = activity
            .feed
            .into_iter()
            .map(|item| {
                let when = format_date(item.at);
                let title = item
                    .skill_id
                    .as_deref()
                    .and_then(|id| catalog.skill(id))
                    .map_or_else(
                        || item.skill_id.clone().unwrap_or_default(),
                        |(_, _, k)| k.title.clone(),
                    );
                (item, when, title)
            })
            .collect();
        (
            feed,
            activity.more,
            Some(WeeklyChart::new(today, CHART_WEEKS, &activity.weeks)),
        )
    } else {
        (Vec::new(), false, None)
    };
    let invites = if standing.manages() {
        teams::invites(&state.db, team.id)
            .await?
            .into_iter()
            .map(|i| {
                let expires = format_date(i.expires_at);
                (i, expires)
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(TeamPage {
        layout: Layout::new(state, Some(user), team.name.clone()),
        members: members
            .into_iter()
            .map(|m| {
                let joined = format_date(m.joined_at);
                (m, joined)
            })
            .collect(),
        team,
        standing,
        role,
        roadmaps,
        unassigned,
        rows,
        invites,
        notice: None,
        new_link: None,
        member_error: None,
        members_error: None,
        member_username: String::new(),
        invite_error: None,
        invite_email: String::new(),
        invite_sent: None,
        roles: ROLES,
        feed_page,
        feed,
        feed_more,
        weekly,
    })
}

/// The learners' progress on each assigned roadmap, as the team's version counts it:
/// everyone's for those who see the team's progress, only the viewer's own row for a learner.
#[allow(clippy::too_many_arguments)]
async fn progress_rows(
    state: &AppState,
    user: &User,
    catalog: &Catalog,
    team: &Team,
    standing: Standing,
    members: &[Member],
    roadmaps: &[(String, String)],
    plan: &TeamPlan,
) -> Result<Vec<ProgressRow>, AppError> {
    let counts = teams::progress(&state.db, team.id).await?;
    let by_key: HashMap<(i64, &str, &str), &teams::LearnerCounts> = counts
        .iter()
        .filter_map(|c| {
            c.stage_id
                .as_deref()
                .map(|s| ((c.user_id, c.roadmap_id.as_str(), s), c))
        })
        .collect();
    let index = PlanIndex::new(plan);
    let today = crate::time_zones::viewer().today();
    let rows = members
        .iter()
        .filter(|m| m.role == "learner" && (standing.sees_progress() || m.user_id == user.id))
        .map(|m| ProgressRow {
            member: m.clone(),
            cells: roadmaps
                .iter()
                .map(|(id, _)| match catalog.roadmap(id) {
                    Some(roadmap) => cell(roadmap, m.user_id, &by_key, &index, today),
                    None => Cell {
                        tally: Tally::default(),
                        track: Track::default(),
                    },
                })
                .collect(),
        })
        .collect();
    Ok(rows)
}

// ---------- managing members ----------

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default, rename = "member_username")]
    username: String,
    #[serde(default)]
    role: String,
}

fn valid_role(role: &str) -> Option<&'static str> {
    ROLES.into_iter().find(|r| *r == role)
}

const LAST_LEAD: &str = "A team with members needs a lead to manage it. Make another member a lead first.";
const LAST_LEAD_LEAVING: &str = "You are this team’s only lead, and others are still in it. \
     Make another member a lead, then leave.";

/// The team page again, 409, saying the change would leave the team without a lead.
async fn last_lead_refused(
    state: &AppState,
    user: &User,
    slug: &str,
    leaving: bool,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (team, standing, own) = team_for(state, user, slug).await?;
    let mut page = load_team_page(state, user, &catalog, team, standing, own).await?;
    page.members_error = Some(if leaving { LAST_LEAD_LEAVING } else { LAST_LEAD });
    Ok((StatusCode::CONFLICT, render(&page)?).into_response())
}

async fn add_member(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<Response, AppError> {
    let team = managed_team(&state, &user, &slug).await?;
    let username = form.username.trim().to_lowercase();
    let role = valid_role(&form.role).unwrap_or("learner");
    let person = match users::by_username(&state.db, &username).await? {
        Some(person) if !person.disabled => person,
        _ => {
            let catalog = state.catalog.load();
            let (team, standing, own) = team_for(&state, &user, &slug).await?;
            let mut page = load_team_page(&state, &user, &catalog, team, standing, own).await?;
            page.member_error = Some(if username.is_empty() {
                "Give the username of the person to add.".to_string()
            } else {
                format!("Nobody is called “{username}”. Check the username (not the display name).")
            });
            page.member_username = username;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    teams::add_member(&mut tx, team.id, person.id, role, true).await?;
    audit(
        &mut tx,
        &user,
        "team.member_add",
        &team,
        &person.username,
        serde_json::json!({ "member": person.username, "role": role }),
    )
    .await?;
    // The person added is told (and emailed, if they chose so), with the change.
    if person.id != user.id {
        let notice = crate::notify::Notice {
            recipients: vec![person.id],
            actor_id: Some(user.id),
            kind: "team_added",
            summary: format!(
                "{} added you to the team “{}” as {role}",
                user.display_name, team.name
            ),
            target_url: team_url(&team),
        };
        let email = state.settings.email.then_some(state.settings.public_url.as_str());
        crate::notify::deliver_in(&mut tx, email, &notice).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}?done=member", team_url(&team))).into_response())
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, i64)>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    let team = managed_team(&state, &user, &slug).await?;
    let role = valid_role(&form.role).ok_or(AppError::BadRequest)?;
    if teams::role_of(&state.db, team.id, id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let mut tx = state.db.begin().await?;
    if role != "lead" && teams::is_last_lead(&mut tx, team.id, id).await? {
        drop(tx);
        return last_lead_refused(&state, &user, &slug, false).await;
    }
    teams::add_member(&mut tx, team.id, id, role, true).await?;
    let username = users::by_id(&mut *tx, id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    audit(
        &mut tx,
        &user,
        "team.role",
        &team,
        &username,
        serde_json::json!({ "member": username, "role": role }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}?done=member", team_url(&team))).into_response())
}

async fn remove_member(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let team = managed_team(&state, &user, &slug).await?;
    let mut tx = state.db.begin().await?;
    if teams::is_last_lead(&mut tx, team.id, id).await? {
        drop(tx);
        return last_lead_refused(&state, &user, &slug, false).await;
    }
    if !teams::remove_member(&mut *tx, team.id, id).await? {
        return Err(AppError::NotFound);
    }
    let username = users::by_id(&mut *tx, id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    audit(
        &mut tx,
        &user,
        "team.member_remove",
        &team,
        &username,
        serde_json::json!({ "member": username }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}?done=removed", team_url(&team))).into_response())
}

async fn leave(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let team = teams::by_slug(&state.db, &slug)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await?;
    if teams::is_last_lead(&mut tx, team.id, user.id).await? {
        drop(tx);
        return last_lead_refused(&state, &user, &slug, true).await;
    }
    if !teams::remove_member(&mut *tx, team.id, user.id).await? {
        return Err(AppError::NotFound);
    }
    audit(
        &mut tx,
        &user,
        "team.leave",
        &team,
        &user.username,
        serde_json::json!({ "member": user.username }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/teams").into_response())
}

// ---------- roadmaps ----------

#[derive(Deserialize)]
struct AssignForm {
    #[serde(default)]
    roadmap: String,
}

async fn assign(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Form(form): Form<AssignForm>,
) -> Result<Response, AppError> {
    let team = managed_team(&state, &user, &slug).await?;
    let roadmap = state
        .catalog
        .load()
        .roadmap(&form.roadmap)
        .map(|r| r.id.clone())
        .ok_or(AppError::BadRequest)?;
    let mut tx = state.db.begin().await?;
    if teams::assign(&mut tx, team.id, &roadmap).await? {
        audit(
            &mut tx,
            &user,
            "team.assign",
            &team,
            &roadmap,
            serde_json::json!({ "roadmap": roadmap }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}?done=assigned", team_url(&team))).into_response())
}

async fn unassign(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, roadmap)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let team = managed_team(&state, &user, &slug).await?;
    let mut tx = state.db.begin().await?;
    if !teams::unassign(&mut *tx, team.id, &roadmap).await? {
        return Err(AppError::NotFound);
    }
    audit(
        &mut tx,
        &user,
        "team.unassign",
        &team,
        &roadmap,
        serde_json::json!({ "roadmap": roadmap }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}?done=unassigned", team_url(&team))).into_response())
}

// ---------- a roadmap's team plan: tailoring and target dates ----------

/// One stage's form on the plan page.
struct PlanStage<'a> {
    stage: &'a crate::content::catalog::Stage,
    /// The date field's value: YYYY-MM-DD, or what was typed when it was refused.
    due: String,
    /// Each skill with its rule ("hidden", "required" or "").
    skills: Vec<(&'a crate::content::catalog::Skill, &'static str)>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "teams/plan.html")]
struct PlanPage<'a> {
    layout: Layout,
    team: Team,
    roadmap: &'a Roadmap,
    stages: Vec<PlanStage<'a>>,
    /// The team's current learners, for the per-learner date form.
    learners: Vec<Member>,
    /// Per-learner dates on this roadmap: (learner, stage title, stage id, due).
    overrides: Vec<(Member, String, String, String)>,
    notice: Option<&'static str>,
    /// The per-learner form's values (learner id, stage id, date) and its error.
    learner_form: (String, String, String),
    learner_error: Option<String>,
    hidden: usize,
    required: usize,
}

/// The team (managed by the viewer) and one of its assigned roadmaps.
async fn planned_roadmap<'a>(
    state: &AppState,
    user: &User,
    slug: &str,
    roadmap_id: &str,
    catalog: &'a Catalog,
) -> Result<(Team, &'a Roadmap), AppError> {
    let team = managed_team(state, user, slug).await?;
    let roadmap = catalog.roadmap(roadmap_id).ok_or(AppError::NotFound)?;
    if !teams::roadmaps(&state.db, team.id).await?.contains(&roadmap.id) {
        return Err(AppError::NotFound);
    }
    Ok((team, roadmap))
}

fn iso(day: Date) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}

/// A date field: empty is none; otherwise YYYY-MM-DD (what date inputs send) in a sane range.
fn parse_due(text: &str) -> Result<Option<Date>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
        .ok()
        .filter(|d| (2000..=2100).contains(&d.year()))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "“{}” is not a date: use the form 2027-03-31, or leave it empty for no date.",
                text.chars().take(40).collect::<String>()
            )
        })
}

async fn load_plan_page<'a>(
    state: &AppState,
    user: &User,
    team: Team,
    roadmap: &'a Roadmap,
) -> Result<PlanPage<'a>, AppError> {
    let plan = team_plans::plan(&state.db, team.id).await?;
    let members = teams::members(&state.db, team.id).await?;
    let rules: HashMap<&str, Rule> = plan.rules.iter().map(|(s, r)| (s.as_str(), *r)).collect();
    let (mut hidden, mut required) = (0, 0);
    let stages = roadmap
        .stages
        .iter()
        .map(|stage| PlanStage {
            stage,
            due: plan
                .stage_targets
                .iter()
                .find(|(r, s, _)| *r == roadmap.id && *s == stage.id)
                .map(|(_, _, d)| iso(*d))
                .unwrap_or_default(),
            skills: stage
                .skills
                .iter()
                .map(|k| {
                    let rule = rules.get(k.id.as_str()).map_or("", |r| r.as_str());
                    hidden += usize::from(rule == "hidden");
                    required += usize::from(rule == "required" && k.optional);
                    (k, rule)
                })
                .collect(),
            error: None,
        })
        .collect();
    let learners: Vec<Member> = members.into_iter().filter(|m| m.role == "learner").collect();
    let overrides = plan
        .learner_targets
        .iter()
        .filter(|(_, r, _, _)| *r == roadmap.id)
        .filter_map(|(u, _, s, d)| {
            let member = learners.iter().find(|m| m.user_id == *u)?.clone();
            let (_, stage) = roadmap.stage(s)?;
            Some((member, stage.title.clone(), stage.id.clone(), format_day(*d)))
        })
        .collect();
    Ok(PlanPage {
        layout: Layout::new(state, Some(user), format!("{}: {}", team.name, roadmap.title)),
        team,
        roadmap,
        stages,
        learners,
        overrides,
        notice: None,
        learner_form: Default::default(),
        learner_error: None,
        hidden,
        required,
    })
}

async fn plan_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, roadmap_id)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<DoneQuery>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (team, roadmap) = planned_roadmap(&state, &user, &slug, &roadmap_id, &catalog).await?;
    let mut page = load_plan_page(&state, &user, team, roadmap).await?;
    page.notice = match query.done.as_deref() {
        Some("stage") => Some("Saved: the team's version of this stage and its date."),
        Some("learner") => Some("Saved the learner's date."),
        _ => None,
    };
    Ok(render(&page)?.into_response())
}

/// Saves one stage's tailoring (a rule per skill, from `rule_<skill id>` fields) and its
/// target date (`due`), together.
async fn save_stage(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, roadmap_id, stage_id)): Path<(String, String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (team, roadmap) = planned_roadmap(&state, &user, &slug, &roadmap_id, &catalog).await?;
    let (_, stage) = roadmap.stage(&stage_id).ok_or(AppError::NotFound)?;
    let rules: Vec<(String, Option<Rule>)> = stage
        .skills
        .iter()
        .map(|k| {
            let rule = form
                .get(&format!("rule_{}", k.id))
                .and_then(|r| r.parse::<Rule>().ok());
            (k.id.clone(), rule)
        })
        .collect();
    let due = match parse_due(form.get("due").map_or("", String::as_str)) {
        Ok(due) => due,
        Err(message) => {
            let mut page = load_plan_page(&state, &user, team, roadmap).await?;
            if let Some(shown) = page.stages.iter_mut().find(|p| p.stage.id == stage.id) {
                shown.due = form.get("due").cloned().unwrap_or_default();
                for (skill, rule) in shown.skills.iter_mut() {
                    *rule = rules
                        .iter()
                        .find(|(id, _)| *id == skill.id)
                        .and_then(|(_, r)| *r)
                        .map_or("", Rule::as_str);
                }
                shown.error = Some(message);
            }
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let count = |want: Rule| rules.iter().filter(|(_, r)| *r == Some(want)).count();
    let mut tx = state.db.begin().await?;
    team_plans::set_rules(&mut tx, team.id, &rules, user.id).await?;
    team_plans::set_stage_target(&mut *tx, team.id, &roadmap.id, &stage.id, due).await?;
    audit(
        &mut tx,
        &user,
        "team.plan",
        &team,
        &format!("{}/{}", roadmap.id, stage.id),
        serde_json::json!({
            "roadmap": roadmap.id, "stage": stage.id, "due_on": due.map(iso),
            "hidden": count(Rule::Hidden), "required": count(Rule::Required),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!(
        "{}/roadmaps/{}?done=stage#stage-{}",
        team_url(&team),
        roadmap.id,
        stage.id
    ))
    .into_response())
}

#[derive(Deserialize)]
struct LearnerTargetForm {
    #[serde(default)]
    learner: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    due: String,
}

/// Sets (or, with an empty date, clears) one learner's date for a stage.
async fn set_learner_target(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, roadmap_id)): Path<(String, String)>,
    Form(form): Form<LearnerTargetForm>,
) -> Result<Response, AppError> {
    let catalog = state.catalog.load();
    let (team, roadmap) = planned_roadmap(&state, &user, &slug, &roadmap_id, &catalog).await?;
    let learner = match form.learner.parse::<i64>() {
        Ok(id) => teams::role_of(&state.db, team.id, id)
            .await?
            .filter(|r| r == "learner")
            .map(|_| id),
        Err(_) => None,
    };
    let stage = roadmap.stage(&form.stage).map(|(_, s)| s);
    let due = parse_due(&form.due);
    let problem = match (&learner, &stage, &due) {
        (None, _, _) => Some("Choose one of the team's learners.".to_string()),
        (_, None, _) => Some("Choose a stage of this roadmap.".to_string()),
        (_, _, Err(message)) => Some(message.clone()),
        _ => None,
    };
    let (Some(learner), Some(stage), Ok(due), None) = (learner, stage, due, problem.clone()) else {
        let mut page = load_plan_page(&state, &user, team, roadmap).await?;
        page.learner_form = (form.learner, form.stage, form.due);
        page.learner_error = problem;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let mut tx = state.db.begin().await?;
    team_plans::set_learner_target(&mut *tx, team.id, learner, &roadmap.id, &stage.id, due).await?;
    let username = users::by_id(&mut *tx, learner)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    audit(
        &mut tx,
        &user,
        "team.learner_target",
        &team,
        &username,
        serde_json::json!({ "member": username, "roadmap": roadmap.id, "stage": stage.id, "due_on": due.map(iso) }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!(
        "{}/roadmaps/{}?done=learner#learner-dates",
        team_url(&team),
        roadmap.id
    ))
    .into_response())
}

// ---------- join links ----------

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    role: String,
    /// A number of uses, or empty for no limit.
    #[serde(default)]
    uses: String,
    #[serde(default)]
    days: String,
    /// An address to email the link to; empty: nobody.
    #[serde(default)]
    email: String,
}

async fn create_invite(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let team = managed_team(&state, &user, &slug).await?;
    let role = valid_role(&form.role).unwrap_or("learner");
    let uses = form.uses.trim();
    let max_uses = if uses.is_empty() {
        Ok(None)
    } else {
        uses.parse::<i32>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .map(Some)
            .ok_or(())
    };
    let days = form
        .days
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|d| (1..=365).contains(d));
    let catalog = state.catalog.load();
    let address = form.email.trim();
    let email_error = crate::mail::address_problem(address);
    let (Ok(max_uses), Some(days), None) = (max_uses, days, &email_error) else {
        let (team, standing, own) = team_for(&state, &user, &slug).await?;
        let mut page = load_team_page(&state, &user, &catalog, team, standing, own).await?;
        page.invite_error = email_error.or_else(|| {
            Some(
                "Uses must be a number from 1 to 10,000 (or empty for no limit), and days from 1 to 365."
                    .into(),
            )
        });
        page.invite_email = address.chars().take(254).collect();
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let secret = token::generate();
    let mut tx = state.db.begin().await?;
    let id = teams::create_invite(
        &mut *tx,
        team.id,
        &token::hash(&secret),
        role,
        max_uses,
        days,
        user.id,
    )
    .await?;
    audit(
        &mut tx,
        &user,
        "team.invite_create",
        &team,
        &format!("link #{id}"),
        serde_json::json!({ "role": role, "max_uses": max_uses, "valid_days": days }),
    )
    .await?;
    tx.commit().await?;
    let (team, standing, own) = team_for(&state, &user, &slug).await?;
    let link = format!("{}/team-invites/{secret}", state.settings.public_url);
    let sent = if address.is_empty() {
        None
    } else {
        let purpose = format!(
            "join the team {} as a {}",
            team.name,
            role_label(role).to_lowercase()
        );
        let mail = crate::mail::send_invitation(
            &state.db,
            state.settings.email,
            address,
            (&user.display_name, &purpose),
            &link,
            days,
        )
        .await
        .map_err(AppError::Internal)?;
        Some(mail.message())
    };
    let mut page = load_team_page(&state, &user, &catalog, team, standing, own).await?;
    page.new_link = Some(link);
    page.invite_sent = sent;
    // The link is shown once: never cached.
    let mut response = render(&page)?.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn revoke_invite(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let team = managed_team(&state, &user, &slug).await?;
    let mut tx = state.db.begin().await?;
    if !teams::revoke_invite(&mut *tx, team.id, id).await? {
        return Err(AppError::NotFound);
    }
    audit(
        &mut tx,
        &user,
        "team.invite_revoke",
        &team,
        &format!("link #{id}"),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}?done=revoked", team_url(&team))).into_response())
}

#[derive(Template)]
#[template(path = "teams/join.html")]
struct JoinPage {
    layout: Layout,
    /// (team name, role label), when the link is open.
    invite: Option<(String, &'static str)>,
    /// Already in the team: where to go instead.
    member_of: Option<String>,
    /// This link's own address, to post the answer to.
    action: String,
}

async fn join_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(secret): Path<String>,
) -> Result<Response, AppError> {
    let found = teams::open_invite(&state.db, &token::hash(&secret)).await?;
    let (invite, member_of) = match found {
        Some((team, role)) => {
            let member = teams::role_of(&state.db, team.id, user.id).await?.is_some();
            if member {
                (None, Some(team_url(&team)))
            } else {
                (Some((team.name, role_label(&role))), None)
            }
        }
        None => (None, None),
    };
    let status = if invite.is_some() || member_of.is_some() {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    let page = JoinPage {
        layout: Layout::new(&state, Some(&user), "Join a team"),
        invite,
        member_of,
        action: format!("/team-invites/{secret}"),
    };
    Ok((status, render(&page)?).into_response())
}

async fn join(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(secret): Path<String>,
) -> Result<Response, AppError> {
    let mut tx = state.db.begin().await?;
    let Some(team) = teams::join(&mut tx, &token::hash(&secret), user.id).await? else {
        drop(tx);
        let page = JoinPage {
            layout: Layout::new(&state, Some(&user), "Join a team"),
            invite: None,
            member_of: None,
            action: format!("/team-invites/{secret}"),
        };
        return Ok((StatusCode::GONE, render(&page)?).into_response());
    };
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}?done=joined", team_url(&team))).into_response())
}

// ---------- export ----------

async fn progress_csv(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let (team, standing, _) = team_for(&state, &user, &slug).await?;
    if !standing.sees_progress() {
        return Err(AppError::Forbidden);
    }
    let catalog = state.catalog.load();
    let members = teams::members(&state.db, team.id).await?;
    let roadmaps: Vec<(String, String)> = teams::roadmaps(&state.db, team.id)
        .await?
        .iter()
        .filter_map(|id| catalog.roadmap(id).map(|r| (r.id.clone(), r.title.clone())))
        .collect();
    let plan = team_plans::plan(&state.db, team.id).await?;
    let rows = progress_rows(
        &state, &user, &catalog, &team, standing, &members, &roadmaps, &plan,
    )
    .await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let write_error = |e: csv::Error| AppError::Internal(e.into());
    out.write_record([
        "username",
        "display_name",
        "roadmap",
        "percent_done",
        "done",
        "required",
        "in_progress",
        "skipped",
        "verified",
        "optional_done",
        "target_status",
        "overdue_stages",
        "next_target",
    ])
    .map_err(write_error)?;
    for row in &rows {
        for ((id, _), cell) in roadmaps.iter().zip(&row.cells) {
            let t = &cell.tally;
            let overdue: Vec<String> = cell
                .track
                .overdue
                .iter()
                .map(|(stage, due)| format!("{stage} ({due})"))
                .collect();
            let next = cell
                .track
                .next
                .as_ref()
                .map(|(stage, due)| format!("{stage} ({due})"))
                .unwrap_or_default();
            out.write_record([
                crate::transfer::spreadsheet_safe(&row.member.username).as_ref(),
                crate::transfer::spreadsheet_safe(&row.member.display_name).as_ref(),
                id,
                &t.percent().to_string(),
                &t.done.to_string(),
                &t.required.to_string(),
                &t.in_progress.to_string(),
                &t.skipped.to_string(),
                &t.verified.to_string(),
                &t.optional_done.to_string(),
                cell.track.code(),
                crate::transfer::spreadsheet_safe(&overdue.join("; ")).as_ref(),
                crate::transfer::spreadsheet_safe(&next).as_ref(),
            ])
            .map_err(write_error)?;
        }
    }
    let body = out.into_inner().map_err(|e| AppError::Internal(e.into()))?;
    let today = crate::time_zones::viewer().today();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"pathway-team-{}-{today}.csv\"", team.slug),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::slug_of;

    #[test]
    fn slugs_are_readable_and_safe() {
        assert_eq!(
            slug_of("Backend Cohort, Spring 2027"),
            "backend-cohort-spring-2027"
        );
        assert_eq!(slug_of("  ¿Qué?  "), "qu");
        assert_eq!(slug_of("!!!"), "team");
        assert!(slug_of(&"x".repeat(200)).len() <= 50);
    }
}
