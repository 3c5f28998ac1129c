//! The backend-for-frontend proxy: `/api/proxy/{service}/{*path}`, any method.
//!
//! The browser talks only to Tenantry; Tenantry calls the service named in `TENANTRY_SERVICES`
//! (never a URL from the request) with a short-lived token minted from the service's Clerk JWT
//! template through the Backend API (`CreateSessionTokenFromTemplate`), cached per session,
//! organization and template until shortly before it expires (one Backend API call per token
//! lifetime, single-flight per key); a mint spends the shared Backend API budget (429 `rate_limited`
//! for one session, 503 when the instance-wide allowance is spent) and is counted in the metrics. Method, query and body are forwarded with `Authorization:
//! Bearer <template token>`; the user's cookies, session token and `Authorization`, `Host` and
//! hop-by-hop headers never are, and the service's `Set-Cookie` and hop-by-hop headers are dropped
//! from its answer. The trace context the service sees is Tenantry's own (`traceparent` of the
//! request's span when OpenTelemetry is on, none otherwise): every trace header the client sent
//! is dropped (`telemetry::inject_trace_context`). Bounded: 10 s per call, answers of at most 4 MiB.
//!
//! Errors (JSON, [`AppError`]): unknown service 404 `unknown_service`; a tenant service without an
//! active organization 403 `organization_required`; the template missing at Clerk 502
//! `template_not_configured` naming it; a minted token for another organization than the active
//! one 502 `template_organization_mismatch` (a tenant service never sees another organization);
//! Clerk unreachable 502; the service unreachable 502 `service_unreachable`; too slow 504
//! `service_timeout`; too large 502 `service_response_too_large`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::Response;
use axum::routing::any;
use axum::{Extension, Router};
use clerk::{Auth, BackendApi};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::server::config::ServiceConfig;
use crate::server::error::AppError;
use crate::server::limits::{BackendApiBudget, BudgetSpent};
use crate::server::observability::backend_call;
use crate::server::state::AppState;

/// The longest a service may take to answer (connect included).
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer passed back.
pub const RESPONSE_LIMIT: usize = 4 * 1024 * 1024;
/// A cached token is used until this long before its `exp`.
const REFRESH_MARGIN_SECS: i64 = 15;
/// Past this many keys, expired entries are swept.
const CACHE_SWEEP_AT: usize = 10_000;

/// Headers that describe one connection (RFC 9110 §7.6.1), plus what must never cross the proxy.
const DROPPED: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",
];

type Key = (String, String, String);

struct Cached {
    token: String,
    exp: i64,
}

pub struct Proxy {
    services: HashMap<String, ServiceConfig>,
    api: BackendApi,
    /// Mints are Backend API calls made for requests: they spend the shared budget.
    budget: Arc<BackendApiBudget>,
    http: reqwest::Client,
    tokens: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
}

/// The proxy's route, with its own state (services, Backend API client, token cache).
pub fn routes(state: &AppState) -> Router<AppState> {
    let cfg = &state.config;
    let api = state.clerk.api().cloned();
    let proxy = Proxy::new(
        cfg.services.clone(),
        api.unwrap_or_else(|| BackendApi::new(&cfg.clerk.api_url, cfg.clerk.secret_key.clone())),
        state.backend_api_budget.clone(),
        SERVICE_TIMEOUT,
    );
    Router::new().route("/api/proxy/{service}/{*path}", any(forward)).with_state(Arc::new(proxy))
}

