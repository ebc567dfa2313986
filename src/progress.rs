//! Skill states and the one progress calculation every page, export and dashboard uses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::content::catalog::{Roadmap, Skill, Stage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SkillState {
    #[default]
    NotStarted,
    InProgress,
    Done,
    Skipped,
}

impl SkillState {
    pub const ALL: [SkillState; 4] = [Self::NotStarted, Self::InProgress, Self::Done, Self::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::InProgress => "in_progress",
            Self::Done => "done",
            Self::Skipped => "skipped",
        }
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::NotStarted => "Not started",
            Self::InProgress => "In progress",
            Self::Done => "Done",
            Self::Skipped => "Skipped",
        }
    }
}

impl fmt::Display for SkillState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SkillState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown state \"{s}\"; use not_started, in_progress, done or skipped"))
    }
}

/// Counts for a set of skills. Required and optional skills are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub required: u32,
    pub optional: u32,
    /// Required skills done.
    pub done: u32,
    pub optional_done: u32,
    /// Skills (required or optional) in progress.
    pub in_progress: u32,
    /// Required skills skipped.
    pub skipped: u32,
    /// Required skills done and verified by a mentor (a part of `done`).
    pub verified: u32,
}

impl Tally {
    /// Tallies `skills`, looking each one's state up with `state_of`.
    pub fn of<'a>(
        skills: impl IntoIterator<Item = &'a Skill>,
        state_of: impl Fn(&str) -> SkillState,
    ) -> Self {
        let mut tally = Self::default();
        for skill in skills {
            let state = state_of(&skill.id);
            if skill.optional {
                tally.optional += 1;
                tally.optional_done += u32::from(state == SkillState::Done);
            } else {
                tally.required += 1;
                tally.done += u32::from(state == SkillState::Done);
                tally.skipped += u32::from(state == SkillState::Skipped);
            }
            tally.in_progress += u32::from(state == SkillState::InProgress);
        }
        tally
    }

    /// Counts which of the required done skills a mentor verified.
    pub fn with_verified<'a>(
        mut self,
        skills: impl IntoIterator<Item = &'a Skill>,
        verified: impl Fn(&str) -> bool,
    ) -> Self {
        self.verified = skills
            .into_iter()
            .filter(|s| !s.optional && verified(&s.id))
            .count() as u32;
        self
    }

    /// A stage's tally from counts made in the database; the catalog gives the totals.
    pub fn from_counts(stage: &Stage, counts: crate::db::progress::StageCounts) -> Self {
        let optional = stage.skills.iter().filter(|s| s.optional).count() as u32;
        Self {
            required: stage.skills.len() as u32 - optional,
            optional,
            done: counts.done,
            optional_done: counts.optional_done,
            in_progress: counts.in_progress,
            skipped: counts.skipped,
            verified: counts.verified,
        }
    }
}

/// The sum of stage tallies is a roadmap's.
impl std::ops::Add for Tally {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            required: self.required + other.required,
            optional: self.optional + other.optional,
            done: self.done + other.done,
            optional_done: self.optional_done + other.optional_done,
            in_progress: self.in_progress + other.in_progress,
            skipped: self.skipped + other.skipped,
            verified: self.verified + other.verified,
        }
    }
}

impl Tally {
    pub fn stage(stage: &Stage, state_of: impl Fn(&str) -> SkillState) -> Self {
        Self::of(&stage.skills, state_of)
    }

    pub fn roadmap(roadmap: &Roadmap, state_of: impl Fn(&str) -> SkillState) -> Self {
        Self::of(roadmap.stages.iter().flat_map(|s| &s.skills), state_of)
    }

    /// Percent complete = required done ÷ (required − required skipped).
    /// Optional skills never count against the learner; when nothing is left
    /// to do (every required skill skipped, or none required) it is 100.
    pub fn percent(&self) -> u32 {
        (self.done * 100)
            .checked_div(self.required - self.skipped)
            .unwrap_or(100)
    }

    /// Verified share, on the same scale as [`Tally::percent`].
    pub fn verified_percent(&self) -> u32 {
        (self.verified * 100)
            .checked_div(self.required - self.skipped)
            .unwrap_or(0)
    }

