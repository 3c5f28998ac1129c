//! A deleted organization's data: hidden and frozen at once, restorable within the retention
//! period, and removed only by an explicit purge after it.

use crate::helpers::{spawn_app, TestApp};
use crate::webhooks::{deliver, event, membership, org};
use serde_json::{json, Value};
use tenantry::server::retention::{self, Restored};

fn admin_token(app: &TestApp) -> String {
    app.token("user_admin", json!({"v": 2, "o": {"id": "org_1", "slg": "acme", "rol": "admin"}}))
}

async fn call(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r =
        app.http.post(app.url(&format!("/api/{path}"))).bearer_auth(admin_token(app)).form(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.admin).await.unwrap()
}

/// org_1 with a member and a project, then deleted in Clerk.
async fn deleted_org_with_data(app: &TestApp) {
    deliver(app, "msg_org", &event("organization.created", org("org_1", "Acme", "acme", 10))).await;
    deliver(
        app,
        "msg_mem",
        &event("organizationMembership.created", membership("orgmem_1", "org_1", "user_admin", "org:admin", 10)),
    )
    .await;
    let (s, body) = call(app, "projects/create", &[("name", "Rocket"), ("description", "")]).await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = deliver(
        app,
        "msg_del",
        &event("organization.deleted", json!({"object": "organization", "id": "org_1", "deleted": true})),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_deleted_organization_is_hidden_and_frozen_but_kept() {
    let app = spawn_app().await;
    deleted_org_with_data(&app).await;
    // Its session token lives on for a minute: reads and writes through it are refused.
    let (s, body) = call(&app, "projects/list", &[("search", ""), ("status", "all")]).await;
    assert_eq!((s, body["code"].as_str()), (410, Some("organization_deleted")), "{body}");
    // The deletion is the answer before any complaint about the input, as ever.
    let long = "x".repeat(101);
    let inputs: [&[(&str, &str)]; 3] = [
        &[("search", &long), ("status", "all")],
        &[("search", "a\0b"), ("status", "all")],
        &[("search", ""), ("status", "all"), ("after", "not-a-uuid")],
    ];
    for form in inputs {
        let (s, body) = call(&app, "projects/list", form).await;
        assert_eq!((s, body["code"].as_str()), (410, Some("organization_deleted")), "{form:?}: {body}");
    }
    let r = app.http.get(app.url("/api/v1/projects?search=a%00b")).bearer_auth(admin_token(&app)).send().await.unwrap();
    assert_eq!(r.status(), 410, "REST, a search with NUL");
    let (s, body) = call(&app, "projects/create", &[("name", "After"), ("description", "")]).await;
    assert_eq!((s, body["code"].as_str()), (410, Some("organization_deleted")), "{body}");
    let (s, _) = call(&app, "audit", &[("page", "0")]).await;
    assert_eq!(s, 410);
    // Nothing was destroyed, and nothing was written after the deletion.
    assert_eq!(count(&app, "SELECT count(*) FROM projects WHERE org_id = 'org_1'").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM projects WHERE name = 'After'").await, 0);
}

#[tokio::test]
async fn a_restored_organization_gets_its_data_back() {
    let app = spawn_app().await;
    deleted_org_with_data(&app).await;
    assert_eq!(count(&app, "SELECT count(*) FROM org_memberships WHERE deleted_at IS NULL").await, 0);
    let pool = sqlx::PgPool::connect(&app.db.app_url).await.unwrap();
    assert_eq!(retention::restore(&pool, "org_1", "test").await.unwrap(), Restored::Restored { memberships: 1 });
    assert_eq!(retention::restore(&pool, "org_1", "test").await.unwrap(), Restored::NotDeleted);
    assert_eq!(retention::restore(&pool, "org_nope", "test").await.unwrap(), Restored::Unknown);
    let (s, body) = call(&app, "projects/list", &[("search", ""), ("status", "all")]).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect::<Vec<_>>(), ["Rocket"]);
    assert_eq!(count(&app, "SELECT count(*) FROM org_memberships WHERE deleted_at IS NULL").await, 1);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE org_id = 'org_1' ORDER BY id")
        .fetch_all(&app.admin)
        .await
        .unwrap();
    assert_eq!(actions, ["project.created", "organization.deleted", "organization.restored"]);
}

#[tokio::test]
async fn purge_removes_only_after_the_retention_period_and_only_when_asked() {
    let app = spawn_app().await;
    deleted_org_with_data(&app).await;
    // Another organization, alive, with data that must survive any purge.
    sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ('org_2', 'Keep', 'u')")
        .execute(&app.admin)
        .await
        .unwrap();

    let within = retention::purge(&app.admin, 30, true).await.unwrap();
    assert!(within.is_empty(), "deleted a moment ago: inside the retention period");
    let dry = retention::purge(&app.admin, 0, false).await.unwrap();
    assert_eq!(dry.len(), 1);
    assert_eq!((dry[0].org_id.as_str(), dry[0].projects, dry[0].memberships), ("org_1", 1, 1));
    assert_eq!(count(&app, "SELECT count(*) FROM projects").await, 2, "a dry run removes nothing");

    let done = retention::purge(&app.admin, 0, true).await.unwrap();
    assert_eq!(done, dry, "the plan is what happens");
    assert_eq!(count(&app, "SELECT count(*) FROM projects WHERE org_id = 'org_1'").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM audit_log WHERE org_id = 'org_1'").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM projects WHERE org_id = 'org_2'").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM organizations WHERE id = 'org_1' AND purged_at IS NOT NULL").await, 1);
    assert!(retention::purge(&app.admin, 0, true).await.unwrap().is_empty(), "purged once");
    let pool = sqlx::PgPool::connect(&app.db.app_url).await.unwrap();
    assert_eq!(retention::restore(&pool, "org_1", "test").await.unwrap(), Restored::Purged);
}

#[test]
fn purge_needs_the_schema_owner() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .arg("purge")
        .current_dir(std::env::temp_dir())
        .env_remove("DATABASE_ADMIN_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("config error: DATABASE_ADMIN_URL is missing"));
}

/// A member removed in Clerk keeps a valid token for up to a minute; once the mirror records the
/// removal, that token no longer reaches the organization's data (a membership the mirror does
/// not know yet is not refused: absence is not evidence). A new membership restores access.
#[tokio::test]
async fn a_removed_member_loses_access_before_the_token_expires() {
    let app = spawn_app().await;
    deliver(&app, "msg_org", &event("organization.created", org("org_1", "Acme", "acme", 10))).await;
    let bob = app.token("user_bob", json!({"v": 2, "o": {"id": "org_1", "rol": "member"}}));
    let list = |tok: String| {
        let app = &app;
        async move {
            let r = app
                .http
                .post(app.url("/api/projects/list"))
                .bearer_auth(tok)
                .form(&[("search", ""), ("status", "all")])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(list(bob.clone()).await.0, 200, "not in the mirror yet: not refused");
    deliver(
        &app,
        "msg_m1",
        &event("organizationMembership.created", membership("orgmem_1", "org_1", "user_bob", "org:member", 20)),
    )
    .await;
    assert_eq!(list(bob.clone()).await.0, 200);
    deliver(
        &app,
        "msg_m2",
        &event("organizationMembership.deleted", membership("orgmem_1", "org_1", "user_bob", "org:member", 30)),
    )
    .await;
    let (s, body) = list(bob.clone()).await;
    assert_eq!((s, body["code"].as_str()), (403, Some("membership_ended")), "{body}");
    // Invited again: a new membership, and the same token works again.
    deliver(
        &app,
        "msg_m3",
        &event("organizationMembership.created", membership("orgmem_2", "org_1", "user_bob", "org:member", 40)),
    )
    .await;
    assert_eq!(list(bob).await.0, 200);
}
