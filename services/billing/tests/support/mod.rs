//! An emulated Clerk instance with one user in one organization (and one in another), JWT
//! templates, and active sessions; tokens minted through its Backend API as a BFF would.
#![allow(dead_code)]

use clerk_emulator::state::{Seed, SeedMember, SeedOrganization, SeedUser, Session, State};
use clerk_emulator::{Config, Emulator, Roles, Shared};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const SECRET: &str = "sk_test_billing";
pub const PRIVATE_PEM: &str = include_str!("../../../../crates/clerk/tests/fixtures/instance-private.pem");
pub const PUBLIC_PEM: &str = include_str!("../../../../crates/clerk/tests/fixtures/instance-public.pem");
pub const OTHER_PRIVATE_PEM: &str = include_str!("../../../../crates/clerk/tests/fixtures/other-private.pem");
/// The template a BFF mints for billing: the organization and custom claims.
pub const TEMPLATE: &str = "billing-template";

pub struct Clerk {
    pub emu: Shared,
    pub url: String,
    pub http: reqwest::Client,
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

impl Clerk {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seed = Seed {
            users: vec![
                SeedUser {
                    id: "user_alice".into(),
                    email: "alice@acme.test".into(),
                    password: "pw-alice-1234".into(),
                    first_name: Some("Alice".into()),
                    last_name: None,
                },
                SeedUser {
                    id: "user_carol".into(),
                    email: "carol@globex.test".into(),
                    password: "pw-carol-1234".into(),
                    first_name: None,
                    last_name: None,
                },
            ],
            organizations: vec![
                SeedOrganization {
                    id: "org_acme".into(),
                    name: "Acme".into(),
                    slug: "acme".into(),
                    members: vec![SeedMember { user: "user_alice".into(), role: "org:admin".into() }],
                },
                SeedOrganization {
                    id: "org_globex".into(),
                    name: "Globex".into(),
                    slug: "globex".into(),
                    members: vec![SeedMember { user: "user_carol".into(), role: "org:member".into() }],
                },
            ],
        };
        let mut state = State::from_seed(&seed);
        for (user, org) in [("user_alice", "org_acme"), ("user_carol", "org_globex")] {
            let id = format!("sess_{user}");
            state.sessions.insert(
                id.clone(),
                Session {
                    id,
                    client_id: format!("client_{user}"),
                    user_id: user.into(),
                    status: "active".into(),
                    active_org_id: Some(org.into()),
                    created_at: now() * 1000,
                    updated_at: now() * 1000,
                    refresh_token: None,
                },
            );
        }
        let config = Config {
            public_url: url.clone(),
            instance_type: clerk::InstanceType::Production,
            secret_key: clerk::SecretKey::parse(SECRET).unwrap(),
            webhook_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            webhook_endpoints: vec![],
            allowed_origins: vec![],
            token_lifetime_secs: 60,
            claims_v1: false,
            roles: Roles::default(),
            jwt_templates: BTreeMap::from([(
                TEMPLATE.to_string(),
                json!({"org_id": "{{org.id}}", "org_role": "{{org.role}}", "email": "{{user.primary_email_address}}", "plan": "pro", "limits": {"seats": 5}}),
            )]),
            webhook_duplicate: false,
            webhook_reorder: false,
            state_file: None,
            allow_personal_accounts: false,
        };
        let emu = Emulator::new(config, state, Some(PRIVATE_PEM.into())).unwrap();
        tokio::spawn(clerk_emulator::serve(emu.clone(), listener));
        Clerk { emu, url, http: reqwest::Client::new() }
    }

    /// `POST /v1/sessions/{sid}/tokens[/{template}]` with the secret key, as a BFF does.
    pub async fn mint(&self, sid: &str, template: Option<&str>) -> String {
        let path = match template {
            Some(t) => format!("{}/v1/sessions/{sid}/tokens/{t}", self.url),
            None => format!("{}/v1/sessions/{sid}/tokens", self.url),
        };
        let r = self.http.post(path).bearer_auth(SECRET).send().await.unwrap();
        assert!(r.status().is_success(), "minting failed: {}", r.status());
        r.json::<Value>().await.unwrap()["jwt"].as_str().unwrap().to_string()
    }

    /// A template token signed with the instance's key (or another) with these claims changed.
    pub fn forge(&self, private_pem: &str, changes: Value) -> String {
        let signer = clerk::mint::Signer::from_pem(self.emu.signer.kid(), private_pem).unwrap();
        let mut claims = json!({"sub": "user_alice", "iss": self.url, "iat": now(), "nbf": now() - 10, "exp": now() + 60, "jti": "jti_forged", "org_id": "org_acme"});
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        signer.sign(&json!({"alg": "RS256", "typ": "JWT", "kid": self.emu.signer.kid(), "cat": clerk::categories::CAT_TEMPLATE}), &claims)
    }
}
