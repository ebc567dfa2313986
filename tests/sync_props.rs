//! A property of content sync: whatever sequence of content versions is loaded (skills added,
//! edited, renamed with `replaces=`, merged, moved, retired and revived), with learners working in
//! between, no progress event is lost, and no progress, note, evidence or comment is left on a
//! skill that does not exist or on an old id that was renamed away.
//!
//! Each case runs against a fresh database; `PROPTEST_CASES` raises the case count (16 by default).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use common::TestDb;
use pathway::content::sync::{self, LoadOutcome, Policy, Trigger};
use pathway::db;
use pathway::progress::SkillState;
use proptest::prelude::*;
use sqlx::PgPool;

/// The skill ids a case may use; a small pool so ids come back (revive, rename onto an old id).
const IDS: [&str; 10] = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"];
const ROADMAPS: [&str; 2] = ["ra", "rb"];
const STAGES: [&str; 2] = ["one", "two"];

#[derive(Debug, Clone)]
struct Skill {
    id: String,
    roadmap: usize,
    stage: usize,
    text: u32,
    replaces: Vec<String>,
}

/// The content files, as a list of skills.
#[derive(Debug, Clone)]
struct Model {
    live: Vec<Skill>,
    /// Every id ever defined.
    ever: BTreeSet<String>,
    texts: u32,
}

#[derive(Debug, Clone)]
enum ContentOp {
    Add {
        roadmap: usize,
        stage: usize,
    },
    Edit(usize),
    /// Give skill `.0` the id `IDS[.1]` (when that id is not live), with `replaces=` its old id.
    Rename(usize, usize),
    Move {
        skill: usize,
        roadmap: usize,
        stage: usize,
    },
    Remove(usize),
    Revive {
        id: usize,
        roadmap: usize,
        stage: usize,
    },
    /// Skill `.0` merges into skill `.1` (`{#b replaces=a}`).
    Merge(usize, usize),
}

#[derive(Debug, Clone)]
enum LearnerOp {
    State { user: usize, skill: usize, state: usize },
    Note { user: usize, skill: usize, empty: bool },
    Evidence { user: usize, skill: usize },
    Comment { user: usize, skill: usize },
    Undo { user: usize },
}

#[derive(Debug, Clone)]
struct Round {
    content: Vec<ContentOp>,
    learners: Vec<LearnerOp>,
    /// Load under the watcher's policy (holds plans that retire progress) instead of applying.
    hold: bool,
}

fn content_op() -> impl Strategy<Value = ContentOp> {
    let i = || 0usize..16;
    prop_oneof![
        (0usize..2, 0usize..2).prop_map(|(roadmap, stage)| ContentOp::Add { roadmap, stage }),
        i().prop_map(ContentOp::Edit),
        (i(), i()).prop_map(|(a, b)| ContentOp::Rename(a, b)),
        (i(), 0usize..2, 0usize..2).prop_map(|(skill, roadmap, stage)| ContentOp::Move {
            skill,
            roadmap,
            stage
        }),
        i().prop_map(ContentOp::Remove),
        (i(), 0usize..2, 0usize..2).prop_map(|(id, roadmap, stage)| ContentOp::Revive { id, roadmap, stage }),
        (i(), i()).prop_map(|(a, b)| ContentOp::Merge(a, b)),
    ]
}

fn learner_op() -> impl Strategy<Value = LearnerOp> {
    let u = || 0usize..2;
    let i = || 0usize..16;
    prop_oneof![
        3 => (u(), i(), 0usize..4).prop_map(|(user, skill, state)| LearnerOp::State { user, skill, state }),
        1 => (u(), i(), proptest::bool::weighted(0.2)).prop_map(|(user, skill, empty)| LearnerOp::Note { user, skill, empty }),
        1 => (u(), i()).prop_map(|(user, skill)| LearnerOp::Evidence { user, skill }),
        1 => (u(), i()).prop_map(|(user, skill)| LearnerOp::Comment { user, skill }),
        1 => u().prop_map(|user| LearnerOp::Undo { user }),
    ]
}

