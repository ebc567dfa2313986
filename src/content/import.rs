//! `pathway content import`: turn a plain tree of markdown lessons into Pathway's content format.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, LinkType, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Diagnostic;
use super::parse::{
    MAX_FILE_BYTES, MAX_ID_LEN, is_valid_id, line_at, scan_headings, slugify, split_front_matter,
};
use super::render::{markdown_options, skill_body_to_html};

/// The map file kept in each imported roadmap folder.
pub const MAP_FILE: &str = ".import-map.toml";
/// Ordering files, one name per line, looked for in every folder.
pub const ORDER_FILES: &[&str] = &["order.txt", "_order.txt"];
/// Files that introduce a folder rather than being a lesson of it.
const INTRO_FILES: &[&str] = &["readme", "index", "_index"];
/// Licence files copied next to the content.
const LICENSE_FILES: &[&str] = &[
    "LICENSE",
    "LICENSE.md",
    "LICENSE.txt",
    "LICENCE",
    "LICENCE.md",
    "LICENCE.txt",
    "COPYING",
    "COPYING.md",
    "COPYING.txt",
];
/// Lessons larger than this are not read (a stage file may not exceed [`MAX_FILE_BYTES`]).
const MAX_LESSON_BYTES: u64 = MAX_FILE_BYTES;

/// Every file under a source folder, with the text of those the importer reads.
#[derive(Debug, Clone, Default)]
pub struct SourceTree {
    /// Paths relative to the source folder, `/`-separated.
    pub files: BTreeMap<String, TreeFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeFile {
    /// A markdown lesson, an ordering file or a licence: its bytes.
    Text(Vec<u8>),
    /// Any other file (images, PDFs, code): only copied if a lesson links to it.
    Other,
    /// A markdown file too large to read (its size).
    TooLarge(u64),
}

impl SourceTree {
    /// Builds a tree from `(path, contents)` pairs; `None` marks a file that is not read.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        let files = files
            .into_iter()
            .map(|(path, text)| {
                let entry = match text {
                    Some(text) => TreeFile::Text(text.as_bytes().to_vec()),
                    None => TreeFile::Other,
                };
                (path.to_string(), entry)
            })
            .collect();
        Self { files }
    }

    /// Reads every file under `root`, skipping folders and files whose name starts with `.`.
    pub fn read(root: &Path) -> io::Result<Self> {
        let mut tree = Self::default();
        read_into(root, "", &mut tree)?;
        Ok(tree)
    }

    /// The files under folder `prefix` (`"a/b"`), with paths relative to it.
    fn subtree(&self, prefix: &str) -> Self {
        let start = format!("{prefix}/");
        Self {
            files: self
                .files
                .iter()
                .filter_map(|(path, file)| Some((path.strip_prefix(&start)?.to_string(), file.clone())))
                .collect(),
        }
    }
}

fn read_into(dir: &Path, prefix: &str, tree: &mut SourceTree) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let relative = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            read_into(&entry.path(), &relative, tree)?;
        } else if kind.is_file() {
            let file = if is_markdown(&name) || is_order_file(&name) || is_license(&name) {
                let size = entry.metadata()?.len();
                if size > MAX_LESSON_BYTES {
                    TreeFile::TooLarge(size)
                } else {
                    TreeFile::Text(fs::read(entry.path())?)
                }
            } else {
                TreeFile::Other
            };
            tree.files.insert(relative, file);
        }
    }
    Ok(())
}

fn is_markdown(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".md") || lower.ends_with(".markdown")
}

fn is_order_file(name: &str) -> bool {
    ORDER_FILES.contains(&name)
}

fn is_license(name: &str) -> bool {
    LICENSE_FILES.contains(&name)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// `readme.md` and `index.md` introduce their folder.
fn is_intro_file(name: &str) -> bool {
    is_markdown(name) && INTRO_FILES.contains(&stem(name).to_ascii_lowercase().as_str())
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// Splits a numeric prefix off a name: `01-intro`, `1_intro`, `01.intro` and `01 intro`
/// give `(Some(1), "intro")`; a name that is only digits keeps them as its name.
pub fn split_prefix(name: &str) -> (Option<u64>, &str) {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return (None, name);
    }
    let rest = &name[digits..];
    let trimmed = rest.trim_start_matches(['-', '_', '.', ' ']);
    let number = name[..digits].parse().ok();
    if rest.is_empty() {
        return (number, name);
    }
    if trimmed.len() == rest.len() || trimmed.is_empty() {
        // `3d-graphics`: the digits are part of the name.
        return (None, name);
    }
    (number, trimmed)
}

/// "01-getting_started" becomes "Getting started".
pub fn humanize(name: &str) -> String {
    let (_, name) = split_prefix(name);
    let words = name.replace(['-', '_'], " ");
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => name.to_string(),
    }
}

/// One problem the importer reports: a source path (relative to SRC) and line (0: the whole file).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Warning {
    pub path: String,
    pub line: usize,
    pub message: String,
}

impl Warning {
    fn new(path: &str, line: usize, message: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            line,
            message: message.into(),
        }
    }

    /// As a diagnostic naming the file under `root`.
    pub fn diagnostic(&self, root: &Path) -> Diagnostic {
        let path = if self.path.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&self.path)
        };
        Diagnostic::new(path, self.line, self.message.clone())
    }
}

/// The children of folder `dir` in import order, with any problems of its ordering file.
/// Returns names (not paths). Listed names come first, in the listed order; the rest
/// follow, numbered ones by number, then the others alphabetically.
fn ordered_children(tree: &SourceTree, dir: &str, warnings: &mut Vec<Warning>) -> Vec<String> {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut names: BTreeSet<String> = BTreeSet::new();
    for path in tree.files.keys() {
        if let Some(rest) = path.strip_prefix(&prefix) {
            names.insert(rest.split('/').next().unwrap_or(rest).to_string());
        }
    }
    let mut listed: Vec<String> = Vec::new();
    for order_name in ORDER_FILES {
        let order_path = join(dir, order_name);
        let Some(TreeFile::Text(bytes)) = tree.files.get(&order_path) else {
            continue;
        };
        let text = String::from_utf8_lossy(bytes);
        for (index, line) in text.lines().enumerate() {
            let entry = line.trim().trim_start_matches("./").trim_end_matches('/');
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let found = [
                entry.to_string(),
                format!("{entry}.md"),
                format!("{entry}.markdown"),
            ]
            .into_iter()
            .find(|candidate| names.contains(candidate));
            match found {
                Some(name) if !listed.contains(&name) => listed.push(name),
                Some(_) => {}
                None => warnings.push(Warning::new(
                    &order_path,
                    index + 1,
                    format!("\"{entry}\" is listed but there is no such file or folder here; it is ignored"),
                )),
            }
        }
        break;
    }
    let mut rest: Vec<String> = names
        .into_iter()
        .filter(|name| !listed.contains(name) && !is_order_file(name))
        .collect();
    rest.sort_by(|a, b| {
        let (na, sa) = split_prefix(a);
        let (nb, sb) = split_prefix(b);
        // Numbered names first, by number; then the rest alphabetically.
        (na.is_none(), na, sa.to_lowercase(), a).cmp(&(nb.is_none(), nb, sb.to_lowercase(), b))
    });
    if !listed.is_empty() {
        let order_path = ORDER_FILES
            .iter()
            .map(|n| join(dir, n))
            .find(|p| tree.files.contains_key(p))
            .unwrap_or_default();
        for name in &rest {
            let is_folder = !tree.files.contains_key(&join(dir, name));
            if is_folder || (is_markdown(name) && !is_intro_file(name)) {
                warnings.push(Warning::new(
                    &order_path,
                    0,
                    format!("\"{name}\" is not listed; it is imported after the listed ones"),
                ));
            }
        }
    }
    listed.extend(rest);
    listed
}

/// The front matter of a lesson, whichever syntax it used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub id: Option<String>,
    pub summary: Option<String>,
    /// Keys the importer does not use, with their line in the file.
    pub ignored: Vec<(String, usize)>,
    /// Syntax problems, with their line.
    pub problems: Vec<(usize, String)>,
}

/// A file split at its YAML (`---`) or TOML (`+++`) front matter: the parsed keys, the
/// body, and the body's line offset (the number of lines before it).
pub fn split_any_front_matter(text: &str) -> (FrontMatter, &str, usize) {
    let first_end = text.find('\n').map_or(text.len(), |i| i + 1);
    let fence = text[..first_end].trim_end();
    if fence != "---" && fence != "+++" {
        return (FrontMatter::default(), text, 0);
    }
    let mut offset = first_end;
    while offset < text.len() {
        let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i + 1);
        let line = text[offset..end].trim_end();
        if line == fence || (fence == "---" && line == "...") {
            let front = &text[first_end..offset];
            let parsed = if fence == "+++" {
                toml_front(front)
            } else {
                yaml_front(front)
            };
            return (parsed, &text[end..], line_at(text, end) - 1);
        }
        offset = end;
    }
    // No closing line: not front matter (a leading `---` is a thematic break).
    (FrontMatter::default(), text, 0)
}

/// Lines in front matter start at line 2 of the file.
const FRONT_FIRST_LINE: usize = 2;

fn toml_front(front: &str) -> FrontMatter {
    let mut parsed = FrontMatter::default();
    let table: toml::Table = match toml::from_str(front) {
        Ok(table) => table,
        Err(error) => {
            let line = error.span().map_or(FRONT_FIRST_LINE, |span| {
                FRONT_FIRST_LINE + line_at(front, span.start) - 1
            });
            parsed.problems.push((
                line,
                format!(
                    "invalid TOML front matter ({}); its title and id are not used",
                    error.message().trim()
                ),
            ));
            return parsed;
        }
    };
    for (key, value) in table {
        let line = front
            .lines()
            .position(|l| l.trim_start().starts_with(key.as_str()))
            .map_or(FRONT_FIRST_LINE, |i| FRONT_FIRST_LINE + i);
        let text = match &value {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            _ => None,
        };
        take_key(&mut parsed, &key, text, line);
    }
    parsed
}

/// The subset of YAML front matter lessons use: top-level `key: value` lines, quoted or
/// plain scalars, and `>`/`|` blocks. Lists and maps are kept only as "ignored".
fn yaml_front(front: &str) -> FrontMatter {
    let mut parsed = FrontMatter::default();
    let lines: Vec<&str> = front.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let number = FRONT_FIRST_LINE + index;
        index += 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t', '-']) {
            continue; // Part of the previous key's list or map.
        }
        let Some((key, value)) = line.split_once(':') else {
            parsed.problems.push((
                number,
                "front matter line is not `key: value`; it is ignored".to_string(),
            ));
            continue;
        };
        let key = key.trim().trim_matches(['"', '\'']).to_string();
        let value = value.trim();
        let mut block = Vec::new();
        while index < lines.len() && (lines[index].starts_with([' ', '\t']) || lines[index].trim().is_empty())
        {
            block.push(lines[index].trim());
            index += 1;
        }
        let text = if value.starts_with('>') || value.starts_with('|') {
            Some(block.join(" ").trim().to_string())
        } else if value.is_empty() {
            None // A list or map below the key.
        } else {
            Some(yaml_scalar(value))
        };
        take_key(&mut parsed, &key, text, number);
    }
    parsed
}

