//! What a learner's own pages read about them, one statement per page.
//!
//! The stage page used to make eight small queries, each a round trip and a pool
//! checkout; at a few milliseconds of CPU per page that overhead was most of
//! the cost. Here each part is a JSON array built by PostgreSQL from the same
//! indexed per-learner lookups, and decoded into the usual row types.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;
use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;

use super::comments::Comment;
use super::notes::{Evidence, Note};
use super::progress::{ProgressMap, ProgressRow, StageCounts};
use super::reviews::Review;

/// The two counters that say whether what a learner's pages read has changed
/// (migration 0044): the learner's own version and the epoch every learner shares.
/// Read in the same snapshot as the rows they stamp, and by the session statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
pub struct ViewStamp {
    pub version: i64,
    pub epoch: i64,
}

/// One learner's rows for the skills of one stage.
#[derive(Debug, Default)]
pub struct StageRows {
    /// The counters as they were in the snapshot these rows come from.
    pub stamp: ViewStamp,
    pub enrolled: bool,
    pub progress: ProgressMap,
    pub notes: HashMap<String, Note>,
    pub evidence: Vec<Evidence>,
    pub reviews: Vec<Review>,
    /// Whether an active mentor can see this roadmap.
    pub has_mentor: bool,
    pub comments: Vec<Comment>,
    pub ticked: HashMap<String, HashSet<String>>,
    /// What the learner's teams say about these skills and the roadmap's stage dates.
    pub plan: super::team_plans::LearnerPlan,
    /// The notes and comments as HTML: drawn on first use, so a kept copy sanitizes its
    /// markdown once rather than on every view, and a stage page (which shows neither)
    /// not at all.
    drawn: OnceLock<DrawnMarkdown>,
}

/// User markdown of [`StageRows`] rendered and sanitized.
#[derive(Debug, Default)]
pub struct DrawnMarkdown {
    /// By skill id.
    pub notes: HashMap<String, String>,
    /// By comment id.
    pub comments: HashMap<i64, String>,
}

impl StageRows {
    /// The notes and comments as HTML, drawn once per copy of the rows.
    pub fn drawn_markdown(&self) -> &DrawnMarkdown {
        self.drawn.get_or_init(|| {
            let draw = crate::markdown::user_markdown_to_html;
            DrawnMarkdown {
                notes: self
                    .notes
                    .iter()
                    .map(|(skill, n)| (skill.clone(), draw(&n.body_md)))
                    .collect(),
                comments: self.comments.iter().map(|c| (c.id, draw(&c.body_md))).collect(),
            }
        })
    }
}

/// Loads [`StageRows`] for `user_id` on `skill_ids` of `roadmap_id`.
pub async fn stage(
    db: impl PgExecutor<'_>,
    user_id: i64,
    roadmap_id: &str,
    skill_ids: &[String],
) -> sqlx::Result<StageRows> {
    stage_rows(db, user_id, roadmap_id, skill_ids, true).await
}

/// [`StageRows`] without the learner's workspace (notes, evidence, comments, sub-step
/// ticks left empty): what the answer to a change shows, the skill's progress block and
/// its stage's panel. Never kept, since a page would miss the workspace.
pub async fn stage_progress(
    db: impl PgExecutor<'_>,
    user_id: i64,
    roadmap_id: &str,
    skill_ids: &[String],
) -> sqlx::Result<StageRows> {
    stage_rows(db, user_id, roadmap_id, skill_ids, false).await
}

