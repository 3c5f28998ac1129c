//! `POST /api/webhooks/clerk`: verification, each event type, idempotency and order-safety.

use crate::helpers::{spawn_app, TestApp, WEBHOOK_SECRET};
use clerk::WebhookVerifier;
use serde_json::{json, Value};

fn now() -> i64 {
    crate::helpers::now()
}

pub fn user(id: &str, email: Option<&str>, first: &str, updated_at: i64) -> Value {
    let emails: Vec<Value> = email
        .map(|e| vec![json!({"id": format!("idn_{id}"), "email_address": e, "object": "email_address"})])
        .unwrap_or_default();
    json!({"object": "user", "id": id, "first_name": first, "last_name": "Tester", "username": null,
           "primary_email_address_id": email.map(|_| format!("idn_{id}")), "email_addresses": emails,
           "image_url": "https://img.example/x.png", "created_at": 1, "updated_at": updated_at})
}

pub fn org(id: &str, name: &str, slug: &str, updated_at: i64) -> Value {
    json!({"object": "organization", "id": id, "name": name, "slug": slug, "created_at": 1, "updated_at": updated_at})
}

pub fn membership(id: &str, org_id: &str, user_id: &str, role: &str, updated_at: i64) -> Value {
    json!({"object": "organization_membership", "id": id, "role": role, "permissions": ["org:projects:read"],
           "organization": org(org_id, "n", &format!("slug-{org_id}"), 1), "public_user_data": {"user_id": user_id, "identifier": "x"},
           "created_at": 1, "updated_at": updated_at})
}

pub fn event(kind: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"type": kind, "object": "event", "data": data, "timestamp": now() * 1000, "instance_id": "ins_test"}),
    )
    .unwrap()
}

fn signed(msg_id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let sig = WebhookVerifier::new(WEBHOOK_SECRET).unwrap().sign(msg_id, ts, body).unwrap();
    vec![("svix-id", msg_id.to_string()), ("svix-timestamp", ts.to_string()), ("svix-signature", sig)]
}

pub async fn deliver(app: &TestApp, msg_id: &str, body: &[u8]) -> (u16, Value) {
    post(app, body, &signed(msg_id, now(), body)).await
}

async fn post(app: &TestApp, body: &[u8], headers: &[(&str, String)]) -> (u16, Value) {
    let mut rb =
        app.http.post(app.url("/api/webhooks/clerk")).header("content-type", "application/json").body(body.to_vec());
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Every mirrored row, as the schema owner sees them (no RLS), in a stable order, with the column
/// last-write-wins orders by (Clerk's `updated_at`) and every column it decides. A tombstone is
/// compared by key only: what a deleted row last held does not matter to anyone.
pub async fn snapshot(app: &TestApp) -> Value {
    let rows =
        |sql: &'static str| async move { sqlx::query_scalar::<_, Value>(sql).fetch_all(&app.admin).await.unwrap() };
    let users = rows(
        "SELECT json_build_array(clerk_id, deleted_at IS NOT NULL,
                CASE WHEN deleted_at IS NULL THEN json_build_array(email, name, image_url, clerk_updated_at) END)
           FROM users ORDER BY clerk_id",
    )
    .await;
    let orgs = rows(
        "SELECT json_build_array(id, deleted_at IS NOT NULL,
                CASE WHEN deleted_at IS NULL THEN json_build_array(slug, name, image_url, clerk_updated_at) END)
           FROM organizations ORDER BY id",
    )
    .await;
    let members = rows(
        "SELECT json_build_array(org_id, user_clerk_id, deleted_at IS NOT NULL,
                CASE WHEN deleted_at IS NULL THEN json_build_array(clerk_id, role, permissions, clerk_updated_at) END)
           FROM org_memberships ORDER BY org_id, user_clerk_id",
    )
    .await;
    json!({"users": users, "orgs": orgs, "members": members})
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&app.admin).await.unwrap()
}

