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

/// Rows of one kind that a sync removes, out of the live rows of that kind in the mirror.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    pub removed: u64,
    pub live: u64,
}

impl Share {
    /// More than the floor, and more than the allowed share.
    pub fn is_mass_removal(&self) -> bool {
        self.removed > MASS_REMOVAL_FLOOR && self.removed * 100 > self.live * MASS_REMOVAL_PERCENT
    }
}

/// What a sync removes, by kind (memberships include those ended with their user or organization).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removals {
    pub users: Share,
    pub organizations: Share,
    pub memberships: Share,
}

impl Removals {
    pub fn is_mass_removal(&self) -> bool {
        self.users.is_mass_removal() || self.organizations.is_mass_removal() || self.memberships.is_mass_removal()
    }
}

impl std::fmt::Display for Removals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (u, o, m) = (self.users, self.organizations, self.memberships);
        write!(
            f,
            "{} of {} organization(s), {} of {} user(s) and {} of {} membership(s)",
            o.removed, o.live, u.removed, u.live, m.removed, m.live
        )
    }
}

/// What a sync did, or (dry run) would do.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The Clerk instance of the secret key (the mirror's, or recorded now).
    pub instance: Instance,
    /// This sync records the instance (the mirror had none yet).
    pub instance_recorded: bool,
    /// The changes were written (`--apply`); otherwise this report is the plan.
    pub applied: bool,
    /// One line per change, e.g. `user user_1: updated`, sorted.
    pub changes: Vec<String>,
    /// Rows missing from a listing that Clerk confirmed are live (kept, refreshed), listings that
    /// changed while they were paged, and an allowed mass removal.
    pub notes: Vec<String>,
    /// Rows missing from a listing whose deletion Clerk did not confirm: kept.
    pub unconfirmed: Vec<String>,
    pub removals: Removals,
    /// A dry run whose removals are beyond the mass-removal bound: with `--apply` (and without
    /// `--allow-mass-removal`) this sync would be refused.
    pub mass_removal: bool,
}

/// What `tenantry sync` prints: the plan (or what was done) on stdout, one line per change, and
/// on stderr the rows that were kept because Clerk did not confirm their deletion.
pub fn render(report: &Report) -> (Vec<String>, Vec<String>) {
    let instance = &report.instance;
    let recorded = match (report.instance_recorded, report.applied) {
        (false, _) => "",
        (true, true) => ", now recorded as this mirror's instance",
        (true, false) => ", to be recorded as this mirror's instance",
    };
    let mut out = vec![format!("sync: Clerk instance {} ({}){recorded}", instance.id, instance.environment_type)];
    out.extend(report.changes.iter().cloned());
    out.extend(report.notes.iter().map(|n| format!("note: {n}")));
    out.push(if report.applied {
        format!("sync: {} change(s) applied", report.changes.len())
    } else {
        format!("sync: {} change(s) planned (dry run: nothing written; --apply to write them)", report.changes.len())
    });
    let mut err: Vec<String> = report.unconfirmed.iter().map(|u| format!("not confirmed: {u}")).collect();
    if report.mass_removal {
        err.push(format!(
            "sync: with --apply this sync would be refused: it would remove {}, more than {MASS_REMOVAL_PERCENT} % of the mirror (beyond {MASS_REMOVAL_FLOOR} of a kind); --allow-mass-removal if Clerk really deleted them",
            report.removals
        ));
    }
    if !err.is_empty() {
        err.push(format!(
            "sync: {} row(s) missing from Clerk's listings were kept because Clerk did not confirm their deletion; run sync again later",
            report.unconfirmed.len()
        ));
    }
    (out, err)
}

/// A mirror row: the fields compared with Clerk's (… , tombstoned), and how fresh it is.
type Mirrored<T> = (T, Freshness);
/// (email, name, tombstoned)
type UserFields = (Option<String>, Option<String>, bool);
/// (slug, name, tombstoned)
type OrgFields = (Option<String>, String, bool);
/// (Clerk membership id, role, tombstoned)
type MemberFields = (Option<String>, String, bool);
/// (organization id, user id)
type MemberKey = (String, String);

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

