//! Contract tests: for every Backend API endpoint `crates/clerk` calls ([`clerk::bapi::ENDPOINTS`],
//! one test each below), the emulator's answer is validated against the response schema of that
//! operation in Clerk's published OpenAPI document (`bapi-2026-05-12.yml`), and `crates/clerk`'s
//! client decodes it. The document is the judge, not the emulator: a shape either of them
//! invents fails here.
//!
//! Over 500 lines on purpose: one test per Backend API endpoint, all against one loaded document, next to the list they must cover.

mod common;

use clerk::bapi::{self, BackendApi, Endpoint};
use clerk::SecretKey;
use common::openapi::{self, BAPI};
use common::{add_session, start, SECRET};
use serde_json::{json, Value};

/// Each endpoint the client calls, and the test below that holds it to the document.
const CONTRACT: &[(Endpoint, &str)] = &[
    (bapi::GET_JWKS, "get_jwks"),
    (bapi::GET_INSTANCE, "get_instance"),
    (bapi::GET_USER_LIST, "get_user_list"),
    (bapi::GET_USERS_COUNT, "get_users_count"),
    (bapi::GET_USER, "get_user"),
    (bapi::USER_MEMBERSHIPS, "users_get_organization_memberships"),
    (bapi::LIST_ORGANIZATIONS, "list_organizations"),
    (bapi::CREATE_ORGANIZATION, "create_organization"),
    (bapi::GET_ORGANIZATION, "get_organization"),
    (bapi::UPDATE_ORGANIZATION, "update_organization"),
    (bapi::DELETE_ORGANIZATION, "delete_organization"),
    (bapi::LIST_ORGANIZATION_MEMBERSHIPS, "list_organization_memberships"),
    (bapi::UPDATE_ORGANIZATION_MEMBERSHIP, "update_organization_membership"),
    (bapi::DELETE_ORGANIZATION_MEMBERSHIP, "delete_organization_membership"),
    (bapi::CREATE_ORGANIZATION_INVITATION, "create_organization_invitation"),
    (bapi::LIST_ORGANIZATION_INVITATIONS, "list_organization_invitations"),
    (bapi::REVOKE_ORGANIZATION_INVITATION, "revoke_organization_invitation"),
    (bapi::GET_SESSION, "get_session"),
    (bapi::REVOKE_SESSION, "revoke_session"),
    (bapi::CREATE_SESSION_TOKEN, "create_session_token"),
    (bapi::CREATE_SESSION_TOKEN_FROM_TEMPLATE, "create_session_token_from_template"),
    (bapi::REFRESH_SESSION, "refresh_session"),
    (bapi::HANDSHAKE_PAYLOAD, "handshake_payload"),
];

/// The document lists `/clients/handshake_payload` as an empty path item; the contract is then
/// `@clerk/backend`'s `HandshakePayloadJSON` (`{directives: string[]}`), the SDK being the one
/// caller of this internal endpoint.
fn handshake_payload_schema() -> Value {
    json!({"type": "object", "required": ["directives"],
           "properties": {"directives": {"type": "array", "items": {"type": "string"}}}})
}

#[test]
fn every_endpoint_the_client_calls_is_in_the_contract_and_in_the_document() {
    for ep in bapi::ENDPOINTS {
        assert!(CONTRACT.iter().any(|(e, _)| e == ep), "{ep} has no contract test: add it to CONTRACT");
        match (ep.operation_id, openapi::operation(ep.method, ep.path)) {
            (Some(id), Some(op)) => assert_eq!(op["operationId"], id, "{ep}: the document names it otherwise"),
            (Some(_), None) => panic!("{ep}: no such operation in {BAPI}"),
            (None, Some(op)) => {
                panic!("{ep}: the document now describes it ({}): validate against that", op["operationId"])
            }
            (None, None) => {
                assert_eq!(
                    openapi::document(BAPI)["paths"][ep.path],
                    json!({}),
                    "{ep}: the document's path item changed"
                )
            }
        }
    }
    assert_eq!(CONTRACT.len(), bapi::ENDPOINTS.len());
}