fn rounds() -> impl Strategy<Value = Vec<Round>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(content_op(), 1..4),
            proptest::collection::vec(learner_op(), 0..6),
            proptest::bool::weighted(0.25),
        )
            .prop_map(|(content, learners, hold)| Round {
                content,
                learners,
                hold,
            }),
        1..6,
    )
}

impl Model {
    fn new() -> Self {
        let live: Vec<Skill> = (0..3)
            .map(|n| Skill {
                id: IDS[n].to_string(),
                roadmap: n % 2,
                stage: 0,
                text: n as u32,
                replaces: Vec::new(),
            })
            .collect();
        Self {
            ever: live.iter().map(|s| s.id.clone()).collect(),
            live,
            texts: 3,
        }
    }

    fn is_live(&self, id: &str) -> bool {
        self.live.iter().any(|s| s.id == id)
    }

    /// An id that becomes defined again can no longer be named in `replaces=`.
    fn define(&mut self, id: &str) {
        for skill in &mut self.live {
            skill.replaces.retain(|old| old != id);
        }
        self.ever.insert(id.to_string());
    }

    fn apply(&mut self, op: &ContentOp) {
        let n = self.live.len();
        match *op {
            ContentOp::Add { roadmap, stage } => {
                if let Some(id) = IDS.iter().find(|id| !self.ever.contains(**id)) {
                    self.define(id);
                    self.texts += 1;
                    self.live.push(Skill {
                        id: id.to_string(),
                        roadmap,
                        stage,
                        text: self.texts,
                        replaces: Vec::new(),
                    });
                }
            }
            ContentOp::Edit(a) => {
                self.texts += 1;
                self.live[a % n].text = self.texts;
            }
            ContentOp::Rename(a, b) => {
                let new_id = IDS[b % IDS.len()];
                if self.is_live(new_id) {
                    return;
                }
                let old = self.live[a % n].id.clone();
                self.define(new_id);
                let skill = &mut self.live[a % n];
                skill.id = new_id.to_string();
                skill.replaces.push(old);
                skill.replaces.retain(|id| id != new_id);
            }
            ContentOp::Move {
                skill,
                roadmap,
                stage,
            } => {
                let skill = &mut self.live[skill % n];
                skill.roadmap = roadmap;
                skill.stage = stage;
            }
            ContentOp::Remove(a) => {
                if n > 1 {
                    self.live.remove(a % n);
                }
            }
            ContentOp::Revive { id, roadmap, stage } => {
                let retired: Vec<String> = self.ever.iter().filter(|id| !self.is_live(id)).cloned().collect();
                if retired.is_empty() {
                    return;
                }
                let id = retired[id % retired.len()].clone();
                self.define(&id);
                self.texts += 1;
                self.live.push(Skill {
                    id,
                    roadmap,
                    stage,
                    text: self.texts,
                    replaces: Vec::new(),
                });
            }
            ContentOp::Merge(a, b) => {
                let (a, b) = (a % n, b % n);
                if a == b {
                    return;
                }
                let gone = self.live[a].clone();
                let into = &mut self.live[b];
                into.replaces.extend(gone.replaces);
                into.replaces.push(gone.id);
                self.live.remove(a);
            }
        }
    }

    /// Writes the content directory afresh: a folder per roadmap with skills, a file per stage.
    fn write(&self, dir: &Path) {
        for roadmap in ROADMAPS {
            let _ = std::fs::remove_dir_all(dir.join(roadmap));
        }
        let mut files: BTreeMap<(usize, usize), String> = BTreeMap::new();
        for skill in &self.live {
            let file = files.entry((skill.roadmap, skill.stage)).or_insert_with(|| {
                format!(
                    "+++\nid = \"{}\"\ntitle = \"Stage {}\"\n+++\nIntro.\n\n",
                    STAGES[skill.stage], STAGES[skill.stage]
                )
            });
            let replaces = if skill.replaces.is_empty() {
                String::new()
            } else {
                format!(" replaces={}", skill.replaces.join(","))
            };
            let _ = write!(
                file,
                "## Skill {} {{#{}{replaces}}}\n\nText number {}.\n\n- [ ] Step one\n\n",
                skill.id, skill.id, skill.text
            );
        }
        for ((roadmap, stage), text) in files {
            let folder = dir.join(ROADMAPS[roadmap]);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(
                folder.join("roadmap.md"),
                format!(
                    "+++\ntitle = \"Roadmap {}\"\nsummary = \"Summary.\"\n+++\n",
                    ROADMAPS[roadmap]
                ),
            )
            .unwrap();
            std::fs::write(folder.join(format!("0{}-{}.md", stage + 1, STAGES[stage])), text).unwrap();
        }
    }
}