/// The mirror as one transaction sees it.
#[derive(Default)]
struct Mirror {
    users: HashMap<String, Mirrored<UserFields>>,
    orgs: HashMap<String, Mirrored<OrgFields>>,
    members: HashMap<MemberKey, Mirrored<MemberFields>>,
}

impl Mirror {
    /// Live rows not written since the snapshot began: the only ones a sync may remove.
    fn removable<'a, K, A: 'a, B: 'a>(
        rows: &'a HashMap<K, Mirrored<(A, B, bool)>>,
    ) -> impl Iterator<Item = &'a K> + 'a {
        rows.iter().filter(|(_, ((_, _, deleted), fresh))| !deleted && !fresh.written_since_snapshot).map(|(k, _)| k)
    }
    fn live_count<K, A, B>(rows: &HashMap<K, Mirrored<(A, B, bool)>>) -> u64 {
        rows.values().filter(|((_, _, deleted), _)| !deleted).count() as u64
    }
}

/// Reads the mirror; `extra_orgs`: organizations whose memberships are read even if the mirror
/// has no row for them (memberships are read per organization: row-level security).
async fn read_mirror(
    tx: &mut PgConnection,
    started: time::OffsetDateTime,
    extra_orgs: &[String],
) -> Result<Mirror, sqlx::Error> {
    let mut m = Mirror::default();
    for r in sqlx::query!(
        r#"SELECT clerk_id, email, name, deleted_at IS NOT NULL AS "deleted!", clerk_updated_at, updated_at >= $1 AS "written_since!" FROM users"#,
        started
    )
    .fetch_all(&mut *tx)
    .await?
    {
        let fresh = Freshness { clerk_updated_at: r.clerk_updated_at, written_since_snapshot: r.written_since };
        m.users.insert(r.clerk_id, ((r.email, r.name, r.deleted), fresh));
    }
    for r in sqlx::query!(
        r#"SELECT id, slug, name, deleted_at IS NOT NULL AS "deleted!", clerk_updated_at, updated_at >= $1 AS "written_since!" FROM organizations"#,
        started
    )
    .fetch_all(&mut *tx)
    .await?
    {
        let fresh = Freshness { clerk_updated_at: r.clerk_updated_at, written_since_snapshot: r.written_since };
        m.orgs.insert(r.id, ((r.slug, r.name, r.deleted), fresh));
    }
    let mut org_ids: Vec<&String> = m.orgs.keys().chain(extra_orgs).collect();
    org_ids.sort();
    org_ids.dedup();
    let mut members = HashMap::new();
    for org_id in org_ids {
        SystemScope::enter(tx, Some(org_id), None).await?;
        for r in sqlx::query!(
            r#"SELECT org_id, user_clerk_id, clerk_id, role, deleted_at IS NOT NULL AS "deleted!", clerk_updated_at, updated_at >= $2 AS "written_since!" FROM org_memberships WHERE org_id = $1"#,
            org_id,
            started
        )
        .fetch_all(&mut *tx)
        .await?
        {
            let fresh = Freshness { clerk_updated_at: r.clerk_updated_at, written_since_snapshot: r.written_since };
            members.insert((r.org_id, r.user_clerk_id), ((r.clerk_id, r.role, r.deleted), fresh));
        }
    }
    m.members = members;
    Ok(m)
}

