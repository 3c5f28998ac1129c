//! A full sign-in round trip with no browser: an HTTP client with a cookie jar goes from a
//! protected page to the emulator's sign-in page, signs in, and comes back through the real
//! handshake (nonce transport, exchanged through the Backend API) to a signed-in session; an
//! expired session token is then refreshed on the server with the `__refresh_<suffix>` cookie.
//!
//! Over 500 lines on purpose: the whole emulator-backed sign-in surface (sign-in, sign-up, handshake, switching, creation, refresh) reads as one story here.

use crate::helpers::{env_for, migrated_database};
use clerk_emulator::state::{Seed, State};
use clerk_emulator::{Config, Emulator, Roles};
use reqwest::header::{HeaderMap, ACCEPT, LOCATION};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tenantry::server::config::Config as AppConfig;
use tenantry::server::startup::Application;

struct Stack {
    app: String,
    emu: String,
    client: reqwest::Client,
    /// The browser's cookies (HttpOnly ones included).
    jar: Arc<reqwest::cookie::Jar>,
    emulator: Arc<Emulator>,
    admin: sqlx::PgPool,
}

async fn stack() -> Stack {
    stack_with(|_| {}).await
}

async fn stack_with(configure: impl FnOnce(&mut Config)) -> Stack {
    stack_with_env(configure, |_| {}).await
}

/// [`stack_with`], with the app's environment changed last.
async fn stack_with_env(
    configure: impl FnOnce(&mut Config),
    app_env: impl FnOnce(&mut std::collections::HashMap<String, String>),
) -> Stack {
    let emu_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let emu_url = format!("http://{}", emu_listener.local_addr().unwrap());
    let (db, admin) = migrated_database().await;
    // The emulator's settings, as its env file would give them to the app.
    let seed: Seed = serde_json::from_str(include_str!("../../crates/clerk-emulator/seed.json")).unwrap();
    let mut config = Config {
        public_url: emu_url.clone(),
        instance_type: clerk::InstanceType::Production,
        secret_key: clerk::SecretKey::parse("sk_test_flow").unwrap(),
        webhook_secret: crate::helpers::WEBHOOK_SECRET.into(),
        webhook_endpoints: vec![],
        allowed_origins: vec![],
        token_lifetime_secs: 60,
        claims_v1: false,
        roles: Roles::default(),
        jwt_templates: BTreeMap::new(),
        webhook_duplicate: false,
        webhook_reorder: false,
        state_file: None,
        // Clerk's default: organizations required, sessions without one pending.
        allow_personal_accounts: false,
    };
    // The app binds first so the emulator knows which origin to allow.
    let app_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app_addr = app_listener.local_addr().unwrap();
    drop(app_listener);
    let app_url = format!("http://{app_addr}");
    config.allowed_origins = vec![app_url.clone()];
    config.webhook_endpoints = vec![format!("{app_url}/api/webhooks/clerk")];
    configure(&mut config);
    let emu = Emulator::new(
        config,
        State::from_seed(&seed),
        Some(include_str!("../../crates/clerk/tests/fixtures/instance-private.pem").into()),
    )
    .unwrap();
    let mut env = env_for(&db);
    for line in emu.app_env().lines().filter(|l| !l.starts_with('#')) {
        let (k, v) = line.split_once('=').unwrap();
        env.insert(k.to_string(), v.trim_matches('"').to_string());
    }
    env.insert("TENANTRY_ADDR".into(), app_addr.to_string());
    app_env(&mut env);
    let emulator = Arc::clone(&emu);
    tokio::spawn(clerk_emulator::serve(Arc::clone(&emu), emu_listener));
    let app = Application::build(AppConfig::from_lookup(|k| env.get(k).cloned()).unwrap()).await.unwrap();
    tokio::spawn(app.run_until_stopped());
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, "text/html,application/xhtml+xml".parse().unwrap());
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(Arc::clone(&jar))
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    Stack { app: app_url, emu: emu_url, client, jar, emulator, admin }
}

