//! axum integration: a middleware that runs `authenticate_request` on every request, and
//! extractors for handlers.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

use crate::claims::Auth;
use crate::request::{is_handshake_eligible, AuthStatus, AuthenticateError, Clerk, RequestState};

/// What the middleware decided, in request extensions.
#[derive(Debug, Clone)]
pub struct ClerkState(pub Arc<RequestState>);

/// Runs `authenticate_request`. A state with a `Location` (handshake, dev clean URL) is answered
/// here with `307`; otherwise the request continues with [`ClerkState`] (and [`Auth`] when signed
/// in) in its extensions, and the state's headers (cookies, debug headers) are added to the
/// response. Signed-out requests are not rejected here: routes decide (see [`RequireAuth`]).
pub async fn clerk_middleware(State(clerk): State<Clerk>, req: Request, next: Next) -> Response {
    authenticate(&clerk, req, next, authentication_failed).await
}

/// What to answer when `authenticate_request` refuses to decide (where the SDK throws): given
/// the request and the error, an application renders its own page or JSON.
pub type ErrorResponder = fn(&Parts, &AuthenticateError) -> Response;

/// [`clerk_middleware`] with the application's own answer to a refusal to decide.
pub async fn authenticate(clerk: &Clerk, req: Request, next: Next, on_error: ErrorResponder) -> Response {
    let (mut parts, body) = req.into_parts();
    let state = match clerk.authenticate_request(&parts).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "Clerk authentication failed");
            return on_error(&parts, &e);
        }
    };
    if state.location().is_some() {
        let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
        append_headers(resp.headers_mut(), &state.headers);
        return resp;
    }
    if state.status == AuthStatus::SignedOut {
        tracing::debug!(reason = state.reason.as_deref().unwrap_or(""), "signed out");
    }
    let headers = state.headers.clone();
    if let Some(auth) = state.to_auth() {
        parts.extensions.insert(auth.clone());
    }
    parts.extensions.insert(ClerkState(Arc::new(state)));
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    append_headers(resp.headers_mut(), &headers);
    resp
}

/// A 500 for a request the SDK refuses to decide. A development handshake that cannot be
/// verified carries the SDK's guidance for the developer (clear cookies after switching keys):
/// as an HTML page for a browser navigation, as JSON `{error, reason:
/// "handshake-verification-failed", message}` otherwise. A spent handshake budget is a 503 with
/// `Retry-After`. Other refusals say nothing more.
pub fn authentication_failed(parts: &Parts, e: &AuthenticateError) -> Response {
    if let Some(retry_after) = e.retry_after() {
        let body = serde_json::json!({"error": "authentication temporarily unavailable", "reason": "handshake-budget-exhausted"});
        let mut resp = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        let secs = crate::request::retry_after_secs(&retry_after);
        resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        return resp;
    }
    let AuthenticateError::HandshakeInDevelopment(_) = e else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({"error": "authentication failed", "reason": "unexpected-error"})),
        )
            .into_response();
    };
    let message = e.to_string();
    let mut resp = if is_handshake_eligible(&parts.method, &parts.headers) {
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Clerk: handshake failed</title></head>\
             <body><h1>Clerk could not verify the handshake</h1><p>{}</p></body></html>",
            html_escape(&message)
        );
        (StatusCode::INTERNAL_SERVER_ERROR, Html(page)).into_response()
    } else {
        let body = serde_json::json!({"error": "authentication failed", "reason": "handshake-verification-failed", "message": message});
        (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
    };
    // Never cache it: the next request, with cookies cleared, must be decided afresh.
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn append_headers(dst: &mut HeaderMap, src: &HeaderMap) {
    for (name, value) in src.iter() {
        if name == header::SET_COOKIE {
            dst.append(name.clone(), value.clone());
        } else {
            dst.insert(name.clone(), value.clone());
        }
    }
}

/// A 401 JSON answer carrying Clerk's status and reason. A pending session (signed in, a task
/// left; the SDK's status has no reason) answers reason `session-pending` and its
/// `sessionStatus`, so a client can send the user to the task instead of to sign-in.
pub fn unauthorized(state: Option<&RequestState>) -> Response {
    let pending = state.is_some_and(RequestState::is_pending);
    let reason = if pending {
        "session-pending".to_string()
    } else {
        state.and_then(|s| s.reason.clone()).unwrap_or_else(|| "session-token-and-uat-missing".into())
    };
    let mut body = serde_json::json!({"error": "unauthenticated", "reason": reason});
    if pending {
        body["sessionStatus"] = "pending".into();
    }
    let mut resp = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert("x-clerk-auth-status", header::HeaderValue::from_static("signed-out"));
    if let Ok(v) = header::HeaderValue::from_str(&reason) {
        h.insert("x-clerk-auth-reason", v);
    }
    resp
}

/// Extracts the signed-in [`Auth`], or answers 401 JSON.
#[derive(Debug, Clone)]
pub struct RequireAuth(pub Auth);

impl<S: Send + Sync> FromRequestParts<S> for RequireAuth {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Auth>() {
            Some(a) => Ok(RequireAuth(a.clone())),
            None => Err(unauthorized(parts.extensions.get::<ClerkState>().map(|s| s.0.as_ref()))),
        }
    }
}

/// Extracts the [`Auth`] if signed in.
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Auth>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuth {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuth(parts.extensions.get::<Auth>().cloned()))
    }
}
