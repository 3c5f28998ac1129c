//! One startup path, shared by `main` and the tests: config → pool (role checked) → Clerk →
//! router → listener. Tests bind port 0.

use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode, Version};
use axum::routing::{get, post};
use axum::serve::{ListenerExt, TapIo};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{And, DefaultPredicate, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use super::config::Config;
use super::db::{self, DbSetupError};
use super::error::AppError;
use super::state::{AppState, Shared};
use super::tenant::RequestReads;
use super::{auth, observability, routes, security, telemetry};
use crate::app::{session_keeper_path, shell, App};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("config error: LEPTOS_* settings: {0}")]
    Leptos(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
    pool: PgPool,
    /// `/metrics`, on its own address (`TENANTRY_METRICS_ADDR`), when configured.
    metrics: Option<(TcpListener, SocketAddr)>,
}

/// The longest a request may take, body and answer included (then 408), and the longest a
/// client may take to send its body; the largest body accepted (then 413).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Leptos settings from the `LEPTOS_*` variables cargo-leptos sets (`LEPTOS_ENV`, hashed file
/// names, the reload port…), through Leptos's own reader, served on `site_addr`.
pub fn leptos_options(site_addr: SocketAddr) -> Result<LeptosOptions, StartupError> {
    let mut options =
        leptos::config::get_configuration(None).map_err(|e| StartupError::Leptos(e.to_string()))?.leptos_options;
    options.site_addr = site_addr;
    Ok(options)
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let pool = db::pool(&config.database_url, config.pool)?;
        db::ensure_restricted_role(&pool).await?;
        let db = db::Db::detect(pool.clone()).await?;
        let listener =
            TcpListener::bind(config.bind).await.map_err(|source| StartupError::Bind { addr: config.bind, source })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind { addr: config.bind, source })?;
        let metrics = match config.metrics_addr {
            None => None,
            Some(at) => {
                let l = TcpListener::bind(at).await.map_err(|source| StartupError::Bind { addr: at, source })?;
                let a = l.local_addr().map_err(|source| StartupError::Bind { addr: at, source })?;
                Some((l, a))
            }
        };
        let state = AppState::new(Shared {
            db,
            clerk: auth::build_clerk(&config.clerk),
            leptos_options: leptos_options(addr)?,
            config: Arc::new(config),
            org_creation: Arc::default(),
            backend_api_budget: Arc::default(),
        });
        Ok(Self { listener, router: router(state), addr, pool, metrics })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    /// Where `/metrics` is served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, a)| *a)
    }

    /// Serve until SIGINT/SIGTERM, then finish in-flight requests and close the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(addr = %self.addr, "Tenantry listening");
        if let Some((listener, addr)) = self.metrics {
            tracing::info!(%addr, "metrics at /metrics");
            let metrics = observability::router(self.pool.clone());
            tokio::spawn(observability::upkeep());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(without_nagle(listener), metrics).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
        }
        let heartbeat = tokio::spawn(timer_heartbeat());
        let served =
            axum::serve(without_nagle(self.listener), self.router).with_graceful_shutdown(shutdown_signal()).await;
        heartbeat.abort();
        served?;
        self.pool.close().await;
        tracing::info!("Tenantry stopped");
        Ok(())
    }
}

/// The Leptos routes, generated once per process. Leptos generates them by running the app
/// with resource loading suppressed through a process-wide flag, so a resource that another
/// request first polls meanwhile never loads and its page never finishes (leptos-rs/leptos
/// issue 4773): generated again by a second app of the process (the test suite starts one per
/// test), that window would open while the first serves pages. Once, it closes before any app
/// of the process exists. `tests/it/startup.rs` starts apps while one serves pages.
fn route_list() -> &'static [leptos_axum::AxumRouteListing] {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App))
}

/// Responses compressed with gzip at its fastest level (1, nginx's default `gzip_comp_level`)
/// for clients that accept it, and never with brotli. At gzip's default level, 6, the
/// workspace page (15 KB of HTML, streamed) cost ~1.5 ms of CPU compressed against ~1.0 ms
/// sent plain; at level 1 ~1.2 ms, for 3.9 KB on the wire instead of 3.3 (two builds side by
/// side, 4 interleaved rounds; README, Performance). flate2's zlib-rs backend measured the same
/// at level 1, with 4.4 KB. tower-http's brotli encoder (the `brotli` crate, through
/// async-compression) sets up its full window for every response, whatever the quality: ~2 ms a
/// page at quality 4 and at 11 alike, more than the page's own rendering, for 2–3 % fewer
/// bytes than gzip. The release build's static files are compressed once at build time with
/// both (brotli 11, gzip 9: `scripts/precompress.mjs`) and served as they are: a response that
/// already has a `Content-Encoding` passes through this layer untouched, and so does one with a
/// strong `ETag` (the REST API's projects, a few hundred bytes): the tag names those bytes, and
/// a gzipped copy would need a tag of its own (RFC 9110 §8.8.1).
fn compression() -> CompressionLayer<And<DefaultPredicate, TagNamesTheseBytes>> {
    // Explicitly off, not merely left out of the features: tower-http counts an encoding as
    // supported when any crate in the build enables its decompression (reqwest's `brotli`, say),
    // and with no encoder compiled in it would then send the page uncompressed.
    CompressionLayer::new()
        .gzip(true)
        .no_br()
        .no_zstd()
        .no_deflate()
        .quality(CompressionLevel::Fastest)
        .compress_when(DefaultPredicate::new().and(without_entity_tag as TagNamesTheseBytes))
}

