//! The tenant workspace through its real HTTP surface (server functions and routes), for every
//! kind of caller: admin, member, member with `org:projects:manage`, another organization's
//! admin, no active organization, signed out.
//!
//! Over 500 lines on purpose: every workspace action × every kind of caller is one matrix, kept in
//! one place (`/select-org` is in `select_org.rs`, how a page reads in `page_reads.rs`).

use crate::helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Who {
    Admin,
    Member,
    Manager,
    OtherOrgAdmin,
    NoOrg,
    SignedOut,
}

const EVERYONE: [Who; 6] = [Who::Admin, Who::Member, Who::Manager, Who::OtherOrgAdmin, Who::NoOrg, Who::SignedOut];

pub(crate) fn token(app: &TestApp, who: Who) -> Option<String> {
    let org = |id: &str, rol: &str, fpm: &str| json!({"v": 2, "fea": "o:projects", "o": {"id": id, "slg": id, "rol": rol, "per": "manage,read", "fpm": fpm}});
    let claims = match who {
        Who::Admin => org("org_a", "admin", "3"),
        Who::Member => org("org_a", "member", "2"),
        Who::Manager => org("org_a", "member", "3"),
        Who::OtherOrgAdmin => org("org_b", "admin", "3"),
        Who::NoOrg => json!({"v": 2}),
        Who::SignedOut => return None,
    };
    let user = format!("user_{who:?}").to_lowercase();
    Some(app.token(&user, claims))
}

pub(crate) async fn call(app: &TestApp, who: Who, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut rb = app.http.post(app.url(&format!("/api/{path}"))).form(form);
    if let Some(t) = token(app, who) {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn project_count(app: &TestApp, org: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM projects WHERE org_id = $1").bind(org).fetch_one(&app.admin).await.unwrap()
}

pub(crate) async fn seed_project(app: &TestApp, who: Who, name: &str) -> String {
    let (s, p) = call(app, who, "projects/create", &[("name", name), ("description", "seeded")]).await;
    assert_eq!(s, 200, "{p}");
    p["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn create_is_for_admins_and_managers_only() {
    let app = spawn_app().await;
    for who in EVERYONE {
        let before = project_count(&app, "org_a").await + project_count(&app, "org_b").await;
        let (status, body) =
            call(&app, who, "projects/create", &[("name", &format!("P {who:?}")), ("description", "")]).await;
        let after = project_count(&app, "org_a").await + project_count(&app, "org_b").await;
        let expected = match who {
            Who::Admin | Who::Manager | Who::OtherOrgAdmin => 200,
            Who::Member | Who::NoOrg => 403,
            Who::SignedOut => 401,
        };
        assert_eq!(status, expected, "{who:?}: {body}");
        assert_eq!(after - before, i64::from(status == 200), "{who:?} wrote only when allowed");
    }
    // the other org's admin created in their own org, never in org_a
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM projects WHERE org_id = 'org_b'").fetch_all(&app.admin).await.unwrap();
    assert_eq!(names, vec!["P OtherOrgAdmin".to_string()]);
}

#[tokio::test]
async fn reading_is_for_members_of_the_org_only() {
    let app = spawn_app().await;
    seed_project(&app, Who::Admin, "Apollo").await;
    seed_project(&app, Who::OtherOrgAdmin, "Borealis").await;
    for who in EVERYONE {
        let (status, body) = call(&app, who, "projects/list", &[("search", ""), ("status", "all")]).await;
        match who {
            Who::Admin | Who::Member | Who::Manager => {
                assert_eq!(status, 200, "{who:?}");
                let names: Vec<&str> = body.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
                assert_eq!(names, vec!["Apollo"], "{who:?}");
            }
            Who::OtherOrgAdmin => {
                assert_eq!(status, 200, "{who:?}");
                let names: Vec<&str> = body.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
                assert_eq!(names, vec!["Borealis"]);
            }
            Who::NoOrg => assert_eq!(status, 403),
            Who::SignedOut => assert_eq!(status, 401),
        }
        assert!(
            !body.to_string().contains(if who == Who::OtherOrgAdmin { "Apollo" } else { "Borealis" }),
            "{who:?} saw another org's data"
        );
    }
    let (s, d) = call(&app, Who::Member, "dashboard", &[]).await;
    assert_eq!((s, d["active_projects"].as_i64()), (200, Some(1)));
}

#[tokio::test]
async fn idor_sweep_another_orgs_ids_are_not_found_and_unchanged() {
    let app = spawn_app().await;
    let a_id = seed_project(&app, Who::Admin, "Secret").await;
    let snapshot = || async {
        sqlx::query_as::<_, (String, String, bool)>(
            "SELECT name, description, archived_at IS NULL FROM projects WHERE org_id = 'org_a'",
        )
        .fetch_all(&app.admin)
        .await
        .unwrap()
    };
    let before = snapshot().await;
    let paths: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("projects/get", vec![("id", a_id.as_str())]),
        ("projects/update", vec![("id", a_id.as_str()), ("name", "Pwned"), ("description", "x")]),
        ("projects/archive", vec![("id", a_id.as_str()), ("archived", "true")]),
        ("projects/delete", vec![("id", a_id.as_str())]),
    ];
    for (path, form) in &paths {
        let (status, body) = call(&app, Who::OtherOrgAdmin, path, form).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.to_string().contains("Secret"), "{path} leaked data");
    }
    // malformed and unknown ids are not found either
    for id in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        assert_eq!(call(&app, Who::Admin, "projects/get", &[("id", id)]).await.0, 404);
    }
    assert_eq!(snapshot().await, before);
    // ... and it is there: its own organization's admin reads it by the same id.
    let (status, mine) = call(&app, Who::Admin, "projects/get", &[("id", a_id.as_str())]).await;
    assert_eq!((status, mine["name"].as_str()), (200, Some("Secret")), "{mine}");
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE org_id = 'org_b'")
        .fetch_one(&app.admin)
        .await
        .unwrap();
    assert_eq!(audit, 0, "no audit entries for refused actions");
}

