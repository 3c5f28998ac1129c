//! Session-token verification with the SDK's order of checks and reason strings (protocol §3.4).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::claims::CAT_M2M;

/// `TokenVerificationErrorReason` of the SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenErrorReason {
    TokenExpired,
    TokenInvalid,
    TokenInvalidAlgorithm,
    TokenInvalidAuthorizedParties,
    TokenInvalidSignature,
    TokenNotActiveYet,
    TokenIatInTheFuture,
    TokenVerificationFailed,
    SecretKeyInvalid,
    JwkRemoteFailedToLoad,
    JwkFailedToResolve,
    JwkKidMismatch,
}

impl TokenErrorReason {
    pub fn as_str(self) -> &'static str {
        use TokenErrorReason::*;
        match self {
            TokenExpired => "token-expired",
            TokenInvalid => "token-invalid",
            TokenInvalidAlgorithm => "token-invalid-algorithm",
            TokenInvalidAuthorizedParties => "token-invalid-authorized-parties",
            TokenInvalidSignature => "token-invalid-signature",
            TokenNotActiveYet => "token-not-active-yet",
            TokenIatInTheFuture => "token-iat-in-the-future",
            TokenVerificationFailed => "token-verification-failed",
            SecretKeyInvalid => "secret-key-invalid",
            JwkRemoteFailedToLoad => "jwk-remote-failed-to-load",
            JwkFailedToResolve => "jwk-failed-to-resolve",
            JwkKidMismatch => "jwk-kid-mismatch",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TokenError {
    pub reason: TokenErrorReason,
    pub message: String,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (reason={})", self.message, self.reason.as_str())
    }
}

impl TokenError {
    pub fn new(reason: TokenErrorReason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}

/// The JOSE header fields that matter. Values stay `Value` so that a field of the wrong type is
/// judged by the check that reads it (as the SDK does), not by the decoder.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Header {
    pub alg: Option<Value>,
    pub typ: Option<Value>,
    pub kid: Option<Value>,
    pub cat: Option<Value>,
}

/// The claims the checks and the auth object read, decoded straight into fields (every other
/// claim is skipped): on the path of every request, this is much cheaper than a `Value` tree.
/// The whole payload is still available, parsed on demand, through [`DecodedJwt::payload`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Claims {
    pub sub: Option<Value>,
    pub sid: Option<Value>,
    pub iss: Option<Value>,
    pub azp: Option<Value>,
    pub aud: Option<Value>,
    pub exp: Option<Value>,
    pub nbf: Option<Value>,
    pub iat: Option<Value>,
    pub v: Option<Value>,
    pub sts: Option<Value>,
    pub fea: Option<Value>,
    pub pla: Option<Value>,
    pub act: Option<Value>,
    pub fva: Option<Value>,
    pub org_id: Option<Value>,
    pub org_slug: Option<Value>,
    pub org_role: Option<Value>,
    pub org_permissions: Option<Value>,
    pub o: Option<Value>,
}

impl Claims {
    pub fn str(v: &Option<Value>) -> Option<&str> {
        v.as_ref().and_then(Value::as_str)
    }
    fn seconds(v: &Option<Value>) -> Option<f64> {
        v.as_ref().and_then(Value::as_f64)
    }
}

/// A JWT split and decoded, not yet verified.
#[derive(Debug)]
pub struct DecodedJwt {
    pub header: Header,
    pub claims: Claims,
    payload_json: Vec<u8>,
    payload: std::sync::OnceLock<Value>,
    /// The token as received; `dot` is the position of its last `.` (signing input | signature).
    raw: String,
    dot: usize,
}

impl DecodedJwt {
    pub fn kid(&self) -> Option<&str> {
        Claims::str(&self.header.kid)
    }
    pub fn alg(&self) -> Option<&str> {
        Claims::str(&self.header.alg)
    }
    pub fn typ(&self) -> Option<&str> {
        Claims::str(&self.header.typ)
    }
    pub fn cat(&self) -> Option<&str> {
        Claims::str(&self.header.cat)
    }
    /// `iat`, `exp` or `nbf` in whole seconds.
    pub fn time_claim(&self, name: &str) -> Option<i64> {
        let v = match name {
            "iat" => &self.claims.iat,
            "exp" => &self.claims.exp,
            "nbf" => &self.claims.nbf,
            _ => return None,
        };
        Claims::seconds(v).map(|f| f as i64)
    }
    /// The whole payload (parsed on first use).
    pub fn payload(&self) -> &Value {
        self.payload.get_or_init(|| serde_json::from_slice(&self.payload_json).unwrap_or(Value::Null))
    }
    pub fn into_payload(self) -> Value {
        let DecodedJwt { payload, payload_json, .. } = self;
        payload.into_inner().unwrap_or_else(|| serde_json::from_slice(&payload_json).unwrap_or(Value::Null))
    }
    /// `typ` `at+jwt` or `sub` starting `mch_`: a machine token, never a session token.
    pub fn is_machine_token(&self) -> bool {
        matches!(self.typ(), Some("at+jwt" | "application/at+jwt"))
            || Claims::str(&self.claims.sub).is_some_and(|s| s.starts_with("mch_"))
    }

