//! The JWKS cache against a local stub of the Backend API: one fetch for many requests, a
//! single in-flight refetch for an unknown kid, a floor between refetches, and stale keys
//! served while the Backend API is down.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clerk::bapi::BackendApi;
use clerk::mint::Signer;
use clerk::{JwksCache, JwksPolicy, KeySource, SecretKey, TokenErrorReason};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Stub {
    hits: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    keys: Arc<Mutex<Vec<Value>>>,
}

fn jwk(kid: &str, public_pem: &str) -> Value {
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    let k = rsa::RsaPublicKey::from_public_key_pem(public_pem).unwrap();
    let b = |v: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    json!({"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig", "n": b(k.n().to_bytes_be()), "e": b(k.e().to_bytes_be())})
}

async fn start(stub: Stub) -> String {
    let app = Router::new()
        .route(
            "/v1/jwks",
            get(|State(s): State<Stub>| async move {
                s.hits.fetch_add(1, Ordering::SeqCst);
                // Slow enough that concurrent callers overlap.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if s.down.load(Ordering::SeqCst) {
                    return Err((
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(json!({"errors": [{"code": "unexpected_error", "message": "down"}]})),
                    ));
                }
                Ok(Json(json!({"keys": *s.keys.lock().unwrap()})))
            }),
        )
        .with_state(stub);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

fn source(url: &str, policy: JwksPolicy) -> KeySource {
    KeySource::Remote(Arc::new(JwksCache::new(BackendApi::new(url, SecretKey::parse("sk_test_jwks").unwrap()), policy)))
}

fn fast_policy() -> JwksPolicy {
    JwksPolicy {
        ttl: Duration::from_secs(300),
        min_refetch_interval: Duration::from_millis(0),
        retry_min_delay: Duration::from_millis(5),
        retries: 2,
    }
}

#[tokio::test]
async fn many_requests_one_fetch_and_single_flight() {
    let stub = Stub::default();
    stub.keys.lock().unwrap().push(jwk("ins_a", include_str!("fixtures/instance-public.pem")));
    let url = start(stub.clone()).await;
    let keys = source(&url, fast_policy());
    let lookups = (0..20).map(|_| keys.key_for(Some("ins_a")));
    for r in futures::future::join_all(lookups).await {
        assert!(r.is_ok());
    }
    assert_eq!(stub.hits.load(Ordering::SeqCst), 1, "concurrent misses share one fetch");
    for _ in 0..50 {
        keys.key_for(Some("ins_a")).await.unwrap();
    }
    assert_eq!(stub.hits.load(Ordering::SeqCst), 1, "cached");
    assert!(keys.cached_key(Some("ins_a")).is_some(), "the hot path needs no I/O");
}

#[tokio::test]
async fn unknown_kid_refetches_with_a_floor() {
    let stub = Stub::default();
    stub.keys.lock().unwrap().push(jwk("ins_a", include_str!("fixtures/instance-public.pem")));
    let url = start(stub.clone()).await;
    let policy = JwksPolicy { min_refetch_interval: Duration::from_millis(300), ..fast_policy() };
    let keys = source(&url, policy);
    keys.key_for(Some("ins_a")).await.unwrap();
    // Clerk rotates: a new kid appears.
    stub.keys.lock().unwrap().push(jwk("ins_b", include_str!("fixtures/other-public.pem")));
    // Within the floor, an unknown kid does not hit the Backend API.
    let err = keys.key_for(Some("ins_b")).await.err().unwrap();
    assert_eq!(err.reason, TokenErrorReason::JwkKidMismatch);
    assert_eq!(stub.hits.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    keys.key_for(Some("ins_b")).await.unwrap();
    assert_eq!(stub.hits.load(Ordering::SeqCst), 2, "refetched once the floor passed");
    // A kid that does not exist at all: one refetch, then kid mismatch.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(keys.key_for(Some("ins_forged")).await.err().unwrap().reason, TokenErrorReason::JwkKidMismatch);
    // a token without a kid cannot name a JWKS key: the SDK's kid mismatch too
    let no_kid = keys.key_for(None).await.err().unwrap();
    assert_eq!((no_kid.reason, no_kid.message.contains("kid='undefined'")), (TokenErrorReason::JwkKidMismatch, true));
    assert_eq!(stub.hits.load(Ordering::SeqCst), 3);
    // Verification end to end with the rotated key.
    let token = Signer::from_pem("ins_b", include_str!("fixtures/other-private.pem"))
        .unwrap()
        .sign_session(&json!({"sub": "user_1", "exp": 4_000_000_000i64}));
    let jwt = clerk::verify::decode_jwt(&token).unwrap();
    let key = keys.key_for(jwt.kid().as_deref()).await.unwrap();
    clerk::verify::verify_decoded(&jwt, &key, &clerk::VerifyOptions::default()).unwrap();
}

#[tokio::test]
async fn stale_keys_are_served_while_the_backend_api_is_down() {
    let stub = Stub::default();
    stub.keys.lock().unwrap().push(jwk("ins_a", include_str!("fixtures/instance-public.pem")));
    let url = start(stub.clone()).await;
    let keys = source(&url, JwksPolicy { ttl: Duration::from_millis(100), ..fast_policy() });
    keys.key_for(Some("ins_a")).await.unwrap();
    stub.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    keys.key_for(Some("ins_a")).await.expect("stale key served");
    assert_eq!(stub.hits.load(Ordering::SeqCst), 1 + 3, "one refresh, retried twice with backoff");
    // With nothing cached, a down Backend API is a precise error.
    let cold = source(&url, fast_policy());
    assert_eq!(cold.key_for(Some("ins_a")).await.err().unwrap().reason, TokenErrorReason::JwkRemoteFailedToLoad);
    // No answer at all (a closed port): the SDK's fetch throws, which it calls unexpected-error.
    let unreachable = source("http://127.0.0.1:9", fast_policy());
    assert_eq!(unreachable.key_for(Some("ins_a")).await.err().unwrap().reason, TokenErrorReason::UnexpectedError);
}
