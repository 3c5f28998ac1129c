//! The tenant scope: the only way tenant data is read or written, and the only code that sets
//! the row-level-security settings (`app.org_id`, `app.user_id`) of a transaction — itself, or
//! through a database function it calls with them ([`StatementScope`] for a tenant,
//! [`MemberStatementScope`] for a member: `projects::list_after_alone`,
//! `workspace::mirrored_shell_alone`).
//!
//! A [`Tenant`] comes from a verified request and nothing else ([`Tenant::from_request`] reads
//! the [`Auth`] that the Clerk middleware put in the request's extensions): no org id, role or
//! user id ever comes from request input. [`Tenant::begin`] opens a transaction scoped to it, so
//! row-level security applies to every statement even if a query forgets its own `org_id`
//! filter. [`Member`] is the same for a signed-in user without an active organization (their
//! own memberships), and [`SystemScope`] is for the Clerk mirror (webhooks, `tenantry sync`),
//! which acts for Clerk and not for a user.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use clerk::axum::ClerkState;
use clerk::Auth;
use sqlx::{Executor, PgConnection, Postgres, Transaction};

use super::db::{Db, Dialect};
use super::error::AppError;

mod reads;
pub use reads::{ReadsHold, RequestReads};

/// What a project manager may do: `org:admin`, or a member granted `org:projects:manage`.
pub const MANAGE_PROJECTS: &str = "org:projects:manage";
/// Clerk's admin role.
pub const ADMIN: &str = "org:admin";

/// Why a request has no tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoTenant {
    #[error("sign in first")]
    SignedOut,
    #[error("choose an organization first")]
    NoOrganization,
    /// A verified token whose `sub` or active organization id is the empty string. Clerk's ids
    /// are never empty (`user_…`, `org_…`), so only a misconfigured JWT template or a leaked
    /// signing key could mint one; it is refused rather than read as "no user" or "no
    /// organization" (JavaScript's `!orgId`) or scoped to `''`.
    #[error("the session token names an empty user or organization id")]
    EmptyId,
}

/// Whether a verified session names an empty user id or an empty active organization id
/// (see [`NoTenant::EmptyId`]). The route gate refuses such a request before any handler runs;
/// [`Tenant`] and [`Member`] refuse it again on their own.
pub fn names_an_empty_id(auth: &Auth) -> bool {
    auth.user_id.is_empty() || auth.org_id() == Some("")
}

/// The verified session of a request, inside its active organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    org_id: String,
    auth: Auth,
}

impl Tenant {
    /// The tenant of a request the Clerk middleware verified.
    pub fn from_request(parts: &Parts) -> Result<Self, NoTenant> {
        let auth = parts.extensions.get::<Auth>().ok_or(NoTenant::SignedOut)?;
        if names_an_empty_id(auth) {
            return Err(NoTenant::EmptyId);
        }
        let org_id = auth.org_id().ok_or(NoTenant::NoOrganization)?.to_string();
        Ok(Self { org_id, auth: auth.clone() })
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }
    pub fn user_id(&self) -> &str {
        &self.auth.user_id
    }
    /// The verified session as Clerk's SDK describes it.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }
    /// `org:`-prefixed, e.g. `org:admin`.
    pub fn role(&self) -> Option<&str> {
        self.auth.org_role()
    }
    /// Clerk's `has({ role: "org:admin" })`.
    pub fn is_admin(&self) -> bool {
        self.auth.has_role(ADMIN)
    }
    /// Admins, and members with `org:projects:manage` (Clerk's `has({ permission })`).
    pub fn can_manage_projects(&self) -> bool {
        self.is_admin() || self.auth.has_permission(MANAGE_PROJECTS)
    }

    /// A transaction scoped to this organization (and user) for row-level security. Refused
    /// for an organization deleted in Clerk (its session token may live on for a minute, but its
    /// data is hidden and frozen until it is restored or purged, see `retention`), and for a
    /// membership the mirror records as ended.
    pub async fn begin(&self, db: &Db) -> Result<TenantTx, ScopeError> {
        self.open(db, "BEGIN").await
    }

