//! Teams and cohorts: the team list, a team's page (members, roadmaps, progress table, join links), its CSV export, and joining by link.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Layout, format_date, render};
use crate::app::AppState;
use crate::auth::{SignedIn, token};
use crate::db::admin;
use crate::db::teams::{self, Invite, Member, ROLES, Team, TeamSummary};
use crate::db::users::{self, User};
use crate::error::AppError;
use crate::progress::Tally;
use crate::routes::form::Form;

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

/// One learner's row of the progress table: a cell per assigned roadmap.
struct ProgressRow {
    member: Member,
    cells: Vec<Tally>,
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
    member_username: String,
    invite_error: Option<String>,
    roles: [&'static str; 3],
}

impl TeamPage<'_> {
    fn role_label(&self, role: &str) -> &'static str {
        role_label(role)
    }
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

async fn team_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    axum::extract::Query(query): axum::extract::Query<DoneQuery>,
) -> Result<Response, AppError> {
    let (team, standing, role) = team_for(&state, &user, &slug).await?;
    let catalog = state.catalog.load();
    let mut page = load_team_page(&state, &user, &catalog, team, standing, role).await?;
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
    catalog: &'a crate::content::Catalog,
    team: Team,
    standing: Standing,
    role: Option<String>,
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
    let rows = progress_rows(state, user, catalog, &team, standing, &members, &roadmaps).await?;
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
        member_username: String::new(),
        invite_error: None,
        roles: ROLES,
    })
}

/// The learners' progress on each assigned roadmap: everyone's for those who see the
/// team's progress, only the viewer's own row for a learner.
async fn progress_rows(
    state: &AppState,
    user: &User,
    catalog: &crate::content::Catalog,
    team: &Team,
    standing: Standing,
    members: &[Member],
    roadmaps: &[(String, String)],
) -> Result<Vec<ProgressRow>, AppError> {
    let counts = teams::progress(&state.db, team.id).await?;
    let by_key: HashMap<(i64, &str), &teams::LearnerCounts> = counts
        .iter()
        .map(|c| ((c.user_id, c.roadmap_id.as_str()), c))
        .collect();
    let rows = members
        .iter()
        .filter(|m| m.role == "learner" && (standing.sees_progress() || m.user_id == user.id))
        .map(|m| ProgressRow {
            member: m.clone(),
            cells: roadmaps
                .iter()
                .map(|(id, _)| {
                    let roadmap = catalog.roadmap(id);
                    let optional = roadmap.map_or(0, |r| r.optional_count()) as u32;
                    let required = roadmap.map_or(0, |r| r.skill_count()) as u32 - optional;
                    let c = by_key.get(&(m.user_id, id.as_str()));
                    let n = |f: fn(&teams::LearnerCounts) -> i64| c.map_or(0, |c| f(c)) as u32;
                    Tally {
                        required,
                        optional,
                        done: n(|c| c.done),
                        optional_done: n(|c| c.optional_done),
                        in_progress: n(|c| c.in_progress),
                        skipped: n(|c| c.skipped),
                        verified: n(|c| c.verified),
                    }
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
    let (Ok(max_uses), Some(days)) = (max_uses, days) else {
        let (team, standing, own) = team_for(&state, &user, &slug).await?;
        let mut page = load_team_page(&state, &user, &catalog, team, standing, own).await?;
        page.invite_error = Some(
            "Uses must be a number from 1 to 10,000 (or empty for no limit), and days from 1 to 365.".into(),
        );
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
    let mut page = load_team_page(&state, &user, &catalog, team, standing, own).await?;
    page.new_link = Some(format!("{}/team-invites/{secret}", state.settings.public_url));
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
    let rows = progress_rows(&state, &user, &catalog, &team, standing, &members, &roadmaps).await?;
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
    ])
    .map_err(write_error)?;
    for row in &rows {
        for ((id, _), t) in roadmaps.iter().zip(&row.cells) {
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
