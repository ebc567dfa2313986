//! The live content every page reads from: immutable, in memory, swapped whole after a load.

use std::collections::{HashMap, HashSet};

use sqlx::PgPool;

use super::rows::{PlacementRow, RoadmapRow, SkillRow, StageRow};
use crate::db::content as db;

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub roadmaps: Vec<Roadmap>,
    /// Hash of the files this catalog came from, if any load was applied.
    pub version: Option<String>,
    /// The applied load it shows: [`Catalog::refresh`] reads only what later loads wrote.
    load_id: Option<i64>,
    roadmap_index: HashMap<String, usize>,
    /// Skill id to (roadmap index, stage index, skill index) of its home, the stage that defines it.
    skill_index: HashMap<String, (usize, usize, usize)>,
    /// Skill id to the other stages that include it: (roadmap index, stage index, skill index).
    placements: HashMap<String, Vec<(usize, usize, usize)>>,
}

#[derive(Debug, Clone)]
pub struct Roadmap {
    pub id: String,
    pub title: String,
    pub summary: String,
    /// The path or category it is listed under on the home page (empty: none).
    pub group: String,
    pub intro_html: String,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub id: String,
    pub title: String,
    pub intro_html: String,
    pub skills: Vec<Skill>,
}

#[derive(Debug, Clone)]
pub struct Skill {
    pub id: String,
    pub title: String,
    pub body_html: String,
    pub optional: bool,
    pub project: bool,
    pub content_hash: String,
    /// Optional sub-steps: the task-list items of the text.
    pub steps: Vec<crate::content::parse::Step>,
    /// Summary, time, level, prerequisites and resources.
    pub meta: crate::content::meta::SkillMeta,
    /// Its place among its stage's `##` headings.
    pub position: i32,
    /// Set when this stage lists the skill by an include: the roadmap and stage that
    /// define it. (Progress is the skill's own, the same in every stage.)
    pub home: Option<(String, String)>,
    /// For such an included copy, `roadmap/stage` of the stage it is listed in: sent
    /// back by its forms so that their answer stays in that stage. Empty at home.
    pub at: String,
}

/// The stage a form was sent from, `roadmap/stage` (see [`Skill::at`]).
pub fn place_of(at: &str) -> Option<(&str, &str)> {
    at.split_once('/')
}

impl Skill {
    /// "Beginner", "Intermediate" or "Advanced", when the author set a level.
    pub fn level_label(&self) -> Option<&'static str> {
        match self.meta.level.as_deref()? {
            "beginner" => Some("Beginner"),
            "intermediate" => Some("Intermediate"),
            _ => Some("Advanced"),
        }
    }

    /// "about 1 h 30 min", when the author estimated the time.
    pub fn time_label(&self) -> Option<String> {
        self.meta
            .minutes
            .map(|m| format!("about {}", crate::content::meta::format_minutes(m)))
    }

    /// How many of the skill's current sub-steps are in `ticked` (keys of removed steps don't count).
    pub fn steps_done(&self, ticked: &std::collections::HashSet<String>) -> usize {
        self.steps.iter().filter(|s| ticked.contains(&s.key)).count()
    }
}

impl Roadmap {
    /// The skills just before and after `skill_id` in reading order, across stages.
    #[allow(clippy::type_complexity)]
    pub fn neighbours(&self, skill_id: &str) -> (Option<(&Stage, &Skill)>, Option<(&Stage, &Skill)>) {
        let mut in_order = self
            .stages
            .iter()
            .flat_map(|s| s.skills.iter().map(move |k| (s, k)));
        let mut previous = None;
        for here in in_order.by_ref() {
            if here.1.id == skill_id {
                return (previous, in_order.next());
            }
            previous = Some(here);
        }
        (None, None)
    }

    pub fn skill_count(&self) -> usize {
        self.stages.iter().map(|s| s.skills.len()).sum()
    }

    pub fn optional_count(&self) -> usize {
        self.stages
            .iter()
            .flat_map(|s| &s.skills)
            .filter(|s| s.optional)
            .count()
    }

    pub fn stage(&self, id: &str) -> Option<(usize, &Stage)> {
        self.stages.iter().enumerate().find(|(_, s)| s.id == id)
    }
}

impl Stage {
    pub fn optional_count(&self) -> usize {
        self.skills.iter().filter(|s| s.optional).count()
    }
}

impl Catalog {
    /// Builds the catalog from the live (not retired) rows, so a restart with
    /// broken files still serves the last good content.
    pub async fn load(pool: &PgPool) -> sqlx::Result<Self> {
        let mut tx = snapshot(pool).await?;
        let roadmap_rows = db::all_roadmaps(&mut *tx).await?;
        let stage_rows = db::all_stages(&mut *tx).await?;
        let skill_rows = db::all_skills(&mut *tx).await?;
        let placement_rows = db::all_placements(&mut *tx).await?;
        let version = db::applied_version(&mut *tx).await?;
        tx.commit().await?;
        let skills = skill_rows
            .into_iter()
            .filter(|s| !s.retired)
            .map(|row| {
                (
                    row.roadmap_id.clone(),
                    row.stage_id.clone(),
                    row.position,
                    skill_of(row),
                )
            })
            .collect();
        Ok(Self::assemble(
            roadmap_rows,
            stage_rows,
            skills,
            placement_rows,
            version,
        ))
    }

