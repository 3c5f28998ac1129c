//! Token signatures this process has already verified (session tokens in `authenticate_request`,
//! any token a service passes to `service_token::verify_token_cached`), so that a token presented again
//! (a session token lives 60 s, and a page or an app sends it with every request) skips the RSA
//! verification, about four fifths of what `authenticate_request` spends on a Bearer token
//! (`scripts/bench`: a token sent again costs ~20 % of one bare RS256 verification, a first one
//! ~120 %).
//!
//! Not in the SDK, which verifies every time; this changes none of its decisions. An entry records
//! that these exact token bytes carry a valid RS256 signature by one key *object*: it is looked up
//! by the SHA-256 of the whole token string (header, payload and signature, as sent) and answers
//! only for that same key object ([`Arc`] identity). The key is still resolved on every request,
//! so a kid the JWKS no longer lists is refused before the cache is asked; a kid whose key
//! changed gets a new object (`jwks::keep_unchanged_keys`), and another instance's key is another
//! object, so the token is verified again. Only a signature that verified is recorded (a forged
//! token is verified, and refused, every time, and cannot fill the cache); a validly signed token
//! that a later check refuses (expired, another `azp`) is recorded too, and refused by that check
//! every time. The header checks before the signature and the claims after it (`exp`, `nbf`,
//! `iat`, `azp`, …) run on every request as before (`verify::verify_decoded_by`). Handshake
//! tokens (used once) do not use it, nor `service_token::verify_token` (the SDK's, verifying
//! every time); a service that is sent one token many times uses `verify_token_cached`.
//!
//! Entries are found by digest, never by comparing token bytes. Whether a request was answered
//! from the cache shows in its timing, which tells only someone who holds the token that it was
//! sent before. Bounded: about `capacity` entries (quick_cache's eviction; its capacity is
//! approximate and it keeps small records of evicted keys), each a 32-byte digest and a weak
//! pointer plus the map's overhead.

use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::verify::DecodedJwt;

/// The default number of entries of [`VerifiedSignatures`] (about a megabyte at most).
pub const DEFAULT_CAPACITY: usize = 10_000;

/// See the module docs. Shared by the clones of one [`crate::Clerk`].
pub struct VerifiedSignatures {
    /// `None`: disabled (capacity 0), every signature is verified.
    cache: Option<quick_cache::sync::Cache<[u8; 32], Weak<DecodingKey>>>,
    capacity: usize,
    hits: AtomicU64,
}

