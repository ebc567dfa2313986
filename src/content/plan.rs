//! The impact of a content load, computed before anything is written: what is added, changed, moved, renamed or retired.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::parse::Content;
use super::rows::{RoadmapRow, SkillFacts, StageRow};

/// What loading a content directory would do to the live content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Hash of the files the plan was computed from.
    pub content_hash: String,
    pub added: Vec<SkillChange>,
    /// Title, text or badges changed.
    pub updated: Vec<SkillChange>,
    /// In another stage or roadmap (a new place within its stage is not a move).
    pub moved: Vec<SkillChange>,
    /// Skills that take over older ids (`replaces=`), carrying their progress.
    pub renamed: Vec<Rename>,
    /// Live skills no longer in the files: hidden, their progress kept.
    pub retired: Vec<SkillChange>,
    /// Retired skills that are back in the files.
    pub revived: Vec<SkillChange>,
    pub roadmaps_added: Vec<String>,
    pub roadmaps_retired: Vec<String>,
    pub stages_added: Vec<String>,
    pub stages_retired: Vec<String>,
    /// Includes added (`skill-id in roadmap/stage`): the skill is listed there too.
    #[serde(default)]
    pub included: Vec<String>,
    /// Includes removed: the skill is no longer listed there (its progress stays).
    #[serde(default)]
    pub unincluded: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillChange {
    pub id: String,
    pub title: String,
    /// `roadmap/stage`, where the skill is (or was, when retired).
    pub place: String,
    /// Learners with any progress, note or evidence on the skill (see
    /// [`Plan::count_learners`]).
    pub learners: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    pub id: String,
    pub title: String,
    /// The old ids whose rows move to `id` in this load.
    pub from: Vec<String>,
    /// Whether `id` existed already (a merge into it) or is new.
    pub into_existing: bool,
    /// Learners with progress on the old ids (a learner on two of them counts twice).
    pub learners: i64,
}

/// How many items of one list a page shows: a load of thousands of skills is
/// counted in full but listed only this far ("and 9,900 more").
pub const LISTED: usize = 100;

/// The first [`LISTED`] items of a list, and how many more there are.
pub struct Listed<'a, T> {
    pub items: Vec<&'a T>,
    pub more: usize,
}

impl<'a, T> Listed<'a, T> {
    fn new(items: impl Iterator<Item = &'a T>, total: usize) -> Self {
        let items: Vec<&T> = items.take(LISTED).collect();
        Self {
            more: total - items.len(),
            items,
        }
    }
}

/// The live and retired rows a plan is computed against.
pub struct Existing<'a> {
    pub roadmaps: &'a [RoadmapRow],
    pub stages: &'a [StageRow],
    pub skills: &'a [SkillFacts],
    /// Old ids already carried over by an earlier load.
    pub aliased: &'a HashSet<String>,
    pub placements: &'a [super::rows::PlacementRow],
}

