//! Reading a content directory into roadmaps, stages and skills, collecting every problem found.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Diagnostic;
use super::links::{self, AssetDef, MAX_ASSET_BYTES};
use super::render::{
    RENDER_VERSION, RenderOptions, Renderer, configured, markdown_options, markdown_to_html,
    skill_body_to_html,
};

/// Files above this size are refused: a stage this long should be split.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Longest id accepted, so ids stay readable in URLs.
pub const MAX_ID_LEN: usize = 64;
/// Heading classes a skill may carry.
pub const SKILL_CLASSES: &[&str] = &["optional", "project"];
/// Roadmaps without `order` sort after those with one.
pub const DEFAULT_ORDER: i32 = 1000;

/// A whole content directory, parsed and valid.
#[derive(Debug, Clone)]
pub struct Content {
    pub roadmaps: Vec<RoadmapDef>,
    /// Hash of every file read (and of the renderer version).
    pub hash: String,
    /// What the author should know but that does not stop a load (`content check --strict` refuses them).
    pub warnings: Vec<Diagnostic>,
    /// The files of every roadmap's `assets/` folder.
    pub assets: Vec<AssetDef>,
    /// What each file parsed this time gave, to keep once the content is applied
    /// (files taken from a [`FileCache`] are not listed).
    pub parsed_files: Vec<(PathBuf, CachedFile)>,
    /// Every roadmap and stage file read.
    pub source_files: Vec<PathBuf>,
    /// What it was parsed from, when files were taken from a [`FileCache`]: an apply
    /// that finds a kept file's rows changed parses it again from here.
    pub sources: Option<std::sync::Arc<Sources>>,
}

/// Files read, and the cache a parse took unchanged ones from.
#[derive(Debug)]
pub struct Sources {
    pub root: PathBuf,
    pub folders: Vec<SourceFolder>,
    pub cache: FileCache,
}

#[derive(Debug, Clone)]
pub struct RoadmapDef {
    /// Its `roadmap.md` was taken from a [`FileCache`] rather than parsed.
    pub reused: bool,
    pub id: String,
    pub title: String,
    pub summary: String,
    pub order: i32,
    /// The path or category the home page lists it under (empty: none).
    pub group: String,
    pub intro_md: String,
    pub intro_html: String,
    /// Line of the file where the introduction starts.
    pub intro_line: usize,
    pub path: PathBuf,
    pub stages: Vec<StageDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageDef {
    /// Taken from a [`FileCache`] rather than parsed: its skills carry no texts
    /// (`body_md`, `body_html`, `body_text` and `steps` are empty), since the rows
    /// stored for them are already these.
    #[serde(skip)]
    pub reused: bool,
    pub id: String,
    pub title: String,
    /// The `NN` of `NN-name.md`.
    pub number: u32,
    pub intro_md: String,
    pub intro_html: String,
    /// Line of the file where the introduction starts.
    pub intro_line: usize,
    pub path: PathBuf,
    pub skills: Vec<SkillDef>,
    /// Skills defined in other stages and shown here too (`## {include=id}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<IncludeDef>,
}

/// `## {include=skill-id}` in a stage file: a skill defined in another stage (of any
/// roadmap) that this stage lists too. It has one state everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncludeDef {
    pub id: String,
    /// Its place among the stage's `##` headings, skills and includes together, from 0.
    pub index: usize,
    pub line: usize,
}

impl StageDef {
    /// The place of each defined skill among the stage's `##` headings (includes take
    /// the others), so that skills and includes share one order.
    pub fn skill_positions(&self) -> Vec<i32> {
        let mut taken: Vec<usize> = self.includes.iter().map(|i| i.index).collect();
        taken.sort_unstable();
        let mut taken = taken.into_iter().peekable();
        let mut positions = Vec::with_capacity(self.skills.len());
        let mut index = 0usize;
        while positions.len() < self.skills.len() {
            if taken.peek() == Some(&index) {
                taken.next();
            } else {
                positions.push(i32::try_from(index).unwrap_or(i32::MAX));
            }
            index += 1;
        }
        positions
    }
}

// Kept in `content_files` without its texts, which the skill's row holds (and without
// its path, its stage's): the empty fields are left out of the JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkillDef {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body_md: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body_html: String,
    /// The body without markdown or HTML: search snippets and the search index.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body_text: String,
    pub optional: bool,
    pub project: bool,
    #[serde(skip)]
    pub path: PathBuf,
    pub line: usize,
    /// Line of the file where the body starts.
    pub body_line: usize,
    /// Hash of the body with whitespace folded: a whitespace-only edit keeps it.
    pub content_hash: String,
    /// Ids of earlier skills this one takes over (`replaces=a,b`): their progress moves here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
    /// The task-list items of the body: optional sub-steps a learner can tick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Summary, time, level, prerequisites and resources (content::meta).
    pub meta: super::meta::SkillMeta,
}

/// One `- [ ] …` item inside a skill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// Stable per skill: the explicit `{#key}` at the end of the item, or a slug of its text.
    pub key: String,
    pub text: String,
}

/// What one roadmap or stage file parsed to, kept between loads (table `content_files`)
/// so that a load parses only the files that changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedFile {
    /// [`FileCache::hash_of`] the file it came from.
    pub hash: String,
    pub parse: CachedParse,
    /// The warnings its rendering gave.
    pub warnings: Vec<Diagnostic>,
    /// What its rendering asked about other files: it is reused only while the answers hold.
    pub lookups: Vec<links::Lookup>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CachedParse {
    Roadmap(RoadmapFile),
    /// A stage without its skills' texts, and the line of its `id`.
    Stage {
        stage: StageDef,
        id_line: usize,
    },
}

/// The fields of a `roadmap.md`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoadmapFile {
    pub title: String,
    pub summary: String,
    pub order: i32,
    pub group: String,
    pub intro_md: String,
    pub intro_line: usize,
    pub intro_html: String,
}

/// Files parsed by earlier loads, by path. A file is taken from here instead of parsed
/// when its bytes, the renderer and this build are the same, and the links it resolved
/// still resolve alike; cross-file checks (duplicate ids, renames, prerequisites,
/// links) run over every file all the same.
#[derive(Debug, Clone, Default)]
pub struct FileCache {
    pub files: HashMap<PathBuf, CachedFile>,
}

/// Changes whenever what a cached parse holds does.
const CACHE_FORMAT: &str = "file-cache-v1";

