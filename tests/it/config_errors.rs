//! The real binary: bad configuration → one line per problem, exit code 2, no panic; a
//! privileged database role → refusal to start.

use crate::helpers::{env_for, migrated_database};
use std::process::Command;
use tenantry::server::config::Config;
use tenantry::server::db::DbSetupError;
use tenantry::server::startup::{Application, StartupError};

fn run_binary(env: &[(&str, &str)]) -> std::process::Output {
    let dir = std::env::temp_dir(); // no .env file here
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    cmd.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

#[test]
fn missing_and_malformed_settings_are_named_one_per_line() {
    let out = run_binary(&[("CLERK_PUBLISHABLE_KEY", "pk_live_garbage"), ("CLERK_SECRET_KEY", "nope")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("config error: ")).collect();
    assert!(lines.iter().any(|l| l.contains("DATABASE_URL is missing")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("CLERK_PUBLISHABLE_KEY is malformed")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("CLERK_SECRET_KEY is malformed")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("CLERK_WEBHOOK_SIGNING_SECRET is missing")), "{stderr}");
    assert!(!lines.iter().any(|l| l.contains("CLERK_AUTHORIZED_PARTIES")), "only asked for a valid production key");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("nope"), "secrets are not echoed: {stderr}");
}

#[test]
fn unknown_subcommand_is_refused() {
    let out = run_binary(&[]);
    assert_eq!(out.status.code(), Some(2), "no config at all is a config error");
    let out = run_binary(&[("X", "1")]);
    assert_eq!(out.status.code(), Some(2));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    let out = cmd.arg("frobnicate").current_dir(std::env::temp_dir()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command"));
}

#[tokio::test]
async fn refuses_to_run_as_superuser() {
    let (db, _admin) = migrated_database().await;
    let mut env = env_for(&db);
    env.insert("DATABASE_URL".into(), db.admin_url.clone());
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let err = Application::build(config).await.err().expect("must refuse");
    assert!(matches!(err, StartupError::Database(DbSetupError::Superuser { .. })), "{err}");
    assert!(err.to_string().contains("superuser"));
}

#[tokio::test]
async fn refuses_to_run_with_bypassrls() {
    let (db, admin) = migrated_database().await;
    let role = format!("bypass_{}", db.name);
    sqlx::query(&format!("CREATE ROLE {role} LOGIN PASSWORD 'x' NOSUPERUSER BYPASSRLS")).execute(&admin).await.unwrap();
    let mut env = env_for(&db);
    let cluster_host = db.admin_url.split('@').nth(1).unwrap().to_string();
    env.insert("DATABASE_URL".into(), format!("postgres://{role}:x@{cluster_host}"));
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let err = Application::build(config).await.err().expect("must refuse");
    assert!(matches!(err, StartupError::Database(DbSetupError::BypassRls { .. })), "{err}");
}

#[tokio::test]
async fn the_binary_refuses_a_superuser_database_url() {
    let (db, _admin) = migrated_database().await;
    let env = env_for(&db);
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vars.retain(|(k, _)| *k != "DATABASE_URL");
    vars.push(("DATABASE_URL", &db.admin_url));
    let out = run_binary(&vars);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("startup error: refusing to start") && stderr.contains("superuser"), "{stderr}");
}

#[tokio::test]
async fn refuses_to_run_as_a_role_that_owns_the_tables() {
    let (db, admin) = migrated_database().await;
    let cluster_host = db.admin_url.split('@').nth(1).unwrap().to_string();
    // Directly: the role owns a table. Indirectly: it belongs to a role that does.
    let (owner, member) = (format!("owner_{}", db.name), format!("member_{}", db.name));
    for stmt in [
        format!("CREATE ROLE {owner} LOGIN PASSWORD 'x' NOSUPERUSER"),
        format!("ALTER TABLE projects OWNER TO {owner}"),
        format!("CREATE ROLE {member} LOGIN PASSWORD 'x' NOSUPERUSER IN ROLE {owner}"),
    ] {
        sqlx::query(&stmt).execute(&admin).await.unwrap();
    }
    for role in [&owner, &member] {
        let mut env = env_for(&db);
        env.insert("DATABASE_URL".into(), format!("postgres://{role}:x@{cluster_host}"));
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        let err = Application::build(config).await.err().expect("must refuse");
        assert!(matches!(err, StartupError::Database(DbSetupError::OwnsTables { tables: 1, .. })), "{role}: {err}");
    }
}

#[test]
fn migrate_refuses_to_run_as_the_apps_role() {
    let app = "postgres://tenantry_app:pw@127.0.0.1:1/db";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    cmd.arg("migrate").current_dir(std::env::temp_dir()).env_clear().env("DATABASE_URL", app);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_ADMIN_URL is missing"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    cmd.arg("migrate")
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("DATABASE_URL", app)
        .env("DATABASE_ADMIN_URL", "postgres://tenantry_app:other@127.0.0.1:1/db");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("use the same role"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_production_key_needs_authorized_parties() {
    let (db, _admin) = migrated_database().await;
    let mut env = env_for(&db);
    env.remove("CLERK_AUTHORIZED_PARTIES");
    let err = Config::from_lookup(|k| env.get(k).cloned()).expect_err("must refuse");
    assert!(err.to_string().contains("CLERK_AUTHORIZED_PARTIES is missing"), "{err}");
    // a development key may leave azp unchecked, as Clerk's SDK does by default
    env.insert("CLERK_PUBLISHABLE_KEY".into(), "pk_test_aGFwcHktb3R0ZXItMTIuY2xlcmsuYWNjb3VudHMuZGV2JA".into());
    env.insert("CLERK_SECRET_KEY".into(), "sk_test_integration".into());
    assert!(Config::from_lookup(|k| env.get(k).cloned()).is_ok());
}

#[test]
fn a_broken_opentelemetry_setting_is_refused_before_anything_starts() {
    for (name, value, expected) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT must be an http URL"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not a URL"),
        // No TLS client is built in: refused rather than failing every export in silence.
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example.com", "OTEL_EXPORTER_OTLP_ENDPOINT is https"),
    ] {
        let out = run_binary(&[(name, value)]);
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with(&format!("config error: {expected}")), "{name}={value}: {stderr}");
    }
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("config error: OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported"), "{stderr}");
    // The traces-specific protocol wins over the general one (meant for other signals).
    let out = run_binary(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ("TENANTRY_TRUST_TRACEPARENT", "yes"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("config error: TENANTRY_TRUST_TRACEPARENT must be true or false"), "{stderr}");
    // Disabled by the standard switch, a broken endpoint is not read at all: the app's own
    // configuration errors come next.
    let out = run_binary(&[("OTEL_SDK_DISABLED", "true"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DATABASE_URL is missing") && !stderr.contains("OTEL"), "{stderr}");
}

/// A database the migrations have not reached: refused at startup, not with a failure on every
/// tenant request (the scope's check is a function the migrations create).
#[tokio::test]
async fn refuses_an_unmigrated_database() {
    let db = pg_harness::fresh_database();
    let env = env_for(&db);
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let err = Application::build(config).await.err().expect("must refuse");
    assert!(matches!(err, StartupError::Database(DbSetupError::NotMigrated)), "{err}");
    assert!(err.to_string().contains("tenantry migrate"), "{err}");
}
