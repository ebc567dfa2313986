//! The live content every page reads from: immutable, in memory, swapped whole after a load.

use std::collections::HashMap;

use sqlx::PgPool;

use crate::db::content as db;

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub roadmaps: Vec<Roadmap>,
    /// Hash of the files this catalog came from, if any load was applied.
    pub version: Option<String>,
    roadmap_index: HashMap<String, usize>,
    /// Skill id to (roadmap index, stage index, skill index).
    skill_index: HashMap<String, (usize, usize, usize)>,
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
        let roadmap_rows = db::all_roadmaps(pool).await?;
        let stage_rows = db::all_stages(pool).await?;
        let skill_rows = db::all_skills(pool).await?;
        let version = db::applied_hash(pool).await?;

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

        let mut skill_index = HashMap::new();
        for row in skill_rows.into_iter().filter(|s| !s.retired) {
            if let Some(&(r, s)) = stage_index.get(&(row.roadmap_id, row.stage_id)) {
                let skills = &mut roadmaps[r].stages[s].skills;
                skill_index.insert(row.id.clone(), (r, s, skills.len()));
                skills.push(Skill {
                    id: row.id,
                    title: row.title,
                    body_html: row.body_html,
                    optional: row.optional,
                    project: row.project,
                    content_hash: row.content_hash,
                    steps: row.steps.0,
                    meta: row.meta.0,
                });
            }
        }

        Ok(Self {
            roadmaps,
            version,
            roadmap_index,
            skill_index,
        })
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

    pub fn skill_count(&self) -> usize {
        self.skill_index.len()
    }
}