#[tokio::test]
async fn writes_by_plain_members_are_refused() {
    let app = spawn_app().await;
    let id = seed_project(&app, Who::Admin, "Stable").await;
    for (path, form) in [
        ("projects/update", vec![("id", id.as_str()), ("name", "Changed"), ("description", "")]),
        ("projects/archive", vec![("id", id.as_str()), ("archived", "true")]),
        ("projects/delete", vec![("id", id.as_str())]),
    ] {
        assert_eq!(call(&app, Who::Member, path, &form).await.0, 403, "{path}");
    }
    let (s, p) = call(&app, Who::Member, "projects/get", &[("id", &id)]).await;
    assert_eq!((s, p["name"].as_str(), p["archived"].as_bool()), (200, Some("Stable"), Some(false)));
    // a member with org:projects:manage may
    let (s, p) =
        call(&app, Who::Manager, "projects/update", &[("id", &id), ("name", "Renamed"), ("description", "d")]).await;
    assert_eq!((s, p["name"].as_str()), (200, Some("Renamed")));
}

/// The rename form sends the name alone: a description someone changed after the page was
/// loaded is kept, not written back over with the page's copy.
#[tokio::test]
async fn renaming_keeps_a_description_changed_since_the_page_was_loaded() {
    let app = spawn_app().await;
    let id = seed_project(&app, Who::Admin, "Orion").await;
    let (s, p) =
        call(&app, Who::Manager, "projects/update", &[("id", &id), ("name", "Orion"), ("description", "theirs")]).await;
    assert_eq!((s, p["description"].as_str()), (200, Some("theirs")), "{p}");
    let (s, p) = call(&app, Who::Admin, "projects/rename", &[("id", &id), ("name", "Orion II")]).await;
    assert_eq!((s, p["name"].as_str(), p["description"].as_str()), (200, Some("Orion II"), Some("theirs")), "{p}");
    let stored: (String, String) = sqlx::query_as("SELECT name, description FROM projects WHERE id::text = $1")
        .bind(&id)
        .fetch_one(&app.admin)
        .await
        .unwrap();
    assert_eq!(stored, ("Orion II".to_string(), "theirs".to_string()));
    // Renaming is a write like the others: managers only, audited as a rename.
    let (s, _) = call(&app, Who::Member, "projects/rename", &[("id", &id), ("name", "Pwned")]).await;
    assert_eq!(s, 403);
    let last: String =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE org_id = 'org_a' ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.admin)
            .await
            .unwrap();
    assert_eq!(last, "project.renamed");
}

