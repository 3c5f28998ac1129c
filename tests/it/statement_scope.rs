//! Reads as one statement that enters its scope itself (plain Postgres only): the projects list
//! (`Tenant::statement_scope`, `tenant_projects_page`) — what it shows and refuses, what it
//! leaves on its connection, and that it reads the same pages as the scoped transaction's query
//! it writes out again — and the workspace shell (`Member::statement_scope`,
//! `member_workspace_shell`), which reads the same as its two queries in a member transaction.

use crate::scope::{auth, parts, seeded, settings};
use tenantry::server::db::{Db, Dialect};
use tenantry::server::tenant::Tenant;

/// The projects list as one statement (`Tenant::statement_scope`, `tenant_projects_page`):
/// it shows the tenant's own rows, is refused as a scoped transaction is (deleted organization,
/// ended membership), and leaves its connection as it found it — idle, no settings, not
/// read-only — so the next request on that connection starts clean. Not on Citus.
#[tokio::test]
async fn a_read_alone_scopes_its_own_statement() {
    use tenantry::server::projects::{self, ProjectError, StatusFilter};
    let (db, admin, _) = seeded(&[
        "INSERT INTO organizations (id, name, deleted_at) VALUES ('org_gone', 'Gone', now()), ('org_b', 'B', NULL),
                                                             ('org_c', 'C', NULL)",
        "INSERT INTO org_memberships (org_id, user_clerk_id, role, deleted_at) VALUES
         ('org_b', 'user_left', 'org:member', now())",
        "INSERT INTO projects (org_id, name, created_by) VALUES ('org_b', 'Bee', 'user_1'), ('org_b', 'Bop', 'user_1'),
                                                              ('org_c', 'Sea', 'user_1'), ('org_gone', 'Old', 'user_1')",
    ])
    .await;
    // One connection, so every statement below runs on the same one.
    let one = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&db.app_url).await.unwrap();
    let app = Db::new(one, Dialect::Postgres);
    let citus = Db::new(app.pool().clone(), Dialect::Citus);
    let tenant = Tenant::from_request(&parts(auth("user_1", Some("org_b")))).unwrap();
    assert!(tenant.statement_scope(&citus).is_none(), "Citus takes a scoped transaction");
    let list = async |user: &str, org: &str| {
        let tenant = Tenant::from_request(&parts(auth(user, Some(org)))).unwrap();
        let scope = tenant.statement_scope(&app).expect("plain Postgres");
        projects::list_after_alone(scope, &projects::Filter::new("", StatusFilter::All).unwrap(), None, 50)
            .await
            .map(|page| page.into_iter().map(|l| l.project.name).collect::<Vec<_>>())
    };
    let clean = async |after: &str| {
        let mut conn = app.pool().acquire().await.unwrap();
        assert_eq!(settings(&mut conn).await, (String::new(), String::new()), "after {after}");
        let (read_only, state): (String, String) = sqlx::query_as(
            "SELECT current_setting('transaction_read_only'),
                    (SELECT state FROM pg_stat_activity WHERE pid = pg_backend_pid())",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!((read_only.as_str(), state.as_str()), ("off", "active"), "after {after}");
    };
    assert_eq!(list("user_1", "org_b").await.unwrap(), ["Bee", "Bop"]);
    clean("a read").await;
    assert_eq!(list("user_1", "org_c").await.unwrap(), ["Sea"], "the next tenant on the same connection");
    for (user, org, expected) in
        [("user_1", "org_gone", "OrganizationDeleted"), ("user_left", "org_b", "MembershipEnded")]
    {
        match list(user, org).await {
            Err(ProjectError::Scope(refused)) => assert_eq!(format!("{refused:?}"), expected),
            other => panic!("{expected}: {other:?}"),
        }
        clean(expected).await;
    }
    // Inside a transaction (never how the app calls it) the function scopes the rest of it, read-only:
    // why `StatementScope` runs it on the pool.
    let mut tx = app.pool().begin().await.unwrap();
    sqlx::query("SELECT * FROM public.tenant_projects_page('org_b', 'user_1', '%', true, true, NULL, NULL, 50)")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(settings(&mut tx).await, ("org_b".to_string(), "user_1".to_string()));
    let write = sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ('org_b', 'Late', 'user_1')")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(write.as_database_error().and_then(|d| d.code()).as_deref(), Some("25006"), "read-only: {write}");
    drop(tx);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&admin).await.unwrap();
    assert_eq!(n, 4);
}

