//! `/api/v1/projects`: the active organization's projects. Reads are for every member; writes
//! for admins and members with `org:projects:manage`. Every write is audited in its transaction
//! (through `server::projects`, the same functions the pages call). A single project's answers
//! carry its `ETag`, and `PATCH` and `DELETE` take `If-Match` ([`super::conditional`]).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use headers::HeaderMapExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::conditional::{entity_tag, IfMatch};
use super::problem::{ApiJson, ApiQuery, Problem, ProblemBody, ProblemType};
use super::{ApiTenant, BASE};
use crate::model::ProjectView;
use crate::server::projects::{self, Filter, SortKey, StatusFilter, MAX_SEARCH_CHARS};
use crate::server::state::AppState;

/// Largest page a client may ask for; the default is [`crate::model::PROJECTS_PAGE_SIZE`].
pub const MAX_LIMIT: u32 = 100;

/// A project.
#[derive(Debug, Serialize, ToSchema)]
pub struct Project {
    /// The project's id (a UUID), stable for its life.
    #[schema(format = Uuid)]
    pub id: String,
    /// Unique in the organization, 1 to 80 characters.
    pub name: String,
    /// At most 2000 characters; empty when none was given.
    pub description: String,
    /// Archived projects are listed with `status=archived` or `all` only.
    pub archived: bool,
    /// The Clerk user id of its creator.
    pub created_by: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<ProjectView> for Project {
    fn from(p: ProjectView) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            archived: p.archived,
            created_by: p.created_by,
            updated_at: p.updated_at,
        }
    }
}

/// `project` as JSON with its `ETag`.
fn tagged(status: StatusCode, project: Project, location: Option<HeaderValue>) -> Result<Response, Problem> {
    let tag = entity_tag(&project)?;
    let mut resp = (status, Json(project)).into_response();
    resp.headers_mut().typed_insert(tag);
    if let Some(location) = location {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    Ok(resp)
}

/// One page of projects, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectPage {
    /// At most `limit` projects, by name.
    pub data: Vec<Project>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Which projects a list shows.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusParam {
    #[default]
    Active,
    Archived,
    All,
}

/// `GET /api/v1/projects`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Matches names and descriptions, case-insensitively.
    #[param(max_length = 100, pattern = "^[^\\x00]*$")]
    pub search: Option<String>,
    /// `active` (the default), `archived` or `all`.
    #[param(inline)]
    pub status: Option<StatusParam>,
    /// `next_cursor` of the previous page, as given (opaque; it stays valid when the project it
    /// follows is renamed or deleted: the walk goes on in name order).
    #[param(pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

// The patterns say what the server checks (utoipa takes literals only): a name is 1 to 80
// characters once trimmed, with no control characters; a description has no control characters
// but tab and line breaks.

/// `POST /api/v1/projects`'s body (unknown fields are refused: 422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// Unique in the organization; trimmed.
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub name: String,
    /// Trimmed; tab and line breaks allowed, no other control character.
    #[schema(max_length = 2000, pattern = "^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F]*$")]
    pub description: Option<String>,
}

/// Only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectChanges {
    /// A new name (as in `NewProject`).
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub name: Option<String>,
    /// A new description (as in `NewProject`).
    #[schema(max_length = 2000, pattern = "^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F]*$")]
    pub description: Option<String>,
    /// `true` archives, `false` restores.
    pub archived: Option<bool>,
}

/// The active organization's projects matching `search`, a page at a time (keyset cursors: a
/// page costs the same however deep it is).
#[utoipa::path(
    get,
    path = "/projects",
    tag = "projects",
    params(ListParams),
    responses(
        (status = 200, description = "A page of projects", body = ProjectPage),
        (status = 400, description = "A parameter does not parse, or a cursor this API did not give out", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No Bearer token, or Clerk refused it", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "No active organization, or the membership ended", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "The organization was deleted", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`search` breaks a rule", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable; retry", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_projects(
    State(st): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<ProjectPage>, Problem> {
    let limit = q.limit.unwrap_or(crate::model::PROJECTS_PAGE_SIZE as u32);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::new(ProblemType::InvalidRequest).detail(format!("`limit` is 1 to {MAX_LIMIT}")));
    }
    if q.cursor.as_deref() == Some("") {
        return Err(
            Problem::new(ProblemType::InvalidRequest).detail("`cursor` is empty: leave it out for the first page")
        );
    }
    if q.search.as_deref().is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS) {
        return Err(Problem::invalid_field("search", crate::model::TextProblem::TooLong));
    }
    let status = match q.status.unwrap_or_default() {
        StatusParam::Active => StatusFilter::Active,
        StatusParam::Archived => StatusFilter::Archived,
        StatusParam::All => StatusFilter::All,
    };
    let after = q.cursor.as_deref().map(SortKey::decode).transpose()?;
    let search = q.search.as_deref().unwrap_or("");
    // One more than the page: whether there is a next page is known, not guessed.
    let size = limit as usize + 1;
    // The request's only read: one statement where the database allows it (and the search is
    // one the list takes: otherwise the scope is checked first, below, as ever).
    let mut rows = match (tenant.statement_scope(&st.db), Filter::new(search, status)) {
        (Some(scope), Ok(filter)) => projects::list_after_alone(scope, &filter, after.as_ref(), size).await?,
        // A read: `tx` is dropped at the block's end, no COMMIT (see `TenantTx`).
        _ => {
            let mut tx = tenant.begin(&st.db).await?;
            projects::list_after(&mut tx, search, status, after.as_ref(), size).await?
        }
    };
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|l| l.key.encode())
    } else {
        None
    };
    Ok(Json(ProjectPage { data: rows.into_iter().map(|l| Project::from(l.project)).collect(), next_cursor }))
}

