//! Keeping a session in step across origins and organizations: satellite domains (the
//! multi-domain sync flows and `assert*` checks), the primary's cross-origin referer re-sync
//! (`isCrossOriginReferrer`, `isKnownClerkReferrer` of `authenticateContext.ts`) and
//! `handleMaybeOrganizationSyncHandshake`, as in the SDK's `packages/backend/src/tokens/request.ts`.
//! Hand-written for SDK parity (which requests sync, and where they are sent).

use http::header::{HeaderMap, ORIGIN, REFERER};
use http::Method;

use super::js::set_query_param;
use super::sources::{origin_of, query_value, Ctx, COOKIE_DEV_BROWSER, QUERY_REDIRECT_URL, QUERY_SYNCED};
use super::status::{signed_out, AuthStatus, RequestState};
use super::{AuthenticateError, Clerk, Satellite};
use crate::claims::Auth;
use crate::keys::InstanceType;
use crate::orgsync::OrgSyncTarget;

impl Clerk {
    /// The SDK's satellite assertions (`assertSignInUrlExists`, `assertSignInUrlFormatAndOrigin`,
    /// `assertProxyUrlOrDomain`), checked per request as it does.
    pub(super) fn assert_satellite(&self, satellite: &Satellite, headers: &HeaderMap) -> Result<(), AuthenticateError> {
        use AuthenticateError::SatelliteMisconfigured as Misconfigured;
        let development_key = self.opts.secret_key.expose().starts_with("sk_test_");
        if satellite.sign_in_url.is_none() && development_key {
            return Err(Misconfigured("Missing signInUrl. Pass a signInUrl for dev instances if an app is satellite"));
        }
        let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| !o.is_empty());
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

    /// The multi-domain sync flows. B1: a satellite's document GETs take the session from the
    /// primary domain (a handshake in production, the primary's sign-in page in development).
    /// B2: a development primary sends a syncing satellite back with the dev-browser token.
    pub(super) fn multi_domain_sync(
        &self,
        ctx: &Ctx<'_>,
        dev: bool,
    ) -> Result<Option<RequestState>, AuthenticateError> {
        let query = |name: &str| query_value(&ctx.parts.uri, name);
        if let Some(satellite) = &self.opts.satellite {
            let eligible = *ctx.method == Method::GET && ctx.sec_fetch_dest() == Some("document");
            let synced = query(QUERY_SYNCED);
            let needs_sync = synced.as_deref() == Some("false");
            if !eligible || synced.as_deref() == Some("true") {
                return Ok(None);
            }
            let has_cookies = ctx.session_cookie.is_some() || ctx.client_uat != 0.0;
            if !satellite.auto_sync && !has_cookies && !needs_sync {
                return Ok(Some(signed_out("session-token-and-uat-missing", "")));
            }
            if has_cookies && !needs_sync {
                return Ok(None);
            }
            const REASON: &str = "satellite-needs-syncing";
            if !dev {
                return Ok(Some(self.handle_maybe_handshake_status(ctx, REASON, "", None)));
            }
            // The SDK throws here on a sign-in URL that is missing or not absolute.
            let mut to = satellite.sign_in_url.as_deref().and_then(|u| url::Url::parse(u).ok()).ok_or(
                AuthenticateError::SatelliteMisconfigured("The signInUrl needs to have a absolute url format."),
            )?;
            to.query_pairs_mut().append_pair(QUERY_REDIRECT_URL, ctx.url().as_str());
            return Ok(Some(self.handle_maybe_handshake_status(ctx, REASON, "", Some(to.as_str()))));
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
        Ok(Some(self.handle_maybe_handshake_status(ctx, "primary-responds-to-syncing", "", Some(back.as_str()))))
    }

    /// B13, `shouldForceHandshakeForCrossDomain`: on the primary, a document navigation from a
    /// foreign site re-syncs once with the Frontend API.
    pub(super) fn should_force_handshake_for_cross_domain(&self, ctx: &Ctx<'_>) -> bool {
        self.opts.satellite.is_none()
            && ctx.method == Method::GET
            && ctx.sec_fetch_dest() == Some("document")
            && ctx.redirect_count == 0.0
            && self.is_cross_origin_referrer(ctx)
    }

    /// `isCrossOriginReferrer() && !isKnownClerkReferrer()` of the SDK.
    fn is_cross_origin_referrer(&self, ctx: &Ctx<'_>) -> bool {
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
        !self.is_known_clerk_referrer(&referer, ctx.url())
    }

    /// The instance's Frontend API (host, or the proxy URL), the accounts portal derived from
    /// it, or (non-production only) a development accounts-portal host.
    fn is_known_clerk_referrer(&self, referer: &url::Url, app_url: &url::Url) -> bool {
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

    /// B14, `handleMaybeOrganizationSyncHandshake`: a handshake when the URL names another
    /// organization than the session's active one.
    pub(super) fn handle_maybe_organization_sync_handshake(&self, ctx: &Ctx<'_>, auth: &Auth) -> Option<RequestState> {
        let Some(Ok(sync)) = self.org_sync.as_ref() else { return None };
        let target = sync.target(ctx.url().path())?;
        let mismatch = match &target {
            OrgSyncTarget::OrganizationId(id) => auth.org_id() != Some(id.as_str()),
            OrgSyncTarget::OrganizationSlug(slug) => {
                auth.org.as_ref().and_then(|o| o.slug.as_deref()) != Some(slug.as_str())
            }
            OrgSyncTarget::PersonalAccount => auth.org.is_some(),
        };
        if !mismatch {
            return None;
        }
        // Past the loop guard the request is served with the current organization; the page
        // handles the mismatch (e.g. a 404).
        if ctx.redirect_count >= 3.0 {
            tracing::warn!("Clerk: Organization activation handshake loop detected. This is likely due to an invalid organization ID or slug. Skipping organization activation.");
            return None;
        }
        let hs = self.handle_maybe_handshake_status(ctx, "active-organization-mismatch", "", None);
        (hs.status == AuthStatus::Handshake).then_some(hs)
    }
}
