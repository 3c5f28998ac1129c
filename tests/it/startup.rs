//! One startup path, many apps in one process (this suite starts one per test, side by side):
//! an app starting must not disturb the pages another app is serving.

use crate::helpers::{env_for, spawn_app};
use serde_json::json;
use std::time::Duration;
use tenantry::server::config::Config;
use tenantry::server::startup::Application;

/// Leptos builds its route list by running the app once with resource loading suppressed,
/// through a process-wide flag (`leptos_server::SuppressResourceLoad`): a resource another
/// request first polls in that window never loads, and its page never finishes (leptos-rs/leptos
/// issue 4773; what made `workspace::pages_for_every_kind_of_caller` stall now and then in CI).
/// The app builds its route list once per process, so a later start opens no such window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_finish_while_other_apps_start() {
    let app = spawn_app().await;
    let tok = app.token("user_admin", json!({"v": 2, "o": {"id": "org_a", "slg": "org_a", "rol": "admin"}}));
    let env = env_for(&app.db);
    let starts = tokio::spawn(async move {
        for _ in 0..300 {
            let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
            drop(Application::build(config).await.unwrap());
        }
    });
    let mut pages = 0;
    while !starts.is_finished() {
        let mut batch = tokio::task::JoinSet::new();
        for path in ["/app/projects", "/app/dashboard", "/select-org"] {
            let rb = app.http.get(app.url(path)).header("accept", "text/html").bearer_auth(&tok);
            batch.spawn(async move {
                let r = tokio::time::timeout(Duration::from_secs(10), async { rb.send().await?.text().await })
                    .await
                    .unwrap_or_else(|_| panic!("{path} did not finish within 10 s"));
                (path, r.unwrap())
            });
        }
        while let Some(done) = batch.join_next().await {
            let (path, html) = done.unwrap();
            assert!(html.contains("</body>"), "{path} ended early: …{}", &html[html.len().saturating_sub(200)..]);
            pages += 1;
        }
    }
    starts.await.unwrap();
    assert!(pages >= 30, "pages were served while the apps started ({pages})");
}

/// Every connection the app accepts has Nagle's algorithm off (`without_nagle`, which
/// `run_until_stopped` serves through): a streamed page's later writes must not wait for the
/// client's delayed acknowledgements. A plain listener's connection, accepted the same way,
/// has it on (so the check below can fail).
#[tokio::test]
async fn accepted_connections_have_nagle_off() {
    use axum::serve::Listener;
    use tenantry::server::startup::without_nagle;
    use tokio::net::{TcpListener, TcpStream};

    async fn accept_one<L: Listener<Io = TcpStream>>(mut listener: L, addr: std::net::SocketAddr) -> TcpStream {
        let client = tokio::spawn(TcpStream::connect(addr));
        let (io, _) = listener.accept().await;
        client.await.unwrap().unwrap();
        io
    }

    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = plain.local_addr().unwrap();
    assert!(!accept_one(plain, addr).await.nodelay().unwrap(), "a plain accept has Nagle on");

    let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = app.local_addr().unwrap();
    assert!(accept_one(without_nagle(app), addr).await.nodelay().unwrap(), "the app's accept turns Nagle off");
}
