//! `content check --fix`: add missing stage and skill ids, derived from titles, in place.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use pulldown_cmark::HeadingLevel;

use super::Diagnostic;
use super::parse::{MAX_ID_LEN, is_valid_id, line_at, scan_headings, slugify, split_front_matter};

/// One id written into a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedId {
    pub path: PathBuf,
    pub line: usize,
    pub id: String,
}

/// What `--fix` did, and what it left for the author to decide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fixes {
    pub added: Vec<AddedId>,
    /// Headings `--fix` did not touch because their meaning is unclear, such
    /// as setext headings (a `---` under a line may be a heading or a rule).
    pub left: Vec<Diagnostic>,
}

/// Every `*.md` file one level below each roadmap folder.
fn markdown_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for roadmap in fs::read_dir(dir)? {
        let roadmap = roadmap?.path();
        if !roadmap.is_dir()
            || roadmap
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        for entry in fs::read_dir(&roadmap)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if path.is_file() && name.ends_with(".md") && name != "roadmap.md" {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Adds `{#id}` to skill headings and `id = "..."` to stage front matter where
/// they are missing. Skill ids are unique across the directory, stage ids within
/// their roadmap. Setext headings are reported, not given ids: a `---` under a
/// line may have been meant as a rule, and an id would turn it into a skill.
/// Files that cannot be read as UTF-8 with front matter are left for `content
/// check` to report.
pub fn add_missing_ids(dir: &Path) -> io::Result<Fixes> {
    let files = markdown_files(dir)?;
    let mut texts = Vec::new();
    let mut taken = HashSet::new();
    // Stage ids already written, per roadmap folder.
    let mut stage_ids: HashMap<PathBuf, HashSet<String>> = HashMap::new();
    for path in files {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        if let Ok(sections) = split_front_matter(&text) {
            for heading in scan_headings(sections.body) {
                if let Some(id) = heading.id {
                    taken.insert(id);
                }
            }
            if let Some(id) = toml::from_str::<toml::Table>(sections.front)
                .ok()
                .and_then(|front| front.get("id")?.as_str().map(|id| id.trim().to_string()))
            {
                stage_ids.entry(roadmap_of(&path)).or_default().insert(id);
            }
        }
        texts.push((path, text));
    }

    let mut fixes = Fixes::default();
    for (path, text) in texts {
        let Ok(sections) = split_front_matter(&text) else {
            continue;
        };
        // (byte offset, text to insert), applied back to front.
        let mut inserts: Vec<(usize, String)> = Vec::new();

        let front: Option<toml::Table> = toml::from_str(sections.front).ok();
        if let Some(front) = front
            && !front.contains_key("id")
            && let Some(title) = front.get("title").and_then(|t| t.as_str())
        {
            let roadmap_ids = stage_ids.entry(roadmap_of(&path)).or_default();
            let id = unique(id_from_title(title), roadmap_ids);
            inserts.push((sections.front_offset, format!("id = \"{id}\"\n")));
            fixes.added.push(AddedId {
                path: path.clone(),
                line: 2,
                id,
            });
        }

        for heading in scan_headings(sections.body) {
            // An include heading names its skill by `include=`; it takes no id of its own.
            let include = heading.attrs.iter().any(|(key, _)| key == "include");
            if heading.level != HeadingLevel::H2
                || heading.id.is_some()
                || heading.title.is_empty()
                || include
            {
                continue;
            }
            let start = sections.body_offset + heading.start;
            let line = line_at(&text, start);
            if let Some(underline) = heading.underline {
                fixes.left.push(Diagnostic::new(
                    &path,
                    line + underline,
                    format!(
                        "left as is: the `---` under \"{}\" (line {line}) makes a setext heading, which may be \
                         meant as a skill, a heading inside one or a thematic break; the error below says how to fix it",
                        heading.title
                    ),
                ));
                continue;
            }
            let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let insert_at = start + text[start..line_end].trim_end().len();
            let id = unique(id_from_title(&heading.title), &mut taken);
            fixes.added.push(AddedId {
                path: path.clone(),
                line,
                id: id.clone(),
            });
            inserts.push((insert_at, format!(" {{#{id}}}")));
        }

        if inserts.is_empty() {
            continue;
        }
        let mut fixed = text.clone();
        inserts.sort_by_key(|(offset, _)| std::cmp::Reverse(*offset));
        for (offset, insert) in inserts {
            fixed.insert_str(offset, &insert);
        }
        fs::write(&path, fixed)?;
    }
    Ok(fixes)
}

/// The roadmap folder a stage file is in.
fn roadmap_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A readable id for `title`: a slug, except that the names of languages and
/// tools keep what their punctuation says. `C++` is `cpp` and `G++` `gpp`;
/// `C#` is `csharp` and `F#` `fsharp`; other `+` signs are `plus`; a leading dot
/// is `dot` (`.NET` is `dotnet`); a dot inside a word is dropped (`Node.js` is
/// `nodejs`, `ASP.NET` `aspnet`), while one between digits separates them
/// (`HTTP/1.1` is `http-1-1`).
pub fn id_from_title(title: &str) -> String {
    let chars: Vec<char> = title.chars().flat_map(char::to_lowercase).collect();
    let is_word = |c: Option<&char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let mut spelled = String::with_capacity(title.len() + 8);
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let before = index.checked_sub(1).and_then(|i| chars.get(i));
        let after = chars.get(index + 1);
        match c {
            '+' if after == Some(&'+') && is_word(before) => {
                spelled.push_str("pp");
                index += 2;
                continue;
            }
            '+' => spelled.push_str(" plus "),
            '#' if is_word(before) && !is_word(after) => spelled.push_str("sharp"),
            '.' if !is_word(before) && after.is_some_and(char::is_ascii_alphabetic) => {
                spelled.push_str("dot")
            }
            '.' if before.is_some_and(char::is_ascii_alphabetic)
                && after.is_some_and(char::is_ascii_alphabetic) => {}
            c => spelled.push(c),
        }
        index += 1;
    }
    slugify(&spelled)
}
/// `base`, or `base-2`, `base-3`… whichever is free; records the choice.
fn unique(base: String, taken: &mut HashSet<String>) -> String {
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&candidate) || !is_valid_id(&candidate) {
        let suffix = format!("-{n}");
        let mut stem = base.clone();
        stem.truncate(MAX_ID_LEN - suffix.len());
        candidate = format!("{}{suffix}", stem.trim_end_matches('-'));
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

#[cfg(test)]
mod tests {
    use super::{id_from_title, unique};
    use std::collections::HashSet;

    #[test]
    fn language_names_keep_their_meaning() {
        let cases = [
            ("C", "c"),
            ("C++", "cpp"),
            ("C#", "csharp"),
            ("F#", "fsharp"),
            (".NET", "dotnet"),
            ("ASP.NET Core", "aspnet-core"),
            ("Node.js", "nodejs"),
            ("Vue.js and Next.js", "vuejs-and-nextjs"),
            ("G++ and Clang", "gpp-and-clang"),
            ("C/C++ toolchains", "c-cpp-toolchains"),
            ("C# 12 features", "csharp-12-features"),
            ("Notepad++", "notepadpp"),
            ("Google+", "google-plus"),
            ("1 + 1", "1-plus-1"),
            ("HTTP/1.1", "http-1-1"),
            ("Issue #42", "issue-42"),
            ("DNS & Names", "dns-names"),
            ("  Git: branching!  ", "git-branching"),
            ("???", "item"),
        ];
        for (title, id) in cases {
            assert_eq!(id_from_title(title), id, "{title}");
        }
    }

    #[test]
    fn suffixes_only_on_real_clashes() {
        let mut taken = HashSet::new();
        let ids: Vec<String> = ["C", "C++", "C#", "C", "c"]
            .iter()
            .map(|t| unique(id_from_title(t), &mut taken))
            .collect();
        assert_eq!(ids, ["c", "cpp", "csharp", "c-2", "c-3"]);
    }
}
