//! The Backend API objects the app reads, shaped as the OpenAPI document's schemas (the
//! emulator's contract test decodes spec-valid answers into them).

use serde::{Deserialize, Serialize};

/// `{"data":[…],"total_count":N}`: the spec's `Organizations` and `OrganizationMemberships`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub total_count: u64,
}

/// `{"object":"total_count","total_count":N}` (spec `TotalCount`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TotalCount {
    pub(super) total_count: u64,
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

/// `UpdateOrganization`'s body: absent fields are left as they are.
#[derive(Debug, Clone, Serialize, Default)]
pub struct UpdateOrganization {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

/// Spec `DeletedObject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeletedObject {
    pub object: String,
    #[serde(default)]
    pub id: Option<String>,
    pub deleted: bool,
}

/// Spec `OrganizationInvitation` (`status`: `pending`, `accepted`, `revoked`, `expired`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrganizationInvitation {
    pub id: String,
    pub email_address: String,
    pub role: String,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub inviter_id: Option<String>,
    /// The link that accepts it (sign-up or sign-in with the invitation).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// `CreateOrganizationInvitation`'s body.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CreateOrganizationInvitation {
    pub email_address: String,
    pub role: String,
    /// Must be an admin of the organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inviter_user_id: Option<String>,
    /// Where the invitee lands after accepting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}