#[tokio::test]
async fn each_event_type_is_applied_row_by_row() {
    let app = spawn_app().await;
    assert_eq!(
        deliver(&app, "msg_1", &event("user.created", user("user_1", Some("Ada@Example.com"), "Ada", 10))).await.0,
        200
    );
    let row: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT email, name FROM users WHERE clerk_id = 'user_1'").fetch_one(&app.admin).await.unwrap();
    assert_eq!(row, (Some("ada@example.com".into()), Some("Ada Tester".into())));

    assert_eq!(
        deliver(&app, "msg_2", &event("user.updated", user("user_1", Some("ada@new.example"), "Augusta", 20))).await.0,
        200
    );
    let row: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT email, name FROM users WHERE clerk_id = 'user_1'").fetch_one(&app.admin).await.unwrap();
    assert_eq!(row, (Some("ada@new.example".into()), Some("Augusta Tester".into())));

    // users without an email are valid; username as the display name
    let mut u = user("user_2", None, "", 5);
    u["first_name"] = Value::Null;
    u["last_name"] = Value::Null;
    u["username"] = json!("bob");
    deliver(&app, "msg_3", &event("user.created", u)).await;
    let row: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT email, name FROM users WHERE clerk_id = 'user_2'").fetch_one(&app.admin).await.unwrap();
    assert_eq!(row, (None, Some("bob".into())));

    deliver(&app, "msg_4", &event("organization.created", org("org_1", "Acme", "acme", 10))).await;
    deliver(&app, "msg_5", &event("organization.updated", org("org_1", "Acme Inc", "acme-inc", 20))).await;
    let row: (Option<String>, String) =
        sqlx::query_as("SELECT slug, name FROM organizations WHERE id = 'org_1'").fetch_one(&app.admin).await.unwrap();
    assert_eq!(row, (Some("acme-inc".into()), "Acme Inc".into()));

    deliver(
        &app,
        "msg_6",
        &event("organizationMembership.created", membership("orgmem_1", "org_1", "user_1", "org:admin", 10)),
    )
    .await;
    deliver(
        &app,
        "msg_7",
        &event("organizationMembership.created", membership("orgmem_2", "org_1", "user_2", "org:member", 10)),
    )
    .await;
    deliver(
        &app,
        "msg_8",
        &event("organizationMembership.updated", membership("orgmem_2", "org_1", "user_2", "org:admin", 20)),
    )
    .await;
    let rows: Vec<(String, String, bool)> =
        sqlx::query_as("SELECT user_clerk_id, role, deleted_at IS NULL FROM org_memberships ORDER BY 1")
            .fetch_all(&app.admin)
            .await
            .unwrap();
    assert_eq!(rows, vec![("user_1".into(), "org:admin".into(), true), ("user_2".into(), "org:admin".into(), true)]);

    deliver(
        &app,
        "msg_9",
        &event("organizationMembership.deleted", membership("orgmem_2", "org_1", "user_2", "org:admin", 30)),
    )
    .await;
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM org_memberships WHERE deleted_at IS NULL")
        .fetch_one(&app.admin)
        .await
        .unwrap();
    assert_eq!(live, 1);

    // deleting a user removes their memberships
    deliver(&app, "msg_10", &event("user.deleted", json!({"object": "user", "id": "user_1", "deleted": true}))).await;
    let row: (Option<String>, bool) =
        sqlx::query_as("SELECT email, deleted_at IS NOT NULL FROM users WHERE clerk_id = 'user_1'")
            .fetch_one(&app.admin)
            .await
            .unwrap();
    assert_eq!(row, (None, true));
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM org_memberships WHERE deleted_at IS NULL")
        .fetch_one(&app.admin)
        .await
        .unwrap();
    assert_eq!(live, 0);

    // deleting an organization tombstones it and keeps its projects (hidden until restored or
    // purged), recorded in its audit log
    sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ('org_1', 'Rocket', 'user_1')")
        .execute(&app.admin)
        .await
        .unwrap();
    deliver(
        &app,
        "msg_11",
        &event("organization.deleted", json!({"object": "organization", "id": "org_1", "deleted": true})),
    )
    .await;
    assert_eq!(count(&app, "projects").await, 1, "absence of the organization is not the end of its data");
    let audit: (String, String) = sqlx::query_as("SELECT action, before::text FROM audit_log WHERE org_id = 'org_1'")
        .fetch_one(&app.admin)
        .await
        .unwrap();
    assert_eq!(audit.0, "organization.deleted");
    assert_eq!(serde_json::from_str::<Value>(&audit.1).unwrap(), json!({"projects_kept": 1}));

    // other event types are acknowledged and ignored
    let (status, body) = deliver(&app, "msg_12", &event("session.created", json!({"id": "sess_1"}))).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
}

