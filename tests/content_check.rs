//! The parser and validator: the happy path, every error kind with its file:line, `--fix`, and the CLI.

mod common;

use std::path::Path;
use std::process::Command;

use common::{sample_content, write_files};
use pathway::content::{Invalid, parse_dir};

/// Parses `files` in a fresh directory and returns the errors as `path:line: message`
/// with paths relative to that directory.
fn errors(files: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), files);
    errors_in(dir.path())
}

fn errors_in(dir: &Path) -> Vec<String> {
    match parse_dir(dir) {
        Ok(_) => Vec::new(),
        Err(Invalid { diagnostics, .. }) => diagnostics
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d.path = d.path.strip_prefix(dir).unwrap_or(&d.path).to_path_buf();
                d.to_string()
            })
            .collect(),
    }
}

/// The sample content with one file replaced or added.
fn with(path: &'static str, contents: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut files: Vec<_> = sample_content().into_iter().filter(|(p, _)| *p != path).collect();
    files.push((path, contents));
    files
}

fn assert_one_error(files: &[(&str, &str)], location: &str, needle: &str) {
    let errors = errors(files);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    assert!(
        errors[0].starts_with(&format!("{location}: ")),
        "expected the error at {location}, got {}",
        errors[0]
    );
    assert!(errors[0].contains(needle), "expected {needle:?} in {}", errors[0]);
}

#[test]
fn parses_roadmaps_stages_and_skills() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let content = parse_dir(dir.path()).unwrap();
    assert_eq!(content.roadmaps.len(), 1);
    let roadmap = &content.roadmaps[0];
    assert_eq!(
        (roadmap.id.as_str(), roadmap.title.as_str()),
        ("web", "Web basics")
    );
    assert_eq!(roadmap.summary, "How the web works.");
    assert!(roadmap.intro_html.contains("<strong>here</strong>"));
    let stage_ids: Vec<_> = roadmap.stages.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(stage_ids, ["http", "dns"]);
    let http = &roadmap.stages[0];
    assert_eq!(http.intro_md, "Requests and responses.");
    let skills: Vec<_> = http
        .skills
        .iter()
        .map(|s| (s.id.as_str(), s.title.as_str(), s.optional))
        .collect();
    assert_eq!(
        skills,
        [
            ("http-methods", "Methods", false),
            ("status-codes", "Status codes", true)
        ]
    );
    assert_eq!(http.skills[0].body_md, "GET and POST.");
    assert_eq!(http.skills[1].line, 10);
    assert_eq!(content.skill_count(), 3);
}

#[test]
fn stages_are_ordered_by_their_number_not_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = sample_content();
    files.push((
        "web/10-tls.md",
        "+++\nid = \"tls\"\ntitle = \"TLS\"\n+++\n## Certificates {#certificates}\nx\n",
    ));
    files.push((
        "web/3-cdn.md",
        "+++\nid = \"cdn\"\ntitle = \"CDN\"\n+++\n## Edge caches {#edge-caches}\nx\n",
    ));
    write_files(dir.path(), &files);
    let content = parse_dir(dir.path()).unwrap();
    let ids: Vec<_> = content.roadmaps[0].stages.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["http", "dns", "cdn", "tls"]);
}

#[test]
fn a_heading_inside_a_code_block_is_not_a_skill() {
    let files = with(
        "web/02-dns.md",
        "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Records {#dns-records}\n```md\n## Not a skill\n```\n\n### Deeper heading\nstays in the body\n",
    );
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &files);
    let content = parse_dir(dir.path()).unwrap();
    let dns = &content.roadmaps[0].stages[1];
    assert_eq!(dns.skills.len(), 1);
    assert!(dns.skills[0].body_md.contains("## Not a skill"));
    assert!(
        dns.skills[0]
            .body_html
            .contains(r#"<h3 id="dns-records--deeper-heading">Deeper heading</h3>"#),
        "{}",
        dns.skills[0].body_html
    );
}

#[test]
fn project_class_marks_portfolio_projects() {
    let files = with(
        "web/02-dns.md",
        "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Build a resolver {#build-resolver .project .optional}\nx\n",
    );
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &files);
    let content = parse_dir(dir.path()).unwrap();
    let skill = &content.roadmaps[0].stages[1].skills[0];
    assert!(skill.project && skill.optional);
}

