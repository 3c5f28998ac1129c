//! The Backend API operations the client calls, each named by its operation in Clerk's OpenAPI
//! document, with how a failed answer may be retried.

use std::time::Duration;

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
pub const UPDATE_ORGANIZATION: Endpoint =
    ep("PATCH", "/organizations/{organization_id}", "UpdateOrganization", Retry::Idempotent);
pub const DELETE_ORGANIZATION: Endpoint =
    ep("DELETE", "/organizations/{organization_id}", "DeleteOrganization", Retry::Idempotent);
pub const LIST_ORGANIZATION_MEMBERSHIPS: Endpoint =
    ep("GET", "/organizations/{organization_id}/memberships", "ListOrganizationMemberships", Retry::Idempotent);
pub const UPDATE_ORGANIZATION_MEMBERSHIP: Endpoint = ep(
    "PATCH",
    "/organizations/{organization_id}/memberships/{user_id}",
    "UpdateOrganizationMembership",
    Retry::Idempotent,
);
pub const DELETE_ORGANIZATION_MEMBERSHIP: Endpoint = ep(
    "DELETE",
    "/organizations/{organization_id}/memberships/{user_id}",
    "DeleteOrganizationMembership",
    Retry::Idempotent,
);
/// Retried on 429 only: a 5xx may have created (and mailed) the invitation.
pub const CREATE_ORGANIZATION_INVITATION: Endpoint =
    ep("POST", "/organizations/{organization_id}/invitations", "CreateOrganizationInvitation", Retry::RateLimited);
pub const LIST_ORGANIZATION_INVITATIONS: Endpoint =
    ep("GET", "/organizations/{organization_id}/invitations", "ListOrganizationInvitations", Retry::Idempotent);
pub const REVOKE_ORGANIZATION_INVITATION: Endpoint = ep(
    "POST",
    "/organizations/{organization_id}/invitations/{invitation_id}/revoke",
    "RevokeOrganizationInvitation",
    Retry::Idempotent,
);
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
    UPDATE_ORGANIZATION,
    DELETE_ORGANIZATION,
    LIST_ORGANIZATION_MEMBERSHIPS,
    UPDATE_ORGANIZATION_MEMBERSHIP,
    DELETE_ORGANIZATION_MEMBERSHIP,
    CREATE_ORGANIZATION_INVITATION,
    LIST_ORGANIZATION_INVITATIONS,
    REVOKE_ORGANIZATION_INVITATION,
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
