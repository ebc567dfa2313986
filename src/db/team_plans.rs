//! Team plans: tailoring (skills hidden or required per team), stage target dates, the team feed and chart, and what a learner sees of their teams' plans.

use serde::Deserialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use time::{Date, OffsetDateTime};

use crate::progress::Rule;

/// A team's plan: its tailoring rules and target dates, read in one statement.
#[derive(Debug, Default, Clone)]
pub struct TeamPlan {
    /// (skill id, rule)
    pub rules: Vec<(String, Rule)>,
    /// (roadmap id, stage id, due on)
    pub stage_targets: Vec<(String, String, Date)>,
    /// (learner id, roadmap id, stage id, due on): a lead's date for one learner.
    pub learner_targets: Vec<(i64, String, String, Date)>,
    /// (learner id, skill id, state, verified) for the skills the team has a rule for:
    /// what the stage tallies need to be tailored.
    pub ruled_states: Vec<(i64, String, String, bool)>,
}

fn day(text: &str) -> sqlx::Result<Date> {
    Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Loads the team's [`TeamPlan`]: rules only of assigned roadmaps' skills, states only of
/// current learners, so its size follows the team and its tailoring, not history.
pub async fn plan(db: impl PgExecutor<'_>, team_id: i64) -> sqlx::Result<TeamPlan> {
    let row = sqlx::query!(
        r#"with ruled as (
               select r.skill_id, r.rule from team_skill_rules r
               join skills s on s.id = r.skill_id and s.retired_at is null
               join team_roadmaps tr on tr.team_id = r.team_id and tr.roadmap_id = s.roadmap_id
               where r.team_id = $1)
           select
             (select coalesce(json_agg(json_build_array(skill_id, rule)), '[]') from ruled)
               as "rules!: Json<Vec<(String, String)>>",
             (select coalesce(json_agg(json_build_array(roadmap_id, stage_id, due_on)), '[]')
              from team_stage_targets where team_id = $1)
               as "stage_targets!: Json<Vec<(String, String, String)>>",
             (select coalesce(json_agg(json_build_array(t.user_id, t.roadmap_id, t.stage_id, t.due_on)), '[]')
              from team_learner_targets t
              join team_members m on m.team_id = t.team_id and m.user_id = t.user_id and m.left_at is null
              where t.team_id = $1)
               as "learner_targets!: Json<Vec<(i64, String, String, String)>>",
             (select coalesce(json_agg(json_build_array(p.user_id, p.skill_id, p.state, p.verified_by is not null)), '[]')
              from ruled
              join skill_progress p on p.skill_id = ruled.skill_id
              join team_members m on m.team_id = $1 and m.user_id = p.user_id
                                 and m.left_at is null and m.role = 'learner')
               as "states!: Json<Vec<(i64, String, String, bool)>>""#,
        team_id
    )
    .fetch_one(db)
    .await?;
    Ok(TeamPlan {
        rules: row
            .rules
            .0
            .into_iter()
            .filter_map(|(skill, rule)| rule.parse().ok().map(|r| (skill, r)))
            .collect(),
        stage_targets: row
            .stage_targets
            .0
            .into_iter()
            .map(|(r, s, d)| Ok((r, s, day(&d)?)))
            .collect::<sqlx::Result<_>>()?,
        learner_targets: row
            .learner_targets
            .0
            .into_iter()
            .map(|(u, r, s, d)| Ok((u, r, s, day(&d)?)))
            .collect::<sqlx::Result<_>>()?,
        ruled_states: row.states.0,
    })
}

