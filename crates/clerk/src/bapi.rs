//! Typed Backend API client (protocol §6): Bearer secret key, Clerk error bodies, `Retry-After`.
//!
//! Every call this client makes is one [`Endpoint`] in [`ENDPOINTS`], named by its operation in
//! Clerk's OpenAPI document (`bapi-2026-05-12.yml`); the emulator's contract test walks that list
//! and validates each answer against the document's response schema:
//!
//! | method | path (under `/v1`) | operation | answer |
//! | --- | --- | --- | --- |
//! | GET | `/jwks` | `GetJWKS` | [`Jwks`] |
//! | GET | `/instance` | `GetInstance` | [`Instance`] |
//! | GET | `/users` | `GetUserList` | a bare array of [`User`] (`limit`/`offset`) |
//! | GET | `/users/count` | `GetUsersCount` | `{object: "total_count", total_count}` |
//! | GET | `/users/{user_id}` | `GetUser` | [`User`] |
//! | GET | `/users/{user_id}/organization_memberships` | `UsersGetOrganizationMemberships` | [`Paginated`] of [`OrganizationMembership`] |
//! | GET | `/organizations` | `ListOrganizations` | [`Paginated`] of [`Organization`] |
//! | POST | `/organizations` | `CreateOrganization` | [`Organization`] |
//! | GET | `/organizations/{organization_id}` | `GetOrganization` | [`Organization`] |
//! | GET | `/organizations/{organization_id}/memberships` | `ListOrganizationMemberships` | [`Paginated`] of [`OrganizationMembership`] |
//! | GET | `/sessions/{session_id}` | `GetSession` | [`Session`] |
//! | POST | `/sessions/{session_id}/revoke` | `RevokeSession` | [`Session`] |
//! | POST | `/sessions/{session_id}/tokens` | `CreateSessionToken` | [`SessionToken`] |
//! | POST | `/sessions/{session_id}/tokens/{template_name}` | `CreateSessionTokenFromTemplate` | [`SessionToken`] |
//! | POST | `/sessions/{session_id}/refresh` | `RefreshSession` | `{object: "cookies", cookies}` |
//! | GET | `/clients/handshake_payload` | none: the document has an empty path item; `@clerk/backend`'s `clients.getHandshakePayload` is the contract | [`HandshakePayload`] |
//!
//! 429 and 5xx answers are retried with backoff where that is safe ([`Retry`]), honouring
//! `Retry-After`, within a [`RetryPolicy`]. Ids are percent-encoded as one path segment each.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

use crate::keys::SecretKey;

pub const DEFAULT_API_URL: &str = "https://api.clerk.com";
pub const API_VERSION: &str = "2026-05-12";

/// Which failed answers a call may repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Never: the caller owns the policy (JWKS cache) or follows the SDK, which does not retry
    /// on the request path (refresh, handshake payload).
    Never,
    /// 429 only: Clerk did not act on the request, but a 5xx may have created something.
    RateLimited,
    /// 429 and 5xx: repeating the call changes nothing more than the first one did.
    Idempotent,
}

/// One Backend API operation as the client calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub method: &'static str,
    /// Under `/v1`, with the spec's parameter names (`/users/{user_id}`).
    pub path: &'static str,
    /// The operationId in `bapi-2026-05-12.yml`; `None` where the document has no operation.
    pub operation_id: Option<&'static str>,
    pub retry: Retry,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} /v1{}", self.operation_id.unwrap_or("Backend API"), self.method, self.path)?;
        Ok(())
    }
}

const fn ep(method: &'static str, path: &'static str, op: &'static str, retry: Retry) -> Endpoint {
    Endpoint { method, path, operation_id: Some(op), retry }
}

pub const GET_JWKS: Endpoint = ep("GET", "/jwks", "GetJWKS", Retry::Never);
pub const GET_INSTANCE: Endpoint = ep("GET", "/instance", "GetInstance", Retry::Idempotent);
pub const GET_USER_LIST: Endpoint = ep("GET", "/users", "GetUserList", Retry::Idempotent);
pub const GET_USERS_COUNT: Endpoint = ep("GET", "/users/count", "GetUsersCount", Retry::Idempotent);
pub const GET_USER: Endpoint = ep("GET", "/users/{user_id}", "GetUser", Retry::Idempotent);
pub const USER_MEMBERSHIPS: Endpoint =
    ep("GET", "/users/{user_id}/organization_memberships", "UsersGetOrganizationMemberships", Retry::Idempotent);
