//! The tenant scope sets its settings with plain `SET LOCAL` statements (what a distributed
//! Postgres such as Citus forwards to the nodes that evaluate the policies), never with
//! `set_config(…)`: here `set_config` is revoked from everyone in the test database, and the
//! scope still works, with quoting that survives hostile values. Each scope is tested in the
//! messages of both dialects (`db::Dialect`): plain Postgres's one message, and Citus's
//! settings alone — which work on plain Postgres too. A refused scope leaves its connection
//! with no transaction open. (The exception, plain Postgres only: the reads that are one
//! statement — the projects list, the workspace shell — whose database functions call
//! `set_config` themselves: `statement_scope.rs`.)
//!
//! Over 500 lines on purpose: the scope's messages and the request's shared read transaction
//! built on them (`RequestReads`: sharing, turns, holds, refusals) are one mechanism, tested
//! on the same seeds with the same connection probes (`whereabouts`, `ends_its_transaction`).

use crate::helpers::migrated_database;
use clerk::{ActiveOrg, Auth};
use pg_harness::TestDatabase;
use sqlx::{PgPool, Row};
use tenantry::server::db::{Db, Dialect};
use tenantry::server::tenant::{
    Member, NoTenant, RequestReads, ScopeError, SystemScope, Tenant, SCOPE_SETTINGS_MISSING,
};
use tokio::sync::oneshot::{channel, Receiver, Sender};