/// The learner rows a load must keep, read before it.
#[derive(Debug)]
struct Snapshot {
    /// id → (skill, user, action, kind, from, to)
    events: BTreeMap<i64, (String, i64, i64, String, String, String)>,
    /// (user, skill) → state
    progress: BTreeMap<(i64, String), String>,
    /// (user, skill) → body
    notes: BTreeMap<(i64, String), String>,
    /// id → skill
    evidence: BTreeMap<i64, String>,
    comments: BTreeMap<i64, String>,
}

async fn snapshot(pool: &PgPool) -> Snapshot {
    let events: Vec<(i64, String, i64, i64, String, String, String)> = sqlx::query_as(
        "select id, skill_id, user_id, action_id, kind, from_state, to_state from progress_events",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let progress: Vec<(i64, String, String)> =
        sqlx::query_as("select user_id, skill_id, state from skill_progress")
            .fetch_all(pool)
            .await
            .unwrap();
    let notes: Vec<(i64, String, String)> = sqlx::query_as("select user_id, skill_id, body_md from notes")
        .fetch_all(pool)
        .await
        .unwrap();
    let evidence: Vec<(i64, String)> = sqlx::query_as("select id, skill_id from evidence")
        .fetch_all(pool)
        .await
        .unwrap();
    let comments: Vec<(i64, String)> = sqlx::query_as("select id, skill_id from comments")
        .fetch_all(pool)
        .await
        .unwrap();
    Snapshot {
        events: events
            .into_iter()
            .map(|(id, skill, user, action, kind, from, to)| (id, (skill, user, action, kind, from, to)))
            .collect(),
        progress: progress
            .into_iter()
            .map(|(u, s, state)| ((u, s), state))
            .collect(),
        notes: notes.into_iter().map(|(u, s, body)| ((u, s), body)).collect(),
        evidence: evidence.into_iter().collect(),
        comments: comments.into_iter().collect(),
    }
}

fn rank(state: &str) -> u8 {
    match state {
        "done" => 3,
        "in_progress" => 2,
        "skipped" => 1,
        _ => 0,
    }
}

/// Checks the rows after a load against the snapshot taken before it.
/// `renamed_away`: the ids named in `replaces=` in the files just applied, which must hold nothing.
async fn check(
    pool: &PgPool,
    before: &Snapshot,
    renamed_away: &[String],
    context: &str,
) -> Result<(), TestCaseError> {
    let after = snapshot(pool).await;
    let aliases: HashMap<String, String> = sqlx::query_as("select old_id, new_id from skill_aliases")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    // Where rows of `skill` belong after the load: the same id, or the id it was renamed to.
    let follows = |old: &str, new: &str| old == new || aliases.get(old).is_some_and(|to| to == new);
    let resolve = |old: &str| aliases.get(old).cloned().unwrap_or_else(|| old.to_string());

    for (id, (skill, user, action, kind, from, to)) in &before.events {
        let Some((new_skill, u, a, k, f, t)) = after.events.get(id) else {
            return Err(TestCaseError::fail(format!(
                "{context}: progress event {id} on {skill} was lost"
            )));
        };
        prop_assert_eq!(
            (u, a, k, f, t),
            (user, action, kind, from, to),
            "{}: event {} changed",
            context,
            id
        );
        prop_assert!(
            follows(skill, new_skill),
            "{}: event {} moved from {} to {}",
            context,
            id,
            skill,
            new_skill
        );
    }
    prop_assert_eq!(
        after.events.len(),
        before.events.len(),
        "{}: a load added events",
        context
    );
    for ((user, skill), state) in &before.progress {
        let now = after.progress.get(&(*user, resolve(skill)));
        prop_assert!(
            now.is_some_and(|now| rank(now) >= rank(state)),
            "{}: user {}'s {} on {} became {:?} (aliases {:?})",
            context,
            user,
            state,
            skill,
            now,
            aliases
        );
    }
    for ((user, skill), body) in &before.notes {
        let now = after.notes.get(&(*user, resolve(skill)));
        prop_assert!(
            now.is_some_and(|now| now.contains(body.as_str())),
            "{}: user {}'s note on {} was lost: {:?}",
            context,
            user,
            skill,
            now
        );
    }
    for (kind, was, now) in [
        ("evidence", &before.evidence, &after.evidence),
        ("comment", &before.comments, &after.comments),
    ] {
        prop_assert_eq!(
            was.len(),
            now.len(),
            "{}: {} rows were added or lost",
            context,
            kind
        );
        for (id, skill) in was {
            let moved = now.get(id);
            prop_assert!(
                moved.is_some_and(|moved| follows(skill, moved)),
                "{}: {} {} on {} is now on {:?}",
                context,
                kind,
                id,
                skill,
                moved
            );
        }
    }

    // Nothing hangs on a skill that is not there, or on an id renamed away.
    for table in [
        "skill_progress",
        "progress_events",
        "notes",
        "evidence",
        "comments",
        "step_ticks",
    ] {
        let stray: Vec<String> = sqlx::query_scalar(&format!(
            "select distinct t.skill_id from {table} t
             where not exists (select 1 from skills s where s.id = t.skill_id)
                or exists (select 1 from skill_aliases a where a.old_id = t.skill_id)
                or t.skill_id = any($1)"
        ))
        .bind(renamed_away)
        .fetch_all(pool)
        .await
        .unwrap();
        prop_assert!(
            stray.is_empty(),
            "{}: {} rows left on {:?}",
            context,
            table,
            stray
        );
    }
    // The per-stage tallies the triggers keep equal a recount from the progress rows:
    // as pages read them, the totals plus the pending deltas (migration 0026), and again
    // once the deltas are folded in.
    for folded in [false, true] {
        if folded {
            sqlx::query("select fold_learner_counters()")
                .execute(pool)
                .await
                .unwrap();
        }
        let drift: Vec<(i64, String, String)> = sqlx::query_as(
            "with recount as (
                 select p.user_id, s.roadmap_id, s.stage_id,
                        count(*) filter (where p.state = 'done' and not s.optional) as done,
                        count(*) filter (where p.state = 'done' and s.optional) as optional_done,
                        count(*) filter (where p.state = 'in_progress') as in_progress,
                        count(*) filter (where p.state = 'skipped' and not s.optional) as skipped,
                        count(*) filter (where p.state = 'done' and not s.optional and p.verified_by is not null) as verified
                 from skill_progress p join skill_places s on s.skill_id = p.skill_id
                 where s.retired_at is null and p.state <> 'not_started'
                 group by 1, 2, 3
             ), kept as (
                 select user_id, roadmap_id, stage_id, sum(done)::bigint as done,
                        sum(optional_done)::bigint as optional_done, sum(in_progress)::bigint as in_progress,
                        sum(skipped)::bigint as skipped, sum(verified)::bigint as verified
                 from (select user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified
                       from stage_tallies
                       union all
                       select user_id, roadmap_id, stage_id, done, optional_done, in_progress, skipped, verified
                       from stage_tally_changes) t
                 group by 1, 2, 3
                 having sum(done + optional_done + in_progress + skipped + verified) > 0
             )
             select user_id, roadmap_id, stage_id from ((table recount except table kept) union all
                                                        (table kept except table recount)) d",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        prop_assert!(
            drift.is_empty(),
            "{}: stage tallies drifted on {:?} (folded: {})",
            context,
            drift,
            folded
        );
    }
    Ok(())
}

