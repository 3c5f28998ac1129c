//! `verify_token` for services: the SDK's `verifyToken` (`packages/backend/src/tokens/verify.ts`),
//! distinct from session authentication.
//!
//! [`crate::Clerk::authenticate_request`] decides whether a *browser request* carries a session:
//! it refuses JWT-template tokens (`cat` of a template) as the wrong token type. A service that
//! receives a token minted for it from a JWT template (a backend-for-frontend calling it, another
//! language's client…) verifies it with [`verify_token`] instead, which — as the SDK's
//! `verifyToken` — accepts any token the instance signed except machine-to-machine ones: session
//! tokens and template tokens alike. What it trusted comes back as a [`VerifiedToken`] whose
//! [`VerifiedToken::kind`] lets the service refuse the kinds it does not want (a service behind a
//! backend-for-frontend usually wants template tokens only).
//!
//! Networkless with a PEM ([`KeySource::Pem`], the SDK's `jwtKey`); with a JWKS
//! ([`KeySource::Remote`]) only a cache miss fetches. Checks, in the SDK's order and with its
//! reasons: the form, the M2M category, the key (`kid` against the JWKS), `typ`, `alg`, the
//! signature, `sub`, `aud`, `azp` ([`VerifyOptions::authorized_parties`]), `iss`
//! ([`VerifyOptions::issuer`], optional), `exp`/`nbf`/`iat` with [`VerifyOptions::clock_skew`]
//! (Clerk's 5 s by default).

use serde_json::Value;

use crate::categories::{CAT_IGNORE, CAT_M2M, CAT_SESSION, CAT_TEMPLATE};
use crate::jwks::KeySource;
use crate::signatures::VerifiedSignatures;
use crate::verify::{decode_jwt, verify_decoded, verify_decoded_by, TokenError, TokenErrorReason, VerifyOptions};

/// What kind of token [`verify_token`] accepted, from its header's `cat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A session token (`cat` of a session or the "ignore" tag).
    Session,
    /// A JWT-template token.
    Template,
    /// No `cat`, or one this crate does not know (the SDK accepts both).
    Unknown,
}

/// A verified token's header category and claims.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    kind: TokenKind,
    claims: Value,
}