/// Validates `body` against `ep`'s 200 response in the document.
fn holds(ep: Endpoint, body: &Value) {
    let schema = match openapi::operation(ep.method, ep.path) {
        Some(op) => openapi::response_schema(op),
        None => handshake_payload_schema(),
    };
    openapi::assert_valid(BAPI, &ep.to_string(), &schema, body);
}

/// A raw call as Clerk's clients make it; the answer must be a 200 JSON body.
async fn raw(method: &str, url: String, body: Option<Value>) -> Value {
    let mut rb = reqwest::Client::new()
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url)
        .bearer_auth(SECRET);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{method} {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {text}"))
}

async fn world() -> (clerk_emulator::Shared, String, BackendApi) {
    let (emu, url) = start(|_| {}).await;
    let api = BackendApi::new(&url, SecretKey::parse(SECRET).unwrap());
    (emu, url, api)
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn get_jwks() {
    let (_emu, url, api) = world().await;
    let body = raw("GET", format!("{url}/v1/jwks"), None).await;
    holds(bapi::GET_JWKS, &body);
    assert_eq!(api.get_jwks().await.unwrap().keys[0].kid, body["keys"][0]["kid"].as_str().unwrap());
}

#[tokio::test]
async fn get_instance() {
    let (emu, url, api) = world().await;
    let body = raw("GET", format!("{url}/v1/instance"), None).await;
    holds(bapi::GET_INSTANCE, &body);
    assert_eq!((&body["object"], &body["environment_type"]), (&json!("instance"), &json!("production")));
    let typed = api.get_instance().await.unwrap();
    assert_eq!(typed.id, emu.signer.kid(), "the instance is its signing key's kid");
    assert!(typed.id.starts_with("ins_"), "{typed:?}");
}

#[tokio::test]
async fn get_user_list() {
    let (_emu, url, api) = world().await;
    let all = raw("GET", format!("{url}/v1/users"), None).await;
    holds(bapi::GET_USER_LIST, &all);
    assert!(all.is_array(), "Clerk answers a bare array: {all}");
    let created: Vec<i64> = all.as_array().unwrap().iter().map(|u| u["created_at"].as_i64().unwrap()).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first, as the document says: {created:?}");
    let page = raw("GET", format!("{url}/v1/users?limit=2&offset=1"), None).await;
    holds(bapi::GET_USER_LIST, &page);
    assert_eq!(ids(&page), ids(&all)[1..3]);
    let typed = api.list_users(2, 1).await.unwrap();
    assert_eq!(typed.iter().map(|u| u.id.clone()).collect::<Vec<_>>(), ids(&page));
    let alice = typed.iter().chain(api.list_users(10, 0).await.unwrap().iter()).find(|u| u.id == "user_alice").cloned();
    assert_eq!(alice.unwrap().primary_email(), Some("alice@acme.test"));
}

#[tokio::test]
async fn all_users_walks_every_page() {
    let (emu, _url, api) = world().await;
    {
        let mut st = emu.lock();
        for i in 0..230 {
            let mut u = st.users["user_dave"].clone();
            u.id = format!("user_bulk_{i:03}");
            u.email = Some(format!("bulk{i}@example.test"));
            u.created_at = i;
            st.users.insert(u.id.clone(), u);
        }
    }
    let all = api.all_users().await.unwrap();
    assert_eq!(all.len(), 234);
    assert_eq!(api.count_users().await.unwrap(), 234);
    let mut unique: Vec<_> = all.iter().map(|u| u.id.as_str()).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 234);
}

#[tokio::test]
async fn get_users_count() {
    let (_emu, url, api) = world().await;
    let body = raw("GET", format!("{url}/v1/users/count"), None).await;
    holds(bapi::GET_USERS_COUNT, &body);
    assert_eq!(body, json!({"object": "total_count", "total_count": 4}));
    assert_eq!(api.count_users().await.unwrap(), 4);
}