/// Sets the rules of one stage's skills at once: `rules` holds (skill id, rule or none)
/// for every skill of the stage; skills without a rule lose theirs.
pub async fn set_rules(
    db: &mut PgConnection,
    team_id: i64,
    rules: &[(String, Option<Rule>)],
    set_by: i64,
) -> sqlx::Result<()> {
    let cleared: Vec<String> = rules
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(s, _)| s.clone())
        .collect();
    let (set, kinds): (Vec<String>, Vec<String>) = rules
        .iter()
        .filter_map(|(s, r)| r.map(|r| (s.clone(), r.as_str().to_string())))
        .unzip();
    sqlx::query!(
        "delete from team_skill_rules where team_id = $1 and skill_id = any($2)",
        team_id,
        &cleared
    )
    .execute(&mut *db)
    .await?;
    sqlx::query!(
        "insert into team_skill_rules (team_id, skill_id, rule, set_by)
         select $1, s, r, $4 from unnest($2::text[], $3::text[]) as x (s, r)
         on conflict (team_id, skill_id) do update
         set rule = excluded.rule, set_by = excluded.set_by, set_at = now()
         where team_skill_rules.rule <> excluded.rule",
        team_id,
        &set,
        &kinds,
        set_by
    )
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Sets (or with None, clears) the team's target date of a stage.
pub async fn set_stage_target(
    db: impl PgExecutor<'_>,
    team_id: i64,
    roadmap_id: &str,
    stage_id: &str,
    due_on: Option<Date>,
) -> sqlx::Result<()> {
    match due_on {
        Some(due_on) => {
            sqlx::query!(
            "insert into team_stage_targets (team_id, roadmap_id, stage_id, due_on) values ($1, $2, $3, $4)
             on conflict (team_id, roadmap_id, stage_id) do update set due_on = excluded.due_on",
            team_id,
            roadmap_id,
            stage_id,
            due_on
        )
            .execute(db)
            .await?
        }
        None => {
            sqlx::query!(
                "delete from team_stage_targets where team_id = $1 and roadmap_id = $2 and stage_id = $3",
                team_id,
                roadmap_id,
                stage_id
            )
            .execute(db)
            .await?
        }
    };
    Ok(())
}

/// Sets (or with None, clears) one learner's own target date of a stage.
pub async fn set_learner_target(
    db: impl PgExecutor<'_>,
    team_id: i64,
    user_id: i64,
    roadmap_id: &str,
    stage_id: &str,
    due_on: Option<Date>,
) -> sqlx::Result<()> {
    match due_on {
        Some(due_on) => {
            sqlx::query!(
                "insert into team_learner_targets (team_id, user_id, roadmap_id, stage_id, due_on)
             values ($1, $2, $3, $4, $5)
             on conflict (team_id, user_id, roadmap_id, stage_id) do update set due_on = excluded.due_on",
                team_id,
                user_id,
                roadmap_id,
                stage_id,
                due_on
            )
            .execute(db)
            .await?
        }
        None => {
            sqlx::query!(
                "delete from team_learner_targets
             where team_id = $1 and user_id = $2 and roadmap_id = $3 and stage_id = $4",
                team_id,
                user_id,
                roadmap_id,
                stage_id
            )
            .execute(db)
            .await?
        }
    };
    Ok(())
}

