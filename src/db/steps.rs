//! Sub-steps a learner ticked inside skills (the task-list items of a skill's text).

use std::collections::{HashMap, HashSet};

use sqlx::PgExecutor;

/// The ticked step keys per skill, for one learner and a set of skills: one query.
pub async fn ticked(
    db: impl PgExecutor<'_>,
    user_id: i64,
    skill_ids: &[String],
) -> sqlx::Result<HashMap<String, HashSet<String>>> {
    let rows = sqlx::query!(
        "select skill_id, step_key from step_ticks where user_id = $1 and skill_id = any($2)",
        user_id,
        skill_ids
    )
    .fetch_all(db)
    .await?;
    let mut ticked: HashMap<String, HashSet<String>> = HashMap::new();
    for row in rows {
        ticked.entry(row.skill_id).or_default().insert(row.step_key);
    }
    Ok(ticked)
}

/// Ticks or unticks one sub-step. Never touches the skill's own state.
pub async fn set(
    db: impl PgExecutor<'_>,
    user_id: i64,
    skill_id: &str,
    key: &str,
    done: bool,
) -> sqlx::Result<()> {
    if done {
        sqlx::query!(
            "insert into step_ticks (user_id, skill_id, step_key) values ($1, $2, $3) on conflict do nothing",
            user_id,
            skill_id,
            key
        )
        .execute(db)
        .await?;
    } else {
        sqlx::query!(
            "delete from step_ticks where user_id = $1 and skill_id = $2 and step_key = $3",
            user_id,
            skill_id,
            key
        )
        .execute(db)
        .await?;
    }
    Ok(())
}