#[test]
fn missing_front_matter() {
    assert_one_error(
        &with("web/02-dns.md", "## Records {#dns-records}\nx\n"),
        "web/02-dns.md:1",
        "missing front matter",
    );
}

#[test]
fn unterminated_front_matter() {
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n## Records {#dns-records}\n",
        ),
        "web/02-dns.md:1",
        "unterminated front matter",
    );
}

#[test]
fn invalid_toml_points_at_its_line() {
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = DNS without quotes\n+++\n## Records {#dns-records}\nx\n",
        ),
        "web/02-dns.md:3",
        "invalid TOML",
    );
}

#[test]
fn unknown_front_matter_key_is_an_error() {
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\ntitel = \"typo\"\n+++\n## Records {#dns-records}\nx\n",
        ),
        "web/02-dns.md:4",
        "titel",
    );
}

#[test]
fn missing_stage_id() {
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\ntitle = \"DNS\"\n+++\n## Records {#dns-records}\nx\n",
        ),
        "web/02-dns.md:2",
        "missing `id`",
    );
}

#[test]
fn missing_stage_title() {
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\n+++\n## Records {#dns-records}\nx\n",
        ),
        "web/02-dns.md:2",
        "missing `title`",
    );
}

#[test]
fn missing_roadmap_title_and_summary() {
    let errors = errors(&with("web/roadmap.md", "+++\norder = 1\n+++\nIntro\n"));
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("web/roadmap.md:2: missing `title`"),
        "{errors:#?}"
    );
    assert!(
        errors[1].starts_with("web/roadmap.md:2: missing `summary`"),
        "{errors:#?}"
    );
}

#[test]
fn skill_heading_without_id() {
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nIntro\n\n## DNS Records\nx\n",
        ),
        "web/02-dns.md:7",
        "has no id; add one, e.g. `## DNS Records {#dns-records}`",
    );
}

#[test]
fn bad_skill_and_stage_id_syntax() {
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Records {#DNS_Records}\nx\n",
        ),
        "web/02-dns.md:5",
        "invalid skill id \"DNS_Records\"",
    );
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\ntitle = \"DNS\"\nid = \"Dns Stage\"\n+++\n## Records {#dns-records}\nx\n",
        ),
        "web/02-dns.md:3",
        "invalid stage id \"Dns Stage\"",
    );
}

#[test]
fn bad_roadmap_folder_name() {
    let errors = errors(&[
        (
            "Web_Basics/roadmap.md",
            "+++\ntitle = \"W\"\nsummary = \"s\"\n+++\n",
        ),
        (
            "Web_Basics/01-a.md",
            "+++\nid = \"a\"\ntitle = \"A\"\n+++\n## A {#a}\n",
        ),
    ]);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("Web_Basics: invalid roadmap folder name"),
        "{errors:#?}"
    );
}

#[test]
fn duplicate_skill_id_names_both_places() {
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Records {#dns-records}\nx\n\n## Again {#http-methods}\ny\n",
        ),
        "web/02-dns.md:8",
        "duplicate skill id \"http-methods\" (first defined at",
    );
    let errors = errors(&with(
        "web/02-dns.md",
        "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Records {#dns-records}\nx\n\n## Again {#http-methods}\ny\n",
    ));
    assert!(
        errors[0].contains("web/01-http.md:7); give one of them a new id"),
        "{errors:#?}"
    );
}

#[test]
fn skill_ids_are_unique_across_roadmaps() {
    let mut files = sample_content();
    files.push(("ops/roadmap.md", "+++\ntitle = \"Ops\"\nsummary = \"s\"\n+++\n"));
    files.push((
        "ops/01-dns.md",
        "+++\nid = \"dns\"\ntitle = \"DNS again\"\n+++\n## Records {#dns-records}\nx\n",
    ));
    let errors = errors(&files);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    // Roadmaps are read in folder order, so the second definition is in web/.
    assert!(
        errors[0].starts_with("web/02-dns.md:7: duplicate skill id \"dns-records\""),
        "{errors:#?}"
    );
    assert!(errors[0].contains("ops/01-dns.md:5)"), "{errors:#?}");
}

