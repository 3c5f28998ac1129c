//! What the workspace shell shows: the active organization (name, the caller's role and rights)
//! and the organizations the signed-in user can switch to. Read from the mirror; while the
//! mirror lags behind Clerk (a just-created organization, a new member), from the Backend API.

use super::limits::BudgetSpent;
use sqlx::PgConnection;

use super::observability::backend_call;
use super::state::AppState;
use super::tenant::{Member, MemberStatementScope, Tenant};
use super::users::current_user;
use crate::model::{ActiveOrganization, AuthSnapshot, CurrentUser, OrgChoice, SessionAuth, Workspace};

/// Why the workspace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The mirror has nothing yet and the Backend API allowance is spent.
    #[error(transparent)]
    Busy(#[from] BudgetSpent),
    /// The mirror has nothing yet and Clerk did not answer in time.
    #[error("Clerk's Backend API did not answer in time")]
    ClerkUnavailable,
    /// The mirror has nothing yet and Clerk answered with an error (or could not be reached).
    #[error("Clerk's Backend API refused the fallback: {0}")]
    ClerkRefused(clerk::bapi::ApiError),
}

/// The name of organization `org_id`, as `user_id` asked: the mirror's, or Clerk's while the
/// mirror lags behind a just-created organization (within the budget; past it, the id).
async fn organization_name(st: &AppState, org_id: &str, user_id: &str) -> Result<String, LoadError> {
    // `organizations` is not tenant data (no row-level security): the pool suffices.
    let name = sqlx::query_scalar!("SELECT name FROM organizations WHERE id = $1 AND deleted_at IS NULL", org_id)
        .fetch_optional(st.db.pool())
        .await?;
    Ok(organization_name_or_clerk(st, org_id, user_id, name).await)
}

/// [`organization_name`] from the mirror's answer (`mirrored`, `None`: no row) already read.
async fn organization_name_or_clerk(st: &AppState, org_id: &str, user_id: &str, mut name: Option<String>) -> String {
    if name.is_none() {
        if let (Some(api), Ok(())) = (st.clerk.api(), st.backend_api_budget.spend("organization-name", user_id)) {
            name = backend_call("get_organization", api.get_organization(org_id))
                .await
                .and_then(Result::ok)
                .map(|o| o.name);
        }
    }
    name.unwrap_or_else(|| org_id.to_string())
}

/// The active organization of `tenant`.
pub async fn load(st: &AppState, tenant: &Tenant) -> Result<Workspace, LoadError> {
    let name = organization_name(st, tenant.org_id(), tenant.user_id()).await?;
    Ok(Workspace {
        org_id: tenant.org_id().to_string(),
        org_name: name,
        role: tenant.role().unwrap_or("").to_string(),
        can_manage: tenant.can_manage_projects(),
        is_admin: tenant.is_admin(),
        user_id: tenant.user_id().to_string(),
    })
}

/// The signed-in user's organizations in the mirror, by name, on `conn` (a transaction in which
/// `member` sees their own memberships: [`super::tenant::RequestReads::member`]). `active` marks
/// the session's active organization.
pub async fn mirrored_organizations(conn: &mut PgConnection, member: &Member) -> Result<Vec<OrgChoice>, sqlx::Error> {
    let active = member.active_org_id();
    let rows = sqlx::query!(
        r#"SELECT m.org_id, m.role, o.name AS "name?", o.slug FROM org_memberships m
             LEFT JOIN organizations o ON o.id = m.org_id AND o.deleted_at IS NULL
            WHERE m.user_clerk_id = $1 AND m.deleted_at IS NULL ORDER BY lower(coalesce(o.name, m.org_id)), m.org_id"#,
        member.user_id()
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OrgChoice {
            active: active == Some(r.org_id.as_str()),
            name: r.name.unwrap_or_else(|| r.org_id.clone()),
            id: r.org_id,
            slug: r.slug,
            role: r.role,
        })
        .collect())
}

/// The signed-in user's organizations: `mirrored` ([`mirrored_organizations`]), or Clerk's list
/// when the mirror has none yet (within the Backend API budget).
pub async fn organizations_of(
    st: &AppState,
    member: &Member,
    mirrored: Vec<OrgChoice>,
) -> Result<Vec<OrgChoice>, LoadError> {
    let active = member.active_org_id();
    let mut out = mirrored;
    if out.is_empty() {
        if let Some(api) = st.clerk.api() {
            st.backend_api_budget.spend("organizations-of-user", member.user_id())?;
            // Clerk slow, down or refusing: say so rather than show an empty list as if it were
            // true (a user told they have no organization may well create a second one).
            let page = backend_call("user_memberships", api.user_memberships(member.user_id(), 100, 0))
                .await
                .ok_or(LoadError::ClerkUnavailable)?
                .map_err(LoadError::ClerkRefused)?;
            out = page
                .data
                .into_iter()
                .map(|m| OrgChoice {
                    active: active == Some(m.organization.id.as_str()),
                    id: m.organization.id,
                    name: m.organization.name,
                    slug: m.organization.slug,
                    role: m.role,
                })
                .collect();
        }
    }
    Ok(out)
}

/// What the mirror holds of the signed-in user and the active organization's name
/// ([`mirrored_snapshot`]).
#[derive(Debug, PartialEq)]
pub struct MirroredSnapshot {
    org_name: Option<String>,
    user: Option<CurrentUser>,
}

