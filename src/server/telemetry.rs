//! Tracing: `RUST_LOG`-filtered, one span per request carrying its request id; JSON lines when
//! `TENANTRY_LOG_FORMAT=json` (each line inside a request carries its span, hence the id). The
//! request id is also kept for the request's task, so error bodies can name it
//! ([`request_id`]), and each request is counted and timed by route ([`observe`]).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    if std::env::var("TENANTRY_LOG_FORMAT").is_ok_and(|v| v.trim().eq_ignore_ascii_case("json")) {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_target(false)
            .with_current_span(true)
            .with_span_list(false)
            .try_init();
    } else {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
    }
}

#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &Request<B>) -> tracing::Span {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
    }
}

pub fn trace_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan> {
    TraceLayer::new_for_http().make_span_with(RequestSpan)
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled on this task (`x-request-id`), if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Keeps the request id for the request's task, and counts and times the request by method,
/// route pattern (`MatchedPath`: axum routes before `Router::layer` middleware runs; requests
/// no route matched are `unmatched`) and status.
pub async fn observe(req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_string(),
        _ => "other".to_string(),
    };
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    let started = std::time::Instant::now();
    let resp = REQUEST_ID.scope(id, next.run(req)).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("tenantry_http_requests_total", &labels).increment(1);
    metrics::histogram!("tenantry_http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    resp
}