pub(crate) fn auth(user: &str, org: Option<&str>) -> Auth {
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

pub(crate) fn parts(auth: Auth) -> axum::http::request::Parts {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.extensions.insert(auth);
    parts
}

pub(crate) async fn settings(conn: &mut sqlx::PgConnection) -> (String, String) {
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
    scope_without_set_config(Dialect::Postgres).await;
}

/// Citus's messages (the settings alone, then the check) work on plain Postgres too.
#[tokio::test]
async fn the_scope_uses_set_local_not_set_config_in_citus_messages() {
    scope_without_set_config(Dialect::Citus).await;
}

async fn scope_without_set_config(dialect: Dialect) {
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
    let app = Db::new(PgPool::connect(&db.app_url).await.unwrap(), dialect);
    // The revocation holds for the runtime role: any set_config call would fail.
    let err = sqlx::query("SELECT set_config('app.org_id', 'x', true)").execute(app.pool()).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    // So a list never reads as one statement here (its function calls set_config): the
    // database is asked at startup, and every read takes a scoped transaction.
    let detected = Db::detect(app.pool().clone()).await.unwrap();
    let tenant = Tenant::from_request(&parts(auth("user_1", Some("org_a")))).unwrap();
    assert!(tenant.statement_scope(&detected).is_none());

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

    // The tombstone check still refuses a deleted organization.
    sqlx::query("INSERT INTO organizations (id, deleted_at) VALUES ('org_gone', now())").execute(&admin).await.unwrap();
    let gone = Tenant::from_request(&parts(auth("user_1", Some("org_gone")))).unwrap();
    assert!(matches!(gone.begin(&app).await, Err(ScopeError::OrganizationDeleted)));

    // Member and the mirror's SystemScope set the same settings the same way.
    let member = Member::from_request(&parts(auth(hostile_user, None))).unwrap();
    let mut tx = member.begin(&app).await.unwrap();
    assert_eq!(settings(&mut tx).await, (String::new(), hostile_user.to_string()));
    tx.rollback().await.unwrap();
    let mut tx = app.pool().begin().await.unwrap();
    SystemScope::enter(&mut tx, Some(hostile_org), None).await.unwrap();
    assert_eq!(settings(&mut tx).await, (hostile_org.to_string(), String::new()));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(n, 1, "the hostile organization sees its own project only");
}

/// A refusal (a deleted organization, an ended membership) leaves the connection it was
/// checked on idle, with no transaction open, and the next scope on it works: on plain
/// Postgres the check runs before the message's `BEGIN`, so a refusal ends the message's
/// implicit transaction; with `BEGIN` first, sqlx would hand the connection on inside an
/// aborted transaction. The same for a scope that fails otherwise (the check not allowed), for
/// a write's scope (`BEGIN`) and a request's reads (`BEGIN READ ONLY`), in both dialects.
#[tokio::test]
async fn a_refused_scope_leaves_its_connection_idle() {
    for dialect in [Dialect::Postgres, Dialect::Citus] {
        let (db, admin, _) = seeded(&[
            "INSERT INTO organizations (id, name, deleted_at) VALUES ('org_gone', 'Gone', now()), ('org_b', 'B', NULL)",
            // In a deleted organization with an ended membership too: the deletion is the answer.
            "INSERT INTO org_memberships (org_id, user_clerk_id, role, deleted_at) VALUES
             ('org_b', 'user_left', 'org:member', now()), ('org_gone', 'user_1', 'org:member', now())",
        ])
        .await;
        // One connection, so every scope below runs on the same one.
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&db.app_url).await.unwrap();
        let app = Db::new(pool, dialect);
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(app.pool()).await.unwrap();
        let idle = async |after: &str| {
            // The pool has put the connection back (its return check answered): idle, not
            // "idle in transaction" nor "(aborted)".
            for _ in 0..500 {
                if app.pool().num_idle() == 1 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let state: String = sqlx::query_scalar("SELECT state FROM pg_stat_activity WHERE pid = $1")
                .bind(pid)
                .fetch_one(&admin)
                .await
                .unwrap();
            assert_eq!(state, "idle", "{dialect:?}, after {after}");
        };
        let next_write = async |name: &str| {
            let next = Tenant::from_request(&parts(auth("user_1", Some("org_b")))).unwrap();
            let mut tx = next.begin(&app).await.unwrap();
            let same: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(tx.conn()).await.unwrap();
            assert_eq!(same, pid, "the same connection, reused");
            sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ('org_b', $1, 'user_1')")
                .bind(name)
                .execute(tx.conn())
                .await
                .unwrap();
            tx.commit().await.unwrap();
        };
        let refusals = [
            (auth("user_1", Some("org_gone")), "OrganizationDeleted"),
            (auth("user_left", Some("org_b")), "MembershipEnded"),
        ];
        for (who, expected) in refusals {
            let tenant = Tenant::from_request(&parts(who)).unwrap();
            let refused =
                tenant.begin(&app).await.err().unwrap_or_else(|| panic!("{dialect:?}: {expected} not refused"));
            assert_eq!(format!("{refused:?}"), expected, "{dialect:?}");
            idle(expected).await;
            next_write(&format!("after {expected}")).await;
            let refused = RequestReads::default().tenant(&app, &tenant, async |_| Ok::<_, ScopeError>(())).await;
            assert_eq!(format!("{:?}", refused.unwrap_err()), expected, "{dialect:?}, a request's read");
            idle(expected).await;
            next_write(&format!("after a read's {expected}")).await;
        }
        // A scope that fails for another reason: a database error, the connection idle too.
        sqlx::query(&format!("REVOKE EXECUTE ON FUNCTION tenant_scope_check() FROM PUBLIC, {}", pg_harness::APP_ROLE))
            .execute(&admin)
            .await
            .unwrap();
        let tenant = Tenant::from_request(&parts(auth("user_1", Some("org_b")))).unwrap();
        match tenant.begin(&app).await {
            Err(ScopeError::Database(e)) => {
                assert_eq!(e.as_database_error().and_then(|d| d.code()).as_deref(), Some("42501"), "{e}")
            }
            other => panic!("{dialect:?}: {:?}", other.map(|_| "a scope")),
        }
        idle("a database error").await;
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM projects WHERE org_id = 'org_b'").fetch_one(&admin).await.unwrap();
        assert_eq!(n, 4, "{dialect:?}");
    }
}

/// The tombstone check fails closed: without both of the scope's settings it raises
/// (`SCOPE_SETTINGS_MISSING`) instead of finding no tombstone and passing.
#[tokio::test]
async fn the_scope_check_fails_closed_without_its_settings() {
    let (db, _admin, app) = seeded(&["INSERT INTO organizations (id, name) VALUES ('org_b', 'B')"]).await;
    let check = async |settings: &[&str]| {
        let mut tx = app.pool().begin().await.unwrap();
        for s in settings {
            sqlx::query(s).execute(&mut *tx).await.unwrap();
        }
        let outcome = sqlx::query("SELECT public.tenant_scope_check()").execute(&mut *tx).await;
        outcome.err().map(|e| e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned()))
    };
    let missing = Some(Some(SCOPE_SETTINGS_MISSING.to_string()));
    assert_eq!(check(&[]).await, missing, "no settings on this connection yet");
    assert_eq!(check(&["SET LOCAL app.org_id = 'org_b'"]).await, missing, "no user");
    assert_eq!(check(&["SET LOCAL app.user_id = 'user_1'"]).await, missing, "no organization");
    // Set, but empty (as an empty id in a token would set it).
    assert_eq!(check(&["SET LOCAL app.org_id = ''", "SET LOCAL app.user_id = 'user_1'"]).await, missing);
    assert_eq!(check(&["SET LOCAL app.org_id = 'org_b'", "SET LOCAL app.user_id = 'user_1'"]).await, None);
    drop(db);
}

