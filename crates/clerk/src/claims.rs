//! Session-token claims (v1 and v2) turned into one [`Auth`] (protocol §3.2–3.3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::borrow::Cow;

use crate::verify::{Claims, Field};

/// The v2 `o` claim (active organization), read only when building the auth object.
#[derive(Default, Deserialize)]
#[serde(default)]
struct OrgClaims<'a> {
    #[serde(borrow)]
    id: Field<'a>,
    #[serde(borrow)]
    slg: Field<'a>,
    #[serde(borrow)]
    rol: Field<'a>,
    #[serde(borrow)]
    per: Field<'a>,
    #[serde(borrow)]
    fpm: Field<'a>,
}

/// The token categories, re-exported where they used to live.
pub use crate::categories::{CAT_IGNORE, CAT_M2M, CAT_SESSION, CAT_TEMPLATE};

/// Who is making the request, as established by a verified session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Auth {
    pub user_id: String,
    pub session_id: Option<String>,
    pub session_status: Option<String>,
    pub org: Option<ActiveOrg>,
    /// Features from `fea` (v2), e.g. `o:dashboard`.
    pub features: Vec<String>,
    /// Plans from `pla` (v2), e.g. `u:free`.
    pub plans: Vec<String>,
    pub actor: Option<Value>,
    pub factor_verification_age: Option<[i64; 2]>,
}

/// The organization active in the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveOrg {
    pub id: String,
    pub slug: Option<String>,
    /// Always `org:`-prefixed, e.g. `org:admin`.
    pub role: Option<String>,
    pub permissions: Vec<String>,
}

impl Auth {
    /// Claims → auth object, as the SDK's `signedInAuthObject` does.
    pub fn from_claims(claims: &Value) -> Option<Self> {
        let json = serde_json::to_string(claims).ok()?;
        Self::from_typed(&serde_json::from_str(&json).ok()?)
    }

    /// The same from the typed claims of a decoded token (the request path).
    pub fn from_typed(c: &Claims<'_>) -> Option<Self> {
        let s = |v: Field<'_>| v.str().map(Cow::into_owned);
        let user_id = s(c.sub)?;
        let is_v2 = c.v.f64() == Some(2.0);
        let fea = c.fea.str();
        let org = if is_v2 {
            c.o.object::<OrgClaims>().and_then(|o| {
                let id = s(o.id)?;
                let permissions = org_permissions_v2(fea.as_deref(), o.per.str().as_deref(), o.fpm.str().as_deref());
                Some(ActiveOrg {
                    id,
                    slug: s(o.slg),
                    role: o.rol.str().filter(|r| !r.is_empty()).map(|r| ["org:", &r].concat()),
                    permissions,
                })
            })
        } else {
            s(c.org_id).map(|id| ActiveOrg {
                id,
                slug: s(c.org_slug),
                role: s(c.org_role),
                permissions: c
                    .org_permissions
                    .value()
                    .and_then(|v| match v {
                        Value::Array(a) => Some(a.into_iter().filter_map(|p| p.as_str().map(str::to_string)).collect()),
                        _ => None,
                    })
                    .unwrap_or_default(),
            })
        };
        let fva = c.fva.value().and_then(|v| {
            let a = v.as_array()?;
            Some([a.first()?.as_i64()?, a.get(1)?.as_i64()?])
        });
        Some(Self {
            user_id,
            session_id: s(c.sid),
            session_status: s(c.sts),
            org,
            features: split_list(fea.as_deref()),
            plans: split_list(c.pla.str().as_deref()),
            actor: c.act.value(),
            factor_verification_age: fva,
        })
    }

    /// `sts: pending` sessions are treated as signed out by default (`treatPendingAsSignedOut`).
    pub fn is_pending(&self) -> bool {
        self.session_status.as_deref() == Some("pending")
    }

    pub fn org_id(&self) -> Option<&str> {
        self.org.as_ref().map(|o| o.id.as_str())
    }
    pub fn org_role(&self) -> Option<&str> {
        self.org.as_ref().and_then(|o| o.role.as_deref())
    }
    /// `has({ role })`: needs an active org; both sides `org:`-prefixed (v1 roles may not be).
    pub fn has_role(&self, role: &str) -> bool {
        self.org_role().is_some_and(|mine| prefix_with_org(mine) == prefix_with_org(role))
    }
    /// `has({ permission })`: needs an active org; the asked permission is `org:`-prefixed.
    pub fn has_permission(&self, permission: &str) -> bool {
        let want = prefix_with_org(permission);
        self.org.as_ref().is_some_and(|o| o.permissions.contains(&want))
    }
}

