//! `authenticate_request` for a valid Bearer token and a valid cookie session, next to a bare
//! RS256 signature check of the same token measured in the same run. The ratio is what matters:
//! everything but the signature (parsing, cookie selection, claims, auth object) should add
//! little (target: < 25 %). Keys come from a PEM, so no JWKS fetch is on the path.
//!
//! The verified-signature cache (`clerk::signatures`) is off for those lines, so that they keep
//! measuring a first verification; a token sent again, answered from the cache, is measured
//! next to them (`cached`).
//!
//! A maximal `Cookie` header (the session cookies among 20,000 empty ones, ~170 KB) is measured
//! next to the normal cookie request: its cost must grow with the header's length, not its square.

use clerk::mint::Signer;
use clerk::{Clerk, ClerkOptions, KeySource, PublishableKey, SecretKey, VerifyOptions};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let signer = Signer::from_pem("ins_bench", include_str!("../tests/fixtures/instance-private.pem")).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    // Long-lived so the benchmark never crosses expiry.
    let token = signer.sign_session(&json!({"sub": "user_1", "sid": "sess_1", "iss": "https://clerk.example.com", "azp": "https://app.example.com", "iat": now - 5, "nbf": now - 15, "exp": now + 3600, "v": 2, "fea": "o:projects", "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "manage,read", "fpm": "3"}}));
    let clerk = Clerk::new(ClerkOptions {
        publishable_key: PublishableKey::parse("pk_live_Y2xlcmsuZXhhbXBsZS5jb20k").unwrap(),
        secret_key: SecretKey::parse("sk_live_bench").unwrap(),
        keys: KeySource::from_pem(include_str!("../tests/fixtures/instance-public.pem")).unwrap(),
        api: None,
        proxy_url: None,
        verify: VerifyOptions { authorized_parties: vec!["https://app.example.com".into()], ..Default::default() },
        organization_sync: None,
        satellite: None,
    });
    let cached = clerk.clone().with_verified_signature_capacity(clerk::signatures::DEFAULT_CAPACITY);
    let clerk = clerk.with_verified_signature_capacity(0);
    let key = DecodingKey::from_rsa_pem(include_bytes!("../tests/fixtures/instance-public.pem")).unwrap();
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let bearer = http::Request::builder()
        .uri("/api/whoami")
        .header("host", "app.example.com")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let cookie = http::Request::builder()
        .uri("/app/dashboard")
        .header("host", "app.example.com")
        .header("sec-fetch-dest", "document")
        .header("accept", "text/html")
        .header("cookie", format!("_ga=GA1.1.1; __client_uat={}; __session={token}; theme=dark", now - 100))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let filler: String = (0..MAX_COOKIES).map(|i| format!("c{i}=; ")).collect();
    let maximal = http::Request::builder()
        .uri("/app/dashboard")
        .header("host", "app.example.com")
        .header("sec-fetch-dest", "document")
        .header("accept", "text/html")
        .header("cookie", format!("{filler}__client_uat={}; __session={token}", now - 100))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert!(rt.block_on(clerk.authenticate_request(&bearer)).unwrap().to_auth().is_some());
    assert!(rt.block_on(clerk.authenticate_request(&cookie)).unwrap().to_auth().is_some());
    assert!(rt.block_on(clerk.authenticate_request(&maximal)).unwrap().to_auth().is_some());

    assert!(rt.block_on(cached.authenticate_request(&bearer)).unwrap().to_auth().is_some());
    assert_eq!(cached.verified_signatures().len(), 1);

    interleaved(&rt, &clerk, &cached, &key, signing_input, signature, &bearer, &cookie);
    maximal_header_ratio(&rt, &clerk, &cookie, &maximal);

    let mut g = c.benchmark_group("authenticate");
    g.bench_function("bare_rs256_verify", |b| {
        b.iter(|| {
            assert!(jsonwebtoken::crypto::verify(
                black_box(signature),
                black_box(signing_input.as_bytes()),
                &key,
                Algorithm::RS256
            )
            .unwrap())
        })
    });
    g.bench_function("authenticate_request_bearer", |b| {
        b.iter(|| rt.block_on(clerk.authenticate_request(black_box(&bearer))).unwrap())
    });
    g.bench_function("authenticate_request_bearer_cached", |b| {
        b.iter(|| rt.block_on(cached.authenticate_request(black_box(&bearer))).unwrap())
    });
    g.bench_function("authenticate_request_cookie", |b| {
        b.iter(|| rt.block_on(clerk.authenticate_request(black_box(&cookie))).unwrap())
    });
    g.bench_function("authenticate_request_cookie_maximal_header", |b| {
        b.iter(|| rt.block_on(clerk.authenticate_request(black_box(&maximal))).unwrap())
    });
    g.finish();
}

/// Empty cookies in the maximal header (~170 KB, what issue 13 measured).
const MAX_COOKIES: usize = 20_000;

/// The maximal header against the normal cookie request, alternating, median of the ratios.
fn maximal_header_ratio(
    rt: &tokio::runtime::Runtime,
    clerk: &Clerk,
    cookie: &http::request::Parts,
    maximal: &http::request::Parts,
) {
    use std::time::Instant;
    const ROUNDS: usize = 15;
    const BATCH: u32 = 10;
    let timed = |parts: &http::request::Parts| {
        rt.block_on(async {
            let t = Instant::now();
            for _ in 0..BATCH {
                drop(clerk.authenticate_request(black_box(parts)).await.unwrap());
            }
            t.elapsed().as_nanos() as f64 / f64::from(BATCH)
        })
    };
    let mut ratios: Vec<f64> = (0..ROUNDS).map(|_| timed(maximal) / timed(cookie)).collect();
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let len = maximal.headers.get("cookie").map_or(0, |v| v.len());
    println!(
        "maximal Cookie header ({MAX_COOKIES} cookies, {} KB) vs the normal cookie request: x{:.1} (median)",
        len / 1000,
        ratios[ROUNDS / 2]
    );
}

/// The ratio that matters, robust to a noisy shared machine: the variants alternate in short
/// batches, and the median of the per-round ratios is reported.
#[allow(clippy::too_many_arguments)]
fn interleaved(
    rt: &tokio::runtime::Runtime,
    clerk: &Clerk,
    cached: &Clerk,
    key: &DecodingKey,
    input: &str,
    signature: &str,
    bearer: &http::request::Parts,
    cookie: &http::request::Parts,
) {
    use std::time::Instant;
    const ROUNDS: usize = 41;
    const BATCH: u32 = 200;
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..BATCH {
            f();
        }
        t.elapsed().as_nanos() as f64 / f64::from(BATCH)
    };
    let (mut rb, mut rc, mut rcached) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let bare = time(&mut || {
            assert!(jsonwebtoken::crypto::verify(
                black_box(signature),
                black_box(input.as_bytes()),
                key,
                Algorithm::RS256
            )
            .unwrap())
        });
        // Inside one runtime entry, as in a server: entering the runtime per call is bench overhead.
        let timed_async = |clerk: &Clerk, parts: &http::request::Parts| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..BATCH {
                    drop(clerk.authenticate_request(black_box(parts)).await.unwrap());
                }
                t.elapsed().as_nanos() as f64 / f64::from(BATCH)
            })
        };
        let b = timed_async(clerk, bearer);
        let c = timed_async(clerk, cookie);
        let cached = timed_async(cached, bearer);
        rb.push(b / bare - 1.0);
        rc.push(c / bare - 1.0);
        rcached.push(cached / bare);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2] * 100.0
    };
    println!(
        "interleaved median overhead over bare RS256 verify: bearer {:+.1} %, cookie {:+.1} % (target < 25 %)",
        median(rb),
        median(rc)
    );
    println!(
        "a Bearer token sent again, its signature from the verified-signature cache: {:.1} % of one bare RS256 verify (median)",
        median(rcached)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
