//! Faults the app must survive, on loopback: the database going away under load (seen through
//! a TCP proxy that drops every connection and refuses new ones, as a Postgres restart looks
//! from the app) — requests fail fast with 503, nothing is half-written, a webhook delivered
//! during the outage gets a 5xx and applies exactly once when Svix retries, and the app
//! recovers by itself; a silent Backend API, waited for within a bound and outside any
//! transaction; and a transaction left idle, ended by Postgres.

use crate::helpers::{env_for, migrated_database, WEBHOOK_SECRET};
use crate::webhooks::{event, org};
use futures::FutureExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tenantry::server::config::{Config, PoolSettings};
use tenantry::server::startup::Application;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A loopback TCP proxy to Postgres that can be taken down (every connection dropped, new ones
/// refused) and brought back.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (d, l) = (down.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if d.load(Ordering::SeqCst) {
                    drop(client); // refused, as a database that is not up
                    continue;
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                l.lock().unwrap().push(link);
            }
        });
        Self { port, down, links }
    }

    fn take_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn bring_back(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

fn signed(app_base: &str, http: &reqwest::Client, msg_id: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    let ts = crate::helpers::now();
    let sig = clerk::WebhookVerifier::new(WEBHOOK_SECRET).unwrap().sign(msg_id, ts, &body).unwrap();
    http.post(format!("{app_base}/api/webhooks/clerk"))
        .header("content-type", "application/json")
        .header("svix-id", msg_id)
        .header("svix-timestamp", ts.to_string())
        .header("svix-signature", sig)
        .body(body)
}

#[tokio::test]
async fn the_database_going_away_under_load_is_a_fast_503_and_the_app_recovers_by_itself() {
    let (db, admin) = migrated_database().await;
    // The app reaches Postgres through the proxy.
    let upstream = db.app_url.split('@').nth(1).unwrap().split('/').next().unwrap().to_string();
    let proxy = Proxy::start(upstream.clone()).await;
    let mut env = env_for(&db);
    env.insert("DATABASE_URL".into(), db.app_url.replace(&upstream, &format!("127.0.0.1:{}", proxy.port)));
    env.insert("TENANTRY_DB_ACQUIRE_TIMEOUT_MS".into(), "500".into());
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let app = Application::build(config).await.unwrap();
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let signer = clerk::mint::Signer::from_pem(
        "ins_test",
        include_str!("../../crates/clerk/tests/fixtures/instance-private.pem"),
    )
    .unwrap();
    let t = crate::helpers::now();
    let token = signer.sign_session(
        &json!({"sub": "user_1", "sid": "sess_1", "iss": "https://clerk.example.com", "azp": crate::helpers::AZP,
        "iat": t, "nbf": t - 10, "exp": t + 600, "v": 2, "o": {"id": "org_1", "rol": "admin"}}),
    );

    // Load: project creations, each with a unique name, as fast as they are answered.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (http, base, token, stop) = (http.clone(), base.clone(), token.clone(), stop.clone());
        tokio::spawn(async move {
            let mut answers: Vec<(u16, Duration)> = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let started = Instant::now();
                let r = http
                    .post(format!("{base}/api/projects/create"))
                    .bearer_auth(&token)
                    .form(&[("name", format!("load {i}")), ("description", String::new())])
                    .send()
                    .await
                    .unwrap();
                answers.push((r.status().as_u16(), started.elapsed()));
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;

    proxy.take_down();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A webhook delivered during the outage is refused with a 5xx, so Svix retries it.
    let body = event("organization.created", org("org_9", "Nine", "nine", 10));
    let during = signed(&base, &http, "msg_outage", body.clone()).send().await.unwrap();
    assert_eq!(during.status(), 503);
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "readiness tells the load balancer");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    proxy.bring_back();
    // Recovery needs nobody: within a few seconds requests succeed again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http.get(format!("{base}/readyz")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the app did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::SeqCst);
    let answers = load.await.unwrap();

    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let unavailable = answers.iter().filter(|(s, _)| *s == 503).count();
    assert!(ok > 0 && unavailable > 0, "the load saw both the outage and the recovery: {ok} ok, {unavailable} 503");
    assert!(
        answers.iter().all(|(s, _)| matches!(s, 200 | 503)),
        "only 200 or 503: {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let slowest = answers.iter().map(|(_, d)| *d).max().unwrap();
    assert!(slowest < Duration::from_secs(5), "failing fast, not hanging: slowest answer {slowest:?}");

    // Nothing half-written: every project the app created has its audit entry, and every 200 is a row.
    let projects: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&admin).await.unwrap();
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'project.created'")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(projects, audited);
    assert!(projects >= ok as i64, "every acknowledged creation is there ({projects} rows, {ok} acknowledged)");

    // Svix retries the delivery: applied once, and a further retry is a duplicate.
    let retry = signed(&base, &http, "msg_outage", body.clone()).send().await.unwrap();
    assert_eq!(
        (retry.status().as_u16(), retry.json::<Value>().await.unwrap()["status"].clone()),
        (200, json!("applied"))
    );
    let again = signed(&base, &http, "msg_outage", body).send().await.unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "duplicate");
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM organizations WHERE id = 'org_9'").fetch_one(&admin).await.unwrap();
    assert_eq!(rows, 1);
}

/// Clerk's Backend API hanging (connections accepted, never answered): sessions keep verifying,
/// and what needs the Backend API says Clerk is unavailable within a bound instead of hanging.
/// The app, with a Backend API that accepts connections and never answers.
async fn app_with_silent_clerk() -> crate::helpers::TestApp {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn); // accepted, never answered
        }
    });
    crate::helpers::spawn_app_with(&[("CLERK_API_URL", &format!("http://127.0.0.1:{port}"))]).await
}

