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
//! | PATCH | `/organizations/{organization_id}` | `UpdateOrganization` | [`Organization`] |
//! | DELETE | `/organizations/{organization_id}` | `DeleteOrganization` | [`DeletedObject`] |
//! | GET | `/organizations/{organization_id}/memberships` | `ListOrganizationMemberships` | [`Paginated`] of [`OrganizationMembership`] |
//! | PATCH | `/organizations/{organization_id}/memberships/{user_id}` | `UpdateOrganizationMembership` | [`OrganizationMembership`] |
//! | DELETE | `/organizations/{organization_id}/memberships/{user_id}` | `DeleteOrganizationMembership` | [`OrganizationMembership`] |
//! | POST | `/organizations/{organization_id}/invitations` | `CreateOrganizationInvitation` | [`OrganizationInvitation`] |
//! | GET | `/organizations/{organization_id}/invitations` | `ListOrganizationInvitations` | [`Paginated`] of [`OrganizationInvitation`] (`status` filter) |
//! | POST | `/organizations/{organization_id}/invitations/{invitation_id}/revoke` | `RevokeOrganizationInvitation` | [`OrganizationInvitation`] |
//! | GET | `/sessions/{session_id}` | `GetSession` | [`Session`] |
//! | POST | `/sessions/{session_id}/revoke` | `RevokeSession` | [`Session`] |
//! | POST | `/sessions/{session_id}/tokens` | `CreateSessionToken` | [`SessionToken`] |
//! | POST | `/sessions/{session_id}/tokens/{template_name}` | `CreateSessionTokenFromTemplate` | [`SessionToken`] |
//! | POST | `/sessions/{session_id}/refresh` | `RefreshSession` | `{object: "cookies", cookies}` |
//! | GET | `/clients/handshake_payload` | none: the document has an empty path item; `@clerk/backend`'s `clients.getHandshakePayload` is the contract | [`HandshakePayload`] |
//!
//! 429 and 5xx answers are retried with backoff where that is safe ([`Retry`]), honouring
//! `Retry-After`, within a [`RetryPolicy`]. Ids are percent-encoded as one path segment each.

mod endpoints;
mod errors;
mod types;

pub use endpoints::*;
pub use errors::*;
pub use types::*;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

use crate::keys::SecretKey;

pub const DEFAULT_API_URL: &str = "https://api.clerk.com";
pub const API_VERSION: &str = "2026-05-12";

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
    /// `UpdateOrganizationMembership`: the member's new role (`org:admin`, `org:member`, …).
    pub async fn update_organization_membership(
        &self,
        org_id: &str,
        user_id: &str,
        role: &str,
    ) -> Result<OrganizationMembership, ApiError> {
        let body = serde_json::json!({ "role": role });
        self.call(&UPDATE_ORGANIZATION_MEMBERSHIP, &[org_id, user_id], &[], Some(&body)).await
    }
    /// `DeleteOrganizationMembership`: the user leaves the organization; answers the removed
    /// membership.
    pub async fn delete_organization_membership(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<OrganizationMembership, ApiError> {
        self.call(&DELETE_ORGANIZATION_MEMBERSHIP, &[org_id, user_id], &[], None).await
    }
    /// `UpdateOrganization`: only the fields given change.
    pub async fn update_organization(&self, org_id: &str, body: &UpdateOrganization) -> Result<Organization, ApiError> {
        let body = serde_json::to_value(body).expect("serializable");
        self.call(&UPDATE_ORGANIZATION, &[org_id], &[], Some(&body)).await
    }
    /// `DeleteOrganization`.
    pub async fn delete_organization(&self, org_id: &str) -> Result<DeletedObject, ApiError> {
        self.call(&DELETE_ORGANIZATION, &[org_id], &[], None).await
    }
    /// `CreateOrganizationInvitation` (retried on 429 only: a 5xx may have sent it).
    pub async fn create_organization_invitation(
        &self,
        org_id: &str,
        body: &CreateOrganizationInvitation,
    ) -> Result<OrganizationInvitation, ApiError> {
        let body = serde_json::to_value(body).expect("serializable");
        self.call(&CREATE_ORGANIZATION_INVITATION, &[org_id], &[], Some(&body)).await
    }
    /// `ListOrganizationInvitations`, optionally only those with `status` (`pending`,
    /// `accepted`, `revoked`, `expired`).
    pub async fn organization_invitations(
        &self,
        org_id: &str,
        status: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<Paginated<OrganizationInvitation>, ApiError> {
        let mut query = Self::page(limit, offset).to_vec();
        if let Some(s) = status {
            query.push(("status", s.to_string()));
        }
        self.call(&LIST_ORGANIZATION_INVITATIONS, &[org_id], &query, None).await
    }
    /// `RevokeOrganizationInvitation`; `requesting_user_id` is the admin revoking it.
    pub async fn revoke_organization_invitation(
        &self,
        org_id: &str,
        invitation_id: &str,
        requesting_user_id: Option<&str>,
    ) -> Result<OrganizationInvitation, ApiError> {
        let body = match requesting_user_id {
            Some(u) => serde_json::json!({ "requesting_user_id": u }),
            None => serde_json::json!({}),
        };
        self.call(&REVOKE_ORGANIZATION_INVITATION, &[org_id, invitation_id], &[], Some(&body)).await
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