impl FileCache {
    /// The key a file is kept under: its path and bytes, the renderer's version and
    /// settings, and this build's version.
    pub fn hash_of(file: &SourceFile, options: &RenderOptions) -> Option<String> {
        if !matches!(file.contents, Contents::Bytes(_)) {
            return None;
        }
        let mut hasher = Sha256::new();
        for part in [
            CACHE_FORMAT,
            env!("CARGO_PKG_VERSION"),
            RENDER_VERSION,
            &options.fingerprint(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.update(file.path.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(file.digest);
        Some(hex::encode(hasher.finalize()))
    }
}

/// One parse's use of a [`FileCache`]: what it took and what it parsed.
struct Reuse<'c> {
    cache: &'c FileCache,
    options: RenderOptions,
    /// Files parsed this time: their hash and parse, texts left out.
    parsed: HashMap<PathBuf, (String, CachedParse)>,
}

impl<'c> Reuse<'c> {
    /// The kept parse of `file`, if it is still the same file.
    fn kept(&self, file: &SourceFile) -> Option<&'c CachedFile> {
        let cached = self.cache.files.get(&file.path)?;
        (Some(&cached.hash) == FileCache::hash_of(file, &self.options).as_ref()).then_some(cached)
    }

    fn keep(&mut self, file: &SourceFile, parse: CachedParse) {
        if let Some(hash) = FileCache::hash_of(file, &self.options) {
            self.parsed.insert(file.path.clone(), (hash, parse));
        }
    }
}

/// A stage as kept: its skills without their texts.
fn without_texts(stage: &StageDef) -> StageDef {
    let mut stage = stage.clone();
    for skill in &mut stage.skills {
        skill.body_md.clear();
        skill.body_html.clear();
        skill.body_text.clear();
        skill.steps.clear();
    }
    stage
}

impl Content {
    /// Roadmap and stage files taken from a [`FileCache`] instead of parsed.
    pub fn reused_files(&self) -> usize {
        self.source_files.len().saturating_sub(self.parsed_files.len())
    }

    pub fn stage_count(&self) -> usize {
        self.roadmaps.iter().map(|r| r.stages.len()).sum()
    }

    pub fn skill_count(&self) -> usize {
        self.roadmaps
            .iter()
            .flat_map(|r| &r.stages)
            .map(|s| s.skills.len())
            .sum()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoadmapFront {
    title: Option<String>,
    summary: Option<String>,
    order: Option<i32>,
    group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFront {
    id: Option<String>,
    title: Option<String>,
}

/// Is `id` a lowercase slug such as `http-basics`?
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Derives an id from a title: "HTTP & DNS basics" becomes `http-dns-basics`.
pub fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut slug = slug.trim_end_matches('-').to_string();
    if slug.len() > MAX_ID_LEN {
        slug.truncate(MAX_ID_LEN);
        slug = slug.trim_end_matches('-').to_string();
    }
    if slug.is_empty() {
        slug.push_str("item");
    }
    slug
}

fn id_rule() -> &'static str {
    "ids are lowercase letters, digits and single hyphens, such as \"http-basics\", at most 64 characters"
}

/// 1-based line number of byte `offset` in `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A file's text split at its `+++` front matter.
pub(crate) struct Sections<'a> {
    pub front: &'a str,
    /// Line of the first front-matter line (after the opening `+++`).
    pub front_line: usize,
    /// Byte offset in the file where the front matter starts.
    pub front_offset: usize,
    pub body: &'a str,
    /// Byte offset in the file where the body starts.
    pub body_offset: usize,
}

pub(crate) fn split_front_matter(text: &str) -> Result<Sections<'_>, (usize, String)> {
    let first_end = text.find('\n').map_or(text.len(), |i| i + 1);
    if text[..first_end].trim_end() != "+++" {
        return Err((
            1,
            "missing front matter: the file must start with a line `+++`, then TOML such as \
             title = \"...\", then another `+++` line"
                .into(),
        ));
    }
    let mut offset = first_end;
    while offset < text.len() {
        let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i + 1);
        if text[offset..end].trim_end() == "+++" {
            return Ok(Sections {
                front: &text[first_end..offset],
                front_line: 2,
                front_offset: first_end,
                body: &text[end..],
                body_offset: end,
            });
        }
        offset = end;
    }
    Err((
        1,
        "unterminated front matter: the `+++` on line 1 has no closing `+++` line; add one after \
         the TOML keys"
            .into(),
    ))
}

fn parse_toml<T: for<'de> Deserialize<'de>>(
    path: &Path,
    sections: &Sections<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    match toml::from_str::<T>(sections.front) {
        Ok(value) => Some(value),
        Err(error) => {
            let line = error.span().map_or(sections.front_line, |span| {
                sections.front_line + line_at(sections.front, span.start) - 1
            });
            let message = error.message().trim().replace('\n', " ");
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!("invalid TOML front matter: {message}; fix the syntax (strings need double quotes)"),
            ));
            None
        }
    }
}

/// What reading one file gave: its bytes, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    Bytes(Vec<u8>),
    /// Larger than [`MAX_FILE_BYTES`] (its size in bytes); not read.
    TooLarge(u64),
    /// The error reading it gave.
    Unreadable(String),
}

/// One file of a roadmap folder, as the parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path diagnostics name (and the hash covers).
    pub path: PathBuf,
    pub contents: Contents,
    /// SHA-256 of the bytes (zeros when there are none): hashed once, when read, for the
    /// content version and the file cache alike.
    pub digest: [u8; 32],
}

impl SourceFile {
    pub fn new(path: PathBuf, contents: Contents) -> Self {
        let digest = match &contents {
            Contents::Bytes(bytes) => Sha256::digest(bytes).into(),
            _ => [0; 32],
        };
        Self {
            path,
            contents,
            digest,
        }
    }
}

/// One roadmap folder: its path (the last component is the roadmap id) and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFolder {
    pub path: PathBuf,
    /// Every regular file directly in the folder; only `*.md` files are looked at.
    pub files: Vec<SourceFile>,
    /// Every file under its `assets/` folder, sorted by path.
    pub assets: Vec<SourceFile>,
}

/// Checks a file's size and encoding; hashes what was read.
fn read_text(file: &SourceFile, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    let path = file.path.as_path();
    let bytes = match &file.contents {
        Contents::Bytes(bytes) if bytes.len() as u64 > MAX_FILE_BYTES => {
            diagnostics.push(too_large(path, bytes.len() as u64));
            return None;
        }
        Contents::Bytes(bytes) => bytes.clone(),
        Contents::TooLarge(size) => {
            diagnostics.push(too_large(path, *size));
            return None;
        }
        Contents::Unreadable(error) => {
            diagnostics.push(Diagnostic::new(path, 0, format!("cannot read file: {error}")));
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.remove(0);
            }
            Some(text)
        }
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let line = error.as_bytes()[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
            diagnostics.push(Diagnostic::new(
                path,
                line,
                "file is not valid UTF-8; save it as UTF-8 (the first invalid byte is on this line)",
            ));
            None
        }
    }
}

fn too_large(path: &Path, size: u64) -> Diagnostic {
    Diagnostic::new(
        path,
        1,
        format!(
            "file is too large ({} KiB; the limit is {} KiB); split it into several stage files",
            size / 1024,
            MAX_FILE_BYTES / 1024
        ),
    )
}

/// Reads a file from disk without reading more than `limit` bytes.
fn read_file(path: PathBuf, limit: u64) -> SourceFile {
    let contents = match fs::metadata(&path) {
        Err(error) => Contents::Unreadable(error.to_string()),
        Ok(meta) if meta.len() > limit => Contents::TooLarge(meta.len()),
        Ok(_) => match fs::read(&path) {
            Ok(bytes) => Contents::Bytes(bytes),
            Err(error) => Contents::Unreadable(error.to_string()),
        },
    };
    SourceFile::new(path, contents)
}

/// Where an id was first defined, for duplicate reports.
type Seen = HashMap<String, (PathBuf, usize)>;

