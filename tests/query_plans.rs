//! Hot queries use their indexes on a seeded table of 100,000+ events, so their cost follows
//! one learner's history, not everyone's.

mod common;

async fn plan(pool: &sqlx::PgPool, sql: &str) -> String {
    let rows: Vec<String> = sqlx::query_scalar(&format!("explain (analyze, timing off) {sql}"))
        .fetch_all(pool)
        .await
        .unwrap();
    rows.join("\n")
}

/// Rows that scans of `table` produced, over all their loops.
fn rows_scanned(plan: &str, table: &str) -> u64 {
    let number = |line: &str, key: &str| -> u64 {
        line.split(key)
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit() && c != '.').next())
            .and_then(|n| n.parse::<f64>().ok())
            .map_or(0, |n| n as u64)
    };
    plan.lines()
        .filter(|line| line.contains(&format!(" on {table} ")) && line.contains("actual"))
        .map(|line| {
            let actual = line.split("actual").nth(1).unwrap();
            number(actual, "rows=") * number(actual, "loops=").max(1)
        })
        .sum()
}

#[tokio::test]
async fn per_learner_queries_read_indexes_not_every_event() {
    let dir = tempfile::tempdir().unwrap();
    common::write_files(dir.path(), &common::sample_content());
    let app = common::TestApp::with_content(dir.path()).await;
    let pool = &app.db.pool;
    sqlx::query(
        "insert into users (username, display_name, password_hash)
         select 'learner' || g, 'Learner ' || g, 'x' from generate_series(1, 1000) g",
    )
    .execute(pool)
    .await
    .unwrap();
    // 120,000 events: 120 per learner, every tenth one an undo of the one before.
    sqlx::query(
        "insert into progress_events (action_id, user_id, skill_id, kind, from_state, to_state, undoes, at)
         select g, u.id, 'http-methods',
                case when g % 10 = 0 then 'undo' else 'set' end,
                'in_progress', 'done',
                case when g % 10 = 0 then g - 1 end,
                now() - (g % 400) * interval '1 day'
         from users u, generate_series(1, 120) s, lateral (select u.id * 1000 + s as g) a",
    )
    .execute(pool)
    .await
    .unwrap();
    // As a running server would have done: the week deltas folded into their totals.
    sqlx::query("select fold_learner_counters()")
        .execute(pool)
        .await
        .unwrap();
    // 20,000 answered review requests.
    sqlx::query(
        "insert into review_requests (mentee_id, skill_id, status, requested_at)
         select u.id, (array['http-methods', 'status-codes', 'dns-records'])[1 + s % 3], 'verified',
                now() - s * interval '1 day'
         from users u, generate_series(1, 20) s",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("analyze").execute(pool).await.unwrap();
    let learner: i64 = sqlx::query_scalar("select id from users where username = 'learner500'")
        .fetch_one(pool)
        .await
        .unwrap();
    let hot = [
        // The dashboard's charts read weekly counters (db::learner_view::dashboard), at most 54 rows.
        format!(
            "select w.week, w.changes, w.completions from learner_weeks w
             where w.user_id = {learner} and w.week >= date_trunc('week', now() - interval '53 weeks')::date"
        ),
        // History (db::progress::recent_events).
        format!(
            "select e.id, exists (select 1 from progress_events u where u.user_id = e.user_id and u.undoes = e.action_id)
             from progress_events e where e.user_id = {learner} order by e.at desc, e.id desc limit 50"
        ),
        // New since the mentor's visit (db::mentorships::mentee_overview).
        format!(
            "select m.id, (select count(*) from (select 1 from progress_events e where e.user_id = m.id
                 and e.at > '-infinity'::timestamptz order by e.at desc limit 100) recent)
             from unnest(array[{learner}]::bigint[]) as m(id)"
        ),
        // A stage page's review requests (db::reviews::for_skills).
        format!(
            "select * from review_requests r where r.mentee_id = {learner} and r.skill_id = any(array['http-methods'])"
        ),
    ];
    for sql in hot {
        let plan = plan(pool, &sql).await;
        assert!(!plan.contains("Seq Scan on progress_events"), "{sql}\n{plan}");
        assert!(!plan.contains("Seq Scan on review_requests"), "{sql}\n{plan}");
        assert!(!plan.contains("Seq Scan on learner_weeks"), "{sql}\n{plan}");
        assert!(plan.contains("Index"), "{sql}\n{plan}");
        assert!(rows_scanned(&plan, "learner_weeks") <= 54, "{sql}\n{plan}");
        // One learner has 120 events and 20 review requests; anything near the
        // table's size means the query read other people's history.
        let read = rows_scanned(&plan, "progress_events") + rows_scanned(&plan, "review_requests");
        assert!(read <= 400, "{read} rows read for one learner:\n{sql}\n{plan}");
    }
}

