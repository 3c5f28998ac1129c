//! Per-user allowances for actions that cost more than a request: each organization created
//! through the secret key is a Clerk object and a burst of webhooks, and the secret key bypasses
//! Clerk's own per-user limits.

/// At most 5 organizations per user per hour, refilled one every 12 minutes: plenty for people,
/// a wall for a script creating thousands through the secret key.
pub struct CreationLimit(governor::DefaultKeyedRateLimiter<String>);

impl Default for CreationLimit {
    fn default() -> Self {
        let quota = governor::Quota::per_hour(std::num::NonZeroU32::new(5).expect("non-zero"));
        Self(governor::RateLimiter::keyed(quota))
    }
}

impl CreationLimit {
    /// Takes one creation from `user_id`'s allowance; `false` when it is spent.
    pub fn allow(&self, user_id: &str) -> bool {
        // Forget users whose allowance has refilled, so the map stays small.
        if self.0.len() > 10_000 {
            self.0.retain_recent();
        }
        self.0.check_key(&user_id.to_string()).is_ok()
    }
}