/// Follow redirects by hand, returning every URL visited and the last response.
async fn follow(client: &reqwest::Client, mut resp: reqwest::Response, base: &str) -> (Vec<String>, reqwest::Response) {
    let mut chain = vec![resp.url().to_string()];
    for _ in 0..10 {
        if !resp.status().is_redirection() {
            break;
        }
        let loc = resp.headers()[LOCATION].to_str().unwrap().to_string();
        let next = if loc.starts_with('/') { format!("{base}{loc}") } else { loc };
        resp = client.get(&next).send().await.unwrap();
        chain.push(next);
    }
    (chain, resp)
}

#[tokio::test]
async fn sign_in_round_trip_through_the_emulator() {
    let s = stack().await;
    let start = s.client.get(format!("{}/app/dashboard", s.app)).send().await.unwrap();
    let (chain, page) = follow(&s.client, start, &s.app).await;
    assert_eq!(page.status(), 200);
    assert!(chain.iter().any(|u| u.starts_with(&format!("{}/sign-in?redirect_url=", s.emu))), "{chain:#?}");
    let form = page.text().await.unwrap();
    assert!(form.contains("Sign in") && form.contains("Continue as Alice Admin"));

    // wrong password: a clear error, nothing signed in
    let bad = s
        .client
        .post(format!("{}/sign-in", s.emu))
        .form(&[
            ("email", "alice@acme.test"),
            ("password", "nope"),
            ("redirect_url", &format!("{}/app/dashboard", s.app)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("Wrong email address or password."));
    assert_eq!(s.client.get(format!("{}/api/whoami", s.app)).send().await.unwrap().status(), 401);

    let signed = s
        .client
        .post(format!("{}/sign-in", s.emu))
        .form(&[
            ("email", "alice@acme.test"),
            ("password", "correct-horse-1"),
            ("redirect_url", &format!("{}/app/dashboard", s.app)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let (chain, last) = follow(&s.client, signed, &s.app).await;
    assert!(chain.iter().any(|u| u.contains("/v1/client/handshake?")), "went through the handshake: {chain:#?}");
    assert!(!last.status().is_redirection());
    assert_eq!(last.url().path(), "/app/dashboard", "{chain:#?}");

    let who: serde_json::Value =
        s.client.get(format!("{}/api/whoami", s.app)).send().await.unwrap().json().await.unwrap();
    assert_eq!(who["userId"], "user_alice");
    assert_eq!(
        (who["orgId"].as_str(), who["orgRole"].as_str()),
        (Some("org_acme"), Some("org:admin")),
        "the only org is active"
    );

    // an open redirect is refused by the emulator
    let evil = s
        .client
        .get(format!("{}/v1/client/handshake?redirect_url=https%3A%2F%2Fevil.example%2F", s.emu))
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 400);

    // sign-out revokes the session at the emulator and clears the app cookies
    let out =
        s.client.post(format!("{}/sign-out", s.app)).header("sec-fetch-site", "same-origin").send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(s.client.get(format!("{}/api/whoami", s.app)).send().await.unwrap().status(), 401);
    let again = s.client.get(format!("{}/app/dashboard", s.app)).send().await.unwrap();
    let (chain, _) = follow(&s.client, again, &s.app).await;
    assert!(chain.iter().any(|u| u.starts_with(&format!("{}/sign-in", s.emu))), "back to sign-in: {chain:#?}");
}

/// Without `CLERK_JWT_KEY` (the default for real deployments) the app verifies session tokens
/// with the keys of the instance's JWKS (`GET /v1/jwks` of the Backend API): the whole sign-in
/// round trip works, and a token signed by a key the JWKS lacks is refused.
#[tokio::test]
async fn without_a_jwt_key_the_app_verifies_through_the_jwks() {
    let s = stack_with_env(
        |_| {},
        |env| {
            env.remove("CLERK_JWT_KEY");
        },
    )
    .await;
    let (chain, last) = sign_in(&s, "alice@acme.test", "correct-horse-1").await;
    assert_eq!((last.status().as_u16(), last.url().path()), (200, "/app/dashboard"), "{chain:#?}");
    let r = s.client.get(format!("{}/api/whoami", s.app)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let who: serde_json::Value = r.json().await.unwrap();
    assert_eq!((who["userId"].as_str(), who["orgId"].as_str()), (Some("user_alice"), Some("org_acme")));
    // The same claims under a key the instance does not publish: refused with the SDK's reason.
    let claims = session_claims(&s);
    let forged = clerk::mint::Signer::from_pem(
        clerk::verify::decode_jwt(&app_cookies(&s)["__session"]).unwrap().kid().unwrap().into_owned(),
        include_str!("../../crates/clerk/tests/fixtures/other-private.pem"),
    )
    .unwrap()
    .sign_session(&claims);
    let r = reqwest::Client::new().get(format!("{}/api/whoami", s.app)).bearer_auth(forged).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-clerk-auth-reason"], "token-invalid-signature");
}

async fn wait_for(admin: &sqlx::PgPool, sql: &str, want: i64) -> i64 {
    let mut got = -1;
    for _ in 0..100 {
        got = sqlx::query_scalar(sql).fetch_one(admin).await.unwrap();
        if got == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    got
}

/// One delivery the recorder passed on: svix id, the signed-up email, and the app's answer.
#[derive(Debug, Clone)]
struct Relayed {
    svix_id: String,
    email: String,
    status: u16,
    answer: String,
}

/// A webhook endpoint in front of the app's: passes each delivery on unchanged and records it
/// with the app's answer, in the order deliveries arrive.
/// The app's endpoint is set once the app's address is known.
async fn recording_relay() -> (String, Arc<std::sync::OnceLock<String>>, Arc<std::sync::Mutex<Vec<Relayed>>>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap as Headers, StatusCode};
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&log);
    let target = Arc::new(std::sync::OnceLock::<String>::new());
    let app_hook = Arc::clone(&target);
    let http = reqwest::Client::new();
    let relay = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: Headers, body: Bytes| {
            let (record, http, app_hook) = (Arc::clone(&record), http.clone(), app_hook.get().unwrap().clone());
            async move {
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let mut forward = http.post(&app_hook).body(body.to_vec());
                for name in ["content-type", "svix-id", "svix-timestamp", "svix-signature"] {
                    forward = forward.header(name, headers[name].to_str().unwrap());
                }
                let r = forward.send().await.unwrap();
                let status = r.status().as_u16();
                let answer = r.text().await.unwrap();
                record.lock().unwrap().push(Relayed {
                    svix_id: headers["svix-id"].to_str().unwrap().to_string(),
                    email: event["data"]["email_addresses"][0]["email_address"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    status,
                    answer: answer.clone(),
                });
                (StatusCode::from_u16(status).unwrap(), answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, relay).await.unwrap() });
    (url, target, log)
}

#[tokio::test]
async fn sign_up_reaches_the_database_through_signed_webhooks() {
    // Duplicated and reordered deliveries, as Svix may do: each event twice, a batch newest
    // first. A relay in front of the app records every delivery and the app's answer.
    let (relay, app_hook, relayed) = recording_relay().await;
    let s = stack_with(|c| {
        c.webhook_duplicate = true;
        c.webhook_reorder = true;
        app_hook.set(c.webhook_endpoints[0].clone()).unwrap();
        c.webhook_endpoints = vec![relay];
    })
    .await;
    let form = |email: &'static str| {
        [
            ("email", email.to_string()),
            ("password", "a-long-password".into()),
            ("first_name", "New".into()),
            ("last_name", "Comer".into()),
            ("redirect_url", format!("{}/select-org", s.app)),
        ]
    };
    // Two sign-ups in a row: two user.created events in one batch (when reordering, the emulator
    // batches events that follow within a second of the last, and delivers the batch's first
    // copies one after the other, newest first).
    for email in ["first@example.test", "second@example.test"] {
        let r = s.client.post(format!("{}/sign-up", s.emu)).form(&form(email)).send().await.unwrap();
        assert_eq!(r.status(), 303);
    }
    let n = wait_for(
        &s.admin,
        "SELECT count(*) FROM users WHERE email IN ('first@example.test', 'second@example.test') AND name = 'New Comer'",
        2,
    )
    .await;
    assert_eq!(n, 2, "both user.created webhooks were applied");
    let mut log = Vec::new();
    for _ in 0..100 {
        log = relayed.lock().unwrap().clone();
        if log.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(log.len(), 4, "each of the two events delivered twice: {log:#?}");
    // Newest first: the second sign-up's event went out before the first's. (Each duplicate is
    // its own concurrent delivery, as with Svix, so only the first arrivals are ordered.)
    let first_arrival = |email: &str| log.iter().position(|d| d.email == email).unwrap();
    assert!(first_arrival("second@example.test") < first_arrival("first@example.test"), "{log:#?}");
    for email in ["first@example.test", "second@example.test"] {
        let copies: Vec<&Relayed> = log.iter().filter(|d| d.email == email).collect();
        assert_eq!(copies[0].svix_id, copies[1].svix_id, "the same message twice");
        let mut answers: Vec<(u16, serde_json::Value)> =
            copies.iter().map(|d| (d.status, serde_json::from_str(&d.answer).unwrap())).collect();
        answers.sort_by_key(|(_, a)| a.to_string());
        assert_eq!(
            answers,
            vec![(200, json!({"status": "applied"})), (200, json!({"status": "duplicate"}))],
            "{email}: applied once, the copy recognised as a duplicate"
        );
    }
    // Two sign-ups, two messages (the copies of one may interleave with the other's in the log).
    let id_of = |email: &str| log[first_arrival(email)].svix_id.clone();
    assert_ne!(id_of("first@example.test"), id_of("second@example.test"));
    let recorded: Vec<String> = sqlx::query_scalar("SELECT svix_id FROM webhook_deliveries ORDER BY svix_id")
        .fetch_all(&s.admin)
        .await
        .unwrap();
    // The two messages' ids, whichever order their copies arrived in (log[0] and log[2] may be
    // copies of one message).
    let mut ids: Vec<String> = log.iter().map(|d| d.svix_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(recorded, ids, "each message recorded once");
    // the same email cannot sign up twice
    let again = s.client.post(format!("{}/sign-up", s.emu)).form(&form("first@example.test")).send().await.unwrap();
    assert_eq!(again.status(), 422);
    assert!(again.text().await.unwrap().contains("That email address is taken"));
}

async fn activate(s: &Stack, org_id: &str) -> serde_json::Value {
    let r = s
        .client
        .post(format!("{}/select-org/activate", s.app))
        .header("sec-fetch-site", "same-origin")
        .form(&[("org_id", org_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (chain, last) = follow(&s.client, r, &s.app).await;
    assert!(chain.iter().any(|u| u.contains("organization_id=")), "{chain:#?}");
    assert_eq!(last.url().path(), "/app/dashboard", "{chain:#?}");
    s.client.get(format!("{}/api/whoami", s.app)).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn switching_activates_the_right_org_and_a_forged_one_changes_nothing() {
    let s = stack().await;
    // Carol belongs to two organizations: none is active after sign-in.
    let (_, last) = sign_in(&s, "carol@globex.test", "correct-horse-3").await;
    assert_eq!(last.url().path(), "/select-org", "no active org: the gate sends her to choose");
    // Organizations are required (the emulator's default, Clerk's for B2B apps): her session is
    // pending, its token names her and no organization, and the API says it is pending.
    let token = session_claims(&s);
    assert_eq!((token["sub"].as_str(), token["sts"].as_str()), (Some("user_carol"), Some("pending")));
    assert!(token.get("o").is_none(), "{token}");
    let r = s.client.get(format!("{}/api/whoami", s.app)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["reason"], "session-pending");
    // The task page lists both of her organizations.
    let html = last.text().await.unwrap();
    for org in ["org_acme", "org_globex"] {
        assert!(html.contains(&format!(r#"value="{org}""#)), "{org} is listed: {html}");
    }

    // A deep link survives the detour through /select-org: she lands where she was going.
    let deep = s.client.get(format!("{}/app/projects?q=x", s.app)).send().await.unwrap();
    let (_, page) = follow(&s.client, deep, &s.app).await;
    assert_eq!(page.url().path(), "/select-org");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="redirect_url" value="/app/projects?q=x""#), "the forms carry it on");
    let r = s
        .client
        .post(format!("{}/select-org/activate", s.app))
        .header("sec-fetch-site", "same-origin")
        .form(&[("org_id", "org_globex"), ("redirect_url", "/app/projects?q=x")])
        .send()
        .await
        .unwrap();
    let (chain, last) = follow(&s.client, r, &s.app).await;
    assert_eq!((last.url().path(), last.url().query()), ("/app/projects", Some("q=x")), "{chain:#?}");
    // ... but only into the workspace on this site
    for elsewhere in ["https://evil.example/app/x", "//evil.example/app", "/sign-out", "/apples"] {
        let r = s
            .client
            .post(format!("{}/select-org/activate", s.app))
            .header("sec-fetch-site", "same-origin")
            .form(&[("org_id", "org_globex"), ("redirect_url", elsewhere)])
            .send()
            .await
            .unwrap();
        let (chain, last) = follow(&s.client, r, &s.app).await;
        assert_eq!(last.url().as_str(), format!("{}/app/dashboard", s.app), "{elsewhere}: {chain:#?}");
    }

    let who = activate(&s, "org_globex").await;
    assert_eq!((who["orgId"].as_str(), who["orgRole"].as_str()), (Some("org_globex"), Some("org:admin")));
    let who = activate(&s, "org_acme").await;
    assert_eq!((who["orgId"].as_str(), who["orgRole"].as_str()), (Some("org_acme"), Some("org:member")));

    // An organization she is not in (created by Dave), and one that does not exist: unchanged.
    let api = clerk::BackendApi::new(&s.emu, clerk::SecretKey::parse("sk_test_flow").unwrap());
    let foreign = api
        .create_organization(&clerk::bapi::CreateOrganization {
            name: "Initech".into(),
            created_by: "user_dave".into(),
            slug: None,
        })
        .await
        .unwrap();
    for forged in [foreign.id.as_str(), "org_does_not_exist"] {
        let who = activate(&s, forged).await;
        assert_eq!(who["orgId"].as_str(), Some("org_acme"), "forged {forged}");
    }
}

/// Sign in through the emulator, asking for `/app/dashboard`, and follow the redirects back
/// through the handshake; returns the URLs visited and the last response.
async fn sign_in(s: &Stack, email: &str, password: &str) -> (Vec<String>, reqwest::Response) {
    let signed = s
        .client
        .post(format!("{}/sign-in", s.emu))
        .form(&[("email", email), ("password", password), ("redirect_url", &format!("{}/app/dashboard", s.app))])
        .send()
        .await
        .unwrap();
    follow(&s.client, signed, &s.app).await
}

/// The browser's cookies for the app, by name.
fn app_cookies(s: &Stack) -> std::collections::HashMap<String, String> {
    use reqwest::cookie::CookieStore;
    let header = s.jar.cookies(&s.app.parse().unwrap()).unwrap();
    header
        .to_str()
        .unwrap()
        .split("; ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The claims of the browser's current session token.
fn session_claims(s: &Stack) -> serde_json::Value {
    clerk::verify::decode_jwt(&app_cookies(s)["__session"]).unwrap().into_payload()
}

/// Session tasks without JavaScript, against the emulator in its default mode (organizations
/// required, personal accounts off): a new user's session is pending; the workspace sends every
/// document request to the task page `/select-org`, never to sign-in; the task page creates an
/// organization and activates it through Clerk's handshake; the session is then active and its
/// token carries the organization.
#[tokio::test]
async fn a_new_users_pending_session_completes_its_task_on_the_select_org_page() {
    let s = stack().await;
    let page = s.client.get(format!("{}/sign-up", s.app)).send().await.unwrap();
    let (chain, form) = follow(&s.client, page, &s.app).await;
    assert!(form.url().as_str().starts_with(&format!("{}/sign-up?redirect_url=", s.emu)), "{chain:#?}");
    let back = form.url().query_pairs().find(|(k, _)| k == "redirect_url").unwrap().1.into_owned();
    let signed_up = s
        .client
        .post(format!("{}/sign-up", s.emu))
        .form(&[
            ("first_name", "Erin"),
            ("email", "erin@example.test"),
            ("password", "a-long-password"),
            ("redirect_url", &back),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 303);
    let (chain, task) = follow(&s.client, signed_up, &s.app).await;
    assert!(chain.iter().any(|u| u.contains("/v1/client/handshake?")), "{chain:#?}");
    assert!(!chain.iter().any(|u| u.contains("/sign-in")), "never to sign-in: {chain:#?}");
    assert_eq!((task.status().as_u16(), task.url().path()), (200, "/select-org"), "{chain:#?}");
    let html = task.text().await.unwrap();
    assert!(html.contains("Choose an organization") && html.contains(r#"data-testid="no-orgs""#), "{html}");

    let user = s.emulator.lock().user_by_email("erin@example.test").unwrap().id.clone();
    let token = session_claims(&s);
    assert_eq!((token["sub"].as_str(), token["sts"].as_str()), (Some(user.as_str()), Some("pending")));
    assert!(token.get("o").is_none(), "{token}");
    let sid = token["sid"].as_str().unwrap().to_string();

    // The workspace leads to the task page (a plain document request, no JavaScript) ...
    let r = s.client.get(format!("{}/app/dashboard", s.app)).send().await.unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()[LOCATION], "/select-org?redirect_url=%2Fapp%2Fdashboard");
    // ... and the API says the session is pending.
    let r = s.client.get(format!("{}/api/whoami", s.app)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["reason"], "session-pending");

    // The task: create an organization; it is activated through the handshake.
    let r = s
        .client
        .post(format!("{}/select-org/create", s.app))
        .header("sec-fetch-site", "same-origin")
        .form(&[("name", "Erin Works"), ("redirect_url", "/app/dashboard")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (chain, dashboard) = follow(&s.client, r, &s.app).await;
    assert!(chain.iter().any(|u| u.contains("organization_id=org_")), "{chain:#?}");
    assert_eq!((dashboard.status().as_u16(), dashboard.url().path()), (200, "/app/dashboard"), "{chain:#?}");
    assert!(dashboard.text().await.unwrap().contains("Erin Works"), "the new organization's dashboard");

    let org = {
        let st = s.emulator.lock();
        st.organizations.values().find(|o| o.name == "Erin Works").unwrap().id.clone()
    };
    let token = session_claims(&s);
    assert_eq!((token["sid"].as_str(), token["sts"].as_str()), (Some(sid.as_str()), Some("active")));
    assert_eq!((token["o"]["id"].as_str(), token["o"]["rol"].as_str()), (Some(org.as_str()), Some("admin")));
    let who: serde_json::Value =
        s.client.get(format!("{}/api/whoami", s.app)).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (&who["sessionStatus"], &who["userId"], &who["orgId"], &who["orgRole"], &who["isAuthenticated"]),
        (&json!("active"), &json!(user), &json!(org), &json!("org:admin"), &json!(true))
    );
    let st = s.emulator.lock();
    assert_eq!(s.emulator.session_json(&st, &st.sessions[&sid])["status"], "active", "Clerk's session too");
}

#[tokio::test]
async fn an_expired_session_token_is_refreshed_on_the_server_with_the_refresh_cookie() {
    let s = stack().await;
    let (chain, last) = sign_in(&s, "alice@acme.test", "correct-horse-1").await;
    assert_eq!((last.status().as_u16(), last.url().path()), (200, "/app/dashboard"), "{chain:#?}");
    let jar = app_cookies(&s);
    let refresh_name = format!("__refresh_{}", s.emulator.publishable_key.cookie_suffix());
    let refresh = jar.get(&refresh_name).unwrap_or_else(|| panic!("the handshake set {refresh_name}: {jar:?}")).clone();
    let sid = clerk::verify::decode_jwt(&jar["__session"]).unwrap().claims().sid.str().unwrap().into_owned();
    // What the browser holds after idling past the token's lifetime.
    let expired = {
        let st = s.emulator.lock();
        s.emulator.session_token(&st, &st.sessions[&sid], Some(&s.app), Some(-30))
    };
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let visit = |method: reqwest::Method, path: &str, refresh: &str| {
        bare.request(method, format!("{}{path}", s.app))
            .header("accept", "text/html")
            .header("sec-fetch-dest", "document")
            .header(
                "cookie",
                format!("__session={expired}; __client_uat={}; {refresh_name}={refresh}", jar["__client_uat"]),
            )
            .send()
    };

    // A page load: refreshed through the Backend API, served signed in, new cookies set.
    let r = visit(reqwest::Method::GET, "/app/dashboard", &refresh).await.unwrap();
    assert_eq!(r.status(), 200);
    let set: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let fresh = set
        .iter()
        .find_map(|c| c.strip_prefix("__session="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("a new session cookie: {set:?}"));
    let fresh = clerk::verify::decode_jwt(fresh).unwrap();
    assert_eq!(fresh.claims().sid.str().as_deref(), Some(sid.as_str()));
    assert!(fresh.time_claim("exp").unwrap() > crate::helpers::now(), "the new token is live");
    assert!(r.text().await.unwrap().contains("Acme"), "the dashboard of the active org");

    // A wrong refresh token: no refresh; the document request goes through the handshake, and
    // the reason names Clerk's refusal.
    let r = visit(reqwest::Method::GET, "/app/dashboard", "rt_forged").await.unwrap();
    assert_eq!(r.status(), 307);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(&format!("{}/v1/client/handshake?", s.emu)), "{loc}");
    assert!(loc.contains("__clerk_hs_reason=session-token-expired-refresh-refresh_token_invalid"), "{loc}");

    // Only GETs refresh: a POST with the same cookies is refused, nothing written.
    let r = visit(reqwest::Method::POST, "/api/projects/create", &refresh).await.unwrap();
    assert_eq!(r.status(), 401);

    // Sign-out with only the expired token (a POST is never refreshed) still ends the session
    // at Clerk, so its refresh token is worthless afterwards.
    let jar_cookies = app_cookies(&s);
    let cookie = jar_cookies
        .iter()
        .map(|(k, v)| if k == "__session" { format!("{k}={expired}") } else { format!("{k}={v}") })
        .collect::<Vec<_>>()
        .join("; ");
    let out = bare
        .post(format!("{}/sign-out", s.app))
        .header("sec-fetch-site", "same-origin")
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(s.emulator.lock().sessions[&sid].status, "revoked", "the Clerk session ended");
    let out =
        s.client.post(format!("{}/sign-out", s.app)).header("sec-fetch-site", "same-origin").send().await.unwrap();
    assert_eq!(out.status(), 303, "signing out of an ended session is fine");
    assert!(!app_cookies(&s).contains_key(&refresh_name), "sign-out clears the refresh cookie");
    let r = visit(reqwest::Method::GET, "/app/dashboard", &refresh).await.unwrap();
    assert_eq!(r.status(), 307);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.contains("__clerk_hs_reason=session-token-expired-refresh-session_not_active"), "{loc}");
}

/// Creating organizations: the creator becomes its admin and lands in it; a bad name is refused
/// with a message and creates nothing; a burst is cut off after five in an hour.
#[tokio::test]
async fn creating_organizations_works_and_a_burst_is_cut_off() {
    let s = stack().await;
    let (_, last) = sign_in(&s, "dave@example.test", "correct-horse-4").await;
    assert_eq!(last.url().path(), "/select-org", "Dave has no organization yet");
    let create = |name: String| {
        s.client
            .post(format!("{}/select-org/create", s.app))
            .header("sec-fetch-site", "same-origin")
            .form(&[("name", name)])
            .send()
    };
    let dave_orgs = || {
        let st = s.emulator.lock();
        st.memberships.values().filter(|m| m.user_id == "user_dave" && m.role == "org:admin").count()
    };
    let r = create("   ".into()).await.unwrap();
    let (_, page) = follow(&s.client, r, &s.app).await;
    assert_eq!(page.url().path(), "/select-org");
    assert!(page.text().await.unwrap().contains("An organization needs a name."));
    assert_eq!(dave_orgs(), 0, "nothing created");
    for i in 1..=5 {
        let r = create(format!("Lab {i}")).await.unwrap();
        let (chain, last) = follow(&s.client, r, &s.app).await;
        assert_eq!(last.url().path(), "/app/dashboard", "{chain:#?}");
        let who: serde_json::Value =
            s.client.get(format!("{}/api/whoami", s.app)).send().await.unwrap().json().await.unwrap();
        assert_eq!(who["orgRole"], "org:admin", "the creator is the new organization's admin");
    }
    assert_eq!(dave_orgs(), 5);
    let r = create("Lab 6".into()).await.unwrap();
    let (_, page) = follow(&s.client, r, &s.app).await;
    assert_eq!(page.url().path(), "/select-org");
    assert!(page.text().await.unwrap().contains("please wait a few minutes"));
    assert_eq!(dave_orgs(), 5, "the sixth was not created");
    // The allowance is each user's: Carol, in another browser, still creates hers.
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, "text/html,application/xhtml+xml".parse().unwrap());
    let carol = Stack {
        app: s.app.clone(),
        emu: s.emu.clone(),
        client: reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap(),
        jar,
        emulator: Arc::clone(&s.emulator),
        admin: s.admin.clone(),
    };
    sign_in(&carol, "carol@globex.test", "correct-horse-3").await;
    let r = carol
        .client
        .post(format!("{}/select-org/create", carol.app))
        .header("sec-fetch-site", "same-origin")
        .form(&[("name", "Carol's Lab")])
        .send()
        .await
        .unwrap();
    let (chain, last) = follow(&carol.client, r, &carol.app).await;
    assert_eq!(last.url().path(), "/app/dashboard", "{chain:#?}");
    let who: serde_json::Value =
        carol.client.get(format!("{}/api/whoami", carol.app)).send().await.unwrap().json().await.unwrap();
    assert_eq!(who["orgRole"], "org:admin", "Carol created her organization: {who}");
    let created = s.emulator.lock().organizations.values().filter(|o| o.name == "Carol's Lab").count();
    assert_eq!(created, 1);
    // ... while Dave is still cut off.
    let r = create("Lab 7".into()).await.unwrap();
    let (_, page) = follow(&s.client, r, &s.app).await;
    assert!(page.text().await.unwrap().contains("please wait a few minutes"));
    assert_eq!(dave_orgs(), 5);
    // Only known codes become text: a crafted link cannot write on the page.
    let crafted = s
        .client
        .get(format!("{}/select-org?error=Your+account+is+locked.+Call+555-0100", s.app))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!crafted.contains("Call 555") && crafted.contains("Something went wrong; please try again."));
}
