//! Organizations and their memberships, with Clerk's slug rules and the last-admin refusal.

use super::*;

pub(super) async fn list_orgs(State(emu): State<Shared>, Query(p): Query<Page>) -> ApiResult {
    let items: Vec<Value> = {
        let st = emu.lock();
        let mut orgs: Vec<&Organization> = st.organizations.values().collect();
        orgs.sort_by_key(|o| std::cmp::Reverse(o.created_at)); // Clerk's default order: -created_at
        orgs.iter().map(|o| o.to_json(Some(st.memberships.values().filter(|m| m.org_id == o.id).count()))).collect()
    };
    paginate(items, &p)
}

pub(super) async fn get_org(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let st = emu.lock();
    st.org_by_id_or_slug(&id)
        .map(|o| Json(o.to_json(Some(st.memberships.values().filter(|m| m.org_id == o.id).count()))))
        .ok_or_else(|| not_found("organization"))
}

#[derive(Debug, Deserialize)]
pub struct OrgBody {
    name: Option<String>,
    slug: Option<String>,
    created_by: Option<String>,
}

/// Clerk's organization slug rule: lowercase letters, digits and dashes, not at either end.
pub(super) fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 64
        && slug.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

pub(super) fn slugify(name: &str) -> String {
    let s: String =
        name.trim().to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}

pub(super) async fn create_org(State(emu): State<Shared>, Json(b): Json<OrgBody>) -> ApiResult {
    let name =
        b.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).ok_or_else(|| invalid("name is required"))?;
    if name.chars().count() > 80 {
        return Err(invalid("name must be at most 80 characters"));
    }
    let creator = b.created_by.ok_or_else(|| invalid("created_by is required"))?;
    let (org, membership) = {
        let mut st = emu.lock();
        if !st.users.contains_key(&creator) {
            return Err(not_found("user (created_by)"));
        }
        let explicit = b.slug.is_some();
        let mut slug = b.slug.map(|s| slugify(&s)).unwrap_or_else(|| slugify(&name));
        if slug.is_empty() {
            slug = new_id("org").to_lowercase();
        }
        if st.org_by_id_or_slug(&slug).is_some() {
            if explicit {
                return Err(ApiError(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "form_identifier_exists",
                    "This organization slug is already taken.".into(),
                ));
            }
            // Names need not be unique: a derived slug gets a suffix instead.
            slug = format!("{slug}-{}", new_id("x")[2..8].to_lowercase());
        }
        let org = Organization {
            id: new_id("org"),
            name,
            slug,
            created_by: Some(creator.clone()),
            created_at: now_ms(),
            updated_at: now_ms(),
        };
        // The creator becomes an admin.
        let m = Membership {
            id: new_id("orgmem"),
            org_id: org.id.clone(),
            user_id: creator,
            role: "org:admin".into(),
            created_at: now_ms(),
            updated_at: now_ms(),
        };
        st.organizations.insert(org.id.clone(), org.clone());
        st.memberships.insert(m.id.clone(), m.clone());
        let mj = st.membership_json(&m, &emu.config.roles);
        (org, mj)
    };
    emu.webhooks.emit("organization.created", org.to_json(None));
    emu.webhooks.emit("organizationMembership.created", membership);
    emu.persist();
    Ok(Json(org.to_json(Some(1))))
}

pub(super) async fn update_org(State(emu): State<Shared>, Path(id): Path<String>, Json(b): Json<OrgBody>) -> ApiResult {
    let org = {
        let mut st = emu.lock();
        let key = st.org_by_id_or_slug(&id).map(|o| o.id.clone()).ok_or_else(|| not_found("organization"))?;
        if let Some(name) = &b.name {
            if name.trim().is_empty() || name.chars().count() > 256 {
                return Err(invalid("name must be between 1 and 256 characters"));
            }
        }
        if let Some(slug) = &b.slug {
            if !valid_slug(slug) {
                return Err(ApiError(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "form_param_format_invalid",
                    "Slug can only contain lowercase alphanumeric characters and the dash \"-\" character.".into(),
                ));
            }
            if st.organizations.values().any(|o| o.slug == *slug && o.id != key) {
                return Err(ApiError(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "form_identifier_exists",
                    "This organization slug is already taken.".into(),
                ));
            }
        }
        let o = st.organizations.get_mut(&key).expect("exists");
        if let Some(n) = b.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) {
            o.name = n;
        }
        if let Some(s) = b.slug {
            o.slug = s;
        }
        o.updated_at = now_ms();
        o.clone()
    };
    emu.webhooks.emit("organization.updated", org.to_json(None));
    emu.persist();
    Ok(Json(org.to_json(None)))
}

