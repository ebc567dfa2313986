//! Rows of the busiest signed-in pages, kept in memory while nothing they show has changed.
//!
//! A learner's stage page and dashboard: each kept copy carries the [`ViewStamp`] read in
//! the same snapshot as its rows. The session statement reads the learner's current stamp
//! on every request, and triggers move it in the same transaction as any change to what
//! these pages show (migration 0044), so an equal stamp means the kept rows are what the
//! statement would read again. That holds across instances too: the stamp lives in
//! PostgreSQL, only the copies are local. A page with a kept copy costs the session
//! statement alone.
//!
//! A mentor's dashboard and matrix: the stamp adds the number of active mentees and the sum
//! of their versions ([`MentorStamp`]), read by one small statement before the rows, so a
//! kept copy costs that statement and the session's.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};

use quick_cache::Weighter;
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use sqlx::PgPool;

use crate::charts::DashboardCharts;
use crate::content::catalog::Catalog;
use crate::db::learner_view::{self, DashboardRows, StageRows, ViewStamp};
use crate::db::mentorships::{self, MenteeSummary};
use crate::db::progress::{self, StageCounts};
use crate::db::users::User;
use crate::error::AppError;

/// A mentor's own stamp, their active mentees and the sum of those mentees' versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MentorStamp {
    own: ViewStamp,
    mentees: i64,
    versions: i64,
}

/// Learners' counts per (learner, roadmap, stage).
pub type Counts = HashMap<(i64, String, String), StageCounts>;

/// What the mentor dashboard reads for one page of mentees.
#[derive(Debug)]
pub struct MentorDashboardRows {
    pub mentees: Vec<MenteeSummary>,
    /// Active mentees in all, and reviews waiting across all of them.
    pub total: i64,
    pub reviews_waiting: i64,
    /// (mentee, roadmap, started) of the page's mentees.
    pub enrollments: Vec<(i64, String, time::OffsetDateTime)>,
    pub counts: Counts,
    /// The page's mentee cards, drawn from these rows once per catalog and time zone.
    pub drawn: Drawn,
}

/// A learner's dashboard rows and the charts drawn from them.
#[derive(Debug)]
pub struct KeptDashboard {
    pub rows: DashboardRows,
    pub charts: DashboardCharts,
}

/// What the matrix reads for one roadmap and page of mentees.
#[derive(Debug)]
pub struct MatrixRows {
    /// (id, username, display name), and how many in all.
    pub mentees: Vec<(i64, String, String)>,
    pub total: i64,
    pub counts: Counts,
    /// The page's table, drawn from these rows once per catalog.
    pub drawn: Drawn,
}

/// Markup drawn from a kept copy, with the catalog and the viewer's time zone it was drawn
/// with. It is drawn again when either is another: a content load moves the stamp in its
/// transaction and swaps the catalog just after, so a copy read in between would otherwise
/// keep the old names; dates are written in the viewer's zone.
#[derive(Debug, Default)]
pub struct Drawn(Mutex<Option<DrawnWith>>);

#[derive(Debug)]
struct DrawnWith {
    catalog: Weak<Catalog>,
    time_zone: String,
    markup: Arc<str>,
}