/// A verified session naming an empty user or organization id gets no scope at all (the route
/// gate refuses it first, `workspace::a_token_naming_an_empty_id_is_refused_and_writes_nothing`):
/// not "no organization", not a scope keyed on `''`.
#[test]
fn an_empty_id_gets_no_scope() {
    for (user, org) in [("", Some("org_a")), ("user_1", Some("")), ("", None), ("", Some(""))] {
        let what = format!("user {user:?}, org {org:?}");
        assert_eq!(Tenant::from_request(&parts(auth(user, org))).unwrap_err(), NoTenant::EmptyId, "{what}");
        assert_eq!(Member::from_request(&parts(auth(user, org))).unwrap_err(), NoTenant::EmptyId, "{what}");
    }
    // Absent is not empty: the ordinary answers.
    assert_eq!(Tenant::from_request(&parts(auth("user_1", None))).unwrap_err(), NoTenant::NoOrganization);
    assert!(Member::from_request(&parts(auth("user_1", None))).is_ok());
    assert!(Tenant::from_request(&parts(auth("user_1", Some("org_a")))).is_ok());
}

/// The backend, the transaction's start and a marker a read may leave in its transaction.
async fn whereabouts(conn: &mut sqlx::PgConnection) -> Result<(i32, String, Option<String>), sqlx::Error> {
    sqlx::query_as("SELECT pg_backend_pid(), now()::text, nullif(current_setting('tenantry.marker', true), '')")
        .fetch_one(conn)
        .await
}

/// Leaves a marker in the transaction, then says where it is.
async fn mark(conn: &mut sqlx::PgConnection) -> Result<(i32, String, Option<String>), sqlx::Error> {
    sqlx::query("SELECT set_config('tenantry.marker', 'first', true)").execute(&mut *conn).await?;
    whereabouts(conn).await
}

/// Whether backend `pid` is inside a transaction, polled until it is not (5 s at most).
async fn ends_its_transaction(admin: &PgPool, pid: i32) -> bool {
    ends_within(admin, pid, std::time::Duration::from_secs(5)).await
}