/// A `{data, total_count}` listing read whole, each row once. The second value says how it
/// changed while it was paged (`None`: every page agreed on the total, and that many rows came).
async fn walk<T, F, Fut>(mut page: F, id: impl Fn(&T) -> &str) -> Result<(Vec<T>, Option<String>), ApiError>
where
    F: FnMut(u32, u64) -> Fut,
    Fut: Future<Output = Result<Paginated<T>, ApiError>>,
{
    let (mut out, mut seen, mut totals) = (Vec::new(), HashSet::new(), Vec::new());
    let mut offset = 0u64;
    loop {
        let p = page(PAGE, offset).await?;
        let n = p.data.len() as u64;
        offset += n;
        totals.push(p.total_count);
        for row in p.data {
            if seen.insert(id(&row).to_string()) {
                out.push(row);
            }
        }
        if n < PAGE as u64 || offset >= p.total_count {
            break;
        }
    }
    let last = *totals.last().unwrap_or(&0);
    let steady = totals.iter().all(|t| *t == last) && out.len() as u64 == last;
    let change = (!steady).then(|| {
        let totals: Vec<String> = totals.iter().map(u64::to_string).collect();
        format!("total_count {} across pages, {} row(s) read", totals.join(" → "), out.len())
    });
    Ok((out, change))
}

/// Clerk's answer about one row missing from a listing.
enum Verdict<T> {
    /// Clerk's own 404.
    Gone,
    Live(T),
    /// Anything else: the row stays.
    Unknown(String),
}

fn verdict<T>(answer: Result<T, ApiError>, same: impl Fn(&T) -> bool, what: &str) -> Verdict<T> {
    match answer {
        Ok(t) if same(&t) => Verdict::Live(t),
        Ok(_) => Verdict::Unknown(format!("{what} answered with another object")),
        Err(e) if e.is_clerk_not_found() => Verdict::Gone,
        Err(e) => Verdict::Unknown(e.to_string()),
    }
}

/// Existence as this sync established it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Known {
    Live,
    Gone,
    Unknown(String),
}

/// Reads Clerk and settles every removal candidate before the database is written.
struct Evidence<'a> {
    api: &'a BackendApi,
    users: Vec<User>,
    orgs: Vec<Organization>,
    memberships: Vec<OrganizationMembership>,
    user_state: HashMap<String, Known>,
    org_state: HashMap<String, Known>,
    /// Memberships Clerk confirmed ended.
    gone_members: HashSet<MemberKey>,
    notes: Vec<String>,
    unconfirmed: Vec<String>,
}

