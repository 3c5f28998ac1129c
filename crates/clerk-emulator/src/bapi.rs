//! Backend API subset behind the secret key, in the shapes of Clerk's published document
//! (`bapi-2026-05-12.yml`, checked by `tests/contract.rs`): users are listed as a bare array
//! (newest first; the total comes from `/users/count`), organizations and memberships as
//! `{data, total_count}`; all take `limit` (1–500, default 10) / `offset`. Errors are
//! `{errors: [{code, message, long_message}], clerk_trace_id}`.

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::state::{new_id, now_ms, Invitation, Membership, Organization, State as World, User};
use crate::Shared;

pub fn routes() -> Router<Shared> {
    let api = Router::new()
        .route("/v1/jwks", get(jwks))
        .route("/v1/instance", get(instance))
        .route("/v1/users", get(list_users).post(create_user))
        .route("/v1/users/count", get(count_users))
        .route("/v1/users/{id}", get(get_user).delete(delete_user))
        .route("/v1/users/{id}/organization_memberships", get(user_memberships))
        .route("/v1/organizations", get(list_orgs).post(create_org))
        .route("/v1/organizations/{id}", get(get_org).patch(update_org).delete(delete_org))
        .route("/v1/organizations/{id}/memberships", get(org_memberships).post(create_membership))
        .route("/v1/organizations/{id}/memberships/{user_id}", patch(update_membership).delete(delete_membership))
        .route("/v1/organizations/{id}/invitations", get(list_invitations).post(create_invitation))
        .route("/v1/organizations/{id}/invitations/{inv}/revoke", post(revoke_invitation))
        .route("/v1/sessions/{id}", get(get_session))
        .route("/v1/sessions/{id}/revoke", post(revoke_session))
        .route("/v1/sessions/{id}/refresh", post(refresh_session))
        .route("/v1/sessions/{id}/tokens", post(session_token))
        .route("/v1/sessions/{id}/tokens/{template}", post(template_token))
        .route("/v1/clients/handshake_payload", get(handshake_payload));
    api.route_layer(middleware::from_fn_with_state((), require_secret))
}

pub struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"errors": [{"code": self.1, "message": self.2, "long_message": self.2, "meta": {}}], "meta": {}, "clerk_trace_id": new_id("trace")});
        (self.0, Json(body)).into_response()
    }
}

fn not_found(what: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "resource_not_found", format!("{what} not found"))
}
fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, "form_param_invalid", msg.into())
}

type ApiResult = Result<Json<Value>, ApiError>;

async fn require_secret(State(()): State<()>, req: Request, next: Next) -> Response {
    let emu = req.extensions().get::<Shared>().cloned();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok = emu.as_ref().is_some_and(|e| e.config.secret_key.matches(presented));
    if !ok {
        tracing::warn!(path = %req.uri().path(), "Backend API call with a wrong or missing secret key");
        return ApiError(
            StatusCode::UNAUTHORIZED,
            "authentication_invalid",
            "The provided secret key is invalid.".into(),
        )
        .into_response();
    }
    next.run(req).await
}

/// Puts the emulator in request extensions so the secret-key middleware can see it.
pub async fn with_emulator(State(emu): State<Shared>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(emu);
    next.run(req).await
}

#[derive(Debug, Deserialize)]
pub struct Page {
    limit: Option<String>,
    offset: Option<String>,
}

/// `(limit, offset)` of a list request.
fn window(p: &Page) -> Result<(usize, usize), ApiError> {
    let limit: usize = match p.limit.as_deref() {
        None => 10,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| invalid("limit must be between 1 and 500"))?,
    };
    let offset: usize = match p.offset.as_deref() {
        None => 0,
        Some(v) => v.parse().map_err(|_| invalid("offset must be a non-negative integer"))?,
    };
    Ok((limit, offset))
}

/// `{data, total_count}` (the document's `Organizations`, `OrganizationMemberships`).
fn paginate(items: Vec<Value>, p: &Page) -> ApiResult {
    let (limit, offset) = window(p)?;
    let total = items.len();
    Ok(Json(json!({"data": items.into_iter().skip(offset).take(limit).collect::<Vec<_>>(), "total_count": total})))
}

async fn jwks(State(emu): State<Shared>) -> Json<Value> {
    Json(crate::fapi::jwks_json(&emu))
}

/// `GetInstance`: the document's `Instance`. The instance id is the signing key's `kid`
/// (`ins_emulator_…`), as Clerk's JWKS `kid` is its instance id: an emulator with another key
/// is another instance.
async fn instance(State(emu): State<Shared>) -> Json<Value> {
    let environment_type = match emu.config.instance_type {
        clerk::InstanceType::Development => "development",
        clerk::InstanceType::Production => "production",
    };
    Json(json!({"object": "instance", "id": emu.signer.kid(), "environment_type": environment_type,
                "allowed_origins": emu.config.allowed_origins, "workspace_id": null}))
}

