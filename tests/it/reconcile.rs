//! `tenantry sync` against a local stub of the Backend API (whose truth each test changes) and
//! against the emulator: a damaged mirror is repaired; nothing is removed on a listing's word
//! alone (only Clerk's 404 for that very row counts); a dry run writes nothing; a mass removal
//! and another Clerk instance are refused with the database untouched.
//!
//! Over 500 lines on purpose: every rule of `tenantry sync` against the same stub and emulator fixtures, so the whole matrix is read in one place.

use crate::helpers::{env_for, spawn_app, TestApp, AZP, WEBHOOK_SECRET};
use crate::webhooks::{deliver, event, membership, org, snapshot, user};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use clerk::bapi::RetryPolicy;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tenantry::server::reconcile::{self, Options, ReconcileError, Report};

const SECRET: &str = "sk_test_stub";
const APPLY: Options = Options { apply: true, allow_mass_removal: false };
const DRY_RUN: Options = Options { apply: false, allow_mass_removal: false };

/// What the stub Clerk holds.
#[derive(Default)]
struct Truth {
    instance: String,
    users: Vec<Value>,
    orgs: Vec<Value>,
    /// By organization id.
    members: HashMap<String, Vec<Value>>,
    /// Present in Clerk but left out of the listings (as a shifted page leaves a row out).
    unlisted: HashSet<String>,
    /// `GetOrganization`/`GetUser` of these ids answer this status.
    status: HashMap<String, u16>,
    /// Deleted in Clerk right after the first page of its listing was served.
    delete_after_first_page: Vec<String>,
}

impl Truth {
    fn new(instance: &str, users: Vec<Value>, orgs: Vec<Value>, members: Vec<Value>) -> Truth {
        let mut by_org: HashMap<String, Vec<Value>> = HashMap::new();
        for m in members {
            by_org.entry(m["organization"]["id"].as_str().unwrap().to_string()).or_default().push(m);
        }
        Truth { instance: instance.into(), users, orgs, members: by_org, ..Default::default() }
    }
    /// Deleted in Clerk: gone from everything, `GetOrganization`/`GetUser` answer 404.
    fn delete(&mut self, id: &str) {
        self.users.retain(|u| u["id"] != id);
        self.orgs.retain(|o| o["id"] != id);
        self.members.remove(id);
        for list in self.members.values_mut() {
            list.retain(|m| m["public_user_data"]["user_id"] != id);
        }
    }
    fn listed<'a>(&self, all: &'a [Value]) -> Vec<&'a Value> {
        all.iter().filter(|v| !self.unlisted.contains(v["id"].as_str().unwrap())).collect()
    }
}

#[derive(Clone)]
struct Stub {
    truth: Arc<Mutex<Truth>>,
    /// Optional pause in the middle of a sync (before the first organizations page): the stub
    /// says it has paused, and answers once told to go on.
    pause: Option<Arc<Pause>>,
}

struct Pause {
    paused: tokio::sync::Notify,
    resume: tokio::sync::Notify,
    once: std::sync::Once,
}

type Answer = Result<Json<Value>, (StatusCode, Json<Value>)>;

fn window(all: Vec<&Value>, q: &HashMap<String, String>) -> Vec<Value> {
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(10);
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    all.into_iter().skip(offset).take(limit).cloned().collect()
}

/// Organizations and memberships: `{data, total_count}`.
fn page(all: Vec<&Value>, q: &HashMap<String, String>) -> Json<Value> {
    let total = all.len();
    Json(json!({"data": window(all, q), "total_count": total}))
}

fn clerk_error(status: u16, code: &str) -> (StatusCode, Json<Value>) {
    (StatusCode::from_u16(status).unwrap(), Json(json!({"errors": [{"code": code, "message": code}]})))
}

fn authorized(h: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    if h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SECRET}")) {
        Ok(())
    } else {
        Err(clerk_error(401, "authentication_invalid"))
    }
}

