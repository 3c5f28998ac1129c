//! Response hardening and what the app believes about how a request reached it.
//!
//! - [`header_limits`]: at most [`MAX_HEADERS`] headers of [`MAX_HEADER_BYTES`] together.
//! - [`forwarded_headers`]: `X-Forwarded-Host` / `X-Forwarded-Proto` / `Forwarded` change the
//!   URL the app thinks it serves (handshake redirects, the CSRF origin check, cookie `Secure`).
//!   They are honoured only behind a proxy the operator names (`TENANTRY_TRUST_PROXY=true`);
//!   otherwise they are removed before anything reads them. A trusted proxy's scheme must be
//!   `http` or `https`.
//! - [`security_headers`]: `X-Content-Type-Options`, `Referrer-Policy`, framing refused, HSTS on
//!   https, and a Content-Security-Policy for HTML: [`page_csp`] for a page the shell rendered
//!   with the request's [`PageNonce`], a strict one (no scripts) for any other.
//! - [`page_csp`]: the Leptos pages' policy, with the per-response nonce the page puts on its
//!   own scripts (the islands loader, streamed data) and on the session keeper.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use super::state::AppState;

/// At most this many request headers (hyper's own limit is 100; said here so it is ours).
pub const MAX_HEADERS: usize = 100;
/// At most this many bytes of header names and values together: room for a full set of Clerk
/// cookies (a few KB) many times over, and a bound on what every later step reads.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// 431 for a request with more headers, or more header bytes, than any browser sends, before
/// anything parses them (cookies above all: see `clerk`'s cookie reader).
pub async fn header_limits(req: Request, next: Next) -> Response {
    let h = req.headers();
    let bytes: usize = h.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if h.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        tracing::warn!(headers = h.len(), bytes, "request headers over the limit");
        return AppError::new(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("request headers are limited to {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}

const FORWARDED: [&str; 4] = ["forwarded", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port"];

/// Drops forwarded headers unless the proxy in front is trusted; refuses a trusted proxy's
/// scheme other than `http`/`https` (400), since every URL the app builds would be wrong.
pub async fn forwarded_headers(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let h = req.headers_mut();
    if !state.config.trust_proxy {
        for name in FORWARDED {
            h.remove(name);
        }
        return next.run(req).await;
    }
    let proto = h.get("x-forwarded-proto").map(|v| v.to_str().map(|s| s.split(',').next().unwrap_or("").trim()));
    match proto {
        None | Some(Ok("http" | "https")) => next.run(req).await,
        Some(_) => {
            AppError::bad_request("bad_forwarded_proto", "X-Forwarded-Proto must be http or https").into_response()
        }
    }
}

/// Whether the browser talks to us over https (directly, or through a trusted proxy).
fn is_https(req_headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    uri.scheme_str() == Some("https")
        || req_headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.split(',').next().is_some_and(|p| p.trim() == "https"))
}

/// The nonce of a page's scripts, chosen for each `GET` and `HEAD` before anything renders and
/// kept in the request's extensions: the shell gives it to the page ([`use_page_nonce`]) and
/// [`security_headers`] names it in the policy. The policy used to be set from the shell through
/// Leptos's `ResponseOptions`, with Leptos's own nonce: in the browser tests it was missing from
/// about half of the `SsrMode::Async` pages' responses (we did not find why), and the strict
/// policy then blocked their scripts.
#[derive(Clone)]
pub struct PageNonce {
    nonce: leptos::nonce::Nonce,
    /// Set by the shell: this response is a page that carries the nonce.
    rendered: Arc<AtomicBool>,
}

/// Gives the page being rendered its request's [`PageNonce`] (called from the shell, on the
/// server): its scripts carry it, and its response gets [`page_csp`]. Without one (a request
/// other than `GET`/`HEAD`, or a render outside [`security_headers`]) Leptos keeps its own nonce
/// and the response gets the strict policy.
pub fn use_page_nonce() {
    use leptos::prelude::{provide_context, use_context};
    let Some(page) = use_context::<axum::http::request::Parts>().and_then(|p| p.extensions.get::<PageNonce>().cloned())
    else {
        return;
    };
    page.rendered.store(true, Ordering::Release);
    provide_context(page.nonce);
}

/// The headers every response carries. HTML gets a Content-Security-Policy: [`page_csp`] with
/// its nonce if the shell rendered it, otherwise a strict one.
pub async fn security_headers(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let https = is_https(req.headers(), req.uri());
    let page = matches!(*req.method(), Method::GET | Method::HEAD).then(|| {
        let page = PageNonce { nonce: leptos::nonce::Nonce::new(), rendered: Arc::default() };
        req.extensions_mut().insert(page.clone());
        page
    });
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    let html = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html"));
    if html && !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = page
            .filter(|p| p.rendered.load(Ordering::Acquire))
            .and_then(|p| HeaderValue::from_str(&page_policy(&state, &p.nonce)).ok())
            .unwrap_or(HeaderValue::from_static(
                "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ));
        h.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    resp
}

/// [`page_csp`] for this app: Clerk's Frontend API, and in development `cargo leptos watch`'s
/// reload websocket.
fn page_policy(state: &AppState, nonce: &str) -> String {
    let options = &state.leptos_options;
    let reload = (options.env == leptos::config::Env::DEV)
        .then(|| format!("ws://{}:{}", options.site_addr.ip(), options.reload_port));
    page_csp(nonce, state.config.clerk.frontend_api_origin().as_deref(), reload.as_deref())
}

/// The Content-Security-Policy of a Leptos page whose scripts carry `nonce`: only those scripts
/// (and what they load) run, wasm may compile, the session keeper may call Clerk's Frontend API,
/// and forms may lead there (organization activation is a redirect through it).
pub fn page_csp(nonce: &str, frontend_api_origin: Option<&str>, reload_ws: Option<&str>) -> String {
    let fapi = frontend_api_origin.map(|o| format!(" {o}")).unwrap_or_default();
    let reload = reload_ws.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data: https:; connect-src 'self'{fapi}{reload}; \
         form-action 'self'{fapi}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// `Authorization: Bearer <token>`, the scheme as the SDK's `parseAuthorizationHeader` matches
/// it (case-sensitive). Anything else is checked as a cookie request (fail closed).
pub fn has_bearer_token(h: &axum::http::HeaderMap) -> bool {
    h.get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start_matches([' ', '\t']).strip_prefix("Bearer "))
        .is_some_and(|t| !t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_names_only_the_nonce_and_clerk() {
        let csp = page_csp("abc", Some("https://clerk.example.com"), None);
        assert!(csp.contains("script-src 'nonce-abc' 'strict-dynamic' 'wasm-unsafe-eval';"), "{csp}");
        assert!(csp.contains("connect-src 'self' https://clerk.example.com;"), "{csp}");
        assert!(csp.contains("form-action 'self' https://clerk.example.com;"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    }
}