/// `GetUserList`: a bare array, newest first (the total is `GetUsersCount`'s).
async fn list_users(State(emu): State<Shared>, Query(p): Query<Page>) -> ApiResult {
    let (limit, offset) = window(&p)?;
    let st = emu.lock();
    let mut users: Vec<&User> = st.users.values().collect();
    users.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(Value::Array(users.into_iter().skip(offset).take(limit).map(User::to_json).collect())))
}

/// `GetUsersCount`: `{object: "total_count", total_count}`.
async fn count_users(State(emu): State<Shared>) -> ApiResult {
    Ok(Json(json!({"object": "total_count", "total_count": emu.lock().users.len()})))
}

async fn get_user(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    emu.lock().users.get(&id).map(|u| Json(u.to_json())).ok_or_else(|| not_found("user"))
}

#[derive(Debug, Deserialize)]
pub struct CreateUser {
    #[serde(default)]
    email_address: Vec<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

async fn create_user(State(emu): State<Shared>, Json(b): Json<CreateUser>) -> ApiResult {
    let email = b.email_address.first().map(|e| e.trim().to_lowercase());
    if let Some(e) = &email {
        if !e.contains('@') {
            return Err(invalid("email_address is invalid"));
        }
        if emu.lock().user_by_email(e).is_some() {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_identifier_exists",
                "That email address is taken. Please try another.".into(),
            ));
        }
    }
    if email.is_none() && b.username.is_none() {
        return Err(invalid("an email_address or username is required"));
    }
    let mut user = User {
        id: new_id("user"),
        email,
        first_name: b.first_name,
        last_name: b.last_name,
        username: b.username,
        password_hash: None,
        salt: String::new(),
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    if let Some(p) = &b.password {
        if p.len() < 8 {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_password_length_too_short",
                "Passwords must be 8 characters or more.".into(),
            ));
        }
        user.set_password(p);
    }
    emu.lock().users.insert(user.id.clone(), user.clone());
    emu.webhooks.emit("user.created", user.to_json());
    emu.persist();
    Ok(Json(user.to_json()))
}

async fn delete_user(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let removed = {
        let mut st = emu.lock();
        let removed = st.users.remove(&id);
        if removed.is_some() {
            st.memberships.retain(|_, m| m.user_id != id);
            for s in st.sessions.values_mut().filter(|s| s.user_id == id) {
                s.status = "revoked".into();
            }
        }
        removed
    };
    removed.ok_or_else(|| not_found("user"))?;
    emu.webhooks.emit("user.deleted", json!({"object": "user", "id": id, "deleted": true}));
    emu.persist();
    Ok(Json(json!({"object": "user", "id": id, "deleted": true})))
}

async fn user_memberships(State(emu): State<Shared>, Path(id): Path<String>, Query(p): Query<Page>) -> ApiResult {
    let items: Vec<Value> = {
        let st = emu.lock();
        if !st.users.contains_key(&id) {
            return Err(not_found("user"));
        }
        st.memberships.values().filter(|m| m.user_id == id).map(|m| st.membership_json(m, &emu.config.roles)).collect()
    };
    paginate(items, &p)
}

async fn list_orgs(State(emu): State<Shared>, Query(p): Query<Page>) -> ApiResult {
    let items: Vec<Value> = {
        let st = emu.lock();
        let mut orgs: Vec<&Organization> = st.organizations.values().collect();
        orgs.sort_by_key(|o| std::cmp::Reverse(o.created_at)); // Clerk's default order: -created_at
        orgs.iter().map(|o| o.to_json(Some(st.memberships.values().filter(|m| m.org_id == o.id).count()))).collect()
    };
    paginate(items, &p)
}