    /// Verify only the RSA signature (used for handshake tokens too).
    pub fn signature_valid(&self, key: &DecodingKey, alg: Algorithm) -> bool {
        let (input, signature) = (&self.raw[..self.dot], &self.raw[self.dot + 1..]);
        jsonwebtoken::crypto::verify(signature, input.as_bytes(), key, alg).unwrap_or(false)
    }
}

/// Three dot-separated base64url parts, header and payload JSON objects; else `token-invalid`.
pub fn decode_jwt(token: &str) -> Result<DecodedJwt, TokenError> {
    let invalid = |m: &str| TokenError::new(TokenErrorReason::TokenInvalid, format!("Invalid JWT form. {m}"));
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("A JWT consists of three parts separated by dots."));
    };
    // Objects only: serde would also read a struct from a JSON array.
    let object = |part: &str| -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
        (bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')).then_some(bytes)
    };
    let header_json = object(h).ok_or_else(|| invalid("The header is not base64url JSON."))?;
    let header: Header =
        serde_json::from_slice(&header_json).map_err(|_| invalid("The header is not base64url JSON."))?;
    let payload_json = object(p).ok_or_else(|| invalid("The payload is not base64url JSON."))?;
    let claims: Claims =
        serde_json::from_slice(&payload_json).map_err(|_| invalid("The payload is not base64url JSON."))?;
    // Alphabet and length check only: the signature is decoded once, when it is verified.
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') || s.len() % 4 == 1 {
        return Err(invalid("The signature is not base64url."));
    }
    Ok(DecodedJwt {
        header,
        claims,
        payload_json,
        payload: std::sync::OnceLock::new(),
        raw: token.to_string(),
        dot: h.len() + 1 + p.len(),
    })
}

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Accepted `azp` values; empty = not checked. When set, `azp` must be present.
    pub authorized_parties: Vec<String>,
    /// Accepted `aud` values; checked only when both this and the claim are non-empty.
    pub audience: Vec<String>,
    pub clock_skew: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self { authorized_parties: Vec::new(), audience: Vec::new(), clock_skew: Duration::from_secs(5) }
    }
}

pub(crate) fn now_ms() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i128).unwrap_or(0)
}

/// Header checks, signature and claims, in the SDK's order, against an already resolved key.
pub fn verify_decoded(jwt: &DecodedJwt, key: &DecodingKey, opts: &VerifyOptions) -> Result<(), TokenError> {
    use TokenErrorReason::*;
    if let Some(typ) = &jwt.header.typ {
        if typ.as_str() != Some("JWT") {
            return Err(TokenError::new(TokenInvalid, format!("Invalid JWT type {typ}. Expected \"JWT\".")));
        }
    }
    let alg = match jwt.alg() {
        Some("RS256") => Algorithm::RS256,
        // Accepted names, but Clerk's keys are RS256 keys: the SDK's key import then fails, which
        // it reports as a general verification failure (observed with @clerk/backend 3.25.0).
        Some("RS384" | "RS512") => {
            return Err(TokenError::new(TokenVerificationFailed, "Failed to verify JWT: the key is an RS256 key."));
        }
        other => {
            return Err(TokenError::new(
                TokenInvalidAlgorithm,
                format!("Invalid JWT algorithm {}. Supported: RS256, RS384, RS512.", other.unwrap_or("(missing)")),
            ))
        }
    };
    if !jwt.signature_valid(key, alg) {
        return Err(TokenError::new(TokenInvalidSignature, "JWT signature is invalid."));
    }
    check_claims(&jwt.claims, opts, now_ms())
}