    /// The catalog after the loads applied since this one was built: roadmaps and
    /// stages are read again (a few rows), but only the skills those loads wrote;
    /// the others are taken from `self`. Falls back to [`Catalog::load`] when a load
    /// did not record which skills it wrote.
    pub async fn refresh(&self, pool: &PgPool) -> sqlx::Result<Self> {
        let Some(since) = self.load_id else {
            return Self::load(pool).await;
        };
        let mut tx = snapshot(pool).await?;
        let version = db::applied_version(&mut *tx).await?;
        if version.as_ref().map(|v| v.0) == Some(since) {
            tx.commit().await?;
            return Ok(self.clone());
        }
        let Some(touched) = db::skills_touched_since(&mut *tx, since).await? else {
            tx.commit().await?;
            return Self::load(pool).await;
        };
        let roadmap_rows = db::all_roadmaps(&mut *tx).await?;
        let stage_rows = db::all_stages(&mut *tx).await?;
        let skill_rows = db::skills_by_id(&mut *tx, &touched).await?;
        // Few rows, and cheaper to read again than to track.
        let placement_rows = db::all_placements(&mut *tx).await?;
        tx.commit().await?;
        let touched: HashSet<&str> = touched.iter().map(String::as_str).collect();
        let mut skills: Vec<(String, String, i32, Skill)> = Vec::with_capacity(self.skill_index.len());
        for roadmap in &self.roadmaps {
            for stage in &roadmap.stages {
                // Untouched skills kept their place: a skill whose position changed was written.
                for skill in stage.skills.iter().filter(|k| k.home.is_none()) {
                    if !touched.contains(skill.id.as_str()) {
                        skills.push((
                            roadmap.id.clone(),
                            stage.id.clone(),
                            skill.position,
                            skill.clone(),
                        ));
                    }
                }
            }
        }
        skills.extend(skill_rows.into_iter().filter(|s| !s.retired).map(|row| {
            (
                row.roadmap_id.clone(),
                row.stage_id.clone(),
                row.position,
                skill_of(row),
            )
        }));
        Ok(Self::assemble(
            roadmap_rows,
            stage_rows,
            skills,
            placement_rows,
            version,
        ))
    }

    /// Puts live roadmaps, stages and skills (with their roadmap, stage and position) together.
    fn assemble(
        roadmap_rows: Vec<RoadmapRow>,
        stage_rows: Vec<StageRow>,
        skill_rows: Vec<(String, String, i32, Skill)>,
        placement_rows: Vec<PlacementRow>,
        version: Option<(i64, String)>,
    ) -> Self {
        let mut roadmaps: Vec<Roadmap> = roadmap_rows
            .into_iter()
            .filter(|r| !r.retired)
            .map(|r| Roadmap {
                id: r.id,
                title: r.title,
                summary: r.summary,
                group: r.group_name,
                intro_html: r.intro_html,
                stages: Vec::new(),
            })
            .collect();
        let roadmap_index: HashMap<String, usize> = roadmaps
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();

        let mut stage_index: HashMap<(String, String), (usize, usize)> = HashMap::new();
        for row in stage_rows.into_iter().filter(|s| !s.retired) {
            if let Some(&r) = roadmap_index.get(&row.roadmap_id) {
                let stages = &mut roadmaps[r].stages;
                stage_index.insert((row.roadmap_id, row.id.clone()), (r, stages.len()));
                stages.push(Stage {
                    id: row.id,
                    title: row.title,
                    intro_html: row.intro_html,
                    skills: Vec::new(),
                });
            }
        }

        // Each included skill is a copy of its definition, flagged with its home.
        let homes: HashMap<&str, &(String, String, i32, Skill)> =
            skill_rows.iter().map(|row| (row.3.id.as_str(), row)).collect();
        let mut listed: Vec<(String, String, i32, Skill)> = placement_rows
            .iter()
            .filter_map(|p| {
                let (home_roadmap, home_stage, _, skill) = homes.get(p.skill_id.as_str())?;
                let mut skill = skill.clone();
                skill.position = p.position;
                skill.home = Some((home_roadmap.clone(), home_stage.clone()));
                skill.at = format!("{}/{}", p.roadmap_id, p.stage_id);
                Some((p.roadmap_id.clone(), p.stage_id.clone(), p.position, skill))
            })
            .collect();
        drop(homes);
        listed.extend(
            skill_rows
                .into_iter()
                .map(|(roadmap_id, stage_id, position, mut skill)| {
                    skill.position = position;
                    skill.home = None;
                    skill.at.clear();
                    (roadmap_id, stage_id, position, skill)
                }),
        );
        listed.sort_by(|a, b| (&a.0, &a.1, a.2, &a.3.id).cmp(&(&b.0, &b.1, b.2, &b.3.id)));
        let mut skill_index = HashMap::new();
        let mut placements: HashMap<String, Vec<(usize, usize, usize)>> = HashMap::new();
        for (roadmap_id, stage_id, _, skill) in listed {
            if let Some(&(r, s)) = stage_index.get(&(roadmap_id, stage_id)) {
                let skills = &mut roadmaps[r].stages[s].skills;
                if skill.home.is_some() {
                    placements
                        .entry(skill.id.clone())
                        .or_default()
                        .push((r, s, skills.len()));
                } else {
                    skill_index.insert(skill.id.clone(), (r, s, skills.len()));
                }
                skills.push(skill);
            }
        }
        // An include whose definition is not live (a retired stage or roadmap) shows nowhere.
        for (id, places) in &placements {
            if !skill_index.contains_key(id) {
                for &(r, s, _) in places {
                    roadmaps[r].stages[s].skills.retain(|k| &k.id != id);
                }
            }
        }
        placements.retain(|id, _| skill_index.contains_key(id));

        let (load_id, version) = version.unzip();
        Self {
            roadmaps,
            version,
            load_id,
            roadmap_index,
            skill_index,
            placements,
        }
    }