/// One line of the team feed.
#[derive(Debug, Clone, Deserialize)]
pub struct FeedItem {
    /// done, verified or joined
    pub kind: String,
    pub display_name: String,
    pub username: String,
    /// The skill, for completions and verifications.
    pub skill_id: Option<String>,
    /// Who verified, for verifications.
    pub by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The team feed and its weekly completions, in one statement.
#[derive(Debug, Default)]
pub struct Activity {
    /// Up to `limit` items from `offset`, newest first.
    pub feed: Vec<FeedItem>,
    /// Whether there are more after these.
    pub more: bool,
    /// (Monday, completions) of the team's current learners since `weeks_since`.
    pub weeks: Vec<(Date, u32)>,
}

/// How far back the feed reaches: it stays a bounded read however old the team is.
pub const FEED_DAYS: i32 = 90;

/// The team's recent completions (on assigned roadmaps), verifications of its learners,
/// and joins, newest first; and its learners' completions per week (the weekly counters
/// of migration 0022, with pending deltas).
pub async fn activity(
    db: impl PgExecutor<'_>,
    team_id: i64,
    limit: i64,
    offset: i64,
    weeks_since: Date,
) -> sqlx::Result<Activity> {
    let row = sqlx::query!(
        r#"with learners as (
               select m.user_id, u.username, u.display_name from team_members m join users u on u.id = m.user_id
               where m.team_id = $1 and m.left_at is null and m.role = 'learner'),
           items as (
               (select 'done' as kind, l.display_name, l.username, e.skill_id, null::text as by, e.at
                from learners l
                join progress_events e on e.user_id = l.user_id and e.to_state = 'done'
                                      and e.at > now() - make_interval(days => $5::int)
                join skills s on s.id = e.skill_id
                join team_roadmaps tr on tr.team_id = $1 and tr.roadmap_id = s.roadmap_id
                where not exists (select 1 from progress_events u where u.user_id = e.user_id and u.undoes = e.id)
                order by e.at desc limit $2::bigint + $3::bigint + 1)
               union all
               (select 'verified', l.display_name, l.username, r.skill_id, v.display_name, r.answered_at
                from learners l
                join review_requests r on r.mentee_id = l.user_id and r.status = 'verified'
                                      and r.answered_at > now() - make_interval(days => $5::int)
                left join users v on v.id = r.answered_by
                order by r.answered_at desc limit $2::bigint + $3::bigint + 1)
               union all
               (select 'joined', u.display_name, u.username, null, null, m.joined_at
                from team_members m join users u on u.id = m.user_id
                where m.team_id = $1 and m.left_at is null and m.joined_at > now() - make_interval(days => $5::int)
                order by m.joined_at desc limit $2::bigint + $3::bigint + 1)),
           page as (select * from items order by at desc, kind, username offset $3::bigint limit $2::bigint + 1)
           select
             (select coalesce(json_agg(json_build_object('kind', kind, 'display_name', display_name,
                  'username', username, 'skill_id', skill_id, 'by', by, 'at', at) order by at desc, kind, username), '[]')
              from page) as "feed!: Json<Vec<FeedItem>>",
             (select coalesce(json_agg(json_build_array(w.week, w.completions)), '[]')
              from (select week, sum(completions)::integer as completions
                    from (select c.week, c.completions from learners l
                          join learner_weeks c on c.user_id = l.user_id and c.week >= $4::date
                          union all
                          select c.week, c.completions from learners l
                          join learner_week_changes c on c.user_id = l.user_id and c.week >= $4::date) pending
                    group by week) w) as "weeks!: Json<Vec<(String, i32)>>""#,
        team_id,
        limit,
        offset,
        weeks_since,
        FEED_DAYS
    )
    .fetch_one(db)
    .await?;
    let mut feed = row.feed.0;
    let more = feed.len() as i64 > limit;
    feed.truncate(limit as usize);
    let weeks = row
        .weeks
        .0
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(w, n)| Ok((day(&w)?, n as u32)))
        .collect::<sqlx::Result<_>>()?;
    Ok(Activity { feed, more, weeks })
}

/// What a learner's teams say about one roadmap, merged across teams: a skill is hidden
/// only when every team that assigns the roadmap hides it (any team's version shows it
/// otherwise); it is required when any team requires it; a stage is due on the earliest
/// date any team (or a lead for this learner) set.
#[derive(Debug, Default, Clone)]
pub struct LearnerPlan {
    /// (skill id, team names that require it)
    pub required: Vec<(String, Vec<String>)>,
    /// (skill id, team names that hide it), only skills every assigning team hides.
    pub hidden: Vec<(String, Vec<String>)>,
    /// (roadmap id, stage id, due on, team name)
    pub due: Vec<(String, String, Date, String)>,
    /// The learner's state of each ruled skill and whether it was verified, where the
    /// reader had no progress rows of its own (the dashboard).
    pub states: std::collections::HashMap<String, (crate::progress::SkillState, bool)>,
}

impl LearnerPlan {
    /// The rule that applies to the learner: required wins over hidden (see the type).
    pub fn rule_of(&self, skill_id: &str) -> Option<Rule> {
        if self.hidden_by(skill_id).is_some() {
            Some(Rule::Hidden)
        } else if self.required_by(skill_id).is_some() {
            Some(Rule::Required)
        } else {
            None
        }
    }

    /// A stage's tally as the learner's teams count it, `state_of` giving (state, verified).
    pub fn tailor(
        &self,
        stage: &crate::content::catalog::Stage,
        tally: crate::progress::Tally,
        state_of: impl Fn(&str) -> (crate::progress::SkillState, bool),
    ) -> crate::progress::Tally {
        tally.tailored(stage.skills.iter().filter_map(|k| {
            let (state, verified) = state_of(&k.id);
            self.rule_of(&k.id).map(|rule| (k, rule, state, verified))
        }))
    }

