//! The `Cookie` header parser (the `cookie` 1.x semantics of the SDK), alone and as read by
//! `authenticate_request` (cookie family choice, handshake, refresh and redirect-counter values).
#![no_main]

use clerk::{Clerk, ClerkOptions, KeySource, PublishableKey, SecretKey, VerifyOptions};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CLERK: LazyLock<Clerk> = LazyLock::new(|| {
    Clerk::new(ClerkOptions {
        publishable_key: PublishableKey::parse("pk_test_aGFwcHktb3R0ZXItMTIuY2xlcmsuYWNjb3VudHMuZGV2JA").unwrap(),
        secret_key: SecretKey::parse("sk_test_fuzz").unwrap(),
        keys: KeySource::from_pem(include_str!("../../tests/fixtures/instance-public.pem")).unwrap(),
        api: None,
        proxy_url: None,
        verify: VerifyOptions::default(),
        organization_sync: None,
        satellite: None,
    })
});

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().unwrap());

fuzz_target!(|data: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(data) else { return };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::COOKIE, value);
    let cookies = clerk::request::parse_cookies(&headers);
    let raw = String::from_utf8_lossy(data);
    for name in cookies.keys() {
        // Every name comes from the header, trimmed.
        assert!(raw.contains(name.as_str()), "{name:?} not in the header");
        assert_eq!(name.trim_matches([' ', '\t']), name);
    }
    let mut req = http::Request::builder().uri("/dashboard").header("host", "app.example.com");
    req = req.header("sec-fetch-dest", "document");
    let (mut parts, ()) = req.body(()).unwrap().into_parts();
    parts.headers.extend(headers);
    let _ = RUNTIME.block_on(CLERK.authenticate_request(&parts));
});
