//! Configuration from the environment (`.env` honoured in development).
//!
//! Every problem is collected and reported as one line naming the variable; nothing panics.

use clerk::{KeySource, PublishableKey, SecretKey, WebhookVerifier};
use std::fmt;
use std::net::SocketAddr;

/// Every environment variable Tenantry reads, with its meaning (`tenantry --help` lists them;
/// the README's table says the same).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("DATABASE_URL", "Postgres URL of the runtime role (not superuser, not BYPASSRLS, owns no table)"),
    ("DATABASE_ADMIN_URL", "Postgres URL of the schema owner; only `tenantry migrate` uses it"),
    ("CLERK_PUBLISHABLE_KEY", "pk_test_… / pk_live_…"),
    ("CLERK_SECRET_KEY", "sk_…, for the Backend API (never logged)"),
    ("CLERK_JWT_KEY", "optional PEM public key: networkless token verification"),
    ("CLERK_API_URL", "Backend API base (default https://api.clerk.com)"),
    ("CLERK_PROXY_URL", "optional Frontend API base override"),
    ("CLERK_AUTHORIZED_PARTIES", "comma-separated origins accepted in a token's azp; required with a pk_live_ key"),
    ("CLERK_WEBHOOK_SIGNING_SECRET", "whsec_… for POST /api/webhooks/clerk"),
    ("CLERK_SIGN_IN_URL", "hosted sign-in page (default: the instance's Account Portal)"),
    ("CLERK_SIGN_UP_URL", "hosted sign-up page (default: the instance's Account Portal)"),
    (
        "CLERK_USER_PROFILE_URL",
        "hosted user profile page, the header's Account link (default: the Account Portal's /user)",
    ),
    ("TENANTRY_ADDR", "listen address (default 127.0.0.1:3000; LEPTOS_SITE_ADDR is read too)"),
    (
        "TENANTRY_METRICS_ADDR",
        "listen address of the Prometheus metrics (GET /metrics); unset: no metrics (keep it off the public network)",
    ),
    ("TENANTRY_LOG_FORMAT", "`json` for one JSON object per log line (default: human-readable text)"),
    (
        "TENANTRY_TRUST_PROXY",
        "true behind a TLS-terminating proxy whose X-Forwarded-Host/-Proto to trust (default false)",
    ),
    (
        "TENANTRY_RETENTION_DAYS",
        "days a deleted organization's data is kept before `tenantry purge` may remove it (default 30)",
    ),
    (
        "TENANTRY_VERIFIED_SIGNATURES",
        "session-token signatures kept as verified, so a token sent again skips the RSA check (default 10000; 0: verify every time)",
    ),
    ("TENANTRY_DB_MAX_CONNECTIONS", "database connections per process (default 10)"),
    ("TENANTRY_DB_ACQUIRE_TIMEOUT_MS", "longest wait for a pooled connection before answering 503 (default 5000)"),
    ("TENANTRY_DB_STATEMENT_TIMEOUT_MS", "Postgres statement_timeout of the app's connections (default 5000)"),
    (
        "TENANTRY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        "Postgres idle_in_transaction_session_timeout of the app's connections (default 60000)",
    ),
    (
        "TENANTRY_SERVICES",
        "services behind /api/proxy/{service}/…: comma-separated NAME=URL|JWT_TEMPLATE[|tenant] (tenant: an active organization is required)",
    ),
    ("LEPTOS_*", "cargo-leptos's settings (LEPTOS_ENV, LEPTOS_SITE_ROOT, LEPTOS_HASH_FILES, …)"),
    ("RUST_LOG", "log filter (default info)"),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTLP/HTTP collector on http (e.g. http://127.0.0.1:4318): OpenTelemetry traces on; unset: off. The other OTEL_* variables apply",
    ),
    (
        "TENANTRY_TRUST_TRACEPARENT",
        "true: a caller's W3C traceparent is the request span's parent (default false: a link only; callers pick neither trace nor sampling)",
    ),
];

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub pool: PoolSettings,
    pub bind: SocketAddr,
    /// Where `/metrics` is served (`TENANTRY_METRICS_ADDR`); `None`: nowhere.
    pub metrics_addr: Option<SocketAddr>,
    /// Honour `X-Forwarded-*` / `Forwarded` from the proxy in front (`TENANTRY_TRUST_PROXY`).
    pub trust_proxy: bool,
    pub clerk: ClerkConfig,
    /// `TENANTRY_SERVICES`: the only services `/api/proxy/{service}/…` reaches.
    pub services: Vec<ServiceConfig>,
}

