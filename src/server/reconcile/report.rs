//! What a sync did or would do, and how it is printed.

use super::*;

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