pub const LIST_ORGANIZATIONS: Endpoint = ep("GET", "/organizations", "ListOrganizations", Retry::Idempotent);
pub const CREATE_ORGANIZATION: Endpoint = ep("POST", "/organizations", "CreateOrganization", Retry::RateLimited);
pub const GET_ORGANIZATION: Endpoint =
    ep("GET", "/organizations/{organization_id}", "GetOrganization", Retry::Idempotent);
pub const LIST_ORGANIZATION_MEMBERSHIPS: Endpoint =
    ep("GET", "/organizations/{organization_id}/memberships", "ListOrganizationMemberships", Retry::Idempotent);
pub const GET_SESSION: Endpoint = ep("GET", "/sessions/{session_id}", "GetSession", Retry::Idempotent);
pub const REVOKE_SESSION: Endpoint = ep("POST", "/sessions/{session_id}/revoke", "RevokeSession", Retry::Idempotent);
pub const CREATE_SESSION_TOKEN: Endpoint =
    ep("POST", "/sessions/{session_id}/tokens", "CreateSessionToken", Retry::Idempotent);
pub const CREATE_SESSION_TOKEN_FROM_TEMPLATE: Endpoint =
    ep("POST", "/sessions/{session_id}/tokens/{template_name}", "CreateSessionTokenFromTemplate", Retry::Idempotent);
pub const REFRESH_SESSION: Endpoint = ep("POST", "/sessions/{session_id}/refresh", "RefreshSession", Retry::Never);
/// The OpenAPI document lists `/clients/handshake_payload` with no operation; the contract is
/// `@clerk/backend`'s `clients.getHandshakePayload` (`{directives: string[]}`).
pub const HANDSHAKE_PAYLOAD: Endpoint =
    Endpoint { method: "GET", path: "/clients/handshake_payload", operation_id: None, retry: Retry::Never };

/// Every endpoint this client calls (the contract tests' list).
pub const ENDPOINTS: &[Endpoint] = &[
    GET_JWKS,
    GET_INSTANCE,
    GET_USER_LIST,
    GET_USERS_COUNT,
    GET_USER,
    USER_MEMBERSHIPS,
    LIST_ORGANIZATIONS,
    CREATE_ORGANIZATION,
    GET_ORGANIZATION,
    LIST_ORGANIZATION_MEMBERSHIPS,
    GET_SESSION,
    REVOKE_SESSION,
    CREATE_SESSION_TOKEN,
    CREATE_SESSION_TOKEN_FROM_TEMPLATE,
    REFRESH_SESSION,
    HANDSHAKE_PAYLOAD,
];

/// How 429 and 5xx answers are retried (for endpoints whose [`Retry`] allows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first; 0 never retries.
    pub max_retries: usize,
    /// First wait when Clerk sends no `Retry-After`; doubles each time, with jitter.
    pub min_delay: Duration,
    /// Longest single wait. A `Retry-After` longer than this ends the retries (the 429 is
    /// returned with its `retry_after`) rather than being cut short.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 3, min_delay: Duration::from_millis(250), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// One attempt only.
    pub const NONE: RetryPolicy = RetryPolicy { max_retries: 0, min_delay: Duration::ZERO, max_delay: Duration::ZERO };
}

/// One entry of Clerk's `{"errors":[…]}` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClerkErrorEntry {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub long_message: Option<String>,
    #[serde(default)]
    pub meta: Option<Value>,
}

