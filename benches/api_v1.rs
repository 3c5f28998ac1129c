//! The backend-for-frontend and the Bearer API, each against its baseline, in one run
//! (interleaved rounds; read the ratios):
//!
//! - the proxy (`GET /api/proxy/billing/whoami` with a session token: authenticate, the cached
//!   template token, forward) against calling the billing service directly with a template
//!   token (the service's own verification is in both);
//! - `GET /api/v1/projects` through the whole app against the same route and query with
//!   authentication bypassed (a fixed `Auth` injected where the Clerk layer would run).

mod common;
#[path = "../services/billing/tests/support/mod.rs"]
mod support;

use axum::extract::Request;
use axum::middleware::{self, Next};
use clerk::{ActiveOrg, Auth};
use common::{median, migrated_database};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use support::{Clerk, SECRET, TEMPLATE};
use tenantry::server::config::Config;
use tenantry::server::startup::{app_routes, leptos_options, Application};
use tenantry::server::state::{AppState, Shared};

const ROUNDS: usize = 3;
const REQUESTS: usize = 400;
const CONCURRENCY: usize = 8;

fn auth() -> Auth {
    Auth {
        user_id: "user_alice".into(),
        session_id: Some("sess_user_alice".into()),
        session_status: Some("active".into()),
        org: Some(ActiveOrg {
            id: "org_acme".into(),
            slug: Some("acme".into()),
            role: Some("org:admin".into()),
            permissions: vec![],
        }),
        features: vec![],
        plans: vec![],
        actor: None,
        factor_verification_age: None,
    }
}

async fn inject_auth(mut req: Request, next: Next) -> axum::response::Response {
    req.extensions_mut().insert(auth());
    next.run(req).await
}

/// Requests per second of `GET url` with `bearer`; every answer must be a 200 containing `expect`.
async fn rps(client: &reqwest::Client, url: &str, bearer: &str, expect: &str) -> f64 {
    let start = Instant::now();
    let per_task = REQUESTS / CONCURRENCY;
    let tasks = (0..CONCURRENCY).map(|_| async move {
        for _ in 0..per_task {
            let r = client.get(url).bearer_auth(bearer).send().await.unwrap();
            let reason = r.headers().get("x-clerk-auth-reason").map(|v| v.to_str().unwrap_or("").to_string());
            assert!(r.status().is_success(), "{url}: {} {reason:?}", r.status());
            let body = r.text().await.unwrap();
            assert!(body.contains(expect), "{url}: {body}");
        }
    });
    futures::future::join_all(tasks).await;
    (per_task * CONCURRENCY) as f64 / start.elapsed().as_secs_f64()
}

