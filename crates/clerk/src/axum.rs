//! axum integration: a middleware that runs `authenticate_request` on every request, and
//! extractors for handlers.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

use crate::claims::Auth;
use crate::request::{AuthStatus, AuthenticateError, Clerk, RequestState};

/// What the middleware decided, in request extensions.
#[derive(Debug, Clone)]
pub struct ClerkState(pub Arc<RequestState>);

/// Runs `authenticate_request`. A state with a `Location` (handshake, dev clean URL) is answered
/// here with `307`; otherwise the request continues with [`ClerkState`] (and [`Auth`] when signed
/// in) in its extensions, and the state's headers (cookies, debug headers) are added to the
/// response. Signed-out requests are not rejected here: routes decide (see [`RequireAuth`]).
pub async fn clerk_middleware(State(clerk): State<Clerk>, req: Request, next: Next) -> Response {
    authenticate(&clerk, req, next, default_error_response).await
}

/// What to answer when `authenticate_request` refuses to decide (where the SDK throws):
/// given the request and the error, an application renders its own page or JSON.
pub type ErrorResponder = fn(&Parts, &AuthenticateError) -> Response;

/// A bare 500 JSON `{"error": "authentication failed", "reason": "unexpected-error"}`.
pub fn default_error_response(_: &Parts, e: &AuthenticateError) -> Response {
    tracing::error!(error = %e, "Clerk authentication failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"error": "authentication failed", "reason": "unexpected-error"})),
    )
        .into_response()
}

/// [`clerk_middleware`] with the application's own answer to a refusal to decide.
pub async fn authenticate(clerk: &Clerk, req: Request, next: Next, on_error: ErrorResponder) -> Response {
    let (mut parts, body) = req.into_parts();
    let state = match clerk.authenticate_request(&parts).await {
        Ok(s) => s,
        Err(e) => return on_error(&parts, &e),
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

fn append_headers(dst: &mut HeaderMap, src: &HeaderMap) {
    for (name, value) in src.iter() {
        if name == header::SET_COOKIE {
            dst.append(name.clone(), value.clone());
        } else {
            dst.insert(name.clone(), value.clone());
        }
    }
}

/// A 401 JSON answer carrying Clerk's status and reason.
pub fn unauthorized(state: Option<&RequestState>) -> Response {
    let reason = state.and_then(|s| s.reason.clone()).unwrap_or_else(|| "session-token-and-uat-missing".into());
    let mut resp = (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"error": "unauthenticated", "reason": reason})))
        .into_response();
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
