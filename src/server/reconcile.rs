//! `tenantry sync`: page through the Backend API's users, organizations and memberships and
//! repair the mirror (missed webhooks, first install on an existing Clerk instance). Clerk is the
//! source of truth here: a row that differs is rewritten in place, a live row Clerk no longer has
//! is tombstoned. Webhooks keep arriving while the snapshot is read, so a row written since the
//! snapshot began, or one whose Clerk `updated_at` is newer than the snapshot's, is left alone:
//! a sync never undoes a deletion or an update it had not seen.

use clerk::bapi::{ApiError, OrganizationMembership};
use clerk::BackendApi;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};

use super::mirror;
use super::tenant::SystemScope;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Backend API: {0}")]
    Api(#[from] ApiError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// One line per change, e.g. `user user_1: updated`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub changes: Vec<String>,
}

/// A mirror row: the fields compared with Clerk's (… , tombstoned), and how fresh it is.
type Mirrored<T> = (T, Freshness);
/// (email, name, tombstoned)
type UserFields = (Option<String>, Option<String>, bool);
/// (slug, name, tombstoned)
type OrgFields = (Option<String>, String, bool);
/// (Clerk membership id, role, tombstoned)
type MemberFields = (Option<String>, String, bool);

/// What a mirror row knows that the snapshot may not.
#[derive(Debug, Clone, Copy)]
struct Freshness {
    clerk_updated_at: i64,
    /// Written (by a webhook) after the snapshot began.
    written_since_snapshot: bool,
}

impl Freshness {
    /// The row holds newer news than a snapshot object updated at `clerk_updated_at` (ms).
    fn newer_than(&self, clerk_updated_at: i64) -> bool {
        self.written_since_snapshot || self.clerk_updated_at > clerk_updated_at
    }
}