    /// Required skills that count: those not skipped.
    pub fn goal(&self) -> u32 {
        self.required - self.skipped
    }

    /// [`Tally::percent`] for people: a share above 0 but below 1 % reads "<1", never "0".
    pub fn percent_label(&self) -> String {
        share_label(self.done, self.percent())
    }

    /// [`Tally::verified_percent`] for people, "<1" like [`Tally::percent_label`].
    pub fn verified_percent_label(&self) -> String {
        share_label(self.verified, self.verified_percent())
    }

    /// How full the done bar is drawn (0 to 100, to a tenth): exact rather than rounded
    /// down, and at least 1 once anything is done, so a start never shows an empty bar.
    pub fn bar_value(&self) -> f64 {
        bar(self.done, self.goal(), 100.0)
    }

    /// How full the verified bar is drawn, like [`Tally::bar_value`].
    pub fn verified_bar_value(&self) -> f64 {
        bar(self.verified, self.goal(), 0.0)
    }

    /// Required skills still to do.
    pub fn remaining(&self) -> u32 {
        self.required - self.done - self.skipped
    }

    /// Derived state of a stage or roadmap: done when every required skill is
    /// done or skipped, in progress once anything moved.
    pub fn state(&self) -> SkillState {
        let touched = self.done + self.optional_done + self.in_progress + self.skipped > 0;
        if self.required > 0 && self.remaining() == 0 {
            SkillState::Done
        } else if touched {
            SkillState::InProgress
        } else {
            SkillState::NotStarted
        }
    }

    /// "7 of 20 done (35%)"-style summary for screen readers and text.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} of {} required skills done ({}%)",
            self.done,
            self.goal(),
            self.percent_label()
        );
        if self.verified > 0 {
            text.push_str(&format!(", {} of them verified", self.verified));
        }
        if self.in_progress > 0 {
            text.push_str(&format!(", {} in progress", self.in_progress));
        }
        if self.skipped > 0 {
            text.push_str(&format!(", {} skipped", self.skipped));
        }
        if self.optional_done > 0 {
            text.push_str(&format!(", {} optional done", self.optional_done));
        }
        text
    }
}

/// A team's tailoring of one skill (migration 0036).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Left out of the team's version: it counts for nothing.
    Hidden,
    /// Counts as required for the team, even if the content marks it optional.
    Required,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hidden => "hidden",
            Self::Required => "required",
        }
    }
}

impl FromStr for Rule {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "hidden" => Ok(Self::Hidden),
            "required" => Ok(Self::Required),
            _ => Err(()),
        }
    }
}

impl Tally {
    /// This tally as a team's version of the roadmap counts it: each of `ruled` is a skill
    /// of the tallied set with the team's rule, the learner's state and whether it was
    /// verified. Hidden skills leave the totals and counts; optional skills the team
    /// requires move from the optional counts to the required ones. The result equals
    /// [`Tally::of`] over the tailored skill list (tested below), without reading every
    /// skill's state: the untailored counts come from the stage tallies.
    pub fn tailored<'a>(
        mut self,
        ruled: impl IntoIterator<Item = (&'a Skill, Rule, SkillState, bool)>,
    ) -> Self {
        for (skill, rule, state, verified) in ruled {
            let done = state == SkillState::Done;
            match (rule, skill.optional) {
                (Rule::Hidden, false) => {
                    self.required = self.required.saturating_sub(1);
                    self.done = self.done.saturating_sub(u32::from(done));
                    self.verified = self.verified.saturating_sub(u32::from(done && verified));
                    self.skipped = self
                        .skipped
                        .saturating_sub(u32::from(state == SkillState::Skipped));
                }
                (Rule::Hidden, true) => {
                    self.optional = self.optional.saturating_sub(1);
                    self.optional_done = self.optional_done.saturating_sub(u32::from(done));
                }
                (Rule::Required, true) => {
                    self.optional = self.optional.saturating_sub(1);
                    self.optional_done = self.optional_done.saturating_sub(u32::from(done));
                    self.required += 1;
                    self.done += u32::from(done);
                    self.verified += u32::from(done && verified);
                    self.skipped += u32::from(state == SkillState::Skipped);
                }
                (Rule::Required, false) => {}
            }
            if rule == Rule::Hidden {
                self.in_progress = self
                    .in_progress
                    .saturating_sub(u32::from(state == SkillState::InProgress));
            }
        }
        // The counts and the states are read apart: a change between the two reads must
        // not leave more done than there is to do.
        self.done = self.done.min(self.required);
        self.skipped = self.skipped.min(self.required - self.done);
        self.verified = self.verified.min(self.done);
        self
    }
}

