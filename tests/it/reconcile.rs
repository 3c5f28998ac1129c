//! `tenantry sync` logic against a local stub of the Backend API: a deliberately damaged mirror
//! is repaired, and a second run finds nothing to do.

use crate::helpers::spawn_app;
use crate::webhooks::{deliver, event, membership, org, snapshot, user};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone)]
struct Stub {
    users: Arc<Vec<Value>>,
    orgs: Arc<Vec<Value>>,
    members: Arc<HashMap<String, Vec<Value>>>,
    /// Optional pause in the middle of a sync (before the first organizations page): the stub
    /// says it has paused, and answers once told to go on.
    pause: Option<Arc<Pause>>,
}

struct Pause {
    paused: tokio::sync::Notify,
    resume: tokio::sync::Notify,
    once: std::sync::Once,
}

fn window<'a>(all: &'a [Value], q: &HashMap<String, String>) -> Vec<&'a Value> {
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(10);
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    all.iter().skip(offset).take(limit).collect()
}

/// Organizations and memberships: `{data, total_count}`.
fn page(all: &[Value], q: &HashMap<String, String>) -> Json<Value> {
    Json(json!({"data": window(all, q), "total_count": all.len()}))
}

fn authorized(h: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer sk_test_stub") {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": [{"code": "authentication_invalid", "message": "Unauthorized"}]})),
        ))
    }
}