    pub fn required_by(&self, skill_id: &str) -> Option<&[String]> {
        self.required
            .iter()
            .find(|(s, _)| s == skill_id)
            .map(|(_, t)| t.as_slice())
    }

    pub fn hidden_by(&self, skill_id: &str) -> Option<&[String]> {
        self.hidden
            .iter()
            .find(|(s, _)| s == skill_id)
            .map(|(_, t)| t.as_slice())
    }

    pub fn due(&self, roadmap_id: &str, stage_id: &str) -> Option<(Date, &str)> {
        self.due
            .iter()
            .find(|(r, s, _, _)| r == roadmap_id && s == stage_id)
            .map(|(_, _, d, t)| (*d, t.as_str()))
    }
}

/// The JSON shapes [`LearnerPlan`] is built from, shared with db::learner_view.
pub(crate) fn learner_plan_of(
    rules: Vec<(String, String, String, i64)>,
    due: Vec<(String, String, String, String)>,
) -> sqlx::Result<LearnerPlan> {
    let mut plan = LearnerPlan::default();
    // rules: (skill id, rule, team name, how many of the learner's teams assign its roadmap)
    let mut hidden: Vec<(String, Vec<String>, i64)> = Vec::new();
    for (skill, rule, team, assigning) in rules {
        if rule == "required" {
            match plan.required.iter_mut().find(|(s, _)| *s == skill) {
                Some((_, teams)) => teams.push(team),
                None => plan.required.push((skill, vec![team])),
            }
        } else {
            match hidden.iter_mut().find(|(s, _, _)| *s == skill) {
                Some((_, teams, _)) => teams.push(team),
                None => hidden.push((skill, vec![team], assigning)),
            }
        }
    }
    plan.hidden = hidden
        .into_iter()
        .filter(|(skill, teams, assigning)| {
            teams.len() as i64 >= *assigning && plan.required_by(skill).is_none()
        })
        .map(|(s, t, _)| (s, t))
        .collect();
    for (roadmap, stage, due_on, team) in due {
        let due_on = day(&due_on)?;
        match plan
            .due
            .iter_mut()
            .find(|(r, s, _, _)| *r == roadmap && *s == stage)
        {
            Some(existing) if existing.2 <= due_on => {}
            Some(existing) => *existing = (roadmap, stage, due_on, team),
            None => plan.due.push((roadmap, stage, due_on, team)),
        }
    }
    Ok(plan)
}

/// What `user_id`'s teams (where they are a learner) say about `roadmap_id`: one statement.
pub async fn learner_plan(
    db: impl PgExecutor<'_>,
    user_id: i64,
    roadmap_id: &str,
) -> sqlx::Result<LearnerPlan> {
    let row = sqlx::query!(
        r#"with mine as (
               select m.team_id, t.name from team_members m
               join teams t on t.id = m.team_id
               join team_roadmaps tr on tr.team_id = m.team_id and tr.roadmap_id = $2
               where m.user_id = $1 and m.left_at is null and m.role = 'learner')
           select
             (select coalesce(json_agg(json_build_array(r.skill_id, r.rule, mine.name, (select count(*) from mine))), '[]')
              from mine join team_skill_rules r on r.team_id = mine.team_id
              join skills s on s.id = r.skill_id and s.roadmap_id = $2)
               as "rules!: Json<Vec<(String, String, String, i64)>>",
             (select coalesce(json_agg(json_build_array($2::text, d.stage_id, d.due_on, mine.name)), '[]')
              from mine
              join lateral (
                  select st.stage_id, coalesce(lt.due_on, st.due_on) as due_on
                  from team_stage_targets st
                  left join team_learner_targets lt on lt.team_id = st.team_id and lt.user_id = $1
                       and lt.roadmap_id = st.roadmap_id and lt.stage_id = st.stage_id
                  where st.team_id = mine.team_id and st.roadmap_id = $2
                  union
                  select lt.stage_id, lt.due_on from team_learner_targets lt
                  where lt.team_id = mine.team_id and lt.user_id = $1 and lt.roadmap_id = $2) d on true)
               as "due!: Json<Vec<(String, String, String, String)>>""#,
        user_id,
        roadmap_id
    )
    .fetch_one(db)
    .await?;
    learner_plan_of(row.rules.0, row.due.0)
}