/// `tenant_projects_page` writes out `projects::list_after`'s query again (see its migration):
/// the two read the same pages — filters, wildcards taken literally, archived or not, keyset
/// cursors by normalised name then id — so a change to one that misses the other fails here.
#[tokio::test]
async fn a_list_reads_the_same_pages_alone_and_in_a_transaction() {
    use tenantry::server::projects::{self, Listed, SortKey, StatusFilter};
    let (_db, admin, app) = seeded(&[
        "INSERT INTO organizations (id, name) VALUES ('org_b', 'B'), ('org_c', 'C')",
        "INSERT INTO projects (org_id, name, description, created_by, archived_at) VALUES
           ('org_b', 'alpha', '', 'user_1', NULL), ('org_b', '  Beta ', 'the 100% plan', 'user_1', NULL),
           ('org_b', 'gamma_ray', 'under_score', 'user_2', now()), ('org_b', 'Delta', 'a\\b', 'user_1', NULL),
           ('org_b', 'ALPHA 2', 'Alpha again', 'user_1', now()), ('org_c', 'alpha', 'other org', 'user_1', NULL)",
    ])
    .await;
    let tenant = Tenant::from_request(&parts(auth("user_1", Some("org_b")))).unwrap();
    let shown = |page: Vec<Listed>| {
        page.into_iter()
            .map(|l| {
                format!("{} {} {:?} {} {}", l.key.name, l.key.id, l.project.name, l.project.archived, l.project.id)
            })
            .collect::<Vec<_>>()
    };
    let beta: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM projects WHERE name = '  Beta '").fetch_one(&admin).await.unwrap();
    let after_beta = SortKey { name: "  BETA".into(), id: beta };
    let mut compared = 0;
    for search in ["", "alpha", "%", "_", "\\", "  beta  ", "100%", "nothing"] {
        for status in [StatusFilter::Active, StatusFilter::Archived, StatusFilter::All] {
            for after in [None, Some(&after_beta)] {
                for limit in [1, 2, 50] {
                    let mut tx = tenant.begin(&app).await.unwrap();
                    let in_tx = shown(projects::list_after(&mut tx, search, status, after, limit).await.unwrap());
                    drop(tx);
                    let scope = tenant.statement_scope(&app).unwrap();
                    let filter = projects::Filter::new(search, status).unwrap();
                    let alone = shown(projects::list_after_alone(scope, &filter, after, limit).await.unwrap());
                    assert_eq!(alone, in_tx, "search {search:?}, {status:?}, after {after:?}, limit {limit}");
                    compared += usize::from(!in_tx.is_empty());
                }
            }
        }
    }
    // Not a comparison of empty pages: most combinations find rows.
    assert!(compared > 40, "{compared}");
}

