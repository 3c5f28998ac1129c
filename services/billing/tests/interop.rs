//! Interoperability: the same JWT-template tokens, minted by an emulated Clerk through the Backend
//! API (`POST /v1/sessions/{sid}/tokens/{template}`, as the BFF does), verified by
//! `clerk::verify_token` (the billing service), by Clerk's own `@clerk/backend` `verifyToken` in
//! Node (with the PEM, and with the Backend API's JWKS), and by PyJWT with the instance's JWKS in
//! Python. All must accept the good tokens with the same claims and refuse the bad ones.
//!
//! Needs `node` with `crates/clerk/conformance/node_modules` and `.data/venv` (PyJWT), both
//! installed by scripts/bootstrap; a missing one fails the test, it is never skipped.

mod support;

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{Clerk, OTHER_PRIVATE_PEM, PRIVATE_PEM, SECRET, TEMPLATE};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(program: &Path, args: &[&str], cwd: &Path, envs: &[(&str, &str)], input: &Value) -> Value {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{} is required for this test (scripts/bootstrap installs it): {e}", program.display())
        });
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{} failed: {}", program.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", program.display(), String::from_utf8_lossy(&out.stdout)))
}

// Several threads: the emulator answers the JWKS fetches of Node and Python while this test
// waits for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sdk_python_pyjwt_and_rust_agree_on_template_tokens() {
    let clerk = Clerk::start().await;
    let good =
        [clerk.mint("sess_user_alice", Some(TEMPLATE)).await, clerk.mint("sess_user_carol", Some(TEMPLATE)).await];
    let bad = [
        ("wrong key", clerk.forge(OTHER_PRIVATE_PEM, json!({}))),
        ("expired", clerk.forge(PRIVATE_PEM, json!({"exp": support::now() - 60}))),
        ("wrong issuer", clerk.forge(PRIVATE_PEM, json!({"iss": "https://clerk.evil.example"}))),
        ("not yet valid", clerk.forge(PRIVATE_PEM, json!({"nbf": support::now() + 120}))),
    ];
    let tokens: Vec<&str> = good.iter().map(String::as_str).chain(bad.iter().map(|(_, t)| t.as_str())).collect();

    // Rust: what the billing service runs.
    let keys = clerk::KeySource::from_pem(&clerk.emu.public_pem).unwrap();
    let opts = clerk::VerifyOptions { issuer: vec![clerk.url.clone()], ..Default::default() };
    let mut rust = Vec::new();
    for t in &tokens {
        rust.push(clerk::verify_token(t, &keys, &opts).await);
    }

    // Node: @clerk/backend's verifyToken, networkless with the PEM, then with the Backend API's
    // JWKS (the only origin the no-network guard lets through is the emulator).
    let conformance = root().join("crates/clerk/conformance");
    let node_cases = |options: Value| -> Value {
        Value::Array(tokens.iter().map(|t| json!({"token": t, "options": options})).collect())
    };
    let guard = [("CONFORMANCE_ALLOWED_ORIGINS", clerk.url.as_str())];
    let node_args = ["--import", "./no-network.mjs", "verify-token.mjs"];
    let node_pem = run(
        Path::new("node"),
        &node_args,
        &conformance,
        &guard,
        &node_cases(json!({"jwtKey": clerk.emu.public_pem, "issuer": clerk.url})),
    );
    let node_jwks = run(
        Path::new("node"),
        &node_args,
        &conformance,
        &guard,
        &node_cases(json!({"secretKey": SECRET, "apiUrl": clerk.url, "issuer": clerk.url})),
    );

    // Python: PyJWT with the Frontend API's JWKS.
    let python = root().join(".data/venv/bin/python");
    assert!(python.exists(), "{} is required (scripts/bootstrap creates it)", python.display());
    let script = root().join("services/billing/interop/verify_pyjwt.py");
    let py = run(
        &python,
        &[script.to_str().unwrap()],
        &root(),
        &[],
        &json!({"jwks_url": format!("{}/.well-known/jwks.json", clerk.url), "issuer": clerk.url, "tokens": tokens}),
    );

    for (i, r) in rust.iter().enumerate() {
        let name = if i < good.len() { format!("good token {i}") } else { bad[i - good.len()].0.to_string() };
        for (who, answers) in [("node (PEM)", &node_pem), ("node (JWKS)", &node_jwks), ("python", &py)] {
            assert_eq!(answers.as_array().unwrap().len(), tokens.len(), "{who}: {answers}");
        }
        match r {
            Ok(v) => {
                assert!(i < good.len(), "{name}: Rust accepted a bad token");
                assert_eq!(v.kind(), clerk::TokenKind::Template);
                assert!(v.org_id().is_some_and(|o| o.starts_with("org_")), "{name}: {:?}", v.claims());
                assert_eq!(node_pem[i]["payload"], *v.claims(), "{name}: node (PEM) {}", node_pem[i]);
                assert_eq!(node_jwks[i]["payload"], *v.claims(), "{name}: node (JWKS) {}", node_jwks[i]);
                assert_eq!(py[i]["claims"], *v.claims(), "{name}: python {}", py[i]);
            }
            Err(e) => {
                assert!(i >= good.len(), "{name}: Rust refused a good token: {e}");
                assert_eq!(node_pem[i]["reason"], e.reason.as_str(), "{name}: node (PEM) {}", node_pem[i]);
                assert_eq!(node_jwks[i]["reason"], e.reason.as_str(), "{name}: node (JWKS) {}", node_jwks[i]);
                assert_eq!(py[i]["ok"], false, "{name}: python accepted it: {}", py[i]);
            }
        }
    }
    assert_eq!(rust.iter().filter(|r| r.is_ok()).count(), good.len());
    // Each organization's token carries its own organization.
    assert_eq!(
        (rust[0].as_ref().unwrap().org_id(), rust[1].as_ref().unwrap().org_id()),
        (Some("org_acme"), Some("org_globex"))
    );
}
