//! The backend-for-frontend proxy (`/api/proxy/{service}/{*path}`) against an emulated Clerk
//! (template tokens minted through its Backend API, counted by a pass-through in front of it),
//! the real billing service, and an echo service that shows what crossed the proxy.
#![cfg(feature = "ssr")]

#[path = "it/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "../services/billing/tests/support/mod.rs"]
mod support;

use axum::extract::{Request, State};
use axum::response::IntoResponse;
use axum::{Json, Router};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::{Clerk, TEMPLATE};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// Answers what it received; `/big` answers 5 MiB, `/slow` takes longer than the proxy waits.
async fn echo(req: Request) -> axum::response::Response {
    let path = req.uri().path().to_string();
    if path == "/big" {
        return vec![b'x'; 5 * 1024 * 1024].into_response();
    }
    if path == "/slow" {
        tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    }
    let method = req.method().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers: Value = req.headers().iter().map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("")))).collect();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap();
    let mut r = Json(json!({"method": method, "path": path, "query": query, "headers": headers, "body": String::from_utf8_lossy(&body)})).into_response();
    r.headers_mut().insert("set-cookie", "__session=stolen; Path=/".parse().unwrap());
    r.headers_mut().insert("connection", "x-hop".parse().unwrap());
    r.headers_mut().insert("x-hop", "1".parse().unwrap());
    r.headers_mut().insert("x-service", "echo".parse().unwrap());
    r
}

/// A pass-through to the emulator's Backend API that counts template-token mints.
async fn counting(State((emu, count)): State<(String, Arc<AtomicUsize>)>, req: Request) -> axum::response::Response {
    let path = req.uri().path_and_query().unwrap().to_string();
    if path.contains("/tokens/") {
        count.fetch_add(1, Ordering::SeqCst);
    }
    let method = req.method().clone();
    let auth = req.headers().get("authorization").cloned();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap();
    let mut r = reqwest::Client::new()
        .request(method, format!("{emu}{path}"))
        .body(body)
        .header("content-type", "application/json");
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    (status, resp.bytes().await.unwrap()).into_response()
}

struct Stack {
    app: helpers::TestApp,
    mints: Arc<AtomicUsize>,
    echo_hits: Arc<AtomicUsize>,
}

async fn stack() -> (Stack, Clerk) {
    let clerk = Clerk::start().await;
    let mints = Arc::new(AtomicUsize::new(0));
    let bapi = serve(Router::new().fallback(counting).with_state((clerk.url.clone(), mints.clone()))).await;
    let vars = [("CLERK_JWT_KEY", clerk.emu.public_pem.clone()), ("CLERK_ISSUER", clerk.url.clone())];
    let billing = serve(billing::router(
        billing::Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap(),
    ))
    .await;
    let echo_hits = Arc::new(AtomicUsize::new(0));
    let hits = echo_hits.clone();
    let echo_url = serve(Router::new().fallback(move |req: Request| {
        hits.fetch_add(1, Ordering::SeqCst);
        echo(req)
    }))
    .await;
    let services = format!(
        "billing={billing}|{TEMPLATE}|tenant, echo={echo_url}/base|{TEMPLATE}, raw={echo_url}|{TEMPLATE}, down=http://127.0.0.1:9|{TEMPLATE}, notemplate={echo_url}|no-such-template"
    );
    let app = helpers::spawn_app_with(&[
        ("CLERK_API_URL", &bapi),
        ("CLERK_SECRET_KEY", support::SECRET),
        ("TENANTRY_SERVICES", &services),
    ])
    .await;
    (Stack { app, mints, echo_hits }, clerk)
}

impl Stack {
    /// A session token of `user` (session `sess_<user>`, as in the emulator) in `org`.
    fn session(&self, user: &str, org: &str) -> String {
        self.app.token(user, json!({"v": 2, "o": {"id": org, "rol": "admin", "slg": org}}))
    }
    async fn call(&self, method: reqwest::Method, path: &str, token: &str) -> (StatusCode, Value) {
        let r = self.app.http.request(method, self.app.url(path)).bearer_auth(token).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_service_sees_only_the_callers_organization_and_tokens_are_cached() {
    let (s, _clerk) = stack().await;
    let alice = s.session("user_alice", "org_acme");
    let carol = s.session("user_carol", "org_globex");
    for _ in 0..5 {
        let (status, body) = s.call(reqwest::Method::GET, "/api/proxy/billing/whoami", &alice).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["user_id"].as_str(), body["org_id"].as_str()), (Some("user_alice"), Some("org_acme")));
        assert_eq!(body["claims"]["plan"], "pro");
    }
    assert_eq!(s.mints.load(Ordering::SeqCst), 1, "one Backend API call for many requests");
    let (status, body) = s.call(reqwest::Method::GET, "/api/proxy/billing/whoami", &carol).await;
    assert_eq!((status, body["org_id"].as_str()), (StatusCode::OK, Some("org_globex")), "{body}");
    assert_eq!(s.mints.load(Ordering::SeqCst), 2, "another session, another token");

