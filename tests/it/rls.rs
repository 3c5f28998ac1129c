//! Row-level security is the second lock: as the runtime role, a query with no org filter still
//! sees only the organization set in `app.org_id`, and nothing when it is unset.

use crate::helpers::migrated_database;
use sqlx::{PgPool, Row};

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
