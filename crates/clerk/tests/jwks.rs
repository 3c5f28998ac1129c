//! The JWKS cache against a local stub of the Backend API: one fetch for many requests, a
//! single in-flight refetch for an unknown kid, a floor between refetches, stale keys served at
//! once while the Backend API is down (refreshed in the background with backoff), bounded waits,
//! and no transport detail in what reaches clients.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clerk::bapi::BackendApi;
use clerk::mint::Signer;
use clerk::{JwksCache, JwksPolicy, KeySource, SecretKey, TokenErrorReason};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Stub {
    hits: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    /// Extra delay of every answer, in milliseconds.
    slow: Arc<AtomicU64>,
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
                tokio::time::sleep(Duration::from_millis(50 + s.slow.load(Ordering::SeqCst))).await;
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
        max_wait: Duration::from_secs(5),
        failure_backoff: Duration::from_millis(400),
        max_backoff: Duration::from_secs(2),
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

fn hits(stub: &Stub) -> usize {
    stub.hits.load(Ordering::SeqCst)
}

#[tokio::test]
async fn stale_keys_are_served_at_once_while_the_backend_api_is_down() {
    let stub = Stub::default();
    stub.keys.lock().unwrap().push(jwk("ins_a", include_str!("fixtures/instance-public.pem")));
    let url = start(stub.clone()).await;
    let keys = source(&url, JwksPolicy { ttl: Duration::from_millis(100), ..fast_policy() });
    keys.key_for(Some("ins_a")).await.unwrap();
    stub.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Every request gets the stale key without waiting for the (retried, ~150 ms) refresh.
    let t = std::time::Instant::now();
    let lookups = (0..100).map(|_| keys.key_for(Some("ins_a")));
    for r in futures::future::join_all(lookups).await {
        r.expect("stale key served");
    }
    assert!(t.elapsed() < Duration::from_millis(50), "served without waiting: {:?}", t.elapsed());
    // One refresh ran in the background, retried twice with backoff.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hits(&stub), 1 + 3);
    // Within the failure backoff, requests start no new refresh.
    for _ in 0..50 {
        keys.key_for(Some("ins_a")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(hits(&stub), 1 + 3, "no refresh within the backoff");
    // Past it, one more background refresh; the backoff then doubles.
    tokio::time::sleep(Duration::from_millis(250)).await;
    keys.key_for(Some("ins_a")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hits(&stub), 1 + 3 + 3);
    // 500 ms after that refresh started: past the first backoff (400 ms), within the doubled one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    keys.key_for(Some("ins_a")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(hits(&stub), 1 + 3 + 3, "the second backoff is twice the first");
    // Clerk recovers: the next refresh after the backoff makes the keys fresh again.
    stub.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    keys.key_for(Some("ins_a")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(hits(&stub), 1 + 3 + 3 + 1);
    assert!(keys.cached_key(Some("ins_a")).is_some(), "fresh again");
}

#[tokio::test]
async fn only_an_unknown_kid_waits_and_only_for_a_bounded_time() {
    let stub = Stub::default();
    stub.keys.lock().unwrap().push(jwk("ins_a", include_str!("fixtures/instance-public.pem")));
    let url = start(stub.clone()).await;
    let policy = JwksPolicy { ttl: Duration::from_millis(100), max_wait: Duration::from_millis(100), ..fast_policy() };
    let keys = source(&url, policy);
    keys.key_for(Some("ins_a")).await.unwrap();
    // Clerk hangs: each answer takes a second.
    stub.slow.store(1000, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t = std::time::Instant::now();
    let (known, unknown) = tokio::join!(keys.key_for(Some("ins_a")), keys.key_for(Some("ins_new")));
    known.expect("stale key served");
    let err = unknown.err().unwrap();
    assert_eq!(err.reason, TokenErrorReason::JwkRemoteFailedToLoad);
    assert!(t.elapsed() < Duration::from_millis(600), "bounded wait: {:?}", t.elapsed());
    assert_eq!(hits(&stub), 2, "the stale key's refresh and the unknown kid's wait share one fetch");
}

#[tokio::test]
async fn a_cold_cache_reports_the_failure_in_the_sdk_s_words() {
    let stub = Stub::default();
    stub.down.store(true, Ordering::SeqCst);
    let url = start(stub.clone()).await;
    // With nothing cached, a down Backend API is a precise error, without our URL.
    let cold = source(&url, fast_policy());
    let err = cold.key_for(Some("ins_a")).await.err().unwrap();
    assert_eq!(err.reason, TokenErrorReason::JwkRemoteFailedToLoad);
    assert_eq!(err.message, "Error loading Clerk JWKS with code=503");
    assert_eq!(hits(&stub), 3);
    // Within the backoff the same answer comes at once, without a fetch.
    let t = std::time::Instant::now();
    assert_eq!(cold.key_for(Some("ins_a")).await.err().unwrap(), err);
    assert!(t.elapsed() < Duration::from_millis(40));
    assert_eq!(hits(&stub), 3);
    // No answer at all (a closed port): the SDK's fetch throws, which it calls unexpected-error
    // and reports without a message.
    let unreachable = source("http://127.0.0.1:9", fast_policy());
    let err = unreachable.key_for(Some("ins_a")).await.err().unwrap();
    assert_eq!((err.reason, err.message.as_str()), (TokenErrorReason::UnexpectedError, ""));
}

/// Issue 13: Backend API failures reached clients in `x-clerk-auth-message` with our internal
/// URL and transport error.
#[tokio::test]
async fn backend_api_failures_do_not_reach_clients() {
    use clerk::{Clerk, ClerkOptions, PublishableKey, VerifyOptions};
    let stub = Stub::default();
    stub.down.store(true, Ordering::SeqCst);
    let down = start(stub).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let token = Signer::from_pem("ins_a", include_str!("fixtures/instance-private.pem")).unwrap().sign_session(
        &json!({"sub": "user_1", "sid": "sess_1", "iss": "https://clerk.example.com", "iat": now, "exp": now + 60}),
    );
    for (api, reason) in [(down.as_str(), "jwk-remote-failed-to-load"), ("http://127.0.0.1:9", "unexpected-error")] {
        let clerk = Clerk::new(ClerkOptions {
            publishable_key: PublishableKey::parse("pk_live_Y2xlcmsuZXhhbXBsZS5jb20k").unwrap(),
            secret_key: SecretKey::parse("sk_live_jwks").unwrap(),
            keys: source(api, fast_policy()),
            api: None,
            proxy_url: None,
            verify: VerifyOptions::default(),
            organization_sync: None,
            satellite: None,
        });
        let cookie = format!("__session={token}; __client_uat={now}");
        for header in [("authorization", format!("Bearer {token}")), ("cookie", cookie)] {
            let parts = http::Request::builder()
                .uri("/api/whoami")
                .header("host", "app.example.com")
                .header(header.0, &header.1)
                .body(())
                .unwrap()
                .into_parts()
                .0;
            let state = clerk.authenticate_request(&parts).await.unwrap();
            let get = |name: &str| state.headers.get(name).map(|v| v.to_str().unwrap().to_string());
            assert_eq!(get("x-clerk-auth-reason").as_deref(), Some(reason));
            let message = get("x-clerk-auth-message").unwrap_or_default();
            for leak in ["127.0.0.1", "http", "/v1/", "unreachable", "error sending request"] {
                assert!(!message.contains(leak), "{api}: {message:?} leaks {leak:?}");
            }
            assert!(!state.message.contains("127.0.0.1"));
        }
    }
}

#[tokio::test]
async fn a_refetch_keeps_an_unchanged_key_s_object_and_replaces_a_changed_one() {
    let stub = Stub::default();
    stub.keys.lock().unwrap().push(jwk("ins_a", include_str!("fixtures/instance-public.pem")));
    let url = start(stub.clone()).await;
    let keys = source(&url, fast_policy());
    let first = keys.key_for(Some("ins_a")).await.unwrap();
    // An unknown kid makes the cache fetch again; ins_a is unchanged.
    assert_eq!(keys.key_for(Some("ins_unknown")).await.err().unwrap().reason, TokenErrorReason::JwkKidMismatch);
    assert_eq!(hits(&stub), 2);
    assert!(Arc::ptr_eq(&first, &keys.key_for(Some("ins_a")).await.unwrap()), "the same key object");
    // ins_a now names another key.
    *stub.keys.lock().unwrap() = vec![jwk("ins_a", include_str!("fixtures/other-public.pem"))];
    assert_eq!(keys.key_for(Some("ins_unknown")).await.err().unwrap().reason, TokenErrorReason::JwkKidMismatch);
    assert_eq!(hits(&stub), 3);
    assert!(!Arc::ptr_eq(&first, &keys.key_for(Some("ins_a")).await.unwrap()), "a new key object");
}

/// The verified-signature cache (`clerk::signatures`) against a rotation: a token answered from
/// it is refused once its kid names another key, as without the cache.
#[tokio::test]
async fn a_cached_signature_does_not_outlive_its_key() {
    use clerk::{AuthStatus, Clerk, ClerkOptions, PublishableKey, VerifyOptions};
    let stub = Stub::default();
    stub.keys.lock().unwrap().push(jwk("ins_a", include_str!("fixtures/instance-public.pem")));
    let url = start(stub.clone()).await;
    let clerk = Clerk::new(ClerkOptions {
        publishable_key: PublishableKey::parse("pk_live_Y2xlcmsuZXhhbXBsZS5jb20k").unwrap(),
        secret_key: SecretKey::parse("sk_live_jwks").unwrap(),
        keys: source(&url, fast_policy()),
        api: None,
        proxy_url: None,
        verify: VerifyOptions::default(),
        organization_sync: None,
        satellite: None,
    });
    let sign = |kid: &str| {
        Signer::from_pem(kid, include_str!("fixtures/instance-private.pem"))
            .unwrap()
            .sign_session(&json!({"sub": "user_1", "sid": "sess_1", "exp": 4_000_000_000i64}))
    };
    let authenticate = |token: String| {
        let clerk = clerk.clone();
        async move {
            let parts = http::Request::builder()
                .uri("https://app.example.com/api/whoami")
                .header("host", "app.example.com")
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .unwrap()
                .into_parts()
                .0;
            clerk.authenticate_request(&parts).await.unwrap()
        }
    };
    let token = sign("ins_a");
    for _ in 0..2 {
        assert_eq!(authenticate(token.clone()).await.status, AuthStatus::SignedIn);
    }
    assert_eq!(clerk.verified_signatures().hits(), 1);
    // Clerk republishes ins_a with another key; a token naming an unknown kid makes us refetch.
    *stub.keys.lock().unwrap() = vec![jwk("ins_a", include_str!("fixtures/other-public.pem"))];
    assert_eq!(authenticate(sign("ins_unknown")).await.reason.as_deref(), Some("jwk-kid-mismatch"));
    let refused = authenticate(token).await;
    assert_eq!((refused.status, refused.reason.as_deref()), (AuthStatus::SignedOut, Some("token-invalid-signature")));
    assert_eq!(clerk.verified_signatures().hits(), 1, "not answered from the cache");
}
