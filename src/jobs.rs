//! Background jobs: scheduled sweeps (review nudges, quiet reminders, the email digest) run by one server at a time, each sending at most once per subject and step.
//!
//! A sweep is a function over an open transaction that returns how many notices it sent.
//! [`run_due`] takes each due row of `jobs` with `for update skip locked` (another server
//! holding it is skipped), runs the sweep in that transaction and moves `next_run_at` on.
//! What a sweep sends is keyed in `job_sends` by (kind, subject, step) with `on conflict do
//! nothing`, and its notices are written in the same transaction, so a sweep run twice (a
//! restart, a second server, a test) sends once. To add a sweep: write it like
//! [`review_nudges`], add its name to [`JOBS`] and to `jobs` in a migration.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use crate::config::Settings;
use crate::db::email;
use crate::mail::{self, DigestLine, Mailer};
use crate::notify::{self, Notice};

/// What the sweeps need to know.
#[derive(Debug, Clone)]
pub struct Context {
    /// The public URL when email goes out; `None`: notices stay in the app.
    pub email: Option<String>,
    pub public_url: String,
    /// Days without progress before a reminder; 0: none.
    pub quiet_days: i64,
    /// How often the frequent sweeps run.
    pub every: Duration,
}

impl Context {
    pub fn new(settings: &Settings, every: Duration) -> Self {
        Self {
            email: settings.email.then(|| settings.public_url.clone()),
            public_url: settings.public_url.clone(),
            quiet_days: settings.quiet_days,
            every,
        }
    }
}

/// The scheduled sweeps, by their name in the `jobs` table.
pub const JOBS: &[&str] = &["review_nudges", "quiet_reminders", "email_digest"];

/// Runs one sweep by name in `tx`.
async fn run_one(name: &str, tx: &mut PgConnection, context: &Context) -> anyhow::Result<u64> {
    match name {
        "review_nudges" => review_nudges(tx, context).await,
        "quiet_reminders" => quiet_reminders(tx, context).await,
        "email_digest" => email_digest(tx, context).await,
        other => anyhow::bail!("no sweep is called {other}"),
    }
}

/// How long after a run a sweep is due again.
fn period(name: &str, context: &Context) -> Duration {
    match name {
        "email_digest" => Duration::from_secs(24 * 3600),
        _ => context.every,
    }
}

/// Runs every due sweep this server can take, each in its own transaction. Returns (name,
/// notices sent) for the sweeps it ran; a failed sweep is logged and recorded in
/// `jobs.last_outcome`, and tried again after its period.
pub async fn run_due(pool: &PgPool, context: &Context) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let mut ran = Vec::new();
    for &name in JOBS {
        let mut tx = pool.begin().await?;
        let due = sqlx::query_scalar!(
            "select name from jobs where name = $1 and next_run_at <= now() for update skip locked",
            name
        )
        .fetch_optional(&mut *tx)
        .await?;
        if due.is_none() {
            continue;
        }
        let next = period(name, context).as_secs() as i64;
        match run_one(name, &mut tx, context).await {
            Ok(sent) => {
                sqlx::query!(
                    "update jobs set last_run_at = now(), next_run_at = now() + make_interval(secs => $2),
                            last_outcome = $3
                     where name = $1",
                    name,
                    next as f64,
                    format!("{sent} sent")
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                ran.push((name, sent));
            }
            Err(error) => {
                drop(tx);
                let text: String = format!("{error:#}").chars().take(500).collect();
                tracing::warn!(job = name, error = %text, "a background job failed; it runs again later");
                sqlx::query!(
                    "update jobs set last_run_at = now(), next_run_at = now() + make_interval(secs => $2),
                            last_outcome = $3
                     where name = $1",
                    name,
                    next as f64,
                    format!("failed: {text}")
                )
                .execute(pool)
                .await?;
            }
        }
    }
    Ok(ran)
}

/// Marks every sweep due now (tests, and `pathway` operators who want a run at once).
pub async fn make_due(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query!("update jobs set next_run_at = now()")
        .execute(pool)
        .await?;
    Ok(())
}

