//! `billing`: a downstream service behind Tenantry's backend-for-frontend (`/api/proxy/billing/…`).
//!
//! It trusts nothing but the `Authorization: Bearer` token, verified networklessly with
//! [`clerk::verify_token_cached`] (the SDK's `verifyToken`, with the RS256 step skipped for a
//! token whose signature this process already verified with the same key: the BFF sends one
//! template token until shortly before it expires): signature against the instance's key,
//! `exp`/`nbf`/`iat` with Clerk's 5 s clock skew, the issuer and the authorized parties when
//! configured, every check on every request. `GET /whoami` answers what it trusted: the user
//! id, the organization id, and the template's custom claims.
//!
//! **Template tokens only.** Clerk's `verifyToken` (and so `clerk::verify_token`) also accepts
//! session tokens; this service refuses them (401 `session-token-refused`), and tokens without a
//! category (`token-not-template`). A session token is the user's browser credential: the
//! backend-for-frontend never forwards it, so one reaching a service is a replayed cookie or a
//! client going around the BFF. A token minted from the service's JWT template is short-lived,
//! carries only the claims the template puts there, and cannot be used as a session by Tenantry
//! itself (`authenticate_request` refuses template tokens).
//!
//! Environment:
//! - `BILLING_ADDR` (default `127.0.0.1:4000`);
//! - the key: `CLERK_JWT_KEY` (the instance's PEM public key: no network at all), or else
//!   `CLERK_SECRET_KEY` with `CLERK_API_URL` (default `https://api.clerk.com`): the Backend API's
//!   JWKS, cached (one fetch per 5 minutes, or for an unknown `kid`);
//! - `CLERK_ISSUER`: the expected `iss` (the Frontend API URL), optional but recommended;
//! - `BILLING_AUTHORIZED_PARTIES`: comma-separated accepted `azp` values, optional (tokens minted
//!   through the Backend API by a BFF carry no `azp`; set it only if the template adds one).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clerk::{
    BackendApi, JwksCache, JwksPolicy, KeySource, SecretKey, TokenErrorReason, TokenKind, VerifiedSignatures,
    VerifyOptions,
};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The service's settings (from the environment in `main`, given directly in tests).
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: String,
    pub keys: KeySource,
    pub verify: VerifyOptions,
    /// The signatures already verified ([`clerk::VerifiedSignatures`], 10,000 by default).
    pub signatures: Arc<VerifiedSignatures>,
}

impl Config {
    /// One message naming every problem.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let keys = match (get("CLERK_JWT_KEY"), get("CLERK_SECRET_KEY")) {
            (Some(pem), _) => KeySource::from_pem(&pem).map_err(|e| format!("CLERK_JWT_KEY: {e}"))?,
            (None, Some(sk)) => {
                let secret = SecretKey::parse(&sk).map_err(|e| format!("CLERK_SECRET_KEY: {e}"))?;
                let api_url = get("CLERK_API_URL").unwrap_or_else(|| "https://api.clerk.com".into());
                KeySource::Remote(Arc::new(JwksCache::new(BackendApi::new(&api_url, secret), JwksPolicy::default())))
            }
            (None, None) => {
                return Err("set CLERK_JWT_KEY (PEM public key) or CLERK_SECRET_KEY (Backend API JWKS)".into())
            }
        };
        let list = |k: &str| -> Vec<String> {
            get(k)
                .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default()
        };
        Ok(Config {
            addr: get("BILLING_ADDR").unwrap_or_else(|| "127.0.0.1:4000".into()),
            keys,
            verify: VerifyOptions {
                issuer: list("CLERK_ISSUER"),
                authorized_parties: list("BILLING_AUTHORIZED_PARTIES"),
                ..Default::default()
            },
            signatures: Arc::default(),
        })
    }
}

pub fn router(config: Config) -> Router {
    Router::new().route("/whoami", get(whoami)).route("/healthz", get(|| async { "ok" })).with_state(Arc::new(config))
}

/// The registered claims Clerk puts in every template token; the rest are the template's own.
const REGISTERED: [&str; 8] = ["sub", "iss", "iat", "nbf", "exp", "jti", "azp", "aud"];

async fn whoami(State(config): State<Arc<Config>>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return refuse(StatusCode::UNAUTHORIZED, "token-missing", "An Authorization: Bearer token is required.");
    };
    let verified = match clerk::verify_token_cached(token, &config.keys, &config.verify, &config.signatures).await {
        Ok(v) => v,
        Err(e) => {
            let status = match e.reason {
                // Not the token's fault: the keys could not be loaded.
                TokenErrorReason::JwkRemoteFailedToLoad
                | TokenErrorReason::UnexpectedError
                | TokenErrorReason::SecretKeyInvalid => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            return refuse(status, e.reason.as_str(), &e.message);
        }
    };
    match verified.kind() {
        TokenKind::Template => {}
        TokenKind::Session => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "session-token-refused",
                "Session tokens are not accepted here: call through the backend-for-frontend, which sends a JWT-template token.",
            )
        }
        TokenKind::Unknown => {
            return refuse(StatusCode::UNAUTHORIZED, "token-not-template", "The token is not a JWT-template token (no template category).")
        }
    }
    let claims = verified.claims();
    let custom: Map<String, Value> = claims
        .as_object()
        .map(|o| {
            o.iter().filter(|(k, _)| !REGISTERED.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
        })
        .unwrap_or_default();
    Json(json!({
        "user_id": verified.user_id(),
        "org_id": verified.org_id(),
        "issuer": claims.get("iss"),
        "expires_at": claims.get("exp"),
        "claims": custom,
    }))
    .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

fn refuse(status: StatusCode, reason: &str, message: &str) -> Response {
    let error = if status == StatusCode::UNAUTHORIZED { "unauthorized" } else { "keys-unavailable" };
    let mut r = (status, Json(json!({"error": error, "reason": reason, "message": message}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer error=\"invalid_token\""));
    } else {
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    }
    r
}
