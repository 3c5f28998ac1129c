//! The tenant scope sets its settings with plain `SET LOCAL` statements (what a distributed
//! Postgres such as Citus forwards to the nodes that evaluate the policies), never with
//! `set_config(…)`: here `set_config` is revoked from everyone in the test database, and the
//! scope still works, with quoting that survives hostile values.

use crate::helpers::migrated_database;
use clerk::{ActiveOrg, Auth};
use sqlx::{PgPool, Row};
use tenantry::server::tenant::{Member, RequestReads, ScopeError, SystemScope, Tenant};

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

/// The backend, the transaction's start and a marker a read may leave in its transaction.
async fn whereabouts(conn: &mut sqlx::PgConnection) -> Result<(i32, String, Option<String>), sqlx::Error> {
    sqlx::query_as("SELECT pg_backend_pid(), now()::text, current_setting('tenantry.marker', true)")
        .fetch_one(conn)
        .await
}

#[tokio::test]
async fn a_requests_reads_share_one_read_only_transaction() {
    let (db, admin) = migrated_database().await;
    sqlx::query("INSERT INTO organizations (id, name) VALUES ('org_a', 'A'), ('org_b', 'B')")
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_1', 'org:admin'),
         ('org_b', 'user_1', 'org:member'), ('org_a', 'user_2', 'org:member')",
    )
    .execute(&admin)
    .await
    .unwrap();
    let app = PgPool::connect(&db.app_url).await.unwrap();
    let request = parts(auth("user_1", Some("org_a")));
    let (tenant, member) = (Tenant::from_request(&request).unwrap(), Member::from_request(&request).unwrap());
    let reads = RequestReads::default();

    // The first read begins the transaction, scoped to the tenant, and leaves a marker in it.
    let first = reads
        .tenant(&app, &tenant, async |tx| {
            assert_eq!(settings(tx.conn()).await, ("org_a".into(), "user_1".into()));
            sqlx::query("SELECT set_config('tenantry.marker', 'first', true)").execute(tx.conn()).await?;
            Ok::<_, ScopeError>(whereabouts(tx.conn()).await?)
        })
        .await
        .unwrap();
    assert_eq!(first.2.as_deref(), Some("first"));
    // A member read of the same request runs in it too (same backend, start and marker), and
    // sees the user's own memberships in both organizations.
    let (again, orgs) = reads
        .member(&app, &member, Some(&tenant), async |conn| {
            let orgs: Vec<String> =
                sqlx::query_scalar("SELECT org_id FROM org_memberships WHERE user_clerk_id = 'user_1' ORDER BY org_id")
                    .fetch_all(&mut *conn)
                    .await?;
            Ok::<_, sqlx::Error>((whereabouts(conn).await?, orgs))
        })
        .await
        .unwrap();
    assert_eq!(again, first, "the member read shares the tenant read's transaction");
    assert_eq!(orgs, ["org_a", "org_b"]);

    // A read for any other scope (which one request, with one verified session, never asks
    // for) gets a transaction of its own, scoped to it, and leaves the shared one as it was.
    let other_org = Tenant::from_request(&parts(auth("user_1", Some("org_b")))).unwrap();
    let (scope, at) = reads
        .tenant(&app, &other_org, async |tx| {
            Ok::<_, ScopeError>((settings(tx.conn()).await, whereabouts(tx.conn()).await?))
        })
        .await
        .unwrap();
    assert_eq!((scope, at.2), (("org_b".into(), "user_1".into()), None));
    let other_user = parts(auth("user_2", Some("org_a")));
    let (other_user, other_users_tenant) =
        (Member::from_request(&other_user).unwrap(), Tenant::from_request(&other_user).unwrap());
    for (who, tenant, expected) in [
        (&other_user, Some(&other_users_tenant), ("", "user_2")),
        (&member, None, ("", "user_1")),
        (&member, Some(&other_org), ("", "user_1")),
    ] {
        let (scope, at) = reads
            .member(&app, who, tenant, async |conn| {
                Ok::<_, sqlx::Error>((settings(conn).await, whereabouts(conn).await?))
            })
            .await
            .unwrap();
        assert_eq!((scope, at.2), ((expected.0.into(), expected.1.into()), None), "a member transaction of its own");
    }
    let still = reads.member(&app, &member, Some(&tenant), async |conn| whereabouts(conn).await).await.unwrap();
    assert_eq!(still, first, "the shared transaction is untouched");

    // Read only: a write through it fails, and ends it with the error.
    let write = reads
        .tenant(&app, &tenant, async |tx| {
            sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ('org_a', 'P', 'user_1')")
                .execute(tx.conn())
                .await
                .map_err(ScopeError::from)
        })
        .await
        .unwrap_err();
    assert!(write.to_string().contains("read-only transaction"), "{write}");
    let after =
        reads.tenant(&app, &tenant, async |tx| Ok::<_, ScopeError>(whereabouts(tx.conn()).await?)).await.unwrap();
    assert_eq!(after.2, None, "a failed read ends the transaction; the next read begins another");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&admin).await.unwrap();
    assert_eq!(n, 0);

    // The transaction ends (rolled back) when the request's reads are dropped.
    drop(reads);
    let open = || {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state <> 'idle'")
            .bind(after.0)
            .fetch_one(&admin)
    };
    let mut waited = 0;
    while open().await.unwrap() > 0 {
        assert!(waited < 100, "the request's transaction is still open 5 s after its reads were dropped");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
}