fn check_duplicate(seen: &mut Seen, kind: &str, id: &str, path: &Path, line: usize) -> Option<Diagnostic> {
    if let Some((first_path, first_line)) = seen.get(id) {
        return Some(Diagnostic::new(
            path,
            line,
            format!(
                "duplicate {kind} id \"{id}\" (first defined at {}:{first_line}); give one of them a new id",
                first_path.display()
            ),
        ));
    }
    seen.insert(id.to_string(), (path.to_path_buf(), line));
    None
}

/// A content directory that failed validation.
#[derive(Debug, Clone)]
pub struct Invalid {
    /// Hash of the files read, so an unchanged broken directory is not recorded twice.
    pub hash: String,
    pub diagnostics: Vec<Diagnostic>,
    /// Warnings found in what could be read (see [`Content::warnings`]).
    pub warnings: Vec<Diagnostic>,
}

/// Parses and validates every roadmap under `dir`. Returns all problems, not just the first.
pub fn parse_dir(dir: &Path) -> Result<Content, Invalid> {
    parse_folders(dir, read_sources(dir)?)
}

/// Reads every roadmap folder under `dir` (sorted, their `*.md` files too), without parsing.
pub fn read_sources(dir: &Path) -> Result<Vec<SourceFolder>, Invalid> {
    let mut roadmap_dirs = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect::<Vec<_>>(),
        Err(error) => {
            return Err(Invalid {
                hash: String::new(),
                diagnostics: vec![Diagnostic::new(
                    dir,
                    0,
                    format!("cannot read the content directory: {error}; check the path (--content-dir)"),
                )],
                warnings: Vec::new(),
            });
        }
    };
    roadmap_dirs.sort();
    let folders = roadmap_dirs.into_iter().map(read_folder).collect();
    Ok(folders)
}

/// Reads one roadmap folder: its `.md` files and its `assets/` folder, each sorted by path.
pub fn read_folder(path: PathBuf) -> SourceFolder {
    let mut entries: Vec<PathBuf> = fs::read_dir(&path)
        .map(|it| it.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    let files = entries
        .into_iter()
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(".md"))
        })
        .map(|p| read_file(p, MAX_FILE_BYTES))
        .collect();
    let mut asset_paths = Vec::new();
    collect_asset_paths(&path.join(links::ASSETS_FOLDER), &mut asset_paths);
    asset_paths.sort();
    let assets = asset_paths
        .into_iter()
        .map(|p| read_file(p, MAX_ASSET_BYTES))
        .collect();
    SourceFolder { path, files, assets }
}

/// Every regular file under `dir`, sub-folders included (hidden ones and symbolic
/// links to folders left out).
fn collect_asset_paths(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => collect_asset_paths(&path, out),
            _ if path.is_file() => out.push(path),
            _ => {}
        }
    }
}

/// The content version of files read: a hash of every file's path and SHA-256 (assets
/// too), of the renderer's version and of its settings. Cheap next to parsing, so an
/// unchanged directory is recognised before any markdown is rendered.
pub fn source_hash(folders: &[SourceFolder]) -> String {
    source_hash_with(folders, configured())
}

/// [`source_hash`] for content rendered with `options`.
pub fn source_hash_with(folders: &[SourceFolder], options: &RenderOptions) -> String {
    let mut hasher = Sha256::new();
    hasher.update(RENDER_VERSION.as_bytes());
    hasher.update(options.fingerprint().as_bytes());
    for file in folders.iter().flat_map(|f| f.files.iter().chain(&f.assets)) {
        hasher.update(file.path.to_string_lossy().as_bytes());
        hasher.update([0]);
        match &file.contents {
            Contents::Bytes(bytes) => {
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(file.digest);
            }
            Contents::TooLarge(size) => {
                hasher.update(b"too large");
                hasher.update(size.to_le_bytes());
            }
            Contents::Unreadable(error) => {
                hasher.update(b"unreadable");
                hasher.update(error.as_bytes());
            }
        }
    }
    hex::encode(hasher.finalize())
}

/// Parses in-memory files, as [`parse_dir`] would parse them on disk under `root`.
/// Paths are relative to `root` and have the shape `roadmap-folder/file.md`; other
/// paths (deeper, shallower, or in a folder starting with `.`) are ignored, as
/// `parse_dir` ignores such files. A later file with the same path replaces an earlier one.
pub fn parse_sources(root: &Path, files: &[(PathBuf, Vec<u8>)]) -> Result<Content, Invalid> {
    let mut by_folder: BTreeMap<PathBuf, BTreeMap<PathBuf, &[u8]>> = BTreeMap::new();
    let mut assets: BTreeMap<PathBuf, BTreeMap<PathBuf, &[u8]>> = BTreeMap::new();
    for (relative, bytes) in files {
        let parts: Vec<_> = relative.components().collect();
        if let [Component::Normal(folder), Component::Normal(assets_dir), _, ..] = parts[..]
            && assets_dir == links::ASSETS_FOLDER
            && parts[2..].iter().all(|c| matches!(c, Component::Normal(_)))
            && !folder.to_string_lossy().starts_with('.')
        {
            assets
                .entry(root.join(folder))
                .or_default()
                .insert(root.join(relative), bytes);
            continue;
        }
        let [Component::Normal(folder), Component::Normal(name)] = parts[..] else {
            continue;
        };
        if folder.to_string_lossy().starts_with('.') || !name.to_string_lossy().ends_with(".md") {
            continue;
        }
        let folder = root.join(folder);
        let path = folder.join(name);
        by_folder.entry(folder).or_default().insert(path, bytes);
    }
    let as_sources = |files: BTreeMap<PathBuf, &[u8]>| -> Vec<SourceFile> {
        files
            .into_iter()
            .map(|(path, bytes)| SourceFile::new(path, Contents::Bytes(bytes.to_vec())))
            .collect()
    };
    let folders = by_folder
        .into_iter()
        .map(|(path, files)| SourceFolder {
            assets: as_sources(assets.remove(&path).unwrap_or_default()),
            path,
            files: as_sources(files),
        })
        .collect();
    parse_folders(root, folders)
}

/// Splits fuzz input into content files for [`parse_sources`]: the bytes are cut at
/// each NUL into at most 8 files. A file whose first line is `//folder/name.md` is
/// stored under that path (the line is dropped); otherwise the first is
/// `r/roadmap.md` and the n-th `r/0n-s.md`. Shared by the fuzz target and
/// `tests/fuzz_regressions.rs`.
#[doc(hidden)]
pub fn split_fuzz_input(data: &[u8]) -> Vec<(PathBuf, Vec<u8>)> {
    data.split(|&b| b == 0)
        .take(8)
        .enumerate()
        .map(|(index, chunk)| {
            let default = if index == 0 {
                PathBuf::from("r/roadmap.md")
            } else {
                PathBuf::from(format!("r/{index:02}-s.md"))
            };
            if let Some(rest) = chunk.strip_prefix(b"//") {
                let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                let name = String::from_utf8_lossy(&rest[..end]).trim().to_string();
                let body = rest.get(end + 1..).unwrap_or_default().to_vec();
                let path = if name.is_empty() {
                    default
                } else {
                    PathBuf::from(name)
                };
                return (path, body);
            }
            (default, chunk.to_vec())
        })
        .collect()
}