    /// [`Tenant::begin`] with its own `BEGIN` statement (`BEGIN READ ONLY` for [`RequestReads`];
    /// nothing that must come before a transaction's first statement, see `db::begin_with`).
    /// The settings come first, then the tombstone check (`tenant_scope_check()`, which raises
    /// [`ORGANIZATION_DELETED`] or [`MEMBERSHIP_ENDED`]), then the reads and writes.
    async fn open(&self, db: &Db, begin: &'static str) -> Result<TenantTx, ScopeError> {
        let tx = begin_scoped(db, &self.org_id, &self.auth.user_id, true, begin).await?;
        Ok(TenantTx { tx, tenant: self.clone() })
    }

    /// This tenant's scope for one statement that enters it itself; `None` on Citus, or where
    /// the role may not call the function or `set_config` ([`Db::scopes_statements`], see
    /// [`StatementScope`]).
    pub fn statement_scope<'a>(&'a self, db: &'a Db) -> Option<StatementScope<'a>> {
        db.scopes_statements().then_some(StatementScope { tenant: self, db })
    }
}

/// A read that is one statement calling a database function which enters the tenant scope
/// itself (`tenant_projects_page(org_id, user_id, …)`,
/// migrations/20270103000001_tenant_projects_page.sql): in the statement's own implicit
/// transaction it does what [`Tenant::begin`]'s message does
/// before a read (read-only, the settings, `tenant_scope_check()`), then the read. One round
/// trip where a scoped transaction takes two (its message, then the read) and a `ROLLBACK`;
/// same checks, same order, row-level security as ever.
///
/// It runs on the pool, never on a connection inside a transaction, where the function's
/// `is_local` settings would scope the rest of that transaction instead of ending with the
/// statement. Plain Postgres only: Citus evaluates the policies on its workers, which see the
/// `SET LOCAL`s sent to them and not a `set_config` called inside a query.
pub struct StatementScope<'a> {
    tenant: &'a Tenant,
    db: &'a Db,
}

impl<'a> StatementScope<'a> {
    /// The function's first argument.
    pub fn org_id(&self) -> &'a str {
        &self.tenant.org_id
    }
    /// The function's second argument.
    pub fn user_id(&self) -> &'a str {
        &self.tenant.auth.user_id
    }
    /// Where the statement runs: the pool, so on a connection outside any transaction.
    pub fn pool(&self) -> &'a sqlx::PgPool {
        self.db.pool()
    }
}

/// The SQLSTATE `tenant_scope_check()` raises for a deleted organization
/// (migrations/20261220000001_tenant_scope_check.sql).
pub const ORGANIZATION_DELETED: &str = "TN410";
/// The SQLSTATE `tenant_scope_check()` raises for a membership the mirror records as ended.
pub const MEMBERSHIP_ENDED: &str = "TN403";
/// The SQLSTATE `tenant_scope_check()` raises when called without the scope's settings (no
/// organization or no user, or either empty): it fails closed (migrations/20261227000001_…).
/// [`Tenant::open`] (and `tenant_projects_page`, [`StatementScope`]) always sets both first,
/// so only a verified token with an empty `sub` or organization id meets it, as
/// [`ScopeError::Database`] (a 500), where row-level security would otherwise have shown it no
/// rows.
pub const SCOPE_SETTINGS_MISSING: &str = "TN400";

/// Why a tenant transaction could not be opened (or a statement that enters the scope itself
/// was refused by its check).
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("this organization has been deleted")]
    OrganizationDeleted,
    /// The mirror records this user's membership as ended (removed, or left) since the token
    /// was minted: its organization claim is stale for up to a minute, and is not honoured.
    /// (A membership the mirror does not know yet is not refused: absence is not evidence.)
    #[error("you are no longer a member of this organization")]
    MembershipEnded,
    #[error(transparent)]
    Database(sqlx::Error),
}