#[tokio::test]
async fn lifecycle_validation_and_audit() {
    let app = spawn_app().await;
    let id = seed_project(&app, Who::Admin, "Orion").await;
    let other = seed_project(&app, Who::Admin, "Vega").await;
    // validation: required, length, unique per org (case-insensitive) → precise statuses
    assert_eq!(call(&app, Who::Admin, "projects/create", &[("name", "   "), ("description", "")]).await.0, 422);
    assert_eq!(
        call(&app, Who::Admin, "projects/create", &[("name", &"x".repeat(81)), ("description", "")]).await.0,
        422
    );
    let (s, body) = call(&app, Who::Admin, "projects/create", &[("name", "orion"), ("description", "")]).await;
    assert_eq!(s, 409, "{body}");
    assert!(body.to_string().contains("already exists"));
    assert_eq!(
        call(&app, Who::Admin, "projects/update", &[("id", &other), ("name", "ORION"), ("description", "")]).await.0,
        409
    );
    // the same name in another org is fine
    assert_eq!(
        call(&app, Who::OtherOrgAdmin, "projects/create", &[("name", "Orion"), ("description", "")]).await.0,
        200
    );
    // rename, archive, filter, unarchive, delete
    assert_eq!(
        call(&app, Who::Admin, "projects/update", &[("id", &id), ("name", "Orion II"), ("description", "next")])
            .await
            .0,
        200
    );
    let (s, p) = call(&app, Who::Admin, "projects/archive", &[("id", &id), ("archived", "true")]).await;
    assert_eq!((s, p["archived"].as_bool()), (200, Some(true)));
    let (_, active) = call(&app, Who::Admin, "projects/list", &[("search", ""), ("status", "active")]).await;
    let (_, archived) = call(&app, Who::Admin, "projects/list", &[("search", ""), ("status", "archived")]).await;
    assert_eq!((active.as_array().unwrap().len(), archived[0]["name"].as_str()), (1, Some("Orion II")));
    // `all` is both, not the default (active) again.
    let (_, all) = call(&app, Who::Admin, "projects/list", &[("search", ""), ("status", "all")]).await;
    let both = active.as_array().unwrap().len() + archived.as_array().unwrap().len();
    assert_eq!(all.as_array().unwrap().len(), both, "{all}");
    let (_, found) = call(&app, Who::Admin, "projects/list", &[("search", "veg"), ("status", "all")]).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(call(&app, Who::Admin, "projects/archive", &[("id", &id), ("archived", "false")]).await.0, 200);
    assert_eq!(call(&app, Who::Admin, "projects/delete", &[("id", &other)]).await.0, 200);
    assert_eq!(call(&app, Who::Admin, "projects/get", &[("id", &other)]).await.0, 404);
    // the audit log: every admin action, newest first; admins only
    let (s, log) = call(&app, Who::Admin, "audit", &[("page", "0")]).await;
    assert_eq!(s, 200);
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        vec![
            "project.deleted",
            "project.unarchived",
            "project.archived",
            "project.renamed",
            "project.created",
            "project.created"
        ]
    );
    assert!(
        log[3]["before"].as_str().unwrap().contains("Orion") && log[3]["after"].as_str().unwrap().contains("Orion II")
    );
    assert_eq!(call(&app, Who::Member, "audit", &[("page", "0")]).await.0, 403);
    assert_eq!(call(&app, Who::Manager, "audit", &[("page", "0")]).await.0, 403);
    // page numbers from the client: far and negative pages are fine, never a 500
    let (s, far) = call(&app, Who::Admin, "audit", &[("page", &i64::MAX.to_string())]).await;
    assert_eq!((s, far), (200, json!([])));
    let (s, first) = call(&app, Who::Admin, "audit", &[("page", "-3")]).await;
    assert_eq!((s, first.as_array().map(Vec::len)), (200, Some(6)));
}