impl VerifiedToken {
    pub fn kind(&self) -> TokenKind {
        self.kind
    }
    /// The whole payload, custom claims of a template included.
    pub fn claims(&self) -> &Value {
        &self.claims
    }
    pub fn into_claims(self) -> Value {
        self.claims
    }
    /// `sub` (verified to be a string).
    pub fn user_id(&self) -> &str {
        self.claim_str("sub").unwrap_or_default()
    }
    /// `sid`, which session tokens carry (templates only if they add it).
    pub fn session_id(&self) -> Option<&str> {
        self.claim_str("sid")
    }
    /// The organization: `org_id` (v1 session tokens, and the conventional template claim
    /// `"org_id": "{{org.id}}"`) or `o.id` (v2 session tokens). An empty string is none.
    pub fn org_id(&self) -> Option<&str> {
        self.claim_str("org_id")
            .or_else(|| self.claims.get("o").and_then(|o| o.get("id")).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
    }
    fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

/// The SDK's `verifyToken(token, { jwtKey | secretKey, authorizedParties, audience, issuer,
/// clockSkewInMs })`: accepts session and JWT-template tokens, refuses M2M tokens.
pub async fn verify_token(token: &str, keys: &KeySource, opts: &VerifyOptions) -> Result<VerifiedToken, TokenError> {
    verify(token, keys, opts, None).await
}

/// [`verify_token`], with the RS256 step answered by `signatures` for a token whose exact bytes
/// it already verified with the same key object (see [`VerifiedSignatures`]): for a service
/// that is sent one token many times (a backend-for-frontend reuses a template token until
/// shortly before it expires). Every other check runs on every call, in the SDK's order, with
/// the same answers as [`verify_token`]; not in the SDK.
pub async fn verify_token_cached(
    token: &str,
    keys: &KeySource,
    opts: &VerifyOptions,
    signatures: &VerifiedSignatures,
) -> Result<VerifiedToken, TokenError> {
    verify(token, keys, opts, Some(signatures)).await
}

async fn verify(
    token: &str,
    keys: &KeySource,
    opts: &VerifyOptions,
    signatures: Option<&VerifiedSignatures>,
) -> Result<VerifiedToken, TokenError> {
    let jwt = decode_jwt(token)?;
    let cat = jwt.cat();
    if cat.as_deref() == Some(CAT_M2M) {
        return Err(TokenError::new(TokenErrorReason::TokenInvalid, "Invalid session token category."));
    }
    let kind = match cat.as_deref() {
        Some(CAT_SESSION | CAT_IGNORE) => TokenKind::Session,
        Some(CAT_TEMPLATE) => TokenKind::Template,
        _ => TokenKind::Unknown,
    };
    let key = match keys.cached_key(jwt.kid().as_deref()) {
        Some(k) => k,
        None => keys.key_for(jwt.kid().as_deref()).await?,
    };
    match signatures {
        Some(cache) => verify_decoded_by(&jwt, opts, |alg| cache.signature_valid(&jwt, &key, alg))?,
        None => verify_decoded(&jwt, &key, opts)?,
    }
    Ok(VerifiedToken { kind, claims: jwt.into_payload() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::Signer;
    use serde_json::json;
    use std::time::Duration;

    const PRIVATE: &str = include_str!("../tests/fixtures/instance-private.pem");
    const PUBLIC: &str = include_str!("../tests/fixtures/instance-public.pem");
    const OTHER_PRIVATE: &str = include_str!("../tests/fixtures/other-private.pem");
    const OTHER_PUBLIC: &str = include_str!("../tests/fixtures/other-public.pem");
    const ISS: &str = "https://clerk.example.com";

    fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }
    fn signer(pem: &str) -> Signer {
        Signer::from_pem("ins_test", pem).unwrap()
    }
    fn template(s: &Signer, extra: Value) -> String {
        let mut claims = json!({"sub": "user_1", "iss": ISS, "iat": now(), "nbf": now() - 10, "exp": now() + 60});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        s.sign(&json!({"alg": "RS256", "typ": "JWT", "kid": s.kid(), "cat": CAT_TEMPLATE}), &claims)
    }
    fn keys() -> KeySource {
        KeySource::from_pem(PUBLIC).unwrap()
    }
    async fn reason(token: &str, opts: &VerifyOptions) -> TokenErrorReason {
        verify_token(token, &keys(), opts).await.unwrap_err().reason
    }

    #[tokio::test]
    async fn template_and_session_tokens_are_both_accepted() {
        let s = signer(PRIVATE);
        let t = verify_token(&template(&s, json!({"org_id": "org_1", "plan": "pro"})), &keys(), &Default::default())
            .await
            .unwrap();
        assert_eq!(
            (t.kind(), t.user_id(), t.org_id(), t.session_id()),
            (TokenKind::Template, "user_1", Some("org_1"), None)
        );
        assert_eq!(t.claims()["plan"], "pro");
        let session = s.sign_session(
            &json!({"sub": "user_2", "sid": "sess_1", "exp": now() + 60, "iat": now(), "v": 2, "o": {"id": "org_2"}}),
        );
        let t = verify_token(&session, &keys(), &Default::default()).await.unwrap();
        assert_eq!(
            (t.kind(), t.user_id(), t.org_id(), t.session_id()),
            (TokenKind::Session, "user_2", Some("org_2"), Some("sess_1"))
        );
    }

    #[tokio::test]
    async fn the_cached_form_skips_only_a_signature_it_verified_and_answers_the_same() {
        let (s, cache) = (signer(PRIVATE), VerifiedSignatures::new(8));
        let (keys, d) = (keys(), VerifyOptions::default());
        let token = template(&s, json!({"org_id": "org_1"}));
        for _ in 0..3 {
            let t = verify_token_cached(&token, &keys, &d, &cache).await.unwrap();
            assert_eq!((t.kind(), t.user_id(), t.org_id()), (TokenKind::Template, "user_1", Some("org_1")));
        }
        assert_eq!((cache.len(), cache.hits()), (1, 2), "verified once, answered twice from the cache");
        // A forged token is verified (and refused) every time, and never recorded.
        let forged = template(&signer(OTHER_PRIVATE), json!({}));
        for _ in 0..2 {
            let e = verify_token_cached(&forged, &keys, &d, &cache).await.unwrap_err();
            assert_eq!(e.reason, TokenErrorReason::TokenInvalidSignature);
        }
        assert_eq!((cache.len(), cache.hits()), (1, 2));
        // The claims are checked on every call: a recorded token refused by another rule is refused.
        let iss = VerifyOptions { issuer: vec!["https://other.example".into()], ..Default::default() };
        let e = verify_token_cached(&token, &keys, &iss, &cache).await.unwrap_err();
        assert_eq!((e.reason, cache.hits()), (TokenErrorReason::TokenInvalidIssuer, 3), "signature from the cache");
        // Another instance's key is refused; another key object (the same PEM loaded again) does
        // not inherit the first one's entry: it is verified again.
        let e = verify_token_cached(&token, &KeySource::from_pem(OTHER_PUBLIC).unwrap(), &d, &cache).await.unwrap_err();
        assert_eq!(e.reason, TokenErrorReason::TokenInvalidSignature);
        verify_token_cached(&token, &KeySource::from_pem(PUBLIC).unwrap(), &d, &cache).await.unwrap();
        assert_eq!(cache.hits(), 3, "another key object is verified again, not answered from the cache: {cache:?}");
    }

    #[tokio::test]
    async fn refusals_carry_the_sdk_reasons() {
        let s = signer(PRIVATE);
        let d = VerifyOptions::default();
        let m2m =
            s.sign(&json!({"alg": "RS256", "kid": "k", "cat": CAT_M2M}), &json!({"sub": "mch_1", "exp": now() + 60}));
        assert_eq!(reason(&m2m, &d).await, TokenErrorReason::TokenInvalid);
        assert_eq!(
            reason(&template(&signer(OTHER_PRIVATE), json!({})), &d).await,
            TokenErrorReason::TokenInvalidSignature
        );
        assert_eq!(reason(&template(&s, json!({"exp": now() - 6})), &d).await, TokenErrorReason::TokenExpired);
        assert!(verify_token(&template(&s, json!({"exp": now() - 3})), &keys(), &d).await.is_ok(), "within the skew");
        let strict = VerifyOptions { clock_skew: Duration::ZERO, ..Default::default() };
        assert_eq!(reason(&template(&s, json!({"exp": now() - 3})), &strict).await, TokenErrorReason::TokenExpired);
        assert_eq!(reason(&template(&s, json!({"nbf": now() + 30})), &d).await, TokenErrorReason::TokenNotActiveYet);
        assert_eq!(reason(&template(&s, json!({"iat": now() + 30})), &d).await, TokenErrorReason::TokenIatInTheFuture);
        let iss = VerifyOptions { issuer: vec![ISS.into()], ..Default::default() };
        assert!(verify_token(&template(&s, json!({})), &keys(), &iss).await.is_ok());
        let e = verify_token(&template(&s, json!({"iss": "https://evil.example"})), &keys(), &iss).await.unwrap_err();
        assert_eq!(e.reason, TokenErrorReason::TokenInvalidIssuer);
        assert_eq!(e.message, format!("Invalid JWT issuer claim (iss) \"https://evil.example\". Expected \"{ISS}\"."));
        assert_eq!(reason(&template(&s, json!({"iss": null})), &iss).await, TokenErrorReason::TokenInvalidIssuer);
        let azp = VerifyOptions { authorized_parties: vec!["https://app.example.com".into()], ..Default::default() };
        assert_eq!(
            reason(&template(&s, json!({"azp": "https://other.example"})), &azp).await,
            TokenErrorReason::TokenInvalidAuthorizedParties
        );
        assert!(verify_token(&template(&s, json!({"azp": "https://app.example.com"})), &keys(), &azp).await.is_ok());
    }
}
