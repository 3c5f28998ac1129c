//! `billing`: see the library documentation (`services/billing/src/lib.rs`) for the environment.

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "billing=info".into()),
        )
        .init();
    let config = match billing::Config::from_lookup(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("billing: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&config.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("billing: cannot listen on {}: {e}", config.addr);
            std::process::exit(1);
        }
    };
    tracing::info!(addr = %config.addr, "billing listening");
    if let Err(e) = axum::serve(listener, billing::router(config)).await {
        eprintln!("billing: {e}");
        std::process::exit(1);
    }
}