/// What the `content_parse` fuzz target runs on its input, and `tests/fuzz_regressions.rs`
/// on every kept input: the renderer and heading scanner on each file, then the parser and
/// validator on them all. Panics if the result breaks the parser's promises.
#[doc(hidden)]
pub fn fuzz_content(data: &[u8]) -> Result<Content, Invalid> {
    let files = split_fuzz_input(data);
    for (_, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        markdown_to_html(&text);
        skill_body_to_html(&text);
        if let Ok(sections) = split_front_matter(&text) {
            scan_headings(sections.body);
        }
    }
    let result = parse_sources(Path::new("content"), &files);
    match &result {
        Ok(content) => {
            let mut ids = std::collections::HashSet::new();
            assert!(!content.roadmaps.is_empty());
            for roadmap in &content.roadmaps {
                assert!(is_valid_id(&roadmap.id) && !roadmap.stages.is_empty());
                for stage in &roadmap.stages {
                    assert!(
                        is_valid_id(&stage.id) && !(stage.skills.is_empty() && stage.includes.is_empty())
                    );
                    for skill in &stage.skills {
                        assert!(is_valid_id(&skill.id) && ids.insert(skill.id.as_str()));
                    }
                }
            }
        }
        Err(invalid) => assert!(!invalid.diagnostics.is_empty()),
    }
    result
}

/// Parses and validates roadmap folders already read (sorted by path, their files
/// too); `root` names the content directory in diagnostics. Pure: no file system.
/// Renders with this process's settings ([`configured`]).
pub fn parse_folders(root: &Path, folders: Vec<SourceFolder>) -> Result<Content, Invalid> {
    parse_folders_with(root, folders, &Renderer::new(configured().clone()))
}

/// [`parse_folders`] rendering with `renderer`.
pub fn parse_folders_with(
    root: &Path,
    folders: Vec<SourceFolder>,
    renderer: &Renderer,
) -> Result<Content, Invalid> {
    parse_folders_reusing(root, &folders, renderer, &FileCache::default())
}

/// [`parse_folders_with`], taking unchanged files from `cache` instead of parsing them.
pub fn parse_folders_reusing(
    root: &Path,
    folders: &[SourceFolder],
    renderer: &Renderer,
    cache: &FileCache,
) -> Result<Content, Invalid> {
    if folders.is_empty() {
        return Err(Invalid {
            hash: String::new(),
            diagnostics: vec![Diagnostic::new(
                root,
                0,
                "no roadmaps found: add a folder per roadmap, each with a roadmap.md and stage files",
            )],
            warnings: Vec::new(),
        });
    }
    let mut diagnostics = Vec::new();
    let mut warnings = Vec::new();
    let hash = source_hash_with(folders, renderer.options());

    let mut skill_ids = Seen::new();
    let mut roadmaps = Vec::new();
    let mut assets = Vec::new();
    let mut reuse = Reuse {
        cache,
        options: renderer.options().clone(),
        parsed: HashMap::new(),
    };
    for folder in folders {
        if let Some(roadmap) = parse_roadmap(folder, &mut skill_ids, &mut diagnostics, &mut reuse) {
            assets.extend(links::read_assets(&roadmap.id, folder, &mut diagnostics));
            roadmaps.push(roadmap);
        }
    }
    let source_files: Vec<PathBuf> = folders
        .iter()
        .flat_map(|f| &f.files)
        .map(|f| f.path.clone())
        .collect();
    if !cache.files.is_empty() {
        recheck_kept_links(folders, &mut roadmaps, &assets, &mut reuse, &mut warnings);
    }

    check_renames(&roadmaps, &skill_ids, &mut diagnostics);
    // A prerequisite named by an id that a `replaces=` renamed follows the rename.
    let renamed: HashMap<String, String> = roadmaps
        .iter()
        .flat_map(|r| &r.stages)
        .flat_map(|s| &s.skills)
        .flat_map(|k| k.replaces.iter().map(|old| (old.clone(), k.id.clone())))
        .collect();
    for skill in roadmaps
        .iter_mut()
        .flat_map(|r| &mut r.stages)
        .flat_map(|s| &mut s.skills)
    {
        for required in &mut skill.meta.requires {
            if let Some(new) = renamed.get(required.as_str()) {
                warnings.push(Diagnostic::new(
                    &skill.path,
                    skill.line,
                    format!(
                        "requires names \"{required}\", which is now \"{new}\" (replaces=); update the id"
                    ),
                ));
                *required = new.clone();
            }
        }
    }
    check_includes(&mut roadmaps, &renamed, &mut diagnostics, &mut warnings);
    super::meta::check_requires(
        roadmaps
            .iter()
            .flat_map(|r| &r.stages)
            .flat_map(|s| &s.skills)
            .map(|k| (k.id.as_str(), k.path.as_path(), k.line, &k.meta)),
        &mut diagnostics,
    );
    // Once every file is read, so links can point anywhere.
    let mut rendered = links::render_all(&mut roadmaps, &assets, renderer, &mut diagnostics, &mut warnings);
    warnings.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));

    if diagnostics.is_empty() {
        // What was parsed is kept with the HTML its introduction rendered to.
        let mut parsed_files = Vec::new();
        for roadmap in &roadmaps {
            let intros = std::iter::once((&roadmap.path, &roadmap.intro_html))
                .chain(roadmap.stages.iter().map(|s| (&s.path, &s.intro_html)));
            for (path, intro_html) in intros {
                let Some((hash, mut parse)) = reuse.parsed.remove(path) else {
                    continue;
                };
                match &mut parse {
                    CachedParse::Roadmap(file) => file.intro_html.clone_from(intro_html),
                    CachedParse::Stage { stage, .. } => stage.intro_html.clone_from(intro_html),
                }
                let render = rendered.remove(path).unwrap_or_default();
                parsed_files.push((
                    path.clone(),
                    CachedFile {
                        hash,
                        parse,
                        warnings: render.warnings,
                        lookups: render.lookups,
                    },
                ));
            }
        }
        roadmaps.sort_by(|a, b| (a.order, &a.title, &a.id).cmp(&(b.order, &b.title, &b.id)));
        Ok(Content {
            roadmaps,
            hash,
            warnings,
            assets,
            parsed_files,
            source_files,
            sources: None,
        })
    } else {
        diagnostics.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
        Err(Invalid {
            hash,
            diagnostics,
            warnings,
        })
    }
}