/// The SDK's `prefixWithOrg`: `value.replace(/^(org:)*/, "org:")`.
fn prefix_with_org(value: &str) -> String {
    let mut rest = value;
    while let Some(r) = rest.strip_prefix("org:") {
        rest = r;
    }
    ["org:", rest].concat()
}

/// `fea` elements must each be `scope:name`: the SDK's `splitByScope` throws otherwise, which
/// fails the request (`unexpected-error`) when a v2 token has an active organization.
pub fn has_malformed_org_features(c: &Claims<'_>) -> bool {
    let v2_with_org = c.v.f64() == Some(2.0) && c.o.is_truthy();
    v2_with_org && c.fea.str().is_some_and(|fea| !fea.is_empty() && fea.split(',').any(|f| !f.trim().contains(':')))
}

fn split_list(v: Option<&str>) -> Vec<String> {
    v.map(|s| s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()).unwrap_or_default()
}

/// v2 permissions: pair the org-scoped features of `fea` with the `fpm` masks; bit k of a mask
/// grants `per[k]`. Masks are decimal strings of any size (long division, no overflow).
pub fn org_permissions_v2(fea: Option<&str>, per: Option<&str>, fpm: Option<&str>) -> Vec<String> {
    let (Some(fea), Some(per), Some(fpm)) = (fea, per, fpm) else { return Vec::new() };
    let org_features = fea.split(',').map(str::trim).filter_map(|f| {
        let (scope, name) = f.split_once(':')?;
        matches!(scope, "o" | "ou" | "uo").then_some(name)
    });
    let mut out = Vec::new();
    for (feature, mask) in org_features.zip(fpm.split(',').map(str::trim)) {
        let mask = Mask::parse(mask);
        for (k, perm) in per.split(',').map(str::trim).enumerate() {
            if mask.bit(k) {
                out.push(["org:", feature, ":", perm].concat());
            }
        }
    }
    out
}

/// A non-negative decimal bit mask of any size. Garbage → no bits.
enum Mask {
    /// The common case, without allocating.
    Small(u128),
    /// Past 128 bits: least significant first.
    Large(Vec<bool>),
}

impl Mask {
    fn parse(decimal: &str) -> Self {
        if decimal.is_empty() || !decimal.bytes().all(|b| b.is_ascii_digit()) {
            return Mask::Small(0);
        }
        match decimal.parse::<u128>() {
            Ok(n) => Mask::Small(n),
            Err(_) => Mask::Large(decimal_to_bits_lsb_first(decimal)),
        }
    }
    fn bit(&self, k: usize) -> bool {
        match self {
            Mask::Small(n) => k < 128 && (n >> k) & 1 == 1,
            Mask::Large(bits) => bits.get(k).copied().unwrap_or(false),
        }
    }
}