/// One downstream service of the backend-for-frontend proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub name: String,
    /// Base URL (http or https); the proxied path is appended to it.
    pub url: String,
    /// The Clerk JWT template whose tokens the service accepts.
    pub template: String,
    /// Requires an active organization (the template should carry `"org_id": "{{org.id}}"`).
    pub tenant: bool,
}

/// `NAME=URL|TEMPLATE[|tenant]`, comma-separated; each problem is one error.
pub fn parse_services(value: &str, errors: &mut Vec<String>) -> Vec<ServiceConfig> {
    let mut out: Vec<ServiceConfig> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = |why: &str| format!("TENANTRY_SERVICES: {item:?}: {why} (expected NAME=URL|JWT_TEMPLATE[|tenant])");
        let Some((name, rest)) = item.split_once('=') else {
            errors.push(bad("no '='"));
            continue;
        };
        let name = name.trim();
        let mut parts = rest.split('|').map(str::trim);
        let (url, template, flag) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            errors.push(bad("the name must be letters, digits, '-' or '_'"));
        } else if !matches!(url::Url::parse(url), Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.query().is_none())
        {
            errors.push(bad("not an http(s) URL without a query"));
        } else if template.is_empty() {
            errors.push(bad("no JWT template"));
        } else if !matches!(flag, None | Some("tenant")) || parts.next().is_some() {
            errors.push(bad("the only flag is 'tenant'"));
        } else if out.iter().any(|s| s.name == name) {
            errors.push(bad("the name is given twice"));
        } else {
            out.push(ServiceConfig {
                name: name.into(),
                url: url.trim_end_matches('/').into(),
                template: template.into(),
                tenant: flag.is_some(),
            });
        }
    }
    out
}

/// How much of the database one process may use, and how long it waits (bounded work per
/// request: a saturated pool or a runaway statement answers 503 instead of queueing forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// `TENANTRY_DB_MAX_CONNECTIONS` (default 10).
    pub max_connections: u32,
    /// `TENANTRY_DB_ACQUIRE_TIMEOUT_MS` (default 5000): waiting longer for a connection is a 503.
    pub acquire_timeout_ms: u64,
    /// `TENANTRY_DB_STATEMENT_TIMEOUT_MS` (default 5000): Postgres cancels a longer statement.
    pub statement_timeout_ms: u64,
    /// `TENANTRY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS` (default 60000): Postgres ends a session left
    /// idle inside a transaction longer, releasing its locks and snapshot. A backstop: no code
    /// path leaves one on purpose, and the longest legitimate wait inside one is an
    /// administration action's Backend API calls (`members`: up to two in a row, each bounded at
    /// 3 s by `limits::BACKEND_API_WAIT`), well under the default.
    pub idle_in_transaction_timeout_ms: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout_ms: 5_000,
            statement_timeout_ms: 5_000,
            idle_in_transaction_timeout_ms: 60_000,
        }
    }
}

#[derive(Clone)]
pub struct ClerkConfig {
    pub publishable_key: PublishableKey,
    pub secret_key: SecretKey,
    pub jwt_key: Option<KeySource>,
    pub api_url: String,
    pub proxy_url: Option<String>,
    pub authorized_parties: Vec<String>,
    pub webhook: WebhookVerifier,
    pub sign_in_url: String,
    pub sign_up_url: String,
    /// The signed-in user's account page (Clerk's hosted user profile).
    pub user_profile_url: String,
    /// `TENANTRY_VERIFIED_SIGNATURES`: entries of `clerk::signatures::VerifiedSignatures`
    /// (0: every session token's signature is verified).
    pub verified_signatures: usize,
}

