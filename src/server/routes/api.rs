//! JSON API: `/api/public`, `/api/whoami`, `/api/profile`.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::tenant::Member;
use crate::server::users::{self, Profile};

pub async fn public() -> Json<Value> {
    Json(json!({ "message": "Hello from Tenantry. This endpoint needs no session." }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    user_id: String,
    session_id: Option<String>,
    org_id: Option<String>,
    org_role: Option<String>,
    org_slug: Option<String>,
    org_permissions: Vec<String>,
}

pub async fn whoami(member: Member) -> Json<WhoAmI> {
    let auth = member.auth().clone();
    let org = auth.org.clone();
    Json(WhoAmI {
        user_id: auth.user_id,
        session_id: auth.session_id,
        org_id: org.as_ref().map(|o| o.id.clone()),
        org_role: org.as_ref().and_then(|o| o.role.clone()),
        org_slug: org.as_ref().and_then(|o| o.slug.clone()),
        org_permissions: org.map(|o| o.permissions).unwrap_or_default(),
    })
}

/// The signed-in user's row, as mirrored by the webhook (404 until it has arrived).
pub async fn profile(State(state): State<AppState>, member: Member) -> Result<Json<Profile>, AppError> {
    let row = users::profile(&state.pool, member.user_id()).await?;
    row.map(Json).ok_or_else(|| {
        AppError::not_found("profile_not_synced", "profile not synced yet: the user.created webhook has not arrived")
    })
}