/// Clerk's error body shape (`ClerkErrors` in the spec), also what the emulator answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ClerkErrors {
    pub errors: Vec<ClerkErrorEntry>,
    #[serde(default)]
    pub meta: Option<Value>,
    #[serde(default)]
    pub clerk_trace_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{endpoint}: Clerk Backend API answered {status}: {}", first_code(.body))]
    Clerk { endpoint: &'static Endpoint, status: u16, body: ClerkErrors, retry_after: Option<u64> },
    #[error("{endpoint}: Clerk Backend API unreachable: {source}")]
    Transport {
        endpoint: &'static Endpoint,
        #[source]
        source: reqwest::Error,
    },
    /// Clerk answered, but not in a shape this client understands (a changed or unknown API).
    #[error("{endpoint}: Clerk Backend API answered {status} with a body this client does not understand: {detail}")]
    Unexpected { endpoint: &'static Endpoint, status: u16, detail: String },
    /// An id that cannot be one path segment (empty, `.` or `..`): refused before any call.
    #[error("{endpoint}: {value:?} is not a valid id")]
    InvalidId { endpoint: &'static Endpoint, value: String },
}

fn first_code(b: &ClerkErrors) -> String {
    b.errors.first().map(|e| e.code.clone()).unwrap_or_else(|| "unknown".into())
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Clerk { status, .. } | ApiError::Unexpected { status, .. } => Some(*status),
            ApiError::Transport { source, .. } => source.status().map(|s| s.as_u16()),
            ApiError::InvalidId { .. } => None,
        }
    }
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Clerk { body, .. } => body.errors.first().map(|e| e.code.as_str()),
            _ => None,
        }
    }
    /// Clerk itself said the resource does not exist: a 404 with Clerk's error body. A 404
    /// without it (a proxy, a wrong base URL) is not Clerk's word, and neither is any other failure.
    pub fn is_clerk_not_found(&self) -> bool {
        matches!(self, ApiError::Clerk { status: 404, .. })
    }
    /// The endpoint that failed.
    pub fn endpoint(&self) -> &'static Endpoint {
        match self {
            ApiError::Clerk { endpoint, .. }
            | ApiError::Transport { endpoint, .. }
            | ApiError::Unexpected { endpoint, .. }
            | ApiError::InvalidId { endpoint, .. } => endpoint,
        }
    }
    /// Seconds Clerk asked us to wait (429).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Clerk { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
    fn retryable(&self, retry: Retry) -> bool {
        match (retry, self.status()) {
            (Retry::Never, _) => false,
            (_, Some(429)) => matches!(self, ApiError::Clerk { .. } | ApiError::Unexpected { .. }),
            (Retry::Idempotent, Some(s)) => (500..600).contains(&s),
            _ => false,
        }
    }
}

/// `{"data":[…],"total_count":N}`: the spec's `Organizations` and `OrganizationMemberships`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub total_count: u64,
}

/// `{"object":"total_count","total_count":N}` (spec `TotalCount`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TotalCount {
    total_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(rename = "use", default)]
    pub use_: Option<String>,
    pub n: String,
    pub e: String,
}

/// Spec `JWKS` (RSA keys are the ones session tokens are signed with).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Spec `Instance`: the Clerk instance the secret key belongs to (`ins_…`), e.g. to tell which
/// instance a mirror of its users and organizations was made from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// `development` or `production`.
    pub environment_type: String,
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default)]
    pub workspace_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmailAddress {
    pub id: String,
    pub email_address: String,
}

/// Spec `User`: the fields the app reads (`first_name`, `last_name`, `username` are required
/// and nullable there).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    pub primary_email_address_id: Option<String>,
    pub email_addresses: Vec<EmailAddress>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl User {
    pub fn primary_email(&self) -> Option<&str> {
        let id = self.primary_email_address_id.as_deref()?;
        self.email_addresses.iter().find(|e| e.id == id).map(|e| e.email_address.as_str())
    }
    /// First and last name, else username.
    pub fn display_name(&self) -> Option<String> {
        let full = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !full.is_empty() {
            Some(full)
        } else {
            self.username.clone().filter(|u| !u.is_empty())
        }
    }
}

/// Spec `Organization` (`slug` is required there; kept optional for webhook payloads).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Organization {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub members_count: Option<u64>,
    #[serde(default)]
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Spec `OrganizationMembershipPublicUserData`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublicUserData {
    pub user_id: String,
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

/// Spec `OrganizationMembership` (`public_user_data` is optional there but always present for
/// a user's membership, and the mirror cannot place one without it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrganizationMembership {
    pub id: String,
    pub role: String,
    pub permissions: Vec<String>,
    pub organization: Organization,
    pub public_user_data: PublicUserData,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Spec `Session`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub status: String,
    pub client_id: Option<String>,
    #[serde(default)]
    pub last_active_organization_id: Option<String>,
}