#[tokio::test]
async fn forged_or_malformed_deliveries_are_rejected_and_write_nothing() {
    let app = spawn_app().await;
    let body = event("user.created", user("user_1", Some("a@example.com"), "A", 1));
    let ts = now();
    let good = signed("msg_1", ts, &body);
    // (what is wrong, body, svix headers)
    type Case = (&'static str, Vec<u8>, Vec<(&'static str, String)>);
    let mut cases: Vec<Case> = Vec::new();
    let mut tampered = body.clone();
    let pos = tampered.iter().position(|b| *b == b'A').unwrap();
    tampered[pos] = b'B';
    cases.push(("tampered body", tampered, good.clone()));
    let wrong =
        WebhookVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap().sign("msg_1", ts, &body).unwrap();
    cases.push((
        "wrong secret",
        body.clone(),
        vec![("svix-id", "msg_1".into()), ("svix-timestamp", ts.to_string()), ("svix-signature", wrong)],
    ));
    cases.push(("stale", body.clone(), signed("msg_1", ts - 600, &body)));
    cases.push(("future", body.clone(), signed("msg_1", ts + 600, &body)));
    cases.push(("missing headers", body.clone(), vec![]));
    cases.push(("missing signature", body.clone(), good[..2].to_vec()));
    let webhook_only: Vec<(&str, String)> = good
        .iter()
        .map(|(k, v)| {
            (
                if *k == "svix-id" {
                    "webhook-id"
                } else if *k == "svix-timestamp" {
                    "webhook-timestamp"
                } else {
                    "webhook-signature"
                },
                v.clone(),
            )
        })
        .collect();
    cases.push(("webhook-* headers only", body.clone(), webhook_only));
    // the svix known-answer vector: a correct signature, but from 2022
    let kat = br#"{"email":"test@example.com","username":"test_user"}"#.to_vec();
    cases.push((
        "known-answer vector (stale)",
        kat,
        vec![
            ("svix-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".into()),
            ("svix-timestamp", "1649367553".into()),
            ("svix-signature", "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=".into()),
        ],
    ));
    let junk = b"{not json".to_vec();
    cases.push(("signed garbage", junk.clone(), signed("msg_2", ts, &junk)));
    let wrong_shape = event("user.created", json!({"no_id": true}));
    cases.push(("signed, wrong payload shape", wrong_shape.clone(), signed("msg_3", ts, &wrong_shape)));
    for (name, body, headers) in cases {
        let (status, resp) = post(&app, &body, &headers).await;
        assert_eq!(status, 400, "{name}: {resp}");
        assert_eq!(resp["error"], "invalid webhook", "{name}");
        assert!(resp["reason"].as_str().is_some_and(|r| !r.is_empty()), "{name}");
    }
    for table in ["users", "organizations", "org_memberships", "webhook_deliveries", "audit_log"] {
        assert_eq!(count(&app, table).await, 0, "{table} untouched");
    }
    // and the genuine one still works afterwards
    assert_eq!(post(&app, &body, &good).await.0, 200);
    assert_eq!(count(&app, "users").await, 1);
}