pub async fn reconcile(pool: &PgPool, api: &BackendApi) -> Result<Report, ReconcileError> {
    let mut report = Report::default();
    let started = sqlx::query_scalar!(r#"SELECT now() AS "now!""#).fetch_one(pool).await?;
    let users = api.all_users().await?;
    let orgs = api.collect_all(|l, o| api.list_organizations(l, o)).await?;
    let mut memberships: Vec<OrganizationMembership> = Vec::new();
    for org in &orgs {
        memberships.extend(api.collect_all(|l, o| api.organization_memberships(&org.id, l, o)).await?);
    }

    let mut tx = pool.begin().await?;

    // Users.
    let mut mirror_users: HashMap<String, Mirrored<UserFields>> = HashMap::new();
    for r in sqlx::query!(
        r#"SELECT clerk_id, email, name, deleted_at IS NOT NULL AS "deleted!", clerk_updated_at, updated_at >= $1 AS "written_since!" FROM users"#,
        started
    )
    .fetch_all(&mut *tx)
    .await?
    {
        let fresh = Freshness { clerk_updated_at: r.clerk_updated_at, written_since_snapshot: r.written_since };
        mirror_users.insert(r.clerk_id, ((r.email, r.name, r.deleted), fresh));
    }
    for u in &users {
        let want = (u.primary_email().map(|e| e.trim().to_lowercase()), u.display_name(), false);
        match mirror_users.get(&u.id) {
            Some((have, _)) if *have == want => {}
            Some((_, fresh)) if fresh.newer_than(u.updated_at) => {}
            have => {
                sqlx::query!("UPDATE users SET deleted_at = NULL WHERE clerk_id = $1", u.id).execute(&mut *tx).await?;
                mirror::upsert_user(&mut tx, u).await?;
                report.changes.push(format!("user {}: {}", u.id, if have.is_some() { "updated" } else { "created" }));
            }
        }
    }
    let clerk_users: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    for (id, ((_, _, deleted), fresh)) in &mirror_users {
        if !deleted && !fresh.written_since_snapshot && !clerk_users.contains(id.as_str()) {
            mirror::delete_user(&mut tx, id).await?;
            report.changes.push(format!("user {id}: deleted"));
        }
    }

    // Organizations.
    let mut mirror_orgs: HashMap<String, Mirrored<OrgFields>> = HashMap::new();
    for r in sqlx::query!(
        r#"SELECT id, slug, name, deleted_at IS NOT NULL AS "deleted!", clerk_updated_at, updated_at >= $1 AS "written_since!" FROM organizations"#,
        started
    )
    .fetch_all(&mut *tx)
    .await?
    {
        let fresh = Freshness { clerk_updated_at: r.clerk_updated_at, written_since_snapshot: r.written_since };
        mirror_orgs.insert(r.id, ((r.slug, r.name, r.deleted), fresh));
    }
    for o in &orgs {
        let want = (o.slug.clone(), o.name.clone(), false);
        match mirror_orgs.get(&o.id) {
            Some((have, _)) if *have == want => {}
            Some((_, fresh)) if fresh.newer_than(o.updated_at) => {}
            have => {
                sqlx::query!("UPDATE organizations SET deleted_at = NULL WHERE id = $1", o.id)
                    .execute(&mut *tx)
                    .await?;
                mirror::upsert_organization(&mut tx, o).await?;
                report.changes.push(format!(
                    "organization {}: {}",
                    o.id,
                    if have.is_some() { "updated" } else { "created" }
                ));
            }
        }
    }
    let clerk_orgs: HashSet<&str> = orgs.iter().map(|o| o.id.as_str()).collect();
    for (id, ((_, _, deleted), fresh)) in &mirror_orgs {
        if !deleted && !fresh.written_since_snapshot && !clerk_orgs.contains(id.as_str()) {
            mirror::delete_organization(&mut tx, id, "tenantry:sync").await?;
            report.changes.push(format!("organization {id}: deleted"));
        }
    }

    // Memberships, read per organization (row-level security scopes them by org).
    let mut org_ids: Vec<String> = mirror_orgs.keys().cloned().collect();
    org_ids.extend(orgs.iter().map(|o| o.id.clone()));
    org_ids.sort();
    org_ids.dedup();
    let mut mirror_members: HashMap<(String, String), Mirrored<MemberFields>> = HashMap::new();
    for org_id in &org_ids {
        SystemScope::enter(&mut tx, Some(org_id), None).await?;
        for r in sqlx::query!(
            r#"SELECT org_id, user_clerk_id, clerk_id, role, deleted_at IS NOT NULL AS "deleted!", clerk_updated_at, updated_at >= $2 AS "written_since!" FROM org_memberships WHERE org_id = $1"#,
            org_id,
            started
        )
        .fetch_all(&mut *tx)
        .await?
        {
            let fresh = Freshness { clerk_updated_at: r.clerk_updated_at, written_since_snapshot: r.written_since };
            mirror_members.insert((r.org_id, r.user_clerk_id), ((r.clerk_id, r.role, r.deleted), fresh));
        }
    }
    let mut clerk_members = HashSet::new();
    for m in &memberships {
        let key = (m.organization.id.clone(), m.public_user_data.user_id.clone());
        let want = (Some(m.id.clone()), m.role.clone(), false);
        match mirror_members.get(&key) {
            Some((have, _)) if *have == want => {}
            Some((_, fresh)) if fresh.newer_than(m.updated_at) => {}
            have => {
                SystemScope::enter(&mut tx, Some(&key.0), None).await?;
                sqlx::query!(
                    "UPDATE org_memberships SET deleted_at = NULL WHERE org_id = $1 AND user_clerk_id = $2",
                    key.0,
                    key.1
                )
                .execute(&mut *tx)
                .await?;
                mirror::upsert_membership(&mut tx, m).await?;
                report.changes.push(format!(
                    "membership {} in {}: {}",
                    key.1,
                    key.0,
                    if have.is_some() { "updated" } else { "created" }
                ));
            }
        }
        clerk_members.insert(key);
    }
    for ((org_id, user_id), ((_, _, deleted), fresh)) in &mirror_members {
        if !deleted && !fresh.written_since_snapshot && !clerk_members.contains(&(org_id.clone(), user_id.clone())) {
            SystemScope::enter(&mut tx, Some(org_id), None).await?;
            sqlx::query!("UPDATE org_memberships SET deleted_at = now(), updated_at = now() WHERE org_id = $1 AND user_clerk_id = $2", org_id, user_id).execute(&mut *tx).await?;
            report.changes.push(format!("membership {user_id} in {org_id}: deleted"));
        }
    }
    tx.commit().await?;
    report.changes.sort();
    Ok(report)
}
