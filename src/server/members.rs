//! Organization administration: the members, invitations and settings of the active
//! organization (`/app/members`, `/app/settings`).
//!
//! Reads come from the mirror (`org_memberships` ⋈ `users`, inside the tenant scope, so
//! row-level security applies), or from the Backend API while the mirror has nothing for the
//! organization yet (bounded: [`BackendApiBudget`](super::limits::BackendApiBudget) and
//! [`within_wait`]). Every change is made in Clerk, the source of truth (the mirror follows by
//! webhook), and recorded in the audit log with before/after, in a tenant transaction opened
//! before the call (a deleted organization is refused first) and committed after it.
//!
//! Who may administer comes from the verified session token only ([`Caller`]): Clerk's
//! `org:admin` role or its system permissions (`org:sys_memberships:manage`,
//! `org:sys_profile:manage`, `org:sys_profile:delete`), never from the mirror or the request.
//! Nobody removes or demotes the last admin; anyone but the last admin may leave.
//!
//! Over 500 lines on purpose: the rules of organization administration (who may, the last admin) sit next to each action they guard.

use clerk::bapi::{ApiError, CreateOrganizationInvitation, UpdateOrganization};
use clerk::Auth;
use http::request::Parts;
use serde_json::json;

use super::audit;
use super::format::rfc3339;
use super::limits::{within_wait, BudgetSpent};
use super::state::AppState;
use super::tenant::{NoTenant, RequestReads, ScopeError, Tenant, TenantTx, ADMIN};
use crate::model::{
    validate_email, validate_organization_name, validate_slug, InvitationView, MemberView, MembersView, OrgSettings,
    ORG_ROLES,
};

/// Clerk's system permission to manage memberships and invitations.
pub const MANAGE_MEMBERSHIPS: &str = "org:sys_memberships:manage";
/// Clerk's system permission to change the organization's name and slug.
pub const MANAGE_PROFILE: &str = "org:sys_profile:manage";
/// Clerk's system permission to delete the organization.
pub const DELETE_PROFILE: &str = "org:sys_profile:delete";

/// At most this many members are listed (one page of the Backend API's maximum).
const MAX_MEMBERS: i64 = 500;

/// The verified caller inside their active organization, with the rights their token gives.
#[derive(Debug, Clone)]
pub struct Caller {
    tenant: Tenant,
    auth: Auth,
}

impl Caller {
    /// From the [`Auth`] the Clerk middleware verified; nothing else of the request is read.
    pub fn from_request(parts: &Parts) -> Result<Self, NoTenant> {
        let tenant = Tenant::from_request(parts)?;
        let auth = parts.extensions.get::<Auth>().cloned().ok_or(NoTenant::SignedOut)?;
        Ok(Self { tenant, auth })
    }
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }
    fn admin_or(&self, permission: &str) -> bool {
        self.auth.has_role(ADMIN) || self.auth.has_permission(permission)
    }
    /// Change roles, remove members, invite and revoke invitations.
    pub fn can_manage_members(&self) -> bool {
        self.admin_or(MANAGE_MEMBERSHIPS)
    }
    /// Rename the organization and change its slug.
    pub fn can_manage_organization(&self) -> bool {
        self.admin_or(MANAGE_PROFILE)
    }
    /// Delete the organization.
    pub fn can_delete_organization(&self) -> bool {
        self.admin_or(DELETE_PROFILE)
    }
    fn org_id(&self) -> &str {
        self.tenant.org_id()
    }
    fn user_id(&self) -> &str {
        self.tenant.user_id()
    }
}