/// One statement either way; `$4` false skips the workspace's subqueries at run time (a
/// one-time filter), so both share one prepared plan.
async fn stage_rows(
    db: impl PgExecutor<'_>,
    user_id: i64,
    roadmap_id: &str,
    skill_ids: &[String],
    with_workspace: bool,
) -> sqlx::Result<StageRows> {
    let row = sqlx::query!(
        r#"select
             exists (select 1 from enrollments where user_id = $1 and roadmap_id = $2) as "enrolled!",
             (select coalesce(json_agg(json_build_object(
                  'skill_id', p.skill_id, 'state', p.state, 'started_at', p.started_at,
                  'done_at', p.done_at, 'updated_at', p.updated_at, 'version', p.version,
                  'done_content_hash', p.done_content_hash, 'verified_by', v.display_name,
                  'verified_at', p.verified_at)), '[]')
              from skill_progress p left join users v on v.id = p.verified_by
              where p.user_id = $1 and p.skill_id = any($3)) as "progress!: Json<Vec<ProgressJson>>",
             (select coalesce(json_agg(json_build_object(
                  'skill_id', n.skill_id, 'body_md', n.body_md,
                  'shared_with_mentors', n.shared_with_mentors, 'updated_at', n.updated_at)), '[]')
              from notes n where $4 and n.user_id = $1 and n.skill_id = any($3)) as "notes!: Json<Vec<NoteJson>>",
             (select coalesce(json_agg(json_build_object(
                  'id', e.id, 'skill_id', e.skill_id, 'url', e.url, 'title', e.title,
                  'created_at', e.created_at) order by e.created_at, e.id), '[]')
              from evidence e where $4 and e.user_id = $1 and e.skill_id = any($3)) as "evidence!: Json<Vec<EvidenceJson>>",
             (select coalesce(json_agg(json_build_object(
                  'id', r.id, 'skill_id', r.skill_id, 'message', r.message, 'status', r.status,
                  'requested_at', r.requested_at, 'answered_by', u.display_name,
                  'answered_at', r.answered_at, 'answer', r.answer)
                  order by r.requested_at desc, r.id desc), '[]')
              from review_requests r left join users u on u.id = r.answered_by
              where r.mentee_id = $1 and r.skill_id = any($3)) as "reviews!: Json<Vec<ReviewJson>>",
             exists (select 1 from mentor_reach m
                     where m.mentee_id = $1 and (m.all_roadmaps or $2 = any(m.roadmaps)))
               as "has_mentor!",
             (select coalesce(json_agg(json_build_object(
                  'id', c.id, 'skill_id', c.skill_id, 'author_id', c.author_id, 'author_name', u.display_name,
                  'body_md', c.body_md, 'review_request_id', c.review_request_id,
                  'evidence_title', e.title, 'created_at', c.created_at, 'edited_at', c.edited_at,
                  'deleted', c.deleted_at is not null) order by c.created_at, c.id), '[]')
              from comments c
              left join users u on u.id = c.author_id
              left join evidence e on e.id = c.evidence_id
              where $4 and c.mentee_id = $1 and c.skill_id = any($3)) as "comments!: Json<Vec<CommentJson>>",
             (select coalesce(json_agg(json_build_array(t.skill_id, t.step_key)), '[]')
              from step_ticks t where $4 and t.user_id = $1 and t.skill_id = any($3)) as "ticked!: Json<Vec<(String, String)>>",
             (select coalesce(json_agg(json_build_array(r.skill_id, r.rule, t.name,
                         (select count(*) from team_members m2
                          join team_roadmaps tr2 on tr2.team_id = m2.team_id and tr2.roadmap_id = $2
                          where m2.user_id = $1 and m2.left_at is null and m2.role = 'learner'))), '[]')
              from team_members m
              join team_roadmaps tr on tr.team_id = m.team_id and tr.roadmap_id = $2
              join teams t on t.id = m.team_id
              join team_skill_rules r on r.team_id = m.team_id and r.skill_id = any($3)
              where m.user_id = $1 and m.left_at is null and m.role = 'learner')
               as "team_rules!: Json<Vec<(String, String, String, i64)>>",
             (select coalesce(json_agg(json_build_array($2::text, d.stage_id, d.due_on, d.name)), '[]')
              from (select st.stage_id, coalesce(lt.due_on, st.due_on) as due_on, t.name
                    from team_members m join teams t on t.id = m.team_id
                    join team_stage_targets st on st.team_id = m.team_id and st.roadmap_id = $2
                    left join team_learner_targets lt on lt.team_id = st.team_id and lt.user_id = $1
                         and lt.roadmap_id = st.roadmap_id and lt.stage_id = st.stage_id
                    where m.user_id = $1 and m.left_at is null and m.role = 'learner'
                    union
                    select lt.stage_id, lt.due_on, t.name
                    from team_learner_targets lt
                    join team_members m on m.team_id = lt.team_id and m.user_id = lt.user_id
                                       and m.left_at is null and m.role = 'learner'
                    join teams t on t.id = lt.team_id
                    where lt.user_id = $1 and lt.roadmap_id = $2) d)
               as "team_due!: Json<Vec<(String, String, String, String)>>",
             coalesce((select sum(version) from view_versions where user_id = $1), 0)::bigint as "version!",
             (select epoch from view_epoch) as "epoch!""#,
        user_id,
        roadmap_id,
        skill_ids,
        with_workspace
    )
    .fetch_one(db)
    .await?;

    let mut ticked: HashMap<String, HashSet<String>> = HashMap::new();
    for (skill_id, key) in row.ticked.0 {
        ticked.entry(skill_id).or_default().insert(key);
    }
    Ok(StageRows {
        stamp: ViewStamp {
            version: row.version,
            epoch: row.epoch,
        },
        enrolled: row.enrolled,
        progress: progress_map(row.progress.0),
        notes: row
            .notes
            .0
            .into_iter()
            .map(|n| {
                (
                    n.skill_id.clone(),
                    Note {
                        skill_id: n.skill_id,
                        body_md: n.body_md,
                        shared_with_mentors: n.shared_with_mentors,
                        updated_at: n.updated_at,
                    },
                )
            })
            .collect(),
        evidence: row
            .evidence
            .0
            .into_iter()
            .map(|e| Evidence {
                id: e.id,
                skill_id: e.skill_id,
                url: e.url,
                title: e.title,
                created_at: e.created_at,
            })
            .collect(),
        reviews: row
            .reviews
            .0
            .into_iter()
            .map(|r| Review {
                id: r.id,
                mentee_id: user_id,
                skill_id: r.skill_id,
                message: r.message,
                status: r.status,
                requested_at: r.requested_at,
                answered_by: r.answered_by,
                answered_at: r.answered_at,
                answer: r.answer,
            })
            .collect(),
        has_mentor: row.has_mentor,
        comments: row
            .comments
            .0
            .into_iter()
            .map(|c| Comment {
                id: c.id,
                skill_id: c.skill_id,
                author_id: c.author_id,
                author_name: c.author_name,
                body_md: c.body_md,
                review_request_id: c.review_request_id,
                evidence_title: c.evidence_title,
                created_at: c.created_at,
                edited_at: c.edited_at,
                deleted: c.deleted,
            })
            .collect(),
        ticked,
        plan: super::team_plans::learner_plan_of(row.team_rules.0, row.team_due.0)?,
        drawn: OnceLock::new(),
    })
}

