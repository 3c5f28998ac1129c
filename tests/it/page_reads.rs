//! What a page asks of the database, counted by Postgres itself (`pg_stat_statements`, which
//! pg-harness preloads; counted in this test's database only): every read of a page runs once,
//! and a page's tenant reads share one transaction (one scope check), however many resources
//! and islands the page has.

use crate::helpers::{spawn_app, TestApp};
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

#[tokio::test]
async fn each_read_of_a_page_runs_once_in_one_transaction() {
    let app = spawn_app().await;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&app.admin).await.unwrap();
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
    let cookie = app.session_cookie(&token);
    // Each page with what only its own read's answer renders.
    let pages = [
        ("/app/projects", r#"data-testid="project" data-name="Apollo""#),
        ("/app/dashboard", "active projects"),
        ("/app/members", r#"data-testid="member-list""#),
        ("/app/settings", r#"data-testid="rename-form""#),
        ("/app/audit", r#"data-testid="audit-list""#),
    ];
    // The check the tenant scope makes once per transaction it opens (`Tenant::open`), as
    // pg_stat_statements shows it (constants replaced by parameters).
    let scope_check = r#"FROM organizations WHERE id = $1 AND deleted_at IS NOT NULL) AS "deleted!""#;
    for (path, shows) in pages {
        reset(&app).await;
        let r =
            app.http.get(app.url(path)).header("accept", "text/html").header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains(shows) && html.contains("</html>"), "{path} lacks {shows}: {html}");
        let ran = statements(&app).await;
        assert!(ran.iter().any(|(q, _)| q.contains(scope_check)), "{path} made no tenant read: {ran:#?}");
        for (query, calls) in &ran {
            assert_eq!(*calls, 1, "{path} ran this {calls} times:\n{query}\n(all: {ran:#?})");
        }
    }
}
