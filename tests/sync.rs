//! Syncing content into PostgreSQL: ids keep their rows, removals retire, returns revive, failures and no-ops write nothing.

mod common;

use std::path::Path;

use common::{TestDb, sample_content, write_files};
use pathway::content::Catalog;
use pathway::content::sync::{LoadOutcome, load_dir};
use pathway::db::content::LoadCounts;
use sqlx::PgPool;

/// Every content row, as text, to compare before and after a load.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar::<_, String>(
        "select 'roadmap ' || r::text from roadmaps r
         union all select 'stage ' || s::text from stages s
         union all select 'skill ' || k::text from skills k
         order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn load_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from content_loads")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn skill_row(pool: &PgPool, id: &str) -> (String, String, bool, time::OffsetDateTime) {
    sqlx::query_as("select title, stage_id, retired_at is not null, created_at from skills where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn replace(dir: &Path, path: &str, contents: &str) {
    write_files(dir, &[(path, contents)]);
}

async fn setup() -> (TestDb, tempfile::TempDir) {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let outcome = load_dir(&db.pool, dir.path()).await.unwrap();
    assert_eq!(
        outcome,
        LoadOutcome::Applied(LoadCounts {
            added: 6,
            ..LoadCounts::default()
        }),
        "1 roadmap, 2 stages and 3 skills are added"
    );
    // Something keyed by a skill id, standing in for learner progress.
    sqlx::query("create table kept (skill_id text not null references skills (id))")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("insert into kept values ('http-methods'), ('dns-records')")
        .execute(&db.pool)
        .await
        .unwrap();
    (db, dir)
}

#[tokio::test]
async fn first_load_fills_the_catalog() {
    let (db, _dir) = setup().await;
    let catalog = Catalog::load(&db.pool).await.unwrap();
    assert_eq!(catalog.roadmaps.len(), 1);
    assert_eq!(catalog.skill_count(), 3);
    let (roadmap, stage, skill) = catalog.skill("status-codes").unwrap();
    assert_eq!((roadmap.id.as_str(), stage.id.as_str()), ("web", "http"));
    assert!(skill.optional);
    assert!(catalog.version.is_some());
}

#[tokio::test]
async fn an_unchanged_load_writes_nothing() {
    let (db, dir) = setup().await;
    let before = snapshot(&db.pool).await;
    let loads = load_count(&db.pool).await;

    assert_eq!(
        load_dir(&db.pool, dir.path()).await.unwrap(),
        LoadOutcome::Unchanged
    );

    assert_eq!(snapshot(&db.pool).await, before);
    assert_eq!(load_count(&db.pool).await, loads, "no load row for a no-op");
}

#[tokio::test]
async fn a_title_change_keeps_the_id_and_its_rows() {
    let (db, dir) = setup().await;
    let (_, _, _, created) = skill_row(&db.pool, "http-methods").await;
    replace(
        dir.path(),
        "web/01-http.md",
        "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests and responses.\n\n\
         ## Request methods {#http-methods}\nGET and POST.\n\n\
         ## Status codes {#status-codes .optional}\n200 and 404.\n",
    );
    let outcome = load_dir(&db.pool, dir.path()).await.unwrap();
    assert_eq!(
        outcome,
        LoadOutcome::Applied(LoadCounts {
            updated: 1,
            ..LoadCounts::default()
        })
    );
    let (title, _, retired, created_after) = skill_row(&db.pool, "http-methods").await;
    assert_eq!(title, "Request methods");
    assert!(!retired);
    assert_eq!(created_after, created, "the same row, not a new one");
    let kept: i64 = sqlx::query_scalar("select count(*) from kept")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(kept, 2);
}

#[tokio::test]
async fn a_removed_skill_is_retired_then_revived_when_it_returns() {
    let (db, dir) = setup().await;
    let original = std::fs::read_to_string(dir.path().join("web/02-dns.md")).unwrap();
    replace(
        dir.path(),
        "web/02-dns.md",
        "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames.\n\n## Resolvers {#resolvers}\nx\n",
    );
    let outcome = load_dir(&db.pool, dir.path()).await.unwrap();
    assert_eq!(
        outcome,
        LoadOutcome::Applied(LoadCounts {
            added: 1,
            updated: 1,
            retired: 1,
            ..LoadCounts::default()
        })
    );
    let (_, _, retired, created) = skill_row(&db.pool, "dns-records").await;
    assert!(retired, "retired, not deleted");
    let catalog = Catalog::load(&db.pool).await.unwrap();
    assert!(
        catalog.skill("dns-records").is_none(),
        "retired skills are not served"
    );
    assert!(catalog.skill("resolvers").is_some());

    replace(dir.path(), "web/02-dns.md", &original);
    let outcome = load_dir(&db.pool, dir.path()).await.unwrap();
    assert_eq!(
        outcome,
        LoadOutcome::Applied(LoadCounts {
            updated: 1,
            retired: 1,
            revived: 1,
            ..LoadCounts::default()
        })
    );
    let (_, _, retired, created_after) = skill_row(&db.pool, "dns-records").await;
    assert!(!retired);
    assert_eq!(created_after, created, "revived with its history");
    let kept: Vec<String> = sqlx::query_scalar("select skill_id from kept order by 1")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(kept, ["dns-records", "http-methods"]);
}

