//! The content tables' rows as plain structs, shared by the planner (content::plan) and the queries (db::content).

use sqlx::types::Json;

use super::meta::SkillMeta;
use super::parse::Step;

/// A skill's sub-steps as stored (jsonb).
pub type StepsJson = Json<Vec<Step>>;
/// A skill's metadata as stored (jsonb).
pub type MetaJson = Json<SkillMeta>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoadmapRow {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub group_name: String,
    pub intro_md: String,
    pub intro_html: String,
    pub position: i32,
    pub retired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRow {
    pub roadmap_id: String,
    pub id: String,
    pub title: String,
    pub intro_md: String,
    pub intro_html: String,
    pub position: i32,
    pub retired: bool,
}

/// A whole skill row, as a load writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillRow {
    pub id: String,
    pub roadmap_id: String,
    pub stage_id: String,
    pub title: String,
    pub body_md: String,
    pub body_html: String,
    /// The body without markdown or HTML, for search.
    pub body_text: String,
    pub optional: bool,
    pub project: bool,
    pub position: i32,
    pub content_hash: String,
    pub steps: StepsJson,
    pub meta: MetaJson,
    pub retired: bool,
}

/// A skill listed in a stage other than its home (`## {include=id}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlacementRow {
    pub skill_id: String,
    pub roadmap_id: String,
    pub stage_id: String,
    pub position: i32,
}

/// A skill row without its texts: what a plan compares, cheap to read for every skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillFacts {
    pub id: String,
    pub roadmap_id: String,
    pub stage_id: String,
    pub title: String,
    pub optional: bool,
    pub project: bool,
    pub position: i32,
    pub content_hash: String,
    pub meta: MetaJson,
    pub retired: bool,
}

impl From<&SkillRow> for SkillFacts {
    fn from(row: &SkillRow) -> Self {
        Self {
            id: row.id.clone(),
            roadmap_id: row.roadmap_id.clone(),
            stage_id: row.stage_id.clone(),
            title: row.title.clone(),
            optional: row.optional,
            project: row.project,
            position: row.position,
            content_hash: row.content_hash.clone(),
            meta: row.meta.clone(),
            retired: row.retired,
        }
    }
}