/// Kept files whose links would now resolve differently (a linked skill moved, a file
/// appeared) are parsed again, so that they render afresh; the others bring back the
/// warnings their rendering gave.
fn recheck_kept_links(
    folders: &[SourceFolder],
    roadmaps: &mut [RoadmapDef],
    assets: &[AssetDef],
    reuse: &mut Reuse<'_>,
    warnings: &mut Vec<Diagnostic>,
) {
    let index = links::LinkIndex::new(roadmaps, assets);
    let source = |path: &Path| folders.iter().flat_map(|f| &f.files).find(|f| f.path == path);
    let cache = reuse.cache;
    for roadmap in roadmaps.iter_mut() {
        let (roadmap_id, roadmap_path) = (roadmap.id.clone(), roadmap.path.clone());
        let mut kept = |path: &Path| -> bool {
            let Some(cached) = cache.files.get(path) else {
                return false;
            };
            if index.answers_alike(&roadmap_id, &roadmap_path, &cached.lookups) {
                warnings.extend(cached.warnings.iter().cloned());
                true
            } else {
                false
            }
        };
        if roadmap.reused && !kept(&roadmap.path) {
            let mut scratch = Vec::new();
            if let Some(file) = source(&roadmap.path)
                && let Some(text) = read_text(file, &mut scratch)
                && let Some((title, summary, order, group, intro_md, intro_line)) =
                    parse_roadmap_file(&roadmap.path, &text, &mut scratch)
            {
                reuse.keep(
                    file,
                    CachedParse::Roadmap(RoadmapFile {
                        title,
                        summary,
                        order,
                        group,
                        intro_md,
                        intro_line,
                        intro_html: String::new(),
                    }),
                );
            }
            roadmap.reused = false;
        }
        for stage in roadmap.stages.iter_mut() {
            if !stage.reused || kept(&stage.path) {
                continue;
            }
            // Same bytes as the kept parse: only the rendering differs.
            if let Some(file) = source(&stage.path)
                && let Some((fresh, id_line)) = parse_stage(
                    file,
                    stage.number,
                    &mut Seen::new(),
                    &mut Seen::new(),
                    &mut Vec::new(),
                )
            {
                reuse.keep(
                    file,
                    CachedParse::Stage {
                        stage: without_texts(&fresh),
                        id_line,
                    },
                );
                *stage = fresh;
            }
        }
    }
}

/// Every include names a skill defined in another stage, once per stage. An include of
/// an id that a `replaces=` renamed follows the rename, with a warning. (Includes cannot
/// form a cycle: an include always names a skill's one definition, never another include.)
fn check_includes(
    roadmaps: &mut [RoadmapDef],
    renamed: &HashMap<String, String>,
    diagnostics: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
    let defined: HashMap<String, (String, String, PathBuf, usize)> = roadmaps
        .iter()
        .flat_map(|r| r.stages.iter().map(move |s| (r, s)))
        .flat_map(|(r, s)| {
            s.skills
                .iter()
                .map(move |k| (k.id.clone(), (r.id.clone(), s.id.clone(), s.path.clone(), k.line)))
        })
        .collect();
    for roadmap in roadmaps.iter_mut() {
        // A skill is listed once per roadmap, so its percentage counts it once.
        let mut in_roadmap: HashMap<String, (PathBuf, usize)> = roadmap
            .stages
            .iter()
            .flat_map(|s| s.skills.iter().map(|k| (k.id.clone(), (s.path.clone(), k.line))))
            .collect();
        for stage in &mut roadmap.stages {
            for include in &mut stage.includes {
                if let Some(new) = renamed.get(&include.id) {
                    warnings.push(Diagnostic::new(
                        &stage.path,
                        include.line,
                        format!(
                            "include names \"{}\", which is now \"{new}\" (replaces=); update the id",
                            include.id
                        ),
                    ));
                    include.id.clone_from(new);
                }
                match defined.get(&include.id) {
                    None => diagnostics.push(Diagnostic::new(
                        &stage.path,
                        include.line,
                        format!(
                            "include names \"{}\", which no stage defines; define it once with \
                             `## Title {{#{}}}` in the stage it belongs to, or fix the id",
                            include.id, include.id
                        ),
                    )),
                    Some((r, s, path, line)) if *r == roadmap.id && *s == stage.id => {
                        diagnostics.push(Diagnostic::new(
                            &stage.path,
                            include.line,
                            format!(
                                "\"{}\" is defined in this stage ({}:{line}); a skill is listed once \
                                 per stage, so remove this include",
                                include.id,
                                path.display()
                            ),
                        ));
                    }
                    Some(_) => match in_roadmap.get(&include.id) {
                        Some((path, line)) => diagnostics.push(Diagnostic::new(
                            &stage.path,
                            include.line,
                            format!(
                                "\"{}\" is already in this roadmap ({}:{line}); a skill is listed \
                                 once per roadmap, so remove one of them",
                                include.id,
                                path.display()
                            ),
                        )),
                        None => {
                            in_roadmap.insert(include.id.clone(), (stage.path.clone(), include.line));
                        }
                    },
                }
            }
        }
    }
}

/// An old id named in `replaces=` must be gone from the files, and move to one skill only.
fn check_renames(roadmaps: &[RoadmapDef], defined: &Seen, diagnostics: &mut Vec<Diagnostic>) {
    let mut claimed: HashMap<&str, (&Path, usize)> = HashMap::new();
    for skill in roadmaps.iter().flat_map(|r| &r.stages).flat_map(|s| &s.skills) {
        for old in &skill.replaces {
            if let Some((path, line)) = defined.get(old) {
                diagnostics.push(Diagnostic::new(
                    &skill.path,
                    skill.line,
                    format!(
                        "skill \"{}\" replaces \"{old}\", but \"{old}\" is still defined at {}:{line}; \
                         delete that skill (its progress moves here) or drop it from replaces=",
                        skill.id,
                        path.display()
                    ),
                ));
            } else if let Some((path, line)) = claimed.get(old.as_str()) {
                diagnostics.push(Diagnostic::new(
                    &skill.path,
                    skill.line,
                    format!(
                        "\"{old}\" is already replaced by the skill at {}:{line}; an old id can move \
                         to one skill only",
                        path.display()
                    ),
                ));
            } else {
                claimed.insert(old, (&skill.path, skill.line));
            }
        }
    }
}

