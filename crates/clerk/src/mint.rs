//! Signing JWTs the way Clerk does (RS256, `kid` = instance id, optional `cat`): used by the
//! emulator, by tests and by benchmarks. Verification never goes through here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

#[derive(Clone)]
pub struct Signer {
    kid: String,
    key: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Signer {
    /// From an RSA private key PEM (PKCS#8 or PKCS#1).
    pub fn from_pem(kid: impl Into<String>, private_pem: &str) -> Result<Self, String> {
        EncodingKey::from_rsa_pem(private_pem.as_bytes())
            .map(|key| Self { kid: kid.into(), key })
            .map_err(|e| e.to_string())
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The standard session-token header: `{alg: RS256, typ: JWT, kid, cat: session}`.
    pub fn session_header(&self) -> Value {
        json!({"alg": "RS256", "typ": "JWT", "kid": self.kid, "cat": crate::categories::CAT_SESSION})
    }

    /// Sign `header.payload` with RS256, whatever `alg` the header claims (tests forge headers).
    pub fn sign(&self, header: &Value, payload: &Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).expect("json"));
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).expect("json"));
        let input = format!("{h}.{p}");
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, Algorithm::RS256)
            .expect("RS256 signing with an RSA key");
        format!("{input}.{sig}")
    }

    pub fn sign_session(&self, payload: &Value) -> String {
        self.sign(&self.session_header(), payload)
    }
}
