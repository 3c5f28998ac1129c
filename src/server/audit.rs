//! The audit log of an organization: every write to tenant data appends an entry in the same
//! transaction (so it rolls back with its write), and admins read it newest first. The runtime
//! role may only append (`tenantry migrate` revokes UPDATE/DELETE), so history cannot be
//! rewritten.

use uuid::Uuid;

use super::format::rfc3339;
use super::tenant::TenantTx;
use crate::model::AuditEntry;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("only organization admins can see the audit log")]
    AdminOnly,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Appends `action` by the tenant's user, with JSON snapshots before and after.
pub async fn record(
    tx: &mut TenantTx,
    action: &str,
    project: Option<Uuid>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    let (org, actor) = (tx.tenant().org_id().to_string(), tx.tenant().user_id().to_string());
    sqlx::query!(
        "INSERT INTO audit_log (org_id, actor, action, project_id, before, after) VALUES ($1, $2, $3, $4, $5, $6)",
        org,
        actor,
        action,
        project,
        before,
        after
    )
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

/// Newest first; `page` starts at 0. Admins only.
pub async fn page(tx: &mut TenantTx, page: i64, per_page: i64) -> Result<Vec<AuditEntry>, AuditError> {
    if !tx.tenant().is_admin() {
        return Err(AuditError::AdminOnly);
    }
    // A page number from the client: far pages are empty, never an overflow.
    Ok(recent(tx, page.max(0).saturating_mul(per_page), per_page).await?)
}

/// `limit` entries after the `offset` newest.
pub async fn recent(tx: &mut TenantTx, offset: i64, limit: i64) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let org = tx.tenant().org_id().to_string();
    let rows = sqlx::query!(
        "SELECT id, actor, action, project_id, before, after, created_at FROM audit_log WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        org,
        limit,
        offset
    )
    .fetch_all(&mut *tx.tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            actor: r.actor,
            action: r.action,
            project_id: r.project_id.map(|p| p.to_string()),
            before: r.before.map(|v| v.to_string()),
            after: r.after.map(|v| v.to_string()),
            at: rfc3339(r.created_at),
        })
        .collect())
}
