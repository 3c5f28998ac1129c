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

/// The payload schema of one event type in the webhooks document, with its `allOf` extensions
/// of closed objects read as the document means them (see [`close_all_of`]).
fn event_schema(event_type: &str) -> Value {
    let doc = openapi::document(WEBHOOKS);
    let schema = &doc["x-webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{event_type}: not an event in {WEBHOOKS}");
    let mut schema = schema.clone();
    close_all_of(&mut schema, &doc["components"], 0);
    schema
}

/// The document extends closed objects through `allOf`: `organizationInvitation.*` payloads are
/// `OrganizationInvitation` (`additionalProperties: false`) plus `data` and, once accepted,
/// `user_id`. Read literally no payload can hold those extensions (`additionalProperties` only
/// sees the `properties` beside it), not even the document's own example; what it means is
/// JSON Schema's `unevaluatedProperties: false` over the whole `allOf`. This rewrites it so:
/// the object stays closed (an invented field still fails, see below), the extensions count.
fn close_all_of(v: &mut Value, components: &Value, depth: usize) {
    let resolve = |r: &str| components["schemas"][r.trim_start_matches("#/components/schemas/")].clone();
    if depth > 12 {
        return;
    }
    match v {
        Value::Object(o) => {
            if let Some(target) = o.get("$ref").and_then(Value::as_str).map(resolve) {
                if target.get("allOf").is_some() {
                    *v = target;
                    return close_all_of(v, components, depth + 1);
                }
            }
            if let Some(Value::Array(branches)) = o.get_mut("allOf") {
                let mut closed = false;
                for b in branches.iter_mut() {
                    if let Some(target) = b.get("$ref").and_then(Value::as_str).map(resolve) {
                        if target.get("additionalProperties") == Some(&Value::Bool(false)) {
                            *b = target;
                        }
                    }
                    if let Some(obj) = b.as_object_mut() {
                        if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
                            obj.remove("additionalProperties");
                            closed = true;
                        }
                    }
                }
                if closed {
                    o.insert("unevaluatedProperties".into(), Value::Bool(false));
                }
            }
            for x in o.values_mut() {
                close_all_of(x, components, depth + 1);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| close_all_of(x, components, depth + 1)),
        _ => {}
    }
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
    // Invitations: one revoked, one accepted by signing up through its link.
    let invite = |email: &str| {
        bapi(
            Method::POST,
            format!("/organizations/{oid}/invitations"),
            Some(json!({"email_address": email, "role": "org:member", "inviter_user_id": uid})),
        )
    };
    let revoked = invite("revoked@example.test").await;
    bapi(Method::POST, format!("/organizations/{oid}/invitations/{}/revoke", revoked["id"].as_str().unwrap()), None)
        .await;
    let accepted = invite("invitee@example.test").await;
    let link = accepted["url"].as_str().unwrap();
    let ticket = link.split_once("ticket=").unwrap().1;
    assert_eq!(http.get(link).send().await.unwrap().status(), 200, "the invitation link opens sign-up");
    let r = http
        .post(format!("{url}/sign-up"))
        .form(&[("email", "invitee@example.test"), ("password", "long-enough-3"), ("ticket", ticket)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "sign-up with the invitation: {}", r.status());
    bapi(Method::DELETE, format!("/organizations/{oid}"), None).await;
    bapi(Method::DELETE, format!("/users/{uid}"), None).await;

    // + invitation created ×2, revoked, and user, membership and invitation for the acceptance
    let expected = 16;
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
    // Closed objects stay closed under `close_all_of`: an invented field, or a missing `user_id`
    // on an accepted invitation, fails.
    let doc = openapi::document(WEBHOOKS);
    let mut accepted = doc["x-webhooks"]["organizationInvitation.accepted"]["post"]["requestBody"]["content"]
        ["application/json"]["example"]
        .clone();
    accepted["data"]["data"] = json!({"public_organization_data": null});
    accepted["data"]["inviter_id"] = json!(null);
    accepted["data"]["public_inviter_data"] = json!(null);
    let schema = event_schema("organizationInvitation.accepted");
    assert_eq!(openapi::violations(WEBHOOKS, &schema, &accepted), Vec::<String>::new(), "the example, completed");
    let mut invented = accepted.clone();
    invented["data"]["invented"] = json!(true);
    assert!(!openapi::violations(WEBHOOKS, &schema, &invented).is_empty(), "an invented field");
    let mut anonymous = accepted;
    anonymous["data"].as_object_mut().unwrap().remove("user_id");
    assert!(!openapi::violations(WEBHOOKS, &schema, &anonymous).is_empty(), "accepted without user_id");
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
