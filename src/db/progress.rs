//! Learner progress: enrollments, the current state per skill, and the append-only event log.

use std::collections::HashMap;

use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;

use crate::progress::SkillState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRow {
    pub skill_id: String,
    pub state: SkillState,
    pub started_at: Option<OffsetDateTime>,
    pub done_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    pub version: i32,
    pub done_content_hash: Option<String>,
    /// The mentor who verified the skill, and when; cleared when it leaves done.
    pub verified_by: Option<String>,
    pub verified_at: Option<OffsetDateTime>,
}

/// A user's progress rows, by skill id.
#[derive(Debug, Clone, Default)]
pub struct ProgressMap(pub HashMap<String, ProgressRow>);

impl ProgressMap {
    pub fn state(&self, skill_id: &str) -> SkillState {
        self.0
            .get(skill_id)
            .map_or(SkillState::NotStarted, |row| row.state)
    }

    pub fn get(&self, skill_id: &str) -> Option<&ProgressRow> {
        self.0.get(skill_id)
    }

    /// Done and verified by a mentor.
    pub fn verified(&self, skill_id: &str) -> bool {
        self.0
            .get(skill_id)
            .is_some_and(|row| row.state == SkillState::Done && row.verified_by.is_some())
    }

    /// Progress on a roadmap, verification included.
    pub fn roadmap_tally(&self, roadmap: &crate::content::catalog::Roadmap) -> crate::progress::Tally {
        crate::progress::Tally::roadmap(roadmap, |id| self.state(id))
            .with_verified(roadmap.stages.iter().flat_map(|s| &s.skills), |id| {
                self.verified(id)
            })
    }

    /// Progress on a stage, verification included.
    pub fn stage_tally(&self, stage: &crate::content::catalog::Stage) -> crate::progress::Tally {
        crate::progress::Tally::stage(stage, |id| self.state(id))
            .with_verified(&stage.skills, |id| self.verified(id))
    }

    /// Latest change among `skill_ids`.
    pub fn last_change<'a>(&self, skill_ids: impl IntoIterator<Item = &'a str>) -> Option<OffsetDateTime> {
        skill_ids
            .into_iter()
            .filter_map(|id| self.0.get(id).map(|row| row.updated_at))
            .max()
    }
}

fn parse_state(state: &str) -> SkillState {
    state.parse().unwrap_or_default()
}

/// The user's progress on the given skills: one query.
pub async fn for_skills(
    db: impl PgExecutor<'_>,
    user_id: i64,
    skill_ids: &[String],
) -> sqlx::Result<ProgressMap> {
    load(db, user_id, Some(skill_ids)).await
}

/// All of the user's progress: one query.
pub async fn for_user(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<ProgressMap> {
    load(db, user_id, None).await
}

async fn load(
    db: impl PgExecutor<'_>,
    user_id: i64,
    skill_ids: Option<&[String]>,
) -> sqlx::Result<ProgressMap> {
    let rows = sqlx::query!(
        r#"select p.skill_id, p.state, p.started_at, p.done_at, p.updated_at, p.version, p.done_content_hash,
                  v.display_name as "verified_by?", p.verified_at
           from skill_progress p left join users v on v.id = p.verified_by
           where p.user_id = $1 and ($2::text[] is null or p.skill_id = any($2))"#,
        user_id,
        skill_ids as Option<&[String]>
    )
    .fetch_all(db)
    .await?;
    Ok(ProgressMap(
        rows.into_iter()
            .map(|r| {
                let row = ProgressRow {
                    skill_id: r.skill_id,
                    state: parse_state(&r.state),
                    started_at: r.started_at,
                    done_at: r.done_at,
                    updated_at: r.updated_at,
                    version: r.version,
                    done_content_hash: r.done_content_hash,
                    verified_by: r.verified_by,
                    verified_at: r.verified_at,
                };
                (row.skill_id.clone(), row)
            })
            .collect(),
    ))
}

/// When the user started `roadmap_id`, if they did.
pub async fn enrollment(
    db: impl PgExecutor<'_>,
    user_id: i64,
    roadmap_id: &str,
) -> sqlx::Result<Option<OffsetDateTime>> {
    sqlx::query_scalar!(
        "select started_at from enrollments where user_id = $1 and roadmap_id = $2",
        user_id,
        roadmap_id
    )
    .fetch_optional(db)
    .await
}

/// Every roadmap the user started, with when.
pub async fn enrollments(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<(String, OffsetDateTime)>> {
    let rows = sqlx::query!(
        "select roadmap_id, started_at from enrollments where user_id = $1 order by started_at",
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.roadmap_id, r.started_at)).collect())
}

