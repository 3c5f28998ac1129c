//! `clerk-emulator`: run an offline Clerk instance on loopback for development and tests.

use base64::Engine;
use clap::Parser;
use clerk::{InstanceType, SecretKey};
use clerk_emulator::state::{Seed, State};
use clerk_emulator::{Config, Emulator, Roles};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(version, about = "An offline Clerk for local development and tests. Never expose it to a network.")]
struct Args {
    #[arg(long, env = "CLERK_EMULATOR_HOST", default_value = "127.0.0.1")]
    host: String,
    #[arg(long, env = "CLERK_EMULATOR_PORT", default_value_t = 3100)]
    port: u16,
    /// Present as a production (`pk_live_`) or development (`pk_test_`) instance.
    #[arg(long, default_value = "production", value_parser = ["production", "development"])]
    instance: String,
    /// Origins sign-in may return to and tokens are minted for (repeatable).
    #[arg(long = "allowed-origin", default_value = "http://127.0.0.1:3000")]
    allowed_origins: Vec<String>,
    /// Webhook endpoints (repeatable).
    #[arg(long = "webhook-url")]
    webhook_urls: Vec<String>,
    #[arg(long, default_value_t = 60)]
    token_lifetime: i64,
    /// Mint v1 session claims (`org_*`) instead of v2.
    #[arg(long)]
    claims_v1: bool,
    /// Seed users and organizations from this JSON file (ignored when --state exists).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Keep state in this file across restarts.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Instance private key (PKCS#8 PEM); generated and written here when missing.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Secret key the Backend API accepts (default: generated).
    #[arg(long, env = "CLERK_EMULATOR_SECRET_KEY")]
    secret_key: Option<String>,
    /// Webhook signing secret (default: generated).
    #[arg(long, env = "CLERK_EMULATOR_WEBHOOK_SECRET")]
    webhook_secret: Option<String>,
    /// Write the app's CLERK_* settings for this instance to this file.
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// JWT templates as NAME=JSON (repeatable), e.g. `supabase={"role":"authenticated"}`.
    #[arg(long = "jwt-template")]
    jwt_templates: Vec<String>,
    /// Test switch: deliver every webhook twice.
    #[arg(long)]
    webhook_duplicate: bool,
    /// Test switch: batch webhooks that follow within a second of each other (at most 3 s) and
    /// deliver each batch newest first, one event after the other.
    #[arg(long)]
    webhook_reorder: bool,
    /// Allow personal accounts: a session without an organization is active. By default, like a
    /// Clerk instance with organizations required (Clerk's default for B2B apps), such a session
    /// is pending (`sts: "pending"`, task `choose-organization`) until an organization is chosen.
    #[arg(long)]
    allow_personal_accounts: bool,
}

fn random_token(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clerk-emulator: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(a: Args) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", a.host, a.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = format!("http://{addr}");

    let private_pem = match &a.key {
        Some(p) if p.exists() => Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?),
        _ => None,
    };
    let state = match &a.state {
        Some(p) if p.exists() => serde_json::from_slice(&std::fs::read(p).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{}: {e}", p.display()))?,
        _ => match &a.seed {
            Some(p) => {
                let seed: Seed =
                    serde_json::from_slice(&std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?)
                        .map_err(|e| format!("{}: {e}", p.display()))?;
                State::from_seed(&seed)
            }
            None => State::default(),
        },
    };
    let mut jwt_templates = BTreeMap::new();
    for t in &a.jwt_templates {
        let (name, json) = t.split_once('=').ok_or_else(|| format!("--jwt-template {t:?}: expected NAME=JSON"))?;
        jwt_templates
            .insert(name.to_string(), serde_json::from_str(json).map_err(|e| format!("--jwt-template {name}: {e}"))?);
    }
    let secret = a.secret_key.unwrap_or_else(|| format!("sk_test_{}", random_token(24)));
    let webhook_secret = a.webhook_secret.unwrap_or_else(|| {
        format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(random_token(24).as_bytes()))
    });
    let config = Config {
        public_url,
        instance_type: if a.instance == "development" { InstanceType::Development } else { InstanceType::Production },
        secret_key: SecretKey::parse(&secret).map_err(|e| format!("--secret-key: {e}"))?,
        webhook_secret,
        webhook_endpoints: a.webhook_urls,
        allowed_origins: a.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_string()).collect(),
        token_lifetime_secs: a.token_lifetime,
        claims_v1: a.claims_v1,
        roles: Roles::default(),
        jwt_templates,
        webhook_duplicate: a.webhook_duplicate,
        webhook_reorder: a.webhook_reorder,
        state_file: a.state.clone(),
        allow_personal_accounts: a.allow_personal_accounts,
    };
    let emu = Emulator::new(config, state, private_pem)?;
    if let Some(p) = &a.key {
        if !p.exists() {
            std::fs::write(p, &emu.private_pem).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    if let Some(p) = &a.env_file {
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, emu.app_env())
            .and_then(|_| std::fs::rename(&tmp, p))
            .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    eprintln!("clerk-emulator: FOR DEVELOPMENT AND TESTS ONLY — not Clerk, not secure, never expose it.");
    eprintln!(
        "clerk-emulator: listening on http://{addr} ({} instance, publishable key {}; {})",
        a.instance,
        emu.publishable_key.as_str(),
        if a.allow_personal_accounts {
            "personal accounts allowed"
        } else {
            "organizations required: sessions without one are pending"
        }
    );
    emu.persist();
    clerk_emulator::serve(emu, listener).await.map_err(|e| e.to_string())
}