/// A whole percent for people; `count` above zero never reads as "0".
fn share_label(count: u32, percent: u32) -> String {
    if count > 0 && percent == 0 {
        "<1".into()
    } else {
        percent.to_string()
    }
}

/// `count` of `goal` on a 0 to 100 scale, to a tenth, rounded down but at least 1 when
/// `count` is above zero; `empty` when there is nothing to count.
fn bar(count: u32, goal: u32, empty: f64) -> f64 {
    if goal == 0 {
        return empty;
    }
    let tenths = u64::from(count) * 1000 / u64::from(goal);
    let value = tenths as f64 / 10.0;
    if count > 0 { value.max(1.0) } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(id: &str, optional: bool) -> Skill {
        Skill {
            id: id.into(),
            title: id.into(),
            body_html: String::new(),
            optional,
            project: false,
            content_hash: String::new(),
            steps: Vec::new(),
            meta: Default::default(),
            position: 0,
            home: None,
            at: String::new(),
        }
    }

    fn tally(states: &[(&str, bool, SkillState)]) -> Tally {
        let skills: Vec<Skill> = states
            .iter()
            .map(|(id, optional, _)| skill(id, *optional))
            .collect();
        Tally::of(&skills, |id| states.iter().find(|(s, _, _)| *s == id).unwrap().2)
    }

    use SkillState::*;

    #[test]
    fn percent_counts_required_done_over_required_not_skipped() {
        let t = tally(&[
            ("a", false, Done),
            ("b", false, Done),
            ("c", false, Skipped),
            ("d", false, InProgress),
            ("e", false, NotStarted),
            ("f", true, Done),
            ("g", true, NotStarted),
        ]);
        assert_eq!(
            (t.required, t.done, t.skipped, t.in_progress, t.optional_done),
            (5, 2, 1, 1, 1)
        );
        assert_eq!(t.percent(), 50, "2 of (5 - 1)");
        assert_eq!(t.remaining(), 2);
        assert_eq!(t.state(), InProgress);
        assert_eq!(
            t.summary(),
            "2 of 4 required skills done (50%), 1 in progress, 1 skipped, 1 optional done"
        );
    }

    #[test]
    fn optional_skills_never_count_against_you() {
        let t = tally(&[("a", false, Done), ("b", true, NotStarted), ("c", true, Skipped)]);
        assert_eq!(t.percent(), 100);
        assert_eq!(t.state(), Done);
    }

    #[test]
    fn skipping_everything_left_completes_the_stage() {
        let t = tally(&[("a", false, Skipped), ("b", false, Done)]);
        assert_eq!((t.percent(), t.state()), (100, Done));
        let all_skipped = tally(&[("a", false, Skipped)]);
        assert_eq!(all_skipped.percent(), 100);
    }

    #[test]
    fn untouched_is_not_started_and_zero() {
        let t = tally(&[("a", false, NotStarted), ("b", true, NotStarted)]);
        assert_eq!((t.percent(), t.state()), (0, NotStarted));
        let optional_touched = tally(&[("a", false, NotStarted), ("b", true, InProgress)]);
        assert_eq!(optional_touched.state(), InProgress);
    }

    #[test]
    fn a_start_is_never_shown_as_zero_or_an_empty_bar() {
        let mut t = Tally {
            required: 105,
            done: 1,
            ..Tally::default()
        };
        assert_eq!(t.percent(), 0, "the number stays exact for sorting and shading");
        assert_eq!(t.percent_label(), "<1");
        assert!(t.summary().starts_with("1 of 105 required skills done (<1%)"));
        assert_eq!(t.bar_value(), 1.0, "0.95 % is drawn as 1 %, not as nothing");
        t.done = 12;
        t.required = 35;
        assert_eq!((t.percent_label(), t.bar_value()), ("34".to_string(), 34.2));
        t.verified = 1;
        t.required = 2000;
        assert_eq!(
            (t.verified_percent_label().as_str(), t.verified_bar_value()),
            ("<1", 1.0)
        );
        let untouched = Tally {
            required: 3,
            ..Tally::default()
        };
        assert_eq!(
            (untouched.percent_label().as_str(), untouched.bar_value()),
            ("0", 0.0)
        );
        let all_skipped = Tally {
            required: 2,
            skipped: 2,
            ..Tally::default()
        };
        assert_eq!(
            (all_skipped.percent_label().as_str(), all_skipped.bar_value()),
            ("100", 100.0)
        );
        let all_done = Tally {
            required: 3,
            done: 3,
            ..Tally::default()
        };
        assert_eq!(all_done.bar_value().to_string(), "100", "drawn as value=\"100\"");
    }

    #[test]
    fn states_round_trip_through_text() {
        for state in SkillState::ALL {
            assert_eq!(state.as_str().parse::<SkillState>().unwrap(), state);
        }
        assert!("finished".parse::<SkillState>().is_err());
    }

    #[test]
    fn tailoring_equals_counting_the_tailored_list() {
        use std::collections::HashMap;
        // Every combination of optional, rule and state, verified or not.
        let mut skills = Vec::new();
        let mut states = HashMap::new();
        let mut rules = HashMap::new();
        let mut verified = HashMap::new();
        let mut n = 0;
        for optional in [false, true] {
            for rule in [None, Some(Rule::Hidden), Some(Rule::Required)] {
                for state in SkillState::ALL {
                    for v in [false, true] {
                        let id = format!("s{n}");
                        n += 1;
                        skills.push(skill(&id, optional));
                        states.insert(id.clone(), state);
                        if let Some(rule) = rule {
                            rules.insert(id.clone(), rule);
                        }
                        verified.insert(id, v && state == Done);
                    }
                }
            }
        }
        let state_of = |id: &str| states[id];
        let is_verified = |id: &str| verified[id];
        let plain = Tally::of(&skills, state_of).with_verified(&skills, is_verified);
        let tailored = plain.tailored(
            skills
                .iter()
                .filter_map(|s| rules.get(&s.id).map(|r| (s, *r, states[&s.id], verified[&s.id]))),
        );
        let team_version: Vec<Skill> = skills
            .iter()
            .filter(|s| rules.get(&s.id) != Some(&Rule::Hidden))
            .map(|s| Skill {
                optional: s.optional && rules.get(&s.id) != Some(&Rule::Required),
                ..s.clone()
            })
            .collect();
        let expected = Tally::of(&team_version, state_of).with_verified(&team_version, is_verified);
        assert_eq!(tailored, expected);
        assert_eq!((expected.required, expected.optional), (24, 8));
    }

    #[test]
    fn hiding_and_requiring_move_the_percentage() {
        // Two required (one done), one optional done: 50 %.
        let a = skill("a", false);
        let b = skill("b", false);
        let c = skill("c", true);
        let plain = tally(&[("a", false, Done), ("b", false, NotStarted), ("c", true, Done)]);
        assert_eq!(plain.percent(), 50);
        // Hiding the undone required skill: 1 of 1.
        let hidden = plain.tailored([(&b, Rule::Hidden, NotStarted, false)]);
        assert_eq!((hidden.percent(), hidden.goal()), (100, 1));
        // Requiring the done optional one: 2 of 3.
        let required = plain.tailored([(&c, Rule::Required, Done, false)]);
        assert_eq!(
            (required.percent(), required.goal(), required.optional),
            (66, 3, 0)
        );
        // Hiding the done one: 0 of 1.
        let both = plain.tailored([(&a, Rule::Hidden, Done, false)]);
        assert_eq!((both.percent(), both.done), (0, 0));
    }
}
