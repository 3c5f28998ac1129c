//! Key material (protocol §4): a networkless PEM, or the Backend API's JWKS behind a cache.
//!
//! The cache belongs to one instance (one `BackendApi`) and lives 5 minutes. A request never
//! waits for a refresh of keys it already has: once they are stale it is served them at once and
//! one refresh runs in the background (retried with exponential backoff; after a failed refresh
//! the next one waits `failure_backoff`, doubling up to `max_backoff`, so a failing Backend API
//! is not hammered). Only a request whose `kid` is unknown (or with no keys at all) waits, at most
//! `max_wait`, for a fetch: one fetch in flight, and at most one per `min_refetch_interval`, so a
//! flood of forged kids cannot hammer Clerk either. Errors carry the SDK's reasons and messages,
//! never our transport errors or URLs (they are logged).

use backon::{ExponentialBuilder, Retryable};
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bapi::{ApiError, BackendApi};
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
    /// How long fetched keys are fresh; stale keys are still served while a refresh runs.
    pub ttl: Duration,
    /// The floor between two fetches triggered by unknown kids.
    pub min_refetch_interval: Duration,
    /// Retries within one fetch (exponential from `retry_min_delay`).
    pub retry_min_delay: Duration,
    pub retries: usize,
    /// The longest a request with an unknown kid (or with no keys cached) waits for a fetch.
    pub max_wait: Duration,
    /// After a failed fetch, no new one before this; doubles with each failure in a row.
    pub failure_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            min_refetch_interval: Duration::from_secs(10),
            retry_min_delay: Duration::from_millis(125),
            retries: 4,
            max_wait: Duration::from_secs(5),
            failure_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// A JWKS key as fetched: its RSA components, and the key made from them.
struct FetchedKey {
    n: String,
    e: String,
    key: Arc<DecodingKey>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, FetchedKey>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    /// Failed fetches in a row, and the (client-safe) error of the last one.
    failures: u32,
    last_error: Option<TokenError>,
    refreshing: bool,
}

impl State {
    fn fresh(&self, policy: &JwksPolicy, now: Instant) -> bool {
        self.fetched_at.is_some_and(|t| now.saturating_duration_since(t) < policy.ttl)
    }
    /// No fetch before this instant (failure backoff, or the unknown-kid floor).
    fn may_fetch(&self, policy: &JwksPolicy, now: Instant, unknown_kid: bool) -> bool {
        let Some(last) = self.attempted_at else { return true };
        let since = now.saturating_duration_since(last);
        if self.failures > 0 {
            let backoff = policy.failure_backoff.saturating_mul(1 << (self.failures - 1).min(16));
            return since >= backoff.min(policy.max_backoff);
        }
        !(unknown_kid && self.fresh(policy, now)) || since >= policy.min_refetch_interval
    }
}

pub struct JwksCache(Arc<Inner>);

struct Inner {
    api: BackendApi,
    policy: JwksPolicy,
    state: Mutex<State>,
    /// Bumped when a fetch ends, for the requests waiting on it.
    done: tokio::sync::watch::Sender<u64>,
}

impl JwksCache {
    pub fn new(api: BackendApi, policy: JwksPolicy) -> Self {
        let (done, _) = tokio::sync::watch::channel(0);
        Self(Arc::new(Inner { api, policy, state: Mutex::new(State::default()), done }))
    }

    /// The key if the cache holds it and is fresh (no I/O).
    pub fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let s = self.0.lock();
        if s.fresh(&self.0.policy, Instant::now()) {
            s.keys.get(kid).map(|k| k.key.clone())
        } else {
            None
        }
    }

    /// The key for `kid`. A known key is returned at once, stale or not (a stale one starts a
    /// background refresh); an unknown one waits, bounded, for a fetch when one is allowed.
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, TokenError> {
        let policy = &self.0.policy;
        let mut done = {
            let now = Instant::now();
            let mut s = self.0.lock();
            if let Some(k) = s.keys.get(kid).map(|k| k.key.clone()) {
                if !s.fresh(policy, now) && !s.refreshing && s.may_fetch(policy, now, false) {
                    Inner::start_refresh(&self.0, &mut s, now);
                }
                return Ok(k);
            }
            if !s.refreshing {
                if !s.may_fetch(policy, now, true) {
                    return Err(s.unknown_kid_error(kid));
                }
                Inner::start_refresh(&self.0, &mut s, now);
            }
            // Subscribed under the lock: the fetch cannot end unseen.
            self.0.done.subscribe()
        };
        if tokio::time::timeout(policy.max_wait, done.changed()).await.is_err() {
            tracing::warn!(kid, "JWKS fetch still running; the request stopped waiting for it");
        }
        let s = self.0.lock();
        if let Some(k) = s.keys.get(kid) {
            return Ok(k.key.clone());
        }
        if s.refreshing {
            return Err(TokenError::new(TokenErrorReason::JwkRemoteFailedToLoad, "Timed out loading Clerk JWKS."));
        }
        Err(s.unknown_kid_error(kid))
    }
}

