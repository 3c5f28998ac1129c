//! `/sign-in`, `/sign-up` (to the configured Clerk pages, with a way back) and `POST /sign-out`.

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use clerk::axum::MaybeAuth;
use clerk::Clerk;
use serde::Deserialize;

use crate::server::error::AppError;
use crate::server::limits::BudgetSpent;
use crate::server::observability::backend_call;
use crate::server::redirects::safe_return_path;
use crate::server::state::AppState;

#[derive(Debug, Deserialize)]
pub struct Back {
    redirect_url: Option<String>,
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

/// How long after its expiry a session token may still end its session: Clerk sessions last
/// 7 days by default, so an older token names no live session.
pub const SIGN_OUT_MAX_EXPIRED: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// Ends the session at Clerk, then clears the session cookies and goes home. The session comes
/// from the verified token, expired or not: a 60-second token has often expired by the time
/// someone signs out, and the Clerk session behind it must end all the same. When Clerk cannot
/// be reached, nothing is cleared and the page says so: a sign-out that only forgets the local
/// cookies would be signed straight back in by Clerk.
pub async fn sign_out(State(state): State<AppState>, MaybeAuth(auth): MaybeAuth, parts: Parts) -> Response {
    let sid = match auth.and_then(|a| a.session_id) {
        Some(sid) => Some(sid),
        None => state.clerk.session_to_end_within(&parts, SIGN_OUT_MAX_EXPIRED).await,
    };
    if let (Some(sid), Some(api)) = (sid, state.clerk.api()) {
        // A revocation is a Backend API call anyone holding an old token can ask for: bounded
        // per session and overall, and said so rather than pretending the session ended.
        if let Err(spent) = state.backend_api_budget.spend("sign-out", &sid) {
            tracing::warn!(session = %sid, error = %spent, "sign-out refused: Backend API budget spent");
            let status = match spent {
                BudgetSpent::Caller => StatusCode::TOO_MANY_REQUESTS,
                BudgetSpent::Global => StatusCode::SERVICE_UNAVAILABLE,
            };
            return AppError::new(status, "sign_out_throttled", format!("You are still signed in: {spent}."))
                .into_page("You are still signed in", Some(("/sign-out", "Sign out")));
        }
        let Some(revoked) = backend_call("revoke_session", api.revoke_session(&sid)).await else {
            tracing::error!(session = %sid, "sign-out: Clerk did not answer in time");
            return sign_out_failed();
        };
        match revoked {
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
    AppError::new(
        StatusCode::BAD_GATEWAY,
        "sign_out_failed",
        "We could not reach the sign-in service to end your session, so it is still active. Please try again in a moment.",
    )
    .into_page("You are still signed in", Some(("/sign-out", "Sign out")))
}
