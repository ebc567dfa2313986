//! Any bytes given to the import validator give a plan or problems, never a panic.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

/// The ids the file is validated against (kept in step with tests/fuzz_regressions.rs).
static KNOWN: LazyLock<(HashSet<String>, HashSet<String>, HashMap<String, String>)> = LazyLock::new(|| {
    let skills = ["http-basics", "git-commits", "sql-joins"]
        .map(String::from)
        .into();
    let roadmaps = ["backend", "career"].map(String::from).into();
    let aliases = [("http-intro".to_string(), "http-basics".to_string())].into();
    (skills, roadmaps, aliases)
});

fuzz_target!(|data: &[u8]| {
    let (skills, roadmaps, aliases) = &*KNOWN;
    match pathway::transfer::validate(data, skills, roadmaps, aliases) {
        Ok(plan) => {
            assert!(plan.skills.iter().all(|(e, _)| skills.contains(&e.skill)));
            assert!(plan.notes.iter().all(|e| skills.contains(&e.skill)));
        }
        Err(problems) => assert!(!problems.is_empty()),
    }
});
