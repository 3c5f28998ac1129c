//! Webhook verification over the svix crate (protocol §7): raw body + headers → event.

use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

/// A verified Clerk webhook event.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Value,
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub instance_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing required headers: {0}")]
    MissingHeaders(String),
    #[error("webhook signature verification failed: {0}")]
    BadSignature(String),
    #[error("webhook body is not a Clerk event: {0}")]
    BadPayload(String),
}

/// Verifies with a `whsec_…` secret; cheap to clone.
#[derive(Clone)]
pub struct WebhookVerifier {
    inner: std::sync::Arc<svix::webhooks::Webhook>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookVerifier(***)")
    }
}

impl WebhookVerifier {
    pub fn new(signing_secret: &str) -> Result<Self, String> {
        if signing_secret.trim().is_empty() {
            return Err("signing secret is empty".into());
        }
        svix::webhooks::Webhook::new(signing_secret.trim())
            .map(|w| Self { inner: std::sync::Arc::new(w) })
            .map_err(|e| format!("invalid signing secret: {e}"))
    }

    /// Like `@clerk/backend`'s `verifyWebhook`: the three `svix-*` headers are required (the
    /// `webhook-*` spelling alone is refused), then svix checks timestamp (±5 min) and signatures.
    pub fn verify(&self, body: &[u8], headers: &HeaderMap) -> Result<WebhookEvent, WebhookError> {
        let missing: Vec<&str> = ["svix-id", "svix-timestamp", "svix-signature"]
            .into_iter()
            .filter(|h| headers.get(*h).is_none_or(|v| v.is_empty()))
            .collect();
        if !missing.is_empty() {
            return Err(WebhookError::MissingHeaders(missing.join(", ")));
        }
        self.inner.verify(body, headers).map_err(|e| WebhookError::BadSignature(e.to_string()))?;
        serde_json::from_slice(body).map_err(|e| WebhookError::BadPayload(e.to_string()))
    }

    /// Sign as Svix does (`v1,<base64>`), for the emulator and tests.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
        self.inner.sign(msg_id, timestamp, body).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const MSG_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;

    #[test]
    fn svix_known_answer_vector() {
        let v = WebhookVerifier::new(SECRET).unwrap();
        assert_eq!(
            v.sign(MSG_ID, 1649367553, BODY.as_bytes()).unwrap(),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    fn headers(id: &str, ts: i64, sig: &str, prefix: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::HeaderName::from_bytes(format!("{prefix}-id").as_bytes()).unwrap(), id.parse().unwrap());
        h.insert(
            http::HeaderName::from_bytes(format!("{prefix}-timestamp").as_bytes()).unwrap(),
            ts.to_string().parse().unwrap(),
        );
        h.insert(http::HeaderName::from_bytes(format!("{prefix}-signature").as_bytes()).unwrap(), sig.parse().unwrap());
        h
    }

    #[test]
    fn verification_cases() {
        let v = WebhookVerifier::new(SECRET).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let body = br#"{"type":"user.created","data":{"id":"user_1"},"object":"event"}"#;
        let good = v.sign("msg_1", now, body).unwrap();
        assert_eq!(v.verify(body, &headers("msg_1", now, &good, "svix")).unwrap().event_type, "user.created");
        // several signatures, one good
        assert!(v.verify(body, &headers("msg_1", now, &format!("v1,AAAA {good}"), "svix")).is_ok());
        // tampered body
        assert!(matches!(
            v.verify(br#"{"type":"user.deleted","data":{}}"#, &headers("msg_1", now, &good, "svix")),
            Err(WebhookError::BadSignature(_))
        ));
        // wrong secret
        let other = WebhookVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert!(matches!(
            other.verify(body, &headers("msg_1", now, &good, "svix")),
            Err(WebhookError::BadSignature(_))
        ));
        // stale and future timestamps
        let old = v.sign("msg_1", now - 360, body).unwrap();
        assert!(matches!(
            v.verify(body, &headers("msg_1", now - 360, &old, "svix")),
            Err(WebhookError::BadSignature(_))
        ));
        let recent = v.sign("msg_1", now - 270, body).unwrap();
        assert!(v.verify(body, &headers("msg_1", now - 270, &recent, "svix")).is_ok());
        let future = v.sign("msg_1", now + 360, body).unwrap();
        assert!(matches!(
            v.verify(body, &headers("msg_1", now + 360, &future, "svix")),
            Err(WebhookError::BadSignature(_))
        ));
        // only v2 scheme
        let v2 = good.replacen("v1,", "v2,", 1);
        assert!(matches!(v.verify(body, &headers("msg_1", now, &v2, "svix")), Err(WebhookError::BadSignature(_))));
        // webhook-* headers alone are refused, missing headers named
        assert_eq!(
            v.verify(body, &headers("msg_1", now, &good, "webhook")).unwrap_err(),
            WebhookError::MissingHeaders("svix-id, svix-timestamp, svix-signature".into())
        );
        let mut partial = headers("msg_1", now, &good, "svix");
        partial.remove("svix-signature");
        assert_eq!(v.verify(body, &partial).unwrap_err(), WebhookError::MissingHeaders("svix-signature".into()));
        // signed but not an event
        let junk = b"not json";
        let sig = v.sign("msg_2", now, junk).unwrap();
        assert!(matches!(v.verify(junk, &headers("msg_2", now, &sig, "svix")), Err(WebhookError::BadPayload(_))));
        assert!(WebhookVerifier::new("").is_err());
    }
}
