//! Every route, as each kind of actor: anonymous, the learner, another learner, the learner's
//! mentor, a mentor of someone else, an ex-mentor and a mentor scoped to another roadmap. The
//! outcome is exactly the one intended, and private data never shows. A route without an entry
//! here fails the test.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{TestApp, declared_routes, write_files};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    /// 303 to /signin.
    SignIn,
    /// 303 somewhere else.
    Redirect,
    NotFound,
    Status(u16),
}

use Expect::*;

/// The actors, in the order of the table's columns.
const ACTORS: [&str; 12] = [
    "anonymous",
    "ada",
    "eve",
    "max",
    "omar",
    "eddie",
    "sara",
    "lena",
    "tom",
    "mia",
    "fred",
    "bob",
];
// anonymous; ada: the learner; eve: another learner; max: ada's mentor on everything;
// omar: olga's mentor only; eddie: ada's mentor until the link ended; sara: ada's mentor on ops only.
// Team alpha (ada is one of its learners, ops assigned): lena its lead, tom its mentor, mia
// another of its learners, fred a former member; bob leads another team, beta.

const N: Expect = NotFound;
const S: Expect = SignIn;
const R: Expect = Redirect;
const F: Expect = Status(403);

/// (method, route as written in the router, outcome per actor in `ACTORS` order).
#[rustfmt::skip]
const TABLE: &[(&str, &str, [Expect; 12])] = &[
    // Columns: anonymous, ada, eve, max, omar, eddie, sara, lena, tom, mia, fred, bob (see ACTORS).
    ("GET",  "/",                                     [Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/about",                                [Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/roadmaps/{roadmap}",                   [Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/roadmaps/{roadmap}/{stage}",           [Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/roadmaps/{roadmap}/{stage}/{skill}",   [Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/u/{username}",                         [N, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/search",                               [Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/healthz",                              [Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/readyz",                               [Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/signup",                               [Ok, R, R, R, R, R, R, R, R, R, R, R]),
    ("POST", "/signup",                               [Status(422); 12]),
    ("GET",  "/signin",                               [Ok, R, R, R, R, R, R, R, R, R, R, R]),
    ("POST", "/signin",                               [Status(422); 12]),
    ("GET",  "/account",                              [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/account/profile",                      [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    ("POST", "/account/password",                     [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    ("POST", "/account/time-zone",                    [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    ("POST", "/account/delete",                       [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    ("POST", "/account/public-profile",               [S, R, R, R, R, R, R, R, R, R, R, R]),
    ("POST", "/account/email",                        [S, R, R, R, R, R, R, R, R, R, R, R]),
    ("POST", "/account/email-preferences",            [S, R, R, R, R, R, R, R, R, R, R, R]),
    // Personal access tokens: the form without a name or scope is refused; {id} is ada's token.
    ("GET",  "/account/tokens",                       [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/account/tokens",                       [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    ("POST", "/account/tokens/{id}/revoke",           [S, R, N, N, N, N, N, N, N, N, N, N]),
    // Single sign-on: no provider is configured here, and no sign-in is waiting to be linked;
    // {id} is not an identity of anyone's.
    ("GET",  "/auth/oidc/{provider}",                 [N, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/auth/oidc/{provider}/callback",        [N, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/auth/oidc/link",                       [Status(400); 12]),
    ("POST", "/auth/oidc/link",                       [Status(400); 12]),
    ("GET",  "/account/identities",                   [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/account/identities/{id}/unlink",       [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/docs/api",                             [Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    // Two-factor sign-in: nobody here has it on; an empty code is refused. The code step
    // without a password first: a page saying to sign in again, or on to the dashboard.
    ("GET",  "/account/two-factor",                   [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/account/two-factor/setup",             [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/account/two-factor/setup",             [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    ("POST", "/account/two-factor/recovery-codes",    [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    ("POST", "/account/two-factor/disable",           [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    ("GET",  "/signin/two-factor",                    [Ok, R, R, R, R, R, R, R, R, R, R, R]),
    ("POST", "/signin/two-factor",                    [S, R, R, R, R, R, R, R, R, R, R, R]),
    ("GET",  "/signin/recovery-code",                 [Ok, R, R, R, R, R, R, R, R, R, R, R]),
    ("POST", "/signin/recovery-code",                 [S, R, R, R, R, R, R, R, R, R, R, R]),
    // An unsubscribe link that does not exist: the same 404 for everyone, signed in or not.
    ("GET",  "/unsubscribe/{token}",                  [N, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/unsubscribe/{token}",                  [N, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/account/export.json",                  [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/account/export.csv",                   [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/account/import",                       [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/account/import",                       [S, Status(400), Status(400), Status(400), Status(400), Status(400), Status(400), Status(400), Status(400), Status(400), Status(400), Status(400)]),
    // Only ada started the roadmap (the others start it just below).
    ("GET",  "/progress/{roadmap}/reset",             [S, Ok, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/progress/{roadmap}/reset",             [S, R, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/progress/{roadmap}/start",             [S, R, R, R, R, R, R, R, R, R, R, R]),
    // Version 0 is stale for ada, whose skill has changed; fresh for everyone else.
    ("POST", "/skills/{skill}/state",                 [S, Status(409), R, R, R, R, R, R, R, R, R, R]),
    ("GET",  "/progress/{roadmap}/{stage}/complete",  [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/progress/{roadmap}/{stage}/complete",  [S, R, R, R, R, R, R, R, R, R, R, R]),
    // Everyone signed in has now marked the skill done themselves.
    ("GET",  "/skills/{skill}/changes",               [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/skills/{skill}/confirm",               [S, R, R, R, R, R, R, R, R, R, R, R]),
    // Ada's action, evidence, notifications and comments are hers alone.
    ("POST", "/progress/undo",                        [S, R, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/dashboard",                            [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/history",                              [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/skills/{skill}/note",                  [S, R, R, R, R, R, R, R, R, R, R, R]),
    ("POST", "/skills/{skill}/evidence",              [S, R, R, R, R, R, R, R, R, R, R, R]),
    ("POST", "/evidence/{id}/delete",                 [S, R, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/mentors",                              [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/mentors/invite",                       [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    ("POST", "/mentors/link",                         [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/mentors/{id}/revoke",                  [S, R, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/mentoring",                            [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("GET",  "/mentoring/matrix/{roadmap}",           [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    // Everyone's own queue: empty for non-mentors, never another mentor's.
    ("GET",  "/mentoring/reviews",                    [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/mentoring/{id}/accept",                [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/mentoring/{id}/decline",               [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/mentoring/invite/{token}",             [S, Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410)]),
    ("POST", "/mentoring/invite/{token}",             [S, Status(409), Status(409), Status(409), Status(409), Status(409), Status(409), Status(409), Status(409), Status(409), Status(409), Status(409)]),
    // Only ada's mentors see her; sara only on ops, so not the web stage. Alpha's lead and
    // mentor reach her as a mentor on ops does (its assigned roadmap); its other learner, its
    // former member and another team's lead do not.
    ("GET",  "/mentees/{username}",                   [S, N, N, Ok, N, N, Ok, Ok, Ok, N, N, N]),
    ("GET",  "/mentees/{username}/{roadmap}/{stage}", [S, N, N, Ok, N, N, N, N, N, N, N, N]),
    ("GET",  "/mentees/{username}/{roadmap}/{stage}/{skill}", [S, N, N, Ok, N, N, N, N, N, N, N, N]),
    ("POST", "/skills/{skill}/review",                [S, Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422), Status(422)]),
    // Max claims ada's request (on web) and gives it back; nobody else reaches it.
    ("POST", "/reviews/{id}/claim",                   [S, N, N, R, N, N, N, N, N, N, N, N]),
    ("POST", "/reviews/{id}/release",                 [S, N, N, R, N, N, N, N, N, N, N, N]),
    // Max answers ada's request first; his second verdict is refused.
    ("POST", "/reviews/{id}/verify",                  [S, N, N, R, N, N, N, N, N, N, N, N]),
    ("POST", "/reviews/{id}/changes",                 [S, N, N, Status(409), N, N, N, N, N, N, N, N]),
    ("GET",  "/notifications",                        [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/notifications/{id}/open",              [S, R, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/notifications/read-all",               [S, R, R, R, R, R, R, R, R, R, R, R]),
    ("POST", "/threads/{username}/{skill}/comments",  [S, R, N, R, N, N, N, N, N, N, N, N]),
    ("POST", "/comments/{id}/edit",                   [S, R, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/comments/{id}/delete",                 [S, R, N, N, N, N, N, N, N, N, N, N]),
    // No actor here is an admin; the setup token is not valid.
    ("GET",  "/setup",                                [N, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/setup",                                [N, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/admin",                                [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/users/{id}/admin",               [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/users/{id}/disabled",            [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("GET",  "/admin/audit",                          [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("GET",  "/admin/email",                          [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/email/{id}/retry",               [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/email/retry",                    [S, F, F, F, F, F, F, F, F, F, F, F]),
    // Webhooks: no actor is an admin, so the site's are not found; alpha's are for lena, its
    // lead, alone (the form without events is refused; {id} is no endpoint or delivery).
    ("GET",  "/admin/webhooks",                       [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/admin/webhooks",                       [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/admin/webhooks/{id}",                  [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/admin/webhooks/{id}/delete",           [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/admin/webhooks/{id}/active",           [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/admin/webhooks/{id}/ping",             [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/admin/webhooks/deliveries/{id}/redeliver", [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/teams/{team}/webhooks",                [S, N, N, N, N, N, N, Ok, N, N, N, N]),
    ("POST", "/teams/{team}/webhooks",                [S, N, N, N, N, N, N, Status(422), N, N, N, N]),
    ("GET",  "/teams/{team}/webhooks/{id}",           [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/teams/{team}/webhooks/{id}/delete",    [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/teams/{team}/webhooks/{id}/active",    [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/teams/{team}/webhooks/{id}/ping",      [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/teams/{team}/webhooks/deliveries/{id}/redeliver", [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("GET",  "/admin/content",                        [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("GET",  "/admin/content/plan",                   [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("GET",  "/admin/content/loads/{id}",             [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/content/reload",                 [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/content/apply",                  [S, F, F, F, F, F, F, F, F, F, F, F]),
    // The step key here is not a step of the skill.
    ("POST", "/skills/{skill}/steps/{step}",          [S, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/admin/users/{id}/reset",               [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/users/{id}/two-factor",          [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("GET",  "/admin/invites",                        [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/invites",                        [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("GET",  "/admin/mentorships",                    [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/mentorships",                    [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("POST", "/admin/mentorships/{id}/end",           [S, F, F, F, F, F, F, F, F, F, F, F]),
    // A reset link that does not exist: the same 404 for everyone, signed in or not.
    ("GET",  "/reset/{token}",                        [N, N, N, N, N, N, N, N, N, N, N, N]),
    ("POST", "/reset/{token}",                        [N, N, N, N, N, N, N, N, N, N, N, N]),
    // Teams: members see their team, leads manage it, mentors see its progress; a former
    // member and everyone else get 404, never the team.
    ("GET",  "/teams",                                [S, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok, Ok]),
    ("POST", "/teams",                                [S, F, F, F, F, F, F, F, F, F, F, F]),
    ("GET",  "/teams/{team}",                         [S, Ok, N, N, N, N, N, Ok, Ok, Ok, N, N]),
    ("GET",  "/teams/{team}/progress.csv",            [S, F, N, N, N, N, N, Ok, Ok, F, N, N]),
    ("POST", "/teams/{team}/members",                 [S, F, N, N, N, N, N, Status(422), F, F, N, N]),
    ("POST", "/teams/{team}/members/{id}/role",       [S, F, N, N, N, N, N, Status(400), F, F, N, N]),
    ("POST", "/teams/{team}/roadmaps",                [S, F, N, N, N, N, N, Status(400), F, F, N, N]),
    ("POST", "/teams/{team}/invites",                 [S, F, N, N, N, N, N, Status(422), F, F, N, N]),
    ("POST", "/teams/{team}/invites/{id}/revoke",     [S, F, N, N, N, N, N, R, F, F, N, N]),
    // Web is not assigned to alpha (ops is).
    ("POST", "/teams/{team}/roadmaps/{roadmap}/remove", [S, F, N, N, N, N, N, N, F, F, N, N]),
    // A team's plan of a roadmap: only for those who manage it, and only for an assigned
    // roadmap (web is not alpha's, so its lead gets 404 too; tests/teams.rs plans an assigned one).
    ("GET",  "/teams/{team}/roadmaps/{roadmap}",      [S, F, N, N, N, N, N, N, F, F, N, N]),
    ("POST", "/teams/{team}/roadmaps/{roadmap}/stages/{stage}", [S, F, N, N, N, N, N, N, F, F, N, N]),
    ("POST", "/teams/{team}/roadmaps/{roadmap}/learner-targets", [S, F, N, N, N, N, N, N, F, F, N, N]),
    // A join link that does not exist: gone, for everyone signed in.
    ("GET",  "/team-invites/{token}",                 [S, Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410)]),
    ("POST", "/team-invites/{token}",                 [S, Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410), Status(410)]),
    // Late: they change who is in the team. {id} is ada. Lena, the only lead, may not leave
    // while tom and mia are in it (409, the team page saying why).
    ("POST", "/teams/{team}/members/{id}/remove",     [S, F, N, N, N, N, N, R, F, F, N, N]),
    ("POST", "/teams/{team}/leave",                   [S, R, N, N, N, N, N, Status(409), R, R, N, N]),
    // Check-ins: either side of the active link (ada and max), nobody else.
    ("POST", "/mentorships/{id}/cadence",             [S, R, N, R, N, N, N, N, N, N, N, N]),
    ("POST", "/mentorships/{id}/checkins",            [S, R, N, R, N, N, N, N, N, N, N, N]),
    // Near the end: it ends ada's link with max.
    ("POST", "/mentorships/{id}/end",                 [S, R, N, R, N, N, N, N, N, N, N, N]),
    // Last: it ends the session.
    ("POST", "/signout",                              [R, R, R, R, R, R, R, R, R, R, R, R]),
];

#[test]
fn every_route_has_an_entry() {
    let declared = declared_routes();
    let table: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = declared.difference(&table).collect();
    let stale: Vec<_> = table.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in the access table: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "entries for routes that no longer exist: {stale:?}"
    );
    assert!(declared.len() >= 50, "the route scan found only {declared:?}");
}

const PRIVATE_NOTE: &str = "ada-private-note-7f3a";
const SHARED_NOTE: &str = "ada-shared-note-2b9c";
const SECRET_LINK: &str = "https://example.com/ada-secret-proof";

/// Ada's world: two roadmaps, progress, notes, evidence, a review, a comment, and her mentors.
struct World {
    app: TestApp,
    cookies: std::collections::HashMap<&'static str, String>,
    ids: std::collections::HashMap<&'static str, i64>,
    action: String,
    _dir: tempfile::TempDir,
}

async fn last_id(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("select max(id) from {table}"))
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut files = common::sample_content();
    files.push((
        "ops/roadmap.md",
        "+++\ntitle = \"Ops\"\nsummary = \"Running services.\"\n+++\n",
    ));
    files.push((
        "ops/01-run.md",
        "+++\nid = \"run\"\ntitle = \"Run\"\n+++\n## Deploys {#deploys}\nx\n",
    ));
    write_files(dir.path(), &files);
    let app = TestApp::with_content(dir.path()).await;
    let mut cookies = std::collections::HashMap::new();
    for name in [
        "ada", "eve", "max", "omar", "olga", "eddie", "sara", "lena", "tom", "mia", "fred", "bob",
    ] {
        cookies.insert(name, app.sign_up(name).await);
    }
    let c = |name: &str| cookies[name].clone();
    let link = |mentee: &'static str, mentor: &'static str, form: Vec<(&'static str, &'static str)>| {
        let (mentee_cookie, mentor_cookie) = (c(mentee), c(mentor));
        let app = &app;
        async move {
            let mut fields = vec![("username", mentor)];
            fields.extend(form);
            app.post_form("/mentors/invite", &fields, Some(&mentee_cookie))
                .await;
            let id = last_id(app, "mentorships").await;
            app.post_form(&format!("/mentoring/{id}/accept"), &[], Some(&mentor_cookie))
                .await;
            id
        }
    };
    let ada = c("ada");
    for roadmap in ["web", "ops"] {
        app.post_form(&format!("/progress/{roadmap}/start"), &[], Some(&ada))
            .await;
    }
    let (_, headers, _) = app
        .post_form(
            "/skills/http-methods/state",
            &[("state", "done"), ("version", "0")],
            Some(&ada),
        )
        .await;
    let action = common::changed_action(&headers);
    app.post_form("/skills/dns-records/note", &[("body", PRIVATE_NOTE)], Some(&ada))
        .await;
    app.post_form(
        "/skills/http-methods/note",
        &[("body", SHARED_NOTE), ("shared", "on")],
        Some(&ada),
    )
    .await;
    app.post_form(
        "/skills/http-methods/evidence",
        &[("url", SECRET_LINK), ("title", "Ada proof")],
        Some(&ada),
    )
    .await;

    let mut ids = std::collections::HashMap::new();
    ids.insert("evidence", last_id(&app, "evidence").await);
    let ada_id: i64 = sqlx::query_scalar("select id from users where username = 'ada'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    ids.insert("ada", ada_id);
    ids.insert("active_link", link("ada", "max", vec![]).await);
    let ended = link("ada", "eddie", vec![]).await;
    app.post_form(&format!("/mentorships/{ended}/end"), &[], Some(&ada))
        .await;
    link("ada", "sara", vec![("scope", "chosen"), ("roadmap", "ops")]).await;
    link("olga", "omar", vec![]).await;
    app.post_form("/mentors/link", &[("scope", "all")], Some(&ada))
        .await;
    ids.insert("pending_invite", last_id(&app, "mentorships").await);
    app.post_form(
        "/skills/http-methods/review",
        &[("message", "please")],
        Some(&ada),
    )
    .await;
    ids.insert("review", last_id(&app, "review_requests").await);
    app.post_form(
        "/threads/ada/http-methods/comments",
        &[("body", "ada's question")],
        Some(&ada),
    )
    .await;
    ids.insert("comment", last_id(&app, "comments").await);
    let notification: i64 = sqlx::query_scalar(
        "select max(n.id) from notifications n join users u on u.id = n.recipient_id where u.username = 'ada'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    ids.insert("notification", notification);
    // Teams, made as an admin would (each step is tested in tests/teams.rs).
    sqlx::raw_sql(
        "insert into teams (slug, name) values ('alpha', 'Alpha'), ('beta', 'Beta');
         insert into team_members (team_id, user_id, role, left_at)
         select t.id, u.id, m.role, case when m.gone then now() end
         from (values ('alpha', 'ada', 'learner', false), ('alpha', 'lena', 'lead', false),
                      ('alpha', 'tom', 'mentor', false), ('alpha', 'mia', 'learner', false),
                      ('alpha', 'fred', 'learner', true), ('beta', 'bob', 'lead', false))
              as m(team, username, role, gone)
         join teams t on t.slug = m.team join users u on u.username = m.username;
         insert into team_roadmaps (team_id, roadmap_id) select id, 'ops' from teams where slug = 'alpha';
         insert into team_invites (team_id, token_hash, role, expires_at)
         select id, 'not-a-hash-of-anything', 'learner', now() + interval '1 day' from teams where slug = 'alpha';",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    ids.insert("team_invite", last_id(&app, "team_invites").await);
    // Ada's personal access token (the API itself is covered by tests/api.rs).
    let token: i64 = sqlx::query_scalar(
        "insert into api_tokens (user_id, name, prefix, token_hash, scopes)
         values ($1, 'script', 'pw_0', 'not-a-hash', '{read:progress}') returning id",
    )
    .bind(ada_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    ids.insert("token", token);
    World {
        app,
        cookies,
        ids,
        action,
        _dir: dir,
    }
}

/// Everything of ada's, as text, to check nobody else changed it.
async fn snapshot(app: &TestApp) -> String {
    sqlx::query_scalar::<_, String>(
        "select string_agg(x, '|' order by x) from (
             select 'p:' || skill_id || ':' || state || ':' || version as x from skill_progress p
                 join users u on u.id = p.user_id where u.username = 'ada'
             union all select 'n:' || body_md from notes n join users u on u.id = n.user_id where u.username = 'ada'
             union all select 'e:' || url from evidence e join users u on u.id = e.user_id where u.username = 'ada'
             union all select 'm:' || m.id || ':' || m.status from mentorships m
                 join users u on u.id = m.mentee_id where u.username = 'ada'
             union all select 'r:' || r.id || ':' || r.status from review_requests r
                 join users u on u.id = r.mentee_id where u.username = 'ada'
             union all select 'c:' || c.id || ':' || c.body_md from comments c
                 join users u on u.id = c.mentee_id where u.username = 'ada'
         ) t",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn each_route_answers_each_actor_as_intended_and_never_leaks() {
    for (column, actor) in ACTORS.iter().enumerate() {
        let w = world().await;
        let cookie = (*actor != "anonymous").then(|| w.cookies[actor].clone());
        let before = snapshot(&w.app).await;
        let body = format!(
            "state=done&version=0&action={}&body=x&url=https%3A%2F%2Fexample.org%2Fmine&title=t&display_name=\
             &decision=accept&message=ok",
            w.action
        );
        for (method, route, expected) in TABLE {
            let expected = expected[column];
            let id = match route.split('/').nth(1).unwrap_or_default() {
                "evidence" => w.ids["evidence"],
                "mentors" | "mentoring" => w.ids["pending_invite"],
                "mentorships" => w.ids["active_link"],
                "reviews" => w.ids["review"],
                "notifications" => w.ids["notification"],
                "comments" => w.ids["comment"],
                "admin" => w.ids["ada"],
                "teams" if route.contains("/invites/") => w.ids["team_invite"],
                "teams" => w.ids["ada"],
                "account" => w.ids["token"],
                _ => 0,
            };
            let path = route
                .replace("{roadmap}", "web")
                .replace("{stage}", "http")
                .replace("{skill}", "http-methods")
                .replace("{username}", "ada")
                .replace("{team}", "alpha")
                .replace("{token}", "not-a-real-invite-token")
                .replace("{id}", &id.to_string());
            let mut request = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&path)
                .header("sec-fetch-site", "same-origin");
            if let Some(cookie) = &cookie {
                request = request.header(header::COOKIE, cookie);
            }
            let request = if *method == "POST" {
                request
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body.clone()))
                    .unwrap()
            } else {
                request.body(Body::empty()).unwrap()
            };
            let (status, headers, page) = w.app.request(request).await;
            let location = headers
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_string());
            let actual = match (status.as_u16(), location.as_deref()) {
                (200, _) => Ok,
                // A page asked for comes back after signing in; a form post cannot.
                (303, Some(to)) if to == "/signin" || to.starts_with("/signin?next=") => {
                    let next: Option<String> = to.strip_prefix("/signin?next=").map(|n| {
                        url::form_urlencoded::parse(format!("n={n}").as_bytes())
                            .next()
                            .unwrap()
                            .1
                            .into_owned()
                    });
                    if *method == "GET" {
                        assert_eq!(
                            next.as_deref(),
                            Some(path.as_str()),
                            "{method} {path} returns after sign-in"
                        );
                    } else {
                        assert_eq!(next, None, "{method} {path}");
                    }
                    SignIn
                }
                (303, _) => Redirect,
                (404, _) => NotFound,
                (code, _) => Status(code),
            };
            assert_eq!(actual, expected, "{actor}: {method} {path} answered {status}");
            if *actor != "ada" {
                assert!(
                    !page.contains(PRIVATE_NOTE),
                    "{actor}: {method} {path} leaked ada's private note"
                );
            }
            if !["ada", "max"].contains(actor) {
                assert!(
                    !page.contains(SHARED_NOTE),
                    "{actor}: {method} {path} showed ada's shared note"
                );
                assert!(
                    !page.contains(SECRET_LINK),
                    "{actor}: {method} {path} showed ada's evidence"
                );
            }
            if status == StatusCode::OK && *method == "GET" && *actor != "ada" {
                assert!(
                    !page.contains(&format!(r#"name="action" value="{}""#, w.action)),
                    "{actor}: {path}"
                );
            }
        }
        if !["ada", "max"].contains(actor) {
            assert_eq!(snapshot(&w.app).await, before, "{actor} changed nothing of ada's");
        }
    }
}

#[tokio::test]
async fn the_mentor_sees_shared_notes_and_evidence_but_never_private_notes() {
    let w = world().await;
    let (status, _, page) = w.app.get_as("/mentees/ada/web/http", &w.cookies["max"]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(SHARED_NOTE) && page.contains(SECRET_LINK));
    let (_, _, page) = w.app.get_as("/mentees/ada/web/dns", &w.cookies["max"]).await;
    assert!(!page.contains(PRIVATE_NOTE));
    let (status, _, overview) = w.app.get_as("/mentees/ada", &w.cookies["sara"]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        overview.contains("Ops") && !overview.contains("Web basics"),
        "sara sees ops only"
    );
}
