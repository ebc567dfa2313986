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

/// Renders every introduction and skill of valid roadmaps. Links to unknown skills,
/// files or assets are errors; the rest of what the author should know are warnings.
pub fn render_all(
    roadmaps: &mut [RoadmapDef],
    assets: &[AssetDef],
    renderer: &Renderer,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
    let index = Index::new(roadmaps, assets);
    let mut report = |path: &Path, base_line: usize, problems: Vec<Problem>| {
        for problem in problems {
            let diagnostic = Diagnostic::new(path, base_line + problem.line - 1, problem.message);
            if problem.error {
                errors.push(diagnostic);
            } else {
                warnings.push(diagnostic);
            }
        }
    };
    for roadmap in roadmaps.iter_mut() {
        let dir = roadmap.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let id = roadmap.id.clone();
        let targets = FileTargets {
            index: &index,
            dir: &dir,
            roadmap: &id,
        };
        let rendered = renderer.render(&roadmap.intro_md, &Scope::roadmap_intro(&roadmap.id), &targets);
        roadmap.intro_html = rendered.html;
        report(&roadmap.path, roadmap.intro_line, rendered.problems);
        for stage in &mut roadmap.stages {
            let rendered = renderer.render(&stage.intro_md, &Scope::stage_intro(&stage.id), &targets);
            stage.intro_html = rendered.html;
            report(&stage.path, stage.intro_line, rendered.problems);
            for skill in &mut stage.skills {
                let rendered = renderer.render(&skill.body_md, &Scope::skill(&skill.id), &targets);
                skill.body_html = rendered.html;
                report(&skill.path, skill.body_line, rendered.problems);
            }
        }
    }
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