#[tokio::test]
async fn pages_for_every_kind_of_caller() {
    fn switcher_option(id: &str, selected: bool, name: &str) -> String {
        format!("<option value=\"{id}\"{}>{name}</option>", if selected { " selected" } else { "" })
    }
    let app = spawn_app().await;
    seed_project(&app, Who::Admin, "Apollo").await;
    seed_project(&app, Who::OtherOrgAdmin, "Borealis").await;
    // The mirror knows both organizations and every member's membership (for /select-org).
    // The admin also belongs to a third organization, which only their switcher lists.
    sqlx::query(
        "INSERT INTO organizations (id, slug, name) VALUES ('org_a', 'org_a', 'Firm Alpha'), ('org_b', 'org_b', 'Firm Beta'),
         ('org_c', 'org_c', 'Firm Gamma')",
    )
    .execute(&app.admin)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_admin', 'org:admin'),
         ('org_a', 'user_member', 'org:member'), ('org_a', 'user_manager', 'org:member'), ('org_b', 'user_otherorgadmin', 'org:admin'),
         ('org_c', 'user_admin', 'org:member')",
    )
    .execute(&app.admin)
    .await
    .unwrap();
    for who in EVERYONE {
        for path in ["/app/dashboard", "/app/projects", "/app/audit", "/select-org"] {
            let mut rb = app.http.get(app.url(path)).header("accept", "text/html");
            if let Some(t) = token(&app, who) {
                rb = rb.bearer_auth(t);
            }
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
            let html = r.text().await.unwrap();
            match (who, path) {
                (Who::SignedOut, _) => {
                    assert_eq!(status, 307, "{who:?} {path}");
                    assert!(location.unwrap().starts_with("/sign-in?redirect_url="));
                }
                (Who::NoOrg, "/select-org") => assert_eq!(status, 200),
                (Who::NoOrg, _) => assert_eq!(
                    (status, location.as_deref()),
                    (
                        307,
                        Some(
                            format!(
                                "/select-org?redirect_url={}",
                                form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
                            )
                            .as_str()
                        )
                    ),
                    "{path}"
                ),
                (Who::Member | Who::Manager, "/app/audit") => {
                    assert_eq!(status, 403, "{who:?}");
                    assert!(html.contains("only organization admins can see the audit log"), "{who:?}");
                    assert!(!html.contains("project.created"), "{who:?} saw audit entries");
                }
                (_, _) => {
                    assert_eq!(status, 200, "{who:?} {path}");
                    let (mine, theirs) =
                        if who == Who::OtherOrgAdmin { ("Borealis", "Apollo") } else { ("Apollo", "Borealis") };
                    assert!(!html.contains(theirs), "{who:?} {path} leaked another org's project");
                    let (my_org, their_org) = if who == Who::OtherOrgAdmin {
                        ("Firm Beta", "Firm Alpha")
                    } else {
                        ("Firm Alpha", "Firm Beta")
                    };
                    // Every page names the caller's own organization (header or list), never the other.
                    assert!(html.contains(my_org), "{who:?} {path}: {html}");
                    assert!(!html.contains(their_org), "{who:?} {path} named another org");
                    if path == "/app/dashboard" {
                        assert!(html.contains("active projects"), "{who:?}: the dashboard's counts");
                    }
                    if path.starts_with("/app/") {
                        // The shell's switcher: the caller's organizations, the active one selected.
                        let (org, id) =
                            if who == Who::OtherOrgAdmin { ("Firm Beta", "org_b") } else { ("Firm Alpha", "org_a") };
                        assert!(html.contains(&switcher_option(id, true, org)), "{who:?} {path}: {html}");
                        assert_eq!(
                            html.contains(&switcher_option("org_c", false, "Firm Gamma")),
                            who == Who::Admin,
                            "{who:?} {path}: {html}"
                        );
                    }
                    if path == "/select-org" {
                        assert!(html.contains("data-testid=\"org-list\""), "{who:?}: {html}");
                    }
                    if path == "/app/projects" {
                        assert!(html.contains(mine), "{who:?} sees their own projects");
                        let has_controls = html.contains("data-testid=\"create-form\"");
                        assert_eq!(
                            has_controls,
                            matches!(who, Who::Admin | Who::Manager | Who::OtherOrgAdmin),
                            "{who:?} controls"
                        );
                    }
                    if path == "/app/audit" {
                        assert!(html.contains("project.created"), "{who:?}: admins see their audit log");
                    }
                }
            }
        }
    }
    // A page's resources share one read transaction, kept for the request: once the pages are
    // sent, none of the app's connections is left inside a transaction.
    let mut waited = 0;
    loop {
        let open: Vec<String> = sqlx::query_scalar(
            "SELECT state || ': ' || query FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
        )
        .fetch_all(&app.admin)
        .await
        .unwrap();
        if open.is_empty() {
            break;
        }
        assert!(waited < 100, "transactions left open 5 s after the pages were sent: {open:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
}

/// Without JavaScript a form posts to the server function, which sends the browser back to the
/// page; the page then shows the outcome. A refusal or invalid input is explained there (not a
/// bare error body), and writes nothing.
#[tokio::test]
async fn forms_without_javascript_come_back_to_the_page_with_the_outcome() {
    let app = spawn_app().await;
    let page = app.url("/app/projects");
    let post = |who: Who, form: Vec<(&'static str, &'static str)>| {
        let cookie = app.session_cookie(&token(&app, who).unwrap());
        let page = page.clone();
        let req = app
            .http
            .post(app.url("/api/projects/create"))
            .header("accept", "text/html,application/xhtml+xml")
            .header("origin", app.url(""))
            .header("referer", page)
            .header("cookie", cookie.clone())
            .form(&form);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
            (status, location, cookie)
        }
    };
    let cases = [
        (Who::Admin, vec![("name", "   "), ("description", "")], "A project needs a name."),
        (Who::Member, vec![("name", "Nope"), ("description", "")], "only organization admins and project managers"),
    ];
    for (who, form, message) in cases {
        let (status, location, cookie) = post(who, form).await;
        assert!(matches!(status, 302 | 303), "{who:?}: a redirect back, not an error body ({status})");
        let location = location.unwrap();
        assert!(location.starts_with(&page) && location.contains("__err="), "{location}");
        let html = app.http.get(&location).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(message), "{who:?}: the page explains the refusal");
        assert!(html.contains("data-testid=\"flash-error\""), "{who:?}: shown as an alert");
    }
    assert_eq!(project_count(&app, "org_a").await, 0, "refused posts wrote nothing");

    let (status, location, cookie) = post(Who::Admin, vec![("name", "Apollo"), ("description", "")]).await;
    assert!(matches!(status, 302 | 303));
    let location = location.unwrap();
    assert!(!location.contains("__err"), "{location}");
    let html = app.http.get(&location).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Apollo") && !html.contains("flash-error"));
    assert_eq!(project_count(&app, "org_a").await, 1);
}

