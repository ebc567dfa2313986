//! `pathway demo`: a mentor and three learners with realistic progress, links, reviews, notes and comments, and the cohort the mentor leads: two more mentors, a dozen learners at different paces, a tailored roadmap and stage target dates.

use sqlx::PgPool;

use crate::auth::password;
use crate::content::Catalog;
use crate::db::{comments, mentorships, notes, progress, reviews, team_plans, teams, users};
use crate::progress::{Rule, SkillState};

/// Every demo account signs in with this password.
pub const PASSWORD: &str = "pathway demo password";

pub struct DemoAccounts {
    pub mentor: String,
    /// The mentor's own mentees (linked to them).
    pub learners: Vec<String>,
    /// The cohort's two other mentors.
    pub team_mentors: Vec<String>,
    /// Every learner of the cohort, the mentees first.
    pub cohort: Vec<String>,
}

/// (username, display name, days since they started, skills done, skills in progress, skills skipped).
const LEARNERS: &[(&str, &str, i64, usize, usize, usize)] = &[
    ("ada", "Ada Lovelace", 40, 22, 3, 1),
    ("grace", "Grace Hopper", 21, 9, 2, 0),
    ("linus", "Linus Learner", 60, 4, 1, 0),
];

/// The rest of the cohort, in the team only, at different paces (same fields).
const COHORT: &[(&str, &str, i64, usize, usize, usize)] = &[
    ("bea", "Bea Quick", 30, 18, 2, 0),
    ("carl", "Carl Steady", 30, 10, 1, 0),
    ("dina", "Dina Slow", 30, 3, 1, 0),
    ("eli", "Eli Newcomer", 5, 1, 1, 0),
    ("femi", "Femi Keen", 30, 14, 2, 1),
    ("gus", "Gus Quiet", 45, 2, 0, 0),
    ("hana", "Hana Regular", 30, 8, 2, 0),
    ("ivan", "Ivan Later", 35, 5, 0, 0),
    ("joy", "Joy Ahead", 30, 20, 1, 0),
];

/// The cohort's other mentors: (username, display name).
const TEAM_MENTORS: &[(&str, &str)] = &[("sam", "Sam Second"), ("rita", "Rita Reviewer")];

