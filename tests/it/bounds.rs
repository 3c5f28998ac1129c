//! Bounded work per request: search terms, pages of results and statements have limits, and
//! exceeding one is a clear 4xx or 503, never a request that costs far more than a normal one.

use crate::helpers::{migrated_database, spawn_app, TestApp};
use serde_json::{json, Value};
use tenantry::server::config::PoolSettings;
use tenantry::server::error::AppError;

fn admin(app: &TestApp) -> String {
    app.token("user_admin", json!({"v": 2, "o": {"id": "org_a", "rol": "admin"}}))
}

async fn list(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let r = app.http.post(app.url("/api/projects/list")).bearer_auth(admin(app)).form(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn project_lists_come_in_pages_and_searches_are_bounded() {
    let app = spawn_app().await;
    // 55 projects in org_a (names p00..p54), and one in org_b that must never show up.
    sqlx::query("INSERT INTO projects (org_id, name, created_by) SELECT 'org_a', 'p' || lpad(i::text, 2, '0'), 'u' FROM generate_series(0, 54) i")
        .execute(&app.admin)
        .await
        .unwrap();
    sqlx::query("INSERT INTO projects (org_id, name, created_by) VALUES ('org_b', 'p99', 'u')")
        .execute(&app.admin)
        .await
        .unwrap();

    let (s, first) = list(&app, &[("search", ""), ("status", "all")]).await;
    assert_eq!(s, 200, "{first}");
    let names =
        |v: &Value| v.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let first_names = names(&first);
    assert_eq!(first_names.len(), 50);
    assert_eq!((first_names[0].as_str(), first_names[49].as_str()), ("p00", "p49"));
    let last_id = first[49]["id"].as_str().unwrap().to_string();
    let (s, second) = list(&app, &[("search", ""), ("status", "all"), ("after", &last_id)]).await;
    assert_eq!(s, 200);
    assert_eq!(names(&second), ["p50", "p51", "p52", "p53", "p54"], "the rest, in order, nothing twice");

    let (s, body) = list(&app, &[("search", ""), ("status", "all"), ("after", "not-a-cursor")]).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("bad_cursor")));
    let long = "x".repeat(101);
    let (s, body) = list(&app, &[("search", &long), ("status", "all")]).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("search_too_long")));
    let (s, _) = list(&app, &[("search", &"x".repeat(100)), ("status", "all")]).await;
    assert_eq!(s, 200, "100 characters is within the bound");

    // Without JavaScript the page links to the next page.
    let html = app
        .http
        .get(app.url("/app/projects?status=all"))
        .bearer_auth(admin(&app))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("p49") && !html.contains("p50"), "the first page only");
    assert!(html.contains(&format!("after={last_id}&amp;after_name=p49")), "a link to the next page");

    // The link outlives the project it starts after: its id and name are the position.
    sqlx::query("DELETE FROM projects WHERE org_id = 'org_a' AND name = 'p49'").execute(&app.admin).await.unwrap();
    let next = [("search", ""), ("status", "all"), ("after", last_id.as_str()), ("after_name", "p49")];
    let (s, second) = list(&app, &next).await;
    assert_eq!(
        (s, names(&second)),
        (200, vec!["p50", "p51", "p52", "p53", "p54"].into_iter().map(String::from).collect())
    );
    // A name is compared as the stored names are (trimmed, lower case).
    let (s, second) =
        list(&app, &[("search", ""), ("status", "all"), ("after", &last_id), ("after_name", " P49 ")]).await;
    assert_eq!((s, names(&second).len()), (200, 5), "{second}");
    // Without the name (a link from before it existed), a deleted project is a bad cursor.
    let (s, body) = list(&app, &[("search", ""), ("status", "all"), ("after", &last_id)]).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("bad_cursor")));
    for bad in ["p4\0", &"x".repeat(201)] {
        let (s, body) =
            list(&app, &[("search", ""), ("status", "all"), ("after", &last_id), ("after_name", bad)]).await;
        assert_eq!((s, body["code"].as_str()), (422, Some("bad_cursor")), "{bad:?}");
    }
}

#[tokio::test]
async fn statements_are_cut_off_and_that_is_a_retryable_503() {
    let (db, _admin) = migrated_database().await;
    let settings = PoolSettings { statement_timeout_ms: 100, ..PoolSettings::default() };
    let pool = tenantry::server::db::pool(&db.app_url, settings).unwrap();
    let shown: String = sqlx::query_scalar("SHOW statement_timeout").fetch_one(&pool).await.unwrap();
    assert_eq!(shown, "100ms");
    let err = sqlx::query("SELECT pg_sleep(2)").execute(&pool).await.unwrap_err();
    assert!(tenantry::server::db::is_unavailable(&err), "{err}");
    assert_eq!(AppError::from(err).status(), 503);
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1, "ordinary statements still run");
}

