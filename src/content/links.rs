//! The rendering pass that runs once every file is parsed: links between skills, files and assets resolve here.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Diagnostic;
use super::parse::{Contents, RoadmapDef, SourceFile, SourceFolder};
use super::render::{Problem, Renderer, Scope, Targets};

/// Largest file an `assets/` folder may hold: pages should stay light.
pub const MAX_ASSET_BYTES: u64 = 5 * 1024 * 1024;
/// The folder of a roadmap that holds its images and other files.
pub const ASSETS_FOLDER: &str = "assets";

/// A file of a roadmap's `assets/` folder, served under a URL that names its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetDef {
    /// The path diagnostics name.
    pub path: PathBuf,
    /// The roadmap id it belongs to.
    pub roadmap: String,
    /// Its path inside `assets/`, with `/` separators: what links name.
    pub name: String,
    /// SHA-256 of the bytes, hex: the key it is stored and served under.
    pub hash: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl AssetDef {
    /// `/assets/{hash}/{file name}`: a new version is a new URL, so it can be cached for good.
    pub fn url(&self) -> String {
        let file = self.name.rsplit('/').next().unwrap_or_default();
        let file: String = file
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!("/assets/{}/{file}", self.hash)
    }
}

/// The assets of one roadmap folder; oversized or unreadable files are errors.
pub fn read_assets(roadmap: &str, folder: &SourceFolder, diagnostics: &mut Vec<Diagnostic>) -> Vec<AssetDef> {
    let root = folder.path.join(ASSETS_FOLDER);
    let mut assets = Vec::new();
    for file in &folder.assets {
        let Some(name) = asset_name(&root, file) else {
            continue;
        };
        match &file.contents {
            Contents::Bytes(bytes) if bytes.len() as u64 <= MAX_ASSET_BYTES => {
                assets.push(AssetDef {
                    path: file.path.clone(),
                    roadmap: roadmap.to_string(),
                    hash: hex::encode(Sha256::digest(bytes)),
                    content_type: mime_guess::from_path(&name)
                        .first_raw()
                        .unwrap_or("application/octet-stream")
                        .to_string(),
                    name,
                    bytes: bytes.clone(),
                });
            }
            Contents::Bytes(bytes) => diagnostics.push(too_large(&file.path, bytes.len() as u64)),
            Contents::TooLarge(size) => diagnostics.push(too_large(&file.path, *size)),
            Contents::Unreadable(error) => {
                diagnostics.push(Diagnostic::new(
                    &file.path,
                    0,
                    format!("cannot read asset: {error}"),
                ));
            }
        }
    }
    assets
}

fn asset_name(root: &Path, file: &SourceFile) -> Option<String> {
    let relative = file.path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect();
    parts.map(|parts| parts.join("/"))
}

fn too_large(path: &Path, size: u64) -> Diagnostic {
    Diagnostic::new(
        path,
        0,
        format!(
            "asset is too large ({:.1} MiB; the limit is {} MiB per file); shrink or compress it, or link to it elsewhere",
            size as f64 / (1024.0 * 1024.0),
            MAX_ASSET_BYTES / (1024 * 1024)
        ),
    )
}

/// What a link to a content file leads to.
enum FileTarget {
    Roadmap(String),
    Stage {
        roadmap: String,
        stage: String,
        skills: HashSet<String>,
    },
}

/// Everything links can point at, across all roadmaps.
struct Index {
    /// Skill id → (roadmap id, stage id).
    skills: HashMap<String, (String, String)>,
    files: HashMap<PathBuf, FileTarget>,
    /// (roadmap id, name in assets/) → URL.
    assets: HashMap<(String, String), String>,
}

/// The page of a skill: `/roadmaps/{roadmap}/{stage}/{skill}`.
pub fn skill_url(roadmap: &str, stage: &str, skill: &str) -> String {
    format!("/roadmaps/{roadmap}/{stage}/{skill}")
}

