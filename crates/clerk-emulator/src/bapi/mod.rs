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

mod invitations;
mod organizations;
mod sessions;
mod users;

use invitations::*;
pub use invitations::{accept_invitation, pending_invitation, NotAcceptable};
use organizations::*;
use sessions::*;
use users::*;

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
