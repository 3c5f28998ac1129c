//! `authenticate_request`: the SDK's decision table (protocol §1.5) over an HTTP request's parts.

use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CACHE_CONTROL, COOKIE, HOST, LOCATION, REFERER,
    SET_COOKIE,
};
use http::request::Parts;
use http::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::bapi::{BackendApi, API_VERSION};
use crate::claims::{Auth, CAT_IGNORE, CAT_SESSION};
use crate::jwks::KeySource;
use crate::keys::{InstanceType, PublishableKey, SecretKey};
use crate::orgsync::{OrgSyncMatcher, OrgSyncTarget, OrganizationSync};
use crate::verify::{
    decode_jwt, reject_m2m_category, verify_decoded, DecodedJwt, TokenError, TokenErrorReason, VerifyOptions,
};

pub const COOKIE_SESSION: &str = "__session";
pub const COOKIE_CLIENT_UAT: &str = "__client_uat";
pub const COOKIE_REFRESH: &str = "__refresh";
pub const COOKIE_DEV_BROWSER: &str = "__clerk_db_jwt";
pub const COOKIE_HANDSHAKE: &str = "__clerk_handshake";
pub const COOKIE_HANDSHAKE_NONCE: &str = "__clerk_handshake_nonce";
pub const COOKIE_REDIRECT_COUNT: &str = "__clerk_redirect_count";
/// Multi-domain sync query parameters (protocol §1.5 B1/B2).
pub const QUERY_SYNCED: &str = "__clerk_synced";
pub const QUERY_REDIRECT_URL: &str = "__clerk_redirect_url";

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
}

#[derive(Debug)]
struct SuffixedNames {
    session: String,
    client_uat: String,
    refresh: String,
    dev_browser: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStatus {
    SignedIn,
    SignedOut,
    Handshake,
}

impl AuthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStatus::SignedIn => "signed-in",
            AuthStatus::SignedOut => "signed-out",
            AuthStatus::Handshake => "handshake",
        }
    }
}

/// The outcome for one request: status, reason, headers to add to the response, and who it is.
#[derive(Debug, Clone)]
pub struct RequestState {
    pub status: AuthStatus,
    pub reason: Option<String>,
    pub message: String,
    /// Response headers to apply: `Location` (handshake), `Set-Cookie`, debug headers.
    pub headers: HeaderMap,
    pub token: Option<String>,
    auth: Option<Auth>,
}

impl RequestState {
    /// The signed-in user; `None` when signed out, handshaking, or the session is `pending`
    /// (the SDK's default `treatPendingAsSignedOut`).
    pub fn to_auth(&self) -> Option<&Auth> {
        self.auth.as_ref().filter(|a| !a.is_pending())
    }
    /// The auth object including pending sessions.
    pub fn auth_including_pending(&self) -> Option<&Auth> {
        self.auth.as_ref()
    }
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }
}

/// Not a state but a refusal to decide (the SDK throws, i.e. a 500).
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("Clerk: handshake token verification failed in development ({0}). If you switched Clerk keys, clear your cookies and try again.")]
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
}

/// Request facts the decision table reads (protocol §1.1).
struct Ctx<'a> {
    method: &'a Method,
    parts: &'a Parts,
    /// Built only when needed (handshake URL, referer check): not on the hot path.
    url_cell: std::sync::OnceLock<url::Url>,
    headers: &'a HeaderMap,
    header_token: Option<String>,
    session_cookie: Option<String>,
    /// The chosen session cookie, decoded once.
    session_jwt: Option<Result<DecodedJwt, TokenError>>,
    client_uat: i64,
    refresh_cookie: Option<String>,
    dev_browser: Option<String>,
    handshake_token: Option<String>,
    handshake_nonce: Option<String>,
    /// `Number(cookie) || 0`, as the SDK reads it.
    redirect_count: f64,
    suffixed: bool,
}

impl Ctx<'_> {
    fn url(&self) -> &url::Url {
        self.url_cell.get_or_init(|| clerk_url(&self.parts.uri, &self.parts.headers))
    }
    /// The SDK's `sessionToken`: the session cookie, else the header token.
    fn session_token(&self) -> Option<&str> {
        self.session_cookie.as_deref().or(self.header_token.as_deref())
    }
}

/// The SDK's `parseAuthorizationHeader`: the value split at single spaces, first two pieces;
/// `Bearer <t>` → `t`, a lone word (or an empty second piece) → that word, other schemes → none.
fn header_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?.trim_matches([' ', '\t']);
    let mut pieces = v.split(' ');
    let scheme = pieces.next().filter(|s| !s.is_empty())?;
    match pieces.next().filter(|t| !t.is_empty()) {
        None => Some(scheme),
        Some(t) if scheme == "Bearer" => Some(t),
        Some(_) => None,
    }
}

