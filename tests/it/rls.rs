//! Row-level security is the second lock: as the runtime role, a query with no org filter still
//! sees only the organization set in `app.org_id`, and nothing when it is unset.

use crate::helpers::migrated_database;
use sqlx::{PgPool, Row};
use tenantry::server::db::{Db, Dialect};

async fn insert_project(app: &PgPool, org: &str, name: &str) {
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.org_id', $1, true)").bind(org).execute(&mut *tx).await.unwrap();
    sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ($1, $2, 'user_1')")
        .bind(org)
        .bind(name)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn tenant_tables_are_isolated_by_org() {
    let (db, _admin) = migrated_database().await;
    let app = PgPool::connect(&db.app_url).await.unwrap();
    insert_project(&app, "org_a", "Alpha").await;
    insert_project(&app, "org_a", "Apex").await;
    insert_project(&app, "org_b", "Bravo").await;

    // Unset: nothing at all.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&app).await.unwrap();
    assert_eq!(n, 0);

    // Org A: a query with no WHERE clause returns only A's rows.
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SET LOCAL app.org_id = 'org_a'").execute(&mut *tx).await.unwrap();
    let rows = sqlx::query("SELECT org_id, name FROM projects ORDER BY name").fetch_all(&mut *tx).await.unwrap();
    let seen: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(seen, vec![("org_a".into(), "Alpha".into()), ("org_a".into(), "Apex".into())]);
    // Even asking for B explicitly finds nothing.
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM projects WHERE org_id = 'org_b'").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(n, 0);
    // Writing into B from A's scope is refused by the policy, and updates/deletes cannot reach B.
    let err = sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ('org_b', 'Sneaky', 'user_1')")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    let mut tx = app.begin().await.unwrap();
    sqlx::query("SET LOCAL app.org_id = 'org_a'").execute(&mut *tx).await.unwrap();
    let touched =
        sqlx::query("UPDATE projects SET name = name || '!'").execute(&mut *tx).await.unwrap().rows_affected();
    assert_eq!(touched, 2, "only A's rows");
    let deleted =
        sqlx::query("DELETE FROM projects WHERE name = 'Bravo'").execute(&mut *tx).await.unwrap().rows_affected();
    assert_eq!(deleted, 0);
    tx.rollback().await.unwrap();

    // SET LOCAL does not leak past the transaction onto the pooled connection.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&app).await.unwrap();
    assert_eq!(n, 0);

    // The runtime role cannot switch the policy off.
    let err = sqlx::query("ALTER TABLE projects DISABLE ROW LEVEL SECURITY").execute(&app).await.unwrap_err();
    assert!(err.to_string().contains("must be owner"), "{err}");
}

#[tokio::test]
async fn audit_log_and_memberships_are_isolated_too() {
    let (db, admin) = migrated_database().await;
    sqlx::query("INSERT INTO audit_log (org_id, actor, action) VALUES ('org_a', 'u', 'x'), ('org_b', 'u', 'y')")
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_1', 'org:admin'), ('org_b', 'user_2', 'org:admin'), ('org_b', 'user_1', 'org:member')").execute(&admin).await.unwrap();
    let app = PgPool::connect(&db.app_url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&app).await.unwrap();
    assert_eq!(n, 0);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM org_memberships").fetch_one(&app).await.unwrap();
    assert_eq!(n, 0);
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SET LOCAL app.org_id = 'org_b'").execute(&mut *tx).await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(actions, vec!["y".to_string()]);
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM org_memberships").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(members, 2);
    tx.rollback().await.unwrap();
    // A user sees their own memberships across organizations (for /select-org), nobody else's.
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SET LOCAL app.user_id = 'user_1'").execute(&mut *tx).await.unwrap();
    let orgs: Vec<String> =
        sqlx::query_scalar("SELECT org_id FROM org_memberships ORDER BY org_id").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(orgs, vec!["org_a".to_string(), "org_b".to_string()]);
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn the_audit_log_is_append_only_for_the_app() {
    let (db, _admin) = migrated_database().await;
    let app = PgPool::connect(&db.app_url).await.unwrap();
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SET LOCAL app.org_id = 'org_a'").execute(&mut *tx).await.unwrap();
    sqlx::query("INSERT INTO audit_log (org_id, actor, action) VALUES ('org_a', 'user_1', 'project.created')")
        .execute(&mut *tx)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(n, 1);
    tx.commit().await.unwrap();
    for stmt in ["UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
        let mut tx = app.begin().await.unwrap();
        sqlx::query("SET LOCAL app.org_id = 'org_a'").execute(&mut *tx).await.unwrap();
        let err = sqlx::query(stmt).execute(&mut *tx).await.unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{stmt}: {err}");
    }
}

fn tenant(user: &str, org: &str) -> tenantry::server::tenant::Tenant {
    let auth = clerk::Auth {
        user_id: user.into(),
        session_id: Some("sess_1".into()),
        session_status: None,
        org: Some(clerk::ActiveOrg { id: org.into(), slug: None, role: Some("org:admin".into()), permissions: vec![] }),
        features: vec![],
        plans: vec![],
        actor: None,
        factor_verification_age: None,
    };
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.extensions.insert(auth);
    tenantry::server::tenant::Tenant::from_request(&parts).unwrap()
}

/// The org filter in every statement is the first lock, not row-level security alone: on a
/// role that bypasses row-level security (a test-only BYPASSRLS member of the app role), the
/// tenant's project and audit queries still read and change only the tenant's own rows.
#[tokio::test]
async fn the_org_filters_alone_keep_tenants_apart() {
    use tenantry::server::projects::{self, Cursor, ProjectError, StatusFilter};
    use tenantry::server::{audit, tenant::TenantTx};
    let (db, admin) = migrated_database().await;
    let role = format!("{}_bypass", db.name);
    sqlx::query(&format!("CREATE ROLE {role} LOGIN PASSWORD 'bypass' BYPASSRLS IN ROLE {}", pg_harness::APP_ROLE))
        .execute(&admin)
        .await
        .unwrap();
    let url = db
        .app_url
        .replace(&format!("{}:{}@", pg_harness::APP_ROLE, pg_harness::APP_PASSWORD), &format!("{role}:bypass@"));
    let bypass = PgPool::connect(&url).await.unwrap();
    let scoped = Db::new(bypass.clone(), Dialect::Postgres);
    let a = tenant("user_a", "org_a");
    let b = tenant("user_b", "org_b");
    // Both organizations' rows, written through the tenant scope (project and audit entry each).
    for (t, name) in [(&a, "Alpha"), (&a, "Apex"), (&b, "Bravo")] {
        let mut tx: TenantTx = t.begin(&scoped).await.unwrap();
        projects::create(&mut tx, name, "").await.unwrap();
        tx.commit().await.unwrap();
    }
    // Row-level security is really off for this role: unscoped, it sees every row.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&bypass).await.unwrap();
    assert_eq!(n, 3, "the role bypasses row-level security");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&bypass).await.unwrap();
    assert_eq!(n, 3);
    let bravo: String =
        sqlx::query_scalar("SELECT id::text FROM projects WHERE name = 'Bravo'").fetch_one(&admin).await.unwrap();

    let mut tx = a.begin(&scoped).await.unwrap();
    // Unfiltered, and a search that matches Bravo too.
    for search in ["", "a"] {
        let page = projects::list(&mut tx, search, StatusFilter::All, Cursor::Start, 50).await.unwrap();
        let names: Vec<String> = page.into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["Alpha", "Apex"], "search {search:?}");
        // The same page as one statement that scopes itself (`tenant_projects_page`).
        let filter = projects::Filter::new(search, StatusFilter::All).unwrap();
        let alone = projects::list_after_alone(a.statement_scope(&scoped).unwrap(), &filter, None, 50);
        let names: Vec<String> = alone.await.unwrap().into_iter().map(|l| l.project.name).collect();
        assert_eq!(names, ["Alpha", "Apex"], "search {search:?}, alone");
    }
    let d = projects::dashboard(&mut tx).await.unwrap();
    assert_eq!((d.active_projects, d.archived_projects), (2, 0));
    let entries = audit::page(&mut tx, 0, 50).await.unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries.iter().all(|e| e.actor == "user_a" && !e.after.as_deref().unwrap_or("").contains("Bravo")));
    assert_eq!(d.recent.unwrap().len(), 2);
    assert!(matches!(projects::get(&mut tx, &bravo).await, Err(ProjectError::NotFound)));
    assert!(matches!(projects::update(&mut tx, &bravo, "Pwned", "").await, Err(ProjectError::NotFound)));
    assert!(matches!(projects::set_archived(&mut tx, &bravo, true).await, Err(ProjectError::NotFound)));
    assert!(matches!(projects::delete(&mut tx, &bravo).await, Err(ProjectError::NotFound)));
    // Taking Bravo's name is no clash: names are unique per organization.
    projects::create(&mut tx, "Bravo", "mine").await.unwrap();
    tx.commit().await.unwrap();

    let rows: Vec<(String, String, bool)> =
        sqlx::query_as("SELECT org_id, name, archived_at IS NULL FROM projects ORDER BY org_id, name")
            .fetch_all(&admin)
            .await
            .unwrap();
    let expected = [("org_a", "Alpha"), ("org_a", "Apex"), ("org_a", "Bravo"), ("org_b", "Bravo")]
        .map(|(o, n)| (o.to_string(), n.to_string(), true));
    assert_eq!(rows, expected, "org_b's Bravo untouched");
    let b_audit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE org_id = 'org_b'").fetch_one(&admin).await.unwrap();
    assert_eq!(b_audit, 1, "nothing audited in org_b for org_a's attempts");
    bypass.close().await;
    sqlx::query(&format!("DROP ROLE {role}")).execute(&admin).await.unwrap();
}