/// Why an administration request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("only organization admins can do that")]
    Forbidden,
    #[error("no such member in this organization")]
    MemberNotFound,
    #[error("the organization would have no admin left")]
    LastAdmin,
    #[error("unknown role")]
    RoleInvalid,
    #[error("invalid email address")]
    EmailInvalid,
    #[error("already a member")]
    AlreadyMember,
    #[error("no such invitation in this organization")]
    InvitationNotFound,
    #[error("the invitation is not pending")]
    InvitationNotPending,
    #[error("invalid organization name")]
    NameInvalid,
    #[error("invalid slug")]
    SlugInvalid,
    #[error("slug taken")]
    SlugTaken,
    #[error("the typed name is not the organization's")]
    ConfirmationMismatch,
    #[error("this organization has been deleted")]
    OrganizationDeleted,
    #[error("you are no longer a member of this organization")]
    MembershipEnded,
    #[error(transparent)]
    Busy(#[from] BudgetSpent),
    /// Clerk did not answer in time, answered 5xx, or is not configured.
    #[error("Clerk's Backend API is unavailable")]
    Unavailable,
    /// Clerk refused for a reason of its own (logged with its code).
    #[error("Clerk refused the change")]
    Refused,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<ScopeError> for AdminError {
    fn from(e: ScopeError) -> Self {
        match e {
            ScopeError::OrganizationDeleted => Self::OrganizationDeleted,
            ScopeError::MembershipEnded => Self::MembershipEnded,
            ScopeError::Database(e) => Self::Database(e),
        }
    }
}

/// What a Clerk 404 means for the call that got it.
#[derive(Clone, Copy)]
enum Missing {
    Member,
    Invitation,
    Organization,
}

/// The Backend API allowances of organization administration: reading (the members and
/// invitations lists while the mirror lags, the settings) and changing are counted apart, so a
/// page reloaded while waiting for the mirror cannot spend what the admin's next change needs.
const READS: &str = "members-read";
const WRITES: &str = "members-write";

/// One Backend API call on the caller's behalf: within their budget for `purpose` and the wait
/// bound, its refusals read as ours.
async fn backend<T>(
    st: &AppState,
    caller: &Caller,
    purpose: &'static str,
    missing: Missing,
    call: impl FnOnce(
        &clerk::BackendApi,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApiError>> + Send + '_>>,
) -> Result<T, AdminError> {
    let api = st.clerk.api().ok_or(AdminError::Unavailable)?;
    st.backend_api_budget.spend(purpose, caller.user_id())?;
    let answer = within_wait(call(api)).await.ok_or(AdminError::Unavailable)?;
    answer.map_err(|e| classify(&e, missing))
}

fn classify(e: &ApiError, missing: Missing) -> AdminError {
    let refusal = match (e.status(), e.code()) {
        (_, Some("organization_minimum_permissions_needed")) => AdminError::LastAdmin,
        (_, Some("already_a_member_in_organization")) => AdminError::AlreadyMember,
        (_, Some("organization_invitation_not_pending")) => AdminError::InvitationNotPending,
        (_, Some("form_identifier_exists")) => AdminError::SlugTaken,
        (Some(404), _) => match missing {
            Missing::Member => AdminError::MemberNotFound,
            Missing::Invitation => AdminError::InvitationNotFound,
            Missing::Organization => AdminError::OrganizationDeleted,
        },
        (Some(429), _) => AdminError::Busy(BudgetSpent::Global),
        // Our own credentials refused, a 5xx, or no answer: Clerk is unavailable to us.
        (Some(401), _) | (None, _) => AdminError::Unavailable,
        (Some(s), _) if s >= 500 => AdminError::Unavailable,
        _ => AdminError::Refused,
    };
    tracing::warn!(error = %e, "Backend API refused an administration call");
    refusal
}

fn from_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map(rfc3339).unwrap_or_default()
}

/// One member as the mirror (or Clerk) has them.
#[derive(Debug, Clone)]
struct Row {
    user_id: String,
    name: String,
    email: String,
    role: String,
    joined: String,
}

/// The organization's live members from the mirror.
async fn mirrored(tx: &mut TenantTx) -> Result<Vec<Row>, sqlx::Error> {
    let org = tx.tenant().org_id().to_string();
    let rows = sqlx::query!(
        r#"SELECT m.user_clerk_id, m.role, m.created_at, u.name AS "name?", u.email AS "email?"
             FROM org_memberships m
             LEFT JOIN users u ON u.clerk_id = m.user_clerk_id AND u.deleted_at IS NULL
            WHERE m.org_id = $1 AND m.deleted_at IS NULL
            ORDER BY lower(coalesce(nullif(u.name, ''), u.email, m.user_clerk_id)), m.user_clerk_id
            LIMIT $2"#,
        org,
        MAX_MEMBERS
    )
    .fetch_all(&mut *tx.tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Row {
            user_id: r.user_clerk_id,
            name: r.name.unwrap_or_default(),
            email: r.email.unwrap_or_default(),
            role: r.role,
            joined: rfc3339(r.created_at),
        })
        .collect())
}