#[tokio::test]
async fn get_user() {
    let (_emu, url, api) = world().await;
    let body = raw("GET", format!("{url}/v1/users/user_alice"), None).await;
    holds(bapi::GET_USER, &body);
    let u = api.get_user("user_alice").await.unwrap();
    assert_eq!((u.primary_email(), u.display_name().as_deref()), (Some("alice@acme.test"), Some("Alice Admin")));
    assert_eq!(u.updated_at, body["updated_at"].as_i64().unwrap());
}

#[tokio::test]
async fn users_get_organization_memberships() {
    let (_emu, url, api) = world().await;
    let body = raw("GET", format!("{url}/v1/users/user_carol/organization_memberships?limit=10&offset=0"), None).await;
    holds(bapi::USER_MEMBERSHIPS, &body);
    assert_eq!(body["total_count"], 2);
    let typed = api.user_memberships("user_carol", 10, 0).await.unwrap();
    let mut orgs: Vec<_> = typed.data.iter().map(|m| (m.organization.id.as_str(), m.role.as_str())).collect();
    orgs.sort();
    assert_eq!(orgs, [("org_acme", "org:member"), ("org_globex", "org:admin")]);
    assert!(typed.data.iter().all(|m| m.public_user_data.user_id == "user_carol"));
}

#[tokio::test]
async fn list_organizations() {
    let (_emu, url, api) = world().await;
    let body = raw("GET", format!("{url}/v1/organizations?limit=1&offset=1"), None).await;
    holds(bapi::LIST_ORGANIZATIONS, &body);
    assert_eq!((body["data"].as_array().unwrap().len(), &body["total_count"]), (1, &json!(2)));
    let all = api.collect_all(|l, o| api.list_organizations(l, o)).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|o| o.id == "org_acme" && o.slug.as_deref() == Some("acme")));
}

#[tokio::test]
async fn create_organization() {
    let (_emu, url, api) = world().await;
    let body =
        raw("POST", format!("{url}/v1/organizations"), Some(json!({"name": "Initech", "created_by": "user_dave"})))
            .await;
    holds(bapi::CREATE_ORGANIZATION, &body);
    assert_eq!((&body["created_by"], &body["members_count"]), (&json!("user_dave"), &json!(1)));
    let typed = api
        .create_organization(&bapi::CreateOrganization {
            name: "Hooli".into(),
            created_by: "user_dave".into(),
            slug: None,
        })
        .await
        .unwrap();
    assert_eq!((typed.name.as_str(), typed.slug.as_deref()), ("Hooli", Some("hooli")));
    assert_eq!(typed.created_by.as_deref(), Some("user_dave"));
}

#[tokio::test]
async fn get_organization() {
    let (_emu, url, api) = world().await;
    for key in ["org_acme", "acme"] {
        let body = raw("GET", format!("{url}/v1/organizations/{key}"), None).await;
        holds(bapi::GET_ORGANIZATION, &body);
        assert_eq!(body["id"], "org_acme");
    }
    let org = api.get_organization("acme").await.unwrap();
    assert_eq!((org.id.as_str(), org.name.as_str(), org.members_count), ("org_acme", "Acme", Some(3)));
}

#[tokio::test]
async fn list_organization_memberships() {
    let (_emu, url, api) = world().await;
    let body = raw("GET", format!("{url}/v1/organizations/org_acme/memberships?limit=2"), None).await;
    holds(bapi::LIST_ORGANIZATION_MEMBERSHIPS, &body);
    assert_eq!((body["data"].as_array().unwrap().len(), &body["total_count"]), (2, &json!(3)));
    let all = api.collect_all(|l, o| api.organization_memberships("org_acme", l, o)).await.unwrap();
    let mut users: Vec<_> = all.iter().map(|m| m.public_user_data.user_id.as_str()).collect();
    users.sort();
    assert_eq!(users, ["user_alice", "user_bob", "user_carol"]);
}

/// A failed call's status and Clerk error code, through the typed client.
fn refusal<T: std::fmt::Debug>(r: Result<T, bapi::ApiError>) -> (Option<u16>, String) {
    let e = r.unwrap_err();
    (e.status(), e.code().unwrap_or_default().to_string())
}

