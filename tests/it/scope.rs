//! The tenant scope sets its settings with plain `SET LOCAL` statements (what a distributed
//! Postgres such as Citus forwards to the nodes that evaluate the policies), never with
//! `set_config(…)`: here `set_config` is revoked from everyone in the test database, and the
//! scope still works, with quoting that survives hostile values.

use crate::helpers::migrated_database;
use clerk::{ActiveOrg, Auth};
use sqlx::{PgPool, Row};
use tenantry::server::tenant::{Member, ScopeError, SystemScope, Tenant};

fn auth(user: &str, org: Option<&str>) -> Auth {
    Auth {
        user_id: user.into(),
        session_id: Some("sess_1".into()),
        session_status: None,
        org: org.map(|id| ActiveOrg { id: id.into(), slug: None, role: Some("org:admin".into()), permissions: vec![] }),
        features: vec![],
        plans: vec![],
        actor: None,
        factor_verification_age: None,
    }
}

fn parts(auth: Auth) -> axum::http::request::Parts {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.extensions.insert(auth);
    parts
}

async fn settings(conn: &mut sqlx::PgConnection) -> (String, String) {
    let row = sqlx::query("SELECT current_setting('app.org_id', true), current_setting('app.user_id', true)")
        .fetch_one(conn)
        .await
        .unwrap();
    // NULL on a connection where the setting was never defined: the same as empty here.
    let get = |i| row.get::<Option<String>, _>(i).unwrap_or_default();
    (get(0), get(1))
}

#[tokio::test]
async fn the_scope_uses_set_local_not_set_config() {
    let (db, admin) = migrated_database().await;
    let superuser: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert!(superuser, "this test revokes set_config, which needs the cluster's superuser (pg-harness's admin)");
    sqlx::query("REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC")
        .execute(&admin)
        .await
        .unwrap();
    let app = PgPool::connect(&db.app_url).await.unwrap();
    // The revocation holds for the runtime role: any set_config call would fail.
    let err = sqlx::query("SELECT set_config('app.org_id', 'x', true)").execute(&app).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");

    // A value with quotes, a backslash and statement text stays one value.
    let hostile_org = r"org_a'; RESET ALL; SELECT '\";
    let hostile_user = r"user_\'x";
    for (org, user) in [("org_a", "user_1"), (hostile_org, hostile_user)] {
        let tenant = Tenant::from_request(&parts(auth(user, Some(org)))).unwrap();
        let mut tx = tenant.begin(&app).await.expect("scope without set_config");
        assert_eq!(settings(tx.conn()).await, (org.to_string(), user.to_string()));
        sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ($1, 'P', $2)")
            .bind(org)
            .bind(user)
            .execute(tx.conn())
            .await
            .expect("the policy sees the scope");
        tx.commit().await.unwrap();
    }
    // Local to the transaction: nothing left on the pooled connections.
    let mut conn = app.acquire().await.unwrap();
    assert_eq!(settings(&mut conn).await, (String::new(), String::new()));
    drop(conn);

    // NUL cannot be carried by a literal: refused before anything is sent.
    let nul = Tenant::from_request(&parts(auth("user_1", Some("org_\0a")))).unwrap();
    assert!(matches!(nul.begin(&app).await, Err(ScopeError::Database(_))));

    // The tombstone check in the same batch still refuses a deleted organization.
    sqlx::query("INSERT INTO organizations (id, deleted_at) VALUES ('org_gone', now())").execute(&admin).await.unwrap();
    let gone = Tenant::from_request(&parts(auth("user_1", Some("org_gone")))).unwrap();
    assert!(matches!(gone.begin(&app).await, Err(ScopeError::OrganizationDeleted)));

    // Member and the mirror's SystemScope set the same settings the same way.
    let member = Member::from_request(&parts(auth(hostile_user, None))).unwrap();
    let mut tx = member.begin(&app).await.unwrap();
    assert_eq!(settings(&mut tx).await, (String::new(), hostile_user.to_string()));
    tx.rollback().await.unwrap();
    let mut tx = app.begin().await.unwrap();
    SystemScope::enter(&mut tx, Some(hostile_org), None).await.unwrap();
    assert_eq!(settings(&mut tx).await, (hostile_org.to_string(), String::new()));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(n, 1, "the hostile organization sees its own project only");
}