/// The organization's members from Clerk (one page of at most 500).
async fn from_clerk(st: &AppState, caller: &Caller) -> Result<Vec<Row>, AdminError> {
    let org = caller.org_id().to_string();
    let page = backend(st, caller, READS, Missing::Organization, |api| {
        Box::pin(async move { api.organization_memberships(&org, MAX_MEMBERS as u32, 0).await })
    })
    .await?;
    let mut rows: Vec<Row> = page
        .data
        .into_iter()
        .map(|m| {
            let u = m.public_user_data;
            let name = [u.first_name.as_deref(), u.last_name.as_deref()]
                .into_iter()
                .flatten()
                .filter(|s| !s.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            Row {
                user_id: u.user_id,
                name,
                email: u.identifier.unwrap_or_default(),
                role: m.role,
                joined: from_ms(m.created_at),
            }
        })
        .collect();
    rows.sort_by_key(|r| {
        (if r.name.is_empty() { r.email.to_lowercase() } else { r.name.to_lowercase() }, r.user_id.clone())
    });
    Ok(rows)
}

/// The members: the mirror, or Clerk while the mirror has none (or lacks `must_include`, a member
/// an action is about, who may have just joined). For an action, whose transaction then records
/// it; a read uses [`mirrored`] and [`or_from_clerk`] with its transaction ended in between.
async fn roster(
    st: &AppState,
    caller: &Caller,
    tx: &mut TenantTx,
    must_include: Option<&str>,
) -> Result<Vec<Row>, AdminError> {
    let rows = mirrored(tx).await?;
    or_from_clerk(st, caller, rows, must_include).await
}

/// The mirror's `rows`, or Clerk's list when they are empty or lack `must_include`.
async fn or_from_clerk(
    st: &AppState,
    caller: &Caller,
    rows: Vec<Row>,
    must_include: Option<&str>,
) -> Result<Vec<Row>, AdminError> {
    let complete = !rows.is_empty() && must_include.is_none_or(|u| rows.iter().any(|r| r.user_id == u));
    if complete {
        Ok(rows)
    } else {
        from_clerk(st, caller).await
    }
}

fn is_admin_role(role: &str) -> bool {
    role == ADMIN
}

/// `/app/members`: everyone in the organization (any member may look). The mirror is read in
/// the request's read transaction (`reads`, shared with the page's other reads), and the read is
/// done before the Backend API fallback, so no connection waits in a transaction while Clerk
/// answers.
pub async fn list(st: &AppState, caller: &Caller, reads: &RequestReads) -> Result<MembersView, AdminError> {
    let rows = reads.tenant(&st.db, &caller.tenant, async |tx| Ok::<_, AdminError>(mirrored(tx).await?)).await?;
    let rows = or_from_clerk(st, caller, rows, None).await?;
    Ok(MembersView {
        members: rows
            .into_iter()
            .map(|r| MemberView {
                is_self: r.user_id == caller.user_id(),
                user_id: r.user_id,
                name: r.name,
                email: r.email,
                role: r.role,
                joined: r.joined,
            })
            .collect(),
        can_manage: caller.can_manage_members(),
    })
}

/// The one membership an action is about, with the last-admin rule: `demoting` (removing, or
/// giving another role) the only admin is refused.
async fn target(
    st: &AppState,
    caller: &Caller,
    tx: &mut TenantTx,
    user_id: &str,
    demoting: impl Fn(&Row) -> bool,
) -> Result<Row, AdminError> {
    let rows = roster(st, caller, tx, Some(user_id)).await?;
    let row = rows.iter().find(|r| r.user_id == user_id).cloned().ok_or(AdminError::MemberNotFound)?;
    let admins = rows.iter().filter(|r| is_admin_role(&r.role)).count();
    if is_admin_role(&row.role) && demoting(&row) && admins <= 1 {
        return Err(AdminError::LastAdmin);
    }
    Ok(row)
}

/// An admin gives `user_id` another role.
pub async fn change_role(st: &AppState, caller: &Caller, user_id: &str, role: &str) -> Result<(), AdminError> {
    if !caller.can_manage_members() {
        return Err(AdminError::Forbidden);
    }
    if !ORG_ROLES.iter().any(|(r, _)| *r == role) {
        return Err(AdminError::RoleInvalid);
    }
    let mut tx = caller.tenant.begin(&st.db).await?;
    let row = target(st, caller, &mut tx, user_id, |_| !is_admin_role(role)).await?;
    if row.role == role {
        return Ok(());
    }
    let (org, user, new_role) = (caller.org_id().to_string(), user_id.to_string(), role.to_string());
    backend(st, caller, WRITES, Missing::Member, |api| {
        Box::pin(async move { api.update_organization_membership(&org, &user, &new_role).await })
    })
    .await?;
    audit::record(
        &mut tx,
        "member.role_changed",
        None,
        Some(json!({"user_id": user_id, "email": row.email, "role": row.role})),
        Some(json!({"user_id": user_id, "email": row.email, "role": role})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An admin removes `user_id`, or a member removes themself (leaves).
pub async fn remove(st: &AppState, caller: &Caller, user_id: &str) -> Result<(), AdminError> {
    let leaving = user_id == caller.user_id();
    if !leaving && !caller.can_manage_members() {
        return Err(AdminError::Forbidden);
    }
    let mut tx = caller.tenant.begin(&st.db).await?;
    let row = target(st, caller, &mut tx, user_id, |_| true).await?;
    let (org, user) = (caller.org_id().to_string(), user_id.to_string());
    backend(st, caller, WRITES, Missing::Member, |api| {
        Box::pin(async move { api.delete_organization_membership(&org, &user).await })
    })
    .await?;
    let action = if leaving { "member.left" } else { "member.removed" };
    let before = json!({"user_id": user_id, "email": row.email, "role": row.role});
    audit::record(&mut tx, action, None, Some(before), None).await?;
    tx.commit().await?;
    Ok(())
}

/// Pending invitations (admins).
pub async fn invitations(st: &AppState, caller: &Caller) -> Result<Vec<InvitationView>, AdminError> {
    if !caller.can_manage_members() {
        return Err(AdminError::Forbidden);
    }
    let org = caller.org_id().to_string();
    let page = backend(st, caller, READS, Missing::Organization, |api| {
        Box::pin(async move { api.organization_invitations(&org, Some("pending"), 100, 0).await })
    })
    .await?;
    Ok(page
        .data
        .into_iter()
        .map(|i| InvitationView { id: i.id, email: i.email_address, role: i.role, created: from_ms(i.created_at) })
        .collect())
}

/// An admin invites `email` with `role`; the invitation's link brings them back to
/// `app_origin`'s workspace once they have accepted it.
pub async fn invite(
    st: &AppState,
    caller: &Caller,
    app_origin: Option<&str>,
    email: &str,
    role: &str,
) -> Result<InvitationView, AdminError> {
    if !caller.can_manage_members() {
        return Err(AdminError::Forbidden);
    }
    let email = validate_email(email).ok_or(AdminError::EmailInvalid)?;
    if !ORG_ROLES.iter().any(|(r, _)| *r == role) {
        return Err(AdminError::RoleInvalid);
    }
    let mut tx = caller.tenant.begin(&st.db).await?;
    // Clerk refuses an existing member too; the mirror says so without a call.
    if mirrored(&mut tx).await?.iter().any(|r| r.email.eq_ignore_ascii_case(&email)) {
        return Err(AdminError::AlreadyMember);
    }
    let body = CreateOrganizationInvitation {
        email_address: email.clone(),
        role: role.to_string(),
        inviter_user_id: Some(caller.user_id().to_string()),
        redirect_url: app_origin.map(|o| format!("{}/app/dashboard", o.trim_end_matches('/'))),
    };
    let org = caller.org_id().to_string();
    let inv = backend(st, caller, WRITES, Missing::Organization, |api| {
        Box::pin(async move { api.create_organization_invitation(&org, &body).await })
    })
    .await?;
    audit::record(
        &mut tx,
        "invitation.created",
        None,
        None,
        Some(json!({"invitation_id": inv.id, "email": inv.email_address, "role": inv.role})),
    )
    .await?;
    tx.commit().await?;
    Ok(InvitationView { id: inv.id, email: inv.email_address, role: inv.role, created: from_ms(inv.created_at) })
}

/// An admin revokes a pending invitation of this organization (another one's is not found:
/// the call names this organization).
pub async fn revoke(st: &AppState, caller: &Caller, invitation_id: &str) -> Result<(), AdminError> {
    if !caller.can_manage_members() {
        return Err(AdminError::Forbidden);
    }
    let mut tx = caller.tenant.begin(&st.db).await?;
    let (org, id, by) = (caller.org_id().to_string(), invitation_id.to_string(), caller.user_id().to_string());
    let inv = backend(st, caller, WRITES, Missing::Invitation, |api| {
        Box::pin(async move { api.revoke_organization_invitation(&org, &id, Some(&by)).await })
    })
    .await?;
    audit::record(
        &mut tx,
        "invitation.revoked",
        None,
        Some(json!({"invitation_id": inv.id, "email": inv.email_address, "role": inv.role, "status": "pending"})),
        Some(json!({"invitation_id": inv.id, "status": inv.status})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The organization's name and slug in the mirror, read in the caller's transaction (no second
/// connection while it holds one).
async fn mirrored_settings(tx: &mut TenantTx) -> Result<Option<OrgSettings>, sqlx::Error> {
    let org = tx.tenant().org_id().to_string();
    let row = sqlx::query!("SELECT name, slug FROM organizations WHERE id = $1 AND deleted_at IS NULL", org)
        .fetch_optional(&mut *tx.tx)
        .await?;
    Ok(row.map(|r| OrgSettings { id: org, name: r.name, slug: r.slug.unwrap_or_default() }))
}

/// The organization's name and slug for an action, in its transaction: the mirror's, or Clerk's
/// while the mirror has none (as [`roster`] for members).
async fn current(st: &AppState, caller: &Caller, tx: &mut TenantTx) -> Result<OrgSettings, AdminError> {
    let mirrored = mirrored_settings(tx).await?;
    or_clerk_settings(st, caller, mirrored).await
}

/// The organization's name and slug: the `mirrored` ones, or Clerk's while the mirror has none.
async fn or_clerk_settings(
    st: &AppState,
    caller: &Caller,
    mirrored: Option<OrgSettings>,
) -> Result<OrgSettings, AdminError> {
    if let Some(settings) = mirrored {
        return Ok(settings);
    }
    let org = caller.org_id().to_string();
    let o = backend(st, caller, READS, Missing::Organization, |api| {
        Box::pin(async move { api.get_organization(&org).await })
    })
    .await?;
    Ok(OrgSettings { id: o.id, name: o.name, slug: o.slug.unwrap_or_default() })
}

/// `/app/settings` (admins, or members with `org:sys_profile:manage`). Read as [`list`] reads.
pub async fn settings(st: &AppState, caller: &Caller, reads: &RequestReads) -> Result<OrgSettings, AdminError> {
    if !caller.can_manage_organization() {
        return Err(AdminError::Forbidden);
    }
    // The scope also refuses a deleted organization.
    let mirrored =
        reads.tenant(&st.db, &caller.tenant, async |tx| Ok::<_, AdminError>(mirrored_settings(tx).await?)).await?;
    or_clerk_settings(st, caller, mirrored).await
}

/// Renames the organization and/or changes its slug (`None`: unchanged).
pub async fn update(
    st: &AppState,
    caller: &Caller,
    name: Option<&str>,
    slug: Option<&str>,
) -> Result<OrgSettings, AdminError> {
    if !caller.can_manage_organization() {
        return Err(AdminError::Forbidden);
    }
    let name = name.map(|n| validate_organization_name(n).map_err(|_| AdminError::NameInvalid)).transpose()?;
    let slug = slug.map(|s| validate_slug(s).ok_or(AdminError::SlugInvalid)).transpose()?;
    let mut tx = caller.tenant.begin(&st.db).await?;
    let before = current(st, caller, &mut tx).await?;
    let body =
        UpdateOrganization { name: name.filter(|n| *n != before.name), slug: slug.filter(|s| *s != before.slug) };
    if body.name.is_none() && body.slug.is_none() {
        return Ok(before);
    }
    let org = caller.org_id().to_string();
    let sent = body.clone();
    let o = backend(st, caller, WRITES, Missing::Organization, |api| {
        Box::pin(async move { api.update_organization(&org, &sent).await })
    })
    .await?;
    let after = OrgSettings { id: o.id, name: o.name, slug: o.slug.unwrap_or_default() };
    let action = if body.name.is_some() { "organization.renamed" } else { "organization.slug_changed" };
    audit::record(
        &mut tx,
        action,
        None,
        Some(json!({"name": before.name, "slug": before.slug})),
        Some(json!({"name": after.name, "slug": after.slug})),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes the organization in Clerk once `confirmation` is its name. The mirror then
/// tombstones it (`organization.deleted`): its data is kept for the retention period.
pub async fn delete(st: &AppState, caller: &Caller, confirmation: &str) -> Result<(), AdminError> {
    if !caller.can_delete_organization() {
        return Err(AdminError::Forbidden);
    }
    let mut tx = caller.tenant.begin(&st.db).await?;
    let before = current(st, caller, &mut tx).await?;
    if confirmation.trim() != before.name {
        return Err(AdminError::ConfirmationMismatch);
    }
    // Recorded before the tombstone freezes the organization's log (rolled back if Clerk refuses).
    audit::record(
        &mut tx,
        "organization.deletion_requested",
        None,
        Some(json!({"name": before.name, "slug": before.slug})),
        None,
    )
    .await?;
    let org = caller.org_id().to_string();
    backend(st, caller, WRITES, Missing::Organization, |api| {
        Box::pin(async move { api.delete_organization(&org).await })
    })
    .await?;
    tx.commit().await?;
    Ok(())
}
