//! The Clerk mirror: users, organizations and memberships kept in Postgres from webhook events
//! (and from reconciliation). Every write is ordered by Clerk's `updated_at` (last write wins)
//! and respects tombstones, so duplicated, reordered and late deliveries converge on one state.

use clerk::bapi::{Organization, OrganizationMembership, User};
use clerk::WebhookEvent;
use serde::Deserialize;
use sqlx::{PgConnection, PgPool};

use super::tenant::SystemScope;

/// What happened to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// This `svix-id` was applied before: nothing done.
    Duplicate,
    /// Valid, but not an event the mirror keeps.
    Ignored,
}

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("event {event_type} has an unexpected payload: {detail}")]
    Payload { event_type: String, detail: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Deserialize)]
struct Deleted {
    id: String,
}

/// Apply one verified event exactly once: the delivery id is recorded in the same transaction
/// as its effect, so concurrent duplicates serialize on the primary key and apply once.
pub async fn apply_event(pool: &PgPool, svix_id: &str, event: &WebhookEvent) -> Result<Outcome, MirrorError> {
    let mut tx = super::db::begin(pool).await?;
    let first = sqlx::query!(
        "INSERT INTO webhook_deliveries (svix_id, event_type) VALUES ($1, $2) ON CONFLICT (svix_id) DO NOTHING",
        svix_id,
        event.event_type
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !first {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    let payload = |detail: serde_json::Error| MirrorError::Payload {
        event_type: event.event_type.clone(),
        detail: detail.to_string(),
    };
    let data = event.data.clone();
    let outcome = match event.event_type.as_str() {
        "user.created" | "user.updated" => {
            upsert_user(&mut tx, &serde_json::from_value(data).map_err(payload)?).await?;
            Outcome::Applied
        }
        "user.deleted" => {
            let d: Deleted = serde_json::from_value(data).map_err(payload)?;
            delete_user(&mut tx, &d.id).await?;
            Outcome::Applied
        }
        "organization.created" | "organization.updated" => {
            upsert_organization(&mut tx, &serde_json::from_value(data).map_err(payload)?).await?;
            Outcome::Applied
        }
        "organization.deleted" => {
            let d: Deleted = serde_json::from_value(data).map_err(payload)?;
            delete_organization(&mut tx, &d.id, "clerk:webhook").await?;
            Outcome::Applied
        }
        "organizationMembership.created" | "organizationMembership.updated" => {
            upsert_membership(&mut tx, &serde_json::from_value(data).map_err(payload)?).await?;
            Outcome::Applied
        }
        "organizationMembership.deleted" => {
            delete_membership(&mut tx, &serde_json::from_value(data).map_err(payload)?).await?;
            Outcome::Applied
        }
        _ => Outcome::Ignored,
    };
    tx.commit().await?;
    Ok(outcome)
}

pub async fn upsert_user(conn: &mut PgConnection, user: &User) -> Result<(), sqlx::Error> {
    let email = user.primary_email().map(|e| e.trim().to_lowercase());
    let name = user.display_name();
    // An email moves with the newest owner: free it from an older row; never take it from a newer one.
    if let Some(email) = &email {
        sqlx::query!("UPDATE users SET email = NULL, updated_at = now() WHERE email = $1 AND clerk_id <> $2 AND clerk_updated_at < $3", email, user.id, user.updated_at).execute(&mut *conn).await?;
    }
    // Plain statements (no subquery inside the INSERT, no function in DO UPDATE SET), which a
    // distributed Postgres (Citus) accepts as well: the email is kept only if no other row holds it.
    let email = match email {
        Some(email) => {
            let taken = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM users WHERE email = $1 AND clerk_id <> $2) AS "taken!""#,
                email,
                user.id
            )
            .fetch_one(&mut *conn)
            .await?;
            (!taken).then_some(email)
        }
        None => None,
    };
    sqlx::query!(
        r#"INSERT INTO users (clerk_id, email, name, image_url, clerk_updated_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (clerk_id) DO UPDATE
              SET email = EXCLUDED.email, name = EXCLUDED.name, image_url = EXCLUDED.image_url,
                  clerk_updated_at = EXCLUDED.clerk_updated_at, updated_at = EXCLUDED.updated_at
            WHERE users.deleted_at IS NULL AND users.clerk_updated_at <= EXCLUDED.clerk_updated_at"#,
        user.id,
        email,
        name,
        user.image_url,
        user.updated_at
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Serializes the deliveries that touch one user's or organization's memberships, until the
/// transaction ends. Under READ COMMITTED a membership inserted while its organization (or user)
/// is being deleted would see neither the tombstone nor be seen by the deletion's own update, and
/// stay live in a deleted organization; with both holding this lock one waits for the other.
/// An advisory lock, because the organization's row may not exist yet (events arrive in any order).
async fn lock_identity(conn: &mut PgConnection, kind: &str, id: &str) -> Result<(), sqlx::Error> {
    let key = format!("tenantry:mirror:{kind}:{id}");
    sqlx::query!(r#"SELECT 1 AS "locked!" FROM pg_advisory_xact_lock(hashtextextended($1, 0))"#, key)
        .fetch_one(&mut *conn)
        .await?;
    Ok(())
}

/// Tombstone the user (a late update cannot bring them back) and end their memberships.
pub async fn delete_user(conn: &mut PgConnection, clerk_id: &str) -> Result<(), sqlx::Error> {
    lock_identity(conn, "user", clerk_id).await?;
    sqlx::query!(
        r#"INSERT INTO users (clerk_id, deleted_at, updated_at) VALUES ($1, now(), now())
           ON CONFLICT (clerk_id) DO UPDATE SET deleted_at = COALESCE(users.deleted_at, EXCLUDED.deleted_at), email = NULL, name = NULL, image_url = NULL, updated_at = EXCLUDED.updated_at"#,
        clerk_id
    )
    .execute(&mut *conn)
    .await?;
    SystemScope::enter(conn, None, Some(clerk_id)).await?;
    sqlx::query!("UPDATE org_memberships SET deleted_at = now(), updated_at = now() WHERE user_clerk_id = $1 AND deleted_at IS NULL", clerk_id).execute(&mut *conn).await?;
    Ok(())
}

pub async fn upsert_organization(conn: &mut PgConnection, org: &Organization) -> Result<(), sqlx::Error> {
    if let Some(slug) = &org.slug {
        sqlx::query!("UPDATE organizations SET slug = NULL, updated_at = now() WHERE slug = $1 AND id <> $2 AND deleted_at IS NULL AND clerk_updated_at < $3", slug, org.id, org.updated_at).execute(&mut *conn).await?;
    }
    // As for users: the slug is kept only if no other live organization holds it.
    let slug = match &org.slug {
        Some(slug) => {
            let taken = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM organizations WHERE slug = $1 AND id <> $2 AND deleted_at IS NULL) AS "taken!""#,
                slug,
                org.id
            )
            .fetch_one(&mut *conn)
            .await?;
            (!taken).then_some(slug.as_str())
        }
        None => None,
    };
    sqlx::query!(
        r#"INSERT INTO organizations (id, slug, name, image_url, clerk_updated_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (id) DO UPDATE
              SET slug = EXCLUDED.slug, name = EXCLUDED.name, image_url = EXCLUDED.image_url,
                  clerk_updated_at = EXCLUDED.clerk_updated_at, updated_at = EXCLUDED.updated_at
            WHERE organizations.deleted_at IS NULL AND organizations.clerk_updated_at <= EXCLUDED.clerk_updated_at"#,
        org.id,
        slug,
        org.name,
        org.image_url,
        org.updated_at
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Tombstone the organization and its memberships. Its projects and audit log stay, hidden
/// (the tenant scope refuses a deleted organization), until `tenantry purge` removes them after
/// the retention period or `tenantry restore-org` brings them back: a deletion seen in one
/// webhook or one sync is never enough to destroy a customer's data. Recorded in its audit log.
pub async fn delete_organization(conn: &mut PgConnection, org_id: &str, actor: &str) -> Result<(), sqlx::Error> {
    lock_identity(conn, "organization", org_id).await?;
    // The transaction's `now()` read first and bound: Citus refuses non-IMMUTABLE functions in
    // a RETURNING clause (and `now()` is the same value for the whole transaction anyway).
    let now = sqlx::query_scalar!(r#"SELECT now() AS "now!""#).fetch_one(&mut *conn).await?;
    let newly = sqlx::query_scalar!(
        r#"INSERT INTO organizations (id, deleted_at, updated_at) VALUES ($1, $2, $2)
           ON CONFLICT (id) DO UPDATE SET deleted_at = COALESCE(organizations.deleted_at, EXCLUDED.deleted_at), slug = NULL, updated_at = EXCLUDED.updated_at
           RETURNING deleted_at = $2 AS "newly!""#,
        org_id,
        now
    )
    .fetch_one(&mut *conn)
    .await?;
    if !newly {
        return Ok(());
    }
    SystemScope::enter(conn, Some(org_id), None).await?;
    // Same `now()` as the tombstone: a restore brings back exactly these memberships.
    sqlx::query!(
        "UPDATE org_memberships SET deleted_at = $2, updated_at = $2 WHERE org_id = $1 AND deleted_at IS NULL",
        org_id,
        now
    )
    .execute(&mut *conn)
    .await?;
    let kept = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM projects WHERE org_id = $1"#, org_id)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query!(
        "INSERT INTO audit_log (org_id, actor, action, before) VALUES ($1, $2, 'organization.deleted', $3)",
        org_id,
        actor,
        serde_json::json!({ "projects_kept": kept })
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn upsert_membership(conn: &mut PgConnection, m: &OrganizationMembership) -> Result<(), sqlx::Error> {
    let (org_id, user_id) = (m.organization.id.as_str(), m.public_user_data.user_id.as_str());
    // Organization first, then user: the one order every delivery takes (no deadlock).
    lock_identity(conn, "organization", org_id).await?;
    lock_identity(conn, "user", user_id).await?;
    SystemScope::enter(conn, Some(org_id), Some(user_id)).await?;
    // Newer wins; a tombstone only yields to a *different*, newer membership (a re-invite).
    sqlx::query!(
        r#"INSERT INTO org_memberships (org_id, user_clerk_id, clerk_id, role, permissions, clerk_updated_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, now())
           ON CONFLICT (org_id, user_clerk_id) DO UPDATE
              SET clerk_id = EXCLUDED.clerk_id, role = EXCLUDED.role, permissions = EXCLUDED.permissions,
                  clerk_updated_at = EXCLUDED.clerk_updated_at, deleted_at = NULL, updated_at = EXCLUDED.updated_at
            WHERE (org_memberships.deleted_at IS NULL AND org_memberships.clerk_updated_at <= EXCLUDED.clerk_updated_at)
               OR (org_memberships.deleted_at IS NOT NULL AND org_memberships.clerk_id IS DISTINCT FROM EXCLUDED.clerk_id
                   AND org_memberships.clerk_updated_at < EXCLUDED.clerk_updated_at)"#,
        org_id,
        user_id,
        m.id,
        m.role,
        &m.permissions[..],
        m.updated_at
    )
    .execute(&mut *conn)
    .await?;
    // A membership of a deleted user or organization is not live, whatever arrived first.
    sqlx::query!(
        r#"UPDATE org_memberships SET deleted_at = now(), updated_at = now()
            WHERE org_id = $1 AND user_clerk_id = $2 AND deleted_at IS NULL
              AND (EXISTS (SELECT 1 FROM organizations WHERE id = $1 AND deleted_at IS NOT NULL)
                   OR EXISTS (SELECT 1 FROM users WHERE clerk_id = $2 AND deleted_at IS NOT NULL))"#,
        org_id,
        user_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_membership(conn: &mut PgConnection, m: &OrganizationMembership) -> Result<(), sqlx::Error> {
    let (org_id, user_id) = (m.organization.id.as_str(), m.public_user_data.user_id.as_str());
    SystemScope::enter(conn, Some(org_id), Some(user_id)).await?;
    sqlx::query!(
        r#"INSERT INTO org_memberships (org_id, user_clerk_id, clerk_id, role, clerk_updated_at, deleted_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, now(), now())
           ON CONFLICT (org_id, user_clerk_id) DO UPDATE
              SET deleted_at = COALESCE(org_memberships.deleted_at, EXCLUDED.deleted_at), updated_at = EXCLUDED.updated_at,
                  clerk_updated_at = GREATEST(org_memberships.clerk_updated_at, EXCLUDED.clerk_updated_at)
            WHERE org_memberships.clerk_id IS NULL OR org_memberships.clerk_id = EXCLUDED.clerk_id
               OR org_memberships.clerk_updated_at <= EXCLUDED.clerk_updated_at"#,
        org_id,
        user_id,
        m.id,
        m.role,
        m.updated_at
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
