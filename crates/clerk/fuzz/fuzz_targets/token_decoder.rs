//! The session-token decoder and everything that reads a decoded token: header and claim
//! accessors, the typed `Auth`, the SDK's auth object, and verification against a fixed key.
#![no_main]

use clerk::verify::{decode_jwt, verify_decoded};
use clerk::{Auth, AuthObject, KeySource, VerifyOptions};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static KEY: LazyLock<KeySource> =
    LazyLock::new(|| KeySource::from_pem(include_str!("../../tests/fixtures/instance-public.pem")).unwrap());

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let Ok(jwt) = decode_jwt(token) else { return };
    let _ = (jwt.kid(), jwt.alg(), jwt.typ(), jwt.cat(), jwt.is_machine_token(), jwt.time_claim("exp"));
    let claims = jwt.claims();
    let _ = (claims.iat.f64(), claims.sid.str(), claims.azp.is_truthy(), claims.exp.i64());
    let _ = clerk::claims::has_malformed_org_features(claims);
    if let Some(auth) = Auth::from_typed(claims) {
        let _ = (auth.org_id(), auth.org_role(), auth.has_role("org:admin"), auth.has_permission("org:p:read"));
    }
    let _ = AuthObject::signed_in(jwt.payload()).to_json();
    let key = KEY.cached_key(None).unwrap();
    let _ = verify_decoded(&jwt, &key, &VerifyOptions::default());
});
