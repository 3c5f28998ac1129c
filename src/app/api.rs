//! Server functions: thin adapters from Leptos to `crate::server`. The organization, role and
//! user always come from the verified session (through `server::server_fns`); arguments carry
//! only what the user typed. Errors are the typed [`WorkspaceError`].

use leptos::prelude::*;

use super::auth::ShellSnapshot;
use super::error::WorkspaceError;
use crate::model::{
    AuditEntry, AuthSnapshot, Dashboard, InvitationView, MembersView, OrgChoice, OrgSettings, ProjectView,
};

#[cfg(feature = "ssr")]
use crate::server::{audit, members, projects, server_fns as ctx, workspace};

/// The signed-in user, session and active organization (what `use_auth()` & co read); `None`
/// when signed out (not an error: public pages read it too).
#[server(endpoint = "auth")]
pub async fn get_auth() -> Result<Option<AuthSnapshot>, WorkspaceError> {
    let Some(member) = ctx::member_if_signed_in()? else { return Ok(None) };
    let st = ctx::state()?;
    let mirrored = ctx::member_shell(&member).await?;
    Ok(Some(workspace::auth_snapshot(&st, &member, mirrored.snapshot).await))
}

/// The signed-in user's organizations: from the mirror, or from Clerk when it has none yet.
#[server(endpoint = "organizations/mine")]
pub async fn my_organizations() -> Result<Vec<OrgChoice>, WorkspaceError> {
    let (member, st) = (ctx::member()?, ctx::state()?);
    let mirrored = ctx::member_shell(&member).await?;
    Ok(workspace::organizations_of(&st, &member, mirrored.organizations).await?)
}

/// What the `/app` shell shows, in one read: [`get_auth`]'s snapshot and
/// [`my_organizations`]' list. `None` when signed out.
#[server(endpoint = "shell")]
pub async fn get_shell() -> Result<Option<ShellSnapshot>, WorkspaceError> {
    let Some(member) = ctx::member_if_signed_in()? else { return Ok(None) };
    let st = ctx::state()?;
    let mirrored = ctx::member_shell(&member).await?;
    // What the mirror lacks comes from the Backend API: both parts' calls at once.
    let (auth, organizations) = tokio::join!(
        workspace::auth_snapshot(&st, &member, mirrored.snapshot),
        workspace::organizations_of(&st, &member, mirrored.organizations)
    );
    // The list is the switcher's: without it the page is still answered, and its status kept.
    let organizations = organizations.map_err(ctx::fallback_failed);
    Ok(Some(ShellSnapshot { auth, organizations }))
}

/// A page of at most 50 projects; `after` and `after_name` are the id and name of the previous
/// page's last project (the page starts after it even if it was deleted since).
#[server(endpoint = "projects/list")]
pub async fn list_projects(
    search: String,
    status: String,
    #[server(default)] after: Option<String>,
    #[server(default)] after_name: Option<String>,
) -> Result<Vec<ProjectView>, WorkspaceError> {
    use projects::{Cursor, Filter, StatusFilter};
    const SIZE: usize = crate::model::PROJECTS_PAGE_SIZE;
    let status = StatusFilter::parse(Some(&status));
    let cursor = Cursor::parse(after.as_deref(), after_name.as_deref());
    // One statement (`tenant_statement`), if its input is valid and its position known.
    if let (Ok(cursor), Ok(filter)) = (&cursor, Filter::new(&search, status)) {
        if !cursor.needs_lookup() {
            let page = ctx::tenant_statement(async |scope| {
                projects::list_after_alone(scope, &filter, cursor.key(), SIZE).await
            });
            if let Some(page) = page.await {
                return Ok(page?.into_iter().map(|l| l.project).collect());
            }
        }
    }
    // Otherwise in the request's read transaction, where the scope is checked before the input.
    ctx::tenant_read(async |tx| Ok(projects::list(tx, &search, status, cursor?, SIZE).await?)).await
}

#[server(endpoint = "projects/get")]
pub async fn get_project(id: String) -> Result<ProjectView, WorkspaceError> {
    ctx::tenant_read(async |tx| Ok(projects::get(tx, &id).await?)).await
}

#[server(endpoint = "projects/create")]
pub async fn create_project(name: String, description: String) -> Result<ProjectView, WorkspaceError> {
    let mut tx = ctx::tenant_tx().await?;
    let p = projects::create(&mut tx, &name, &description).await?;
    tx.commit().await?;
    Ok(p)
}

#[server(endpoint = "projects/update")]
pub async fn update_project(id: String, name: String, description: String) -> Result<ProjectView, WorkspaceError> {
    let mut tx = ctx::tenant_tx().await?;
    let p = projects::update(&mut tx, &id, &name, &description).await?;
    tx.commit().await?;
    Ok(p)
}

