//! The emulator's Backend API over real HTTP: auth, every endpoint, bad input, and tokens that
//! this repository's verifier accepts.

mod common;

use clerk::bapi::BackendApi;
use clerk::SecretKey;
use common::{start, verifier, SECRET};
use serde_json::{json, Value};

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn call(method: reqwest::Method, url: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut rb = http().request(method, url);
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn wrong_or_missing_secret_key_is_a_clerk_shaped_401() {
    let (_emu, url) = start(|_| {}).await;
    for key in [None, Some("sk_test_wrong"), Some("")] {
        let (status, body) = call(reqwest::Method::GET, &format!("{url}/v1/users"), key, None).await;
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(body["errors"][0]["code"], "authentication_invalid");
        assert!(body["clerk_trace_id"].is_string());
    }
    // through the typed client, the error is surfaced with its code
    let api = BackendApi::new(&url, SecretKey::parse("sk_test_wrong").unwrap());
    let err = api.get_user("user_alice").await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(401), Some("authentication_invalid")));
}

#[tokio::test]
async fn users_organizations_memberships_and_sessions() {
    let (emu, url) = start(|_| {}).await;
    let api = BackendApi::new(&url, SecretKey::parse(SECRET).unwrap());

    // users: list with pagination, get, create (duplicate email refused), delete
    let page = api.list_users(2, 0).await.unwrap();
    assert_eq!((page.len(), api.count_users().await.unwrap()), (2, 4));
    let all = api.all_users().await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(api.get_user("user_alice").await.unwrap().primary_email(), Some("alice@acme.test"));
    assert_eq!(api.get_user("user_nobody").await.unwrap_err().status(), Some(404));
    let (s, created) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/users"),
        Some(SECRET),
        Some(json!({"email_address": ["erin@example.test"], "first_name": "Erin", "password": "long-enough-1"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, dup) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/users"),
        Some(SECRET),
        Some(json!({"email_address": ["erin@example.test"]})),
    )
    .await;
    assert_eq!((s, dup["errors"][0]["code"].as_str()), (422, Some("form_identifier_exists")));
    let (s, _) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/users"),
        Some(SECRET),
        Some(json!({"email_address": ["x@example.test"], "password": "short"})),
    )
    .await;
    assert_eq!(s, 422);
    let (s, bad_limit) = call(reqwest::Method::GET, &format!("{url}/v1/users?limit=0"), Some(SECRET), None).await;
    assert_eq!((s, bad_limit["errors"][0]["code"].as_str()), (422, Some("form_param_invalid")));

    // organizations: create makes the creator an admin
    let erin = created["id"].as_str().unwrap().to_string();
    let org = api
        .create_organization(&clerk::bapi::CreateOrganization {
            name: "Initech".into(),
            created_by: erin.clone(),
            slug: None,
        })
        .await
        .unwrap();
    assert_eq!(org.slug.as_deref(), Some("initech"));
    let mine = api.user_memberships(&erin, 10, 0).await.unwrap();
    assert_eq!(mine.data.len(), 1);
    assert_eq!((mine.data[0].role.as_str(), mine.data[0].organization.id.as_str()), ("org:admin", org.id.as_str()));
    assert!(mine.data[0].permissions.contains(&"org:projects:manage".to_string()));
    let (s, _) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/organizations"),
        Some(SECRET),
        Some(json!({"name": "Initech", "slug": "initech", "created_by": erin})),
    )
    .await;
    assert_eq!(s, 422, "explicit slug taken");
    let (s, twin) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/organizations"),
        Some(SECRET),
        Some(json!({"name": "Initech", "created_by": erin})),
    )
    .await;
    assert_eq!(s, 200, "names need not be unique");
    assert!(twin["slug"].as_str().unwrap().starts_with("initech-"));
    let (s, _) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/organizations"),
        Some(SECRET),
        Some(json!({"name": "  ", "created_by": erin})),
    )
    .await;
    assert_eq!(s, 422, "name required");
    assert_eq!(api.get_organization("initech").await.unwrap().id, org.id, "by slug");
    let orgs = api.list_organizations(10, 0).await.unwrap();
    assert_eq!(orgs.total_count, 4, "two seeded, two created");
    assert!(orgs.data.iter().any(|o| o.id == twin["id"].as_str().unwrap()));
    let (s, upd) = call(
        reqwest::Method::PATCH,
        &format!("{url}/v1/organizations/{}", org.id),
        Some(SECRET),
        Some(json!({"name": "Initech Corp"})),
    )
    .await;
    assert_eq!((s, upd["name"].as_str()), (200, Some("Initech Corp")));

    // memberships: add, change role, remove
    let (s, m) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/organizations/{}/memberships", org.id),
        Some(SECRET),
        Some(json!({"user_id": "user_bob", "role": "org:member"})),
    )
    .await;
    assert_eq!((s, m["role"].as_str()), (200, Some("org:member")));
    let (s, _) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/organizations/{}/memberships", org.id),
        Some(SECRET),
        Some(json!({"user_id": "user_bob", "role": "org:member"})),
    )
    .await;
    assert_eq!(s, 422, "already a member");
    let (s, _) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/organizations/{}/memberships", org.id),
        Some(SECRET),
        Some(json!({"user_id": "user_alice", "role": "org:owner"})),
    )
    .await;
    assert_eq!(s, 422, "unknown role");
    let (s, m) = call(
        reqwest::Method::PATCH,
        &format!("{url}/v1/organizations/{}/memberships/user_bob", org.id),
        Some(SECRET),
        Some(json!({"role": "org:admin"})),
    )
    .await;
    assert_eq!((s, m["role"].as_str()), (200, Some("org:admin")));
    assert_eq!(api.organization_memberships(&org.id, 10, 0).await.unwrap().total_count, 2);
    let (s, _) = call(
        reqwest::Method::DELETE,
        &format!("{url}/v1/organizations/{}/memberships/user_bob", org.id),
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(api.organization_memberships(&org.id, 10, 0).await.unwrap().total_count, 1);

    // sessions: get, tokens (plain and template), revoke
    let sid = {
        let mut st = emu.lock();
        let s = clerk_emulator::state::Session {
            id: "sess_test".into(),
            client_id: "client_x".into(),
            user_id: "user_alice".into(),
            status: "active".into(),
            active_org_id: Some("org_acme".into()),
            created_at: 0,
            updated_at: 0,
            refresh_token: Some("rt_test".into()),
        };
        st.sessions.insert(s.id.clone(), s);
        "sess_test".to_string()
    };
    assert_eq!(api.get_session(&sid).await.unwrap().status, "active");
    let tok = api.session_token(&sid, None, None).await.unwrap().jwt;
    let clerk = verifier(&url);
    let claims = clerk.verify_session_token(&tok, &clerk::VerifyOptions::default()).await.unwrap();
    let auth = clerk::Auth::from_claims(&claims).unwrap();
    assert_eq!(auth.user_id, "user_alice");
    assert_eq!(auth.org_role(), Some("org:admin"));
    assert!(auth.has_permission("org:projects:manage"));
    let exp = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!((exp, claims["iat"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap()), (60, 10));
    let long = api.session_token(&sid, None, Some(3600)).await.unwrap().jwt;
    let c = clerk.verify_session_token(&long, &clerk::VerifyOptions::default()).await.unwrap();
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3600);
    let tpl = api.session_token(&sid, Some("supabase"), None).await.unwrap().jwt;
    let decoded = clerk::verify::decode_jwt(&tpl).unwrap();
    assert_eq!(decoded.cat().as_deref(), Some(clerk::claims::CAT_TEMPLATE));
    assert_eq!((decoded.payload()["email"].as_str(), decoded.payload().get("sid")), (Some("alice@acme.test"), None));
    assert_eq!(api.session_token(&sid, Some("nope"), None).await.unwrap_err().status(), Some(404));

    // server-side refresh: an expired token of this session + its refresh token → fresh cookies
    let expired = {
        let st = emu.lock();
        emu.session_token(&st, &st.sessions[&sid], None, Some(-30))
    };
    let no_headers = http::HeaderMap::new();
    let refresh = |sid: &'static str, expired: String, rt: &'static str, suffixed: bool| {
        let api = &api;
        let no_headers = &no_headers;
        async move { api.refresh_session(sid, &expired, rt, "https://app.example", no_headers, suffixed).await }
    };
    let cookies = refresh("sess_test", expired.clone(), "rt_test", false).await.unwrap();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let fresh = cookies[0].strip_prefix("__session=").unwrap().split(';').next().unwrap();
    let c = clerk.verify_session_token(fresh, &clerk::VerifyOptions::default()).await.unwrap();
    assert_eq!((c["sid"].as_str(), c["sub"].as_str()), (Some("sess_test"), Some("user_alice")));
    assert!(cookies[1].starts_with("__client_uat="), "{cookies:?}");
    let suffixed = refresh("sess_test", expired.clone(), "rt_test", true).await.unwrap();
    assert!(suffixed[0].starts_with("__session_") && suffixed[1].starts_with("__client_uat_"), "{suffixed:?}");
    // refusals, each with its code
    let code = |r: Result<Vec<String>, clerk::bapi::ApiError>| r.unwrap_err().code().map(str::to_string);
    assert_eq!(
        code(refresh("sess_test", expired.clone(), "rt_wrong", false).await).as_deref(),
        Some("refresh_token_invalid")
    );
    assert_eq!(
        code(refresh("sess_nope", expired.clone(), "rt_test", false).await).as_deref(),
        Some("resource_not_found")
    );
    let foreign =
        clerk::mint::Signer::from_pem(emu.signer.kid(), include_str!("../../clerk/tests/fixtures/other-private.pem"))
            .unwrap()
            .sign_session(&json!({"sub": "user_alice", "sid": "sess_test", "exp": 1}));
    assert_eq!(code(refresh("sess_test", foreign, "rt_test", false).await).as_deref(), Some("form_param_invalid"));
    assert_eq!(
        code(refresh("sess_test", "not-a-jwt".into(), "rt_test", false).await).as_deref(),
        Some("form_param_invalid")
    );

    assert_eq!(api.revoke_session(&sid).await.unwrap().status, "revoked");
    assert_eq!(api.session_token(&sid, None, None).await.unwrap_err().status(), Some(404));
    assert_eq!(code(refresh("sess_test", expired, "rt_test", false).await).as_deref(), Some("session_not_active"));

    // JWKS: what the verifier fetches
    assert_eq!(api.get_jwks().await.unwrap().keys.len(), 1);
    // organizations: delete
    let (s, _) = call(reqwest::Method::DELETE, &format!("{url}/v1/organizations/{}", org.id), Some(SECRET), None).await;
    assert_eq!(s, 200);
    assert_eq!(api.get_organization(&org.id).await.unwrap_err().status(), Some(404));
    let (s, _) = call(reqwest::Method::DELETE, &format!("{url}/v1/users/{erin}"), Some(SECRET), None).await;
    assert_eq!(s, 200);
    assert_eq!(api.get_user(&erin).await.unwrap_err().status(), Some(404));
    // handshake payloads are one-use and need a nonce
    assert_eq!(api.handshake_payload("nonce_unknown").await.unwrap_err().status(), Some(404));
}
