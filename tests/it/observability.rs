//! Production surface: Prometheus metrics on their own address (never on the app's port) after a
//! scripted visit, the request id in error bodies, compressed answers, the body limit.

use crate::helpers::{env_for, migrated_database, now, AZP, WEBHOOK_SECRET};
use clerk::mint::Signer;
use clerk::WebhookVerifier;
use serde_json::{json, Value};
use tenantry::server::config::Config;
use tenantry::server::startup::Application;

fn token(user: &str, org: Option<&str>) -> String {
    let t = now();
    let mut claims = json!({"sub": user, "sid": format!("sess_{user}"), "iss": "https://clerk.example.com", "azp": AZP, "iat": t, "nbf": t - 10, "exp": t + 60});
    if let Some(org) = org {
        claims["org_id"] = json!(org);
        claims["org_role"] = json!("org:admin");
    }
    Signer::from_pem("ins_test", include_str!("../../crates/clerk/tests/fixtures/instance-private.pem"))
        .unwrap()
        .sign_session(&claims)
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_after_a_visit() {
    let (db, _admin) = migrated_database().await;
    let mut env = env_for(&db);
    env.insert("TENANTRY_METRICS_ADDR".into(), "127.0.0.1:0".into());
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let app = Application::build(config).await.unwrap();
    let base = format!("http://{}", app.addr());
    let metrics = format!("http://{}/metrics", app.metrics_addr().expect("metrics address"));
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // The visit: a probe, an API call signed in and one signed out (with a query string that
    // must not become a label), a page needing a handshake, webhooks (applied and forged), and
    // an organization creation (a Backend API call; the API is a closed port here).
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let r = http.get(format!("{base}/api/whoami")).bearer_auth(token("user_m", None)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{base}/api/whoami?secret=do-not-label")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], json!(request_id), "the error body names the request: {body}");
    let r = http
        .get(format!("{base}/app/dashboard"))
        .header("accept", "text/html")
        .header("sec-fetch-dest", "document")
        .header("cookie", format!("__client_uat={}", now() - 100))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307, "a handshake");
    assert_eq!(r.headers()["x-clerk-auth-status"], "handshake");
    let body = serde_json::to_vec(&json!({"type": "organization.created", "object": "event", "timestamp": now() * 1000,
        "data": {"id": "org_m", "name": "Metrics", "slug": "metrics", "created_at": now() * 1000 - 2000, "updated_at": now() * 1000 - 2000}}))
    .unwrap();
    let sig = WebhookVerifier::new(WEBHOOK_SECRET).unwrap().sign("msg_m", now(), &body).unwrap();
    let post_hook = |sig: String| {
        http.post(format!("{base}/api/webhooks/clerk"))
            .header("content-type", "application/json")
            .header("svix-id", "msg_m")
            .header("svix-timestamp", now().to_string())
            .header("svix-signature", sig)
            .body(body.clone())
            .send()
    };
    assert_eq!(post_hook(sig).await.unwrap().status(), 200);
    assert_eq!(post_hook("v1,Zm9yZ2Vk".into()).await.unwrap().status(), 400);
    let r = http
        .post(format!("{base}/select-org/create"))
        .bearer_auth(token("user_m", None))
        .form(&[("name", "New")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    let r = http.get(&metrics).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for expected in [
        r#"tenantry_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
        r#"tenantry_http_requests_total{method="GET",route="/api/whoami",status="401"}"#,
        r#"tenantry_http_request_duration_seconds_bucket{method="GET",route="/api/whoami",status="200",le="#,
        r#"tenantry_auth_outcomes_total{status="signed-in",reason=""}"#,
        r#"tenantry_auth_outcomes_total{status="signed-out",reason="session-token-and-uat-missing"}"#,
        r#"tenantry_handshake_redirects_total{reason="client-uat-but-no-session-token"} 1"#,
        r#"tenantry_webhook_deliveries_total{type="organization.created",outcome="applied"} 1"#,
        r#"tenantry_webhook_deliveries_total{type="unverified",outcome="rejected"} 1"#,
        r#"tenantry_webhook_lag_seconds_bucket{type="organization.created",le="#,
        r#"tenantry_backend_api_calls_total{operation="create_organization",outcome="transport"} 1"#,
        r#"tenantry_db_pool_connections{state="open"}"#,
        r#"tenantry_db_pool_connections{state="idle"}"#,
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    assert!(!text.contains("do-not-label"), "raw URLs are never labels");
    // Only the handshake redirect counts as one (the visit's other answers are not).
    let handshakes: Vec<&str> = text.lines().filter(|l| l.starts_with("tenantry_handshake_redirects_total{")).collect();
    assert_eq!(handshakes.len(), 1, "{handshakes:?}");
    // The lag is Clerk's `updated_at` (milliseconds, 2 s before the delivery) to the moment it
    // was applied, in seconds: 2 s and a little.
    let lag_sum: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"tenantry_webhook_lag_seconds_sum{type="organization.created"} "#))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no lag sum in\n{text}"));
    assert!((1.0..30.0).contains(&lag_sum), "lag {lag_sum} s");

    // Not on the app's own port, and nothing else on the metrics port.
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_ne!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains("tenantry_http_requests_total"));
    let other = metrics.replace("/metrics", "/healthz");
    assert_eq!(http.get(other).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn no_metrics_address_means_no_metrics_listener() {
    let (db, _admin) = migrated_database().await;
    let env = env_for(&db);
    let app = Application::build(Config::from_lookup(|k| env.get(k).cloned()).unwrap()).await.unwrap();
    assert_eq!(app.metrics_addr(), None);
}

#[tokio::test]
async fn answers_are_compressed_and_bodies_bounded() {
    let app = crate::helpers::spawn_app().await;
    // gzip, never brotli, for what the server renders (startup::compression): a browser's
    // Accept-Encoding gets gzip, a client that takes brotli alone gets the page as it is.
    for (encoding, expected) in [("gzip, deflate, br, zstd", "gzip"), ("gzip", "gzip"), ("br", ""), ("identity", "")] {
        let r = app.http.get(app.url("/")).header("accept-encoding", encoding).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let got = r.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert_eq!(got, expected, "{encoding}");
    }
    let keeper = tenantry::app::session_keeper_path();
    let r = app.http.get(app.url(&keeper)).header("accept-encoding", "gzip, br").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-encoding"].to_str().unwrap()), (200, "gzip"));
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");

    // More than 1 MiB: refused before the handler reads it.
    let r = app
        .http
        .post(app.url("/api/webhooks/clerk"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Refused by the body limit itself (its length is declared), yet with every answer's headers.
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}

/// The release build's static files are compressed once, at build time (`scripts/precompress.mjs`
/// writes `NAME.br` and `NAME.gz` next to each), and served as they are, not compressed again
/// per request. Cached for a year, each answer says it varies by `Accept-Encoding`: a shared
/// cache must not hand the brotli copy to a client that never asked for brotli. Revalidations
/// and ranges are answered as HTTP says (304, 206); a directory or a missing file is a 404 that
/// is not cached for a year.
#[tokio::test]
async fn precompressed_static_files_are_served_as_they_are_and_vary_by_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path();
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let name = "tenantry.0123456789abcdef.js";
    let plain = "export function start() { return 'a module'; }\n".repeat(40);
    std::fs::write(pkg.join(name), &plain).unwrap();
    // Markers, not real encodings: what is checked is that these very bytes are sent.
    let copies = [("br", b"the brotli copy".as_slice()), ("gzip", b"the gzip copy".as_slice())];
    std::fs::write(pkg.join(format!("{name}.br")), copies[0].1).unwrap();
    std::fs::write(pkg.join(format!("{name}.gz")), copies[1].1).unwrap();
    let (_server, base, _db) =
        serve(&[("LEPTOS_SITE_ROOT", site.to_str().unwrap()), ("LEPTOS_HASH_FILES", "true")]).await;
    let http = reqwest::Client::new();
    for accept in ["br", "gzip", "gzip, deflate, br, zstd", "identity"] {
        let r = http.get(format!("{base}/pkg/{name}")).header("accept-encoding", accept).send().await.unwrap();
        assert_eq!(r.status(), 200, "{accept}");
        let h = r.headers().clone();
        assert_eq!(h["cache-control"], "public, max-age=31536000, immutable", "{accept}");
        let vary: Vec<_> = h.get_all("vary").iter().map(|v| v.to_str().unwrap().to_ascii_lowercase()).collect();
        assert_eq!(vary, ["accept-encoding"], "{accept}");
        let encoding = h.get("content-encoding").map(|v| v.to_str().unwrap().to_string());
        let body = r.bytes().await.unwrap();
        match encoding.as_deref() {
            None => assert_eq!((accept, &body[..]), ("identity", plain.as_bytes())),
            Some(e) => {
                assert!(accept.contains(e), "{accept}: sent {e}");
                let (_, copy) = copies.iter().find(|(c, _)| *c == e).unwrap_or_else(|| panic!("{accept}: sent {e}"));
                assert_eq!(&body[..], *copy, "{accept}: not the {e} copy as it is");
            }
        }
    }
    // A revalidation is answered 304 without the body, a range with its bytes alone, and a
    // missing file is a plain 404.
    let url = format!("{base}/pkg/{name}");
    let first = http.get(&url).header("accept-encoding", "identity").send().await.unwrap();
    let modified = first.headers()["last-modified"].clone();
    let again = http.get(&url).header("if-modified-since", modified).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(again.headers()["vary"], "accept-encoding");
    assert!(again.bytes().await.unwrap().is_empty());
    let part = http.get(&url).header("accept-encoding", "identity").header("range", "bytes=0-5").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 0-5/{}", plain.len()));
    assert_eq!(&part.bytes().await.unwrap()[..], &plain.as_bytes()[..6]);
    std::fs::create_dir(pkg.join("snippets")).unwrap();
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for path in ["/pkg/snippets", "/pkg/snippets/"] {
        let r = no_redirect.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let missing = http.get(format!("{base}/pkg/nothing.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().get("cache-control").is_none_or(|v| v != "public, max-age=31536000, immutable"));
}

/// What the OTLP collector stand-in received: every span of every export, with its
/// resource's `service.name`.
#[derive(Clone, Default)]
struct Collector(std::sync::Arc<std::sync::Mutex<Vec<(String, opentelemetry_proto::tonic::trace::v1::Span)>>>);

/// The `content-type` of every export the collector stand-in received.
static EXPORT_CONTENT_TYPES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

impl Collector {
    /// Listens on loopback for OTLP/HTTP protobuf exports (`POST /v1/traces`), as a collector does.
    async fn start() -> (Self, String) {
        use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
        use prost::Message;
        let collector = Self::default();
        let spans = collector.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let spans = spans.clone();
                async move {
                    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    EXPORT_CONTENT_TYPES.lock().unwrap().push(content_type.to_string());
                    let Ok(export) = ExportTraceServiceRequest::decode(body) else {
                        return (axum::http::StatusCode::BAD_REQUEST, [("content-type", "text/plain")], Vec::new());
                    };
                    for resource in export.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|a| a.key == "service.name")
                            .and_then(|a| string_value(a.value.as_ref()?))
                            .unwrap_or_default();
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                spans.0.lock().unwrap().push((service.clone(), span));
                            }
                        }
                    }
                    (
                        axum::http::StatusCode::OK,
                        [("content-type", "application/x-protobuf")],
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (collector, url)
    }

    /// The first exported span that `matches`, waiting up to 15 s.
    async fn span(
        &self,
        what: &str,
        matches: impl Fn(&opentelemetry_proto::tonic::trace::v1::Span) -> bool,
    ) -> (String, opentelemetry_proto::tonic::trace::v1::Span) {
        for _ in 0..150 {
            if let Some(found) = self.0.lock().unwrap().iter().find(|(_, s)| matches(s)) {
                return found.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no span {what} reached the collector: {:?}", self.0.lock().unwrap());
    }
}

fn string_value(v: &opentelemetry_proto::tonic::common::v1::AnyValue) -> Option<String> {
    match v.value.as_ref()? {
        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn attribute(span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    span.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()?.value.as_ref()).map(|v| match v {
        V::StringValue(s) => s.clone(),
        V::IntValue(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

/// The server under test, killed if the test fails before stopping it.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The real binary, serving with `OTEL_EXPORTER_OTLP_ENDPOINT` pointed at a collector stand-in
/// (and `extra` settings); answers once `/healthz` does.
async fn serve_traced(extra: &[(&str, &str)]) -> (KillOnDrop, String, Collector, pg_harness::TestDatabase) {
    let (collector, collector_url) = Collector::start().await;
    let mut env: Vec<(&str, &str)> = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector_url),
        // Long enough that only the shutdown's flush can deliver the spans.
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
    ];
    env.extend_from_slice(extra);
    let (server, base, db) = serve(&env).await;
    (server, base, collector, db)
}

/// The real binary, serving with the test settings and `extra`, against a fresh database;
/// answers once `/healthz` does.
async fn serve(extra: &[(&str, &str)]) -> (KillOnDrop, String, pg_harness::TestDatabase) {
    let (db, _admin) = migrated_database().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut env = env_for(&db);
    env.insert("TENANTRY_ADDR".into(), format!("127.0.0.1:{port}"));
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let child = KillOnDrop(Some(
        std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .arg("serve")
            .current_dir(std::env::temp_dir())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts"),
    ));
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status() == 200) {
            return (child, base, db);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server never answered /healthz");
}

/// SIGTERM: the server drains, flushes the batched spans and exits cleanly.
async fn stop(mut server: KillOnDrop) {
    let child = server.0.take().unwrap();
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "clean exit: {}", String::from_utf8_lossy(&out.stderr));
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the real binary exports one `server` span per request
/// over OTLP/HTTP protobuf, flushed on SIGTERM. A caller's `traceparent` is untrusted by default:
/// the request starts a trace of its own, linked to the caller's span.
#[tokio::test]
async fn traces_reach_an_otlp_collector_linked_to_an_untrusted_callers_trace() {
    let (server, base, collector, _db) = serve_traced(&[]).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http
        .get(format!("{base}/api/whoami?q=not-in-the-name"))
        .bearer_auth(token("user_t", Some("org_t")))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("user_t"));
    let r = http.get(format!("{base}/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), 307, "an unknown page needs a sign-in first");
    stop(server).await;

    let (service, span) = collector.span("of /api/whoami", |s| s.name == "GET /api/whoami").await;
    assert_eq!(service, "tenantry");
    assert_ne!(span.trace_id, hex(CALLER_TRACE), "a trace of its own, not the caller's");
    assert!(span.parent_span_id.is_empty(), "a root span: {span:?}");
    assert_eq!(span.links.len(), 1, "{span:?}");
    assert_eq!((&span.links[0].trace_id, &span.links[0].span_id), (&hex(CALLER_TRACE), &hex(CALLER_SPAN)));
    assert_eq!(span.kind, opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server as i32);
    assert_eq!(attribute(&span, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attribute(&span, "http.route").as_deref(), Some("/api/whoami"));
    assert_eq!(attribute(&span, "http.response.status_code").as_deref(), Some("200"));
    assert!(span.end_time_unix_nano > span.start_time_unix_nano);
    assert!(
        !format!("{:?}", span.attributes).contains("not-in-the-name"),
        "the query string is in no attribute: {:?}",
        span.attributes
    );

    let (_, unmatched) = collector.span("of the unknown page", |s| s.name == "GET unmatched").await;
    assert_eq!(attribute(&unmatched, "http.response.status_code").as_deref(), Some("307"));
    assert!(unmatched.links.is_empty() && unmatched.parent_span_id.is_empty());
    assert!(
        EXPORT_CONTENT_TYPES.lock().unwrap().iter().all(|c| c == "application/x-protobuf"),
        "OTLP/HTTP protobuf: {:?}",
        EXPORT_CONTENT_TYPES.lock().unwrap()
    );
}

/// `TENANTRY_TRUST_TRACEPARENT=true` (callers of your own): the caller's span is the parent.
#[tokio::test]
async fn a_trusted_callers_traceparent_is_the_parent() {
    let (server, base, collector, _db) = serve_traced(&[("TENANTRY_TRUST_TRACEPARENT", "true")]).await;
    let r = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    stop(server).await;
    let (_, span) = collector.span("of the caller's trace", |s| s.trace_id == hex(CALLER_TRACE)).await;
    assert_eq!(span.name, "GET /healthz");
    assert_eq!(span.parent_span_id, hex(CALLER_SPAN));
    assert!(span.links.is_empty());
}