/// `member_workspace_shell` writes out the shell's two mirror reads again (see its migration):
/// alone and in a member transaction they read the same — the active organization's name (none
/// once deleted), the user (none when deleted or not mirrored yet), their organizations by name
/// (a deleted one by its id, an ended membership not at all, none at all) — and the statement
/// leaves its connection idle, unscoped and not read-only.
#[tokio::test]
async fn the_shell_reads_the_same_alone_and_in_a_transaction() {
    use tenantry::server::tenant::Member;
    use tenantry::server::workspace;
    let (db, _admin, _) = seeded(&[
        "INSERT INTO organizations (id, name, slug, deleted_at) VALUES ('org_b', 'beta', 'b', NULL),
           ('org_a', 'Alpha', NULL, NULL), ('org_gone', 'Gone', 'gone', now()), ('org_z', 'zulu', 'z', NULL),
           ('org_t2', 'twin', NULL, NULL), ('org_t1', 'Twin', NULL, NULL)",
        "INSERT INTO users (clerk_id, email, name, image_url, deleted_at) VALUES
           ('user_1', 'one@example.com', 'One', 'https://img.example/1', NULL),
           ('user_deleted', 'gone@example.com', 'Gone', NULL, now())",
        "INSERT INTO org_memberships (org_id, user_clerk_id, role, deleted_at) VALUES
           ('org_b', 'user_1', 'org:admin', NULL), ('org_a', 'user_1', 'org:member', NULL),
           ('org_gone', 'user_1', 'org:member', NULL), ('org_z', 'user_1', 'org:member', now()),
           ('org_b', 'user_deleted', 'org:member', NULL), ('org_a', 'user_2', 'org:admin', NULL),
           ('org_t2', 'user_1', 'org:member', NULL), ('org_t1', 'user_1', 'org:member', NULL)",
    ])
    .await;
    // One connection, so the statement's settings would be seen by the next borrower.
    let one = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&db.app_url).await.unwrap();
    let app = Db::new(one, Dialect::Postgres);
    let cases = [
        ("user_1", Some("org_b")),
        ("user_1", Some("org_gone")),
        ("user_1", Some("org_z")),
        ("user_1", None),
        ("user_deleted", Some("org_b")),
        ("user_2", Some("org_a")),
        ("user_unknown", None),
    ];
    let mut shown = 0;
    for (user, org) in cases {
        let member = Member::from_request(&parts(auth(user, org))).unwrap();
        let mut tx = member.begin(&app).await.unwrap();
        let in_tx = workspace::mirrored_shell(&mut tx, &member).await.unwrap();
        drop(tx);
        let alone =
            workspace::mirrored_shell_alone(member.statement_scope(&app).expect("plain Postgres")).await.unwrap();
        assert_eq!(alone, in_tx, "{user} in {org:?}");
        shown += in_tx.organizations.len();
        let mut conn = app.pool().acquire().await.unwrap();
        assert_eq!(settings(&mut conn).await, (String::new(), String::new()), "after {user}");
        let read_only: String = sqlx::query_scalar("SHOW transaction_read_only").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(read_only, "off", "after {user}");
    }
    // user_1's five organizations in each of its four cases, by name (the deleted one by its id),
    // two of the same name by id.
    let member = Member::from_request(&parts(auth("user_1", Some("org_b")))).unwrap();
    let shell = workspace::mirrored_shell_alone(member.statement_scope(&app).unwrap()).await.unwrap();
    let listed: Vec<_> =
        shell.organizations.iter().map(|o| (o.id.as_str(), o.name.as_str(), o.role.as_str(), o.active)).collect();
    assert_eq!(
        listed,
        [
            ("org_a", "Alpha", "org:member", false),
            ("org_b", "beta", "org:admin", true),
            ("org_gone", "org_gone", "org:member", false),
            ("org_t1", "Twin", "org:member", false),
            ("org_t2", "twin", "org:member", false)
        ]
    );
    assert_eq!(shown, 5 * 4 + 1 + 1, "user_deleted's and user_2's memberships are listed too");
    assert!(Member::from_request(&parts(auth("user_1", None)))
        .unwrap()
        .statement_scope(&Db::new(app.pool().clone(), Dialect::Citus))
        .is_none());
}

/// A role that may not call one of the one-statement scopes' functions (a hardened database
/// that revoked PUBLIC's `EXECUTE`, migrated without granting the runtime role) is found out at
/// startup: every read then takes a scoped transaction, rather than every page failing.
#[tokio::test]
async fn a_role_that_may_not_call_a_scope_function_reads_in_transactions() {
    use crate::helpers::migrated_database;
    for function in [
        None,
        Some("public.member_workspace_shell(text, text)"),
        Some("public.tenant_projects_page(text, text, text, boolean, boolean, text, uuid, bigint)"),
    ] {
        let (db, admin) = migrated_database().await;
        if let Some(function) = function {
            let revoke = format!("REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC, {}", pg_harness::APP_ROLE);
            sqlx::query(&revoke).execute(&admin).await.unwrap();
        }
        let app = Db::detect(sqlx::PgPool::connect(&db.app_url).await.unwrap()).await.unwrap();
        assert_eq!(app.scopes_statements(), function.is_none(), "{function:?} revoked");
    }
}
