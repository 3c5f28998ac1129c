//! REST API v1's one error type: RFC 9457 problem details (`application/problem+json`).
//!
//! `type` is a stable `tag:` URI per kind of problem (RFC 9457 §3.1.1 allows a non-dereferenceable
//! URI; RFC 4151 tags need no server), one of [`ProblemType`]; `title` is fixed per type;
//! `detail` says what was wrong with this request. 5xx are logged with their cause and answered
//! with the generic title only (the cause is never echoed). Extension members: `reason` (Clerk's
//! authentication reason, e.g. `token-expired`), `errors` (field problems of a 422) and
//! `request_id` (the `x-request-id` the logs carry).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::TextProblem;
use crate::server::projects::ProjectError;
use crate::server::tenant::{NoTenant, ScopeError};
use crate::server::workspace::LoadError;

/// The media type of every error this API answers.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every kind of problem, with its status and title. The `type` URI is
/// `tag:tenantry.dev,2026:problems/<slug>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// 401: no Bearer token, or one Clerk's rules refuse (`reason` says which).
    Unauthenticated,
    /// 401: the session is signed in but has a task left (choose an organization).
    SessionPending,
    /// 403: the route works inside an active organization and the session has none.
    OrganizationRequired,
    /// 403: the caller's role does not allow this.
    Forbidden,
    /// 403: the mirror records the caller's membership as ended since the token was minted.
    MembershipEnded,
    /// 404
    NotFound,
    /// 404: the user's profile has not been mirrored from Clerk yet.
    ProfileNotSynced,
    /// 410: the active organization was deleted in Clerk.
    OrganizationDeleted,
    /// 400: malformed JSON, a query that does not parse, an unknown cursor.
    InvalidRequest,
    /// 415
    UnsupportedMediaType,
    /// 409: a project of that name exists in the organization.
    NameTaken,
    /// 412: `If-Match` names none of the resource's current entity tags (RFC 9110 §13.1.1).
    PreconditionFailed,
    /// 422: well-formed input that breaks a rule (`errors` lists the fields).
    ValidationFailed,
    /// 405 (with `Allow`).
    MethodNotAllowed,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 503: a dependency is down; retry.
    Unavailable,
    /// 500
    Internal,
}

impl ProblemType {
    pub const ALL: [Self; 17] = [
        Self::Unauthenticated,
        Self::SessionPending,
        Self::OrganizationRequired,
        Self::Forbidden,
        Self::MembershipEnded,
        Self::NotFound,
        Self::ProfileNotSynced,
        Self::OrganizationDeleted,
        Self::InvalidRequest,
        Self::UnsupportedMediaType,
        Self::NameTaken,
        Self::PreconditionFailed,
        Self::ValidationFailed,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The type for an error status answered without one (axum's own 405, a layer's 413); an
    /// unexpected status is `invalid-request` (4xx) or `internal` (5xx).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthenticated,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::NameTaken,
            410 => Self::OrganizationDeleted,
            412 => Self::PreconditionFailed,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::ValidationFailed,
            503 => Self::Unavailable,
            s if s >= 500 => Self::Internal,
            _ => Self::InvalidRequest,
        }
    }

    /// The last segment of the `type` URI, e.g. `not-found`.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::SessionPending => "session-pending",
            Self::OrganizationRequired => "organization-required",
            Self::Forbidden => "forbidden",
            Self::MembershipEnded => "membership-ended",
            Self::NotFound => "not-found",
            Self::ProfileNotSynced => "profile-not-synced",
            Self::OrganizationDeleted => "organization-deleted",
            Self::InvalidRequest => "invalid-request",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::NameTaken => "name-taken",
            Self::PreconditionFailed => "precondition-failed",
            Self::ValidationFailed => "validation-failed",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::PayloadTooLarge => "payload-too-large",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The `type` member: `tag:tenantry.dev,2026:problems/<slug>`.
    pub fn uri(self) -> String {
        format!("tag:tenantry.dev,2026:problems/{}", self.slug())
    }

    /// The HTTP status every problem of this type has.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::SessionPending => StatusCode::UNAUTHORIZED,
            Self::OrganizationRequired | Self::Forbidden | Self::MembershipEnded => StatusCode::FORBIDDEN,
            Self::NotFound | Self::ProfileNotSynced => StatusCode::NOT_FOUND,
            Self::OrganizationDeleted => StatusCode::GONE,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NameTaken => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `title` member, fixed per type.
    pub fn title(self) -> &'static str {
        match self {
            Self::Unauthenticated => "Authentication required",
            Self::SessionPending => "Session has a pending task",
            Self::OrganizationRequired => "Active organization required",
            Self::Forbidden => "Not allowed for your role",
            Self::MembershipEnded => "Membership ended",
            Self::NotFound => "Not found",
            Self::ProfileNotSynced => "Profile not synced yet",
            Self::OrganizationDeleted => "Organization deleted",
            Self::InvalidRequest => "Invalid request",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::NameTaken => "Name already taken",
            Self::PreconditionFailed => "Precondition failed",
            Self::ValidationFailed => "Validation failed",
            Self::MethodNotAllowed => "Method not allowed",
            Self::PayloadTooLarge => "Request body too large",
            Self::Unavailable => "Service temporarily unavailable",
            Self::Internal => "Internal server error",
        }
    }
}

