//! The handshake: the SDK's `packages/backend/src/tokens/handshake.ts` (`HandshakeService`):
//! eligibility, the redirect to the Frontend API, the loop counter, and resolving the payload
//! that comes back. Hand-written for SDK parity (parameter order, directives, error cases).

use http::header::{HeaderMap, HeaderValue, ACCEPT, CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::request::Parts;
use http::Method;
use serde_json::Value;
use std::time::Duration;

use super::js::{delete_query_params, js_number_to_string};
use super::sources::{
    cookie_name_value, origin_of, Ctx, COOKIE_DEV_BROWSER, COOKIE_HANDSHAKE, COOKIE_HANDSHAKE_NONCE,
    COOKIE_REDIRECT_COUNT, COOKIE_SESSION,
};
use super::status::{signed_in, signed_out, RequestState};
use super::Clerk;
use crate::bapi::API_VERSION;
use crate::categories::{CAT_IGNORE, CAT_SESSION};
use crate::keys::InstanceType;
use crate::verify::{decode_jwt, TokenError, TokenErrorReason, VerifyOptions};

/// Why a handshake payload could not be used: its own token was bad (development: refuse), the
/// session token inside it was (logged, then normal evaluation), or the nonce could not be
/// fetched within the Backend API budget (refused).
#[derive(Debug)]
#[allow(dead_code)] // the errors are read through Debug in the log line
pub(super) enum HandshakeFailure {
    Token(TokenError),
    Other(TokenError),
    BudgetExhausted(Duration),
}

/// `isRequestEligibleForHandshake` (§1.4): only document GETs may be redirected.
pub fn is_handshake_eligible(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET {
        return false;
    }
    match headers.get("sec-fetch-dest").and_then(|v| v.to_str().ok()).filter(|d| !d.is_empty()) {
        Some(d) => d == "document" || d == "iframe",
        None => headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.starts_with("text/html")),
    }
}

/// `checkAndTrackRedirectLoop`: `true` on a loop; otherwise the incremented counter cookie is
/// added to `headers`. The SDK stops at exactly 3; anything at or past it is a loop (fail closed).
pub(super) fn check_and_track_redirect_loop(ctx: &Ctx<'_>, headers: &mut HeaderMap) -> bool {
    if ctx.redirect_count >= 3.0 {
        return true;
    }
    let next = js_number_to_string(ctx.redirect_count + 1.0);
    let counter = format!("{COOKIE_REDIRECT_COUNT}={next}; SameSite=Lax; HttpOnly; Max-Age=2");
    headers.append(SET_COOKIE, HeaderValue::from_str(&counter).expect("ascii"));
    false
}

impl Clerk {
    /// `buildRedirectToHandshake`: the handshake carries the SDK's `sessionToken` (cookie, else
    /// header) and, with organization sync, the organization the URL asks for, whatever the reason.
    pub(super) fn build_redirect_to_handshake(&self, ctx: &Ctx<'_>, reason: &str) -> String {
        let organization_id = match self.org_sync.as_ref() {
            Some(Ok(sync)) => sync.target(ctx.url().path()).map(|t| t.activation_value()),
            _ => None,
        };
        self.handshake_url(
            ctx.url(),
            reason,
            ctx.suffixed,
            ctx.session_token(),
            ctx.dev_browser.as_deref(),
            organization_id.as_deref(),
        )
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
        // removeDevBrowserFromURL
        let redirect = delete_query_params(app_url, &[COOKIE_DEV_BROWSER, "__dev_session"]);
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
        let ctx = self.create_authenticate_context(parts);
        self.handshake_url(
            return_to,
            "active-organization-mismatch",
            ctx.suffixed,
            ctx.session_cookie.as_deref(),
            ctx.dev_browser.as_deref(),
            Some(organization_id),
        )
    }

    /// `getCookiesFromHandshake`: the Set-Cookie directives of the nonce's payload (Backend API)
    /// or of the verified handshake token.
    async fn get_cookies_from_handshake(&self, ctx: &Ctx<'_>) -> Result<Vec<String>, HandshakeFailure> {
        if let Some(nonce) = &ctx.handshake_nonce {
            // One Backend API call per nonce at most, within a global budget (`nonces`).
            let Some(api) = &self.opts.api else { return Ok(Vec::new()) };
            return match self.nonces.directives(api, nonce).await {
                Ok(directives) => Ok(directives.map(|d| d.to_vec()).unwrap_or_default()),
                Err(retry_after) => Err(HandshakeFailure::BudgetExhausted(retry_after)),
            };
        }
        let token = ctx.handshake_token.as_deref().unwrap_or_default();
        self.verify_handshake_token(token).await.map_err(HandshakeFailure::Token)
    }

