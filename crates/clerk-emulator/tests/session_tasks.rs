//! Session tasks: by default the emulator is a Clerk instance with organizations required and
//! personal accounts off, so a signed-in user without an active organization has a `pending`
//! session with the `choose-organization` task (its tokens carry `sts: "pending"`), shown in the
//! Frontend API's client (validated against Clerk's FAPI document) and the Backend API's
//! session (against the BAPI document), until an organization is chosen or created and then
//! activated through the handshake. `allow_personal_accounts` gives active sessions without one.

mod common;

use clerk::bapi::{BackendApi, CreateOrganization};
use clerk::SecretKey;
use common::openapi::{self, BAPI, FAPI};
use common::{start, verifier, SECRET};
use serde_json::{json, Value};

const ORIGIN: &str = "http://127.0.0.1:3000";

/// Signs `email` in on a fresh cookie jar; returns the browser and its session id.
async fn sign_in(emu: &clerk_emulator::Shared, url: &str, email: &str, password: &str) -> (reqwest::Client, String) {
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = browser
        .post(format!("{url}/sign-in"))
        .form(&[("email", email), ("password", password), ("redirect_url", &format!("{ORIGIN}/app"))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{email} signs in");
    let st = emu.lock();
    let user = st.user_by_email(email).unwrap().id.clone();
    let sid = st.sessions.values().find(|s| s.user_id == user && s.status == "active").unwrap().id.clone();
    (browser, sid)
}

/// `GET /v1/client` as clerk-js calls it, held to the FAPI document's `getClient`.
async fn fapi_client(browser: &reqwest::Client, url: &str) -> Value {
    let r = browser.get(format!("{url}/v1/client")).header("origin", ORIGIN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN);
    let body: Value = r.json().await.unwrap();
    let schema = openapi::response_schema_in(FAPI, openapi::fapi_operation("GET", "/v1/client").unwrap());
    openapi::assert_valid(FAPI, "GET /v1/client", &schema, &body);
    body
}

/// `GET /v1/sessions/{id}` of the Backend API, held to the BAPI document's `GetSession`.
async fn bapi_session(url: &str, sid: &str) -> Value {
    let r = reqwest::Client::new().get(format!("{url}/v1/sessions/{sid}")).bearer_auth(SECRET).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let schema = openapi::response_schema(openapi::operation("GET", "/sessions/{session_id}").unwrap());
    openapi::assert_valid(BAPI, "GET /v1/sessions/{session_id}", &schema, &body);
    body
}

/// A token's claims, after checking its signature the way the app does.
async fn claims(url: &str, jwt: &str) -> Value {
    verifier(url).verify_session_token(jwt, &clerk::VerifyOptions::default()).await.unwrap();
    clerk::verify::decode_jwt(jwt).unwrap().into_payload()
}

/// The handshake with `organization_id` (token transport); returns the new session token.
async fn handshake(browser: &reqwest::Client, url: &str, organization_id: &str) -> String {
    let r = browser
        .get(format!("{url}/v1/client/handshake"))
        .query(&[("redirect_url", format!("{ORIGIN}/app")), ("organization_id", organization_id.into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let carrier = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().unwrap().strip_prefix("__clerk_handshake="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .next()
        .expect("the handshake cookie");
    let payload = clerk::verify::decode_jwt(&carrier).unwrap().into_payload();
    payload["handshake"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str().unwrap().strip_prefix("__session="))
        .map(|d| d.split(';').next().unwrap().to_string())
        .next()
        .unwrap_or_else(|| panic!("a session directive: {payload}"))
}

/// The Frontend API's token refresh (clerk-js, before expiry).
async fn refreshed(browser: &reqwest::Client, url: &str, sid: &str) -> String {
    let r =
        browser.post(format!("{url}/v1/client/sessions/{sid}/tokens")).header("origin", ORIGIN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["jwt"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn without_an_organization_the_session_is_pending_until_one_is_created_and_activated() {
    let (emu, url) = start(|_| {}).await;
    let (browser, sid) = sign_in(&emu, &url, "dave@example.test", "correct-horse-4").await;

    // The client and the session show the task, as Clerk's documents describe them.
    let client = fapi_client(&browser, &url).await;
    let session = &client["response"]["sessions"][0];
    assert_eq!(client["client"], Value::Null);
    assert_eq!(client["response"]["last_active_session_id"], json!(sid));
    assert_eq!(
        (&session["id"], &session["status"], &session["tasks"], &session["last_active_organization_id"]),
        (&json!(sid), &json!("pending"), &json!([{"key": "choose-organization"}]), &Value::Null)
    );
    let bapi = bapi_session(&url, &sid).await;
    assert_eq!((&bapi["status"], &bapi["tasks"]), (&json!("pending"), &json!([{"key": "choose-organization"}])));
    let typed = BackendApi::new(&url, SecretKey::parse(SECRET).unwrap()).get_session(&sid).await.unwrap();
    assert_eq!(typed.status, "pending");

    // Every token of the session says so (v2 `sts`), with no organization.
    let last_active = session["last_active_token"]["jwt"].as_str().unwrap().to_string();
    for jwt in [last_active, refreshed(&browser, &url, &sid).await, handshake(&browser, &url, "").await] {
        let c = claims(&url, &jwt).await;
        assert_eq!(
            (&c["sub"], &c["sid"], &c["v"], &c["sts"]),
            (&json!("user_dave"), &json!(sid), &json!(2), &json!("pending"))
        );
        assert!(c.get("o").is_none(), "no organization: {c}");
    }
    // ... and the SDK's rules read it as pending: signed in, a signed-out auth object.
    let jwt = refreshed(&browser, &url, &sid).await;
    let auth = clerk::Auth::from_claims(&verifier(&url).verify_session_token(&jwt, &Default::default()).await.unwrap());
    assert!(auth.unwrap().is_pending());

    // Creating an organization (Backend API) does not change the session by itself ...
    let api = BackendApi::new(&url, SecretKey::parse(SECRET).unwrap());
    let org = api
        .create_organization(&CreateOrganization {
            name: "Dave Labs".into(),
            created_by: "user_dave".into(),
            slug: None,
        })
        .await
        .unwrap();
    assert_eq!(bapi_session(&url, &sid).await["status"], "pending");
    // ... activating it through the handshake completes the task.
    let jwt = handshake(&browser, &url, &org.id).await;
    let c = claims(&url, &jwt).await;
    assert_eq!(c["sts"], "active");
    assert_eq!((&c["o"]["id"], &c["o"]["rol"], &c["o"]["slg"]), (&json!(org.id), &json!("admin"), &json!("dave-labs")));
    let client = fapi_client(&browser, &url).await;
    let session = &client["response"]["sessions"][0];
    assert_eq!(
        (&session["status"], &session["tasks"], &session["last_active_organization_id"]),
        (&json!("active"), &Value::Null, &json!(org.id))
    );
    let bapi = bapi_session(&url, &sid).await;
    assert_eq!((&bapi["status"], &bapi["tasks"]), (&json!("active"), &Value::Null));
    assert_eq!(claims(&url, &refreshed(&browser, &url, &sid).await).await["o"]["id"], json!(org.id));

    // No personal account to go back to: an empty organization_id leaves the organization on.
    let c = claims(&url, &handshake(&browser, &url, "").await).await;
    assert_eq!((&c["sts"], &c["o"]["id"]), (&json!("active"), &json!(org.id)));

    // Losing the membership brings the task back. Dave is the organization's only admin, whom
    // Clerk will not remove from it; deleting the organization ends the membership.
    let r = reqwest::Client::new()
        .delete(format!("{url}/v1/organizations/{}", org.id))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c = claims(&url, &refreshed(&browser, &url, &sid).await).await;
    assert_eq!(c["sts"], "pending");
    assert!(c.get("o").is_none(), "{c}");
    assert_eq!(bapi_session(&url, &sid).await["tasks"], json!([{"key": "choose-organization"}]));
}

#[tokio::test]
async fn choosing_one_of_several_organizations_completes_the_task() {
    let (emu, url) = start(|_| {}).await;
    // Carol belongs to two organizations: none is active after sign-in.
    let (browser, sid) = sign_in(&emu, &url, "carol@globex.test", "correct-horse-3").await;
    assert_eq!(fapi_client(&browser, &url).await["response"]["sessions"][0]["status"], "pending");
    // Not one of hers: still pending.
    let c = claims(&url, &handshake(&browser, &url, "org_nope").await).await;
    assert_eq!(c["sts"], "pending");
    let c = claims(&url, &handshake(&browser, &url, "org_globex").await).await;
    assert_eq!((&c["sts"], &c["o"]["id"], &c["o"]["rol"]), (&json!("active"), &json!("org_globex"), &json!("admin")));
    assert_eq!(bapi_session(&url, &sid).await["status"], "active");
    // A user with exactly one organization has it activated at sign-in: never pending.
    let (browser, sid) = sign_in(&emu, &url, "alice@acme.test", "correct-horse-1").await;
    let c = claims(&url, &refreshed(&browser, &url, &sid).await).await;
    assert_eq!((&c["sts"], &c["o"]["id"]), (&json!("active"), &json!("org_acme")));
}

#[tokio::test]
async fn with_personal_accounts_allowed_a_session_without_an_organization_is_active() {
    let (emu, url) = start(|c| c.allow_personal_accounts = true).await;
    let (browser, sid) = sign_in(&emu, &url, "dave@example.test", "correct-horse-4").await;
    let client = fapi_client(&browser, &url).await;
    let session = &client["response"]["sessions"][0];
    assert_eq!((&session["status"], &session["tasks"]), (&json!("active"), &Value::Null));
    let bapi = bapi_session(&url, &sid).await;
    assert_eq!((&bapi["status"], &bapi["tasks"]), (&json!("active"), &Value::Null));
    let c = claims(&url, &refreshed(&browser, &url, &sid).await).await;
    assert_eq!((&c["sub"], &c["sts"]), (&json!("user_dave"), &json!("active")));
    assert!(c.get("o").is_none(), "{c}");
    // Here the personal account can be chosen again after an organization.
    let c = claims(&url, &handshake(&browser, &url, "org_acme").await).await;
    assert!(c.get("o").is_none(), "Dave is not in Acme: {c}");
    let (browser, _) = sign_in(&emu, &url, "carol@globex.test", "correct-horse-3").await;
    let c = claims(&url, &handshake(&browser, &url, "org_globex").await).await;
    assert_eq!(c["o"]["id"], "org_globex");
    let c = claims(&url, &handshake(&browser, &url, "").await).await;
    assert_eq!(c["sts"], "active");
    assert!(c.get("o").is_none(), "the personal account: {c}");
}

#[tokio::test]
async fn a_browser_without_a_client_gets_a_null_client() {
    let (_emu, url) = start(|_| {}).await;
    let browser = reqwest::Client::new();
    assert_eq!(fapi_client(&browser, &url).await, json!({"response": null, "client": null}));
}