/// `GetOrganization`/`GetUser`: the status set for the id, else the object or Clerk's 404.
fn get_one(t: &Truth, all: &[Value], id: &str) -> Answer {
    if let Some(s) = t.status.get(id) {
        return Err(clerk_error(*s, "internal_clerk_error"));
    }
    all.iter().find(|v| v["id"] == id).map(|v| Json(v.clone())).ok_or_else(|| clerk_error(404, "resource_not_found"))
}

/// After the first page of a listing: what the test deletes "meanwhile".
fn after_page(t: &mut Truth, q: &HashMap<String, String>, kind: &str) {
    if q.get("offset").map(String::as_str).unwrap_or("0") == "0" {
        let ids: Vec<String> = t.delete_after_first_page.iter().filter(|id| id.starts_with(kind)).cloned().collect();
        t.delete_after_first_page.retain(|id| !id.starts_with(kind));
        for id in ids {
            t.delete(&id);
        }
    }
}

type Q = Query<HashMap<String, String>>;

async fn start_stub(truth: Truth, pause: Option<Arc<Pause>>) -> (String, Arc<Mutex<Truth>>) {
    let truth = Arc::new(Mutex::new(truth));
    let stub = Stub { truth: Arc::clone(&truth), pause };
    let app = Router::new()
        .route(
            "/v1/instance",
            get(|State(s): State<Stub>, h: HeaderMap| async move {
                authorized(&h)?;
                let id = s.truth.lock().unwrap().instance.clone();
                Ok::<_, (StatusCode, Json<Value>)>(Json(
                    json!({"object": "instance", "id": id, "environment_type": "development", "allowed_origins": null, "workspace_id": null}),
                ))
            }),
        )
        .route(
            "/v1/users",
            get(|State(s): State<Stub>, h: HeaderMap, Query(q): Q| async move {
                authorized(&h)?;
                // Clerk's `GetUserList` answers a bare array (the total is `/users/count`'s).
                let mut t = s.truth.lock().unwrap();
                let body = json!(window(t.listed(&t.users), &q));
                after_page(&mut t, &q, "user_");
                Ok::<_, (StatusCode, Json<Value>)>(Json(body))
            }),
        )
        .route(
            "/v1/users/count",
            get(|State(s): State<Stub>, h: HeaderMap| async move {
                authorized(&h)?;
                let t = s.truth.lock().unwrap();
                Ok::<_, (StatusCode, Json<Value>)>(Json(
                    json!({"object": "total_count", "total_count": t.listed(&t.users).len()}),
                ))
            }),
        )
        .route(
            "/v1/users/{id}",
            get(|State(s): State<Stub>, h: HeaderMap, Path(id): Path<String>| async move {
                authorized(&h)?;
                let t = s.truth.lock().unwrap();
                get_one(&t, &t.users, &id)
            }),
        )
        .route(
            "/v1/users/{id}/organization_memberships",
            get(|State(s): State<Stub>, h: HeaderMap, Path(id): Path<String>, Query(q): Q| async move {
                authorized(&h)?;
                let t = s.truth.lock().unwrap();
                let mine: Vec<&Value> =
                    t.members.values().flatten().filter(|m| m["public_user_data"]["user_id"] == id).collect();
                Ok::<_, (StatusCode, Json<Value>)>(page(mine, &q))
            }),
        )
        .route(
            "/v1/organizations",
            get(|State(s): State<Stub>, h: HeaderMap, Query(q): Q| async move {
                if let Some(p) = &s.pause {
                    let mut first = false;
                    p.once.call_once(|| first = true);
                    if first {
                        p.paused.notify_one();
                        p.resume.notified().await;
                    }
                }
                authorized(&h)?;
                let mut t = s.truth.lock().unwrap();
                let body = page(t.listed(&t.orgs), &q);
                after_page(&mut t, &q, "org_");
                Ok::<_, (StatusCode, Json<Value>)>(body)
            }),
        )
        .route(
            "/v1/organizations/{id}",
            get(|State(s): State<Stub>, h: HeaderMap, Path(id): Path<String>| async move {
                authorized(&h)?;
                let t = s.truth.lock().unwrap();
                get_one(&t, &t.orgs, &id)
            }),
        )
        .route(
            "/v1/organizations/{id}/memberships",
            get(|State(s): State<Stub>, h: HeaderMap, Path(id): Path<String>, Query(q): Q| async move {
                authorized(&h)?;
                let t = s.truth.lock().unwrap();
                Ok::<_, (StatusCode, Json<Value>)>(page(t.members.get(&id).map(|v| v.iter().collect()).unwrap_or_default(), &q))
            }),
        )
        .with_state(stub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, truth)
}

