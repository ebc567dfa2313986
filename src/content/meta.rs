//! Skill metadata: an optional `+++` TOML block under a skill heading (summary, time, level, prerequisites, resources).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Diagnostic;

/// How hard a skill is, as the author rates it.
pub const LEVELS: [&str; 3] = ["beginner", "intermediate", "advanced"];

/// What kind of thing a resource is; shown as its badge.
pub const RESOURCE_KINDS: [&str; 6] = ["article", "video", "course", "docs", "book", "tool"];

/// A link to learn from, with its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub kind: String,
    pub title: String,
    pub url: String,
}

impl Resource {
    /// The kind in words, for the badge.
    pub fn kind_label(&self) -> &'static str {
        match self.kind.as_str() {
            "article" => "Article",
            "video" => "Video",
            "course" => "Course",
            "docs" => "Official docs",
            "book" => "Book",
            _ => "Tool",
        }
    }
}

/// A skill's metadata; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillMeta {
    /// One or two plain sentences, shown on the stage page and in search.
    pub summary: String,
    /// Estimated time to learn it, in minutes.
    pub minutes: Option<u32>,
    /// One of [`LEVELS`].
    pub level: Option<String>,
    /// Skills to do before this one (ids), in the author's order.
    pub requires: Vec<String>,
    pub resources: Vec<Resource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaToml {
    summary: Option<String>,
    time: Option<String>,
    level: Option<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    resources: Vec<ResourceToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceToml {
    kind: String,
    title: String,
    url: String,
}

/// Longest summary accepted: it is shown in lists.
pub const MAX_SUMMARY_CHARS: usize = 300;

/// Splits a leading `+++` block off a skill body. Returns the metadata (default when
/// there is none), the body without it, and how many lines were removed. Problems are
/// reported at their line (`body_line` is the body's first line in the file).
pub fn split_meta(
    path: &Path,
    body_line: usize,
    body_md: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> (SkillMeta, String, usize) {
    let lines: Vec<&str> = body_md.split_inclusive('\n').collect();
    let Some(open) = lines.iter().position(|l| !l.trim().is_empty()) else {
        return (SkillMeta::default(), body_md.to_string(), 0);
    };
    if lines[open].trim_end() != "+++" {
        return (SkillMeta::default(), body_md.to_string(), 0);
    }
    let Some(close) = lines[open + 1..]
        .iter()
        .position(|l| l.trim_end() == "+++")
        .map(|i| open + 1 + i)
    else {
        diagnostics.push(Diagnostic::new(
            path,
            body_line + open,
            "skill metadata block is not closed; end it with a line of `+++`",
        ));
        return (SkillMeta::default(), body_md.to_string(), 0);
    };
    let toml_text: String = lines[open + 1..close].concat();
    let rest: String = lines[close + 1..].concat();
    let removed = close + 1;
    let first_line = body_line + open + 1;
    let parsed = match toml::from_str::<MetaToml>(&toml_text) {
        Ok(parsed) => parsed,
        Err(error) => {
            let line = error.span().map_or(first_line, |span| {
                first_line + toml_text[..span.start.min(toml_text.len())].matches('\n').count()
            });
            let message = error.message().trim().replace('\n', " ");
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!(
                    "invalid skill metadata: {message}; the keys are summary, time, level, requires and [[resources]] (kind, title, url)"
                ),
            ));
            return (SkillMeta::default(), rest, removed);
        }
    };
    let key_line = |key: &str| {
        toml_text
            .lines()
            .position(|l| l.trim_start().starts_with(key))
            .map_or(first_line, |i| first_line + i)
    };
    let mut meta = SkillMeta::default();
    if let Some(summary) = parsed.summary {
        let summary = summary.split_whitespace().collect::<Vec<_>>().join(" ");
        if summary.chars().count() > MAX_SUMMARY_CHARS {
            diagnostics.push(Diagnostic::new(
                path,
                key_line("summary"),
                format!(
                    "summary is longer than {MAX_SUMMARY_CHARS} characters; keep it to one or two sentences"
                ),
            ));
        }
        meta.summary = summary;
    }
    if let Some(time) = parsed.time {
        match parse_minutes(&time) {
            Some(minutes) => meta.minutes = Some(minutes),
            None => diagnostics.push(Diagnostic::new(
                path,
                key_line("time"),
                format!("time \"{time}\" is not a duration; write minutes and hours like \"45m\", \"2h\" or \"1h 30m\""),
            )),
        }
    }
    if let Some(level) = parsed.level {
        if LEVELS.contains(&level.as_str()) {
            meta.level = Some(level);
        } else {
            diagnostics.push(Diagnostic::new(
                path,
                key_line("level"),
                format!("level \"{level}\" is unknown; use one of {}", LEVELS.join(", ")),
            ));
        }
    }
    let mut seen = HashSet::new();
    for id in parsed.requires {
        if !super::parse::is_valid_id(&id) {
            diagnostics.push(Diagnostic::new(
                path,
                key_line("requires"),
                format!("\"{id}\" in requires is not a skill id; list the ids of skills to do first"),
            ));
        } else if seen.insert(id.clone()) {
            meta.requires.push(id);
        }
    }
    for resource in parsed.resources {
        let line = toml_text
            .lines()
            .position(|l| l.contains(&resource.url))
            .map_or(first_line, |i| first_line + i);
        if !RESOURCE_KINDS.contains(&resource.kind.as_str()) {
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!(
                    "resource kind \"{}\" is unknown; use one of {}",
                    resource.kind,
                    RESOURCE_KINDS.join(", ")
                ),
            ));
            continue;
        }
        let web = url::Url::parse(&resource.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if web.is_none() {
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!(
                    "resource url \"{}\" must be a full http:// or https:// address",
                    resource.url
                ),
            ));
            continue;
        }
        if resource.title.trim().is_empty() {
            diagnostics.push(Diagnostic::new(path, line, "a resource needs a title"));
            continue;
        }
        meta.resources.push(Resource {
            kind: resource.kind,
            title: resource.title.trim().to_string(),
            url: resource.url,
        });
    }
    (meta, rest, removed)
}

