//! The emulator's world: users, organizations, memberships, clients and sessions, in memory,
//! seeded from JSON and optionally persisted to a file.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `prefix_` + 24 random base62 characters, like Clerk's ids.
pub fn new_id(prefix: &str) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let s: String = (0..24).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect();
    format!("{prefix}_{s}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// SHA-256 of salt + password (a development tool, not a credential store).
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub salt: String,
    #[serde(default = "now_ms")]
    pub created_at: i64,
    #[serde(default = "now_ms")]
    pub updated_at: i64,
}

impl User {
    pub fn set_password(&mut self, password: &str) {
        self.salt = new_id("salt");
        self.password_hash = Some(hash(&self.salt, password));
    }
    pub fn password_matches(&self, password: &str) -> bool {
        use subtle::ConstantTimeEq;
        let Some(h) = &self.password_hash else { return false };
        h.as_bytes().ct_eq(hash(&self.salt, password).as_bytes()).into()
    }
    pub fn display_name(&self) -> String {
        let full =
            [self.first_name.as_deref(), self.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        if full.trim().is_empty() {
            self.email.clone().unwrap_or_else(|| self.id.clone())
        } else {
            full
        }
    }
    /// Clerk's User JSON (`User` in the Backend API document: every required field, `null`
    /// where the document allows it and we have nothing).
    pub fn to_json(&self) -> Value {
        let email_id = format!("idn_{}", self.id.trim_start_matches("user_"));
        json!({
            "object": "user", "id": self.id, "external_id": null,
            "primary_email_address_id": self.email.as_ref().map(|_| email_id.clone()),
            "primary_phone_number_id": null, "primary_web3_wallet_id": null,
            "username": self.username, "first_name": self.first_name, "last_name": self.last_name,
            "image_url": format!("https://img.clerk.test/{}", self.id), "has_image": false,
            "public_metadata": {}, "private_metadata": {}, "unsafe_metadata": {},
            "email_addresses": self.email.iter().map(|e| json!({
                "id": email_id, "object": "email_address", "email_address": e, "reserved": false,
                "verification": {"object": "verification_otp", "status": "verified", "strategy": "email_code",
                                 "attempts": 1, "expire_at": self.created_at + 600_000},
                "linked_to": [], "created_at": self.created_at, "updated_at": self.updated_at,
            })).collect::<Vec<_>>(),
            "phone_numbers": [], "web3_wallets": [], "passkeys": [],
            "password_enabled": self.password_hash.is_some(), "two_factor_enabled": false, "totp_enabled": false,
            "backup_code_enabled": false, "mfa_enabled_at": null, "mfa_disabled_at": null,
            "external_accounts": [], "saml_accounts": [], "enterprise_accounts": [],
            "last_sign_in_at": null, "banned": false, "locked": false, "lockout_expires_in_seconds": null,
            "verification_attempts_remaining": 100, "created_at": self.created_at, "updated_at": self.updated_at,
            "delete_self_enabled": true, "create_organization_enabled": true, "last_active_at": null,
            "legal_accepted_at": null,
        })
    }
}

fn hash(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default = "now_ms")]
    pub created_at: i64,
    #[serde(default = "now_ms")]
    pub updated_at: i64,
}