#[tokio::test]
async fn learners_per_skill_reads_only_the_skills_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    common::write_files(dir.path(), &common::sample_content());
    let app = common::TestApp::with_content(dir.path()).await;
    let pool = &app.db.pool;
    // 200 skills more, 1,000 learners with a row on 120 skills each (120,000 rows, a
    // tenth of them not started), a note on every tenth, and some evidence.
    sqlx::query(
        "insert into skills (id, roadmap_id, stage_id, title, body_md, body_html, position, content_hash)
         select 'skill-' || g, 'web', 'http', 'Skill ' || g, '', '', 10 + g, 'h' from generate_series(1, 200) g",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into users (username, display_name, password_hash)
         select 'learner' || g, 'Learner ' || g, 'x' from generate_series(1, 1000) g",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into skill_progress (user_id, skill_id, state)
         select u.id, 'skill-' || (1 + (u.id + s) % 200),
                case when s % 10 = 0 then 'not_started' else 'done' end
         from users u, generate_series(1, 120) s",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into notes (user_id, skill_id, body_md)
         select user_id, skill_id, 'a note' from skill_progress where (user_id + length(skill_id)) % 10 = 0",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into evidence (user_id, skill_id, url, title)
         select user_id, skill_id, 'https://example.com', 'x' from skill_progress where user_id % 50 = 0",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("analyze").execute(pool).await.unwrap();

    let asked = vec![
        "skill-7".to_string(),
        "skill-150".to_string(),
        "http-methods".to_string(),
    ];
    let counts = pathway::db::content::learners_per_skill(pool, &asked)
        .await
        .unwrap();
    let expected: Vec<(String, i64)> = sqlx::query_as(
        "select skill_id, count(distinct user_id) from (
             select skill_id, user_id from skill_progress where state <> 'not_started'
             union all select skill_id, user_id from notes union all select skill_id, user_id from evidence
         ) t where skill_id = any($1) group by skill_id",
    )
    .bind(&asked)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(counts, expected.into_iter().collect(), "the counts");
    assert!(counts["skill-7"] > 0 && !counts.contains_key("http-methods"));
    assert!(
        pathway::db::content::learners_per_skill(pool, &[])
            .await
            .unwrap()
            .is_empty()
    );

    // The query of db::content::learners_per_skill, for two of the 200 skills.
    let sql = "select skill_id, count(distinct user_id) from (
                   select skill_id, user_id from skill_progress
                   where skill_id = any(array['skill-7', 'skill-150']) and state <> 'not_started'
                   union all select skill_id, user_id from notes where skill_id = any(array['skill-7', 'skill-150'])
                   union all select skill_id, user_id from evidence where skill_id = any(array['skill-7', 'skill-150'])
               ) touched group by skill_id";
    let plan = plan(pool, sql).await;
    for table in ["skill_progress", "notes", "evidence"] {
        assert!(!plan.contains(&format!("Seq Scan on {table}")), "{plan}");
    }
    assert!(plan.contains("skill_progress_by_skill"), "{plan}");
    assert!(plan.contains("notes_by_skill"), "{plan}");
    // Two skills have 600 rows each in skill_progress (of 120,000) and fewer notes:
    // anything near the tables' size means the count read every skill's learners.
    let read = rows_scanned(&plan, "skill_progress") + rows_scanned(&plan, "notes");
    assert!(read <= 3000, "{read} rows read for two skills:\n{plan}");
}
