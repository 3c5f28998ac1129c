//! Distribution readiness (Citus: tenant tables distributed by `org_id` and co-located, the rest
//! reference tables; ARCHITECTURE.md): read from pg_catalog after the migrations, every table is
//! either a known reference table or a tenant table whose primary key leads with `org_id`, under
//! FORCE ROW LEVEL SECURITY, with no foreign key that could cross tenants.

use crate::helpers::migrated_database;
use sqlx::PgPool;

/// Tables that are not tenant data (reference tables in a distributed Postgres).
const REFERENCE: &[&str] = &["users", "organizations", "webhook_deliveries", "clerk_instance", "org_creations"];
/// Tables distributed by `org_id`.
const TENANT: &[&str] = &["org_memberships", "projects", "audit_log"];

/// Every problem the catalog shows, one line each.
async fn problems(admin: &PgPool) -> Vec<String> {
    let mut out = vec![];
    let tables: Vec<(String, bool, bool, Option<String>)> = sqlx::query_as(
        r#"SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                  (SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE i.indrelid = c.oid AND i.indisprimary)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations'
            ORDER BY 1"#,
    )
    .fetch_all(admin)
    .await
    .unwrap();
    for (table, rls, force, pk_first) in &tables {
        if REFERENCE.contains(&table.as_str()) {
            continue;
        }
        if !TENANT.contains(&table.as_str()) {
            out.push(format!("{table}: neither a tenant table nor a known reference table"));
        }
        if pk_first.as_deref() != Some("org_id") {
            out.push(format!("{table}: primary key does not lead with org_id ({pk_first:?})"));
        }
        if !(*rls && *force) {
            out.push(format!("{table}: row level security not forced"));
        }
    }
    for t in TENANT {
        if !tables.iter().any(|(name, ..)| name == t) {
            out.push(format!("{t}: missing"));
        }
    }
    // A foreign key from a tenant table must pair org_id with org_id (same tenant); one from a
    // reference table to a tenant table, or one ignoring org_id, crosses tenants.
    let fks: Vec<(String, String, String, bool)> = sqlx::query_as(
        r#"SELECT con.conname::text, src.relname::text, dst.relname::text,
                  EXISTS (SELECT 1 FROM unnest(con.conkey, con.confkey) AS k(s, d)
                           JOIN pg_attribute sa ON sa.attrelid = con.conrelid AND sa.attnum = k.s
                           JOIN pg_attribute da ON da.attrelid = con.confrelid AND da.attnum = k.d
                          WHERE sa.attname = 'org_id' AND da.attname = 'org_id')
             FROM pg_constraint con
             JOIN pg_class src ON src.oid = con.conrelid JOIN pg_namespace n ON n.oid = src.relnamespace
             JOIN pg_class dst ON dst.oid = con.confrelid
            WHERE con.contype = 'f' AND n.nspname = 'public'"#,
    )
    .fetch_all(admin)
    .await
    .unwrap();
    for (name, src, dst, same_org) in fks {
        let (src_tenant, dst_tenant) = (!REFERENCE.contains(&src.as_str()), !REFERENCE.contains(&dst.as_str()));
        if (src_tenant || dst_tenant) && !(src_tenant && dst_tenant && same_org) {
            out.push(format!("{src} → {dst}: foreign key {name} crosses tenants"));
        }
    }
    out
}

#[tokio::test]
async fn every_table_is_distribution_ready() {
    let (_db, admin) = migrated_database().await;
    assert_eq!(problems(&admin).await, Vec::<String>::new());

    // The check sees each kind of problem (the schema owner adds bad tables, then drops them).
    let mut tx = admin.begin().await.unwrap();
    for ddl in [
        "CREATE TABLE widgets (id uuid PRIMARY KEY, org_id text NOT NULL)",
        "CREATE TABLE gadgets (org_id text, id int, PRIMARY KEY (org_id, id))",
        "ALTER TABLE gadgets ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE projects ADD COLUMN owner_org text",
        "ALTER TABLE projects ADD CONSTRAINT projects_owner FOREIGN KEY (owner_org, id) REFERENCES projects (org_id, id)",
        "ALTER TABLE users ADD COLUMN pinned_org text, ADD COLUMN pinned uuid",
        "ALTER TABLE users ADD CONSTRAINT users_pinned FOREIGN KEY (pinned_org, pinned) REFERENCES projects (org_id, id)",
    ] {
        sqlx::query(ddl).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let seen = problems(&admin).await;
    let expect = [
        "widgets: neither a tenant table",
        "widgets: primary key does not lead with org_id",
        "widgets: row level security not forced",
        "gadgets: neither a tenant table",
        "gadgets: row level security not forced",
        "audit_log: row level security not forced",
        "projects → projects: foreign key projects_owner crosses tenants",
        "users → projects: foreign key users_pinned crosses tenants",
    ];
    for e in expect {
        assert!(seen.iter().any(|p| p.starts_with(e)), "expected {e:?} in {seen:#?}");
    }
    assert_eq!(seen.len(), expect.len(), "{seen:#?}");
}