#[tokio::test]
async fn update_organization() {
    let (_emu, url, api) = world().await;
    let body = raw("PATCH", format!("{url}/v1/organizations/org_acme"), Some(json!({"name": "Acme Corp"}))).await;
    holds(bapi::UPDATE_ORGANIZATION, &body);
    assert_eq!((&body["name"], &body["slug"]), (&json!("Acme Corp"), &json!("acme")));
    let typed = api
        .update_organization("org_acme", &bapi::UpdateOrganization { name: None, slug: Some("acme-corp".into()) })
        .await
        .unwrap();
    assert_eq!((typed.name.as_str(), typed.slug.as_deref()), ("Acme Corp", Some("acme-corp")));
    // Clerk's slug rules: lowercase letters, digits and dashes; unique in the instance.
    for bad in ["Acme", "acme corp", "-acme", "acme_corp", ""] {
        let upd = bapi::UpdateOrganization { name: None, slug: Some(bad.into()) };
        assert_eq!(refusal(api.update_organization("org_acme", &upd).await).0, Some(422), "{bad:?}");
    }
    let taken = bapi::UpdateOrganization { name: None, slug: Some("globex".into()) };
    assert_eq!(
        refusal(api.update_organization("org_acme", &taken).await),
        (Some(422), "form_identifier_exists".into())
    );
    assert_eq!(api.get_organization("org_acme").await.unwrap().slug.as_deref(), Some("acme-corp"));
}

#[tokio::test]
async fn delete_organization() {
    let (_emu, url, api) = world().await;
    let body = raw("DELETE", format!("{url}/v1/organizations/org_globex"), None).await;
    holds(bapi::DELETE_ORGANIZATION, &body);
    assert_eq!((&body["id"], &body["deleted"]), (&json!("org_globex"), &json!(true)));
    let typed = api.delete_organization("org_acme").await.unwrap();
    assert_eq!((typed.id.as_deref(), typed.deleted), (Some("org_acme"), true));
    assert_eq!(refusal(api.get_organization("org_acme").await).0, Some(404));
    assert_eq!(api.user_memberships("user_alice", 10, 0).await.unwrap().total_count, 0, "its memberships end");
    assert_eq!(refusal(api.delete_organization("org_acme").await).0, Some(404));
}

#[tokio::test]
async fn update_organization_membership() {
    let (_emu, url, api) = world().await;
    let body = raw(
        "PATCH",
        format!("{url}/v1/organizations/org_acme/memberships/user_bob"),
        Some(json!({"role": "org:admin"})),
    )
    .await;
    holds(bapi::UPDATE_ORGANIZATION_MEMBERSHIP, &body);
    assert_eq!((&body["role"], &body["public_user_data"]["user_id"]), (&json!("org:admin"), &json!("user_bob")));
    let typed = api.update_organization_membership("org_acme", "user_bob", "org:member").await.unwrap();
    assert_eq!((typed.role.as_str(), typed.organization.id.as_str()), ("org:member", "org_acme"));
    // Clerk keeps one admin at least, and knows its roles.
    assert_eq!(
        refusal(api.update_organization_membership("org_acme", "user_alice", "org:member").await),
        (Some(403), "organization_minimum_permissions_needed".into())
    );
    assert_eq!(refusal(api.update_organization_membership("org_acme", "user_bob", "org:owner").await).0, Some(422));
    assert_eq!(refusal(api.update_organization_membership("org_acme", "user_dave", "org:admin").await).0, Some(404));
}

