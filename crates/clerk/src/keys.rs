//! Publishable and secret keys (protocol §5) and the cookie suffix (§1.2).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha1::{Digest, Sha1};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceType {
    Development,
    Production,
}

/// A parsed `pk_test_…` / `pk_live_…` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishableKey {
    raw: String,
    instance_type: InstanceType,
    frontend_api: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("publishable key must start with pk_test_ or pk_live_")]
    BadPrefix,
    #[error("publishable key must have exactly three `_`-separated parts")]
    BadShape,
    #[error("publishable key does not decode to a Frontend API host ending in a single `$`")]
    BadHost,
    #[error("secret key must be a non-empty sk_test_… or sk_live_… string")]
    BadSecret,
}

impl PublishableKey {
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        let raw = raw.trim();
        let instance_type = if raw.starts_with("pk_test_") {
            InstanceType::Development
        } else if raw.starts_with("pk_live_") {
            InstanceType::Production
        } else {
            return Err(KeyError::BadPrefix);
        };
        let parts: Vec<&str> = raw.split('_').collect();
        if parts.len() != 3 {
            return Err(KeyError::BadShape);
        }
        let encoded = parts[2];
        // Keys are unpadded in practice, but the SDK's atob accepts both.
        let bytes = STANDARD_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .or_else(|_| STANDARD.decode(encoded))
            .map_err(|_| KeyError::BadHost)?;
        let text = String::from_utf8(bytes).map_err(|_| KeyError::BadHost)?;
        let Some(host) = text.strip_suffix('$') else { return Err(KeyError::BadHost) };
        if host.contains('$') || !host.contains('.') || host.is_empty() {
            return Err(KeyError::BadHost);
        }
        Ok(Self { raw: raw.to_string(), instance_type, frontend_api: host.to_string() })
    }

    /// Build the key Clerk would issue for a Frontend API host (used by the emulator and tests).
    pub fn build(instance_type: InstanceType, frontend_api: &str) -> Self {
        let prefix = match instance_type {
            InstanceType::Development => "pk_test_",
            InstanceType::Production => "pk_live_",
        };
        let raw = format!("{prefix}{}", STANDARD_NO_PAD.encode(format!("{frontend_api}$")));
        Self { raw, instance_type, frontend_api: frontend_api.to_string() }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn instance_type(&self) -> InstanceType {
        self.instance_type
    }
    /// Frontend API host, e.g. `clerk.example.com` (no scheme).
    pub fn frontend_api(&self) -> &str {
        &self.frontend_api
    }
    /// First 8 characters of URL-safe base64 of SHA-1 of the key string.
    pub fn cookie_suffix(&self) -> String {
        let digest = Sha1::digest(self.raw.as_bytes());
        URL_SAFE_NO_PAD.encode(digest)[..8].to_string()
    }
}

/// The Backend API secret key. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        let raw = raw.trim();
        if (raw.starts_with("sk_test_") || raw.starts_with("sk_live_")) && raw.len() > "sk_test_".len() {
            Ok(Self(raw.to_string()))
        } else {
            Err(KeyError::BadSecret)
        }
    }
    /// Only for building the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Constant-time comparison, for servers (the emulator) that check a presented key.
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}
impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sk_***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_appendix_vectors() {
        let cases = [
            ("pk_test_ZXhhbXBsZS5hY2NvdW50cy5kZXYk", "example.accounts.dev", InstanceType::Development, "PXVV4PZn"),
            ("pk_live_Y2xlcmsuZXhhbXBsZS5jb20k", "clerk.example.com", InstanceType::Production, "naoXFJnI"),
            (
                "pk_test_d2VhbHRoeS13YXJ0aG9nLTY5LmNsZXJrLmFjY291bnRzLmRldiQ",
                "wealthy-warthog-69.clerk.accounts.dev",
                InstanceType::Development,
                "-fmUhlAm",
            ),
        ];
        for (pk, host, ty, suffix) in cases {
            let k = PublishableKey::parse(pk).unwrap();
            assert_eq!(k.frontend_api(), host);
            assert_eq!(k.instance_type(), ty);
            assert_eq!(k.cookie_suffix(), suffix, "{pk}");
        }
    }

    #[test]
    fn padded_key_hashes_differently() {
        let k = PublishableKey::parse("pk_test_d2VhbHRoeS13YXJ0aG9nLTY5LmNsZXJrLmFjY291bnRzLmRldiQ=").unwrap();
        assert_eq!(k.cookie_suffix(), "otdiV_Cz");
    }

    #[test]
    fn invalid_keys() {
        assert_eq!(PublishableKey::parse("sk_test_ZXhhbXBsZS5hY2NvdW50cy5kZXYk"), Err(KeyError::BadPrefix));
        assert_eq!(PublishableKey::parse("pk_test_ZXhh_bXBsZS5hY2NvdW50cy5kZXYk"), Err(KeyError::BadShape));
        // "example.accounts.dev" without `$`
        assert_eq!(PublishableKey::parse("pk_test_ZXhhbXBsZS5hY2NvdW50cy5kZXY"), Err(KeyError::BadHost));
        // "example$$"
        let two = format!("pk_test_{}", STANDARD_NO_PAD.encode("exa.mple$$"));
        assert_eq!(PublishableKey::parse(&two), Err(KeyError::BadHost));
        // no dot
        let nodot = format!("pk_live_{}", STANDARD_NO_PAD.encode("localhost$"));
        assert_eq!(PublishableKey::parse(&nodot), Err(KeyError::BadHost));
    }

    #[test]
    fn build_round_trips() {
        let k = PublishableKey::build(InstanceType::Production, "127.0.0.1:3100");
        assert!(k.as_str().starts_with("pk_live_"));
        assert_eq!(PublishableKey::parse(k.as_str()).unwrap(), k);
    }

    #[test]
    fn secret_key_never_printed() {
        let s = SecretKey::parse("sk_test_abcdef").unwrap();
        assert_eq!(format!("{s:?} {s}"), "SecretKey(***) sk_***");
        assert!(s.matches("sk_test_abcdef"));
        assert!(!s.matches("sk_test_abcdeg"));
        assert!(SecretKey::parse("").is_err());
        assert!(SecretKey::parse("pk_test_x").is_err());
    }
}
