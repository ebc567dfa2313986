//! Teams: creating one, members and roles, assigned roadmaps, the progress table and its CSV, join links (uses, expiry, revocation, a race for the last use), leaving, registration invites into a team, tailoring and target dates (the table, the CSV, the learner's pages), and the audit trail.

mod common;

use axum::http::{StatusCode, header};
use common::{TestApp, count_statements, sample_content, write_files};

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sample_content());
    (TestApp::with_content(dir.path()).await, dir)
}

/// An admin's cookie, a team "Cohort 1" (slug cohort-1) led by lena, and lena's cookie.
async fn team(app: &TestApp) -> (String, String) {
    let root = app.sign_up_admin("root").await;
    let lena = app.sign_up("lena").await;
    let (status, headers, body) = app
        .post_form("/teams", &[("name", "Cohort 1"), ("lead", "Lena")], Some(&root))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], "/teams/cohort-1?done=created");
    (root, lena)
}

async fn join_link(app: &TestApp, cookie: &str, role: &str, uses: &str, days: &str) -> String {
    let (status, headers, page) = app
        .post_form(
            "/teams/cohort-1/invites",
            &[("role", role), ("uses", uses), ("days", days)],
            Some(cookie),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "no-store",
        "a link shown once is never cached"
    );
    let start = page.find("/team-invites/").expect("the new link is shown");
    let token: String = page[start + "/team-invites/".len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    format!("/team-invites/{token}")
}

async fn members(app: &TestApp) -> Vec<(String, String, bool)> {
    sqlx::query_as(
        "select u.username, m.role, m.left_at is null from team_members m join users u on u.id = m.user_id
         order by u.username",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_admin_creates_a_team_and_bad_input_keeps_the_form() {
    let (app, _dir) = app().await;
    let (root, lena) = team(&app).await;
    assert_eq!(members(&app).await, vec![("lena".into(), "lead".into(), true)]);
    // The same name again gets its own address.
    let (_, headers, _) = app
        .post_form("/teams", &[("name", "Cohort 1"), ("lead", "")], Some(&root))
        .await;
    assert_eq!(headers[header::LOCATION], "/teams/cohort-1-2?done=created");

    let (status, _, page) = app
        .post_form(
            "/teams",
            &[("name", "Night class"), ("lead", "nobody")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Nobody is called “nobody”") && page.contains(r#"value="Night class""#),
        "{page}"
    );
    let (status, _, page) = app.post_form("/teams", &[("name", "  ")], Some(&root)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Give the team a name"), "{page}");

    // Only admins create teams; the lead sees theirs in the list and in the header.
    let (status, _, _) = app.post_form("/teams", &[("name", "Mine")], Some(&lena)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, list) = app.get_as("/teams", &lena).await;
    assert!(
        list.contains(r#"<a href="/teams/cohort-1">Cohort 1</a>"#),
        "{list}"
    );
    assert!(!list.contains("cohort-1-2"), "a lead sees only their own teams");
    assert!(
        list.contains(r#"<li><a href="/teams">Teams</a></li>"#),
        "the header links to teams"
    );
    let outsider = app.sign_up("otto").await;
    let (_, _, page) = app.get_as("/dashboard", &outsider).await;
    assert!(
        !page.contains(r#"<a href="/teams">Teams</a>"#),
        "no Teams link for people in none"
    );
}

#[tokio::test]
async fn the_lead_adds_people_assigns_a_roadmap_and_sees_everyones_progress() {
    let (app, _dir) = app().await;
    let (_, lena) = team(&app).await;
    let ada = app.sign_up("ada").await;
    let tom = app.sign_up("tom").await;
    for (username, role) in [("ada", "learner"), ("tom", "mentor")] {
        let (status, headers, _) = app
            .post_form(
                "/teams/cohort-1/members",
                &[("member_username", username), ("role", role)],
                Some(&lena),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/teams/cohort-1?done=member");
    }
    let (status, _, page) = app
        .post_form(
            "/teams/cohort-1/members",
            &[("member_username", "Ghost"), ("role", "learner")],
            Some(&lena),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Nobody is called “ghost”") && page.contains(r#"value="ghost""#),
        "{page}"
    );

    // Assigning starts the roadmap for the team's learners, not its mentor.
    let (status, _, _) = app
        .post_form("/teams/cohort-1/roadmaps", &[("roadmap", "web")], Some(&lena))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let enrolled: Vec<String> = sqlx::query_scalar(
        "select u.username from enrollments e join users u on u.id = e.user_id where e.roadmap_id = 'web' order by 1",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(enrolled, vec!["ada"]);

    // Ada ticks; a second learner joins later and starts at zero.
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&ada),
    )
    .await;
    app.post_form(
        "/skills/dns-records/state",
        &[("state", "in_progress"), ("version", "0")],
        Some(&ada),
    )
    .await;
    let bob = app.sign_up("bob").await;
    app.post_form(
        "/teams/cohort-1/members",
        &[("member_username", "bob"), ("role", "learner")],
        Some(&lena),
    )
    .await;

    let (_, _, page) = app.get_as("/teams/cohort-1", &lena).await;
    assert!(page.contains(r#"<th scope="col">Web basics</th>"#), "{page}");
    // Web basics has 2 required skills (status codes is optional).
    assert!(page.contains("<strong>50%</strong> <span class=\"meta\">1 of 2 done · 1 in progress · 0 skipped · 0 verified</span>"), "{page}");
    assert!(
        page.contains("<strong>0%</strong> <span class=\"meta\">0 of 2 done"),
        "{page}"
    );
    let (_, _, mentor_view) = app.get_as("/teams/cohort-1", &tom).await;
    assert!(mentor_view.contains("1 of 2 done") && mentor_view.contains("0 of 2 done"));
    assert!(
        !mentor_view.contains("Add to the team"),
        "a mentor does not manage"
    );
    // A learner sees the team and only their own row.
    let (_, _, learner_view) = app.get_as("/teams/cohort-1", &bob).await;
    assert!(learner_view.contains("Your progress") && learner_view.contains("0 of 2 done"));
    assert!(!learner_view.contains("1 of 2 done"), "{learner_view}");
    assert!(!learner_view.contains("progress.csv"));

    // The CSV has the same numbers.
    let (status, headers, csv) = app.get_as("/teams/cohort-1/progress.csv", &tom).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("pathway-team-cohort-1-")
    );
    assert!(
        csv.starts_with("username,display_name,roadmap,percent_done,done,required,"),
        "{csv}"
    );
    assert!(csv.contains("ada,ada name,web,50,1,2,1,0,0,0"), "{csv}");
    assert!(csv.contains("bob,bob name,web,0,0,2,0,0,0,0"), "{csv}");
    let (status, _, _) = app.get_as("/teams/cohort-1/progress.csv", &bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Roles change; removal ends access at once and keeps the row as history.
    let bob_id = app.user_id("bob").await;
    let (status, _, _) = app
        .post_form(
            &format!("/teams/cohort-1/members/{bob_id}/role"),
            &[("role", "mentor")],
            Some(&lena),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app.get_as("/teams/cohort-1/progress.csv", &bob).await;
    assert_eq!(status, StatusCode::OK, "a mentor now");
    let (status, _, _) = app
        .post_form(
            &format!("/teams/cohort-1/members/{bob_id}/remove"),
            &[],
            Some(&lena),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app.get_as("/teams/cohort-1", &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        members(&app)
            .await
            .contains(&("bob".into(), "mentor".into(), false))
    );
    // Unassigning keeps the learners' own progress and enrollment.
    app.post_form("/teams/cohort-1/roadmaps/web/remove", &[], Some(&lena))
        .await;
    let (_, _, page) = app.get_as("/teams/cohort-1", &lena).await;
    assert!(page.contains("No roadmap is assigned yet."));
    let kept: i64 = sqlx::query_scalar(
        "select count(*) from skill_progress p join users u on u.id = p.user_id where u.username = 'ada'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(kept, 2);

    // Every change is in the audit log.
    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'team.%' order by id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "team.create",
            "team.member_add",
            "team.member_add",
            "team.assign",
            "team.member_add",
            "team.role",
            "team.member_remove",
            "team.unassign"
        ]
    );
}

#[tokio::test]
async fn a_team_with_members_keeps_a_lead() {
    let (app, _dir) = app().await;
    let (root, lena) = team(&app).await;
    let ada = app.sign_up("ada").await;
    app.post_form(
        "/teams/cohort-1/members",
        &[("member_username", "ada"), ("role", "learner")],
        Some(&lena),
    )
    .await;
    let lena_id = app.user_id("lena").await;
    let ada_id = app.user_id("ada").await;
    let role = format!("/teams/cohort-1/members/{lena_id}/role");
    let remove = format!("/teams/cohort-1/members/{lena_id}/remove");
    // The only lead cannot leave, step down or be removed (not even by an admin) while
    // ada is in the team: the page says why, and nothing changes.
    for (path, form, cookie, says) in [
        (
            "/teams/cohort-1/leave",
            vec![],
            &lena,
            "You are this team’s only lead",
        ),
        (role.as_str(), vec![("role", "mentor")], &lena, "needs a lead"),
        (remove.as_str(), vec![], &lena, "needs a lead"),
        (remove.as_str(), vec![], &root, "needs a lead"),
        (role.as_str(), vec![("role", "learner")], &root, "needs a lead"),
    ] {
        let (status, _, page) = app.post_form(path, &form, Some(cookie)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {page}");
        assert!(page.contains(says), "{path}: {page}");
        assert!(page.contains(r#"role="alert""#), "{path}");
    }
    assert_eq!(
        members(&app).await,
        vec![
            ("ada".into(), "learner".into(), true),
            ("lena".into(), "lead".into(), true)
        ]
    );
    // With ada made a lead, lena may step down, and then ada may not leave.
    let (status, _, _) = app
        .post_form(
            &format!("/teams/cohort-1/members/{ada_id}/role"),
            &[("role", "lead")],
            Some(&lena),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app.post_form(&role, &[("role", "learner")], Some(&lena)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app.post_form("/teams/cohort-1/leave", &[], Some(&ada)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Anyone else may go; and the last one in the team may too, lead or not.
    let (status, _, _) = app.post_form("/teams/cohort-1/leave", &[], Some(&lena)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app.post_form("/teams/cohort-1/leave", &[], Some(&ada)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(members(&app).await.iter().all(|(_, _, current)| !current));
}

#[tokio::test]
async fn join_links_count_their_uses_expire_and_can_be_revoked() {
    let (app, _dir) = app().await;
    let (_, lena) = team(&app).await;
    let once = join_link(&app, &lena, "learner", "1", "7").await;
    let ada = app.sign_up("ada").await;
    let eve = app.sign_up("eve").await;

    // Signed out, the link asks to sign in and comes back to it.
    let (status, headers, _) = app.get(&once).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/signin?next=%2Fteam-invites%2F")
    );

    let (status, _, page) = app.get_as(&once, &ada).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("You are invited to join <strong>Cohort 1</strong> as a learner."),
        "{page}"
    );
    let (status, headers, _) = app.post_form(&once, &[], Some(&ada)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/teams/cohort-1?done=joined");
    // Opening it again as a member uses nothing; for anyone else it is used up.
    let (status, _, page) = app.get_as(&once, &ada).await;
    assert_eq!(status, StatusCode::GONE, "used up: {page}");
    let (status, _, page) = app.post_form(&once, &[], Some(&eve)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("does not work any more"), "{page}");

    // A multi-use mentor link; a member opening it again costs no use.
    let twice = join_link(&app, &lena, "mentor", "2", "7").await;
    app.post_form(&twice, &[], Some(&eve)).await;
    let (_, _, page) = app.get_as(&twice, &eve).await;
    assert!(page.contains("You are already in this team"), "{page}");
    app.post_form(&twice, &[], Some(&eve)).await;
    let uses: i32 = sqlx::query_scalar("select uses from team_invites where role = 'mentor'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(uses, 1);
    assert!(
        members(&app)
            .await
            .contains(&("eve".into(), "mentor".into(), true))
    );

    // Expired and revoked links are gone.
    let expiring = join_link(&app, &lena, "learner", "", "1").await;
    sqlx::query("update team_invites set expires_at = now() - interval '1 second' where max_uses is null")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let kim = app.sign_up("kim").await;
    let (status, _, _) = app.post_form(&expiring, &[], Some(&kim)).await;
    assert_eq!(status, StatusCode::GONE);
    let open = join_link(&app, &lena, "learner", "", "30").await;
    let (_, _, page) = app.get_as("/teams/cohort-1", &lena).await;
    assert!(
        page.contains("used up") && page.contains("expired") && page.contains(">open"),
        "{page}"
    );
    let id: i64 = sqlx::query_scalar("select max(id) from team_invites")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (status, _, _) = app
        .post_form(&format!("/teams/cohort-1/invites/{id}/revoke"), &[], Some(&lena))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app.post_form(&open, &[], Some(&kim)).await;
    assert_eq!(status, StatusCode::GONE);

    // Bad numbers re-render the form with a message.
    let (status, _, page) = app
        .post_form(
            "/teams/cohort-1/invites",
            &[("role", "learner"), ("uses", "0"), ("days", "7")],
            Some(&lena),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Uses must be a number from 1 to 10,000"), "{page}");

    // Leaving ends access at once.
    let (status, _, _) = app.post_form("/teams/cohort-1/leave", &[], Some(&ada)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app.get_as("/teams/cohort-1", &ada).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn two_people_racing_for_the_last_use_of_a_link_one_joins() {
    let (app, _dir) = app().await;
    let (_, lena) = team(&app).await;
    let link = join_link(&app, &lena, "learner", "1", "7").await;
    let a = app.sign_up("racer-a").await;
    let b = app.sign_up("racer-b").await;
    let (first, second) = tokio::join!(
        app.post_form(&link, &[], Some(&a)),
        app.post_form(&link, &[], Some(&b))
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::GONE]);
    let joined: i64 = sqlx::query_scalar("select count(*) from team_members where role = 'learner'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(joined, 1);
}

#[tokio::test]
async fn the_team_page_costs_the_same_statements_for_3_or_60_learners() {
    let (app, _dir) = app().await;
    let (_, lena) = team(&app).await;
    app.post_form("/teams/cohort-1/roadmaps", &[("roadmap", "web")], Some(&lena))
        .await;
    let add = |n: std::ops::Range<usize>| {
        let app = &app;
        async move {
            sqlx::query(
                "insert into users (username, display_name, password_hash)
                 select 'learner' || g, 'Learner ' || g, 'x' from generate_series($1::int, $2::int) g;
                 ",
            )
            .bind(n.start as i32)
            .bind(n.end as i32 - 1)
            .execute(&app.db.pool)
            .await
            .unwrap();
            sqlx::query(
                "insert into team_members (team_id, user_id, role)
                 select t.id, u.id, 'learner' from teams t, users u
                 where t.slug = 'cohort-1' and u.username like 'learner%'
                 on conflict do nothing",
            )
            .execute(&app.db.pool)
            .await
            .unwrap();
        }
    };
    add(0..3).await;
    let (few, (status, _, page)) = count_statements(app.get_as("/teams/cohort-1", &lena)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Learner 2"));
    add(3..60).await;
    let (many, (_, _, page)) = count_statements(app.get_as("/teams/cohort-1", &lena)).await;
    assert!(page.contains("Learner 59"));
    assert_eq!(few, many, "statements must not grow with the team");
}

#[tokio::test]
async fn a_registration_invite_naming_a_team_puts_the_new_user_in_it() {
    let (app, _dir) = app().await;
    let (root, lena) = team(&app).await;
    // A team that does not exist, or no role: the form comes back with its values.
    let (status, _, page) = app
        .post_form(
            "/admin/invites",
            &[("days", "7"), ("team", "nope"), ("team_role", "learner")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Choose one of the teams"), "{page}");
    let (status, _, page) = app
        .post_form(
            "/admin/invites",
            &[("days", "7"), ("team", "cohort-1"), ("team_role", "mentor")],
            Some(&root),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let start = page.find("/signup?invite=").expect("the link is shown");
    let token: String = page[start + "/signup?invite=".len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    let (status, _, body) = app
        .post_form(
            "/signup",
            &[
                ("username", "nia"),
                ("display_name", "Nia"),
                ("password", common::STRONG_PASSWORD),
                ("invite", token.as_str()),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(
        members(&app)
            .await
            .contains(&("nia".into(), "mentor".into(), true))
    );
    let (_, _, invites) = app.get_as("/admin/invites", &root).await;
    assert!(
        invites.contains("Cohort 1 <span class=\"meta\">as mentor</span>"),
        "{invites}"
    );
    let audit: Vec<(String, String)> =
        sqlx::query_as("select action, target from audit_log where action = 'team.join'")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(audit, [("team.join".to_string(), "cohort-1: nia".to_string())]);
    let _ = lena;
}

/// Posts one stage's plan: its date and a rule per skill.
async fn save_stage(
    app: &TestApp,
    cookie: &str,
    stage: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let (status, _, body) = app
        .post_form(
            &format!("/teams/cohort-1/roadmaps/web/stages/{stage}"),
            fields,
            Some(cookie),
        )
        .await;
    (status, body)
}

#[tokio::test]
async fn tailoring_and_target_dates_move_the_team_table_and_the_learners_view() {
    let (app, _dir) = app().await;
    let (_, lena) = team(&app).await;
    let ada = app.sign_up("ada").await;
    let tom = app.sign_up("tom").await;
    for (username, role) in [("ada", "learner"), ("tom", "mentor")] {
        app.post_form(
            "/teams/cohort-1/members",
            &[("member_username", username), ("role", role)],
            Some(&lena),
        )
        .await;
    }
    app.post_form("/teams/cohort-1/roadmaps", &[("roadmap", "web")], Some(&lena))
        .await;
    app.post_form(
        "/skills/http-methods/state",
        &[("state", "done"), ("version", "0")],
        Some(&ada),
    )
    .await;

    // Only those who manage the team plan it.
    let (status, _, page) = app.get_as("/teams/cohort-1/roadmaps/web", &lena).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<select id="rule_status-codes" name="rule_status-codes">"#),
        "{page}"
    );
    assert_eq!(
        app.get_as("/teams/cohort-1/roadmaps/web", &tom).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_as("/teams/cohort-1/roadmaps/dns", &lena).await.0,
        StatusCode::NOT_FOUND
    );

    // A bad date keeps the stage's values.
    let (status, page) = save_stage(
        &app,
        &lena,
        "http",
        &[("due", "31/12/2026"), ("rule_status-codes", "required")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("is not a date") && page.contains(r#"value="31/12/2026""#),
        "{page}"
    );
    assert!(page.contains(r#"<option value="required" selected>"#), "{page}");

    // HTTP: status codes required for the team, due long ago. DNS: its skill hidden.
    let (status, _) = save_stage(
        &app,
        &lena,
        "http",
        &[
            ("due", "2020-01-31"),
            ("rule_status-codes", "required"),
            ("rule_http-methods", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = save_stage(&app, &lena, "dns", &[("due", ""), ("rule_dns-records", "hidden")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // The team's version: methods and status codes required, DNS records gone: 1 of 2.
    let (_, _, page) = app.get_as("/teams/cohort-1", &tom).await;
    assert!(
        page.contains("<strong>50%</strong> <span class=\"meta\">1 of 2 done · 0 in progress"),
        "{page}"
    );
    assert!(
        page.contains("Behind") && page.contains("HTTP was due 31 Jan 2020"),
        "{page}"
    );
    let (_, _, csv) = app.get_as("/teams/cohort-1/progress.csv", &tom).await;
    assert!(
        csv.contains("ada,ada name,web,50,1,2,0,0,0,0,behind,HTTP (31 Jan 2020),"),
        "{csv}"
    );

    // The learner sees the team's version: badges, the hidden skill set apart, the dates.
    let (_, _, http) = app.get_as("/roadmaps/web/http", &ada).await;
    assert!(
        http.contains("Required by Cohort 1") && http.contains("Overdue"),
        "{http}"
    );
    let (_, _, dns) = app.get_as("/roadmaps/web/dns", &ada).await;
    assert!(
        dns.contains("1 skill hidden by your team") && dns.contains("hidden by Cohort 1"),
        "{dns}"
    );
    let (_, _, roadmap) = app.get_as("/roadmaps/web", &ada).await;
    assert!(
        roadmap.contains("Required by Cohort 1") && roadmap.contains("(Hidden by Cohort 1)"),
        "{roadmap}"
    );
    assert!(roadmap.contains("1 of 2 required skills done (50%)"), "{roadmap}");
    let (_, _, dashboard) = app.get_as("/dashboard", &ada).await;
    assert!(
        dashboard.contains("Overdue") && dashboard.contains("was due 31 Jan 2020"),
        "{dashboard}"
    );

    // A lead gives Ada her own later date: she is on track again.
    let ada_id = app.user_id("ada").await.to_string();
    let (status, _, page) = app
        .post_form(
            "/teams/cohort-1/roadmaps/web/learner-targets",
            &[("learner", ada_id.as_str()), ("stage", "http"), ("due", "soon")],
            Some(&lena),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains(r#"value="soon""#), "{page}");
    let (status, _, _) = app
        .post_form(
            "/teams/cohort-1/roadmaps/web/learner-targets",
            &[
                ("learner", ada_id.as_str()),
                ("stage", "http"),
                ("due", "2099-06-30"),
            ],
            Some(&lena),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = app.get_as("/teams/cohort-1", &tom).await;
    assert!(
        page.contains("On track") && page.contains("Next: HTTP by 30 Jun 2099"),
        "{page}"
    );
    let (_, _, dashboard) = app.get_as("/dashboard", &ada).await;
    assert!(
        dashboard.contains("due 30 Jun 2099") && !dashboard.contains("Overdue"),
        "{dashboard}"
    );

    // The feed and the chart, for those who see progress only.
    assert!(
        page.contains("completed Methods") && page.contains("joined the team"),
        "{page}"
    );
    assert!(page.contains("Completions per week"));
    let (_, _, own) = app.get_as("/teams/cohort-1", &ada).await;
    assert!(!own.contains("Recent activity"));

    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where action in ('team.plan', 'team.learner_target') order by id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(actions, ["team.plan", "team.plan", "team.learner_target"]);
}

#[tokio::test]
async fn a_renamed_skill_keeps_its_team_rule() {
    let (app, dir) = app().await;
    let (_, lena) = team(&app).await;
    app.post_form("/teams/cohort-1/roadmaps", &[("roadmap", "web")], Some(&lena))
        .await;
    let (status, _) = save_stage(&app, &lena, "dns", &[("due", ""), ("rule_dns-records", "hidden")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    write_files(
        dir.path(),
        &[(
            "web/02-dns.md",
            "+++\nid = \"dns\"\ntitle = \"DNS\"\n+++\nNames.\n\n## Record types {#dns-record-types replaces=dns-records}\nA and AAAA.\n",
        )],
    );
    pathway::app::load_content(&app.db.pool, dir.path())
        .await
        .unwrap();
    let rules: Vec<(String, String)> = sqlx::query_as("select skill_id, rule from team_skill_rules")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rules, [("dns-record-types".to_string(), "hidden".to_string())]);
}

#[tokio::test]
async fn mark_stage_done_follows_the_team_version_of_the_stage() {
    let (app, _dir) = app().await;
    let (_, lena) = team(&app).await;
    let ada = app.sign_up("ada").await;
    let bo = app.sign_up("bob").await;
    app.post_form(
        "/teams/cohort-1/members",
        &[("member_username", "ada"), ("role", "learner")],
        Some(&lena),
    )
    .await;
    app.post_form("/teams/cohort-1/roadmaps", &[("roadmap", "web")], Some(&lena))
        .await;
    // The team requires the optional status codes and hides the required methods.
    let (status, _) = save_stage(
        &app,
        &lena,
        "http",
        &[
            ("due", ""),
            ("rule_status-codes", "required"),
            ("rule_http-methods", "hidden"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Ada's confirmation lists the team's required skill, not the hidden one.
    let (status, _, page) = app.get_as("/progress/web/http/complete", &ada).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Status codes") && !page.contains("Methods"),
        "{page}"
    );
    let (status, _, _) = app
        .post_form("/progress/web/http/complete", &[], Some(&ada))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let states = |user: &'static str| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, String)>(
                "select p.skill_id, p.state from skill_progress p join users u on u.id = p.user_id
                 where u.username = $1 and p.state <> 'not_started' order by 1",
            )
            .bind(user)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(
        states("ada").await,
        [("status-codes".to_string(), "done".to_string())]
    );

    // Bob, in no team, marks the content's required skills only.
    let (_, _, page) = app.get_as("/progress/web/http/complete", &bo).await;
    assert!(
        page.contains("Methods") && !page.contains("Status codes"),
        "{page}"
    );
    app.post_form("/progress/web/http/complete", &[], Some(&bo)).await;
    assert_eq!(
        states("bob").await,
        [("http-methods".to_string(), "done".to_string())]
    );
}