/// A database error, or the tombstone check's refusal by its SQLSTATE (raised by
/// `tenant_scope_check()` alone, which only [`Tenant::open`] and the one-statement scope's
/// function call).
impl From<sqlx::Error> for ScopeError {
    fn from(e: sqlx::Error) -> Self {
        match e.as_database_error().and_then(|d| d.code()).as_deref() {
            Some(ORGANIZATION_DELETED) => ScopeError::OrganizationDeleted,
            Some(MEMBERSHIP_ENDED) => ScopeError::MembershipEnded,
            _ => ScopeError::Database(e),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Tenant::from_request(parts).map_err(refusal)
    }
}

/// The HTTP answer to a request without the scope it needs (the route gate normally answers
/// first; this is the handler's own guarantee).
fn refusal(e: NoTenant) -> AppError {
    match e {
        NoTenant::SignedOut => AppError::unauthenticated("session-token-and-uat-missing"),
        NoTenant::NoOrganization => AppError::forbidden("no_organization", e.to_string()),
        NoTenant::EmptyId => AppError::empty_id(),
    }
}

/// An open transaction inside one tenant. Dropped without `commit` = rolled back.
///
/// A read ends by being dropped, not committed: sqlx queues the `ROLLBACK` and sends it with the
/// check the pool makes of every connection returned to it, in a task of the pool's that the
/// request does not wait for, where a `COMMIT` is one more round trip it waits for. A connection
/// whose `ROLLBACK` fails is closed, never reused; the settings are `LOCAL`, so they end with it.
pub struct TenantTx {
    pub(crate) tx: Transaction<'static, Postgres>,
    tenant: Tenant,
}

impl TenantTx {
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }
    /// The scoped connection, for statements of this tenant's own.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// A signed-in user of a verified request, with or without an active organization: sees their
/// own memberships (row-level security through `app.user_id`), no tenant's data.
/// A `pending` session (Clerk's `choose-organization` task) is a member too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    auth: Auth,
}

impl Member {
    /// The signed-in user, including a session that is `pending` (its task is to choose an
    /// organization, which is what a member without one does; the route gate keeps pending
    /// sessions to the task page).
    pub fn from_request(parts: &Parts) -> Result<Self, NoTenant> {
        let pending = || parts.extensions.get::<ClerkState>().and_then(|s| s.0.auth_including_pending());
        let auth = parts.extensions.get::<Auth>().or_else(pending).ok_or(NoTenant::SignedOut)?;
        if names_an_empty_id(auth) {
            return Err(NoTenant::EmptyId);
        }
        Ok(Self { auth: auth.clone() })
    }
    pub fn user_id(&self) -> &str {
        &self.auth.user_id
    }
    /// The verified session as Clerk's SDK describes it.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }
    pub fn active_org_id(&self) -> Option<&str> {
        self.auth.org_id()
    }
    /// A transaction in which this user sees their own memberships.
    pub async fn begin(&self, db: &Db) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.open(db, "BEGIN").await
    }

    /// As [`Tenant::open`] without an organization, so without the tombstone check.
    async fn open(&self, db: &Db, begin: &'static str) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        begin_scoped(db, "", &self.auth.user_id, false, begin).await
    }

    /// This member's scope for one statement that enters it itself; `None` where
    /// [`Tenant::statement_scope`] is `None` (Citus, or a role that may not call the function or
    /// `set_config`).
    pub fn statement_scope<'a>(&'a self, db: &'a Db) -> Option<MemberStatementScope<'a>> {
        db.scopes_statements().then_some(MemberStatementScope { member: self, db })
    }
}

/// [`StatementScope`] for a [`Member`]: one statement calling a database function that does
/// what [`Member::open`]'s message does (no organization, the user) and what the request's
/// reads add (read-only, as `RequestReads` begins them), in the statement's own implicit
/// transaction, then the read (`member_workspace_shell(user_id, …)`,
/// migrations/20270110000001_member_workspace_shell.sql). On the pool only, plain Postgres only,
/// for [`StatementScope`]'s reasons.
pub struct MemberStatementScope<'a> {
    member: &'a Member,
    db: &'a Db,
}

impl<'a> MemberStatementScope<'a> {
    pub fn member(&self) -> &'a Member {
        self.member
    }
    /// Where the statement runs: the pool, so on a connection outside any transaction.
    pub fn pool(&self) -> &'a sqlx::PgPool {
        self.db.pool()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Member {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Member::from_request(parts).map_err(refusal)
    }
}