/// `{object: "token", jwt}` (spec `Token`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionToken {
    pub jwt: String,
}

/// `{directives: string[]}` (`@clerk/backend`'s `HandshakePayloadJSON`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HandshakePayload {
    pub directives: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct CreateOrganization {
    pub name: String,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

/// Client for one Clerk instance's Backend API.
#[derive(Clone)]
pub struct BackendApi {
    http: reqwest::Client,
    base: String,
    secret: SecretKey,
    retry: RetryPolicy,
}

impl std::fmt::Debug for BackendApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendApi").field("base", &self.base).field("secret", &self.secret).finish()
    }
}

/// Page size for the `all_*` walks (Clerk allows 1–500).
const PAGE: u32 = 100;

impl BackendApi {
    /// `api_url` like `https://api.clerk.com` (the `/v1` is added here).
    pub fn new(api_url: &str, secret: SecretKey) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("tenantry-clerk/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client");
        Self { http, base: format!("{}/v1", api_url.trim_end_matches('/')), secret, retry: RetryPolicy::default() }
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// `ep.path` with each `{param}` replaced, in order, by one encoded segment of `ids`.
    fn path(ep: &'static Endpoint, ids: &[&str]) -> Result<String, ApiError> {
        let mut out = String::with_capacity(ep.path.len() + 32);
        let mut ids = ids.iter();
        for part in ep.path.split('/').skip(1) {
            out.push('/');
            if part.starts_with('{') {
                let id = ids.next().expect("one id per path parameter");
                // The URL parser drops `.`/`..` segments (even encoded) and an empty one changes
                // the route: none of them is an id.
                if id.is_empty() || *id == "." || *id == ".." {
                    return Err(ApiError::InvalidId { endpoint: ep, value: id.to_string() });
                }
                out.extend(utf8_percent_encode(id, PATH_SEGMENT));
            } else {
                out.push_str(part);
            }
        }
        Ok(out)
    }