/// What learners do between loads, on the skills that are live in the database.
async fn learn(pool: &PgPool, users: &[i64; 2], ops: &[LearnerOp], counter: &mut u32) {
    let live: Vec<String> = sqlx::query_scalar("select id from skills where retired_at is null order by id")
        .fetch_all(pool)
        .await
        .unwrap();
    if live.is_empty() {
        return;
    }
    for op in ops {
        *counter += 1;
        match *op {
            LearnerOp::State { user, skill, state } => {
                let skill = &live[skill % live.len()];
                let version: i32 = sqlx::query_scalar(
                    "select version from skill_progress where user_id = $1 and skill_id = $2",
                )
                .bind(users[user])
                .bind(skill)
                .fetch_optional(pool)
                .await
                .unwrap()
                .unwrap_or(0);
                db::progress::set_state(pool, users[user], None, skill, SkillState::ALL[state], version)
                    .await
                    .unwrap();
            }
            LearnerOp::Note { user, skill, empty } => {
                let body = if empty {
                    String::new()
                } else {
                    format!("note {counter}")
                };
                db::notes::save_note(pool, users[user], &live[skill % live.len()], &body, user == 0)
                    .await
                    .unwrap();
            }
            LearnerOp::Evidence { user, skill } => {
                db::notes::add_evidence(
                    pool,
                    users[user],
                    &live[skill % live.len()],
                    &format!("https://example.org/{counter}"),
                    "proof",
                )
                .await
                .unwrap();
            }
            LearnerOp::Comment { user, skill } => {
                db::comments::add(
                    pool,
                    users[user],
                    &live[skill % live.len()],
                    users[1 - user],
                    &format!("comment {counter}"),
                    None,
                    None,
                )
                .await
                .unwrap();
            }
            LearnerOp::Undo { user } => {
                let last: Option<i64> =
                    sqlx::query_scalar("select max(action_id) from progress_events where user_id = $1")
                        .bind(users[user])
                        .fetch_one(pool)
                        .await
                        .unwrap();
                if let Some(action) = last {
                    db::progress::undo(pool, users[user], action).await.unwrap();
                }
            }
        }
    }
}