/// The scope of the Clerk mirror: webhook deliveries and `tenantry sync` write what Clerk says
/// about an organization or user, on behalf of Clerk itself. Never for a request's own data.
pub struct SystemScope;

impl SystemScope {
    /// Scope the rest of `conn`'s transaction to `org_id` / `user_id` (`None`: no tenant).
    pub async fn enter(
        conn: &mut PgConnection,
        org_id: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        set_scope(conn, org_id, user_id).await
    }
}

/// The settings in a message of their own, for the current transaction only (Citus's scope, and
/// the mirror's). Whichever message carries them, their text is [`scope_statements`]'s: plain
/// `SET LOCAL` statements, which a distributed Postgres (Citus, with
/// `citus.propagate_set_commands = 'local'`) forwards to the nodes that evaluate the policies,
/// where `set_config(…)` inside a query is only evaluated on the coordinator.
async fn set_scope(conn: &mut PgConnection, org_id: Option<&str>, user_id: Option<&str>) -> Result<(), sqlx::Error> {
    let statements = scope_statements(org_id.unwrap_or(""), user_id.unwrap_or(""))?;
    conn.execute(statements.as_str()).await?;
    Ok(())
}

/// The tombstone check (migrations/20261220000001_tenant_scope_check.sql, failing closed since
/// 20261227000001_tenant_scope_check_fails_closed.sql).
const SCOPE_CHECK: &str = "SELECT public.tenant_scope_check();";

/// A transaction begun with `begin`, scoped to `org_id` (empty: none) and `user_id`, after the
/// tombstone check if `check`, in the messages `db`'s dialect needs. Errors: the database's,
/// the check's refusal among them (by its SQLSTATE).
async fn begin_scoped(
    db: &Db,
    org_id: &str,
    user_id: &str,
    check: bool,
    begin: &'static str,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    debug_assert!(matches!(begin, "BEGIN" | "BEGIN READ ONLY"), "{begin}");
    match db.dialect() {
        // One message, one round trip: the settings and the check run in the message's implicit
        // transaction, which `BEGIN` then makes the explicit one (settings kept). A refusal rolls
        // that implicit transaction back whole: the connection goes back to the pool with no
        // transaction open (see `db::begin_with`).
        Dialect::Postgres => super::db::begin_with(db, one_message(org_id, user_id, check, begin)?).await,
        // Citus forwards a propagated `SET`'s whole message to the workers, so the settings
        // travel alone and the check after them: a `SELECT` (or a `BEGIN`) in the same message
        // would run there, on a shard connection ("cannot execute a distributed query from a
        // query on a shard", seen on Citus 13.2). Two round trips more.
        Dialect::Citus => {
            let mut tx = super::db::begin_with(db, begin).await?;
            set_scope(&mut tx, Some(org_id), Some(user_id)).await?;
            if check {
                tx.execute(SCOPE_CHECK).await?;
            }
            Ok(tx)
        }
    }
}

/// Plain Postgres's one message for a scope: the settings, the tombstone check if `check`, and
/// `begin` last (see `db::begin_with` for why last).
fn one_message(org_id: &str, user_id: &str, check: bool, begin: &str) -> Result<String, sqlx::Error> {
    let settings = scope_statements(org_id, user_id)?;
    Ok(if check { format!("{settings} {SCOPE_CHECK} {begin}") } else { format!("{settings} {begin}") })
}

/// `SET LOCAL app.org_id = …; SET LOCAL app.user_id = …;` with both values as quoted literals.
fn scope_statements(org_id: &str, user_id: &str) -> Result<String, sqlx::Error> {
    Ok(format!(
        "SET LOCAL app.org_id = {}; SET LOCAL app.user_id = {};",
        quote_literal(org_id)?,
        quote_literal(user_id)?
    ))
}