#[test]
fn duplicate_stage_id_in_one_roadmap() {
    assert_one_error(
        &with(
            "web/03-more.md",
            "+++\nid = \"dns\"\ntitle = \"More\"\n+++\n## Extra {#extra}\nx\n",
        ),
        "web/03-more.md:2",
        "duplicate stage id \"dns\"",
    );
}

#[test]
fn stage_with_no_skills() {
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nOnly an intro.\n",
        ),
        "web/02-dns.md:1",
        "stage has no skills",
    );
}

#[test]
fn empty_roadmap() {
    let mut files = sample_content();
    files.push((
        "empty/roadmap.md",
        "+++\ntitle = \"Empty\"\nsummary = \"Nothing yet.\"\n+++\n",
    ));
    let errors = errors(&files);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("empty/roadmap.md:1: empty roadmap"),
        "{errors:#?}"
    );
}

#[test]
fn no_roadmaps_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let errors = errors_in(dir.path());
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("no roadmaps found"), "{errors:#?}");
}

#[test]
fn missing_roadmap_file_and_misnamed_stage_file() {
    let errors = errors(&[
        ("web/01-a.md", "+++\nid = \"a\"\ntitle = \"A\"\n+++\n## A {#a}\n"),
        ("web/notes.md", "just notes"),
    ]);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("web/notes.md:1: stage files must be named NN-name.md"),
        "{errors:#?}"
    );
    assert!(
        errors[1].starts_with("web/roadmap.md: missing roadmap.md"),
        "{errors:#?}"
    );
}

#[test]
fn two_stage_files_with_one_number() {
    assert_one_error(
        &with(
            "web/02-other.md",
            "+++\nid = \"other\"\ntitle = \"Other\"\n+++\n## Other {#other}\nx\n",
        ),
        "web/02-other.md:1",
        "stage number 2 is also used by",
    );
}

#[test]
fn non_utf8_bytes_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    std::fs::write(
        dir.path().join("web/02-dns.md"),
        b"+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Records {#dns-records}\ncaf\xe9\n",
    )
    .unwrap();
    let errors = errors_in(dir.path());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("web/02-dns.md:6: file is not valid UTF-8"),
        "{errors:#?}"
    );
}

#[test]
fn oversized_file() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let mut big = String::from("+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Records {#dns-records}\n");
    big.push_str(&"lorem ipsum ".repeat(30_000));
    std::fs::write(dir.path().join("web/02-dns.md"), big).unwrap();
    let errors = errors_in(dir.path());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("web/02-dns.md:1: file is too large"),
        "{errors:#?}"
    );
}

#[test]
fn level_one_headings_and_unknown_classes() {
    let errors = errors(&with(
        "web/02-dns.md",
        "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n# DNS\n## Records {#dns-records .advanced}\nx\n",
    ));
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("web/02-dns.md:5: level-1 heading"),
        "{errors:#?}"
    );
    assert!(
        errors[1].starts_with("web/02-dns.md:6: unknown class \".advanced\""),
        "{errors:#?}"
    );
}

#[test]
fn all_errors_are_collected_not_just_the_first() {
    let mut files = sample_content();
    files.retain(|(p, _)| *p != "web/02-dns.md" && *p != "web/01-http.md");
    files.push((
        "web/01-http.md",
        "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\n## No id here\nx\n",
    ));
    files.push(("web/02-dns.md", "no front matter\n"));
    files.push(("web/03-tls.md", "+++\nid = \"tls\"\n+++\n## Certs {#Certs}\n"));
    let errors = errors(&files);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].starts_with("web/01-http.md:5:"));
    assert!(errors[1].starts_with("web/02-dns.md:1:"));
    assert!(errors[2].starts_with("web/03-tls.md:2: missing `title`"));
    assert!(errors[3].starts_with("web/03-tls.md:4: invalid skill id"));
}

#[test]
fn content_hash_changes_with_any_file() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let first = parse_dir(dir.path()).unwrap().hash;
    assert_eq!(parse_dir(dir.path()).unwrap().hash, first);
    write_files(
        dir.path(),
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS!\"\n+++\n## Records {#dns-records}\nA and AAAA.\n",
        ),
    );
    assert_ne!(parse_dir(dir.path()).unwrap().hash, first);
}

