//! Bounds on the Backend API calls that requests can cause: a token bucket (a global budget)
//! and the handshake-nonce cache's policy. Clerk rate-limits the whole instance, so calls made
//! on behalf of unauthenticated requests must never be unbounded: one client could otherwise
//! break token renewal for every user.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket: `burst` calls at once, refilled at `per_second`. Cheap, lock-held for a few
/// arithmetic operations; shared by clones of whatever owns it.
#[derive(Debug)]
pub struct TokenBucket {
    burst: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

/// The longest wait [`TokenBucket::try_take`] reports (a bucket that never refills).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, per_second: f64) -> Self {
        let burst = f64::from(burst);
        let per_second = if per_second.is_finite() { per_second.max(0.0) } else { 0.0 };
        Self { burst, per_second, state: Mutex::new((burst, Instant::now())) }
    }

    /// Takes one token, or tells how long until one is there.
    pub fn try_take(&self) -> Result<(), Duration> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refilled = s.0 + now.saturating_duration_since(s.1).as_secs_f64() * self.per_second;
        *s = (refilled.min(self.burst), now);
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            return Ok(());
        }
        if self.per_second <= 0.0 {
            return Err(MAX_RETRY_AFTER);
        }
        Err(Duration::from_secs_f64((1.0 - s.0) / self.per_second).min(MAX_RETRY_AFTER))
    }
}

/// How `authenticate_request` bounds the handshake payload fetches that a
/// `__clerk_handshake_nonce` (query or cookie) costs: one Backend API call each, on behalf of a
/// request that needs no credentials.
///
/// - Per nonce: concurrent requests with the same nonce share one fetch; an answered nonce's
///   directives are reused for `answer_ttl` (the nonce cookie outlives one request), and a failed
///   fetch is answered as the SDK answers it (signed out, `session-token-missing`) without being
///   fetched again for `failure_ttl`.
/// - Globally: fetches of nonces not known yet take a token from a bucket of `burst` refilled at
///   `per_second`. When it is empty the request is refused with
///   [`AuthenticateError::HandshakeBudgetExhausted`](crate::request::AuthenticateError), which
///   carries when to retry (an app answers 503 with `Retry-After`). A refusal, not the SDK's
///   signed-out answer: a legitimate browser that retries gets its session, since the payload
///   was not fetched, while signing it out would send it round the handshake again.
#[derive(Debug, Clone)]
pub struct HandshakeNoncePolicy {
    pub answer_ttl: Duration,
    pub failure_ttl: Duration,
    /// Nonces remembered at most; nonces longer than `max_nonce_len` bytes are never
    /// remembered (they still take a token).
    pub max_entries: usize,
    pub max_nonce_len: usize,
    pub burst: u32,
    pub per_second: f64,
}

impl Default for HandshakeNoncePolicy {
    fn default() -> Self {
        Self {
            answer_ttl: Duration::from_secs(60),
            failure_ttl: Duration::from_secs(10),
            max_entries: 10_000,
            max_nonce_len: 512,
            burst: 50,
            per_second: 10.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_spends_its_burst_then_refills() {
        let b = TokenBucket::new(3, 1000.0);
        for _ in 0..3 {
            b.try_take().unwrap();
        }
        let wait = b.try_take().unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(1), "{wait:?}");
        std::thread::sleep(Duration::from_millis(5));
        b.try_take().unwrap();
        let never = TokenBucket::new(1, 0.0);
        never.try_take().unwrap();
        assert_eq!(never.try_take(), Err(MAX_RETRY_AFTER));
    }
}
