//! The portable progress file: its format, and validating an uploaded one before anything is applied.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::notes::{MAX_NOTE_CHARS, MAX_TITLE_CHARS, evidence_url_problem};
use crate::progress::SkillState;

pub const FORMAT: &str = "pathway-progress";
pub const VERSION: u32 = 1;
/// Uploads larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;

/// Everything a learner owns, keyed by stable skill ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProgressFile {
    pub format: String,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub exported_at: OffsetDateTime,
    pub username: String,
    #[serde(default)]
    pub roadmaps: Vec<RoadmapEntry>,
    #[serde(default)]
    pub skills: Vec<SkillEntry>,
    #[serde(default)]
    pub events: Vec<EventEntry>,
    #[serde(default)]
    pub notes: Vec<NoteEntry>,
    #[serde(default)]
    pub evidence: Vec<EvidenceEntry>,
    /// Ticked sub-steps (absent from files made before sub-steps existed).
    #[serde(default)]
    pub steps: Vec<StepEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoadmapEntry {
    pub roadmap: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SkillEntry {
    pub skill: String,
    pub state: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub done_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub done_content_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventEntry {
    pub skill: String,
    pub kind: String,
    pub from: String,
    pub to: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoteEntry {
    pub skill: String,
    pub body: String,
    #[serde(default)]
    pub shared_with_mentors: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvidenceEntry {
    pub skill: String,
    pub url: String,
    pub title: String,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepEntry {
    pub skill: String,
    pub key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub ticked_at: OffsetDateTime,
}

/// Event kinds an import adds to the learner's history.
pub const EVENT_KINDS: &[&str] = &["set", "stage_done", "undo", "reset", "import"];
/// Event kinds of mentor reviews: exported as history, but not imported, since the
/// reviews and mentors they name belong to the instance they happened on.
pub const REVIEW_EVENT_KINDS: &[&str] = &["review_requested", "verify", "changes_requested", "unverify"];

/// A valid file, split into what this instance knows and what it keeps aside.
#[derive(Debug, Clone, Default)]
pub struct ImportPlan {
    pub roadmaps: Vec<RoadmapEntry>,
    pub skills: Vec<(SkillEntry, SkillState)>,
    pub events: Vec<(EventEntry, SkillState, SkillState)>,
    pub notes: Vec<NoteEntry>,
    pub evidence: Vec<EvidenceEntry>,
    pub steps: Vec<StepEntry>,
    /// (item kind, id, the item as JSON) for ids this instance does not know.
    pub unmatched: Vec<(&'static str, String, serde_json::Value)>,
}

/// Moves entries of renamed skills (`replaces=`) to the skill that took them
/// over, so an export from before a rename lands on the right skill. Where a
/// merge brings two entries together, the most advanced state wins and notes
/// are joined, as the rename itself does.
pub fn follow_renames(file: &mut ProgressFile, aliases: &HashMap<String, String>) {
    if aliases.is_empty() {
        return;
    }
    let rank = |state: &str| match state {
        "done" => 3,
        "in_progress" => 2,
        "skipped" => 1,
        _ => 0,
    };
    file.skills = merge_renamed(
        std::mem::take(&mut file.skills),
        aliases,
        |e| &mut e.skill,
        |kept, entry| {
            let started = match (kept.started_at, entry.started_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if rank(&entry.state) > rank(&kept.state) {
                *kept = entry;
            }
            kept.started_at = started;
        },
    );
    file.notes = merge_renamed(
        std::mem::take(&mut file.notes),
        aliases,
        |e| &mut e.skill,
        |kept, entry| {
            kept.body = format!("{}\n\n{}", kept.body, entry.body);
            kept.shared_with_mentors |= entry.shared_with_mentors;
            kept.updated_at = kept.updated_at.max(entry.updated_at);
        },
    );
    for entry in &mut file.events {
        if let Some(new_id) = aliases.get(&entry.skill) {
            entry.skill = new_id.clone();
        }
    }
    for entry in &mut file.evidence {
        if let Some(new_id) = aliases.get(&entry.skill) {
            entry.skill = new_id.clone();
        }
    }
    for entry in &mut file.steps {
        if let Some(new_id) = aliases.get(&entry.skill) {
            entry.skill = new_id.clone();
        }
    }
}

/// Moves each entry to its skill's new id; where that brings two entries onto one id,
/// `merge` folds the later into the earlier. Entries that were not moved are left as
/// they are, so a genuine duplicate in the file is still reported.
fn merge_renamed<T>(
    entries: Vec<T>,
    aliases: &HashMap<String, String>,
    skill: impl Fn(&mut T) -> &mut String,
    merge: impl Fn(&mut T, T),
) -> Vec<T> {
    let mut kept: Vec<T> = Vec::new();
    // Index per id, and whether an alias brought the entry there.
    let mut at: HashMap<String, (usize, bool)> = HashMap::new();
    for mut entry in entries {
        let id = skill(&mut entry);
        let moved = match aliases.get(id.as_str()) {
            Some(new_id) => {
                *id = new_id.clone();
                true
            }
            None => false,
        };
        let id = id.clone();
        match at.get(&id) {
            Some(&(index, was_moved)) if moved || was_moved => merge(&mut kept[index], entry),
            _ => {
                at.insert(id, (kept.len(), moved));
                kept.push(entry);
            }
        }
    }
    kept
}

/// Parses and checks an upload. Every problem is reported, each with where it is.
pub fn validate(
    bytes: &[u8],
    known_skills: &HashSet<String>,
    known_roadmaps: &HashSet<String>,
    aliases: &HashMap<String, String>,
) -> Result<ImportPlan, Vec<String>> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(vec![format!(
            "the file is larger than {} MiB",
            MAX_FILE_BYTES / 1024 / 1024
        )]);
    }
    let mut file: ProgressFile = serde_json::from_slice(bytes).map_err(|error| {
        vec![format!(
            "line {}, column {}: {}; export a fresh file from Pathway and upload it unchanged",
            error.line(),
            error.column(),
            error
        )]
    })?;
    follow_renames(&mut file, aliases);
    let mut problems = Vec::new();
    if file.format != FORMAT {
        problems.push(format!("format is \"{}\"; expected \"{FORMAT}\"", file.format));
    }
    if file.version != VERSION {
        problems.push(format!(
            "version {} is not supported; this Pathway reads version {VERSION}",
            file.version
        ));
    }
    let state = |problems: &mut Vec<String>, place: &str, value: &str| -> Option<SkillState> {
        value
            .parse()
            .map_err(|message| problems.push(format!("{place}: {message}")))
            .ok()
    };

    let mut plan = ImportPlan::default();
    let mut set_aside = |item: &'static str, id: &str, value: serde_json::Value| {
        plan.unmatched.push((item, id.to_string(), value));
    };
    let mut roadmaps = Vec::new();
    for entry in &file.roadmaps {
        if known_roadmaps.contains(&entry.roadmap) {
            roadmaps.push(entry.clone());
        } else {
            set_aside(
                "roadmap",
                &entry.roadmap,
                serde_json::to_value(entry).unwrap_or_default(),
            );
        }
    }

    let mut skills = Vec::new();
    let mut seen = HashSet::new();
    for (i, entry) in file.skills.iter().enumerate() {
        let place = format!("skills[{i}] ({})", entry.skill);
        if !seen.insert(entry.skill.as_str()) {
            problems.push(format!("{place}: this skill is listed twice; keep one entry"));
        }
        let Some(parsed) = state(&mut problems, &place, &entry.state) else {
            continue;
        };
        if let (Some(started), Some(done)) = (entry.started_at, entry.done_at)
            && done < started
        {
            problems.push(format!("{place}: done_at is before started_at"));
        }
        if known_skills.contains(&entry.skill) {
            skills.push((entry.clone(), parsed));
        } else {
            set_aside(
                "skill",
                &entry.skill,
                serde_json::to_value(entry).unwrap_or_default(),
            );
        }
    }

    let mut events = Vec::new();
    for (i, entry) in file.events.iter().enumerate() {
        let place = format!("events[{i}] ({})", entry.skill);
        if REVIEW_EVENT_KINDS.contains(&entry.kind.as_str()) {
            continue;
        }
        if !EVENT_KINDS.contains(&entry.kind.as_str()) {
            problems.push(format!("{place}: unknown kind \"{}\"", entry.kind));
        }
        let from = state(&mut problems, &place, &entry.from);
        let to = state(&mut problems, &place, &entry.to);
        let (Some(from), Some(to)) = (from, to) else {
            continue;
        };
        if known_skills.contains(&entry.skill) {
            events.push((entry.clone(), from, to));
        } else {
            set_aside(
                "event",
                &entry.skill,
                serde_json::to_value(entry).unwrap_or_default(),
            );
        }
    }

    let mut notes = Vec::new();
    let mut seen = HashSet::new();
    for (i, entry) in file.notes.iter().enumerate() {
        let place = format!("notes[{i}] ({})", entry.skill);
        if !seen.insert(entry.skill.as_str()) {
            problems.push(format!("{place}: two notes for one skill; keep one"));
        }
        if entry.body.chars().count() > MAX_NOTE_CHARS {
            problems.push(format!(
                "{place}: the note is longer than {MAX_NOTE_CHARS} characters"
            ));
        }
        if known_skills.contains(&entry.skill) {
            notes.push(entry.clone());
        } else {
            set_aside(
                "note",
                &entry.skill,
                serde_json::to_value(entry).unwrap_or_default(),
            );
        }
    }

    let mut evidence = Vec::new();
    for (i, entry) in file.evidence.iter().enumerate() {
        let place = format!("evidence[{i}] ({})", entry.skill);
        if let Some(problem) = evidence_url_problem(&entry.url) {
            problems.push(format!("{place}: {problem}"));
        }
        if entry.title.trim().is_empty() || entry.title.chars().count() > MAX_TITLE_CHARS {
            problems.push(format!(
                "{place}: the title must have 1 to {MAX_TITLE_CHARS} characters"
            ));
        }
        if known_skills.contains(&entry.skill) {
            evidence.push(entry.clone());
        } else {
            set_aside(
                "evidence",
                &entry.skill,
                serde_json::to_value(entry).unwrap_or_default(),
            );
        }
    }

    let mut steps = Vec::new();
    for (i, entry) in file.steps.iter().enumerate() {
        if !crate::content::parse::is_valid_id(&entry.key) {
            problems.push(format!(
                "steps[{i}] ({}): \"{}\" is not a sub-step key",
                entry.skill, entry.key
            ));
        } else if known_skills.contains(&entry.skill) {
            steps.push(entry.clone());
        } else {
            set_aside(
                "step",
                &entry.skill,
                serde_json::to_value(entry).unwrap_or_default(),
            );
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    plan.steps = steps;
    plan.roadmaps = roadmaps;
    plan.skills = skills;
    plan.events = events;
    plan.notes = notes;
    plan.evidence = evidence;
    Ok(plan)
}

/// Free text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// or a tab or carriage return before one) gets a leading apostrophe, as
/// OWASP advises for CSV injection; the apostrophe shows, the formula doesn't run.
pub fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}