/// "45m", "2h", "1h 30m", "1h30m", "90" (minutes) → minutes; none for anything else or zero.
pub fn parse_minutes(text: &str) -> Option<u32> {
    let text = text.trim().to_ascii_lowercase();
    if let Ok(minutes) = text.parse::<u32>() {
        return (minutes > 0).then_some(minutes);
    }
    let mut total: u32 = 0;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' => {
                let n: u32 = number.parse().ok()?;
                number.clear();
                total = total.checked_add(if c == 'h' { n.checked_mul(60)? } else { n })?;
                any = true;
            }
            ' ' => {}
            _ => return None,
        }
    }
    (any && number.is_empty() && total > 0).then_some(total)
}

/// "45 min", "2 h", "1 h 30 min": an estimate in words.
pub fn format_minutes(minutes: u32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Every `requires` names a skill that exists, and prerequisites never loop.
/// `skills` gives each skill's id, file, heading line and metadata.
pub fn check_requires<'a>(
    skills: impl IntoIterator<Item = (&'a str, &'a Path, usize, &'a SkillMeta)>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let skills: Vec<_> = skills.into_iter().collect();
    let known: HashMap<&str, usize> = skills.iter().enumerate().map(|(i, s)| (s.0, i)).collect();
    for (id, path, line, meta) in &skills {
        for required in &meta.requires {
            if required == id {
                diagnostics.push(Diagnostic::new(
                    *path,
                    *line,
                    format!("skill \"{id}\" requires itself; remove it from requires"),
                ));
            } else if !known.contains_key(required.as_str()) {
                diagnostics.push(Diagnostic::new(
                    *path,
                    *line,
                    format!("requires names \"{required}\", which is no skill; check the id"),
                ));
            }
        }
    }
    // A cycle: depth-first search with colours, reported once at the skill that closes it.
    let mut colour = vec![0u8; skills.len()];
    for start in 0..skills.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        colour[start] = 1;
        while let Some((node, next)) = stack.pop() {
            let requires = &skills[node].3.requires;
            if next < requires.len() {
                stack.push((node, next + 1));
                let Some(&child) = known.get(requires[next].as_str()) else {
                    continue;
                };
                match colour[child] {
                    0 => {
                        colour[child] = 1;
                        stack.push((child, 0));
                    }
                    1 if child != node => {
                        let (id, path, line, _) = skills[node];
                        let mut chain: Vec<&str> = stack.iter().map(|(n, _)| skills[*n].0).collect();
                        if let Some(at) = chain.iter().position(|s| *s == skills[child].0) {
                            chain.drain(..at);
                        }
                        chain.push(skills[child].0);
                        diagnostics.push(Diagnostic::new(
                            path,
                            line,
                            format!(
                                "prerequisites of \"{id}\" loop: {}; remove one of these requires",
                                chain.join(" → ")
                            ),
                        ));
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(body: &str) -> (SkillMeta, String, usize, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let (meta, rest, removed) = split_meta(Path::new("web/01-http.md"), 10, body, &mut diagnostics);
        (meta, rest, removed, diagnostics)
    }

    #[test]
    fn a_block_under_the_heading_becomes_metadata_and_leaves_the_body() {
        let (meta, rest, removed, diagnostics) = split(
            "\n+++\nsummary = \"\"\"Verbs  and\n  what they mean.\"\"\"\ntime = \"1h 30m\"\nlevel = \"beginner\"\nrequires = [\"client-server\"]\n\n[[resources]]\nkind = \"docs\"\ntitle = \"MDN\"\nurl = \"https://developer.mozilla.org/\"\n+++\nThe body.\n",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(meta.summary, "Verbs and what they mean.");
        assert_eq!(meta.minutes, Some(90));
        assert_eq!(meta.level.as_deref(), Some("beginner"));
        assert_eq!(meta.requires, ["client-server"]);
        assert_eq!(meta.resources[0].kind_label(), "Official docs");
        assert_eq!(rest, "The body.\n");
        assert_eq!(removed, 13);
    }

    #[test]
    fn no_block_means_no_metadata_and_an_untouched_body() {
        let (meta, rest, removed, diagnostics) = split("Text first.\n+++\n");
        assert_eq!(meta, SkillMeta::default());
        assert_eq!((rest.as_str(), removed), ("Text first.\n+++\n", 0));
        assert!(diagnostics.is_empty());
    }

    #[test]
    fn bad_values_name_their_line() {
        let (_, _, _, diagnostics) = split(
            "+++\ntime = \"soon\"\nlevel = \"expert\"\n[[resources]]\nkind = \"podcast\"\ntitle = \"x\"\nurl = \"https://x.example/\"\n[[resources]]\nkind = \"video\"\ntitle = \"y\"\nurl = \"javascript:alert(1)\"\n+++\n",
        );
        let lines: Vec<(usize, &str)> = diagnostics.iter().map(|d| (d.line, d.message.as_str())).collect();
        assert!(
            lines
                .iter()
                .any(|(l, m)| *l == 11 && m.contains("not a duration")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|(l, m)| *l == 12 && m.contains("level \"expert\"")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|(l, m)| *l == 16 && m.contains("podcast")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|(l, m)| *l == 20 && m.contains("http")),
            "{lines:?}"
        );
        let (_, _, _, unknown) = split("+++\nestimate = \"1h\"\n+++\n");
        assert!(unknown[0].message.contains("unknown field"), "{unknown:?}");
        assert_eq!(unknown[0].line, 11);
        let (_, _, _, open) = split("+++\ntime = \"1h\"\n");
        assert!(open[0].message.contains("not closed"), "{open:?}");
    }

    #[test]
    fn durations_read_and_print() {
        assert_eq!(parse_minutes("45m"), Some(45));
        assert_eq!(parse_minutes("2h"), Some(120));
        assert_eq!(parse_minutes("1h30m"), Some(90));
        assert_eq!(parse_minutes("90"), Some(90));
        assert_eq!(parse_minutes("0m"), None);
        assert_eq!(parse_minutes("2 days"), None);
        assert_eq!(format_minutes(45), "45 min");
        assert_eq!(format_minutes(120), "2 h");
        assert_eq!(format_minutes(95), "1 h 35 min");
    }

    #[test]
    fn unknown_prerequisites_and_loops_are_errors() {
        let meta = |requires: &[&str]| SkillMeta {
            requires: requires.iter().map(|s| s.to_string()).collect(),
            ..SkillMeta::default()
        };
        let (a, b, c, d) = (meta(&["b"]), meta(&["c"]), meta(&["a"]), meta(&["nope", "a"]));
        let path = Path::new("x.md");
        let mut diagnostics = Vec::new();
        check_requires(
            [
                ("a", path, 1, &a),
                ("b", path, 2, &b),
                ("c", path, 3, &c),
                ("d", path, 4, &d),
            ],
            &mut diagnostics,
        );
        let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert!(
            messages.iter().any(|m| m.contains("\"nope\", which is no skill")),
            "{messages:?}"
        );
        assert_eq!(
            messages.iter().filter(|m| m.contains("loop")).count(),
            1,
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("a → b → c → a")),
            "{messages:?}"
        );
        let mut fine = Vec::new();
        let (x, y) = (meta(&[]), meta(&["x"]));
        check_requires([("x", path, 1, &x), ("y", path, 2, &y)], &mut fine);
        assert!(fine.is_empty(), "{fine:?}");
    }
}
