//! Search: ranking, empty results, hostile input, state on results.

mod common;

use axum::http::StatusCode;
use common::{TestApp, write_files};

fn content() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "ops/roadmap.md",
            "+++\ntitle = \"Ops\"\nsummary = \"Running services.\"\n+++\n",
        ),
        (
            "ops/01-speed.md",
            "+++\nid = \"speed\"\ntitle = \"Speed\"\n+++\nFaster.\n\n\
             ## Load balancers {#load-balancers}\nSpread traffic. A cache in front helps; cache hits, cache misses, \
             cache keys and cache invalidation all matter here, so think about the cache.\n\n\
             ## Caching basics {#caching-basics}\nKeep answers close to the client.\n\n\
             ## Queues {#queues}\nDecouple <b>producers</b> & consumers.\n",
        ),
    ]
}

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &content());
    (TestApp::with_content(dir.path()).await, dir)
}

#[tokio::test]
async fn title_matches_rank_above_body_matches() {
    let (app, _dir) = app().await;
    let (status, _, page) = app.get("/search?q=cache").await;
    assert_eq!(status, StatusCode::OK);
    let title_hit = page
        .find(r##"<a href="/roadmaps/ops/speed/caching-basics">Caching basics</a>"##)
        .unwrap();
    let body_hit = page
        .find(r##"<a href="/roadmaps/ops/speed/load-balancers">Load balancers</a>"##)
        .unwrap();
    assert!(
        title_hit < body_hit,
        "the title match comes first despite fewer words"
    );
    assert!(page.contains("2 skills match “cache”."));
    assert!(page.contains(r#"<a href="/roadmaps/ops">Ops</a> › <a href="/roadmaps/ops/speed">Speed</a>"#));
    assert!(page.contains("<mark>cache</mark>"));
}

#[tokio::test]
async fn no_results_and_empty_queries() {
    let (app, _dir) = app().await;
    let (status, _, page) = app.get("/search?q=kubernetes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No skills match “kubernetes”."));
    let (status, _, page) = app.get("/search").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("No skills match"));
    let (_, _, home) = app.get("/").await;
    assert!(
        home.contains(r#"role="search" action="/search""#),
        "a search box sits in the header"
    );
}

#[tokio::test]
async fn hostile_queries_never_error() {
    let (app, _dir) = app().await;
    let long = "a".repeat(10_000);
    let hostile = [
        "%22",
        "%27",
        "%22unterminated",
        "a%20%26%20b%20%7C%20!c",
        "%3A*",
        "(((",
        "-",
        "OR",
        "-cache%20OR",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "%00",
        "%E2%80%8F",
        "cache%27%3B%20drop%20table%20skills%3B--",
        long.as_str(),
    ];
    for q in hostile {
        let (status, _, page) = app.get(&format!("/search?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "{}", &q[..q.len().min(40)]);
        assert!(!page.contains("<script>alert"), "{q}");
    }
    let (_, _, page) = app.get("/search?q=%22cache%20invalidation%22").await;
    assert!(page.contains("Load balancers"), "phrases work");
    let count: i64 = sqlx::query_scalar("select count(*) from skills")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn snippets_escape_content_markup() {
    let (app, _dir) = app().await;
    let (_, _, page) = app.get("/search?q=producers").await;
    let snippet = page
        .split(r#"<p class="snippet">"#)
        .nth(1)
        .unwrap()
        .split("</p>")
        .next()
        .unwrap();
    assert!(snippet.contains("<mark>producers</mark>"), "{snippet}");
    assert!(snippet.contains("&amp; consumers"), "{snippet}");
    assert!(
        !snippet.contains("<b>"),
        "markup from content never reaches the snippet: {snippet}"
    );
}

#[tokio::test]
async fn signed_in_learners_see_their_state_on_results() {
    let (app, _dir) = app().await;
    let cookie = app.sign_up("ada").await;
    app.post_form(
        "/skills/queues/state",
        &[("state", "done"), ("version", "0")],
        Some(&cookie),
    )
    .await;
    let (_, _, page) = app.get_as("/search?q=queues", &cookie).await;
    assert!(page.contains(r#"<span class="state-badge state-done">Done</span>"#));
    let (_, _, anonymous) = app.get("/search?q=queues").await;
    assert!(!anonymous.contains("state-badge"));
}

#[tokio::test]
async fn retired_skills_are_not_found() {
    let (app, dir) = app().await;
    write_files(
        dir.path(),
        &[(
            "ops/01-speed.md",
            "+++\nid = \"speed\"\ntitle = \"Speed\"\n+++\nx\n\n## Queues {#queues}\ny\n",
        )],
    );
    pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    app.state.refresh_catalog().await.unwrap();
    let (_, _, page) = app.get("/search?q=cache").await;
    assert!(page.contains("No skills match"));
}

/// "git" everywhere: 45 skills in `tools` (three stages), 5 in `other`, exact and
/// partial title matches, long lessons that say "git" many times, and markdown to strip.
fn git_content() -> Vec<(String, String)> {
    let mut files = vec![
        (
            "tools/roadmap.md".to_string(),
            "+++\ntitle = \"Tools\"\nsummary = \"Everyday tools.\"\n+++\n".to_string(),
        ),
        (
            "other/roadmap.md".to_string(),
            "+++\ntitle = \"Other\"\nsummary = \"Something else.\"\n+++\n".to_string(),
        ),
    ];
    // Forty mentions of git, each among thirty-odd other words.
    let long_lesson = "You will use git every day, and most of that day you will be reading code, writing \
                       tests, reviewing changes and talking with the people you work with about what to \
                       build next and why. "
        .repeat(40);
    for stage in 1..=3 {
        let mut text = format!("+++\nid = \"stage-{stage}\"\ntitle = \"Stage {stage}\"\n+++\n");
        for n in 1..=15 {
            let id = format!("lesson-{stage}-{n:02}");
            text.push_str(&format!("\n## Lesson {stage}.{n:02} {{#{id}}}\n{long_lesson}\n"));
        }
        files.push((format!("tools/0{stage}-stage-{stage}.md"), text));
    }
    files.push((
        "other/01-basics.md".to_string(),
        format!(
            "+++\nid = \"basics\"\ntitle = \"Basics\"\n+++\n\n\
             ## Git {{#git}}\nVersion control.\n\n\
             ## Git basics {{#git-basics}}\nFirst commands.\n\n\
             ## Proving it {{#proving-it}}\n**What it proves:** that `git log -p` reads history; see \
             [Pro Git](https://git-scm.com/book) and <b>bold</b> words.\n\n\
             ## Safety {{#safety}}\nNever paste `<script>` & friends into git hooks.\n\n\
             ## Long read {{#long-read}}\n{long_lesson}\n"
        ),
    ));
    files
}

async fn git_app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let files = git_content();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    write_files(dir.path(), &files);
    (TestApp::with_content(dir.path()).await, dir)
}

/// The result links of a search page, in order.
fn result_links(page: &str) -> Vec<String> {
    page.split(r#"<li class="search-result">"#)
        .skip(1)
        .map(|item| {
            item.split(r#"<h2><a href=""#)
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The text of the first snippet on a search page.
fn first_snippet(page: &str) -> &str {
    page.split(r#"<p class="snippet">"#)
        .nth(1)
        .unwrap()
        .split("</p>")
        .next()
        .unwrap()
}

#[tokio::test]
async fn the_real_total_is_shown_and_every_match_is_reachable_by_page() {
    let (app, _dir) = git_app().await;
    let (status, _, first) = app.get("/search?q=git").await;
    assert_eq!(status, StatusCode::OK);
    assert!(first.contains("50 skills match “git”. Page 1 of 3."), "{first}");
    assert_eq!(result_links(&first).len(), 20);
    assert!(
        first.contains(r#"<a href="/search?q=git&#38;page=2" rel="next" aria-label="Next page of results">"#),
        "{first}"
    );
    assert!(!first.contains(r#"rel="prev""#), "no previous page on the first");

    let (_, _, second) = app.get("/search?q=git&page=2").await;
    assert!(second.contains("Page 2 of 3"), "{second}");
    assert!(second.contains(r#"<a href="/search?q=git" rel="prev" aria-label="Previous page of results">"#));
    assert!(second.contains(r#"href="/search?q=git&#38;page=3" rel="next""#));
    assert!(second.contains(r#"<ol class="search-results" start="21">"#));
    let (_, _, third) = app.get("/search?q=git&page=3").await;
    assert_eq!(result_links(&third).len(), 10);
    assert!(!third.contains(r#"rel="next""#), "no next page on the last");

    let mut all: Vec<String> = [&first, &second, &third]
        .iter()
        .flat_map(|p| result_links(p))
        .collect();
    assert_eq!(all.len(), 50);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 50, "no skill shows on two pages");

    // Past the end: the count stays true and the way back points at the last page.
    let (status, _, past) = app.get("/search?q=git&page=9").await;
    assert_eq!(status, StatusCode::OK);
    assert!(past.contains("50 skills match “git”."), "{past}");
    assert!(past.contains("There are only 3 pages of results."), "{past}");
    assert!(
        past.contains(r#"href="/search?q=git&#38;page=3" rel="prev""#),
        "{past}"
    );
    // Unreadable page numbers are the first page.
    for page in ["abc", "-4", "0", "99999999999999999999999", "1e3", "%00", "%20"] {
        let (status, _, body) = app.get(&format!("/search?q=git&page={page}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(body.contains("Page 1 of 3"), "{page}");
    }
}

#[tokio::test]
async fn the_roadmap_filter_narrows_results_and_each_hit_names_its_place() {
    let (app, _dir) = git_app().await;
    let (_, _, all) = app.get("/search?q=git").await;
    assert!(all.contains(r#"<label for="search_roadmap">Roadmap</label>"#));
    assert!(all.contains(r#"<option value="" selected>All roadmaps</option>"#));
    assert!(all.contains(r#"<option value="other">Other</option>"#));

    let (_, _, page) = app.get("/search?q=git&roadmap=other").await;
    assert!(page.contains("5 skills match “git” in Other."), "{page}");
    assert!(
        page.contains(r#"<option value="other" selected>Other</option>"#),
        "{page}"
    );
    let links = result_links(&page);
    assert_eq!(links.len(), 5);
    assert!(
        links.iter().all(|l| l.starts_with("/roadmaps/other/basics/")),
        "{links:?}"
    );
    assert!(
        page.contains(r#"<a href="/roadmaps/other">Other</a> › <a href="/roadmaps/other/basics">Basics</a>"#)
    );

    // The filter travels with the pages.
    let (_, _, tools) = app.get("/search?q=git&roadmap=tools").await;
    assert!(
        tools.contains("45 skills match “git” in Tools. Page 1 of 3."),
        "{tools}"
    );
    assert!(tools.contains(r#"href="/search?q=git&#38;roadmap=tools&#38;page=2" rel="next""#));
    let (_, _, tools2) = app.get("/search?q=git&roadmap=tools&page=3").await;
    assert_eq!(result_links(&tools2).len(), 5);

    // An unknown roadmap searches everything rather than failing.
    let (status, _, unknown) = app.get("/search?q=git&roadmap=%3Cscript%3E").await;
    assert_eq!(status, StatusCode::OK);
    assert!(unknown.contains("50 skills match “git”."), "{unknown}");
    let (_, _, none) = app.get("/search?q=kubernetes&roadmap=other").await;
    assert!(none.contains("No skills match “kubernetes” in Other."), "{none}");
}

#[tokio::test]
async fn an_exact_title_ranks_first_then_titles_then_text_whatever_its_length() {
    let (app, _dir) = git_app().await;
    for query in ["git", "Git", "%20git!%20", "%22git%22"] {
        let (_, _, page) = app.get(&format!("/search?q={query}")).await;
        let links = result_links(&page);
        assert_eq!(links[0], "/roadmaps/other/basics/git", "{query}: {links:?}");
        assert_eq!(
            links[1], "/roadmaps/other/basics/git-basics",
            "{query}: {links:?}"
        );
    }
    // Among text matches, a short one is not buried under long lessons that
    // repeat the word: the length of the text is discounted.
    let (_, _, page) = app.get("/search?q=git").await;
    let links = result_links(&page);
    let short = links.iter().position(|l| l.ends_with("/proving-it")).unwrap();
    assert_eq!(short, 2, "{links:?}");
}

#[tokio::test]
async fn snippets_are_plain_text_without_markdown() {
    let (app, _dir) = git_app().await;
    let (_, _, page) = app.get("/search?q=proves").await;
    let snippet = first_snippet(&page);
    assert!(
        snippet.contains("What it <mark>proves</mark>: that git log -p reads history"),
        "{snippet}"
    );
    assert!(snippet.contains("see Pro Git and bold words"), "{snippet}");
    for markdown in ["**", "`", "](", "https://", "&lt;b&gt;", "<b>"] {
        assert!(!snippet.contains(markdown), "{markdown} in {snippet}");
    }
}

#[tokio::test]
async fn highlights_are_escaped_with_the_text_around_them() {
    let (app, _dir) = git_app().await;
    let (_, _, page) = app.get("/search?q=%3Cscript%3E%20%26%20friends").await;
    let snippet = first_snippet(&page);
    assert!(
        snippet.contains("Never paste &lt;<mark>script</mark>&gt; &amp; <mark>friends</mark> into git hooks"),
        "{snippet}"
    );
    assert!(!page.contains("<script>"), "the query and the text stay escaped");
    assert!(page.contains("“&#60;script&#62; &#38; friends”"), "{page}");
    assert!(
        page.contains(r#"value="&#60;script&#62; &#38; friends""#),
        "{page}"
    );
}

#[tokio::test]
async fn search_reads_the_gin_index_on_thousands_of_skills() {
    let (app, _dir) = app().await;
    let pool = &app.db.pool;
    // 4,000 more skills, one in a hundred mentioning a rare word.
    // Bodies of about a kilobyte, as real lessons have at least.
    sqlx::query(
        "insert into skills (id, roadmap_id, stage_id, title, body_md, body_html, body_text, position, content_hash)
         select 'bulk-' || g, 'ops', 'speed', 'Bulk ' || g, '', '',
                repeat('words about request response server client cache header status route ' || g || ' ', 12)
                    || case when g % 100 = 0 then ' zeppelin' else '' end,
                10 + g, 'h'
         from generate_series(1, 4000) g",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("analyze skills").execute(pool).await.unwrap();
    // The ranking part of db::search::skills, with the tsquery computed once as it is there.
    let plan: Vec<String> = sqlx::query_scalar(
        "explain (analyze, timing off)
         with q as materialized (select websearch_to_tsquery('english', 'zeppelin') as q, 'zeppelin' as bare)
         select s.id,
                case when s.title_key = (select bare from q) then 2
                     when s.title_search @@ (select q from q) then 1 else 0 end as title_rank,
                ts_rank_cd(s.search, (select q from q), 2) as rank
         from skills s
         where s.retired_at is null and s.search @@ (select q from q)
           and (null::text is null or s.roadmap_id = null::text)
         order by title_rank desc, rank desc, s.title, s.id limit 20",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("Bitmap Index Scan on skills_search"), "{plan}");
    assert!(!plan.contains("Seq Scan on skills"), "{plan}");
    let (_, _, page) = app.get("/search?q=zeppelin").await;
    assert!(
        page.contains("40 skills match “zeppelin”. Page 1 of 2."),
        "{page}"
    );
}

#[tokio::test]
async fn a_database_loaded_by_an_older_version_gets_its_plain_text_at_the_next_load() {
    let (app, dir) = app().await;
    // As the migration leaves it: an approximate text, and the hash of a load
    // made by the previous renderer version.
    sqlx::query("update skills set body_text = 'approximate'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("update content_loads set content_hash = 'render-v2 hash'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    let text: String = sqlx::query_scalar("select body_text from skills where id = 'queues'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(text, "Decouple producers & consumers.");
    let (_, _, page) = app.get("/search?q=approximate").await;
    assert!(page.contains("No skills match"), "{page}");
}