/// The stage number of `NN-name.md`, if the file name has that shape.
fn stage_number(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_suffix(".md")?;
    let (number, rest) = stem.split_once('-')?;
    if number.is_empty() || rest.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

fn parse_roadmap(
    folder: &SourceFolder,
    skill_ids: &mut Seen,
    diagnostics: &mut Vec<Diagnostic>,
    reuse: &mut Reuse<'_>,
) -> Option<RoadmapDef> {
    let dir = folder.path.as_path();
    let id = dir.file_name()?.to_string_lossy().into_owned();
    let roadmap_path = dir.join("roadmap.md");
    let errors_before = diagnostics.len();
    if !is_valid_id(&id) {
        diagnostics.push(Diagnostic::new(
            dir,
            0,
            format!(
                "invalid roadmap folder name \"{id}\": the folder name is the roadmap id; {}",
                id_rule()
            ),
        ));
    }

    let mut stage_files: Vec<(u32, &SourceFile)> = Vec::new();
    let mut numbers: HashMap<u32, &Path> = HashMap::new();
    let mut roadmap_file = None;
    for file in &folder.files {
        let path = file.path.as_path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name == "roadmap.md" {
            roadmap_file = Some(file);
            continue;
        }
        if !name.ends_with(".md") {
            continue;
        }
        match stage_number(&name) {
            Some(number) => {
                if let Some(first) = numbers.get(&number) {
                    diagnostics.push(Diagnostic::new(
                        path,
                        1,
                        format!(
                            "stage number {number} is also used by {}; give each stage file its own number",
                            first.display()
                        ),
                    ));
                } else {
                    numbers.insert(number, path);
                    stage_files.push((number, file));
                }
            }
            None => diagnostics.push(Diagnostic::new(
                path,
                1,
                "stage files must be named NN-name.md (NN orders the stages, e.g. 03-git.md); rename \
                 it or move it out of the roadmap folder",
            )),
        }
    }
    stage_files.sort_by(|a, b| (a.0, &a.1.path).cmp(&(b.0, &b.1.path)));

    let mut reused = false;
    let mut kept_intro = String::new();
    let front = if let Some(file) = roadmap_file {
        if let Some(CachedParse::Roadmap(kept)) = reuse.kept(file).map(|c| &c.parse) {
            reused = true;
            kept_intro.clone_from(&kept.intro_html);
            Some((
                kept.title.clone(),
                kept.summary.clone(),
                kept.order,
                kept.group.clone(),
                kept.intro_md.clone(),
                kept.intro_line,
            ))
        } else {
            let front = read_text(file, diagnostics)
                .and_then(|text| parse_roadmap_file(&roadmap_path, &text, diagnostics));
            if let Some((title, summary, order, group, intro_md, intro_line)) = &front {
                reuse.keep(
                    file,
                    CachedParse::Roadmap(RoadmapFile {
                        title: title.clone(),
                        summary: summary.clone(),
                        order: *order,
                        group: group.clone(),
                        intro_md: intro_md.clone(),
                        intro_line: *intro_line,
                        intro_html: String::new(),
                    }),
                );
            }
            front
        }
    } else {
        diagnostics.push(Diagnostic::new(
            &roadmap_path,
            0,
            "missing roadmap.md: every roadmap folder needs one, with a title and summary in `+++` front matter",
        ));
        None
    };

    if numbers.is_empty() {
        diagnostics.push(Diagnostic::new(
            &roadmap_path,
            1,
            "empty roadmap: it has no stage files; add one such as 01-basics.md with at least one skill",
        ));
    }

    let mut stage_ids = Seen::new();
    let mut stages = Vec::new();
    for (number, file) in stage_files {
        if let Some(CachedParse::Stage { stage, id_line }) = reuse.kept(file).map(|c| &c.parse) {
            // Checked against the other files as if it had been parsed.
            if let Some(duplicate) =
                check_duplicate(&mut stage_ids, "stage", &stage.id, &stage.path, *id_line)
            {
                diagnostics.push(duplicate);
            }
            for skill in &stage.skills {
                if let Some(duplicate) =
                    check_duplicate(skill_ids, "skill", &skill.id, &stage.path, skill.line)
                {
                    diagnostics.push(duplicate);
                }
            }
            let mut stage = stage.clone();
            stage.number = number;
            stage.reused = true;
            for skill in &mut stage.skills {
                skill.path.clone_from(&stage.path);
            }
            stages.push(stage);
        } else if let Some((stage, id_line)) =
            parse_stage(file, number, &mut stage_ids, skill_ids, diagnostics)
        {
            reuse.keep(
                file,
                CachedParse::Stage {
                    stage: without_texts(&stage),
                    id_line,
                },
            );
            stages.push(stage);
        }
    }

    let (title, summary, order, group, intro_md, intro_line) = front?;
    if diagnostics.len() > errors_before {
        return None;
    }
    Some(RoadmapDef {
        reused,
        id,
        title,
        summary,
        order,
        group,
        // Rendered once every file is parsed (`links::render_all`), unless kept.
        intro_html: kept_intro,
        intro_md,
        intro_line,
        path: roadmap_path,
        stages,
    })
}

type RoadmapFields = (String, String, i32, String, String, usize);

/// Line in `text` of the first non-blank character of `part`, which starts at byte `offset`.
fn first_text_line(text: &str, offset: usize, part: &str) -> usize {
    line_at(text, offset + (part.len() - part.trim_start().len()))
}

/// Line of `key = ` in a file's front matter (1 when it cannot be found).
fn front_key_line_in(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(key) && l.contains('='))
        .map_or(1, |i| i + 1)
}

fn parse_roadmap_file(path: &Path, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<RoadmapFields> {
    let sections = match split_front_matter(text) {
        Ok(sections) => sections,
        Err((line, message)) => {
            diagnostics.push(Diagnostic::new(path, line, message));
            return None;
        }
    };
    let front: RoadmapFront = parse_toml(path, &sections, diagnostics)?;
    let errors_before = diagnostics.len();
    let title = required(front.title, "title", "Backend Developer", path, diagnostics);
    let summary = required(
        front.summary,
        "summary",
        "One sentence for the home page.",
        path,
        diagnostics,
    );
    let group = front
        .group
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if group.chars().count() > 60 {
        diagnostics.push(Diagnostic::new(
            path,
            front_key_line_in(text, "group"),
            "group is longer than 60 characters; name the path or category in a few words",
        ));
    }
    check_headings(path, text, &sections, diagnostics, false);
    if diagnostics.len() > errors_before {
        return None;
    }
    Some((
        title?,
        summary?,
        front.order.unwrap_or(DEFAULT_ORDER),
        group,
        sections.body.trim().to_string(),
        first_text_line(text, sections.body_offset, sections.body),
    ))
}

fn required(
    value: Option<String>,
    key: &str,
    example: &str,
    path: &Path,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    match value.map(|v| v.trim().to_string()) {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            diagnostics.push(Diagnostic::new(
                path,
                2,
                format!("missing `{key}` in front matter; add a line such as {key} = \"{example}\""),
            ));
            None
        }
    }
}

/// A level-2 heading found in a stage body.
pub(crate) struct SkillHeading {
    /// Byte range of the heading in the body.
    pub start: usize,
    pub end: usize,
    pub title: String,
    pub id: Option<String>,
    pub classes: Vec<String>,
    /// `key=value` attributes, in order.
    pub attrs: Vec<(String, Option<String>)>,
    pub level: HeadingLevel,
    /// For a setext heading (text underlined with `---` or `===`): how many
    /// lines below the heading's first line its underline is.
    pub underline: Option<usize>,
}

/// Every heading in a markdown body; `##` inside code blocks is not a heading.
pub(crate) fn scan_headings(body: &str) -> Vec<SkillHeading> {
    let mut headings = Vec::new();
    let mut current: Option<SkillHeading> = None;
    for (event, range) in Parser::new_ext(body, markdown_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => {
                current = Some(SkillHeading {
                    start: range.start,
                    end: range.end,
                    title: String::new(),
                    id: id.map(|id| id.to_string()),
                    classes: classes.iter().map(|c| c.to_string()).collect(),
                    attrs: attrs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_string())))
                        .collect(),
                    level,
                    underline: setext_underline(&body[range.clone()]),
                });
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(mut heading) = current.take() {
                    heading.title = heading.title.split_whitespace().collect::<Vec<_>>().join(" ");
                    headings.push(heading);
                }
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some(heading) = current.as_mut() {
                    heading.title.push_str(&text);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(heading) = current.as_mut() {
                    heading.title.push(' ');
                }
            }
            _ => {}
        }
    }
    headings
}

/// Lines from a heading's first line to its setext underline; `None` for `#` headings.
fn setext_underline(source: &str) -> Option<usize> {
    let source = source.trim_end();
    if source.trim_start().starts_with('#') {
        return None;
    }
    Some(source.matches('\n').count())
}

/// What to say about a setext heading (a line underlined with `---` or `===`):
/// in a stage file `---` silently starts a skill, `===` a level-1 heading.
pub(crate) fn setext_message(title: &str, title_line: usize, underline: char) -> String {
    let (what, rule) = if underline == '=' {
        ("a level-1 heading, which content files do not allow", "")
    } else {
        (
            "a level-2 heading, so it would start a new skill here",
            ", or put a blank line before `---` if you meant a thematic break (a horizontal rule)",
        )
    };
    format!(
        "the `{underline}{underline}{underline}` line under \"{title}\" (line {title_line}) makes it a setext heading, {what}; \
         write `## {title} {{#id}}` for a new skill or `### {title}` for a heading inside the skill{rule}"
    )
}