impl Organization {
    pub fn to_json(&self, members_count: Option<usize>) -> Value {
        let mut v = json!({
            "object": "organization", "id": self.id, "name": self.name, "slug": self.slug,
            "image_url": format!("https://img.clerk.test/{}", self.id), "has_image": false,
            "max_allowed_memberships": 0, "admin_delete_enabled": true, "public_metadata": {}, "private_metadata": {},
            "created_at": self.created_at, "updated_at": self.updated_at,
        });
        // A string in the document, never null: absent when unknown.
        if let Some(by) = &self.created_by {
            v["created_by"] = json!(by);
        }
        if let Some(n) = members_count {
            v["members_count"] = json!(n);
        }
        v
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub role: String,
    #[serde(default = "now_ms")]
    pub created_at: i64,
    #[serde(default = "now_ms")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub status: String,
    pub active_org_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The opaque credential of the `__refresh_<suffix>` cookie, for server-side refresh
    /// (Backend API `POST /v1/sessions/{id}/refresh`). Sessions from older state files have none.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// The one session task the emulator knows: Clerk's for an instance that requires organizations.
pub const CHOOSE_ORGANIZATION: &str = "choose-organization";

impl Session {
    /// Clerk's Backend API `Session`. `pending`: live but with the `choose-organization` task
    /// left (see `Emulator::session_json`, which decides it); `tasks` is `null` without tasks.
    pub fn to_json(&self, pending: bool) -> Value {
        let (status, tasks) = if pending {
            ("pending", json!([{"key": CHOOSE_ORGANIZATION}]))
        } else {
            (self.status.as_str(), Value::Null)
        };
        json!({"object": "session", "id": self.id, "client_id": self.client_id, "user_id": self.user_id, "status": status,
               "last_active_organization_id": self.active_org_id, "last_active_at": self.updated_at,
               "expire_at": self.created_at + 7 * 86_400_000, "abandon_at": self.created_at + 30 * 86_400_000,
               "created_at": self.created_at, "updated_at": self.updated_at, "tasks": tasks})
    }
}

/// An organization invitation (`CreateOrganizationInvitation`): its secret `ticket` is in the
/// link it sends, which accepts it through sign-up or sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invitation {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: String,
    /// `pending`, `accepted`, `revoked` (or `expired`, past `expires_at`).
    pub status: String,
    pub inviter_id: Option<String>,
    pub ticket: String,
    pub redirect_url: Option<String>,
    /// Who accepted it.
    #[serde(default)]
    pub user_id: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Invitation {
    /// `pending` past its expiry is `expired`.
    pub fn status(&self) -> &str {
        if self.status == "pending" && self.expires_at <= now_ms() {
            "expired"
        } else {
            &self.status
        }
    }
}

/// A browser: the `__client` cookie of the Frontend API names one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    /// Secret cookie value (the id is public in sessions).
    pub cookie: String,
    pub session_id: Option<String>,
    /// Seconds; the `__client_uat` value.
    pub updated_at: i64,
    /// Milliseconds (clients from older state files: when they were loaded).
    #[serde(default = "now_ms")]
    pub created_at: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub users: BTreeMap<String, User>,
    pub organizations: BTreeMap<String, Organization>,
    pub memberships: BTreeMap<String, Membership>,
    pub sessions: BTreeMap<String, Session>,
    pub clients: BTreeMap<String, Client>,
    /// Handshake nonces → Set-Cookie directives (one use each).
    #[serde(default)]
    pub nonces: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub invitations: BTreeMap<String, Invitation>,
}

/// The seed file the run script passes: users (with passwords) and organizations with members.
#[derive(Debug, Clone, Deserialize)]
pub struct Seed {
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub organizations: Vec<SeedOrganization>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeedUser {
    pub id: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeedOrganization {
    pub id: String,
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub members: Vec<SeedMember>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeedMember {
    pub user: String,
    pub role: String,
}

impl State {
    pub fn from_seed(seed: &Seed) -> Self {
        let mut s = State::default();
        for u in &seed.users {
            let mut user = User {
                id: u.id.clone(),
                email: Some(u.email.to_lowercase()),
                first_name: u.first_name.clone(),
                last_name: u.last_name.clone(),
                username: None,
                password_hash: None,
                salt: String::new(),
                created_at: now_ms(),
                updated_at: now_ms(),
            };
            user.set_password(&u.password);
            s.users.insert(user.id.clone(), user);
        }
        for o in &seed.organizations {
            s.organizations.insert(
                o.id.clone(),
                Organization {
                    id: o.id.clone(),
                    name: o.name.clone(),
                    slug: o.slug.clone(),
                    created_by: o.members.first().map(|m| m.user.clone()),
                    created_at: now_ms(),
                    updated_at: now_ms(),
                },
            );
            for m in &o.members {
                let id = format!("orgmem_{}_{}", o.id.trim_start_matches("org_"), m.user.trim_start_matches("user_"));
                s.memberships.insert(
                    id.clone(),
                    Membership {
                        id,
                        org_id: o.id.clone(),
                        user_id: m.user.clone(),
                        role: m.role.clone(),
                        created_at: now_ms(),
                        updated_at: now_ms(),
                    },
                );
            }
        }
        s
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        let email = email.trim().to_lowercase();
        self.users.values().find(|u| u.email.as_deref() == Some(email.as_str()))
    }

    pub fn org_by_id_or_slug(&self, key: &str) -> Option<&Organization> {
        self.organizations.get(key).or_else(|| self.organizations.values().find(|o| o.slug == key))
    }

    pub fn membership(&self, org_id: &str, user_id: &str) -> Option<&Membership> {
        self.memberships.values().find(|m| m.org_id == org_id && m.user_id == user_id)
    }

    /// The Backend API's `OrganizationInvitation`; `url` is the link that accepts it.
    pub fn invitation_json(&self, i: &Invitation, public_url: &str) -> Value {
        let inviter = i.inviter_id.as_ref().and_then(|id| self.users.get(id));
        let inviter_data = inviter.map(|u| {
            json!({"user_id": u.id, "first_name": u.first_name, "last_name": u.last_name,
                   "image_url": format!("https://img.clerk.test/{}", u.id), "has_image": false,
                   "identifier": u.email.clone().unwrap_or_default()})
        });
        json!({
            "object": "organization_invitation", "id": i.id, "email_address": i.email, "role": i.role,
            "role_name": i.role.trim_start_matches("org:"), "organization_id": i.org_id,
            "inviter_id": i.inviter_id, "public_inviter_data": inviter_data, "status": i.status(),
            "public_metadata": {}, "private_metadata": {},
            "url": format!("{}/accept-invitation?ticket={}", public_url.trim_end_matches('/'), i.ticket),
            "expires_at": i.expires_at, "created_at": i.created_at, "updated_at": i.updated_at,
        })
    }

    /// An invitation as its webhooks carry it: the object, the organization's public data, and
    /// (once accepted) the user who accepted it.
    pub fn invitation_event_json(&self, i: &Invitation, public_url: &str) -> Value {
        let mut v = self.invitation_json(i, public_url);
        let org = self.organizations.get(&i.org_id).map(|o| {
            json!({"id": o.id, "name": o.name, "slug": o.slug,
                   "image_url": format!("https://img.clerk.test/{}", o.id), "has_image": false})
        });
        v["data"] = json!({"public_organization_data": org});
        if let Some(u) = &i.user_id {
            v["user_id"] = json!(u);
        }
        v
    }

    /// Admins of `org_id` (`org:admin`).
    pub fn admin_count(&self, org_id: &str) -> usize {
        self.memberships.values().filter(|m| m.org_id == org_id && m.role == "org:admin").count()
    }

    pub fn membership_json(&self, m: &Membership, roles: &crate::Roles) -> Value {
        let org = self.organizations.get(&m.org_id);
        let user = self.users.get(&m.user_id);
        json!({
            "object": "organization_membership", "id": m.id, "role": m.role, "role_name": m.role.trim_start_matches("org:"),
            "permissions": roles.permissions(&m.role),
            "organization": org.map(|o| o.to_json(None)).unwrap_or(Value::Null),
            "public_user_data": {"user_id": m.user_id, "identifier": user.and_then(|u| u.email.clone()),
                "first_name": user.and_then(|u| u.first_name.clone()), "last_name": user.and_then(|u| u.last_name.clone()),
                "image_url": format!("https://img.clerk.test/{}", m.user_id),
                "profile_image_url": format!("https://img.clerk.test/{}", m.user_id), "has_image": false},
            "public_metadata": {}, "private_metadata": {}, "created_at": m.created_at, "updated_at": m.updated_at,
        })
    }
}