impl ClerkConfig {
    /// The origin of Clerk's Frontend API as a browser reaches it: the proxy URL's (`None` when
    /// it is a path on this site), else the instance's own `https://clerk.…`.
    pub fn frontend_api_origin(&self) -> Option<String> {
        match self.proxy_url.as_deref() {
            Some(p) if p.starts_with('/') => None,
            Some(p) => url::Url::parse(p).ok().map(|u| u.origin().ascii_serialization()),
            None => Some(format!("https://{}", self.publishable_key.frontend_api())),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets or the database password.
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("clerk_frontend_api", &self.clerk.publishable_key.frontend_api())
            .finish_non_exhaustive()
    }
}

/// All configuration problems found, one per variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "config error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let get = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let required = |k: &str, errors: &mut Vec<String>| {
            let v = get(k);
            if v.is_none() {
                errors.push(format!("{k} is missing"));
            }
            v
        };

        let database_url = required("DATABASE_URL", &mut errors);
        if let Some(u) = &database_url {
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                errors.push("DATABASE_URL must be a postgres:// URL".into());
            }
        }
        let bind = match get("TENANTRY_ADDR").or_else(|| get("LEPTOS_SITE_ADDR")) {
            None => Some(SocketAddr::from(([127, 0, 0, 1], 3000))),
            Some(v) => match v.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    errors.push(format!("TENANTRY_ADDR / LEPTOS_SITE_ADDR is not an ip:port address: {v:?}"));
                    None
                }
            },
        };
        let metrics_addr = get("TENANTRY_METRICS_ADDR").and_then(|v| match v.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                errors.push(format!("TENANTRY_METRICS_ADDR is not an ip:port address: {v:?}"));
                None
            }
        });
        let defaults = PoolSettings::default();
        let mut number = |k: &str, default: u64, min: u64, max: u64| match get(k) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    errors.push(format!("{k} must be a whole number from {min} to {max}, not {v:?}"));
                    default
                }
            },
        };
        let pool = PoolSettings {
            max_connections: number("TENANTRY_DB_MAX_CONNECTIONS", defaults.max_connections.into(), 1, 1_000) as u32,
            acquire_timeout_ms: number("TENANTRY_DB_ACQUIRE_TIMEOUT_MS", defaults.acquire_timeout_ms, 1, 600_000),
            statement_timeout_ms: number(
                "TENANTRY_DB_STATEMENT_TIMEOUT_MS",
                defaults.statement_timeout_ms,
                1,
                3_600_000,
            ),
            idle_in_transaction_timeout_ms: number(
                "TENANTRY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
                defaults.idle_in_transaction_timeout_ms,
                1,
                3_600_000,
            ),
        };
        let verified_signatures =
            number("TENANTRY_VERIFIED_SIGNATURES", clerk::signatures::DEFAULT_CAPACITY as u64, 0, 1_000_000) as usize;
        let trust_proxy = match get("TENANTRY_TRUST_PROXY").as_deref() {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(other) => {
                errors.push(format!("TENANTRY_TRUST_PROXY must be true or false, not {other:?}"));
                false
            }
        };
        let publishable_key =
            required("CLERK_PUBLISHABLE_KEY", &mut errors).and_then(|v| match PublishableKey::parse(&v) {
                Ok(k) => Some(k),
                Err(e) => {
                    errors.push(format!("CLERK_PUBLISHABLE_KEY is malformed: {e}"));
                    None
                }
            });
        let secret_key = required("CLERK_SECRET_KEY", &mut errors).and_then(|v| match SecretKey::parse(&v) {
            Ok(k) => Some(k),
            Err(e) => {
                errors.push(format!("CLERK_SECRET_KEY is malformed: {e}"));
                None
            }
        });
        let jwt_key = get("CLERK_JWT_KEY").and_then(|v| match KeySource::from_pem(&v) {
            Ok(k) => Some(k),
            Err(e) => {
                errors.push(format!("CLERK_JWT_KEY is malformed: {e}"));
                None
            }
        });
        let api_url = get("CLERK_API_URL").unwrap_or_else(|| clerk::bapi::DEFAULT_API_URL.to_string());
        check_url("CLERK_API_URL", &api_url, &mut errors);
        let proxy_url = get("CLERK_PROXY_URL");
        if let Some(p) = &proxy_url {
            if !p.starts_with('/') {
                check_url("CLERK_PROXY_URL", p, &mut errors);
            }
        }
        let authorized_parties: Vec<String> = get("CLERK_AUTHORIZED_PARTIES")
            .map(|v| {
                v.split(',').map(|s| s.trim().trim_end_matches('/').to_string()).filter(|s| !s.is_empty()).collect()
            })
            .unwrap_or_default();
        for p in &authorized_parties {
            check_url("CLERK_AUTHORIZED_PARTIES", p, &mut errors);
        }
        // Without it `azp` is not checked, and a token minted for another of the instance's
        // apps (or a preview deployment) would be accepted here: production must say.
        let production = publishable_key.as_ref().is_some_and(|k| k.instance_type() == clerk::InstanceType::Production);
        if production && authorized_parties.is_empty() {
            errors.push(
                "CLERK_AUTHORIZED_PARTIES is missing: a production instance must list this app's origins (e.g. https://app.example.com)".into(),
            );
        }
        let webhook =
            required("CLERK_WEBHOOK_SIGNING_SECRET", &mut errors).and_then(|v| match WebhookVerifier::new(&v) {
                Ok(w) => Some(w),
                Err(e) => {
                    errors.push(format!("CLERK_WEBHOOK_SIGNING_SECRET is malformed: {e}"));
                    None
                }
            });
        // Default sign-in/up pages: the Account Portal of the instance.
        let accounts = publishable_key
            .as_ref()
            .map(|k| format!("https://{}", k.frontend_api().replacen("clerk.", "accounts.", 1)));
        let sign_in_url = get("CLERK_SIGN_IN_URL").or_else(|| accounts.as_ref().map(|a| format!("{a}/sign-in")));
        let sign_up_url = get("CLERK_SIGN_UP_URL").or_else(|| accounts.as_ref().map(|a| format!("{a}/sign-up")));
        let user_profile_url = get("CLERK_USER_PROFILE_URL").or_else(|| accounts.as_ref().map(|a| format!("{a}/user")));
        if let Some(u) = &user_profile_url {
            check_url("CLERK_USER_PROFILE_URL", u, &mut errors);
        }
        if let Some(u) = &sign_in_url {
            check_url("CLERK_SIGN_IN_URL", u, &mut errors);
        }
        if let Some(u) = &sign_up_url {
            check_url("CLERK_SIGN_UP_URL", u, &mut errors);
        }

        let services = parse_services(&get("TENANTRY_SERVICES").unwrap_or_default(), &mut errors);

        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        // All `Some` when no error was recorded.
        let (
            Some(database_url),
            Some(bind),
            Some(publishable_key),
            Some(secret_key),
            Some(webhook),
            Some(sign_in_url),
            Some(sign_up_url),
            Some(user_profile_url),
        ) = (database_url, bind, publishable_key, secret_key, webhook, sign_in_url, sign_up_url, user_profile_url)
        else {
            return Err(ConfigErrors(vec!["internal: incomplete configuration".into()]));
        };
        Ok(Config {
            database_url,
            pool,
            bind,
            metrics_addr,
            trust_proxy,
            clerk: ClerkConfig {
                publishable_key,
                secret_key,
                jwt_key,
                api_url,
                proxy_url,
                authorized_parties,
                webhook,
                sign_in_url,
                sign_up_url,
                user_profile_url,
                verified_signatures,
            },
            services,
        })
    }
}

