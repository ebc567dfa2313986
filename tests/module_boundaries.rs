//! Module boundaries: route modules do not import each other, nothing but the app's wiring imports routes, and the planner and the content queries do not import each other.

use std::fs;
use std::path::{Path, PathBuf};

/// Files in src/routes that are shared helpers, not route areas: any route module may use them.
const ROUTE_HELPERS: &[&str] = &["mod", "form"];

/// Files outside src/routes that may name `crate::routes`: the crate root and the router's wiring.
const WIRING: &[&str] = &["lib.rs", "app.rs"];

/// Imports between route modules still waiting for another change: (file, sibling it names).
/// admin_content takes the Admin extractor from auth once its own rework lands.
const KNOWN: &[(&str, &str)] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The source without `//` comments, so prose naming a module does not count.
fn code(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment after every `prefix` (`prefix::a`, `prefix::{a::X, b}` → a, b).
fn segments_after(code: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut part = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    _ => {}
                }
                if c == ',' && depth == 0 {
                    found.push(first_ident(&part));
                    part.clear();
                } else {
                    part.push(c);
                }
            }
            found.push(first_ident(&part));
        } else {
            found.push(first_ident(rest));
        }
    }
    found.retain(|s| !s.is_empty());
    found
}

fn first_ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn route_modules() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(src().join("routes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every sibling route module each route module names: (file, sibling).
fn sibling_imports() -> Vec<(String, String)> {
    let modules = route_modules();
    let areas: Vec<&str> = modules
        .iter()
        .map(String::as_str)
        .filter(|m| !ROUTE_HELPERS.contains(m))
        .collect();
    let mut found = Vec::new();
    for module in &modules {
        if module == "mod" {
            continue;
        }
        let code = code(&src().join("routes").join(format!("{module}.rs")));
        let mut named: Vec<String> = ["super::", "crate::routes::", "pathway::routes::"]
            .iter()
            .flat_map(|prefix| segments_after(&code, prefix))
            .filter(|name| name != module && areas.contains(&name.as_str()))
            .collect();
        named.sort();
        named.dedup();
        found.extend(named.into_iter().map(|name| (module.clone(), name)));
    }
    found
}

#[test]
fn route_modules_do_not_import_each_other() {
    let found = sibling_imports();
    let unexpected: Vec<_> = found
        .iter()
        .filter(|(file, name)| !KNOWN.contains(&(file.as_str(), name.as_str())))
        .collect();
    assert!(
        unexpected.is_empty(),
        "route modules import sibling route modules (move what they share to crate::pages or a non-route module): {unexpected:?}"
    );
    let stale: Vec<_> = KNOWN
        .iter()
        .filter(|(file, name)| !found.iter().any(|(f, n)| f == file && n == name))
        .collect();
    assert!(
        stale.is_empty(),
        "remove these from KNOWN, they are fixed: {stale:?}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_wiring_imports_routes() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let routes = src().join("routes");
    let mut offenders: Vec<String> = files
        .iter()
        .filter(|p| !p.starts_with(&routes))
        .filter(|p| !WIRING.iter().any(|w| **p == src().join(w)))
        .filter(|p| {
            let code = code(p);
            code.contains("crate::routes") || code.contains("super::routes")
        })
        .map(|p| p.strip_prefix(src()).unwrap().display().to_string())
        .collect();
    offenders.sort();
    assert!(
        offenders.is_empty(),
        "only {WIRING:?} may import crate::routes; shared page models go in crate::pages: {offenders:?}"
    );
}

/// Every module path `file` names, written out whole (`crate::a::{b, c::D}` → `crate::a::b`, `crate::a::c`).
fn named_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for root in ["crate::", "super::", "pathway::"] {
        for (at, _) in code.match_indices(root) {
            // `super::super::x` is seen again at the inner `super::`.
            if code[..at].ends_with("::") {
                continue;
            }
            expand(root, &code[at + root.len()..], &mut found);
        }
    }
    found
}

/// Appends `prefix` joined with every path that starts `rest` (one level of braces deep or more).
fn expand(prefix: &str, rest: &str, out: &mut Vec<String>) {
    let mut path = prefix.to_string();
    let mut rest = rest;
    loop {
        let ident = first_ident(rest);
        if ident.is_empty() {
            if let Some(group) = rest.trim_start().strip_prefix('{') {
                let mut depth = 0;
                let mut part = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    if c == ',' && depth == 0 {
                        expand(&path, &part, out);
                        part.clear();
                    } else {
                        part.push(c);
                    }
                }
                expand(&path, &part, out);
                return;
            }
            out.push(path.trim_end_matches("::").to_string());
            return;
        }
        path.push_str(&ident);
        rest = &rest.trim_start()[ident.len()..];
        match rest.strip_prefix("::") {
            Some(next) => {
                path.push_str("::");
                rest = next;
            }
            None => {
                out.push(path);
                return;
            }
        }
    }
}

/// `file` (under src/) never names a module path that starts with one of `forbidden`.
fn names_none_of(file: &str, forbidden: &[&str]) -> Vec<String> {
    let mut named: Vec<String> = named_paths(&code(&src().join(file)))
        .into_iter()
        .filter(|path| {
            forbidden
                .iter()
                .any(|f| path == f || path.starts_with(&format!("{f}::")))
        })
        .collect();
    named.sort();
    named.dedup();
    named
}

/// The planner works on plain rows (content::rows) and the queries store the plan as
/// JSON, so neither needs the other: a plan can change without touching SQL, and the
/// queries compile without the planner.
#[test]
fn the_planner_and_the_content_queries_do_not_import_each_other() {
    let planner = names_none_of("content/plan.rs", &["crate::db", "super::super::db"]);
    assert!(
        planner.is_empty(),
        "content::plan imports the database layer (use content::rows): {planner:?}"
    );
    let queries = names_none_of("db/content.rs", &["crate::content::plan", "crate::content::sync"]);
    assert!(
        queries.is_empty(),
        "db::content imports the planner (store the plan as serde_json::Value): {queries:?}"
    );
}

#[test]
fn the_path_scanner_sees_grouped_and_nested_paths() {
    let code =
        "use crate::db::content::{RoadmapRow, SkillRow};\nuse crate::{content::{plan::Plan, rows}, db};";
    assert_eq!(
        named_paths(code),
        [
            "crate::db::content::RoadmapRow",
            "crate::db::content::SkillRow",
            "crate::content::plan::Plan",
            "crate::content::rows",
            "crate::db"
        ]
    );
}

#[test]
fn the_import_scanner_sees_grouped_and_nested_paths() {
    let code =
        "use super::{Layout, public::back_to, notes};\nuse crate::routes::comments::Thread;\nuse super::*;";
    assert_eq!(segments_after(code, "super::"), ["Layout", "public", "notes"]);
    assert_eq!(segments_after(code, "crate::routes::"), ["comments"]);
}