/// Bits of a decimal string of ASCII digits, least significant first (long division by 2).
fn decimal_to_bits_lsb_first(decimal: &str) -> Vec<bool> {
    let mut digits: Vec<u8> = decimal.bytes().map(|b| b - b'0').collect();
    let mut bits = Vec::new();
    while digits.iter().any(|&d| d != 0) {
        let mut rem = 0u8;
        for d in digits.iter_mut() {
            let cur = rem * 10 + *d;
            *d = cur / 2;
            rem = cur % 2;
        }
        bits.push(rem == 1);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(v: Vec<String>) -> std::collections::BTreeSet<String> {
        v.into_iter().collect()
    }
    fn strs(v: &[&str]) -> std::collections::BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fpm_vectors_from_protocol_appendix() {
        let row2 = ["org:impersonation:read", "org:memberships:read", "org:memberships:manage"];
        let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
            (
                "o:dashboard,o:teams",
                "manage,read",
                "3,2",
                vec!["org:dashboard:manage", "org:dashboard:read", "org:teams:read"],
            ),
            ("o:impersonation,o:memberships", "read,manage", "1,3", row2.to_vec()),
            ("o:impersonation", "read,manage", "3", vec!["org:impersonation:read", "org:impersonation:manage"]),
            ("o:impersonation,o:memberships,o:feature3", "read,manage", "1,3,0", row2.to_vec()),
            (
                "uo:impersonation,o:memberships,uo:feature3",
                "read,manage",
                "1,3,1",
                [&row2[..], &["org:feature3:read"]].concat(),
            ),
        ];
        for (fea, per, fpm, want) in cases {
            assert_eq!(set(org_permissions_v2(Some(fea), Some(per), Some(fpm))), strs(&want), "{fea} {per} {fpm}");
        }
        assert!(org_permissions_v2(Some("o:a"), None, Some("1")).is_empty());
        assert!(org_permissions_v2(Some("o:a"), Some("x"), None).is_empty());
    }

    #[test]
    fn order_is_feature_major() {
        assert_eq!(
            org_permissions_v2(Some("o:dashboard,o:teams"), Some("manage,read"), Some("3,2")),
            vec!["org:dashboard:manage", "org:dashboard:read", "org:teams:read"]
        );
    }

    #[test]
    fn masks_beyond_64_bits() {
        // 2^70 + 1: bits 0 and 70.
        let perms: Vec<String> = (0..71).map(|i| format!("p{i}")).collect();
        let got = org_permissions_v2(Some("o:f"), Some(&perms.join(",")), Some("1180591620717411303425"));
        assert_eq!(got, vec!["org:f:p0", "org:f:p70"]);
        // 2^53 + 1 would lose its low bit in a float.
        let got = org_permissions_v2(Some("o:f"), Some(&perms.join(",")), Some("9007199254740993"));
        assert_eq!(got, vec!["org:f:p0", "org:f:p53"]);
    }

    #[test]
    fn masks_beyond_128_bits() {
        // 2^130 + 2^127 + 1 does not fit a u128: the long-division path; 2^127 + 1 does.
        let perms: Vec<String> = (0..131).map(|i| format!("p{i}")).collect();
        let got =
            org_permissions_v2(Some("o:f"), Some(&perms.join(",")), Some("1531270651144223085585185733442956951553"));
        assert_eq!(got, vec!["org:f:p0", "org:f:p127", "org:f:p130"]);
        let got =
            org_permissions_v2(Some("o:f"), Some(&perms.join(",")), Some("170141183460469231731687303715884105729"));
        assert_eq!(got, vec!["org:f:p0", "org:f:p127"]);
        for garbage in ["", "-1", "+3", "1e3", "0x3"] {
            assert!(org_permissions_v2(Some("o:f"), Some("a,b"), Some(garbage)).is_empty(), "{garbage:?}");
        }
    }

    #[test]
    fn v1_and_v2_claims() {
        let v1 = json!({"sub":"user_1","sid":"sess_1","org_id":"org_1","org_slug":"acme","org_role":"org:admin","org_permissions":["org:x:y"]});
        let a = Auth::from_claims(&v1).unwrap();
        assert_eq!(a.org.as_ref().unwrap().role.as_deref(), Some("org:admin"));
        assert!(a.has_permission("x:y") && a.has_role("admin"));
        let v2 = json!({"sub":"user_1","sid":"sess_1","v":2,"fea":"o:dashboard,o:teams","o":{"id":"org_1","slg":"acme","rol":"admin","per":"manage,read","fpm":"3,2"}});
        let a = Auth::from_claims(&v2).unwrap();
        let org = a.org.clone().unwrap();
        assert_eq!(
            (org.id.as_str(), org.slug.as_deref(), org.role.as_deref()),
            ("org_1", Some("acme"), Some("org:admin"))
        );
        assert_eq!(org.permissions, vec!["org:dashboard:manage", "org:dashboard:read", "org:teams:read"]);
        // v2 without `o`: no org even if v1-style claims are present.
        let v2_no_org = json!({"sub":"user_1","v":2,"org_id":"org_1","fea":"u:x"});
        assert!(Auth::from_claims(&v2_no_org).unwrap().org.is_none());
        assert!(Auth::from_claims(&json!({"sid":"x"})).is_none());
        assert!(Auth::from_claims(&json!({"sub":"user_1","sts":"pending"})).unwrap().is_pending());
    }

    #[test]
    fn role_and_permission_checks_prefix_like_the_sdk() {
        // v1 roles may come unprefixed; both sides are normalised (`prefixWithOrg`).
        let v1 =
            Auth::from_claims(&json!({"sub":"u","org_id":"org_1","org_role":"admin","org_permissions":["org:a:read"]}))
                .unwrap();
        for role in ["admin", "org:admin", "org:org:admin"] {
            assert!(v1.has_role(role), "{role}");
        }
        assert!(!v1.has_role("member") && !v1.has_role("org:member"));
        assert!(v1.has_permission("a:read") && v1.has_permission("org:a:read") && !v1.has_permission("a:manage"));
        let no_org = Auth::from_claims(&json!({"sub":"u"})).unwrap();
        assert!(!no_org.has_role("admin") && !no_org.has_permission("a:read"));
    }
}