impl VerifiedSignatures {
    /// A cache of at most `capacity` signatures; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        Self {
            cache: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
            capacity,
            hits: AtomicU64::new(0),
        }
    }

    /// The capacity it was made with (0: disabled).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `jwt`'s signature is valid for `key` with `alg`: from the cache when these token
    /// bytes were verified with this key object before, else by RSA verification (recorded if
    /// valid).
    pub(crate) fn signature_valid(&self, jwt: &DecodedJwt, key: &Arc<DecodingKey>, alg: Algorithm) -> bool {
        // Only RS256 reaches the signature step (`verify_decoded_by`), and `alg` is in the hashed
        // header; any other algorithm is verified as it comes, never recorded.
        let Some(cache) = self.cache.as_ref().filter(|_| alg == Algorithm::RS256) else {
            return jwt.signature_valid(key, alg);
        };
        let digest: [u8; 32] = Sha256::digest(jwt.token().as_bytes()).into();
        // A weak pointer keeps the key's allocation (not the key) alive, so its address cannot be
        // reused by another key while the entry exists.
        if cache.get(&digest).is_some_and(|verified_by| std::ptr::eq(verified_by.as_ptr(), Arc::as_ptr(key))) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let valid = jwt.signature_valid(key, alg);
        if valid {
            cache.insert(digest, Arc::downgrade(key));
        }
        valid
    }

    /// Signatures answered from the cache since it was made.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for VerifiedSignatures {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for VerifiedSignatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedSignatures")
            .field("enabled", &self.cache.is_some())
            .field("len", &self.len())
            .field("hits", &self.hits())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::Signer;
    use crate::verify::{decode_jwt, verify_decoded_by, TokenErrorReason, VerifyOptions};
    use serde_json::json;
    use std::time::Duration;

    const INSTANCE_PRIVATE: &str = include_str!("../tests/fixtures/instance-private.pem");
    const INSTANCE_PUBLIC: &str = include_str!("../tests/fixtures/instance-public.pem");
    const OTHER_PRIVATE: &str = include_str!("../tests/fixtures/other-private.pem");

    fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }

    fn token_signed_with(private_pem: &str, exp_in: i64) -> String {
        let t = now();
        Signer::from_pem("ins_test", private_pem)
            .unwrap()
            .sign_session(&json!({"sub": "user_1", "sid": "sess_1", "iat": t - 100, "nbf": t - 100, "exp": t + exp_in}))
    }

    /// A new key object for the instance's key, as every JWKS fetch makes.
    fn instance_key() -> Arc<DecodingKey> {
        Arc::new(DecodingKey::from_rsa_pem(INSTANCE_PUBLIC.as_bytes()).unwrap())
    }

    fn check(cache: &VerifiedSignatures, token: &str, key: &Arc<DecodingKey>) -> bool {
        cache.signature_valid(&decode_jwt(token).unwrap(), key, Algorithm::RS256)
    }

    #[test]
    fn a_signature_verified_once_is_answered_from_the_cache_for_the_same_key() {
        let (cache, key, token) = (VerifiedSignatures::new(8), instance_key(), token_signed_with(INSTANCE_PRIVATE, 60));
        assert!(check(&cache, &token, &key));
        assert_eq!((cache.len(), cache.hits()), (1, 0), "recorded after an RSA verification");
        assert!(check(&cache, &token, &key));
        assert!(check(&cache, &token, &key));
        assert_eq!((cache.len(), cache.hits()), (1, 2));
    }

    #[test]
    fn an_entry_answers_only_for_the_key_object_that_verified_it() {
        let (cache, key, token) = (VerifiedSignatures::new(8), instance_key(), token_signed_with(INSTANCE_PRIVATE, 60));
        assert!(check(&cache, &token, &key));
        // Another instance's key: the cached token is refused, as without the cache.
        let other = Arc::new(DecodingKey::from_rsa_pem(include_bytes!("../tests/fixtures/other-public.pem")).unwrap());
        assert!(!check(&cache, &token, &other));
        // The same key fetched again (a new object): verified again, not taken from the entry.
        let refetched = instance_key();
        assert!(check(&cache, &token, &refetched));
        assert_eq!(cache.hits(), 0);
        // The entry now names the refetched key: a hit for it, and the old object no longer
        // matches (verified again, and recorded for it in turn).
        assert!(check(&cache, &token, &refetched));
        assert_eq!(cache.hits(), 1);
        assert!(check(&cache, &token, &key));
        assert_eq!(cache.hits(), 1);
        assert!(check(&cache, &token, &key));
        assert_eq!(cache.hits(), 2);
    }

    #[test]
    fn a_dropped_key_s_address_never_matches_another_key() {
        let (cache, token) = (VerifiedSignatures::new(8), token_signed_with(INSTANCE_PRIVATE, 60));
        let key = instance_key();
        assert!(check(&cache, &token, &key));
        // The entry's weak pointer keeps the dropped key's allocation, so a key of the same size
        // made now cannot take its address (a raw address in the entry would let it).
        let address = Arc::as_ptr(&key);
        drop(key);
        for _ in 0..16 {
            let other =
                Arc::new(DecodingKey::from_rsa_pem(include_bytes!("../tests/fixtures/other-public.pem")).unwrap());
            assert_ne!(Arc::as_ptr(&other), address);
            assert!(!check(&cache, &token, &other));
        }
        assert_eq!(cache.hits(), 0);
    }

    #[test]
    fn a_signature_that_does_not_verify_is_never_recorded() {
        let (cache, key) = (VerifiedSignatures::new(8), instance_key());
        let forged = token_signed_with(OTHER_PRIVATE, 60);
        assert!(!check(&cache, &forged, &key));
        assert!(!check(&cache, &forged, &key));
        assert_eq!((cache.len(), cache.hits()), (0, 0));
        // A valid token's payload under another signature: other bytes, so no entry matches.
        let valid = token_signed_with(INSTANCE_PRIVATE, 60);
        assert!(check(&cache, &valid, &key));
        let (signed, _) = valid.rsplit_once('.').unwrap();
        let (_, forged_signature) = forged.rsplit_once('.').unwrap();
        assert!(!check(&cache, &format!("{signed}.{forged_signature}"), &key));
        assert_eq!((cache.len(), cache.hits()), (1, 0));
    }

    #[test]
    fn the_claims_are_checked_on_every_request_whatever_the_cache_says() {
        let (cache, key) = (VerifiedSignatures::new(8), instance_key());
        // Expired 30 s ago: accepted with a minute of clock skew, refused with the default 5 s.
        let token = token_signed_with(INSTANCE_PRIVATE, -30);
        let jwt = decode_jwt(&token).unwrap();
        let lenient = VerifyOptions { clock_skew: Duration::from_secs(60), ..Default::default() };
        let verify = |opts: &VerifyOptions| verify_decoded_by(&jwt, opts, |alg| cache.signature_valid(&jwt, &key, alg));
        assert!(verify(&lenient).is_ok());
        assert_eq!(verify(&VerifyOptions::default()).unwrap_err().reason, TokenErrorReason::TokenExpired);
        assert_eq!(cache.hits(), 1, "the signature came from the cache; the expiry was still checked");
    }

    #[test]
    fn capacity_zero_verifies_every_signature() {
        let (cache, key, token) = (VerifiedSignatures::new(0), instance_key(), token_signed_with(INSTANCE_PRIVATE, 60));
        assert!(check(&cache, &token, &key));
        assert!(check(&cache, &token, &key));
        assert!(!check(&cache, &token_signed_with(OTHER_PRIVATE, 60), &key));
        assert_eq!((cache.len(), cache.hits(), cache.capacity()), (0, 0, 0));
    }

    #[test]
    fn only_rs256_is_recorded() {
        let (cache, key, token) = (VerifiedSignatures::new(8), instance_key(), token_signed_with(INSTANCE_PRIVATE, 60));
        let jwt = decode_jwt(&token).unwrap();
        assert!(!cache.signature_valid(&jwt, &key, Algorithm::RS384));
        assert!(cache.signature_valid(&jwt, &key, Algorithm::RS256));
        assert!(!cache.signature_valid(&jwt, &key, Algorithm::RS384), "not answered from the RS256 entry");
        assert_eq!(cache.hits(), 0);
    }
}
