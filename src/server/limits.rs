//! Per-user allowances for actions that cost more than a request: each organization created
//! through the secret key is a Clerk object and a burst of webhooks, and the secret key bypasses
//! Clerk's own per-user limits.

/// At most 5 organizations per user in any hour: plenty for people, a wall for a script
/// creating thousands through the secret key. Counted in Postgres (`org_creations`), so the
/// allowance holds across every replica sharing the database.
#[derive(Debug, Clone, Copy)]
pub struct CreationLimit {
    pub per_hour: i64,
}

impl Default for CreationLimit {
    fn default() -> Self {
        Self { per_hour: 5 }
    }
}

impl CreationLimit {
    /// Takes one creation from `user_id`'s allowance; `false` when it is spent. Race-safe
    /// across processes: a transaction-scoped advisory lock on the user serializes the count
    /// and the insert (a plain `SET`-free statement sequence, fine on Citus's coordinator too).
    pub async fn allow(&self, pool: &sqlx::PgPool, user_id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = super::db::begin(pool).await?;
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended('org_creations:' || $1, 0))", user_id)
            .execute(&mut *tx)
            .await?;
        // One statement (one snapshot, taken after the lock): forget this user's old rows, and
        // record this creation unless the last hour already holds `per_hour` of them.
        let allowed = sqlx::query_scalar!(
            r#"WITH purged AS (
                   DELETE FROM org_creations WHERE user_clerk_id = $1 AND created_at <= now() - interval '1 hour'
               ), recent AS (
                   SELECT count(*) AS n FROM org_creations WHERE user_clerk_id = $1 AND created_at > now() - interval '1 hour'
               )
               INSERT INTO org_creations (user_clerk_id) SELECT $1 FROM recent WHERE recent.n < $2
               RETURNING true AS "allowed!""#,
            user_id,
            self.per_hour
        )
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        tx.commit().await?;
        Ok(allowed)
    }
}

/// The longest a request waits for a Backend API call made on its behalf (retries included):
/// past it the page says Clerk is unavailable instead of hanging.
pub const BACKEND_API_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// `call`, or `None` if it takes longer than [`BACKEND_API_WAIT`].
pub async fn within_wait<T>(call: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(BACKEND_API_WAIT, call).await.ok()
}

/// Backend API calls made on behalf of requests (the `/select-org` and workspace fallbacks while
/// the mirror catches up, sign-out's revocation, organization creation). Clerk rate-limits the
/// whole instance, so one client calling these in a loop could spend the budget every user's
/// token renewal needs: each caller (user or session) gets a small allowance, and all of them
/// together a global one.
pub struct BackendApiBudget {
    global: governor::DefaultDirectRateLimiter,
    per_caller: governor::DefaultKeyedRateLimiter<String>,
}

/// Why a Backend API call was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetSpent {
    /// This caller made too many such calls recently (answer 429).
    #[error("too many requests to the identity provider from this session; try again in a minute")]
    Caller,
    /// The instance-wide allowance is spent (answer 503).
    #[error("the identity provider is busy; try again shortly")]
    Global,
}

impl Default for BackendApiBudget {
    /// 20 calls a second for the process (bursts of 40), 10 a minute per caller.
    fn default() -> Self {
        Self::new(20, 40, 10)
    }
}

impl BackendApiBudget {
    pub fn new(global_per_second: u32, global_burst: u32, per_caller_per_minute: u32) -> Self {
        let nz = |n: u32| std::num::NonZeroU32::new(n.max(1)).expect("at least 1");
        Self {
            global: governor::RateLimiter::direct(
                governor::Quota::per_second(nz(global_per_second)).allow_burst(nz(global_burst)),
            ),
            per_caller: governor::RateLimiter::keyed(governor::Quota::per_minute(nz(per_caller_per_minute))),
        }
    }

    /// Takes one call from `caller`'s allowance for `purpose` and from the global one. Each
    /// purpose has its own allowance, so a page that needs two fallbacks, or a user creating
    /// organizations, does not spend what another feature needs.
    pub fn spend(&self, purpose: &'static str, caller: &str) -> Result<(), BudgetSpent> {
        if self.per_caller.len() > 10_000 {
            self.per_caller.retain_recent();
        }
        self.per_caller.check_key(&format!("{purpose}:{caller}")).map_err(|_| BudgetSpent::Caller)?;
        self.global.check().map_err(|_| BudgetSpent::Global)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_and_everyone_together_are_bounded() {
        let budget = BackendApiBudget::new(1, 3, 2);
        assert_eq!(budget.spend("sign-out", "a"), Ok(()));
        assert_eq!(budget.spend("sign-out", "a"), Ok(()));
        assert_eq!(budget.spend("sign-out", "a"), Err(BudgetSpent::Caller), "a's allowance is spent");
        assert_eq!(budget.spend("profile", "a"), Ok(()), "another purpose has its own");
        assert_eq!(budget.spend("sign-out", "c"), Err(BudgetSpent::Global), "the burst of 3 is spent");
    }
}
