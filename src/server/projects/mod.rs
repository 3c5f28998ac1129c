//! Projects, always inside a [`TenantTx`]: every statement filters on the tenant's org id
//! itself, and row-level security checks the same thing again. Every write is audited in the
//! same transaction (see [`super::audit`]), so the entry rolls back with its write.
//!
//! By concern: here what reads and writes share (the error, the row as read, ids, the managers'
//! right) and the single reads (a project, the dashboard's counts); [`list`] the filtered,
//! keyset-paginated pages (in a transaction, or as one statement that scopes itself);
//! [`write`] the audited writes, each on the row [`current_for_write`] locked.

use uuid::Uuid;

use super::audit;
use super::format::rfc3339;
use super::tenant::{ScopeError, TenantTx};
use crate::model::{Dashboard, ProjectView, TextProblem};

mod list;
mod write;

pub use list::*;
pub use write::*;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("only organization admins and project managers can do that")]
    Forbidden,
    #[error("no such project")]
    NotFound,
    /// A page cursor that is not a project id.
    #[error("invalid page cursor")]
    BadCursor,
    #[error("invalid {0}: {1:?}")]
    Invalid(&'static str, TextProblem),
    #[error("a project named {0:?} already exists in this organization")]
    NameTaken(String),
    /// Refused by the tenant scope's check in the read's own statement ([`list_after_alone`]).
    #[error(transparent)]
    Scope(ScopeError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// One `projects` row as every read selects it.
struct ProjectRow {
    id: Uuid,
    name: String,
    description: String,
    archived: bool,
    created_by: String,
    updated_at: time::OffsetDateTime,
}

impl From<ProjectRow> for ProjectView {
    fn from(r: ProjectRow) -> Self {
        ProjectView {
            id: r.id.to_string(),
            name: r.name,
            description: r.description,
            archived: r.archived,
            created_by: r.created_by,
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// Ids arrive as text from forms and URLs: a malformed one is simply not found.
pub fn parse_id(id: &str) -> Result<Uuid, ProjectError> {
    Uuid::parse_str(id).map_err(|_| ProjectError::NotFound)
}

/// Writes are for admins and project managers.
pub fn require_manager(tx: &TenantTx) -> Result<(), ProjectError> {
    if tx.tenant().can_manage_projects() {
        Ok(())
    } else {
        Err(ProjectError::Forbidden)
    }
}

pub async fn get(tx: &mut TenantTx, id: &str) -> Result<ProjectView, ProjectError> {
    let id = parse_id(id)?;
    let org = tx.tenant().org_id().to_string();
    let r = sqlx::query_as!(
        ProjectRow,
        r#"SELECT id, name, description, archived_at IS NOT NULL AS "archived!", created_by, updated_at FROM projects WHERE org_id = $1 AND id = $2"#,
        org,
        id
    )
    .fetch_optional(&mut *tx.tx)
    .await?
    .ok_or(ProjectError::NotFound)?;
    Ok(r.into())
}

pub async fn dashboard(tx: &mut TenantTx) -> Result<Dashboard, ProjectError> {
    let org = tx.tenant().org_id().to_string();
    let c = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE archived_at IS NULL) AS "active!", count(*) FILTER (WHERE archived_at IS NOT NULL) AS "archived!" FROM projects WHERE org_id = $1"#,
        org
    )
    .fetch_one(&mut *tx.tx)
    .await?;
    // The audit log is for admins, here as on its own page: members see the counts only.
    let recent = if tx.tenant().is_admin() { Some(audit::recent(tx, 0, 5).await?) } else { None };
    Ok(Dashboard { active_projects: c.active, archived_projects: c.archived, recent })
}