/// A client of the stub; a 5xx is answered at once (no retries to wait for).
fn api(url: &str) -> clerk::BackendApi {
    clerk::BackendApi::new(url, clerk::SecretKey::parse(SECRET).unwrap()).with_retry(RetryPolicy::NONE)
}

async fn app_pool(app: &TestApp) -> sqlx::PgPool {
    sqlx::PgPool::connect(&app.db.app_url).await.unwrap() // the runtime role
}

/// Every row of every table the sync could touch, as the schema owner sees them (timestamps
/// included): equal dumps mean nothing was written.
async fn dump(app: &TestApp) -> Value {
    let mut out = serde_json::Map::new();
    for table in ["users", "organizations", "org_memberships", "projects", "audit_log", "clerk_instance"] {
        let rows: Value = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t"
        ))
        .fetch_one(&app.admin)
        .await
        .unwrap();
        out.insert(table.into(), rows);
    }
    Value::Object(out)
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.admin).await.unwrap()
}

/// Users `user_0..`, organizations `org_0..` and each user a member of the organization of the
/// same number (and user_0 of every one).
fn world(instance: &str, n_orgs: usize, n_users: usize) -> Truth {
    let users = (0..n_users).map(|i| user(&format!("user_{i}"), Some(&format!("u{i}@example.com")), "U", 10)).collect();
    let orgs: Vec<Value> =
        (0..n_orgs).map(|i| org(&format!("org_{i}"), &format!("Org {i}"), &format!("org-{i}"), 10)).collect();
    let mut members = Vec::new();
    for i in 0..n_orgs {
        members.push(membership(&format!("orgmem_0_{i}"), &format!("org_{i}"), "user_0", "org:admin", 10));
        if i > 0 && i < n_users {
            members.push(membership(
                &format!("orgmem_{i}_{i}"),
                &format!("org_{i}"),
                &format!("user_{i}"),
                "org:member",
                10,
            ));
        }
    }
    Truth::new(instance, users, orgs, members)
}

/// A mirror filled from `truth` by a first applied sync, and the stub serving it.
async fn synced(truth: Truth) -> (TestApp, sqlx::PgPool, String, Arc<Mutex<Truth>>) {
    let app = spawn_app().await;
    let pool = app_pool(&app).await;
    let (url, truth) = start_stub(truth, None).await;
    let first = reconcile::reconcile(&pool, &api(&url), APPLY).await.unwrap();
    assert!(first.applied && first.instance_recorded && !first.changes.is_empty());
    (app, pool, url, truth)
}

async fn add_project(app: &TestApp, org_id: &str) {
    sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ($1, 'Keep me', 'user_0')")
        .bind(org_id)
        .execute(&app.admin)
        .await
        .unwrap();
}

async fn live(app: &TestApp, org_id: &str) -> bool {
    scalar(app, &format!("SELECT count(*) FROM organizations WHERE id = '{org_id}' AND deleted_at IS NULL")).await == 1
}

