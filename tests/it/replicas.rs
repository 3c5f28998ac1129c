//! State that must hold across replicas lives in Postgres: two `Application`s on one database
//! share the organization-creation allowance (five per user per hour).

use crate::helpers::{env_for, migrated_database, now, AZP};
use clerk::mint::Signer;
use serde_json::json;
use tenantry::server::config::Config;
use tenantry::server::startup::Application;

async fn replica(env: &std::collections::HashMap<String, String>) -> String {
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
    let app = Application::build(config).await.expect("app starts");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped());
    base
}

fn token(user: &str) -> String {
    let t = now();
    Signer::from_pem("ins_test", include_str!("../../crates/clerk/tests/fixtures/instance-private.pem"))
        .unwrap()
        .sign_session(&json!({"sub": user, "sid": format!("sess_{user}"), "iss": "https://clerk.example.com", "azp": AZP, "iat": t, "nbf": t - 10, "exp": t + 60}))
}

/// The `error` code `/select-org/create` redirects back with (the Backend API is a closed port
/// here, so an allowed creation ends `unavailable`; a refused one `rate_limited`).
async fn create(http: &reqwest::Client, base: &str, user: &str, name: &str) -> String {
    let r = http
        .post(format!("{base}/select-org/create"))
        .bearer_auth(token(user))
        .form(&[("name", name)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let url = reqwest::Url::parse(&format!("http://x{location}")).unwrap();
    url.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| v.into_owned()).unwrap_or(location)
}

#[tokio::test]
async fn the_creation_limit_holds_across_two_replicas() {
    let (db, admin) = migrated_database().await;
    let env = env_for(&db);
    let replicas = [replica(&env).await, replica(&env).await];
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Alternating between the replicas: five creations, then the sixth is refused on either.
    for i in 0..5 {
        assert_eq!(create(&http, &replicas[i % 2], "user_alt", &format!("Lab {i}")).await, "unavailable", "#{i}");
    }
    for base in &replicas {
        assert_eq!(create(&http, base, "user_alt", "Lab 6").await, "rate_limited");
    }
    // Another user has their own allowance.
    assert_eq!(create(&http, &replicas[1], "user_other", "Other").await, "unavailable");

    // Concurrently on both replicas: exactly five get through.
    let attempts = (0..12).map(|i| {
        let (http, base) = (http.clone(), replicas[i % 2].clone());
        async move { create(&http, &base, "user_burst", &format!("Burst {i}")).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let allowed = answers.iter().filter(|a| *a == "unavailable").count();
    let refused = answers.iter().filter(|a| *a == "rate_limited").count();
    assert_eq!((allowed, refused), (5, 7), "{answers:?}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM org_creations WHERE user_clerk_id = 'user_burst'")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(rows, 5);

    // An hour later the allowance is back (and the old rows are forgotten).
    sqlx::query(
        "UPDATE org_creations SET created_at = created_at - interval '61 minutes' WHERE user_clerk_id = 'user_alt'",
    )
    .execute(&admin)
    .await
    .unwrap();
    assert_eq!(create(&http, &replicas[0], "user_alt", "Lab 7").await, "unavailable");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM org_creations WHERE user_clerk_id = 'user_alt'")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}
