//! Each roadmap a learner follows with its progress and each stage's: the public profile and the mentor's view of a mentee.

use crate::content::Catalog;
use crate::content::catalog::{Roadmap, Stage};
use crate::db::progress::ProgressMap;
use crate::progress::Tally;

/// A roadmap on a public profile, its progress, and each stage's.
pub type RoadmapOverview<'a> = (&'a Roadmap, Tally, Vec<(&'a Stage, Tally)>);

/// Each roadmap's progress and each of its stages', for one learner.
pub fn overview<'a>(
    catalog: &'a Catalog,
    roadmap_ids: impl IntoIterator<Item = &'a String>,
    map: &ProgressMap,
) -> Vec<RoadmapOverview<'a>> {
    roadmap_ids
        .into_iter()
        .filter_map(|id| catalog.roadmap(id))
        .map(|roadmap| {
            let stages = roadmap.stages.iter().map(|s| (s, map.stage_tally(s))).collect();
            (roadmap, map.roadmap_tally(roadmap), stages)
        })
        .collect()
}