#[tokio::test]
async fn a_hanging_backend_api_is_said_so_within_a_bound() {
    let app = app_with_silent_clerk().await;
    let tok = app.token("user_1", json!({}));

    let r = app.http.get(app.url("/api/whoami")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200, "verifying a session needs no Backend API");

    let started = Instant::now();
    let html = app.http.get(app.url("/select-org")).bearer_auth(&tok).send().await.unwrap().text().await.unwrap();
    let took = started.elapsed();
    assert!(html.contains("the service is temporarily unavailable"), "{html}");
    assert!(!html.contains("data-testid=\"no-orgs\""), "not an empty list as if it were true");
    assert!(took < Duration::from_secs(6), "bounded: {took:?}");

    let started = Instant::now();
    let r = app.http.post(app.url("/sign-out")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.headers().get("set-cookie").is_none(), "still signed in, and told so");
    assert!(started.elapsed() < Duration::from_secs(6), "bounded: {:?}", started.elapsed());
}

/// The pool skips the liveness ping on a connection used moments ago (the round trip it saves is
/// one per request under load) and pings one idle for longer: a connection Postgres ended while
/// the app was quiet is replaced before a request gets it, never answered with a 503. (With no
/// ping at all, the first request after this gets a 503.)
#[tokio::test]
async fn a_connection_ended_while_idle_is_replaced_before_use() {
    let app = crate::helpers::spawn_app().await;
    let tok = app.token("user_1", json!({"v": 2, "o": {"id": "org_1", "rol": "admin"}}));
    let list = || {
        app.http.post(app.url("/api/projects/list")).bearer_auth(&tok).form(&[("search", ""), ("status", "")]).send()
    };
    assert_eq!(list().await.unwrap().status(), 200);

    // What a Postgres restart or a failover does to the pool's idle connections.
    let role = tenantry::server::db::role_of(&app.db.app_url).unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE usename = $1 AND datname = current_database()",
    )
    .bind(&role)
    .fetch_one(&app.admin)
    .await
    .unwrap();
    assert!(ended >= 1, "the app's connections were ended ({ended})");
    tokio::time::sleep(tenantry::server::db::PING_IF_IDLE_FOR + Duration::from_millis(300)).await;

    for _ in 0..3 {
        let r = list().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

/// The backstop for a transaction left open (no code path does so on purpose: reads end with
/// their last read, writes commit or are dropped): Postgres ends a session idle inside a
/// transaction past `TENANTRY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS`, which frees its locks; the
/// request that left it gets a 503, not a 500; and the pool replaces the connection.
#[tokio::test]
async fn a_transaction_left_idle_is_ended_and_its_connection_replaced() {
    let (db, admin) = migrated_database().await;
    let settings =
        PoolSettings { max_connections: 1, idle_in_transaction_timeout_ms: 1_500, ..PoolSettings::default() };
    let pool = tenantry::server::db::pool(&db.app_url, settings).unwrap();
    let mut tx = pool.begin().await.unwrap();
    let setting: String =
        sqlx::query_scalar("SHOW idle_in_transaction_session_timeout").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(setting, "1500ms", "set on the app's connections");
    // The forgotten transaction holds a lock someone else waits for.
    sqlx::query("LOCK TABLE projects IN ACCESS SHARE MODE").execute(&mut *tx).await.unwrap();
    let role = tenantry::server::db::role_of(&db.app_url).unwrap();
    let idle = || {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = current_database() AND state = 'idle in transaction'",
        )
        .bind(role.clone())
        .fetch_one(&admin)
    };
    assert_eq!(idle().await.unwrap(), 1, "the transaction is open and idle");
    let waiter = tokio::spawn({
        let admin = admin.clone();
        async move {
            sqlx::raw_sql("BEGIN; LOCK TABLE projects IN ACCESS EXCLUSIVE MODE; ROLLBACK")
                .execute(&admin)
                .await
                .unwrap();
        }
    });
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the lock is freed once Postgres ends the idle transaction")
        .unwrap();
    // The ended backend frees its locks before it leaves pg_stat_activity.
    let deadline = Instant::now() + Duration::from_secs(5);
    while idle().await.unwrap() != 0 {
        assert!(Instant::now() < deadline, "a session is still idle in a transaction");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let err = sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap_err();
    let code = match &err {
        sqlx::Error::Database(e) => e.code().map(|c| c.to_string()),
        _ => None,
    };
    assert_eq!(code.as_deref(), Some("25P03"), "ended for idling in a transaction: {err:?}");
    assert!(tenantry::server::db::is_unavailable(&err), "a 503, not a 500: {err:?}");
    drop(tx);
    // The pool's only connection was the ended one: the next use gets a new one.
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1);
}

