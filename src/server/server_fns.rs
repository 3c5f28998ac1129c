//! What server functions need from the request they serve: the shared state, the verified
//! tenant or member (never from arguments), and the mapping of domain errors to the typed
//! [`WorkspaceError`] with its HTTP status (5xx logged, never echoed).

use http::StatusCode;
use leptos::prelude::*;
use sqlx::PgConnection;

use super::audit::AuditError;
use super::limits::BudgetSpent;
use super::members::{AdminError, Caller};
use super::projects::ProjectError;
use super::state::AppState;
use super::tenant::{Member, NoTenant, ReadsHold, RequestReads, ScopeError, StatementScope, Tenant, TenantTx};
use super::workspace::{self, LoadError};
use crate::app::error::WorkspaceError;
use crate::model::TextProblem;

/// Sets the response status of a refusal. Not for a form posted without JavaScript: server_fn
/// answers that with a redirect back to the page carrying the error (which the page then shows),
/// and a status set here would replace the redirect with a bare error body.
fn respond(error: WorkspaceError) -> WorkspaceError {
    let plain_form_post = use_context::<http::request::Parts>().is_some_and(|p| {
        p.method == http::Method::POST
            && p.headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/html"))
    });
    if !plain_form_post {
        if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
            r.set_status(StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        }
    }
    error
}

fn parts() -> Result<http::request::Parts, WorkspaceError> {
    use_context::<http::request::Parts>()
        .ok_or_else(|| internal("request parts missing from the server function context"))
}

fn internal(cause: impl std::fmt::Display) -> WorkspaceError {
    tracing::error!(error = %cause, "server function failed");
    respond(WorkspaceError::Internal)
}

pub fn state() -> Result<AppState, WorkspaceError> {
    use_context::<AppState>().ok_or_else(|| internal("server state missing from the server function context"))
}

fn refused(e: NoTenant) -> WorkspaceError {
    respond(match e {
        NoTenant::SignedOut => WorkspaceError::SignInRequired,
        NoTenant::NoOrganization => WorkspaceError::ChooseOrganization,
        // The route gate answers it first (`session_identity_empty`); here it is a sign-in.
        NoTenant::EmptyId => {
            tracing::warn!(error = %e, "workspace request refused");
            WorkspaceError::SignInRequired
        }
    })
}

/// The verified tenant of this call (the route gate already refused signed-out calls).
pub fn tenant() -> Result<Tenant, WorkspaceError> {
    Tenant::from_request(&parts()?).map_err(refused)
}

/// The verified caller of this call in their active organization, with their token's rights.
pub fn caller() -> Result<Caller, WorkspaceError> {
    Caller::from_request(&parts()?).map_err(refused)
}

