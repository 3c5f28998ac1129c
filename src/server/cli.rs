//! `tenantry [serve]` runs the server; `tenantry migrate` applies migrations as the schema owner.

use std::process::ExitCode;

use super::config::Config;
use super::{db, startup::Application, telemetry};

const USAGE: &str = "usage: tenantry [serve | migrate | sync]
  serve    run the web server (default)
  sync     repair the users/organizations/memberships mirror from Clerk's Backend API
  migrate  apply database migrations with DATABASE_ADMIN_URL (the schema owner) and grant the
           role of DATABASE_URL what it needs at run time";

pub async fn run() -> ExitCode {
    // A missing .env is fine; the environment may be set by other means.
    let _ = dotenvy::dotenv();
    telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate().await,
        Some("sync") => sync().await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let app = match Application::build(config).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("startup error: {e}");
            return ExitCode::from(1);
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn migrate() -> ExitCode {
    // Migrations run as the schema owner, never as the app's role: an owner can switch
    // row-level security off, and the app refuses to start as one.
    let Some(admin_url) = std::env::var("DATABASE_ADMIN_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("config error: DATABASE_ADMIN_URL is missing: migrations run as the schema owner, not as the app's role (DATABASE_URL)");
        return ExitCode::from(2);
    };
    let runtime_role = std::env::var("DATABASE_URL").ok().and_then(|u| db::role_of(&u));
    if runtime_role.is_some() && runtime_role == db::role_of(&admin_url) {
        eprintln!(
            "config error: DATABASE_ADMIN_URL and DATABASE_URL use the same role {:?}; the app's role must not own the schema",
            runtime_role.unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    let pool = match sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&admin_url).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("migrate: cannot connect with DATABASE_ADMIN_URL: {e}");
            return ExitCode::from(1);
        }
    };
    match db::migrate(&pool, runtime_role.as_deref()).await {
        Ok(()) => {
            println!(
                "migrations applied{}",
                runtime_role.map(|r| format!("; runtime role {r:?} granted")).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migrate: {e}");
            ExitCode::from(1)
        }
    }
}

async fn sync() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let pool = match db::pool(&config.database_url) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sync: {e}");
            return ExitCode::from(1);
        }
    };
    let api = clerk::BackendApi::new(&config.clerk.api_url, config.clerk.secret_key.clone());
    match super::reconcile::reconcile(&pool, &api).await {
        Ok(report) => {
            for line in &report.changes {
                println!("{line}");
            }
            println!("sync: {} change(s)", report.changes.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sync: {e}");
            ExitCode::from(1)
        }
    }
}