/// Starts the roadmap for the user unless they already have. Every tick calls this, so the
/// usual case must not try an insert: a conflicting insert would still run the enrollment's
/// before-insert trigger, which reads the learner's progress on the roadmap.
pub async fn enroll(db: impl PgExecutor<'_>, user_id: i64, roadmap_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into enrollments (user_id, roadmap_id)
         select $1, $2 where not exists (select 1 from enrollments where user_id = $1 and roadmap_id = $2)
         on conflict do nothing",
        user_id,
        roadmap_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What a change request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Applied as action `action_id`.
    Applied { action_id: i64 },
    /// The skill already had that state: nothing written.
    Unchanged,
    /// The form was rendered from an older version: nothing written.
    Stale { current: SkillState },
}

/// Locks the user's rows for `skill_ids` and returns their (state, version).
pub(crate) async fn lock_rows(
    conn: &mut PgConnection,
    user_id: i64,
    skill_ids: &[String],
) -> sqlx::Result<HashMap<String, (SkillState, i32)>> {
    let rows = sqlx::query!(
        "select skill_id, state, version from skill_progress
         where user_id = $1 and skill_id = any($2) for update",
        user_id,
        skill_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.skill_id, (parse_state(&r.state), r.version)))
        .collect())
}

pub(crate) async fn next_action(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select nextval('progress_actions') as "id!""#)
        .fetch_one(conn)
        .await
}

/// How a state write treats the dates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dates {
    /// Keep the first-started and first-done dates.
    Keep,
    /// Start over: clear both.
    Reset,
    /// Reverting the change made at this moment: clear dates it set.
    Revert(OffsetDateTime),
}