/// A review request waiting 2 days nudges the mentors who can answer it (the learner's
/// direct mentors on that roadmap, and the mentors of each team of the learner that has the
/// roadmap assigned); at 5 days, those teams' leads. Once per request and step.
pub async fn review_nudges(tx: &mut PgConnection, context: &Context) -> anyhow::Result<u64> {
    let due = sqlx::query!(
        r#"with due as (
               select r.id, r.mentee_id, s.roadmap_id, s.title, u.display_name, st.step, st.days
               from review_requests r
               join skills s on s.id = r.skill_id
               join users u on u.id = r.mentee_id
               cross join (values ('2d', 2), ('5d', 5)) as st (step, days)
               where r.status = 'pending' and r.requested_at <= now() - make_interval(days => st.days)
                 and not exists (select 1 from job_sends j
                                 where j.kind = 'review_nudge' and j.subject_id = r.id and j.step = st.step)
           ), addressed as (
               select d.*, array(
                   select m.mentor_id from mentorships m
                   where d.step = '2d' and m.mentee_id = d.mentee_id and m.status = 'active'
                     and m.mentor_id is not null
                     and (m.all_roadmaps or exists (select 1 from mentorship_roadmaps mr
                                                    where mr.mentorship_id = m.id and mr.roadmap_id = d.roadmap_id))
                   union
                   select staff.user_id from team_members learner
                   join team_roadmaps tr on tr.team_id = learner.team_id and tr.roadmap_id = d.roadmap_id
                   join team_members staff on staff.team_id = learner.team_id and staff.left_at is null
                        and staff.role = case d.step when '2d' then 'mentor' else 'lead' end
                   where learner.user_id = d.mentee_id and learner.role = 'learner' and learner.left_at is null
               ) as recipients
               from due d
           ), recorded as (
               insert into job_sends (kind, subject_id, step, recipients)
               select 'review_nudge', id, step, recipients from addressed
               on conflict do nothing
               returning subject_id, step
           )
           select a.id as "id!", a.step as "step!", a.days as "days!", a.title as "title!",
                  a.display_name as "display_name!", a.recipients as "recipients!"
           from addressed a join recorded r on r.subject_id = a.id and r.step = a.step
           order by a.id, a.step"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut sent = 0;
    for row in due {
        if row.recipients.is_empty() {
            continue;
        }
        let (summary, target_url) = if row.step == "2d" {
            (
                format!(
                    "{}’s review request for “{}” has waited {} days for an answer",
                    row.display_name, row.title, row.days
                ),
                "/mentoring/reviews".to_string(),
            )
        } else {
            (
                format!(
                    "{}’s review request for “{}” has waited {} days: no mentor has answered yet",
                    row.display_name, row.title, row.days
                ),
                "/teams".to_string(),
            )
        };
        sent += row.recipients.len() as u64;
        let notice = Notice {
            recipients: row.recipients,
            actor_id: None,
            kind: "review_nudge",
            summary,
            target_url,
        };
        notify::deliver_in(&mut *tx, context.email.as_deref(), &notice).await?;
    }
    Ok(sent)
}

/// A learner with no progress for `quiet_days` gets one friendly reminder per quiet spell
/// (the spell is keyed by when their last activity was, so new activity starts a new one),
/// unless they switched reminders off.
pub async fn quiet_reminders(tx: &mut PgConnection, context: &Context) -> anyhow::Result<u64> {
    if context.quiet_days <= 0 {
        return Ok(0);
    }
    let learners = sqlx::query_scalar!(
        r#"with quiet as (
               select e.user_id, max(coalesce(e.last_activity_at, e.started_at)) as since
               from enrollments e join users u on u.id = e.user_id
               where u.quiet_reminders and u.disabled_at is null
               group by e.user_id
               having max(coalesce(e.last_activity_at, e.started_at)) <= now() - make_interval(days => $1)
           )
           insert into job_sends (kind, subject_id, step, recipients)
           select 'quiet_reminder', q.user_id, to_char(q.since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'),
                  array[q.user_id]
           from quiet q
           -- Activity the counters have not folded in yet (within a second, normally).
           where not exists (select 1 from enrollment_activity_changes c
                             where c.user_id = q.user_id and c.at > now() - make_interval(days => $1))
           on conflict do nothing
           returning subject_id"#,
        context.quiet_days as i32
    )
    .fetch_all(&mut *tx)
    .await?;
    if learners.is_empty() {
        return Ok(0);
    }
    let sent = learners.len() as u64;
    let notice = Notice {
        recipients: learners,
        actor_id: None,
        kind: "quiet_reminder",
        summary: "It has been a while: your roadmaps are where you left them, ready for the next skill"
            .into(),
        target_url: "/dashboard".into(),
    };
    notify::deliver_in(&mut *tx, context.email.as_deref(), &notice).await?;
    Ok(sent)
}

/// Bundles everyone's waiting digest items into one email each (the items are taken in
/// this transaction, so a digest is queued once).
pub async fn email_digest(tx: &mut PgConnection, context: &Context) -> anyhow::Result<u64> {
    let batches = email::take_digests(&mut *tx).await?;
    let mut messages = Vec::new();
    for batch in batches {
        let Some(address) = batch.address else { continue };
        let lines: Vec<DigestLine> = batch
            .summaries
            .into_iter()
            .zip(batch.targets)
            .map(|(summary, target)| DigestLine {
                summary,
                link: format!("{}{target}", context.public_url),
            })
            .collect();
        messages.push(mail::digest(batch.user_id, address, &lines)?);
    }
    email::enqueue(&mut *tx, &messages).await?;
    Ok(messages.len() as u64)
}

/// The server's job loop: every `context.every`, run the due sweeps and send the due email.
pub async fn run(pool: PgPool, context: Context, mailer: Option<Mailer>) {
    let mut interval = tokio::time::interval(context.every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if pool.is_closed() {
            return;
        }
        match run_due(&pool, &context).await {
            Ok(ran) => {
                for (name, sent) in ran.into_iter().filter(|(_, sent)| *sent > 0) {
                    tracing::info!(job = name, sent, "background job sent notices");
                }
            }
            Err(error) => tracing::warn!(%error, "could not run the background jobs"),
        }
        if let Some(mailer) = &mailer {
            match mail::send_due(&pool, mailer, 200).await {
                Ok(report) if report.sent + report.failed > 0 => {
                    tracing::info!(sent = report.sent, failed = report.failed, "email sent");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not send email"),
            }
        }
    }
}
