//! The billing service against tokens minted by an emulated Clerk: template tokens are trusted,
//! session tokens refused (a documented choice), and every bad token is a 401 with its reason.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{Clerk, OTHER_PRIVATE_PEM, PRIVATE_PEM, TEMPLATE};

async fn billing(config: billing::Config) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, billing::router(config)).await });
    url
}

fn env(clerk: &Clerk, extra: &[(&str, &str)]) -> billing::Config {
    let mut vars: Vec<(String, String)> = vec![("CLERK_ISSUER".into(), clerk.url.clone())];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    billing::Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap()
}

async fn whoami(url: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().get(format!("{url}/whoami"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

/// The BFF sends one template token until shortly before it expires: the service verifies its
/// signature once and answers the same for every later request, while an expired copy of it
/// and a forged token are refused every time.
#[tokio::test]
async fn a_token_sent_again_is_answered_the_same_without_a_second_signature_check() {
    let clerk = Clerk::start().await;
    let pem = clerk.emu.public_pem.clone();
    let config = env(&clerk, &[("CLERK_JWT_KEY", &pem)]);
    let signatures = config.signatures.clone();
    let svc = billing(config).await;
    let token = clerk.mint("sess_user_alice", Some(TEMPLATE)).await;
    let first = whoami(&svc, Some(&token)).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    for _ in 0..3 {
        assert_eq!(whoami(&svc, Some(&token)).await, first);
    }
    assert_eq!((signatures.len(), signatures.hits()), (1, 3), "{signatures:?}");
    let forged = clerk.forge(OTHER_PRIVATE_PEM, json!({}));
    for _ in 0..2 {
        let (status, body) = whoami(&svc, Some(&forged)).await;
        assert_eq!((status, body["reason"].as_str()), (StatusCode::UNAUTHORIZED, Some("token-invalid-signature")));
    }
    assert_eq!((signatures.len(), signatures.hits()), (1, 3), "a forged signature is never recorded");
    // Validly signed but expired: its signature is answered from the cache the second time, and
    // the claims still refuse it every time.
    let expired = clerk.forge(PRIVATE_PEM, json!({"exp": support::now() - 60}));
    for hits in [3, 4] {
        let (status, body) = whoami(&svc, Some(&expired)).await;
        assert_eq!((status, body["reason"].as_str()), (StatusCode::UNAUTHORIZED, Some("token-expired")));
        assert_eq!(signatures.hits(), hits);
    }
}

#[tokio::test]
async fn template_tokens_are_trusted_and_everything_else_refused() {
    let clerk = Clerk::start().await;
    let pem = clerk.emu.public_pem.clone();
    let svc = billing(env(&clerk, &[("CLERK_JWT_KEY", &pem)])).await;

    let token = clerk.mint("sess_user_alice", Some(TEMPLATE)).await;
    let (status, body) = whoami(&svc, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], "user_alice");
    assert_eq!(body["org_id"], "org_acme");
    assert_eq!(body["issuer"], clerk.url.as_str());
    assert_eq!(
        body["claims"],
        json!({"org_id": "org_acme", "org_role": "org:admin", "email": "alice@acme.test", "plan": "pro", "limits": {"seats": 5}})
    );

    let refused = |reason: &'static str| {
        move |(status, body): (StatusCode, Value)| {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{reason}: {body}");
            assert_eq!(body["reason"], reason, "{body}");
            assert_eq!(body["error"], "unauthorized");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        }
    };
    let session = clerk.mint("sess_user_alice", None).await;
    refused("session-token-refused")(whoami(&svc, Some(&session)).await);
    refused("token-missing")(whoami(&svc, None).await);
    refused("token-expired")(whoami(&svc, Some(&clerk.forge(PRIVATE_PEM, json!({"exp": support::now() - 30})))).await);
    refused("token-invalid-signature")(whoami(&svc, Some(&clerk.forge(OTHER_PRIVATE_PEM, json!({})))).await);
    refused("token-invalid-issuer")(
        whoami(&svc, Some(&clerk.forge(PRIVATE_PEM, json!({"iss": "https://clerk.evil.example"})))).await,
    );
    refused("token-invalid")(whoami(&svc, Some("not-a-jwt")).await);
    // The forged-but-valid control: the same forging with nothing wrong is accepted.
    assert_eq!(whoami(&svc, Some(&clerk.forge(PRIVATE_PEM, json!({})))).await.0, StatusCode::OK);

    // Authorized parties, when configured: a template adding `azp` must name an accepted one.
    let strict =
        billing(env(&clerk, &[("CLERK_JWT_KEY", &pem), ("BILLING_AUTHORIZED_PARTIES", "https://app.example.com")]))
            .await;
    refused("token-invalid-authorized-parties")(
        whoami(&strict, Some(&clerk.forge(PRIVATE_PEM, json!({"azp": "https://evil.example"})))).await,
    );
    let ok = clerk.forge(PRIVATE_PEM, json!({"azp": "https://app.example.com"}));
    assert_eq!(whoami(&strict, Some(&ok)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn backend_api_jwks_instead_of_a_pem() {
    let clerk = Clerk::start().await;
    let svc = billing(env(&clerk, &[("CLERK_SECRET_KEY", support::SECRET), ("CLERK_API_URL", &clerk.url)])).await;
    let token = clerk.mint("sess_user_carol", Some(TEMPLATE)).await;
    let (status, body) = whoami(&svc, Some(&token)).await;
    assert_eq!((status, &body["org_id"]), (StatusCode::OK, &json!("org_globex")), "{body}");
    let (status, body) = whoami(&svc, Some(&clerk.forge(OTHER_PRIVATE_PEM, json!({})))).await;
    assert_eq!((status, &body["reason"]), (StatusCode::UNAUTHORIZED, &json!("token-invalid-signature")));
}

#[test]
fn configuration_names_what_is_missing() {
    let err = billing::Config::from_lookup(|_| None).unwrap_err();
    assert!(err.contains("CLERK_JWT_KEY") && err.contains("CLERK_SECRET_KEY"), "{err}");
    let err = billing::Config::from_lookup(|k| (k == "CLERK_JWT_KEY").then(|| "nope".into())).unwrap_err();
    assert!(err.starts_with("CLERK_JWT_KEY"), "{err}");
}
