//! Time zones: sign-up takes the browser's zone, the account page changes it, and dates and the activity chart follow it.

mod common;

use axum::http::{StatusCode, header};
use common::{STRONG_PASSWORD, TestApp, sample_content, session_cookie, write_files};
use pathway::config::Settings;

async fn app_with_default_zone(zone: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    let settings = Settings {
        time_zone: zone.to_string(),
        ..Settings::default()
    };
    (TestApp::with_settings(dir.path(), settings).await, dir)
}

async fn sign_up_in(app: &TestApp, username: &str, zone: &str) -> String {
    let (status, headers, body) = app
        .post_form(
            "/signup",
            &[
                ("username", username),
                ("display_name", username),
                ("password", STRONG_PASSWORD),
                ("time_zone", zone),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    session_cookie(&headers).unwrap()
}

async fn zone_of(app: &TestApp, username: &str) -> String {
    sqlx::query_scalar("select time_zone from users where username = $1")
        .bind(username)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// Marks `skill` done for the cookie's user, then moves that change to `at`.
async fn done_at(app: &TestApp, cookie: &str, user_id: i64, skill: &str, at: &str) {
    let (status, _, body) = app
        .post_form(
            &format!("/skills/{skill}/state"),
            &[("state", "done"), ("version", "0")],
            Some(cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    sqlx::query("update progress_events set at = $2::timestamptz where user_id = $1 and skill_id = $3")
        .bind(user_id)
        .bind(at)
        .bind(skill)
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("select recount_learner_activity(array[$1::bigint])")
        .bind(user_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

/// The learner's counted activity: (Monday of the week, the seven day counts).
async fn weeks(app: &TestApp, user_id: i64) -> Vec<(String, Vec<i32>)> {
    sqlx::query_as(
        "select week::text, changes from learner_weeks where user_id = $1 and changes <> '{0,0,0,0,0,0,0}'
         union all
         select week::text, changes from learner_week_changes where user_id = $1
         order by 1",
    )
    .bind(user_id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn sign_up_keeps_the_browsers_zone_and_falls_back_to_the_servers() {
    let (app, _dir) = app_with_default_zone("America/New_York").await;
    // The page carries the field the browser's script fills in.
    let (_, _, page) = app.get("/signup").await;
    assert!(
        page.contains(r#"name="time_zone" value="" data-browser-time-zone"#),
        "{page}"
    );

    sign_up_in(&app, "tokyo", "Asia/Tokyo").await;
    assert_eq!(zone_of(&app, "tokyo").await, "Asia/Tokyo");
    // An older alias a browser may send is still a real zone.
    sign_up_in(&app, "kolkata", "Asia/Calcutta").await;
    assert_eq!(zone_of(&app, "kolkata").await, "Asia/Calcutta");
    // Without JavaScript nothing is sent; nonsense is not stored either.
    sign_up_in(&app, "noscript", "").await;
    assert_eq!(zone_of(&app, "noscript").await, "America/New_York");
    sign_up_in(&app, "nonsense", "../../etc/passwd").await;
    assert_eq!(zone_of(&app, "nonsense").await, "America/New_York");
}

#[tokio::test]
async fn dates_show_in_the_viewers_zone_and_follow_a_change() {
    let (app, _dir) = app_with_default_zone("UTC").await;
    let cookie = sign_up_in(&app, "ada", "Asia/Tokyo").await;
    let ada = app.user_id("ada").await;
    // Sunday 23:30 in London is Monday morning in Tokyo.
    done_at(&app, &cookie, ada, "http-methods", "2026-11-29 23:30:00Z").await;

    let (_, _, history) = app.get_as("/history", &cookie).await;
    assert!(history.contains("30 Nov 2026, 08:30 JST"), "{history}");
    assert!(!history.contains("UTC"), "{history}");
    assert_eq!(
        weeks(&app, ada).await,
        vec![("2026-11-30".to_string(), vec![1, 0, 0, 0, 0, 0, 0])]
    );

    let (_, _, account) = app.get_as("/account", &cookie).await;
    assert!(
        account.contains("<option selected>Asia/Tokyo</option>"),
        "{account}"
    );
    assert!(account.contains(r#"<label for="f_time_zone">Time zone</label>"#));

    let (status, headers, _) = app
        .post_form(
            "/account/time-zone",
            &[("time_zone", "Europe/London")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/account?done=time-zone");
    let (_, _, history) = app.get_as("/history", &cookie).await;
    assert!(history.contains("29 Nov 2026, 23:30 GMT"), "{history}");
    // The chart's days were recounted where Ada now lives: a Sunday of the week before.
    assert_eq!(
        weeks(&app, ada).await,
        vec![("2026-11-23".to_string(), vec![0, 0, 0, 0, 0, 0, 1])]
    );

    // New activity lands on the learner's own day too.
    done_at(&app, &cookie, ada, "dns-records", "2026-12-01 00:30:00Z").await;
    let (_, _, history) = app.get_as("/history", &cookie).await;
    assert!(history.contains("1 Dec 2026, 00:30 GMT"), "{history}");
}

#[tokio::test]
async fn new_events_are_counted_on_the_learners_day() {
    let (app, _dir) = app_with_default_zone("UTC").await;
    // At any hour, one of these two zones is on another calendar day than UTC.
    let zones = ["Pacific/Kiritimati", "Pacific/Pago_Pago"];
    let mut differs_from_utc = false;
    for (n, zone) in zones.into_iter().enumerate() {
        let name = format!("learner{n}");
        let cookie = sign_up_in(&app, &name, zone).await;
        let id = app.user_id(&name).await;
        // The trigger (not a recount) files a change made now under the learner's today.
        let (status, _, _) = app
            .post_form(
                "/skills/http-methods/state",
                &[("state", "in_progress"), ("version", "0")],
                Some(&cookie),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (monday, dow, same_as_utc): (String, i32, bool) = sqlx::query_as(
            "select date_trunc('week', e.at at time zone $2)::date::text,
                    extract(isodow from e.at at time zone $2)::int,
                    (e.at at time zone $2)::date = (e.at at time zone 'UTC')::date
             from progress_events e where e.user_id = $1",
        )
        .bind(id)
        .bind(zone)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        differs_from_utc |= !same_as_utc;
        let mut expected = vec![0; 7];
        expected[dow as usize - 1] = 1;
        assert_eq!(weeks(&app, id).await, vec![(monday, expected)], "{zone}");
    }
    assert!(
        differs_from_utc,
        "one learner's day is not UTC's, so UTC counting would fail"
    );
}

#[tokio::test]
async fn an_unknown_zone_is_refused_with_the_value_kept() {
    let (app, _dir) = app_with_default_zone("UTC").await;
    let cookie = sign_up_in(&app, "ada", "Europe/Paris").await;
    let (status, _, body) = app
        .post_form(
            "/account/time-zone",
            &[("time_zone", "Mars/Olympus_Mons")],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("is not a time zone Pathway knows"), "{body}");
    assert!(
        body.contains(r#"<option value="Mars/Olympus_Mons" selected>"#),
        "{body}"
    );
    assert!(body.contains(r#"aria-invalid="true""#));
    assert_eq!(zone_of(&app, "ada").await, "Europe/Paris");
}
