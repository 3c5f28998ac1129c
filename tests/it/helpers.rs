//! `spawn_app`: the same startup path as `main`, on port 0, against a fresh database.

use clerk::mint::Signer;
use pg_harness::{fresh_database, TestDatabase, APP_ROLE};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::HashMap;
use tenantry::server::config::Config;
use tenantry::server::startup::Application;

pub const PK: &str = "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k"; // clerk.example.com
pub const AZP: &str = "http://localhost:3000";
pub const WEBHOOK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const SIGN_IN: &str = "https://accounts.example.com/sign-in";

pub struct TestApp {
    pub base: String,
    pub db: TestDatabase,
    pub admin: PgPool,
    pub signer: Signer,
    pub http: reqwest::Client,
}

pub fn env_for(db: &TestDatabase) -> HashMap<String, String> {
    HashMap::from([
        ("DATABASE_URL".into(), db.app_url.clone()),
        ("TENANTRY_ADDR".into(), "127.0.0.1:0".into()),
        ("CLERK_PUBLISHABLE_KEY".into(), PK.into()),
        ("CLERK_SECRET_KEY".into(), "sk_live_integration".into()),
        // Backend API calls go nowhere in these tests: a closed local port.
        ("CLERK_API_URL".into(), "http://127.0.0.1:9".into()),
        ("CLERK_JWT_KEY".into(), include_str!("../../crates/clerk/tests/fixtures/instance-public.pem").into()),
        ("CLERK_AUTHORIZED_PARTIES".into(), AZP.into()),
        ("CLERK_WEBHOOK_SIGNING_SECRET".into(), WEBHOOK_SECRET.into()),
        ("CLERK_SIGN_IN_URL".into(), SIGN_IN.into()),
        ("CLERK_SIGN_UP_URL".into(), "https://accounts.example.com/sign-up".into()),
    ])
}

pub async fn migrated_database() -> (TestDatabase, PgPool) {
    let db = fresh_database();
    let admin = PgPool::connect(&db.admin_url).await.expect("admin connection");
    tenantry::server::db::migrate(&admin, Some(APP_ROLE)).await.expect("migrations");
    (db, admin)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// [`spawn_app`] with some settings replaced.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn(overrides, &[]).await
}

/// [`spawn_app`] on a database that its admin first changes with `sql` (before the app starts
/// and asks the database what it allows).
pub async fn spawn_app_after(sql: &[&str]) -> TestApp {
    spawn(&[], sql).await
}

async fn spawn(overrides: &[(&str, &str)], sql: &[&str]) -> TestApp {
    let (db, admin) = migrated_database().await;
    for statement in sql {
        sqlx::query(statement).execute(&admin).await.expect("the test's database change");
    }
    let mut env = env_for(&db);
    for (k, v) in overrides {
        env.insert((*k).into(), (*v).into());
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
    let app = Application::build(config).await.expect("app starts");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped());
    // No request of these tests takes seconds: a hang fails its test with the request named,
    // instead of stalling the suite until CI's own timeout.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let signer =
        Signer::from_pem("ins_test", include_str!("../../crates/clerk/tests/fixtures/instance-private.pem")).unwrap();
    TestApp { base, db, admin, signer, http }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A valid session token for `user`, merged with `extra` claims.
    pub fn token(&self, user: &str, extra: Value) -> String {
        let t = now();
        let mut claims = json!({"sub": user, "sid": format!("sess_{user}"), "iss": "https://clerk.example.com", "azp": AZP, "iat": t, "nbf": t - 10, "exp": t + 60});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.signer.sign_session(&claims)
    }

    pub fn session_cookie(&self, token: &str) -> String {
        format!("__session={token}; __client_uat={}", now() - 100)
    }
}

/// A session token signed by a key this instance does not have.
pub fn foreign_token() -> String {
    let t = now();
    Signer::from_pem("ins_test", include_str!("../../crates/clerk/tests/fixtures/other-private.pem"))
        .unwrap()
        .sign_session(&json!({"sub": "user_1", "sid": "sess_x", "azp": AZP, "iat": t, "nbf": t - 10, "exp": t + 60}))
}