    pub fn roadmap(&self, id: &str) -> Option<&Roadmap> {
        self.roadmap_index.get(id).map(|&i| &self.roadmaps[i])
    }

    /// A live skill with the roadmap and stage that hold it.
    pub fn skill(&self, id: &str) -> Option<(&Roadmap, &Stage, &Skill)> {
        let &(r, s, k) = self.skill_index.get(id)?;
        let roadmap = &self.roadmaps[r];
        let stage = &roadmap.stages[s];
        Some((roadmap, stage, &stage.skills[k]))
    }

    /// Distinct live skills (an included skill counts once).
    pub fn skill_count(&self) -> usize {
        self.skill_index.len()
    }

    /// The skill as listed in `roadmap_id`/`stage_id`, its home or an include; its home
    /// when `place` is None or names a stage that does not list it.
    pub fn skill_at(&self, id: &str, place: Option<(&str, &str)>) -> Option<(&Roadmap, &Stage, &Skill)> {
        if let Some((roadmap_id, stage_id)) = place
            && let Some(&(r, s, k)) = self.placements.get(id).and_then(|places| {
                places.iter().find(|&&(r, s, _)| {
                    self.roadmaps[r].id == roadmap_id && self.roadmaps[r].stages[s].id == stage_id
                })
            })
        {
            let roadmap = &self.roadmaps[r];
            let stage = &roadmap.stages[s];
            return Some((roadmap, stage, &stage.skills[k]));
        }
        self.skill(id)
    }

    /// The first place listing skill `id` (its home, then its includes) whose roadmap
    /// `wanted` accepts: where a mentor whose link covers only some roadmaps sees it.
    pub fn skill_where(&self, id: &str, wanted: impl Fn(&str) -> bool) -> Option<(&Roadmap, &Stage, &Skill)> {
        let home = self.skill(id)?;
        if wanted(&home.0.id) {
            return Some(home);
        }
        let &(r, s, k) = self
            .placements
            .get(id)?
            .iter()
            .find(|&&(r, _, _)| wanted(&self.roadmaps[r].id))?;
        let roadmap = &self.roadmaps[r];
        Some((roadmap, &roadmap.stages[s], &roadmap.stages[s].skills[k]))
    }

    /// Every roadmap that lists skill `id`: its home's first, then those that include it.
    pub fn roadmaps_of(&self, id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self.skill(id).map(|(r, _, _)| r.id.clone()).into_iter().collect();
        ids.extend(self.included_in(id).into_iter().map(|(r, _)| r.id.clone()));
        ids
    }

    /// The other stages that list skill `id` by an include: (roadmap, stage).
    pub fn included_in(&self, id: &str) -> Vec<(&Roadmap, &Stage)> {
        self.placements
            .get(id)
            .map(|places| {
                places
                    .iter()
                    .map(|&(r, s, _)| (&self.roadmaps[r], &self.roadmaps[r].stages[s]))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A read-only transaction that sees one moment of the database.
async fn snapshot(pool: &PgPool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query!("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

fn skill_of(row: SkillRow) -> Skill {
    Skill {
        id: row.id,
        title: row.title,
        body_html: row.body_html,
        optional: row.optional,
        project: row.project,
        content_hash: row.content_hash,
        steps: row.steps.0,
        meta: row.meta.0,
        position: row.position,
        home: None,
        at: String::new(),
    }
}