/// `searchParams.get(name) || undefined`: the first value of `name`, an empty one being none.
fn query_value(uri: &http::Uri, name: &str) -> Option<String> {
    let query = uri.query().filter(|q| !q.is_empty())?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// JavaScript's `Number.parseInt(v) || 0`: leading whitespace, a sign, digits up to the first
/// other character; nothing parsable is 0.
fn js_parse_int(v: &str) -> i64 {
    let v = v.trim_start();
    let (sign, rest) = match v.as_bytes().first() {
        Some(b'-') => (-1, &v[1..]),
        Some(b'+') => (1, &v[1..]),
        _ => (1, v),
    };
    let digits = rest
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    sign * digits
}

/// A claim as JavaScript's `<` sees it: numbers, `null` as 0, numeric strings; else none (NaN).
fn js_number_of(f: crate::verify::Field<'_>) -> Option<f64> {
    match f.json()? {
        "null" | "false" => Some(0.0),
        "true" => Some(1.0),
        _ if f.is_string() => {
            let s = f.str()?;
            let t = s.trim();
            if t.is_empty() {
                Some(0.0)
            } else {
                t.parse::<f64>().ok().filter(|n| n.is_finite())
            }
        }
        _ => f.f64(),
    }
}

/// JavaScript's `Number(v) || 0` for the redirect counter: the whole (trimmed) string must be a
/// number (decimal, exponent, `0x`/`0o`/`0b`); anything else is 0.
fn js_number(v: &str) -> f64 {
    let v = v.trim();
    let radix = |p: &str, r: u32| v.strip_prefix(p).and_then(|d| u64::from_str_radix(d, r).ok()).map(|n| n as f64);
    let n = radix("0x", 16)
        .or_else(|| radix("0X", 16))
        .or_else(|| radix("0o", 8))
        .or_else(|| radix("0O", 8))
        .or_else(|| radix("0b", 2))
        .or_else(|| radix("0B", 2))
        .or_else(|| {
            let plain = v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
            (plain && !v.is_empty()).then(|| v.parse::<f64>().ok()).flatten()
        })
        .unwrap_or(0.0);
    if n.is_nan() {
        0.0
    } else {
        n
    }
}

impl Clerk {
    pub fn new(opts: ClerkOptions) -> Self {
        let suffix: Arc<str> = opts.publishable_key.cookie_suffix().into();
        let names = Arc::new(SuffixedNames {
            session: format!("{COOKIE_SESSION}_{suffix}"),
            client_uat: format!("{COOKIE_CLIENT_UAT}_{suffix}"),
            refresh: format!("{COOKIE_REFRESH}_{suffix}"),
            dev_browser: format!("{COOKIE_DEV_BROWSER}_{suffix}"),
        });
        let org_sync = Arc::new(opts.organization_sync.as_ref().map(OrganizationSync::compile));
        Self { opts: Arc::new(opts), suffix, names, org_sync }
    }
    pub fn options(&self) -> &ClerkOptions {
        &self.opts
    }
    pub fn api(&self) -> Option<&BackendApi> {
        self.opts.api.as_ref()
    }

    pub async fn authenticate_request(&self, parts: &Parts) -> Result<RequestState, AuthenticateError> {
        if let Some(satellite) = &self.opts.satellite {
            self.check_satellite(satellite, &parts.headers)?;
        }
        if let Some(Err(e)) = self.org_sync.as_ref() {
            return Err(AuthenticateError::InvalidOrganizationPattern(e.clone()));
        }
        // Header tokens win and need neither cookies nor the URL unless verification fails.
        if let Some(token) = header_token(&parts.headers) {
            return self.with_header_token(parts, token).await;
        }
        let ctx = self.context(parts);
        self.with_cookies(&ctx).await
    }

    fn context<'a>(&self, parts: &'a Parts) -> Ctx<'a> {
        let headers = &parts.headers;
        let cookies = cookie_map(headers);
        let (suffixed, unsuffixed_jwt, suffixed_jwt) = self.uses_suffixed_cookies(&cookies);
        // As the SDK reads them, an empty cookie or query value is no value at all.
        let cookie = |name: &str| cookies.get(name).filter(|v| !v.is_empty()).map(|v| v.to_string());
        let pick = |base: &str, suffixed_name: &str| cookie(if suffixed { suffixed_name } else { base });
        let query = |name: &str| query_value(&parts.uri, name);
        let n = &*self.names;
        let session_cookie = pick(COOKIE_SESSION, &n.session);
        let session_jwt = session_cookie.as_deref().map(|t| {
            let reuse = if suffixed { suffixed_jwt } else { unsuffixed_jwt };
            reuse.ok_or(()).or_else(|_| decode_jwt(t))
        });
        Ctx {
            method: &parts.method,
            parts,
            url_cell: std::sync::OnceLock::new(),
            header_token: header_token(headers).map(str::to_string),
            session_cookie,
            session_jwt,
            client_uat: pick(COOKIE_CLIENT_UAT, &n.client_uat).map(|v| js_parse_int(&v)).unwrap_or(0),
            refresh_cookie: cookie(&n.refresh),
            dev_browser: query(COOKIE_DEV_BROWSER).or_else(|| pick(COOKIE_DEV_BROWSER, &n.dev_browser)),
            handshake_token: query(COOKIE_HANDSHAKE).or_else(|| cookie(COOKIE_HANDSHAKE)),
            handshake_nonce: query(COOKIE_HANDSHAKE_NONCE).or_else(|| cookie(COOKIE_HANDSHAKE_NONCE)),
            redirect_count: cookies.get(COOKIE_REDIRECT_COUNT).map(|v| js_number(v)).unwrap_or(0.0),
            suffixed,
            headers,
        }
    }

    fn check_satellite(&self, satellite: &Satellite, headers: &HeaderMap) -> Result<(), AuthenticateError> {
        use AuthenticateError::SatelliteMisconfigured as Misconfigured;
        let development_key = self.opts.secret_key.expose().starts_with("sk_test_");
        if satellite.sign_in_url.is_none() && development_key {
            return Err(Misconfigured("Missing signInUrl. Pass a signInUrl for dev instances if an app is satellite"));
        }
        let origin = headers.get(http::header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| !o.is_empty());
        if let (Some(sign_in), Some(origin)) = (&satellite.sign_in_url, origin) {
            let Ok(sign_in) = url::Url::parse(sign_in) else {
                return Err(Misconfigured("The signInUrl needs to have a absolute url format."));
            };
            if sign_in.origin().ascii_serialization() == origin {
                return Err(Misconfigured(
                    "The signInUrl needs to be on a different origin than your satellite application.",
                ));
            }
        }
        if satellite.domain.is_none() && self.opts.proxy_url.is_none() {
            return Err(Misconfigured(
                "Missing domain and proxyUrl. A satellite application needs to specify a domain or a proxyUrl",
            ));
        }
        Ok(())
    }

    /// The instance's Frontend API host; a production satellite's is `clerk.<domain>`.
    fn frontend_api_host(&self) -> std::borrow::Cow<'_, str> {
        let pk = &self.opts.publishable_key;
        match self.opts.satellite.as_ref().and_then(|s| s.domain.as_deref()) {
            Some(domain) if pk.instance_type() != InstanceType::Development => format!("clerk.{domain}").into(),
            _ => pk.frontend_api().into(),
        }
    }

    /// Which cookie family to read (protocol §1.2, first match wins). Returns the choice and
    /// the session cookies it decoded, so each is decoded once.
    fn uses_suffixed_cookies(&self, cookies: &Cookies<'_>) -> (bool, Option<DecodedJwt>, Option<DecodedJwt>) {
        let get = |name: &str| cookies.get(name).map(|v| v.as_ref()).filter(|v| !v.is_empty());
        let (session_raw, suffixed_raw) = (get(COOKIE_SESSION), get(&self.names.session));
        let session = session_raw.and_then(|t| decode_jwt(t).ok());
        let suffixed_session = suffixed_raw.and_then(|t| decode_jwt(t).ok());
        let (uat, suffixed_uat) = (get(COOKIE_CLIENT_UAT), get(&self.names.client_uat));
        if session_raw.is_some() {
            // tokenHasIssuer, then tokenBelongsToInstance (protocol prefixes removed, exact).
            let iss = session.as_ref().map(|j| j.claims().iss);
            if !iss.is_some_and(|iss| iss.is_truthy()) {
                return (false, session, suffixed_session);
            }
            let belongs = iss
                .and_then(|iss| iss.str())
                .is_some_and(|iss| strip_http_schemes(&iss) == self.frontend_api_host().as_ref());
            if !belongs {
                return (true, session, suffixed_session);
            }
        }
        if suffixed_uat.is_none() && suffixed_raw.is_none() {
            return (false, session, suffixed_session);
        }
        // `payload.iat || 0`; a missing cookie is not "0" (the SDK compares strings).
        let iat = |j: &Option<DecodedJwt>| j.as_ref().and_then(|j| j.claims().iat.f64()).unwrap_or(0.0);
        let zero = |v: Option<&str>| v == Some("0");
        if !zero(suffixed_uat) && !zero(uat) && iat(&session) > iat(&suffixed_session) {
            return (false, session, suffixed_session);
        }
        if zero(suffixed_uat) && !zero(uat) {
            return (false, session, suffixed_session);
        }
        if self.opts.publishable_key.instance_type() != InstanceType::Production && !zero(suffixed_uat) && zero(uat) {
            let now = (crate::verify::now_ms() / 1000) as f64;
            let expired = suffixed_session.as_ref().and_then(|j| j.claims().exp.f64()).is_some_and(|exp| exp <= now);
            if expired {
                return (false, session, suffixed_session);
            }
        }
        if suffixed_uat.is_none() && suffixed_raw.is_some() {
            return (false, session, suffixed_session);
        }
        (true, session, suffixed_session)
    }

    /// The session a request's session token names, with everything verified but the token's
    /// lifetime: sign-out must end the Clerk session even when the 60-second token has expired
    /// (a POST is never refreshed). `None` when there is no token this instance signed.
    pub async fn session_to_end(&self, parts: &Parts) -> Option<String> {
        let token = match header_token(&parts.headers) {
            Some(t) => t.to_string(),
            None => self.context(parts).session_cookie?,
        };
        // Any token a session could still be alive behind (Clerk sessions last days, not years).
        let lifetime_ignored =
            VerifyOptions { clock_skew: Duration::from_secs(366 * 86_400), ..self.opts.verify.clone() };
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

    async fn verify_jwt(&self, jwt: &DecodedJwt, verify: &VerifyOptions) -> Result<(), TokenError> {
        reject_m2m_category(jwt)?;
        // Known keys need no await; only a cache miss goes to the Backend API.
        let key = match self.opts.keys.cached_key(jwt.kid().as_deref()) {
            Some(k) => k,
            None => self.opts.keys.key_for(jwt.kid().as_deref()).await?,
        };
        verify_decoded(jwt, &key, verify)
    }

    async fn with_header_token(&self, parts: &Parts, token: &str) -> Result<RequestState, AuthenticateError> {
        let result = match decode_jwt(token) {
            Ok(jwt) if is_wrong_token_type(&jwt) => return Ok(self.signed_out("token-type-mismatch", "")),
            Ok(jwt) => self.verify_jwt(&jwt, &self.opts.verify).await.map(|()| jwt),
            Err(e) => Err(e),
        };
        match result {
            Ok(jwt) if crate::claims::has_malformed_org_features(jwt.claims()) => {
                Err(AuthenticateError::MalformedFeatures)
            }
            Ok(jwt) => Ok(self.signed_in(&jwt, HeaderMap::new())),
            Err(e) => {
                let ctx = self.context(parts);
                Ok(self.handle_token_error(&ctx, e).await)
            }
        }
    }

    async fn with_cookies(&self, ctx: &Ctx<'_>) -> Result<RequestState, AuthenticateError> {
        let dev = self.opts.publishable_key.instance_type() == InstanceType::Development;
        // B0: a handshake payload came back from the Frontend API.
        if ctx.handshake_nonce.is_some() || ctx.handshake_token.is_some() {
            match self.resolve_handshake(ctx).await {
                Ok(state) => return Ok(state),
                Err(HandshakeFailure::Token(e)) if dev => return Err(AuthenticateError::HandshakeInDevelopment(e)),
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
            return Ok(self.maybe_handshake(ctx, "dev-browser-sync", ""));
        }
        if dev && ctx.dev_browser.is_none() {
            return Ok(self.maybe_handshake(ctx, "dev-browser-missing", ""));
        }
        let has_uat = ctx.client_uat != 0;
        if ctx.session_cookie.is_none() {
            if !has_uat {
                return Ok(self.signed_out("session-token-and-uat-missing", ""));
            }
            return Ok(self.maybe_handshake(ctx, "client-uat-but-no-session-token", ""));
        }
        if !has_uat {
            return Ok(self.maybe_handshake(ctx, "session-token-but-no-client-uat", ""));
        }
        let jwt = match ctx.session_jwt.as_ref().expect("decoded with the cookie") {
            Ok(j) => j,
            Err(e) => return Ok(self.signed_out(e.reason.as_str(), &e.message)),
        };
        if is_wrong_token_type(jwt) {
            return Ok(self.signed_out("token-type-mismatch", ""));
        }
        // `payload.iat < clientUat`: a token without `iat` is never "before" it.
        if js_number_of(jwt.claims().iat).is_some_and(|iat| iat < ctx.client_uat as f64) {
            return Ok(self.maybe_handshake(ctx, "session-token-iat-before-client-uat", ""));
        }
        if let Err(e) = self.verify_jwt(jwt, &self.opts.verify).await {
            return Ok(self.handle_token_error(ctx, e).await);
        }
        if !jwt.claims().azp.is_string() {
            warn_missing_azp_once();
        }
        let state = self.signed_in(jwt, HeaderMap::new());
        // B13: on the primary, a document navigation from a foreign site re-syncs once with the Frontend API.
        if self.opts.satellite.is_none()
            && ctx.method == Method::GET
            && sec_fetch_dest(ctx) == Some("document")
            && ctx.redirect_count == 0.0
            && self.is_cross_origin_referer(ctx)
        {
            return Ok(self.maybe_handshake(ctx, "primary-domain-cross-origin-sync", ""));
        }
        // B14: organization sync.
        if let (Some(Ok(sync)), Some(auth)) = (self.org_sync.as_ref(), state.to_auth()) {
            if let Some(target) = sync.target(ctx.url().path()) {
                let mismatch = match &target {
                    OrgSyncTarget::OrganizationId(id) => auth.org_id() != Some(id.as_str()),
                    OrgSyncTarget::OrganizationSlug(slug) => {
                        auth.org.as_ref().and_then(|o| o.slug.as_deref()) != Some(slug.as_str())
                    }
                    OrgSyncTarget::PersonalAccount => auth.org.is_some(),
                };
                if mismatch {
                    // Past the loop guard the request is served with the current organization;
                    // the page handles the mismatch (e.g. a 404).
                    if ctx.redirect_count >= 3.0 {
                        tracing::warn!("Clerk: Organization activation handshake loop detected. This is likely due to an invalid organization ID or slug. Skipping organization activation.");
                    } else {
                        let hs = self.maybe_handshake(ctx, "active-organization-mismatch", "");
                        if hs.status == AuthStatus::Handshake {
                            return Ok(hs);
                        }
                    }
                }
            }
        }
        Ok(state)
    }

    /// B1: a satellite's document GETs take the session from the primary domain (a handshake in
    /// production, the primary's sign-in page in development). B2: a development primary sends
    /// a syncing satellite back with the dev-browser token.
    fn multi_domain_sync(&self, ctx: &Ctx<'_>, dev: bool) -> Result<Option<RequestState>, AuthenticateError> {
        let query = |name: &str| query_value(&ctx.parts.uri, name);
        if let Some(satellite) = &self.opts.satellite {
            let eligible = *ctx.method == Method::GET && sec_fetch_dest(ctx) == Some("document");
            let synced = query(QUERY_SYNCED);
            let needs_sync = synced.as_deref() == Some("false");
            if !eligible || synced.as_deref() == Some("true") {
                return Ok(None);
            }
            let has_cookies = ctx.session_cookie.is_some() || ctx.client_uat != 0;
            if !satellite.auto_sync && !has_cookies && !needs_sync {
                return Ok(Some(self.signed_out("session-token-and-uat-missing", "")));
            }
            if has_cookies && !needs_sync {
                return Ok(None);
            }
            const REASON: &str = "satellite-needs-syncing";
            if !dev {
                return Ok(Some(self.maybe_handshake(ctx, REASON, "")));
            }
            // The SDK throws here on a sign-in URL that is missing or not absolute.
            let mut to = satellite.sign_in_url.as_deref().and_then(|u| url::Url::parse(u).ok()).ok_or(
                AuthenticateError::SatelliteMisconfigured("The signInUrl needs to have a absolute url format."),
            )?;
            to.query_pairs_mut().append_pair(QUERY_REDIRECT_URL, ctx.url().as_str());
            return Ok(Some(self.maybe_redirect(ctx, REASON, "", to.as_str())));
        }
        if !dev {
            return Ok(None);
        }
        let Some(back) = query(QUERY_REDIRECT_URL) else {
            return Ok(None);
        };
        // The SDK sends the browser (and its dev-browser token) to any URL given here; we only
        // follow it to an authorized party, i.e. one of this instance's own apps (fail closed).
        let Some(mut back) = url::Url::parse(&back).ok().filter(|u| {
            let origin = u.origin().ascii_serialization();
            self.opts.verify.authorized_parties.iter().any(|p| p.trim_end_matches('/') == origin)
        }) else {
            tracing::warn!(url = %back, "Clerk: ignoring a satellite sync back to an unauthorized origin");
            return Ok(None);
        };
        if let Some(db) = &ctx.dev_browser {
            back.query_pairs_mut().append_pair(COOKIE_DEV_BROWSER, db);
        }
        set_query_param(&mut back, QUERY_SYNCED, "true");
        Ok(Some(self.maybe_redirect(ctx, "primary-responds-to-syncing", "", back.as_str())))
    }

    async fn handle_token_error(&self, ctx: &Ctx<'_>, e: TokenError) -> RequestState {
        let refresh_error: Option<String> =
            if e.reason == TokenErrorReason::TokenExpired && ctx.refresh_cookie.is_some() && *ctx.method == Method::GET
            {
                match self.attempt_refresh(ctx).await {
                    Ok(state) => return state,
                    Err(reason) => Some(reason),
                }
            } else if *ctx.method != Method::GET {
                Some("non-eligible-non-get".into())
            } else if ctx.refresh_cookie.is_none() {
                Some("non-eligible-no-refresh-cookie".into())
            } else {
                None
            };
        let reason = match e.reason {
            TokenErrorReason::TokenExpired => {
                format!("session-token-expired-refresh-{}", refresh_error.as_deref().unwrap_or("null"))
            }
            TokenErrorReason::TokenNotActiveYet => "session-token-nbf".into(),
            TokenErrorReason::TokenIatInTheFuture => "session-token-iat-in-the-future".into(),
            other => return self.signed_out(other.as_str(), &e.message),
        };
        self.maybe_handshake(ctx, &reason, &e.message)
    }

    /// §1.6: BAPI `POST /sessions/{sid}/refresh` with the refresh cookie. `Err` = refresh reason.
    async fn attempt_refresh(&self, ctx: &Ctx<'_>) -> Result<RequestState, String> {
        let Some(api) = &self.opts.api else { return Err("missing-api-client".into()) };
        let expired = ctx.session_token().ok_or("missing-session-token")?;
        let jwt = decode_jwt(expired).map_err(|_| "expired-session-token-decode-failed".to_string())?;
        let sid = jwt.claims().sid.str().filter(|s| !s.is_empty()).ok_or("expired-session-token-missing-sid-claim")?;
        let cookies = api
            .refresh_session(
                &sid,
                expired,
                ctx.refresh_cookie.as_deref().unwrap_or_default(),
                &origin_of(ctx.url()),
                ctx.headers,
                ctx.suffixed,
            )
            .await
            .map_err(|e| match e.code() {
                Some("unexpected_error") => "fetch-error".to_string(),
                Some(code) => code.to_string(),
                None => "unexpected-bapi-error".to_string(),
            })?;
        if cookies.is_empty() {
            return Err("unexpected-sdk-error".into());
        }
        let mut headers = HeaderMap::new();
        let mut token = None;
        for c in &cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                headers.append(SET_COOKIE, v);
            }
            if let Some((name, value)) = directive_name_value(c) {
                if name.starts_with(COOKIE_SESSION) {
                    token = Some(value);
                }
            }
        }
        // No session cookie among them: the SDK then verifies an empty token.
        let token = token.ok_or("invalid-session-token")?;
        let jwt = self.verified(&token, &self.opts.verify).await.map_err(|_| "invalid-session-token".to_string())?;
        Ok(self.signed_in(&jwt, headers))
    }

    async fn resolve_handshake(&self, ctx: &Ctx<'_>) -> Result<RequestState, HandshakeFailure> {
        let directives: Vec<String> = if let Some(nonce) = &ctx.handshake_nonce {
            match &self.opts.api {
                Some(api) => match api.handshake_payload(nonce).await {
                    Ok(p) => p.directives,
                    Err(e) => {
                        tracing::error!(error = %e, "Clerk: failed to fetch the handshake payload");
                        Vec::new()
                    }
                },
                None => Vec::new(),
            }
        } else {
            let token = ctx.handshake_token.as_deref().unwrap_or_default();
            self.verify_handshake_token(token).await.map_err(HandshakeFailure::Token)?
        };
        let mut headers = HeaderMap::new();
        let mut session_token = None;
        for d in &directives {
            if let Ok(v) = HeaderValue::from_str(d) {
                headers.append(SET_COOKIE, v);
            }
            if let Some((name, value)) = directive_name_value(d) {
                if name.starts_with(COOKIE_SESSION) {
                    session_token = Some(value);
                }
            }
        }
        headers.insert("access-control-allow-origin", HeaderValue::from_static("null"));
        headers.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
        let dev = self.opts.publishable_key.instance_type() == InstanceType::Development;
        if dev {
            let mut clean = ctx.url().clone();
            let kept: Vec<(String, String)> = ctx
                .url()
                .query_pairs()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_ref(),
                        COOKIE_HANDSHAKE | "__clerk_help" | COOKIE_DEV_BROWSER | COOKIE_HANDSHAKE_NONCE
                    )
                })
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if kept.is_empty() {
                clean.set_query(None);
            } else {
                clean.query_pairs_mut().clear().extend_pairs(kept);
            }
            if let Ok(v) = HeaderValue::from_str(clean.as_str()) {
                headers.insert(LOCATION, v);
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
        }
        let Some(token) = session_token.filter(|t| !t.is_empty()) else {
            let mut s = self.signed_out("session-token-missing", "");
            for (k, v) in headers.iter() {
                s.headers.append(k.clone(), v.clone());
            }
            return Ok(s);
        };
        match self.verified(&token, &self.opts.verify).await {
            Ok(jwt) => Ok(self.signed_in(&jwt, headers)),
            Err(e)
                if dev
                    && matches!(
                        e.reason,
                        TokenErrorReason::TokenExpired
                            | TokenErrorReason::TokenNotActiveYet
                            | TokenErrorReason::TokenIatInTheFuture
                    ) =>
            {
                tracing::warn!(
                    "Clerk: clock skew detected while resolving the handshake; retrying with a one-day tolerance"
                );
                let lenient = VerifyOptions { clock_skew: Duration::from_secs(86_400), ..self.opts.verify.clone() };
                let jwt = self.verified(&token, &lenient).await.map_err(HandshakeFailure::Other)?;
                Ok(self.signed_in(&jwt, headers))
            }
            Err(e) => Err(HandshakeFailure::Other(e)),
        }
    }

    /// Lighter than session verification (§2.4): typ, alg, cat, signature only.
    async fn verify_handshake_token(&self, token: &str) -> Result<Vec<String>, TokenError> {
        let jwt = decode_jwt(token)?;
        if jwt.header().typ.is_present() && jwt.typ().as_deref() != Some("JWT") {
            return Err(TokenError::new(TokenErrorReason::TokenInvalid, "Invalid handshake JWT type."));
        }
        if let Some(cat) = jwt.cat().as_deref() {
            if cat != CAT_SESSION && cat != CAT_IGNORE {
                return Err(TokenError::new(
                    TokenErrorReason::TokenInvalid,
                    "Handshake JWT has a non-session category.",
                ));
            }
        }
        let alg = match jwt.alg().as_deref() {
            Some("RS256") => jsonwebtoken::Algorithm::RS256,
            // Accepted names, but Clerk's keys are RS256 keys: the SDK's key import fails.
            Some("RS384" | "RS512") => {
                return Err(TokenError::new(
                    TokenErrorReason::TokenVerificationFailed,
                    "Error verifying handshake token: the key is an RS256 key.",
                ))
            }
            _ => {
                return Err(TokenError::new(
                    TokenErrorReason::TokenInvalidAlgorithm,
                    "Invalid handshake JWT algorithm.",
                ))
            }
        };
        let key = self.opts.keys.key_for(jwt.kid().as_deref()).await?;
        if !jwt.signature_valid(&key, alg) {
            return Err(TokenError::new(
                TokenErrorReason::TokenInvalidSignature,
                "Handshake JWT signature is invalid.",
            ));
        }
        // No `handshake` list: no directives (and so, signed out), as the SDK reads it.
        let list = jwt.payload().get("handshake").and_then(Value::as_array);
        Ok(list.into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect())
    }

    /// `isCrossOriginReferrer() && !isKnownClerkReferrer()` of the SDK.
    fn is_cross_origin_referer(&self, ctx: &Ctx<'_>) -> bool {
        let Some(referer) = ctx
            .headers
            .get(REFERER)
            .and_then(|v| v.to_str().ok())
            .filter(|r| !r.is_empty())
            .and_then(|r| url::Url::parse(r).ok())
        else {
            return false;
        };
        if referer.origin() == ctx.url().origin() {
            return false;
        }
        !self.is_known_clerk_referer(&referer, ctx.url())
    }

    /// The instance's Frontend API (host, or the proxy URL), the accounts portal derived from
    /// it, or (non-production only) a development accounts-portal host.
    fn is_known_clerk_referer(&self, referer: &url::Url, app_url: &url::Url) -> bool {
        let host = referer.host_str().unwrap_or_default();
        let fapi = match self.opts.proxy_url.as_deref() {
            Some(p) if p.starts_with('/') => format!("{}{p}", origin_of(app_url)),
            Some(p) => p.to_string(),
            None => self.frontend_api_host().into_owned(),
        };
        let fapi_host = if fapi.starts_with("http") {
            url::Url::parse(&fapi).ok().and_then(|u| u.host_str().map(str::to_string))
        } else {
            Some(fapi.clone())
        };
        if fapi_host.as_deref() == Some(host) {
            return true;
        }
        if self.opts.publishable_key.instance_type() != InstanceType::Production {
            const LEGACY: [&str; 3] = [".lcl.dev", ".lclstage.dev", ".lclclerk.com"];
            const CURRENT: [&str; 3] = [".accounts.dev", ".accountsstage.dev", ".accounts.lclclerk.com"];
            let legacy = host.starts_with("accounts.") && LEGACY.iter().any(|s| host.ends_with(s));
            let current = CURRENT.iter().any(|s| host.ends_with(s) && !host.ends_with(&format!(".clerk{s}")));
            if legacy || current {
                return true;
            }
        }
        // buildAccountsBaseUrl: the first `clerk.accountsstage.`, then the first `clerk.accounts.`
        // or `clerk.`, becomes the accounts host.
        let accounts = fapi.replacen("clerk.accountsstage.", "accountsstage.", 1);
        let accounts = match (accounts.find("clerk.accounts."), accounts.find("clerk.")) {
            (Some(i), Some(j)) if i <= j => accounts.replacen("clerk.accounts.", "accounts.", 1),
            (_, Some(_)) => accounts.replacen("clerk.", "accounts.", 1),
            _ => accounts,
        };
        url::Url::parse(&format!("https://{accounts}")).is_ok_and(|u| u.origin() == referer.origin())
    }

    fn signed_in(&self, jwt: &DecodedJwt, headers: HeaderMap) -> RequestState {
        if crate::claims::has_malformed_org_features(jwt.claims()) {
            return self.signed_out("unexpected-error", "");
        }
        RequestState {
            status: AuthStatus::SignedIn,
            reason: None,
            message: String::new(),
            headers,
            token: Some(jwt.token().to_string()),
            auth: Auth::from_typed(jwt.claims()),
        }
    }

    fn signed_out(&self, reason: &str, message: &str) -> RequestState {
        let mut headers = HeaderMap::new();
        debug_headers(&mut headers, AuthStatus::SignedOut, reason, message);
        RequestState {
            status: AuthStatus::SignedOut,
            reason: Some(reason.to_string()),
            message: message.to_string(),
            headers,
            token: None,
            auth: None,
        }
    }

    /// A handshake when the request is eligible (§1.4) and not looping (§2.6), else signed-out
    /// with the same reason.
    /// The handshake carries the SDK's `sessionToken` (cookie, else header) and, with
    /// organization sync, the organization the URL asks for, whatever the reason.
    fn maybe_handshake(&self, ctx: &Ctx<'_>, reason: &str, message: &str) -> RequestState {
        if !is_handshake_eligible(ctx.method, ctx.headers) {
            return self.signed_out(reason, message);
        }
        let organization_id = match self.org_sync.as_ref() {
            Some(Ok(sync)) => sync.target(ctx.url().path()).map(|t| t.activation_value()),
            _ => None,
        };
        let location = self.handshake_url(
            ctx.url(),
            reason,
            ctx.suffixed,
            ctx.session_token(),
            ctx.dev_browser.as_deref(),
            organization_id.as_deref(),
        );
        self.maybe_redirect(ctx, reason, message, &location)
    }

    /// A handshake-status redirect to `location` when eligible and not looping, else signed-out.
    fn maybe_redirect(&self, ctx: &Ctx<'_>, reason: &str, message: &str, location: &str) -> RequestState {
        if !is_handshake_eligible(ctx.method, ctx.headers) {
            return self.signed_out(reason, message);
        }
        // The SDK stops at exactly 3; anything at or past it is a loop (fail closed).
        if ctx.redirect_count >= 3.0 {
            if reason == "satellite-needs-syncing" {
                tracing::warn!(reason, "Clerk: Satellite-domain authentication resulted in an infinite redirect loop. Check that this request is using a configured primary or satellite domain for the production instance.");
            } else {
                tracing::warn!(reason, "Clerk: Refreshing the session token resulted in an infinite redirect loop. This usually means that your Clerk instance keys do not match - make sure to copy the correct publishable and secret keys from the Clerk dashboard.");
            }
            return self.signed_out(reason, message);
        }
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(location) {
            headers.insert(LOCATION, v);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let next = ctx.redirect_count + 1.0;
        // JavaScript prints whole numbers without a fraction.
        let next = if next.fract() == 0.0 && next.abs() < 1e15 { format!("{}", next as i64) } else { next.to_string() };
        let counter = format!("{COOKIE_REDIRECT_COUNT}={next}; SameSite=Lax; HttpOnly; Max-Age=2");
        headers.append(SET_COOKIE, HeaderValue::from_str(&counter).expect("ascii"));
        debug_headers(&mut headers, AuthStatus::Handshake, reason, message);
        RequestState {
            status: AuthStatus::Handshake,
            reason: Some(reason.to_string()),
            message: message.to_string(),
            headers,
            token: None,
            auth: None,
        }
    }

    /// Frontend API base: the proxy URL (absolute, or a path on the app's origin) or `https://<fapi>`.
    pub fn frontend_api_base(&self, app_url: &url::Url) -> String {
        match self.opts.proxy_url.as_deref() {
            Some(p) if p.starts_with('/') => format!("{}{}", origin_of(app_url), p.trim_end_matches('/')),
            Some(p) => p.trim_end_matches('/').to_string(),
            None => format!("https://{}", self.frontend_api_host()),
        }
    }

    /// The handshake URL of §2.1, parameters in the SDK's order.
    pub fn handshake_url(
        &self,
        app_url: &url::Url,
        reason: &str,
        suffixed: bool,
        session: Option<&str>,
        dev_browser: Option<&str>,
        organization_id: Option<&str>,
    ) -> String {
        let mut redirect = app_url.clone();
        let kept: Vec<(String, String)> = app_url
            .query_pairs()
            .filter(|(k, _)| k != COOKIE_DEV_BROWSER && k != "__dev_session")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            redirect.set_query(None);
        } else {
            redirect.query_pairs_mut().clear().extend_pairs(kept);
        }
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("redirect_url", redirect.as_str());
        q.append_pair("__clerk_api_version", API_VERSION);
        q.append_pair("suffixed_cookies", if suffixed { "true" } else { "false" });
        q.append_pair("__clerk_hs_reason", reason);
        q.append_pair("format", "nonce");
        if let Some(t) = session {
            q.append_pair("__session", t);
        }
        if self.opts.publishable_key.instance_type() == InstanceType::Development {
            if let Some(db) = dev_browser {
                q.append_pair(COOKIE_DEV_BROWSER, db);
            }
        }
        if let Some(org) = organization_id {
            q.append_pair("organization_id", org);
        }
        format!("{}/v1/client/handshake?{}", self.frontend_api_base(app_url), q.finish())
    }

    /// A handshake redirect that asks the Frontend API to activate `organization_id` (empty =
    /// none) and come back to `return_to`. For server-side organization switching.
    pub fn activate_organization_url(&self, parts: &Parts, return_to: &url::Url, organization_id: &str) -> String {
        let ctx = self.context(parts);
        self.handshake_url(
            return_to,
            "active-organization-mismatch",
            ctx.suffixed,
            ctx.session_cookie.as_deref(),
            ctx.dev_browser.as_deref(),
            Some(organization_id),
        )
    }

    /// The request URL as Clerk sees it (forwarded headers honoured).
    pub fn request_url(uri: &http::Uri, headers: &HeaderMap) -> url::Url {
        clerk_url(uri, headers)
    }

    /// Names of every Clerk cookie this app may hold (both families), for sign-out.
    pub fn cookie_names(&self) -> Vec<String> {
        let suffix = &*self.suffix;
        let mut names = Vec::new();
        for base in [COOKIE_SESSION, COOKIE_CLIENT_UAT, COOKIE_DEV_BROWSER] {
            names.push(base.to_string());
            names.push(format!("{base}_{suffix}"));
        }
        names.push(format!("{COOKIE_REFRESH}_{suffix}"));
        names
    }
}