fn yaml_scalar(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return inner.replace("\\\"", "\"").replace("\\\\", "\\");
    }
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    // A trailing comment is not part of a plain scalar.
    value.split(" #").next().unwrap_or(value).trim().to_string()
}

fn take_key(parsed: &mut FrontMatter, key: &str, text: Option<String>, line: usize) {
    let text = text.map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "));
    let slot = match key.to_ascii_lowercase().as_str() {
        "title" => &mut parsed.title,
        "id" | "uuid" => &mut parsed.id,
        "description" | "summary" => &mut parsed.summary,
        _ => {
            parsed.ignored.push((key.to_string(), line));
            return;
        }
    };
    match text {
        Some(text) if !text.is_empty() => {
            if slot.is_none() {
                *slot = Some(text);
            }
        }
        _ => parsed.problems.push((
            line,
            format!("front matter `{key}` is not a plain value; it is ignored"),
        )),
    }
}

/// What phase one learns of a markdown file: front matter, title and a hash of the body.
#[derive(Debug, Clone)]
struct Lesson {
    path: String,
    front: FrontMatter,
    /// The body after the front matter.
    body: String,
    /// Lines before the body in the file.
    body_line: usize,
    /// Byte range of the level-1 heading taken as the title, if any.
    title_heading: Option<Range<usize>>,
    title: String,
    hash: String,
}

fn read_lesson(path: &str, bytes: &[u8], warnings: &mut Vec<Warning>) -> Lesson {
    let mut text = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => text,
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let line = bytes[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
            warnings.push(Warning::new(
                path,
                line,
                "not valid UTF-8; invalid bytes were replaced with \u{fffd}",
            ));
            String::from_utf8_lossy(bytes).into_owned()
        }
    };
    if text.starts_with('\u{feff}') {
        text.remove(0);
    }
    let text = text.replace("\r\n", "\n");
    let (front, body, body_line) = split_any_front_matter(&text);
    for (line, problem) in &front.problems {
        warnings.push(Warning::new(path, *line, problem.clone()));
    }
    if let Some((_, line)) = front.ignored.first() {
        let keys: Vec<&str> = front.ignored.iter().map(|(k, _)| k.as_str()).collect();
        warnings.push(Warning::new(
            path,
            *line,
            format!(
                "front matter {} not imported: {} (Pathway uses only title and id)",
                if keys.len() == 1 { "key" } else { "keys" },
                keys.join(", ")
            ),
        ));
    }
    let body = body.to_string();
    let first_h1 = headings(&body).into_iter().find(|h| h.level == HeadingLevel::H1);
    let (title, title_heading) = match (&front.title, first_h1) {
        (Some(title), Some(h1)) if same_words(title, &h1.text) => (title.clone(), Some(h1.range)),
        (Some(title), _) => (title.clone(), None),
        (None, Some(h1)) if !h1.text.is_empty() => (h1.text, Some(h1.range)),
        (None, _) => (humanize(stem(file_name(path))), None),
    };
    let mut hasher = Sha256::new();
    for word in body.split_whitespace() {
        hasher.update(word.as_bytes());
        hasher.update(b" ");
    }
    Lesson {
        path: path.to_string(),
        front,
        hash: hex::encode(hasher.finalize()),
        body,
        body_line,
        title_heading,
        title,
    }
}

fn same_words(a: &str, b: &str) -> bool {
    let fold = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    fold(a) == fold(b)
}

struct Heading {
    range: Range<usize>,
    level: HeadingLevel,
    text: String,
}

/// Every heading of a markdown text; headings inside code blocks are code.
fn headings(text: &str) -> Vec<Heading> {
    let mut found = Vec::new();
    let mut current: Option<Heading> = None;
    for (event, range) in Parser::new_ext(text, markdown_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                current = Some(Heading {
                    range,
                    level,
                    text: String::new(),
                })
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(mut heading) = current.take() {
                    heading.text = heading.text.split_whitespace().collect::<Vec<_>>().join(" ");
                    found.push(heading);
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(heading) = current.as_mut() {
                    heading.text.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(heading) = current.as_mut() {
                    heading.text.push(' ');
                }
            }
            _ => {}
        }
    }
    found
}

/// Where a relative link in a lesson leads, once every id is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// Leave it alone: absolute URLs, `mailto:`, in-page `#anchors`.
    Keep,
    /// A new URL: another skill's or stage's page, or a copied asset.
    Rewrite(String),
    /// Another skill's page, without the `#section` the link named (headings get new anchors).
    RewriteWithoutFragment(String),
    /// A path on the old site (`/lessons/x`): kept, but it will point at this server.
    SiteAbsolute,
    /// A relative target that is not in the import: the link is removed, its text kept.
    Unmapped,
}

/// Rewrites one lesson (or introduction) body into a skill body. Returns the new text.
///
/// - the heading `title` (a byte range) is removed;
/// - setext headings become ATX, and every heading moves down so that none is above `###`;
/// - relative links and images go through `resolve` (the target without `#fragment`);
/// - raw HTML the sanitizer would drop is reported.
///
/// Code is never touched: a `#` line in a fenced block is not a heading.
fn convert_body(
    path: &str,
    body: &str,
    body_line: usize,
    title: Option<Range<usize>>,
    resolve: &mut dyn FnMut(&str) -> LinkTarget,
    warnings: &mut Vec<Warning>,
) -> String {
    let line = |offset: usize| body_line + line_at(body, offset);
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();

    let mut iter = Parser::new_ext(body, markdown_options()).into_offset_iter();
    let events: Vec<(Event<'_>, Range<usize>)> = iter.by_ref().collect();
    let definitions: HashMap<String, Range<usize>> = iter
        .reference_definitions()
        .iter()
        .map(|(label, def)| (label.to_lowercase(), def.span.clone()))
        .collect();

    // Headings: the shallowest one left becomes `###`.
    let kept: Vec<(HeadingLevel, Range<usize>)> = events
        .iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::Heading { level, .. }) if Some(range) != title.as_ref() => {
                Some((*level, range.clone()))
            }
            _ => None,
        })
        .collect();
    let shallowest = kept.iter().map(|(level, _)| *level as usize).min().unwrap_or(3);
    let shift = 3usize.saturating_sub(shallowest);
    if let Some(range) = &title {
        edits.push((range.clone(), String::new()));
    }
    for (level, range) in &kept {
        let new_level = (*level as usize + shift).min(6);
        edits.extend(heading_edits(body, range.clone(), new_level));
    }

    // Links, images and HTML.
    let mut index = 0;
    let mut edited_definitions: HashSet<usize> = HashSet::new();
    let mut html_block: Option<Range<usize>> = None;
    while index < events.len() {
        let (event, range) = &events[index];
        match event {
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                id,
                ..
            })
            | Event::Start(Tag::Image {
                link_type,
                dest_url,
                id,
                ..
            }) => {
                let is_image = matches!(event, Event::Start(Tag::Image { .. }));
                if matches!(link_type, LinkType::Autolink | LinkType::Email) {
                    index += 1;
                    continue;
                }
                let end = matching_end(&events, index);
                let mut target = resolve(dest_url);
                let what = if is_image { "image" } else { "link" };
                if let LinkTarget::RewriteWithoutFragment(url) = target {
                    warnings.push(Warning::new(
                        path,
                        line(range.start),
                        format!(
                            "link to \"{dest_url}\" now leads to the top of that skill: its #section cannot \
                             be kept"
                        ),
                    ));
                    target = LinkTarget::Rewrite(url);
                }
                match target {
                    LinkTarget::Keep | LinkTarget::RewriteWithoutFragment(_) => {}
                    LinkTarget::SiteAbsolute => warnings.push(Warning::new(
                        path,
                        line(range.start),
                        format!(
                            "{what} to \"{dest_url}\" points at the old site; it is kept as is, so it will \
                             point at this server: replace it with a full URL upstream"
                        ),
                    )),
                    LinkTarget::Rewrite(url) => {
                        let reference = matches!(
                            link_type,
                            LinkType::Reference | LinkType::Collapsed | LinkType::Shortcut
                        );
                        let span = if reference {
                            definitions.get(&id.to_lowercase()).and_then(|def| {
                                edited_definitions
                                    .insert(def.start)
                                    .then(|| url_span(body, def.clone(), "]:"))
                                    .flatten()
                            })
                        } else {
                            let inner_end =
                                inner_end(&events, index, end, range.start + if is_image { 2 } else { 1 });
                            url_span(body, inner_end..range.end, "](")
                        };
                        if let Some(span) = span {
                            edits.push((span, url));
                        }
                    }
                    LinkTarget::Unmapped => {
                        warnings.push(Warning::new(
                            path,
                            line(range.start),
                            format!(
                                "{what} to \"{dest_url}\" leads to nothing the import brings along; the \
                                 {what} was removed and its text kept"
                            ),
                        ));
                        let opener = if is_image { 2 } else { 1 };
                        let inner_end = inner_end(&events, index, end, range.start + opener);
                        edits.push((range.start..range.start + opener, String::new()));
                        edits.push((inner_end..range.end, String::new()));
                    }
                }
                // Links inside an image's alt text are text.
                index = if is_image { end } else { index + 1 };
                continue;
            }
            Event::Start(Tag::HtmlBlock) => html_block = Some(range.clone()),
            Event::End(TagEnd::HtmlBlock) => {
                if let Some(block) = html_block.take() {
                    if let Some(closing) = unclosed_html(&body[block.clone()])
                        && block.end >= body.trim_end().len()
                    {
                        warnings.push(Warning::new(
                            path,
                            line(block.start),
                            format!(
                                "HTML block is never closed; {closing} was added at the end of the lesson"
                            ),
                        ));
                        edits.push((body.len()..body.len(), format!("\n{closing}\n")));
                    }
                    check_html(path, body, block, body_line, resolve, &mut edits, warnings);
                }
            }
            Event::InlineHtml(_) | Event::Html(_) if html_block.is_none() => {
                check_html(
                    path,
                    body,
                    range.clone(),
                    body_line,
                    resolve,
                    &mut edits,
                    warnings,
                );
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => {
                let end = matching_end(&events, index);
                if let Some(fence) = unclosed_fence(body, range.clone()) {
                    warnings.push(Warning::new(
                        path,
                        line(range.start),
                        "code block is never closed; it was closed at the end of the lesson",
                    ));
                    edits.push((body.len()..body.len(), format!("\n{fence}\n")));
                }
                index = end + 1;
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    apply_edits(body, edits)
}

/// The index of the event that ends the one started at `start`.
fn matching_end(events: &[(Event<'_>, Range<usize>)], start: usize) -> usize {
    let mut depth = 0usize;
    for (index, (event, _)) in events.iter().enumerate().skip(start) {
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                depth -= 1;
                if depth == 0 {
                    return index;
                }
            }
            _ => {}
        }
    }
    events.len().saturating_sub(1)
}

/// Where a link's text ends in the source: after its last inner event, or right after the opener.
fn inner_end(events: &[(Event<'_>, Range<usize>)], start: usize, end: usize, after_opener: usize) -> usize {
    events[start + 1..end]
        .iter()
        .map(|(_, range)| range.end)
        .max()
        .unwrap_or(after_opener)
}

/// The byte range of the URL after `marker` (`](` or `]:`) in `range`.
fn url_span(text: &str, range: Range<usize>, marker: &str) -> Option<Range<usize>> {
    let slice = &text[range.clone()];
    let at = slice.find(marker)? + marker.len();
    let rest = &slice[at..];
    let skipped = rest.len() - rest.trim_start().len();
    let start = range.start + at + skipped;
    let rest = &text[start..range.end];
    if let Some(inner) = rest.strip_prefix('<') {
        let len = inner.find('>')?;
        return Some(start..start + len + 2);
    }
    let mut depth = 0i32;
    let mut len = rest.len();
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                len = i;
                break;
            }
            ')' => depth -= 1,
            c if c.is_whitespace() => {
                len = i;
                break;
            }
            _ => {}
        }
    }
    (len > 0).then_some(start..start + len)
}

