//! The mirror as the sync reads it: each row's fields and how fresh it is.

use super::*;

/// A mirror row: the fields compared with Clerk's (… , tombstoned), and how fresh it is.
pub(super) type Mirrored<T> = (T, Freshness);
/// (email, name, tombstoned)
pub(super) type UserFields = (Option<String>, Option<String>, bool);
/// (slug, name, tombstoned)
pub(super) type OrgFields = (Option<String>, String, bool);
/// (Clerk membership id, role, tombstoned)
pub(super) type MemberFields = (Option<String>, String, bool);
/// (organization id, user id)
pub(super) type MemberKey = (String, String);

/// What a mirror row knows that the snapshot may not.
#[derive(Debug, Clone, Copy)]
pub(super) struct Freshness {
    pub(super) clerk_updated_at: i64,
    /// Written (by a webhook) after the snapshot began.
    pub(super) written_since_snapshot: bool,
}

impl Freshness {
    /// The row holds newer news than a snapshot object updated at `clerk_updated_at` (ms).
    pub(super) fn newer_than(&self, clerk_updated_at: i64) -> bool {
        self.written_since_snapshot || self.clerk_updated_at > clerk_updated_at
    }
}

/// The mirror as one transaction sees it.
#[derive(Default)]
pub(super) struct Mirror {
    pub(super) users: HashMap<String, Mirrored<UserFields>>,
    pub(super) orgs: HashMap<String, Mirrored<OrgFields>>,
    pub(super) members: HashMap<MemberKey, Mirrored<MemberFields>>,
}

impl Mirror {
    /// Live rows not written since the snapshot began: the only ones a sync may remove.
    pub(super) fn removable<'a, K, A: 'a, B: 'a>(
        rows: &'a HashMap<K, Mirrored<(A, B, bool)>>,
    ) -> impl Iterator<Item = &'a K> + 'a {
        rows.iter().filter(|(_, ((_, _, deleted), fresh))| !deleted && !fresh.written_since_snapshot).map(|(k, _)| k)
    }
    pub(super) fn live_count<K, A, B>(rows: &HashMap<K, Mirrored<(A, B, bool)>>) -> u64 {
        rows.values().filter(|((_, _, deleted), _)| !deleted).count() as u64
    }
}

/// Reads the mirror; `extra_orgs`: organizations whose memberships are read even if the mirror
/// has no row for them (memberships are read per organization: row-level security).
pub(super) async fn read_mirror(
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