async fn get_org(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
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
fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 64
        && slug.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

fn slugify(name: &str) -> String {
    let s: String =
        name.trim().to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}

async fn create_org(State(emu): State<Shared>, Json(b): Json<OrgBody>) -> ApiResult {
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

async fn update_org(State(emu): State<Shared>, Path(id): Path<String>, Json(b): Json<OrgBody>) -> ApiResult {
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

async fn delete_org(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
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

async fn org_memberships(State(emu): State<Shared>, Path(id): Path<String>, Query(p): Query<Page>) -> ApiResult {
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

async fn create_membership(
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

async fn update_membership(
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

async fn delete_membership(State(emu): State<Shared>, Path((id, user_id)): Path<(String, String)>) -> ApiResult {
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
fn last_admin() -> ApiError {
    ApiError(
        StatusCode::FORBIDDEN,
        "organization_minimum_permissions_needed",
        "There has to be at least one organization member with the administrator role.".into(),
    )
}

#[derive(Debug, Deserialize)]
pub struct InvitationBody {
    email_address: Option<String>,
    role: Option<String>,
    inviter_user_id: Option<String>,
    redirect_url: Option<String>,
    expires_in_days: Option<i64>,
}

async fn create_invitation(
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
async fn list_invitations(
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

async fn revoke_invitation(State(emu): State<Shared>, Path((id, inv)): Path<(String, String)>) -> ApiResult {
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

async fn get_session(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let st = emu.lock();
    st.sessions.get(&id).map(|s| Json(emu.session_json(&st, s))).ok_or_else(|| not_found("session"))
}

async fn revoke_session(State(emu): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let s = {
        let mut st = emu.lock();
        let s = st.sessions.get_mut(&id).ok_or_else(|| not_found("session"))?;
        s.status = "revoked".into();
        s.updated_at = now_ms();
        let s = s.clone();
        if let Some(c) = st.clients.get_mut(&s.client_id) {
            if c.session_id.as_deref() == Some(id.as_str()) {
                c.session_id = None;
                c.updated_at = now_ms() / 1000;
            }
        }
        s
    };
    emu.persist();
    Ok(Json(s.to_json(false)))
}

#[derive(Debug, Deserialize)]
pub struct RefreshBody {
    format: Option<String>,
    expired_token: String,
    refresh_token: String,
    request_origin: String,
}

#[derive(Debug, Deserialize)]
pub struct RefreshQuery {
    suffixed_cookies: Option<bool>,
}

/// Server-side refresh (what the SDK calls with the `__refresh_<suffix>` cookie when a session
/// token has expired): the refresh token must be this active session's, and the expired token
/// one this instance signed for it. Answers with the Set-Cookie directives of a fresh token
/// (`format: cookie`, what the SDKs ask for) or the token itself (`token`, the document's default).
async fn refresh_session(
    State(emu): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<RefreshQuery>,
    body: Result<Json<RefreshBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    use subtle::ConstantTimeEq;
    let Json(body) = body.map_err(|e| invalid(format!("invalid refresh request: {}", e.body_text())))?;
    // The document's default is `token`; the SDKs ask for `cookie`.
    let cookies = match body.format.as_deref() {
        None | Some("token") => false,
        Some("cookie") => true,
        Some(_) => return Err(invalid("format must be \"token\" or \"cookie\"")),
    };
    let expired = clerk::verify::decode_jwt(&body.expired_token)
        .ok()
        .filter(|jwt| jwt.signature_valid(&emu.public_key, jsonwebtoken::Algorithm::RS256))
        .ok_or_else(|| invalid("expired_token is not a session token of this instance"))?;
    let refresh_invalid =
        || ApiError(StatusCode::BAD_REQUEST, "refresh_token_invalid", "The refresh token is invalid.".into());
    let (uat, session) = {
        let st = emu.lock();
        let session = st.sessions.get(&id).ok_or_else(|| not_found("session"))?.clone();
        if expired.claims().sid.str().as_deref() != Some(session.id.as_str())
            || expired.claims().sub.str().as_deref() != Some(session.user_id.as_str())
        {
            return Err(invalid("expired_token belongs to another session"));
        }
        let matches = session
            .refresh_token
            .as_ref()
            .is_some_and(|rt| bool::from(rt.as_bytes().ct_eq(body.refresh_token.as_bytes())));
        if !matches {
            tracing::warn!(session = %id, "refresh with a wrong refresh token");
            return Err(refresh_invalid());
        }
        if session.status != "active" {
            return Err(ApiError(StatusCode::BAD_REQUEST, "session_not_active", "The session is not active.".into()));
        }
        (st.clients.get(&session.client_id).map(|c| c.updated_at).unwrap_or(0), session)
    };
    let azp = url::Url::parse(&body.request_origin)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| emu.config.allowed_origins.iter().any(|a| a.trim_end_matches('/') == o));
    let jwt = emu.session_token(&emu.lock(), &session, azp.as_deref(), None);
    if !cookies {
        return Ok(Json(json!({"object": "token", "jwt": jwt})));
    }
    let suffix = if q.suffixed_cookies == Some(true) {
        format!("_{}", emu.publishable_key.cookie_suffix())
    } else {
        String::new()
    };
    Ok(Json(json!({"object": "cookies", "cookies": [
        format!("__session{suffix}={jwt}; Path=/; SameSite=Lax"),
        format!("__client_uat{suffix}={uat}; Path=/; SameSite=Lax; Max-Age=315360000"),
    ]})))
}

#[derive(Debug, Deserialize, Default)]
pub struct TokenBody {
    expires_in_seconds: Option<i64>,
}

/// The optional `expires_in_seconds` of a token request. `@clerk/backend` posts no body at all
/// (with `Content-Type: application/json`) when it has none to send; Clerk accepts that.
fn token_lifetime(body: &[u8]) -> Result<Option<i64>, ApiError> {
    let b: TokenBody = if body.iter().all(u8::is_ascii_whitespace) {
        TokenBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| invalid(format!("invalid request body: {e}")))?
    };
    match b.expires_in_seconds {
        Some(s) if !(30..=315_360_000).contains(&s) => {
            Err(invalid("expires_in_seconds must be between 30 and 315360000"))
        }
        other => Ok(other),
    }
}

async fn session_token(State(emu): State<Shared>, Path(id): Path<String>, body: axum::body::Bytes) -> ApiResult {
    let lifetime = token_lifetime(&body)?;
    let st = emu.lock();
    let s = st.sessions.get(&id).filter(|s| s.status == "active").ok_or_else(|| not_found("session"))?;
    Ok(Json(json!({"object": "token", "jwt": emu.session_token(&st, s, None, lifetime)})))
}

/// JWT templates: Clerk's default claims (no `sid`, `v`, `fea`, `pla`), the template's claims
/// with `{{user.*}}`, `{{session.id}}` and the active organization's `{{org.id}}`,
/// `{{org.slug}}`, `{{org.name}}`, `{{org.role}}` shortcodes filled in (a claim that is only an
/// org shortcode is `null` without an active organization), and the template category in the
/// header.
async fn template_token(
    State(emu): State<Shared>,
    Path((id, template)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult {
    let lifetime = token_lifetime(&body)?.unwrap_or(60);
    let extra = emu.config.jwt_templates.get(&template).cloned().ok_or_else(|| not_found("JWT template"))?;
    let st = emu.lock();
    let s = st.sessions.get(&id).filter(|s| s.status == "active").ok_or_else(|| not_found("session"))?;
    let user = st.users.get(&s.user_id).ok_or_else(|| not_found("user"))?;
    let org = crate::Emulator::active_membership(&st, s)
        .and_then(|(id, m)| st.organizations.get(id).map(|o| (o, m.role.as_str())));
    let now = now_ms() / 1000;
    let mut claims = json!({"sub": user.id, "iss": emu.config.public_url.trim_end_matches('/'), "iat": now, "nbf": now - 10, "exp": now + lifetime, "jti": new_id("jti")});
    if let Value::Object(map) = extra {
        for (k, v) in map {
            claims[k] = fill(&v, user, &s.id, org);
        }
    }
    let jwt = emu.signer.sign(
        &json!({"alg": "RS256", "typ": "JWT", "kid": emu.signer.kid(), "cat": clerk::claims::CAT_TEMPLATE}),
        &claims,
    );
    Ok(Json(json!({"object": "token", "jwt": jwt})))
}

fn fill(v: &Value, user: &User, sid: &str, org: Option<(&Organization, &str)>) -> Value {
    const ORG: [&str; 4] = ["{{org.id}}", "{{org.slug}}", "{{org.name}}", "{{org.role}}"];
    match v {
        Value::String(s) if org.is_none() && ORG.contains(&s.as_str()) => Value::Null,
        Value::String(s) => Value::String(
            s.replace("{{user.id}}", &user.id)
                .replace("{{user.primary_email_address}}", user.email.as_deref().unwrap_or(""))
                .replace("{{user.first_name}}", user.first_name.as_deref().unwrap_or(""))
                .replace("{{user.last_name}}", user.last_name.as_deref().unwrap_or(""))
                .replace("{{session.id}}", sid)
                .replace("{{org.id}}", org.map_or("", |(o, _)| &o.id))
                .replace("{{org.slug}}", org.map_or("", |(o, _)| &o.slug))
                .replace("{{org.name}}", org.map_or("", |(o, _)| &o.name))
                .replace("{{org.role}}", org.map_or("", |(_, r)| r)),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, user, sid, org)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), fill(x, user, sid, org))).collect()),
        other => other.clone(),
    }
}

#[derive(Debug, Deserialize)]
pub struct NonceQuery {
    nonce: Option<String>,
}

/// `GET /v1/clients/handshake_payload?nonce=`: the directives of a nonce handshake (one use).
async fn handshake_payload(State(emu): State<Shared>, Query(q): Query<NonceQuery>) -> ApiResult {
    let nonce = q.nonce.filter(|n| !n.is_empty()).ok_or_else(|| invalid("nonce is required"))?;
    let directives = emu.lock().nonces.remove(&nonce).ok_or_else(|| not_found("handshake payload"))?;
    Ok(Json(json!({"directives": directives})))
}
