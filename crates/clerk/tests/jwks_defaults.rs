//! The JWKS cache as the app configures it (`JwksPolicy::default()`, what `CLERK_JWT_KEY`'s
//! absence gives): the documented numbers, and how they behave against a stub Backend API —
//! one fetch for many lookups (5-minute freshness), and within 10 s of a fetch an unknown kid
//! is refused at once instead of fetching again.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use clerk::bapi::BackendApi;
use clerk::{JwksCache, JwksPolicy, KeySource, SecretKey, TokenErrorReason};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn jwk(kid: &str, public_pem: &str) -> Value {
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    let k = rsa::RsaPublicKey::from_public_key_pem(public_pem).unwrap();
    let b = |v: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    json!({"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig", "n": b(k.n().to_bytes_be()), "e": b(k.e().to_bytes_be())})
}

#[test]
fn the_default_policy_is_the_documented_one() {
    let p = JwksPolicy::default();
    assert_eq!(p.ttl, Duration::from_secs(300), "keys are fresh for 5 minutes");
    assert_eq!(p.min_refetch_interval, Duration::from_secs(10), "at most one unknown-kid fetch per 10 s");
    assert_eq!(p.max_wait, Duration::from_secs(5), "an unknown kid waits at most 5 s");
    assert_eq!(
        (p.failure_backoff, p.max_backoff),
        (Duration::from_secs(1), Duration::from_secs(60)),
        "doubling backoff"
    );
    assert!(p.retries > 0 && p.retry_min_delay > Duration::ZERO, "retried via backon");
}

#[tokio::test]
async fn the_default_policy_fetches_once_and_refuses_unknown_kids_within_its_floor() {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/v1/jwks",
            get(|State(hits): State<Arc<AtomicUsize>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                Json(json!({"keys": [jwk("ins_a", include_str!("fixtures/instance-public.pem"))]}))
            }),
        )
        .with_state(Arc::clone(&hits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let keys = KeySource::Remote(Arc::new(JwksCache::new(
        BackendApi::new(&url, SecretKey::parse("sk_test_jwks").unwrap()),
        JwksPolicy::default(),
    )));
    for _ in 0..30 {
        keys.key_for(Some("ins_a")).await.unwrap();
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one fetch, then the cache");
    // An unknown kid right after a fetch: refused at once, without another fetch or a wait.
    let started = Instant::now();
    let err = keys.key_for(Some("ins_unknown")).await.err().unwrap();
    assert_eq!(err.reason, TokenErrorReason::JwkKidMismatch);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "within 10 s of the last fetch");
    assert!(keys.cached_key(Some("ins_a")).is_some());
}
