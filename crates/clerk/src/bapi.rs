//! Typed Backend API client (protocol §6): Bearer secret key, Clerk error bodies, `Retry-After`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

use crate::keys::SecretKey;

pub const DEFAULT_API_URL: &str = "https://api.clerk.com";
pub const API_VERSION: &str = "2026-05-12";

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

/// Clerk's error body shape, also what the emulator answers.
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
    #[error("Clerk Backend API answered {status}: {}", first_code(.body))]
    Clerk { status: u16, body: ClerkErrors, retry_after: Option<u64> },
    #[error("Clerk Backend API unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("Clerk Backend API answered {status} with a body that is not what was expected: {detail}")]
    Unexpected { status: u16, detail: String },
}

fn first_code(b: &ClerkErrors) -> String {
    b.errors.first().map(|e| e.code.clone()).unwrap_or_else(|| "unknown".into())
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Clerk { status, .. } | ApiError::Unexpected { status, .. } => Some(*status),
            ApiError::Transport(e) => e.status().map(|s| s.as_u16()),
        }
    }
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Clerk { body, .. } => body.errors.first().map(|e| e.code.as_str()),
            _ => None,
        }
    }
}

/// `{"data":[…],"total_count":N}`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub total_count: u64,
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmailAddress {
    pub id: String,
    pub email_address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub primary_email_address_id: Option<String>,
    #[serde(default)]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
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
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
}

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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrganizationMembership {
    pub id: String,
    pub role: String,
    #[serde(default)]
    pub permissions: Vec<String>,
    pub organization: Organization,
    pub public_user_data: PublicUserData,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub status: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub last_active_organization_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionToken {
    pub jwt: String,
}

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
}

impl std::fmt::Debug for BackendApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendApi").field("base", &self.base).field("secret", &self.secret).finish()
    }
}

impl BackendApi {
    /// `api_url` like `https://api.clerk.com` (the `/v1` is added here).
    pub fn new(api_url: &str, secret: SecretKey) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("tenantry-clerk/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client");
        Self { http, base: format!("{}/v1", api_url.trim_end_matches('/')), secret }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(self.secret.expose())
            .header("Clerk-API-Version", API_VERSION)
    }

    async fn send<T: DeserializeOwned>(&self, rb: reqwest::RequestBuilder) -> Result<T, ApiError> {
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        let bytes = resp.bytes().await?;
        if (200..300).contains(&status) {
            serde_json::from_slice(&bytes).map_err(|e| ApiError::Unexpected { status, detail: e.to_string() })
        } else {
            match serde_json::from_slice::<ClerkErrors>(&bytes) {
                Ok(body) => Err(ApiError::Clerk { status, body, retry_after }),
                Err(_) => Err(ApiError::Unexpected {
                    status,
                    detail: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                }),
            }
        }
    }

    pub async fn get_jwks(&self) -> Result<Jwks, ApiError> {
        self.send(self.req(reqwest::Method::GET, "/jwks")).await
    }
    pub async fn get_user(&self, user_id: &str) -> Result<User, ApiError> {
        self.send(self.req(reqwest::Method::GET, &format!("/users/{}", seg(user_id)))).await
    }
    pub async fn list_users(&self, limit: u32, offset: u64) -> Result<Paginated<User>, ApiError> {
        self.send(self.req(reqwest::Method::GET, "/users").query(&[("limit", limit as u64), ("offset", offset)])).await
    }
    pub async fn user_memberships(
        &self,
        user_id: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Paginated<OrganizationMembership>, ApiError> {
        self.send(
            self.req(reqwest::Method::GET, &format!("/users/{}/organization_memberships", seg(user_id)))
                .query(&[("limit", limit as u64), ("offset", offset)]),
        )
        .await
    }
    pub async fn list_organizations(&self, limit: u32, offset: u64) -> Result<Paginated<Organization>, ApiError> {
        self.send(
            self.req(reqwest::Method::GET, "/organizations").query(&[("limit", limit as u64), ("offset", offset)]),
        )
        .await
    }
    pub async fn get_organization(&self, id_or_slug: &str) -> Result<Organization, ApiError> {
        self.send(self.req(reqwest::Method::GET, &format!("/organizations/{}", seg(id_or_slug)))).await
    }
    pub async fn organization_memberships(
        &self,
        org_id: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Paginated<OrganizationMembership>, ApiError> {
        self.send(
            self.req(reqwest::Method::GET, &format!("/organizations/{}/memberships", seg(org_id)))
                .query(&[("limit", limit as u64), ("offset", offset)]),
        )
        .await
    }
    pub async fn create_organization(&self, body: &CreateOrganization) -> Result<Organization, ApiError> {
        self.send(self.req(reqwest::Method::POST, "/organizations").json(body)).await
    }
    pub async fn get_session(&self, session_id: &str) -> Result<Session, ApiError> {
        self.send(self.req(reqwest::Method::GET, &format!("/sessions/{}", seg(session_id)))).await
    }
    pub async fn revoke_session(&self, session_id: &str) -> Result<Session, ApiError> {
        self.send(
            self.req(reqwest::Method::POST, &format!("/sessions/{}/revoke", seg(session_id)))
                .json(&serde_json::json!({})),
        )
        .await
    }
    /// `POST /sessions/{sid}/tokens[/{template}]`.
    pub async fn session_token(
        &self,
        session_id: &str,
        template: Option<&str>,
        expires_in_seconds: Option<u32>,
    ) -> Result<SessionToken, ApiError> {
        let path = match template {
            Some(t) => format!("/sessions/{}/tokens/{}", seg(session_id), seg(t)),
            None => format!("/sessions/{}/tokens", seg(session_id)),
        };
        let body = match expires_in_seconds {
            Some(s) => serde_json::json!({ "expires_in_seconds": s }),
            None => serde_json::json!({}),
        };
        self.send(self.req(reqwest::Method::POST, &path).json(&body)).await
    }
    /// `POST /sessions/{sid}/refresh` (cookie format): Set-Cookie strings for a fresh session.
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
        let rb = self
            .req(reqwest::Method::POST, &format!("/sessions/{}/refresh", seg(session_id)))
            .query(&[("suffixed_cookies", suffixed_cookies)])
            .json(&body);
        self.send::<Cookies>(rb).await.map(|c| c.cookies)
    }
    pub async fn handshake_payload(&self, nonce: &str) -> Result<HandshakePayload, ApiError> {
        self.send(self.req(reqwest::Method::GET, "/clients/handshake_payload").query(&[("nonce", nonce)])).await
    }

    /// Every page of a list endpoint (for reconciliation).
    pub async fn collect_all<T, F, Fut>(&self, mut page: F) -> Result<Vec<T>, ApiError>
    where
        F: FnMut(u32, u64) -> Fut,
        Fut: std::future::Future<Output = Result<Paginated<T>, ApiError>>,
    {
        const LIMIT: u32 = 100;
        let mut out = Vec::new();
        loop {
            let p = page(LIMIT, out.len() as u64).await?;
            let n = p.data.len();
            out.extend(p.data);
            if n < LIMIT as usize || out.len() as u64 >= p.total_count {
                return Ok(out);
            }
        }
    }
}

/// Path segment encoding: ids come from tokens and users, never splice them raw into a path.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}