#[tokio::test]
async fn sync_repairs_a_damaged_mirror() {
    // Clerk's truth: 150 users (more than one page), 2 orgs, 3 memberships.
    let users: Vec<Value> = (0..150)
        .map(|i| user(&format!("user_{i:03}"), Some(&format!("u{i}@example.com")), &format!("U{i}"), 10))
        .collect();
    let orgs = vec![org("org_a", "Acme", "acme", 10), org("org_b", "Globex", "globex", 10)];
    let members = vec![
        membership("orgmem_1", "org_a", "user_000", "org:admin", 10),
        membership("orgmem_2", "org_a", "user_001", "org:member", 10),
        membership("orgmem_3", "org_b", "user_001", "org:admin", 10),
    ];
    let (stub_url, _) = start_stub(Truth::new("ins_a", users.clone(), orgs.clone(), members.clone()), None).await;

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
    deliveries.extend(members.iter().map(|m| send("organizationMembership.created", m.clone())));
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

    let pool = app_pool(&damaged).await;
    let api = api(&stub_url);
    let report = reconcile::reconcile(&pool, &api, APPLY).await.unwrap();
    assert!(report.applied);
    assert!(report.changes.contains(&"user user_000: updated".to_string()), "{:?}", report.changes);
    assert!(report.changes.contains(&"user user_ghost: deleted".to_string()), "GetUser answered 404");
    assert!(report.changes.contains(&"membership user_000 in org_b: deleted".to_string()), "not in the user's list");
    assert_eq!((report.notes.clone(), report.unconfirmed.clone()), (vec![], vec![]));

    // Ghost rows become tombstones (Clerk never had them): the clean mirror plus exactly those two,
    // compared by key as every tombstone is.
    let mut expected_after = expected.clone();
    expected_after["users"].as_array_mut().unwrap().push(json!(["user_ghost", true, null]));
    expected_after["members"].as_array_mut().unwrap().push(json!(["org_b", "user_000", true, null]));
    let mut repaired = snapshot(&damaged).await;
    for snap in [&mut expected_after, &mut repaired] {
        for kind in ["users", "members"] {
            snap[kind].as_array_mut().unwrap().sort_by_key(|row| row.to_string());
        }
    }
    assert_eq!(repaired, expected_after);
    let again = reconcile::reconcile(&pool, &api, APPLY).await.unwrap();
    assert_eq!(again.changes, Vec::<String>::new(), "a repaired mirror needs nothing");

    // A wrong secret key is a clear error, and changes nothing.
    let before = dump(&damaged).await;
    let bad = clerk::BackendApi::new(&stub_url, clerk::SecretKey::parse("sk_test_wrong").unwrap());
    let err = reconcile::reconcile(&pool, &bad, APPLY).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(dump(&damaged).await, before);
}

/// An organization missing from the listing is only a candidate: kept when `GetOrganization`
/// finds it (and refreshed from its answer), kept and reported when Clerk answers anything but
/// a 404, and tombstoned — its projects kept — only on Clerk's 404.
#[tokio::test]
async fn only_clerks_404_removes_an_organization_missing_from_the_listing() {
    let (app, pool, url, truth) = synced(world("ins_a", 4, 4)).await;
    for o in ["org_1", "org_2", "org_3"] {
        add_project(&app, o).await;
    }
    {
        let mut t = truth.lock().unwrap();
        t.unlisted.insert("org_1".into()); // skipped by the listing, alive
        t.delete("org_2"); // deleted in Clerk: 404
        t.unlisted.insert("org_3".into()); // Clerk failing for it
        t.status.insert("org_3".into(), 503);
    }
    let report = reconcile::reconcile(&pool, &api(&url), APPLY).await.unwrap();

    assert!(live(&app, "org_1").await, "GetOrganization answered 200: {report:?}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("organization org_1: missing from the listing, but GetOrganization found it")),
        "{:?}",
        report.notes
    );
    assert!(live(&app, "org_3").await, "a 503 is not a deletion");
    assert!(report.unconfirmed.iter().any(|u| u.starts_with("organization org_3:") && u.contains("503")), "{report:?}");
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM org_memberships WHERE org_id IN ('org_1', 'org_3') AND deleted_at IS NULL")
            .await,
        4,
        "their memberships stay"
    );

    assert!(!live(&app, "org_2").await, "Clerk's 404: tombstoned");
    assert!(report.changes.iter().any(|c| c.starts_with("organization org_2: deleted")), "{:?}", report.changes);
    assert_eq!(scalar(&app, "SELECT count(*) FROM projects").await, 3, "the deleted organization's project is kept");
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM org_memberships WHERE org_id = 'org_2' AND deleted_at IS NULL").await,
        0,
        "its memberships end"
    );
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM audit_log WHERE org_id = 'org_2' AND action = 'organization.deleted'").await,
        1
    );
    assert_eq!(report.changes.iter().filter(|c| c.contains("deleted")).count(), 1, "{:?}", report.changes);
    let (out, err) = reconcile::render(&report);
    assert!(err.iter().any(|l| l.contains("org_3")), "unconfirmed rows are reported: {err:?}");
    assert!(out.iter().any(|l| l.contains("org_1")), "{out:?}");
}

