//! What a page asks of the database, counted by Postgres itself (`pg_stat_statements`, which
//! pg-harness preloads; counted in this test's database only): every read of a page runs once;
//! on plain Postgres the shell's reads are one statement and the projects list another, each
//! entering its scope itself; where statements may not (`set_config` revoked here, as a
//! hardened database may; Citus), a page's reads share one transaction (one scope check),
//! however many resources and islands the page has. And which pages load the islands' scripts.

use crate::helpers::{spawn_app, spawn_app_after, TestApp};
use crate::workspace::{seed_project, token, Who};
use serde_json::json;

/// The statements the app's role ran in this database since the last reset, with their calls.
async fn statements(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT query, calls FROM pg_stat_statements s
           JOIN pg_roles r ON r.oid = s.userid
          WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND r.rolname = $1
          ORDER BY query",
    )
    .bind(pg_harness::APP_ROLE)
    .fetch_all(&app.admin)
    .await
    .expect("pg_stat_statements (pg-harness preloads it: shared_preload_libraries)")
}

async fn reset(app: &TestApp) {
    sqlx::query(
        "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)",
    )
    .execute(&app.admin)
    .await
    .unwrap();
}

/// An organization with its admin, a project and its audit entry; the admin's session cookie.
async fn seeded_admin(app: &TestApp) -> String {
    for sql in [
        "INSERT INTO organizations (id, name, slug) VALUES ('org_a', 'Acme', 'acme')",
        "INSERT INTO users (clerk_id, email, name) VALUES ('user_admin', 'ada@example.com', 'Ada Admin')",
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_admin', 'org:admin')",
    ] {
        sqlx::query(sql).execute(&app.admin).await.unwrap();
    }
    let token = app.token(
        "user_admin",
        json!({"v": 2, "fea": "o:projects", "o": {"id": "org_a", "slg": "acme", "rol": "admin", "per": "manage,read", "fpm": "3"}}),
    );
    // A project, and with it an audit entry.
    let created = app
        .http
        .post(app.url("/api/projects/create"))
        .bearer_auth(&token)
        .form(&[("name", "Apollo"), ("description", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200, "{}", created.text().await.unwrap());
    app.session_cookie(&token)
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let r = app.http.get(app.url(path)).header("accept", "text/html").header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

/// What a hardened database may do, and what keeps a request's reads off the one-statement
/// scopes (their functions call `set_config`): every read then takes the request's transaction.
const REVOKE_SET_CONFIG: &str = "REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC";

#[tokio::test]
async fn each_read_of_a_page_runs_once() {
    // Each page with what only its own read's answer renders.
    let pages = [
        ("/app/projects", r#"data-testid="project" data-name="Apollo""#),
        ("/app/dashboard", "active projects"),
        ("/app/members", r#"data-testid="member-list""#),
        ("/app/settings", r#"data-testid="rename-form""#),
        ("/app/audit", r#"data-testid="audit-list""#),
    ];
    // The check the tenant scope makes once per transaction it opens (`Tenant::open`), as
    // pg_stat_statements shows it (the statements of its one message are counted apart); the
    // one-statement scopes make theirs inside their functions, which it does not count.
    let scope_check = "SELECT public.tenant_scope_check()";
    let shell = "FROM public.member_workspace_shell($1, $2)";
    for statements_scope_themselves in [true, false] {
        let app =
            if statements_scope_themselves { spawn_app().await } else { spawn_app_after(&[REVOKE_SET_CONFIG]).await };
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&app.admin).await.unwrap();
        let cookie = seeded_admin(&app).await;
        for (path, shows) in pages {
            reset(&app).await;
            let html = page(&app, &cookie, path).await;
            assert!(html.contains(shows) && html.contains("</html>"), "{path} lacks {shows}: {html}");
            let ran = statements(&app).await;
            let made = |text: &str| ran.iter().any(|(q, _)| q.contains(text));
            assert!(made(scope_check) || made("tenant_projects_page"), "{path} made no tenant read: {ran:#?}");
            // The shell's reads: one statement, or two in the request's transaction.
            assert_eq!(made(shell), statements_scope_themselves, "{path}: {ran:#?}");
            for (query, calls) in &ran {
                assert_eq!(*calls, 1, "{path} ran this {calls} times:\n{query}\n(all: {ran:#?})");
            }
        }
    }
}

/// A projects list is one statement that scopes itself (`tenant_projects_page`: no `BEGIN`, no
/// `SET LOCAL` message, no check of its own) — the JSON call, the REST list, and the projects
/// page's, beside the shell's own statement (`member_workspace_shell`): the page is two
/// statements and nothing else.
#[tokio::test]
async fn a_projects_list_is_one_statement_and_its_page_two() {
    let app = spawn_app().await;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&app.admin).await.unwrap();
    let cookie = seeded_admin(&app).await;
    let token = app.token(
        "user_admin",
        json!({"v": 2, "fea": "o:projects", "o": {"id": "org_a", "slg": "acme", "rol": "admin", "per": "manage,read", "fpm": "3"}}),
    );
    let calls = [
        ("server function", app.http.post(app.url("/api/projects/list")).form(&[("search", ""), ("status", "all")])),
        ("REST", app.http.get(app.url("/api/v1/projects"))),
    ];
    for (what, call) in calls {
        reset(&app).await;
        let r = call.bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{what}");
        assert!(r.text().await.unwrap().contains("Apollo"), "{what}");
        let ran = statements(&app).await;
        assert_eq!(ran.len(), 1, "{what}: {ran:#?}");
        assert!(ran[0].0.contains("FROM public.tenant_projects_page($1, $2,") && ran[0].1 == 1, "{what}: {ran:#?}");
    }
    reset(&app).await;
    assert!(page(&app, &cookie, "/app/projects").await.contains(r#"data-name="Apollo""#));
    let ran = statements(&app).await;
    assert_eq!(ran.len(), 2, "{ran:#?}");
    for function in ["FROM public.member_workspace_shell($1, $2)", "FROM public.tenant_projects_page($1, $2,"] {
        assert!(ran.iter().any(|(q, calls)| q.contains(function) && *calls == 1), "{function}: {ran:#?}");
    }
}

/// The pages listed as holding no island (`app::PAGES_WITHOUT_ISLANDS`) hold none, load none of
/// the islands' scripts and are marked hydrated as sent; the pages with islands load them.
#[tokio::test]
async fn pages_without_islands_load_no_wasm() {
    let app = spawn_app().await;
    let cookie = seeded_admin(&app).await;
    // What `HydrationScripts` adds: the main module's preloads (`modulepreload`, the `.wasm`).
    let scripts = |html: &str| html.contains("modulepreload") || html.contains(".wasm");
    for path in tenantry::app::PAGES_WITHOUT_ISLANDS {
        let html = page(&app, &cookie, path).await;
        assert!(!html.contains("<leptos-island"), "{path} holds an island, which would stay dead: {html}");
        assert!(!scripts(&html), "{path} loads the islands' scripts: {html}");
        // Nor does it send its resources' data for a hydration that never comes.
        assert!(!html.contains("__RESOLVED_RESOURCES["), "{path} sends hydration data: {html}");
        assert!(html.contains(r#"<body data-hydrated="true" "#), "{path} is not marked hydrated: {html}");
    }
    for path in ["/", "/app/projects", "/app/members", "/app/settings"] {
        let html = page(&app, &cookie, path).await;
        assert!(html.contains("<leptos-island") && scripts(&html), "{path}: {html}");
        assert!(!html.contains("data-hydrated"), "{path} is marked hydrated before its islands are: {html}");
    }
}

/// How many connections `/app/projects`' reads wait on, given time, with `org_memberships` and
/// `users` locked: the shell reads both (its snapshot `users`, its organization list
/// `org_memberships`), and the projects' scope check `org_memberships`. The page still renders
/// once the lock is released.
async fn connections_a_page_waits_on(app: &TestApp, at_least: i64) -> i64 {
    seed_project(app, Who::Admin, "Apollo").await;
    sqlx::query(
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_admin', 'org:admin')",
    )
    .execute(&app.admin)
    .await
    .unwrap();
    let waiting = || {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&app.admin)
    };
    let mut lock = app.admin.begin().await.unwrap();
    sqlx::query("LOCK TABLE org_memberships, users IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    let page = app
        .http
        .get(app.url("/app/projects"))
        .header("accept", "text/html")
        .header("cookie", app.session_cookie(&token(app, Who::Admin).unwrap()))
        .send();
    let page = tokio::spawn(async move { page.await.unwrap().text().await.unwrap() });
    let mut polls = 0;
    while waiting().await.unwrap() < at_least {
        assert!(polls < 200, "the page's reads never reached the locked tables");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        polls += 1;
    }
    // The reads start together: given time, another connection would be waiting too.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let waited = waiting().await.unwrap();
    lock.rollback().await.unwrap();
    let html = page.await.unwrap();
    assert!(html.contains("Apollo") && html.contains("data-testid=\"org-switcher\""), "{html}");
    waited
}

/// Where statements may not scope themselves, a page's reads share one transaction: the shell's
/// and the projects wait on one connection between them, where transactions of their own would
/// wait on two or three.
#[tokio::test]
async fn a_pages_reads_in_a_transaction_wait_on_one_connection() {
    let app = spawn_app_after(&[REVOKE_SET_CONFIG]).await;
    assert_eq!(connections_a_page_waits_on(&app, 1).await, 1, "the page's reads wait on one connection");
}

/// On plain Postgres the shell's statement and the projects' run side by side, each on a
/// connection of its own: neither waits for the other.
#[tokio::test]
async fn a_pages_statements_run_side_by_side() {
    let app = spawn_app().await;
    assert_eq!(connections_a_page_waits_on(&app, 2).await, 2, "both statements wait at once");
}