#[test]
fn fix_adds_missing_ids_from_titles() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = sample_content();
    files.retain(|(p, _)| *p != "web/02-dns.md");
    files.push((
        "web/02-dns.md",
        "+++\ntitle = \"DNS & Names\"\n+++\nIntro\n\n## Resource Records\nx\n\n## HTTP Methods\ny\n\n## Kept {#kept}\nz\n",
    ));
    write_files(dir.path(), &files);
    assert_eq!(errors_in(dir.path()).len(), 3);

    let added = pathway::content::fix::add_missing_ids(dir.path()).unwrap().added;
    let ids: Vec<_> = added.iter().map(|a| a.id.as_str()).collect();
    // "http-methods" is taken in 01-http.md, so the new id gets a suffix.
    assert_eq!(ids, ["dns-names", "resource-records", "http-methods-2"]);
    assert_eq!(errors_in(dir.path()), Vec::<String>::new());
    let fixed = std::fs::read_to_string(dir.path().join("web/02-dns.md")).unwrap();
    assert!(
        fixed.starts_with("+++\nid = \"dns-names\"\ntitle = \"DNS & Names\"\n+++\n"),
        "{fixed}"
    );
    assert!(
        fixed.contains("## Resource Records {#resource-records}\n"),
        "{fixed}"
    );
    assert!(fixed.contains("## Kept {#kept}\n"), "{fixed}");
}

fn pathway_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pathway"))
}

#[test]
fn cli_check_prints_every_error_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = sample_content();
    files.retain(|(p, _)| *p != "web/02-dns.md");
    files.push((
        "web/02-dns.md",
        "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Records\n\n## Again {#http-methods}\n",
    ));
    write_files(dir.path(), &files);
    let output = pathway_bin()
        .args(["content", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let prefix = dir.path().join("web/02-dns.md").display().to_string();
    assert!(
        stderr.contains(&format!("{prefix}:5: skill heading \"Records\" has no id")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{prefix}:7: duplicate skill id \"http-methods\"")),
        "{stderr}"
    );
    assert!(stderr.contains("2 errors in"), "{stderr}");
}

#[test]
fn cli_check_passes_on_the_shipped_content() {
    let output = pathway_bin()
        .args(["content", "check"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("content"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("OK, 2 roadmaps"), "{stdout}");
}

#[test]
fn shipped_backend_roadmap_is_complete() {
    let content = parse_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("content")).unwrap();
    let backend = content.roadmaps.iter().find(|r| r.id == "backend").unwrap();
    assert!(backend.stages.len() >= 8);
    let skills: Vec<_> = backend.stages.iter().flat_map(|s| &s.skills).collect();
    assert!(skills.len() >= 60);
    assert!(skills.iter().any(|s| s.optional));
    assert!(
        skills.iter().all(|s| s.body_md.contains("**Practice:**")),
        "every skill has a Practice line"
    );
    let career = content.roadmaps.iter().find(|r| r.id == "career").unwrap();
    assert_eq!(career.stages.len(), 4);
}

#[test]
fn fix_gives_stages_with_one_title_distinct_ids_within_their_roadmap() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = sample_content();
    files.extend([
        (
            "web/03-practice.md",
            "+++\ntitle = \"Practice\"\n+++\n## One {#practice-one}\nx\n",
        ),
        (
            "web/04-practice-again.md",
            "+++\ntitle = \"Practice\"\n+++\n## Two {#practice-two}\nx\n",
        ),
        // Same title as a stage id already written in the roadmap.
        (
            "web/05-dns-again.md",
            "+++\ntitle = \"DNS\"\n+++\n## Three {#dns-three}\nx\n",
        ),
        (
            "ops/roadmap.md",
            "+++\ntitle = \"Ops\"\nsummary = \"Running things.\"\n+++\n",
        ),
        // Another roadmap may use the same stage id.
        (
            "ops/01-practice.md",
            "+++\ntitle = \"Practice\"\n+++\n## Four {#practice-four}\nx\n",
        ),
    ]);
    write_files(dir.path(), &files);
    let fixes = pathway::content::fix::add_missing_ids(dir.path()).unwrap();
    let mut added: Vec<(String, String)> = fixes
        .added
        .iter()
        .map(|a| {
            let path = a.path.strip_prefix(dir.path()).unwrap().display().to_string();
            (path, a.id.clone())
        })
        .collect();
    added.sort();
    assert_eq!(
        added,
        [
            ("ops/01-practice.md".to_string(), "practice".to_string()),
            ("web/03-practice.md".to_string(), "practice".to_string()),
            ("web/04-practice-again.md".to_string(), "practice-2".to_string()),
            ("web/05-dns-again.md".to_string(), "dns-2".to_string()),
        ]
    );
    assert_eq!(
        errors_in(dir.path()),
        Vec::<String>::new(),
        "the fixed files pass the check"
    );
}