#[tokio::test]
async fn a_refused_tenant_leaves_member_reads_to_a_member_scope() {
    let (db, admin) = migrated_database().await;
    sqlx::query(
        "INSERT INTO organizations (id, name, deleted_at) VALUES ('org_gone', 'Gone', now()), ('org_b', 'B', NULL)",
    )
    .execute(&admin)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_gone', 'user_1', 'org:admin'),
         ('org_b', 'user_1', 'org:member'), ('org_gone', 'user_2', 'org:member')",
    )
    .execute(&admin)
    .await
    .unwrap();
    let app = PgPool::connect(&db.app_url).await.unwrap();
    let request = parts(auth("user_1", Some("org_gone")));
    let (tenant, member) = (Tenant::from_request(&request).unwrap(), Member::from_request(&request).unwrap());
    let reads = RequestReads::default();

    let mut ran = false;
    let refused = reads
        .tenant(&app, &tenant, async |_| {
            ran = true;
            Ok::<_, ScopeError>(())
        })
        .await;
    assert!(matches!(refused, Err(ScopeError::OrganizationDeleted)), "{refused:?}");
    assert!(!ran, "a refused tenant's read never runs");
    // Asked again in the same request: the same refusal.
    assert!(matches!(
        reads.tenant(&app, &tenant, async |_| Ok::<_, ScopeError>(())).await,
        Err(ScopeError::OrganizationDeleted)
    ));

    // The switcher's read still works, in a member scope of its own: not scoped to the deleted
    // organization, whose other members it does not see.
    let (scope, seen) = reads
        .member(&app, &member, Some(&tenant), async |conn| {
            let seen: Vec<String> =
                sqlx::query_scalar("SELECT user_clerk_id || '@' || org_id FROM org_memberships ORDER BY 1")
                    .fetch_all(&mut *conn)
                    .await?;
            Ok::<_, sqlx::Error>((settings(conn).await, seen))
        })
        .await
        .unwrap();
    assert_eq!(scope, (String::new(), "user_1".into()));
    assert_eq!(seen, ["user_1@org_b", "user_1@org_gone"]);
}

#[tokio::test]
async fn a_member_without_an_organization_shares_a_member_scope() {
    let (db, admin) = migrated_database().await;
    sqlx::query("INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_1', 'org:admin'), ('org_a', 'user_2', 'org:member')")
        .execute(&admin)
        .await
        .unwrap();
    let app = PgPool::connect(&db.app_url).await.unwrap();
    let member = Member::from_request(&parts(auth("user_1", None))).unwrap();
    let reads = RequestReads::default();
    let read = async |conn: &mut sqlx::PgConnection| {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM org_memberships").fetch_one(&mut *conn).await?;
        Ok::<_, sqlx::Error>((settings(conn).await, whereabouts(conn).await?, n))
    };
    let first = reads.member(&app, &member, None, read).await.unwrap();
    assert_eq!(first.0, (String::new(), "user_1".into()));
    assert_eq!(first.2, 1, "the member sees their own membership only");
    let second = reads.member(&app, &member, None, read).await.unwrap();
    assert_eq!(second.1, first.1, "one transaction for the request's member reads");
    // Any other scope gets a transaction of its own: another user, or this user in an
    // organization (which one request, with one verified session, never asks for).
    let other = Member::from_request(&parts(auth("user_2", None))).unwrap();
    let theirs = reads.member(&app, &other, None, read).await.unwrap();
    assert_eq!((theirs.0, theirs.2), ((String::new(), "user_2".into()), 1));
    assert_ne!(theirs.1, first.1);
    let in_org = Tenant::from_request(&parts(auth("user_1", Some("org_a")))).unwrap();
    let own = reads.member(&app, &member, Some(&in_org), read).await.unwrap();
    assert_ne!(own.1, first.1, "not the member-scoped transaction of the request");
}
