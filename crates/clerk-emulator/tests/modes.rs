//! The emulator's modes beyond its default: v1 session claims (`--claims-v1`), a development
//! instance (`--instance development`), and the state file (`--state`) that keeps what the
//! Backend and Frontend APIs changed across restarts.

mod common;

use clerk::bapi::CreateOrganization;
use clerk::{BackendApi, InstanceType, SecretKey};
use clerk_emulator::state::State;
use clerk_emulator::Emulator;
use common::{add_session, start, SECRET};
use serde_json::json;

/// `--claims-v1`: Clerk's first claim format — flat `org_*` claims with the role's permissions,
/// no `v`, `sts`, `o` or `fea` — which this crate reads into the same `Auth`.
#[tokio::test]
async fn v1_claims_carry_the_organization_flat() {
    let (emu, url) = start(|c| c.claims_v1 = true).await;
    add_session(&emu, "sess_v1", "user_alice", Some("org_acme"));
    let token = {
        let st = emu.lock();
        emu.session_token(&st, &st.sessions["sess_v1"], Some("http://127.0.0.1:3000"), None)
    };
    let mut claims = clerk::verify::decode_jwt(&token).unwrap().into_payload();
    for k in ["iat", "nbf", "exp", "jti"] {
        assert!(claims[k].is_number() || claims[k].is_string(), "{k}: {claims}");
        claims.as_object_mut().unwrap().remove(k);
    }
    assert_eq!(
        claims,
        json!({"sub": "user_alice", "sid": "sess_v1", "iss": url, "azp": "http://127.0.0.1:3000", "fva": [0, -1],
               "org_id": "org_acme", "org_slug": "acme", "org_role": "org:admin",
               "org_permissions": ["org:projects:manage", "org:projects:read"]})
    );
    // A session without an organization has no org claims at all.
    add_session(&emu, "sess_none", "user_dave", None);
    let plain = {
        let st = emu.lock();
        emu.session_token(&st, &st.sessions["sess_none"], None, None)
    };
    let plain = clerk::verify::decode_jwt(&plain).unwrap().into_payload();
    for k in ["org_id", "org_slug", "org_role", "org_permissions", "v", "sts", "o", "fea"] {
        assert!(plain.get(k).is_none(), "{k} in {plain}");
    }
    // Verified through the emulator's JWKS, the v1 token is the same `Auth` as a v2 one would be.
    let parts = http::Request::builder()
        .uri("/")
        .header("host", "127.0.0.1:3000")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let st = common::verifier(&url).authenticate_request(&parts).await.unwrap();
    let auth = st.to_auth().expect("signed in");
    assert_eq!((auth.org_id(), auth.org_role()), (Some("org_acme"), Some("org:admin")));
    assert!(auth.has_permission("org:projects:manage"));
}

/// The default (v2) for comparison: `v: 2`, `sts`, and the organization in `o`, nothing flat.
#[tokio::test]
async fn v2_claims_are_the_default() {
    let (emu, _url) = start(|_| {}).await;
    add_session(&emu, "sess_v2", "user_alice", Some("org_acme"));
    let token = {
        let st = emu.lock();
        emu.session_token(&st, &st.sessions["sess_v2"], None, None)
    };
    let claims = clerk::verify::decode_jwt(&token).unwrap().into_payload();
    assert_eq!((claims["v"].as_i64(), claims["sts"].as_str()), (Some(2), Some("active")));
    assert_eq!(claims["o"]["id"], "org_acme");
    assert!(claims.get("org_id").is_none(), "{claims}");
}

/// `--instance development`: a `pk_test_` key naming the emulator's host, the Backend API's
/// instance says `development`, and the app's env file carries that key.
#[tokio::test]
async fn a_development_instance() {
    let (emu, url) = start(|c| c.instance_type = InstanceType::Development).await;
    let pk = emu.publishable_key.as_str().to_string();
    assert!(pk.starts_with("pk_test_"), "{pk}");
    assert_eq!(emu.publishable_key.instance_type(), InstanceType::Development);
    assert_eq!(emu.publishable_key.frontend_api(), url.trim_start_matches("http://"));
    let api = BackendApi::new(&url, SecretKey::parse(SECRET).unwrap());
    let instance: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/v1/instance"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(instance["environment_type"], "development", "{instance}");
    assert!(api.get_instance().await.is_ok());
    assert!(emu.app_env().contains(&format!("CLERK_PUBLISHABLE_KEY={pk}\n")));
    // The production default, for contrast.
    let (prod, _) = start(|_| {}).await;
    assert!(prod.publishable_key.as_str().starts_with("pk_live_"));
}

/// `--state FILE`: every change is written to the file, and an emulator started from it has
/// what the first one had (what `clerk-emulator --state` does when the file exists).
#[tokio::test]
async fn the_state_file_keeps_changes_across_restarts() {
    let path = std::env::temp_dir().join(format!(
        "clerk-emulator-state-{}-{}.json",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    let file = path.clone();
    let (_emu, url) = start(move |c| c.state_file = Some(file)).await;
    assert!(!path.exists(), "nothing written before a change");
    let api = BackendApi::new(&url, SecretKey::parse(SECRET).unwrap());
    let org = api
        .create_organization(&CreateOrganization { name: "Initech".into(), created_by: "user_dave".into(), slug: None })
        .await
        .unwrap();
    let saved: State = serde_json::from_slice(&std::fs::read(&path).expect("state file written")).unwrap();
    assert_eq!(saved.organizations[&org.id].name, "Initech");
    assert!(saved
        .memberships
        .values()
        .any(|m| m.org_id == org.id && m.user_id == "user_dave" && m.role == "org:admin"));
    assert!(saved.organizations.contains_key("org_acme"), "the seed is kept too");

    // A second emulator from the file (same key, so same instance) knows the organization.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url2 = format!("http://{}", listener.local_addr().unwrap());
    let mut config = {
        let (probe, _) = start(|_| {}).await;
        probe.config.clone()
    };
    config.public_url = url2.clone();
    config.state_file = Some(path.clone());
    let emu2 =
        Emulator::new(config, saved, Some(include_str!("../../clerk/tests/fixtures/instance-private.pem").into()))
            .unwrap();
    tokio::spawn(clerk_emulator::serve(emu2, listener));
    let api2 = BackendApi::new(&url2, SecretKey::parse(SECRET).unwrap());
    let again = api2.get_organization(&org.id).await.unwrap();
    assert_eq!((again.id.as_str(), again.name.as_str()), (org.id.as_str(), "Initech"));
    std::fs::remove_file(&path).unwrap();
}