/// Seeds the demo data on the `backend` roadmap. Refuses if the demo mentor
/// already exists, so running it twice changes nothing.
pub async fn seed(pool: &PgPool, catalog: &Catalog) -> anyhow::Result<DemoAccounts> {
    let roadmap = catalog.roadmap("backend").ok_or_else(|| {
        anyhow::anyhow!("the demo needs the shipped `backend` roadmap; load content/ first")
    })?;
    if users::by_username(pool, "mentor").await?.is_some() {
        anyhow::bail!("demo data is already there: sign in as `mentor` with the password \"{PASSWORD}\"");
    }
    let hash = password::hash(PASSWORD.into()).await?;
    let mentor_id = users::create(pool, "mentor", "Morgan Mentor", None, &hash).await?;
    let skills: Vec<&str> = roadmap
        .stages
        .iter()
        .flat_map(|s| &s.skills)
        .filter(|k| !k.optional)
        .map(|k| k.id.as_str())
        .collect();

    let mut learners = Vec::new();
    let mut cohort = Vec::new();
    for (n, &(username, name, days_ago, done, in_progress, skipped)) in
        LEARNERS.iter().chain(COHORT).enumerate()
    {
        let id = users::create(pool, username, name, None, &hash).await?;
        cohort.push(username.to_string());
        if n < LEARNERS.len() {
            learners.push(username.to_string());
        }
        progress::enroll(pool, id, &roadmap.id).await?;
        let mut index = 0;
        for (count, state) in [
            (done, SkillState::Done),
            (skipped, SkillState::Skipped),
            (in_progress, SkillState::InProgress),
        ] {
            for _ in 0..count {
                progress::set_state(pool, id, None, skills[index], state, 0).await?;
                index += 1;
            }
        }
        // Spread the history over the weeks since they started, oldest first;
        // Linus has been quiet for a month, so he shows as stalled.
        let quiet_days: i32 = match username {
            "linus" => 30,
            "gus" => 20,
            _ => 0,
        };
        sqlx::query(
            "with numbered as (
                 select id, row_number() over (order by id) as n, count(*) over () as total
                 from progress_events where user_id = $1)
             update progress_events e
             set at = now() - make_interval(days => $2)
                      + (make_interval(days => $2 - $3) * numbered.n / greatest(numbered.total, 1))
             from numbered where e.id = numbered.id",
        )
        .bind(id)
        .bind(days_ago as i32)
        .bind(quiet_days)
        .execute(pool)
        .await?;
        sqlx::query(
            "update skill_progress p set started_at = e.first_at, updated_at = e.last_at,
                 done_at = case when p.state = 'done' then e.last_at end
             from (select skill_id, min(at) as first_at, max(at) as last_at from progress_events
                   where user_id = $1 group by skill_id) e
             where p.user_id = $1 and p.skill_id = e.skill_id",
        )
        .bind(id)
        .execute(pool)
        .await?;
        sqlx::query(
            "update enrollments set started_at = now() - make_interval(days => $2) where user_id = $1",
        )
        .bind(id)
        .bind(days_ago as i32)
        .execute(pool)
        .await?;
        // Backdating moved "last activity" back in time, which the triggers only move forward.
        sqlx::query("select recount_learner_activity(array[$1::bigint])")
            .bind(id)
            .execute(pool)
            .await?;
        if n < LEARNERS.len() {
            mentorships::link(pool, mentor_id, id)
                .await?
                .map_err(|refusal| anyhow::anyhow!(refusal.0))?;
        }
    }

    // Ada: a verified skill, one waiting for review, a shared note and a conversation.
    let ada = users::by_username(pool, "ada").await?.expect("just created").id;
    notes::save_note(
        pool,
        ada,
        skills[0],
        "The server never sees the screen, only requests.",
        true,
    )
    .await?;
    notes::add_evidence(
        pool,
        ada,
        skills[2],
        "https://developer.mozilla.org/en-US/docs/Web/HTTP",
        "MDN notes I followed",
    )
    .await?;
    let verified = reviews::request(
        pool,
        ada,
        skills[2],
        "I built a tiny server that handles GET and POST.",
    )
    .await?
    .map_err(|refusal| anyhow::anyhow!(refusal.0))?;
    reviews::answer(pool, mentor_id, verified, true, "Clear demo, well done.")
        .await?
        .map_err(|message| anyhow::anyhow!(message))?;
    reviews::request(pool, ada, skills[5], "Can you check my notes on DNS records?")
        .await?
        .map_err(|refusal| anyhow::anyhow!(refusal.0))?;
    comments::add(
        pool,
        ada,
        skills[5],
        ada,
        "I was not sure about CNAME versus ALIAS records.",
        None,
        None,
    )
    .await?;
    comments::add(
        pool,
        ada,
        skills[5],
        mentor_id,
        "Good question: look at what your DNS host supports at the apex.",
        None,
        None,
    )
    .await?;

    // Grace: a review waiting since last week.
    let grace = users::by_username(pool, "grace").await?.expect("just created").id;
    reviews::request(pool, grace, skills[1], "")
        .await?
        .map_err(|refusal| anyhow::anyhow!(refusal.0))?;
    sqlx::query("update review_requests set requested_at = now() - interval '6 days' where mentee_id = $1")
        .bind(grace)
        .execute(pool)
        .await?;

    // Ada and her mentor agreed weekly check-ins; the last was 9 days ago, so one is due.
    sqlx::query("update mentorships set checkin_days = 7 where mentee_id = $1 and status = 'active'")
        .bind(ada)
        .execute(pool)
        .await?;
    sqlx::query(
        "insert into mentorship_checkins (mentorship_id, recorded_by, at)
         select id, mentee_id, now() - interval '9 days' from mentorships where mentee_id = $1 and status = 'active'",
    )
    .bind(ada)
    .execute(pool)
    .await?;

    let mut team_mentors = Vec::new();
    let mut mentor_ids = Vec::new();
    for &(username, name) in TEAM_MENTORS {
        mentor_ids.push(users::create(pool, username, name, None, &hash).await?);
        team_mentors.push(username.to_string());
    }

    // A cohort the mentor leads, with two more mentors, every learner and the backend
    // roadmap assigned, tailored, with stage target dates.
    let mut tx = pool.begin().await?;
    let team = teams::create(&mut *tx, "backend-cohort", "Backend cohort", mentor_id)
        .await?
        .map_err(|_| anyhow::anyhow!("a team called backend-cohort already exists"))?;
    teams::add_member(&mut tx, team, mentor_id, "lead", true).await?;
    for id in &mentor_ids {
        teams::add_member(&mut tx, team, *id, "mentor", true).await?;
    }
    for username in &cohort {
        let id = users::by_username(&mut *tx, username)
            .await?
            .expect("just created")
            .id;
        teams::add_member(&mut tx, team, id, "learner", true).await?;
    }
    teams::assign(&mut tx, team, &roadmap.id).await?;
    // The team skips the last skill of the second and of the last stage, and requires
    // the first optional skill of the third stage on.
    let mut rules = Vec::new();
    for stage in [roadmap.stages.get(1), roadmap.stages.last()]
        .into_iter()
        .flatten()
    {
        if let Some(skill) = stage.skills.iter().rev().find(|k| !k.optional) {
            rules.push((skill.id.clone(), Some(Rule::Hidden)));
        }
    }
    if let Some(skill) = roadmap
        .stages
        .iter()
        .skip(2)
        .flat_map(|s| &s.skills)
        .find(|k| k.optional)
    {
        rules.push((skill.id.clone(), Some(Rule::Required)));
    }
    team_plans::set_rules(&mut tx, team, &rules, mentor_id).await?;
    // Stage dates: the first behind us (the slower learners are overdue), the rest ahead.
    let today = time::OffsetDateTime::now_utc().date();
    for (stage, days) in roadmap.stages.iter().zip([-14i64, 14, 35, 56, 77, 98, 119, 140]) {
        team_plans::set_stage_target(
            &mut *tx,
            team,
            &roadmap.id,
            &stage.id,
            Some(today + time::Duration::days(days)),
        )
        .await?;
    }
    // Eli started late: the lead gave him his own date for the first stage.
    let eli = users::by_username(&mut *tx, "eli")
        .await?
        .expect("just created")
        .id;
    if let Some(first) = roadmap.stages.first() {
        team_plans::set_learner_target(
            &mut *tx,
            team,
            eli,
            &roadmap.id,
            &first.id,
            Some(today + time::Duration::days(14)),
        )
        .await?;
    }
    tx.commit().await?;

    Ok(DemoAccounts {
        mentor: "mentor".into(),
        learners,
        team_mentors,
        cohort,
    })
}