/// Level-1 headings are refused: a page's title comes from its front matter.
fn check_headings(
    path: &Path,
    text: &str,
    sections: &Sections<'_>,
    diagnostics: &mut Vec<Diagnostic>,
    is_stage: bool,
) {
    for heading in scan_headings(sections.body) {
        if heading.level == HeadingLevel::H1 {
            let line = line_at(text, sections.body_offset + heading.start);
            if let Some(underline) = heading.underline {
                diagnostics.push(Diagnostic::new(
                    path,
                    line + underline,
                    setext_message(&heading.title, line, '='),
                ));
                continue;
            }
            let hint = if is_stage {
                "use `## Title {#id}` for a skill or `###` inside a skill"
            } else {
                "use `##` or deeper in the introduction"
            };
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!(
                    "level-1 heading \"{}\": the page title comes from the front matter; {hint}",
                    heading.title
                ),
            ));
        }
    }
}

fn parse_stage(
    file: &SourceFile,
    number: u32,
    stage_ids: &mut Seen,
    skill_ids: &mut Seen,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(StageDef, usize)> {
    let path = file.path.as_path();
    let text = read_text(file, diagnostics)?;
    let sections = match split_front_matter(&text) {
        Ok(sections) => sections,
        Err((line, message)) => {
            diagnostics.push(Diagnostic::new(path, line, message));
            return None;
        }
    };
    let errors_before = diagnostics.len();
    let front: Option<StageFront> = parse_toml(path, &sections, diagnostics);
    let id_line = front_key_line(&sections, "id");
    let (id, title) = match front {
        Some(front) => {
            let id = match front.id.map(|v| v.trim().to_string()) {
                Some(id) if is_valid_id(&id) => {
                    if let Some(duplicate) = check_duplicate(stage_ids, "stage", &id, path, id_line) {
                        diagnostics.push(duplicate);
                    }
                    Some(id)
                }
                Some(id) => {
                    diagnostics.push(Diagnostic::new(
                        path,
                        id_line,
                        format!("invalid stage id \"{id}\": {}", id_rule()),
                    ));
                    None
                }
                None => {
                    diagnostics.push(Diagnostic::new(
                        path,
                        2,
                        "missing `id` in front matter; add a line such as id = \"git-basics\" (the stable \
                         key progress hangs on; `pathway content check --fix` derives one from the title)",
                    ));
                    None
                }
            };
            let title = required(front.title, "title", "Git and collaboration", path, diagnostics);
            (id, title)
        }
        None => (None, None),
    };
    check_headings(path, &text, &sections, diagnostics, true);

    let headings: Vec<SkillHeading> = scan_headings(sections.body)
        .into_iter()
        .filter(|h| h.level == HeadingLevel::H2)
        .collect();
    let intro_end = headings.first().map_or(sections.body.len(), |h| h.start);
    let intro_md = sections.body[..intro_end].trim().to_string();
    let intro_line = first_text_line(&text, sections.body_offset, &sections.body[..intro_end]);

    let mut skills = Vec::new();
    let mut includes = Vec::new();
    for (index, heading) in headings.iter().enumerate() {
        let line = line_at(&text, sections.body_offset + heading.start);
        let body_end = headings
            .get(index + 1)
            .map_or(sections.body.len(), |next| next.start);
        let raw_body = &sections.body[heading.end..body_end];
        let leading = raw_body.len() - raw_body.trim_start().len();
        let body_line = line_at(&text, sections.body_offset + heading.end + leading);
        if heading.attrs.iter().any(|(key, _)| key == "include") {
            if let Some(id) = check_include(path, (line, body_line), heading, raw_body, diagnostics) {
                includes.push(IncludeDef { id, index, line });
            }
            continue;
        }
        let body_md = raw_body.trim().to_string();
        // An optional `+++` block of metadata opens the body (content::meta).
        let (meta, rest, removed) = super::meta::split_meta(path, body_line, &body_md, diagnostics);
        let (body_md, body_line) = if removed > 0 {
            let leading = &rest[..rest.len() - rest.trim_start().len()];
            (
                rest.trim().to_string(),
                body_line + removed + leading.matches('\n').count(),
            )
        } else {
            (body_md, body_line)
        };
        if let Some(mut skill) =
            check_skill(path, (line, body_line), heading, body_md, skill_ids, diagnostics)
        {
            skill.meta = meta;
            skills.push(skill);
        }
    }
    if headings.is_empty() {
        diagnostics.push(Diagnostic::new(
            path,
            1,
            "stage has no skills: add at least one `## Skill title {#skill-id}` heading (or \
             `## {include=skill-id}` for a skill defined in another stage)",
        ));
    }

    if diagnostics.len() > errors_before {
        return None;
    }
    Some((
        StageDef {
            reused: false,
            id: id?,
            title: title?,
            number,
            intro_html: String::new(),
            intro_md,
            intro_line,
            path: path.to_path_buf(),
            skills,
            includes,
        },
        id_line,
    ))
}

/// Line of `key = ...` in the front matter, or the first front-matter line.
fn front_key_line(sections: &Sections<'_>, key: &str) -> usize {
    sections
        .front
        .lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(sections.front_line, |index| sections.front_line + index)
}

fn check_skill(
    path: &Path,
    (line, body_line): (usize, usize),
    heading: &SkillHeading,
    body_md: String,
    skill_ids: &mut Seen,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<SkillDef> {
    let errors_before = diagnostics.len();
    if heading.title.is_empty() {
        diagnostics.push(Diagnostic::new(
            path,
            line,
            "skill heading has no title; write one after `##`",
        ));
    }
    for class in &heading.classes {
        if !SKILL_CLASSES.contains(&class.as_str()) {
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!("unknown class \".{class}\" on skill heading; the known classes are .optional and .project"),
            ));
        }
    }
    let mut replaces = Vec::new();
    for (key, value) in &heading.attrs {
        if key == "replaces" {
            replaces = check_replaces(path, line, heading.id.as_deref(), value.as_deref(), diagnostics);
        } else {
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!(
                    "unsupported heading attribute \"{key}\"; a skill heading takes only \
                     {{#id .optional .project replaces=old-id,other-id}}"
                ),
            ));
        }
    }
    let steps = scan_steps(path, body_line, &body_md, diagnostics);
    match &heading.id {
        None if heading.underline.is_some() => diagnostics.push(Diagnostic::new(
            path,
            line + heading.underline.unwrap_or_default(),
            setext_message(&heading.title, line, '-'),
        )),
        None => diagnostics.push(Diagnostic::new(
            path,
            line,
            format!(
                "skill heading \"{}\" has no id; add one, e.g. `## {} {{#{}}}`, or run `pathway content check --fix`",
                heading.title,
                heading.title,
                super::fix::id_from_title(&heading.title)
            ),
        )),
        Some(id) if !is_valid_id(id) => {
            diagnostics.push(Diagnostic::new(path, line, format!("invalid skill id \"{id}\": {}", id_rule())))
        }
        Some(id) => {
            if let Some(duplicate) = check_duplicate(skill_ids, "skill", id, path, line) {
                diagnostics.push(duplicate);
            }
        }
    }
    if diagnostics.len() > errors_before {
        return None;
    }
    Some(SkillDef {
        id: heading.id.clone()?,
        title: heading.title.clone(),
        body_html: String::new(),
        body_text: super::plain::plain_text(&body_md),
        content_hash: skill_content_hash(&body_md),
        body_md,
        optional: heading.classes.iter().any(|c| c == "optional"),
        project: heading.classes.iter().any(|c| c == "project"),
        path: path.to_path_buf(),
        line,
        body_line,
        replaces,
        steps,
        meta: super::meta::SkillMeta::default(),
    })
}

