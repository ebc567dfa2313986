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
/// The most reviews, learners or stages a sweep handles in one pass; the rest wait for the next pass (a minute
/// later by default). A first pass over a large backlog (an upgrade over years of history)
/// would otherwise write thousands of notices in one transaction and slow every page.
pub const SWEEP_BATCH: i64 = 200;

pub const JOBS: &[&str] = &[
    "review_nudges",
    "quiet_reminders",
    "overdue_stages",
    "email_digest",
];

/// Runs one sweep by name in `tx`.
async fn run_one(name: &str, tx: &mut PgConnection, context: &Context) -> anyhow::Result<u64> {
    match name {
        "review_nudges" => review_nudges(tx, context).await,
        "quiet_reminders" => quiet_reminders(tx, context).await,
        "overdue_stages" => overdue_stages(tx, context).await,
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
               order by r.requested_at, r.id, st.step
               limit $1
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
           order by a.id, a.step"#,
        SWEEP_BATCH
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

/// A team stage past its target date (the team's, or the learner's own) with a required
/// skill of the team's version not done or skipped tells the learner and the team's leads,
/// once per learner, stage and date (a new date is a new deadline). "Past" is after the
/// date's end in the learner's time zone.
pub async fn overdue_stages(tx: &mut PgConnection, context: &Context) -> anyhow::Result<u64> {
    let due = sqlx::query!(
        r#"with targets as (
               select tm.team_id, tm.user_id, ts.roadmap_id, ts.stage_id,
                      coalesce(lt.due_on, ts.due_on) as due_on
               from team_stage_targets ts
               join team_members tm on tm.team_id = ts.team_id and tm.role = 'learner' and tm.left_at is null
               left join team_learner_targets lt on lt.team_id = ts.team_id and lt.user_id = tm.user_id
                    and lt.roadmap_id = ts.roadmap_id and lt.stage_id = ts.stage_id
               union
               select lt.team_id, lt.user_id, lt.roadmap_id, lt.stage_id, lt.due_on
               from team_learner_targets lt
               join team_members tm on tm.team_id = lt.team_id and tm.user_id = lt.user_id
                    and tm.role = 'learner' and tm.left_at is null
           ), overdue as (
               select t.team_id, t.user_id, t.roadmap_id, t.stage_id, t.due_on,
                      t.team_id || '/' || t.roadmap_id || '/' || t.stage_id || '/' || t.due_on as step,
                      u.display_name, st.title as stage_title, tm.slug
               from targets t
               join users u on u.id = t.user_id and u.disabled_at is null
               join teams tm on tm.id = t.team_id
               join stages st on st.roadmap_id = t.roadmap_id and st.id = t.stage_id and st.retired_at is null
               where t.due_on < (now() at time zone u.time_zone)::date
                 -- A learner's own date for a stage replaces the team's.
                 and t.due_on = coalesce((select lt.due_on from team_learner_targets lt
                                          where lt.team_id = t.team_id and lt.user_id = t.user_id
                                            and lt.roadmap_id = t.roadmap_id and lt.stage_id = t.stage_id),
                                         t.due_on)
                 and exists (
                     select 1 from skill_places sp
                     left join team_skill_rules r on r.team_id = t.team_id and r.skill_id = sp.skill_id
                     where sp.roadmap_id = t.roadmap_id and sp.stage_id = t.stage_id and sp.retired_at is null
                       and ((not sp.optional and r.rule is distinct from 'hidden') or r.rule = 'required')
                       and not exists (select 1 from skill_progress p
                                       where p.user_id = t.user_id and p.skill_id = sp.skill_id
                                         and p.state in ('done', 'skipped')))
                 and not exists (select 1 from job_sends j
                                 where j.kind = 'stage_overdue' and j.subject_id = t.user_id
                                   and j.step = t.team_id || '/' || t.roadmap_id || '/' || t.stage_id || '/' || t.due_on)
           ), addressed as (
               select o.*, array(select l.user_id from team_members l
                                 where l.team_id = o.team_id and l.role = 'lead' and l.left_at is null
                                   and l.user_id <> o.user_id) as leads
               from overdue o
               order by o.user_id, o.step
               limit $1
           ), recorded as (
               insert into job_sends (kind, subject_id, step, recipients)
               select 'stage_overdue', user_id, step, array[user_id] || leads from addressed
               on conflict do nothing
               returning subject_id, step
           )
           select a.user_id as "user_id!", a.roadmap_id as "roadmap_id!", a.stage_id as "stage_id!",
                  a.due_on as "due_on!", a.display_name as "display_name!", a.stage_title as "stage_title!",
                  a.slug as "slug!", a.leads as "leads!"
           from addressed a join recorded r on r.subject_id = a.user_id and r.step = a.step
           order by a.user_id, a.step"#,
        SWEEP_BATCH
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut sent = 0;
    for row in due {
        let due_on = crate::pages::format_day(row.due_on);
        let learner = Notice {
            recipients: vec![row.user_id],
            actor_id: None,
            kind: "stage_overdue",
            summary: format!(
                "“{}” was due on {due_on}: pick up where you left off, or ask your lead for a new date",
                row.stage_title
            ),
            target_url: format!("/roadmaps/{}/{}", row.roadmap_id, row.stage_id),
        };
        notify::deliver_in(&mut *tx, context.email.as_deref(), &learner).await?;
        sent += 1;
        if !row.leads.is_empty() {
            sent += row.leads.len() as u64;
            let lead = Notice {
                recipients: row.leads,
                actor_id: None,
                kind: "stage_overdue",
                summary: format!(
                    "{} is behind: “{}” was due on {due_on}",
                    row.display_name, row.stage_title
                ),
                target_url: format!("/teams/{}", row.slug),
            };
            notify::deliver_in(&mut *tx, context.email.as_deref(), &lead).await?;
        }
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
           ), unsent as (
               select q.user_id, to_char(q.since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as step
               from quiet q
               -- Activity the counters have not folded in yet (within a second, normally).
               where not exists (select 1 from enrollment_activity_changes c
                                 where c.user_id = q.user_id and c.at > now() - make_interval(days => $1))
           )
           insert into job_sends (kind, subject_id, step, recipients)
           select 'quiet_reminder', u.user_id, u.step, array[u.user_id]
           from unsent u
           where not exists (select 1 from job_sends j
                             where j.kind = 'quiet_reminder' and j.subject_id = u.user_id and j.step = u.step)
           order by u.user_id
           limit $2
           on conflict do nothing
           returning subject_id"#,
        context.quiet_days as i32,
        SWEEP_BATCH
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
