//! Server functions: thin adapters from Leptos to `crate::server`. The organization, role and
//! user always come from the verified session (through `server::server_fns`); arguments carry
//! only what the user typed. Errors are the typed [`WorkspaceError`].

use leptos::prelude::*;

use super::error::WorkspaceError;
use crate::model::{AuditEntry, Dashboard, OrgChoice, ProjectView, Workspace};

#[cfg(feature = "ssr")]
use crate::server::{audit, projects, server_fns as ctx, workspace};

/// The active organization and the caller's role in it.
#[server(endpoint = "workspace")]
pub async fn get_workspace() -> Result<Workspace, WorkspaceError> {
    let (tenant, st) = (ctx::tenant()?, ctx::state()?);
    Ok(workspace::load(&st, &tenant).await?)
}

/// The signed-in user's organizations: from the mirror, or from Clerk when it has none yet.
#[server(endpoint = "organizations/mine")]
pub async fn my_organizations() -> Result<Vec<OrgChoice>, WorkspaceError> {
    let (member, st) = (ctx::member()?, ctx::state()?);
    Ok(workspace::organizations_of(&st, &member).await?)
}

/// A page of at most 50 projects; `after` is the id of the previous page's last project.
#[server(endpoint = "projects/list")]
pub async fn list_projects(
    search: String,
    status: String,
    #[server(default)] after: Option<String>,
) -> Result<Vec<ProjectView>, WorkspaceError> {
    let mut tx = ctx::tenant_tx().await?;
    Ok(projects::list(&mut tx, &search, projects::StatusFilter::parse(Some(&status)), after.as_deref()).await?)
}

#[server(endpoint = "projects/get")]
pub async fn get_project(id: String) -> Result<ProjectView, WorkspaceError> {
    let mut tx = ctx::tenant_tx().await?;
    Ok(projects::get(&mut tx, &id).await?)
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
    let mut tx = ctx::tenant_tx().await?;
    Ok(projects::dashboard(&mut tx).await?)
}

#[server(endpoint = "audit")]
pub async fn get_audit(page: i64) -> Result<Vec<AuditEntry>, WorkspaceError> {
    let mut tx = ctx::tenant_tx().await?;
    Ok(audit::page(&mut tx, page, 25).await?)
}
