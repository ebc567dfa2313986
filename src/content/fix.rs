//! `content check --fix`: add missing stage and skill ids, derived from titles, in place.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use pulldown_cmark::HeadingLevel;

use super::parse::{is_valid_id, line_at, scan_headings, slugify, split_front_matter};

/// One id written into a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedId {
    pub path: PathBuf,
    pub line: usize,
    pub id: String,
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
/// they are missing. Ids are unique across the directory. Files that cannot be
/// read as UTF-8 with front matter are left for `content check` to report.
pub fn add_missing_ids(dir: &Path) -> io::Result<Vec<AddedId>> {
    let files = markdown_files(dir)?;
    let mut texts = Vec::new();
    let mut taken = HashSet::new();
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
        }
        texts.push((path, text));
    }

    let mut added = Vec::new();
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
            let id = unique(slugify(title), &mut HashSet::new());
            inserts.push((sections.front_offset, format!("id = \"{id}\"\n")));
            added.push(AddedId {
                path: path.clone(),
                line: 2,
                id,
            });
        }

        for heading in scan_headings(sections.body) {
            if heading.level != HeadingLevel::H2 || heading.id.is_some() || heading.title.is_empty() {
                continue;
            }
            let start = sections.body_offset + heading.start;
            let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let insert_at = start + text[start..line_end].trim_end().len();
            let id = unique(slugify(&heading.title), &mut taken);
            added.push(AddedId {
                path: path.clone(),
                line: line_at(&text, start),
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
    Ok(added)
}

/// `base`, or `base-2`, `base-3`… whichever is free; records the choice.
fn unique(base: String, taken: &mut HashSet<String>) -> String {
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&candidate) || !is_valid_id(&candidate) {
        let suffix = format!("-{n}");
        let mut stem = base.clone();
        stem.truncate(super::parse::MAX_ID_LEN - suffix.len());
        candidate = format!("{}{suffix}", stem.trim_end_matches('-'));
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}