/// A page never waits for Clerk inside a transaction: the members list reads the mirror in a
/// transaction of its own, ends it, and only then falls back to the Backend API (here a Clerk
/// that accepts and never answers). Otherwise each such page would hold a pooled connection,
/// idle in a transaction, for the whole wait: a slow Clerk would empty the pool for everyone.
#[tokio::test]
async fn the_members_list_waits_for_clerk_outside_any_transaction() {
    let app = app_with_silent_clerk().await;
    // No membership of org_1 in the mirror: the list falls back to the Backend API.
    let tok = app.token("user_1", json!({"v": 2, "o": {"id": "org_1", "rol": "admin"}}));
    let role = tenantry::server::db::role_of(&app.db.app_url).unwrap();
    let started = Instant::now();
    let request = tokio::spawn({
        let (http, url) = (app.http.clone(), app.url("/api/members/list"));
        async move { http.post(url).bearer_auth(&tok).send().await.unwrap().status() }
    });
    // Looks taken once a transaction held through the wait would show (idle over 1 s).
    let mut late_looks = 0;
    while !request.is_finished() {
        let late = started.elapsed() > Duration::from_millis(1_200);
        let in_transaction: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE usename = $1 AND datname = current_database() AND state LIKE 'idle in transaction%'
                AND now() - state_change > interval '1 second'",
        )
        .bind(&role)
        .fetch_one(&app.admin)
        .await
        .unwrap();
        // (Between a transaction's own round trips a session is idle in it for moments; a wait
        // for Clerk is seconds.)
        assert_eq!(in_transaction, 0, "a connection idle in a transaction while Clerk is waited for");
        if late {
            late_looks += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(request.await.unwrap(), 503, "Clerk's silence is said as unavailability");
    assert!(started.elapsed() >= tenantry::server::limits::BACKEND_API_WAIT, "the request did wait for Clerk");
    assert!(late_looks >= 5, "watched through the wait ({late_looks} looks after 1.2 s)");
}

/// A transaction whose caller is dropped while it waits for `BEGIN`'s answer (a client that
/// disconnects mid-request) leaves nothing behind: the connection goes back to the pool outside
/// any transaction, and the next borrower's write is a write. With sqlx's own `begin` some of
/// these left the session inside the abandoned transaction (transact-rs/sqlx#4393), and on a
/// `READ ONLY` one the next writer's `BEGIN` was ignored and its insert refused.
#[tokio::test]
async fn a_transaction_abandoned_while_beginning_leaves_nothing_behind() {
    let (db, admin) = migrated_database().await;
    // One connection, so every borrower gets the one an abandoned `BEGIN` used.
    let settings = PoolSettings { max_connections: 1, ..PoolSettings::default() };
    let pool = tenantry::server::db::pool(&db.app_url, settings).unwrap();
    sqlx::query("SELECT 1").execute(&pool).await.unwrap();
    let (mut abandoned, mut stale) = (0, 0);
    for i in 0..300u32 {
        // The connection back in the pool first, so the first poll takes it at once and sends
        // `BEGIN` (rather than waiting for the connection, which abandons nothing).
        while pool.num_idle() < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Polled a few times without waiting, then dropped: mostly while `BEGIN`'s answer is on
        // its way (a timer could not say when: tokio's resolution is a millisecond).
        let mut begin = Box::pin(tenantry::server::db::begin_with(&pool, "BEGIN READ ONLY"));
        let mut done = false;
        for _ in 0..=(i % 3) {
            done = begin.as_mut().now_or_never().is_some();
            if done {
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(begin);
        abandoned += i32::from(!done);
        // Inside the abandoned `READ ONLY` transaction this statement would be read-only too.
        let read_only: String =
            sqlx::query_scalar("SELECT current_setting('transaction_read_only')").fetch_one(&pool).await.unwrap();
        stale += i32::from(read_only != "off");
    }
    assert!(abandoned >= 30, "too few transactions were abandoned to prove anything ({abandoned})");
    assert_eq!(stale, 0, "statements ran inside an abandoned transaction ({stale} of 300)");
    let mut tx = tenantry::server::db::begin(&pool).await.unwrap();
    sqlx::query("INSERT INTO org_creations (user_clerk_id) VALUES ('user_w')").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    let idle_in_transaction: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(idle_in_transaction, 0);
}
