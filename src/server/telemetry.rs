//! Tracing: `RUST_LOG`-filtered, one span per request carrying its request id; JSON lines when
//! `TENANTRY_LOG_FORMAT=json` (each line inside a request carries its span, hence the id). The
//! request id is also kept for the request's task, so error bodies can name it
//! ([`request_id`]), and each request is counted and timed by route ([`observe`]).
//!
//! Optional OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and `OTEL_SDK_DISABLED` is not `true`: the
//! same spans exported over OTLP/HTTP with protobuf to a collector on plain `http` (the only
//! protocol and transport built in: any other protocol, or `https`, is a configuration error;
//! a local OpenTelemetry Collector forwards over TLS), batched on the SDK's own thread, export
//! failures logged. The standard `OTEL_*` variables apply (service name, resource attributes,
//! sampler, batch delays, headers, timeout). Each request's span is a `server` span named
//! `METHOD route` with the semantic-convention attributes. A caller's W3C `traceparent` is
//! untrusted input (it picks the trace id and the sampling decision): by default each request
//! starts its own trace with a *link* to the caller's span; `TENANTRY_TRUST_TRACEPARENT=true`
//! (for callers of your own, e.g. a gateway that sets it) makes it the parent. The BFF proxy
//! passes Tenantry's own context on to the service it calls ([`inject_trace_context`]).

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
/// `TENANTRY_TRUST_TRACEPARENT`: a caller's `traceparent` is the request span's parent (not
/// only a link).
static TRUST_TRACEPARENT: AtomicBool = AtomicBool::new(false);

/// What [`init`] started that must be flushed before the process exits.
#[must_use = "call Telemetry::shutdown before exiting, or the last spans are lost"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still batched, waiting at most 12 s (the exporter's default timeout
    /// of 10 s, and a margin).
    pub async fn shutdown(self) {
        if let Some(provider) = self.tracer_provider {
            // The exporter's client blocks; never on a runtime worker.
            let flushed =
                tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(Duration::from_secs(12))).await;
            if let Ok(Err(e)) = flushed {
                eprintln!("OpenTelemetry: the last spans were not exported: {e}");
            }
        }
    }
}

/// Installs the global tracing subscriber (logs, and OpenTelemetry when configured).
///
/// Errors: a configuration message naming the variable (an unsupported
/// `OTEL_EXPORTER_OTLP_PROTOCOL`, an endpoint that is not an `http` URL, a
/// `TENANTRY_TRUST_TRACEPARENT` that is not `true`/`false`); nothing is installed then.
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
        if url.scheme() == "https" {
            return Err(format!(
                "config error: {name} is https, which this build cannot send to: use a collector on http (e.g. an OpenTelemetry Collector on the same host, which forwards over TLS)"
            ));
        }
        if url.scheme() != "http" || url.host_str().is_none() {
            return Err(format!("config error: {name} must be an http URL of an OTLP/HTTP collector"));
        }
    }
    // The traces-specific setting wins over the general one, as the exporter reads them.
    let protocol = ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]
        .into_iter()
        .find_map(|k| set(k).map(|v| (k, v)));
    if let Some((name, p)) = protocol.filter(|(_, p)| p.trim() != "http/protobuf") {
        return Err(format!("config error: {name}={p} is not supported: Tenantry exports traces over http/protobuf"));
    }
    let trust = match set("TENANTRY_TRUST_TRACEPARENT").map(|v| v.trim().to_ascii_lowercase()) {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(_) => return Err("config error: TENANTRY_TRUST_TRACEPARENT must be true or false".into()),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("config error: the OTLP trace exporter: {e}"))?;
    // `OTEL_SERVICE_NAME` or `service.name` in `OTEL_RESOURCE_ATTRIBUTES` when given, else ours.
    let detected = opentelemetry_sdk::Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::new("service.name"))
        .is_some_and(|v| !v.as_str().starts_with("unknown_service"));
    let resource =
        if named { detected } else { opentelemetry_sdk::Resource::builder().with_service_name("tenantry").build() };
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    TRUST_TRACEPARENT.store(trust, Ordering::Relaxed);
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    OTEL_ENABLED.store(true, Ordering::Relaxed);
    Ok(Some(provider))
}

