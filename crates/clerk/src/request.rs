//! `authenticate_request`: the SDK's decision table (protocol §1.5) over an HTTP request's parts.
//! Mirrors `packages/backend/src/tokens/request.ts`, hand-written (not generated or wrapped) for
//! SDK parity: the same steps under the same names, in the same order, with its reason strings.
//! The steps it delegates live beside it: `sources` (token sources and cookies), `handshake`,
//! `refresh`, `sync` (satellites, referer, organizations), `status` (the outcome) and `js`
//! (JavaScript semantics).

use http::header::{HeaderMap, CACHE_CONTROL, LOCATION};
use http::request::Parts;
use http::HeaderValue;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use crate::bapi::BackendApi;
use crate::budget::HandshakeNoncePolicy;
use crate::categories::{CAT_IGNORE, CAT_SESSION};
use crate::claims::has_malformed_org_features;
use crate::jwks::KeySource;
use crate::keys::{InstanceType, PublishableKey, SecretKey};
use crate::orgsync::{OrgSyncMatcher, OrganizationSync};
use crate::signatures::VerifiedSignatures;
use crate::verify::{
    decode_jwt, reject_m2m_category, verify_decoded_by, DecodedJwt, TokenError, TokenErrorReason, VerifyOptions,
};

#[cfg(test)]
mod differential;
mod handshake;
mod js;
mod nonces;
mod refresh;
mod sources;
mod status;
mod sync;

use handshake::{check_and_track_redirect_loop, HandshakeFailure};
use js::js_number_of;
use refresh::is_request_eligible_for_refresh;
use sources::{parse_authorization_header, Ctx, SuffixedNames};
use status::{handshake, signed_in, signed_out};

pub use handshake::is_handshake_eligible;
pub use sources::{
    parse_cookies, COOKIE_CLIENT_UAT, COOKIE_DEV_BROWSER, COOKIE_HANDSHAKE, COOKIE_HANDSHAKE_NONCE,
    COOKIE_REDIRECT_COUNT, COOKIE_REFRESH, COOKIE_SESSION, QUERY_REDIRECT_URL, QUERY_SYNCED,
};
pub use status::{AuthStatus, RequestState};

/// Everything `authenticate_request` needs about one Clerk instance.
#[derive(Debug, Clone)]
pub struct ClerkOptions {
    pub publishable_key: PublishableKey,
    pub secret_key: SecretKey,
    pub keys: KeySource,
    /// Backend API, for handshake nonces and server-side refresh.
    pub api: Option<BackendApi>,
    /// Frontend API base override (`CLERK_PROXY_URL`), absolute or a path on the app's origin.
    pub proxy_url: Option<String>,
    pub verify: VerifyOptions,
    pub organization_sync: Option<OrganizationSync>,
    /// Set when this app is a satellite domain of the instance (multi-domain sessions).
    pub satellite: Option<Satellite>,
}

/// A satellite application: its users sign in on the primary domain and the session is synced
/// to the satellite through the Frontend API (`isSatellite`, `domain`, `signInUrl`,
/// `satelliteAutoSync` of the SDK).
#[derive(Debug, Clone, Default)]
pub struct Satellite {
    /// The satellite's domain: a production instance's Frontend API is then `clerk.<domain>`
    /// (unless a proxy URL is set). A satellite needs this or a proxy URL.
    pub domain: Option<String>,
    /// The primary's sign-in page, absolute and on another origin; required in development.
    pub sign_in_url: Option<String>,
    /// Sync on a first visit even without any Clerk cookie.
    pub auto_sync: bool,
}

/// Shared, cheap to clone.
#[derive(Debug, Clone)]
pub struct Clerk {
    opts: Arc<ClerkOptions>,
    /// Computed once: SHA-1 of the publishable key, and the suffixed cookie names.
    suffix: Arc<str>,
    names: Arc<SuffixedNames>,
    /// The organization-sync patterns, compiled once (an invalid one fails every request, as
    /// the SDK's matcher throws).
    org_sync: Arc<Option<Result<OrgSyncMatcher, String>>>,
    /// Handshake payloads by nonce, and the budget for fetching them.
    nonces: Arc<nonces::NonceCache>,
    /// Session-token signatures already verified (see [`VerifiedSignatures`]).
    signatures: Arc<VerifiedSignatures>,
}

