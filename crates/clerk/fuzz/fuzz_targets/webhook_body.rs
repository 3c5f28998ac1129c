//! The webhook body parser: a correctly signed body of any bytes must be accepted or refused
//! as a bad payload, never panic; arbitrary signature headers must be refused cleanly.
#![no_main]

use clerk::{WebhookError, WebhookVerifier};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static VERIFIER: LazyLock<WebhookVerifier> =
    LazyLock::new(|| WebhookVerifier::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap());

fn headers(id: &str, ts: &str, sig: &str) -> Option<http::HeaderMap> {
    let mut h = http::HeaderMap::new();
    h.insert("svix-id", id.parse().ok()?);
    h.insert("svix-timestamp", ts.parse().ok()?);
    h.insert("svix-signature", sig.parse().ok()?);
    Some(h)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    if mode & 1 == 0 {
        // Signed: only the body parser can refuse it.
        // Svix signs only UTF-8 bodies; such a body cannot come signed.
        let Ok(sig) = VERIFIER.sign("msg_fuzz", now, body) else {
            assert!(std::str::from_utf8(body).is_err(), "a UTF-8 body could not be signed");
            return;
        };
        let h = headers("msg_fuzz", &now.to_string(), &sig).unwrap();
        match VERIFIER.verify(body, &h) {
            // Accepted bodies are JSON. Checked as raw JSON, not as a `Value`: a number too large
            // for an f64 in a field the event ignores is valid JSON that `Value` cannot hold.
            Ok(event) => assert!(serde_json::from_slice::<Box<serde_json::value::RawValue>>(body).is_ok(), "{event:?}"),
            Err(WebhookError::BadPayload(_)) => {}
            Err(e) => panic!("a signed body refused for its signature: {e}"),
        }
    } else {
        // Headers from the input: `id \n timestamp \n signature \n body`.
        let text = String::from_utf8_lossy(body);
        let mut parts = text.splitn(4, '\n');
        let (Some(id), Some(ts), Some(sig), Some(rest)) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        if let Some(h) = headers(id, ts, sig) {
            let _ = VERIFIER.verify(rest.as_bytes(), &h);
        }
    }
});