#[tokio::test]
async fn duplicates_apply_once_even_concurrently() {
    let app = spawn_app().await;
    let body = event("user.created", user("user_1", Some("a@example.com"), "A", 1));
    let results = futures::future::join_all((0..12).map(|_| deliver(&app, "msg_same", &body))).await;
    let applied = results.iter().filter(|(_, b)| b["status"] == "applied").count();
    let duplicate = results.iter().filter(|(_, b)| b["status"] == "duplicate").count();
    assert!(results.iter().all(|(s, _)| *s == 200));
    assert_eq!((applied, duplicate), (1, 11));
    assert_eq!(count(&app, "webhook_deliveries").await, 1);
}

/// A deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Several hundred events as Clerk would emit them, in order, each with its svix id.
fn event_stream() -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    let mut t = 1_000i64;
    let push = |out: &mut Vec<(String, Vec<u8>)>, kind: &str, data: Value| {
        let id = format!("msg_{:04}", out.len());
        out.push((id, event(kind, data)));
    };
    let users: Vec<String> = (0..40).map(|i| format!("user_{i:02}")).collect();
    let orgs: Vec<String> = (0..6).map(|i| format!("org_{i}")).collect();
    for u in &users {
        t += 1;
        push(&mut out, "user.created", user(u, Some(&format!("{u}@example.com")), "First", t));
    }
    for o in &orgs {
        t += 1;
        push(&mut out, "organization.created", org(o, &format!("Org {o}"), &format!("slug-{o}"), t));
    }
    let mut mem_seq = 0;
    for _ in 0..220 {
        t += 1;
        let u = &users[rng.below(users.len())];
        let o = &orgs[rng.below(orgs.len())];
        match rng.below(6) {
            0 | 1 => {
                mem_seq += 1;
                push(
                    &mut out,
                    "organizationMembership.created",
                    membership(&format!("orgmem_{o}_{u}_{mem_seq}"), o, u, "org:member", t),
                );
            }
            2 => push(&mut out, "user.updated", user(u, Some(&format!("{u}+{t}@example.com")), &format!("Name{t}"), t)),
            3 => push(&mut out, "organization.updated", org(o, &format!("Org {o} v{t}"), &format!("slug-{o}"), t)),
            4 => {
                mem_seq += 1;
                push(
                    &mut out,
                    "organizationMembership.updated",
                    membership(&format!("orgmem_{o}_{u}_{mem_seq}"), o, u, "org:admin", t),
                );
            }
            _ => push(
                &mut out,
                "organizationMembership.deleted",
                membership(&format!("orgmem_{o}_{u}_{mem_seq}"), o, u, "org:member", t),
            ),
        }
    }
    // a few deletions at the end, as Clerk never updates what it deleted
    for u in users.iter().take(4) {
        push(&mut out, "user.deleted", json!({"object": "user", "id": u, "deleted": true}));
    }
    push(&mut out, "organization.deleted", json!({"object": "organization", "id": orgs[5], "deleted": true}));
    out
}

#[tokio::test]
async fn shuffled_triple_replay_ends_in_the_in_order_state() {
    let stream = event_stream();
    assert!(stream.len() >= 250, "{} events", stream.len());
    let in_order = spawn_app().await;
    for (id, body) in &stream {
        assert_eq!(deliver(&in_order, id, body).await.0, 200);
    }
    let shuffled = spawn_app().await;
    let mut deliveries: Vec<&(String, Vec<u8>)> = stream.iter().chain(stream.iter()).chain(stream.iter()).collect();
    let mut rng = Rng(42);
    for i in (1..deliveries.len()).rev() {
        deliveries.swap(i, rng.below(i + 1));
    }
    for (id, body) in deliveries {
        assert_eq!(deliver(&shuffled, id, body).await.0, 200);
    }
    let expected = snapshot(&in_order).await;
    assert_eq!(snapshot(&shuffled).await, expected);
    assert!(expected["members"].as_array().unwrap().len() > 20, "the stream exercised memberships");
    assert_eq!(count(&shuffled, "webhook_deliveries").await, stream.len() as i64);
}

