//! The SDK's auth object, verbatim: `signedInAuthObject` / `signedOutAuthObject` of
//! `packages/backend/src/tokens/authObjects.ts` over `__experimental_JWTPayloadToAuthObjectProperties`
//! (`@clerk/shared/jwtPayloadParser`). Hand-written for SDK parity: a member the SDK leaves
//! `undefined` is absent here, one it sets to `null` is `null`, and values are the claims' own
//! JSON (not normalised), so `serde_json::to_value` of an [`AuthObject`] equals the SDK's
//! `JSON.stringify(toAuth())` less its functions (`getToken`, `has`, `debug`).
//!
//! [`Auth`](crate::Auth) stays the typed view the app uses; this is the exact one, e.g. for a
//! `whoami` answer or to tell a pending session (`sessionStatus: "pending"`) from a signed-out one.

use serde::Serialize;
use serde_json::Value;

use crate::claims::org_permissions_v2;

/// `toAuth()` of a session-token request state, as JSON the SDK would print.
///
/// Signed in: `{tokenType: "session_token", sessionClaims, sessionId, sessionStatus, userId,
/// actor, orgId, orgRole, orgSlug, orgPermissions, factorVerificationAge, isAuthenticated: true}`
/// with members the claims lack left out. Signed out (and pending, by default): every member
/// `null` but `sessionStatus` (`"pending"` for a pending session) and `isAuthenticated: false`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthObject {
    pub token_type: &'static str,
    pub session_claims: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Value>,
    pub session_status: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_role: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_slug: Option<Value>,
    /// `null` signed out; absent without an active organization; else the claim's list (v1) or
    /// the permissions decoded from `fea`/`per`/`fpm` (v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_permissions: Option<Value>,
    pub factor_verification_age: Value,
    pub is_authenticated: bool,
}

impl AuthObject {
    /// `signedInAuthObject(…, sessionClaims)` for verified claims.
    pub fn signed_in(claims: &Value) -> Self {
        let claims = &js_numbers(claims.clone());
        let get = |name: &str| claims.get(name).cloned();
        let mut org = OrgMembers::default();
        if claims.get("v").and_then(Value::as_f64) == Some(2.0) {
            // `if (claims.o)`: JavaScript truthiness of an object member.
            if let Some(o) = claims.get("o").filter(|o| truthy(o)) {
                org.id = o.get("id").cloned();
                org.slug = o.get("slg").cloned();
                org.role = o.get("rol").filter(|r| truthy(r)).map(|r| Value::String(format!("org:{}", js_string(r))));
                let perms = org_permissions_v2(as_str(claims.get("fea")), as_str(o.get("per")), as_str(o.get("fpm")));
                org.permissions = Some(Value::from(perms));
            }
        } else {
            org = OrgMembers {
                id: get("org_id"),
                role: get("org_role"),
                slug: get("org_slug"),
                permissions: get("org_permissions"),
            };
        }
        Self {
            token_type: "session_token",
            session_claims: claims.clone(),
            session_id: get("sid"),
            session_status: get("sts").unwrap_or(Value::Null),
            user_id: get("sub"),
            actor: get("act"),
            org_id: org.id,
            org_role: org.role,
            org_slug: org.slug,
            org_permissions: org.permissions,
            factor_verification_age: get("fva").unwrap_or(Value::Null),
            is_authenticated: true,
        }
    }

    /// `signedOutAuthObject(debug, initialSessionStatus)`.
    pub fn signed_out(session_status: Option<&str>) -> Self {
        Self {
            token_type: "session_token",
            session_claims: Value::Null,
            session_id: Some(Value::Null),
            session_status: session_status.map_or(Value::Null, Value::from),
            user_id: Some(Value::Null),
            actor: Some(Value::Null),
            org_id: Some(Value::Null),
            org_role: Some(Value::Null),
            org_slug: Some(Value::Null),
            org_permissions: Some(Value::Null),
            factor_verification_age: Value::Null,
            is_authenticated: false,
        }
    }

    /// `sessionStatus`, e.g. `"active"` or `"pending"` (a session with a task left, such as
    /// choosing an organization).
    pub fn session_status(&self) -> Option<&str> {
        self.session_status.as_str()
    }

    /// The SDK's JSON of this object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("plain JSON")
    }
}

#[derive(Default)]
struct OrgMembers {
    id: Option<Value>,
    role: Option<Value>,
    slug: Option<Value>,
    permissions: Option<Value>,
}

/// JavaScript has one number type: a JSON `2.0` is the number `2` and prints as `2`.
fn js_numbers(v: Value) -> Value {
    const SAFE: f64 = 9_007_199_254_740_991.0;
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= SAFE => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(js_numbers).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, js_numbers(v))).collect()),
        other => other,
    }
}

fn as_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// JavaScript's `String(v)` in a template literal, for the primitives a claim can hold.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            a.iter().map(|e| if e.is_null() { String::new() } else { js_string(e) }).collect::<Vec<_>>().join(",")
        }
        Value::Object(_) => "[object Object]".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_the_claims_lack_are_absent_and_signed_out_ones_null() {
        let v2_no_org =
            AuthObject::signed_in(&json!({"sub": "user_1", "sid": "sess_1", "v": 2, "fea": "u:x"})).to_json();
        assert!(v2_no_org.get("orgPermissions").is_none() && v2_no_org.get("orgId").is_none());
        assert_eq!(v2_no_org["sessionStatus"], Value::Null);
        let v2_org = AuthObject::signed_in(
            &json!({"sub": "u", "v": 2, "fea": "o:a", "o": {"id": "org_1", "rol": "admin", "per": "read", "fpm": "1"}}),
        );
        assert_eq!(v2_org.org_permissions, Some(json!(["org:a:read"])));
        assert_eq!(v2_org.org_role, Some(json!("org:admin")));
        let out = AuthObject::signed_out(Some("pending")).to_json();
        assert_eq!(out["orgPermissions"], Value::Null);
        assert_eq!(out["userId"], Value::Null);
        assert_eq!(out["sessionStatus"], "pending");
        let v2_float = AuthObject::signed_in(&json!({"sub": "u", "v": 2.0, "o": {"id": "org_1"}})).to_json();
        assert_eq!(v2_float["sessionClaims"]["v"], json!(2));
        assert_eq!(v2_float["orgPermissions"], json!([]));
    }
}
