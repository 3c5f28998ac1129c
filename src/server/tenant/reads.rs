//! [`RequestReads`]: the one read transaction a request's reads share while they are under way
//! (a page's resources), scoped as [`Tenant::begin`] scopes, or to the member; its turns, its
//! hold, and a refused tenant's kept refusal. Apart from the scope itself (`super`), which it
//! opens through `Tenant::open` and `Member::open`.

use sqlx::{PgConnection, Postgres, Transaction};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Member, ScopeError, Tenant, TenantTx};
use crate::server::db::Db;

/// One read transaction for a request's reads that run together: a page's resources (its
/// shell's and its own) each call a server function, and without this each would begin, scope
/// and check a transaction of its own, on a connection of its own (issue 18: one tenant
/// transaction per request, however many resources a page has). Provided per request
/// (`startup::app_routes`). On plain Postgres the shell's read and a projects list are instead
/// statements that scope themselves (`MemberStatementScope`, `StatementScope`), so what shares
/// this there is a page's own read alone; where statements may not scope themselves (Citus, a
/// role that may not call their functions) every read of a page shares it.
///
/// It is scoped as the request is: to its tenant (organization and user, checked as
/// [`Tenant::begin`] checks) when it has an active organization, else to the member. It is
/// `READ ONLY`: writes take a transaction of their own ([`Tenant::begin`]) and commit it. The
/// reads take turns on it (each holds its lock while it runs), and it ends, rolled back, when
/// the last read under way finishes, or when a [`hold`](RequestReads::hold) outlives them, as
/// the hold is released: no connection waits idle in a transaction while the request does
/// anything else (a Clerk call, the rest of the render). A read that fails ends it
/// too (a failed statement aborts a transaction); the next read begins another. A refused
/// tenant (its organization deleted, the membership ended) is checked once: the refusal is
/// kept while reads are under way, its tenant reads answer it without running, and its member
/// reads share a member transaction, never one scoped to the refused organization.
#[derive(Clone, Default)]
pub struct RequestReads(std::sync::Arc<Reads>);

#[derive(Default)]
struct Reads {
    shared: tokio::sync::Mutex<Option<Shared>>,
    /// Reads under way (waiting for the transaction or running in it) and holds.
    under_way: AtomicUsize,
}

/// A read under way (or a hold), counted from before it waits for the transaction until it is
/// done. Done with [`Turn::end`], under the transaction's lock; dropped otherwise (a read
/// abandoned half-way), which only uncounts it.
struct Turn<'a>(&'a AtomicUsize);