fn progress_map(rows: Vec<ProgressJson>) -> ProgressMap {
    ProgressMap(
        rows.into_iter()
            .map(|p| {
                let row = ProgressRow {
                    state: p.state.parse().unwrap_or_default(),
                    started_at: p.started_at,
                    done_at: p.done_at,
                    updated_at: p.updated_at,
                    version: p.version,
                    done_content_hash: p.done_content_hash,
                    verified_by: p.verified_by,
                    verified_at: p.verified_at,
                    skill_id: p.skill_id,
                };
                (row.skill_id.clone(), row)
            })
            .collect(),
    )
}

/// One roadmap a learner started, for the dashboard.
#[derive(Debug)]
pub struct Enrollment {
    pub roadmap_id: String,
    pub started_at: OffsetDateTime,
    /// The latest change to any of the roadmap's skills (kept by a trigger, migration 0022).
    pub last_activity_at: Option<OffsetDateTime>,
    /// The first stage, in order, with a required skill neither done nor skipped.
    pub next_stage: Option<String>,
}

/// One learner's rows for the dashboard. Every part is a counter or bounded by the
/// content, never by how much history the learner has.
#[derive(Debug, Default)]
pub struct DashboardRows {
    /// The counters as they were in the snapshot these rows come from.
    pub stamp: ViewStamp,
    /// Roadmaps started, oldest first.
    pub enrollments: Vec<Enrollment>,
    /// Counts per (roadmap, stage) from `stage_tallies`.
    pub stage_counts: HashMap<(String, String), StageCounts>,
    /// Progress rows of each enrollment's next stage only.
    pub next_stage_progress: ProgressMap,
    /// Skills done per week since `weeks_since`, not counting undone changes.
    pub completions_per_week: Vec<(time::Date, u32)>,
    /// Changes per day since `days_since`.
    pub activity_per_day: Vec<(time::Date, u32)>,
    /// The learner's teams' tailoring and target dates, with the states of ruled skills.
    pub plan: super::team_plans::LearnerPlan,
}

