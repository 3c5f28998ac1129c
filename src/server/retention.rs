//! What happens to a deleted organization's data: nothing, at first. `organization.deleted`
//! (webhook or sync) only tombstones it (see `mirror::delete_organization`); its projects and
//! audit log are hidden and frozen. After the retention period an operator purges them with an
//! explicit, logged command; before that, the organization can be restored with its data.

use sqlx::PgPool;

use super::tenant::SystemScope;

/// Days a deleted organization's data is kept (`TENANTRY_RETENTION_DAYS`).
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// One organization the purge removes (or would remove, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub org_id: String,
    pub deleted_at: time::OffsetDateTime,
    pub projects: u64,
    pub audit_entries: u64,
    pub memberships: u64,
}

/// Removes the data of organizations tombstoned more than `retention_days` ago: projects, audit
/// log and memberships. The tombstone itself stays, so a late webhook cannot bring a purged
/// organization back half-empty. Runs as the schema owner (`admin`), since the app's own role
/// cannot delete audit history. With `apply == false` nothing is written (a dry run).
pub async fn purge(admin: &PgPool, retention_days: u32, apply: bool) -> Result<Vec<Purged>, sqlx::Error> {
    let mut tx = super::db::begin(admin).await?;
    let due = sqlx::query!(
        r#"SELECT id, deleted_at AS "deleted_at!" FROM organizations
            WHERE deleted_at IS NOT NULL AND purged_at IS NULL AND deleted_at < now() - make_interval(days => $1)
            ORDER BY deleted_at, id"#,
        retention_days as i32
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::with_capacity(due.len());
    for org in due {
        // Row-level security is forced on the owner too: work inside the organization.
        SystemScope::enter(&mut tx, Some(&org.id), None).await?;
        let projects = sqlx::query!("DELETE FROM projects WHERE org_id = $1", org.id).execute(&mut *tx).await?;
        let audit = sqlx::query!("DELETE FROM audit_log WHERE org_id = $1", org.id).execute(&mut *tx).await?;
        let members = sqlx::query!("DELETE FROM org_memberships WHERE org_id = $1", org.id).execute(&mut *tx).await?;
        sqlx::query!("UPDATE organizations SET purged_at = now() WHERE id = $1", org.id).execute(&mut *tx).await?;
        let purged = Purged {
            org_id: org.id,
            deleted_at: org.deleted_at,
            projects: projects.rows_affected(),
            audit_entries: audit.rows_affected(),
            memberships: members.rows_affected(),
        };
        if apply {
            tracing::warn!(org = %purged.org_id, projects = purged.projects, audit_entries = purged.audit_entries,
                memberships = purged.memberships, deleted_at = %purged.deleted_at, "purged a deleted organization's data");
        }
        out.push(purged);
    }
    if apply {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The organization is live again, with this many memberships back.
    Restored { memberships: u64 },
    /// It was not deleted.
    NotDeleted,
    /// No such organization in the mirror.
    Unknown,
    /// Its data was purged after the retention period: nothing to bring back.
    Purged,
}

/// Undoes a tombstone within the retention period: the organization, and the memberships that
/// were removed with it, are live again; its projects and audit log were never touched.
pub async fn restore(pool: &PgPool, org_id: &str, actor: &str) -> Result<Restored, sqlx::Error> {
    let mut tx = super::db::begin(pool).await?;
    let Some(row) = sqlx::query!("SELECT deleted_at, purged_at FROM organizations WHERE id = $1 FOR UPDATE", org_id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(Restored::Unknown);
    };
    if row.purged_at.is_some() {
        return Ok(Restored::Purged);
    }
    let Some(deleted_at) = row.deleted_at else {
        return Ok(Restored::NotDeleted);
    };
    SystemScope::enter(&mut tx, Some(org_id), None).await?;
    let memberships = sqlx::query!(
        "UPDATE org_memberships SET deleted_at = NULL, updated_at = now() WHERE org_id = $1 AND deleted_at = $2",
        org_id,
        deleted_at
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query!("UPDATE organizations SET deleted_at = NULL, updated_at = now() WHERE id = $1", org_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO audit_log (org_id, actor, action, after) VALUES ($1, $2, 'organization.restored', $3)",
        org_id,
        actor,
        serde_json::json!({ "memberships_restored": memberships, "deleted_at": super::format::rfc3339(deleted_at) })
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::warn!(org = org_id, memberships, "restored a deleted organization");
    Ok(Restored::Restored { memberships })
}