/// Users and memberships get the same treatment: only a 404 for the user removes them, and a
/// membership missing from its organization's listing ends only when the user's own list does
/// not have it either.
#[tokio::test]
async fn users_and_memberships_missing_from_a_listing_need_clerks_word() {
    let (app, pool, url, truth) = synced(world("ins_a", 3, 8)).await;
    {
        let mut t = truth.lock().unwrap();
        t.unlisted.insert("user_1".into()); // alive
        t.delete("user_7"); // 404
                            // orgmem_2_2 left out of org_2's listing, but still in user_2's own list (which the stub
                            // serves from every entry of `members`, this one included).
        let org_2 = t.members.get_mut("org_2").unwrap();
        let m = org_2.remove(org_2.iter().position(|m| m["id"] == "orgmem_2_2").unwrap());
        t.members.insert("not_listed_under_any_organization".into(), vec![m]);
        // orgmem_0_1 really ended.
        t.members.get_mut("org_1").unwrap().retain(|m| m["id"] != "orgmem_0_1");
    }
    let report = reconcile::reconcile(&pool, &api(&url), APPLY).await.unwrap();
    let user_live = |id: &str| {
        let sql = format!("SELECT count(*) FROM users WHERE clerk_id = '{id}' AND deleted_at IS NULL");
        let app = &app;
        async move { scalar(app, &sql).await == 1 }
    };
    assert!(user_live("user_1").await, "{report:?}");
    assert!(report.notes.iter().any(|n| n.starts_with("user user_1: missing from the listing")), "{report:?}");
    assert!(!user_live("user_7").await);
    assert!(report.changes.contains(&"user user_7: deleted".to_string()), "{:?}", report.changes);
    let member_live = |org: &str, user: &str| {
        let sql = format!(
            "SELECT count(*) FROM org_memberships WHERE org_id = '{org}' AND user_clerk_id = '{user}' AND deleted_at IS NULL"
        );
        let app = &app;
        async move { scalar(app, &sql).await == 1 }
    };
    assert!(member_live("org_2", "user_2").await, "the user's memberships still have it: {report:?}");
    assert!(report.notes.iter().any(|n| n.starts_with("membership user_2 in org_2:")), "{:?}", report.notes);
    assert!(!member_live("org_1", "user_0").await, "gone from both lists");
    assert!(report.changes.contains(&"membership user_0 in org_1: deleted".to_string()), "{:?}", report.changes);
}

/// Offset paging: a deletion in Clerk between two pages shifts the rest of the listing, so the
/// row that moves up to the previous page is never listed. It is alive, and stays so.
#[tokio::test]
async fn a_deletion_between_pages_does_not_remove_the_row_it_skipped() {
    let (app, pool, url, truth) = synced(world("ins_a", 120, 120)).await;
    {
        let mut t = truth.lock().unwrap();
        t.delete_after_first_page = vec!["org_5".into(), "user_5".into()];
    }
    let before_orgs: Vec<String> =
        truth.lock().unwrap().orgs.iter().map(|o| o["id"].as_str().unwrap().to_string()).collect();
    let skipped_org = &before_orgs[100]; // moves to offset 99 once org_5 is gone
    let report = reconcile::reconcile(&pool, &api(&url), APPLY).await.unwrap();

    assert!(live(&app, skipped_org).await, "{report:?}");
    assert!(
        report.notes.iter().any(|n| n.starts_with(&format!("organization {skipped_org}: missing from the listing"))),
        "the skipped row is reported: {:?}",
        report.notes
    );
    assert!(report.notes.iter().any(|n| n.starts_with("organizations: the listing changed")), "{:?}", report.notes);
    assert_eq!(scalar(&app, "SELECT count(*) FROM users WHERE deleted_at IS NOT NULL").await, 0, "{report:?}");
    assert!(
        report.notes.iter().any(|n| n.starts_with("user ") && n.contains("missing from the listing")),
        "{report:?}"
    );
    let removed: Vec<&String> = report.changes.iter().filter(|c| c.contains("deleted")).collect();
    assert!(
        removed.iter().all(|c| c.starts_with("membership ") && c.contains("in org_5:")),
        "nothing live is removed (org_5 and user_5 were listed before they went; only org_5's memberships, gone from every list, end): {removed:?}"
    );
    assert_eq!(scalar(&app, "SELECT count(*) FROM organizations WHERE deleted_at IS NOT NULL").await, 0);
}

