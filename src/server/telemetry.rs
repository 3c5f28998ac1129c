//! Tracing: `RUST_LOG`-filtered, one span per request carrying its request id; JSON lines when
//! `TENANTRY_LOG_FORMAT=json` (each line inside a request carries its span, hence the id). The
//! request id is also kept for the request's task, so error bodies can name it
//! ([`request_id`]), and each request is counted and timed by route ([`observe`]).
//!
//! Optional OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and `OTEL_SDK_DISABLED` is not `true`: the
//! same spans exported over OTLP/HTTP with protobuf (the only protocol built in; any other
//! `OTEL_EXPORTER_OTLP_PROTOCOL` is a configuration error), batched on the SDK's own thread.
//! The standard `OTEL_*` variables apply (service name, resource attributes, sampler, batch
//! delays, headers, timeout). Each request's span is a `server` span named `METHOD route` with
//! the semantic-convention attributes, continuing the caller's W3C `traceparent`; the BFF proxy
//! passes the trace on to the service it calls ([`inject_trace_context`]).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Whether spans go to an OTLP collector: read on every request, so a process without
/// OpenTelemetry never parses `traceparent` headers.
static OTEL_ENABLED: AtomicBool = AtomicBool::new(false);

/// What [`init`] started that must be flushed before the process exits.
#[must_use = "call Telemetry::shutdown before exiting, or the last spans are lost"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still batched (bounded by `OTEL_EXPORTER_OTLP_TIMEOUT`, default 10 s).
    pub async fn shutdown(self) {
        if let Some(provider) = self.tracer_provider {
            // The exporter's client blocks; never on a runtime worker.
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = flushed {
                eprintln!("OpenTelemetry: the last spans were not exported: {e}");
            }
        }
    }
}

/// Installs the global tracing subscriber (logs, and OpenTelemetry when configured).
///
/// Errors: a configuration message naming the variable (an unsupported
/// `OTEL_EXPORTER_OTLP_PROTOCOL`, an endpoint that is not an `http(s)` URL); nothing is
/// installed then.
pub fn init() -> Result<Telemetry, String> {
    init_with(|k| std::env::var(k).ok())
}

fn init_with(env: impl Fn(&str) -> Option<String>) -> Result<Telemetry, String> {
    let tracer_provider = otel_provider(&env)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let json = env("TENANTRY_LOG_FORMAT").is_some_and(|v| v.trim().eq_ignore_ascii_case("json"));
    let logs = if json {
        tracing_subscriber::fmt::layer().json().with_target(false).with_current_span(true).with_span_list(false).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_target(false).boxed()
    };
    let otel = tracer_provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("tenantry")));
    let _ = tracing_subscriber::registry().with(logs).with(otel).with(filter).try_init();
    Ok(Telemetry { tracer_provider })
}

fn otel_provider(env: &impl Fn(&str) -> Option<String>) -> Result<Option<SdkTracerProvider>, String> {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let endpoints: Vec<(&str, String)> = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .into_iter()
        .filter_map(|k| set(k).map(|v| (k, v)))
        .collect();
    if endpoints.is_empty() {
        return Ok(None);
    }
    for (name, value) in &endpoints {
        let url = url::Url::parse(value.trim()).map_err(|e| format!("config error: {name} is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("config error: {name} must be an http(s) URL of an OTLP/HTTP collector"));
        }
    }
    for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Some(p) = set(name).filter(|p| p.trim() != "http/protobuf") {
            return Err(format!(
                "config error: {name}={p} is not supported: Tenantry exports traces over http/protobuf"
            ));
        }
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("config error: the OTLP trace exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if set("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("tenantry");
    }
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build();
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    OTEL_ENABLED.store(true, Ordering::Relaxed);
    Ok(Some(provider))
}

/// Writes the current span's trace context (W3C `traceparent`/`tracestate`) into `headers`,
/// replacing any the client sent, when traces are exported; removes both otherwise, so a
/// service never continues a trace the client made up.
pub fn inject_trace_context(headers: &mut http::HeaderMap) {
    headers.remove("traceparent");
    headers.remove("tracestate");
    if OTEL_ENABLED.load(Ordering::Relaxed) {
        let cx = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers))
        });
    }
}

/// The request's span: its id, method and path in the logs; for OpenTelemetry a `server` span
/// named `METHOD route` (the route pattern, never the raw path: bounded names) with the
/// HTTP semantic-convention attributes, and the caller's `traceparent` as its parent.
#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &Request<B>) -> tracing::Span {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        if !OTEL_ENABLED.load(Ordering::Relaxed) {
            return tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
        }
        let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
        let span = tracing::info_span!(
            "request",
            id = %id,
            path = %req.uri().path(),
            otel.name = %format_args!("{} {}", req.method(), route),
            otel.kind = "server",
            http.request.method = %req.method(),
            http.route = route,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&opentelemetry_http::HeaderExtractor(req.headers()))
        });
        // Fails only when no OpenTelemetry layer is installed (a test's own subscriber).
        let _ = span.set_parent(parent);
        span
    }
}

/// Records the status on the request's span (5xx marks it failed) and logs the response as
/// tower-http's default does.
#[derive(Clone, Copy)]
pub struct RequestOutcome;

impl<B> OnResponse<B> for RequestOutcome {
    fn on_response(self, resp: &Response<B>, latency: Duration, span: &tracing::Span) {
        span.record("http.response.status_code", resp.status().as_u16());
        if resp.status().is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
        tower_http::trace::DefaultOnResponse::default().on_response(resp, latency, span);
    }
}

pub fn trace_layer() -> TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    RequestSpan,
    tower_http::trace::DefaultOnRequest,
    RequestOutcome,
> {
    TraceLayer::new_for_http().make_span_with(RequestSpan).on_response(RequestOutcome)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The BFF proxy's outgoing headers: a client's `traceparent` never passes; with traces on,
    /// the request span's own context does (same trace, this span as the parent).
    #[test]
    fn the_proxy_passes_on_its_own_trace_context_never_the_clients() {
        let client_sent = || {
            let mut h = http::HeaderMap::new();
            h.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
            h.insert("tracestate", "vendor=client".parse().unwrap());
            h
        };
        let mut off = client_sent();
        inject_trace_context(&mut off);
        assert!(off.get("traceparent").is_none() && off.get("tracestate").is_none(), "{off:?}");

        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        OTEL_ENABLED.store(true, Ordering::Relaxed);
        let (on, span_context) = tracing::subscriber::with_default(subscriber, || {
            use opentelemetry::trace::TraceContextExt as _;
            let span = tracing::info_span!("request");
            let _entered = span.enter();
            let mut h = client_sent();
            inject_trace_context(&mut h);
            (h, span.context().span().span_context().clone())
        });
        OTEL_ENABLED.store(false, Ordering::Relaxed);
        assert!(span_context.is_valid());
        assert_eq!(
            on["traceparent"],
            format!("00-{}-{}-01", span_context.trace_id(), span_context.span_id()).as_str(),
            "the request span's context"
        );
        assert!(on.get("tracestate").is_none_or(|v| v.is_empty()), "the client's tracestate is gone: {on:?}");
    }
}
