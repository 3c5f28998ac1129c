//! Prometheus metrics, served on their own listen address (`TENANTRY_METRICS_ADDR`, never on the
//! app's port). The families:
//!
//! - `tenantry_http_requests_total`, `tenantry_http_request_duration_seconds`: by method, route
//!   (the matched route pattern, never the raw URL: bounded cardinality) and status;
//! - `tenantry_auth_outcomes_total`: Clerk's status and reason for each gated request;
//! - `tenantry_handshake_redirects_total`: handshake redirects to the Frontend API, by reason;
//! - `tenantry_webhook_deliveries_total`: by event type and outcome, and
//!   `tenantry_webhook_lag_seconds`: Clerk's `updated_at` to its application here;
//! - `tenantry_backend_api_calls_total`: Backend API calls made for requests, by operation and
//!   outcome (`ok`, `client_error`, `server_error`, `transport`, `timeout`);
//! - `tenantry_db_pool_connections`: the pool's open and idle connections (`state`), read at
//!   each scrape.
//!
//! The recorder is process-wide (the `metrics` facade): installed once, when the first
//! application with a metrics address starts. Without one every macro is a no-op.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
            let lag = [0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 3600.0, 86_400.0];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("tenantry_http_request_duration_seconds".into()), &buckets)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("tenantry_webhook_lag_seconds".into()), &lag))
                .expect("non-empty buckets")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics will be empty");
            }
            handle
        })
        .clone()
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    pool: PgPool,
}

/// `GET /metrics` (Prometheus text format) and nothing else: the router of the metrics address.
pub fn router(pool: PgPool) -> Router {
    Router::new().route("/metrics", get(render)).with_state(Scrape { handle: handle(), pool })
}

async fn render(State(s): State<Scrape>) -> String {
    metrics::gauge!("tenantry_db_pool_connections", "state" => "open").set(s.pool.size() as f64);
    metrics::gauge!("tenantry_db_pool_connections", "state" => "idle").set(s.pool.num_idle() as f64);
    metrics::gauge!("tenantry_db_pool_connections", "state" => "max")
        .set(s.pool.options().get_max_connections() as f64);
    s.handle.run_upkeep();
    s.handle.render()
}

/// Drains the histograms' buffers now and then (what the exporter's own listener would do).
pub async fn upkeep() {
    let handle = handle();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// A Backend API call made for a request, bounded by [`BACKEND_API_WAIT`](super::limits::BACKEND_API_WAIT)
/// (`None` past it) and counted by operation and outcome.
pub async fn backend_call<T>(
    operation: &'static str,
    call: impl std::future::Future<Output = Result<T, clerk::bapi::ApiError>>,
) -> Option<Result<T, clerk::bapi::ApiError>> {
    let result = super::limits::within_wait(call).await;
    let outcome = result.as_ref().map_or("timeout", outcome_of);
    metrics::counter!("tenantry_backend_api_calls_total", "operation" => operation, "outcome" => outcome).increment(1);
    result
}

/// [`backend_call`] without the wait bound.
pub async fn backend_call_unbounded<T>(
    operation: &'static str,
    call: impl std::future::Future<Output = Result<T, clerk::bapi::ApiError>>,
) -> Result<T, clerk::bapi::ApiError> {
    let result = call.await;
    let outcome = outcome_of(&result);
    metrics::counter!("tenantry_backend_api_calls_total", "operation" => operation, "outcome" => outcome).increment(1);
    result
}

fn outcome_of<T>(result: &Result<T, clerk::bapi::ApiError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => match e.status() {
            Some(s) if s < 500 => "client_error",
            Some(_) => "server_error",
            None => "transport",
        },
    }
}