/// Why a handshake payload could not be used: its own token was bad (development: refuse), or
/// the session token inside it was (logged, then normal evaluation).
#[derive(Debug)]
#[allow(dead_code)] // the errors are read through Debug in the log line
enum HandshakeFailure {
    Token(TokenError),
    Other(TokenError),
}

fn is_wrong_token_type(jwt: &DecodedJwt) -> bool {
    jwt.is_machine_token() || jwt.cat().is_some_and(|c| c != CAT_SESSION && c != CAT_IGNORE)
}

fn sec_fetch_dest<'a>(ctx: &'a Ctx<'_>) -> Option<&'a str> {
    ctx.headers.get("sec-fetch-dest").and_then(|v| v.to_str().ok())
}

/// §1.4: only document GETs may be redirected.
pub fn is_handshake_eligible(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET {
        return false;
    }
    match headers.get("sec-fetch-dest").and_then(|v| v.to_str().ok()).filter(|d| !d.is_empty()) {
        Some(d) => d == "document" || d == "iframe",
        None => headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.starts_with("text/html")),
    }
}

fn debug_headers(h: &mut HeaderMap, status: AuthStatus, reason: &str, message: &str) {
    h.insert(HeaderName::from_static("x-clerk-auth-status"), HeaderValue::from_static(status.as_str()));
    if let Ok(v) = HeaderValue::from_str(reason) {
        h.insert(HeaderName::from_static("x-clerk-auth-reason"), v);
    }
    let safe: String = message.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { ' ' }).collect();
    // Like the SDK, no message header for an empty message.
    if let Some(v) = Some(safe).filter(|m| !m.is_empty()).and_then(|m| HeaderValue::from_str(&m).ok()) {
        h.insert(HeaderName::from_static("x-clerk-auth-message"), v);
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

/// RFC 6265 split, then percent-decode (the `cookie` npm package's behaviour). First wins.
pub fn parse_cookies(headers: &HeaderMap) -> HashMap<String, String> {
    cookie_map(headers).0.into_iter().map(|(k, v)| (k.to_string(), v.into_owned())).collect()
}

/// A request's cookies, borrowed from the header (no allocation for plain values): this is on
/// the path of every cookie-authenticated request. Requests carry a handful of cookies, so a
/// linear scan beats hashing. Not the `cookie` crate, which copies every pair.
struct Cookies<'a>(Vec<(&'a str, std::borrow::Cow<'a, str>)>);

impl<'a> Cookies<'a> {
    fn get(&self, name: &str) -> Option<&std::borrow::Cow<'a, str>> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

fn cookie_map(headers: &HeaderMap) -> Cookies<'_> {
    // The `cookie` 1.x package the SDK uses: split at `;`, the name at the first `=`, spaces and
    // tabs trimmed (quotes kept), first occurrence wins, `%` escapes decoded when all are valid.
    let mut out: Vec<(&str, std::borrow::Cow<'_, str>)> = Vec::with_capacity(8);
    for v in headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()) {
        for pair in v.split(';') {
            let Some((name, value)) = pair.split_once('=') else { continue };
            let (name, value) = (name.trim_matches([' ', '\t']), value.trim_matches([' ', '\t']));
            let decoded =
                if value.contains('%') { decode_uri_component(value) } else { std::borrow::Cow::Borrowed(value) };
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, decoded));
            }
        }
    }
    Cookies(out)
}