/// One statement reads both from the mirror (neither is tenant data: no row-level security), on
/// `conn` (the request's read connection, `RequestReads::member`, where the shell reads in the
/// request's transaction: [`mirrored_shell`]; else [`mirrored_shell_alone`] reads it).
pub async fn mirrored_snapshot(conn: &mut PgConnection, member: &Member) -> Result<MirroredSnapshot, sqlx::Error> {
    let auth = member.auth();
    let mirrored = sqlx::query!(
        r#"SELECT (SELECT name FROM organizations WHERE id = $1 AND deleted_at IS NULL) AS "org_name?",
                  u.clerk_id AS "clerk_id?", u.name AS "name?", u.email AS "email?", u.image_url AS "image_url?"
             FROM (VALUES (1)) AS one (x)
             LEFT JOIN users u ON u.clerk_id = $2 AND u.deleted_at IS NULL"#,
        auth.org.as_ref().map(|o| o.id.as_str()),
        auth.user_id
    )
    .fetch_one(conn)
    .await?;
    let user = mirrored.clerk_id.map(|id| CurrentUser {
        id,
        name: mirrored.name,
        email: mirrored.email,
        image_url: mirrored.image_url,
    });
    Ok(MirroredSnapshot { org_name: mirrored.org_name, user })
}

/// What the workspace shell reads from the mirror for `member`: [`mirrored_snapshot`] and
/// [`mirrored_organizations`].
#[derive(Debug, PartialEq)]
pub struct MirroredShell {
    pub snapshot: MirroredSnapshot,
    pub organizations: Vec<OrgChoice>,
}

/// [`MirroredShell`] as two statements on `conn` (a connection in which `member` sees their own
/// memberships: the request's read transaction, `RequestReads::member`): where a statement may
/// not scope itself (Citus; see [`mirrored_shell_alone`]).
pub async fn mirrored_shell(conn: &mut PgConnection, member: &Member) -> Result<MirroredShell, sqlx::Error> {
    let snapshot = mirrored_snapshot(conn, member).await?;
    let organizations = mirrored_organizations(conn, member).await?;
    Ok(MirroredShell { snapshot, organizations })
}

/// [`MirroredShell`] as one statement on the pool that enters the member's scope itself
/// (`member_workspace_shell`, migrations/20270110000001_member_workspace_shell.sql, which writes
/// out [`mirrored_snapshot`]'s and [`mirrored_organizations`]' queries again): one round trip and
/// no transaction where [`mirrored_shell`] takes a scoped transaction and two statements.
pub async fn mirrored_shell_alone(scope: MemberStatementScope<'_>) -> Result<MirroredShell, sqlx::Error> {
    let member = scope.member();
    let active = member.active_org_id();
    let rows = sqlx::query!(
        r#"SELECT org_name, user_clerk_id, user_name, user_email, user_image_url,
                  member_org_id, member_role AS "member_role?", member_org_name, member_org_slug
             FROM public.member_workspace_shell($1, $2) WITH ORDINALITY AS shell
            ORDER BY shell.ordinality"#,
        member.user_id(),
        active
    )
    .fetch_all(scope.pool())
    .await?;
    // Every row repeats the organization's name and the user (one row at least).
    let snapshot = match rows.first() {
        Some(r) => MirroredSnapshot {
            org_name: r.org_name.clone(),
            user: r.user_clerk_id.clone().map(|id| CurrentUser {
                id,
                name: r.user_name.clone(),
                email: r.user_email.clone(),
                image_url: r.user_image_url.clone(),
            }),
        },
        None => MirroredSnapshot { org_name: None, user: None },
    };
    let organizations = rows
        .into_iter()
        .filter_map(|r| {
            let (id, role) = (r.member_org_id?, r.member_role?);
            Some(OrgChoice {
                active: active == Some(id.as_str()),
                name: r.member_org_name.unwrap_or_else(|| id.clone()),
                slug: r.member_org_slug,
                role,
                id,
            })
        })
        .collect();
    Ok(MirroredShell { snapshot, organizations })
}

/// What `use_auth()`, `use_user()` and `use_organization()` read: the verified session (a
/// pending one included), the user, and the active organization by name, from `mirrored`
/// ([`mirrored_snapshot`]); what it lacks comes from the Backend API, as [`organization_name`]
/// and [`current_user`] do (after the read, outside its transaction).
pub async fn auth_snapshot(st: &AppState, member: &Member, mirrored: MirroredSnapshot) -> AuthSnapshot {
    let auth = member.auth();
    let org = auth.org.as_ref();
    let organization = match org {
        Some(o) => Some(ActiveOrganization {
            id: o.id.clone(),
            name: organization_name_or_clerk(st, &o.id, &auth.user_id, mirrored.org_name).await,
            slug: o.slug.clone(),
        }),
        None => None,
    };
    AuthSnapshot {
        auth: SessionAuth {
            user_id: auth.user_id.clone(),
            session_id: auth.session_id.clone(),
            session_status: auth.session_status.clone(),
            org_id: org.map(|o| o.id.clone()),
            org_role: org.and_then(|o| o.role.clone()),
            org_permissions: org.map(|o| o.permissions.clone()).unwrap_or_default(),
        },
        user: current_user(st, &auth.user_id, mirrored.user).await,
        organization,
        account_url: st.config.clerk.user_profile_url.clone(),
    }
}
