//! The inputs the fuzzers kept (`fuzz/regressions/<target>/`), run through the same code on
//! stable Rust: every one gives content or diagnostics, a plan or problems, never a panic.
//! Files named `ok-*` must be accepted. See docs/fuzzing.md.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

fn expects_ok(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("ok-"))
}

#[test]
fn content_parse_inputs_never_panic() {
    for (path, data) in inputs("content_parse") {
        let result = std::panic::catch_unwind(|| pathway::content::parse::fuzz_content(&data));
        let Ok(result) = result else {
            panic!("{} panicked", path.display());
        };
        if expects_ok(&path) {
            assert!(result.is_ok(), "{}: {:#?}", path.display(), result.err());
        }
    }
}

/// The ids the `import_file` fuzz target validates against (kept in step with it).
fn known() -> (HashSet<String>, HashSet<String>, HashMap<String, String>) {
    let skills = ["http-basics", "git-commits", "sql-joins"]
        .map(String::from)
        .into();
    let roadmaps = ["backend", "career"].map(String::from).into();
    let aliases = [("http-intro".to_string(), "http-basics".to_string())].into();
    (skills, roadmaps, aliases)
}

#[test]
fn import_file_inputs_never_panic() {
    let (skills, roadmaps, aliases) = known();
    for (path, data) in inputs("import_file") {
        let result =
            std::panic::catch_unwind(|| pathway::transfer::validate(&data, &skills, &roadmaps, &aliases));
        let Ok(result) = result else {
            panic!("{} panicked", path.display());
        };
        match result {
            Ok(plan) => {
                assert!(
                    plan.skills.iter().all(|(e, _)| skills.contains(&e.skill)),
                    "{}: a plan item names an unknown skill",
                    path.display()
                );
                assert!(
                    plan.notes.iter().all(|e| skills.contains(&e.skill)),
                    "{}",
                    path.display()
                );
            }
            Err(problems) => {
                assert!(
                    !problems.is_empty(),
                    "{}: an error without problems",
                    path.display()
                );
                assert!(!expects_ok(&path), "{}: {problems:#?}", path.display());
            }
        }
    }
}

/// The in-memory entry point the fuzzer drives parses the shipped content exactly as
/// `parse_dir` does (same roadmaps, same hash).
#[test]
fn parse_sources_matches_parse_dir() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("content");
    let mut files = Vec::new();
    for roadmap in std::fs::read_dir(&root).unwrap() {
        let roadmap = roadmap.unwrap().path();
        for file in std::fs::read_dir(&roadmap).unwrap() {
            let path = file.unwrap().path();
            let relative = path.strip_prefix(&root).unwrap().to_path_buf();
            files.push((relative, std::fs::read(&path).unwrap()));
        }
    }
    let from_dir = pathway::content::parse_dir(&root).unwrap();
    let from_memory = pathway::content::parse::parse_sources(&root, &files).unwrap();
    assert_eq!(format!("{from_dir:?}"), format!("{from_memory:?}"));
}
