//! `/select-org` actions. Activating an organization is a redirect through Clerk's Frontend API
//! handshake with `organization_id`: Clerk activates it only if the user is a member, and mints
//! the session token that carries it. The app never trusts the posted id by itself.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use clerk::bapi::CreateOrganization;
use clerk::Clerk;
use serde::Deserialize;

use crate::model::{validate_organization_name, SelectOrgError, TextProblem};
use crate::server::error::AppError;
use crate::server::limits::BudgetSpent;
use crate::server::observability::backend_call_unbounded;
use crate::server::redirects::workspace_path;
use crate::server::state::AppState;
use crate::server::tenant::Member;

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

fn through_clerk(state: &AppState, parts: &Parts, org_id: &str, redirect_url: Option<&str>) -> Response {
    let origin = Clerk::request_url(&parts.uri, &parts.headers).origin();
    // An opaque origin (a scheme no browser speaks) has no URL to come back to.
    let back = origin
        .is_tuple()
        .then(|| url::Url::parse(&format!("{}{}", origin.ascii_serialization(), workspace_path(redirect_url))).ok())
        .flatten();
    let Some(back) = back else {
        return AppError::bad_request("bad_request_url", "this request's URL cannot be returned to").into_response();
    };
    let location = state.clerk.activate_organization_url(parts, &back, org_id);
    let mut resp = Redirect::to(&location).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Back to `/select-org` with the error's code.
fn back_with_error(error: SelectOrgError, redirect_url: Option<&str>) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("error", error.code());
    if redirect_url.is_some() {
        q.append_pair("redirect_url", &workspace_path(redirect_url));
    }
    Redirect::to(&format!("/select-org?{}", q.finish())).into_response()
}

pub async fn activate(
    State(state): State<AppState>,
    _member: Member,
    parts: Parts,
    Form(f): Form<Activate>,
) -> Response {
    let id = f.org_id.trim();
    if id.is_empty() || id.len() > 100 {
        return back_with_error(SelectOrgError::Choose, f.redirect_url.as_deref());
    }
    through_clerk(&state, &parts, id, f.redirect_url.as_deref())
}

pub async fn create(State(state): State<AppState>, member: Member, parts: Parts, Form(f): Form<Create>) -> Response {
    let name = match validate_organization_name(&f.name) {
        Ok(n) => n,
        Err(TextProblem::Missing) => return back_with_error(SelectOrgError::NameMissing, f.redirect_url.as_deref()),
        Err(TextProblem::TooLong) => return back_with_error(SelectOrgError::NameTooLong, f.redirect_url.as_deref()),
        Err(TextProblem::ControlCharacter) => {
            return back_with_error(SelectOrgError::NameInvalid, f.redirect_url.as_deref())
        }
    };
    let Some(api) = state.clerk.api() else {
        return back_with_error(SelectOrgError::Unavailable, f.redirect_url.as_deref());
    };
    match state.org_creation.allow(&state.db, member.user_id()).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(user = %member.user_id(), "organization creation rate-limited");
            return back_with_error(SelectOrgError::RateLimited, f.redirect_url.as_deref());
        }
        Err(e) => {
            tracing::error!(error = %e, "organization creation: the allowance could not be counted");
            return back_with_error(SelectOrgError::Unavailable, f.redirect_url.as_deref());
        }
    }
    if let Err(spent) = state.backend_api_budget.spend("create-organization", member.user_id()) {
        tracing::warn!(user = %member.user_id(), error = %spent, "organization creation refused: Backend API budget spent");
        let error = match spent {
            BudgetSpent::Caller => SelectOrgError::RateLimited,
            BudgetSpent::Global => SelectOrgError::Unavailable,
        };
        return back_with_error(error, f.redirect_url.as_deref());
    }
    let new_org = CreateOrganization { name, created_by: member.user_id().to_string(), slug: None };
    match backend_call_unbounded("create_organization", api.create_organization(&new_org)).await {
        Ok(org) => through_clerk(&state, &parts, &org.id, f.redirect_url.as_deref()),
        // Our own credentials refused: a server problem, not the user's; never shown to them.
        Err(e) if matches!(e.status(), Some(401 | 403)) => {
            tracing::error!(error = %e, "organization creation: the Backend API refused our secret key");
            back_with_error(SelectOrgError::Unavailable, f.redirect_url.as_deref())
        }
        Err(e) if e.status().is_some_and(|s| s < 500) => {
            tracing::info!(error = %e, "organization not created: Clerk refused");
            back_with_error(SelectOrgError::Refused, f.redirect_url.as_deref())
        }
        Err(e) => {
            tracing::error!(error = %e, "organization creation failed");
            back_with_error(SelectOrgError::Unavailable, f.redirect_url.as_deref())
        }
    }
}