/// Concurrent renames of one project queue up on its row, so the audit log is a chain: each
/// entry's "before" is the previous entry's "after".
#[tokio::test]
async fn concurrent_writes_leave_an_exact_audit_chain() {
    let app = spawn_app().await;
    let id = seed_project(&app, Who::Admin, "Start").await;
    let renames = (1..=8).map(|i| {
        let (app, id) = (&app, id.clone());
        async move {
            let name = format!("Name {i}");
            call(app, Who::Admin, "projects/update", &[("id", &id), ("name", &name), ("description", "")]).await.0
        }
    });
    for status in futures::future::join_all(renames).await {
        assert_eq!(status, 200);
    }
    let entries: Vec<(Value, Value)> =
        sqlx::query_as("SELECT before, after FROM audit_log WHERE action = 'project.renamed' ORDER BY id")
            .fetch_all(&app.admin)
            .await
            .unwrap();
    assert_eq!(entries.len(), 8);
    let name = |v: &Value| v["name"].as_str().unwrap().to_string();
    assert_eq!(name(&entries[0].0), "Start");
    for pair in entries.windows(2) {
        assert_eq!(name(&pair[1].0), name(&pair[0].1), "each rename starts from the previous one's result");
    }
}

/// The audit log is admin-only everywhere: the dashboard shows its newest entries to admins and
/// only the counts to everyone else.
#[tokio::test]
async fn dashboard_shows_recent_activity_to_admins_only() {
    let app = spawn_app().await;
    seed_project(&app, Who::Admin, "Apollo").await;
    for (who, sees) in [(Who::Admin, true), (Who::Member, false), (Who::Manager, false)] {
        let (status, body) = call(&app, who, "dashboard", &[]).await;
        assert_eq!(status, 200, "{who:?}: {body}");
        assert_eq!(body["active_projects"], 1, "{who:?} sees the counts");
        assert_eq!(body["recent"].is_array(), sees, "{who:?}: {body}");
        let html = app
            .http
            .get(app.url("/app/dashboard"))
            .bearer_auth(token(&app, who).unwrap())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(html.contains("project.created"), sees, "{who:?}");
        assert_eq!(html.contains("Recent activity"), sees, "{who:?}");
    }
}