#[tokio::test]
async fn delete_organization_membership() {
    let (_emu, url, api) = world().await;
    let body = raw("DELETE", format!("{url}/v1/organizations/org_acme/memberships/user_bob"), None).await;
    holds(bapi::DELETE_ORGANIZATION_MEMBERSHIP, &body);
    assert_eq!(body["public_user_data"]["user_id"], "user_bob");
    let typed = api.delete_organization_membership("org_acme", "user_carol").await.unwrap();
    assert_eq!((typed.public_user_data.user_id.as_str(), typed.role.as_str()), ("user_carol", "org:member"));
    let left = api.collect_all(|l, o| api.organization_memberships("org_acme", l, o)).await.unwrap();
    assert_eq!(left.iter().map(|m| m.public_user_data.user_id.as_str()).collect::<Vec<_>>(), ["user_alice"]);
    assert_eq!(
        refusal(api.delete_organization_membership("org_acme", "user_alice").await),
        (Some(403), "organization_minimum_permissions_needed".into())
    );
    assert_eq!(refusal(api.delete_organization_membership("org_acme", "user_bob").await).0, Some(404));
}

fn invite(email: &str, role: &str) -> bapi::CreateOrganizationInvitation {
    bapi::CreateOrganizationInvitation {
        email_address: email.into(),
        role: role.into(),
        inviter_user_id: Some("user_alice".into()),
        redirect_url: Some("http://127.0.0.1:3000/app/dashboard".into()),
    }
}

#[tokio::test]
async fn create_organization_invitation() {
    let (_emu, url, api) = world().await;
    let body = raw(
        "POST",
        format!("{url}/v1/organizations/org_acme/invitations"),
        Some(json!({"email_address": "erin@example.test", "role": "org:member", "inviter_user_id": "user_alice"})),
    )
    .await;
    holds(bapi::CREATE_ORGANIZATION_INVITATION, &body);
    assert_eq!((&body["status"], &body["public_inviter_data"]["user_id"]), (&json!("pending"), &json!("user_alice")));
    let typed =
        api.create_organization_invitation("org_acme", &invite("Frank@Example.test", "org:admin")).await.unwrap();
    assert_eq!((typed.email_address.as_str(), typed.role.as_str()), ("frank@example.test", "org:admin"));
    assert_eq!(typed.status.as_deref(), Some("pending"));
    assert!(typed.url.as_deref().is_some_and(|u| u.starts_with(&format!("{url}/accept-invitation?ticket="))));
    // an existing member, a non-admin inviter, an unknown role, an unknown organization
    assert_eq!(
        refusal(api.create_organization_invitation("org_acme", &invite("bob@acme.test", "org:member")).await),
        (Some(400), "already_a_member_in_organization".into())
    );
    let by_member = bapi::CreateOrganizationInvitation {
        inviter_user_id: Some("user_bob".into()),
        ..invite("g@x.test", "org:member")
    };
    assert_eq!(refusal(api.create_organization_invitation("org_acme", &by_member).await).0, Some(403));
    assert_eq!(
        refusal(api.create_organization_invitation("org_acme", &invite("g@x.test", "org:boss")).await).0,
        Some(422)
    );
    assert_eq!(
        refusal(api.create_organization_invitation("org_nope", &invite("g@x.test", "org:member")).await).0,
        Some(404)
    );
}

#[tokio::test]
async fn list_organization_invitations() {
    let (_emu, url, api) = world().await;
    let a = api.create_organization_invitation("org_acme", &invite("a@example.test", "org:member")).await.unwrap();
    api.create_organization_invitation("org_acme", &invite("b@example.test", "org:member")).await.unwrap();
    api.revoke_organization_invitation("org_acme", &a.id, Some("user_alice")).await.unwrap();
    let body = raw("GET", format!("{url}/v1/organizations/org_acme/invitations?limit=10"), None).await;
    holds(bapi::LIST_ORGANIZATION_INVITATIONS, &body);
    assert_eq!(body["total_count"], 2);
    let pending = raw("GET", format!("{url}/v1/organizations/org_acme/invitations?status=pending"), None).await;
    holds(bapi::LIST_ORGANIZATION_INVITATIONS, &pending);
    let typed = api.organization_invitations("org_acme", Some("pending"), 10, 0).await.unwrap();
    assert_eq!(typed.data.iter().map(|i| i.email_address.as_str()).collect::<Vec<_>>(), ["b@example.test"]);
    assert_eq!(pending["data"][0]["email_address"], "b@example.test");
    assert_eq!(api.organization_invitations("org_globex", None, 10, 0).await.unwrap().total_count, 0);
}