/// Without `--apply` the sync prints its plan and writes nothing, not even the instance; the
/// command line shows the same plan, and `--apply` then does it.
#[tokio::test]
async fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let app = spawn_app().await;
    let pool = app_pool(&app).await;
    let (url, _truth) = start_stub(world("ins_a", 3, 3), None).await;
    sqlx::query("INSERT INTO users (clerk_id, email) VALUES ('user_ghost', 'ghost@example.com')")
        .execute(&app.admin)
        .await
        .unwrap();
    let before = dump(&app).await;

    let plan = reconcile::reconcile(&pool, &api(&url), DRY_RUN).await.unwrap();
    assert!(!plan.applied && plan.instance_recorded);
    assert!(plan.changes.contains(&"organization org_1: created".to_string()), "{:?}", plan.changes);
    assert!(plan.changes.contains(&"user user_ghost: deleted".to_string()), "{:?}", plan.changes);
    assert_eq!(dump(&app).await, before, "a dry run writes nothing");

    let run = |args: &'static [&'static str]| {
        let mut env = env_for(&app.db);
        env.insert("CLERK_API_URL".into(), url.clone());
        env.insert("CLERK_SECRET_KEY".into(), SECRET.into());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
                .arg("sync")
                .args(args)
                .current_dir(std::env::temp_dir()) // no .env file here
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("RUST_LOG", "warn")
                .envs(env)
                .output()
                .unwrap()
        })
    };
    let out = run(&[]).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in &plan.changes {
        assert!(stdout.lines().any(|l| l == line), "{line:?} is in the printed plan:\n{stdout}");
    }
    assert!(stdout.contains("sync: Clerk instance ins_a (development), to be recorded"), "{stdout}");
    assert!(stdout.contains("dry run: nothing written; --apply to write them"), "{stdout}");
    assert_eq!(dump(&app).await, before, "the command's dry run writes nothing either");

    let out = run(&["--apply"]).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("sync: {} change(s) applied", plan.changes.len())), "{stdout}");
    assert_eq!(scalar(&app, "SELECT count(*) FROM organizations WHERE deleted_at IS NULL").await, 3);
    assert_eq!(scalar(&app, "SELECT count(*) FROM clerk_instance WHERE instance_id = 'ins_a'").await, 1);
}