/// A Postgres string literal for any text but NUL (which Postgres text cannot hold). The
/// escape-string form (`E'…'`) with quotes and backslashes doubled reads the same whatever
/// `standard_conforming_strings` says.
fn quote_literal(value: &str) -> Result<String, sqlx::Error> {
    if value.contains('\0') {
        return Err(sqlx::Error::Protocol("a scope value contains NUL".into()));
    }
    let mut out = String::with_capacity(value.len() + 3);
    out.push_str("E'");
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clerk::ActiveOrg;

    fn parts_with(auth: Option<Auth>) -> Parts {
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        if let Some(a) = auth {
            parts.extensions.insert(a);
        }
        parts
    }

    fn auth(role: &str, permissions: &[&str]) -> Auth {
        Auth {
            user_id: "user_1".into(),
            session_id: Some("sess_1".into()),
            session_status: None,
            org: Some(ActiveOrg {
                id: "org_1".into(),
                slug: None,
                role: Some(role.into()),
                permissions: permissions.iter().map(|p| p.to_string()).collect(),
            }),
            features: vec![],
            plans: vec![],
            actor: None,
            factor_verification_age: None,
        }
    }

    #[test]
    fn a_tenant_needs_a_verified_session_with_an_active_organization() {
        assert_eq!(Tenant::from_request(&parts_with(None)), Err(NoTenant::SignedOut));
        let no_org = Auth { org: None, ..auth("org:admin", &[]) };
        assert_eq!(Tenant::from_request(&parts_with(Some(no_org.clone()))), Err(NoTenant::NoOrganization));
        assert_eq!(Member::from_request(&parts_with(Some(no_org))).unwrap().user_id(), "user_1");
        let t = Tenant::from_request(&parts_with(Some(auth("org:member", &[])))).unwrap();
        assert_eq!((t.org_id(), t.user_id(), t.role()), ("org_1", "user_1", Some("org:member")));
    }

    #[test]
    fn the_scope_is_plain_set_local_statements_with_quoted_values() {
        assert_eq!(
            scope_statements("org_1", "user_1").unwrap(),
            "SET LOCAL app.org_id = E'org_1'; SET LOCAL app.user_id = E'user_1';"
        );
        assert_eq!(scope_statements("", "").unwrap(), "SET LOCAL app.org_id = E''; SET LOCAL app.user_id = E'';");
        assert_eq!(quote_literal("o'; RESET ALL; --").unwrap(), "E'o''; RESET ALL; --'");
        assert_eq!(quote_literal(r"a\'b").unwrap(), r"E'a\\''b'");
        assert!(quote_literal("a\0b").is_err(), "NUL is refused, never truncated");
        // Nothing but `SET LOCAL`s in the message (Citus forwards it whole to the workers).
        let statements = scope_statements("org_x", "user_1").unwrap();
        let parts: Vec<&str> = statements.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|s| s.starts_with("SET LOCAL app.")), "{statements}");
        assert!(!statements.contains("set_config"), "Citus does not forward set_config to its workers");
    }

    #[test]
    fn on_plain_postgres_begin_comes_last_in_one_message() {
        // Everything before `BEGIN` runs in the message's implicit transaction, which a refusal
        // rolls back whole; a `BEGIN` first would leave an aborted transaction on the connection.
        assert_eq!(
            one_message("org_1", "user_1", true, "BEGIN READ ONLY").unwrap(),
            "SET LOCAL app.org_id = E'org_1'; SET LOCAL app.user_id = E'user_1'; \
             SELECT public.tenant_scope_check(); BEGIN READ ONLY"
        );
        assert_eq!(
            one_message("", "user_1", false, "BEGIN").unwrap(),
            "SET LOCAL app.org_id = E''; SET LOCAL app.user_id = E'user_1'; BEGIN"
        );
        assert!(one_message("org_\0", "user_1", true, "BEGIN").is_err(), "NUL is refused, never truncated");
    }

    #[test]
    fn rights_come_from_clerk_roles_and_permissions() {
        let tenant = |role, perms: &[&str]| Tenant::from_request(&parts_with(Some(auth(role, perms)))).unwrap();
        let admin = tenant("org:admin", &[]);
        assert!(admin.is_admin() && admin.can_manage_projects());
        // v1 tokens may carry an unprefixed role: Clerk's has() prefixes both sides.
        assert!(tenant("admin", &[]).is_admin());
        let member = tenant("org:member", &["org:projects:read"]);
        assert!(!member.is_admin() && !member.can_manage_projects());
        let manager = tenant("org:member", &[MANAGE_PROJECTS]);
        assert!(!manager.is_admin() && manager.can_manage_projects());
    }
}
