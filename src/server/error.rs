//! The one error type at the HTTP boundary (the shape of launchbadge's realworld-axum-sqlx).
//!
//! Every refusal a plain axum route or middleware gives is an [`AppError`]: a status, a stable
//! machine-readable `code`, a message safe to show, and optionally Clerk's `reason` and the
//! `x-clerk-auth-*` headers. 5xx are logged with their cause and answered with a generic message
//! (the cause is never echoed); 4xx say precisely what was wrong. JSON by default; pages that a
//! browser navigates to render the same error as HTML through [`AppError::into_page`].
//!
//! Body: `{"error": <message>, "code": <code>, "reason"?: <detail>, "request_id"?: <x-request-id>}`.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::borrow::Cow;

use super::tenant::NoTenant;

/// The reason (the body's `reason`, and the REST API's problem and `x-clerk-auth-reason`) of a
/// verified session token naming an empty user or organization id: the app's own, not one of
/// the SDK's, as the SDK accepts such a token.
pub const EMPTY_ID_REASON: &str = "session-identity-empty";

#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    /// A precise, safe detail for 4xx (Clerk's reason, the webhook check that failed).
    reason: Option<String>,
    /// What went wrong behind a 5xx: logged, never sent.
    cause: Option<String>,
    headers: HeaderMap,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, code, message: message.into(), reason: None, cause: None, headers: HeaderMap::new() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 401 for a request without a valid session, carrying Clerk's status and reason in the body
    /// and in the `x-clerk-auth-status` / `x-clerk-auth-reason` headers (as the SDK's debug
    /// headers do), so a client can tell an expired token from a missing one.
    pub fn unauthenticated(reason: &str) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "unauthenticated").with_reason(reason);
        e.headers.insert("x-clerk-auth-status", HeaderValue::from_static("signed-out"));
        if let Ok(v) = HeaderValue::from_str(reason) {
            e.headers.insert("x-clerk-auth-reason", v);
        }
        e
    }

    /// 401 for a session that is signed in but `pending` (a session task, here Clerk's
    /// `choose-organization`, is left): clients send the user to `/select-org`, not to sign-in.
    pub fn session_pending() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "session_pending",
            "the session has a task left: choose an organization at /select-org",
        )
        .with_reason("session-pending");
        e.headers.insert("x-clerk-auth-reason", HeaderValue::from_static("session-pending"));
        e
    }

    /// 401 for a verified session token that names an empty user or organization id
    /// (`tenant::NoTenant::EmptyId`): not Clerk's signed-out answer (the SDK accepted the
    /// token), so no `x-clerk-auth-status`; the body's reason is [`EMPTY_ID_REASON`].
    pub fn empty_id() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "session_identity_empty", NoTenant::EmptyId.to_string())
            .with_reason(EMPTY_ID_REASON)
    }

    /// 503: a dependency (the database, Clerk) is down; the client may retry.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "service temporarily unavailable").with_cause(cause)
    }
    /// 502: Clerk's Backend API failed us.
    pub fn bad_gateway(cause: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "identity_provider_unavailable", "identity provider unavailable")
            .with_cause(cause)
    }
    /// 500: a bug or an unexpected state.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error").with_cause(cause)
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    pub fn with_cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn code(&self) -> &'static str {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }

    fn log(&self) {
        if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                code = self.code,
                cause = self.cause.as_deref(),
                "request failed"
            );
        } else {
            tracing::info!(
                status = self.status.as_u16(),
                code = self.code,
                reason = self.reason.as_deref(),
                message = %self.message,
                "request refused"
            );
        }
    }

    fn finish(self, mut resp: Response) -> Response {
        let h = resp.headers_mut();
        for (name, value) in self.headers {
            if let Some(name) = name {
                h.insert(name, value);
            }
        }
        // Errors are about this request and this session: never cached.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    /// The same error as a small HTML page, for requests a browser navigates to (forms posted
    /// without JavaScript). `retry` adds a form that posts to that path again.
    pub fn into_page(self, title: &str, retry: Option<(&str, &str)>) -> Response {
        self.log();
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let retry = retry
            .map(|(action, label)| {
                format!(
                    r#"<form method="post" action="{}" class="mt-8"><button type="submit" class="rounded-md bg-indigo-600 px-4 py-2 font-medium text-white">{}</button></form>"#,
                    esc(action),
                    esc(label)
                )
            })
            .unwrap_or_default();
        let page = format!(
            r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title} · Tenantry</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/pkg/tenantry.css"></head>
<body class="bg-slate-50 text-slate-900"><main class="mx-auto max-w-xl px-6 py-24">
<h1 class="text-2xl font-semibold">{title}</h1>
<p role="alert" class="mt-4 text-slate-700">{message}</p>
{retry}
</main></body></html>"#,
            title = esc(title),
            message = esc(&self.message),
        );
        let resp = (self.status, Html(page)).into_response();
        self.finish(resp)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for AppError {}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let mut body = json!({ "error": self.message, "code": self.code });
        if let Some(reason) = &self.reason {
            body["reason"] = json!(reason);
        }
        // The id in the logs (and in `x-request-id`), for a user to quote to support.
        if let Some(id) = super::telemetry::request_id() {
            body["request_id"] = json!(id);
        }
        let resp = (self.status, Json(body)).into_response();
        self.finish(resp)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        // The database is down, saturated or too slow: retryable.
        if super::db::is_unavailable(&e) {
            Self::unavailable(e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<clerk::bapi::ApiError> for AppError {
    fn from(e: clerk::bapi::ApiError) -> Self {
        Self::bad_gateway(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> (StatusCode, HeaderMap, serde_json::Value) {
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn server_errors_never_echo_their_cause() {
        let (status, headers, body) =
            body(AppError::internal("password authentication failed for user tenantry_app").into_response()).await;
        assert_eq!(status, 500);
        assert_eq!(body, json!({"error": "internal server error", "code": "internal"}));
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    }

    #[tokio::test]
    async fn refusals_say_what_was_wrong() {
        let (status, headers, body) = body(AppError::unauthenticated("token-expired").into_response()).await;
        assert_eq!(status, 401);
        assert_eq!(body, json!({"error": "unauthenticated", "code": "unauthenticated", "reason": "token-expired"}));
        assert_eq!(headers["x-clerk-auth-status"], "signed-out");
        assert_eq!(headers["x-clerk-auth-reason"], "token-expired");
    }

    #[tokio::test]
    async fn pages_escape_the_message() {
        let resp = AppError::bad_request("x", "<script>").into_page("Oops", Some(("/a\"b", "Again")));
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let html = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
        assert!(html.contains(r#"action="/a&quot;b""#), "{html}");
    }

    #[test]
    fn database_outages_are_retryable() {
        assert_eq!(AppError::from(sqlx::Error::PoolTimedOut).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(AppError::from(sqlx::Error::RowNotFound).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