/// More than 10 % of a kind (and more than 2) gone at once looks like a broken listing or key:
/// refused with the numbers and nothing written, unless explicitly allowed.
#[tokio::test]
async fn a_mass_removal_is_refused_unless_allowed() {
    let (app, pool, url, truth) = synced(world("ins_a", 10, 3)).await;
    for i in 5..10 {
        truth.lock().unwrap().delete(&format!("org_{i}"));
    }
    let before = dump(&app).await;
    let err = reconcile::reconcile(&pool, &api(&url), APPLY).await.unwrap_err();
    assert!(
        matches!(err, ReconcileError::MassRemoval(r) if r.organizations.removed == 5 && r.organizations.live == 10)
    );
    let msg = err.to_string();
    assert!(msg.contains("5 of 10 organization(s)") && msg.contains("--allow-mass-removal"), "{msg}");
    assert_eq!(dump(&app).await, before, "refused: nothing written");

    let plan = reconcile::reconcile(&pool, &api(&url), DRY_RUN).await.unwrap();
    assert!(plan.mass_removal, "the plan says --apply would be refused");
    assert!(reconcile::render(&plan).1.iter().any(|l| l.contains("would be refused")));
    assert_eq!(dump(&app).await, before);

    let allowed = Options { apply: true, allow_mass_removal: true };
    let report = reconcile::reconcile(&pool, &api(&url), allowed).await.unwrap();
    assert!(report.notes.iter().any(|n| n.starts_with("mass removal allowed")), "{:?}", report.notes);
    assert_eq!(scalar(&app, "SELECT count(*) FROM organizations WHERE deleted_at IS NOT NULL").await, 5);

    // Two of a small mirror may go without the flag (the floor).
    truth.lock().unwrap().delete("org_4");
    truth.lock().unwrap().delete("org_3");
    let report = reconcile::reconcile(&pool, &api(&url), APPLY).await.unwrap();
    assert_eq!(report.removals.organizations, reconcile::Share { removed: 2, live: 5 });
}

/// A mirror belongs to the Clerk instance of its first applied sync; a secret key of another
/// instance (which lists none of its rows) is refused before anything is read or written.
#[tokio::test]
async fn another_clerk_instance_is_refused_and_changes_nothing() {
    let (app, pool, _url, _truth) = synced(world("ins_a", 3, 3)).await;
    assert_eq!(scalar(&app, "SELECT count(*) FROM clerk_instance WHERE instance_id = 'ins_a'").await, 1);
    let before = dump(&app).await;
    let (other, _) = start_stub(Truth::new("ins_b", vec![], vec![], vec![]), None).await;
    for opts in [APPLY, DRY_RUN, Options { apply: true, allow_mass_removal: true }] {
        let err = reconcile::reconcile(&pool, &api(&other), opts).await.unwrap_err();
        assert!(
            matches!(&err, ReconcileError::OtherInstance { recorded, current, .. } if recorded == "ins_a" && current == "ins_b"),
            "{err}"
        );
        assert!(err.to_string().contains("Nothing was changed"), "{err}");
        assert_eq!(dump(&app).await, before, "{opts:?}: nothing written");
    }
    // The app's role cannot re-point the mirror either.
    let moved = sqlx::query("UPDATE clerk_instance SET instance_id = 'ins_b'").execute(&pool).await;
    assert!(moved.is_err(), "{moved:?}");
    let removed = sqlx::query("DELETE FROM clerk_instance").execute(&pool).await;
    assert!(removed.is_err(), "{removed:?}");
}

/// Webhooks keep arriving while a sync reads its snapshot: what they wrote after the snapshot
/// was taken (a deletion, a newer update, a new user) is not undone by the older snapshot.
#[tokio::test]
async fn sync_never_undoes_what_webhooks_wrote_during_it() {
    let users =
        vec![user("user_1", Some("one@example.com"), "One", 10), user("user_2", Some("two@example.com"), "Two", 10)];
    let orgs = vec![org("org_a", "Acme", "acme", 10)];
    let members = vec![membership("orgmem_1", "org_a", "user_1", "org:admin", 10)];
    let pause = Arc::new(Pause {
        paused: tokio::sync::Notify::new(),
        resume: tokio::sync::Notify::new(),
        once: std::sync::Once::new(),
    });
    let (stub_url, _) =
        start_stub(Truth::new("ins_a", users.clone(), orgs.clone(), members.clone()), Some(Arc::clone(&pause))).await;
    let app = spawn_app().await;
    let mut n = 0;
    let mut send = |kind: &'static str, data: Value| {
        n += 1;
        (format!("msg_{n}"), event(kind, data))
    };
    let mut initial: Vec<(String, Vec<u8>)> = users.iter().map(|u| send("user.created", u.clone())).collect();
    initial.push(send("organization.created", orgs[0].clone()));
    initial.push(send("organizationMembership.created", members[0].clone()));
    for (id, body) in &initial {
        assert_eq!(deliver(&app, id, body).await.0, 200);
    }

    let pool = app_pool(&app).await;
    let api = api(&stub_url);
    let sync = tokio::spawn(async move { reconcile::reconcile(&pool, &api, APPLY).await });
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
    let report: Report = sync.await.unwrap().unwrap();
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

