//! Content operations at 10,000 skills: a one-line edit parses one file and writes one row, the catalog refreshes only what a load wrote, and /admin/content stays small.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{TestApp, TestDb};
use pathway::AppState;
use pathway::config::Settings;
use pathway::content::Catalog;
use pathway::content::sync::{LoadOutcome, load_dir};
use sqlx::PgPool;

const ROADMAPS: usize = 20;
const STAGES: usize = 10;
const SKILLS: usize = 50;

/// Writes ROADMAPS × STAGES × SKILLS skills (like bench/gen-content, shorter texts):
/// skill `r{r}-s{s}-k{k}`, in `r{r}/{s:02}-stage.md`. The first skill of each stage
/// links to the last skill of the next stage file.
fn generate(dir: &Path) {
    for r in 0..ROADMAPS {
        let folder = dir.join(format!("r{r:02}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("roadmap.md"),
            format!("+++\ntitle = \"Roadmap {r}\"\nsummary = \"Generated roadmap {r}.\"\norder = {r}\n+++\nAn introduction.\n"),
        )
        .unwrap();
        for s in 0..STAGES {
            std::fs::write(
                folder.join(format!("{:02}-stage.md", s + 1)),
                stage_file(r, s, None),
            )
            .unwrap();
        }
    }
}

fn stage_file(r: usize, s: usize, edit: Option<&str>) -> String {
    let mut text = format!("+++\nid = \"r{r}-s{s}\"\ntitle = \"Stage {s}\"\n+++\nWhat stage {s} is about.\n");
    for k in 0..SKILLS {
        let _ = write!(text, "\n## Skill {r}.{s}.{k} {{#r{r}-s{s}-k{k}}}\n");
        if k == 0 {
            let next = (s + 1) % STAGES;
            let _ = writeln!(
                text,
                "Read [the last one](skill:r{r}-s{next}-k{}) next.",
                SKILLS - 1
            );
        }
        match edit {
            Some(line) if k == 7 => text.push_str(line),
            _ => {
                let _ = write!(
                    text,
                    "Request, response and `cache` for skill {k}: headers, status and retries."
                );
            }
        }
        text.push('\n');
    }
    text
}

fn stage_path(dir: &Path, r: usize, s: usize) -> std::path::PathBuf {
    dir.join(format!("r{r:02}/{:02}-stage.md", s + 1))
}

/// (files parsed, files reused, skill rows written) of the newest load.
async fn work(pool: &PgPool) -> (i32, i32, i32) {
    sqlx::query_as(
        "select files_parsed, files_reused, skills_written from content_loads order by id desc limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn rows_written_since(pool: &PgPool, since: time::OffsetDateTime) -> i64 {
    sqlx::query_scalar("select count(*) from skills where updated_at > $1")
        .bind(since)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn now(pool: &PgPool) -> time::OffsetDateTime {
    sqlx::query_scalar("select clock_timestamp()")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn html_of(catalog: &Catalog, id: &str) -> String {
    catalog.skill(id).unwrap().2.body_html.clone()
}

#[tokio::test]
async fn a_one_line_edit_at_ten_thousand_skills_parses_one_file_and_writes_one_row() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let db = TestDb::new().await;
    let pool = &db.pool;

    let outcome = load_dir(pool, dir.path()).await.unwrap();
    assert!(matches!(outcome, LoadOutcome::Applied(_)), "{outcome:?}");
    let files = (ROADMAPS * (STAGES + 1)) as i32;
    let skills = (ROADMAPS * STAGES * SKILLS) as i32;
    assert_eq!(
        work(pool).await,
        (files, 0, skills),
        "the first load parses and writes everything"
    );
    let catalog = Catalog::load(pool).await.unwrap();
    assert_eq!(catalog.skill_count(), skills as usize);

    // One line of one skill changes.
    let before = now(pool).await;
    std::fs::write(
        stage_path(dir.path(), 3, 4),
        stage_file(3, 4, Some("A new sentence about `queues`.")),
    )
    .unwrap();
    let outcome = load_dir(pool, dir.path()).await.unwrap();
    let LoadOutcome::Applied(counts) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((counts.added, counts.updated, counts.retired), (0, 1, 0));
    assert_eq!(
        work(pool).await,
        (1, files - 1, 1),
        "one file parsed, the rest reused, one row written"
    );
    assert_eq!(
        rows_written_since(pool, before).await,
        1,
        "only the changed row's updated_at moved"
    );
    let kept_rewritten: i64 = sqlx::query_scalar("select count(*) from content_files where updated_at > $1")
        .bind(before)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(kept_rewritten, 1, "only the changed file's parse is kept anew");

    // The catalog takes in the one skill the load wrote, and matches a full load.
    let refreshed = catalog.refresh(pool).await.unwrap();
    assert!(html_of(&refreshed, "r3-s4-k7").contains("<code>queues</code>"));
    let full = Catalog::load(pool).await.unwrap();
    assert_eq!(refreshed.skill_count(), full.skill_count());
    assert_eq!(refreshed.version, full.version);
    for id in ["r3-s4-k6", "r3-s4-k7", "r3-s4-k8", "r0-s0-k0", "r19-s9-k49"] {
        assert_eq!(html_of(&refreshed, id), html_of(&full, id), "{id}");
        let place = |c: &Catalog| {
            let (roadmap, stage, _) = c.skill(id).unwrap();
            let index = stage.skills.iter().position(|s| s.id == id);
            (roadmap.id.clone(), stage.id.clone(), index)
        };
        assert_eq!(place(&refreshed), place(&full), "{id}");
    }

    // Unchanged files are still checked against the changed one: a duplicate id fails
    // and names the file that was not parsed again.
    let duplicate = stage_file(5, 0, None).replace("{#r5-s0-k3}", "{#r2-s2-k2}");
    std::fs::write(stage_path(dir.path(), 5, 0), duplicate).unwrap();
    let outcome = load_dir(pool, dir.path()).await.unwrap();
    let LoadOutcome::Failed(errors) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("duplicate skill id \"r2-s2-k2\"")
                && e.message.contains("r02/03-stage.md")),
        "{errors:?}"
    );
    std::fs::write(stage_path(dir.path(), 5, 0), stage_file(5, 0, None)).unwrap();

    // A skill that another (unchanged) file links to moves to another stage: the
    // linking file is rendered again, so its link follows.
    let linking = "r7-s1-k0"; // links to r7-s2-k49
    assert!(html_of(&full, linking).contains("/roadmaps/r07/r7-s2/r7-s2-k49"));
    let from = stage_file(7, 2, None);
    let cut = from.find("\n## Skill 7.2.49").unwrap();
    let moved = from[cut..].to_string();
    std::fs::write(stage_path(dir.path(), 7, 2), &from[..cut]).unwrap();
    std::fs::write(
        stage_path(dir.path(), 7, 3),
        format!("{}{moved}", stage_file(7, 3, None)),
    )
    .unwrap();
    let outcome = load_dir(pool, dir.path()).await.unwrap();
    let LoadOutcome::Applied(counts) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(counts.moved, 1);
    assert_eq!(
        work(pool).await.0,
        3,
        "the two edited files and the one linking to the moved skill"
    );
    let after = Catalog::load(pool).await.unwrap();
    assert!(
        html_of(&after, linking).contains("/roadmaps/r07/r7-s3/r7-s2-k49"),
        "{}",
        html_of(&after, linking)
    );

    // A kept file whose rows changed behind its back (by hand, say) is parsed again,
    // and its rows are put back as the file says.
    sqlx::query("update skills set title = 'Changed by hand' where id = 'r9-s9-k9'")
        .execute(pool)
        .await
        .unwrap();
    std::fs::write(
        stage_path(dir.path(), 1, 1),
        stage_file(1, 1, Some("Another edit.")),
    )
    .unwrap();
    let outcome = load_dir(pool, dir.path()).await.unwrap();
    assert!(matches!(outcome, LoadOutcome::Applied(_)), "{outcome:?}");
    assert_eq!(
        work(pool).await.0,
        2,
        "the edited file and the one whose row was changed"
    );
    let title: String = sqlx::query_scalar("select title from skills where id = 'r9-s9-k9'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(title, "Skill 9.9.9");

    // /admin/content after loads of 10,000 items: counts and links, not every row.
    let catalog = Catalog::load(pool).await.unwrap();
    let static_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let settings = Settings {
        content_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    let state = AppState::new(pool.clone(), catalog, &static_dir, settings);
    let app = TestApp { db, state };
    let root = app.sign_up_admin("root").await;
    let (status, _, page) = app.get_as("/admin/content", &root).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert!(page.len() < 100 * 1024, "{} bytes", page.len());
    assert!(page.contains(&format!("{} added", skills + 220)), "{page}");
    let first_load: i64 = sqlx::query_scalar("select min(id) from content_loads")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (status, _, page) = app
        .get_as(
            &format!("/admin/content/loads/{first_load}?kind=added&page=3"),
            &root,
        )
        .await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert!(page.len() < 100 * 1024, "{} bytes", page.len());
    assert!(page.contains("page 3 of 100"), "{page}");
    assert!(
        page.contains("<code>r0-s4-k0</code>"),
        "the 201st skill added: {page}"
    );
    assert!(!page.contains("<code>r0-s0-k0</code>"), "{page}");
}