/// Creates a project (admins and project managers). Answers 201 with its `Location`.
#[utoipa::path(
    post,
    path = "/projects",
    tag = "projects",
    request_body = NewProject,
    responses(
        (status = 201, description = "Created", body = Project, headers(("Location" = String, description = "The project's URL"), ("ETag" = String, description = "The project's entity tag, for `If-Match`"))),
        (status = 400, description = "Malformed JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No Bearer token, or Clerk refused it", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager, no active organization, or the membership ended", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken in this organization", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "The organization was deleted", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable; retry", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_project(
    State(st): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    ApiJson(body): ApiJson<NewProject>,
) -> Result<Response, Problem> {
    let mut tx = tenant.begin(&st.db).await?;
    let p = projects::create(&mut tx, &body.name, body.description.as_deref().unwrap_or("")).await?;
    tx.commit().await?;
    let location = HeaderValue::from_str(&format!("{BASE}/projects/{}", p.id)).map_err(Problem::internal)?;
    tagged(StatusCode::CREATED, p.into(), Some(location))
}

/// One project of the active organization (404 for another organization's).
#[utoipa::path(
    get,
    path = "/projects/{id}",
    tag = "projects",
    params(("id" = String, Path, format = Uuid, description = "The project's id")),
    responses(
        (status = 200, description = "The project", body = Project, headers(("ETag" = String, description = "The project's entity tag, for `If-Match`"))),
        (status = 401, description = "No Bearer token, or Clerk refused it", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "No active organization, or the membership ended", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such project in this organization", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "The organization was deleted", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable; retry", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_project(
    State(st): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let mut tx = tenant.begin(&st.db).await?;
    let p = projects::get(&mut tx, &id).await?;
    drop(tx); // a read: no COMMIT (see `TenantTx`)
    tagged(StatusCode::OK, p.into(), None)
}

/// Changes a project's name, description or archived state (admins and project managers).
#[utoipa::path(
    patch,
    path = "/projects/{id}",
    tag = "projects",
    params(
        ("id" = String, Path, format = Uuid, description = "The project's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "Apply only if the project is still the version this `ETag` (from its last answer) names; `*` for any version. Without it the write applies to whatever version is current."),
    ),
    request_body = ProjectChanges,
    responses(
        (status = 200, description = "The project as changed", body = Project, headers(("ETag" = String, description = "The project's entity tag, for `If-Match`"))),
        (status = 400, description = "Malformed JSON, or an `If-Match` that is not `*` or a list of entity tags", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No Bearer token, or Clerk refused it", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager, no active organization, or the membership ended", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such project in this organization", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken in this organization", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "The organization was deleted", body = ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names none of the project's current versions: nothing was changed", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable; retry", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn update_project(
    State(st): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    Path(id): Path<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<ProjectChanges>,
) -> Result<Response, Problem> {
    let mut tx = tenant.begin(&st.db).await?;
    let current = projects::current_for_write(&mut tx, &id).await?;
    check_precondition(&if_match, &current)?;
    let p = projects::patch_locked(&mut tx, current, body.name.as_deref(), body.description.as_deref(), body.archived)
        .await?;
    tx.commit().await?;
    tagged(StatusCode::OK, p.into(), None)
}

/// `If-Match` judged against the project as the write will find it, locked in the write's
/// transaction until it commits (no other write can slip between the check and this one). In
/// RFC 9110 §13.2.2's order: the caller's right (403) and the project's existence (404) are
/// answered by `current_for_write` first, the precondition (412) before the request's own
/// content (422).
fn check_precondition(if_match: &IfMatch, current: &projects::LockedProject) -> Result<(), Problem> {
    if if_match.is_given() {
        if_match.check(&entity_tag(&Project::from(current.view().clone()))?)?;
    }
    Ok(())
}

/// Deletes a project (admins and project managers); the audit log keeps its last state.
#[utoipa::path(
    delete,
    path = "/projects/{id}",
    tag = "projects",
    params(
        ("id" = String, Path, format = Uuid, description = "The project's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "Apply only if the project is still the version this `ETag` (from its last answer) names; `*` for any version. Without it the write applies to whatever version is current."),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`If-Match` is not `*` or a list of entity tags", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No Bearer token, or Clerk refused it", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not a manager, no active organization, or the membership ended", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such project in this organization", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "The organization was deleted", body = ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names none of the project's current versions: nothing was deleted", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable; retry", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn delete_project(
    State(st): State<AppState>,
    ApiTenant(tenant): ApiTenant,
    Path(id): Path<String>,
    if_match: IfMatch,
) -> Result<StatusCode, Problem> {
    let mut tx = tenant.begin(&st.db).await?;
    let current = projects::current_for_write(&mut tx, &id).await?;
    check_precondition(&if_match, &current)?;
    projects::delete_locked(&mut tx, current).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