/// Edits turning the heading at `range` into an ATX heading of `new_level`.
fn heading_edits(body: &str, range: Range<usize>, new_level: usize) -> Vec<(Range<usize>, String)> {
    let text = &body[range.clone()];
    let indent = text.len() - text.trim_start_matches(' ').len();
    let hashes = text[indent..].bytes().take_while(|&b| b == b'#').count();
    let marker = "#".repeat(new_level);
    if hashes > 0 {
        if hashes == new_level {
            return Vec::new();
        }
        let start = range.start + indent;
        return vec![(start..start + hashes, marker)];
    }
    // Setext: the text lines, then an underline of `=` or `-`. Drop the underline and
    // join the text lines, leaving any links inside for their own edits.
    let content = text.trim_end_matches(['\n', '\r']);
    let Some(underline) = content.rfind('\n') else {
        return Vec::new();
    };
    let mut edits = vec![(range.start + indent..range.start + indent, format!("{marker} "))];
    for (i, _) in content[..underline].match_indices('\n') {
        edits.push((range.start + i..range.start + i + 1, " ".to_string()));
    }
    edits.push((
        range.start + underline..range.start + content.len(),
        String::new(),
    ));
    edits
}

/// The fence that would close the code block at `range`, if its source never closes it.
fn unclosed_fence(body: &str, range: Range<usize>) -> Option<String> {
    let text = &body[range.clone()];
    let opening = text.lines().next()?.trim_start();
    let fence_char = opening.chars().next()?;
    let fence_len = opening.chars().take_while(|&c| c == fence_char).count();
    let lines: Vec<&str> = text.trim_end_matches('\n').lines().collect();
    let closed = lines.len() > 1 && {
        let last = lines[lines.len() - 1].trim();
        last.len() >= fence_len && last.chars().all(|c| c == fence_char)
    };
    (!closed && range.end >= body.trim_end().len()).then(|| fence_char.to_string().repeat(fence_len))
}

/// What closes an HTML block that runs to the end of its text (a comment, `<pre>`,
/// `<script>`, `<style>`, `<textarea>`), if it is never closed: such a block would
/// otherwise swallow the skills after it.
fn unclosed_html(block: &str) -> Option<String> {
    let lower = block.trim_start().to_ascii_lowercase();
    if lower.starts_with("<!--") {
        return (!lower.contains("-->")).then(|| "-->".to_string());
    }
    ["pre", "script", "style", "textarea"]
        .into_iter()
        .find_map(|tag| {
            let opens = lower
                .strip_prefix('<')
                .and_then(|rest| rest.strip_prefix(tag))
                .is_some_and(|rest| rest.starts_with(['>', ' ', '\t', '\n']) || rest.is_empty());
            (opens && !lower.contains(&format!("</{tag}>"))).then(|| format!("</{tag}>"))
        })
}

