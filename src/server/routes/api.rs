//! JSON API: `/api/public`, `/api/whoami`, `/api/profile`.

use axum::extract::State;
use axum::Json;
use clerk::axum::RequireAuth;
use serde::Serialize;
use serde_json::{json, Value};

use crate::server::error::AppError;
use crate::server::startup::AppState;

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

pub async fn whoami(RequireAuth(auth): RequireAuth) -> Json<WhoAmI> {
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    id: uuid::Uuid,
    clerk_id: String,
    email: Option<String>,
    name: Option<String>,
    image_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: time::OffsetDateTime,
}

/// The signed-in user's row, as mirrored by the webhook (404 until it has arrived).
pub async fn profile(State(state): State<AppState>, RequireAuth(auth): RequireAuth) -> Result<Json<Profile>, AppError> {
    let row = sqlx::query_as!(
        Profile,
        "SELECT id, clerk_id, email, name, image_url, created_at, updated_at FROM users WHERE clerk_id = $1 AND deleted_at IS NULL",
        auth.user_id
    )
    .fetch_optional(&state.pool)
    .await?;
    row.map(Json)
        .ok_or_else(|| AppError::NotFound("profile not synced yet: the user.created webhook has not arrived".into()))
}
