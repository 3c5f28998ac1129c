//! Organization invitations: create, list, revoke, and accepting one (from the Frontend API's
//! invitation link) into a membership, with the webhooks Clerk sends.

use super::*;

#[derive(Debug, Deserialize)]
pub struct InvitationBody {
    email_address: Option<String>,
    role: Option<String>,
    inviter_user_id: Option<String>,
    redirect_url: Option<String>,
    expires_in_days: Option<i64>,
}

pub(super) async fn create_invitation(
    State(emu): State<Shared>,
    Path(id): Path<String>,
    Json(b): Json<InvitationBody>,
) -> ApiResult {
    let (json, event) = {
        let mut st = emu.lock();
        let org = st.org_by_id_or_slug(&id).ok_or_else(|| not_found("organization"))?.id.clone();
        let email = b.email_address.map(|e| e.trim().to_lowercase()).unwrap_or_default();
        if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
            return Err(invalid("email_address is invalid"));
        }
        let role = b.role.ok_or_else(|| invalid("role is required"))?;
        if !emu.config.roles.0.contains_key(&role) {
            return Err(invalid(format!("role {role} does not exist")));
        }
        if let Some(inviter) = &b.inviter_user_id {
            if st.membership(&org, inviter).is_none_or(|m| m.role != "org:admin") {
                return Err(ApiError(
                    StatusCode::FORBIDDEN,
                    "not_an_admin_in_organization",
                    "The inviter must be an administrator of the organization.".into(),
                ));
            }
        }
        if st.user_by_email(&email).is_some_and(|u| st.membership(&org, &u.id).is_some()) {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "already_a_member_in_organization",
                format!("{email} is already a member of the organization."),
            ));
        }
        let days = b.expires_in_days.unwrap_or(30);
        if !(1..=365).contains(&days) {
            return Err(invalid("expires_in_days must be between 1 and 365"));
        }
        let now = now_ms();
        let inv = Invitation {
            id: new_id("orginv"),
            org_id: org,
            email,
            role,
            status: "pending".into(),
            inviter_id: b.inviter_user_id,
            ticket: new_id("ticket"),
            redirect_url: b.redirect_url,
            user_id: None,
            expires_at: now + days * 86_400_000,
            created_at: now,
            updated_at: now,
        };
        st.invitations.insert(inv.id.clone(), inv.clone());
        let url = &emu.config.public_url;
        (st.invitation_json(&inv, url), st.invitation_event_json(&inv, url))
    };
    emu.webhooks.emit("organizationInvitation.created", event);
    emu.persist();
    Ok(Json(json))
}

#[derive(Debug, Deserialize)]
pub struct InvitationQuery {
    status: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// `ListOrganizationInvitations`: newest first, optionally one `status`.
pub(super) async fn list_invitations(
    State(emu): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<InvitationQuery>,
) -> ApiResult {
    let items: Vec<Value> = {
        let st = emu.lock();
        let org = st.org_by_id_or_slug(&id).ok_or_else(|| not_found("organization"))?.id.clone();
        let mut list: Vec<&Invitation> = st
            .invitations
            .values()
            .filter(|i| i.org_id == org && q.status.as_deref().is_none_or(|s| i.status() == s))
            .collect();
        list.sort_by_key(|i| std::cmp::Reverse(i.created_at));
        list.into_iter().map(|i| st.invitation_json(i, &emu.config.public_url)).collect()
    };
    paginate(items, &Page { limit: q.limit, offset: q.offset })
}

pub(super) async fn revoke_invitation(State(emu): State<Shared>, Path((id, inv)): Path<(String, String)>) -> ApiResult {
    let (json, event) = {
        let mut st = emu.lock();
        let org = st.org_by_id_or_slug(&id).ok_or_else(|| not_found("organization"))?.id.clone();
        let i = st.invitations.get_mut(&inv).filter(|i| i.org_id == org).ok_or_else(|| not_found("invitation"))?;
        if i.status() != "pending" {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "organization_invitation_not_pending",
                format!("Only pending invitations can be revoked; this one is {}.", i.status()),
            ));
        }
        i.status = "revoked".into();
        i.updated_at = now_ms();
        let i = i.clone();
        let url = &emu.config.public_url;
        (st.invitation_json(&i, url), st.invitation_event_json(&i, url))
    };
    emu.webhooks.emit("organizationInvitation.revoked", event);
    emu.persist();
    Ok(Json(json))
}

/// Why an invitation link cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAcceptable {
    Unknown,
    NotPending,
    OrganizationGone,
    OtherEmail,
}

impl NotAcceptable {
    pub fn message(self) -> &'static str {
        match self {
            Self::Unknown => "This invitation link is not valid.",
            Self::NotPending => "This invitation is no longer valid (revoked, expired or already used).",
            Self::OrganizationGone => "The organization of this invitation no longer exists.",
            Self::OtherEmail => "This invitation is for another email address.",
        }
    }
}

/// The pending invitation of a `ticket`, if it can still be accepted.
pub fn pending_invitation(st: &World, ticket: &str) -> Result<Invitation, NotAcceptable> {
    use subtle::ConstantTimeEq;
    let inv = st
        .invitations
        .values()
        .find(|i| bool::from(i.ticket.as_bytes().ct_eq(ticket.as_bytes())))
        .ok_or(NotAcceptable::Unknown)?;
    if inv.status() != "pending" {
        return Err(NotAcceptable::NotPending);
    }
    if !st.organizations.contains_key(&inv.org_id) {
        return Err(NotAcceptable::OrganizationGone);
    }
    Ok(inv.clone())
}

/// Accepts the invitation of `ticket` for `user_id` (whose email must be the invited one):
/// the membership is created with the invited role (kept if it exists), the invitation becomes
/// `accepted`, and Clerk's webhooks follow. Answers the organization's id.
pub fn accept_invitation(emu: &Shared, ticket: &str, user_id: &str) -> Result<String, NotAcceptable> {
    let (org, events) = {
        let mut st = emu.lock();
        let inv = pending_invitation(&st, ticket)?;
        let email = st.users.get(user_id).and_then(|u| u.email.clone());
        if email.as_deref() != Some(inv.email.as_str()) {
            return Err(NotAcceptable::OtherEmail);
        }
        let mut events = Vec::new();
        if st.membership(&inv.org_id, user_id).is_none() {
            let m = Membership {
                id: new_id("orgmem"),
                org_id: inv.org_id.clone(),
                user_id: user_id.to_string(),
                role: inv.role.clone(),
                created_at: now_ms(),
                updated_at: now_ms(),
            };
            st.memberships.insert(m.id.clone(), m.clone());
            events.push(("organizationMembership.created", st.membership_json(&m, &emu.config.roles)));
        }
        let i = st.invitations.get_mut(&inv.id).expect("exists");
        i.status = "accepted".into();
        i.user_id = Some(user_id.to_string());
        i.updated_at = now_ms();
        let i = i.clone();
        events.push(("organizationInvitation.accepted", st.invitation_event_json(&i, &emu.config.public_url)));
        (inv.org_id, events)
    };
    for (t, data) in events {
        emu.webhooks.emit(t, data);
    }
    emu.persist();
    Ok(org)
}