impl<'a> Turn<'a> {
    fn take(under_way: &'a AtomicUsize) -> Self {
        under_way.fetch_add(1, Ordering::SeqCst);
        Self(under_way)
    }
    /// Done, with the transaction's lock held (`shared` is what it guards): the transaction ends
    /// if `failed` (a failed statement may have aborted it) or if nothing else is under way. It
    /// is uncounted before the lock is released, so of two turns ending at once the second sees
    /// the first gone, and a read that comes after waits for the lock and finds it ended.
    fn end(self, shared: &mut Option<Shared>, failed: bool) {
        if failed || self.0.load(Ordering::SeqCst) == 1 {
            *shared = None;
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the reads under way share once the first of them began it.
enum Shared {
    /// Scoped to the request's tenant, which passed the tombstone check.
    Tenant(Box<TenantTx>),
    /// Scoped to the member (no active organization) with this user id.
    Member(Transaction<'static, Postgres>, String),
    /// The request's tenant, refused by the tombstone check.
    Refused(Box<RefusedTenant>),
}

/// A refused tenant's reads: later ones answer the same refusal without checking again, and
/// its member reads share a member transaction, begun by the first of them.
struct RefusedTenant {
    tenant: Tenant,
    refusal: Refusal,
    member: Option<Transaction<'static, Postgres>>,
}

/// A tombstone check's refusal, kept for the request's later reads ([`Shared::Refused`]).
#[derive(Debug, Clone, Copy)]
enum Refusal {
    OrganizationDeleted,
    MembershipEnded,
}

impl From<Refusal> for ScopeError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::OrganizationDeleted => ScopeError::OrganizationDeleted,
            Refusal::MembershipEnded => ScopeError::MembershipEnded,
        }
    }
}

fn refused(tenant: &Tenant, refusal: Refusal) -> Shared {
    Shared::Refused(Box::new(RefusedTenant { tenant: tenant.clone(), refusal, member: None }))
}

/// `tenant`'s shared transaction, or its refusal to keep (a database error is this read's
/// answer alone: nothing is kept).
async fn open_shared(db: &Db, tenant: &Tenant) -> Result<Shared, sqlx::Error> {
    match tenant.open(db, READ_ONLY).await {
        Ok(tx) => Ok(Shared::Tenant(Box::new(tx))),
        Err(ScopeError::Database(e)) => Err(e),
        Err(ScopeError::OrganizationDeleted) => Ok(refused(tenant, Refusal::OrganizationDeleted)),
        Err(ScopeError::MembershipEnded) => Ok(refused(tenant, Refusal::MembershipEnded)),
    }
}

const READ_ONLY: &str = "BEGIN READ ONLY";

/// After a read in the shared transaction, with its lock held: see [`Turn::end`].
fn after_read<T, E>(shared: &mut Option<Shared>, turn: Turn<'_>, outcome: Result<T, E>) -> Result<T, E> {
    turn.end(shared, outcome.is_err());
    outcome
}

impl RequestReads {
    /// Runs `read` in this request's transaction scoped to `tenant`, beginning it if no read is
    /// under way. Errors: the scope's refusal or database error ([`ScopeError`]), or `read`'s own.
    pub async fn tenant<T, E>(
        &self,
        db: &Db,
        tenant: &Tenant,
        read: impl AsyncFnOnce(&mut TenantTx) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<ScopeError>,
    {
        let turn = Turn::take(&self.0.under_way);
        let mut shared = self.0.shared.lock().await;
        if shared.is_none() {
            // A database error is this read's answer; a read after it tries again.
            *shared = Some(open_shared(db, tenant).await.map_err(ScopeError::Database)?);
        }
        let outcome = match shared.as_mut() {
            Some(Shared::Tenant(tx)) if tx.tenant() == tenant => read(tx).await,
            Some(Shared::Refused(refused)) if refused.tenant == *tenant => {
                let refusal = refused.refusal;
                turn.end(&mut shared, false);
                return Err(ScopeError::from(refusal).into());
            }
            // Not this request's scope (a request has one verified session, so this does not
            // happen): a transaction of its own rather than another scope's.
            _ => {
                turn.end(&mut shared, false);
                drop(shared);
                return read(&mut tenant.open(db, READ_ONLY).await?).await;
            }
        };
        after_read(&mut shared, turn, outcome)
    }

    /// Runs `read` on a connection in which `member` sees their own memberships: this request's
    /// transaction (scoped to `tenant`, the request's tenant if it has one, or to the member),
    /// beginning it if no read is under way. Errors: the database's, or `read`'s own.
    pub async fn member<T, E>(
        &self,
        db: &Db,
        member: &Member,
        tenant: Option<&Tenant>,
        read: impl AsyncFnOnce(&mut PgConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<sqlx::Error>,
    {
        let turn = Turn::take(&self.0.under_way);
        let mut shared = self.0.shared.lock().await;
        if shared.is_none() {
            *shared = Some(match tenant {
                Some(tenant) => open_shared(db, tenant).await?,
                None => Shared::Member(member.open(db, READ_ONLY).await?, member.user_id().to_string()),
            });
        }
        let outcome = match shared.as_mut() {
            Some(Shared::Tenant(tx)) if Some(tx.tenant()) == tenant && tx.tenant().user_id() == member.user_id() => {
                read(tx.conn()).await
            }
            Some(Shared::Member(tx, user_id)) if tenant.is_none() && *user_id == member.user_id() => read(tx).await,
            // Refused: the member's own transaction, never one scoped to the refused
            // organization, shared by the refused request's member reads.
            Some(Shared::Refused(refused))
                if Some(&refused.tenant) == tenant && refused.tenant.user_id() == member.user_id() =>
            {
                let tx = match refused.member.take() {
                    Some(tx) => tx,
                    None => match member.open(db, READ_ONLY).await {
                        Ok(tx) => tx,
                        // Ended as a read's turn ends: the refusal is kept only while reads are
                        // under way.
                        Err(e) => {
                            turn.end(&mut shared, false);
                            return Err(e.into());
                        }
                    },
                };
                read(refused.member.insert(tx)).await
            }
            // Not this request's scope: a member transaction of its own.
            _ => {
                turn.end(&mut shared, false);
                drop(shared);
                return read(&mut *member.open(db, READ_ONLY).await?).await;
            }
        };
        after_read(&mut shared, turn, outcome)
    }

    /// Keeps the transaction from ending while a page is still being built. A page's reads
    /// start as its components are built: the shell's first, the page's own a moment later
    /// (its route renders after the shell). Without the hold the shell's read could finish, and
    /// end the transaction, before the page's began, which then opened another: whether a page
    /// read in one transaction or two depended on timing. The shell takes the hold before its
    /// reads and drops it once the page below it is built (each resource's read has then taken
    /// its turn: a resource polls its future once as it is created).
    ///
    /// It counts as a read under way until dropped; dropping it ends the transaction if no read
    /// is under way then (in a task of its own: a drop cannot wait for the lock).
    pub fn hold(&self) -> ReadsHold {
        std::mem::forget(Turn::take(&self.0.under_way));
        ReadsHold(Some(self.0.clone()))
    }
}

/// See [`RequestReads::hold`]: a turn that ends when dropped.
pub struct ReadsHold(Option<std::sync::Arc<Reads>>);

impl Drop for ReadsHold {
    fn drop(&mut self) {
        let Some(reads) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            // Ended as a read's turn ends, under the lock (see `Turn::end`).
            Ok(runtime) => {
                runtime.spawn(async move {
                    let mut shared = reads.shared.lock().await;
                    Turn(&reads.under_way).end(&mut shared, false);
                });
            }
            // No runtime, so no request left: the transaction ends with `reads`' last clone.
            Err(_) => drop(Turn(&reads.under_way)),
        }
    }
}