/// This call's own origin (the app's URL as the request reached it, trusted-proxy rules applied).
pub fn origin() -> Option<String> {
    let p = parts().ok()?;
    let origin = clerk::Clerk::request_url(&p.uri, &p.headers).origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The verified signed-in user of this call, with or without an active organization.
pub fn member() -> Result<Member, WorkspaceError> {
    Member::from_request(&parts()?).map_err(refused)
}

/// The signed-in user of this call, or `None` when signed out (for what public pages read too).
pub fn member_if_signed_in() -> Result<Option<Member>, WorkspaceError> {
    Ok(Member::from_request(&parts()?).ok())
}

/// A transaction scoped to this call's tenant, for writes (commit it).
pub async fn tenant_tx() -> Result<TenantTx, WorkspaceError> {
    let tenant = tenant()?;
    tenant.begin(&state()?.db).await.map_err(|e| scope_refused(&tenant, e))
}

/// Runs `read` in this request's read transaction scoped to its tenant, shared with the reads
/// under way with it ([`RequestReads`]: a page's resources read in one transaction).
pub async fn tenant_read<T>(
    read: impl AsyncFnOnce(&mut TenantTx) -> Result<T, WorkspaceError>,
) -> Result<T, WorkspaceError> {
    let (tenant, st) = (tenant()?, state()?);
    request_reads().tenant(&st.db, &tenant, async |tx| read(tx).await.map_err(ReadError::Read)).await.map_err(|e| {
        match e {
            ReadError::Scope(e) => scope_refused(&tenant, e),
            ReadError::Read(e) => e,
        }
    })
}

/// Runs `alone`, one statement that enters this call's tenant scope itself ([`StatementScope`]),
/// on plain Postgres: a read that needs no transaction, because no other read of its request
/// shares one with it (a page's shell reads in a statement of its own, [`member_shell`]). It
/// reads on the pool, so never for a read that must see a write transaction's rows. `None` on
/// Citus, or where the role may not call these functions, for the caller to read through
/// [`tenant_read`].
pub async fn tenant_statement<T>(
    alone: impl AsyncFnOnce(StatementScope<'_>) -> Result<T, ProjectError>,
) -> Option<Result<T, WorkspaceError>> {
    // Refusals (no organization, …) are left to the transaction path, which answers them.
    let tenant = with_context(|p: &http::request::Parts| Tenant::from_request(p).ok()).flatten()?;
    let st = state().ok()?;
    let scope = tenant.statement_scope(&st.db)?;
    Some(alone(scope).await.map_err(|e| match e {
        ProjectError::Scope(e) => scope_refused(&tenant, e),
        e => e.into(),
    }))
}

/// What the workspace shell reads from the mirror for `member` (who is signed in, the active
/// organization's name, their organizations): one statement that enters the member's scope
/// itself on plain Postgres ([`MemberStatementScope`](super::tenant::MemberStatementScope)), else two reads in this request's read
/// transaction ([`member_read`]).
pub async fn member_shell(member: &Member) -> Result<workspace::MirroredShell, WorkspaceError> {
    let st = state()?;
    match member.statement_scope(&st.db) {
        Some(scope) => Ok(workspace::mirrored_shell_alone(scope).await?),
        None => member_read(member, async |conn| Ok(workspace::mirrored_shell(conn, member).await?)).await,
    }
}

/// Runs `read` on a connection of this request's read transaction in which `member` sees their
/// own memberships ([`RequestReads::member`]).
pub async fn member_read<T>(
    member: &Member,
    read: impl AsyncFnOnce(&mut PgConnection) -> Result<T, WorkspaceError>,
) -> Result<T, WorkspaceError> {
    let tenant = Tenant::from_request(&parts()?).ok();
    request_reads().member(&state()?.db, member, tenant.as_ref(), read).await
}

/// Holds this request's read transaction open while its page is being built
/// ([`RequestReads::hold`]); `None` outside a request.
pub fn hold_request_reads() -> Option<ReadsHold> {
    use_context::<RequestReads>().map(|reads| reads.hold())
}

/// The request's [`RequestReads`] (provided per request by `startup::app_routes`); where none
/// was provided, one for this call alone.
pub fn request_reads() -> RequestReads {
    use_context::<RequestReads>().unwrap_or_default()
}

/// A tenant read's error: the scope's, or the read's own.
enum ReadError {
    Scope(ScopeError),
    Read(WorkspaceError),
}

impl From<ScopeError> for ReadError {
    fn from(e: ScopeError) -> Self {
        Self::Scope(e)
    }
}

/// The answer to a tenant scope that could not be opened (its refusals logged at `info`).
fn scope_refused(tenant: &Tenant, e: ScopeError) -> WorkspaceError {
    match e {
        ScopeError::Database(e) => e.into(),
        e @ ScopeError::MembershipEnded => {
            tracing::info!(org = tenant.org_id(), user = tenant.user_id(), error = %e, "workspace request refused");
            respond(WorkspaceError::MembershipEnded)
        }
        e @ ScopeError::OrganizationDeleted => {
            tracing::info!(org = tenant.org_id(), error = %e, "workspace request refused");
            respond(WorkspaceError::OrganizationDeleted)
        }
    }
}

impl From<sqlx::Error> for WorkspaceError {
    fn from(e: sqlx::Error) -> Self {
        if super::db::is_unavailable(&e) {
            tracing::error!(error = %e, "database unavailable");
            respond(WorkspaceError::Unavailable)
        } else {
            internal(format!("workspace query failed: {e}"))
        }
    }
}

impl From<ProjectError> for WorkspaceError {
    fn from(e: ProjectError) -> Self {
        let refusal = match e {
            ProjectError::Database(db) => return db.into(),
            // `tenant_statement` answers these itself, logging the tenant.
            ProjectError::Scope(ScopeError::Database(db)) => return db.into(),
            ProjectError::Scope(ScopeError::OrganizationDeleted) => WorkspaceError::OrganizationDeleted,
            ProjectError::Scope(ScopeError::MembershipEnded) => WorkspaceError::MembershipEnded,
            ProjectError::Forbidden => WorkspaceError::ManagersOnly,
            ProjectError::NotFound => WorkspaceError::ProjectNotFound,
            ProjectError::Invalid(_, TextProblem::ControlCharacter) => WorkspaceError::ControlCharacters,
            ProjectError::Invalid("description", _) => WorkspaceError::DescriptionTooLong,
            ProjectError::Invalid("search", _) => WorkspaceError::SearchTooLong,
            ProjectError::BadCursor => WorkspaceError::BadCursor,
            ProjectError::Invalid(_, problem) => WorkspaceError::project_name(problem),
            ProjectError::NameTaken(_) => WorkspaceError::ProjectNameTaken,
        };
        tracing::info!(status = refusal.status(), error = %refusal, "workspace request refused");
        respond(refusal)
    }
}

impl From<LoadError> for WorkspaceError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Database(e) => e.into(),
            e => respond(fallback_failed(e)),
        }
    }
}