impl Index {
    fn new(roadmaps: &[RoadmapDef], assets: &[AssetDef]) -> Self {
        let mut skills = HashMap::new();
        let mut files = HashMap::new();
        for roadmap in roadmaps {
            files.insert(normalize(&roadmap.path), FileTarget::Roadmap(roadmap.id.clone()));
            for stage in &roadmap.stages {
                let mut ids = HashSet::new();
                for skill in &stage.skills {
                    skills.insert(skill.id.clone(), (roadmap.id.clone(), stage.id.clone()));
                    ids.insert(skill.id.clone());
                }
                files.insert(
                    normalize(&stage.path),
                    FileTarget::Stage {
                        roadmap: roadmap.id.clone(),
                        stage: stage.id.clone(),
                        skills: ids,
                    },
                );
            }
        }
        let assets = assets
            .iter()
            .map(|a| ((a.roadmap.clone(), a.name.clone()), a.url()))
            .collect();
        Self {
            skills,
            files,
            assets,
        }
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Links as seen from one file of one roadmap.
struct FileTargets<'i> {
    index: &'i Index,
    /// The folder of the file being rendered.
    dir: &'i Path,
    roadmap: &'i str,
}

impl Targets for FileTargets<'_> {
    fn skill_url(&self, id: &str) -> Option<String> {
        let (roadmap, stage) = self.index.skills.get(id)?;
        Some(skill_url(roadmap, stage, id))
    }

    fn file_url(&self, path: &str, fragment: Option<&str>) -> Result<String, String> {
        let target = normalize(&self.dir.join(path));
        match self.index.files.get(&target) {
            None => Err(format!(
                "there is no roadmap or stage file {} in the content",
                target.display()
            )),
            Some(FileTarget::Roadmap(roadmap)) => Ok(format!("/roadmaps/{roadmap}")),
            Some(FileTarget::Stage { roadmap, stage, .. }) if fragment.is_none() => {
                Ok(format!("/roadmaps/{roadmap}/{stage}"))
            }
            Some(FileTarget::Stage {
                roadmap,
                stage,
                skills,
            }) => {
                let id = fragment.unwrap_or_default();
                if skills.contains(id) {
                    Ok(skill_url(roadmap, stage, id))
                } else {
                    Err(format!(
                        "{} has no skill with the id \"{id}\"; after # put the id of a skill in that file",
                        target.display()
                    ))
                }
            }
        }
    }

    fn asset_url(&self, name: &str) -> Option<String> {
        self.index
            .assets
            .get(&(self.roadmap.to_string(), name.to_string()))
            .cloned()
    }
}

/// One question a file's rendering asked about other files, and the answer it got.
/// A file kept from an earlier load (`parse::FileCache`) is reused only while every
/// question it asked still gets the same answer: a link to a skill that moved is re-rendered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Lookup {
    Skill(String, Option<String>),
    File(String, Option<String>, Result<String, String>),
    Asset(String, Option<String>),
}

/// [`FileTargets`] that writes down what it was asked.
struct Recording<'t> {
    targets: FileTargets<'t>,
    lookups: std::cell::RefCell<Vec<Lookup>>,
}

impl Targets for Recording<'_> {
    fn skill_url(&self, id: &str) -> Option<String> {
        let answer = self.targets.skill_url(id);
        self.lookups
            .borrow_mut()
            .push(Lookup::Skill(id.to_string(), answer.clone()));
        answer
    }

    fn file_url(&self, path: &str, fragment: Option<&str>) -> Result<String, String> {
        let answer = self.targets.file_url(path, fragment);
        self.lookups.borrow_mut().push(Lookup::File(
            path.to_string(),
            fragment.map(str::to_string),
            answer.clone(),
        ));
        answer
    }

    fn asset_url(&self, name: &str) -> Option<String> {
        let answer = self.targets.asset_url(name);
        self.lookups
            .borrow_mut()
            .push(Lookup::Asset(name.to_string(), answer.clone()));
        answer
    }
}

/// What rendering one file gave besides its HTML.
#[derive(Debug, Clone, Default)]
pub struct FileRender {
    pub lookups: Vec<Lookup>,
    /// Its warnings (errors go to the load's errors).
    pub warnings: Vec<Diagnostic>,
}

/// Everything links can point at, built once per load from the parsed structure.
pub struct LinkIndex(Index);