/// `decodeURIComponent`, or the value unchanged when it would throw (a malformed escape or
/// bytes that are not UTF-8).
fn decode_uri_component(value: &str) -> std::borrow::Cow<'_, str> {
    let b = value.as_bytes();
    let well_formed = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return std::borrow::Cow::Borrowed(value);
    }
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|c| std::borrow::Cow::Owned(c.into_owned()))
        .unwrap_or(std::borrow::Cow::Borrowed(value))
}

/// `iss.replace(/https?:\/\//gi, "")`, without allocating per character: it runs on every
/// cookie-authenticated request.
fn strip_http_schemes(iss: &str) -> std::borrow::Cow<'_, str> {
    let at =
        |i: usize, p: &str| iss.as_bytes().get(i..i + p.len()).is_some_and(|b| b.eq_ignore_ascii_case(p.as_bytes()));
    if !(0..iss.len()).any(|i| at(i, "http://") || at(i, "https://")) {
        return std::borrow::Cow::Borrowed(iss);
    }
    let (mut out, mut i) = (String::with_capacity(iss.len()), 0);
    while i < iss.len() {
        if at(i, "https://") {
            i += 8;
        } else if at(i, "http://") {
            i += 7;
        } else {
            let c = iss[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `URLSearchParams.set`: the first `name` takes `value`, later ones go, else it is appended.
fn set_query_param(url: &mut url::Url, name: &str, value: &str) {
    let mut seen = false;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter_map(|(k, v)| match (k == name, seen) {
            (true, true) => None,
            (true, false) => {
                seen = true;
                Some((k.into_owned(), value.to_string()))
            }
            (false, _) => Some((k.into_owned(), v.into_owned())),
        })
        .collect();
    let mut q = url.query_pairs_mut();
    q.clear();
    for (k, v) in &pairs {
        q.append_pair(k, v);
    }
    if !seen {
        q.append_pair(name, value);
    }
}

/// `name=value; attrs…` → (name, value).
fn directive_name_value(d: &str) -> Option<(String, String)> {
    let first = d.split(';').next()?;
    let (n, v) = first.split_once('=')?;
    Some((n.trim().to_string(), v.trim().to_string()))
}

fn origin_of(u: &url::Url) -> String {
    u.origin().ascii_serialization()
}

fn clerk_url(uri: &http::Uri, h: &HeaderMap) -> url::Url {
    let first = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let proto =
        first("x-forwarded-proto").or_else(|| uri.scheme_str().map(str::to_string)).unwrap_or_else(|| "http".into());
    let host = first("x-forwarded-host")
        .or_else(|| h.get(HOST).and_then(|v| v.to_str().ok()).map(str::to_string))
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    url::Url::parse(&format!("{proto}://{host}{path}"))
        .unwrap_or_else(|_| url::Url::parse("http://localhost/").expect("static url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_schemes_are_stripped_like_the_sdks_regex() {
        for (iss, want) in [
            ("https://clerk.example.com", "clerk.example.com"),
            ("HTTP://clerk.example.com/", "clerk.example.com/"),
            ("https://http://x", "x"),
            ("é https://y", "é y"),
            ("clerk.example.com", "clerk.example.com"),
            ("ftp://x", "ftp://x"),
        ] {
            assert_eq!(strip_http_schemes(iss), want, "{iss}");
        }
        assert!(matches!(strip_http_schemes("clerk.example.com"), std::borrow::Cow::Borrowed(_)));
    }
}
