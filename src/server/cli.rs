//! The `tenantry` command (clap): `serve` (the default) runs the server, `migrate` applies the
//! migrations as the schema owner, `sync` repairs the Clerk mirror. `--help` lists every
//! environment variable the commands read.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

use super::config::{Config, ENVIRONMENT};
use super::{db, retention, startup::Application, telemetry};

#[derive(Debug, Parser)]
#[command(name = "tenantry", version, about = "Multi-tenant SaaS on Leptos, axum, Postgres and Clerk")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply database migrations with DATABASE_ADMIN_URL (the schema owner) and grant the role of
    /// DATABASE_URL what it needs at run time.
    Migrate,
    /// Repair the users/organizations/memberships mirror from Clerk's Backend API. A dry run that
    /// prints its plan unless --apply is given. Removes a row only when Clerk confirms it is gone
    /// (a 404 for that very row; absence from a listing is not enough), refuses to remove more
    /// than 10 % of a kind (beyond 2 rows), and refuses a Clerk instance other than the mirror's.
    Sync {
        /// Write the changes.
        #[arg(long)]
        apply: bool,
        /// Remove even when more than 10 % of the organizations, users or memberships (and more
        /// than 2) would go; logged.
        #[arg(long)]
        allow_mass_removal: bool,
    },
    /// Remove the data of organizations deleted more than the retention period ago (projects,
    /// audit log, memberships), as the schema owner (DATABASE_ADMIN_URL). A dry run that prints
    /// what it would remove unless --apply is given.
    Purge {
        /// Remove for real.
        #[arg(long)]
        apply: bool,
        /// Keep deleted organizations' data this many days.
        #[arg(long, env = "TENANTRY_RETENTION_DAYS", default_value_t = retention::DEFAULT_RETENTION_DAYS)]
        retention_days: u32,
    },
    /// Bring a deleted organization back with its data (within the retention period).
    RestoreOrg {
        /// The Clerk organization id (org_…).
        org_id: String,
    },
    /// Print REST API v1's OpenAPI 3.1 document (as served at /api/v1/openapi.json).
    Openapi,
}

/// The environment variables, one per line, for `--help`.
fn environment_help() -> String {
    let width = ENVIRONMENT.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::from("Environment (a .env file in the working directory is read too):\n");
    for (name, meaning) in ENVIRONMENT {
        out.push_str(&format!("  {name:width$}  {meaning}\n"));
    }
    out
}

pub async fn run() -> ExitCode {
    // A missing .env is fine; the environment may be set by other means.
    let _ = dotenvy::dotenv();
    let matches = match Cli::command().after_long_help(environment_help()).try_get_matches() {
        Ok(m) => m,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            eprintln!("unknown command: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version print and succeed; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let telemetry = match telemetry::init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let code = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate => migrate().await,
        Command::Sync { apply, allow_mass_removal } => {
            sync(super::reconcile::Options { apply, allow_mass_removal }).await
        }
        Command::Purge { apply, retention_days } => purge(apply, retention_days).await,
        Command::RestoreOrg { org_id } => restore_org(&org_id).await,
        Command::Openapi => match super::routes::v1::openapi().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("the OpenAPI document does not serialize: {e}");
                ExitCode::from(1)
            }
        },
    };
    telemetry.shutdown().await;
    code
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

async fn sync(opts: super::reconcile::Options) -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let pool = match db::pool(&config.database_url, config.pool) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sync: {e}");
            return ExitCode::from(1);
        }
    };
    let api = clerk::BackendApi::new(&config.clerk.api_url, config.clerk.secret_key.clone());
    match super::reconcile::reconcile(&pool, &api, opts).await {
        Ok(report) => {
            let (out, err) = super::reconcile::render(&report);
            for line in out {
                println!("{line}");
            }
            for line in err {
                eprintln!("{line}");
            }
            // Rows Clerk would not confirm either way were kept (the mirror is not fully repaired),
            // or a dry run planned a removal that --apply would refuse.
            if report.unconfirmed.is_empty() && !report.mass_removal {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("sync: {e}");
            ExitCode::from(1)
        }
    }
}

/// A pool for `var`'s URL, or the exit code after saying why not.
async fn connect(var: &str, why: &str) -> Result<sqlx::PgPool, ExitCode> {
    let Some(url) = std::env::var(var).ok().filter(|u| !u.is_empty()) else {
        eprintln!("config error: {var} is missing: {why}");
        return Err(ExitCode::from(2));
    };
    sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&url).await.map_err(|e| {
        eprintln!("cannot connect with {var}: {e}");
        ExitCode::from(1)
    })
}

async fn purge(apply: bool, retention_days: u32) -> ExitCode {
    let admin =
        match connect("DATABASE_ADMIN_URL", "purging removes audit history, which only the schema owner may").await {
            Ok(p) => p,
            Err(code) => return code,
        };
    match retention::purge(&admin, retention_days, apply).await {
        Ok(purged) => {
            let verb = if apply { "purged" } else { "would purge" };
            for p in &purged {
                println!(
                    "{verb} {}: deleted {}, {} project(s), {} audit entr(ies), {} membership(s)",
                    p.org_id,
                    super::format::rfc3339(p.deleted_at),
                    p.projects,
                    p.audit_entries,
                    p.memberships
                );
            }
            println!(
                "purge: {} organization(s) deleted more than {retention_days} day(s) ago{}",
                purged.len(),
                if apply { "" } else { " (dry run: nothing removed; --apply to remove)" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("purge: {e}");
            ExitCode::from(1)
        }
    }
}

async fn restore_org(org_id: &str) -> ExitCode {
    let pool = match connect("DATABASE_URL", "the organization is restored by the app's role").await {
        Ok(p) => p,
        Err(code) => return code,
    };
    match retention::restore(&pool, org_id, "tenantry:restore-org").await {
        Ok(retention::Restored::Restored { memberships }) => {
            println!("restored {org_id} with its projects and audit log; {memberships} membership(s) back");
            ExitCode::SUCCESS
        }
        Ok(retention::Restored::NotDeleted) => {
            println!("{org_id} is not deleted: nothing to do");
            ExitCode::SUCCESS
        }
        Ok(retention::Restored::Unknown) => {
            eprintln!("restore-org: no organization {org_id:?} in the mirror");
            ExitCode::from(1)
        }
        Ok(retention::Restored::Purged) => {
            eprintln!("restore-org: {org_id}'s data was purged after the retention period; nothing to restore");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("restore-org: {e}");
            ExitCode::from(1)
        }
    }
}
