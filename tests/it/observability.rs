//! Production surface: Prometheus metrics on their own address (never on the app's port) after a
//! scripted visit, the request id in error bodies, compressed answers, the body limit.

use crate::helpers::{env_for, migrated_database, now, AZP, WEBHOOK_SECRET};
use clerk::mint::Signer;
use clerk::WebhookVerifier;
use serde_json::{json, Value};
use tenantry::server::config::Config;
use tenantry::server::startup::Application;

fn token(user: &str, org: Option<&str>) -> String {
    let t = now();
    let mut claims = json!({"sub": user, "sid": format!("sess_{user}"), "iss": "https://clerk.example.com", "azp": AZP, "iat": t, "nbf": t - 10, "exp": t + 60});
    if let Some(org) = org {
        claims["org_id"] = json!(org);
        claims["org_role"] = json!("org:admin");
    }
    Signer::from_pem("ins_test", include_str!("../../crates/clerk/tests/fixtures/instance-private.pem"))
        .unwrap()
        .sign_session(&claims)
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_after_a_visit() {
    let (db, _admin) = migrated_database().await;
    let mut env = env_for(&db);
    env.insert("TENANTRY_METRICS_ADDR".into(), "127.0.0.1:0".into());
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let app = Application::build(config).await.unwrap();
    let base = format!("http://{}", app.addr());
    let metrics = format!("http://{}/metrics", app.metrics_addr().expect("metrics address"));
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // The visit: a probe, an API call signed in and one signed out (with a query string that
    // must not become a label), a page needing a handshake, webhooks (applied and forged), and
    // an organization creation (a Backend API call; the API is a closed port here).
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let r = http.get(format!("{base}/api/whoami")).bearer_auth(token("user_m", None)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{base}/api/whoami?secret=do-not-label")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], json!(request_id), "the error body names the request: {body}");
    let r = http
        .get(format!("{base}/app/dashboard"))
        .header("accept", "text/html")
        .header("sec-fetch-dest", "document")
        .header("cookie", format!("__client_uat={}", now() - 100))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307, "a handshake");
    assert_eq!(r.headers()["x-clerk-auth-status"], "handshake");
    let body = serde_json::to_vec(&json!({"type": "organization.created", "object": "event", "timestamp": now() * 1000,
        "data": {"id": "org_m", "name": "Metrics", "slug": "metrics", "created_at": now() * 1000 - 2000, "updated_at": now() * 1000 - 2000}}))
    .unwrap();
    let sig = WebhookVerifier::new(WEBHOOK_SECRET).unwrap().sign("msg_m", now(), &body).unwrap();
    let post_hook = |sig: String| {
        http.post(format!("{base}/api/webhooks/clerk"))
            .header("content-type", "application/json")
            .header("svix-id", "msg_m")
            .header("svix-timestamp", now().to_string())
            .header("svix-signature", sig)
            .body(body.clone())
            .send()
    };
    assert_eq!(post_hook(sig).await.unwrap().status(), 200);
    assert_eq!(post_hook("v1,Zm9yZ2Vk".into()).await.unwrap().status(), 400);
    let r = http
        .post(format!("{base}/select-org/create"))
        .bearer_auth(token("user_m", None))
        .form(&[("name", "New")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    let r = http.get(&metrics).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for expected in [
        r#"tenantry_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
        r#"tenantry_http_requests_total{method="GET",route="/api/whoami",status="401"}"#,
        r#"tenantry_http_request_duration_seconds_bucket{method="GET",route="/api/whoami",status="200",le="#,
        r#"tenantry_auth_outcomes_total{status="signed-in",reason=""}"#,
        r#"tenantry_auth_outcomes_total{status="signed-out",reason="session-token-and-uat-missing"}"#,
        r#"tenantry_handshake_redirects_total{reason="#,
        r#"tenantry_webhook_deliveries_total{type="organization.created",outcome="applied"} 1"#,
        r#"tenantry_webhook_deliveries_total{type="unverified",outcome="rejected"} 1"#,
        r#"tenantry_webhook_lag_seconds_bucket{type="organization.created",le="#,
        r#"tenantry_backend_api_calls_total{operation="create_organization",outcome="transport"} 1"#,
        r#"tenantry_db_pool_connections{state="open"}"#,
        r#"tenantry_db_pool_connections{state="idle"}"#,
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    assert!(!text.contains("do-not-label"), "raw URLs are never labels");
    // The lag is Clerk's `updated_at` (milliseconds, 2 s before the delivery) to the moment it
    // was applied, in seconds: 2 s and a little.
    let lag_sum: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"tenantry_webhook_lag_seconds_sum{type="organization.created"} "#))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no lag sum in\n{text}"));
    assert!((1.0..30.0).contains(&lag_sum), "lag {lag_sum} s");

    // Not on the app's own port, and nothing else on the metrics port.
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_ne!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains("tenantry_http_requests_total"));
    let other = metrics.replace("/metrics", "/healthz");
    assert_eq!(http.get(other).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn no_metrics_address_means_no_metrics_listener() {
    let (db, _admin) = migrated_database().await;
    let env = env_for(&db);
    let app = Application::build(Config::from_lookup(|k| env.get(k).cloned()).unwrap()).await.unwrap();
    assert_eq!(app.metrics_addr(), None);
}

#[tokio::test]
async fn answers_are_compressed_and_bodies_bounded() {
    let app = crate::helpers::spawn_app().await;
    for (encoding, expected) in [("br", "br"), ("gzip", "gzip"), ("identity", "")] {
        let r = app.http.get(app.url("/")).header("accept-encoding", encoding).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let got = r.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert_eq!(got, expected, "{encoding}");
    }
    let keeper = tenantry::app::session_keeper_path();
    let r = app.http.get(app.url(&keeper)).header("accept-encoding", "br").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-encoding"].to_str().unwrap()), (200, "br"));
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");

    // More than 1 MiB: refused before the handler reads it.
    let r = app
        .http
        .post(app.url("/api/webhooks/clerk"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}
