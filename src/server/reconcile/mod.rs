//! `tenantry sync`: page through the Backend API's users, organizations and memberships and
//! repair the mirror (missed webhooks, first install on an existing Clerk instance). Clerk is the
//! source of truth here: a row that differs is rewritten in place. Webhooks keep arriving while
//! the snapshot is read, so a row written since the snapshot began, or one whose Clerk
//! `updated_at` is newer than the snapshot's, is left alone: a sync never undoes a deletion or an
//! update it had not seen.
//!
//! Removing is held to a higher standard than writing, because a tombstoned organization's data
//! is on its way to `tenantry purge`:
//!
//! - **Absence from a listing is never evidence.** Listings are offset-paginated, so a deletion
//!   in Clerk between two pages shifts the rest and skips a live row; another instance's key
//!   lists nothing of ours. A live mirror row missing from the listing is only a *candidate*:
//!   an organization is removed only when `GetOrganization` answers Clerk's own 404, a user only
//!   when `GetUser` does, a membership only when its organization and user both still exist and
//!   the user's own membership list (read whole and consistent) does not have it either. Any
//!   other answer (200, 5xx, a network error, a 404 that is not Clerk's) keeps the row and is
//!   reported ([`Report::unconfirmed`]); a row the listing skipped but Clerk still has is
//!   refreshed from Clerk's answer and reported ([`Report::notes`]).
//! - **One Clerk instance per mirror.** The instance (`GetInstance`) is recorded by the first
//!   applied sync (`clerk_instance`), and a sync against any other instance is refused before
//!   anything is read or written ([`ReconcileError::OtherInstance`]).
//! - **No mass removal by accident.** When more than [`MASS_REMOVAL_PERCENT`] % of the live users,
//!   organizations or memberships (and more than [`MASS_REMOVAL_FLOOR`] of them) would be removed,
//!   nothing is written ([`ReconcileError::MassRemoval`]) unless [`Options::allow_mass_removal`].
//! - **A dry run unless asked.** Without [`Options::apply`] the same work is done in a
//!   transaction that is rolled back: the report is the plan, and nothing is written.

use clerk::bapi::{ApiError, Instance, Organization, OrganizationMembership, Paginated, User};
use clerk::BackendApi;
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use std::future::Future;

use super::mirror;
use super::tenant::SystemScope;

mod evidence;
mod report;
mod snapshot;

use evidence::*;
pub use report::*;
use snapshot::*;

/// Removal of more than this share (%) of the live rows of one kind is refused…
pub const MASS_REMOVAL_PERCENT: u64 = 10;
/// …unless it is at most this many rows: a mirror of a handful of organizations may lose one or two.
pub const MASS_REMOVAL_FLOOR: u64 = 2;
/// Page size of the listings (Clerk allows 1–500).
const PAGE: u32 = 100;

/// What `tenantry sync` is allowed to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Write the changes; without it the sync is a dry run (`--apply`).
    pub apply: bool,
    /// Remove even more than the mass-removal bound allows (`--allow-mass-removal`).
    pub allow_mass_removal: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Backend API: {0}")]
    Api(#[from] ApiError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("refusing to sync: this mirror belongs to Clerk instance {recorded}, but CLERK_SECRET_KEY belongs to instance {current} ({environment}); every user and organization of the mirror would look deleted to it. Nothing was changed. Use the secret key of instance {recorded}; a mirror of {current} needs its own database")]
    OtherInstance { recorded: String, current: String, environment: String },
    #[error("refusing to sync: it would remove {0}, more than {MASS_REMOVAL_PERCENT} % of the mirror (beyond {MASS_REMOVAL_FLOOR} of a kind), which looks more like a wrong key or a broken listing than real deletions. Nothing was changed. Read the plan (`tenantry sync` without --apply) and, if Clerk really deleted them, run again with --allow-mass-removal")]
    MassRemoval(Removals),
}

/// The instance recorded for this mirror, if any.
async fn recorded_instance(conn: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT instance_id FROM clerk_instance").fetch_optional(conn).await
}

fn other_instance(recorded: String, instance: &Instance) -> ReconcileError {
    ReconcileError::OtherInstance {
        recorded,
        current: instance.id.clone(),
        environment: instance.environment_type.clone(),
    }
}

