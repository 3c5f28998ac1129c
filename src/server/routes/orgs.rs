//! `/select-org` actions. Activating an organization is a redirect through Clerk's Frontend API
//! handshake with `organization_id`: Clerk activates it only if the user is a member, and mints
//! the session token that carries it. The app never trusts the posted id by itself.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use clerk::axum::RequireAuth;
use clerk::bapi::CreateOrganization;
use clerk::Clerk;
use serde::Deserialize;

use crate::model::validate_organization_name;
use crate::server::routes::session::safe_return_path;
use crate::server::startup::AppState;

#[derive(Debug, Deserialize)]
pub struct Activate {
    org_id: String,
    /// Where to go once the organization is active (a path on this site, else the dashboard).
    redirect_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Create {
    name: String,
    redirect_url: Option<String>,
}

/// At most 5 organizations per user per hour, refilled one every 12 minutes: plenty for people,
/// a wall for a script creating thousands through the secret key.
pub struct CreationLimit(governor::DefaultKeyedRateLimiter<String>);

impl Default for CreationLimit {
    fn default() -> Self {
        let quota = governor::Quota::per_hour(std::num::NonZeroU32::new(5).expect("non-zero"));
        Self(governor::RateLimiter::keyed(quota))
    }
}

impl CreationLimit {
    fn allow(&self, user_id: &str) -> bool {
        // Forget users whose allowance has refilled, so the map stays small.
        if self.0.len() > 10_000 {
            self.0.retain_recent();
        }
        self.0.check_key(&user_id.to_string()).is_ok()
    }
}

/// A local path inside the workspace; anything else is the dashboard.
fn workspace_path(candidate: Option<&str>) -> String {
    let path = safe_return_path(candidate, "/app/dashboard");
    let inside = path == "/app" || path.starts_with("/app/") || path.starts_with("/app?");
    if inside {
        path
    } else {
        "/app/dashboard".into()
    }
}

fn through_clerk(state: &AppState, parts: &Parts, org_id: &str, redirect_url: Option<&str>) -> Response {
    let origin = Clerk::request_url(&parts.uri, &parts.headers).origin().ascii_serialization();
    let back = url::Url::parse(&format!("{origin}{}", workspace_path(redirect_url)))
        .unwrap_or_else(|_| url::Url::parse(&format!("{origin}/app/dashboard")).expect("origin + path"));
    let location = state.clerk.activate_organization_url(parts, &back, org_id);
    let mut resp = Redirect::to(&location).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Back to `/select-org` with an error code (see `model::select_org_error_text`).
fn back_with_error(code: &'static str, redirect_url: Option<&str>) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("error", code);
    if redirect_url.is_some() {
        q.append_pair("redirect_url", &workspace_path(redirect_url));
    }
    Redirect::to(&format!("/select-org?{}", q.finish())).into_response()
}

pub async fn activate(
    State(state): State<AppState>,
    RequireAuth(_auth): RequireAuth,
    parts: Parts,
    Form(f): Form<Activate>,
) -> Response {
    let id = f.org_id.trim();
    if id.is_empty() || id.len() > 100 {
        return back_with_error("choose", f.redirect_url.as_deref());
    }
    through_clerk(&state, &parts, id, f.redirect_url.as_deref())
}

pub async fn create(
    State(state): State<AppState>,
    RequireAuth(auth): RequireAuth,
    parts: Parts,
    Form(f): Form<Create>,
) -> Response {
    let name = match validate_organization_name(&f.name) {
        Ok(n) => n,
        Err(_) => {
            let code = if f.name.trim().is_empty() { "name_missing" } else { "name_too_long" };
            return back_with_error(code, f.redirect_url.as_deref());
        }
    };
    let Some(api) = state.clerk.api() else {
        return back_with_error("unavailable", f.redirect_url.as_deref());
    };
    if !state.org_creation.allow(&auth.user_id) {
        tracing::warn!(user = %auth.user_id, "organization creation rate-limited");
        return back_with_error("rate_limited", f.redirect_url.as_deref());
    }
    match api.create_organization(&CreateOrganization { name, created_by: auth.user_id.clone(), slug: None }).await {
        Ok(org) => through_clerk(&state, &parts, &org.id, f.redirect_url.as_deref()),
        // Our own credentials refused: a server problem, not the user's; never shown to them.
        Err(e) if matches!(e.status(), Some(401 | 403)) => {
            tracing::error!(error = %e, "organization creation: the Backend API refused our secret key");
            back_with_error("unavailable", f.redirect_url.as_deref())
        }
        Err(e) if e.status().is_some_and(|s| s < 500) => {
            tracing::info!(error = %e, "organization not created: Clerk refused");
            back_with_error("refused", f.redirect_url.as_deref())
        }
        Err(e) => {
            tracing::error!(error = %e, "organization creation failed");
            back_with_error("unavailable", f.redirect_url.as_deref())
        }
    }
}
