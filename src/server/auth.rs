//! Authentication wiring: the Clerk client built from config, the route gate in front of every
//! page and API, and the CSRF check for cookie-authenticated writes.

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use clerk::axum::ClerkState;
use clerk::request::{is_handshake_eligible, AuthenticateError};
use clerk::{Auth, BackendApi, Clerk, ClerkOptions, JwksCache, JwksPolicy, KeySource, VerifyOptions};
use std::sync::Arc;

use super::config::ClerkConfig;
use super::error::AppError;
use super::routes::v1;
use super::security::has_bearer_token;
use super::tenant::names_an_empty_id;

pub fn build_clerk(cfg: &ClerkConfig) -> Clerk {
    let api = BackendApi::new(&cfg.api_url, cfg.secret_key.clone());
    let keys = cfg
        .jwt_key
        .clone()
        .unwrap_or_else(|| KeySource::Remote(Arc::new(JwksCache::new(api.clone(), JwksPolicy::default()))));
    Clerk::new(ClerkOptions {
        publishable_key: cfg.publishable_key.clone(),
        secret_key: cfg.secret_key.clone(),
        keys,
        api: Some(api),
        proxy_url: cfg.proxy_url.clone(),
        verify: VerifyOptions { authorized_parties: cfg.authorized_parties.clone(), ..Default::default() },
        organization_sync: None,
        satellite: None,
    })
    .with_verified_signature_capacity(cfg.verified_signatures)
}

/// The Clerk layer: `authenticate_request` on every gated request (see `clerk::axum`), with
/// this app's answer where the SDK would throw.
pub async fn clerk_layer(State(clerk): State<Clerk>, req: Request, next: Next) -> Response {
    let resp = clerk::axum::authenticate(&clerk, req, next, authentication_failed).await;
    // Only a handshake redirect carries `x-clerk-auth-status: handshake` (the SDK's debug headers).
    if resp.headers().get("x-clerk-auth-status").is_some_and(|v| v == "handshake") {
        let reason = resp.headers().get("x-clerk-auth-reason").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        metrics::counter!("tenantry_handshake_redirects_total", "reason" => reason).increment(1);
    }
    resp
}

const CLEAR_COOKIES: &str = "If you have switched Clerk keys locally (or this browser holds cookies of another Clerk instance), clear your cookies for this site and try again.";

/// A request Clerk's protocol refuses to decide: 500, as the SDK throws. On a development
/// instance an invalid handshake token usually means the keys changed under the browser's
/// cookies; the SDK's message says to clear them, and a person in a browser gets it as a page
/// (a navigation, as the SDK's `isRequestEligibleForHandshake` tells them apart).
fn authentication_failed(parts: &Parts, e: &AuthenticateError) -> Response {
    let error = match e {
        AuthenticateError::HandshakeInDevelopment(_) => {
            // The SDK's words, and what to do whatever the token's fault was.
            let sdk = e.to_string();
            let message = if sdk.contains("clear your cookies") { sdk } else { format!("{sdk} {CLEAR_COOKIES}") };
            AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "handshake_invalid_in_development", message)
                .with_reason("handshake-verification-failed")
        }
        // Too many handshake payload fetches (Clerk rate-limits the instance): retry shortly.
        AuthenticateError::HandshakeBudgetExhausted { .. } => {
            let secs = e.retry_after().map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64);
            AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "handshake_busy",
                "sign-in is busy; please retry in a moment",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
        }
        _ => AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "authentication_failed", "authentication failed")
            .with_reason("unexpected-error"),
    }
    .with_cause(e);
    if is_handshake_eligible(&parts.method, &parts.headers) {
        error.into_page("Sign-in could not be checked", None)
    } else {
        error.into_response()
    }
}

/// What a path needs before it may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// JSON APIs: 401 instead of redirects.
    Api,
    /// REST API v1: Bearer tokens only, refused in its own RFC 9457 words (`routes::v1`).
    BearerApi,
    /// Pages for any signed-in user (`/select-org`).
    SignedIn,
    /// The tenant workspace: signed in with an active organization.
    Tenant,
}

pub fn access_for(path: &str) -> Access {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if path == "/"
        || path.starts_with("/sign-in")
        || path.starts_with("/sign-up")
        || path == "/sign-out"
        || path.starts_with("/api/webhooks")
        || path == "/api/public"
        || path == "/api/v1/openapi.json"
        || path == "/healthz"
        || path == "/readyz"
        || under("/pkg")
        || under("/assets")
        || path == "/favicon.ico"
    {
        Access::Public
    } else if under("/api/v1") {
        Access::BearerApi
    } else if under("/api") {
        Access::Api
    } else if under("/app") {
        Access::Tenant
    } else {
        Access::SignedIn
    }
}