/// Trace-context headers of any format a client may send: none passes the proxy as sent.
const TRACE_HEADERS: [&str; 6] = ["traceparent", "tracestate", "baggage", "b3", "uber-trace-id", "x-b3-traceid"];

/// Writes the current span's trace context (W3C `traceparent`/`tracestate`) into `headers`
/// when traces are exported, after removing every trace-context header the client sent (W3C,
/// baggage, B3, Jaeger); so a service sees Tenantry's trace, which continues the client's only
/// under `TENANTRY_TRUST_TRACEPARENT=true`.
pub fn inject_trace_context(headers: &mut http::HeaderMap) {
    for name in TRACE_HEADERS {
        headers.remove(name);
    }
    let b3: Vec<_> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-b3-") || k.as_str().starts_with("uberctx-"))
        .cloned()
        .collect();
    for name in b3 {
        headers.remove(name);
    }
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
        let caller = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&opentelemetry_http::HeaderExtractor(req.headers()))
        });
        if TRUST_TRACEPARENT.load(Ordering::Relaxed) {
            // Fails only when no OpenTelemetry layer is installed (a test's own subscriber).
            let _ = span.set_parent(caller);
        } else {
            use opentelemetry::trace::TraceContextExt as _;
            let remote = caller.span().span_context().clone();
            if remote.is_valid() {
                span.add_link(remote);
            }
        }
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

    /// The BFF proxy's outgoing headers: no trace header a client sent passes as sent; with
    /// traces on, the request span's own context does, which continues the client's trace only
    /// when `traceparent` is trusted.
    #[test]
    fn the_proxy_passes_on_its_own_trace_context_never_the_clients() {
        use opentelemetry::trace::TraceContextExt as _;
        const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
        let client_sent = || {
            let mut h = http::HeaderMap::new();
            h.insert("traceparent", format!("00-{CLIENT_TRACE}-b7ad6b7169203331-01").parse().unwrap());
            h.insert("tracestate", "vendor=client".parse().unwrap());
            h.insert("baggage", "user=admin".parse().unwrap());
            h.insert("x-b3-sampled", "1".parse().unwrap());
            h.insert("uber-trace-id", "1:2:0:1".parse().unwrap());
            h.insert("accept", "application/json".parse().unwrap());
            h
        };
        let mut off = client_sent();
        inject_trace_context(&mut off);
        assert_eq!(off.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["accept"], "only the non-trace header");

        let provider = SdkTracerProvider::builder().build();
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        OTEL_ENABLED.store(true, Ordering::Relaxed);
        // A request arriving with the client's headers, its span made as the server makes it.
        let through_proxy = |trust: bool| {
            TRUST_TRACEPARENT.store(trust, Ordering::Relaxed);
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
            tracing::subscriber::with_default(subscriber, || {
                let mut req = Request::new(());
                *req.headers_mut() = client_sent();
                let span = RequestSpan.make_span(&req);
                let _entered = span.enter();
                let mut h = client_sent();
                inject_trace_context(&mut h);
                (h, span.context().span().span_context().clone())
            })
        };
        let (untrusted, own) = through_proxy(false);
        let (trusted, continued) = through_proxy(true);
        OTEL_ENABLED.store(false, Ordering::Relaxed);
        TRUST_TRACEPARENT.store(false, Ordering::Relaxed);

        assert!(own.is_valid());
        assert_ne!(own.trace_id().to_string(), CLIENT_TRACE, "untrusted: a trace of its own");
        assert_eq!(untrusted["traceparent"], format!("00-{}-{}-01", own.trace_id(), own.span_id()).as_str());
        assert!(untrusted.get("tracestate").is_none_or(|v| v.is_empty()), "{untrusted:?}");
        for h in [&untrusted, &trusted] {
            assert!(h.get("baggage").is_none() && h.get("x-b3-sampled").is_none() && h.get("uber-trace-id").is_none());
        }
        assert_eq!(continued.trace_id().to_string(), CLIENT_TRACE, "trusted: the client's trace continues");
        assert_eq!(trusted["traceparent"], format!("00-{CLIENT_TRACE}-{}-01", continued.span_id()).as_str());
    }
}