/// Alice's session token as the browser's Clerk would hold it (signed with the emulated
/// instance's key, for the session the emulator knows, so the proxy can mint its template).
fn session_token(clerk: &Clerk) -> String {
    let now = support::now();
    clerk::mint::Signer::from_pem(clerk.emu.signer.kid(), support::PRIVATE_PEM).unwrap().sign_session(&serde_json::json!({
        "sub": "user_alice", "sid": "sess_user_alice", "azp": "http://localhost:3000", "iss": clerk.url,
        "iat": now, "nbf": now - 10, "exp": now + 120, "v": 2, "o": {"id": "org_acme", "slg": "acme", "rol": "admin"}
    }))
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let clerk = Clerk::start().await;
        let vars = [("CLERK_JWT_KEY", clerk.emu.public_pem.clone()), ("CLERK_ISSUER", clerk.url.clone())];
        let billing_config =
            billing::Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
        // The same service verifying every signature, as the SDK does (a cache of capacity 0).
        let uncached = billing::Config { signatures: Arc::new(clerk::VerifiedSignatures::new(0)), ..billing_config.clone() };
        let billing = serve(billing::router(billing_config)).await;
        let billing_uncached = serve(billing::router(uncached)).await;

        let (admin, app_url) = migrated_database().await;
        for i in 0..50 {
            sqlx::query("INSERT INTO projects (org_id, name, description, created_by) VALUES ('org_acme', $1, 'a project to list', 'user_alice')")
                .bind(format!("Project {i:02}"))
                .execute(&admin)
                .await
                .unwrap();
        }
        let env: HashMap<&str, String> = HashMap::from([
            ("DATABASE_URL", app_url.clone()),
            ("TENANTRY_ADDR", "127.0.0.1:0".into()),
            ("CLERK_PUBLISHABLE_KEY", "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k".into()),
            ("CLERK_SECRET_KEY", SECRET.into()),
            ("CLERK_AUTHORIZED_PARTIES", "http://localhost:3000".into()),
            ("CLERK_API_URL", clerk.url.clone()),
            ("CLERK_JWT_KEY", clerk.emu.public_pem.clone()),
            ("CLERK_WEBHOOK_SIGNING_SECRET", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into()),
            ("TENANTRY_SERVICES", format!("billing={billing}|{TEMPLATE}|tenant")),
        ]);
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        let app = Application::build(config.clone()).await.unwrap();
        let full = format!("http://{}", app.addr());
        tokio::spawn(app.run_until_stopped());

        // The same routes with authentication bypassed.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bypass = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(Shared {
            db: tenantry::server::db::Db::detect(sqlx::PgPool::connect(&app_url).await.unwrap()).await.unwrap(),
            clerk: tenantry::server::auth::build_clerk(&config.clerk),
            leptos_options: leptos_options(listener.local_addr().unwrap()).unwrap(),
            config: Arc::new(config),
            org_creation: Arc::default(),
            backend_api_budget: Arc::default(),
        });
        let router = app_routes(&state).layer(middleware::from_fn(inject_auth)).with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        let client = reqwest::Client::new();
        let (mut proxied, mut direct, mut api_full, mut api_bypass) = (vec![], vec![], vec![], vec![]);
        let mut direct_uncached = vec![];
        for round in 0..ROUNDS {
            // Fresh tokens each round (they live a minute); the proxy's cache is warmed first.
            let session = session_token(&clerk);
            let template = clerk.mint("sess_user_alice", Some(TEMPLATE)).await;
            rps(&client, &format!("{full}/api/proxy/billing/whoami"), &session, "org_acme").await;
            proxied.push(rps(&client, &format!("{full}/api/proxy/billing/whoami"), &session, "org_acme").await);
            // Alternated, so neither of the two always runs first.
            for uncached in if round % 2 == 0 { [false, true] } else { [true, false] } {
                let (url, into) =
                    if uncached { (&billing_uncached, &mut direct_uncached) } else { (&billing, &mut direct) };
                into.push(rps(&client, &format!("{url}/whoami"), &template, "org_acme").await);
            }
            api_full.push(rps(&client, &format!("{full}/api/v1/projects"), &session, "Project 07").await);
            // The bypass still needs a Bearer header to pass the API's gate; it is never read.
            api_bypass.push(rps(&client, &format!("{bypass}/api/v1/projects"), "unread", "Project 07").await);
        }
        let (p, d, f, b) = (median(proxied), median(direct), median(api_full), median(api_bypass));
        println!("BFF and REST API, requests/s (median of {ROUNDS} rounds of {REQUESTS}, {CONCURRENCY} concurrent):");
        println!("  billing via the proxy (cache warm)     {p:>8.0}");
        println!("  billing called directly                {d:>8.0}  (the proxy keeps {:.1} % of it)", p / d * 100.0);
        let u = median(direct_uncached);
        println!("  billing, every signature verified      {u:>8.0}  (the verified-signature cache: {:.2}x)", d / u);
        println!("  GET /api/v1/projects, whole app        {f:>8.0}");
        println!("  GET /api/v1/projects, auth bypassed    {b:>8.0}  (authentication costs {:.1} % of throughput)", (1.0 - f / b) * 100.0);
    });
}