impl Proxy {
    pub fn new(
        services: Vec<ServiceConfig>,
        api: BackendApi,
        budget: Arc<BackendApiBudget>,
        timeout: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Self {
            services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
            api,
            budget,
            http,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The template token for this session (and organization), from the cache or minted.
    async fn token(&self, sid: &str, org: Option<&str>, svc: &ServiceConfig) -> Result<String, AppError> {
        let key = (sid.to_string(), org.unwrap_or("").to_string(), svc.template.clone());
        let slot = {
            let mut map = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= CACHE_SWEEP_AT {
                let now = now_secs();
                map.retain(|_, v| v.try_lock().map_or(true, |c| c.as_ref().is_some_and(|c| c.exp > now)));
            }
            map.entry(key).or_default().clone()
        };
        // One mint per key at a time: concurrent requests wait for it and share the token.
        let mut slot = slot.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| c.exp - REFRESH_MARGIN_SECS > now_secs()) {
            return Ok(c.token.clone());
        }
        self.budget.spend("service-token", sid).map_err(|spent| match spent {
            BudgetSpent::Caller => AppError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", spent.to_string()),
            BudgetSpent::Global => AppError::unavailable(spent),
        })?;
        let call = self.api.session_token(sid, Some(&svc.template), None);
        let minted = backend_call("create_session_token_from_template", call)
            .await
            .ok_or_else(|| AppError::bad_gateway("CreateSessionTokenFromTemplate: no answer in time"))?
            .map_err(|e| match e.status() {
            Some(404) => AppError::new(
                StatusCode::BAD_GATEWAY,
                "template_not_configured",
                format!(
                    "JWT template {:?} (service {:?}) is not configured in Clerk: create it in the Clerk dashboard or fix TENANTRY_SERVICES",
                    svc.template, svc.name
                ),
            )
            .with_cause(e),
            _ => AppError::bad_gateway(e),
        })?;
        let jwt = clerk::verify::decode_jwt(&minted.jwt).map_err(AppError::bad_gateway)?;
        if svc.tenant {
            let payload = jwt.payload();
            let minted_org = payload["org_id"].as_str().or_else(|| payload["o"]["id"].as_str());
            if minted_org != org {
                return Err(AppError::new(
                    StatusCode::BAD_GATEWAY,
                    "template_organization_mismatch",
                    format!(
                        "the token minted from JWT template {:?} does not carry the active organization: the template needs \"org_id\": \"{{{{org.id}}}}\"",
                        svc.template
                    ),
                ));
            }
        }
        let exp = jwt.time_claim("exp").unwrap_or(0);
        *slot = Some(Cached { token: minted.jwt.clone(), exp });
        Ok(minted.jwt)
    }
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    Path((service, path)): Path<(String, String)>,
    auth: Option<Extension<Auth>>,
    req: Request,
) -> Result<Response, AppError> {
    let svc = proxy
        .services
        .get(&service)
        .ok_or_else(|| AppError::not_found("unknown_service", format!("no service named {service:?}")))?;
    let Some(Extension(auth)) = auth else {
        return Err(AppError::unauthenticated("session-token-and-uat-missing"));
    };
    if auth.is_pending() {
        return Err(AppError::session_pending());
    }
    // The route gate refuses these first; the proxy forwards identities, so it checks itself.
    if crate::server::tenant::names_an_empty_id(&auth) {
        return Err(AppError::empty_id());
    }
    let Some(sid) = auth.session_id.as_deref() else {
        return Err(AppError::unauthenticated("session-id-missing"));
    };
    let org = auth.org_id();
    if svc.tenant && org.is_none() {
        return Err(AppError::forbidden(
            "organization_required",
            format!("service {:?} needs an active organization", svc.name),
        ));
    }
    if path.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(AppError::bad_request("invalid_path", "dot segments are not allowed in a proxied path"));
    }
    let token = proxy.token(sid, org, svc).await?;

    let (parts, body) = req.into_parts();
    let mut url = format!("{}/{}", svc.url, path);
    if let Some(q) = parts.uri.query() {
        url.push('?');
        url.push_str(q);
    }
    let mut headers = forwardable(&parts.headers);
    headers.remove(header::COOKIE);
    crate::server::telemetry::inject_trace_context(&mut headers);
    headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().map_err(AppError::internal)?);
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| AppError::bad_request("body_unreadable", e.to_string()))?;
    let sent = proxy.http.request(parts.method, &url).headers(headers).body(body).send().await;
    let mut upstream = sent.map_err(|e| upstream_error(&svc.name, e))?;

    let status = upstream.status();
    let mut out_headers = forwardable(upstream.headers());
    out_headers.remove(header::SET_COOKIE);
    if upstream.content_length().is_some_and(|n| n > RESPONSE_LIMIT as u64) {
        return Err(too_large(&svc.name));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = upstream.chunk().await.map_err(|e| upstream_error(&svc.name, e))? {
        if bytes.len() + chunk.len() > RESPONSE_LIMIT {
            return Err(too_large(&svc.name));
        }
        bytes.extend_from_slice(&chunk);
    }
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    *resp.headers_mut() = out_headers;
    Ok(resp)
}

/// The headers that may cross the proxy: hop-by-hop ones (and those `Connection` names),
/// credentials, `Host` and `Content-Length` (recomputed) removed.
fn forwardable(h: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(h.len());
    for (name, value) in h {
        let n = name.as_str();
        if DROPPED.contains(&n) || named.iter().any(|c| c == n) {
            continue;
        }
        out.append(HeaderName::clone(name), value.clone());
    }
    out
}

fn upstream_error(service: &str, e: reqwest::Error) -> AppError {
    if e.is_timeout() {
        AppError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "service_timeout",
            format!("service {service:?} did not answer in time"),
        )
        .with_cause(e)
    } else {
        AppError::new(StatusCode::BAD_GATEWAY, "service_unreachable", format!("service {service:?} is unreachable"))
            .with_cause(e)
    }
}

fn too_large(service: &str) -> AppError {
    AppError::new(
        StatusCode::BAD_GATEWAY,
        "service_response_too_large",
        format!("service {service:?} answered more than {RESPONSE_LIMIT} bytes"),
    )
}