fn check_url(name: &str, value: &str, errors: &mut Vec<String>) {
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
        _ => errors.push(format!("{name} is not an http(s) URL: {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn services_are_parsed_and_each_problem_named() {
        let mut errors = Vec::new();
        let s = super::parse_services(
            "billing=http://127.0.0.1:4000/|billing-template|tenant, search=https://search.internal/v1|search",
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].url.as_str(), s[0].template.as_str(), s[0].tenant),
            ("http://127.0.0.1:4000", "billing-template", true)
        );
        assert!(!s[1].tenant);
        for bad in [
            "nope",
            "a=ftp://x|t",
            "a=http://x",
            "a=http://x|t|admin",
            "a b=http://x|t",
            "a=http://x?q=1|t",
            "a=http://x|t,a=http://y|t",
        ] {
            let mut errors = Vec::new();
            super::parse_services(bad, &mut errors);
            assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
            assert!(errors[0].starts_with("TENANTRY_SERVICES"), "{errors:?}");
        }
    }

    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("DATABASE_URL", "postgres://app@127.0.0.1/db".to_string()),
            ("CLERK_PUBLISHABLE_KEY", "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k".to_string()),
            ("CLERK_SECRET_KEY", "sk_live_xyz".to_string()),
            ("CLERK_WEBHOOK_SIGNING_SECRET", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_string()),
            ("CLERK_AUTHORIZED_PARTIES", "https://app.example.com/".to_string()),
        ])
    }

    #[test]
    fn complete_config_parses_with_defaults() {
        let env = base();
        let c = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(c.clerk.api_url, "https://api.clerk.com");
        assert_eq!(c.clerk.sign_in_url, "https://accounts.example.com/sign-in");
        assert_eq!(c.bind.to_string(), "127.0.0.1:3000");
        assert!(!format!("{c:?}").contains("sk_live_xyz"));
        assert_eq!(c.clerk.authorized_parties, vec!["https://app.example.com".to_string()], "trailing slash trimmed");
        assert_eq!(c.pool, PoolSettings::default());
        assert!(!c.trust_proxy, "forwarded headers are not trusted unless asked");
        assert_eq!(c.clerk.verified_signatures, 10_000);
        assert_eq!(super::super::auth::build_clerk(&c.clerk).verified_signatures().capacity(), 10_000);
    }

    #[test]
    fn the_verified_signature_cache_is_sized_or_switched_off_and_checked() {
        let mut env = base();
        env.insert("TENANTRY_VERIFIED_SIGNATURES", "0".into());
        let c = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(c.clerk.verified_signatures, 0);
        assert_eq!(super::super::auth::build_clerk(&c.clerk).verified_signatures().capacity(), 0);
        env.insert("TENANTRY_VERIFIED_SIGNATURES", "250".into());
        let c = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(super::super::auth::build_clerk(&c.clerk).verified_signatures().capacity(), 250);
        for bad in ["-1", "lots", "1000001"] {
            env.insert("TENANTRY_VERIFIED_SIGNATURES", bad.into());
            let err = Config::from_lookup(|k| env.get(k).cloned()).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "TENANTRY_VERIFIED_SIGNATURES must be a whole number from 0 to 1000000, not {bad:?}"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn database_bounds_are_configurable_and_checked() {
        let mut env = base();
        env.insert("TENANTRY_DB_MAX_CONNECTIONS", "32".into());
        env.insert("TENANTRY_DB_STATEMENT_TIMEOUT_MS", "250".into());
        env.insert("TENANTRY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", "30000".into());
        let c = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(
            c.pool,
            PoolSettings {
                max_connections: 32,
                acquire_timeout_ms: 5_000,
                statement_timeout_ms: 250,
                idle_in_transaction_timeout_ms: 30_000
            }
        );
        env.insert("TENANTRY_DB_MAX_CONNECTIONS", "0".into());
        env.insert("TENANTRY_DB_ACQUIRE_TIMEOUT_MS", "soon".into());
        env.insert("TENANTRY_TRUST_PROXY", "maybe".into());
        let err = Config::from_lookup(|k| env.get(k).cloned()).unwrap_err().to_string();
        assert!(
            err.contains("config error: TENANTRY_DB_MAX_CONNECTIONS must be a whole number from 1 to 1000, not \"0\""),
            "{err}"
        );
        assert!(err.contains("config error: TENANTRY_DB_ACQUIRE_TIMEOUT_MS must be"), "{err}");
        assert!(err.contains("config error: TENANTRY_TRUST_PROXY must be true or false"), "{err}");
    }

    #[test]
    fn every_problem_is_one_line_naming_the_variable() {
        let mut env = base();
        env.remove("CLERK_SECRET_KEY");
        env.insert("CLERK_PUBLISHABLE_KEY", "pk_nope".into());
        env.insert("CLERK_API_URL", "ftp://x".into());
        let err = Config::from_lookup(|k| env.get(k).cloned()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 3, "{text}");
        assert!(text.contains("config error: CLERK_PUBLISHABLE_KEY is malformed"), "{text}");
        assert!(text.contains("config error: CLERK_SECRET_KEY is missing"), "{text}");
        assert!(text.contains("config error: CLERK_API_URL is not an http(s) URL"), "{text}");
    }
}
