//! Shared by the emulator's integration tests: start an emulator on port 0, and a verifier
//! that reads its JWKS through the Backend API as the app does.
#![allow(dead_code)]

use clerk::bapi::BackendApi;
use clerk::{InstanceType, KeySource, SecretKey};
use clerk_emulator::state::{Seed, State};
use clerk_emulator::{Config, Emulator, Roles, Shared};
use serde_json::json;
use std::collections::BTreeMap;

pub const SECRET: &str = "sk_test_emulator_tests";
pub const WEBHOOK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

pub async fn start(configure: impl FnOnce(&mut Config)) -> (Shared, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seed: Seed = serde_json::from_str(include_str!("../../seed.json")).unwrap();
    let mut config = Config {
        public_url: url.clone(),
        instance_type: InstanceType::Production,
        secret_key: SecretKey::parse(SECRET).unwrap(),
        webhook_secret: WEBHOOK_SECRET.into(),
        webhook_endpoints: vec![],
        allowed_origins: vec!["http://127.0.0.1:3000".into()],
        token_lifetime_secs: 60,
        claims_v1: false,
        roles: Roles::default(),
        jwt_templates: BTreeMap::from([(
            "supabase".to_string(),
            json!({"role": "authenticated", "email": "{{user.primary_email_address}}"}),
        )]),
        webhook_duplicate: false,
        webhook_reorder: false,
        state_file: None,
        // Clerk's default: organizations required, sessions without one pending.
        allow_personal_accounts: false,
    };
    configure(&mut config);
    let emu = Emulator::new(
        config,
        State::from_seed(&seed),
        Some(include_str!("../../../clerk/tests/fixtures/instance-private.pem").into()),
    )
    .unwrap();
    tokio::spawn(clerk_emulator::serve(emu.clone(), listener));
    (emu, url)
}

/// A verifier that fetches the emulator's JWKS through its Backend API, as the app does.
pub fn verifier(url: &str) -> clerk::Clerk {
    let api = BackendApi::new(url, SecretKey::parse(SECRET).unwrap());
    let host = url.trim_start_matches("http://");
    clerk::Clerk::new(clerk::ClerkOptions {
        publishable_key: clerk::PublishableKey::build(InstanceType::Production, host),
        secret_key: SecretKey::parse(SECRET).unwrap(),
        keys: KeySource::Remote(std::sync::Arc::new(clerk::JwksCache::new(api.clone(), clerk::JwksPolicy::default()))),
        api: Some(api),
        proxy_url: Some(url.to_string()),
        verify: clerk::VerifyOptions::default(),
        organization_sync: None,
        satellite: None,
    })
}

pub mod openapi;

/// An active session of `user_id` (with `org_id` active) put straight into the emulator's state.
pub fn add_session(emu: &Shared, id: &str, user_id: &str, org_id: Option<&str>) -> String {
    let mut st = emu.lock();
    let s = clerk_emulator::state::Session {
        id: id.into(),
        client_id: format!("client_{id}"),
        user_id: user_id.into(),
        status: "active".into(),
        active_org_id: org_id.map(str::to_string),
        created_at: clerk_emulator::state::now_ms(),
        updated_at: clerk_emulator::state::now_ms(),
        refresh_token: Some(format!("rt_{id}")),
    };
    st.sessions.insert(s.id.clone(), s);
    id.to_string()
}
