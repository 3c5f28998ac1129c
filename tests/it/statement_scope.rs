//! A request's only read as one statement that enters the tenant scope itself
//! (`Tenant::statement_scope`, `tenant_projects_page`; plain Postgres only): what it shows and
//! refuses, what it leaves on its connection, and that it reads the same pages as the scoped
//! transaction's query it writes out again.

use crate::scope::{auth, parts, seeded, settings};
use tenantry::server::db::{Db, Dialect};
use tenantry::server::tenant::Tenant;

/// A request's only read as one statement (`Tenant::statement_scope`, `tenant_projects_page`):
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
