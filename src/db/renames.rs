//! Carrying everything keyed by old skill ids to the skill that replaces them (`replaces=`).

use sqlx::PgConnection;

/// Moves progress, events, notes, evidence, reviews, comments, sub-step ticks
/// and text revisions from `old` to `new`, inside the caller's transaction.
/// When several skills merge, the most advanced state wins (done, then in
/// progress, then skipped), notes are joined, and every event is kept.
pub async fn carry(tx: &mut PgConnection, old: &[String], new: &str) -> sqlx::Result<()> {
    let mut all: Vec<String> = old.to_vec();
    all.push(new.to_string());

    // One row per learner: the most advanced state, the earliest start, a
    // version above every old one so forms rendered before the move go stale.
    sqlx::query!(
        "insert into skill_progress (user_id, skill_id, state, started_at, done_at, updated_at, version,
                                     done_content_hash, verified_by, verified_at)
         select distinct on (p.user_id) p.user_id, $2, p.state, min(p.started_at) over learner, p.done_at,
                max(p.updated_at) over learner, max(p.version) over learner + 1, p.done_content_hash,
                p.verified_by, p.verified_at
         from skill_progress p
         where p.skill_id = any($1)
           and p.user_id in (select user_id from skill_progress where skill_id = any($3))
         window learner as (partition by p.user_id)
         order by p.user_id,
                  case p.state when 'done' then 3 when 'in_progress' then 2 when 'skipped' then 1 else 0 end desc,
                  p.updated_at desc
         on conflict (user_id, skill_id) do update set
             state = excluded.state, started_at = excluded.started_at, done_at = excluded.done_at,
             updated_at = excluded.updated_at, version = excluded.version,
             done_content_hash = excluded.done_content_hash, verified_by = excluded.verified_by,
             verified_at = excluded.verified_at",
        &all,
        new,
        old
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("delete from skill_progress where skill_id = any($1)", old)
        .execute(&mut *tx)
        .await?;

    // Notes are one per learner and skill: join them, the surviving skill's first.
    sqlx::query!(
        "insert into notes (user_id, skill_id, body_md, shared_with_mentors, updated_at)
         select user_id, $2, string_agg(body_md, E'\\n\\n' order by skill_id <> $2, updated_at),
                bool_or(shared_with_mentors), max(updated_at)
         from notes
         where skill_id = any($1) and user_id in (select user_id from notes where skill_id = any($3))
         group by user_id
         on conflict (user_id, skill_id) do update set
             body_md = excluded.body_md, shared_with_mentors = excluded.shared_with_mentors,
             updated_at = excluded.updated_at",
        &all,
        new,
        old
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("delete from notes where skill_id = any($1)", old)
        .execute(&mut *tx)
        .await?;

    // One pending review per learner and skill: keep the oldest request.
    sqlx::query!(
        "update review_requests r set status = 'withdrawn', answered_at = now()
         where r.status = 'pending' and r.skill_id = any($1)
           and exists (select 1 from review_requests o
                       where o.mentee_id = r.mentee_id and o.status = 'pending'
                         and o.skill_id = any($1) and o.id < r.id)",
        &all
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update review_requests set skill_id = $2 where skill_id = any($1)",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;

    // Rows that are many per skill simply change skill.
    sqlx::query!(
        "update progress_events set skill_id = $2 where skill_id = any($1)",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update evidence set skill_id = $2 where skill_id = any($1)",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update comments set skill_id = $2 where skill_id = any($1)",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;

    sqlx::query!(
        "insert into step_ticks (user_id, skill_id, step_key, ticked_at)
         select user_id, $2, step_key, min(ticked_at) from step_ticks where skill_id = any($1)
         group by user_id, step_key
         on conflict do nothing",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("delete from step_ticks where skill_id = any($1)", old)
        .execute(&mut *tx)
        .await?;

    // A team's tailoring follows the skill (the latest rule, if several old ids had one).
    sqlx::query!(
        "insert into team_skill_rules (team_id, skill_id, rule, set_by, set_at)
         select distinct on (team_id) team_id, $2, rule, set_by, set_at from team_skill_rules
         where skill_id = any($1) order by team_id, set_at desc
         on conflict do nothing",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("delete from team_skill_rules where skill_id = any($1)", old)
        .execute(&mut *tx)
        .await?;

    // Keep the old texts under the new id, so "what changed" still has a base.
    sqlx::query!(
        "insert into skill_revisions (skill_id, content_hash, body_md, first_seen_at)
         select $2, content_hash, body_md, first_seen_at from skill_revisions where skill_id = any($1)
         on conflict do nothing",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;

    // Links in notifications point at the skill's anchor.
    sqlx::query!(
        "update notifications n set target_url = regexp_replace(n.target_url, '#' || o.id || '$', '#' || $2)
         from unnest($1::text[]) as o (id)
         where n.target_url like '%#' || o.id",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;

    // Record the mapping, and point earlier aliases of the old ids here too.
    sqlx::query!(
        "update skill_aliases set new_id = $2 where new_id = any($1)",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into skill_aliases (old_id, new_id) select id, $2 from unnest($1::text[]) as o (id)
         on conflict (old_id) do update set new_id = excluded.new_id",
        old,
        new
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Ids defined in the files again are skills of their own, no longer aliases.
pub async fn forget_aliases(tx: &mut PgConnection, live_ids: &[String]) -> sqlx::Result<()> {
    sqlx::query!("delete from skill_aliases where old_id = any($1)", live_ids)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
