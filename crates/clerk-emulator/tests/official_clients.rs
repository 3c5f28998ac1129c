//! Clerk's official clients against the emulator, offline (loopback only): `@clerk/backend`'s
//! `createClerkClient({ apiUrl, secretKey })` (`crates/clerk/conformance/official-client.mjs`)
//! and the Python `clerk-backend-api` SDK (`tests/official/python_client.py`, installed into
//! `.data/venv` by `scripts/bootstrap`). Each makes every Backend API call the app makes and
//! must get what it gets from Clerk: the SDK's own objects, with the expected fields.
//! A missing `node` or venv fails these tests; it never skips them.

mod common;

use common::{add_session, start, SECRET};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `program args…` with `input` on stdin and returns its JSON output.
fn run(program: &Path, args: &[PathBuf], input: &Value, hint: &str) -> Value {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}. {hint}", program.display()));
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{} failed: {}\n{stdout}", program.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {stdout}", program.display()))
}

/// An emulator with the sessions, nonce and expired token the scripts need, and their input.
async fn world() -> (clerk_emulator::Shared, Value) {
    let (emu, url) = start(|_| {}).await;
    let sid = add_session(&emu, "sess_official", "user_alice", Some("org_acme"));
    add_session(&emu, "sess_revoke", "user_bob", None);
    emu.lock()
        .nonces
        .insert("nonce_official".into(), vec!["__session=x; Path=/".into(), "__client_uat=1; Path=/".into()]);
    let expired = {
        let st = emu.lock();
        emu.session_token(&st, &st.sessions[&sid], None, Some(-30))
    };
    let input = json!({"apiUrl": url, "secretKey": SECRET, "sessionId": sid, "revokeSessionId": "sess_revoke",
                       "nonce": "nonce_official", "createdBy": "user_dave", "expiredToken": expired,
                       "refreshToken": "rt_sess_official"});
    (emu, input)
}

/// The class each SDK deserializes a resource into.
struct Kinds {
    user: &'static str,
    organization: &'static str,
    membership: &'static str,
    session: &'static str,
    token: &'static str,
    template_token: &'static str,
    cookies: &'static str,
}

