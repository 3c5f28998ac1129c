//! The handshake-nonce cache: single flight per nonce, answers and failures remembered for a
//! while, and a global budget for fetches (see [`HandshakeNoncePolicy`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bapi::BackendApi;
use crate::budget::{HandshakeNoncePolicy, TokenBucket};

/// The directives of an answered nonce; `None` when the fetch failed.
type Outcome = Option<Arc<Vec<String>>>;

#[derive(Default)]
struct Entry {
    cell: tokio::sync::OnceCell<(Instant, Outcome)>,
}

pub(super) struct NonceCache {
    policy: HandshakeNoncePolicy,
    budget: TokenBucket,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

impl std::fmt::Debug for NonceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceCache").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl NonceCache {
    pub(super) fn new(policy: HandshakeNoncePolicy) -> Self {
        let budget = TokenBucket::new(policy.burst, policy.per_second);
        Self { policy, budget, entries: Mutex::new(HashMap::new()) }
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        e.cell.get().is_some_and(|(at, outcome)| {
            let ttl = if outcome.is_some() { self.policy.answer_ttl } else { self.policy.failure_ttl };
            now.saturating_duration_since(*at) >= ttl
        })
    }

    /// The nonce's directives (`None`: the fetch failed, as the SDK sees it), or how long to
    /// wait when the budget is spent.
    pub(super) async fn directives(&self, api: &BackendApi, nonce: &str) -> Result<Outcome, Duration> {
        let entry = self.entry(nonce);
        let (_, outcome) = entry
            .cell
            .get_or_try_init(|| async {
                self.budget.try_take()?;
                let outcome = match api.handshake_payload(nonce).await {
                    Ok(p) => Some(Arc::new(p.directives)),
                    Err(e) => {
                        tracing::error!(error = %e, "Clerk: failed to fetch the handshake payload");
                        None
                    }
                };
                Ok::<_, Duration>((Instant::now(), outcome))
            })
            .await?;
        Ok(outcome.clone())
    }

    fn entry(&self, nonce: &str) -> Arc<Entry> {
        if nonce.len() > self.policy.max_nonce_len {
            return Arc::default();
        }
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get(nonce).filter(|e| !self.expired(e, now)) {
            return e.clone();
        }
        if map.len() >= self.policy.max_entries {
            // Keep what is fresh and what someone is fetching or waiting for; an abandoned
            // entry (its fetch refused by the budget) goes.
            map.retain(|_, e| !self.expired(e, now) && (e.cell.initialized() || Arc::strong_count(e) > 1));
        }
        let e = Arc::new(Entry::default());
        if map.len() < self.policy.max_entries || map.contains_key(nonce) {
            map.insert(nonce.to_string(), e.clone());
        }
        e
    }
}