/// Writes the new state and its event. The caller holds the row lock.
/// The statement is the database function `progress_write_change` (migration 0045), which
/// the one-call tick ([`set_state`]) shares.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_change(
    conn: &mut PgConnection,
    action_id: i64,
    user_id: i64,
    actor_id: i64,
    skill_id: &str,
    from: SkillState,
    to: SkillState,
    kind: &str,
    undoes: Option<i64>,
    dates: Dates,
    message: Option<&str>,
) -> sqlx::Result<()> {
    let reset = matches!(dates, Dates::Reset);
    let reverted_at = match dates {
        Dates::Revert(at) => Some(at),
        _ => None,
    };
    sqlx::query!(
        r#"select progress_write_change($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) as "written!""#,
        user_id,
        skill_id,
        to.as_str(),
        reset,
        reverted_at,
        action_id,
        actor_id,
        kind,
        from.as_str(),
        undoes,
        message
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

/// Sets one skill's state if the caller saw `expected_version` (0 = no row yet), first
/// starting `roadmap_id` for the user if given and not started yet.
///
/// One round trip, one transaction: the database function `progress_set_state` (migration
/// 0045) locks the row, compares versions and writes. A tick used to be six statements, and
/// their exchanges cost as much as the write.
pub async fn set_state(
    db: impl PgExecutor<'_>,
    user_id: i64,
    roadmap_id: Option<&str>,
    skill_id: &str,
    to: SkillState,
    expected_version: i32,
) -> sqlx::Result<Change> {
    let row = sqlx::query!(
        r#"select outcome as "outcome!", current_state as "current_state!", action
           from progress_set_state($1, $2, $3, $4, $5)"#,
        user_id,
        roadmap_id,
        skill_id,
        to.as_str(),
        expected_version
    )
    .fetch_one(db)
    .await?;
    Ok(match (row.outcome.as_str(), row.action) {
        ("applied", Some(action_id)) => Change::Applied { action_id },
        ("unchanged", _) => Change::Unchanged,
        ("stale", _) => Change::Stale {
            current: parse_state(&row.current_state),
        },
        (outcome, _) => {
            return Err(sqlx::Error::Protocol(format!(
                "progress_set_state answered {outcome:?} without an action"
            )));
        }
    })
}

/// Marks every given skill that is not done or skipped yet as done, as one action:
/// a skip is the learner's explicit choice and stays. Returns the action, or `None`
/// when there was nothing to change.
pub async fn mark_done(pool: &PgPool, user_id: i64, skill_ids: &[String]) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let current = lock_rows(&mut tx, user_id, skill_ids).await?;
    let todo: Vec<(&String, SkillState)> = skill_ids
        .iter()
        .map(|id| (id, current.get(id).map_or(SkillState::NotStarted, |(s, _)| *s)))
        .filter(|(_, state)| !matches!(state, SkillState::Done | SkillState::Skipped))
        .collect();
    if todo.is_empty() {
        return Ok(None);
    }
    let action_id = next_action(&mut tx).await?;
    for (skill_id, from) in todo {
        write_change(
            &mut tx,
            action_id,
            user_id,
            user_id,
            skill_id,
            from,
            SkillState::Done,
            "stage_done",
            None,
            Dates::Keep,
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Some(action_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// Reverted; the skills it touched.
    Undone {
        action_id: i64,
        skill_ids: Vec<String>,
    },
    NotFound,
    AlreadyUndone,
    /// A skill changed after the action; nothing was reverted.
    ChangedSince {
        skill_id: String,
    },
}

/// Reverts every change of one of the user's actions, if nothing changed since.
pub async fn undo(pool: &PgPool, user_id: i64, action_id: i64) -> sqlx::Result<Undo> {
    let mut tx = pool.begin().await?;
    let events = sqlx::query!(
        "select skill_id, from_state, to_state, at from progress_events
         where action_id = $1 and user_id = $2 and kind in ('set', 'stage_done', 'undo', 'reset', 'import')
         order by id",
        action_id,
        user_id
    )
    .fetch_all(&mut *tx)
    .await?;
    if events.is_empty() {
        return Ok(Undo::NotFound);
    }
    let undone = sqlx::query_scalar!(
        r#"select exists (select 1 from progress_events where undoes = $1 and user_id = $2) as "undone!""#,
        action_id,
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if undone {
        return Ok(Undo::AlreadyUndone);
    }
    let skill_ids: Vec<String> = events.iter().map(|e| e.skill_id.clone()).collect();
    let current = lock_rows(&mut tx, user_id, &skill_ids).await?;
    for event in &events {
        let now = current
            .get(&event.skill_id)
            .map_or(SkillState::NotStarted, |(s, _)| *s);
        if now != parse_state(&event.to_state) {
            return Ok(Undo::ChangedSince {
                skill_id: event.skill_id.clone(),
            });
        }
    }
    let undo_action = next_action(&mut tx).await?;
    for event in &events {
        write_change(
            &mut tx,
            undo_action,
            user_id,
            user_id,
            &event.skill_id,
            parse_state(&event.to_state),
            parse_state(&event.from_state),
            "undo",
            Some(action_id),
            Dates::Revert(event.at),
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Undo::Undone {
        action_id: undo_action,
        skill_ids,
    })
}

/// Starts a roadmap over: every skill of it back to "not started", dates
/// cleared, one `reset` event per skill. History is kept.
pub async fn reset_roadmap(pool: &PgPool, user_id: i64, roadmap_id: &str) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query!(
        "select p.skill_id, p.state from skill_progress p join skills s on s.id = p.skill_id
         where p.user_id = $1 and s.roadmap_id = $2 and p.state <> 'not_started'
         for update of p",
        user_id,
        roadmap_id
    )
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query!(
        "update enrollments set started_at = now() where user_id = $1 and roadmap_id = $2",
        user_id,
        roadmap_id
    )
    .execute(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(None);
    }
    let action_id = next_action(&mut tx).await?;
    for row in rows {
        write_change(
            &mut tx,
            action_id,
            user_id,
            user_id,
            &row.skill_id,
            parse_state(&row.state),
            SkillState::NotStarted,
            "reset",
            None,
            Dates::Reset,
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Some(action_id))
}

/// One line of the history page.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub action_id: i64,
    pub skill_id: String,
    pub skill_title: String,
    pub roadmap_id: String,
    pub stage_id: String,
    pub kind: String,
    pub from_state: SkillState,
    pub to_state: SkillState,
    pub at: OffsetDateTime,
    pub undone: bool,
    /// Who made the change, when it was not the learner (a mentor's review, say).
    pub actor: Option<String>,
    pub message: Option<String>,
}

/// A row of [`recent_events`], before its states are parsed.
struct EventRow {
    id: i64,
    action_id: i64,
    skill_id: String,
    title: String,
    roadmap_id: String,
    stage_id: String,
    kind: String,
    from_state: String,
    to_state: String,
    at: OffsetDateTime,
    actor: Option<String>,
    actor_id: Option<i64>,
    message: Option<String>,
    undone: bool,
}

/// The user's events, newest first, skipping the newest `offset`; one query. The first page
/// has its own statement text without `offset`: with an offset parameter PostgreSQL judged
/// the generic plan dearer and planned the statement again on every page view.
pub async fn recent_events(
    db: impl PgExecutor<'_>,
    user_id: i64,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Event>> {
    let rows = if offset == 0 {
        sqlx::query_as!(
            EventRow,
            r#"select e.id, e.action_id, e.skill_id, s.title, s.roadmap_id, s.stage_id, e.kind, e.from_state,
                      e.to_state, e.at, a.display_name as "actor?", e.actor_id, e.message,
                      exists (select 1 from progress_events u where u.user_id = e.user_id and u.undoes = e.action_id) as "undone!"
               from progress_events e join skills s on s.id = e.skill_id
               left join users a on a.id = e.actor_id
               where e.user_id = $1 order by e.at desc, e.id desc limit $2"#,
            user_id,
            limit
        )
        .fetch_all(db)
        .await?
    } else {
        sqlx::query_as!(
            EventRow,
            r#"select e.id, e.action_id, e.skill_id, s.title, s.roadmap_id, s.stage_id, e.kind, e.from_state,
                      e.to_state, e.at, a.display_name as "actor?", e.actor_id, e.message,
                      exists (select 1 from progress_events u where u.user_id = e.user_id and u.undoes = e.action_id) as "undone!"
               from progress_events e join skills s on s.id = e.skill_id
               left join users a on a.id = e.actor_id
               where e.user_id = $1 order by e.at desc, e.id desc limit $2 offset $3"#,
            user_id,
            limit,
            offset
        )
        .fetch_all(db)
        .await?
    };
    Ok(rows
        .into_iter()
        .map(|r| Event {
            id: r.id,
            action_id: r.action_id,
            skill_id: r.skill_id,
            skill_title: r.title,
            roadmap_id: r.roadmap_id,
            stage_id: r.stage_id,
            kind: r.kind,
            from_state: parse_state(&r.from_state),
            to_state: parse_state(&r.to_state),
            at: r.at,
            undone: r.undone,
            actor: r.actor.filter(|_| r.actor_id != Some(user_id)),
            message: r.message.filter(|m| !m.is_empty()),
        })
        .collect())
}

/// The skills changed by one of the user's actions (for showing Undo), if it is not undone.
pub async fn undoable_action(
    db: impl PgExecutor<'_>,
    user_id: i64,
    action_id: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select skill_id from progress_events e
         where action_id = $1 and user_id = $2 and kind in ('set', 'stage_done', 'undo', 'reset', 'import')
           and not exists (select 1 from progress_events u where u.user_id = e.user_id and u.undoes = e.action_id)",
        action_id,
        user_id
    )
    .fetch_all(db)
    .await
}

/// Roadmaps the user started, with whether each shows on their public profile.
pub async fn profile_choices(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<(String, bool)>> {
    let rows = sqlx::query!(
        "select roadmap_id, on_profile from enrollments where user_id = $1 order by started_at",
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.roadmap_id, r.on_profile)).collect())
}

/// Turns the public profile on or off and picks the roadmaps it shows.
pub async fn set_profile(
    pool: &PgPool,
    user_id: i64,
    public: bool,
    roadmap_ids: &[String],
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "update users set public_profile = $2 where id = $1",
        user_id,
        public
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update enrollments set on_profile = (roadmap_id = any($2)) where user_id = $1",
        user_id,
        roadmap_ids
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// A public profile: the user, if they opted in, and the roadmaps they chose to show.
pub async fn public_profile(db: &PgPool, username: &str) -> sqlx::Result<Option<(i64, String, Vec<String>)>> {
    let Some(user) = sqlx::query!(
        "select id, display_name from users where username = $1 and public_profile and disabled_at is null",
        username
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let roadmaps = sqlx::query_scalar!(
        "select roadmap_id from enrollments where user_id = $1 and on_profile order by started_at",
        user.id
    )
    .fetch_all(db)
    .await?;
    Ok(Some((user.id, user.display_name, roadmaps)))
}

/// Roadmaps started by each of `user_ids`: one query for any number of users.
pub async fn enrollments_of(
    db: impl PgExecutor<'_>,
    user_ids: &[i64],
) -> sqlx::Result<Vec<(i64, String, OffsetDateTime)>> {
    let rows = sqlx::query!(
        "select user_id, roadmap_id, started_at from enrollments where user_id = any($1) order by started_at",
        user_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.user_id, r.roadmap_id, r.started_at))
        .collect())
}

/// "Still done": accepts the skill's current text as the one completed.
pub async fn confirm_done(db: impl PgExecutor<'_>, user_id: i64, skill_id: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update skill_progress set done_content_hash = (select content_hash from skills where id = $2)
         where user_id = $1 and skill_id = $2 and state = 'done'",
        user_id,
        skill_id
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// A learner's counts on one stage, tallied in the database (see [`stage_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageCounts {
    pub done: u32,
    pub optional_done: u32,
    pub in_progress: u32,
    pub skipped: u32,
    pub verified: u32,
}

/// Sums a stage's folded total and its pending deltas, in any order: a delta may be
/// negative, so the sum is signed until every row is in.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageSum([i64; 5]);

impl StageSum {
    pub fn add(&mut self, done: i32, optional_done: i32, in_progress: i32, skipped: i32, verified: i32) {
        for (total, row) in self
            .0
            .iter_mut()
            .zip([done, optional_done, in_progress, skipped, verified])
        {
            *total += i64::from(row);
        }
    }

    pub fn counts(self) -> StageCounts {
        let [done, optional_done, in_progress, skipped, verified] =
            self.0.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX));
        StageCounts {
            done,
            optional_done,
            in_progress,
            skipped,
            verified,
        }
    }
}

/// Each user's counts per (roadmap, stage) of live skills, optionally on one
/// roadmap only: a row per stage touched from `stage_tallies`, which triggers
/// keep current (migration 0020), plus the deltas not yet folded into them
/// (migration 0026). The cost follows the number of learners and stages, not
/// how much progress they have.
pub async fn stage_counts(
    db: impl PgExecutor<'_>,
    user_ids: &[i64],
    roadmap_id: Option<&str>,
) -> sqlx::Result<HashMap<(i64, String, String), StageCounts>> {
    let rows = sqlx::query!(
        r#"select user_id as "user_id!", roadmap_id as "roadmap_id!", stage_id as "stage_id!",
                  done as "done!", optional_done as "optional_done!", in_progress as "in_progress!",
                  skipped as "skipped!", verified as "verified!"
           from stage_tallies
           where user_id = any($1) and ($2::text is null or roadmap_id = $2)
           union all
           select user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified
           from stage_tally_changes
           where user_id = any($1) and ($2::text is null or roadmap_id = $2)"#,
        user_ids,
        roadmap_id
    )
    .fetch_all(db)
    .await?;
    let mut sums: HashMap<(i64, String, String), StageSum> = HashMap::new();
    for r in rows {
        let sum = sums.entry((r.user_id, r.roadmap_id, r.stage_id)).or_default();
        sum.add(r.done, r.optional_done, r.in_progress, r.skipped, r.verified);
    }
    Ok(sums.into_iter().map(|(key, sum)| (key, sum.counts())).collect())
}

/// Vacuums the counter-delta tables, so that what folding deleted is given back and the
/// tables stay a few pages long. Once analyzed empty, PostgreSQL reads them with sequential
/// scans (inside per-stage and per-mentee loops): left to grow under a stream of ticks
/// until autovacuum's next round, they made the dashboard three times slower.
pub async fn vacuum_counter_changes(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::raw_sql(
        "vacuum (skip_locked) stage_tally_changes, learner_week_changes, enrollment_activity_changes",
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Folds the pending counter deltas into the totals (migration 0026). Returns false
/// when another server was folding or a recount was running: nothing is lost, the
/// next fold takes them.
pub async fn fold_counters(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select fold_learner_counters() as "folded!""#)
        .fetch_one(db)
        .await
}