/// One field's problem in a 422.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The request field, e.g. `name`.
    pub field: String,
    /// `missing`, `too_long` or `control_character`.
    pub problem: String,
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// A `tag:tenantry.dev,2026:problems/<slug>` URI, stable per kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Fixed per `type`.
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What was wrong with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Clerk's authentication reason (401s), e.g. `token-expired`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The fields a 422 refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The request's `x-request-id`, for support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A problem on its way to being answered.
#[derive(Debug)]
pub struct Problem {
    kind: ProblemType,
    detail: Option<String>,
    reason: Option<String>,
    errors: Option<Vec<FieldError>>,
    /// Behind a 5xx: logged, never sent.
    cause: Option<String>,
}

impl Problem {
    /// A problem of this type, with no detail yet.
    pub fn new(kind: ProblemType) -> Self {
        Self { kind, detail: None, reason: None, errors: None, cause: None }
    }
    /// What was wrong with this request (sent for 4xx only).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    /// Clerk's authentication reason, also sent as `x-clerk-auth-reason`.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    /// What went wrong behind a 5xx: logged, never sent.
    pub fn cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// 422 for one field.
    pub fn invalid_field(field: &str, problem: TextProblem) -> Self {
        let (code, detail) = match problem {
            TextProblem::Missing => ("missing", format!("{field} is required")),
            TextProblem::TooLong => ("too_long", format!("{field} is too long")),
            TextProblem::ControlCharacter => ("control_character", format!("{field} contains a control character")),
        };
        let mut p = Self::new(ProblemType::ValidationFailed).detail(detail);
        p.errors = Some(vec![FieldError { field: field.to_string(), problem: code.to_string() }]);
        p
    }

    /// 500 with its cause logged.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::new(ProblemType::Internal).cause(cause)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        if status.is_server_error() {
            tracing::error!(
                status = status.as_u16(),
                problem = self.kind.slug(),
                cause = self.cause.as_deref(),
                "api request failed"
            );
        } else {
            tracing::info!(
                status = status.as_u16(),
                problem = self.kind.slug(),
                reason = self.reason.as_deref(),
                detail = self.detail.as_deref(),
                "api request refused"
            );
        }
        let body = ProblemBody {
            kind: self.kind.uri(),
            title: self.kind.title().to_string(),
            status: status.as_u16(),
            // A 5xx's detail would be its cause: never sent.
            detail: if status.is_server_error() { None } else { self.detail },
            reason: self.reason.clone(),
            errors: self.errors,
            request_id: crate::server::telemetry::request_id(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (status, bytes).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: the scheme to use, and `invalid_token` when one was sent and refused.
            let challenge = match self.reason.as_deref() {
                Some(r) if r != "session-token-and-uat-missing" && self.kind == ProblemType::Unauthenticated => {
                    r#"Bearer error="invalid_token""#
                }
                _ => "Bearer",
            };
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(reason) = self.reason.as_deref().and_then(|r| HeaderValue::from_str(r).ok()) {
            h.insert("x-clerk-auth-reason", reason);
        }
        resp
    }
}