/// An include heading, `## {include=skill-id}`: one valid id, nothing else on the
/// heading, and no text under it (the text is the definition's).
fn check_include(
    path: &Path,
    (line, body_line): (usize, usize),
    heading: &SkillHeading,
    raw_body: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    let errors_before = diagnostics.len();
    let value = heading
        .attrs
        .iter()
        .find(|(key, _)| key == "include")
        .and_then(|(_, value)| value.clone())
        .unwrap_or_default();
    if !is_valid_id(&value) {
        diagnostics.push(Diagnostic::new(
            path,
            line,
            format!(
                "include needs one skill id, e.g. `## {{include=git-basics}}`; \"{value}\" is not one: {}",
                id_rule()
            ),
        ));
    }
    if heading.id.is_some() || !heading.classes.is_empty() || heading.attrs.len() > 1 {
        diagnostics.push(Diagnostic::new(
            path,
            line,
            "an include heading takes only `include=id`: the id, classes, replaces= and \
             metadata belong to the skill's definition",
        ));
    }
    if !raw_body.trim().is_empty() {
        diagnostics.push(Diagnostic::new(
            path,
            body_line,
            format!(
                "text under `## {{include={value}}}` would be lost: an included skill shows its own \
                 text; move this text into the skill's definition, or start a new skill with \
                 `## Title {{#id}}` above it"
            ),
        ));
    }
    (diagnostics.len() == errors_before).then_some(value)
}

/// The ids in `replaces=a,b`: valid, distinct, and not the skill's own id.
fn check_replaces(
    path: &Path,
    line: usize,
    own_id: Option<&str>,
    value: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let value = value.unwrap_or_default();
    let mut ids: Vec<String> = Vec::new();
    for id in value.split(',').map(str::trim) {
        if !is_valid_id(id) {
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!(
                    "invalid id \"{id}\" in replaces=: list the old skill ids separated by commas, \
                     without spaces, e.g. replaces=http-intro,web-basics; {}",
                    id_rule()
                ),
            ));
        } else if Some(id) == own_id {
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!("skill \"{id}\" cannot replace itself; remove it from replaces="),
            ));
        } else if ids.iter().any(|seen| seen == id) {
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!("\"{id}\" is listed twice in replaces=; list it once"),
            ));
        } else {
            ids.push(id.to_string());
        }
    }
    ids
}

/// The task-list items of a skill body, keyed by `{#key}` or a slug of their text.
fn scan_steps(path: &Path, body_line: usize, body_md: &str, diagnostics: &mut Vec<Diagnostic>) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    // Text of the task item being read, and its nesting depth among items.
    let mut current: Option<(String, usize)> = None;
    let mut depth = 0usize;
    let mut item_start = 0usize;
    for (event, range) in Parser::new_ext(body_md, markdown_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Item) => {
                depth += 1;
                item_start = range.start;
            }
            Event::TaskListMarker(_) => current = Some((String::new(), depth)),
            Event::Text(text) | Event::Code(text) => {
                if let Some((item, d)) = current.as_mut()
                    && *d == depth
                {
                    item.push_str(&text);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((item, _)) = current.as_mut() {
                    item.push(' ');
                }
            }
            Event::Start(Tag::List(_)) => {
                // A nested list ends the task's own text.
                if let Some((item, _)) = current.take() {
                    finish_step(
                        path,
                        body_line + line_at(body_md, item_start) - 1,
                        item,
                        &mut steps,
                        diagnostics,
                    );
                }
            }
            Event::End(TagEnd::Item) => {
                if let Some((item, d)) = current.take()
                    && d == depth
                {
                    finish_step(
                        path,
                        body_line + line_at(body_md, item_start) - 1,
                        item,
                        &mut steps,
                        diagnostics,
                    );
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    steps
}

fn finish_step(
    path: &Path,
    line: usize,
    text: String,
    steps: &mut Vec<Step>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let (text, explicit) = split_step_key(&text);
    let key = match explicit {
        Some(key) if !is_valid_id(key) => {
            diagnostics.push(Diagnostic::new(
                path,
                line,
                format!("invalid sub-step key \"{key}\": {}", id_rule()),
            ));
            return;
        }
        Some(key) => key.to_string(),
        None => slugify(text),
    };
    if text.is_empty() {
        diagnostics.push(Diagnostic::new(
            path,
            line,
            "empty sub-step: write what to do after `- [ ]`",
        ));
        return;
    }
    if steps.iter().any(|s| s.key == key) {
        diagnostics.push(Diagnostic::new(
            path,
            line,
            format!(
                "two sub-steps of this skill have the key \"{key}\"; reword one or give it its own key \
                 with {{#another-key}} at the end of the item"
            ),
        ));
        return;
    }
    steps.push(Step {
        key,
        text: text.to_string(),
    });
}

/// Splits `Write tests {#tests}` into its text and explicit key.
pub fn split_step_key(text: &str) -> (&str, Option<&str>) {
    if let Some(rest) = text.strip_suffix('}')
        && let Some(open) = rest.rfind("{#")
    {
        return (rest[..open].trim_end(), Some(rest[open + 2..].trim()));
    }
    (text, None)
}

/// Hash of a skill's text with whitespace folded, so reflowing a paragraph is not a change.
pub fn skill_content_hash(body_md: &str) -> String {
    let mut hasher = Sha256::new();
    for word in body_md.split_whitespace() {
        hasher.update(word.as_bytes());
        hasher.update(b" ");
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_slugs() {
        for good in ["a", "http", "http-basics", "owasp-top-10", "a1-b2"] {
            assert!(is_valid_id(good), "{good}");
        }
        for bad in [
            "",
            "HTTP",
            "http_basics",
            "-a",
            "a-",
            "a--b",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn slugify_makes_valid_ids() {
        assert_eq!(slugify("HTTP & DNS basics"), "http-dns-basics");
        assert_eq!(slugify("  Git: branching!  "), "git-branching");
        assert_eq!(slugify("???"), "item");
        assert!(is_valid_id(&slugify(&"Long title ".repeat(20))));
    }

    #[test]
    fn whitespace_only_edits_keep_the_skill_hash() {
        assert_eq!(skill_content_hash("a  b\nc"), skill_content_hash("a b c\n"));
        assert_ne!(skill_content_hash("a b c"), skill_content_hash("a b d"));
    }

    #[test]
    fn stage_numbers_come_from_file_names() {
        assert_eq!(stage_number("03-git.md"), Some(3));
        assert_eq!(stage_number("10-x-y.md"), Some(10));
        assert_eq!(stage_number("git.md"), None);
        assert_eq!(stage_number("03-.md"), None);
        assert_eq!(stage_number("a3-git.md"), None);
    }
}