/// A write and its audit entry are one transaction: when the audit entry cannot be written
/// (here a constraint the schema owner adds refuses it), the write is rolled back with it, and
/// a refused write leaves no audit entry.
#[tokio::test]
async fn the_audit_entry_rolls_back_with_its_write() {
    let app = spawn_app().await;
    let id = seed_project(&app, Who::Admin, "Orion").await;
    let audit_rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM audit_log").fetch_one(&app.admin).await.unwrap()
    };
    assert_eq!(audit_rows().await, 1);
    let state = || async {
        sqlx::query_as::<_, (String, String, bool)>(
            "SELECT name, description, archived_at IS NULL FROM projects ORDER BY name",
        )
        .fetch_all(&app.admin)
        .await
        .unwrap()
    };
    let before = state().await;
    sqlx::query("ALTER TABLE audit_log ADD CONSTRAINT refuse_for_test CHECK (action NOT IN ('project.created', 'project.renamed', 'project.archived', 'project.deleted')) NOT VALID")
        .execute(&app.admin)
        .await
        .unwrap();
    for (path, form) in [
        ("projects/create", vec![("name", "Vega"), ("description", "")]),
        ("projects/update", vec![("id", id.as_str()), ("name", "Orion II"), ("description", "next")]),
        ("projects/archive", vec![("id", id.as_str()), ("archived", "true")]),
        ("projects/delete", vec![("id", id.as_str())]),
    ] {
        let (status, body) = call(&app, Who::Admin, path, &form).await;
        assert_eq!(status, 500, "{path}: {body}");
        assert_eq!(state().await, before, "{path}: the write was rolled back with its audit entry");
        assert_eq!(audit_rows().await, 1, "{path}");
    }
    sqlx::query("ALTER TABLE audit_log DROP CONSTRAINT refuse_for_test").execute(&app.admin).await.unwrap();
    // A refused write (the name is taken) writes no audit entry either; an accepted one does.
    let (status, _) = call(&app, Who::Admin, "projects/create", &[("name", "ORION"), ("description", "")]).await;
    assert_eq!(status, 409);
    assert_eq!(audit_rows().await, 1);
    let (status, _) = call(&app, Who::Admin, "projects/create", &[("name", "Vega"), ("description", "")]).await;
    assert_eq!(status, 200);
    assert_eq!(audit_rows().await, 2);
}