pub(super) async fn delete_org(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let org = {
        let mut st = emu.lock();
        let key = st.org_by_id_or_slug(&id).map(|o| o.id.clone()).ok_or_else(|| not_found("organization"))?;
        st.memberships.retain(|_, m| m.org_id != key);
        for s in st.sessions.values_mut().filter(|s| s.active_org_id.as_deref() == Some(key.as_str())) {
            s.active_org_id = None;
        }
        st.organizations.remove(&key).expect("exists")
    };
    emu.webhooks.emit(
        "organization.deleted",
        json!({"object": "organization", "id": org.id, "slug": org.slug, "deleted": true}),
    );
    emu.persist();
    Ok(Json(json!({"object": "organization", "id": org.id, "deleted": true})))
}

pub(super) async fn org_memberships(
    State(emu): State<Shared>,
    Path(id): Path<String>,
    Query(p): Query<Page>,
) -> ApiResult {
    let items: Vec<Value> = {
        let st = emu.lock();
        let org = st.org_by_id_or_slug(&id).ok_or_else(|| not_found("organization"))?.id.clone();
        st.memberships.values().filter(|m| m.org_id == org).map(|m| st.membership_json(m, &emu.config.roles)).collect()
    };
    paginate(items, &p)
}

#[derive(Debug, Deserialize)]
pub struct MembershipBody {
    user_id: Option<String>,
    role: String,
}

pub(super) async fn create_membership(
    State(emu): State<Shared>,
    Path(id): Path<String>,
    Json(b): Json<MembershipBody>,
) -> ApiResult {
    let json = {
        let mut st = emu.lock();
        let org = st.org_by_id_or_slug(&id).ok_or_else(|| not_found("organization"))?.id.clone();
        let user = b.user_id.ok_or_else(|| invalid("user_id is required"))?;
        if !st.users.contains_key(&user) {
            return Err(not_found("user"));
        }
        if !emu.config.roles.0.contains_key(&b.role) {
            return Err(invalid(format!("role {} does not exist", b.role)));
        }
        if st.membership(&org, &user).is_some() {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "already_a_member_in_organization",
                "The user is already a member of this organization.".into(),
            ));
        }
        let m = Membership {
            id: new_id("orgmem"),
            org_id: org,
            user_id: user,
            role: b.role,
            created_at: now_ms(),
            updated_at: now_ms(),
        };
        st.memberships.insert(m.id.clone(), m.clone());
        st.membership_json(&m, &emu.config.roles)
    };
    emu.webhooks.emit("organizationMembership.created", json.clone());
    emu.persist();
    Ok(Json(json))
}

pub(super) async fn update_membership(
    State(emu): State<Shared>,
    Path((id, user_id)): Path<(String, String)>,
    Json(b): Json<MembershipBody>,
) -> ApiResult {
    let json = {
        let mut st = emu.lock();
        if !emu.config.roles.0.contains_key(&b.role) {
            return Err(invalid(format!("role {} does not exist", b.role)));
        }
        let org = st.org_by_id_or_slug(&id).ok_or_else(|| not_found("organization"))?.id.clone();
        let mid = st.membership(&org, &user_id).map(|m| m.id.clone()).ok_or_else(|| not_found("membership"))?;
        if st.memberships[&mid].role == "org:admin" && b.role != "org:admin" && st.admin_count(&org) == 1 {
            return Err(last_admin());
        }
        let m = st.memberships.get_mut(&mid).expect("exists");
        m.role = b.role;
        m.updated_at = now_ms();
        let m = m.clone();
        st.membership_json(&m, &emu.config.roles)
    };
    emu.webhooks.emit("organizationMembership.updated", json.clone());
    emu.persist();
    Ok(Json(json))
}

pub(super) async fn delete_membership(
    State(emu): State<Shared>,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult {
    let json = {
        let mut st = emu.lock();
        let org = st.org_by_id_or_slug(&id).ok_or_else(|| not_found("organization"))?.id.clone();
        let m = st.membership(&org, &user_id).cloned().ok_or_else(|| not_found("membership"))?;
        if m.role == "org:admin" && st.admin_count(&org) == 1 {
            return Err(last_admin());
        }
        let json = st.membership_json(&m, &emu.config.roles);
        st.memberships.remove(&m.id);
        for s in st
            .sessions
            .values_mut()
            .filter(|s| s.user_id == user_id && s.active_org_id.as_deref() == Some(org.as_str()))
        {
            s.active_org_id = None;
        }
        json
    };
    emu.webhooks.emit("organizationMembership.deleted", json.clone());
    emu.persist();
    Ok(Json(json))
}

/// Clerk keeps at least one admin in every organization.
pub(super) fn last_admin() -> ApiError {
    ApiError(
        StatusCode::FORBIDDEN,
        "organization_minimum_permissions_needed",
        "There has to be at least one organization member with the administrator role.".into(),
    )
}