async fn run(rounds: Vec<Round>) -> Result<(), TestCaseError> {
    let db = TestDb::new().await;
    let pool = &db.pool;
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    model.write(dir.path());
    let first = sync::load_dir(pool, dir.path()).await.unwrap();
    prop_assert!(
        matches!(first, LoadOutcome::Applied(_)),
        "first load: {:?}",
        first
    );
    let mut users = [0; 2];
    for (n, user) in users.iter_mut().enumerate() {
        *user = db::users::create(pool, &format!("learner{n}"), "Learner", None, "not-a-hash")
            .await
            .unwrap();
    }
    let mut counter = 0;
    for (index, round) in rounds.iter().enumerate() {
        learn(pool, &users, &round.learners, &mut counter).await;
        for op in &round.content {
            model.apply(op);
        }
        model.write(dir.path());
        let before = snapshot(pool).await;
        let policy = if round.hold {
            Policy::HoldRetiringProgress
        } else {
            Policy::Apply
        };
        let outcome = sync::load_dir_with(pool, dir.path(), Trigger::Watcher, policy)
            .await
            .unwrap();
        let context = format!("round {index} ({outcome:?}), content {:?}", model.live);
        prop_assert!(!matches!(outcome, LoadOutcome::Failed(_)), "{}", context);
        // A held load changed nothing, so the files' renames have not happened yet.
        let renamed_away: Vec<String> = if matches!(outcome, LoadOutcome::Held(_)) {
            Vec::new()
        } else {
            model
                .live
                .iter()
                .flat_map(|s| s.replaces.iter().cloned())
                .collect()
        };
        check(pool, &before, &renamed_away, &context).await?;
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Each case makes a database: keep shrinking affordable.
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    })]

    #[test]
    fn content_sync_never_loses_or_strands_learner_rows(rounds in rounds()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(rounds))?;
    }
}