/// Applies non-overlapping edits (sorted here); an edit overlapping an earlier one is skipped.
fn apply_edits(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(range, _)| (range.start, range.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for (range, replacement) in edits {
        if range.start < at {
            continue;
        }
        out.push_str(&text[at..range.start]);
        out.push_str(&replacement);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// One opening tag found in raw HTML: its name, attributes, and where it sits.
struct HtmlTag {
    name: String,
    /// Attribute name, value and the value's byte range (in the scanned text).
    attrs: Vec<(String, String, Range<usize>)>,
    start: usize,
}

/// The opening tags of an HTML fragment (comments and closing tags skipped).
fn html_tags(html: &str) -> Vec<HtmlTag> {
    let bytes = html.as_bytes();
    let mut tags = Vec::new();
    let mut i = 0;
    while let Some(found) = html[i..].find('<') {
        let start = i + found;
        i = start + 1;
        if html[start..].starts_with("<!--") {
            i = html[start..]
                .find("-->")
                .map_or(html.len(), |end| start + end + 3);
            continue;
        }
        let name_len = html[i..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
            .count();
        if name_len == 0 || !bytes[i].is_ascii_alphabetic() {
            continue;
        }
        let name = html[i..i + name_len].to_ascii_lowercase();
        i += name_len;
        let mut attrs = Vec::new();
        loop {
            while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
                i += 1;
            }
            if i >= bytes.len() || bytes[i] == b'>' {
                break;
            }
            let name_start = i;
            while i < bytes.len()
                && !bytes[i].is_ascii_whitespace()
                && !matches!(bytes[i], b'=' | b'>' | b'/')
            {
                i += 1;
            }
            let attr = html[name_start..i].to_ascii_lowercase();
            if i == name_start {
                i += 1;
                continue;
            }
            let mut value = (String::new(), i..i);
            if i < bytes.len() && bytes[i] == b'=' {
                i += 1;
                if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                    let quote = bytes[i];
                    let value_start = i + 1;
                    let value_end = html[value_start..]
                        .bytes()
                        .position(|b| b == quote)
                        .map_or(html.len(), |p| value_start + p);
                    value = (html[value_start..value_end].to_string(), value_start..value_end);
                    i = (value_end + 1).min(html.len());
                } else {
                    let value_start = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = (html[value_start..i].to_string(), value_start..i);
                }
            }
            attrs.push((attr, value.0, value.1));
        }
        tags.push(HtmlTag { name, attrs, start });
    }
    tags
}

/// Tag names, each with its attribute names.
type KeptTags = Vec<(String, Vec<String>)>;

/// The tags and attribute names the sanitizer keeps of `html`. Lessons repeat the same
/// fragments (`<span class="x">`, `</div>`) thousands of times: each is rendered once.
fn sanitized_tags(html: &str) -> KeptTags {
    thread_local! {
        static KEPT: std::cell::RefCell<HashMap<String, KeptTags>> = std::cell::RefCell::new(HashMap::new());
    }
    KEPT.with(|kept| {
        kept.borrow_mut()
            .entry(html.to_string())
            .or_insert_with(|| {
                html_tags(&skill_body_to_html(html))
                    .into_iter()
                    .map(|tag| (tag.name, tag.attrs.into_iter().map(|(name, ..)| name).collect()))
                    .collect()
            })
            .clone()
    })
}

/// Reports what the sanitizer would drop from raw HTML at `range`, and maps its relative
/// `src`/`href` values like markdown links.
fn check_html(
    path: &str,
    body: &str,
    range: Range<usize>,
    body_line: usize,
    resolve: &mut dyn FnMut(&str) -> LinkTarget,
    edits: &mut Vec<(Range<usize>, String)>,
    warnings: &mut Vec<Warning>,
) {
    let html = &body[range.clone()];
    let input = html_tags(html);
    if input.is_empty() {
        return;
    }
    let output = sanitized_tags(html);
    for tag in &input {
        let line = body_line + line_at(body, range.start + tag.start);
        let kept: Vec<&Vec<String>> = output
            .iter()
            .filter(|(name, _)| *name == tag.name)
            .map(|(_, attrs)| attrs)
            .collect();
        if kept.is_empty() {
            warnings.push(Warning::new(
                path,
                line,
                format!(
                    "HTML <{}> is not allowed and will be dropped when the page is rendered",
                    tag.name
                ),
            ));
            continue;
        }
        let dropped: Vec<&str> = tag
            .attrs
            .iter()
            .map(|(name, _, _)| name.as_str())
            .filter(|name| !kept.iter().any(|attrs| attrs.iter().any(|n| n == name)))
            .collect();
        if !dropped.is_empty() {
            warnings.push(Warning::new(
                path,
                line,
                format!(
                    "HTML attribute{} {} of <{}> will be dropped when the page is rendered",
                    if dropped.len() == 1 { "" } else { "s" },
                    dropped.join(", "),
                    tag.name
                ),
            ));
        }
        for (name, value, value_range) in &tag.attrs {
            if name != "src" && name != "href" {
                continue;
            }
            match resolve(value) {
                LinkTarget::Keep => {}
                LinkTarget::Rewrite(url) | LinkTarget::RewriteWithoutFragment(url) => {
                    let start = range.start + value_range.start;
                    edits.push((start..range.start + value_range.end, url));
                }
                LinkTarget::SiteAbsolute | LinkTarget::Unmapped => warnings.push(Warning::new(
                    path,
                    line,
                    format!(
                        "HTML {name}=\"{value}\" leads to nothing the import brings along; fix it upstream"
                    ),
                )),
            }
        }
    }
}

/// `DEST/.import-map.toml`: where each stage and skill came from, so a re-import keeps ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportMap {
    /// The source folder, as an absolute path: a DEST is only re-imported from its own source.
    pub source: String,
    #[serde(default, rename = "stage")]
    pub stages: Vec<MapStage>,
    #[serde(default, rename = "skill")]
    pub skills: Vec<MapSkill>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapStage {
    /// The folder, relative to the source (`""`: lessons at the top of the source).
    pub source: String,
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapSkill {
    /// The lesson file, relative to the source.
    pub source: String,
    pub id: String,
    pub title: String,
    /// The stage id it was written into.
    pub stage: String,
    /// Hash of the lesson's text with whitespace folded: a renamed file is recognised by it.
    pub hash: String,
    /// Earlier ids of this lesson (its front-matter id changed): written as `replaces=`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
    /// The file is gone upstream; its id stays reserved so no new lesson takes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

/// What converting one roadmap gives.
#[derive(Debug, Clone, Default)]
pub struct Conversion {
    pub roadmap_id: String,
    /// `roadmap.md` and the stage files, relative to the roadmap folder.
    pub files: Vec<(String, String)>,
    /// Files to copy: (source path, destination path relative to the roadmap folder).
    pub copies: Vec<(String, String)>,
    pub map: ImportMap,
    pub warnings: Vec<Warning>,
    /// Skills whose files vanished upstream since the last import.
    pub gone: Vec<MapSkill>,
    pub stages: usize,
    pub skills: usize,
}

/// What one roadmap's conversion needs besides its files.
pub struct Options<'a> {
    pub roadmap_id: &'a str,
    /// The title used when the source has none (a top-level README heading wins).
    pub fallback_title: String,
    /// `order` for `roadmap.md`, when importing several roadmaps.
    pub order: Option<u64>,
    /// The source folder, recorded in the map.
    pub source: String,
    /// A link to the upstream project for the credit line, when known.
    pub upstream_url: Option<String>,
    pub previous: Option<&'a ImportMap>,
    /// Skill ids defined elsewhere in the content directory (or earlier in this import).
    pub taken: &'a HashSet<String>,
}

/// A stage being assembled: its folder, introduction file and lessons in order.
struct StagePlan {
    folder: String,
    /// 1, or the part number of a folder too long for one stage file.
    part: usize,
    title: String,
    intro: Option<Lesson>,
    lessons: Vec<Lesson>,
}

impl StagePlan {
    /// The stage's key in the map: its folder, with `#N` for part N of a split folder.
    fn source_key(&self) -> String {
        if self.part == 1 {
            self.folder.clone()
        } else {
            format!("{}#{}", self.folder, self.part)
        }
    }
}

/// Converts one roadmap's source tree. Pure: the tree and the previous map in, the files to
/// write, the new map and the warnings out; [`run`] reads and writes the disk around it.
pub fn convert(tree: &SourceTree, options: &Options<'_>) -> Conversion {
    let mut warnings = Vec::new();
    let mut copies: Vec<(String, String)> = Vec::new();
    let mut roadmap_intro: Option<Lesson> = None;
    let mut stages: Vec<StagePlan> = Vec::new();
    let mut root_lessons: Vec<Lesson> = Vec::new();
    let mut used_files: HashSet<String> = HashSet::new();

    for name in ordered_children(tree, "", &mut warnings) {
        match tree.files.get(&name) {
            Some(TreeFile::Text(bytes)) if is_intro_file(&name) => {
                roadmap_intro = Some(read_lesson(&name, bytes, &mut warnings));
                used_files.insert(name);
            }
            Some(TreeFile::Text(bytes)) if is_markdown(&name) => {
                root_lessons.push(read_lesson(&name, bytes, &mut warnings));
                used_files.insert(name);
            }
            Some(_) => {}
            None => {
                let mut stage = StagePlan {
                    folder: name.clone(),
                    part: 1,
                    title: humanize(&name),
                    intro: None,
                    lessons: Vec::new(),
                };
                collect_lessons(tree, &name, &mut stage, &mut used_files, &mut warnings);
                stages.push(stage);
            }
        }
    }
    if !root_lessons.is_empty() {
        stages.insert(
            0,
            StagePlan {
                folder: String::new(),
                part: 1,
                title: "Introduction".to_string(),
                intro: None,
                lessons: root_lessons,
            },
        );
    }
    for stage in &mut stages {
        if let Some(intro) = &stage.intro
            && (intro.front.title.is_some() || intro.title_heading.is_some())
        {
            stage.title = intro.title.clone();
        }
    }
    stages.retain(|stage| {
        if stage.lessons.is_empty() {
            warnings.push(Warning::new(
                &stage.folder,
                0,
                "folder has no lessons (markdown files); no stage was made of it",
            ));
        }
        !stage.lessons.is_empty()
    });
    let stages = split_large_stages(stages, &mut warnings);

    let previous = options.previous.cloned().unwrap_or_default();
    let skill_ids = assign_skill_ids(&stages, &previous, options.taken, &mut warnings);
    let stage_ids = assign_stage_ids(&stages, &skill_ids, &previous);

    // Where each lesson and stage folder is published, for links between them.
    let mut pages: HashMap<String, String> = HashMap::new();
    let roadmap_url = format!("/roadmaps/{}", options.roadmap_id);
    pages.insert(String::new(), roadmap_url.clone());
    if let Some(intro) = &roadmap_intro {
        pages.insert(intro.path.clone(), roadmap_url);
    }
    for (stage, stage_id) in stages.iter().zip(&stage_ids) {
        let stage_url = format!("/roadmaps/{}/{stage_id}", options.roadmap_id);
        for lesson in &stage.lessons {
            pages.insert(
                lesson.path.clone(),
                format!("{stage_url}/{}", skill_ids[&lesson.path].id),
            );
        }
        if let Some(intro) = &stage.intro {
            pages.insert(intro.path.clone(), stage_url.clone());
        }
        if !stage.folder.is_empty() && stage.part == 1 {
            pages.insert(stage.folder.clone(), stage_url);
        }
    }

    let mut files = Vec::new();
    let mut map = ImportMap {
        source: options.source.clone(),
        ..ImportMap::default()
    };
    let width = if stages.len() >= 100 { 3 } else { 2 };
    let mut skill_count = 0;
    for (number, (stage, stage_id)) in stages.iter().zip(&stage_ids).enumerate() {
        let mut resolve_in =
            |from: &str, url: &str| resolve_link(tree, from, url, &pages, &mut copies, &mut used_files);
        let mut text = format!(
            "+++\nid = {}\ntitle = {}\n+++\n",
            toml_string(stage_id),
            toml_string(&stage.title)
        );
        if let Some(intro) = &stage.intro {
            let from = intro.path.clone();
            let body = convert_body(
                &intro.path,
                &intro.body,
                intro.body_line,
                intro.title_heading.clone(),
                &mut |url| resolve_in(&from, url),
                &mut warnings,
            );
            let body = body.trim();
            if !body.is_empty() {
                text.push_str(body);
                text.push('\n');
            }
        }
        let mut expected = Vec::new();
        for lesson in &stage.lessons {
            let assigned = &skill_ids[&lesson.path];
            let from = lesson.path.clone();
            let body = convert_body(
                &lesson.path,
                &lesson.body,
                lesson.body_line,
                lesson.title_heading.clone(),
                &mut |url| resolve_in(&from, url),
                &mut warnings,
            );
            let mut attributes = format!("#{}", assigned.id);
            if !assigned.replaces.is_empty() {
                attributes.push_str(&format!(" replaces={}", assigned.replaces.join(",")));
            }
            text.push_str(&format!(
                "\n## {} {{{attributes}}}\n",
                heading_title(&lesson.title)
            ));
            let body = body.trim();
            if !body.is_empty() {
                text.push('\n');
                text.push_str(body);
                text.push('\n');
            }
            expected.push(assigned.id.clone());
            map.skills.push(MapSkill {
                source: lesson.path.clone(),
                id: assigned.id.clone(),
                title: lesson.title.clone(),
                stage: stage_id.clone(),
                hash: lesson.hash.clone(),
                replaces: assigned.replaces.clone(),
                gone: false,
            });
        }
        let found: Vec<String> = split_front_matter(&text)
            .map(|s| {
                scan_headings(s.body)
                    .into_iter()
                    .filter(|h| h.level == HeadingLevel::H2)
                    .filter_map(|h| h.id)
                    .collect()
            })
            .unwrap_or_default();
        if found != expected {
            let lost: Vec<&String> = expected.iter().filter(|id| !found.contains(id)).collect();
            warnings.push(Warning::new(
                &stage.folder,
                0,
                format!(
                    "the lessons before {} swallow what follows (an unclosed HTML block or comment?); \
                     fix the lesson upstream",
                    lost.iter()
                        .map(|id| format!("\"{id}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if text.len() as u64 > MAX_FILE_BYTES {
            warnings.push(Warning::new(
                &stage.folder,
                0,
                format!(
                    "this stage comes to {} KiB, over the {} KiB a stage file may have; split the folder upstream \
                     or list its lessons in two folders",
                    text.len() / 1024,
                    MAX_FILE_BYTES / 1024
                ),
            ));
        }
        skill_count += stage.lessons.len();
        let slug = stage_id.clone();
        files.push((format!("{:0width$}-{slug}.md", number + 1), text));
        map.stages.push(MapStage {
            source: stage.source_key(),
            id: stage_id.clone(),
            title: stage.title.clone(),
        });
    }

    // Skills of the previous import whose files vanished: reserved, and reported once.
    let mut gone = Vec::new();
    let live: HashSet<&str> = map.skills.iter().map(|s| s.id.as_str()).collect();
    let live_paths: HashSet<&str> = map.skills.iter().map(|s| s.source.as_str()).collect();
    let mut kept_gone = Vec::new();
    for old in &previous.skills {
        if live_paths.contains(old.source.as_str()) || live.contains(old.id.as_str()) {
            continue;
        }
        if !old.gone {
            gone.push(old.clone());
        }
        kept_gone.push(MapSkill {
            gone: true,
            ..old.clone()
        });
    }
    map.skills.extend(kept_gone);

    let roadmap_title = roadmap_intro
        .as_ref()
        .filter(|intro| intro.front.title.is_some() || intro.title_heading.is_some())
        .map_or(options.fallback_title.clone(), |intro| intro.title.clone());
    let summary = roadmap_intro
        .as_ref()
        .and_then(|intro| intro.front.summary.clone())
        .unwrap_or_else(|| format!("Lessons from {roadmap_title}, imported with their licence."));
    let credit = match &options.upstream_url {
        Some(url) => format!("Adapted from [{roadmap_title}]({url})."),
        None => format!("Adapted from {roadmap_title}."),
    };
    let mut roadmap = format!(
        "+++\ntitle = {}\nsummary = {}\n",
        toml_string(&roadmap_title),
        toml_string(&summary)
    );
    if let Some(order) = options.order {
        roadmap.push_str(&format!("order = {order}\n"));
    }
    roadmap.push_str(&format!(
        "+++\n{credit} Its licence and attribution are kept in this folder: respect them when you \
         publish or change these lessons.\n"
    ));
    files.insert(0, ("roadmap.md".to_string(), roadmap));

    for license in LICENSE_FILES {
        if tree.files.contains_key(*license) {
            copies.push((license.to_string(), license.to_string()));
            used_files.insert(license.to_string());
        }
    }
    for (path, file) in &tree.files {
        if used_files.contains(path) || is_order_file(file_name(path)) {
            continue;
        }
        let message = match file {
            TreeFile::TooLarge(size) => format!(
                "lesson is too large ({} KiB; the limit is {} KiB) and was skipped; split it upstream",
                size / 1024,
                MAX_LESSON_BYTES / 1024
            ),
            TreeFile::Text(_) if is_markdown(path) => "markdown file was not imported".to_string(),
            _ => "not a markdown lesson and no lesson links to it; skipped".to_string(),
        };
        warnings.push(Warning::new(path, 0, message));
    }
    copies.sort();
    copies.dedup();
    let warnings = group_repeats(warnings);
    Conversion {
        roadmap_id: options.roadmap_id.to_string(),
        stages: stages.len(),
        skills: skill_count,
        files,
        copies,
        map,
        warnings,
        gone,
    }
}

/// What a stage file may hold of its lessons' text, leaving room for headings and changes.
const STAGE_BUDGET: usize = MAX_FILE_BYTES as usize * 9 / 10;

/// Splits a stage whose lessons would not fit one stage file into parts of consecutive
/// lessons: "Title (part 2)" and so on, each a stage of its own.
fn split_large_stages(stages: Vec<StagePlan>, warnings: &mut Vec<Warning>) -> Vec<StagePlan> {
    let size = |lesson: &Lesson| lesson.body.len() + lesson.title.len() + 80;
    let mut out = Vec::with_capacity(stages.len());
    for stage in stages {
        let intro = stage.intro.as_ref().map_or(0, |i| i.body.len());
        if intro + stage.lessons.iter().map(size).sum::<usize>() <= STAGE_BUDGET {
            out.push(stage);
            continue;
        }
        let mut parts: Vec<Vec<Lesson>> = vec![Vec::new()];
        let mut used = intro;
        for lesson in stage.lessons {
            if parts.last().is_some_and(|part| !part.is_empty()) && used + size(&lesson) > STAGE_BUDGET {
                parts.push(Vec::new());
                used = 0;
            }
            used += size(&lesson);
            parts.last_mut().expect("one part at least").push(lesson);
        }
        warnings.push(Warning::new(
            &stage.folder,
            0,
            format!(
                "too long for one stage file ({} KiB at most); split into {} stages of consecutive lessons",
                MAX_FILE_BYTES / 1024,
                parts.len()
            ),
        ));
        let StagePlan {
            folder,
            title,
            mut intro,
            ..
        } = stage;
        for (index, lessons) in parts.into_iter().enumerate() {
            let part = index + 1;
            out.push(StagePlan {
                folder: folder.clone(),
                part,
                title: if part == 1 {
                    title.clone()
                } else {
                    format!("{title} (part {part})")
                },
                intro: intro.take(),
                lessons,
            });
        }
    }
    out
}

/// One warning per file and message, at its first line, saying how often it recurs:
/// a lesson full of `class=` attributes gives one line, not forty.
fn group_repeats(mut warnings: Vec<Warning>) -> Vec<Warning> {
    warnings.sort();
    let mut grouped: Vec<(Warning, usize)> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for warning in warnings {
        match index.get(&(warning.path.clone(), warning.message.clone())) {
            Some(&at) => {
                if grouped[at].0.line != warning.line {
                    grouped[at].1 += 1;
                }
            }
            None => {
                index.insert((warning.path.clone(), warning.message.clone()), grouped.len());
                grouped.push((warning, 0));
            }
        }
    }
    grouped
        .into_iter()
        .map(|(mut warning, more)| {
            if more > 0 {
                warning.message.push_str(&format!(
                    " (and on {more} more line{} of this file)",
                    if more == 1 { "" } else { "s" }
                ));
            }
            warning
        })
        .collect()
}

/// Adds the lessons under folder `dir` (deeper folders flattened, in order) to `stage`.
fn collect_lessons(
    tree: &SourceTree,
    dir: &str,
    stage: &mut StagePlan,
    used: &mut HashSet<String>,
    warnings: &mut Vec<Warning>,
) {
    for name in ordered_children(tree, dir, warnings) {
        let path = join(dir, &name);
        match tree.files.get(&path) {
            Some(TreeFile::Text(bytes)) if is_intro_file(&name) && dir == stage.folder => {
                stage.intro = Some(read_lesson(&path, bytes, warnings));
                used.insert(path);
            }
            Some(TreeFile::Text(bytes)) if is_markdown(&name) => {
                stage.lessons.push(read_lesson(&path, bytes, warnings));
                used.insert(path);
            }
            Some(_) => {}
            None => collect_lessons(tree, &path, stage, used, warnings),
        }
    }
}

/// A skill's id, and the earlier ids it takes over.
#[derive(Debug, Clone)]
struct Assigned {
    id: String,
    replaces: Vec<String>,
}

/// Skill ids, by lesson path. In order of precedence: the front matter's `id`/`uuid`; the
/// map's id for the same path; the id of a vanished lesson with the same text (or title),
/// i.e. a renamed file; a slug of the file name. Unique across `taken` and the import.
fn assign_skill_ids(
    stages: &[StagePlan],
    previous: &ImportMap,
    taken: &HashSet<String>,
    warnings: &mut Vec<Warning>,
) -> HashMap<String, Assigned> {
    let lessons: Vec<&Lesson> = stages.iter().flat_map(|s| &s.lessons).collect();
    let by_path: HashMap<&str, &MapSkill> = previous.skills.iter().map(|s| (s.source.as_str(), s)).collect();
    let mut used: HashSet<String> = taken.clone();
    // Ids of vanished lessons stay reserved unless a renamed lesson takes one over.
    let present: HashSet<&str> = lessons.iter().map(|l| l.path.as_str()).collect();
    let vanished: Vec<&MapSkill> = previous
        .skills
        .iter()
        .filter(|s| !present.contains(s.source.as_str()))
        .collect();
    let mut assigned: HashMap<String, Assigned> = HashMap::new();

    // 1. Front-matter ids.
    for lesson in &lessons {
        let Some(raw) = &lesson.front.id else { continue };
        let id = if is_valid_id(raw) {
            raw.clone()
        } else {
            let id = slugify(raw);
            warnings.push(Warning::new(
                &lesson.path,
                0,
                format!("front matter id \"{raw}\" is not a valid Pathway id; using \"{id}\""),
            ));
            id
        };
        if used.contains(&id) && !vanished.iter().any(|v| v.id == id) {
            warnings.push(Warning::new(
                &lesson.path,
                0,
                format!("front matter id \"{id}\" is already used by another skill; a new id is derived"),
            ));
            continue;
        }
        used.insert(id.clone());
        assigned.insert(
            lesson.path.clone(),
            Assigned {
                id,
                replaces: Vec::new(),
            },
        );
    }
    // 2. The map, by path (replaces= when the front-matter id changed).
    for lesson in &lessons {
        let Some(old) = by_path.get(lesson.path.as_str()) else {
            continue;
        };
        if let Some(current) = assigned.get_mut(&lesson.path) {
            if current.id != old.id {
                current.replaces = old.replaces.clone();
                current.replaces.push(old.id.clone());
            } else {
                current.replaces = old.replaces.clone();
            }
            continue;
        }
        if !used.insert(old.id.clone()) {
            warnings.push(Warning::new(
                &lesson.path,
                0,
                format!(
                    "the id \"{}\" this lesson had is now used by another skill; it gets a new id, and \
                     learners' progress stays with the old one",
                    old.id
                ),
            ));
        } else {
            assigned.insert(
                lesson.path.clone(),
                Assigned {
                    id: old.id.clone(),
                    replaces: old.replaces.clone(),
                },
            );
        }
    }
    // 3. Renamed files: a vanished lesson with the same text, else the same title. `used`
    // holds the ids taken elsewhere and those assigned so far, and none of the vanished.
    let fold = |title: &str| {
        title
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let mut by_hash: HashMap<&str, Vec<&MapSkill>> = HashMap::new();
    let mut by_title: HashMap<String, Vec<&MapSkill>> = HashMap::new();
    for old in &vanished {
        by_hash.entry(old.hash.as_str()).or_default().push(old);
        by_title.entry(fold(&old.title)).or_default().push(old);
    }
    let mut claimed: HashSet<&str> = HashSet::new();
    for pass in [true, false] {
        for lesson in &lessons {
            if assigned.contains_key(&lesson.path) {
                continue;
            }
            let candidates = if pass {
                by_hash.get(lesson.hash.as_str())
            } else {
                by_title.get(&fold(&lesson.title))
            };
            let matches: Vec<&MapSkill> = candidates
                .into_iter()
                .flatten()
                .copied()
                .filter(|v| !claimed.contains(v.source.as_str()) && !used.contains(&v.id))
                .collect();
            if let [old] = matches[..] {
                claimed.insert(old.source.as_str());
                used.insert(old.id.clone());
                assigned.insert(
                    lesson.path.clone(),
                    Assigned {
                        id: old.id.clone(),
                        replaces: old.replaces.clone(),
                    },
                );
            }
        }
    }
    // Unclaimed vanished ids stay reserved.
    for old in &vanished {
        used.insert(old.id.clone());
    }
    // 4. New lessons: a slug of the file name, then stage-qualified, then numbered.
    for (stage, lesson) in stages.iter().flat_map(|s| s.lessons.iter().map(move |l| (s, l))) {
        if assigned.contains_key(&lesson.path) {
            continue;
        }
        let base = slugify(split_prefix(stem(file_name(&lesson.path))).1);
        let qualified = if stage.folder.is_empty() {
            base.clone()
        } else {
            slugify(&format!("{} {base}", split_prefix(file_name(&stage.folder)).1))
        };
        let id = unique_id(&[base, qualified], &mut used);
        assigned.insert(
            lesson.path.clone(),
            Assigned {
                id,
                replaces: Vec::new(),
            },
        );
    }
    // A replaced id must not be defined anywhere else.
    let defined: HashSet<String> = assigned.values().map(|a| a.id.clone()).collect();
    for a in assigned.values_mut() {
        a.replaces
            .retain(|old| !defined.contains(old) && !taken.contains(old));
        a.replaces.dedup();
    }
    assigned
}

/// The first free candidate, or the last one numbered `-2`, `-3`…; records the choice.
fn unique_id(candidates: &[String], used: &mut HashSet<String>) -> String {
    for candidate in candidates {
        if is_valid_id(candidate) && !used.contains(candidate) {
            used.insert(candidate.clone());
            return candidate.clone();
        }
    }
    let base = candidates.last().cloned().unwrap_or_else(|| "item".to_string());
    let mut n = 2;
    loop {
        let suffix = format!("-{n}");
        let mut stem = base.clone();
        stem.truncate(MAX_ID_LEN - suffix.len());
        let candidate = format!("{}{suffix}", stem.trim_end_matches('-'));
        if is_valid_id(&candidate) && used.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// Stage ids: the introduction's front-matter id; the map's id for the folder; the id of a
/// vanished stage most of whose skills are here (a renamed folder); a slug of the folder name.
fn assign_stage_ids(
    stages: &[StagePlan],
    skill_ids: &HashMap<String, Assigned>,
    previous: &ImportMap,
) -> Vec<String> {
    let folders: HashSet<String> = stages.iter().map(StagePlan::source_key).collect();
    let mut used: HashSet<String> = HashSet::new();
    let mut ids: Vec<Option<String>> = vec![None; stages.len()];
    let old_stage_of: HashMap<&str, &str> = previous
        .skills
        .iter()
        .map(|s| (s.id.as_str(), s.stage.as_str()))
        .collect();
    let vanished_stages: HashSet<&str> = previous
        .stages
        .iter()
        .filter(|s| !folders.contains(&s.source))
        .map(|s| s.id.as_str())
        .collect();
    for (index, stage) in stages.iter().enumerate() {
        let from_front = stage
            .intro
            .as_ref()
            .and_then(|intro| intro.front.id.as_deref())
            .map(|id| {
                if is_valid_id(id) {
                    id.to_string()
                } else {
                    slugify(id)
                }
            });
        let from_map = previous
            .stages
            .iter()
            .find(|s| s.source == stage.source_key())
            .map(|s| s.id.clone());
        let renamed = || {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for lesson in &stage.lessons {
                if let Some(old_stage) = old_stage_of.get(skill_ids[&lesson.path].id.as_str())
                    && vanished_stages.contains(old_stage)
                {
                    *counts.entry(old_stage).or_default() += 1;
                }
            }
            counts
                .into_iter()
                .filter(|(_, n)| n * 2 > stage.lessons.len())
                .map(|(id, _)| id.to_string())
                .next()
        };
        if let Some(id) = from_front.or(from_map).or_else(renamed)
            && used.insert(id.clone())
        {
            ids[index] = Some(id);
        }
    }
    for (index, stage) in stages.iter().enumerate() {
        if ids[index].is_none() {
            let name = if stage.folder.is_empty() {
                "introduction"
            } else {
                split_prefix(file_name(&stage.folder)).1
            };
            let name = if stage.part == 1 {
                name.to_string()
            } else {
                format!("{name} {}", stage.part)
            };
            ids[index] = Some(unique_id(&[slugify(&name)], &mut used));
        }
    }
    ids.into_iter().flatten().collect()
}

/// Where `url`, written in the file `from`, leads once imported. Copies the assets it uses.
fn resolve_link(
    tree: &SourceTree,
    from: &str,
    url: &str,
    pages: &HashMap<String, String>,
    copies: &mut Vec<(String, String)>,
    used: &mut HashSet<String>,
) -> LinkTarget {
    let url = url.trim();
    let has_scheme = url.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
    });
    if url.is_empty() || url.starts_with('#') || url.starts_with("//") || has_scheme {
        return LinkTarget::Keep;
    }
    if url.starts_with('/') {
        return LinkTarget::SiteAbsolute;
    }
    let path_part = url.split(['#', '?']).next().unwrap_or(url);
    let decoded = percent_decode(path_part);
    let Some(target) = normalize(&join(parent(from), &decoded)) else {
        return LinkTarget::Unmapped;
    };
    let target = target.trim_end_matches('/').to_string();
    if let Some(page) = pages.get(&target) {
        return match url.split_once('#') {
            Some((_, fragment)) if !fragment.is_empty() => LinkTarget::RewriteWithoutFragment(page.clone()),
            _ => LinkTarget::Rewrite(page.clone()),
        };
    }
    match tree.files.get(&target) {
        Some(TreeFile::Other) => {
            let destination = if target.starts_with("assets/") {
                target.clone()
            } else {
                format!("assets/{target}")
            };
            copies.push((target.clone(), destination.clone()));
            used.insert(target);
            LinkTarget::Rewrite(destination.replace(' ', "%20"))
        }
        _ => LinkTarget::Unmapped,
    }
}

/// `a/./b/../c` becomes `a/c`; `None` when it climbs out of the source.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A title safe to put in a `## … {#id}` heading: one line, and no trailing ` #` run that
/// would read as a closing sequence (`C#` stays).
fn heading_title(title: &str) -> String {
    let mut words: Vec<&str> = title.split_whitespace().collect();
    while words.last().is_some_and(|w| w.bytes().all(|b| b == b'#')) {
        words.pop();
    }
    if words.is_empty() {
        "Untitled".to_string()
    } else {
        words.join(" ")
    }
}

/// Skill ids defined in the roadmap folders of `content_dir`, other than `except`.
/// Read leniently: a file that does not parse contributes what its headings say.
pub fn existing_skill_ids(content_dir: &Path, except: &[PathBuf]) -> HashSet<String> {
    let mut ids = HashSet::new();
    let Ok(entries) = fs::read_dir(content_dir) else {
        return ids;
    };
    for entry in entries.filter_map(Result::ok) {
        let folder = entry.path();
        if !folder.is_dir()
            || except.iter().any(|e| same_path(e, &folder))
            || !folder.join("roadmap.md").is_file()
        {
            continue;
        }
        let Ok(files) = fs::read_dir(&folder) else {
            continue;
        };
        for file in files.filter_map(Result::ok) {
            let path = file.path();
            if path
                .file_name()
                .is_some_and(|n| n != "roadmap.md" && n.to_string_lossy().ends_with(".md"))
                && let Ok(text) = fs::read_to_string(&path)
                && let Ok(sections) = split_front_matter(&text)
            {
                ids.extend(scan_headings(sections.body).into_iter().filter_map(|h| h.id));
            }
        }
    }
    ids
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The `https://` address of the source's git `origin`, if it has one.
pub fn upstream_url(src: &Path) -> Option<String> {
    let config = fs::read_to_string(src.join(".git").join("config")).ok()?;
    let mut in_origin = false;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_origin = line == "[remote \"origin\"]";
        } else if in_origin && let Some(url) = line.strip_prefix("url").map(|r| r.trim_start()) {
            let url = url.strip_prefix('=')?.trim();
            let url = url.strip_suffix(".git").unwrap_or(url);
            if url.starts_with("https://") {
                return Some(url.to_string());
            }
            let (host, path) = url.strip_prefix("git@")?.split_once(':')?;
            return Some(format!("https://{host}/{path}"));
        }
    }
    None
}

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub src: PathBuf,
    pub dest: PathBuf,
    /// SRC holds several roadmaps (one folder each); DEST is the content directory.
    pub roadmaps: bool,
    /// Write into a DEST that is not a previous import of the same SRC.
    pub force: bool,
}

/// `pathway content import`: converts, writes, reports, and checks the result.
pub fn command(request: &Request) -> ExitCode {
    match run(request) {
        Ok((text, ok)) => {
            print!("{text}");
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("pathway: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Does the work of [`command`]; returns the report and whether the result loads.
pub fn run(request: &Request) -> anyhow::Result<(String, bool)> {
    use anyhow::{Context, bail};
    let src = request
        .src
        .canonicalize()
        .with_context(|| format!("cannot read the source folder {}", request.src.display()))?;
    anyhow::ensure!(src.is_dir(), "{} is not a folder", src.display());
    let tree = SourceTree::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
    let upstream = upstream_url(&src);

    // (roadmap id, its source tree, source folder, fallback title, order)
    let mut jobs: Vec<(String, SourceTree, PathBuf, String, Option<u64>)> = Vec::new();
    let content_dir: PathBuf;
    let mut top_warnings: Vec<Warning> = Vec::new();
    if request.roadmaps {
        content_dir = request.dest.clone();
        let mut position = 0;
        for name in ordered_children(&tree, "", &mut top_warnings) {
            if tree.files.contains_key(&name) {
                if !is_license(&name) && !is_intro_file(&name) {
                    top_warnings.push(Warning::new(&name, 0, "not in a roadmap folder; skipped"));
                }
                continue;
            }
            position += 1;
            let (number, bare) = split_prefix(&name);
            let id = slugify(bare);
            jobs.push((
                id,
                tree.subtree(&name),
                src.join(&name),
                humanize(&name),
                // `order` is an i32: a date-like prefix (20240101) falls back to the position.
                Some(number.filter(|n| *n < 1_000_000).unwrap_or(position)),
            ));
        }
        let mut seen = HashSet::new();
        for (id, ..) in &jobs {
            if !seen.insert(id.clone()) {
                bail!("two source folders would both become the roadmap \"{id}\"; rename one upstream");
            }
        }
    } else {
        let dest_name = request
            .dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !is_valid_id(&dest_name) {
            bail!(
                "DEST's folder name \"{dest_name}\" is the roadmap id, and must be lowercase letters, digits and \
                 single hyphens, such as \"{}\"",
                slugify(&dest_name)
            );
        }
        if looks_like_several_roadmaps(&tree) {
            top_warnings.push(Warning::new(
                "",
                0,
                "every folder here holds only folders: if each is a course of its own, import them as \
                 several roadmaps with --roadmaps",
            ));
        }
        content_dir = request
            .dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let fallback = humanize(&src.file_name().unwrap_or_default().to_string_lossy());
        jobs.push((dest_name, tree.clone(), src.clone(), fallback, None));
    }
    anyhow::ensure!(
        !jobs.is_empty(),
        "{} has no folders to import as roadmaps",
        src.display()
    );

    // Refuse, before writing anything, a DEST that is not an import of the same source.
    let mut previous: Vec<Option<ImportMap>> = Vec::new();
    for (id, _, source, ..) in &jobs {
        let folder = content_dir.join(id);
        let map = read_map(&folder)?;
        let is_empty = fs::read_dir(&folder).map_or(true, |mut entries| entries.next().is_none());
        let source_text = source.to_string_lossy();
        match &map {
            Some(map) if map.source == source_text => {}
            _ if is_empty || request.force => {}
            Some(map) => bail!(
                "{} was imported from {}, not from {}; pass --force to write over it anyway",
                folder.display(),
                map.source,
                source_text
            ),
            None => bail!(
                "{} exists and is not an import (it has no {MAP_FILE}); choose another DEST, or pass --force \
                 to replace its markdown files",
                folder.display()
            ),
        }
        previous.push(map);
    }

    let folders: Vec<PathBuf> = jobs.iter().map(|(id, ..)| content_dir.join(id)).collect();
    let mut taken = existing_skill_ids(&content_dir, &folders);
    let mut conversions = Vec::new();
    for ((id, subtree, source, fallback, order), previous) in jobs.iter().zip(&previous) {
        let conversion = convert(
            subtree,
            &Options {
                roadmap_id: id,
                fallback_title: fallback.clone(),
                order: *order,
                source: source.to_string_lossy().into_owned(),
                upstream_url: upstream.clone(),
                previous: previous.as_ref(),
                taken: &taken,
            },
        );
        taken.extend(conversion.map.skills.iter().map(|s| s.id.clone()));
        conversions.push((conversion, source.clone(), previous.is_some()));
    }

    let mut report = String::new();
    let mut warning_count = 0;
    for warning in &top_warnings {
        report.push_str(&format!("{}\n", warning.diagnostic(&src)));
        warning_count += 1;
    }
    let (mut stages, mut skills) = (0, 0);
    let mut licences = Vec::new();
    for (conversion, source, reimport) in &conversions {
        let folder = content_dir.join(&conversion.roadmap_id);
        write_roadmap(&folder, conversion, source, *reimport)
            .with_context(|| format!("cannot write {}", folder.display()))?;
        for warning in &conversion.warnings {
            report.push_str(&format!("{}\n", warning.diagnostic(source)));
        }
        for old in &conversion.gone {
            report.push_str(&format!(
                "{}: gone upstream; skill \"{}\" (\"{}\") will be retired by the next load (review the plan on \
                 /admin/content); if another lesson takes its place, give that lesson id: {} (in its front matter \
                 or in {MAP_FILE}) and import again, to keep learners' progress\n",
                source.join(&old.source).display(),
                old.id,
                old.title,
                old.id
            ));
        }
        warning_count += conversion.warnings.len();
        stages += conversion.stages;
        skills += conversion.skills;
        let mut copied: Vec<PathBuf> = conversion
            .copies
            .iter()
            .filter(|(from, _)| is_license(from))
            .map(|(_, to)| folder.join(to))
            .collect();
        // A roadmap of a --roadmaps import without a licence of its own gets the top one.
        if copied.is_empty() && source != &src {
            for license in LICENSE_FILES {
                if src.join(license).is_file() {
                    fs::copy(src.join(license), folder.join(license))
                        .with_context(|| format!("cannot copy {license} into {}", folder.display()))?;
                    copied.push(folder.join(license));
                }
            }
        }
        licences.extend(copied);
    }
    let gone: usize = conversions.iter().map(|(c, ..)| c.gone.len()).sum();
    report.push_str(&format!(
        "Imported {} into {}: {}, {}, {}{}.\n",
        count(conversions.len(), "roadmap"),
        content_dir.display(),
        count(stages, "stage"),
        count(skills, "skill"),
        count(warning_count, "warning"),
        if gone > 0 {
            format!(", {gone} gone upstream")
        } else {
            String::new()
        },
    ));
    if licences.is_empty() {
        report.push_str(
            "Licence: no LICENSE, LICENCE or COPYING file was found in the source. Find out under which terms \
             you may reuse these lessons before you publish them, and credit the authors in roadmap.md.\n",
        );
    } else {
        report.push_str(&format!(
            "Licence: copied {}. Respect its terms: keep it and the credit in roadmap.md; content under \
             non-commercial or no-derivatives terms may not be yours to publish at all.\n",
            licences
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    let (check, ok) = check_written(&content_dir, &folders);
    report.push_str(&check);
    Ok((report, ok))
}

/// The same validation as `pathway content check`, on what the server would load: the whole
/// content directory when DEST is in one, else the written roadmap folders alone.
fn check_written(content_dir: &Path, folders: &[PathBuf]) -> (String, bool) {
    let whole_dir = content_dir
        .read_dir()
        .map(|entries| {
            entries.filter_map(Result::ok).all(|e| {
                let path = e.path();
                !path.is_dir()
                    || e.file_name().to_string_lossy().starts_with('.')
                    || path.join("roadmap.md").is_file()
            })
        })
        .unwrap_or(false);
    let checked = if whole_dir {
        super::parse_dir(content_dir)
    } else {
        super::parse::parse_folders(content_dir, folders.iter().map(|f| read_folder(f)).collect())
    };
    match checked {
        Ok(content) => (
            format!(
                "Check: OK, {} roadmaps, {} stages, {} skills. Next: review the plan on /admin/content (or \
                 `pathway content plan`) before you load it.\n",
                content.roadmaps.len(),
                content.stage_count(),
                content.skill_count()
            ),
            true,
        ),
        Err(invalid) => {
            let mut report = String::new();
            for diagnostic in &invalid.diagnostics {
                report.push_str(&format!("{diagnostic}\n"));
            }
            report.push_str(&format!(
                "Check: {} error(s); the server will not load this content until they are fixed (upstream, so \
                 that the next import keeps the fix)\n",
                invalid.diagnostics.len()
            ));
            (report, false)
        }
    }
}

/// "1 stage", "2 stages".
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Every top-level folder holds folders and no lessons: probably one roadmap per folder.
fn looks_like_several_roadmaps(tree: &SourceTree) -> bool {
    let mut tops: HashMap<&str, (bool, bool)> = HashMap::new();
    for path in tree.files.keys() {
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() < 2 {
            continue;
        }
        let entry = tops.entry(parts[0]).or_default();
        if parts.len() == 2 && is_markdown(parts[1]) && !is_intro_file(parts[1]) {
            entry.0 = true;
        }
        if parts.len() > 2 && is_markdown(parts[parts.len() - 1]) {
            entry.1 = true;
        }
    }
    tops.len() > 1 && tops.values().all(|(lessons, nested)| !lessons && *nested)
}

/// One written roadmap folder, read as `content check` reads it (assets included).
fn read_folder(folder: &Path) -> super::parse::SourceFolder {
    super::parse::read_folder(folder.to_path_buf())
}

fn read_map(folder: &Path) -> anyhow::Result<Option<ImportMap>> {
    let path = folder.join(MAP_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            Ok(Some(toml::from_str(&text).map_err(|e| {
                anyhow::anyhow!("{}: {}", path.display(), e.message())
            })?))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(anyhow::anyhow!("{}: {error}", path.display())),
    }
}

/// Writes one converted roadmap into `folder`: its stage files replace the markdown files
/// there; `roadmap.md` is kept on a re-import, so the admin's edits to it stay.
fn write_roadmap(folder: &Path, conversion: &Conversion, source: &Path, reimport: bool) -> io::Result<()> {
    fs::create_dir_all(folder)?;
    let keep_roadmap = reimport && folder.join("roadmap.md").is_file();
    for entry in fs::read_dir(folder)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if path.is_file() && name.ends_with(".md") && !(keep_roadmap && name == "roadmap.md") {
            fs::remove_file(&path)?;
        }
    }
    for (name, text) in &conversion.files {
        if keep_roadmap && name == "roadmap.md" {
            continue;
        }
        fs::write(folder.join(name), text)?;
    }
    for (from, to) in &conversion.copies {
        let target =
            folder.join(safe_relative(to).ok_or_else(|| io::Error::other(format!("bad path {to}")))?);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(source.join(from), &target)?;
    }
    let mut map = toml::to_string(&conversion.map).map_err(io::Error::other)?;
    map.insert_str(
        0,
        "# Written by `pathway content import`: where each stage and skill came from.\n\
         # Keep it with the content: the next import reads it to keep every id (and learners' progress).\n",
    );
    fs::write(folder.join(MAP_FILE), map)
}

/// A relative path with no `..`, root or prefix: safe to join under a folder.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let path = PathBuf::from(path);
    path.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> (String, Vec<Warning>) {
        let mut warnings = Vec::new();
        let lesson = read_lesson("l.md", text.as_bytes(), &mut warnings);
        let out = convert_body(
            "l.md",
            &lesson.body,
            lesson.body_line,
            lesson.title_heading.clone(),
            &mut |url| {
                if url == "pic.png" {
                    LinkTarget::Rewrite("assets/pic.png".into())
                } else if url.starts_with("http") {
                    LinkTarget::Keep
                } else {
                    LinkTarget::Unmapped
                }
            },
            &mut warnings,
        );
        (out, warnings)
    }

    fn import(files: &[(&str, Option<&str>)], previous: Option<&ImportMap>) -> Conversion {
        let tree = SourceTree::from_files(files.iter().copied());
        convert(
            &tree,
            &Options {
                roadmap_id: "course",
                fallback_title: "Course".into(),
                order: None,
                source: "/src".into(),
                upstream_url: None,
                previous,
                taken: &HashSet::from(["taken".to_string()]),
            },
        )
    }

    fn ids(conversion: &Conversion) -> Vec<(&str, &str)> {
        conversion
            .map
            .skills
            .iter()
            .filter(|s| !s.gone)
            .map(|s| (s.source.as_str(), s.id.as_str()))
            .collect()
    }

    #[test]
    fn numeric_prefixes_are_split_off_names() {
        assert_eq!(split_prefix("01-intro"), (Some(1), "intro"));
        assert_eq!(split_prefix("1_intro"), (Some(1), "intro"));
        assert_eq!(split_prefix("01.intro.md"), (Some(1), "intro.md"));
        assert_eq!(split_prefix("10 intro"), (Some(10), "intro"));
        assert_eq!(split_prefix("3d-graphics"), (None, "3d-graphics"));
        assert_eq!(split_prefix("42"), (Some(42), "42"));
        assert_eq!(humanize("02_getting-started"), "Getting started");
    }

    #[test]
    fn titles_keep_their_hashes_but_not_a_closing_sequence() {
        assert_eq!(heading_title("C#"), "C#");
        assert_eq!(heading_title("  Intro\n to it ## "), "Intro to it");
        assert_eq!(heading_title("#"), "Untitled");
    }

    #[test]
    fn front_matter_in_yaml_and_toml() {
        let (front, body, lines) =
            split_any_front_matter("---\ntitle: \"Hello: world\"\nuuid: 'abc-1'\ntags:\n  - a\n---\nBody\n");
        assert_eq!(front.title.as_deref(), Some("Hello: world"));
        assert_eq!(front.id.as_deref(), Some("abc-1"));
        assert_eq!(front.ignored, vec![("tags".to_string(), 4)]);
        assert_eq!((body, lines), ("Body\n", 6));
        let (front, body, _) =
            split_any_front_matter("+++\ntitle = \"T\"\nid = \"x\"\ndate = 2020-01-01\n+++\nB");
        assert_eq!(
            (front.title.as_deref(), front.id.as_deref()),
            (Some("T"), Some("x"))
        );
        assert_eq!(front.ignored, vec![("date".to_string(), 4)]);
        assert_eq!(body, "B");
        // A leading thematic break with no closing line is not front matter.
        let (front, body, _) = split_any_front_matter("---\nJust text\n");
        assert_eq!((front, body), (FrontMatter::default(), "---\nJust text\n"));
    }

    #[test]
    fn the_title_heading_is_removed_and_the_rest_move_down_but_not_code() {
        let (out, _) =
            body("# Title\n\nIntro.\n\n## Part\n\n### Deeper\n\n```md\n# not a heading\n## nor this\n```\n");
        assert_eq!(
            out,
            "\nIntro.\n\n### Part\n\n#### Deeper\n\n```md\n# not a heading\n## nor this\n```\n"
        );
        // Without a title heading, other level-1 headings go down two levels.
        let (out, _) = body("---\ntitle: T\n---\n# One\n\n## Two\n\n###### Six\n");
        assert_eq!(out, "### One\n\n#### Two\n\n###### Six\n");
        // Lessons already at ### stay as they are.
        let (out, _) = body("# T\n### Three\n");
        assert_eq!(out, "### Three\n");
    }

    #[test]
    fn setext_headings_become_atx() {
        let (out, _) = body("# T\n\nPart one\n========\n\nSub part\n--------\ntext\n");
        assert_eq!(out, "\n### Part one\n\n#### Sub part\ntext\n");
    }

    #[test]
    fn links_are_mapped_or_removed_with_a_warning() {
        let (out, warnings) = body(
            "# T\n\n![a pic](pic.png \"t\") [site](https://x.org) [gone](gone.md#x)\n\n[ref][r]\n\n[r]: pic.png\n",
        );
        assert!(out.contains("![a pic](assets/pic.png \"t\")"), "{out}");
        assert!(out.contains("[site](https://x.org) gone"), "{out}");
        assert!(out.contains("[r]: assets/pic.png"), "{out}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].line, 3);
        assert!(warnings[0].message.contains("\"gone.md#x\""), "{warnings:?}");
    }

    #[test]
    fn html_the_sanitizer_drops_is_reported_with_its_line() {
        let (out, warnings) = body("Text\n\n<script>alert(1)</script>\n\nA <span style=\"x\">b</span> c\n");
        assert!(
            out.contains("<script>"),
            "the text itself is kept for the sanitizer: {out}"
        );
        let lines: Vec<(usize, &str)> = warnings.iter().map(|w| (w.line, w.message.as_str())).collect();
        assert!(
            lines.iter().any(|(l, m)| *l == 3 && m.contains("<script>")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|(l, m)| *l == 5 && m.contains("style of <span>")),
            "{lines:?}"
        );
    }

    #[test]
    fn repeated_warnings_are_grouped_per_file_at_their_first_line() {
        let grouped = group_repeats(vec![
            Warning::new("b.md", 9, "drops class"),
            Warning::new("a.md", 5, "drops class"),
            Warning::new("a.md", 2, "drops class"),
            Warning::new("a.md", 2, "drops class"),
            Warning::new("a.md", 3, "other"),
        ]);
        let text: Vec<String> = grouped
            .iter()
            .map(|w| format!("{}:{}: {}", w.path, w.line, w.message))
            .collect();
        assert_eq!(
            text,
            [
                "a.md:2: drops class (and on 1 more line of this file)",
                "a.md:3: other",
                "b.md:9: drops class",
            ]
        );
    }

    #[test]
    fn an_unclosed_fence_is_closed_so_it_cannot_swallow_the_next_skill() {
        let (out, warnings) = body("Text\n\n```js\nlet a;\n");
        assert!(out.ends_with("```\n"), "{out:?}");
        assert_eq!(warnings[0].line, 3);
    }

    #[test]
    fn an_unclosed_comment_or_pre_is_closed_too() {
        let (out, warnings) = body("Text\n\n<!-- a note\n\nmore\n");
        assert!(out.ends_with("-->\n"), "{out:?}");
        assert_eq!((warnings[0].line, warnings[0].message.contains("-->")), (3, true));
        let (out, _) = body("<pre>\nx\n");
        assert!(out.ends_with("</pre>\n"), "{out:?}");
        let (out, warnings) = body("<!-- closed -->\n\n<pre>x</pre>\n");
        assert!(
            !out.contains("\n-->") && !out.ends_with("</pre>\n</pre>\n"),
            "{out:?}"
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        // Two lessons in one stage: the second survives the first's open comment.
        let c = import(
            &[("a/1.md", Some("x\n\n<!-- open\n")), ("a/2.md", Some("y"))],
            None,
        );
        let files: Vec<(PathBuf, Vec<u8>)> = c
            .files
            .iter()
            .map(|(name, text)| (PathBuf::from("course").join(name), text.as_bytes().to_vec()))
            .collect();
        let content = super::super::parse::parse_sources(Path::new("content"), &files).unwrap();
        assert_eq!(content.skill_count(), 2);
    }

    #[test]
    fn order_comes_from_the_order_file_then_prefixes_then_names() {
        let c = import(
            &[
                ("b/order.txt", Some("# first these\nzed\nmissing\n")),
                ("b/zed.md", Some("z")),
                ("b/alpha.md", Some("a")),
                ("b/02-two.md", Some("2")),
                ("b/10-ten.md", Some("10")),
                ("a/anything.md", Some("x")),
            ],
            None,
        );
        let order: Vec<&str> = c.map.skills.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(
            order,
            [
                "a/anything.md",
                "b/zed.md",
                "b/02-two.md",
                "b/10-ten.md",
                "b/alpha.md"
            ]
        );
        let names: Vec<&str> = c.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["roadmap.md", "01-a.md", "02-b.md"]);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.path == "b/order.txt" && w.line == 3 && w.message.contains("\"missing\"")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn ids_come_from_front_matter_then_file_names_and_stay_unique() {
        let c = import(
            &[
                ("01-a/01-intro.md", Some("---\nuuid: 3f2b-aa\n---\nx")),
                ("01-a/02-setup.md", Some("+++\nid = \"Set Up!\"\n+++\nx")),
                ("01-a/03-taken.md", Some("x")),
                ("02-b/01-intro.md", Some("x")),
                ("03-c/01-intro.md", Some("y")),
                ("03-c/02-b-intro.md", Some("z")),
            ],
            None,
        );
        assert_eq!(
            ids(&c),
            [
                ("01-a/01-intro.md", "3f2b-aa"),
                ("01-a/02-setup.md", "set-up"),
                ("01-a/03-taken.md", "a-taken"),
                ("02-b/01-intro.md", "intro"),
                ("03-c/01-intro.md", "c-intro"),
                ("03-c/02-b-intro.md", "b-intro"),
            ]
        );
        assert!(
            c.warnings
                .iter()
                .any(|w| w.message.contains("\"Set Up!\" is not a valid"))
        );
    }

    #[test]
    fn a_reimport_keeps_ids_through_title_changes_and_renames() {
        let first = import(
            &[
                ("01-a/01-intro.md", Some("# Intro\n\nWelcome.")),
                ("01-a/02-tools.md", Some("# Tools\n\nHammers.")),
                ("01-a/03-old.md", Some("# Old\n\nGone soon.")),
            ],
            None,
        );
        let second = import(
            &[
                ("01-a/01-intro.md", Some("# A new intro title\n\nWelcome.")),
                ("01-a/05-hammers-and-saws.md", Some("# Tools\n\nHammers.")),
                ("01-a/03-intro.md", Some("# Brand new\n\nOther text.")),
            ],
            Some(&first.map),
        );
        assert_eq!(
            ids(&second),
            [
                ("01-a/01-intro.md", "intro"),
                ("01-a/03-intro.md", "a-intro"),
                ("01-a/05-hammers-and-saws.md", "tools"),
            ]
        );
        assert_eq!(second.gone.len(), 1);
        assert_eq!(second.gone[0].id, "old");
        // The vanished id stays reserved, and is not reported again.
        let third = import(
            &[
                ("01-a/01-intro.md", Some("# Intro\n\nWelcome.")),
                ("01-a/09-old.md", Some("# Not the old lesson\n\nNew.")),
            ],
            Some(&second.map),
        );
        assert!(
            ids(&third).contains(&("01-a/09-old.md", "a-old")),
            "{:?}",
            ids(&third)
        );
        assert!(third.gone.iter().all(|g| g.id != "old"));
    }

    #[test]
    fn a_renamed_folder_keeps_its_stage_id() {
        let first = import(
            &[("01-basics/a.md", Some("a")), ("01-basics/b.md", Some("b"))],
            None,
        );
        let second = import(
            &[
                ("01-fundamentals/a.md", Some("a")),
                ("01-fundamentals/b.md", Some("b")),
                ("02-basics-two/c.md", Some("c")),
            ],
            Some(&first.map),
        );
        let stages: Vec<(&str, &str)> = second
            .map
            .stages
            .iter()
            .map(|s| (s.source.as_str(), s.id.as_str()))
            .collect();
        assert_eq!(
            stages,
            [("01-fundamentals", "basics"), ("02-basics-two", "basics-two")]
        );
        assert_eq!(
            ids(&second)[..2],
            [("01-fundamentals/a.md", "a"), ("01-fundamentals/b.md", "b")]
        );
    }

    #[test]
    fn a_changed_front_matter_id_replaces_the_old_one() {
        let first = import(&[("a/x.md", Some("---\nid: first\n---\nx"))], None);
        let second = import(&[("a/x.md", Some("---\nid: second\n---\nx"))], Some(&first.map));
        let stage = &second.files[1].1;
        assert!(stage.contains("## X {#second replaces=first}"), "{stage}");
    }

    #[test]
    fn assets_are_copied_and_lessons_linked_by_their_page() {
        let c = import(
            &[
                (
                    "01-a/01-one.md",
                    Some("![d](img/d%20x.png) [two](../02-b/two.md#part) [b](../02-b/)"),
                ),
                ("01-a/img/d x.png", None),
                ("02-b/two.md", Some("two")),
                ("02-b/unused.png", None),
                ("LICENSE", Some("MIT")),
            ],
            None,
        );
        let stage = &c.files[1].1;
        assert!(stage.contains("![d](assets/01-a/img/d%20x.png)"), "{stage}");
        assert!(stage.contains("[two](/roadmaps/course/b/two)"), "{stage}");
        assert!(stage.contains("[b](/roadmaps/course/b)"), "{stage}");
        assert_eq!(
            c.copies,
            [
                (
                    "01-a/img/d x.png".to_string(),
                    "assets/01-a/img/d x.png".to_string()
                ),
                ("LICENSE".to_string(), "LICENSE".to_string()),
            ]
        );
        assert!(
            c.warnings.iter().any(|w| w.path == "02-b/unused.png"),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings.iter().any(|w| w.path == "01-a/01-one.md"
                && w.line == 1
                && w.message.contains("#section cannot be kept")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn a_folder_too_long_for_one_stage_file_is_split_into_parts() {
        let lesson = format!("# Long\n\n{}\n", "word ".repeat(20_000));
        let files: Vec<(String, String)> = (1..=5)
            .map(|n| (format!("01-big/{n:02}-l{n}.md"), lesson.clone()))
            .collect();
        let c = import(
            &files
                .iter()
                .map(|(p, t)| (p.as_str(), Some(t.as_str())))
                .collect::<Vec<_>>(),
            None,
        );
        let stages: Vec<(&str, &str)> = c
            .map
            .stages
            .iter()
            .map(|s| (s.source.as_str(), s.id.as_str()))
            .collect();
        assert_eq!(
            stages,
            [("01-big", "big"), ("01-big#2", "big-2"), ("01-big#3", "big-3")]
        );
        assert!(
            c.files[2].1.contains("title = \"Big (part 2)\""),
            "{}",
            c.files[2].1
        );
        assert!(
            c.files
                .iter()
                .all(|(_, text)| text.len() as u64 <= MAX_FILE_BYTES)
        );
        assert!(
            c.warnings
                .iter()
                .any(|w| w.message.contains("split into 3 stages"))
        );
    }

    #[test]
    fn the_output_parses_as_content() {
        let c = import(
            &[
                ("README.md", Some("# My course\n")),
                (
                    "01-a/README.md",
                    Some("---\ntitle: Stage A\n---\n# Stage A\n\nAbout A.\n\n## More\n"),
                ),
                (
                    "01-a/01-one.md",
                    Some("Title\n=====\n\nSections\n--------\n\n- [ ] try it\n"),
                ),
                ("top.md", Some("At the top.")),
            ],
            None,
        );
        let files: Vec<(PathBuf, Vec<u8>)> = c
            .files
            .iter()
            .map(|(name, text)| (PathBuf::from("course").join(name), text.as_bytes().to_vec()))
            .collect();
        let content = super::super::parse::parse_sources(Path::new("content"), &files).unwrap();
        let roadmap = &content.roadmaps[0];
        assert_eq!(roadmap.title, "My course");
        let stages: Vec<(&str, &str)> = roadmap
            .stages
            .iter()
            .map(|s| (s.id.as_str(), s.title.as_str()))
            .collect();
        assert_eq!(stages, [("introduction", "Introduction"), ("a", "Stage A")]);
        assert_eq!(roadmap.stages[1].intro_md, "About A.\n\n### More");
        let skill = &roadmap.stages[1].skills[0];
        assert_eq!((skill.id.as_str(), skill.title.as_str()), ("one", "Title"));
        assert_eq!(skill.steps.len(), 1);
    }
}
