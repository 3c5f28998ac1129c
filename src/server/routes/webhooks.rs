//! `POST /api/webhooks/clerk`: svix-verified on the raw body, then applied to the mirror once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use crate::server::error::AppError;
use crate::server::mirror::{self, MirrorError, Outcome};
use crate::server::state::AppState;

/// 200 `{"status": "applied" | "duplicate" | "ignored"}`; 400 for a forged or malformed delivery
/// (Svix does not retry 4xx); 503 when the database cannot apply it (Svix retries later).
pub async fn clerk_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    // Verify before parsing anything: the signature covers the exact bytes.
    let event = state.config.clerk.webhook.verify(&body, &headers).map_err(|e| {
        tracing::warn!(error = %e, "webhook rejected");
        AppError::bad_request("invalid_webhook", "invalid webhook").with_reason(e.to_string())
    })?;
    let svix_id = headers.get("svix-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let outcome = mirror::apply_event(&state.pool, &svix_id, &event).await.map_err(|e| match e {
        MirrorError::Payload { event_type, detail } => {
            tracing::warn!(svix_id, event_type, detail, "webhook payload rejected");
            AppError::bad_request("invalid_webhook", "invalid webhook")
                .with_reason(format!("unexpected {event_type} payload: {detail}"))
        }
        // 5xx so Svix retries later; the cause stays in our logs.
        MirrorError::Database(e) => AppError::unavailable(format!("webhook {svix_id} could not be applied: {e}")),
    })?;
    let status = match outcome {
        Outcome::Applied => "applied",
        Outcome::Duplicate => "duplicate",
        Outcome::Ignored => "ignored",
    };
    tracing::info!(svix_id, event_type = %event.event_type, status, "webhook");
    Ok(Json(json!({ "status": status })))
}
