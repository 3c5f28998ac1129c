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

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_entries: usize) -> NonceCache {
        NonceCache::new(HandshakeNoncePolicy {
            answer_ttl: Duration::from_secs(60),
            failure_ttl: Duration::from_secs(10),
            max_entries,
            max_nonce_len: 8,
            ..HandshakeNoncePolicy::default()
        })
    }

    /// An entry as a finished fetch leaves it: answered (or failed) `ago` before now.
    fn settle(e: &Entry, ago: Duration, answered: bool) {
        let outcome = answered.then(|| Arc::new(vec!["__session=x".to_string()]));
        e.cell.set((Instant::now() - ago, outcome)).unwrap();
    }

    fn len(c: &NonceCache) -> usize {
        c.entries.lock().unwrap().len()
    }

    #[test]
    fn answers_and_failures_expire_after_their_own_ttl() {
        let c = cache(10);
        let now = Instant::now();
        let pending = Entry::default();
        assert!(!c.expired(&pending, now), "a fetch in flight never expires");
        let (answer, failure, old_answer) = (Entry::default(), Entry::default(), Entry::default());
        settle(&answer, Duration::from_secs(30), true);
        settle(&failure, Duration::from_secs(30), false);
        settle(&old_answer, Duration::from_secs(61), true);
        assert!(!c.expired(&answer, now), "answers live 60 s");
        assert!(c.expired(&failure, now), "failures live 10 s");
        assert!(c.expired(&old_answer, now));
    }

    #[test]
    fn a_nonce_is_remembered_while_fresh_and_only_up_to_its_length_limit() {
        let c = cache(10);
        let first = c.entry("nonce-01");
        assert!(Arc::ptr_eq(&first, &c.entry("nonce-01")), "single flight: one entry per nonce");
        assert_eq!(len(&c), 1);
        let long = c.entry("nonce-012");
        assert!(!Arc::ptr_eq(&long, &c.entry("nonce-012")), "longer than 8 bytes: never remembered");
        assert_eq!(len(&c), 1);
        settle(&first, Duration::from_secs(61), true);
        assert!(!Arc::ptr_eq(&first, &c.entry("nonce-01")), "expired: fetched again");
    }

    #[test]
    fn at_capacity_only_stale_and_abandoned_entries_make_room() {
        let c = cache(2);
        let (a, b) = (c.entry("a"), c.entry("b"));
        settle(&a, Duration::from_secs(1), true);
        settle(&b, Duration::from_secs(1), false);
        let third = c.entry("c");
        assert_eq!(len(&c), 2, "two fresh outcomes: the third is served but not remembered");
        assert!(!Arc::ptr_eq(&third, &c.entry("c")));

        // A failure past its 10 s goes; the answer stays.
        let b = c.entries.lock().unwrap()["b"].clone();
        let stale = Entry::default();
        settle(&stale, Duration::from_secs(11), false);
        c.entries.lock().unwrap().insert("b".into(), Arc::new(stale));
        drop(b);
        let d = c.entry("d");
        assert!(Arc::ptr_eq(&d, &c.entry("d")), "room was made for d");
        assert!(c.entries.lock().unwrap().contains_key("a") && !c.entries.lock().unwrap().contains_key("b"));

        // An entry someone waits on stays; one nobody holds (its fetch refused) goes.
        let held = c.entry("d");
        drop(a);
        c.entries.lock().unwrap().insert("a".into(), Arc::new(Entry::default()));
        let e = c.entry("e");
        let map = c.entries.lock().unwrap();
        assert!(map.contains_key("d"), "in flight and held: kept");
        assert!(!map.contains_key("a"), "abandoned: dropped");
        assert!(map.contains_key("e") && Arc::ptr_eq(&map["e"], &e));
        assert_eq!(map.len(), 2);
        drop(held);
    }

    #[test]
    fn debug_names_the_policy_not_the_nonces() {
        let c = cache(3);
        let _ = c.entry("secret");
        let shown = format!("{c:?}");
        assert!(shown.starts_with("NonceCache { policy: HandshakeNoncePolicy {"), "{shown}");
        assert!(!shown.contains("secret"));
    }
}
