//! The decision table of `authenticate_request` (protocol §1.5, appendix 10.3) with real RS256
//! tokens. The conformance test compares the same kind of cases with the official SDK.
//!
//! One file on purpose: every test drives the one public entry point (`authenticate_request`
//! and the `Clerk` methods beside it) through the same fixtures — the instance key, `clerk_with`,
//! `parts`, `run` — and reads as that entry point's decision table, case by case.

use clerk::mint::Signer;
use clerk::{AuthStatus, Clerk, ClerkOptions, KeySource, OrganizationSync, PublishableKey, SecretKey, VerifyOptions};
use serde_json::{json, Value};

const PK: &str = "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k"; // clerk.example.com
const APP: &str = "https://app.example.com";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn signer() -> Signer {
    Signer::from_pem("ins_test", include_str!("fixtures/instance-private.pem")).unwrap()
}

fn clerk_with(pk: &str, sync: Option<OrganizationSync>) -> Clerk {
    Clerk::new(ClerkOptions {
        publishable_key: PublishableKey::parse(pk).unwrap(),
        secret_key: SecretKey::parse("sk_live_test").unwrap(),
        keys: KeySource::from_pem(include_str!("fixtures/instance-public.pem")).unwrap(),
        api: None,
        proxy_url: None,
        verify: VerifyOptions { authorized_parties: vec![APP.into()], ..Default::default() },
        organization_sync: sync,
        satellite: None,
    })
}

fn clerk() -> Clerk {
    clerk_with(PK, None)
}

fn claims() -> Value {
    let t = now();
    json!({"sub": "user_1", "sid": "sess_1", "iss": "https://clerk.example.com", "azp": APP, "iat": t, "nbf": t - 10, "exp": t + 60})
}

