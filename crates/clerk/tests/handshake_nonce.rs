//! Issue 13: a `__clerk_handshake_nonce` costs a Backend API call, and needs no credentials.
//! Against a local stub of the Backend API: one fetch per nonce (single flight, answers and
//! failures remembered), a global budget for fetches, and a clear refusal when it is spent.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clerk::bapi::BackendApi;
use clerk::mint::Signer;
use clerk::request::AuthenticateError;
use clerk::{
    AuthStatus, Clerk, ClerkOptions, HandshakeNoncePolicy, KeySource, PublishableKey, SecretKey, VerifyOptions,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const APP: &str = "https://app.example.com";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Answers `good*` nonces with a session cookie, others with Clerk's 404; counts every call.
async fn start(hits: Arc<AtomicUsize>) -> String {
    let token = Signer::from_pem("ins_test", include_str!("fixtures/instance-private.pem")).unwrap().sign_session(
        &json!({"sub": "user_1", "sid": "sess_1", "iss": "https://clerk.example.com", "azp": APP, "iat": now(), "exp": now() + 60}),
    );
    let app =
        Router::new()
            .route(
                "/v1/clients/handshake_payload",
                get(
                    |State((hits, token)): State<(Arc<AtomicUsize>, String)>,
                     Query(q): Query<HashMap<String, String>>| async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        // Slow enough that concurrent requests overlap.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if q.get("nonce").is_some_and(|n| n.starts_with("good")) {
                            let directives = [
                                format!("__session={token}; Path=/; Secure"),
                                format!("__client_uat={}; Path=/", now()),
                            ];
                            Ok(Json(json!({ "directives": directives })))
                        } else {
                            Err((
                                StatusCode::NOT_FOUND,
                                Json(json!({"errors": [{"code": "resource_not_found", "message": "not found"}]})),
                            ))
                        }
                    },
                ),
            )
            .with_state((hits, token));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

fn clerk(api: &str) -> Clerk {
    Clerk::new(ClerkOptions {
        publishable_key: PublishableKey::parse("pk_live_Y2xlcmsuZXhhbXBsZS5jb20k").unwrap(),
        secret_key: SecretKey::parse("sk_live_nonce").unwrap(),
        keys: KeySource::from_pem(include_str!("fixtures/instance-public.pem")).unwrap(),
        api: Some(BackendApi::new(api, SecretKey::parse("sk_live_nonce").unwrap())),
        proxy_url: None,
        verify: VerifyOptions { authorized_parties: vec![APP.into()], ..Default::default() },
        organization_sync: None,
        satellite: None,
    })
}

async fn with_nonce(c: &Clerk, nonce: &str) -> Result<clerk::RequestState, AuthenticateError> {
    let parts = http::Request::builder()
        .uri(format!("/dashboard?__clerk_handshake_nonce={nonce}"))
        .header("host", "app.example.com")
        .header("x-forwarded-proto", "https")
        .header("sec-fetch-dest", "document")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    c.authenticate_request(&parts).await
}

#[tokio::test]
async fn one_fetch_per_nonce_shared_by_concurrent_requests() {
    let hits = Arc::new(AtomicUsize::new(0));
    let c = clerk(&start(hits.clone()).await);
    let states = futures::future::join_all((0..20).map(|_| with_nonce(&c, "good_1"))).await;
    for s in states {
        let s = s.unwrap();
        assert_eq!(s.status, AuthStatus::SignedIn);
        assert_eq!(s.headers.get_all("set-cookie").iter().count(), 2, "each request sets the payload's cookies");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "single flight");
    // The nonce cookie outlives one request: later requests reuse the answer.
    for _ in 0..20 {
        assert_eq!(with_nonce(&c, "good_1").await.unwrap().status, AuthStatus::SignedIn);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "answered nonce not fetched again");
}

#[tokio::test]
async fn a_failed_nonce_is_answered_as_the_sdk_does_and_not_fetched_again() {
    let hits = Arc::new(AtomicUsize::new(0));
    let c = clerk(&start(hits.clone()).await);
    for _ in 0..3 {
        let states = futures::future::join_all((0..10).map(|_| with_nonce(&c, "forged"))).await;
        for s in states {
            let s = s.unwrap();
            // The SDK logs the failed fetch and resolves the handshake without directives.
            assert_eq!((s.status, s.reason.as_deref()), (AuthStatus::SignedOut, Some("session-token-missing")));
        }
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_global_budget_refuses_with_a_retry_time() {
    let hits = Arc::new(AtomicUsize::new(0));
    let policy = HandshakeNoncePolicy { burst: 3, per_second: 2.0, ..Default::default() };
    let c = clerk(&start(hits.clone()).await).with_handshake_nonce_policy(policy);
    for n in 0..3 {
        assert_eq!(with_nonce(&c, &format!("good_{n}")).await.unwrap().status, AuthStatus::SignedIn);
    }
    // Fresh nonces, from a client that needs no credentials: refused, no Backend API call.
    for n in 3..50 {
        let err = with_nonce(&c, &format!("forged_{n}")).await.unwrap_err();
        let retry_after = err.retry_after().expect("a retry time");
        assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(500), "{retry_after:?}");
        assert!(matches!(err, AuthenticateError::HandshakeBudgetExhausted { .. }));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // Known nonces need no budget.
    assert_eq!(with_nonce(&c, "good_0").await.unwrap().status, AuthStatus::SignedIn);
    // The budget refills: the refused request succeeds when retried.
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(with_nonce(&c, "good_9").await.unwrap().status, AuthStatus::SignedIn);
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn the_middleware_answers_503_with_retry_after() {
    let hits = Arc::new(AtomicUsize::new(0));
    let policy = HandshakeNoncePolicy { burst: 0, per_second: 0.25, ..Default::default() };
    let c = clerk(&start(hits.clone()).await).with_handshake_nonce_policy(policy);
    let err = with_nonce(&c, "good_1").await.unwrap_err();
    let parts = http::Request::builder().uri("/").body(()).unwrap().into_parts().0;
    let resp = clerk::axum::authentication_failed(&parts, &err);
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers().get("retry-after").unwrap(), "4");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
