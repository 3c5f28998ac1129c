//! `clerk::verify_token` against the official SDK's `verifyToken` (`@clerk/backend`, pinned, run
//! offline with `jwtKey`; any network call fails the run): the same tokens — template, session,
//! M2M, expired, not yet valid, wrong key, wrong issuer, wrong `azp` — get the same answer, the
//! same reason, and for accepted tokens the same payload.
//!
//! Needs `node` and `crates/clerk/conformance/node_modules` (scripts/bootstrap installs them).

use clerk::categories::{CAT_M2M, CAT_SESSION, CAT_TEMPLATE};
use clerk::mint::Signer;
use clerk::{verify_token, KeySource, TokenKind, VerifyOptions};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const PRIVATE: &str = include_str!("fixtures/instance-private.pem");
const PUBLIC: &str = include_str!("fixtures/instance-public.pem");
const OTHER_PRIVATE: &str = include_str!("fixtures/other-private.pem");
const ISS: &str = "https://clerk.example.com";
const APP: &str = "https://app.example.com";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Case {
    name: &'static str,
    token: String,
    authorized_parties: Vec<String>,
    issuer: Vec<String>,
    /// Some when the message must be the SDK's words too.
    same_message: bool,
}

fn sdk(cases: &[Case]) -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance");
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut options = json!({"jwtKey": PUBLIC, "authorizedParties": c.authorized_parties});
            if !c.issuer.is_empty() {
                options["issuer"] = json!(c.issuer);
            }
            json!({"token": c.token, "options": options})
        })
        .collect();
    let mut child = Command::new("node")
        .current_dir(&dir)
        .args(["--import", "./no-network.mjs", "verify-token.mjs"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is installed");
    child.stdin.take().unwrap().write_all(serde_json::to_string(&input).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON from verify-token.mjs");
    assert_eq!(answers.len(), cases.len(), "the SDK used the network: {:?}", answers.last());
    answers
}

#[tokio::test]
async fn verify_token_decides_what_the_sdk_decides() {
    let s = Signer::from_pem("ins_test", PRIVATE).unwrap();
    let other = Signer::from_pem("ins_test", OTHER_PRIVATE).unwrap();
    let header = |cat: &str| json!({"alg": "RS256", "typ": "JWT", "kid": "ins_test", "cat": cat});
    let claims = |extra: Value| {
        let mut c =
            json!({"sub": "user_1", "iss": ISS, "iat": now(), "nbf": now() - 10, "exp": now() + 60, "jti": "jti_1"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let tpl = |extra: Value| s.sign(&header(CAT_TEMPLATE), &claims(extra));
    let case = |name, token| Case { name, token, authorized_parties: vec![], issuer: vec![], same_message: false };
    let cases = vec![
        case("template", tpl(json!({"org_id": "org_1", "plan": "pro", "nested": {"a": [1, 2]}}))),
        case(
            "template without cat",
            s.sign(&json!({"alg": "RS256", "typ": "JWT", "kid": "ins_test"}), &claims(json!({}))),
        ),
        case("session", s.sign(&header(CAT_SESSION), &claims(json!({"sid": "sess_1", "v": 2, "o": {"id": "org_2"}})))),
        Case { same_message: true, ..case("m2m", s.sign(&header(CAT_M2M), &claims(json!({"sub": "mch_1"})))) },
        case("expired", tpl(json!({"exp": now() - 30}))),
        case("expired within skew", tpl(json!({"exp": now() - 2}))),
        case("not yet", tpl(json!({"nbf": now() + 60}))),
        case("iat in the future", tpl(json!({"iat": now() + 60}))),
        case("wrong key", other.sign(&header(CAT_TEMPLATE), &claims(json!({})))),
        case("no sub", s.sign(&header(CAT_TEMPLATE), &json!({"exp": now() + 60}))),
        case("alg none", s.sign(&json!({"alg": "none", "kid": "ins_test", "cat": CAT_TEMPLATE}), &claims(json!({})))),
        case("malformed", "not.a.jwt".into()),
        Case { issuer: vec![ISS.into()], ..case("issuer", tpl(json!({}))) },
        Case {
            issuer: vec![ISS.into()],
            same_message: true,
            ..case("wrong issuer", tpl(json!({"iss": "https://evil.example"})))
        },
        Case {
            issuer: vec![ISS.into(), "https://b.example".into()],
            same_message: true,
            ..case("no issuer", tpl(json!({"iss": null})))
        },
        Case { authorized_parties: vec![APP.into()], ..case("azp", tpl(json!({"azp": APP}))) },
        Case { authorized_parties: vec![APP.into()], ..case("wrong azp", tpl(json!({"azp": "https://evil.example"}))) },
        Case { authorized_parties: vec![APP.into()], ..case("missing azp", tpl(json!({}))) },
    ];
    let answers = sdk(&cases);
    let keys = KeySource::from_pem(PUBLIC).unwrap();
    for (c, sdk) in cases.iter().zip(&answers) {
        let opts = VerifyOptions {
            authorized_parties: c.authorized_parties.clone(),
            issuer: c.issuer.clone(),
            clock_skew: Duration::from_secs(5),
            ..Default::default()
        };
        match verify_token(&c.token, &keys, &opts).await {
            Ok(t) => {
                assert_eq!(sdk["ok"], true, "{}: we accepted, the SDK refused: {sdk}", c.name);
                assert_eq!(t.claims(), &sdk["payload"], "{}", c.name);
                if c.name.starts_with("template") {
                    assert_ne!(t.kind(), TokenKind::Session, "{}", c.name);
                }
            }
            Err(e) => {
                assert_eq!(sdk["ok"], false, "{}: we refused ({e}), the SDK accepted", c.name);
                assert_eq!(sdk["reason"], e.reason.as_str(), "{}: {e} vs {sdk}", c.name);
                if c.same_message {
                    assert_eq!(sdk["message"], e.message, "{}", c.name);
                }
            }
        }
    }
    // The cases cover both outcomes.
    let accepted = answers.iter().filter(|a| a["ok"] == true).count();
    assert!(accepted >= 5 && accepted < cases.len(), "{accepted} accepted");
}