    /// One call, retried as `ep.retry` and the policy allow.
    async fn call<T: DeserializeOwned>(
        &self,
        ep: &'static Endpoint,
        ids: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        use backon::{ExponentialBuilder, Retryable};
        let url = format!("{}{}", self.base, Self::path(ep, ids)?);
        let method = reqwest::Method::from_bytes(ep.method.as_bytes()).expect("HTTP method");
        let (url, method) = (&url, &method);
        let once = move || async move {
            let mut rb = self
                .http
                .request(method.clone(), url)
                .bearer_auth(self.secret.expose())
                .header("Clerk-API-Version", API_VERSION);
            if !query.is_empty() {
                rb = rb.query(query);
            }
            if let Some(b) = body {
                rb = rb.json(b);
            }
            self.send_once::<T>(ep, rb).await
        };
        let policy = self.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(policy.max_retries);
        once.retry(backoff)
            .when(|e: &ApiError| e.retryable(ep.retry))
            .adjust(move |e: &ApiError, next| {
                let next = next?;
                match e.retry_after() {
                    // Clerk said how long: wait that long, or stop if it is beyond the bound.
                    Some(s) if Duration::from_secs(s) > policy.max_delay => None,
                    Some(s) => Some(Duration::from_secs(s).max(next.min(policy.max_delay))),
                    None => Some(next),
                }
            })
            .notify(|e: &ApiError, d| tracing::warn!(error = %e, wait_ms = d.as_millis() as u64, "retrying"))
            .await
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        ep: &'static Endpoint,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let transport = |source| ApiError::Transport { endpoint: ep, source };
        let resp = rb.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        let bytes = resp.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            serde_json::from_slice(&bytes).map_err(|e| ApiError::Unexpected {
                endpoint: ep,
                status,
                detail: e.to_string(),
            })
        } else {
            match serde_json::from_slice::<ClerkErrors>(&bytes) {
                Ok(body) => Err(ApiError::Clerk { endpoint: ep, status, body, retry_after }),
                Err(_) => Err(ApiError::Unexpected {
                    endpoint: ep,
                    status,
                    detail: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                }),
            }
        }
    }

    fn page(limit: u32, offset: u64) -> [(&'static str, String); 2] {
        [("limit", limit.to_string()), ("offset", offset.to_string())]
    }

    /// `GetJWKS`. Not retried here: [`crate::JwksCache`] has its own policy.
    pub async fn get_jwks(&self) -> Result<Jwks, ApiError> {
        self.call(&GET_JWKS, &[], &[], None).await
    }
    /// `GetInstance`: the instance this client's secret key belongs to.
    pub async fn get_instance(&self) -> Result<Instance, ApiError> {
        self.call(&GET_INSTANCE, &[], &[], None).await
    }
    /// `GetUser`.
    pub async fn get_user(&self, user_id: &str) -> Result<User, ApiError> {
        self.call(&GET_USER, &[user_id], &[], None).await
    }
    /// `GetUserList`: one page, newest first, as a bare array (Clerk sends no total here; see
    /// [`Self::count_users`]).
    pub async fn list_users(&self, limit: u32, offset: u64) -> Result<Vec<User>, ApiError> {
        self.call(&GET_USER_LIST, &[], &Self::page(limit, offset), None).await
    }
    /// `GetUsersCount`.
    pub async fn count_users(&self) -> Result<u64, ApiError> {
        self.call::<TotalCount>(&GET_USERS_COUNT, &[], &[], None).await.map(|c| c.total_count)
    }
    /// Every user: `GetUserList` pages until a short one. Offsets shift when a user is created
    /// meanwhile, so a user seen twice is kept once.
    pub async fn all_users(&self) -> Result<Vec<User>, ApiError> {
        let mut out: Vec<User> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut offset = 0u64;
        loop {
            let page = self.list_users(PAGE, offset).await?;
            let n = page.len();
            offset += n as u64;
            out.extend(page.into_iter().filter(|u| seen.insert(u.id.clone())));
            if n < PAGE as usize {
                return Ok(out);
            }
        }
    }
    /// `UsersGetOrganizationMemberships`.
    pub async fn user_memberships(
        &self,
        user_id: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Paginated<OrganizationMembership>, ApiError> {
        self.call(&USER_MEMBERSHIPS, &[user_id], &Self::page(limit, offset), None).await
    }
    /// `ListOrganizations`.
    pub async fn list_organizations(&self, limit: u32, offset: u64) -> Result<Paginated<Organization>, ApiError> {
        self.call(&LIST_ORGANIZATIONS, &[], &Self::page(limit, offset), None).await
    }
    /// `GetOrganization` (id or slug).
    pub async fn get_organization(&self, id_or_slug: &str) -> Result<Organization, ApiError> {
        self.call(&GET_ORGANIZATION, &[id_or_slug], &[], None).await
    }
    /// `ListOrganizationMemberships`.
    pub async fn organization_memberships(
        &self,
        org_id: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Paginated<OrganizationMembership>, ApiError> {
        self.call(&LIST_ORGANIZATION_MEMBERSHIPS, &[org_id], &Self::page(limit, offset), None).await
    }
    /// `CreateOrganization` (retried on 429 only: a 5xx may have created it).
    pub async fn create_organization(&self, body: &CreateOrganization) -> Result<Organization, ApiError> {
        let body = serde_json::to_value(body).expect("serializable");
        self.call(&CREATE_ORGANIZATION, &[], &[], Some(&body)).await
    }
    /// `GetSession`.
    pub async fn get_session(&self, session_id: &str) -> Result<Session, ApiError> {
        self.call(&GET_SESSION, &[session_id], &[], None).await
    }
    /// `RevokeSession`.
    pub async fn revoke_session(&self, session_id: &str) -> Result<Session, ApiError> {
        self.call(&REVOKE_SESSION, &[session_id], &[], Some(&serde_json::json!({}))).await
    }
    /// `CreateSessionToken`, or `CreateSessionTokenFromTemplate` with a template.
    pub async fn session_token(
        &self,
        session_id: &str,
        template: Option<&str>,
        expires_in_seconds: Option<u32>,
    ) -> Result<SessionToken, ApiError> {
        let body = match expires_in_seconds {
            Some(s) => serde_json::json!({ "expires_in_seconds": s }),
            None => serde_json::json!({}),
        };
        match template {
            Some(t) => self.call(&CREATE_SESSION_TOKEN_FROM_TEMPLATE, &[session_id, t], &[], Some(&body)).await,
            None => self.call(&CREATE_SESSION_TOKEN, &[session_id], &[], Some(&body)).await,
        }
    }
    /// `RefreshSession` (cookie format): Set-Cookie strings for a fresh session.
    pub async fn refresh_session(
        &self,
        session_id: &str,
        expired_token: &str,
        refresh_token: &str,
        request_origin: &str,
        request_headers: &http::HeaderMap,
        suffixed_cookies: bool,
    ) -> Result<Vec<String>, ApiError> {
        #[derive(Deserialize)]
        struct Cookies {
            cookies: Vec<String>,
        }
        // As the SDK sends them (fetch `Headers` entries): one entry per name, values joined.
        let headers: serde_json::Map<String, serde_json::Value> = request_headers
            .keys()
            .map(|name| {
                let values: Vec<&str> = request_headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
                (name.as_str().to_string(), serde_json::json!([values.join(", ")]))
            })
            .collect();
        let body = serde_json::json!({
            "format": "cookie",
            "expired_token": expired_token,
            "refresh_token": refresh_token,
            "request_origin": request_origin,
            "request_headers": headers,
        });
        let query = [("suffixed_cookies", suffixed_cookies.to_string())];
        self.call::<Cookies>(&REFRESH_SESSION, &[session_id], &query, Some(&body)).await.map(|c| c.cookies)
    }
    /// The handshake payload of a nonce (`@clerk/backend`'s `clients.getHandshakePayload`).
    pub async fn handshake_payload(&self, nonce: &str) -> Result<HandshakePayload, ApiError> {
        self.call(&HANDSHAKE_PAYLOAD, &[], &[("nonce", nonce.to_string())], None).await
    }

    /// Every page of a `{data, total_count}` list endpoint (organizations, memberships).
    pub async fn collect_all<T, F, Fut>(&self, mut page: F) -> Result<Vec<T>, ApiError>
    where
        F: FnMut(u32, u64) -> Fut,
        Fut: std::future::Future<Output = Result<Paginated<T>, ApiError>>,
    {
        let mut out = Vec::new();
        loop {
            let p = page(PAGE, out.len() as u64).await?;
            let n = p.data.len();
            out.extend(p.data);
            if n < PAGE as usize || out.len() as u64 >= p.total_count {
                return Ok(out);
            }
        }
    }
}

/// The WHATWG path-segment percent-encode set (controls, space, `"#<>?\`{}`, `/`, `%`), plus `\`,
/// which URL parsers read as `/` in http(s) URLs: an id stays one segment whatever it holds.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%')
    .add(b'\\');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_encoded_segment() {
        let p = |ids: &[&str]| BackendApi::path(&CREATE_SESSION_TOKEN_FROM_TEMPLATE, ids);
        assert_eq!(p(&["sess_1", "supabase"]).unwrap(), "/sessions/sess_1/tokens/supabase");
        assert_eq!(
            p(&["../users/user_1", "a?b#c d%2F\\e"]).unwrap(),
            "/sessions/..%2Fusers%2Fuser_1/tokens/a%3Fb%23c%20d%252F%5Ce"
        );
        assert_eq!(p(&["sess_é", "x"]).unwrap(), "/sessions/sess_%C3%A9/tokens/x");
        for bad in ["", ".", ".."] {
            let e = p(&["sess_1", bad]).unwrap_err();
            assert!(matches!(e, ApiError::InvalidId { .. }), "{bad:?}: {e}");
            assert!(e.to_string().contains("CreateSessionTokenFromTemplate"), "{e}");
        }
    }

    #[test]
    fn endpoints_name_their_operation() {
        assert_eq!(GET_USER_LIST.to_string(), "GetUserList GET /v1/users");
        assert_eq!(HANDSHAKE_PAYLOAD.to_string(), "Backend API GET /v1/clients/handshake_payload");
        let mut ops: Vec<_> = ENDPOINTS.iter().map(|e| (e.method, e.path)).collect();
        ops.sort();
        ops.dedup();
        assert_eq!(ops.len(), ENDPOINTS.len(), "each endpoint listed once");
    }
}