#[tokio::test]
async fn revoke_organization_invitation() {
    let (_emu, url, api) = world().await;
    let a = api.create_organization_invitation("org_acme", &invite("a@example.test", "org:member")).await.unwrap();
    let b = api.create_organization_invitation("org_acme", &invite("b@example.test", "org:member")).await.unwrap();
    let body = raw(
        "POST",
        format!("{url}/v1/organizations/org_acme/invitations/{}/revoke", a.id),
        Some(json!({"requesting_user_id": "user_alice"})),
    )
    .await;
    holds(bapi::REVOKE_ORGANIZATION_INVITATION, &body);
    assert_eq!(body["status"], "revoked");
    assert_eq!(
        api.revoke_organization_invitation("org_acme", &b.id, None).await.unwrap().status.as_deref(),
        Some("revoked")
    );
    assert_eq!(
        refusal(api.revoke_organization_invitation("org_acme", &a.id, None).await),
        (Some(400), "organization_invitation_not_pending".into())
    );
    // another organization's invitation is not found through this one
    let c = api.create_organization_invitation("org_acme", &invite("c@example.test", "org:member")).await.unwrap();
    assert_eq!(refusal(api.revoke_organization_invitation("org_globex", &c.id, None).await).0, Some(404));
}

#[tokio::test]
async fn get_session() {
    let (emu, url, api) = world().await;
    let sid = add_session(&emu, "sess_contract", "user_alice", Some("org_acme"));
    let body = raw("GET", format!("{url}/v1/sessions/{sid}"), None).await;
    holds(bapi::GET_SESSION, &body);
    let s = api.get_session(&sid).await.unwrap();
    assert_eq!((s.status.as_str(), s.last_active_organization_id.as_deref()), ("active", Some("org_acme")));
}

#[tokio::test]
async fn revoke_session() {
    let (emu, url, api) = world().await;
    let sid = add_session(&emu, "sess_raw", "user_alice", None);
    let body = raw("POST", format!("{url}/v1/sessions/{sid}/revoke"), None).await;
    holds(bapi::REVOKE_SESSION, &body);
    assert_eq!(body["status"], "revoked");
    let sid = add_session(&emu, "sess_typed", "user_bob", None);
    assert_eq!(api.revoke_session(&sid).await.unwrap().status, "revoked");
}

#[tokio::test]
async fn create_session_token() {
    let (emu, url, api) = world().await;
    let sid = add_session(&emu, "sess_contract", "user_alice", Some("org_acme"));
    for body in [None, Some(json!({"expires_in_seconds": 120}))] {
        let answer = raw("POST", format!("{url}/v1/sessions/{sid}/tokens"), body).await;
        holds(bapi::CREATE_SESSION_TOKEN, &answer);
        assert_eq!(answer["object"], "token");
    }
    // `@clerk/backend` posts no body at all, yet says `Content-Type: application/json`; Clerk
    // takes that as "no parameters" (the SDK's observed behaviour is the judge here).
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/sessions/{sid}/tokens"))
        .bearer_auth(SECRET)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    holds(bapi::CREATE_SESSION_TOKEN, &r.json().await.unwrap());
    let jwt = api.session_token(&sid, None, None).await.unwrap().jwt;
    assert_eq!(clerk::verify::decode_jwt(&jwt).unwrap().payload()["sid"], sid.as_str());
}

#[tokio::test]
async fn create_session_token_from_template() {
    let (emu, url, api) = world().await;
    let sid = add_session(&emu, "sess_contract", "user_alice", None);
    let answer = raw("POST", format!("{url}/v1/sessions/{sid}/tokens/supabase"), None).await;
    holds(bapi::CREATE_SESSION_TOKEN_FROM_TEMPLATE, &answer);
    let jwt = api.session_token(&sid, Some("supabase"), Some(300)).await.unwrap().jwt;
    assert_eq!(clerk::verify::decode_jwt(&jwt).unwrap().payload()["email"], "alice@acme.test");
}

