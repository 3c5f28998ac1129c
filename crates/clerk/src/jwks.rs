//! Key material (protocol §4): a networkless PEM, or the Backend API's JWKS behind a cache.
//!
//! The cache belongs to one instance (one `BackendApi`), lives 5 minutes, is refetched when an
//! unknown `kid` shows up (one fetch in flight, and at most one per `min_refetch_interval`, so a
//! flood of forged kids cannot hammer Clerk), retries with exponential backoff, and keeps serving
//! the keys it has when a refresh fails.

use backon::{ExponentialBuilder, Retryable};
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::bapi::{ApiError, BackendApi, Jwks};
use crate::verify::{TokenError, TokenErrorReason};

#[derive(Clone)]
pub enum KeySource {
    /// `CLERK_JWT_KEY`: used for every token whatever its `kid`.
    Pem(Arc<DecodingKey>),
    Remote(Arc<JwksCache>),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Pem(_) => f.write_str("KeySource::Pem"),
            KeySource::Remote(_) => f.write_str("KeySource::Remote"),
        }
    }
}

impl KeySource {
    /// An RSA public key PEM (SPKI `BEGIN PUBLIC KEY`, or PKCS#1). Literal `\n` escapes, as
    /// found in env files, are turned into newlines.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let pem = pem.trim().replace("\\n", "\n");
        DecodingKey::from_rsa_pem(pem.as_bytes())
            .map(|k| KeySource::Pem(Arc::new(k)))
            .map_err(|e| format!("not an RSA public key PEM: {e}"))
    }

    pub async fn key_for(&self, kid: Option<&str>) -> Result<Arc<DecodingKey>, TokenError> {
        match self {
            KeySource::Pem(k) => Ok(k.clone()),
            KeySource::Remote(cache) => {
                // No JWKS key lacks a kid, so this is the SDK's kid mismatch (`kid='undefined'`).
                let kid = kid.ok_or_else(|| kid_mismatch("undefined"))?;
                cache.key(kid).await
            }
        }
    }

    /// Synchronous fast path: the key if it is already known (no I/O).
    pub fn cached_key(&self, kid: Option<&str>) -> Option<Arc<DecodingKey>> {
        match self {
            KeySource::Pem(k) => Some(k.clone()),
            KeySource::Remote(cache) => cache.cached(kid?),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JwksPolicy {
    pub ttl: Duration,
    pub min_refetch_interval: Duration,
    pub retry_min_delay: Duration,
    pub retries: usize,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            min_refetch_interval: Duration::from_secs(10),
            retry_min_delay: Duration::from_millis(125),
            retries: 4,
        }
    }
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

pub struct JwksCache {
    api: BackendApi,
    policy: JwksPolicy,
    state: RwLock<State>,
    refresh: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub fn new(api: BackendApi, policy: JwksPolicy) -> Self {
        Self { api, policy, state: RwLock::new(State::default()), refresh: tokio::sync::Mutex::new(()) }
    }

    /// The key if the cache holds it and is fresh (no I/O).
    pub fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        let fresh = s.fetched_at.is_some_and(|t| t.elapsed() < self.policy.ttl);
        if fresh {
            s.keys.get(kid).cloned()
        } else {
            None
        }
    }

    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, TokenError> {
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        // Single flight: whoever holds the lock fetches; the others re-check after it.
        let _guard = self.refresh.lock().await;
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        let (stale, may_fetch) = {
            let s = self.state.read().unwrap_or_else(|e| e.into_inner());
            let expired = s.fetched_at.is_none_or(|t| t.elapsed() >= self.policy.ttl);
            let floor_passed = s.attempted_at.is_none_or(|t| t.elapsed() >= self.policy.min_refetch_interval);
            (s.keys.get(kid).cloned(), expired || floor_passed)
        };
        if !may_fetch {
            return stale.ok_or_else(|| kid_mismatch(kid));
        }
        self.state.write().unwrap_or_else(|e| e.into_inner()).attempted_at = Some(Instant::now());
        match self.fetch().await {
            Ok(jwks) => {
                let keys: HashMap<_, _> = jwks
                    .keys
                    .iter()
                    .filter(|k| k.kty == "RSA" && k.alg.as_deref().is_none_or(|a| a == "RS256"))
                    .filter_map(|k| {
                        DecodingKey::from_rsa_components(&k.n, &k.e).ok().map(|d| (k.kid.clone(), Arc::new(d)))
                    })
                    .collect();
                let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
                s.keys = keys;
                s.fetched_at = Some(Instant::now());
                s.keys.get(kid).cloned().ok_or_else(|| kid_mismatch(kid))
            }
            Err(e) => {
                if let Some(k) = stale {
                    tracing::warn!(error = %e, "JWKS refresh failed; serving the cached keys");
                    return Ok(k);
                }
                tracing::error!(error = %e, "JWKS could not be loaded from the Backend API");
                let reason = if e.code() == Some("clerk_key_invalid") {
                    TokenErrorReason::SecretKeyInvalid
                } else if e.status().is_none() {
                    TokenErrorReason::UnexpectedError
                } else {
                    TokenErrorReason::JwkRemoteFailedToLoad
                };
                Err(TokenError::new(reason, format!("Failed to load JWKS from Clerk Backend API: {e}")))
            }
        }
    }

    async fn fetch(&self) -> Result<Jwks, ApiError> {
        let policy = ExponentialBuilder::default()
            .with_min_delay(self.policy.retry_min_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.policy.retries);
        (|| self.api.get_jwks())
            .retry(policy)
            // A wrong secret key will not get better by retrying.
            .when(|e: &ApiError| !matches!(e.status(), Some(401 | 403)))
            .await
    }
}

fn kid_mismatch(kid: &str) -> TokenError {
    TokenError::new(
        TokenErrorReason::JwkKidMismatch,
        format!("Unable to find a signing key in JWKS that matches the kid='{kid}' of the provided session token."),
    )
}