/// Route gate, after the Clerk middleware and before Leptos: a redirect decided inside a view
/// would still render the page into the body, so it is decided here.
pub async fn route_gate(req: Request, next: Next) -> Response {
    // Clerk's decision for every request that reached the gate, by status and reason (a fixed
    // vocabulary of the SDK's, never request input).
    if let Some(ClerkState(state)) = req.extensions().get::<ClerkState>() {
        let reason = state.reason.clone().unwrap_or_default();
        metrics::counter!("tenantry_auth_outcomes_total", "status" => state.status.as_str(), "reason" => reason)
            .increment(1);
    }
    let access = access_for(req.uri().path());
    if access == Access::Public {
        return next.run(req).await;
    }
    // REST API v1 refuses in its own words (problem+json), here as in its router (so a route
    // added under /api/v1 outside that router is gated all the same).
    if access == Access::BearerApi {
        return match v1::bearer_refusal(&req) {
            Some(problem) => problem.into_response(),
            None => next.run(req).await,
        };
    }
    let auth = req.extensions().get::<Auth>();
    // Ids Clerk never mints (empty) are refused before any handler could scope to them.
    let any_auth = auth.or_else(|| req.extensions().get::<ClerkState>().and_then(|s| s.0.auth_including_pending()));
    if let Some(a) = any_auth.filter(|a| names_an_empty_id(a)) {
        tracing::warn!(user = %a.user_id, org = ?a.org_id(), "verified token names an empty id: refused");
        let error = AppError::empty_id();
        return if access == Access::Api || req.method() != Method::GET {
            error.into_response()
        } else {
            error.into_page("Sign-in could not be checked", None)
        };
    }
    let Some(auth) = auth else {
        // Signed in with a task left (Clerk's `choose-organization`): never sent to sign-in.
        // The task page (/select-org, the signed-in pages) works; the workspace leads there;
        // APIs say the session is pending.
        if req.extensions().get::<ClerkState>().is_some_and(|s| s.0.is_pending()) {
            return match access {
                Access::SignedIn => no_store(next.run(req).await),
                Access::Tenant if req.method() == Method::GET => to_task_page(&req),
                _ => AppError::session_pending().into_response(),
            };
        }
        if access == Access::Api || req.method() != Method::GET {
            let reason = req.extensions().get::<ClerkState>().and_then(|s| s.0.reason.clone());
            return AppError::unauthenticated(reason.as_deref().unwrap_or("session-token-and-uat-missing"))
                .into_response();
        }
        let back = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = format!(
            "/sign-in?{}",
            form_urlencoded::Serializer::new(String::new()).append_pair("redirect_url", back).finish()
        );
        return no_store(Redirect::temporary(&target).into_response());
    };
    if access == Access::Tenant && auth.org.is_none() {
        return to_task_page(&req);
    }
    let mut resp = next.run(req).await;
    // Private pages must not be served from the back/forward cache after sign-out.
    if access != Access::Api {
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// `/select-org`, remembering where the user was going.
fn to_task_page(req: &Request) -> Response {
    let back = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/app/dashboard");
    let target = format!(
        "/select-org?{}",
        form_urlencoded::Serializer::new(String::new()).append_pair("redirect_url", back).finish()
    );
    no_store(Redirect::temporary(&target).into_response())
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Cookie-authenticated writes must show they come from this site (`Sec-Fetch-Site`, else
/// `Origin`, which browsers send on every POST); from another site, or with neither header, they
/// are refused (alongside SameSite cookies). Only a Bearer token replaces the cookie (it is
/// what Clerk reads first, and a browser never attaches one by itself); any other
/// `Authorization` scheme leaves the cookie as the credential, so the request is checked.
pub async fn csrf_guard(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // REST API v1 never reads cookies (its gate refuses a request without a Bearer token), so
    // it has no cross-site surface to check, and its refusals stay problem+json.
    if access_for(req.uri().path()) == Access::BearerApi {
        return next.run(req).await;
    }
    let ambient = req.headers().contains_key(header::COOKIE) && !has_bearer_token(req.headers());
    if safe || !ambient {
        return next.run(req).await;
    }
    let h = req.headers();
    let refused = match h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            Some("null") => true,
            Some(origin) => {
                let url = Clerk::request_url(req.uri(), h);
                origin.trim_end_matches('/') != url.origin().ascii_serialization()
            }
            None => true,
        },
    };
    if refused {
        tracing::warn!(path = %req.uri().path(), "cross-site write refused");
        return AppError::forbidden("cross_site", "cross-site request refused").into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_classes() {
        for p in [
            "/",
            "/sign-in",
            "/sign-in/factor",
            "/sign-up",
            "/api/webhooks/clerk",
            "/api/public",
            "/healthz",
            "/readyz",
            "/pkg/tenantry.js",
            "/assets/session-keeper.0123456789abcdef.js",
            "/sign-out",
            "/api/v1/openapi.json",
        ] {
            assert_eq!(access_for(p), Access::Public, "{p}");
        }
        for p in ["/api/whoami", "/api/profile", "/api/list_projects", "/api/v1x", "/api/v"] {
            assert_eq!(access_for(p), Access::Api, "{p}");
        }
        for p in ["/api/v1", "/api/v1/me", "/api/v1/projects/1", "/api/v1/openapi.jsonx"] {
            assert_eq!(access_for(p), Access::BearerApi, "{p}");
        }
        for p in ["/app", "/app/dashboard", "/app/projects/1"] {
            assert_eq!(access_for(p), Access::Tenant, "{p}");
        }
        for p in ["/select-org", "/application", "/apipublic", "/pkgx"] {
            assert_eq!(access_for(p), Access::SignedIn, "{p}");
        }
    }
}