#[tokio::test]
async fn refresh_session() {
    let (emu, url, api) = world().await;
    let sid = add_session(&emu, "sess_contract", "user_alice", None);
    let expired = {
        let st = emu.lock();
        emu.session_token(&st, &st.sessions[&sid], None, Some(-30))
    };
    let body = json!({"format": "cookie", "expired_token": expired, "refresh_token": "rt_sess_contract",
                      "request_origin": "http://127.0.0.1:3000", "request_headers": {}});
    let answer = raw("POST", format!("{url}/v1/sessions/{sid}/refresh?suffixed_cookies=false"), Some(body)).await;
    holds(bapi::REFRESH_SESSION, &answer);
    assert_eq!(answer["object"], "cookies");
    let token_format = json!({"expired_token": expired, "refresh_token": "rt_sess_contract",
                              "request_origin": "http://127.0.0.1:3000"});
    let answer = raw("POST", format!("{url}/v1/sessions/{sid}/refresh"), Some(token_format)).await;
    holds(bapi::REFRESH_SESSION, &answer);
    assert_eq!(answer["object"], "token", "the document's default format");
    let cookies = api
        .refresh_session(&sid, &expired, "rt_sess_contract", "http://127.0.0.1:3000", &http::HeaderMap::new(), true)
        .await
        .unwrap();
    assert!(cookies[0].starts_with("__session_"), "{cookies:?}");
}

#[tokio::test]
async fn handshake_payload() {
    let (emu, url, api) = world().await;
    let directives = vec!["__session=x; Path=/".to_string(), "__client_uat=1; Path=/".to_string()];
    emu.lock().nonces.insert("nonce_raw".into(), directives.clone());
    emu.lock().nonces.insert("nonce_typed".into(), directives.clone());
    let body = raw("GET", format!("{url}/v1/clients/handshake_payload?nonce=nonce_raw"), None).await;
    holds(bapi::HANDSHAKE_PAYLOAD, &body);
    assert_eq!(api.handshake_payload("nonce_typed").await.unwrap().directives, directives);
}

/// Error answers are the document's `ClerkErrors`, and the client reads their code.
#[tokio::test]
async fn errors_are_clerk_errors() {
    let (_emu, url, api) = world().await;
    let r = reqwest::Client::new().get(format!("{url}/v1/users/user_nobody")).bearer_auth(SECRET).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    openapi::assert_valid(BAPI, "GetUser 404", &openapi::component("ClerkErrors"), &body);
    let e = api.get_user("user_nobody").await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("resource_not_found")));
    assert!(e.to_string().contains("GetUser GET /v1/users/{user_id}"), "{e}");
}

/// The validator itself: a shape the document forbids is reported, with where and why.
#[test]
fn the_validator_catches_invented_shapes() {
    let op = openapi::operation("GET", "/users").unwrap();
    let schema = openapi::response_schema(op);
    let errs = openapi::violations(BAPI, &schema, &json!({"data": [], "total_count": 0}));
    assert!(!errs.is_empty() && errs[0].contains("array"), "{errs:?}");
    let session = openapi::response_schema(openapi::operation("GET", "/sessions/{session_id}").unwrap());
    let errs = openapi::violations(
        BAPI,
        &session,
        &json!({"object": "session", "id": "s", "user_id": "u", "client_id": "c", "status": "active",
                "last_active_at": 1, "expire_at": 1, "abandon_at": 1, "updated_at": 1, "created_at": 1,
                "last_active_organization_id": null}),
    );
    assert!(errs.is_empty(), "nullable is honoured: {errs:?}");
    let errs = openapi::violations(
        BAPI,
        &session,
        &json!({"object": "session", "id": "s", "user_id": "u", "client_id": "c", "status": "active",
                "last_active_at": 1, "expire_at": 1, "abandon_at": 1, "updated_at": 1, "invented": true}),
    );
    assert!(errs.iter().any(|e| e.contains("created_at")), "missing required: {errs:?}");
    assert!(errs.iter().any(|e| e.contains("invented")), "additionalProperties: {errs:?}");
}