/// Whether backend `pid` is out of any transaction (or gone) within `wait`, polled.
async fn ends_within(admin: &PgPool, pid: i32, wait: std::time::Duration) -> bool {
    let started = std::time::Instant::now();
    loop {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_optional(admin)
            .await
            .unwrap()
            .flatten();
        if !state.is_some_and(|s| s.starts_with("idle in transaction") || s == "active") {
            return true;
        }
        if started.elapsed() >= wait {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// The reads of one request under way together, in a set order (a page's resources start at
/// once): the holder's read signals `entered` once it holds the transaction and waits for
/// `go`; `second` is polled once then, which puts it in line (waiting for the transaction),
/// and only then may the holder go on.
async fn behind<F: std::future::Future>(entered: Receiver<()>, go: Sender<()>, second: F) -> F::Output {
    entered.await.unwrap();
    let mut second = std::pin::pin!(second);
    let mut early = None;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(out) = second.as_mut().poll(cx) {
            early = Some(out);
        }
        std::task::Poll::Ready(())
    })
    .await;
    go.send(()).unwrap();
    match early {
        Some(out) => out,
        None => second.await,
    }
}

/// A fresh database with `seed` run as its owner, and a pool of the app's runtime role.
pub(crate) async fn seeded(seed: &[&str]) -> (TestDatabase, PgPool, Db) {
    let (db, admin) = migrated_database().await;
    for statement in seed {
        sqlx::query(statement).execute(&admin).await.unwrap();
    }
    let app = Db::detect(PgPool::connect(&db.app_url).await.unwrap()).await.unwrap();
    assert_eq!(app.dialect(), Dialect::Postgres);
    (db, admin, app)
}

/// One signal: its sending and its receiving end.
type Signal = (Sender<()>, Receiver<()>);

/// A pair of signals for [`behind`]: `entered` and `go`.
/// `first` and `second` together, `second` put in line once `first` has begun its read: `first`
/// is handed the signals [`behind`] waits on (it sends the first once in, waits on the second).
async fn in_line<A: std::future::Future, B: std::future::Future>(
    first: impl FnOnce(Sender<()>, Receiver<()>) -> A,
    second: B,
) -> (A::Output, B::Output) {
    let ((entered, entered_rx), (go, go_rx)) = signals();
    tokio::join!(first(entered, go_rx), behind(entered_rx, go, second))
}

fn signals() -> (Signal, Signal) {
    (channel(), channel())
}

#[tokio::test]
async fn a_requests_reads_share_one_read_only_transaction() {
    let (_db, admin, app) = seeded(&[
        "INSERT INTO organizations (id, name) VALUES ('org_a', 'A'), ('org_b', 'B')",
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_1', 'org:admin'),
         ('org_b', 'user_1', 'org:member'), ('org_a', 'user_2', 'org:member')",
    ])
    .await;
    let request = parts(auth("user_1", Some("org_a")));
    let (tenant, member) = (Tenant::from_request(&request).unwrap(), Member::from_request(&request).unwrap());
    let reads = RequestReads::default();
    // The request's tenant read, holding the transaction until a second read is in line.
    let holder = |entered: Sender<()>, go: Receiver<()>| {
        reads.tenant(&app, &tenant, async move |tx| {
            assert_eq!(settings(tx.conn()).await, ("org_a".into(), "user_1".into()));
            entered.send(()).unwrap();
            go.await.unwrap();
            Ok::<_, ScopeError>(mark(tx.conn()).await?)
        })
    };

    // The first read begins the transaction, scoped to the tenant, and leaves a marker in it; a
    // member read under way at the same time runs in it too (same backend, start and marker)
    // and sees the user's own memberships in both organizations.
    let (first, second) = in_line(
        holder,
        reads.member(&app, &member, Some(&tenant), async |conn| {
            let orgs: Vec<String> =
                sqlx::query_scalar("SELECT org_id FROM org_memberships WHERE user_clerk_id = 'user_1' ORDER BY org_id")
                    .fetch_all(&mut *conn)
                    .await?;
            Ok::<_, sqlx::Error>((whereabouts(conn).await?, orgs))
        }),
    )
    .await;
    let (first, (again, orgs)) = (first.unwrap(), second.unwrap());
    assert_eq!(first.2.as_deref(), Some("first"));
    assert_eq!(again, first, "the member read shares the tenant read's transaction");
    assert_eq!(orgs, ["org_a", "org_b"]);
    // The last read under way ended it: its connection is not left waiting in a transaction.
    assert!(ends_its_transaction(&admin, first.0).await, "the shared transaction outlived its reads");
    let later =
        reads.tenant(&app, &tenant, async |tx| Ok::<_, ScopeError>(whereabouts(tx.conn()).await?)).await.unwrap();
    assert_eq!(later.2, None, "a read after the others begins another transaction");

    // A read for any other scope (which one request, with one verified session, never asks
    // for) gets a transaction of its own, scoped to it, even while the request's is under way.
    let started = |w: &(i32, String, Option<String>)| (w.0, w.1.clone());
    let other_org = Tenant::from_request(&parts(auth("user_1", Some("org_b")))).unwrap();
    let (mine, theirs) = in_line(
        holder,
        reads.tenant(&app, &other_org, async |tx| {
            Ok::<_, ScopeError>((settings(tx.conn()).await, whereabouts(tx.conn()).await?))
        }),
    )
    .await;
    let (mine, (scope, at)) = (mine.unwrap(), theirs.unwrap());
    assert_eq!((scope, at.2.clone()), (("org_b".into(), "user_1".into()), None));
    assert_ne!(started(&at), started(&mine), "another transaction (the pool may hand it the same connection)");
    assert!(ends_its_transaction(&admin, mine.0).await, "the last read ended the request's transaction");
    // While a read of the request's own scope is still in line behind it, the other scope's
    // read leaves the shared transaction to it.
    let (mine, (_, same)) = in_line(holder, async {
        tokio::join!(
            reads.tenant(&app, &other_org, async |tx| Ok::<_, ScopeError>(whereabouts(tx.conn()).await?)),
            reads.tenant(&app, &tenant, async |tx| Ok::<_, ScopeError>(whereabouts(tx.conn()).await?))
        )
    })
    .await;
    assert_eq!(same.unwrap(), mine.unwrap(), "the read behind shares the request's transaction");
    let other_user = parts(auth("user_2", Some("org_a")));
    let (other_user, other_users_tenant) =
        (Member::from_request(&other_user).unwrap(), Tenant::from_request(&other_user).unwrap());
    for (who, tenant_of_read, expected) in [
        (&other_user, Some(&other_users_tenant), ("", "user_2")),
        (&member, None, ("", "user_1")),
        (&member, Some(&other_org), ("", "user_1")),
    ] {
        let (mine, theirs) = in_line(
            holder,
            reads.member(&app, who, tenant_of_read, async |conn| {
                Ok::<_, sqlx::Error>((settings(conn).await, whereabouts(conn).await?))
            }),
        )
        .await;
        let (mine, (scope, at)) = (mine.unwrap(), theirs.unwrap());
        assert_eq!(
            (scope, at.2.clone()),
            ((expected.0.into(), expected.1.into()), None),
            "a member transaction of its own"
        );
        assert_ne!(started(&at), started(&mine));
        assert!(ends_its_transaction(&admin, mine.0).await, "the last read ended the request's transaction");
    }

    // Read only: a write through it fails, and ends it with the error; a read waiting behind it
    // begins another transaction.
    let ((entered, entered_rx), (go, go_rx)) = signals();
    let (write, after) = tokio::join!(
        reads.tenant(&app, &tenant, async move |tx| {
            mark(tx.conn()).await?;
            entered.send(()).unwrap();
            go_rx.await.unwrap();
            sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ('org_a', 'P', 'user_1')")
                .execute(tx.conn())
                .await
                .map_err(ScopeError::from)
        }),
        behind(
            entered_rx,
            go,
            reads.tenant(&app, &tenant, async |tx| Ok::<_, ScopeError>(whereabouts(tx.conn()).await?))
        )
    );
    let write = write.unwrap_err();
    assert!(write.to_string().contains("read-only transaction"), "{write}");
    assert_eq!(after.unwrap().2, None, "a failed read ends the transaction; the read behind it begins another");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&admin).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_refused_tenant_leaves_member_reads_to_a_member_scope() {
    let (_db, admin, app) = seeded(&[
        "INSERT INTO organizations (id, name, deleted_at) VALUES ('org_gone', 'Gone', now()), ('org_b', 'B', NULL)",
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_gone', 'user_1', 'org:admin'),
         ('org_b', 'user_1', 'org:member'), ('org_gone', 'user_2', 'org:member')",
    ])
    .await;
    let request = parts(auth("user_1", Some("org_gone")));
    let (tenant, member) = (Tenant::from_request(&request).unwrap(), Member::from_request(&request).unwrap());
    let reads = RequestReads::default();

    // As on a page: the shell's member read and the page's tenant read under way together, in
    // either order. The tenant read is refused without running; the member read still works,
    // in a member scope of its own: not scoped to the deleted organization, whose other
    // members it does not see.
    let member_read = || {
        reads.member(&app, &member, Some(&tenant), async |conn| {
            let seen: Vec<String> =
                sqlx::query_scalar("SELECT user_clerk_id || '@' || org_id FROM org_memberships ORDER BY 1")
                    .fetch_all(&mut *conn)
                    .await?;
            Ok::<_, sqlx::Error>((settings(conn).await, seen))
        })
    };
    for member_first in [false, true] {
        let mut ran = false;
        let tenant_read = reads.tenant(&app, &tenant, async |_| {
            ran = true;
            Ok::<_, ScopeError>(())
        });
        let (refused, seen) = if member_first {
            let (seen, refused) = tokio::join!(member_read(), tenant_read);
            (refused, seen)
        } else {
            tokio::join!(tenant_read, member_read())
        };
        assert!(matches!(refused, Err(ScopeError::OrganizationDeleted)), "{refused:?}");
        assert!(!ran, "a refused tenant's read never runs");
        let (scope, seen) = seen.unwrap();
        assert_eq!(scope, (String::new(), "user_1".into()));
        assert_eq!(seen, ["user_1@org_b", "user_1@org_gone"]);
    }
    // An ended membership likewise.
    sqlx::query("UPDATE org_memberships SET deleted_at = now() WHERE org_id = 'org_b' AND user_clerk_id = 'user_1'")
        .execute(&admin)
        .await
        .unwrap();
    let ended = Tenant::from_request(&parts(auth("user_1", Some("org_b")))).unwrap();
    let refused = RequestReads::default().tenant(&app, &ended, async |_| Ok::<_, ScopeError>(())).await;
    assert!(matches!(refused, Err(ScopeError::MembershipEnded)), "{refused:?}");
}

/// A refused tenant is checked once a request: while its reads are under way (a page being
/// built holds them), the refusal is kept — later tenant reads answer it without asking
/// Postgres again, and its member reads share one member transaction.
#[tokio::test]
async fn a_refusal_is_kept_for_the_requests_later_reads() {
    let (_db, admin, app) = seeded(&[
        "INSERT INTO organizations (id, name, deleted_at) VALUES ('org_gone', 'Gone', now())",
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_gone', 'user_1', 'org:admin')",
    ])
    .await;
    let request = parts(auth("user_1", Some("org_gone")));
    let (tenant, member) = (Tenant::from_request(&request).unwrap(), Member::from_request(&request).unwrap());
    let reads = RequestReads::default();
    let hold = reads.hold();
    let refused = reads.tenant(&app, &tenant, async |_| Ok::<_, ScopeError>(())).await;
    assert!(matches!(refused, Err(ScopeError::OrganizationDeleted)), "{refused:?}");
    // From here the check cannot run at all: only a kept refusal answers as before.
    sqlx::query(&format!("REVOKE EXECUTE ON FUNCTION tenant_scope_check() FROM PUBLIC, {}", pg_harness::APP_ROLE))
        .execute(&admin)
        .await
        .unwrap();
    let again = reads.tenant(&app, &tenant, async |_| Ok::<_, ScopeError>(())).await;
    assert!(matches!(again, Err(ScopeError::OrganizationDeleted)), "{again:?}");
    let member_read = || {
        reads.member(&app, &member, Some(&tenant), async |conn| {
            Ok::<_, sqlx::Error>((whereabouts(conn).await?, settings(conn).await))
        })
    };
    let (first, scope) = member_read().await.unwrap();
    let (second, _) = member_read().await.unwrap();
    assert_eq!(scope, (String::new(), "user_1".into()), "a member scope, not the refused organization's");
    assert_eq!(first, second, "one member transaction for both");
    drop(hold);
    assert!(ends_its_transaction(&admin, first.0).await, "the member transaction ends with the request's reads");
    // A new request checks again (and here, its check refused to run, fails).
    let fresh = RequestReads::default().tenant(&app, &tenant, async |_| Ok::<_, ScopeError>(())).await;
    assert!(matches!(fresh, Err(ScopeError::Database(_))), "{fresh:?}");
}

#[tokio::test]
async fn a_member_without_an_organization_shares_a_member_scope() {
    let (_db, _admin, app) = seeded(&[
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_1', 'org:admin'), ('org_a', 'user_2', 'org:member')",
    ])
    .await;
    let member = Member::from_request(&parts(auth("user_1", None))).unwrap();
    let reads = RequestReads::default();
    let read = async |conn: &mut sqlx::PgConnection| {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM org_memberships").fetch_one(&mut *conn).await?;
        Ok::<_, sqlx::Error>((settings(conn).await, whereabouts(conn).await?, n))
    };
    let holder = |entered: Sender<()>, go: Receiver<()>| {
        reads.member(&app, &member, None, async move |conn| {
            entered.send(()).unwrap();
            go.await.unwrap();
            Ok::<_, sqlx::Error>((settings(conn).await, whereabouts(conn).await?, 0))
        })
    };
    let (first, second) = in_line(holder, reads.member(&app, &member, None, read)).await;
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(second.0, (String::new(), "user_1".into()));
    assert_eq!(second.2, 1, "the member sees their own membership only");
    assert_eq!(second.1, first.1, "one transaction for the request's member reads under way together");
    // Any other scope gets a transaction of its own: another user, or this user in an
    // organization (which one request, with one verified session, never asks for).
    let other = Member::from_request(&parts(auth("user_2", None))).unwrap();
    let in_org = Tenant::from_request(&parts(auth("user_1", Some("org_a")))).unwrap();
    let started = |w: &(i32, String, Option<String>)| (w.0, w.1.clone());
    for (who, tenant, user) in [(&other, None, "user_2"), (&member, Some(&in_org), "user_1")] {
        let (mine, theirs) = in_line(holder, reads.member(&app, who, tenant, read)).await;
        let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
        assert_eq!(theirs.0, (String::new(), user.into()));
        assert_ne!(started(&theirs.1), started(&mine.1), "not the request's member-scoped transaction");
    }
    // A member read of the request still in line behind another user's keeps the shared one.
    let (mine, (_, same)) = in_line(holder, async {
        tokio::join!(reads.member(&app, &other, None, read), reads.member(&app, &member, None, read))
    })
    .await;
    assert_eq!(same.unwrap().1, mine.unwrap().1, "the read behind shares the request's transaction");
}

/// A hold keeps the transaction between reads that do not overlap (the shell's read done before
/// the page's own begins), and releasing it ends the transaction.
#[tokio::test]
async fn a_hold_keeps_the_transaction_between_reads_and_its_release_ends_it() {
    let (_db, admin, app) = seeded(&[
        "INSERT INTO organizations (id, name) VALUES ('org_a', 'A')",
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_1', 'org:admin')",
    ])
    .await;
    let tenant = Tenant::from_request(&parts(auth("user_1", Some("org_a")))).unwrap();
    let reads = RequestReads::default();
    let hold = reads.hold();
    let first = reads.tenant(&app, &tenant, async |tx| Ok::<_, ScopeError>(mark(tx.conn()).await?)).await.unwrap();
    assert_eq!(first.2.as_deref(), Some("first"));
    let second =
        reads.tenant(&app, &tenant, async |tx| Ok::<_, ScopeError>(whereabouts(tx.conn()).await?)).await.unwrap();
    assert_eq!(second, first, "the read after the first, both under the hold, shares its transaction");
    let (pid, moment) = (first.0, std::time::Duration::from_millis(300));
    assert!(!ends_within(&admin, pid, moment).await, "the hold keeps the transaction");
    drop(hold);
    assert!(ends_its_transaction(&admin, first.0).await, "releasing the hold ended the transaction");
    let later =
        reads.tenant(&app, &tenant, async |tx| Ok::<_, ScopeError>(whereabouts(tx.conn()).await?)).await.unwrap();
    assert_eq!(later.2, None, "a read after the release begins another transaction");
}
