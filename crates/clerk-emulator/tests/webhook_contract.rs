//! Every event type the emulator delivers ([`clerk_emulator::webhooks::EVENT_TYPES`]) is
//! produced here through the emulator's own APIs, received as a svix-signed delivery, and
//! validated against that event's payload schema in Clerk's webhooks document
//! (`webhooks-2025-04-15.yml`, `x-webhooks.<type>`).

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use clerk::WebhookVerifier;
use clerk_emulator::webhooks::EVENT_TYPES;
use common::openapi::{self, WEBHOOKS};
use common::{start, SECRET, WEBHOOK_SECRET};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Seen = Arc<Mutex<Vec<Value>>>;

async fn receive(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let verified = WebhookVerifier::new(WEBHOOK_SECRET).unwrap().verify(&body, &headers).is_ok();
    assert!(verified, "every delivery is svix-signed");
    seen.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
    StatusCode::OK
}

/// The payload schema of one event type in the webhooks document.
fn event_schema(event_type: &str) -> Value {
    let doc = openapi::document(WEBHOOKS);
    let schema = &doc["x-webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{event_type}: not an event in {WEBHOOKS}");
    schema.clone()
}

#[tokio::test]
async fn every_delivered_event_matches_clerks_webhook_schema() {
    let seen: Seen = Arc::default();
    let app = Router::new().route("/hook", post(receive)).with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let (_emu, url) = start(|c| c.webhook_endpoints = vec![hook]).await;

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let bapi = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut rb = http.request(method, format!("{url}/v1{path}")).bearer_auth(SECRET);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        async move {
            let r = rb.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
            r.json::<Value>().await.unwrap()
        }
    };
    use reqwest::Method;
    // user.created twice: through the Backend API and through the hosted sign-up page.
    let user = bapi(
        Method::POST,
        "/users".into(),
        Some(json!({"email_address": ["hooks@example.test"], "first_name": "Hook", "password": "long-enough-1"})),
    )
    .await;
    let uid = user["id"].as_str().unwrap().to_string();
    let r = http
        .post(format!("{url}/sign-up"))
        .form(&[("email", "signup@example.test"), ("password", "long-enough-2"), ("first_name", ""), ("last_name", "")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection() || r.status().is_success(), "sign-up: {}", r.status());
    let org = bapi(Method::POST, "/organizations".into(), Some(json!({"name": "Hooks", "created_by": uid}))).await;
    let oid = org["id"].as_str().unwrap().to_string();
    bapi(Method::PATCH, format!("/organizations/{oid}"), Some(json!({"name": "Hooks Inc"}))).await;
    bapi(
        Method::POST,
        format!("/organizations/{oid}/memberships"),
        Some(json!({"user_id": "user_bob", "role": "org:member"})),
    )
    .await;
    bapi(Method::PATCH, format!("/organizations/{oid}/memberships/user_bob"), Some(json!({"role": "org:admin"}))).await;
    bapi(Method::DELETE, format!("/organizations/{oid}/memberships/user_bob"), None).await;
    bapi(Method::DELETE, format!("/organizations/{oid}"), None).await;
    bapi(Method::DELETE, format!("/users/{uid}"), None).await;

    let expected = 10;
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), expected, "{events:#?}");
    for e in &events {
        let t = e["type"].as_str().unwrap();
        openapi::assert_valid(WEBHOOKS, &format!("webhook {t}"), &event_schema(t), e);
    }
    for t in EVENT_TYPES {
        assert!(events.iter().any(|e| e["type"] == *t), "{t} was never delivered here: produce it in this test");
    }
}

/// The check can fail: an event the document does not describe this way is caught.
#[test]
fn an_invented_payload_is_caught() {
    let bad = json!({"type": "organization.deleted", "object": "event", "timestamp": 1, "instance_id": "ins_1",
                     "data": {"object": "organization", "id": "org_1"}});
    let errs = openapi::violations(WEBHOOKS, &event_schema("organization.deleted"), &bad);
    assert!(errs.iter().any(|e| e.contains("deleted")), "{errs:?}");
    let bare_user = json!({"type": "user.created", "object": "event", "timestamp": 1, "instance_id": "ins_1",
                           "data": {"object": "user", "id": "user_1"}});
    let errs = openapi::violations(WEBHOOKS, &event_schema("user.created"), &bare_user);
    assert!(errs.iter().any(|e| e.contains("email_addresses")), "{errs:?}");
}

/// Clerk's own example payloads (in the webhooks document) decode into `crates/clerk`'s types,
/// which the app's mirror reads webhook data with: a second source besides the emulator.
#[test]
fn clerks_example_payloads_decode_into_the_client_types() {
    use clerk::bapi::{Organization, OrganizationMembership, User};
    let doc = openapi::document(WEBHOOKS);
    let example = |t: &str| -> Value {
        let e = doc["x-webhooks"][t]["post"]["requestBody"]["content"]["application/json"]["example"]["data"].clone();
        assert!(e.is_object(), "{t}: no example in {WEBHOOKS}");
        e
    };
    for t in ["user.created", "user.updated"] {
        let u: User = serde_json::from_value(example(t)).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert!(u.id.starts_with("user_") && u.updated_at > 0, "{t}: {u:?}");
    }
    for t in ["organization.created", "organization.updated"] {
        let o: Organization = serde_json::from_value(example(t)).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert!(o.id.starts_with("org_") && o.slug.is_some(), "{t}: {o:?}");
    }
    for t in ["organizationMembership.created", "organizationMembership.updated", "organizationMembership.deleted"] {
        let m: OrganizationMembership = serde_json::from_value(example(t)).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert!(m.public_user_data.user_id.starts_with("user_"), "{t}: {m:?}");
    }
}