/// The emulator, serving its seed under the secret key `sk_test_sync`; a new `key` is a new instance.
async fn emulator(key: Option<String>) -> (clerk_emulator::Shared, String) {
    use clerk_emulator::state::{Seed, State};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seed: Seed = serde_json::from_str(include_str!("../../crates/clerk-emulator/seed.json")).unwrap();
    let config = clerk_emulator::Config {
        public_url: url.clone(),
        instance_type: clerk::InstanceType::Production,
        secret_key: clerk::SecretKey::parse("sk_test_sync").unwrap(),
        webhook_secret: WEBHOOK_SECRET.into(),
        webhook_endpoints: vec![],
        allowed_origins: vec![AZP.into()],
        token_lifetime_secs: 60,
        claims_v1: false,
        roles: clerk_emulator::Roles::default(),
        jwt_templates: Default::default(),
        webhook_duplicate: false,
        webhook_reorder: false,
        state_file: None,
        // Clerk's default: organizations required, sessions without one pending.
        allow_personal_accounts: false,
    };
    let emu = clerk_emulator::Emulator::new(config, State::from_seed(&seed), key).unwrap();
    tokio::spawn(clerk_emulator::serve(emu.clone(), listener));
    (emu, url)
}

/// `tenantry sync` against the emulator, which answers in Clerk's published shapes (users as a
/// bare array, organizations and memberships as `{data, total_count}`, `GetInstance`): an empty
/// mirror is filled from its seed, a second run finds nothing to do, an organization deleted in
/// Clerk is tombstoned, and another emulator (another instance) is refused.
#[tokio::test]
async fn sync_against_the_emulator_fills_an_empty_mirror() {
    let (db, admin) = crate::helpers::migrated_database().await;
    let (emu, url) = emulator(None).await;
    let pool = sqlx::PgPool::connect(&db.app_url).await.unwrap();
    let api = clerk::BackendApi::new(&url, clerk::SecretKey::parse("sk_test_sync").unwrap());
    let report = reconcile::reconcile(&pool, &api, APPLY).await.unwrap();
    assert_eq!(report.instance.id, emu.signer.kid());
    let created =
        |kind: &str| report.changes.iter().filter(|c| c.starts_with(kind) && c.ends_with(": created")).count();
    assert_eq!((created("user "), created("organization "), created("membership ")), (4, 2, 5), "{:?}", report.changes);
    assert!(report.changes.contains(&"membership user_carol in org_globex: created".to_string()));
    let again = reconcile::reconcile(&pool, &api, APPLY).await.unwrap();
    assert_eq!(again.changes, Vec::<String>::new());

    // Deleted in Clerk (the emulator's DeleteOrganization): confirmed by its 404, tombstoned.
    let r = reqwest::Client::new()
        .delete(format!("{url}/v1/organizations/org_globex"))
        .bearer_auth("sk_test_sync")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let report = reconcile::reconcile(&pool, &api, APPLY).await.unwrap();
    assert!(report.changes.iter().any(|c| c.starts_with("organization org_globex: deleted")), "{:?}", report.changes);

    // Another emulator is another instance: refused, nothing written.
    let count = |sql: &'static str| {
        let admin = admin.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&admin).await.unwrap() }
    };
    let live_before = count("SELECT count(*) FROM organizations WHERE deleted_at IS NULL").await;
    let (other, other_url) = emulator(None).await;
    assert_ne!(other.signer.kid(), emu.signer.kid());
    let other_api = clerk::BackendApi::new(&other_url, clerk::SecretKey::parse("sk_test_sync").unwrap());
    let err = reconcile::reconcile(&pool, &other_api, APPLY).await.unwrap_err();
    assert!(matches!(err, ReconcileError::OtherInstance { .. }), "{err}");
    assert_eq!(count("SELECT count(*) FROM organizations WHERE deleted_at IS NULL").await, live_before);
}
