//! REST API v1 (`/api/v1/*`): one JSON API for mobile, web and service clients, Bearer session
//! tokens only (cookies are never read here, so there is no CSRF surface), in the same tenant
//! scope, role checks and audit as the pages. Errors are RFC 9457 problems ([`problem`]). The
//! OpenAPI 3.1 document is generated from these handlers (`utoipa`) and served, unauthenticated,
//! at `/api/v1/openapi.json`.
//!
//! The request path: Clerk layer (`authenticate_request`, as for every route) → [`require_bearer`]
//! (this API's own gate) → extractors ([`ApiTenant`], [`ApiMember`]) → a handler.

pub mod conditional;
pub mod me;
pub mod organization;
pub mod problem;
pub mod projects;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use clerk::axum::ClerkState;
use clerk::Auth;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::problem::{Problem, ProblemType};
use crate::server::security::has_bearer_token;
use crate::server::state::AppState;
use crate::server::tenant::{names_an_empty_id, Member, NoTenant, Tenant};

/// Where the API lives.
pub const BASE: &str = "/api/v1";
/// The security scheme's name in the document (also in `ApiDoc`'s `security`).
const SCHEME: &str = "clerk_session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tenantry API",
        version = "1",
        description = "Tenantry's REST API for mobile, web and service clients. Authenticate with the Clerk session token of the signed-in user (`Authorization: Bearer <token>`, what `getToken()` returns); cookies are not read. Organization-scoped routes work inside the session's active organization. Errors are RFC 9457 problem details (`application/problem+json`) with a stable `type`."
    ),
    modifiers(&BearerScheme),
    security(("clerk_session" = [])),
    components(schemas(problem::ProblemBody, problem::FieldError))
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        http.description = Some("A Clerk session token (valid for about a minute; refresh with `getToken()`).".into());
        components.add_security_scheme(SCHEME, SecurityScheme::Http(http));
    }
}

/// The API's routes and its document, from one list (a route cannot be served undocumented).
fn api() -> (Router<AppState>, Document) {
    let v1 = OpenApiRouter::<AppState>::new()
        .routes(routes!(me::get_me))
        .routes(routes!(organization::get_organization))
        .routes(routes!(projects::list_projects, projects::create_project))
        .routes(routes!(projects::get_project, projects::update_project, projects::delete_project))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(require_bearer));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(BASE, v1).split_for_parts()
}

/// The document as served (also what `tenantry openapi` prints).
pub fn openapi() -> Document {
    api().1
}

/// `/api/v1/*`, with the document at `/api/v1/openapi.json` (public: it is the API's contract).
pub fn routes() -> Router<AppState> {
    let (router, doc) = api();
    let json: Arc<str> = doc.to_pretty_json().expect("the OpenAPI document serializes").into();
    router.route(
        &format!("{BASE}/openapi.json"),
        get(move || {
            let json = json.clone();
            async move {
                (
                    [
                        (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
                    ],
                    json.to_string(),
                )
            }
        }),
    )
}

async fn not_found() -> Problem {
    Problem::new(ProblemType::NotFound).detail("no such route in API v1 (see /api/v1/openapi.json)")
}

/// This API's gate (also applied by the app's route gate to every `/api/v1` path): a Bearer
/// token is the credential (a cookie alone is refused, never read), and Clerk must have
/// accepted it. Answers are never cached.
pub async fn require_bearer(req: Request, next: Next) -> Response {
    let mut resp = match bearer_refusal(&req) {
        Some(p) => p.into_response(),
        None => next.run(req).await,
    };
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Why this API refuses `req`, if it does: no Bearer token (401 `unauthenticated`), a verified
/// token naming an empty user or organization id (401 `session-identity-empty`), a pending
/// session (401 `session-pending`), or a token Clerk refused (401 with Clerk's reason).
pub fn bearer_refusal(req: &Request) -> Option<Problem> {
    let state = req.extensions().get::<ClerkState>().map(|s| s.0.clone());
    if !has_bearer_token(req.headers()) {
        Some(
            Problem::new(ProblemType::Unauthenticated)
                .detail("send the session token as `Authorization: Bearer <token>`; this API does not read cookies")
                .reason("session-token-and-uat-missing"),
        )
    } else if let Some(auth) =
        state.as_deref().and_then(|s| s.auth_including_pending()).filter(|a| names_an_empty_id(a))
    {
        tracing::warn!(user = %auth.user_id, org = ?auth.org_id(), "verified token names an empty id: refused");
        Some(Problem::from(NoTenant::EmptyId))
    } else if req.extensions().get::<Auth>().is_some() {
        None
    } else if state.as_deref().is_some_and(|s| s.is_pending()) {
        Some(
            Problem::new(ProblemType::SessionPending)
                .detail("the session has a task left: choose an organization")
                .reason("session-pending"),
        )
    } else {
        let reason = state.as_deref().and_then(|s| s.reason.clone()).unwrap_or_else(|| "unexpected-error".into());
        Some(Problem::new(ProblemType::Unauthenticated).detail("the session token was refused").reason(reason))
    }
}

/// Every error this API answers is a problem: for `/api/v1` paths, what axum or a layer answers
/// in its own words (a 405, the body limit's 413, the timeout's 408, a caught panic's 500)
/// becomes one, with its `Allow`, `Retry-After` and authentication headers kept. Installed
/// outside the app's limits (`startup::router`).
pub async fn problem_responses(req: Request, next: Next) -> Response {
    // Every request passes here: a prefix test, no allocation.
    let under = req.uri().path().strip_prefix(BASE).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    let resp = next.run(req).await;
    if under {
        as_problem(resp)
    } else {
        resp
    }
}

fn as_problem(resp: Response) -> Response {
    let status = resp.status();
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(problem::PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return resp;
    }
    let kind = ProblemType::for_status(status);
    let (parts, _) = resp.into_parts();
    let mut out =
        Problem::new(kind).detail(status.canonical_reason().unwrap_or("error").to_lowercase()).into_response();
    // Only headers about the refusal itself: the old body's encoding and length are not ours.
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = parts.headers.get(&name) {
            out.headers_mut().insert(name, value.clone());
        }
    }
    *out.status_mut() = status;
    out
}

/// The caller inside their active organization (see [`Tenant`]), refused as a problem.
pub struct ApiTenant(pub Tenant);

impl<S: Send + Sync> FromRequestParts<S> for ApiTenant {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Tenant::from_request(parts)?))
    }
}

/// The signed-in caller, with or without an active organization (see [`Member`]).
pub struct ApiMember(pub Member);

impl<S: Send + Sync> FromRequestParts<S> for ApiMember {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Member::from_request(parts)?))
    }
}
