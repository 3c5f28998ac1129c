//! Server-side refresh of an expired session token with the `__refresh_<suffix>` cookie
//! (protocol §1.6): `refreshToken`, `attemptRefresh` and `isRequestEligibleForRefresh` of the
//! SDK's `packages/backend/src/tokens/request.ts`. Hand-written for SDK parity (its
//! `RefreshTokenErrorReason` strings end up in the handshake reason).

use http::header::{HeaderMap, HeaderValue, SET_COOKIE};
use http::Method;

use super::sources::{cookie_name_value, origin_of, Ctx, COOKIE_SESSION};
use super::status::{signed_in, RequestState};
use super::Clerk;
use crate::verify::{decode_jwt, TokenError, TokenErrorReason};

/// `isRequestEligibleForRefresh`: an expired token, a refresh cookie, and a GET.
pub(super) fn is_request_eligible_for_refresh(e: &TokenError, ctx: &Ctx<'_>) -> bool {
    e.reason == TokenErrorReason::TokenExpired && ctx.refresh_cookie.is_some() && *ctx.method == Method::GET
}

impl Clerk {
    /// `refreshToken`: BAPI `POST /sessions/{sid}/refresh`. `Ok` = the cookies to set; `Err` =
    /// the refresh reason.
    async fn refresh_token(&self, ctx: &Ctx<'_>) -> Result<Vec<String>, String> {
        let Some(api) = &self.opts.api else { return Err("missing-api-client".into()) };
        let expired = ctx.session_token().ok_or("missing-session-token")?;
        let jwt = decode_jwt(expired).map_err(|_| "expired-session-token-decode-failed".to_string())?;
        let sid = jwt.claims().sid.str().filter(|s| !s.is_empty()).ok_or("expired-session-token-missing-sid-claim")?;
        api.refresh_session(
            &sid,
            expired,
            ctx.refresh_cookie.as_deref().unwrap_or_default(),
            &origin_of(ctx.url()),
            ctx.headers,
            ctx.suffixed,
        )
        .await
        .map_err(|e| match e.code() {
            // The SDK's client turns a fetch that failed (no answer at all) into an
            // `unexpected_error`, as Clerk names its own: both are a fetch error.
            _ if matches!(e, crate::bapi::ApiError::Transport { .. }) => "fetch-error".to_string(),
            Some("unexpected_error") => "fetch-error".to_string(),
            Some(code) => code.to_string(),
            None => "unexpected-bapi-error".to_string(),
        })
    }

    /// `attemptRefresh`: refresh, then verify the new session token. `Err` = the refresh reason.
    pub(super) async fn attempt_refresh(&self, ctx: &Ctx<'_>) -> Result<RequestState, String> {
        let cookies = self.refresh_token(ctx).await?;
        if cookies.is_empty() {
            return Err("unexpected-sdk-error".into());
        }
        let mut headers = HeaderMap::new();
        let mut token = None;
        for c in &cookies {
            if let Ok(v) = HeaderValue::from_str(c) {
                headers.append(SET_COOKIE, v);
            }
            if let Some((name, value)) = cookie_name_value(c) {
                if name.starts_with(COOKIE_SESSION) {
                    token = Some(value);
                }
            }
        }
        // No session cookie among them: the SDK then verifies an empty token.
        let token = token.ok_or("invalid-session-token")?;
        let jwt = self.verified(&token, &self.opts.verify).await.map_err(|_| "invalid-session-token".to_string())?;
        Ok(signed_in(&jwt, headers))
    }
}