impl From<NoTenant> for Problem {
    fn from(e: NoTenant) -> Self {
        match e {
            NoTenant::SignedOut => Problem::new(ProblemType::Unauthenticated)
                .detail("send the session token as `Authorization: Bearer <token>`")
                .reason("session-token-and-uat-missing"),
            NoTenant::NoOrganization => Problem::new(ProblemType::OrganizationRequired)
                .detail("this route works inside the session's active organization: activate one first"),
            NoTenant::EmptyId => Problem::new(ProblemType::Unauthenticated)
                .detail(e.to_string())
                .reason(crate::server::error::EMPTY_ID_REASON),
        }
    }
}

fn database(e: sqlx::Error) -> Problem {
    if crate::server::db::is_unavailable(&e) {
        Problem::new(ProblemType::Unavailable).cause(e)
    } else {
        Problem::internal(e)
    }
}

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        database(e)
    }
}

impl From<ScopeError> for Problem {
    fn from(e: ScopeError) -> Self {
        match e {
            ScopeError::OrganizationDeleted => Problem::new(ProblemType::OrganizationDeleted).detail(e.to_string()),
            ScopeError::MembershipEnded => Problem::new(ProblemType::MembershipEnded).detail(e.to_string()),
            ScopeError::Database(e) => database(e),
        }
    }
}

impl From<ProjectError> for Problem {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::Forbidden => Problem::new(ProblemType::Forbidden).detail(e.to_string()),
            ProjectError::NotFound => Problem::new(ProblemType::NotFound).detail(e.to_string()),
            ProjectError::BadCursor => {
                Problem::new(ProblemType::InvalidRequest).detail("`cursor` is not a cursor this API gave out")
            }
            ProjectError::Invalid(field, problem) => Problem::invalid_field(field, problem),
            ProjectError::NameTaken(_) => Problem::new(ProblemType::NameTaken).detail(e.to_string()),
            ProjectError::Scope(e) => e.into(),
            ProjectError::Database(e) => database(e),
        }
    }
}

impl From<LoadError> for Problem {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Database(e) => database(e),
            LoadError::Busy(_) | LoadError::ClerkUnavailable | LoadError::ClerkRefused(_) => {
                Problem::new(ProblemType::Unavailable).cause(e)
            }
        }
    }
}

/// `axum::Json` whose refusals are problems: 415 without a JSON content type, 400 for JSON that
/// does not parse, 422 for JSON of the wrong shape (unknown fields included).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(e) => Err(match e {
                JsonRejection::MissingJsonContentType(_) => Problem::new(ProblemType::UnsupportedMediaType)
                    .detail("send the body as `Content-Type: application/json`"),
                JsonRejection::JsonDataError(e) => {
                    Problem::new(ProblemType::ValidationFailed).detail(serde_detail(&e.body_text()))
                }
                JsonRejection::JsonSyntaxError(e) => {
                    Problem::new(ProblemType::InvalidRequest).detail(serde_detail(&e.body_text()))
                }
                // The body limit (or a broken body stream): its own status, 413 for the limit.
                JsonRejection::BytesRejection(e) => {
                    Problem::new(ProblemType::for_status(e.status())).detail(e.body_text())
                }
                e => Problem::new(ProblemType::InvalidRequest).detail(e.body_text()),
            }),
        }
    }
}

/// `axum::extract::Query` whose refusal is a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| Problem::new(ProblemType::InvalidRequest).detail(e.body_text()))
    }
}

/// axum's rejection text, bounded (serde quotes the offending input back).
fn serde_detail(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_its_own_slug_and_a_title_and_is_found_by_status() {
        let mut slugs: Vec<&str> = ProblemType::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemType::ALL.len(), "slugs are unique");
        for k in ProblemType::ALL {
            assert!(!k.title().is_empty());
            assert_eq!(k.uri(), format!("tag:tenantry.dev,2026:problems/{}", k.slug()));
            assert_eq!(ProblemType::for_status(k.status()).status(), k.status());
        }
        assert_eq!(ProblemType::for_status(StatusCode::METHOD_NOT_ALLOWED), ProblemType::MethodNotAllowed);
        assert_eq!(ProblemType::for_status(StatusCode::IM_A_TEAPOT), ProblemType::InvalidRequest);
        assert_eq!(ProblemType::for_status(StatusCode::BAD_GATEWAY), ProblemType::Internal);
    }
}