/// Not a state but a refusal to decide (the SDK throws, i.e. a 500).
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// A development instance got a handshake token it cannot verify: as the SDK's
    /// `handleTokenVerificationErrorInDevelopment`, a refusal whose message (its `Display`, the
    /// SDK's words) tells the developer what to do, e.g. clear cookies after switching keys.
    #[error("{}", handshake_in_development_message(.0))]
    HandshakeInDevelopment(TokenError),
    /// The SDK's satellite assertions, checked per request as it does.
    #[error("Clerk: {0}")]
    SatelliteMisconfigured(&'static str),
    /// A verified header token whose `fea` claim cannot be split by scope: the SDK signs the
    /// request in and then throws when the auth object is built.
    #[error("Clerk: the token's fea claim has an element without a scope")]
    MalformedFeatures,
    #[error("Clerk: organization sync: {0}")]
    InvalidOrganizationPattern(String),
    /// A handshake nonce came back but the budget for fetching payloads from the Backend API is
    /// spent ([`HandshakeNoncePolicy`]): not decided, retry after the given time (an app answers
    /// 503 with `Retry-After`). The payload was not fetched, so the same request can succeed then.
    #[error("Clerk: too many handshake payload fetches; retry in {} s", retry_after_secs(.retry_after))]
    HandshakeBudgetExhausted { retry_after: Duration },
}

