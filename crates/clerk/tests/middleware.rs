//! The axum middleware's answers for what the SDK reports without a plain signed-in user: a
//! pending session (401 JSON that says so) and a development handshake token that cannot be
//! verified (the SDK's guidance, as HTML for a browser and JSON for an API call).
#![cfg(feature = "axum")]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use clerk::axum::{clerk_middleware, RequireAuth};
use clerk::mint::Signer;
use clerk::{Clerk, ClerkOptions, KeySource, PublishableKey, SecretKey, VerifyOptions};
use serde_json::{json, Value};
use tower::ServiceExt;

const DEV_PK: &str = "pk_test_aGFwcHktb3R0ZXItMTIuY2xlcmsuYWNjb3VudHMuZGV2JA";
const SDK_GUIDANCE: &str = "Clerk: Handshake token verification failed: Invalid JWT form. The header, payload, or signature could not be decoded. (reason=token-invalid, token-carrier=undefined).";

fn app() -> Router {
    let clerk = Clerk::new(ClerkOptions {
        publishable_key: PublishableKey::parse(DEV_PK).unwrap(),
        secret_key: SecretKey::parse("sk_test_middleware").unwrap(),
        keys: KeySource::from_pem(include_str!("fixtures/instance-public.pem")).unwrap(),
        api: None,
        proxy_url: None,
        verify: VerifyOptions::default(),
        organization_sync: None,
        satellite: None,
    });
    Router::new()
        .route("/", get(|RequireAuth(a): RequireAuth| async move { a.user_id }))
        .layer(axum::middleware::from_fn_with_state(clerk, clerk_middleware))
}

fn token(extra: Value) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut claims = json!({"sub": "user_1", "sid": "sess_1", "iss": "https://happy-otter-12.clerk.accounts.dev", "iat": t - 5, "nbf": t - 15, "exp": t + 55});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    Signer::from_pem("ins_test", include_str!("fixtures/instance-private.pem")).unwrap().sign_session(&claims)
}

async fn send(uri: &str, headers: &[(&str, String)]) -> (StatusCode, Option<String>, String) {
    let mut req = Request::get(uri).header("host", "localhost:3000");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = app().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, content_type, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn invalid_development_handshake_carries_the_sdks_guidance() {
    let cookie = format!("__session={}; __client_uat=1; __clerk_db_jwt=dvb_x", token(json!({})));
    let uri = "/?__clerk_handshake=garbage.value.here";
    let (status, content_type, body) =
        send(uri, &[("cookie", cookie.clone()), ("sec-fetch-dest", "document".into())]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(content_type.unwrap().starts_with("text/html"));
    assert!(body.contains("Clerk: Handshake token verification failed: Invalid JWT form."), "{body}");

    let (status, content_type, body) = send(uri, &[("cookie", cookie), ("sec-fetch-dest", "empty".into())]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["reason"], "handshake-verification-failed");
    assert_eq!(body["message"], SDK_GUIDANCE);
}

#[tokio::test]
async fn a_pending_session_is_refused_as_pending_not_as_missing() {
    let bearer = format!("Bearer {}", token(json!({"v": 2, "sts": "pending", "fea": "u:x"})));
    let (status, _, body) = send("/", &[("authorization", bearer)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body, json!({"error": "unauthenticated", "reason": "session-pending", "sessionStatus": "pending"}));

    let active = format!("Bearer {}", token(json!({"v": 2, "sts": "active", "fea": "u:x"})));
    let (status, _, body) = send("/", &[("authorization", active)]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "user_1"));
}