#[tokio::test]
async fn a_skill_can_move_to_another_stage() {
    let (db, dir) = setup().await;
    replace(
        dir.path(),
        "web/01-http.md",
        "+++\nid = \"http\"\ntitle = \"HTTP\"\n+++\nRequests.\n\n## Methods {#http-methods}\nGET and POST.\n",
    );
    replace(
        dir.path(),
        "web/02-dns.md",
        "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames to addresses.\n\n## Records {#dns-records}\nA and AAAA.\n\n\
         ## Status codes {#status-codes .optional}\n200 and 404.\n",
    );
    load_dir(&db.pool, dir.path()).await.unwrap();
    let (_, stage, retired, _) = skill_row(&db.pool, "status-codes").await;
    assert_eq!(stage, "dns");
    assert!(!retired);
    let catalog = Catalog::load(&db.pool).await.unwrap();
    assert_eq!(catalog.skill("status-codes").unwrap().1.id, "dns");
}

#[tokio::test]
async fn a_removed_roadmap_retires_its_stages_and_skills() {
    let (db, dir) = setup().await;
    write_files(
        dir.path(),
        &[
            (
                "ops/roadmap.md",
                "+++\ntitle = \"Ops\"\nsummary = \"Running things.\"\n+++\n",
            ),
            (
                "ops/01-deploy.md",
                "+++\nid = \"deploy\"\ntitle = \"Deploy\"\n+++\n## Releases {#releases}\nx\n",
            ),
        ],
    );
    load_dir(&db.pool, dir.path()).await.unwrap();
    std::fs::remove_dir_all(dir.path().join("web")).unwrap();
    let outcome = load_dir(&db.pool, dir.path()).await.unwrap();
    assert_eq!(
        outcome,
        LoadOutcome::Applied(LoadCounts {
            retired: 6,
            ..LoadCounts::default()
        })
    );
    let live: i64 = sqlx::query_scalar("select count(*) from skills where retired_at is null")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let all: i64 = sqlx::query_scalar("select count(*) from skills")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!((live, all), (1, 4));
    let catalog = Catalog::load(&db.pool).await.unwrap();
    assert_eq!(catalog.roadmaps.len(), 1);
    assert_eq!(catalog.roadmaps[0].id, "ops");
}

#[tokio::test]
async fn a_failed_load_changes_no_content_and_is_recorded_once() {
    let (db, dir) = setup().await;
    let before = snapshot(&db.pool).await;
    let loads = load_count(&db.pool).await;
    replace(
        dir.path(),
        "web/01-http.md",
        "+++\nid = \"http\"\ntitle = \"HTTP renamed\"\n+++\n## No id\nx\n",
    );
    std::fs::remove_file(dir.path().join("web/02-dns.md")).unwrap();

    let LoadOutcome::Failed(errors) = load_dir(&db.pool, dir.path()).await.unwrap() else {
        panic!("the load should fail");
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 5);
    assert_eq!(snapshot(&db.pool).await, before, "content tables untouched");
    let (status, recorded): (String, serde_json::Value) =
        sqlx::query_as("select status, errors from content_loads order by id desc limit 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(recorded[0]["line"], 5);
    assert_eq!(load_count(&db.pool).await, loads + 1);

    // The same broken files again: nothing new is written.
    assert!(matches!(
        load_dir(&db.pool, dir.path()).await.unwrap(),
        LoadOutcome::Failed(_)
    ));
    assert_eq!(load_count(&db.pool).await, loads + 1);

    let catalog = Catalog::load(&db.pool).await.unwrap();
    assert_eq!(catalog.skill_count(), 3, "the previous content is still served");
    assert_eq!(catalog.roadmaps[0].stages[0].title, "HTTP");
}

#[tokio::test]
async fn concurrent_loads_apply_once() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let (a, b) = tokio::join!(load_dir(&db.pool, dir.path()), load_dir(&db.pool, dir.path()));
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, LoadOutcome::Unchanged));
    assert!(matches!(outcomes[0], LoadOutcome::Applied(_)), "{outcomes:?}");
    assert_eq!(outcomes[1], LoadOutcome::Unchanged);
    assert_eq!(load_count(&db.pool).await, 1);
}

#[tokio::test]
async fn the_shipped_content_loads() {
    let db = TestDb::new().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("content");
    assert!(matches!(
        load_dir(&db.pool, &dir).await.unwrap(),
        LoadOutcome::Applied(_)
    ));
    let catalog = Catalog::load(&db.pool).await.unwrap();
    assert_eq!(catalog.roadmaps.len(), 2);
    assert!(catalog.skill_count() >= 60);
}

#[test]
fn the_version_read_without_parsing_is_the_parsed_version() {
    use pathway::content::parse::{read_sources, source_hash};
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("content");
    let parsed = pathway::content::parse_dir(&shipped).unwrap();
    assert_eq!(source_hash(&read_sources(&shipped).unwrap()), parsed.hash);
    // A broken directory too, so the fast path and failed loads agree.
    let dir = tempfile::tempdir().unwrap();
    common::write_files(dir.path(), &[("web/roadmap.md", "no front matter")]);
    let invalid = pathway::content::parse_dir(dir.path()).unwrap_err();
    assert_eq!(source_hash(&read_sources(dir.path()).unwrap()), invalid.hash);
    // Any byte changes the version.
    common::write_files(dir.path(), &[("web/roadmap.md", "no front matter!")]);
    assert_ne!(source_hash(&read_sources(dir.path()).unwrap()), invalid.hash);
}
