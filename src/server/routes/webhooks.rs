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
    let delivered = |event_type: &str, outcome: &'static str| {
        metrics::counter!("tenantry_webhook_deliveries_total", "type" => event_type.to_string(), "outcome" => outcome)
            .increment(1);
    };
    let event = state.config.clerk.webhook.verify(&body, &headers).map_err(|e| {
        delivered("unverified", "rejected");
        tracing::warn!(error = %e, "webhook rejected");
        AppError::bad_request("invalid_webhook", "invalid webhook").with_reason(e.to_string())
    })?;
    let svix_id = headers.get("svix-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let outcome = mirror::apply_event(&state.db, &svix_id, &event).await.map_err(|e| match e {
        MirrorError::Payload { event_type, detail } => {
            delivered(&event_type, "invalid_payload");
            tracing::warn!(svix_id, event_type, detail, "webhook payload rejected");
            AppError::bad_request("invalid_webhook", "invalid webhook")
                .with_reason(format!("unexpected {event_type} payload: {detail}"))
        }
        // 5xx so Svix retries later; the cause stays in our logs.
        MirrorError::Database(e) => {
            delivered(&event.event_type, "unavailable");
            AppError::unavailable(format!("webhook {svix_id} could not be applied: {e}"))
        }
    })?;
    let status = match outcome {
        Outcome::Applied => "applied",
        Outcome::Duplicate => "duplicate",
        Outcome::Ignored => "ignored",
    };
    delivered(&event.event_type, status);
    // How long Clerk's change took to reach the mirror (`updated_at` is in milliseconds).
    if let (Outcome::Applied, Some(updated_ms)) = (outcome, event.data.get("updated_at").and_then(Value::as_i64)) {
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        metrics::histogram!("tenantry_webhook_lag_seconds", "type" => event.event_type.clone())
            .record((now_ms - updated_ms).max(0) as f64 / 1000.0);
    }
    tracing::info!(svix_id, event_type = %event.event_type, status, "webhook");
    Ok(Json(json!({ "status": status })))
}
