//! The official SDK (`@clerk/backend`, offline apart from loopback calls to the emulator)
//! accepts what the emulator issues: session tokens (by PEM and by fetched JWKS), handshake
//! tokens and nonces, with the same outcome as this repository's own crate.

mod common;

use common::{start, SECRET};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

const ORIGIN: &str = "http://127.0.0.1:3000";

/// Signs in as Alice in a cookie jar and returns the jar's client.
async fn signed_in_browser(emu_url: &str) -> reqwest::Client {
    let client =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = client
        .post(format!("{emu_url}/sign-in"))
        .form(&[
            ("email", "alice@acme.test"),
            ("password", "correct-horse-1"),
            ("redirect_url", &format!("{ORIGIN}/dashboard")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("{ORIGIN}/dashboard"));
    client
}

/// Runs the emulator's handshake and returns the carrier cookie's value.
async fn handshake(client: &reqwest::Client, emu_url: &str, format: &str) -> String {
    let r = client
        .get(format!("{emu_url}/v1/client/handshake"))
        .query(&[("redirect_url", format!("{ORIGIN}/dashboard")), ("format", format.into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let name = if format == "nonce" { "__clerk_handshake_nonce=" } else { "__clerk_handshake=" };
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(name))
        .expect("carrier cookie");
    set[name.len()..].split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn the_official_sdk_accepts_what_the_emulator_issues() {
    let (emu, url) = start(|_| {}).await;
    let browser = signed_in_browser(&url).await;
    let hs_token = handshake(&browser, &url, "token").await;
    let nonce_for_sdk = handshake(&browser, &url, "nonce").await;
    let nonce_for_us = handshake(&browser, &url, "nonce").await;

    // A session token minted for the app's origin.
    let token = {
        let st = emu.lock();
        let session = st.sessions.values().find(|s| s.user_id == "user_alice" && s.status == "active").unwrap().clone();
        emu.session_token(&st, &session, Some(ORIGIN), None)
    };
    let input = json!({"token": token, "jwtKey": emu.public_pem, "secretKey": SECRET, "apiUrl": url, "publishableKey": emu.publishable_key.as_str(),
                       "origin": ORIGIN, "handshakeToken": hs_token, "nonce": nonce_for_sdk});
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../clerk/conformance");
    assert!(dir.join("node_modules/@clerk/backend").exists(), "run scripts/bootstrap to install the SDK oracle");
    let mut child = Command::new("node")
        .current_dir(&dir)
        .arg("emulator.mjs")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    // The SDK calls back into the emulator: let the runtime serve while node runs.
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sdk: Value = serde_json::from_slice(&out.stdout).unwrap();

    // The SDK's verified payload is the whole token, by PEM and by JWKS.
    let payload = clerk::verify::decode_jwt(&token).unwrap().into_payload();
    assert_eq!(payload["sub"], "user_alice");
    assert_eq!(payload["o"]["id"], "org_acme", "v2 org claims: {payload}");
    assert_eq!(sdk["verifyWithJwtKey"], json!({"claims": payload}), "{sdk}");
    assert_eq!(sdk["verifyWithApi"], json!({"claims": payload}), "JWKS fetched from the emulator: {sdk}");

    // Our crate decides the same on the same input: the session token as a Bearer token ...
    let clerk = common::verifier(&url);
    let request = |headers: &[(&str, String)]| {
        let mut b = http::Request::builder().uri("/dashboard").header("host", "127.0.0.1:3000");
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        b.body(()).unwrap().into_parts().0
    };
    let st = clerk.authenticate_request(&request(&[("authorization", format!("Bearer {token}"))])).await.unwrap();
    assert_eq!(st.status, clerk::AuthStatus::SignedIn);
    assert_eq!(st.auth_object().unwrap().to_json()["sessionClaims"], payload);

    // ... the handshake token (the same one on both sides): status, auth object and cookies.
    let doc = ("sec-fetch-dest", "document".to_string());
    let ours = |st: &clerk::RequestState| {
        json!({
            "status": st.status.as_str(),
            "reason": st.reason,
            "auth": st.auth_object().map(|a| a.to_json()),
            "setCookies": st.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect::<Vec<_>>(),
        })
    };
    let st = clerk
        .authenticate_request(&request(&[("cookie", format!("__clerk_handshake={hs_token}")), doc.clone()]))
        .await
        .unwrap();
    let mine = ours(&st);
    assert_eq!(mine["status"], "signed-in", "{mine}");
    assert_eq!(mine["auth"]["userId"], "user_alice");
    assert_eq!(mine["auth"]["orgId"], "org_acme");
    assert_eq!(mine, sdk["handshakeToken"], "handshake token");

    // ... and a nonce (one use each, so a second nonce from the same handshake for us): the same
    // but for the freshly minted session token's times and id.
    let st = clerk
        .authenticate_request(&request(&[("cookie", format!("__clerk_handshake_nonce={nonce_for_us}")), doc]))
        .await
        .unwrap();
    let (mine, theirs) = (without_mint_times(ours(&st)), without_mint_times(sdk["handshakeNonce"].clone()));
    assert_eq!(mine["status"], "signed-in", "{mine}");
    assert_eq!(mine["auth"]["userId"], "user_alice");
    assert_eq!(mine, theirs, "handshake nonce");
}

/// A handshake outcome with its session token's `iat`, `nbf`, `exp` and `jti` left out, in the
/// auth object and in the `__session` cookie (decoded), and `__client_uat`'s value kept.
fn without_mint_times(mut v: Value) -> Value {
    let strip = |c: &mut Value| {
        if let Some(o) = c.as_object_mut() {
            for k in ["iat", "nbf", "exp", "jti"] {
                o.remove(k);
            }
        }
    };
    if let Some(claims) = v.get_mut("auth").and_then(|a| a.get_mut("sessionClaims")) {
        strip(claims);
    }
    if let Some(cookies) = v.get_mut("setCookies").and_then(Value::as_array_mut) {
        for c in cookies.iter_mut() {
            let s = c.as_str().unwrap().to_string();
            if let Some(rest) = s.strip_prefix("__session=") {
                let (tok, attrs) = rest.split_once(';').unwrap_or((rest, ""));
                let mut claims = clerk::verify::decode_jwt(tok).unwrap().into_payload();
                strip(&mut claims);
                *c = json!({"__session": claims, "attributes": attrs});
            }
        }
    }
    v
}
