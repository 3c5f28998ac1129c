//! An offline Clerk for development and tests. The app talks to it exactly as to Clerk, through
//! base URLs only: the Frontend API (hosted sign-in/up pages, `/v1/client/handshake`, token
//! refresh, sign-out, JWKS) and a subset of the Backend API behind the secret key. Changes are
//! delivered as svix-signed webhooks. Development only: never expose it to a network.

pub mod bapi;
pub mod fapi;
pub mod state;
pub mod webhooks;

use clerk::mint::Signer;
use clerk::{InstanceType, PublishableKey, SecretKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use state::{now_ms, Session, State};

/// Organization roles and their permissions (`org:<feature>:<permission>`).
#[derive(Debug, Clone)]
pub struct Roles(pub BTreeMap<String, Vec<String>>);

impl Default for Roles {
    fn default() -> Self {
        Roles(BTreeMap::from([
            ("org:admin".into(), vec!["org:projects:manage".into(), "org:projects:read".into()]),
            ("org:member".into(), vec!["org:projects:read".into()]),
            ("org:manager".into(), vec!["org:projects:manage".into(), "org:projects:read".into()]),
        ]))
    }
}

impl Roles {
    pub fn permissions(&self, role: &str) -> Vec<String> {
        self.0.get(role).cloned().unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the emulator is reached, e.g. `http://127.0.0.1:3100`.
    pub public_url: String,
    pub instance_type: InstanceType,
    pub secret_key: SecretKey,
    pub webhook_secret: String,
    pub webhook_endpoints: Vec<String>,
    /// Origins `redirect_url` may point at.
    pub allowed_origins: Vec<String>,
    pub token_lifetime_secs: i64,
    /// Mint v1 (`org_*`) claims instead of v2.
    pub claims_v1: bool,
    pub roles: Roles,
    /// JWT templates: name → extra claims (string values may use `{{user.id}}`, `{{user.email}}`…).
    pub jwt_templates: BTreeMap<String, Value>,
    /// Test switches: deliver every webhook twice / hold them and deliver newest first.
    pub webhook_duplicate: bool,
    pub webhook_reorder: bool,
    pub state_file: Option<std::path::PathBuf>,
    /// `false` (the default, and Clerk's for B2B instances): organizations are required and
    /// personal accounts are off, so a session without an active organization is `pending` with
    /// the `choose-organization` task (its tokens carry `sts: "pending"`) until one is chosen.
    /// `true`: a session without an organization is an active personal-account session.
    pub allow_personal_accounts: bool,
}

pub struct Emulator {
    pub config: Config,
    pub signer: Signer,
    pub public_pem: String,
    /// For checking tokens this instance signed (e.g. the expired token of a refresh).
    pub public_key: jsonwebtoken::DecodingKey,
    pub private_pem: String,
    pub publishable_key: PublishableKey,
    pub state: Mutex<State>,
    pub webhooks: webhooks::Dispatcher,
}

pub type Shared = Arc<Emulator>;

impl Emulator {
    /// `private_pem`: the instance key (generated when `None`).
    pub fn new(config: Config, state: State, private_pem: Option<String>) -> Result<Shared, String> {
        let private_pem = match private_pem {
            Some(p) => p,
            None => {
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|e| e.to_string())?;
                key.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?.to_string()
            }
        };
        use rsa::pkcs8::DecodePrivateKey;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&private_pem).map_err(|e| format!("instance key: {e}"))?;
        let public_pem = key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| e.to_string())?;
        let host = url::Url::parse(&config.public_url).map_err(|e| e.to_string())?;
        let fapi_host = format!(
            "{}{}",
            host.host_str().unwrap_or("127.0.0.1"),
            host.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        let publishable_key = PublishableKey::build(config.instance_type, &fapi_host);
        let kid = format!("ins_emulator_{}", &clerk_kid_suffix(&public_pem));
        let signer = Signer::from_pem(kid, &private_pem)?;
        let public_key = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()).map_err(|e| e.to_string())?;
        let webhooks = webhooks::Dispatcher::new(
            config.webhook_endpoints.clone(),
            &config.webhook_secret,
            config.webhook_duplicate,
            config.webhook_reorder,
        )?;
        Ok(Arc::new(Emulator {
            config,
            signer,
            public_pem,
            public_key,
            private_pem,
            publishable_key,
            state: Mutex::new(state),
            webhooks,
        }))
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write the state file, if one is configured.
    pub fn persist(&self) {
        if let Some(path) = &self.config.state_file {
            let json = serde_json::to_vec_pretty(&*self.lock()).unwrap_or_default();
            if let Err(e) = std::fs::write(path, json) {
                tracing::warn!(error = %e, "could not persist emulator state");
            }
        }
    }

    /// The app settings for this instance, as `KEY=value` lines (quoted PEM).
    pub fn app_env(&self) -> String {
        let base = self.config.public_url.trim_end_matches('/');
        let pem = self.public_pem.trim().replace('\n', "\\n");
        format!(
            "# Written by clerk-emulator: the app's Clerk settings for this local instance.\n\
             CLERK_PUBLISHABLE_KEY={}\nCLERK_SECRET_KEY={}\nCLERK_WEBHOOK_SIGNING_SECRET={}\nCLERK_JWT_KEY=\"{pem}\"\n\
             CLERK_API_URL={base}\nCLERK_PROXY_URL={base}\nCLERK_SIGN_IN_URL={base}/sign-in\nCLERK_SIGN_UP_URL={base}/sign-up\nCLERK_USER_PROFILE_URL={base}/user\n\
             CLERK_AUTHORIZED_PARTIES={}\n",
            self.publishable_key.as_str(),
            self.config.secret_key.expose(),
            self.config.webhook_secret,
            self.config.allowed_origins.join(","),
        )
    }

    /// The organization `session` has active, if its user is (still) a member of it.
    fn active_membership<'s>(state: &'s State, session: &Session) -> Option<(&'s str, &'s state::Membership)> {
        let org = session.active_org_id.as_deref()?;
        state.membership(org, &session.user_id).map(|m| (m.org_id.as_str(), m))
    }

    /// A live session with a task left: organizations are required (personal accounts off) and
    /// none is active, so its task is `choose-organization`. Derived, never stored: deleting the
    /// active organization or the membership makes the session pending again.
    pub fn session_is_pending(&self, state: &State, session: &Session) -> bool {
        !self.config.allow_personal_accounts
            && session.status == "active"
            && Self::active_membership(state, session).is_none()
    }

    /// The session as the Backend and Frontend APIs show it: `status: "pending"` with
    /// `tasks: [{key: "choose-organization"}]` while it has that task, else its own status and
    /// `tasks: null`.
    pub fn session_json(&self, state: &State, session: &Session) -> Value {
        session.to_json(self.session_is_pending(state, session))
    }

    /// A session token as Clerk mints it for `session`, `azp` = the requesting origin.
    pub fn session_token(&self, state: &State, session: &Session, azp: Option<&str>, lifetime: Option<i64>) -> String {
        let now = now_ms() / 1000;
        let mut claims = json!({
            "sub": session.user_id, "sid": session.id, "iss": self.config.public_url.trim_end_matches('/'),
            "iat": now, "nbf": now - 10, "exp": now + lifetime.unwrap_or(self.config.token_lifetime_secs),
            "jti": state::new_id("jti"), "fva": [0, -1],
        });
        if let Some(azp) = azp {
            claims["azp"] = json!(azp);
        }
        let membership = Self::active_membership(state, session);
        // v1 claims have no session status (Clerk added `sts` with v2).
        if self.config.claims_v1 {
            if let Some((org_id, m)) = membership {
                claims["org_id"] = json!(org_id);
                claims["org_slug"] = json!(state.organizations.get(org_id).map(|o| o.slug.clone()));
                claims["org_role"] = json!(m.role);
                claims["org_permissions"] = json!(self.config.roles.permissions(&m.role));
            }
        } else {
            claims["v"] = json!(2);
            claims["sts"] = json!(if self.session_is_pending(state, session) { "pending" } else { "active" });
            if let Some((org_id, m)) = membership {
                let (fea, per, fpm) = encode_permissions(&self.config.roles.permissions(&m.role));
                claims["fea"] = json!(fea);
                claims["o"] = json!({"id": org_id, "slg": state.organizations.get(org_id).map(|o| o.slug.clone()),
                                      "rol": m.role.trim_start_matches("org:"), "per": per, "fpm": fpm});
            }
        }
        self.signer.sign_session(&claims)
    }
}