fn with(mut base: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn parts(method: &str, url: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let u = url::Url::parse(url).unwrap();
    let mut b = http::Request::builder()
        .method(method)
        .uri(&u[url::Position::BeforePath..])
        .header("host", &u[url::Position::BeforeHost..url::Position::AfterPort]);
    if !headers.iter().any(|(k, _)| *k == "x-forwarded-proto") {
        b = b.header("x-forwarded-proto", u.scheme());
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

async fn run(c: &Clerk, method: &str, url: &str, headers: &[(&str, &str)]) -> clerk::RequestState {
    c.authenticate_request(&parts(method, url, headers)).await.unwrap()
}

fn doc() -> (&'static str, &'static str) {
    ("sec-fetch-dest", "document")
}

/// A token sent again is answered from the verified-signature cache (`clerk::signatures`), with
/// the same decisions: the claims are checked every time, and a token the key did not sign never
/// gets in.
#[tokio::test]
async fn a_token_sent_again_skips_only_the_signature_verification() {
    let (c, s) = (clerk(), signer());
    let tok = s.sign_session(&claims());
    let bearer = format!("Bearer {tok}");
    for _ in 0..3 {
        assert_eq!(run(&c, "GET", APP, &[("authorization", &bearer)]).await.status, AuthStatus::SignedIn);
    }
    let cookie = format!("__session={tok}; __client_uat={}", now() - 5);
    let st = run(&c, "GET", &format!("{APP}/dashboard"), &[("cookie", &cookie), doc()]).await;
    assert_eq!(st.status, AuthStatus::SignedIn);
    assert_eq!((c.verified_signatures().len(), c.verified_signatures().hits()), (1, 3));
    // Validly signed but for another party: an entry of its own, and refused by the azp check
    // every time, from the cache or not.
    let bad_azp = s.sign_session(&with(claims(), json!({"azp": "https://evil.example"})));
    for _ in 0..2 {
        let st = run(&c, "GET", APP, &[("authorization", &format!("Bearer {bad_azp}"))]).await;
        assert_eq!(st.reason.as_deref(), Some("token-invalid-authorized-parties"));
    }
    // Signed by another key: never recorded, refused every time.
    let other =
        Signer::from_pem("ins_test", include_str!("fixtures/other-private.pem")).unwrap().sign_session(&claims());
    for _ in 0..2 {
        let st = run(&c, "GET", APP, &[("authorization", &format!("Bearer {other}"))]).await;
        assert_eq!(st.reason.as_deref(), Some("token-invalid-signature"));
    }
    assert_eq!((c.verified_signatures().len(), c.verified_signatures().hits()), (2, 4));
    // Switched off: the same decisions, nothing kept.
    let off = clerk().with_verified_signature_capacity(0);
    for _ in 0..2 {
        assert_eq!(run(&off, "GET", APP, &[("authorization", &bearer)]).await.status, AuthStatus::SignedIn);
    }
    assert_eq!((off.verified_signatures().len(), off.verified_signatures().hits()), (0, 0));
}

#[tokio::test]
async fn header_path() {
    let c = clerk();
    let s = signer();
    let tok = s.sign_session(&claims());
    let st = run(&c, "GET", &format!("{APP}/dashboard"), &[("authorization", &format!("Bearer {tok}"))]).await;
    assert_eq!(st.status, AuthStatus::SignedIn);
    assert_eq!(st.to_auth().unwrap().user_id, "user_1");
    // no scheme: whole value is the token
    assert_eq!(run(&c, "GET", APP, &[("authorization", &tok)]).await.status, AuthStatus::SignedIn);
    // other scheme: ignored, falls to the cookie path
    let st = run(&c, "GET", APP, &[("authorization", &format!("Basic {tok}"))]).await;
    assert_eq!((st.status, st.reason.as_deref()), (AuthStatus::SignedOut, Some("session-token-and-uat-missing")));
    // template category
    let tpl = s.sign(&json!({"alg":"RS256","typ":"JWT","kid":"ins_test","cat":"cl_B7d4PD222AAA"}), &claims());
    let st = run(&c, "GET", APP, &[("authorization", &format!("Bearer {tpl}"))]).await;
    assert_eq!(st.reason.as_deref(), Some("token-type-mismatch"));
    // machine token by typ
    let m2m = s.sign(&json!({"alg":"RS256","typ":"at+jwt","kid":"ins_test"}), &claims());
    assert_eq!(
        run(&c, "GET", APP, &[("authorization", &format!("Bearer {m2m}"))]).await.reason.as_deref(),
        Some("token-type-mismatch")
    );
    // wrong key
    let other =
        Signer::from_pem("ins_test", include_str!("fixtures/other-private.pem")).unwrap().sign_session(&claims());
    let st = run(&c, "GET", APP, &[("authorization", &format!("Bearer {other}"))]).await;
    assert_eq!((st.status, st.reason.as_deref()), (AuthStatus::SignedOut, Some("token-invalid-signature")));
    assert_eq!(st.headers.get("x-clerk-auth-status").unwrap(), "signed-out");
    assert_eq!(st.headers.get("x-clerk-auth-reason").unwrap(), "token-invalid-signature");
    // azp
    let bad_azp = s.sign_session(&with(claims(), json!({"azp": "https://evil.example"})));
    assert_eq!(
        run(&c, "GET", APP, &[("authorization", &format!("Bearer {bad_azp}"))]).await.reason.as_deref(),
        Some("token-invalid-authorized-parties")
    );
    let no_azp = s.sign_session(&with(claims(), json!({"azp": null})));
    assert_eq!(
        run(&c, "GET", APP, &[("authorization", &format!("Bearer {no_azp}"))]).await.reason.as_deref(),
        Some("token-invalid-authorized-parties")
    );
    // alg
    for (alg, reason) in [
        ("HS256", "token-invalid-algorithm"),
        ("none", "token-invalid-algorithm"),
        ("RS512", "token-verification-failed"),
    ] {
        let t = s.sign(&json!({"alg": alg, "typ":"JWT","kid":"ins_test"}), &claims());
        assert_eq!(
            run(&c, "GET", APP, &[("authorization", &format!("Bearer {t}"))]).await.reason.as_deref(),
            Some(reason),
            "{alg}"
        );
    }
    // tampered payload
    let parts_: Vec<&str> = tok.split('.').collect();
    let forged_payload = base64_url(&serde_json::to_vec(&with(claims(), json!({"sub": "user_admin"}))).unwrap());
    let tampered = format!("{}.{}.{}", parts_[0], forged_payload, parts_[2]);
    assert_eq!(
        run(&c, "GET", APP, &[("authorization", &format!("Bearer {tampered}"))]).await.reason.as_deref(),
        Some("token-invalid-signature")
    );
    // malformed
    assert_eq!(
        run(&c, "GET", APP, &[("authorization", "Bearer not-a-jwt")]).await.reason.as_deref(),
        Some("token-invalid")
    );
    // expired header token on an API call: signed-out with the handshake reason, never a redirect
    let expired = s.sign_session(&with(claims(), json!({"exp": now() - 10})));
    let st = run(&c, "GET", APP, &[("authorization", &format!("Bearer {expired}"))]).await;
    assert_eq!(
        (st.status, st.reason.as_deref()),
        (AuthStatus::SignedOut, Some("session-token-expired-refresh-non-eligible-no-refresh-cookie"))
    );
    assert!(st.location().is_none());
}

fn base64_url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[tokio::test]
async fn v2_org_claims_and_pending() {
    let c = clerk();
    let s = signer();
    let t = s.sign_session(&with(claims(), json!({"v": 2, "fea": "o:dashboard,o:teams", "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "manage,read", "fpm": "3,2"}})));
    let st = run(&c, "GET", APP, &[("authorization", &format!("Bearer {t}"))]).await;
    let org = st.to_auth().unwrap().org.clone().unwrap();
    assert_eq!(org.role.as_deref(), Some("org:admin"));
    assert_eq!(org.permissions, vec!["org:dashboard:manage", "org:dashboard:read", "org:teams:read"]);
    let pending = s.sign_session(&with(claims(), json!({"v": 2, "sts": "pending"})));
    let st = run(&c, "GET", APP, &[("authorization", &format!("Bearer {pending}"))]).await;
    assert_eq!(st.status, AuthStatus::SignedIn);
    assert!(st.to_auth().is_none(), "pending sessions are signed out");
    // What an app reads to send a pending session to its task page.
    assert!(st.is_pending());
    assert_eq!(st.session_status(), Some("pending"));
    assert_eq!(st.auth_including_pending().map(|a| a.user_id.as_str()), Some("user_1"));
    let active = s.sign_session(&with(claims(), json!({"v": 2, "sts": "active"})));
    let st = run(&c, "GET", APP, &[("authorization", &format!("Bearer {active}"))]).await;
    assert!(!st.is_pending());
    assert_eq!(st.session_status(), Some("active"));
    assert_eq!(st.to_auth().map(|a| a.user_id.as_str()), Some("user_1"));
    let signed_out = run(&c, "GET", APP, &[]).await;
    assert!(!signed_out.is_pending() && signed_out.session_status().is_none());
    assert!(signed_out.auth_including_pending().is_none());
}

#[tokio::test]
async fn cookie_path_decision_table() {
    let c = clerk();
    let s = signer();
    let tok = s.sign_session(&claims());
    let uat = now() - 100;
    let cookie = |v: String| ("cookie", v);
    let url = format!("{APP}/dashboard");

    let ok = run(&c, "GET", &url, &[("cookie", &format!("__session={tok}; __client_uat={uat}"))]).await;
    assert_eq!(ok.status, AuthStatus::SignedIn);

    let none = run(&c, "GET", &url, &[]).await;
    assert_eq!((none.status, none.reason.as_deref()), (AuthStatus::SignedOut, Some("session-token-and-uat-missing")));

    let (k, v) = cookie(format!("__session={tok}"));
    let st = run(&c, "GET", &url, &[(k, &v)]).await;
    assert_eq!((st.status, st.reason.as_deref()), (AuthStatus::SignedOut, Some("session-token-but-no-client-uat")));
    let st = run(&c, "GET", &url, &[(k, &v), doc()]).await;
    assert_eq!((st.status, st.reason.as_deref()), (AuthStatus::Handshake, Some("session-token-but-no-client-uat")));
    assert_eq!(st.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(st.headers.get("set-cookie").unwrap(), "__clerk_redirect_count=1; SameSite=Lax; HttpOnly; Max-Age=2");
    assert!(st.location().unwrap().contains("&__session="), "{:?}", st.location());

    let uat_only = format!("__client_uat={}", now());
    let st = run(&c, "GET", &url, &[("cookie", &uat_only), ("accept", "text/html,application/xhtml+xml")]).await;
    assert_eq!((st.status, st.reason.as_deref()), (AuthStatus::Handshake, Some("client-uat-but-no-session-token")));

    let iat = claims()["iat"].as_i64().unwrap();
    let st = run(&c, "GET", &url, &[("cookie", &format!("__session={tok}; __client_uat={}", iat + 1)), doc()]).await;
    assert_eq!(st.reason.as_deref(), Some("session-token-iat-before-client-uat"));

    let expired = s.sign_session(&with(claims(), json!({"iat": now() - 120, "nbf": now() - 130, "exp": now() - 60})));
    let ec = format!("__session={expired}; __client_uat={}", now() - 200);
    let st = run(&c, "GET", &url, &[("cookie", &ec), doc()]).await;
    assert_eq!(
        (st.status, st.reason.as_deref()),
        (AuthStatus::Handshake, Some("session-token-expired-refresh-non-eligible-no-refresh-cookie"))
    );
    let st = run(&c, "GET", &url, &[("cookie", &ec), ("sec-fetch-dest", "empty")]).await;
    assert_eq!(st.status, AuthStatus::SignedOut);
    let st = run(&c, "GET", &url, &[("cookie", &ec), ("sec-fetch-dest", "iframe")]).await;
    assert_eq!(st.status, AuthStatus::Handshake);
    let st = run(&c, "POST", &url, &[("cookie", &ec), doc()]).await;
    assert_eq!(
        (st.status, st.reason.as_deref()),
        (AuthStatus::SignedOut, Some("session-token-expired-refresh-non-eligible-non-get"))
    );
    let looped = format!("{ec}; __clerk_redirect_count=3");
    let st = run(&c, "GET", &url, &[("cookie", &looped), doc()]).await;
    assert_eq!(st.status, AuthStatus::SignedOut, "loop guard");

    let good = format!("__session={tok}; __client_uat={uat}");
    let st = run(&c, "GET", &url, &[("cookie", &good), doc(), ("referer", "https://google.com/")]).await;
    assert_eq!(st.reason.as_deref(), Some("primary-domain-cross-origin-sync"));
    let st = run(
        &c,
        "GET",
        &url,
        &[("cookie", &format!("{good}; __clerk_redirect_count=1")), doc(), ("referer", "https://google.com/")],
    )
    .await;
    assert_eq!(st.status, AuthStatus::SignedIn);
    let st = run(&c, "GET", &url, &[("cookie", &good), doc(), ("referer", "https://clerk.example.com/sign-in")]).await;
    assert_eq!(st.status, AuthStatus::SignedIn, "the Frontend API is not a foreign site");

    let foreign = s.sign_session(&with(claims(), json!({"iss": "https://clerk.other.com"})));
    let st = run(&c, "GET", &url, &[("cookie", &format!("__session={foreign}; __client_uat={uat}"))]).await;
    assert_eq!(st.reason.as_deref(), Some("session-token-and-uat-missing"));

    let st =
        run(&c, "GET", &url, &[("cookie", &format!("__session_naoXFJnI={tok}; __client_uat_naoXFJnI={uat}"))]).await;
    assert_eq!(st.status, AuthStatus::SignedIn, "suffixed cookies of this key");

    let st = run(&c, "GET", &url, &[("cookie", &format!("__session=garbage; __client_uat={uat}"))]).await;
    assert_eq!((st.status, st.reason.as_deref()), (AuthStatus::SignedOut, Some("token-invalid")));
}

#[tokio::test]
async fn exact_handshake_location() {
    let c = clerk();
    let p = parts(
        "GET",
        "http://10.0.0.1:8080/p?q=1",
        &[
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-proto", "https"),
            ("cookie", &format!("__client_uat={}", now())),
            doc(),
        ],
    );
    let st = c.authenticate_request(&p).await.unwrap();
    assert_eq!(
        st.location().unwrap(),
        "https://clerk.example.com/v1/client/handshake?redirect_url=https%3A%2F%2Fapp.example.com%2Fp%3Fq%3D1&__clerk_api_version=2026-05-12&suffixed_cookies=false&__clerk_hs_reason=client-uat-but-no-session-token&format=nonce"
    );
}

#[tokio::test]
async fn organization_sync() {
    let sync = OrganizationSync {
        organization_patterns: vec!["/orgs/:slug".into(), "/orgs/:slug/(.*)".into()],
        personal_account_patterns: vec!["/me".into(), "/me/(.*)".into()],
    };
    let c = clerk_with(PK, Some(sync));
    let s = signer();
    let tok = s.sign_session(&with(claims(), json!({"org_id": "org_1", "org_slug": "acme", "org_role": "org:admin"})));
    let ck = format!("__session={tok}; __client_uat={}", now() - 100);
    let st = run(&c, "GET", &format!("{APP}/orgs/other-org/settings"), &[("cookie", &ck), doc()]).await;
    assert_eq!(st.reason.as_deref(), Some("active-organization-mismatch"));
    assert!(st.location().unwrap().ends_with("&organization_id=other-org"));
    assert_eq!(
        run(&c, "GET", &format!("{APP}/orgs/acme/settings"), &[("cookie", &ck), doc()]).await.status,
        AuthStatus::SignedIn
    );
    let st = run(&c, "GET", &format!("{APP}/me"), &[("cookie", &ck), doc()]).await;
    assert!(st.location().unwrap().ends_with("&organization_id="));
    // past the loop guard: served with the current org
    let st = run(
        &c,
        "GET",
        &format!("{APP}/orgs/other-org"),
        &[("cookie", &format!("{ck}; __clerk_redirect_count=3")), doc()],
    )
    .await;
    assert_eq!(st.status, AuthStatus::SignedIn);
}

#[tokio::test]
async fn handshake_token_resolution() {
    let s = signer();
    let session = s.sign_session(&claims());
    let directives = vec![
        format!("__session={session};path=/"),
        "__client_uat=123;path=/".to_string(),
        "__clerk_handshake=;path=/;max-age=0".to_string(),
    ];
    let hs = s.sign(&json!({"alg":"RS256","typ":"JWT","kid":"ins_test"}), &json!({"handshake": directives}));
    // prod: cookie transport, served in the same response
    let c = clerk();
    let st =
        run(&c, "GET", &format!("{APP}/dashboard"), &[("cookie", &format!("__clerk_handshake={hs}")), doc()]).await;
    assert_eq!(st.status, AuthStatus::SignedIn);
    assert!(st.location().is_none());
    let cookies: Vec<_> = st.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert_eq!(cookies, directives);
    // a template-category token cannot smuggle directives
    let smuggled = s.sign(
        &json!({"alg":"RS256","typ":"JWT","kid":"ins_test","cat":"cl_B7d4PD222AAA"}),
        &json!({"handshake": directives}),
    );
    let st =
        run(&c, "GET", &format!("{APP}/dashboard"), &[("cookie", &format!("__clerk_handshake={smuggled}")), doc()])
            .await;
    assert_eq!(st.status, AuthStatus::SignedOut);
    // dev: query transport, 307 to the clean URL
    let dev_pk = PublishableKey::build(clerk::InstanceType::Development, "happy-otter-12.clerk.accounts.dev");
    let dev = clerk_with(dev_pk.as_str(), None);
    let st = run(
        &dev,
        "GET",
        &format!("http://localhost:3000/?__clerk_handshake={hs}&foo=1"),
        &[("cookie", "__clerk_db_jwt=dvb_x"), doc()],
    )
    .await;
    assert_eq!(st.status, AuthStatus::SignedIn);
    assert_eq!(st.location(), Some("http://localhost:3000/?foo=1"));
    // dev with a token signed by another key: refuse to decide (500), stops loops
    let bad = Signer::from_pem("ins_test", include_str!("fixtures/other-private.pem"))
        .unwrap()
        .sign(&json!({"alg":"RS256","typ":"JWT"}), &json!({"handshake": directives}));
    let err = dev
        .authenticate_request(&parts(
            "GET",
            &format!("http://localhost:3000/?__clerk_handshake={bad}"),
            &[("cookie", "__clerk_db_jwt=dvb_x"), doc()],
        ))
        .await;
    assert!(err.is_err());
}

#[tokio::test]
async fn development_instance_dev_browser() {
    let dev_pk = PublishableKey::build(clerk::InstanceType::Development, "happy-otter-12.clerk.accounts.dev");
    let c = clerk_with(dev_pk.as_str(), None);
    let s = signer();
    let tok = s.sign_session(&with(claims(), json!({"iss": "https://happy-otter-12.clerk.accounts.dev"})));
    let ck = format!("__session={tok}; __client_uat={}", now() - 100);
    assert_eq!(
        run(&c, "GET", "http://localhost:3000/", &[("authorization", &format!("Bearer {tok}"))]).await.status,
        AuthStatus::SignedIn
    );
    assert_eq!(
        run(&c, "GET", "http://localhost:3000/", &[("cookie", &format!("{ck}; __clerk_db_jwt=dvb_x"))]).await.status,
        AuthStatus::SignedIn
    );
    let st = run(&c, "GET", "http://localhost:3000/", &[("cookie", &ck), doc()]).await;
    assert_eq!(st.reason.as_deref(), Some("dev-browser-missing"));
    assert!(st.location().unwrap().starts_with(
        "https://happy-otter-12.clerk.accounts.dev/v1/client/handshake?redirect_url=http%3A%2F%2Flocalhost%3A3000%2F&"
    ));
    assert_eq!(run(&c, "GET", "http://localhost:3000/", &[("cookie", &ck)]).await.status, AuthStatus::SignedOut);
    let st = run(&c, "GET", "http://localhost:3000/?__clerk_db_jwt=dvb_y", &[("cookie", &ck), doc()]).await;
    assert_eq!(st.reason.as_deref(), Some("dev-browser-sync"));
    assert!(st.location().unwrap().contains("__clerk_db_jwt=dvb_y"));
}

/// A departure from the SDK (fail closed): a development primary sends a syncing satellite back
/// (with the dev-browser token) only to an authorized party; the SDK follows any URL given.
#[tokio::test]
async fn a_dev_primary_answers_satellite_sync_only_for_authorized_parties() {
    const DEV_PK: &str = "pk_test_aGFwcHktb3R0ZXItMTIuY2xlcmsuYWNjb3VudHMuZGV2JA";
    let c = clerk_with(DEV_PK, None);
    let sync_to = |back: &str| {
        format!(
            "http://localhost:3000/?{}",
            form_urlencoded::Serializer::new(String::new()).append_pair("__clerk_redirect_url", back).finish()
        )
    };
    let cookie = ("cookie", "__clerk_db_jwt=dvb_secret");
    let ok = run(&c, "GET", &sync_to(&format!("{APP}/p")), &[cookie, doc()]).await;
    assert_eq!((ok.status, ok.reason.as_deref()), (AuthStatus::Handshake, Some("primary-responds-to-syncing")));
    assert_eq!(ok.location(), Some(format!("{APP}/p?__clerk_db_jwt=dvb_secret&__clerk_synced=true").as_str()));
    for foreign in ["https://evil.example/steal", "https://app.example.com.evil.example/", "not a url"] {
        let st = run(&c, "GET", &sync_to(foreign), &[cookie, doc()]).await;
        assert_ne!(st.reason.as_deref(), Some("primary-responds-to-syncing"), "{foreign}");
        assert!(
            !st.location().unwrap_or_default().contains("dvb_secret"),
            "{foreign}: the dev-browser token stays home"
        );
    }
}

/// `Auth::features` and `Auth::plans` are the token's `fea` and `pla` lists, items trimmed and
/// empty ones dropped; a token without them has none.
#[tokio::test]
async fn features_and_plans_are_the_tokens_lists() {
    let auth_of = |patch: Value| async move {
        let tok = signer().sign_session(&with(claims(), patch));
        let bearer = format!("Bearer {tok}");
        let st = clerk()
            .authenticate_request(&parts("GET", &format!("{APP}/"), &[("authorization", &bearer)]))
            .await
            .unwrap();
        assert_eq!(st.status, AuthStatus::SignedIn);
        st.to_auth().unwrap().clone()
    };
    let auth = auth_of(json!({"v": 2, "fea": "u:x, o:teams,,", "pla": " u:pro,o:team"})).await;
    assert_eq!(auth.features, ["u:x", "o:teams"]);
    assert_eq!(auth.plans, ["u:pro", "o:team"]);
    let auth = auth_of(json!({"v": 2})).await;
    assert!(auth.features.is_empty() && auth.plans.is_empty(), "{auth:?}");
}

/// A spent handshake budget's `Retry-After`: whole seconds rounded up, at least 1, in the
/// error's message as in the header an app sends.
#[test]
fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
    use clerk::request::{retry_after_secs, AuthenticateError};
    use std::time::Duration;
    for (d, secs) in [
        (Duration::ZERO, 1),
        (Duration::from_millis(1), 1),
        (Duration::from_millis(999), 1),
        (Duration::from_secs(1), 1),
        (Duration::from_millis(1001), 2),
        (Duration::from_secs(7), 7),
        (Duration::new(7, 1), 8),
        (Duration::from_secs(120), 120),
    ] {
        assert_eq!(retry_after_secs(&d), secs, "{d:?}");
    }
    let e = AuthenticateError::HandshakeBudgetExhausted { retry_after: Duration::from_millis(2500) };
    assert_eq!(e.to_string(), "Clerk: too many handshake payload fetches; retry in 3 s");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(2500)));
    assert_eq!(AuthenticateError::MalformedFeatures.retry_after(), None);
}

/// `Clerk::api` is the Backend API client it was given (the app's fallbacks use it), or none.
#[test]
fn the_backend_api_client_is_the_one_given() {
    assert!(clerk().api().is_none());
    let with_api = Clerk::new(ClerkOptions {
        api: Some(clerk::BackendApi::new("http://127.0.0.1:9", SecretKey::parse("sk_live_test").unwrap())),
        ..clerk().options().clone()
    });
    assert!(with_api.api().is_some());
}

/// `session_to_end` (sign-out): the session a request's token names, from the header or the
/// cookie, verified in all but its lifetime — up to 366 days expired (`session_to_end_within`
/// takes the bound) — and none for a token this instance did not sign, or none at all.
#[tokio::test]
async fn the_session_to_end_is_named_by_a_token_expired_within_the_bound() {
    use std::time::Duration;
    let t = now();
    let day = 86_400;
    let expired = |sid: &str, ago: i64| {
        signer().sign_session(&with(
            claims(),
            json!({"sid": sid, "iat": t - ago - 60, "nbf": t - ago - 70, "exp": t - ago}),
        ))
    };
    let live = signer().sign_session(&claims());
    let (hour, month, past_a_year) =
        (expired("sess_hour", 3_600), expired("sess_month", 30 * day), expired("sess_old", 370 * day));
    let foreign =
        Signer::from_pem("ins_test", include_str!("fixtures/other-private.pem")).unwrap().sign_session(&claims());
    let c = clerk();
    let bearer = |tok: &str| format!("Bearer {tok}");
    let by_header = |tok: &str| parts("POST", &format!("{APP}/sign-out"), &[("authorization", &bearer(tok))]);
    assert_eq!(c.session_to_end(&by_header(&live)).await.as_deref(), Some("sess_1"));
    assert_eq!(c.session_to_end(&by_header(&hour)).await.as_deref(), Some("sess_hour"));
    assert_eq!(c.session_to_end(&by_header(&month)).await.as_deref(), Some("sess_month"));
    assert_eq!(c.session_to_end(&by_header(&past_a_year)).await, None, "older than 366 days");
    assert_eq!(c.session_to_end(&by_header(&foreign)).await, None, "not this instance's");
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "ins_test", "cat": "cl_B7d4PD222AAA"});
    let template = signer().sign(&header, &claims());
    assert_eq!(c.session_to_end(&by_header(&template)).await, None, "a JWT template's token is no session's");
    let cookie = format!("__session={month}; __client_uat={}", t - 100);
    assert_eq!(
        c.session_to_end(&parts("POST", &format!("{APP}/sign-out"), &[("cookie", &cookie)])).await.as_deref(),
        Some("sess_month")
    );
    assert_eq!(c.session_to_end(&parts("POST", &format!("{APP}/sign-out"), &[])).await, None);
    // The bound is the caller's.
    let week = Duration::from_secs(7 * 86_400);
    assert_eq!(c.session_to_end_within(&by_header(&hour), week).await.as_deref(), Some("sess_hour"));
    assert_eq!(c.session_to_end_within(&by_header(&month), week).await, None, "expired longer than a week ago");
    assert_eq!(c.session_to_end_within(&by_header(&hour), Duration::from_secs(60)).await, None);
}

/// `verify_session_token`: the verified token's whole payload, or the SDK's reason.
#[tokio::test]
async fn verify_session_token_answers_the_payload_or_the_reason() {
    let payload = claims();
    let token = signer().sign_session(&payload);
    let opts = VerifyOptions { authorized_parties: vec![APP.into()], ..Default::default() };
    assert_eq!(clerk().verify_session_token(&token, &opts).await.unwrap(), payload);
    let expired =
        signer().sign_session(&with(claims(), json!({"exp": now() - 60, "iat": now() - 120, "nbf": now() - 130})));
    let err = clerk().verify_session_token(&expired, &opts).await.unwrap_err();
    assert_eq!(err.reason, clerk::TokenErrorReason::TokenExpired);
    // A machine token signed by the instance is no session token, whatever its claims.
    let m2m = signer()
        .sign(&json!({"alg": "RS256", "typ": "JWT", "kid": "ins_test", "cat": clerk::categories::CAT_M2M}), &claims());
    let err = clerk().verify_session_token(&m2m, &opts).await.unwrap_err();
    assert_eq!(
        (err.reason, err.message.as_str()),
        (clerk::TokenErrorReason::TokenInvalid, "Machine-to-machine tokens are not session tokens.")
    );
}

/// `activate_organization_url` (server-side organization switching): a handshake with the
/// reason `active-organization-mismatch`, the organization asked for (empty = the personal
/// account), the session cookie, and the page to come back to.
#[test]
fn activate_organization_url_is_a_handshake_asking_for_that_organization() {
    let c = clerk();
    let tok = signer().sign_session(&claims());
    let p =
        parts("POST", &format!("{APP}/select-org"), &[("cookie", &format!("__session={tok}; __client_uat={}", now()))]);
    let back = url::Url::parse(&format!("{APP}/app/dashboard")).unwrap();
    let head = "https://clerk.example.com/v1/client/handshake?redirect_url=https%3A%2F%2Fapp.example.com%2Fapp%2Fdashboard&__clerk_api_version=2026-05-12&suffixed_cookies=false&__clerk_hs_reason=active-organization-mismatch&format=nonce";
    assert_eq!(
        c.activate_organization_url(&p, &back, "org_2"),
        format!("{head}&__session={tok}&organization_id=org_2")
    );
    assert_eq!(c.activate_organization_url(&p, &back, ""), format!("{head}&__session={tok}&organization_id="));
}

/// `resolveHandshake`: on a development instance only, a session token from the handshake that
/// fails on time (the developer's clock is off) is retried with a day of tolerance; production
/// never stretches `exp`.
#[tokio::test]
async fn handshake_clock_skew_is_forgiven_on_development_instances_only() {
    let s = signer();
    let t = now();
    let stale = s.sign_session(&with(claims(), json!({"iat": t - 7300, "nbf": t - 7310, "exp": t - 7200})));
    let directives = vec![format!("__session={stale};path=/"), format!("__client_uat={};path=/", t - 7300)];
    let hs = s.sign(&json!({"alg":"RS256","typ":"JWT","kid":"ins_test"}), &json!({"handshake": directives}));

    let dev_pk = PublishableKey::build(clerk::InstanceType::Development, "happy-otter-12.clerk.accounts.dev");
    let dev = clerk_with(dev_pk.as_str(), None);
    let st = run(
        &dev,
        "GET",
        &format!("http://localhost:3000/?__clerk_handshake={hs}"),
        &[("cookie", "__clerk_db_jwt=dvb_x"), doc()],
    )
    .await;
    assert_eq!(st.status, AuthStatus::SignedIn, "development: a two-hour-old token from the handshake is accepted");

    let st = clerk()
        .authenticate_request(&parts(
            "GET",
            &format!("{APP}/dashboard"),
            &[("cookie", &format!("__clerk_handshake={hs}")), doc()],
        ))
        .await;
    assert!(
        !st.as_ref().is_ok_and(|st| st.status == AuthStatus::SignedIn),
        "production: an expired token from the handshake never signs in: {:?}",
        st.map(|s| (s.status, s.reason))
    );
}

/// `verifyHandshakeToken`'s header checks, seen where their errors surface (a development
/// instance refuses to decide): RS384/RS512 are names the SDK accepts but Clerk's RS256 keys
/// cannot verify; any other algorithm is refused as such; the session and "ignore"
/// categories pass, any other does not.
#[tokio::test]
async fn handshake_token_headers_are_checked_as_the_sdk_does() {
    let s = signer();
    let session = s.sign_session(&claims());
    let payload = json!({"handshake": [format!("__session={session};path=/")]});
    let dev_pk = PublishableKey::build(clerk::InstanceType::Development, "happy-otter-12.clerk.accounts.dev");
    let dev = clerk_with(dev_pk.as_str(), None);
    let resolve = |header: Value| {
        let hs = s.sign(&header, &payload);
        let dev = &dev;
        async move {
            dev.authenticate_request(&parts(
                "GET",
                &format!("http://localhost:3000/?__clerk_handshake={hs}"),
                &[("cookie", "__clerk_db_jwt=dvb_x"), doc()],
            ))
            .await
        }
    };
    let refused = |r: Result<clerk::RequestState, clerk::request::AuthenticateError>| match r {
        Err(clerk::request::AuthenticateError::HandshakeInDevelopment(e)) => (e.reason, e.message),
        other => panic!("expected a refusal to decide, got {:?}", other.map(|s| (s.status, s.reason))),
    };
    for alg in ["RS384", "RS512"] {
        let (reason, message) = refused(resolve(json!({"alg": alg, "typ": "JWT", "kid": "ins_test"})).await);
        assert_eq!(reason, clerk::TokenErrorReason::TokenVerificationFailed, "{alg}: {message}");
    }
    let (reason, message) = refused(resolve(json!({"alg": "HS256", "typ": "JWT", "kid": "ins_test"})).await);
    assert_eq!(reason, clerk::TokenErrorReason::TokenInvalidAlgorithm);
    assert!(message.starts_with("Invalid JWT algorithm \"HS256\". Supported: RS256,RS384,RS512."), "{message}");
    for cat in [clerk::categories::CAT_SESSION, clerk::categories::CAT_IGNORE] {
        let st = resolve(json!({"alg": "RS256", "typ": "JWT", "kid": "ins_test", "cat": cat})).await.unwrap();
        assert_eq!(st.status, AuthStatus::SignedIn, "category {cat}");
    }
}

/// `cookie_names` (what sign-out clears): both families of the session, client-uat and
/// dev-browser cookies, and the refresh cookie, which only exists suffixed.
#[test]
fn cookie_names_are_both_families_and_the_refresh_cookie() {
    let sfx = PublishableKey::parse(PK).unwrap().cookie_suffix().to_string();
    let mut names = clerk().cookie_names();
    names.sort();
    let mut expected: Vec<String> = ["__session", "__client_uat", "__clerk_db_jwt"]
        .iter()
        .flat_map(|b| [b.to_string(), format!("{b}_{sfx}")])
        .chain([format!("__refresh_{sfx}")])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}

/// `withDebugHeaders`: no message header for an empty message; a message quoting what a token
/// carried keeps to printable ASCII (anything else becomes a space), so it is always a valid
/// header and never smuggles bytes into the response.
#[tokio::test]
async fn debug_headers_carry_printable_messages_only() {
    let c = clerk();
    let st = run(&c, "GET", APP, &[]).await;
    assert_eq!(st.headers["x-clerk-auth-status"], "signed-out");
    assert_eq!(st.headers["x-clerk-auth-reason"], "session-token-and-uat-missing");
    assert!(st.headers.get("x-clerk-auth-message").is_none(), "empty message, no header");

    let forged = signer().sign(&json!({"alg": "Äx", "typ": "JWT", "kid": "ins_test"}), &claims());
    let st = run(&c, "GET", APP, &[("authorization", &format!("Bearer {forged}"))]).await;
    assert_eq!(st.reason.as_deref(), Some("token-invalid-algorithm"));
    assert!(st.message.starts_with("Invalid JWT algorithm Äx."), "{}", st.message);
    assert_eq!(st.headers["x-clerk-auth-message"].to_str().unwrap(), st.message.replace('Ä', " "));
}