/// Backend API calls made for a request are bounded per caller: an old token replayed at
/// /sign-out, or /select-org reloaded while the mirror is empty, cannot spend the instance's
/// Clerk rate limit. Past the allowance the answer says so (429), and nothing pretends.
#[tokio::test]
async fn backend_api_calls_on_behalf_of_requests_are_bounded_per_caller() {
    let app = spawn_app().await;
    let tok = app.token("user_loop", json!({}));
    // The first ten reach the (unreachable) Backend API and say sign-out failed; the eleventh is
    // not even tried.
    for i in 0..10 {
        let r = app.http.post(app.url("/sign-out")).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), 502, "attempt {i} asked Clerk");
    }
    let r = app.http.post(app.url("/sign-out")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("set-cookie").is_none(), "nothing cleared: the session is still alive");
    assert!(r.text().await.unwrap().contains("You are still signed in"));

    // /select-org with an empty mirror falls back to the Backend API, within the same bound;
    // Clerk unreachable, the page says the list could not be read (never "no organization").
    let other = app.token("user_empty", json!({}));
    for _ in 0..10 {
        let html = app.http.get(app.url("/select-org")).bearer_auth(&other).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("temporarily unavailable") && !html.contains("data-testid=\"no-orgs\""), "{html}");
    }
    let html = app.http.get(app.url("/select-org")).bearer_auth(&other).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("too many requests; please wait a minute"), "{html}");
}

/// A header full of empty cookies costs nothing to refuse: 431 before anything reads it.
#[tokio::test]
async fn oversized_headers_are_refused_up_front() {
    let app = spawn_app().await;
    let cookies: String = (0..20_000).map(|i| format!("c{i}=; ")).collect();
    let r = app.http.get(app.url("/app/dashboard")).header("cookie", cookies).send().await.unwrap();
    assert_eq!(r.status(), 431);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "headers_too_large");
    // A full set of real cookies is far below the limit.
    let tok = app.token("user_1", json!({}));
    let normal = format!("{}; theme=dark; _ga=GA1.2.{}", app.session_cookie(&tok), "9".repeat(40));
    let r = app.http.get(app.url("/api/whoami")).header("cookie", normal).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// `?__clerk_handshake_nonce=` makes the app fetch a handshake payload from the Backend API:
/// without credentials, in a loop, with a fresh nonce each time, it soon gets a 503 with
/// `Retry-After` instead of spending the instance's Clerk rate limit.
#[tokio::test]
async fn handshake_nonces_cannot_spend_the_backend_api() {
    let app = spawn_app().await;
    let mut busy = None;
    for i in 0..80 {
        let r = app
            .http
            .get(app.url(&format!("/app/dashboard?__clerk_handshake_nonce=nonce-{i}")))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 500, "nonce {i}");
        if r.status() == 503 {
            busy = Some((i, r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string())));
            break;
        }
    }
    let (after, retry) = busy.expect("the budget ran out within 80 fresh nonces");
    assert!(after >= 40, "legitimate bursts pass first ({after})");
    assert!(retry.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)), "with Retry-After");
}

/// Sign-out ends the Clerk session behind a recently expired token (the Backend API here is
/// unreachable, so trying is a 502), but a token expired more than a week ago names no live
/// session: no Backend API call, the browser's cookies are simply cleared.
#[tokio::test]
async fn sign_out_honours_expired_tokens_only_for_a_bounded_time() {
    let app = spawn_app().await;
    let t = crate::helpers::now();
    let recent = app.token("user_1", json!({"iat": t - 3_700, "nbf": t - 3_700, "exp": t - 3_600}));
    let r = app.http.post(app.url("/sign-out")).bearer_auth(&recent).send().await.unwrap();
    assert_eq!(r.status(), 502, "an hour-old token: Clerk was asked to end its session");

    let week = 7 * 86_400;
    let ancient =
        app.token("user_2", json!({"iat": t - week - 3_700, "nbf": t - week - 3_700, "exp": t - week - 3_600}));
    let r = app.http.post(app.url("/sign-out")).bearer_auth(&ancient).send().await.unwrap();
    assert_eq!(r.status(), 303, "nothing to end at Clerk");
    assert_eq!(r.headers()["location"], "/");
}
