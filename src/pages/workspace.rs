//! A learner's note and evidence block on one skill, as the learner's pages and the mentor's view of a stage show it.

use std::collections::HashMap;

use super::format_date;
use crate::app::AppState;
use crate::content::catalog::Skill;
use crate::db::notes::{self, Evidence, Note};
use crate::error::AppError;
use crate::markdown::user_markdown_to_html;

pub struct EvidenceLink {
    pub id: i64,
    pub url: String,
    pub title: String,
    pub added: String,
}

/// The note and evidence block of one skill, as the page and the fragment show it.
pub struct Workspace {
    pub skill_id: String,
    /// "roadmap/stage" where the skill is an include (its forms come back there), else empty.
    pub at: String,
    pub skill_title: String,
    pub note_md: String,
    pub note_html: String,
    pub shared: bool,
    pub note_updated: Option<String>,
    pub note_error: Option<String>,
    pub evidence: Vec<EvidenceLink>,
    pub evidence_url: String,
    pub evidence_title: String,
    pub evidence_error: Option<String>,
    pub saved: Option<&'static str>,
}

impl Workspace {
    pub fn new(skill: &Skill, note: Option<&Note>, evidence: &[&Evidence]) -> Self {
        Self::with_note_html(skill, note, None, evidence)
    }

    /// [`Workspace::new`] with the note's HTML already drawn (`None`: draw it here).
    pub fn with_note_html(
        skill: &Skill,
        note: Option<&Note>,
        note_html: Option<&str>,
        evidence: &[&Evidence],
    ) -> Self {
        Self {
            skill_id: skill.id.clone(),
            at: skill.at.clone(),
            skill_title: skill.title.clone(),
            note_md: note.map(|n| n.body_md.clone()).unwrap_or_default(),
            note_html: match (note, note_html) {
                (Some(_), Some(html)) => html.to_string(),
                (Some(n), None) => user_markdown_to_html(&n.body_md),
                (None, _) => String::new(),
            },
            shared: note.is_some_and(|n| n.shared_with_mentors),
            note_updated: note.map(|n| format_date(n.updated_at)),
            note_error: None,
            evidence: evidence
                .iter()
                .map(|e| EvidenceLink {
                    id: e.id,
                    url: e.url.clone(),
                    title: e.title.clone(),
                    added: format_date(e.created_at),
                })
                .collect(),
            evidence_url: String::new(),
            evidence_title: String::new(),
            evidence_error: None,
            saved: None,
        }
    }

    pub fn has_content(&self) -> bool {
        !self.note_md.is_empty() || !self.evidence.is_empty()
    }
}

/// Workspaces for `skills`: two queries, whatever the number of skills.
pub async fn workspaces(
    state: &AppState,
    user_id: i64,
    skills: &[Skill],
) -> Result<HashMap<String, Workspace>, AppError> {
    let ids: Vec<String> = skills.iter().map(|s| s.id.clone()).collect();
    let notes = notes::notes(&state.db, user_id, &ids).await?;
    let evidence = notes::evidence(&state.db, user_id, &ids).await?;
    Ok(workspaces_from(skills, &notes, &HashMap::new(), &evidence))
}

/// Workspaces for `skills` from rows already loaded; `note_html` holds notes already drawn,
/// by skill id (others are drawn here).
pub fn workspaces_from(
    skills: &[Skill],
    notes: &HashMap<String, Note>,
    note_html: &HashMap<String, String>,
    evidence: &[Evidence],
) -> HashMap<String, Workspace> {
    skills
        .iter()
        .map(|skill| {
            let links: Vec<&Evidence> = evidence.iter().filter(|e| e.skill_id == skill.id).collect();
            (
                skill.id.clone(),
                Workspace::with_note_html(
                    skill,
                    notes.get(&skill.id),
                    note_html.get(&skill.id).map(String::as_str),
                    &links,
                ),
            )
        })
        .collect()
}