type TagNamesTheseBytes = fn(StatusCode, Version, &HeaderMap, &Extensions) -> bool;

fn without_entity_tag(_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions) -> bool {
    !headers.contains_key(axum::http::header::ETAG)
}

/// `listener` with Nagle's algorithm off (`TCP_NODELAY`) on every connection it accepts, as
/// axum's own `ListenerExt::tap_io` example does. A page is streamed (its head, then the
/// rest): with Nagle's algorithm on, a write after the first waits until the client
/// acknowledges the one before, and clients delay those acknowledgements (Linux by 40 ms), so
/// every streamed page took at least 40 ms on an idle machine and one connection got at most
/// ~23 of them a second (`wrk -c1`, README Performance). A connection it cannot be set on is
/// served anyway (logged at debug: nothing is wrong with the request).
pub fn without_nagle(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(set_nodelay as fn(&mut TcpStream))
}

fn set_nodelay(tcp: &mut TcpStream) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
    }
}

/// How often [`timer_heartbeat`] wakes: under every timer a request registers (the pool's
/// acquire timeout, 5 s by default; [`BODY_TIMEOUT`]; [`REQUEST_TIMEOUT`]).
const TIMER_HEARTBEAT: Duration = Duration::from_secs(1);

/// A timer that always expires within [`TIMER_HEARTBEAT`], so that requests' timers do not wake
/// the runtime's time driver. Tokio's driver sleeps (in `epoll_wait`, on whichever worker holds
/// it) until its earliest timer, and a timer registered while none was pending when it went to
/// sleep, or earlier than the earliest that was, wakes it to sleep again
/// (`runtime::time::Handle::reregister`, tokio 1.54: an `eventfd` write, a wake-up, an
/// `epoll_wait`). Between requests no timer is pending, and each request registers several (the
/// pool's acquire timeout; the body timeout, once for each frame tower-http's `TimeoutBody`
/// waits for; the request timeout), so each woke the driver: `perf stat` of the release build,
/// JSON calls one at a time, counted 3.5 `eventfd` writes a call without this timer and 0.5 with
/// it (README Performance). That measurement is the evidence: a tokio-only program registering
/// timers the same way did not show the wake-ups, so no unit test pins them. An acquire timeout
/// configured under a second is earlier than this timer, and may wake the driver as before.
async fn timer_heartbeat() {
    let mut tick = tokio::time::interval(TIMER_HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// The pages, server functions and session routes, without the authentication layers that
/// [`router`] puts in front of them (composed separately so benchmarks can measure those layers).
pub fn app_routes(state: &AppState) -> Router<AppState> {
    let leptos_routes = route_list().to_vec();
    let options = state.leptos_options.clone();
    Router::new()
        .route("/api/public", get(routes::api::public))
        .route("/api/whoami", get(routes::api::whoami))
        .route("/api/profile", get(routes::api::profile))
        .merge(routes::proxy::routes(state))
        .merge(routes::v1::routes())
        .route("/sign-in", get(routes::session::sign_in))
        .route("/sign-up", get(routes::session::sign_up))
        .route("/sign-out", post(routes::session::sign_out))
        // The workspace's own address is the dashboard's: answered here, behind the gate, rather
        // than by a Leptos `<Redirect>`, which rendered the whole shell (and read the caller's
        // session and organizations) into the redirect's body.
        .route("/app", get(|| async { axum::response::Redirect::temporary("/app/dashboard") }))
        .route("/select-org/activate", post(routes::orgs::activate))
        .route("/select-org/create", post(routes::orgs::create))
        .route(&session_keeper_path(), get(routes::assets::session_keeper))
        .route("/assets/favicon.svg", get(routes::assets::favicon))
        // cargo-leptos's output, by tower-http's `ServeDir` itself: leptos_axum's file handler
        // passes it the path and `Accept-Encoding` alone, so a revalidation (`no-cache` in dev
        // builds) never got a 304 and a range request got the whole file under
        // `Accept-Ranges: bytes`. Precompressed copies as before (see `static_caching`).
        .nest_service(
            &format!("/{}", options.site_pkg_dir),
            tower_http::services::ServeDir::new(std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir))
                .precompressed_gzip()
                .precompressed_br()
                // A directory is no file: 404, not a redirect built from the nested (stripped)
                // path.
                .append_index_html_on_directories(false),
        )
        // Each page render and server-function call gets its own `RequestReads`: a page's
        // resources that read in a transaction read in one.
        .leptos_routes_with_context(
            state,
            leptos_routes,
            || provide_context(RequestReads::default()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}

pub fn router(state: AppState) -> Router {
    use axum::middleware::{from_fn, from_fn_with_state};
    // Middleware stacks are `ServiceBuilder`s, listed outermost first, each given to one `layer`
    // call: every `Router::layer` call boxes the routes anew (a `Route`), and axum's `from_fn`
    // clones the whole service below it, boxes included, on every request. With a `layer` call
    // per middleware (17) each request cloned a chain of up to 17 boxes once per `from_fn` (9):
    // ~5 % of a JSON call's samples (`perf`). Now 5 calls.
    //
    // Everything a browser or API client reaches goes through Clerk, then the gate.
    let gated = app_routes(&state).layer(
        ServiceBuilder::new()
            .layer(from_fn_with_state(state.clerk.clone(), auth::clerk_layer))
            .layer(from_fn(auth::route_gate))
            .layer(from_fn(auth::csrf_guard)),
    );

    // Never gated: probes, and the svix-verified webhook (signed by Clerk, not by a session).
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/api/webhooks/clerk", post(routes::webhooks::clerk_webhook))
        .merge(gated)
        .with_state(state.clone())
        // Bounded work per request: a body at most 1 MiB sent within 10 s, an answer within 30 s.
        // (The body layers get a `layer` call each: they change the body types, which the
        // boxed routes between them turn back into axum's.)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(
            ServiceBuilder::new()
                // A panic in a handler is a 500 like any other (logged, never echoed), not a reset
                // connection.
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(compression())
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT)),
        )
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(telemetry::trace_layer())
                .layer(PropagateRequestIdLayer::x_request_id())
                // Counted by route, with the request id kept for error bodies (inside the id's
                // layers).
                .layer(from_fn(telemetry::observe))
                // Outside the layers below, so that their own answers (413, 408, a panic's 500,
                // and the problems made of them) carry the security headers too.
                .layer(from_fn_with_state(state.leptos_options.hash_files, static_caching))
                .layer(from_fn(security::header_limits))
                .layer(from_fn_with_state(state.clone(), security::forwarded_headers))
                .layer(from_fn_with_state(state, security::security_headers))
                // REST API v1 answers every error as a problem, the layers' below own answers
                // included.
                .layer(from_fn(routes::v1::problem_responses)),
        )
}