async fn start_stub(stub: Stub) -> String {
    let app = Router::new()
        .route(
            "/v1/users",
            get(|State(s): State<Stub>, h: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                // Clerk's `GetUserList` answers a bare array (the total is `/users/count`'s).
                authorized(&h).map(|_| Json(json!(window(&s.users, &q))))
            }),
        )
        .route(
            "/v1/organizations",
            get(|State(s): State<Stub>, h: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                if let Some(p) = &s.pause {
                    let mut first = false;
                    p.once.call_once(|| first = true);
                    if first {
                        p.paused.notify_one();
                        p.resume.notified().await;
                    }
                }
                authorized(&h).map(|_| page(&s.orgs, &q))
            }),
        )
        .route(
            "/v1/organizations/{id}/memberships",
            get(
                |State(s): State<Stub>,
                 h: HeaderMap,
                 Path(id): Path<String>,
                 Query(q): Query<HashMap<String, String>>| async move {
                    authorized(&h).map(|_| page(s.members.get(&id).map(|v| v.as_slice()).unwrap_or(&[]), &q))
                },
            ),
        )
        .with_state(stub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn sync_repairs_a_damaged_mirror() {
    // Clerk's truth: 150 users (more than one page), 2 orgs, 3 memberships.
    let users: Vec<Value> = (0..150)
        .map(|i| user(&format!("user_{i:03}"), Some(&format!("u{i}@example.com")), &format!("U{i}"), 10))
        .collect();
    let orgs = vec![org("org_a", "Acme", "acme", 10), org("org_b", "Globex", "globex", 10)];
    let members = HashMap::from([
        (
            "org_a".to_string(),
            vec![
                membership("orgmem_1", "org_a", "user_000", "org:admin", 10),
                membership("orgmem_2", "org_a", "user_001", "org:member", 10),
            ],
        ),
        ("org_b".to_string(), vec![membership("orgmem_3", "org_b", "user_001", "org:admin", 10)]),
    ]);
    let stub_url = start_stub(Stub {
        users: Arc::new(users.clone()),
        orgs: Arc::new(orgs.clone()),
        members: Arc::new(members.clone()),
        pause: None,
    })
    .await;

    // The expected state: the same truth delivered by webhooks into a clean mirror.
    let clean = spawn_app().await;
    let mut n = 0;
    let mut send = |kind: &'static str, data: Value| {
        n += 1;
        (format!("msg_{n}"), event(kind, data))
    };
    let mut deliveries = Vec::new();
    deliveries.extend(users.iter().map(|u| send("user.created", u.clone())));
    deliveries.extend(orgs.iter().map(|o| send("organization.created", o.clone())));
    deliveries.extend(members.values().flatten().map(|m| send("organizationMembership.created", m.clone())));
    for (id, body) in &deliveries {
        assert_eq!(deliver(&clean, id, body).await.0, 200);
    }
    let expected = snapshot(&clean).await;

    // A damaged mirror: missed events, a wrong name, a ghost user, a ghost membership, a false tombstone.
    let damaged = spawn_app().await;
    for (id, body) in deliveries.iter().step_by(3) {
        deliver(&damaged, id, body).await;
    }
    let admin = &damaged.admin;
    for stmt in [
        "UPDATE users SET name = 'Wrong' WHERE clerk_id = 'user_000'",
        "INSERT INTO users (clerk_id, email) VALUES ('user_ghost', 'ghost@example.com')",
        "INSERT INTO org_memberships (org_id, user_clerk_id, clerk_id, role) VALUES ('org_b', 'user_000', 'orgmem_x', 'org:admin')",
        "UPDATE users SET deleted_at = now() WHERE clerk_id = 'user_003'",
    ] {
        sqlx::query(stmt).execute(admin).await.unwrap();
    }
    assert_ne!(snapshot(&damaged).await, expected);

    let pool = sqlx::PgPool::connect(&damaged.db.app_url).await.unwrap(); // the runtime role
    let api = clerk::BackendApi::new(&stub_url, clerk::SecretKey::parse("sk_test_stub").unwrap());
    let report = tenantry::server::reconcile::reconcile(&pool, &api).await.unwrap();
    assert!(report.changes.contains(&"user user_000: updated".to_string()), "{:?}", report.changes);
    assert!(report.changes.contains(&"user user_ghost: deleted".to_string()));
    assert!(report.changes.contains(&"membership user_000 in org_b: deleted".to_string()));

    // Ghost rows become tombstones; compare live state plus keys.
    let mut repaired = snapshot(&damaged).await;
    repaired["users"].as_array_mut().unwrap().retain(|u| u[0] != "user_ghost");
    repaired["members"].as_array_mut().unwrap().retain(|m| !(m[0] == "org_b" && m[1] == "user_000"));
    assert_eq!(repaired, expected);
    let again = tenantry::server::reconcile::reconcile(&pool, &api).await.unwrap();
    assert_eq!(again.changes, Vec::<String>::new(), "a repaired mirror needs nothing");

    // A wrong secret key is a clear error, and changes nothing.
    let bad = clerk::BackendApi::new(&stub_url, clerk::SecretKey::parse("sk_test_wrong").unwrap());
    let err = tenantry::server::reconcile::reconcile(&pool, &bad).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
}

