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

/// Revokes the session at Clerk and clears the session cookies; then home.
pub async fn sign_out(State(state): State<AppState>, MaybeAuth(auth): MaybeAuth) -> Response {
    if let (Some(auth), Some(api)) = (&auth, state.clerk.api()) {
        if let Some(sid) = &auth.session_id {
            if let Err(e) = api.revoke_session(sid).await {
                // The cookies are cleared regardless; the token dies within its 60 s life.
                tracing::warn!(error = %e, "could not revoke the session at Clerk");
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