/// cargo-leptos's output under `/pkg`: with hashed file names (`LEPTOS_HASH_FILES=true`, the
/// release build) a name changes whenever its content does, so it is cached for a year;
/// without, browsers revalidate. Pages keep their own `no-store` (the route gate).
///
/// Every such answer also says `Vary: Accept-Encoding`: the release build's files are served
/// as precompressed (`NAME.br`, `NAME.gz`; see [`compression`]), and tower-http's `ServeDir`
/// does not say so, nor does the compression layer for an answer already encoded. Without it a
/// shared cache keeping a year-long brotli answer would hand it to a client that never asked for
/// brotli (RFC 9110, section 12.5.5).
async fn static_caching(
    State(hashed): State<bool>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let pkg = req.uri().path().starts_with("/pkg/");
    let mut resp = next.run(req).await;
    // A file's answers (200, 206) and its revalidation (304, which carries what the 200 would
    // have: RFC 9110, section 15.4.5); never a 404, which must not be cached for a year.
    if pkg && (resp.status().is_success() || resp.status() == axum::http::StatusCode::NOT_MODIFIED) {
        use axum::http::{header, HeaderValue};
        let headers = resp.headers_mut();
        let value = if hashed { "public, max-age=31536000, immutable" } else { "no-cache" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
        let varies = headers.get_all(header::VARY).iter().any(|v| {
            v.to_str().is_ok_and(|v| v.split(',').any(|name| name.trim().eq_ignore_ascii_case("accept-encoding")))
        });
        if !varies {
            headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
    }
    resp
}

/// The answer to a handler that panicked: the panic's text goes to the log only.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into());
    axum::response::IntoResponse::into_response(AppError::internal(format!("handler panicked: {text}")))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; draining");
}
