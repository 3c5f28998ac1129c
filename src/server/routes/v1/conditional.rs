//! Conditional requests (RFC 9110 §13): every single-project answer carries an `ETag`, and a
//! write may send it back in `If-Match` so that it applies only to the version the client last
//! read. Without it, two clients editing one project each overwrite the other's change without
//! knowing; with it, the second is refused (412) and nothing is written.
//!
//! The tag is a strong validator: the SHA-256 of the JSON representation this API answers
//! (its first 16 bytes, base64url), so two answers share a tag exactly when their bytes are the
//! same — what RFC 9110 §8.8.1 asks of a strong validator, with no column to keep in step (and
//! why answers with a tag are never gzipped: `startup::compression`).
//! Parsing and comparing `If-Match` is the `headers` crate's (hyperium).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use headers::{ETag, HeaderMapExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::problem::{Problem, ProblemType};

/// `representation`'s entity tag, sent as `ETag: "q1nKXh0bKJ9Zl2m6Yc8vKw"` (22 base64url
/// characters in quotes) and compared with `If-Match` as it is.
pub fn entity_tag<T: Serialize>(representation: &T) -> Result<ETag, Problem> {
    let json = serde_json::to_vec(representation).map_err(Problem::internal)?;
    let digest = Sha256::digest(&json);
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    format!("\"{tag}\"").parse().map_err(|_| Problem::internal("an entity tag of base64url does not parse"))
}

/// The request's `If-Match` (RFC 9110 §13.1.1), if it sent one. A value that is not `*` or a
/// list of entity tags is refused (400 `invalid-request`).
pub struct IfMatch(Option<headers::IfMatch>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let values = parts.headers.get_all(axum::http::header::IF_MATCH);
        // `headers` decodes a list lazily and skips members that are not entity tags; a
        // client's typo must not read as "matches nothing" (a 412 that looks like a conflict).
        // `*` stands alone: beside tags (on other lines) it is neither form.
        let (mut lines, mut star) = (0, false);
        for value in values.iter() {
            let text = value.to_str().map_err(|_| malformed())?;
            lines += 1;
            star |= text.trim_matches([' ', '\t']) == "*";
            if !star && !is_entity_tag_list(text) {
                return Err(malformed());
            }
        }
        if star && lines > 1 {
            return Err(malformed());
        }
        parts.headers.typed_try_get::<headers::IfMatch>().map(Self).map_err(|_| malformed())
    }
}

impl IfMatch {
    /// Whether the request sent `If-Match` at all.
    pub fn is_given(&self) -> bool {
        self.0.is_some()
    }

    /// Whether the write may go on against the current representation's tag (`current`, from
    /// [`entity_tag`]): no `If-Match`, `*`, or a strong match of one of its tags (a weak tag
    /// never matches, RFC 9110 §8.8.3.2). Otherwise 412 `precondition-failed`.
    pub fn check(&self, current: &ETag) -> Result<(), Problem> {
        let Some(if_match) = &self.0 else { return Ok(()) };
        if if_match.precondition_passes(current) {
            Ok(())
        } else {
            tracing::info!("If-Match names no current version: refused, nothing written");
            Err(Problem::new(ProblemType::PreconditionFailed)
                .detail("the project changed since the version `If-Match` names: read it again, then retry"))
        }
    }
}

fn malformed() -> Problem {
    Problem::new(ProblemType::InvalidRequest)
        .detail("`If-Match` is `*` or a comma-separated list of entity tags, e.g. `\"xyzzy\"`")
}

/// `1#entity-tag` (RFC 9110 §8.8.3 and §5.6.1): `[W/]"…"` members, separated by commas and
/// optional whitespace; the opaque part is `%x21 / %x23-7E` (RFC's `obs-text` never gets here:
/// `to_str` refuses a value that is not visible ASCII).
fn is_entity_tag_list(text: &str) -> bool {
    // Empty list members are allowed (`#rule`, RFC 9110 §5.6.1.2), as in `, "a", , "b",`.
    let mut rest = text.trim_matches([' ', '\t', ',']);
    loop {
        rest = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(after_quote) = rest.strip_prefix('"') else { return false };
        let Some(end) = after_quote.find('"') else { return false };
        if !after_quote[..end].bytes().all(|b| b == 0x21 || (0x23..=0x7E).contains(&b)) {
            return false;
        }
        rest = after_quote[end + 1..].trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return true;
        }
        let Some(next) = rest.strip_prefix(',') else { return false };
        rest = next.trim_start_matches([' ', '\t', ',']);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tag_lists_are_recognised_as_rfc_9110_writes_them() {
        for ok in [
            "\"xyzzy\"",
            "W/\"xyzzy\"",
            "\"a\", \"b\",W/\"c\"",
            "\"\"",
            " \"a\" ",
            "\"a\", , \"b\"",
            "\"a\",",
            ", \"a\"",
        ] {
            assert!(is_entity_tag_list(ok), "{ok}");
        }
        for bad in [
            "",
            "xyzzy",
            "\"open",
            "\"a\" \"b\"",
            "w/\"a\"",
            "\"a\"b",
            "\"in\"side\"",
            "\"tab\there\"",
            ",",
            "*",
            "\"a\", *",
        ] {
            assert!(!is_entity_tag_list(bad), "{bad}");
        }
    }

    #[test]
    fn the_tag_follows_the_bytes_of_the_representation() {
        let a = entity_tag(&serde_json::json!({"name": "Apollo"})).unwrap();
        assert_eq!(a, entity_tag(&serde_json::json!({"name": "Apollo"})).unwrap());
        assert_ne!(a, entity_tag(&serde_json::json!({"name": "Apollo "})).unwrap());
        let mut headers = axum::http::HeaderMap::new();
        headers.typed_insert(a);
        let text = headers[axum::http::header::ETAG].to_str().unwrap();
        assert!(text.len() == 24 && text.starts_with('"') && text.ends_with('"'), "{text}");
    }

    #[test]
    fn if_match_passes_on_a_strong_match_or_star_and_refuses_weak_and_other_tags() {
        let current = entity_tag(&"v1").unwrap();
        let header = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(axum::http::header::IF_MATCH, axum::http::HeaderValue::from_str(v).unwrap());
            IfMatch(h.typed_try_get::<headers::IfMatch>().unwrap())
        };
        let mut sent = axum::http::HeaderMap::new();
        sent.typed_insert(current.clone());
        let tag = sent[axum::http::header::ETAG].to_str().unwrap();
        assert!(IfMatch(None).check(&current).is_ok());
        assert!(header("*").check(&current).is_ok());
        assert!(header(tag).check(&current).is_ok());
        assert!(header(&format!("\"other\", {tag}")).check(&current).is_ok());
        for refused in [format!("W/{tag}"), "\"other\"".to_string()] {
            let answer = axum::response::IntoResponse::into_response(header(&refused).check(&current).unwrap_err());
            assert_eq!(answer.status(), ProblemType::PreconditionFailed.status(), "{refused}");
        }
    }
}