/// A Backend API fallback's failure (`LoadError`), logged, as the typed error, without setting
/// the response's status: for a part of an answer that is otherwise given (the shell's
/// organization list, `get_shell`). A database error is the whole answer's ([`From`]).
pub fn fallback_failed(e: LoadError) -> WorkspaceError {
    match e {
        LoadError::Database(e) => e.into(),
        LoadError::ClerkUnavailable => {
            tracing::warn!("Backend API fallback timed out");
            WorkspaceError::Unavailable
        }
        LoadError::ClerkRefused(e) => {
            tracing::warn!(error = %e, "Backend API fallback failed");
            WorkspaceError::Unavailable
        }
        LoadError::Busy(spent) => {
            tracing::warn!(error = %spent, "Backend API fallback refused: budget spent");
            match spent {
                BudgetSpent::Caller => WorkspaceError::TooManyRequests,
                BudgetSpent::Global => WorkspaceError::Unavailable,
            }
        }
    }
}

impl From<AuditError> for WorkspaceError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::AdminOnly => {
                tracing::info!(error = %e, "workspace request refused");
                respond(WorkspaceError::AdminsOnly)
            }
            AuditError::Database(e) => e.into(),
        }
    }
}

impl From<AdminError> for WorkspaceError {
    fn from(e: AdminError) -> Self {
        let refusal = match e {
            AdminError::Database(db) => return db.into(),
            AdminError::Forbidden => WorkspaceError::AdminRequired,
            AdminError::MemberNotFound => WorkspaceError::MemberNotFound,
            AdminError::LastAdmin => WorkspaceError::LastAdmin,
            AdminError::RoleInvalid => WorkspaceError::RoleInvalid,
            AdminError::EmailInvalid => WorkspaceError::EmailInvalid,
            AdminError::AlreadyMember => WorkspaceError::AlreadyMember,
            AdminError::InvitationNotFound => WorkspaceError::InvitationNotFound,
            AdminError::InvitationNotPending => WorkspaceError::InvitationNotPending,
            AdminError::NameInvalid => WorkspaceError::OrganizationNameInvalid,
            AdminError::SlugInvalid => WorkspaceError::SlugInvalid,
            AdminError::SlugTaken => WorkspaceError::SlugTaken,
            AdminError::ConfirmationMismatch => WorkspaceError::ConfirmationMismatch,
            AdminError::OrganizationDeleted => WorkspaceError::OrganizationDeleted,
            AdminError::MembershipEnded => WorkspaceError::MembershipEnded,
            AdminError::Busy(BudgetSpent::Caller) => WorkspaceError::TooManyRequests,
            AdminError::Busy(BudgetSpent::Global) | AdminError::Unavailable => WorkspaceError::Unavailable,
            AdminError::Refused => WorkspaceError::ClerkRefused,
        };
        tracing::info!(status = refusal.status(), error = %refusal, "administration request refused");
        respond(refusal)
    }
}
