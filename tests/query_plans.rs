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
        // The dashboard's weekly chart (db::progress::completions_per_week).
        format!(
            "select date_trunc('week', e.at at time zone 'UTC')::date, count(*) from progress_events e
             where e.user_id = {learner} and e.to_state = 'done' and e.kind <> 'undo' and e.at >= now() - interval '26 weeks'
               and not exists (select 1 from progress_events u where u.user_id = e.user_id and u.undoes = e.action_id)
             group by 1"
        ),
        // History (db::progress::recent_events).
        format!(
            "select e.id, exists (select 1 from progress_events u where u.user_id = e.user_id and u.undoes = e.action_id)
             from progress_events e where e.user_id = {learner} order by e.at desc, e.id desc limit 50"
        ),
        // New since the mentor's visit (db::mentorships::new_since_visit).
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
        assert!(plan.contains("Index"), "{sql}\n{plan}");
        // One learner has 120 events and 20 review requests; anything near the
        // table's size means the query read other people's history.
        let read = rows_scanned(&plan, "progress_events") + rows_scanned(&plan, "review_requests");
        assert!(read <= 400, "{read} rows read for one learner:\n{sql}\n{plan}");
    }
}