    /// `resolveHandshake`: apply the directives, strip the handshake from a development URL, and
    /// sign in with the session token among them.
    pub(super) async fn resolve_handshake(&self, ctx: &Ctx<'_>) -> Result<RequestState, HandshakeFailure> {
        let directives = self.get_cookies_from_handshake(ctx).await?;
        let mut headers = HeaderMap::new();
        let mut session_token = None;
        for d in &directives {
            if let Ok(v) = HeaderValue::from_str(d) {
                headers.append(SET_COOKIE, v);
            }
            if let Some((name, value)) = cookie_name_value(d) {
                if name.starts_with(COOKIE_SESSION) {
                    session_token = Some(value);
                }
            }
        }
        headers.insert("access-control-allow-origin", HeaderValue::from_static("null"));
        headers.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
        let dev = self.opts.publishable_key.instance_type() == InstanceType::Development;
        if dev {
            let clean = delete_query_params(
                ctx.url(),
                &[COOKIE_HANDSHAKE, "__clerk_help", COOKIE_DEV_BROWSER, COOKIE_HANDSHAKE_NONCE],
            );
            if let Ok(v) = HeaderValue::from_str(clean.as_str()) {
                headers.insert(LOCATION, v);
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
        }
        let Some(token) = session_token.filter(|t| !t.is_empty()) else {
            let mut s = signed_out("session-token-missing", "");
            for (k, v) in headers.iter() {
                s.headers.append(k.clone(), v.clone());
            }
            return Ok(s);
        };
        match self.verified(&token, &self.opts.verify).await {
            Ok(jwt) => Ok(signed_in(&jwt, headers)),
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
                Ok(signed_in(&jwt, headers))
            }
            Err(e) => Err(HandshakeFailure::Other(e)),
        }
    }

    /// `verifyHandshakeToken`: lighter than session verification (§2.4): typ, alg, cat,
    /// signature only. Messages are the SDK's, its action appended (`getFullMessage`).
    async fn verify_handshake_token(&self, token: &str) -> Result<Vec<String>, TokenError> {
        const ENSURE_CLERK_JWT: &str = "Make sure that this is a valid Clerk-generated JWT.";
        let jwt = decode_jwt(token)?;
        // assertHeaderType
        if jwt.header().typ.is_present() && jwt.typ().as_deref() != Some("JWT") {
            let typ = jwt.header().typ.json().unwrap_or("undefined");
            return Err(TokenError::new(
                TokenErrorReason::TokenInvalid,
                format!("Invalid JWT type {typ}. Expected \"JWT\". {ENSURE_CLERK_JWT}"),
            ));
        }
        // assertHeaderAlgorithm
        let alg = match jwt.alg().as_deref() {
            Some("RS256") => Some(jsonwebtoken::Algorithm::RS256),
            Some("RS384" | "RS512") => None,
            _ => {
                let alg = jwt.header().alg.json().unwrap_or("undefined");
                return Err(TokenError::new(
                    TokenErrorReason::TokenInvalidAlgorithm,
                    format!("Invalid JWT algorithm {alg}. Supported: RS256,RS384,RS512. {ENSURE_CLERK_JWT}"),
                ));
            }
        };
        if let Some(cat) = jwt.cat().as_deref() {
            if cat != CAT_SESSION && cat != CAT_IGNORE {
                return Err(TokenError::new(
                    TokenErrorReason::TokenInvalid,
                    format!("Invalid handshake token category. {ENSURE_CLERK_JWT}"),
                ));
            }
        }
        // Accepted names, but Clerk's keys are RS256 keys: the SDK's key import fails.
        let Some(alg) = alg else {
            return Err(TokenError::new(
                TokenErrorReason::TokenVerificationFailed,
                "Error verifying handshake token: the key is an RS256 key.",
            ));
        };
        let key = self.opts.keys.key_for(jwt.kid().as_deref()).await?;
        if !jwt.signature_valid(&key, alg) {
            return Err(TokenError::new(TokenErrorReason::TokenInvalidSignature, "Handshake signature is invalid."));
        }
        // No `handshake` list: no directives (and so, signed out), as the SDK reads it.
        let list = jwt.payload().get("handshake").and_then(Value::as_array);
        Ok(list.into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect())
    }
}
