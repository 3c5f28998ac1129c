//! `/sign-in`, `/sign-up` (to the configured Clerk pages, with a way back) and `POST /sign-out`.

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use clerk::axum::MaybeAuth;
use clerk::Clerk;
use serde::Deserialize;

use crate::server::startup::AppState;

#[derive(Debug, Deserialize)]
pub struct Back {
    redirect_url: Option<String>,
}

/// Only paths on this site are followed back (no open redirect).
pub fn safe_return_path(candidate: Option<&str>, default: &str) -> String {
    match candidate {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") && !p.contains(['\r', '\n']) => {
            p.to_string()
        }
        _ => default.to_string(),
    }
}

fn to_clerk_page(page: &str, parts: &Parts, back: &Back) -> Response {
    let origin = Clerk::request_url(&parts.uri, &parts.headers).origin().ascii_serialization();
    let path = safe_return_path(back.redirect_url.as_deref(), "/select-org");
    let mut target = url::Url::parse(page).expect("validated at startup");
    target.query_pairs_mut().append_pair("redirect_url", &format!("{origin}{path}"));
    let mut resp = Redirect::temporary(target.as_str()).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub async fn sign_in(State(state): State<AppState>, Query(back): Query<Back>, parts: Parts) -> Response {
    to_clerk_page(&state.config.clerk.sign_in_url, &parts, &back)
}

pub async fn sign_up(State(state): State<AppState>, Query(back): Query<Back>, parts: Parts) -> Response {
    to_clerk_page(&state.config.clerk.sign_up_url, &parts, &back)
}

/// Ends the session at Clerk, then clears the session cookies and goes home. The session comes
/// from the verified token, expired or not: a 60-second token has often expired by the time
/// someone signs out, and the Clerk session behind it must end all the same. When Clerk cannot
/// be reached, nothing is cleared and the page says so: a sign-out that only forgets the local
/// cookies would be signed straight back in by Clerk.
pub async fn sign_out(State(state): State<AppState>, MaybeAuth(auth): MaybeAuth, parts: Parts) -> Response {
    let sid = match auth.and_then(|a| a.session_id) {
        Some(sid) => Some(sid),
        None => state.clerk.session_to_end(&parts).await,
    };
    if let (Some(sid), Some(api)) = (sid, state.clerk.api()) {
        match api.revoke_session(&sid).await {
            Ok(_) => tracing::info!(session = %sid, "session revoked at Clerk"),
            // Already ended or unknown to Clerk: nothing left to end.
            Err(e) if matches!(e.status(), Some(400 | 404 | 410)) => {
                tracing::info!(session = %sid, error = %e, "session already ended at Clerk");
            }
            Err(e) => {
                tracing::error!(session = %sid, error = %e, "sign-out: could not revoke the session at Clerk");
                return sign_out_failed();
            }
        }
    }
    let mut resp = Redirect::to("/").into_response();
    let h = resp.headers_mut();
    for name in state.clerk.cookie_names() {
        let value = if name.starts_with(clerk::request::COOKIE_CLIENT_UAT) { "0" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!("{name}={value}; Path=/; Max-Age=0; SameSite=Lax")) {
            h.append(header::SET_COOKIE, v);
        }
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("clear-site-data", HeaderValue::from_static("\"cache\""));
    resp
}

/// 502 with a page that says what happened and offers to try again.
fn sign_out_failed() -> Response {
    let page = r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign-out failed · Tenantry</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/pkg/tenantry.css"></head>
<body class="bg-slate-50 text-slate-900"><main class="mx-auto max-w-xl px-6 py-24">
<h1 class="text-2xl font-semibold">You are still signed in</h1>
<p role="alert" class="mt-4 text-slate-700">We could not reach the sign-in service to end your session, so it is still active. Please try again in a moment.</p>
<form method="post" action="/sign-out" class="mt-8"><button type="submit" class="rounded-md bg-indigo-600 px-4 py-2 font-medium text-white">Sign out</button></form>
</main></body></html>"#;
    let mut resp = (axum::http::StatusCode::BAD_GATEWAY, axum::response::Html(page)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_return_path(Some("/app/dashboard?x=1"), "/d"), "/app/dashboard?x=1");
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "app", "/x\r\nSet-Cookie: a=b"] {
            assert_eq!(safe_return_path(Some(bad), "/d"), "/d", "{bad}");
        }
        assert_eq!(safe_return_path(None, "/d"), "/d");
    }
}
