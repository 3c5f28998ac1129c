//! `GET /api/v1/me`: the caller's profile as mirrored from Clerk.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::{Problem, ProblemBody, ProblemType};
use super::ApiMember;
use crate::server::format::rfc3339;
use crate::server::state::AppState;
use crate::server::users;

/// The signed-in user, as the webhook mirror holds them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Clerk's user id, e.g. `user_2abc…`.
    pub id: String,
    /// The primary email address.
    pub email: Option<String>,
    /// First and last name as Clerk has them, or `null`.
    pub name: Option<String>,
    /// The profile image's URL (Clerk's CDN), or `null`.
    pub image_url: Option<String>,
    /// RFC 3339: when the mirror first recorded the user.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// The caller's profile. 404 `profile-not-synced` until Clerk's `user.created` webhook has
/// arrived. Needs no active organization.
#[utoipa::path(
    get,
    path = "/me",
    tag = "users",
    responses(
        (status = 200, description = "The caller's profile", body = Me),
        (status = 401, description = "No Bearer token, or Clerk refused it", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "Not mirrored yet", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable; retry", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_me(State(st): State<AppState>, ApiMember(member): ApiMember) -> Result<Json<Me>, Problem> {
    let p = users::profile(&st.db, member.user_id()).await?.ok_or_else(|| {
        Problem::new(ProblemType::ProfileNotSynced)
            .detail("the user.created webhook has not arrived yet; retry in a few seconds")
    })?;
    Ok(Json(Me {
        id: p.clerk_id,
        email: p.email,
        name: p.name,
        image_url: p.image_url,
        created_at: rfc3339(p.created_at),
        updated_at: rfc3339(p.updated_at),
    }))
}