#[tokio::test]
async fn database_unavailable_is_a_5xx_so_svix_retries() {
    let app = spawn_app().await;
    let db = &app.db.name;
    sqlx::query(&format!("REVOKE CONNECT ON DATABASE {db} FROM PUBLIC, {}", pg_harness::APP_ROLE))
        .execute(&app.admin)
        .await
        .unwrap();
    sqlx::query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND usename = '{}'",
        pg_harness::APP_ROLE
    ))
    .execute(&app.admin)
    .await
    .unwrap();
    let (status, _) = deliver(&app, "msg_1", &event("user.created", user("user_1", None, "A", 1))).await;
    assert_eq!(status, 503);
}

/// Deliveries race: Svix delivers concurrently and in any order. A membership created while its
/// organization is being deleted must not stay live in the deleted organization (found by the
/// three-replica run, `scripts/replicas`). Each round races the two deliveries; any round that
/// leaves a live membership behind fails the test.
#[tokio::test]
async fn a_membership_racing_its_organizations_deletion_never_stays_live() {
    let app = spawn_app().await;
    for round in 0..25 {
        let org_id = format!("org_race_{round}");
        let created = event(
            "organizationMembership.created",
            membership(&format!("orgmem_{round}"), &org_id, "user_r", "org:member", 10),
        );
        let deleted = event("organization.deleted", json!({"object": "organization", "id": org_id, "deleted": true}));
        let (id_created, id_deleted) = (format!("msg_c{round}"), format!("msg_d{round}"));
        let (a, b) = tokio::join!(deliver(&app, &id_created, &created), deliver(&app, &id_deleted, &deleted));
        assert_eq!((a.0, b.0), (200, 200), "round {round}: {a:?} {b:?}");
    }
    let live: Vec<String> = sqlx::query_scalar(
        "SELECT m.org_id FROM org_memberships m JOIN organizations o ON o.id = m.org_id
          WHERE m.deleted_at IS NULL AND o.deleted_at IS NOT NULL ORDER BY m.org_id",
    )
    .fetch_all(&app.admin)
    .await
    .unwrap();
    assert_eq!(live, Vec::<String>::new(), "live memberships in deleted organizations");
    let memberships: i64 = sqlx::query_scalar("SELECT count(*) FROM org_memberships WHERE org_id LIKE 'org_race_%'")
        .fetch_one(&app.admin)
        .await
        .unwrap();
    assert_eq!(memberships, 25, "every membership was recorded (as ended)");
}

/// The same guarantee, deterministically: a membership delivery waits while another transaction
/// holds its organization's lock (`mirror::lock_identity`), as an organization deletion does, and
/// applies once that transaction ends. A user deletion holds the user's lock the same way.
#[tokio::test]
async fn membership_deliveries_wait_for_the_identity_locks() {
    let app = spawn_app().await;
    for (n, kind, id) in [(1, "organization", "org_lock"), (2, "user", "user_lock")] {
        let mut holder = app.admin.begin().await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("tenantry:mirror:{kind}:{id}"))
            .execute(&mut *holder)
            .await
            .unwrap();
        let body = event(
            "organizationMembership.created",
            membership(&format!("orgmem_lock{n}"), "org_lock", "user_lock", "org:member", 10 + n),
        );
        let msg_id = format!("msg_lock{n}");
        let delivery = deliver(&app, &msg_id, &body);
        tokio::pin!(delivery);
        let early = tokio::time::timeout(std::time::Duration::from_millis(700), &mut delivery).await;
        assert!(early.is_err(), "the delivery went through while the {kind} lock was held: {early:?}");
        holder.rollback().await.unwrap();
        let (status, answer) = delivery.await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("applied")), "{answer}");
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM org_memberships WHERE org_id = 'org_lock'")
        .fetch_one(&app.admin)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}