/// Loads [`DashboardRows`] in one statement: enrollments with their next stage,
/// stage tallies, the next stages' progress rows, and weekly counters (migration 0022),
/// each with the learner's deltas not yet folded in (migration 0026).
pub async fn dashboard(
    db: impl PgExecutor<'_>,
    user_id: i64,
    weeks_since: time::Date,
    days_since: time::Date,
) -> sqlx::Result<DashboardRows> {
    let row = sqlx::query!(
        r#"with started as (
               select en.roadmap_id, en.started_at,
                      greatest(en.last_activity_at,
                               (select max(c.at) from enrollment_activity_changes c
                                where c.user_id = $1 and c.roadmap_id = en.roadmap_id)) as last_activity_at,
                      nx.stage_id
               from enrollments en
               left join lateral (
                   select st.id as stage_id from stages st
                   where st.roadmap_id = en.roadmap_id and st.retired_at is null
                     and (select coalesce(sum(t.done + t.skipped), 0) from (
                              select done, skipped from stage_tallies
                              where user_id = $1 and roadmap_id = st.roadmap_id and stage_id = st.id
                              union all
                              select done, skipped from stage_tally_changes
                              where user_id = $1 and roadmap_id = st.roadmap_id and stage_id = st.id) t) < (
                         select count(*) from skill_places s
                         where s.roadmap_id = st.roadmap_id and s.stage_id = st.id
                           and not s.optional and s.retired_at is null)
                   order by st.position limit 1) nx on true
               where en.user_id = $1)
           select
             (select coalesce(json_agg(json_build_object(
                  'roadmap_id', roadmap_id, 'started_at', started_at,
                  'last_activity_at', last_activity_at, 'next_stage', stage_id) order by started_at), '[]')
              from started) as "enrollments!: Json<Vec<EnrollmentJson>>",
             (select coalesce(json_agg(json_build_array(t.roadmap_id, t.stage_id, t.done, t.optional_done,
                                                        t.in_progress, t.skipped, t.verified)), '[]')
              from (select roadmap_id, stage_id, greatest(sum(done), 0) as done,
                           greatest(sum(optional_done), 0) as optional_done,
                           greatest(sum(in_progress), 0) as in_progress, greatest(sum(skipped), 0) as skipped,
                           greatest(sum(verified), 0) as verified
                    from (select roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified
                          from stage_tallies where user_id = $1
                          union all
                          select roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified
                          from stage_tally_changes where user_id = $1) pending
                    group by 1, 2) t)
               as "tallies!: Json<Vec<(String, String, u32, u32, u32, u32, u32)>>",
             (select coalesce(json_agg(json_build_object(
                  'skill_id', p.skill_id, 'state', p.state, 'started_at', p.started_at,
                  'done_at', p.done_at, 'updated_at', p.updated_at, 'version', p.version,
                  'done_content_hash', p.done_content_hash, 'verified_by', v.display_name,
                  'verified_at', p.verified_at)), '[]')
              from started
              join skill_places s on s.roadmap_id = started.roadmap_id and s.stage_id = started.stage_id
              join skill_progress p on p.user_id = $1 and p.skill_id = s.skill_id
              left join users v on v.id = p.verified_by) as "progress!: Json<Vec<ProgressJson>>",
             (select coalesce(json_agg(json_build_array(w.week, w.changes, w.completions)), '[]')
              from (select week,
                           array[sum(changes[1]), sum(changes[2]), sum(changes[3]), sum(changes[4]),
                                 sum(changes[5]), sum(changes[6]), sum(changes[7])]::integer[] as changes,
                           sum(completions)::integer as completions
                    from (select week, changes, completions from learner_weeks
                          where user_id = $1 and week >= date_trunc('week', least($2::date, $3::date))::date
                          union all
                          select week, changes, completions from learner_week_changes
                          where user_id = $1 and week >= date_trunc('week', least($2::date, $3::date))::date) pending
                    group by week) w)
               as "weeks!: Json<Vec<(String, Vec<u32>, i32)>>",
             (select coalesce(json_agg(json_build_array(d.roadmap_id, d.stage_id, d.due_on, d.name)), '[]')
              from (select st.roadmap_id, st.stage_id, coalesce(lt.due_on, st.due_on) as due_on, t.name
                    from team_members m join teams t on t.id = m.team_id
                    join team_stage_targets st on st.team_id = m.team_id
                    left join team_learner_targets lt on lt.team_id = st.team_id and lt.user_id = $1
                         and lt.roadmap_id = st.roadmap_id and lt.stage_id = st.stage_id
                    where m.user_id = $1 and m.left_at is null and m.role = 'learner'
                    union
                    select lt.roadmap_id, lt.stage_id, lt.due_on, t.name
                    from team_learner_targets lt
                    join team_members m on m.team_id = lt.team_id and m.user_id = lt.user_id
                                       and m.left_at is null and m.role = 'learner'
                    join teams t on t.id = lt.team_id
                    where lt.user_id = $1) d)
               as "due!: Json<Vec<(String, String, String, String)>>",
             (select coalesce(json_agg(json_build_array(r.skill_id, r.rule, t.name,
                         (select count(*) from team_members m2
                          join team_roadmaps tr2 on tr2.team_id = m2.team_id and tr2.roadmap_id = s.roadmap_id
                          where m2.user_id = $1 and m2.left_at is null and m2.role = 'learner'),
                         coalesce(p.state, 'not_started'), p.verified_by is not null)), '[]')
              from team_members m
              join teams t on t.id = m.team_id
              join team_skill_rules r on r.team_id = m.team_id
              join skills s on s.id = r.skill_id and s.retired_at is null
              join team_roadmaps tr on tr.team_id = m.team_id and tr.roadmap_id = s.roadmap_id
              left join skill_progress p on p.user_id = $1 and p.skill_id = r.skill_id
              where m.user_id = $1 and m.left_at is null and m.role = 'learner')
               as "team_rules!: Json<Vec<RuleRow>>",
             coalesce((select sum(version) from view_versions where user_id = $1), 0)::bigint as "version!",
             (select epoch from view_epoch) as "epoch!""#,
        user_id,
        weeks_since,
        days_since
    )
    .fetch_one(db)
    .await?;
    let date =
        |text: &str| time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"));
    let decode = |e: time::error::Parse| sqlx::Error::Decode(Box::new(e));
    let mut completions_per_week = Vec::new();
    let mut activity_per_day = Vec::new();
    for (week, changes, completions) in row.weeks.0 {
        let monday = date(&week).map_err(decode)?;
        if monday >= weeks_since && completions > 0 {
            completions_per_week.push((monday, completions as u32));
        }
        for (offset, n) in changes.into_iter().enumerate() {
            let day = monday + time::Duration::days(offset as i64);
            if day >= days_since && n > 0 {
                activity_per_day.push((day, n));
            }
        }
    }
    Ok(DashboardRows {
        stamp: ViewStamp {
            version: row.version,
            epoch: row.epoch,
        },
        enrollments: row
            .enrollments
            .0
            .into_iter()
            .map(|e| Enrollment {
                roadmap_id: e.roadmap_id,
                started_at: e.started_at,
                last_activity_at: e.last_activity_at,
                next_stage: e.next_stage,
            })
            .collect(),
        stage_counts: row
            .tallies
            .0
            .into_iter()
            .map(
                |(roadmap, stage, done, optional_done, in_progress, skipped, verified)| {
                    (
                        (roadmap, stage),
                        StageCounts {
                            done,
                            optional_done,
                            in_progress,
                            skipped,
                            verified,
                        },
                    )
                },
            )
            .collect(),
        next_stage_progress: progress_map(row.progress.0),
        completions_per_week,
        activity_per_day,
        plan: {
            let states = row
                .team_rules
                .0
                .iter()
                .map(|(skill, _, _, _, state, verified)| {
                    (skill.clone(), (state.parse().unwrap_or_default(), *verified))
                })
                .collect();
            let rules = row
                .team_rules
                .0
                .into_iter()
                .map(|(skill, rule, team, assigning, _, _)| (skill, rule, team, assigning))
                .collect();
            let mut plan = super::team_plans::learner_plan_of(rules, row.due.0)?;
            plan.states = states;
            plan
        },
    })
}

