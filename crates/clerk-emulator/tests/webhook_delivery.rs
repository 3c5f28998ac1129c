//! Webhook delivery: every change reaches the endpoint as the matching Clerk event, signed with
//! svix (verified here with this repository's verifier), and a 5xx answer is retried.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use clerk::bapi::{BackendApi, CreateOrganization};
use clerk::{SecretKey, WebhookVerifier};
use common::{start, SECRET, WEBHOOK_SECRET};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Sink {
    /// (svix-id, event type, verified?) per delivery attempt.
    seen: Arc<Mutex<Vec<(String, String, bool)>>>,
    /// The first delivery of each message fails with a 500.
    fail_first: bool,
}

async fn receive(State(s): State<Sink>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let verifier = WebhookVerifier::new(WEBHOOK_SECRET).unwrap();
    let id = headers.get("svix-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (kind, ok) = match verifier.verify(&body, &headers) {
        Ok(e) => (e.event_type, true),
        Err(_) => (String::new(), false),
    };
    let mut seen = s.seen.lock().unwrap();
    let first = !seen.iter().any(|(i, ..)| *i == id);
    seen.push((id, kind, ok));
    if s.fail_first && first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn sink(s: Sink) -> String {
    let app = Router::new().route("/hook", post(receive)).with_state(s);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

async fn wait_until(s: &Sink, pred: impl Fn(&[(String, String, bool)]) -> bool) {
    for _ in 0..100 {
        if pred(&s.seen.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_change_is_a_signed_clerk_event() {
    let s = Sink::default();
    let hook = sink(s.clone()).await;
    let (_emu, url) = start(|c| c.webhook_endpoints = vec![hook]).await;
    let api = BackendApi::new(&url, SecretKey::parse(SECRET).unwrap());
    let http = reqwest::Client::new();
    let user = http
        .post(format!("{url}/v1/users"))
        .bearer_auth(SECRET)
        .json(&json!({"email_address": ["w@example.test"]}))
        .send()
        .await
        .unwrap();
    let user_id = user.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let org = api
        .create_organization(&CreateOrganization { name: "Hooks".into(), created_by: user_id.clone(), slug: None })
        .await
        .unwrap();
    http.patch(format!("{url}/v1/organizations/{}", org.id))
        .bearer_auth(SECRET)
        .json(&json!({"name": "Hooks Inc"}))
        .send()
        .await
        .unwrap();
    http.post(format!("{url}/v1/organizations/{}/memberships", org.id))
        .bearer_auth(SECRET)
        .json(&json!({"user_id": "user_bob", "role": "org:member"}))
        .send()
        .await
        .unwrap();
    http.patch(format!("{url}/v1/organizations/{}/memberships/user_bob", org.id))
        .bearer_auth(SECRET)
        .json(&json!({"role": "org:admin"}))
        .send()
        .await
        .unwrap();
    http.delete(format!("{url}/v1/organizations/{}/memberships/user_bob", org.id))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    http.delete(format!("{url}/v1/organizations/{}", org.id)).bearer_auth(SECRET).send().await.unwrap();
    http.delete(format!("{url}/v1/users/{user_id}")).bearer_auth(SECRET).send().await.unwrap();
    let expected = [
        "user.created",
        "organization.created",
        "organizationMembership.created",
        "organization.updated",
        "organizationMembership.created",
        "organizationMembership.updated",
        "organizationMembership.deleted",
        "organization.deleted",
        "user.deleted",
    ];
    wait_until(&s, |seen| seen.len() >= expected.len()).await;
    let seen = s.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, _, ok)| *ok), "every delivery verifies with the signing secret: {seen:?}");
    let mut kinds: Vec<&str> = seen.iter().map(|(_, k, _)| k.as_str()).collect();
    let mut want = expected.to_vec();
    kinds.sort();
    want.sort();
    assert_eq!(kinds, want);
}

#[tokio::test]
async fn a_5xx_is_retried_with_the_same_message_id() {
    let s = Sink { fail_first: true, ..Default::default() };
    let hook = sink(s.clone()).await;
    let (_emu, url) = start(|c| c.webhook_endpoints = vec![hook]).await;
    reqwest::Client::new()
        .post(format!("{url}/v1/users"))
        .bearer_auth(SECRET)
        .json(&json!({"email_address": ["r@example.test"]}))
        .send()
        .await
        .unwrap();
    wait_until(&s, |seen| seen.len() >= 2).await;
    let seen = s.seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "retried after the 500: {seen:?}");
    assert_eq!(seen[0].0, seen[1].0, "same svix-id on the retry");
    assert_eq!(seen[1].1, "user.created");
}