impl<'a> Evidence<'a> {
    async fn list(api: &'a BackendApi) -> Result<Evidence<'a>, ApiError> {
        let mut notes = Vec::new();
        let before = api.count_users().await?;
        let users = api.all_users().await?;
        let after = api.count_users().await?;
        if before != after || users.len() as u64 != after {
            notes.push(format!(
                "users: the listing changed while it was paged (GetUsersCount {before} → {after}, {} listed): a user it skipped is confirmed with GetUser before anything is removed; one it missed entirely arrives by webhook or the next sync",
                users.len()
            ));
        }
        let (orgs, change) = walk(|l, o| api.list_organizations(l, o), |o: &Organization| &o.id).await?;
        if let Some(c) = change {
            notes.push(format!("organizations: the listing changed while it was paged ({c}): an organization it skipped is confirmed with GetOrganization before anything is removed; one it missed entirely arrives by webhook or the next sync"));
        }
        let mut ev = Evidence {
            api,
            user_state: users.iter().map(|u| (u.id.clone(), Known::Live)).collect(),
            org_state: orgs.iter().map(|o| (o.id.clone(), Known::Live)).collect(),
            users,
            orgs: Vec::new(),
            memberships: Vec::new(),
            gone_members: HashSet::new(),
            notes,
            unconfirmed: Vec::new(),
        };
        for org in orgs {
            ev.add_org(org).await?;
        }
        Ok(ev)
    }

    /// A live organization and its memberships.
    async fn add_org(&mut self, org: Organization) -> Result<(), ApiError> {
        let api = self.api;
        let (members, change) =
            walk(|l, o| api.organization_memberships(&org.id, l, o), |m: &OrganizationMembership| &m.id).await?;
        if let Some(c) = change {
            self.notes.push(format!("memberships of {}: the listing changed while it was paged ({c}): a membership it skipped is confirmed through its user before anything is removed", org.id));
        }
        self.org_state.insert(org.id.clone(), Known::Live);
        self.memberships.extend(members);
        self.orgs.push(org);
        Ok(())
    }

    async fn org(&mut self, id: &str) -> Result<Known, ApiError> {
        if let Some(k) = self.org_state.get(id) {
            return Ok(k.clone());
        }
        let known = match verdict(self.api.get_organization(id).await, |o: &Organization| o.id == id, "GetOrganization")
        {
            Verdict::Live(org) => {
                self.notes.push(format!("organization {id}: missing from the listing, but GetOrganization found it: kept (the listing shifted while it was paged)"));
                self.add_org(org).await?;
                Known::Live
            }
            Verdict::Gone => Known::Gone,
            Verdict::Unknown(why) => {
                self.unconfirmed.push(format!(
                    "organization {id}: missing from the listing, but its deletion is not confirmed ({why}): kept"
                ));
                Known::Unknown(why)
            }
        };
        self.org_state.insert(id.to_string(), known.clone());
        Ok(known)
    }

    async fn user(&mut self, id: &str) -> Known {
        if let Some(k) = self.user_state.get(id) {
            return k.clone();
        }
        let known = match verdict(self.api.get_user(id).await, |u: &User| u.id == id, "GetUser") {
            Verdict::Live(user) => {
                self.notes.push(format!("user {id}: missing from the listing, but GetUser found them: kept (the listing shifted while it was paged)"));
                self.users.push(user);
                Known::Live
            }
            Verdict::Gone => Known::Gone,
            Verdict::Unknown(why) => {
                self.unconfirmed.push(format!(
                    "user {id}: missing from the listing, but their deletion is not confirmed ({why}): kept"
                ));
                Known::Unknown(why)
            }
        };
        self.user_state.insert(id.to_string(), known.clone());
        known
    }

    /// A membership missing from its organization's listing: ended only if the organization and
    /// the user both exist and the user's own memberships, read whole, do not have it either.
    /// (One of an organization or user Clerk deleted ends with it.)
    async fn membership(
        &mut self,
        key: &MemberKey,
        user_lists: &mut HashMap<String, Result<Vec<OrganizationMembership>, String>>,
    ) -> Result<(), ApiError> {
        let (org_id, user_id) = key;
        let org = self.org(org_id).await?;
        let user = self.user(user_id).await;
        let what = format!("membership {user_id} in {org_id}");
        match (org, user) {
            (Known::Gone, _) | (_, Known::Gone) => {
                // Ends with its organization or user (or on its own if the mirror has neither).
                self.gone_members.insert(key.clone());
                return Ok(());
            }
            (Known::Unknown(_), _) | (_, Known::Unknown(_)) => {
                self.unconfirmed.push(format!(
                    "{what}: missing from the listing, but its organization or user could not be confirmed: kept"
                ));
                return Ok(());
            }
            (Known::Live, Known::Live) => {}
        }
        if self.memberships.iter().any(|m| m.organization.id == *org_id && m.public_user_data.user_id == *user_id) {
            return Ok(()); // listed after all (an organization confirmed by GetOrganization)
        }
        let api = self.api;
        if !user_lists.contains_key(user_id) {
            let list = match walk(|l, o| api.user_memberships(user_id, l, o), |m: &OrganizationMembership| &m.id).await
            {
                Ok((list, None)) => Ok(list),
                Ok((_, Some(change))) => {
                    Err(format!("UsersGetOrganizationMemberships changed while it was paged: {change}"))
                }
                Err(e) => Err(e.to_string()),
            };
            user_lists.insert(user_id.clone(), list);
        }
        match &user_lists[user_id] {
            Ok(list) => match list.iter().find(|m| m.organization.id == *org_id) {
                Some(m) => {
                    self.notes.push(format!("{what}: missing from the organization's listing, but the user's memberships have it: kept (the listing shifted while it was paged)"));
                    self.memberships.push(m.clone());
                }
                None => {
                    self.gone_members.insert(key.clone());
                }
            },
            Err(why) => {
                self.unconfirmed
                    .push(format!("{what}: missing from the listing, but its end is not confirmed ({why}): kept"));
            }
        }
        Ok(())
    }
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
        let mut tx = pool.begin().await?;
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

    let mut tx = pool.begin().await?;
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
