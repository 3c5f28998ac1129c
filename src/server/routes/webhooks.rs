//! `POST /api/webhooks/clerk`: svix-verified on the raw body, then applied to the mirror once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::mirror::{self, MirrorError, Outcome};
use crate::server::startup::AppState;

pub async fn clerk_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    // Verify before parsing anything: the signature covers the exact bytes.
    let event = match state.config.clerk.webhook.verify(&body, &headers) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "webhook rejected");
            return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid webhook", "reason": e.to_string()})))
                .into_response();
        }
    };
    let svix_id = headers.get("svix-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    match mirror::apply_event(&state.pool, &svix_id, &event).await {
        Ok(outcome) => {
            let status = match outcome {
                Outcome::Applied => "applied",
                Outcome::Duplicate => "duplicate",
                Outcome::Ignored => "ignored",
            };
            tracing::info!(svix_id, event_type = %event.event_type, status, "webhook");
            (StatusCode::OK, Json(json!({"status": status}))).into_response()
        }
        Err(MirrorError::Payload { event_type, detail }) => {
            tracing::warn!(svix_id, event_type, detail, "webhook payload rejected");
            (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({"error": "invalid webhook", "reason": format!("unexpected {event_type} payload: {detail}")}),
                ),
            )
                .into_response()
        }
        Err(MirrorError::Database(e)) => {
            // 5xx so Svix retries later; the cause stays in our logs.
            tracing::error!(svix_id, error = %e, "webhook could not be applied");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "temporarily unavailable, retry later"})))
                .into_response()
        }
    }
}