#[test]
fn fix_ids_stay_readable_for_language_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = sample_content();
    files.push((
        "web/03-languages.md",
        "+++\nid = \"languages\"\ntitle = \"Languages\"\n+++\n\
         ## C\nx\n\n## C++\nx\n\n## C#\nx\n\n## F#\nx\n\n## .NET\nx\n\n## Node.js\nx\n\n## C {#c-again}\nx\n",
    ));
    write_files(dir.path(), &files);
    let fixes = pathway::content::fix::add_missing_ids(dir.path()).unwrap();
    let ids: Vec<_> = fixes.added.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["c", "cpp", "csharp", "fsharp", "dotnet", "nodejs"]);
    let fixed = std::fs::read_to_string(dir.path().join("web/03-languages.md")).unwrap();
    assert!(fixed.contains("## C++ {#cpp}\n"), "{fixed}");
    assert!(fixed.contains("## C# {#csharp}\n"), "{fixed}");
    assert_eq!(errors_in(dir.path()), Vec::<String>::new());
}

/// A stage whose skill has a line underlined with `---` (a setext heading).
const SETEXT_STAGE: &str = "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nIntro\n\n\
     ## Records {#dns-records}\nA and AAAA.\n\nWhat to remember\n---\nTTLs.\n\n\
     Not a heading:\n\n---\n\nAfter the rule.\n";

#[test]
fn a_setext_heading_is_named_by_its_underline() {
    assert_one_error(
        &with("web/02-dns.md", SETEXT_STAGE),
        "web/02-dns.md:11",
        "the `---` line under \"What to remember\" (line 10) makes it a setext heading, \
         a level-2 heading, so it would start a new skill here; write `## What to remember {#id}` \
         for a new skill or `### What to remember` for a heading inside the skill, or put a blank \
         line before `---` if you meant a thematic break",
    );
    assert_one_error(
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Records {#dns-records}\nx\n\nBig words\n===\n",
        ),
        "web/02-dns.md:9",
        "the `===` line under \"Big words\" (line 8) makes it a setext heading, a level-1 heading, \
         which content files do not allow; write `## Big words {#id}` for a new skill or `### Big words` \
         for a heading inside the skill",
    );
    // With a blank line before it, `---` is a rule and the skill stays whole.
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &with(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\n## Records {#dns-records}\nText\n\n---\n\nMore.\n",
        ),
    );
    let content = parse_dir(dir.path()).unwrap();
    let dns = &content.roadmaps[0].stages[1];
    assert_eq!(dns.skills.len(), 1);
    assert!(
        dns.skills[0].body_html.contains("<hr"),
        "{}",
        dns.skills[0].body_html
    );
}

#[test]
fn fix_leaves_a_setext_heading_alone_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &with("web/02-dns.md", SETEXT_STAGE));
    let fixes = pathway::content::fix::add_missing_ids(dir.path()).unwrap();
    assert!(fixes.added.is_empty(), "{:?}", fixes.added);
    assert_eq!(fixes.left.len(), 1, "{:?}", fixes.left);
    assert_eq!(fixes.left[0].line, 11);
    assert!(
        fixes.left[0]
            .message
            .starts_with("left as is: the `---` under \"What to remember\" (line 10)")
    );
    let text = std::fs::read_to_string(dir.path().join("web/02-dns.md")).unwrap();
    assert_eq!(text, SETEXT_STAGE, "the skill is not split");

    let output = pathway_bin()
        .args(["content", "check", "--fix"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "the setext heading still needs the author"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let prefix = dir.path().join("web/02-dns.md").display().to_string();
    assert!(stdout.contains(&format!("{prefix}:11: left as is:")), "{stdout}");
    assert!(
        stderr.contains(&format!("{prefix}:11: the `---` line under \"What to remember\"")),
        "{stderr}"
    );
    assert!(!stderr.contains("has no id"), "{stderr}");
}