impl Plan {
    /// The existing skills whose learners the plan reports: those it changes, moves,
    /// revives or retires, and the old ids of renames. Counting only these keeps a
    /// plan's cost to the skills it touches (new skills cannot have learners yet).
    pub fn counted_skills(&self) -> Vec<String> {
        let mut ids: Vec<String> = [&self.updated, &self.moved, &self.retired, &self.revived]
            .into_iter()
            .flatten()
            .map(|s| s.id.clone())
            .chain(self.renamed.iter().flat_map(|r| r.from.iter().cloned()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Fills in learner counts from `learners` (per skill id, as
    /// `db::content::learners_per_skill` returns them for [`Plan::counted_skills`]).
    pub fn count_learners(&mut self, learners: &HashMap<String, i64>) {
        let count = |id: &str| learners.get(id).copied().unwrap_or(0);
        for change in [
            &mut self.added,
            &mut self.updated,
            &mut self.moved,
            &mut self.retired,
            &mut self.revived,
        ]
        .into_iter()
        .flatten()
        {
            change.learners = count(&change.id);
        }
        for rename in &mut self.renamed {
            rename.learners = rename.from.iter().map(|id| count(id)).sum();
        }
    }

    /// Nothing would change (a re-render with new HTML only is not a change to report).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.updated.is_empty()
            && self.moved.is_empty()
            && self.renamed.is_empty()
            && self.retired.is_empty()
            && self.revived.is_empty()
            && self.roadmaps_added.is_empty()
            && self.roadmaps_retired.is_empty()
            && self.stages_added.is_empty()
            && self.stages_retired.is_empty()
            && self.included.is_empty()
            && self.unincluded.is_empty()
    }

    /// Would some learner's progress end up on a retired (hidden) skill?
    /// Renames are safe: they carry progress to the new id.
    pub fn retires_progress(&self) -> bool {
        self.retired.iter().any(|s| s.learners > 0)
    }

    /// Retired skills that have progress on them, for the confirmation question.
    pub fn retired_with_progress(&self) -> Vec<&SkillChange> {
        self.retired.iter().filter(|s| s.learners > 0).collect()
    }

    /// The lists shown the same way on the admin pages: heading, how many in all,
    /// and the first [`LISTED`] of them.
    pub fn sections(&self) -> [(&'static str, usize, Listed<'_, SkillChange>); 4] {
        [
            ("Added", &self.added),
            ("Updated (title, text or badges)", &self.updated),
            ("Moved", &self.moved),
            ("Revived", &self.revived),
        ]
        .map(|(heading, items)| (heading, items.len(), Listed::new(items.iter(), items.len())))
    }

    /// The retired skills a page lists: those with progress first, since they are
    /// the ones to confirm.
    pub fn retired_listed(&self) -> Listed<'_, SkillChange> {
        let with_progress = self.retired.iter().filter(|s| s.learners > 0);
        let without = self.retired.iter().filter(|s| s.learners == 0);
        Listed::new(with_progress.chain(without), self.retired.len())
    }

    /// The renames a page lists.
    pub fn renamed_listed(&self) -> Listed<'_, Rename> {
        Listed::new(self.renamed.iter(), self.renamed.len())
    }

    /// One line of counts, for logs and the audit log.
    pub fn summary(&self) -> String {
        format!(
            "{} added, {} updated, {} moved, {} renamed, {} retired, {} revived",
            self.added.len(),
            self.updated.len(),
            self.moved.len(),
            self.renamed.len(),
            self.retired.len(),
            self.revived.len()
        )
    }

    /// The plan as text for the terminal (`pathway content plan`).
    pub fn report(&self) -> String {
        let mut out = String::new();
        if self.is_empty() {
            out.push_str("No changes: the database already matches these files.\n");
            return out;
        }
        let _ = writeln!(out, "Skills: {}.", self.summary());
        let list = |out: &mut String, heading: &str, items: &[SkillChange]| {
            if items.is_empty() {
                return;
            }
            let _ = writeln!(out, "\n{heading} ({}):", items.len());
            for item in items {
                let _ = write!(out, "  {} \"{}\" in {}", item.id, item.title, item.place);
                if item.learners > 0 {
                    let _ = write!(out, " ({})", learners(item.learners));
                }
                out.push('\n');
            }
        };
        list(&mut out, "Added", &self.added);
        list(&mut out, "Updated", &self.updated);
        list(&mut out, "Moved", &self.moved);
        if !self.renamed.is_empty() {
            let _ = writeln!(out, "\nRenamed, progress carried over ({}):", self.renamed.len());
            for rename in &self.renamed {
                let _ = write!(out, "  {} <- {}", rename.id, rename.from.join(", "));
                if rename.learners > 0 {
                    let _ = write!(out, " ({})", learners(rename.learners));
                }
                out.push('\n');
            }
        }
        list(&mut out, "Retired, progress kept but hidden", &self.retired);
        list(&mut out, "Revived", &self.revived);
        for (heading, ids) in [
            ("Roadmaps added", &self.roadmaps_added),
            ("Roadmaps retired", &self.roadmaps_retired),
            ("Stages added", &self.stages_added),
            ("Stages retired", &self.stages_retired),
            ("Shared skills included", &self.included),
            (
                "Shared skills no longer included (progress kept)",
                &self.unincluded,
            ),
        ] {
            if !ids.is_empty() {
                let _ = writeln!(out, "\n{heading}: {}", ids.join(", "));
            }
        }
        if self.retires_progress() {
            let count: i64 = self.retired_with_progress().iter().map(|s| s.learners).sum();
            let _ = writeln!(
                out,
                "\nWarning: this retires skills with progress ({}). Their progress is kept and \
                 comes back if the ids return; to carry it to another skill instead, add \
                 replaces=old-id to that skill's heading.",
                learners(count)
            );
        }
        out
    }
}

fn learners(count: i64) -> String {
    if count == 1 {
        "1 learner".into()
    } else {
        format!("{count} learners")
    }
}

/// Compares parsed content with the database rows. Learner counts are left at 0:
/// [`Plan::count_learners`] fills them in for the skills the plan touches.
pub fn compute(content: &Content, existing: &Existing<'_>) -> Plan {
    let mut plan = Plan {
        content_hash: content.hash.clone(),
        ..Plan::default()
    };
    let place = |skill: &str, roadmap: &str, stage: &str| format!("{skill} in {roadmap}/{stage}");
    let old_places: HashSet<String> = existing
        .placements
        .iter()
        .map(|p| place(&p.skill_id, &p.roadmap_id, &p.stage_id))
        .collect();
    let new_places: HashSet<String> = content
        .roadmaps
        .iter()
        .flat_map(|r| r.stages.iter().map(move |s| (r, s)))
        .flat_map(|(r, s)| s.includes.iter().map(move |i| place(&i.id, &r.id, &s.id)))
        .collect();
    plan.included = new_places.difference(&old_places).cloned().collect();
    plan.included.sort();
    plan.unincluded = old_places.difference(&new_places).cloned().collect();
    plan.unincluded.sort();

    let old_roadmaps: HashMap<&str, &RoadmapRow> =
        existing.roadmaps.iter().map(|r| (r.id.as_str(), r)).collect();
    let old_stages: HashMap<(&str, &str), &StageRow> = existing
        .stages
        .iter()
        .map(|s| ((s.roadmap_id.as_str(), s.id.as_str()), s))
        .collect();
    let old_skills: HashMap<&str, &SkillFacts> = existing.skills.iter().map(|s| (s.id.as_str(), s)).collect();

    let mut wanted_roadmaps = HashSet::new();
    let mut wanted_stages = HashSet::new();
    let mut wanted_skills = HashSet::new();
    // Old ids whose rows move in this load.
    let mut moving: HashSet<String> = HashSet::new();
    for roadmap in &content.roadmaps {
        wanted_roadmaps.insert(roadmap.id.as_str());
        if old_roadmaps.get(roadmap.id.as_str()).is_none_or(|r| r.retired) {
            plan.roadmaps_added.push(roadmap.id.clone());
        }
        for stage in &roadmap.stages {
            wanted_stages.insert((roadmap.id.as_str(), stage.id.as_str()));
            if old_stages
                .get(&(roadmap.id.as_str(), stage.id.as_str()))
                .is_none_or(|s| s.retired)
            {
                plan.stages_added.push(format!("{}/{}", roadmap.id, stage.id));
            }
            for skill in &stage.skills {
                wanted_skills.insert(skill.id.as_str());
                let place = format!("{}/{}", roadmap.id, stage.id);
                let change = SkillChange {
                    id: skill.id.clone(),
                    title: skill.title.clone(),
                    place,
                    learners: 0,
                };
                let from: Vec<String> = skill
                    .replaces
                    .iter()
                    .filter(|old| old_skills.contains_key(old.as_str()) && !existing.aliased.contains(*old))
                    .cloned()
                    .collect();
                let old = old_skills.get(skill.id.as_str());
                if !from.is_empty() {
                    moving.extend(from.iter().cloned());
                    plan.renamed.push(Rename {
                        id: skill.id.clone(),
                        title: skill.title.clone(),
                        learners: 0,
                        from,
                        into_existing: old.is_some(),
                    });
                }
                match old {
                    None if plan.renamed.last().is_some_and(|r| r.id == skill.id) => {}
                    None => plan.added.push(change),
                    Some(old) if old.retired => plan.revived.push(change),
                    Some(old) => {
                        if old.title != skill.title
                            || old.content_hash != skill.content_hash
                            || old.optional != skill.optional
                            || old.project != skill.project
                            || old.meta.0 != skill.meta
                        {
                            plan.updated.push(change.clone());
                        }
                        // A new place within the same stage is written but not reported:
                        // inserting one skill would otherwise "move" every skill after it.
                        if old.roadmap_id != roadmap.id || old.stage_id != stage.id {
                            plan.moved.push(change);
                        }
                    }
                }
            }
        }
    }

    for skill in existing.skills {
        if !skill.retired && !wanted_skills.contains(skill.id.as_str()) && !moving.contains(&skill.id) {
            plan.retired.push(SkillChange {
                id: skill.id.clone(),
                title: skill.title.clone(),
                place: format!("{}/{}", skill.roadmap_id, skill.stage_id),
                learners: 0,
            });
        }
    }
    for stage in existing.stages {
        if !stage.retired && !wanted_stages.contains(&(stage.roadmap_id.as_str(), stage.id.as_str())) {
            plan.stages_retired
                .push(format!("{}/{}", stage.roadmap_id, stage.id));
        }
    }
    for roadmap in existing.roadmaps {
        if !roadmap.retired && !wanted_roadmaps.contains(roadmap.id.as_str()) {
            plan.roadmaps_retired.push(roadmap.id.clone());
        }
    }
    plan
}
