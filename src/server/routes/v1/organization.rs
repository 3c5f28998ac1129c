//! `GET /api/v1/organization`: the session's active organization and the caller's role in it.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::{Problem, ProblemBody};
use super::ApiTenant;
use crate::server::state::AppState;
use crate::server::workspace;

/// The active organization, with the caller's role and permissions from the session token.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    /// Clerk's organization id, e.g. `org_2abc…`.
    pub id: String,
    /// The mirrored name (Clerk's while the mirror has not caught up).
    pub name: String,
    /// Clerk's slug, or `null` when the organization has none.
    pub slug: Option<String>,
    /// `org:`-prefixed, e.g. `org:admin`.
    pub role: String,
    /// The caller's organization permissions, e.g. `org:projects:manage`.
    pub permissions: Vec<String>,
    /// Whether the caller may create, change and delete projects.
    pub can_manage_projects: bool,
}

/// The active organization. Refused for a deleted organization (410) or a membership the
/// mirror records as ended (403), as the pages are.
#[utoipa::path(
    get,
    path = "/organization",
    tag = "organizations",
    responses(
        (status = 200, description = "The active organization", body = Organization),
        (status = 401, description = "No Bearer token, or Clerk refused it", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "No active organization, or the membership ended", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "The organization was deleted", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "A dependency is unavailable; retry", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_organization(
    State(st): State<AppState>,
    ApiTenant(tenant): ApiTenant,
) -> Result<Json<Organization>, Problem> {
    // The scope's checks (tombstone, ended membership) first, as every tenant read has them.
    drop(tenant.begin(&st.db).await?);
    let ws = workspace::load(&st, &tenant).await?;
    let org = tenant.auth().org.as_ref();
    Ok(Json(Organization {
        id: ws.org_id,
        name: ws.org_name,
        slug: org.and_then(|o| o.slug.clone()),
        role: ws.role,
        permissions: org.map(|o| o.permissions.clone()).unwrap_or_default(),
        can_manage_projects: ws.can_manage,
    }))
}