/// What every call must have returned, checked against the emulator's state.
fn check(sdk: &str, emu: &clerk_emulator::Shared, out: &Value, created_name: &str, kinds: &Kinds) {
    let ok = |call: &str| -> &Value {
        let r = &out[call];
        assert!(r.get("error").is_none(), "{sdk} {call} failed: {}", r["error"]);
        assert!(r.get("ok").is_some(), "{sdk} made no {call} call: {out}");
        &r["ok"]
    };
    let st = emu.lock();

    // Users: newest first, a page of two at offset 1, total from /users/count.
    let mut users: Vec<_> = st.users.values().collect();
    users.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    let page = ok("getUserList");
    assert_eq!(page["totalCount"], 4, "{sdk}: {page}");
    let ids: Vec<&str> = page["data"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, users[1..3].iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), "{sdk}");
    assert!(page["data"].as_array().unwrap().iter().all(|u| u["kind"] == kinds.user), "{sdk}: {page}");
    let alice = &st.users["user_alice"];
    assert_eq!(
        ok("getUser"),
        &json!({"kind": kinds.user, "id": "user_alice", "firstName": "Alice", "lastName": "Admin",
                "primaryEmail": "alice@acme.test", "createdAt": alice.created_at, "updatedAt": alice.updated_at}),
        "{sdk}"
    );

    // Organizations and memberships: `{data, total_count}`.
    let orgs = ok("getOrganizationList");
    assert_eq!(orgs["totalCount"], 2, "{sdk}: {orgs}");
    let acme = orgs["data"].as_array().unwrap().iter().find(|o| o["id"] == "org_acme").expect("org_acme listed");
    assert_eq!(
        acme,
        &json!({"kind": kinds.organization, "id": "org_acme", "name": "Acme", "slug": "acme",
                "createdBy": "user_alice", "membersCount": 3}),
        "{sdk}"
    );
    assert_eq!(ok("getOrganization")["id"], "org_acme", "{sdk}");
    let mine = ok("getOrganizationMembershipList");
    assert_eq!(mine["totalCount"], 2, "{sdk}: {mine}");
    let mut pairs: Vec<(String, String)> = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!((&m["kind"], &m["userId"]), (&json!(kinds.membership), &json!("user_carol")), "{sdk}: {m}");
            (m["orgId"].as_str().unwrap().to_string(), m["role"].as_str().unwrap().to_string())
        })
        .collect();
    pairs.sort();
    assert_eq!(pairs, [("org_acme".into(), "org:member".into()), ("org_globex".into(), "org:admin".into())]);
    let created = ok("createOrganization");
    let slug = created_name.to_lowercase().replace(' ', "-");
    assert_eq!(
        (&created["kind"], &created["name"], &created["slug"], &created["createdBy"], &created["membersCount"]),
        (&json!(kinds.organization), &json!(created_name), &json!(slug), &json!("user_dave"), &json!(1)),
        "{sdk}: {created}"
    );
    let id = created["id"].as_str().unwrap();
    assert!(st.organizations.contains_key(id), "{sdk}: created in the emulator");

    // Sessions and tokens.
    assert_eq!(
        ok("getSession"),
        &json!({"kind": kinds.session, "id": "sess_official", "userId": "user_alice", "status": "active",
                "lastActiveOrganizationId": "org_acme"}),
        "{sdk}"
    );
    let claims = |call: &str, kind: &str| {
        let t = ok(call);
        assert_eq!(t["kind"], kind, "{sdk} {call}: {t}");
        clerk::verify::decode_jwt(t["jwt"].as_str().unwrap()).unwrap().payload().clone()
    };
    let plain = claims("getToken", kinds.token);
    assert_eq!((plain["sid"].as_str(), plain["sub"].as_str()), (Some("sess_official"), Some("user_alice")), "{sdk}");
    let templated = claims("getTokenWithTemplate", kinds.template_token);
    assert_eq!((templated["email"].as_str(), templated.get("sid")), (Some("alice@acme.test"), None), "{sdk}");
    assert_eq!(
        ok("refreshSession"),
        &json!({"kind": kinds.cookies, "cookies": ["__session", "__client_uat"]}),
        "{sdk}"
    );
    assert_eq!(ok("revokeSession")["status"], "revoked", "{sdk}");
    assert_eq!(st.sessions["sess_revoke"].status, "revoked", "{sdk}: revoked in the emulator");
}

#[tokio::test]
async fn clerk_backend_for_node_against_the_emulator() {
    let (emu, input) = world().await;
    let dir = root().join("crates/clerk/conformance");
    assert!(
        dir.join("node_modules/@clerk/backend/package.json").exists(),
        "@clerk/backend is not installed in {}: run scripts/bootstrap",
        dir.display()
    );
    let input2 = input.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(Path::new("node"), &[dir.join("official-client.mjs")], &input2, "node is required: run scripts/bootstrap")
    })
    .await
    .unwrap();
    let kinds = Kinds {
        user: "_User",
        organization: "_Organization",
        membership: "_OrganizationMembership",
        session: "_Session",
        token: "_Token",
        template_token: "_Token",
        cookies: "_Cookies",
    };
    check("@clerk/backend", &emu, &out, "Node Corp", &kinds);
    // The handshake payload: an internal call of the SDK's (clients.getHandshakePayload).
    let hs = &out["getHandshakePayload"];
    assert_eq!(hs["ok"]["directives"], json!(["__session=x; Path=/", "__client_uat=1; Path=/"]), "{hs}");
}

#[tokio::test]
async fn clerk_backend_api_for_python_against_the_emulator() {
    let (emu, input) = world().await;
    let python = root().join(".data/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/bootstrap installs Clerk's Python SDK (clerk-backend-api) there",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/official/python_client.py");
    let out = tokio::task::spawn_blocking(move || {
        run(&python, &[script], &input, "run scripts/bootstrap to create the venv")
    })
    .await
    .unwrap();
    let kinds = Kinds {
        user: "User",
        organization: "Organization",
        membership: "OrganizationMembership",
        session: "Session",
        token: "CreateSessionTokenResponseBody",
        template_token: "CreateSessionTokenFromTemplateResponseBody",
        cookies: "Cookies",
    };
    check("clerk-backend-api", &emu, &out, "Py Corp", &kinds);
    // No handshake-payload call in this SDK: Clerk's document has no operation for it (the Node
    // test covers it).
    assert!(out.get("getHandshakePayload").is_none());
}