/// Webhooks keep arriving while a sync reads its snapshot: what they wrote after the snapshot
/// was taken (a deletion, a newer update, a new user) is not undone by the older snapshot.
#[tokio::test]
async fn sync_never_undoes_what_webhooks_wrote_during_it() {
    let users =
        vec![user("user_1", Some("one@example.com"), "One", 10), user("user_2", Some("two@example.com"), "Two", 10)];
    let orgs = vec![org("org_a", "Acme", "acme", 10)];
    let members =
        HashMap::from([("org_a".to_string(), vec![membership("orgmem_1", "org_a", "user_1", "org:admin", 10)])]);
    let pause = Arc::new(Pause {
        paused: tokio::sync::Notify::new(),
        resume: tokio::sync::Notify::new(),
        once: std::sync::Once::new(),
    });
    let stub_url = start_stub(Stub {
        users: Arc::new(users.clone()),
        orgs: Arc::new(orgs.clone()),
        members: Arc::new(members.clone()),
        pause: Some(Arc::clone(&pause)),
    })
    .await;
    let app = spawn_app().await;
    let mut n = 0;
    let mut send = |kind: &'static str, data: Value| {
        n += 1;
        (format!("msg_{n}"), event(kind, data))
    };
    let mut initial: Vec<(String, Vec<u8>)> = users.iter().map(|u| send("user.created", u.clone())).collect();
    initial.push(send("organization.created", orgs[0].clone()));
    initial.push(send("organizationMembership.created", members["org_a"][0].clone()));
    for (id, body) in &initial {
        assert_eq!(deliver(&app, id, body).await.0, 200);
    }

    let pool = sqlx::PgPool::connect(&app.db.app_url).await.unwrap();
    let api = clerk::BackendApi::new(&stub_url, clerk::SecretKey::parse("sk_test_stub").unwrap());
    let sync = tokio::spawn(async move { tenantry::server::reconcile::reconcile(&pool, &api).await });
    // The users page is read; now, before the sync writes anything, three webhooks land.
    pause.paused.notified().await;
    for (id, body) in [
        send("user.deleted", json!({"object": "user", "id": "user_2", "deleted": true})),
        send("user.updated", user("user_1", Some("one@example.com"), "Renamed", 20)),
        send("user.created", user("user_3", Some("three@example.com"), "Three", 15)),
    ] {
        assert_eq!(deliver(&app, &id, &body).await.0, 200);
    }
    pause.resume.notify_one();
    let report = sync.await.unwrap().unwrap();
    assert_eq!(report.changes, Vec::<String>::new(), "nothing in the older snapshot is news");

    let rows: Vec<(String, Option<String>, bool)> =
        sqlx::query_as("SELECT clerk_id, name, deleted_at IS NOT NULL FROM users ORDER BY clerk_id")
            .fetch_all(&app.admin)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            ("user_1".into(), Some("Renamed Tester".into()), false),
            ("user_2".into(), None, true),
            ("user_3".into(), Some("Three Tester".into()), false),
        ],
        "the deletion, the newer update and the new user all stand"
    );
}

/// `tenantry sync` against the emulator, which answers in Clerk's published shapes (users as a
/// bare array, organizations and memberships as `{data, total_count}`): an empty mirror is
/// filled from its seed, and a second run finds nothing to do.
#[tokio::test]
async fn sync_against_the_emulator_fills_an_empty_mirror() {
    use clerk_emulator::state::{Seed, State};
    let (db, _admin) = crate::helpers::migrated_database().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seed: Seed = serde_json::from_str(include_str!("../../crates/clerk-emulator/seed.json")).unwrap();
    let config = clerk_emulator::Config {
        public_url: url.clone(),
        instance_type: clerk::InstanceType::Production,
        secret_key: clerk::SecretKey::parse("sk_test_sync").unwrap(),
        webhook_secret: crate::helpers::WEBHOOK_SECRET.into(),
        webhook_endpoints: vec![],
        allowed_origins: vec![],
        token_lifetime_secs: 60,
        claims_v1: false,
        roles: clerk_emulator::Roles::default(),
        jwt_templates: Default::default(),
        webhook_duplicate: false,
        webhook_reorder: false,
        state_file: None,
    };
    let emu = clerk_emulator::Emulator::new(config, State::from_seed(&seed), None).unwrap();
    tokio::spawn(clerk_emulator::serve(emu, listener));

    let pool = sqlx::PgPool::connect(&db.app_url).await.unwrap();
    let api = clerk::BackendApi::new(&url, clerk::SecretKey::parse("sk_test_sync").unwrap());
    let report = tenantry::server::reconcile::reconcile(&pool, &api).await.unwrap();
    let created =
        |kind: &str| report.changes.iter().filter(|c| c.starts_with(kind) && c.ends_with(": created")).count();
    assert_eq!((created("user "), created("organization "), created("membership ")), (4, 2, 5), "{:?}", report.changes);
    assert!(report.changes.contains(&"membership user_carol in org_globex: created".to_string()));
    let again = tenantry::server::reconcile::reconcile(&pool, &api).await.unwrap();
    assert_eq!(again.changes, Vec::<String>::new());
}