impl State {
    /// The answer for a kid the cache does not hold: the last fetch's error while there are no
    /// keys at all, else the SDK's kid mismatch.
    fn unknown_kid_error(&self, kid: &str) -> TokenError {
        match &self.last_error {
            Some(e) if self.keys.is_empty() => e.clone(),
            _ => kid_mismatch(kid),
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One fetch, in the background (it outlives the request that started it).
    fn start_refresh(this: &Arc<Self>, s: &mut State, now: Instant) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("JWKS refresh needs a Tokio runtime");
            return;
        };
        s.refreshing = true;
        s.attempted_at = Some(now);
        let inner = this.clone();
        runtime.spawn(async move {
            let result = inner.fetch().await;
            {
                let mut s = inner.lock();
                s.refreshing = false;
                match result {
                    Ok(fetched) => {
                        s.keys = keep_unchanged_keys(std::mem::take(&mut s.keys), fetched);
                        s.fetched_at = Some(Instant::now());
                        s.failures = 0;
                        s.last_error = None;
                    }
                    Err(e) => {
                        s.failures = s.failures.saturating_add(1);
                        if s.keys.is_empty() {
                            tracing::error!(error = %e, "JWKS could not be loaded from the Backend API");
                        } else {
                            tracing::warn!(error = %e, failures = s.failures, "JWKS refresh failed; serving the cached keys");
                        }
                        s.last_error = Some(e.into_token_error());
                    }
                }
            }
            inner.done.send_modify(|n| *n = n.wrapping_add(1));
        });
    }

    /// The instance's RS256 keys by kid, as (n, e); [`keep_unchanged_keys`] makes the keys (and
    /// drops one whose components make none).
    async fn fetch(&self) -> Result<HashMap<String, (String, String)>, FetchError> {
        let policy = ExponentialBuilder::default()
            .with_min_delay(self.policy.retry_min_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.policy.retries);
        let jwks = (|| self.api.get_jwks())
            .retry(policy)
            // A wrong secret key will not get better by retrying.
            .when(|e: &ApiError| !matches!(e.status(), Some(401 | 403)))
            .await
            .map_err(FetchError::Api)?;
        if jwks.keys.is_empty() {
            return Err(FetchError::NoKeys);
        }
        Ok(jwks
            .keys
            .iter()
            .filter(|k| k.kty == "RSA" && k.alg.as_deref().is_none_or(|a| a == "RS256"))
            .map(|k| (k.kid.clone(), (k.n.clone(), k.e.clone())))
            .collect())
    }
}

/// The fetched keys, each kid whose components did not change keeping its key object: the
/// verified-signature cache (`crate::signatures`) answers only for the key object that verified
/// a signature, so a new object for an unchanged key would only cost each live token one more
/// RSA verification after every fetch (which anyone can trigger every `min_refetch_interval`
/// with an unknown kid). A changed or new kid gets a new object; one whose components make no
/// key is left out.
fn keep_unchanged_keys(
    mut old: HashMap<String, FetchedKey>,
    fetched: HashMap<String, (String, String)>,
) -> HashMap<String, FetchedKey> {
    fetched
        .into_iter()
        .filter_map(|(kid, (n, e))| {
            let key = match old.remove(&kid) {
                Some(k) if k.n == n && k.e == e => k.key,
                _ => Arc::new(DecodingKey::from_rsa_components(&n, &e).ok()?),
            };
            Some((kid, FetchedKey { n, e, key }))
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Api(ApiError),
    #[error("the JWKS holds no keys")]
    NoKeys,
}

impl FetchError {
    /// The SDK's reason and message for a failed JWKS load (`fetchJWKSFromBAPI`,
    /// `loadClerkJWKFromRemote`). They reach clients in `x-clerk-auth-message`, so the SDK's
    /// `from <url>` is left out and our transport errors never appear: those are only logged.
    fn into_token_error(self) -> TokenError {
        let e = match self {
            FetchError::NoKeys => {
                return TokenError::new(
                    TokenErrorReason::JwkRemoteFailedToLoad,
                    "The JWKS endpoint did not contain any signing keys. Contact support@clerk.com.",
                )
            }
            FetchError::Api(e) => e,
        };
        match &e {
            ApiError::Clerk { body, .. } if e.code() == Some("clerk_key_invalid") => {
                let message = body.errors.first().map(|e| e.message.as_str()).unwrap_or_default();
                TokenError::new(TokenErrorReason::SecretKeyInvalid, message)
            }
            ApiError::Clerk { status, .. } | ApiError::Unexpected { status, .. } if *status >= 400 => TokenError::new(
                TokenErrorReason::JwkRemoteFailedToLoad,
                format!("Error loading Clerk JWKS with code={status}"),
            ),
            // The SDK's fetch threw (no answer, or one it could not read): `unexpected-error`,
            // without a message.
            _ => TokenError::new(TokenErrorReason::UnexpectedError, ""),
        }
    }
}

fn kid_mismatch(kid: &str) -> TokenError {
    TokenError::new(
        TokenErrorReason::JwkKidMismatch,
        format!("Unable to find a signing key in JWKS that matches the kid='{kid}' of the provided session token."),
    )
}
