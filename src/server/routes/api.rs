//! JSON API: `/api/public`, `/api/whoami`, `/api/profile`.

use axum::extract::State;
use axum::{Extension, Json};
use clerk::axum::ClerkState;
use clerk::request::RequestState;
use serde_json::{json, Value};

use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::tenant::Member;
use crate::server::users::{self, Profile};

pub async fn public() -> Json<Value> {
    Json(json!({ "message": "Hello from Tenantry. This endpoint needs no session." }))
}

/// What Clerk's SDK's `auth()` answers for this request's session token, verbatim (the crate's
/// [`clerk::AuthObject`]: `null`, `[]` and absent members exactly as the SDK has them, e.g. no
/// `orgPermissions` at all without an active organization), less its functions. Signed-out and
/// pending sessions never get here (the route gate answers 401); this handler refuses them too.
pub async fn whoami(state: Option<Extension<ClerkState>>) -> Result<Json<Value>, AppError> {
    let state = state.map(|Extension(ClerkState(s))| s);
    let object = state.as_deref().and_then(RequestState::auth_object);
    match object {
        Some(auth) if auth.is_authenticated => Ok(Json(auth.to_json())),
        _ if state.as_deref().is_some_and(RequestState::is_pending) => Err(AppError::session_pending()),
        _ => Err(AppError::unauthenticated(
            state.as_deref().and_then(|s| s.reason.as_deref()).unwrap_or("session-token-and-uat-missing"),
        )),
    }
}

/// The signed-in user's row, as mirrored by the webhook (404 until it has arrived).
pub async fn profile(State(state): State<AppState>, member: Member) -> Result<Json<Profile>, AppError> {
    let row = users::profile(&state.db, member.user_id()).await?;
    row.map(Json).ok_or_else(|| {
        AppError::not_found("profile_not_synced", "profile not synced yet: the user.created webhook has not arrived")
    })
}