impl AuthenticateError {
    /// When a retry may succeed: set for [`AuthenticateError::HandshakeBudgetExhausted`].
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AuthenticateError::HandshakeBudgetExhausted { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Whole seconds, rounded up (a `Retry-After` value), at least 1.
pub fn retry_after_secs(d: &Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The message `handleTokenVerificationErrorInDevelopment` throws: its own for a bad signature,
/// else the error's `getFullMessage()` (no token carrier is set on this path).
fn handshake_in_development_message(e: &TokenError) -> String {
    if e.reason == TokenErrorReason::TokenInvalidSignature {
        return "Clerk: Handshake token verification failed due to an invalid signature. If you have switched Clerk keys locally, clear your cookies and try again.".into();
    }
    format!(
        "Clerk: Handshake token verification failed: {} (reason={}, token-carrier=undefined).",
        e.message,
        e.reason.as_str()
    )
}

/// `isMachineJwt(token) || hasNonSessionJwtCategory(token)`: validly signed by the instance but
/// not a session token.
fn is_wrong_token_type(jwt: &DecodedJwt) -> bool {
    jwt.is_machine_token() || jwt.cat().is_some_and(|c| c != CAT_SESSION && c != CAT_IGNORE)
}

impl Clerk {
    pub fn new(opts: ClerkOptions) -> Self {
        let suffix: Arc<str> = opts.publishable_key.cookie_suffix().into();
        let names = Arc::new(SuffixedNames::new(&suffix));
        let org_sync = Arc::new(opts.organization_sync.as_ref().map(OrganizationSync::compile));
        let nonces = Arc::new(nonces::NonceCache::new(HandshakeNoncePolicy::default()));
        let signatures = Arc::new(VerifiedSignatures::default());
        Self { opts: Arc::new(opts), suffix, names, org_sync, nonces, signatures }
    }
    /// Replaces the verified-signature cache with one of at most `capacity` entries (0: every
    /// signature is verified; default [`crate::signatures::DEFAULT_CAPACITY`]).
    pub fn with_verified_signature_capacity(mut self, capacity: usize) -> Self {
        self.signatures = Arc::new(VerifiedSignatures::new(capacity));
        self
    }
    /// The verified-signature cache, for its counters.
    pub fn verified_signatures(&self) -> &VerifiedSignatures {
        &self.signatures
    }
    /// Replaces the default bounds on handshake payload fetches (a fresh cache and budget).
    pub fn with_handshake_nonce_policy(mut self, policy: HandshakeNoncePolicy) -> Self {
        self.nonces = Arc::new(nonces::NonceCache::new(policy));
        self
    }
    pub fn options(&self) -> &ClerkOptions {
        &self.opts
    }
    pub fn api(&self) -> Option<&BackendApi> {
        self.opts.api.as_ref()
    }

    /// `authenticateRequest`: the assertions, then the header token, else the cookies.
    pub async fn authenticate_request(&self, parts: &Parts) -> Result<RequestState, AuthenticateError> {
        if let Some(satellite) = &self.opts.satellite {
            self.assert_satellite(satellite, &parts.headers)?;
        }
        if let Some(Err(e)) = self.org_sync.as_ref() {
            return Err(AuthenticateError::InvalidOrganizationPattern(e.clone()));
        }
        // Header tokens win and need neither cookies nor the URL unless verification fails.
        if let Some(token) = parse_authorization_header(&parts.headers) {
            return self.authenticate_request_with_token_in_header(parts, token).await;
        }
        let ctx = self.create_authenticate_context(parts);
        self.authenticate_request_with_token_in_cookie(&ctx).await
    }

    /// The session a request's session token names, with everything verified but the token's
    /// lifetime: sign-out must end the Clerk session even when the 60-second token has expired
    /// (a POST is never refreshed). `None` when there is no token this instance signed.
    pub async fn session_to_end(&self, parts: &Parts) -> Option<String> {
        self.session_to_end_within(parts, Duration::from_secs(366 * 86_400)).await
    }

    /// [`Clerk::session_to_end`] for a token expired at most `max_expired` ago: an older one
    /// cannot name a live session (Clerk sessions last days), and honouring it would let
    /// anyone holding an old token make us call the Backend API.
    pub async fn session_to_end_within(&self, parts: &Parts, max_expired: Duration) -> Option<String> {
        let token = match parse_authorization_header(&parts.headers) {
            Some(t) => t.to_string(),
            None => self.create_authenticate_context(parts).session_cookie?,
        };
        let lifetime_ignored = VerifyOptions { clock_skew: max_expired, ..self.opts.verify.clone() };
        let jwt = self.verified(&token, &lifetime_ignored).await.ok().filter(|j| !is_wrong_token_type(j))?;
        jwt.claims().sid.str().map(std::borrow::Cow::into_owned)
    }

    /// Decode, category guards, key, verify. `Err` carries the SDK's token error reason.
    pub async fn verify_session_token(&self, token: &str, verify: &VerifyOptions) -> Result<Value, TokenError> {
        Ok(self.verified(token, verify).await?.into_payload())
    }

    async fn verified(&self, token: &str, verify: &VerifyOptions) -> Result<DecodedJwt, TokenError> {
        let jwt = decode_jwt(token)?;
        self.verify_jwt(&jwt, verify).await?;
        Ok(jwt)
    }

    /// `verifyToken` on a decoded token.
    async fn verify_jwt(&self, jwt: &DecodedJwt, verify: &VerifyOptions) -> Result<(), TokenError> {
        reject_m2m_category(jwt)?;
        // Known keys need no await; only a cache miss goes to the Backend API.
        let key = match self.opts.keys.cached_key(jwt.kid().as_deref()) {
            Some(k) => k,
            None => self.opts.keys.key_for(jwt.kid().as_deref()).await?,
        };
        verify_decoded_by(jwt, verify, |alg| self.signatures.signature_valid(jwt, &key, alg))
    }

    async fn authenticate_request_with_token_in_header(
        &self,
        parts: &Parts,
        token: &str,
    ) -> Result<RequestState, AuthenticateError> {
        let result = match decode_jwt(token) {
            Ok(jwt) if is_wrong_token_type(&jwt) => return Ok(signed_out("token-type-mismatch", "")),
            Ok(jwt) => self.verify_jwt(&jwt, &self.opts.verify).await.map(|()| jwt),
            Err(e) => Err(e),
        };
        match result {
            Ok(jwt) if has_malformed_org_features(jwt.claims()) => Err(AuthenticateError::MalformedFeatures),
            Ok(jwt) => Ok(signed_in(&jwt, HeaderMap::new())),
            Err(e) => {
                let ctx = self.create_authenticate_context(parts);
                Ok(self.handle_session_token_error(&ctx, e).await)
            }
        }
    }

    async fn authenticate_request_with_token_in_cookie(
        &self,
        ctx: &Ctx<'_>,
    ) -> Result<RequestState, AuthenticateError> {
        let dev = self.opts.publishable_key.instance_type() == InstanceType::Development;
        // B0: a handshake payload came back from the Frontend API.
        if ctx.handshake_nonce.is_some() || ctx.handshake_token.is_some() {
            match self.resolve_handshake(ctx).await {
                Ok(state) => return Ok(state),
                // handleTokenVerificationErrorInDevelopment: the token travels in the URL, so
                // a bad one means switched keys, not another app's cookie; stop (no loop).
                Err(HandshakeFailure::Token(e)) if dev => return Err(AuthenticateError::HandshakeInDevelopment(e)),
                Err(HandshakeFailure::BudgetExhausted(retry_after)) => {
                    tracing::warn!(?retry_after, "Clerk: handshake payload budget spent; request refused");
                    return Err(AuthenticateError::HandshakeBudgetExhausted { retry_after });
                }
                Err(e) => tracing::error!(error = ?e, "Clerk: unable to resolve handshake"),
            }
        }
        if let Some(state) = self.multi_domain_sync(ctx, dev)? {
            return Ok(state);
        }
        // B3/B4: development instances need the dev-browser token.
        if dev
            && form_urlencoded::parse(ctx.parts.uri.query().unwrap_or("").as_bytes())
                .any(|(k, _)| k == COOKIE_DEV_BROWSER)
        {
            return Ok(self.handle_maybe_handshake_status(ctx, "dev-browser-sync", "", None));
        }
        if dev && ctx.dev_browser.is_none() {
            return Ok(self.handle_maybe_handshake_status(ctx, "dev-browser-missing", "", None));
        }
        let has_active_client = ctx.client_uat != 0.0;
        if ctx.session_cookie.is_none() {
            if !has_active_client {
                return Ok(signed_out("session-token-and-uat-missing", ""));
            }
            return Ok(self.handle_maybe_handshake_status(ctx, "client-uat-but-no-session-token", "", None));
        }
        if !has_active_client {
            return Ok(self.handle_maybe_handshake_status(ctx, "session-token-but-no-client-uat", "", None));
        }
        let jwt = match ctx.session_jwt.as_ref().expect("decoded with the cookie") {
            Ok(j) => j,
            Err(e) => return Ok(signed_out(e.reason.as_str(), &e.message)),
        };
        if is_wrong_token_type(jwt) {
            return Ok(signed_out("token-type-mismatch", ""));
        }
        // `payload.iat < clientUat`: a token without `iat` is never "before" it.
        if js_number_of(jwt.claims().iat).is_some_and(|iat| iat < ctx.client_uat) {
            return Ok(self.handle_maybe_handshake_status(ctx, "session-token-iat-before-client-uat", "", None));
        }
        if let Err(e) = self.verify_jwt(jwt, &self.opts.verify).await {
            return Ok(self.handle_session_token_error(ctx, e).await);
        }
        if !jwt.claims().azp.is_string() {
            warn_missing_azp_once();
        }
        let state = signed_in(jwt, HeaderMap::new());
        if self.should_force_handshake_for_cross_domain(ctx) {
            return Ok(self.handle_maybe_handshake_status(ctx, "primary-domain-cross-origin-sync", "", None));
        }
        if let Some(auth) = state.to_auth() {
            if let Some(hs) = self.handle_maybe_organization_sync_handshake(ctx, auth) {
                return Ok(hs);
            }
        }
        Ok(state)
    }

    async fn handle_session_token_error(&self, ctx: &Ctx<'_>, e: TokenError) -> RequestState {
        let refresh_error: Option<String> = if is_request_eligible_for_refresh(&e, ctx) {
            match self.attempt_refresh(ctx).await {
                Ok(state) => return state,
                Err(reason) => Some(reason),
            }
        } else if *ctx.method != http::Method::GET {
            Some("non-eligible-non-get".into())
        } else if ctx.refresh_cookie.is_none() {
            Some("non-eligible-no-refresh-cookie".into())
        } else {
            None
        };
        // convertTokenVerificationErrorReasonToAuthErrorReason, for the reasons a handshake fixes.
        let reason = match e.reason {
            TokenErrorReason::TokenExpired => {
                format!("session-token-expired-refresh-{}", refresh_error.as_deref().unwrap_or("null"))
            }
            TokenErrorReason::TokenNotActiveYet => "session-token-nbf".into(),
            TokenErrorReason::TokenIatInTheFuture => "session-token-iat-in-the-future".into(),
            other => return signed_out(other.as_str(), &e.message),
        };
        self.handle_maybe_handshake_status(ctx, &reason, &e.message, None)
    }

    /// `handleMaybeHandshakeStatus`: a handshake when the request is eligible (§1.4) and not
    /// looping (§2.6), else signed-out with the same reason. `location` replaces the handshake
    /// redirect (the multi-domain sync flows send the browser elsewhere).
    fn handle_maybe_handshake_status(
        &self,
        ctx: &Ctx<'_>,
        reason: &str,
        message: &str,
        location: Option<&str>,
    ) -> RequestState {
        if !is_handshake_eligible(ctx.method, ctx.headers) {
            return signed_out(reason, message);
        }
        let location = match location {
            Some(l) => l.to_string(),
            None => self.build_redirect_to_handshake(ctx, reason),
        };
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&location) {
            headers.insert(LOCATION, v);
        }
        // Browsers cache 307s of inactive tabs; a cached handshake would loop.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if check_and_track_redirect_loop(ctx, &mut headers) {
            if reason == "satellite-needs-syncing" {
                tracing::warn!(reason, "Clerk: Satellite-domain authentication resulted in an infinite redirect loop. Check that this request is using a configured primary or satellite domain for the production instance.");
            } else {
                tracing::warn!(reason, "Clerk: Refreshing the session token resulted in an infinite redirect loop. This usually means that your Clerk instance keys do not match - make sure to copy the correct publishable and secret keys from the Clerk dashboard.");
            }
            return signed_out(reason, message);
        }
        handshake(reason, message, headers)
    }
}

fn warn_missing_azp_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            "Clerk: session token from cookie is missing the azp claim; set authorized parties to enforce it"
        )
    });
}
