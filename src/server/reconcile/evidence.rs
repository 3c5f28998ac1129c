//! Reading Clerk whole and settling each removal candidate with Clerk's own answer.

use super::*;

/// A `{data, total_count}` listing read whole, each row once. The second value says how it
/// changed while it was paged (`None`: every page agreed on the total, and that many rows came).
pub(super) async fn walk<T, F, Fut>(mut page: F, id: impl Fn(&T) -> &str) -> Result<(Vec<T>, Option<String>), ApiError>
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
pub(super) enum Verdict<T> {
    /// Clerk's own 404.
    Gone,
    Live(T),
    /// Anything else: the row stays.
    Unknown(String),
}

pub(super) fn verdict<T>(answer: Result<T, ApiError>, same: impl Fn(&T) -> bool, what: &str) -> Verdict<T> {
    match answer {
        Ok(t) if same(&t) => Verdict::Live(t),
        Ok(_) => Verdict::Unknown(format!("{what} answered with another object")),
        Err(e) if e.is_clerk_not_found() => Verdict::Gone,
        Err(e) => Verdict::Unknown(e.to_string()),
    }
}

/// Existence as this sync established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Known {
    Live,
    Gone,
    Unknown(String),
}

/// Reads Clerk and settles every removal candidate before the database is written.
pub(super) struct Evidence<'a> {
    pub(super) api: &'a BackendApi,
    pub(super) users: Vec<User>,
    pub(super) orgs: Vec<Organization>,
    pub(super) memberships: Vec<OrganizationMembership>,
    pub(super) user_state: HashMap<String, Known>,
    pub(super) org_state: HashMap<String, Known>,
    /// Memberships Clerk confirmed ended.
    pub(super) gone_members: HashSet<MemberKey>,
    pub(super) notes: Vec<String>,
    pub(super) unconfirmed: Vec<String>,
}

impl<'a> Evidence<'a> {
    pub(super) async fn list(api: &'a BackendApi) -> Result<Evidence<'a>, ApiError> {
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
    pub(super) async fn add_org(&mut self, org: Organization) -> Result<(), ApiError> {
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

    pub(super) async fn org(&mut self, id: &str) -> Result<Known, ApiError> {
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

    pub(super) async fn user(&mut self, id: &str) -> Known {
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
    pub(super) async fn membership(
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