pub async fn reconcile(pool: &PgPool, api: &BackendApi, opts: Options) -> Result<Report, ReconcileError> {
    // The instance first: against another one, nothing else is even read.
    let instance = api.get_instance().await?;
    let mut conn = pool.acquire().await?;
    let recorded = recorded_instance(&mut conn).await?;
    drop(conn);
    if let Some(r) = recorded.clone().filter(|r| *r != instance.id) {
        return Err(other_instance(r, &instance));
    }

    let started = sqlx::query_scalar!(r#"SELECT now() AS "now!""#).fetch_one(pool).await?;
    let mut ev = Evidence::list(api).await?;

    // Candidates for removal: live mirror rows missing from the listings. Each is settled with
    // Clerk before the database is written (and outside any transaction: these are HTTP calls).
    let listed_orgs: Vec<String> = ev.orgs.iter().map(|o| o.id.clone()).collect();
    let before = {
        let mut tx = super::db::begin(pool).await?;
        let m = read_mirror(&mut tx, started, &listed_orgs).await?;
        tx.rollback().await?;
        m
    };
    let mut org_candidates: Vec<&String> =
        Mirror::removable(&before.orgs).filter(|id| !ev.org_state.contains_key(*id)).collect();
    org_candidates.sort();
    for id in org_candidates {
        ev.org(id).await?;
    }
    let mut user_candidates: Vec<&String> =
        Mirror::removable(&before.users).filter(|id| !ev.user_state.contains_key(*id)).collect();
    user_candidates.sort();
    for id in user_candidates {
        ev.user(id).await;
    }
    let listed_members: HashSet<MemberKey> =
        ev.memberships.iter().map(|m| (m.organization.id.clone(), m.public_user_data.user_id.clone())).collect();
    let mut member_candidates: Vec<&MemberKey> =
        Mirror::removable(&before.members).filter(|k| !listed_members.contains(*k)).collect();
    member_candidates.sort();
    let mut user_lists = HashMap::new();
    for key in member_candidates {
        ev.membership(key, &mut user_lists).await?;
    }
    let gone = |state: &HashMap<String, Known>, id: &str| state.get(id) == Some(&Known::Gone);

    let mut report = Report {
        instance: instance.clone(),
        instance_recorded: recorded.is_none(),
        applied: false,
        changes: Vec::new(),
        notes: std::mem::take(&mut ev.notes),
        unconfirmed: std::mem::take(&mut ev.unconfirmed),
        removals: Removals::default(),
        mass_removal: false,
    };

    let mut tx = super::db::begin(pool).await?;
    // Recorded in this transaction, and checked again: two first syncs cannot record two instances.
    sqlx::query!(
        "INSERT INTO clerk_instance (instance_id, environment_type) VALUES ($1, $2) ON CONFLICT (singleton) DO NOTHING",
        instance.id,
        instance.environment_type
    )
    .execute(&mut *tx)
    .await?;
    if let Some(r) = recorded_instance(&mut tx).await?.filter(|r| *r != instance.id) {
        return Err(other_instance(r, &instance));
    }

    let org_ids: Vec<String> = ev.orgs.iter().map(|o| o.id.clone()).collect();
    let mirror = read_mirror(&mut tx, started, &org_ids).await?;

    // What would be removed, counted before anything is written.
    let users_gone: Vec<&String> = Mirror::removable(&mirror.users).filter(|id| gone(&ev.user_state, id)).collect();
    let orgs_gone: Vec<&String> = Mirror::removable(&mirror.orgs).filter(|id| gone(&ev.org_state, id)).collect();
    // Memberships end with a removed organization or user, or on their own.
    let removed_with = |(org_id, user_id): &MemberKey| orgs_gone.contains(&org_id) || users_gone.contains(&user_id);
    let mut ended: Vec<&MemberKey> =
        Mirror::removable(&mirror.members).filter(|k| ev.gone_members.contains(*k) && !removed_with(k)).collect();
    ended.sort();
    let members_ended =
        mirror.members.iter().filter(|(k, ((_, _, deleted), _))| !deleted && removed_with(k)).count() + ended.len();
    report.removals = Removals {
        users: Share { removed: users_gone.len() as u64, live: Mirror::live_count(&mirror.users) },
        organizations: Share { removed: orgs_gone.len() as u64, live: Mirror::live_count(&mirror.orgs) },
        memberships: Share { removed: members_ended as u64, live: Mirror::live_count(&mirror.members) },
    };
    if report.removals.is_mass_removal() {
        if !opts.allow_mass_removal && opts.apply {
            tx.rollback().await?;
            return Err(ReconcileError::MassRemoval(report.removals));
        }
        if !opts.allow_mass_removal {
            // A dry run shows the plan all the same, and says it would be refused.
            report.mass_removal = true;
        } else {
            tracing::warn!(removals = %report.removals, apply = opts.apply, "mass removal allowed by --allow-mass-removal");
            report.notes.push(format!("mass removal allowed by --allow-mass-removal: {}", report.removals));
        }
    }

    // Users.
    for u in &ev.users {
        let want = (u.primary_email().map(|e| e.trim().to_lowercase()), u.display_name(), false);
        match mirror.users.get(&u.id) {
            Some((have, _)) if *have == want => {}
            Some((_, fresh)) if fresh.newer_than(u.updated_at) => {}
            have => {
                sqlx::query!("UPDATE users SET deleted_at = NULL WHERE clerk_id = $1", u.id).execute(&mut *tx).await?;
                mirror::upsert_user(&mut tx, u).await?;
                report.changes.push(format!("user {}: {}", u.id, if have.is_some() { "updated" } else { "created" }));
            }
        }
    }
    for id in &users_gone {
        mirror::delete_user(&mut tx, id).await?;
        report.changes.push(format!("user {id}: deleted"));
    }

    // Organizations.
    for o in &ev.orgs {
        let want = (o.slug.clone(), o.name.clone(), false);
        match mirror.orgs.get(&o.id) {
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
    for id in &orgs_gone {
        mirror::delete_organization(&mut tx, id, "tenantry:sync").await?;
        report.changes.push(format!("organization {id}: deleted (tombstoned: its projects and audit log are kept)"));
    }

    // Memberships.
    for m in &ev.memberships {
        let key = (m.organization.id.clone(), m.public_user_data.user_id.clone());
        let want = (Some(m.id.clone()), m.role.clone(), false);
        match mirror.members.get(&key) {
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
    }
    for (org_id, user_id) in ended {
        SystemScope::enter(&mut tx, Some(org_id), None).await?;
        sqlx::query!("UPDATE org_memberships SET deleted_at = now(), updated_at = now() WHERE org_id = $1 AND user_clerk_id = $2", org_id, user_id).execute(&mut *tx).await?;
        report.changes.push(format!("membership {user_id} in {org_id}: deleted"));
    }

    if opts.apply {
        tx.commit().await?;
        report.applied = true;
        if report.instance_recorded {
            tracing::info!(instance = %instance.id, "recorded the Clerk instance of this mirror");
        }
    } else {
        tx.rollback().await?;
    }
    report.changes.sort();
    Ok(report)
}