/// Renames a project, its other fields as they are when the write runs: the rename form sends
/// the name alone, so a description someone changed since the page was loaded is not written
/// back over with the page's copy (as `update_project` with it would).
#[server(endpoint = "projects/rename")]
pub async fn rename_project(id: String, name: String) -> Result<ProjectView, WorkspaceError> {
    let mut tx = ctx::tenant_tx().await?;
    let p = projects::patch(&mut tx, &id, Some(&name), None, None).await?;
    tx.commit().await?;
    Ok(p)
}

#[server(endpoint = "projects/archive")]
pub async fn archive_project(id: String, archived: bool) -> Result<ProjectView, WorkspaceError> {
    let mut tx = ctx::tenant_tx().await?;
    let p = projects::set_archived(&mut tx, &id, archived).await?;
    tx.commit().await?;
    Ok(p)
}

#[server(endpoint = "projects/delete")]
pub async fn delete_project(id: String) -> Result<(), WorkspaceError> {
    let mut tx = ctx::tenant_tx().await?;
    projects::delete(&mut tx, &id).await?;
    Ok(tx.commit().await?)
}

#[server(endpoint = "dashboard")]
pub async fn get_dashboard() -> Result<Dashboard, WorkspaceError> {
    ctx::tenant_read(async |tx| Ok(projects::dashboard(tx).await?)).await
}

#[server(endpoint = "audit")]
pub async fn get_audit(page: i64) -> Result<Vec<AuditEntry>, WorkspaceError> {
    ctx::tenant_read(async |tx| Ok(audit::page(tx, page, 25).await?)).await
}

/// Everyone in the active organization, and whether the caller may manage them.
#[server(endpoint = "members/list")]
pub async fn list_members() -> Result<MembersView, WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    Ok(members::list(&st, &caller, &ctx::request_reads()).await?)
}

/// Admins: give a member another role (`org:admin`, `org:member`).
#[server(endpoint = "members/role")]
pub async fn change_member_role(user_id: String, role: String) -> Result<(), WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    Ok(members::change_role(&st, &caller, &user_id, &role).await?)
}

/// Admins: remove a member.
#[server(endpoint = "members/remove")]
pub async fn remove_member(user_id: String) -> Result<(), WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    Ok(members::remove(&st, &caller, &user_id).await?)
}

/// Anyone but the last admin: leave the active organization (then choose another).
#[server(endpoint = "members/leave")]
pub async fn leave_organization() -> Result<(), WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    let me = caller.tenant().user_id().to_string();
    members::remove(&st, &caller, &me).await?;
    leptos_axum::redirect("/select-org");
    Ok(())
}

/// Admins: pending invitations.
#[server(endpoint = "invitations/list")]
pub async fn list_invitations() -> Result<Vec<InvitationView>, WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    Ok(members::invitations(&st, &caller).await?)
}

/// Admins: invite someone by email with a role.
#[server(endpoint = "invitations/create")]
pub async fn invite_member(email: String, role: String) -> Result<InvitationView, WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    Ok(members::invite(&st, &caller, ctx::origin().as_deref(), &email, &role).await?)
}

/// Admins: revoke a pending invitation.
#[server(endpoint = "invitations/revoke")]
pub async fn revoke_invitation(id: String) -> Result<(), WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    Ok(members::revoke(&st, &caller, &id).await?)
}

/// Admins: the organization's name and slug.
#[server(endpoint = "organization/settings")]
pub async fn get_org_settings() -> Result<OrgSettings, WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    Ok(members::settings(&st, &caller, &ctx::request_reads()).await?)
}

/// Admins: rename the organization.
#[server(endpoint = "organization/rename")]
pub async fn rename_organization(name: String) -> Result<OrgSettings, WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    Ok(members::update(&st, &caller, Some(&name), None).await?)
}

/// Admins: change the organization's slug (Clerk's rules: lowercase letters, digits, hyphens).
#[server(endpoint = "organization/slug")]
pub async fn change_organization_slug(slug: String) -> Result<OrgSettings, WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    Ok(members::update(&st, &caller, None, Some(&slug)).await?)
}

/// Admins: delete the organization, `confirm` being its name typed out.
#[server(endpoint = "organization/delete")]
pub async fn delete_organization(confirm: String) -> Result<(), WorkspaceError> {
    let (caller, st) = (ctx::caller()?, ctx::state()?);
    members::delete(&st, &caller, &confirm).await?;
    leptos_axum::redirect("/select-org");
    Ok(())
}