fn check_claims(p: &Claims, opts: &VerifyOptions, now: i128) -> Result<(), TokenError> {
    use TokenErrorReason::*;
    if !p.sub.as_ref().is_some_and(Value::is_string) {
        return Err(TokenError::new(TokenVerificationFailed, "Subject claim (sub) is required and must be a string."));
    }
    if !opts.audience.is_empty() {
        let aud: Vec<&str> = match &p.aud {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !aud.is_empty() && !aud.iter().any(|a| opts.audience.iter().any(|o| o == a)) {
            return Err(TokenError::new(TokenVerificationFailed, "Invalid JWT audience claim (aud)."));
        }
    }
    if !opts.authorized_parties.is_empty() {
        let azp = Claims::str(&p.azp);
        if !azp.is_some_and(|azp| opts.authorized_parties.iter().any(|ap| ap == azp)) {
            return Err(TokenError::new(
                TokenInvalidAuthorizedParties,
                format!(
                    "Invalid JWT Authorized party claim (azp) {azp:?}. Expected one of {:?}.",
                    opts.authorized_parties
                ),
            ));
        }
    }
    let skew = opts.clock_skew.as_millis() as i128;
    let num = |v: &Option<Value>| Claims::seconds(v).map(|f| (f * 1000.0) as i128);
    let Some(exp) = num(&p.exp) else {
        return Err(TokenError::new(TokenVerificationFailed, "Invalid JWT expiry date claim (exp)."));
    };
    if exp <= now - skew {
        return Err(TokenError::new(TokenExpired, "JWT is expired."));
    }
    if let Some(nbf) = num(&p.nbf) {
        if nbf > now + skew {
            return Err(TokenError::new(TokenNotActiveYet, "JWT cannot be used prior to not before date claim (nbf)."));
        }
    }
    if let Some(iat) = num(&p.iat) {
        if iat > now + skew {
            return Err(TokenError::new(TokenIatInTheFuture, "JWT issued at date claim (iat) is in the future."));
        }
    }
    Ok(())
}

/// The M2M category is rejected before any key is resolved.
pub(crate) fn reject_m2m_category(jwt: &DecodedJwt) -> Result<(), TokenError> {
    if jwt.cat() == Some(CAT_M2M) {
        return Err(TokenError::new(
            TokenErrorReason::TokenInvalid,
            "Machine-to-machine tokens are not session tokens.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_claims(v: &Value, o: &VerifyOptions, now: i128) -> Result<(), TokenError> {
        super::check_claims(&serde_json::from_value(v.clone()).unwrap(), o, now)
    }

    #[test]
    fn decode_rejects_malformed() {
        for t in ["", "a.b", "a.b.c.d", "!!.e30.e30", "e30.bm90IGpzb24.e30"] {
            assert_eq!(decode_jwt(t).unwrap_err().reason, TokenErrorReason::TokenInvalid, "{t}");
        }
        assert!(decode_jwt("e30.e30.").is_ok());
    }

    #[test]
    fn clock_skew_boundaries() {
        let now = 1_000_000_000_000i128;
        let o = VerifyOptions::default();
        let at = |exp_off: i64| json!({"sub":"u","exp": (now/1000) as i64 + exp_off, "iat": (now/1000) as i64});
        assert_eq!(check_claims(&at(-10), &o, now).unwrap_err().reason, TokenErrorReason::TokenExpired);
        assert_eq!(check_claims(&at(-6), &o, now).unwrap_err().reason, TokenErrorReason::TokenExpired);
        assert!(check_claims(&at(-4), &o, now).is_ok());
        let nbf = json!({"sub":"u","exp": (now/1000) as i64 + 60, "nbf": (now/1000) as i64 + 60});
        assert_eq!(check_claims(&nbf, &o, now).unwrap_err().reason, TokenErrorReason::TokenNotActiveYet);
        let iat = json!({"sub":"u","exp": (now/1000) as i64 + 60, "iat": (now/1000) as i64 + 60});
        assert_eq!(check_claims(&iat, &o, now).unwrap_err().reason, TokenErrorReason::TokenIatInTheFuture);
        let nosub = json!({"exp": (now/1000) as i64 + 60});
        assert_eq!(check_claims(&nosub, &o, now).unwrap_err().reason, TokenErrorReason::TokenVerificationFailed);
    }

    #[test]
    fn azp_and_aud() {
        let now = 1_000_000_000_000i128;
        let exp = (now / 1000) as i64 + 60;
        let o = VerifyOptions { authorized_parties: vec!["https://app.example.com".into()], ..Default::default() };
        assert!(check_claims(&json!({"sub":"u","exp":exp,"azp":"https://app.example.com"}), &o, now).is_ok());
        for c in [json!({"sub":"u","exp":exp,"azp":"https://other.com"}), json!({"sub":"u","exp":exp})] {
            assert_eq!(check_claims(&c, &o, now).unwrap_err().reason, TokenErrorReason::TokenInvalidAuthorizedParties);
        }
        assert!(check_claims(&json!({"sub":"u","exp":exp}), &VerifyOptions::default(), now).is_ok());
        let aud = VerifyOptions { audience: vec!["b".into()], ..Default::default() };
        assert_eq!(
            check_claims(&json!({"sub":"u","exp":exp,"aud":"a"}), &aud, now).unwrap_err().reason,
            TokenErrorReason::TokenVerificationFailed
        );
        assert!(check_claims(&json!({"sub":"u","exp":exp}), &aud, now).is_ok());
        assert!(check_claims(&json!({"sub":"u","exp":exp,"aud":"a"}), &VerifyOptions::default(), now).is_ok());
    }
}
