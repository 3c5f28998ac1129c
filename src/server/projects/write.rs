//! The audited writes: each takes the project's row as [`current_for_write`] locked it (403
//! before anything is read, 404 if it is not this organization's), judges the change on it and
//! records the audit entry in the same transaction. A change to nothing writes and audits
//! nothing.

use serde_json::json;

use super::{get, parse_id, require_manager, ProjectError, ProjectRow};
use crate::model::{validate_description, validate_project_name, ProjectView};
use crate::server::audit;
use crate::server::tenant::TenantTx;

/// The unique constraint on a project's name, as Postgres names it, or as Citus names it on a
/// shard (`projects_name_per_org_102046`).
fn is_name_per_org(constraint: &str) -> bool {
    constraint.strip_prefix("projects_name_per_org").is_some_and(|rest| {
        rest.is_empty()
            || rest.strip_prefix('_').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The constraint a unique violation names: Postgres's error field, or — through a Citus
/// coordinator, which forwards a worker's message but not its constraint field — the quoted name
/// in the message (`duplicate key value violates unique constraint "projects_name_per_org_102046"`).
fn violated_constraint(db: &dyn sqlx::error::DatabaseError) -> Option<&str> {
    if db.code().as_deref() != Some("23505") {
        return None;
    }
    db.constraint().or_else(|| quoted_constraint(db.message()))
}

fn quoted_constraint(message: &str) -> Option<&str> {
    let rest = &message[message.find("unique constraint \"")? + "unique constraint \"".len()..];
    rest.get(..rest.find('"')?)
}

fn map_unique(e: sqlx::Error, name: &str) -> ProjectError {
    match &e {
        sqlx::Error::Database(db) if violated_constraint(db.as_ref()).is_some_and(is_name_per_org) => {
            ProjectError::NameTaken(name.to_string())
        }
        _ => ProjectError::Database(e),
    }
}

/// The row locked until the transaction ends: concurrent writes to it wait, so the audit
/// entry's "before" is exactly what this write replaces.
async fn get_for_update(tx: &mut TenantTx, id: &str) -> Result<ProjectView, ProjectError> {
    let id = parse_id(id)?;
    let org = tx.tenant().org_id().to_string();
    let r = sqlx::query_as!(
        ProjectRow,
        r#"SELECT id, name, description, archived_at IS NOT NULL AS "archived!", created_by, updated_at FROM projects WHERE org_id = $1 AND id = $2 FOR UPDATE"#,
        org,
        id
    )
    .fetch_optional(&mut *tx.tx)
    .await?
    .ok_or(ProjectError::NotFound)?;
    Ok(r.into())
}

fn snapshot(p: &ProjectView) -> serde_json::Value {
    json!({"name": p.name, "description": p.description, "archived": p.archived})
}

pub async fn create(tx: &mut TenantTx, name: &str, description: &str) -> Result<ProjectView, ProjectError> {
    require_manager(tx)?;
    let name = validate_project_name(name).map_err(|m| ProjectError::Invalid("name", m))?;
    let description = validate_description(description).map_err(|m| ProjectError::Invalid("description", m))?;
    let (org, user) = (tx.tenant().org_id().to_string(), tx.tenant().user_id().to_string());
    let id = sqlx::query_scalar!(
        "INSERT INTO projects (org_id, name, description, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
        org,
        name,
        description,
        user
    )
    .fetch_one(&mut *tx.tx)
    .await
    .map_err(|e| map_unique(e, &name))?;
    let created = get(tx, &id.to_string()).await?;
    audit::record(tx, "project.created", Some(id), None, Some(snapshot(&created))).await?;
    Ok(created)
}

pub async fn update(tx: &mut TenantTx, id: &str, name: &str, description: &str) -> Result<ProjectView, ProjectError> {
    let before = current_for_write(tx, id).await?;
    update_locked(tx, before, name, description).await
}

async fn update_locked(
    tx: &mut TenantTx,
    LockedProject(before): LockedProject,
    name: &str,
    description: &str,
) -> Result<ProjectView, ProjectError> {
    let id = before.id.as_str();
    // A value left as it was is not judged again (a name stored before a rule existed stays
    // editable around), and a change to nothing writes nothing and audits nothing.
    let name = if name == before.name {
        before.name.clone()
    } else {
        validate_project_name(name).map_err(|m| ProjectError::Invalid("name", m))?
    };
    let description = if description == before.description {
        before.description.clone()
    } else {
        validate_description(description).map_err(|m| ProjectError::Invalid("description", m))?
    };
    if name == before.name && description == before.description {
        return Ok(before);
    }
    let (org, uid) = (tx.tenant().org_id().to_string(), parse_id(id)?);
    sqlx::query!(
        "UPDATE projects SET name = $3, description = $4, updated_at = now() WHERE org_id = $1 AND id = $2",
        org,
        uid,
        name,
        description
    )
    .execute(&mut *tx.tx)
    .await
    .map_err(|e| map_unique(e, &name))?;
    let after = get(tx, id).await?;
    let action = if before.name != after.name { "project.renamed" } else { "project.updated" };
    audit::record(tx, action, Some(uid), Some(snapshot(&before)), Some(snapshot(&after))).await?;
    Ok(after)
}

/// Changes only what is given (REST's `PATCH`), each change audited as its own action; nothing
/// given returns the project as it is (still for managers only: it is a write request).
pub async fn patch(
    tx: &mut TenantTx,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
    archived: Option<bool>,
) -> Result<ProjectView, ProjectError> {
    let current = current_for_write(tx, id).await?;
    patch_locked(tx, current, name, description, archived).await
}

/// [`patch`] on the project [`current_for_write`] locked in `tx`.
pub async fn patch_locked(
    tx: &mut TenantTx,
    current: LockedProject,
    name: Option<&str>,
    description: Option<&str>,
    archived: Option<bool>,
) -> Result<ProjectView, ProjectError> {
    let mut project = current.0;
    if name.is_some() || description.is_some() {
        let (name, description) =
            (name.unwrap_or(&project.name).to_string(), description.unwrap_or(&project.description).to_string());
        // Still locked: `tx` holds the row until it ends.
        project = update_locked(tx, LockedProject(project), &name, &description).await?;
    }
    match archived {
        Some(a) if a != project.archived => set_archived_locked(tx, LockedProject(project), a).await,
        _ => Ok(project),
    }
}

pub async fn set_archived(tx: &mut TenantTx, id: &str, archived: bool) -> Result<ProjectView, ProjectError> {
    let before = current_for_write(tx, id).await?;
    set_archived_locked(tx, before, archived).await
}

async fn set_archived_locked(
    tx: &mut TenantTx,
    LockedProject(before): LockedProject,
    archived: bool,
) -> Result<ProjectView, ProjectError> {
    let id = before.id.as_str();
    // Already in the asked state: nothing written, nothing audited (as `update`).
    if before.archived == archived {
        return Ok(before);
    }
    let (org, uid) = (tx.tenant().org_id().to_string(), parse_id(id)?);
    // Two statements rather than `CASE … COALESCE(archived_at, now())`: Citus refuses
    // non-IMMUTABLE functions inside CASE/COALESCE of a distributed UPDATE.
    if archived {
        sqlx::query!(
            "UPDATE projects SET archived_at = now(), updated_at = now() WHERE org_id = $1 AND id = $2 AND archived_at IS NULL",
            org,
            uid
        )
        .execute(&mut *tx.tx)
        .await?;
    } else {
        sqlx::query!(
            "UPDATE projects SET archived_at = NULL, updated_at = now() WHERE org_id = $1 AND id = $2 AND archived_at IS NOT NULL",
            org,
            uid
        )
        .execute(&mut *tx.tx)
        .await?;
    }
    let after = get(tx, id).await?;
    audit::record(
        tx,
        if archived { "project.archived" } else { "project.unarchived" },
        Some(uid),
        Some(snapshot(&before)),
        Some(snapshot(&after)),
    )
    .await?;
    Ok(after)
}

/// A project as a write finds it, its row locked by the transaction that read it
/// ([`current_for_write`]) until that transaction ends: the writes below take it instead of
/// reading the row again.
pub struct LockedProject(ProjectView);

impl LockedProject {
    pub fn view(&self) -> &ProjectView {
        &self.0
    }
}

/// The project as a write would find it: for managers only (403 before anything is read), the
/// row locked until `tx` ends (404 if it is not this organization's), so what is judged on it
/// (the audit's "before", REST's `If-Match`) still holds when the write that follows in `tx`
/// runs.
pub async fn current_for_write(tx: &mut TenantTx, id: &str) -> Result<LockedProject, ProjectError> {
    require_manager(tx)?;
    Ok(LockedProject(get_for_update(tx, id).await?))
}

pub async fn delete(tx: &mut TenantTx, id: &str) -> Result<(), ProjectError> {
    let before = current_for_write(tx, id).await?;
    delete_locked(tx, before).await
}

/// [`delete`] of the project [`current_for_write`] locked in `tx`.
pub async fn delete_locked(tx: &mut TenantTx, LockedProject(before): LockedProject) -> Result<(), ProjectError> {
    let id = before.id.as_str();
    let (org, uid) = (tx.tenant().org_id().to_string(), parse_id(id)?);
    sqlx::query!("DELETE FROM projects WHERE org_id = $1 AND id = $2", org, uid).execute(&mut *tx.tx).await?;
    audit::record(tx, "project.deleted", Some(uid), Some(snapshot(&before)), None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_name_constraint_is_recognised_on_postgres_and_on_citus_shards() {
        for c in ["projects_name_per_org", "projects_name_per_org_102046"] {
            assert!(super::is_name_per_org(c), "{c}");
        }
        for c in ["projects_name_per_org_", "projects_name_per_org_x1", "projects_name_per_orgx", "projects_pkey"] {
            assert!(!super::is_name_per_org(c), "{c}");
        }
        // What a Citus coordinator forwards: the worker's message, no constraint field.
        let citus = r#"duplicate key value violates unique constraint "projects_name_per_org_102046""#;
        assert_eq!(super::quoted_constraint(citus), Some("projects_name_per_org_102046"));
        assert_eq!(super::quoted_constraint("duplicate key value violates unique constraint"), None);
        assert_eq!(super::quoted_constraint(r#"unique constraint "unterminated"#), None);
    }
}
