//! The outcome of `authenticate_request`: the SDK's `packages/backend/src/tokens/authStatus.ts`
//! (`signedIn`, `signedOut`, `handshake`, `withDebugHeaders`). Hand-written for SDK parity (the
//! `x-clerk-auth-*` headers and the pending-session rule of `toAuth`).

use http::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};

use crate::auth_object::AuthObject;
use crate::claims::{has_malformed_org_features, Auth};
use crate::verify::{decode_jwt, DecodedJwt};

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
    pub(super) auth: Option<Auth>,
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
    /// The session's `sts` claim when a session token was verified: `"active"`, or `"pending"`
    /// for a session with a task left (e.g. `choose-organization`), which the SDK reports as
    /// `signed-in` with a signed-out auth object. An app routes such a request to its task page.
    pub fn session_status(&self) -> Option<&str> {
        self.auth.as_ref().and_then(|a| a.session_status.as_deref())
    }
    /// A verified session that is `pending` (see [`RequestState::session_status`]).
    pub fn is_pending(&self) -> bool {
        self.auth.as_ref().is_some_and(Auth::is_pending)
    }
    /// The SDK's `toAuth()`, verbatim (see [`AuthObject`]): `None` while handshaking, the
    /// signed-out object when signed out or pending (`treatPendingAsSignedOut` defaults to true).
    pub fn auth_object(&self) -> Option<AuthObject> {
        self.auth_object_with(true)
    }
    /// `toAuth({ treatPendingAsSignedOut })`. Decodes the verified token again: no cost on the
    /// request path unless asked.
    pub fn auth_object_with(&self, treat_pending_as_signed_out: bool) -> Option<AuthObject> {
        match self.status {
            AuthStatus::Handshake => None,
            AuthStatus::SignedOut => Some(AuthObject::signed_out(None)),
            AuthStatus::SignedIn => {
                let claims = decode_jwt(self.token.as_deref()?).ok()?.into_payload();
                let object = AuthObject::signed_in(&claims);
                if treat_pending_as_signed_out && object.session_status() == Some("pending") {
                    return Some(AuthObject::signed_out(Some("pending")));
                }
                Some(object)
            }
        }
    }
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }
}

/// `signedIn` for a verified session token. A v2 token whose `fea` cannot be split by scope is
/// the SDK's `unexpected-error` (its auth object throws).
pub(super) fn signed_in(jwt: &DecodedJwt, headers: HeaderMap) -> RequestState {
    if has_malformed_org_features(jwt.claims()) {
        return signed_out("unexpected-error", "");
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

/// `signedOut`, with the debug headers.
pub(super) fn signed_out(reason: &str, message: &str) -> RequestState {
    let mut headers = HeaderMap::new();
    with_debug_headers(&mut headers, AuthStatus::SignedOut, reason, message);
    RequestState {
        status: AuthStatus::SignedOut,
        reason: Some(reason.to_string()),
        message: message.to_string(),
        headers,
        token: None,
        auth: None,
    }
}

/// `handshake`: the redirect headers plus the debug headers.
pub(super) fn handshake(reason: &str, message: &str, mut headers: HeaderMap) -> RequestState {
    with_debug_headers(&mut headers, AuthStatus::Handshake, reason, message);
    RequestState {
        status: AuthStatus::Handshake,
        reason: Some(reason.to_string()),
        message: message.to_string(),
        headers,
        token: None,
        auth: None,
    }
}

/// `withDebugHeaders`: `x-clerk-auth-status`, `-reason`, and `-message` unless empty.
fn with_debug_headers(h: &mut HeaderMap, status: AuthStatus, reason: &str, message: &str) {
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