/// Only the name index's violation is "name taken": another unique violation is the server's
/// fault, a 500 that names nothing of the database and writes nothing (`map_unique`).
#[tokio::test]
async fn another_unique_violation_is_a_server_error_not_a_taken_name() {
    let app = spawn_app().await;
    seed_project(&app, Who::Admin, "Lyra").await; // its description: "seeded"

    // A second unique rule, as a later migration might add: one project per description.
    sqlx::query("CREATE UNIQUE INDEX projects_one_per_description ON projects (org_id, description)")
        .execute(&app.admin)
        .await
        .unwrap();
    let audit_before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE org_id = 'org_a'")
        .fetch_one(&app.admin)
        .await
        .unwrap();
    let (s, body) = call(&app, Who::Admin, "projects/create", &[("name", "Draco"), ("description", "seeded")]).await;
    assert_eq!(s, 500, "{body}");
    let text = body.to_string();
    assert!(!text.contains("already exists") && !text.contains("projects_one_per_description"), "{text}");
    assert_eq!(project_count(&app, "org_a").await, 1);
    let audit_after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE org_id = 'org_a'")
        .fetch_one(&app.admin)
        .await
        .unwrap();
    assert_eq!(audit_after, audit_before);
}

/// A token signed with the instance's key but naming an empty user id or an empty active
/// organization id (Clerk mints neither) is refused by the route gate with 401
/// `session_identity_empty` on every surface (server functions, pages, the REST API, the BFF
/// proxy), never treated as signed out, as "no organization", or scoped to `''`; and nothing
/// is written.
#[tokio::test]
async fn a_token_naming_an_empty_id_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let org = |id: &str| json!({"v": 2, "fea": "o:projects", "o": {"id": id, "slg": "a", "rol": "admin", "per": "manage,read", "fpm": "3"}});
    let tokens = [
        ("empty sub", app.token("", org("org_a"))),
        ("empty v2 organization id", app.token("user_admin", org(""))),
        ("empty v1 organization id", app.token("user_admin", json!({"org_id": "", "org_role": "org:admin"}))),
        ("empty sub, pending", app.token("", json!({"v": 2, "sts": "pending"}))),
    ];
    let before = project_count(&app, "org_a").await + project_count(&app, "").await;
    for (what, tok) in &tokens {
        let r = app
            .http
            .post(app.url("/api/projects/create"))
            .bearer_auth(tok)
            .form(&[("name", "x"), ("description", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{what}: server function");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (body["code"].as_str(), body["reason"].as_str()),
            (Some("session_identity_empty"), Some("session-identity-empty")),
            "{what}: {body}"
        );

        let r = app
            .http
            .get(app.url("/app/projects"))
            .header("cookie", app.session_cookie(tok))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{what}: page");
        assert!(r.text().await.unwrap().contains("empty user or organization id"), "{what}: the page says why");

        let r = app
            .http
            .post(app.url("/api/v1/projects"))
            .bearer_auth(tok)
            .json(&json!({"name": "y"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{what}: REST API");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert_eq!(r.headers()["www-authenticate"], r#"Bearer error="invalid_token""#, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["reason"], "session-identity-empty", "{what}: {body}");

        let r = app.http.get(app.url("/select-org")).header("cookie", app.session_cookie(tok)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{what}: the task page");
    }
    let after = project_count(&app, "org_a").await + project_count(&app, "").await;
    assert_eq!(after, before, "nothing written");
    // The same claims with ids are accepted: the refusal is the empty id's.
    let ok = app.token("user_admin", org("org_a"));
    let r = app
        .http
        .post(app.url("/api/projects/list"))
        .bearer_auth(&ok)
        .form(&[("search", ""), ("status", "all")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