/// A stable kid per key: instance keys rotate with the key.
fn clerk_kid_suffix(public_pem: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(public_pem.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `org:<feature>:<perm>` list → (`fea`, `per`, `fpm`) as Clerk's v2 tokens carry them.
pub fn encode_permissions(perms: &[String]) -> (String, String, String) {
    let mut features: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for p in perms {
        let mut parts = p.splitn(3, ':');
        let (Some("org"), Some(f), Some(n)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if !features.iter().any(|x| x == f) {
            features.push(f.to_string());
        }
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    let masks: Vec<String> = features
        .iter()
        .map(|f| {
            let mask: u128 = names
                .iter()
                .enumerate()
                .filter(|(_, n)| perms.iter().any(|p| *p == format!("org:{f}:{n}")))
                .map(|(i, _)| 1u128 << i)
                .sum();
            mask.to_string()
        })
        .collect();
    (features.iter().map(|f| format!("o:{f}")).collect::<Vec<_>>().join(","), names.join(","), masks.join(","))
}

/// The whole emulator as one router.
pub fn router(emu: Shared) -> axum::Router {
    axum::Router::new()
        .merge(fapi::routes())
        .merge(bapi::routes())
        .layer(axum::middleware::from_fn_with_state(emu.clone(), bapi::with_emulator))
        .with_state(emu)
}

/// Start on `addr` (port 0 for tests); returns the bound address.
pub async fn serve(emu: Shared, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    emu.webhooks.start();
    axum::serve(listener, router(emu)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_through_the_verifier() {
        let perms =
            vec!["org:projects:manage".to_string(), "org:projects:read".to_string(), "org:billing:read".to_string()];
        let (fea, per, fpm) = encode_permissions(&perms);
        let decoded = clerk::claims::org_permissions_v2(Some(&fea), Some(&per), Some(&fpm));
        assert_eq!(decoded, perms);
    }
}