    // A session token claiming an organization that is not the session's active one at Clerk
    // (a stale token after a switch, or a forgery): the minted token would carry org_acme, so the
    // tenant service is never called with it.
    let stale = s.session("user_alice", "org_globex");
    let (status, body) = s.call(reqwest::Method::GET, "/api/proxy/billing/whoami", &stale).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("template_organization_mismatch")),
        "{body}"
    );

    // No active organization: a tenant service refuses before anything is minted.
    let no_org = s.app.token("user_alice", json!({"v": 2}));
    let before = s.mints.load(Ordering::SeqCst);
    let (status, body) = s.call(reqwest::Method::GET, "/api/proxy/billing/whoami", &no_org).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("organization_required")), "{body}");
    assert_eq!(s.mints.load(Ordering::SeqCst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_method_query_body_and_only_the_template_token() {
    let (s, _clerk) = stack().await;
    let alice = s.session("user_alice", "org_acme");
    let r = s
        .app
        .http
        .put(s.app.url("/api/proxy/echo/invoices/42?expand=lines&x=%20y"))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .header("connection", "x-secret-hop")
        .header("x-secret-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("x-custom", "kept")
        .body(r#"{"amount":100}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none(), "a service never sets cookies on the app's origin");
    assert!(r.headers().get("x-hop").is_none(), "hop-by-hop headers named in Connection are dropped");
    assert_eq!(r.headers().get("x-service").unwrap(), "echo");
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["path"], "/base/invoices/42");
    assert_eq!(seen["query"], "expand=lines&x=%20y");
    assert_eq!(seen["body"], r#"{"amount":100}"#);
    let h = &seen["headers"];
    assert_eq!(h["x-custom"], "kept");
    for dropped in ["x-secret-hop", "keep-alive", "proxy-authorization", "cookie", "connection"] {
        assert!(h.get(dropped).is_none(), "{dropped} reached the service: {h}");
    }
    let bearer = h["authorization"].as_str().unwrap().strip_prefix("Bearer ").unwrap();
    assert_ne!(bearer, alice, "the session token never reaches the service");
    let jwt = clerk::verify::decode_jwt(bearer).unwrap();
    assert_eq!(jwt.cat().as_deref(), Some(clerk::categories::CAT_TEMPLATE));

    // With cookies (a browser): neither the cookies nor the session token cross.
    let cookie = format!("{}; theme=dark", s.app.session_cookie(&alice));
    let r = s.app.http.get(s.app.url("/api/proxy/echo/x")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = r.json().await.unwrap();
    let text = seen["headers"].to_string();
    assert!(seen["headers"].get("cookie").is_none() && !text.contains(&alice) && !text.contains("theme"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_clear_json() {
    let (s, _clerk) = stack().await;
    let alice = s.session("user_alice", "org_acme");
    let expect = |status: StatusCode, code: &'static str| {
        move |(got, body): (StatusCode, Value)| {
            assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
            assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
            body
        }
    };
    expect(StatusCode::NOT_FOUND, "unknown_service")(s.call(reqwest::Method::GET, "/api/proxy/nope/x", &alice).await);
    let body = expect(StatusCode::BAD_GATEWAY, "template_not_configured")(
        s.call(reqwest::Method::GET, "/api/proxy/notemplate/x", &alice).await,
    );
    assert!(body["error"].as_str().unwrap().contains("no-such-template"), "names the template: {body}");
    expect(StatusCode::BAD_GATEWAY, "service_unreachable")(
        s.call(reqwest::Method::GET, "/api/proxy/down/x", &alice).await,
    );
    expect(StatusCode::BAD_GATEWAY, "service_response_too_large")(
        s.call(reqwest::Method::GET, "/api/proxy/raw/big", &alice).await,
    );
    expect(StatusCode::GATEWAY_TIMEOUT, "service_timeout")(
        s.call(reqwest::Method::GET, "/api/proxy/raw/slow", &alice).await,
    );
    // Signed out: the gate's 401, and nothing reaches a service.
    let hits = s.echo_hits.load(Ordering::SeqCst);
    let r = s.app.http.get(s.app.url("/api/proxy/echo/x")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(s.echo_hits.load(Ordering::SeqCst), hits);
}