impl Drawn {
    /// The markup drawn with `catalog` in `time_zone`, drawing it with `draw` if there is
    /// none yet.
    pub fn get_or_draw<E>(
        &self,
        catalog: &Arc<Catalog>,
        time_zone: &str,
        draw: impl FnOnce() -> Result<String, E>,
    ) -> Result<Arc<str>, E> {
        let drawn = |slot: &Option<DrawnWith>| {
            slot.as_ref()
                .filter(|d| {
                    std::ptr::eq(d.catalog.as_ptr(), Arc::as_ptr(catalog)) && d.time_zone == time_zone
                })
                .map(|d| d.markup.clone())
        };
        if let Some(markup) = drawn(&self.0.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(markup);
        }
        // Drawn outside the lock: two requests may both draw a new copy, and either is right.
        let markup: Arc<str> = draw()?.into();
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(DrawnWith {
            catalog: Arc::downgrade(catalog),
            time_zone: time_zone.to_string(),
            markup: markup.clone(),
        });
        Ok(markup)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MentorDashboardKey {
    mentor_id: i64,
    page: i64,
    stalled_after: time::OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MatrixKey {
    mentor_id: i64,
    roadmap_id: String,
    page: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StageKey {
    user_id: i64,
    roadmap_id: String,
    skill_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DashboardKey {
    user_id: i64,
    weeks_since: time::Date,
    days_since: time::Date,
}

/// A kept copy: the stamp it was read at, the rows, and their approximate size in bytes.
type Kept<S, T> = (S, Arc<T>, u64);

#[derive(Clone)]
struct Bytes;

impl<K, S, T> Weighter<K, Kept<S, T>> for Bytes {
    fn weight(&self, _key: &K, kept: &Kept<S, T>) -> u64 {
        kept.2
    }
}

type KeptRows<K, S, T> = Option<Cache<K, Kept<S, T>, Bytes>>;

/// The copy kept under `key` if it was read at `stamp`; otherwise `read`'s rows, kept under
/// the stamp `read` gives (none: not kept). Concurrent misses on one key wait for a single
/// read instead of each reading the same rows: a mentor's pages expire every minute, and
/// many tabs or clients of one account would otherwise all rebuild them at once.
async fn kept_or_read<K, S, T, E>(
    cache: &KeptRows<K, S, T>,
    key: &K,
    stamp: Option<S>,
    read: impl Future<Output = Result<(Option<S>, Arc<T>, u64), E>>,
) -> Result<Arc<T>, E>
where
    K: Eq + Hash + Clone,
    S: PartialEq + Clone,
{
    let Some(cache) = cache else {
        return Ok(read.await?.1);
    };
    let Some(stamp) = stamp else {
        // Nothing to compare a kept copy with: read, and keep what was read.
        let (read_at, rows, bytes) = read.await?;
        if let Some(read_at) = read_at {
            cache.insert(key.clone(), (read_at, rows.clone(), bytes));
        }
        return Ok(rows);
    };
    // The common case, a kept copy still current, takes the shard's read lock only.
    if let Some((kept, rows, _)) = cache.get(key)
        && kept == stamp
    {
        return Ok(rows);
    }
    let current = |_: &K, (kept, rows, _): &mut Kept<S, T>| {
        if *kept == stamp {
            EntryAction::Retain(rows.clone())
        } else {
            EntryAction::ReplaceWithGuard
        }
    };
    let guard = match cache.entry_async(key, current).await {
        EntryResult::Retained(rows) => return Ok(rows),
        EntryResult::Replaced(guard, _) | EntryResult::Vacant(guard) => Some(guard),
        // Neither is asked for (no Remove, no timeout); read without keeping.
        EntryResult::Removed(..) | EntryResult::Timeout => None,
    };
    // Should the read fail, the guard is dropped and the next waiter reads instead.
    let (read_at, rows, bytes) = read.await?;
    if let (Some(guard), Some(read_at)) = (guard, read_at) {
        let _ = guard.insert((read_at, rows.clone(), bytes));
    }
    Ok(rows)
}

/// The kept rows of every learner, bounded in bytes (least useful dropped first).
pub struct ViewCache {
    stages: KeptRows<StageKey, ViewStamp, StageRows>,
    dashboards: KeptRows<DashboardKey, ViewStamp, KeptDashboard>,
    mentor_dashboards: KeptRows<MentorDashboardKey, MentorStamp, MentorDashboardRows>,
    matrices: KeptRows<MatrixKey, MentorStamp, MatrixRows>,
}

impl ViewCache {
    /// Keeps up to about `megabytes` MB of rows; 0 keeps none (every page reads its rows).
    pub fn new(megabytes: u64) -> Self {
        if megabytes == 0 {
            return Self {
                stages: None,
                dashboards: None,
                mentor_dashboards: None,
                matrices: None,
            };
        }
        let bytes = megabytes * 1024 * 1024;
        // Stage pages outnumber dashboards: a learner has one dashboard and many stages.
        // Mentors are few, and their pages are each the size of a few learners'.
        Self {
            stages: Some(Cache::with_weighter(4096, bytes / 2, Bytes)),
            dashboards: Some(Cache::with_weighter(1024, bytes / 4, Bytes)),
            mentor_dashboards: Some(Cache::with_weighter(256, bytes / 8, Bytes)),
            matrices: Some(Cache::with_weighter(256, bytes / 8, Bytes)),
        }
    }

    /// The rows of `user`'s stage page for `skill_ids` of `roadmap_id`.
    pub async fn stage(
        &self,
        db: &PgPool,
        user: &User,
        roadmap_id: &str,
        skill_ids: Vec<String>,
    ) -> sqlx::Result<Arc<StageRows>> {
        let key = StageKey {
            user_id: user.id,
            roadmap_id: roadmap_id.to_string(),
            skill_ids,
        };
        let read = async {
            let rows = learner_view::stage(db, user.id, roadmap_id, &key.skill_ids).await?;
            let bytes = stage_bytes(&rows);
            Ok((Some(rows.stamp), Arc::new(rows), bytes))
        };
        kept_or_read(&self.stages, &key, user.view_stamp, read).await
    }

    /// The rows of `user`'s dashboard on `today`, with the charts of the last `chart_weeks`
    /// weeks and of the year, rendered once per kept copy.
    pub async fn dashboard(
        &self,
        db: &PgPool,
        user: &User,
        today: time::Date,
        chart_weeks: usize,
    ) -> Result<Arc<KeptDashboard>, AppError> {
        // `today` is in the key through both dates, so a kept copy's charts are today's.
        let key = DashboardKey {
            user_id: user.id,
            weeks_since: today - time::Duration::weeks(chart_weeks as i64),
            days_since: today - time::Duration::weeks(53),
        };
        let read = async {
            let rows = learner_view::dashboard(db, user.id, key.weeks_since, key.days_since).await?;
            let charts = DashboardCharts::new(
                today,
                chart_weeks,
                &rows.completions_per_week,
                &rows.activity_per_day,
            )?;
            let bytes = dashboard_bytes(&rows) + charts.activity.len() as u64;
            Ok::<_, AppError>((Some(rows.stamp), Arc::new(KeptDashboard { rows, charts }), bytes))
        };
        kept_or_read(&self.dashboards, &key, user.view_stamp, read).await
    }

    /// The mentor's current stamp, when copies are kept and the session read theirs.
    async fn mentor_stamp(&self, db: &PgPool, mentor: &User) -> sqlx::Result<Option<MentorStamp>> {
        let Some(own) = mentor.view_stamp.filter(|_| self.mentor_dashboards.is_some()) else {
            return Ok(None);
        };
        let (mentees, versions) = mentorships::mentees_stamp(db, mentor.id).await?;
        Ok(Some(MentorStamp {
            own,
            mentees,
            versions,
        }))
    }

    /// One page of the mentor dashboard's mentees, quiet since before `stalled_after`
    /// counting as stalled (whole minutes, so views within a minute share a copy).
    pub async fn mentor_dashboard(
        &self,
        db: &PgPool,
        mentor: &User,
        stalled_after: time::OffsetDateTime,
        (limit, offset): (i64, i64),
    ) -> sqlx::Result<Arc<MentorDashboardRows>> {
        let stamp = self.mentor_stamp(db, mentor).await?;
        let key = MentorDashboardKey {
            mentor_id: mentor.id,
            page: offset,
            stalled_after,
        };
        let read = async {
            let (mentees, total, reviews_waiting) =
                mentorships::mentee_overview(db, mentor.id, stalled_after, limit, offset).await?;
            let ids: Vec<i64> = mentees.iter().map(|m| m.mentee_id).collect();
            let enrollments = progress::enrollments_of(db, &ids).await?;
            let counts = progress::stage_counts(db, &ids, None).await?;
            // With the cards it will draw: about 1.5 KB a mentee.
            let bytes = 512 + 256 * (mentees.len() + enrollments.len() + counts.len()) + 1536 * mentees.len();
            let rows = MentorDashboardRows {
                mentees,
                total,
                reviews_waiting,
                enrollments,
                counts,
                drawn: Drawn::default(),
            };
            Ok((stamp, Arc::new(rows), bytes as u64))
        };
        kept_or_read(&self.mentor_dashboards, &key, stamp, read).await
    }

    /// One page of the mentor's mentees on `roadmap_id`, with their counts there.
    pub async fn matrix(
        &self,
        db: &PgPool,
        mentor: &User,
        roadmap_id: &str,
        (limit, offset): (i64, i64),
    ) -> sqlx::Result<Arc<MatrixRows>> {
        let stamp = self.mentor_stamp(db, mentor).await?;
        let key = MatrixKey {
            mentor_id: mentor.id,
            roadmap_id: roadmap_id.to_string(),
            page: offset,
        };
        let read = async {
            let (mentees, total) =
                mentorships::mentees_on_roadmap(db, mentor.id, roadmap_id, limit, offset).await?;
            let ids: Vec<i64> = mentees.iter().map(|(id, _, _)| *id).collect();
            let counts = progress::stage_counts(db, &ids, Some(roadmap_id)).await?;
            // With the table it will draw: about 2 KB of cells per mentee.
            let bytes = 512 + 256 * (mentees.len() + counts.len()) + 2304 * mentees.len();
            let rows = MatrixRows {
                mentees,
                total,
                counts,
                drawn: Drawn::default(),
            };
            Ok((stamp, Arc::new(rows), bytes as u64))
        };
        kept_or_read(&self.matrices, &key, stamp, read).await
    }
}

/// Roughly what the rows hold: their texts plus a fixed cost per row. Notes and comments
/// count three times their markdown: the HTML drawn from them once viewed
/// (`StageRows::drawn_markdown`) is about twice as long.
fn stage_bytes(rows: &StageRows) -> u64 {
    const ROW: usize = 160;
    let texts = rows
        .notes
        .values()
        .map(|n| 3 * n.body_md.len() + ROW)
        .sum::<usize>()
        + rows
            .evidence
            .iter()
            .map(|e| e.url.len() + e.title.len() + ROW)
            .sum::<usize>()
        + rows
            .reviews
            .iter()
            .map(|r| r.message.len() + r.answer.as_ref().map_or(0, String::len) + ROW)
            .sum::<usize>()
        + rows
            .comments
            .iter()
            .map(|c| 3 * c.body_md.len() + ROW)
            .sum::<usize>()
        + rows.progress.0.len() * ROW
        + rows.ticked.values().map(|t| t.len() * 48).sum::<usize>();
    (texts + 512) as u64
}

fn dashboard_bytes(rows: &DashboardRows) -> u64 {
    const ROW: usize = 160;
    let n = rows.enrollments.len()
        + rows.stage_counts.len()
        + rows.next_stage_progress.0.len()
        + rows.completions_per_week.len()
        + rows.activity_per_day.len();
    (n * ROW + 512) as u64
}