impl LinkIndex {
    pub fn new(roadmaps: &[RoadmapDef], assets: &[AssetDef]) -> Self {
        Self(Index::new(roadmaps, assets))
    }

    /// Whether `lookups`, asked from a file of `roadmap` (whose `roadmap.md` is at
    /// `roadmap_path`), get the same answers now.
    pub fn answers_alike(&self, roadmap: &str, roadmap_path: &Path, lookups: &[Lookup]) -> bool {
        let dir = roadmap_path.parent().unwrap_or(Path::new(""));
        let targets = FileTargets {
            index: &self.0,
            dir,
            roadmap,
        };
        lookups.iter().all(|lookup| match lookup {
            Lookup::Skill(id, answer) => targets.skill_url(id) == *answer,
            Lookup::File(path, fragment, answer) => targets.file_url(path, fragment.as_deref()) == *answer,
            Lookup::Asset(name, answer) => targets.asset_url(name) == *answer,
        })
    }
}

/// Renders every introduction and skill of valid roadmaps, except the files kept
/// from an earlier load (`reused`), which already hold their HTML. Links to unknown
/// skills, files or assets are errors; the rest of what the author should know are
/// warnings. Returns, per file rendered, what its rendering asked and warned.
pub fn render_all(
    roadmaps: &mut [RoadmapDef],
    assets: &[AssetDef],
    renderer: &Renderer,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> HashMap<PathBuf, FileRender> {
    let index = Index::new(roadmaps, assets);
    let mut files: HashMap<PathBuf, FileRender> = HashMap::new();
    let mut report =
        |files: &mut HashMap<PathBuf, FileRender>, path: &Path, base_line: usize, problems: Vec<Problem>| {
            let file = files.entry(path.to_path_buf()).or_default();
            for problem in problems {
                let diagnostic = Diagnostic::new(path, base_line + problem.line - 1, problem.message);
                if problem.error {
                    errors.push(diagnostic);
                } else {
                    file.warnings.push(diagnostic.clone());
                    warnings.push(diagnostic);
                }
            }
        };
    for roadmap in roadmaps.iter_mut() {
        let dir = roadmap.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let id = roadmap.id.clone();
        let recording = || Recording {
            targets: FileTargets {
                index: &index,
                dir: &dir,
                roadmap: &id,
            },
            lookups: std::cell::RefCell::new(Vec::new()),
        };
        if !roadmap.reused {
            let targets = recording();
            let rendered = renderer.render(&roadmap.intro_md, &Scope::roadmap_intro(&roadmap.id), &targets);
            roadmap.intro_html = rendered.html;
            report(&mut files, &roadmap.path, roadmap.intro_line, rendered.problems);
            files.entry(roadmap.path.clone()).or_default().lookups = targets.lookups.into_inner();
        }
        for stage in roadmap.stages.iter_mut().filter(|s| !s.reused) {
            let targets = recording();
            let rendered = renderer.render(&stage.intro_md, &Scope::stage_intro(&stage.id), &targets);
            stage.intro_html = rendered.html;
            report(&mut files, &stage.path, stage.intro_line, rendered.problems);
            for skill in &mut stage.skills {
                let rendered = renderer.render(&skill.body_md, &Scope::skill(&skill.id), &targets);
                skill.body_html = rendered.html;
                report(&mut files, &skill.path, skill.body_line, rendered.problems);
            }
            files.entry(stage.path.clone()).or_default().lookups = targets.lookups.into_inner();
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(
            normalize(Path::new("content/frontend/../backend/./03-git.md")),
            PathBuf::from("content/backend/03-git.md")
        );
        assert_eq!(normalize(Path::new("../x.md")), PathBuf::from("../x.md"));
    }

    #[test]
    fn asset_urls_name_the_content_and_a_safe_file_name() {
        let asset = AssetDef {
            path: "content/r/assets/img/My diagram.png".into(),
            roadmap: "r".into(),
            name: "img/My diagram.png".into(),
            hash: "ab12".into(),
            content_type: "image/png".into(),
            bytes: Vec::new(),
        };
        assert_eq!(asset.url(), "/assets/ab12/My-diagram.png");
    }
}