/// (skill id, rule, team name, the learner's teams assigning its roadmap, state, verified)
type RuleRow = (String, String, String, i64, String, bool);

#[derive(Debug, Deserialize)]
struct EnrollmentJson {
    roadmap_id: String,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_activity_at: Option<OffsetDateTime>,
    next_stage: Option<String>,
}

// PostgreSQL writes timestamps in JSON as ISO 8601 with an offset, which RFC 3339 reads.

#[derive(Debug, Deserialize)]
struct ProgressJson {
    skill_id: String,
    state: String,
    #[serde(with = "time::serde::rfc3339::option")]
    started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    done_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    version: i32,
    done_content_hash: Option<String>,
    verified_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    verified_at: Option<OffsetDateTime>,
}

#[derive(Debug, Deserialize)]
struct NoteJson {
    skill_id: String,
    body_md: String,
    shared_with_mentors: bool,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

#[derive(Debug, Deserialize)]
struct EvidenceJson {
    id: i64,
    skill_id: String,
    url: String,
    title: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

#[derive(Debug, Deserialize)]
struct ReviewJson {
    id: i64,
    skill_id: String,
    message: String,
    status: String,
    #[serde(with = "time::serde::rfc3339")]
    requested_at: OffsetDateTime,
    answered_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    answered_at: Option<OffsetDateTime>,
    answer: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CommentJson {
    id: i64,
    skill_id: String,
    author_id: Option<i64>,
    author_name: Option<String>,
    body_md: String,
    review_request_id: Option<i64>,
    evidence_title: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    edited_at: Option<OffsetDateTime>,
    deleted: bool,
}
