//! Requests per second, signed in, of the projects list page (`GET /app/projects`, server-side
//! rendered) and of a projects JSON read (`POST /api/projects/list`) through the whole app,
//! against the same page and server function with authentication bypassed (a fixed `Auth`
//! injected where the Clerk layer and route gate would run). Then the tenant transaction
//! (`SET LOCAL app.org_id`) against a plain transaction. One run, interleaved rounds: read the
//! ratios.

mod common;

use axum::extract::Request;
use axum::middleware::{self, Next};
use clerk::mint::Signer;
use clerk::{ActiveOrg, Auth};
use common::{median, migrated_database};
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tenantry::server::config::Config;
use tenantry::server::startup::{app_routes, leptos_options, Application};
use tenantry::server::state::{AppState, Shared};
use tenantry::server::tenant::Tenant;

const ROUNDS: usize = 3;
const REQUESTS: usize = 200;
const CONCURRENCY: usize = 4;

fn auth() -> Auth {
    Auth {
        user_id: "user_bench".into(),
        session_id: Some("sess_bench".into()),
        session_status: Some("active".into()),
        org: Some(ActiveOrg {
            id: "org_a".into(),
            slug: Some("a".into()),
            role: Some("org:admin".into()),
            permissions: vec!["org:projects:manage".into(), "org:projects:read".into()],
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

/// The origin the session token was minted for (`azp`), an authorized party of the app.
const AZP: &str = "http://localhost:3000";

/// How a request is signed in: a page as a browser sends it (the session cookie, with
/// `__client_uat`), a JSON call with the token as a Bearer; or not at all (authentication
/// bypassed).
#[derive(Clone, Copy)]
enum Session<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
    Bypassed,
}

async fn rps(client: &reqwest::Client, url: &str, session: Session<'_>, json: bool) -> f64 {
    let start = Instant::now();
    let per_task = REQUESTS / CONCURRENCY;
    let tasks = (0..CONCURRENCY).map(|_| async move {
        for _ in 0..per_task {
            let mut rb = if json {
                client.post(url).form(&[("search", ""), ("status", "all")])
            } else {
                client.get(url).header("accept", "text/html")
            };
            match session {
                Session::Cookie(cookie) => rb = rb.header("cookie", cookie),
                Session::Bearer(token) => rb = rb.bearer_auth(token),
                Session::Bypassed => {}
            }
            let r = rb.send().await.unwrap();
            assert!(r.status().is_success(), "{url}: {}", r.status());
            let body = r.text().await.unwrap();
            assert!(body.contains("Project 07"), "{url} rendered the projects");
        }
    });
    futures::future::join_all(tasks).await;
    (per_task * CONCURRENCY) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (admin, app_url) = migrated_database().await;
        // The organization, its user and their membership mirrored, as the webhooks leave them
        // (otherwise the page would ask Clerk's Backend API, which is not there).
        sqlx::raw_sql(
            "INSERT INTO organizations (id, slug, name) VALUES ('org_a', 'a', 'Bench Org');
             INSERT INTO users (clerk_id, email, name) VALUES ('user_bench', 'bench@example.test', 'Bench User');
             INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_a', 'user_bench', 'org:admin');",
        )
        .execute(&admin)
        .await
        .unwrap();
        for i in 0..50 {
            sqlx::query("INSERT INTO projects (org_id, name, description, created_by) VALUES ('org_a', $1, 'a project to list', 'user_bench')")
                .bind(format!("Project {i:02}"))
                .execute(&admin)
                .await
                .unwrap();
        }
        let env: HashMap<&str, String> = HashMap::from([
            ("DATABASE_URL", app_url.clone()),
            ("TENANTRY_ADDR", "127.0.0.1:0".into()),
            ("CLERK_PUBLISHABLE_KEY", "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k".into()),
            ("CLERK_SECRET_KEY", "sk_live_bench".into()),
            ("CLERK_API_URL", "http://127.0.0.1:9".into()),
            ("CLERK_JWT_KEY", include_str!("../crates/clerk/tests/fixtures/instance-public.pem").into()),
            ("CLERK_AUTHORIZED_PARTIES", AZP.into()),
            ("CLERK_WEBHOOK_SIGNING_SECRET", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into()),
        ]);
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();

        // The whole app.
        let app = Application::build(config.clone()).await.unwrap();
        let full = format!("http://{}", app.addr());
        tokio::spawn(app.run_until_stopped());

        // The same routes with authentication bypassed.
        let pool = PgPool::connect(&app_url).await.unwrap();
        let db = tenantry::server::db::Db::detect(pool.clone()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bypass = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(Shared { db: db.clone(), clerk: tenantry::server::auth::build_clerk(&config.clerk), leptos_options: leptos_options(listener.local_addr().unwrap()).unwrap(), config: Arc::new(config), org_creation: Arc::default(), backend_api_budget: Arc::default() });
        let router = app_routes(&state).layer(middleware::from_fn(inject_auth)).with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let token = Signer::from_pem("ins_bench", include_str!("../crates/clerk/tests/fixtures/instance-private.pem")).unwrap().sign_session(&json!({
            "sub": "user_bench", "sid": "sess_bench", "iss": "https://clerk.example.com", "azp": AZP, "iat": now, "nbf": now - 10, "exp": now + 3600, "v": 2, "fea": "o:projects",
            "o": {"id": "org_a", "slg": "a", "rol": "admin", "per": "manage,read", "fpm": "3"}
        }));
        let cookie = format!("__session={token}; __client_uat={}", now - 100);
        // Redirects are answers here, not something to follow (a page not signed in would be
        // sent to the sign-in host).
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let (mut page_full, mut page_bypass, mut json_full, mut json_bypass) = (vec![], vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            page_full.push(rps(&client, &format!("{full}/app/projects"), Session::Cookie(&cookie), false).await);
            page_bypass.push(rps(&client, &format!("{bypass}/app/projects"), Session::Bypassed, false).await);
            json_full.push(rps(&client, &format!("{full}/api/projects/list"), Session::Bearer(&token), true).await);
            json_bypass.push(rps(&client, &format!("{bypass}/api/projects/list"), Session::Bypassed, true).await);
        }
        let (pf, pb, jf, jb) = (median(page_full), median(page_bypass), median(json_full), median(json_bypass));
        println!("workspace reads, requests/s (median of {ROUNDS} rounds of {REQUESTS}, {CONCURRENCY} concurrent), 50 projects:");
        println!("  projects page, whole app          {pf:>8.0}");
        println!("  projects page, auth bypassed      {pb:>8.0}  (authentication costs {:.1} % of throughput)", (1.0 - pf / pb) * 100.0);
        println!("  projects JSON read, whole app     {jf:>8.0}");
        println!("  projects JSON read, auth bypassed {jb:>8.0}  (authentication costs {:.1} % of throughput)", (1.0 - jf / jb) * 100.0);

        // The tenant transaction against a plain one.
        // A tenant as the Clerk middleware leaves it: the verified auth in the request's extensions.
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        parts.extensions.insert(auth());
        let tenant = Tenant::from_request(&parts).unwrap();
        // Citus's messages (`BEGIN`, the settings alone, the check) on the same database.
        let split = tenantry::server::db::Db::new(pool.clone(), tenantry::server::db::Dialect::Citus);
        let (mut scoped, mut plain, mut citus) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..500 {
                tenant.begin(&db).await.unwrap().commit().await.unwrap();
            }
            scoped.push(500.0 / start.elapsed().as_secs_f64());
            let start = Instant::now();
            for _ in 0..500 {
                tenant.begin(&split).await.unwrap().commit().await.unwrap();
            }
            citus.push(500.0 / start.elapsed().as_secs_f64());
            let start = Instant::now();
            for _ in 0..500 {
                tenantry::server::db::begin(&pool).await.unwrap().commit().await.unwrap();
            }
            plain.push(500.0 / start.elapsed().as_secs_f64());
        }
        let (s, p, c) = (median(scoped), median(plain), median(citus));
        println!("  tenant transaction (one message)  {s:>8.0} tx/s vs plain {p:.0} tx/s ({:.2}x)", p / s);
        println!("  tenant transaction (Citus's)      {c:>8.0} tx/s ({:.2}x the one message's time)", s / c);
    });
}
