//! Conformance with the official SDK: the same cases go through `@clerk/backend` (pinned, run
//! offline with `jwtKey`, network calls made to throw and failing the case) and through this
//! crate; status, reason, Set-Cookie, the handshake Location, the `x-clerk-auth-*`,
//! `Cache-Control` and handshake CORS headers, the auth object verbatim (`toAuth()`, with and
//! without `treatPendingAsSignedOut`: null, absent and `[]` are three different answers), the
//! typed [`clerk::Auth`], and the message of the refusals whose words are the SDK's must agree.
//!
//! Needs `node` and `crates/clerk/conformance/node_modules` (scripts/bootstrap installs them).
//!
//! Over 1000 lines on purpose: the case table is the SDK's decision table, and one runner
//! (`oracle` for the SDK, `ours` for this crate) feeds every case to both sides — the table's,
//! the generated requests', the pinned departure's and the refresh cases'. They share the case
//! type, the claims and the normalisation; split, the cases would lose the table they are read
//! against.

use clerk::mint::Signer;
use clerk::request::AuthenticateError;
use clerk::{
    AuthStatus, Clerk, ClerkOptions, KeySource, OrganizationSync, PublishableKey, Satellite, SecretKey, VerifyOptions,
};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const PROD_PK: &str = "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k";
const DEV_PK: &str = "pk_test_aGFwcHktb3R0ZXItMTIuY2xlcmsuYWNjb3VudHMuZGV2JA";
const APP: &str = "https://app.example.com";
const COOKIE_DB: &str = "__clerk_db_jwt";
const PUBLIC_PEM: &str = include_str!("fixtures/instance-public.pem");

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Case {
    name: String,
    pk: &'static str,
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    authorized_parties: Vec<String>,
    org_sync: Option<(Vec<&'static str>, Vec<&'static str>)>,
    secret_key: &'static str,
    satellite: Option<Satellite>,
    /// `proxyUrl` (ours: `ClerkOptions::proxy_url`), given to both sides.
    proxy_url: Option<&'static str>,
    /// The Backend API (`apiUrl`), given to both sides; none by default (no network).
    api_url: Option<String>,
    /// Extra options for the SDK only (e.g. `acceptsToken`) that must not change its answer.
    sdk_options: Value,
}

fn case(name: &str, method: &'static str, path: &str, headers: &[(&str, String)]) -> Case {
    Case {
        name: name.into(),
        pk: PROD_PK,
        method,
        url: format!("{APP}{path}"),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        authorized_parties: vec![APP.into()],
        org_sync: None,
        secret_key: "sk_live_conformance",
        satellite: None,
        proxy_url: None,
        api_url: None,
        sdk_options: json!({}),
    }
}

fn oracle(cases: &[Value]) -> Vec<Value> {
    oracle_allowing(cases, &[])
}

/// [`oracle`], with network calls to these origins (a local stub) let through.
fn oracle_allowing(cases: &[Value], allowed_origins: &[&str]) -> Vec<Value> {
    // scripts/mutants tests a copy of the tree without node_modules: it names the original.
    let dir = std::env::var_os("TENANTRY_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance"));
    assert!(
        dir.join("node_modules/@clerk/backend").exists(),
        "the SDK oracle is not installed: run scripts/bootstrap (npm install in {})",
        dir.display()
    );
    let mut child = Command::new("node")
        .current_dir(&dir)
        .args(["--import", "./no-network.mjs", "decide.mjs"])
        .env("CONFORMANCE_ALLOWED_ORIGINS", allowed_origins.join(" "))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is installed");
    child.stdin.take().unwrap().write_all(serde_json::to_string(cases).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

fn clerk_for(c: &Case) -> Clerk {
    Clerk::new(ClerkOptions {
        publishable_key: PublishableKey::parse(c.pk).unwrap(),
        secret_key: SecretKey::parse(c.secret_key).unwrap(),
        keys: KeySource::from_pem(PUBLIC_PEM).unwrap(),
        api: c.api_url.as_ref().map(|u| clerk::BackendApi::new(u, SecretKey::parse(c.secret_key).unwrap())),
        proxy_url: c.proxy_url.map(str::to_string),
        verify: VerifyOptions { authorized_parties: c.authorized_parties.clone(), ..Default::default() },
        organization_sync: c.org_sync.as_ref().map(|(o, p)| OrganizationSync {
            organization_patterns: o.iter().map(|s| s.to_string()).collect(),
            personal_account_patterns: p.iter().map(|s| s.to_string()).collect(),
        }),
        satellite: c.satellite.clone(),
    })
}

async fn ours(c: &Case) -> Value {
    let u = url::Url::parse(&c.url).unwrap();
    let mut b = http::Request::builder()
        .method(c.method)
        .uri(&u[url::Position::BeforePath..])
        .header("host", &u[url::Position::BeforeHost..url::Position::AfterPort])
        .header("x-forwarded-proto", u.scheme());
    for (k, v) in &c.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let parts = b.body(()).unwrap().into_parts().0;
    match clerk_for(c).authenticate_request(&parts).await {
        Ok(st) => {
            let headers: serde_json::Map<String, Value> = COMPARED_HEADERS
                .iter()
                .filter_map(|h| st.headers.get(*h).map(|v| (h.to_string(), json!(v.to_str().unwrap()))))
                .collect();
            json!({
                "status": st.status.as_str(),
                "reason": st.reason,
                "location": st.location(),
                "setCookies": st.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect::<Vec<_>>(),
                "headers": headers,
                "auth": st.auth_object().map(|a| a.to_json()),
                "has": (st.status != AuthStatus::Handshake).then(|| {
                    let auth = st.to_auth();
                    let role = |r: &str| auth.is_some_and(|a| a.has_role(r));
                    let permission = |p: &str| auth.is_some_and(|a| a.has_permission(p));
                    [
                        role("org:admin"),
                        role("admin"),
                        role("org:member"),
                        permission("org:teams:read"),
                        permission("teams:read"),
                        permission("org:sys_memberships:read"),
                        permission("org:dashboard:manage"),
                    ]
                }),
                "authIncludingPending": (st.status == AuthStatus::SignedIn).then(|| st.auth_object_with(false).map(|a| a.to_json())).flatten(),
                "typedAuth": st.to_auth().map(|a| json!({
                    "userId": a.user_id, "sessionId": a.session_id, "orgId": a.org_id(),
                    "orgRole": a.org_role(), "orgSlug": a.org.as_ref().and_then(|o| o.slug.clone()),
                    "orgPermissions": a.org.as_ref().map(|o| o.permissions.clone()).unwrap_or_default(),
                })),
                "network": [],
            })
        }
        // The refusals whose message is the SDK's own words are compared with it.
        Err(e) => json!({"status": "error", "message": match &e {
            AuthenticateError::HandshakeInDevelopment(_) => Some(e.to_string()),
            AuthenticateError::SatelliteMisconfigured(m) => Some(m.to_string()),
            _ => None,
        }, "network": []}),
    }
}

/// Response headers compared besides `Location` and `Set-Cookie`.
const COMPARED_HEADERS: [&str; 5] = [
    "x-clerk-auth-status",
    "x-clerk-auth-reason",
    "cache-control",
    "access-control-allow-origin",
    "access-control-allow-credentials",
];

/// The typed [`clerk::Auth`] the SDK's auth object implies: present when it names a user, and
/// `ActiveOrg::permissions` a list (`[]` where the SDK has none; the verbatim object keeps that).
fn typed_auth(auth: &Value) -> Value {
    let Some(user_id) = auth.get("userId").filter(|u| u.is_string()) else { return Value::Null };
    let or_null = |k: &str| auth.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "userId": user_id, "sessionId": or_null("sessionId"), "orgId": or_null("orgId"),
        "orgRole": or_null("orgRole"), "orgSlug": or_null("orgSlug"),
        "orgPermissions": auth.get("orgPermissions").filter(|p| !p.is_null()).cloned().unwrap_or(json!([])),
    })
}

/// Locations are compared as base + query parameters (order kept).
fn normalize(mut v: Value) -> Value {
    if let Some(loc) = v.get("location").and_then(Value::as_str) {
        let u = url::Url::parse(loc).unwrap();
        let pairs: Vec<(String, String)> = u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        v["location"] = json!({"base": &u[..url::Position::AfterPath], "query": pairs});
    }
    v
}

/// A case as the oracle reads it: the request and the SDK's options.
fn sdk_input(c: &Case) -> Value {
    let mut options = json!({"publishableKey": c.pk, "secretKey": c.secret_key, "jwtKey": PUBLIC_PEM, "authorizedParties": c.authorized_parties});
    if let Some(sat) = &c.satellite {
        options["isSatellite"] = json!(true);
        options["domain"] = json!(sat.domain);
        options["signInUrl"] = json!(sat.sign_in_url);
        options["satelliteAutoSync"] = json!(sat.auto_sync);
    }
    if let Some(proxy) = c.proxy_url {
        options["proxyUrl"] = json!(proxy);
    }
    if let Some(api) = &c.api_url {
        options["apiUrl"] = json!(api);
    }
    if let Some((o, p)) = &c.org_sync {
        options["organizationSyncOptions"] = json!({"organizationPatterns": o, "personalAccountPatterns": p});
    }
    for (k, v) in c.sdk_options.as_object().unwrap() {
        options[k] = v.clone();
    }
    json!({"kind": "request", "url": c.url, "method": c.method, "headers": c.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(), "options": options})
}

#[tokio::test]
async fn authenticate_request_matches_the_official_sdk() {
    let s = Signer::from_pem("ins_conformance", include_str!("fixtures/instance-private.pem")).unwrap();
    let other = Signer::from_pem("ins_conformance", include_str!("fixtures/other-private.pem")).unwrap();
    let t = now();
    let base = json!({"sub": "user_1", "sid": "sess_1", "iss": "https://clerk.example.com", "azp": APP, "iat": t - 5, "nbf": t - 15, "exp": t + 55});
    let claims = |patch: Value| {
        let mut c = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let hdr = |extra: Value| {
        let mut h = json!({"alg": "RS256", "typ": "JWT", "kid": "ins_conformance"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        h
    };
    let valid = s.sign_session(&base);
    let tokens: Vec<(&str, String)> = vec![
        ("valid v1", valid.clone()),
        ("v1 org", s.sign_session(&claims(json!({"org_id": "org_1", "org_slug": "acme", "org_role": "org:admin", "org_permissions": ["org:sys_memberships:read"]})))),
        ("v2 org", s.sign_session(&claims(json!({"v": 2, "fea": "o:dashboard,o:teams", "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "manage,read", "fpm": "3,2"}})))),
        ("v2 no org", s.sign_session(&claims(json!({"v": 2, "fea": "u:x"})))),
        ("expired", s.sign_session(&claims(json!({"iat": t - 120, "nbf": t - 130, "exp": t - 60})))),
        ("not yet valid", s.sign_session(&claims(json!({"nbf": t + 60})))),
        ("iat future", s.sign_session(&claims(json!({"iat": t + 60})))),
        ("wrong key", other.sign_session(&base)),
        ("alg none", s.sign(&hdr(json!({"alg": "none"})), &base)),
        ("alg HS256", s.sign(&hdr(json!({"alg": "HS256"})), &base)),
        ("alg RS512", s.sign(&hdr(json!({"alg": "RS512"})), &base)),
        ("typ JOSE", s.sign(&hdr(json!({"typ": "JOSE"})), &base)),
        ("no typ", s.sign(&hdr(json!({"typ": null})), &base)),
        ("wrong azp", s.sign_session(&claims(json!({"azp": "https://other.com"})))),
        ("missing azp", s.sign_session(&claims(json!({"azp": null})))),
        ("no sub", s.sign_session(&claims(json!({"sub": null})))),
        ("template cat", s.sign(&hdr(json!({"cat": "cl_B7d4PD222AAA"})), &base)),
        ("machine cat", s.sign(&hdr(json!({"cat": "cl_B7d4PD333AAA"})), &base)),
        ("machine typ", s.sign(&hdr(json!({"typ": "at+jwt"})), &base)),
        ("pending", s.sign_session(&claims(json!({"v": 2, "sts": "pending"})))),
        ("actor and fva", s.sign_session(&claims(json!({"act": {"sub": "user_admin", "iss": "https://dashboard.clerk.com"}, "fva": [3, -1], "sts": "active"})))),
        ("v1 org without permissions", s.sign_session(&claims(json!({"org_id": "org_1", "org_role": "admin"})))),
        ("v1 member", s.sign_session(&claims(json!({"org_id": "org_1", "org_slug": "acme", "org_role": "org:member", "org_permissions": []})))),
        ("malformed", "abc.def".to_string()),
        ("nbf not a number", s.sign_session(&claims(json!({"nbf": "soon"})))),
        ("iat null", {
            let mut c = base.clone();
            c["iat"] = Value::Null;
            s.sign_session(&c)
        }),
        ("v 2.0 org", s.sign_session(&claims(json!({"v": 2.0, "fea": "o:teams", "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "read", "fpm": "1"}})))),
        ("v2 fea without scope", s.sign_session(&claims(json!({"v": 2, "fea": "o:teams,broken", "o": {"id": "org_1", "rol": "admin", "per": "read", "fpm": "1,1"}})))),
        ("v2 no org, fea without scope", s.sign_session(&claims(json!({"v": 2, "fea": "broken,u:x"})))),
        ("v1 org, fea without scope", s.sign_session(&claims(json!({"org_id": "org_1", "org_role": "org:admin", "fea": "broken"})))),
        ("v2 fea scopes", s.sign_session(&claims(json!({"v": 2, "fea": "uo:a,xo:b,ou:c,u:d", "o": {"id": "org_1", "rol": "", "per": "read,manage", "fpm": "1,3,2"}})))),
        ("tampered", {
            let p: Vec<&str> = valid.split('.').collect();
            use base64::Engine;
            let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(json!({"sub": "user_admin"}))).unwrap());
            format!("{}.{}.{}", p[0], forged, p[2])
        }),
    ];
    let doc = ("sec-fetch-dest", "document".to_string());
    let mut cases = Vec::new();
    for (name, tok) in &tokens {
        cases.push(case(&format!("bearer {name}"), "GET", "/dashboard", &[("authorization", format!("Bearer {tok}"))]));
        cases.push(case(
            &format!("cookie {name} / fetch"),
            "GET",
            "/dashboard",
            &[("cookie", format!("__session={tok}; __client_uat={}", t - 100)), ("sec-fetch-dest", "empty".into())],
        ));
        cases.push(case(
            &format!("cookie {name} / document"),
            "GET",
            "/dashboard?x=1",
            &[("cookie", format!("__session={tok}; __client_uat={}", t - 100)), doc.clone()],
        ));
        cases.push(case(
            &format!("cookie {name} / document POST"),
            "POST",
            "/dashboard",
            &[("cookie", format!("__session={tok}; __client_uat={}", t - 100)), doc.clone()],
        ));
    }
    let expired = &tokens[4].1;
    cases.extend([
        case("no cookies", "GET", "/", &[]),
        case("no cookies document", "GET", "/", std::slice::from_ref(&doc)),
        case("basic auth ignored", "GET", "/", &[("authorization", format!("Basic {valid}"))]),
        case("scheme-less header", "GET", "/", &[("authorization", valid.clone())]),
        case("session, no uat, fetch", "GET", "/", &[("cookie", format!("__session={valid}"))]),
        case("session, no uat, document", "GET", "/", &[("cookie", format!("__session={valid}")), doc.clone()]),
        case(
            "session, uat 0, document",
            "GET",
            "/",
            &[("cookie", format!("__session={valid}; __client_uat=0")), doc.clone()],
        ),
        case("uat only, document", "GET", "/p?q=1", &[("cookie", format!("__client_uat={t}")), doc.clone()]),
        case(
            "uat only, accept html",
            "GET",
            "/",
            &[("cookie", format!("__client_uat={t}")), ("accept", "text/html,application/xhtml+xml".into())],
        ),
        case("uat only, fetch", "GET", "/", &[("cookie", format!("__client_uat={t}"))]),
        case("stale uat", "GET", "/", &[("cookie", format!("__session={valid}; __client_uat={}", t + 1)), doc.clone()]),
        case(
            "expired iframe",
            "GET",
            "/",
            &[
                ("cookie", format!("__session={expired}; __client_uat={}", t - 200)),
                ("sec-fetch-dest", "iframe".into()),
            ],
        ),
        case(
            "expired, counter 1",
            "GET",
            "/",
            &[
                ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count=1", t - 200)),
                doc.clone(),
            ],
        ),
        case(
            "expired, counter 3",
            "GET",
            "/",
            &[
                ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count=3", t - 200)),
                doc.clone(),
            ],
        ),
        case(
            "cross-origin referer",
            "GET",
            "/",
            &[
                ("cookie", format!("__session={valid}; __client_uat={}", t - 100)),
                doc.clone(),
                ("referer", "https://google.com/".into()),
            ],
        ),
        case(
            "cross-origin referer, counter 1",
            "GET",
            "/",
            &[
                ("cookie", format!("__session={valid}; __client_uat={}; __clerk_redirect_count=1", t - 100)),
                doc.clone(),
                ("referer", "https://google.com/".into()),
            ],
        ),
        case(
            "same-origin referer",
            "GET",
            "/",
            &[
                ("cookie", format!("__session={valid}; __client_uat={}", t - 100)),
                doc.clone(),
                ("referer", format!("{APP}/x")),
            ],
        ),
        case(
            "foreign instance cookie",
            "GET",
            "/",
            &[(
                "cookie",
                format!(
                    "__session={}; __client_uat={}",
                    s.sign_session(&claims(json!({"iss": "https://clerk.other.com"}))),
                    t - 100
                ),
            )],
        ),
        case(
            "suffixed cookies",
            "GET",
            "/",
            &[("cookie", format!("__session_naoXFJnI={valid}; __client_uat_naoXFJnI={}", t - 100))],
        ),
        case(
            "forwarded host",
            "GET",
            "/p?q=1",
            &[("x-forwarded-host", "shop.example.com".into()), ("cookie", format!("__client_uat={t}")), doc.clone()],
        ),
    ]);
    // organization sync
    let org_tok = &tokens[1].1;
    for (path, counter) in
        [("/orgs/other-org/settings", 0), ("/orgs/acme/settings", 0), ("/orgs/other-org", 1), ("/me", 0)]
    {
        let mut c = case(
            &format!("org sync {path} counter {counter}"),
            "GET",
            path,
            &[
                ("cookie", format!("__session={org_tok}; __client_uat={}; __clerk_redirect_count={counter}", t - 100)),
                doc.clone(),
            ],
        );
        c.org_sync = Some((vec!["/orgs/:slug", "/orgs/:slug/(.*)"], vec!["/me", "/me/(.*)"]));
        cases.push(c);
    }
    // handshake resolution, production (cookie) and development (query)
    let directives = json!([
        format!("__session={valid}; Path=/"),
        "__client_uat=1700000000; Path=/",
        "__clerk_handshake=; Path=/; Max-Age=0"
    ]);
    let hs = s.sign(&hdr(json!({})), &json!({"handshake": directives}));
    let hs_wrong_key = other.sign(&hdr(json!({})), &json!({"handshake": directives}));
    let hs_template = s.sign(&hdr(json!({"cat": "cl_B7d4PD222AAA"})), &json!({"handshake": directives}));
    cases.push(case(
        "prod handshake cookie",
        "GET",
        "/dashboard",
        &[("cookie", format!("__clerk_handshake={hs}")), doc.clone()],
    ));
    cases.push(case(
        "prod handshake wrong key",
        "GET",
        "/dashboard",
        &[("cookie", format!("__clerk_handshake={hs_wrong_key}")), doc.clone()],
    ));
    cases.push(case(
        "prod handshake template cat",
        "GET",
        "/dashboard",
        &[("cookie", format!("__clerk_handshake={hs_template}")), doc.clone()],
    ));
    let mut dev = case("dev handshake query", "GET", "/", &[("cookie", "__clerk_db_jwt=dvb_x".into()), doc.clone()]);
    dev.pk = DEV_PK;
    dev.url = format!("http://localhost:3000/?__clerk_handshake={hs}&foo=1");
    dev.authorized_parties = vec![];
    cases.push(dev);
    for (name, cookie, url) in [
        (
            "dev no dev-browser document",
            format!("__session={valid}; __client_uat={}", t - 100),
            "http://localhost:3000/",
        ),
        (
            "dev with dev-browser",
            format!("__session={valid}; __client_uat={}; __clerk_db_jwt=dvb_x", t - 100),
            "http://localhost:3000/",
        ),
        (
            "dev-browser sync",
            format!("__session={valid}; __client_uat={}", t - 100),
            "http://localhost:3000/?__clerk_db_jwt=dvb_y",
        ),
    ] {
        let mut c = case(name, "GET", "/", &[("cookie", cookie), doc.clone()]);
        c.pk = DEV_PK;
        c.url = url.into();
        c.authorized_parties = vec![];
        cases.push(c);
    }

    // edge inputs, read the way the SDK reads them (empty values, JS number parsing, header
    // splitting, the session token a handshake carries, cookie-family choice)
    let no_iat = s.sign_session(&claims(json!({"iat": null})));
    // Issued "after" 2^63 seconds: only a client_uat read past i64 is later still.
    let iat_1e19 = s.sign_session(&claims(json!({"iat": 1e19})));
    let sfx = PublishableKey::parse(PROD_PK).unwrap().cookie_suffix().to_string();
    let live = format!("__session={valid}; __client_uat={}", t - 100);
    // (case, path, headers)
    type EdgeCase = (&'static str, &'static str, Vec<(&'static str, String)>);
    let edge: Vec<EdgeCase> = vec![
        ("empty session cookie, uat", "/", vec![("cookie", format!("__session=; __client_uat={t}")), doc.clone()]),
        ("empty handshake nonce query", "/?__clerk_handshake_nonce=", vec![("cookie", live.clone()), doc.clone()]),
        ("empty handshake token query", "/?__clerk_handshake=", vec![("cookie", live.clone()), doc.clone()]),
        (
            "empty sec-fetch-dest, accept html",
            "/",
            vec![
                ("cookie", format!("__client_uat={t}")),
                ("sec-fetch-dest", String::new()),
                ("accept", "text/html".into()),
            ],
        ),
        (
            "suffixed session, zero suffixed uat",
            "/",
            vec![("cookie", format!("__session_{sfx}={valid}; __client_uat_{sfx}=0")), doc.clone()],
        ),
        (
            "token without iat",
            "/",
            vec![("cookie", format!("__session={no_iat}; __client_uat={}", t - 100)), doc.clone()],
        ),
        ("negative uat", "/", vec![("cookie", format!("__session={valid}; __client_uat=-1")), doc.clone()]),
        (
            "uat with trailing text",
            "/",
            vec![("cookie", format!("__session={valid}; __client_uat={}abc", t - 100)), doc.clone()],
        ),
        (
            "counter 3.0",
            "/",
            vec![
                ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count=3.0", t - 200)),
                doc.clone(),
            ],
        ),
        (
            "counter 0x2",
            "/",
            vec![
                ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count=0x2", t - 200)),
                doc.clone(),
            ],
        ),
        // `Number(v) || 0` (ECMAScript `StringToNumber`), not Rust's float parser.
        (
            "counter -Infinity",
            "/",
            vec![
                ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count=-Infinity", t - 200)),
                doc.clone(),
            ],
        ),
        (
            "counter 0x+3",
            "/",
            vec![
                ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count=0x+3", t - 200)),
                doc.clone(),
            ],
        ),
        (
            "counter after a byte-order mark",
            "/",
            vec![
                ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count=%EF%BB%BF3", t - 200)),
                doc.clone(),
            ],
        ),
        // The next counter as JavaScript prints it (`String(n + 1)`): exponent form outside
        // 1e-6..1e21.
        (
            "counter -1e21",
            "/",
            vec![
                ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count=-1e21", t - 200)),
                doc.clone(),
            ],
        ),
        (
            "counter -0.9999999999",
            "/",
            vec![
                (
                    "cookie",
                    format!("__session={expired}; __client_uat={}; __clerk_redirect_count=-0.9999999999", t - 200),
                ),
                doc.clone(),
            ],
        ),
        // `Number.parseInt(v) || 0`: hexadecimal is read; U+0085 is not JavaScript white space;
        // past i64 it is a double, still later than an `iat` of 1e19.
        (
            "uat past i64",
            "/",
            vec![("cookie", format!("__session={iat_1e19}; __client_uat=99999999999999999999")), doc.clone()],
        ),
        (
            "uat in hexadecimal",
            "/",
            vec![("cookie", format!("__session={valid}; __client_uat={:#x}", t - 100)), doc.clone()],
        ),
        (
            "uat after U+0085",
            "/",
            vec![("cookie", format!("__session={valid}; __client_uat=%C2%85{}", t - 100)), doc.clone()],
        ),
        ("bearer, two spaces", "/", vec![("authorization", format!("Bearer  {valid}"))]),
        ("bearer, extra word", "/", vec![("authorization", format!("Bearer {valid} extra"))]),
        (
            "expired bearer with a session cookie",
            "/",
            vec![("authorization", format!("Bearer {expired}")), ("cookie", live.clone()), doc.clone()],
        ),
        (
            "quoted session cookie",
            "/",
            vec![("cookie", format!("__session=\"{valid}\"; __client_uat={}", t - 100)), doc.clone()],
        ),
        (
            "malformed escape in uat",
            "/",
            vec![("cookie", format!("__session={valid}; __client_uat=%zz{}", t - 100)), doc.clone()],
        ),
        ("escaped uat", "/", vec![("cookie", format!("__session={valid}; __client_uat=%31{}", t - 100)), doc.clone()]),
    ];
    for (name, path, headers) in edge {
        cases.push(case(&format!("edge: {name}"), "GET", path, &headers));
    }
    // `usesSuffixedCookies` (protocol §1.2): which family is read when both are present, each
    // family's session a different user so the choice shows in the answer.
    let plain_newer = s.sign_session(&claims(json!({"sub": "user_plain", "iat": t - 50})));
    let plain_same = s.sign_session(&claims(json!({"sub": "user_plain", "iat": t - 100})));
    let sfx_older = s.sign_session(&claims(json!({"sub": "user_sfx", "iat": t - 100})));
    let sfx_expired =
        s.sign_session(&claims(json!({"sub": "user_sfx", "iat": t - 120, "nbf": t - 130, "exp": t - 60})));
    let uat = t - 100;
    let family: Vec<(&str, String)> = vec![
        (
            "both, unsuffixed newer",
            format!(
                "__session={plain_newer}; __client_uat={uat}; __session_{sfx}={sfx_older}; __client_uat_{sfx}={uat}"
            ),
        ),
        (
            "both, same iat",
            format!(
                "__session={plain_same}; __client_uat={uat}; __session_{sfx}={sfx_older}; __client_uat_{sfx}={uat}"
            ),
        ),
        (
            "both, unsuffixed uat 0",
            format!("__session={plain_newer}; __client_uat=0; __session_{sfx}={sfx_older}; __client_uat_{sfx}={uat}"),
        ),
        (
            "suffixed uat only, unsuffixed token without iat",
            format!("__session={no_iat}; __client_uat={uat}; __client_uat_{sfx}={uat}"),
        ),
        (
            "unsuffixed uat 0, expired suffixed",
            format!("__session={plain_newer}; __client_uat=0; __session_{sfx}={sfx_expired}; __client_uat_{sfx}={uat}"),
        ),
    ];
    for (name, cookie) in family {
        cases.push(case(&format!("cookie family: {name}"), "GET", "/", &[("cookie", cookie), doc.clone()]));
    }
    let hs_no_list = s.sign(&hdr(json!({})), &json!({"other": 1}));
    let hs_rs384 = s.sign(&hdr(json!({"alg": "RS384"})), &json!({"handshake": directives}));
    for (name, hs) in [("handshake without a list", &hs_no_list), ("handshake RS384", &hs_rs384)] {
        cases.push(case(name, "GET", "/dashboard", &[("cookie", format!("__clerk_handshake={hs}")), doc.clone()]));
    }
    let dev_iss = format!("https://{}", PublishableKey::parse(DEV_PK).unwrap().frontend_api());
    let dev_token = s.sign_session(&claims(json!({"iss": dev_iss, "azp": null})));
    let dev_expired =
        s.sign_session(&claims(json!({"iss": dev_iss, "azp": null, "iat": t - 120, "nbf": t - 130, "exp": t - 60})));
    let dsfx = PublishableKey::parse(DEV_PK).unwrap().cookie_suffix().to_string();
    let dev_plain = s.sign_session(&claims(json!({"iss": dev_iss, "azp": null, "sub": "user_plain"})));
    for (name, url, cookie) in [
        (
            "dev: empty dev-browser cookie",
            "http://localhost:3000/".to_string(),
            format!("__session={dev_token}; __client_uat={}; __clerk_db_jwt=", t - 100),
        ),
        (
            "dev: dev-browser sync carries the session",
            format!("http://localhost:3000/?{COOKIE_DB}=dvb_y"),
            format!("__session={dev_token}; __client_uat={}", t - 100),
        ),
        (
            "dev: empty handshake query",
            "http://localhost:3000/?__clerk_handshake=".to_string(),
            format!("__session={dev_token}; __client_uat={}; __clerk_db_jwt=dvb_x", t - 100),
        ),
        (
            "dev: expired suffixed session, no unsuffixed uat",
            "http://localhost:3000/".to_string(),
            format!("__session_{dsfx}={dev_expired}; __client_uat_{dsfx}={}; __clerk_db_jwt=dvb_x", t - 200),
        ),
        (
            "dev: handshake without a list",
            format!("http://localhost:3000/?__clerk_handshake={hs_no_list}&a=1"),
            "__clerk_db_jwt=dvb_x".to_string(),
        ),
        // Development only: an expired suffixed session under a zero unsuffixed uat is skipped.
        (
            "dev: cookie family, unsuffixed uat 0, expired suffixed",
            "http://localhost:3000/".to_string(),
            format!("__session={dev_plain}; __client_uat=0; __session_{dsfx}={dev_expired}; __client_uat_{dsfx}={}; __clerk_db_jwt=dvb_x", t - 200),
        ),
        (
            "dev: cookie family, unsuffixed uat 0, live suffixed",
            "http://localhost:3000/".to_string(),
            format!("__session={dev_plain}; __client_uat=0; __session_{dsfx}={dev_token}; __client_uat_{dsfx}={}; __clerk_db_jwt=dvb_x", t - 200),
        ),
    ] {
        let mut c = case(name, "GET", "/", &[("cookie", cookie), doc.clone()]);
        (c.pk, c.url, c.authorized_parties) = (DEV_PK, url, vec![]);
        cases.push(c);
    }
    // which referers count as Clerk's own (no cross-origin re-sync) on each kind of instance
    for referer in [
        "https://clerk.example.com/v1/x",
        "https://clerk.example.com:8443/",
        "https://accounts.example.com/sign-in",
        "http://accounts.example.com/sign-in",
        "https://foo.accounts.dev/",
        "https://accounts.foo.lcl.dev/",
        "not a url",
    ] {
        cases.push(case(
            &format!("referer {referer}"),
            "GET",
            "/",
            &[("cookie", live.clone()), doc.clone(), ("referer", referer.into())],
        ));
    }
    for referer in [
        "https://happy-otter-12.accounts.dev/sign-in",
        "https://foo.accounts.dev/",
        "https://foo.clerk.accounts.dev/",
        "https://accounts.foo.lcl.dev/",
        "https://foo.accountsstage.dev/",
        "https://google.com/",
        // the legacy development portal needs both the `accounts.` prefix and a legacy suffix
        "https://accounts.google.com/",
        "https://foo.lcl.dev/",
    ] {
        let mut c = case(
            &format!("dev referer {referer}"),
            "GET",
            "/",
            &[
                ("cookie", format!("__session={dev_token}; __client_uat={}; __clerk_db_jwt=dvb_x", t - 100)),
                doc.clone(),
                ("referer", referer.into()),
            ],
        );
        (c.pk, c.url, c.authorized_parties) = (DEV_PK, "http://localhost:3000/".into(), vec![]);
        cases.push(c);
    }
    // The accounts portal is derived from the Frontend API host (`buildAccountsBaseUrl`): the
    // first `clerk.` becomes `accounts.`, or the first `clerk.accounts.` when it comes first.
    // The session token is the instance's own (its `iss` is the Frontend API), or the SDK reads
    // the suffixed cookies instead (`tokenBelongsToInstance`).
    for (pk, fapi, referer) in [
        (
            "pk_live_Y2xlcmsuYWNjb3VudHMuZXhhbXBsZS5jb20k",
            "clerk.accounts.example.com",
            "https://accounts.example.com/sign-in",
        ),
        (
            "pk_live_Y2xlcmsuYWNjb3VudHMuZXhhbXBsZS5jb20k",
            "clerk.accounts.example.com",
            "https://accounts.accounts.example.com/",
        ),
        (
            "pk_live_Y2xlcmsueHkuY2xlcmsuYWNjb3VudHMuZXhhbXBsZS5jb20k",
            "clerk.xy.clerk.accounts.example.com",
            "https://accounts.xy.clerk.accounts.example.com/",
        ),
        (
            "pk_live_Y2xlcmsueHkuY2xlcmsuYWNjb3VudHMuZXhhbXBsZS5jb20k",
            "clerk.xy.clerk.accounts.example.com",
            "https://clerk.xy.accounts.example.com/",
        ),
    ] {
        let token = s.sign_session(&claims(json!({"iss": format!("https://{fapi}")})));
        let mut c = case(
            &format!("referer {referer} for {fapi}"),
            "GET",
            "/",
            &[
                ("cookie", format!("__session={token}; __client_uat={}", t - 100)),
                doc.clone(),
                ("referer", referer.into()),
            ],
        );
        c.pk = pk;
        cases.push(c);
    }
    // With a proxy URL the Frontend API is the proxy: a referer from its host is Clerk's own,
    // whether the proxy is absolute or a path on the app's origin (then the app's host, on
    // another scheme, is a different origin that still counts).
    for (proxy, referer) in [
        ("/__clerk", "http://app.example.com/x"),
        ("/__clerk", "https://google.com/"),
        ("https://proxy.example.org/__clerk", "https://proxy.example.org/x"),
        ("https://proxy.example.org/__clerk", "https://clerk.example.com/"),
    ] {
        let mut c = case(
            &format!("proxy {proxy}: referer {referer}"),
            "GET",
            "/",
            &[("cookie", live.clone()), doc.clone(), ("referer", referer.into())],
        );
        c.proxy_url = Some(proxy);
        cases.push(c);
    }

    // organization-sync patterns, matched as path-to-regexp 6 matches them
    for (path, orgs, personal) in [
        ("/ORGS/Other-Org/Settings", vec!["/orgs/:slug", "/orgs/:slug/(.*)"], vec![]),
        ("/orgs/other-org/", vec!["/orgs/:slug"], vec![]),
        ("/orgs/other%20org", vec!["/orgs/:slug"], vec![]),
        ("/orgs/./other-org/../acme", vec!["/orgs/:slug"], vec![]),
        ("/o/org_2", vec!["/o/:id(org_[a-z0-9]+)"], vec![]),
        ("/o/nope", vec!["/o/:id(org_[a-z0-9]+)"], vec!["/o/(.*)"]),
        ("/orgs/new", vec!["/orgs/new", "/orgs/:slug"], vec!["/orgs/(.*)"]),
        ("/t/other-org", vec!["/t{/:slug}?"], vec![]),
        ("/teams/team-other", vec!["/teams/team-:slug"], vec![]),
        ("/x", vec!["/o/:id("], vec![]),
    ] {
        let mut c = case(
            &format!("org pattern {orgs:?} {personal:?} on {path}"),
            "GET",
            path,
            &[("cookie", format!("__session={}; __client_uat={}", &tokens[1].1, t - 100)), doc.clone()],
        );
        c.org_sync = Some((orgs, personal));
        cases.push(c);
    }

    // organization sync: a handshake for any reason also activates the URL's organization
    let mut c = case(
        "org sync, expired token",
        "GET",
        "/orgs/other-org",
        &[("cookie", format!("__session={expired}; __client_uat={}", t - 200)), doc.clone()],
    );
    c.org_sync = Some((vec!["/orgs/:slug", "/orgs/:slug/(.*)"], vec!["/me", "/me/(.*)"]));
    cases.push(c);

    // satellite domains (B1) and a development primary answering a satellite's sync (B2)
    const SAT: &str = "https://sat.example.net";
    let sat_token = s.sign_session(&claims(json!({"iss": "https://clerk.sat.example.net", "azp": SAT})));
    let satellite = |auto_sync: bool| Satellite {
        domain: Some("sat.example.net".into()),
        sign_in_url: Some(format!("{APP}/sign-in")),
        auto_sync,
    };
    let sat_cookies = format!("__session={sat_token}; __client_uat={}", t - 100);
    // (case, path, headers, satellite options)
    type SatCase = (&'static str, &'static str, Vec<(&'static str, String)>, Satellite);
    let sat_cases: Vec<SatCase> = vec![
        ("no cookies", "/p", vec![doc.clone()], satellite(false)),
        ("no cookies, auto sync", "/p?x=1", vec![doc.clone()], satellite(true)),
        ("no cookies, auto sync, fetch", "/p", vec![], satellite(true)),
        ("no cookies, auto sync, POST", "/p", vec![doc.clone()], satellite(true)),
        (
            "needs sync with cookies",
            "/p?__clerk_synced=false",
            vec![("cookie", sat_cookies.clone()), doc.clone()],
            satellite(false),
        ),
        ("synced, no cookies", "/p?__clerk_synced=true", vec![doc.clone()], satellite(true)),
        ("signed in", "/p", vec![("cookie", sat_cookies.clone()), doc.clone()], satellite(false)),
        // either cookie alone means the satellite has a session to work with (no sync)
        ("uat only", "/p", vec![("cookie", format!("__client_uat={}", t - 100)), doc.clone()], satellite(false)),
        ("session only", "/p", vec![("cookie", format!("__session={sat_token}")), doc.clone()], satellite(false)),
        (
            "primary token on satellite",
            "/p",
            vec![("cookie", format!("__session={valid}; __client_uat={}", t - 100)), doc.clone()],
            satellite(false),
        ),
        (
            "cross-origin referer is not re-synced",
            "/p",
            vec![("cookie", sat_cookies.clone()), doc.clone(), ("referer", "https://google.com/".into())],
            satellite(false),
        ),
        ("sync loop", "/p", vec![("cookie", "__clerk_redirect_count=3".into()), doc.clone()], satellite(true)),
        ("no domain, no proxy", "/p", vec![doc.clone()], Satellite { domain: None, ..satellite(true) }),
        (
            "sign-in on the same origin",
            "/p",
            vec![doc.clone(), ("origin", APP.into())],
            Satellite { sign_in_url: Some(format!("{APP}/sign-in")), ..satellite(true) },
        ),
        (
            "relative sign-in url",
            "/p",
            vec![doc.clone(), ("origin", SAT.into())],
            Satellite { sign_in_url: Some("/sign-in".into()), ..satellite(true) },
        ),
    ];
    for (name, path, headers, sat) in sat_cases {
        let method = if name.ends_with("POST") { "POST" } else { "GET" };
        let mut c = case(&format!("satellite: {name}"), method, path, &headers);
        c.url = format!("{SAT}{path}");
        c.authorized_parties = vec![SAT.into()];
        c.satellite = Some(sat);
        cases.push(c);
    }
    for (name, sign_in) in
        [("dev satellite sync", Some(format!("{APP}/sign-in"))), ("dev satellite without sign-in url", None)]
    {
        let mut c = case(name, "GET", "/p?x=1", &[("cookie", "__clerk_db_jwt=dvb_x".into()), doc.clone()]);
        (c.pk, c.secret_key, c.url) = (DEV_PK, "sk_test_conformance", format!("{SAT}/p?x=1"));
        c.authorized_parties = vec![SAT.into()];
        c.satellite = Some(Satellite { sign_in_url: sign_in, ..satellite(true) });
        cases.push(c);
    }
    // A development satellite's handshake goes to the instance's own Frontend API, never to
    // `clerk.<satellite domain>` (that is production's).
    let mut c = case(
        "dev satellite handshake",
        "GET",
        "/p?__clerk_synced=true",
        &[("cookie", format!("__client_uat={}; __clerk_db_jwt=dvb_x", t - 100)), doc.clone()],
    );
    (c.pk, c.secret_key, c.url) = (DEV_PK, "sk_test_conformance", format!("{SAT}/p?__clerk_synced=true"));
    c.authorized_parties = vec![SAT.into()];
    c.satellite = Some(satellite(false));
    cases.push(c);
    for (name, back, headers) in [
        (
            "dev primary sends the satellite back",
            "https://sat.example.net/p?x=1",
            vec![("cookie", "__clerk_db_jwt=dvb_x".into()), doc.clone()],
        ),
        (
            "dev primary replaces a stale synced flag",
            "https://sat.example.net/p?__clerk_synced=false&y=2",
            vec![("cookie", "__clerk_db_jwt=dvb_x".into()), doc.clone()],
        ),
        ("dev primary, no dev browser", "https://sat.example.net/p", vec![doc.clone()]),
        ("dev primary, fetch", "https://sat.example.net/p", vec![("cookie", "__clerk_db_jwt=dvb_x".into())]),
    ] {
        let mut c = case(name, "GET", "/", &headers);
        c.pk = DEV_PK;
        c.url = format!(
            "http://localhost:3000/?{}",
            form_urlencoded::Serializer::new(String::new()).append_pair("__clerk_redirect_url", back).finish()
        );
        c.authorized_parties = vec![SAT.into()];
        cases.push(c);
    }

    // pending sessions (session tasks, e.g. choose-organization): signed in, with a signed-out
    // auth object by default; the same whatever `acceptsToken` allows a session token
    let pending_tokens = [
        ("pending v2", s.sign_session(&claims(json!({"v": 2, "sts": "pending", "fea": "u:x"})))),
        ("pending v1", s.sign_session(&claims(json!({"sts": "pending"})))),
        ("pending with org", s.sign_session(&claims(json!({"v": 2, "sts": "pending", "fea": "o:teams", "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "read", "fpm": "1"}})))),
        ("active v2", s.sign_session(&claims(json!({"v": 2, "sts": "active", "fea": "u:x"})))),
    ];
    for (name, tok) in &pending_tokens {
        let cookie = format!("__session={tok}; __client_uat={}", t - 100);
        for accepts in [json!(null), json!("session_token"), json!("any"), json!(["session_token"])] {
            let label = if accepts.is_null() { String::new() } else { format!(", acceptsToken {accepts}") };
            let variants: [EdgeCase; 4] = [
                ("bearer / API", "/api/whoami", vec![("authorization", format!("Bearer {tok}"))]),
                ("bearer / document", "/dashboard", vec![("authorization", format!("Bearer {tok}")), doc.clone()]),
                ("cookie / API", "/api/whoami", vec![("cookie", cookie.clone()), ("sec-fetch-dest", "empty".into())]),
                ("cookie / document", "/app/dashboard", vec![("cookie", cookie.clone()), doc.clone()]),
            ];
            for (variant, path, headers) in variants {
                let mut c = case(&format!("{name} {variant}{label}"), "GET", path, &headers);
                if !accepts.is_null() {
                    c.sdk_options = json!({"acceptsToken": accepts});
                }
                cases.push(c);
            }
        }
    }
    // organization sync leaves a pending session alone (no user id to sync for)
    let mut c = case(
        "pending, org sync",
        "GET",
        "/orgs/other-org",
        &[("cookie", format!("__session={}; __client_uat={}", pending_tokens[2].1, t - 100)), doc.clone()],
    );
    c.org_sync = Some((vec!["/orgs/:slug"], vec![]));
    cases.push(c);

    // a development instance refuses a handshake token it cannot verify (keys switched
    // locally), whatever the request; the message is the SDK's
    let dev_live = format!("__session={dev_token}; __client_uat={}; __clerk_db_jwt=dvb_x", t - 100);
    for (name, hs, headers) in [
        ("garbage, document", "garbage.value.here", vec![("cookie", dev_live.clone()), doc.clone()]),
        ("garbage, API", "garbage.value.here", vec![("cookie", dev_live.clone()), ("sec-fetch-dest", "empty".into())]),
        ("wrong key, document", hs_wrong_key.as_str(), vec![("cookie", dev_live.clone()), doc.clone()]),
        ("template category", hs_template.as_str(), vec![("cookie", dev_live.clone()), doc.clone()]),
        (
            "typ JOSE",
            &s.sign(&hdr(json!({"typ": "JOSE"})), &json!({"handshake": directives})),
            vec![("cookie", dev_live.clone()), doc.clone()],
        ),
        (
            "alg HS256",
            &s.sign(&hdr(json!({"alg": "HS256"})), &json!({"handshake": directives})),
            vec![("cookie", dev_live.clone()), doc.clone()],
        ),
    ] {
        let mut c = case(&format!("dev invalid handshake: {name}"), "GET", "/", &headers);
        c.pk = DEV_PK;
        c.url = format!(
            "http://localhost:3000/dashboard?{}",
            form_urlencoded::Serializer::new(String::new()).append_pair("__clerk_handshake", hs).finish()
        );
        c.authorized_parties = vec![];
        cases.push(c);
    }
    let mut c = case(
        "dev invalid handshake cookie",
        "GET",
        "/",
        &[("cookie", format!("{dev_live}; __clerk_handshake=garbage.value.here")), doc.clone()],
    );
    (c.pk, c.url, c.authorized_parties) = (DEV_PK, "http://localhost:3000/".into(), vec![]);
    cases.push(c);

    // a proxy URL for the Frontend API (`proxyUrl`): absolute https, a path on the app's origin,
    // and plain http on loopback (the emulator's); a handshake goes through it
    for proxy in ["https://app.example.com/__clerk", "/__clerk", "http://127.0.0.1:3100"] {
        let variants: [EdgeCase; 4] = [
            ("uat only, document", "/p?q=1", vec![("cookie", format!("__client_uat={t}")), doc.clone()]),
            (
                "expired, counter 1",
                "/",
                vec![
                    ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count=1", t - 200)),
                    doc.clone(),
                ],
            ),
            ("signed in", "/", vec![("cookie", live.clone()), doc.clone()]),
            ("uat only, fetch", "/", vec![("cookie", format!("__client_uat={t}"))]),
        ];
        for (variant, path, headers) in variants {
            let mut c = case(&format!("proxy {proxy}: {variant}"), "GET", path, &headers);
            c.proxy_url = Some(proxy);
            cases.push(c);
        }
        let mut c = case(
            &format!("proxy {proxy}: dev, dev browser"),
            "GET",
            "/",
            &[("cookie", format!("__client_uat={t}; __clerk_db_jwt=dvb_x")), doc.clone()],
        );
        (c.pk, c.url, c.authorized_parties, c.proxy_url) =
            (DEV_PK, "http://localhost:3000/p".into(), vec![], Some(proxy));
        cases.push(c);
    }

    let mut mismatches = Vec::new();
    for (c, (mine, theirs)) in cases.iter().zip(answers(&cases).await) {
        if mine != theirs {
            mismatches.push(format!("{}:\n  sdk:  {theirs}\n  ours: {mine}", c.name));
        }
        // The proxy cases reach the handshake through the proxy (its scheme kept), on both sides.
        if let (Some(proxy), true) = (c.proxy_url, c.name.ends_with("uat only, document")) {
            let base = if proxy.starts_with('/') { format!("{APP}{proxy}") } else { proxy.to_string() };
            for side in [&mine, &theirs] {
                assert_eq!(side["location"]["base"], format!("{base}/v1/client/handshake"), "{}", c.name);
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ from @clerk/backend:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
    eprintln!("{} cases agree with @clerk/backend", cases.len());
}

/// Each case answered by both sides, normalized so that equal decisions are equal values:
/// `(ours, the SDK's)`.
async fn answers(cases: &[Case]) -> Vec<(Value, Value)> {
    let sdk = oracle(&cases.iter().map(sdk_input).collect::<Vec<_>>());
    assert_eq!(sdk.len(), cases.len());
    let mut out = Vec::with_capacity(cases.len());
    for (c, theirs) in cases.iter().zip(sdk) {
        let mine = normalize(ours(c).await);
        let mut theirs = normalize(theirs);
        if theirs["status"] != "error" {
            theirs["typedAuth"] = typed_auth(&theirs["auth"]);
        } else if mine["status"] == "error" && mine["message"].is_null() {
            // Our words for this refusal are our own: the refusal itself is what is compared.
            theirs["message"] = Value::Null;
        }
        out.push((mine, theirs));
    }
    out
}

/// Requests put together at random (reproducibly) from the pieces the decision table reads —
/// instance, method, session cookie, `__client_uat`, Bearer header, `Sec-Fetch-Dest`, `Accept`,
/// `Referer`, `Origin`, redirect counter, dev browser, the suffixed cookie family — so that
/// combinations no hand-written case names are compared with the SDK too.
#[tokio::test]
async fn generated_requests_match_the_official_sdk() {
    let s = Signer::from_pem("ins_conformance", include_str!("fixtures/instance-private.pem")).unwrap();
    let other = Signer::from_pem("ins_conformance", include_str!("fixtures/other-private.pem")).unwrap();
    let t = now();
    let session = |patch: Value| {
        let mut c = json!({"sub": "user_1", "sid": "sess_1", "iss": "https://clerk.example.com", "azp": APP, "iat": t - 5, "nbf": t - 15, "exp": t + 55});
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let tokens = [
        s.sign_session(&session(json!({}))),
        s.sign_session(&session(json!({"iat": t - 120, "nbf": t - 130, "exp": t - 60}))),
        s.sign_session(&session(
            json!({"org_id": "org_1", "org_slug": "acme", "org_role": "org:admin", "org_permissions": []}),
        )),
        s.sign_session(&session(json!({"azp": "https://other.com"}))),
        s.sign_session(&session(json!({"iat": t - 300, "nbf": t - 310}))),
        s.sign_session(&session(json!({"azp": "http://localhost:3000"}))),
        other.sign_session(&session(json!({}))),
        "abc.def".to_string(),
        s.sign_session(&session(json!({"sub": "user_2", "iat": t - 50}))),
        s.sign_session(&session(json!({"iss": "https://other.clerk.example"}))),
        s.sign_session(&session(json!({"iat": Value::Null}))),
    ];
    let suffix = |pk: &str| PublishableKey::parse(pk).unwrap().cookie_suffix().to_string();
    let mut state = 0xD1B5_4A32_D192_ED03u64;
    let mut pick = |n: usize| {
        // xorshift64: reproducible without a dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut cases = Vec::new();
    for i in 0..600 {
        let dev = pick(3) == 0;
        let origin = if dev { "http://localhost:3000" } else { APP };
        let mut cookies = Vec::new();
        if pick(4) > 0 {
            cookies.push(format!("__session={}", tokens[pick(tokens.len())]));
        }
        match pick(5) {
            0 => {}
            1 => cookies.push("__client_uat=0".into()),
            2 => cookies.push(format!("__client_uat={}", t - 100)),
            3 => cookies.push(format!("__client_uat={}", t + 100)),
            _ => cookies.push(format!("__client_uat={}", t - 200)),
        }
        if pick(4) == 0 {
            cookies.push(format!("__clerk_redirect_count={}", pick(4)));
        }
        // The suffixed family (`usesSuffixedCookies` chooses between the two).
        let sfx = suffix(if dev { DEV_PK } else { PROD_PK });
        if pick(3) == 0 {
            cookies.push(format!("__session_{sfx}={}", tokens[pick(tokens.len())]));
        }
        match pick(4) {
            0 => cookies.push(format!("__client_uat_{sfx}=0")),
            1 => cookies.push(format!("__client_uat_{sfx}={}", t - 100)),
            _ => {}
        }
        if dev && pick(2) == 0 {
            cookies.push(format!("{COOKIE_DB}=dvb_x"));
        }
        let mut headers: Vec<(&str, String)> = Vec::new();
        if !cookies.is_empty() {
            headers.push(("cookie", cookies.join("; ")));
        }
        if pick(4) == 0 {
            headers.push(("authorization", format!("Bearer {}", tokens[pick(tokens.len())])));
        }
        match pick(4) {
            0 => headers.push(("sec-fetch-dest", "document".into())),
            1 => headers.push(("sec-fetch-dest", "empty".into())),
            2 => headers.push(("sec-fetch-dest", "iframe".into())),
            _ => {}
        }
        match pick(3) {
            0 => headers.push(("accept", "text/html,application/xhtml+xml".into())),
            1 => headers.push(("accept", "application/json".into())),
            _ => {}
        }
        match pick(4) {
            0 => headers.push(("referer", format!("{origin}/from"))),
            1 => headers.push(("referer", "https://google.com/".into())),
            _ => {}
        }
        if pick(4) == 0 {
            headers.push(("origin", if pick(2) == 0 { origin.to_string() } else { "https://evil.example".into() }));
        }
        let method = if pick(4) == 0 { "POST" } else { "GET" };
        let path = ["/", "/dashboard?tab=1", "/api/x"][pick(3)];
        let mut c = case(&format!("generated {i}"), method, path, &headers);
        if dev {
            (c.pk, c.url, c.authorized_parties) = (DEV_PK, format!("{origin}{path}"), vec![]);
        }
        cases.push(c);
    }
    let answers = answers(&cases).await;
    // The mix reaches every outcome, or it would compare little.
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (mine, _) in &answers {
        *outcomes.entry(mine["status"].as_str().unwrap_or("?").to_string()).or_default() += 1;
    }
    for outcome in ["signed-in", "signed-out", "handshake"] {
        assert!(outcomes.get(outcome).is_some_and(|n| *n >= 10), "too few {outcome}: {outcomes:?}");
    }
    let mut mismatches = Vec::new();
    for (c, (mine, theirs)) in cases.iter().zip(answers) {
        if mine != theirs {
            let headers: Vec<String> = c.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            mismatches.push(format!(
                "{} ({} {}; {}):\n  sdk:  {theirs}\n  ours: {mine}",
                c.name,
                c.pk,
                c.method,
                headers.join(" | ")
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} generated requests differ from @clerk/backend:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

/// Where we depart from the SDK on purpose (ARCHITECTURE.md, "Where this departs"), pinned: the
/// handshake loop guard. The SDK stops redirecting at a counter of exactly 3 and would start
/// another handshake at 4, 99 or `Infinity` (a forged or stale counter); we stop at 3 or more, with the
/// same answer as at 3. Both sides run; a change on either side fails this test.
#[tokio::test]
async fn the_loop_guard_departure_at_counters_past_3() {
    let s = Signer::from_pem("ins_conformance", include_str!("fixtures/instance-private.pem")).unwrap();
    let t = now();
    let expired = s.sign_session(&json!({"sub": "user_1", "sid": "sess_1", "iss": "https://clerk.example.com", "azp": APP, "iat": t - 120, "nbf": t - 130, "exp": t - 60}));
    let doc = ("sec-fetch-dest", "document".to_string());
    let at = |counter: &str| {
        case(
            &format!("expired, counter {counter}"),
            "GET",
            "/",
            &[
                ("cookie", format!("__session={expired}; __client_uat={}; __clerk_redirect_count={counter}", t - 200)),
                doc.clone(),
            ],
        )
    };
    let cases = [at("3"), at("4"), at("99"), at("2"), at("Infinity")];
    let sdk: Vec<Value> = oracle(&cases.iter().map(sdk_input).collect::<Vec<_>>())
        .into_iter()
        .map(|v| {
            let mut v = normalize(v);
            v["typedAuth"] = typed_auth(&v["auth"]);
            v
        })
        .collect();
    let mut mine = Vec::new();
    for c in &cases {
        mine.push(normalize(ours(c).await));
    }
    // At 3 both stop: signed out, no redirect.
    assert_eq!(mine[0], sdk[0]);
    assert_eq!(mine[0]["status"], "signed-out", "{}", mine[0]);
    assert!(mine[0]["location"].is_null());
    // At 4 and 99 we answer exactly as at 3 ...
    assert_eq!(mine[1], mine[0]);
    assert_eq!(mine[2], mine[0]);
    assert_eq!(mine[4], mine[0]);
    // ... where the SDK redirects to the handshake once more and counts on (`Number("Infinity")`
    // is infinite, so it never reaches 3).
    for (i, next) in [(1, "5"), (2, "100"), (4, "Infinity")] {
        assert_eq!(sdk[i]["status"], "handshake", "{}", sdk[i]);
        assert!(sdk[i]["location"]["base"].as_str().unwrap().ends_with("/v1/client/handshake"), "{}", sdk[i]);
        let counter = sdk[i]["setCookies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with(&format!("__clerk_redirect_count={next};")));
        assert!(counter, "the SDK counts on to {next}: {}", sdk[i]);
    }
    // Below 3 both handshake alike.
    assert_eq!(mine[3], sdk[3]);
    assert_eq!(mine[3]["status"], "handshake");
}

/// A stub Backend API for the server-side refresh (`POST /v1/sessions/{sid}/refresh`), on its
/// own thread and runtime (the oracle blocks this one while the SDK calls it). By session id:
/// `sess_ok` answers fresh cookies, `sess_invalid` Clerk's 400, `sess_down` a 500 with Clerk's
/// error body, `sess_gateway` a 502 without one, `sess_unexpected` a 4xx coded
/// `unexpected_error`, `sess_empty` a 200 without cookies, `sess_forged` a token under another key.
fn refresh_stub(fresh: String, forged: String) -> String {
    use axum::extract::Path;
    use axum::http::StatusCode;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap())).unwrap();
            let error = |status: u16, code: &str| {
                (
                    StatusCode::from_u16(status).unwrap(),
                    axum::Json(json!({"errors": [{"code": code, "message": code, "long_message": code}], "clerk_trace_id": "t"})),
                )
            };
            let cookies = |token: &str| {
                json!({"cookies": [
                    format!("__session={token}; Path=/; SameSite=Lax"),
                    "__client_uat=1700000000; Path=/; SameSite=Lax".to_string(),
                ]})
            };
            let app = axum::Router::new().route(
                "/v1/sessions/{sid}/refresh",
                axum::routing::post(move |Path(sid): Path<String>| {
                    let (fresh, forged) = (fresh.clone(), forged.clone());
                    async move {
                        use axum::response::IntoResponse;
                        match sid.as_str() {
                            "sess_ok" => axum::Json(cookies(&fresh)).into_response(),
                            "sess_forged" => axum::Json(cookies(&forged)).into_response(),
                            "sess_empty" => axum::Json(json!({"cookies": []})).into_response(),
                            "sess_invalid" => error(400, "refresh_token_invalid").into_response(),
                            "sess_unexpected" => error(422, "unexpected_error").into_response(),
                            "sess_down" => error(500, "internal_clerk_error").into_response(),
                            _ => (StatusCode::BAD_GATEWAY, "Bad Gateway").into_response(),
                        }
                    }
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// The server-side refresh of an expired session token with the `__refresh_<suffix>` cookie,
/// both sides against the same stub Backend API: success, Clerk's 4xx, a 5xx with and without
/// Clerk's error body, an empty answer, a token that does not verify, and a network error (a
/// closed port). Status, reason, location, cookies, headers and the auth object must agree.
#[tokio::test]
async fn server_side_refresh_matches_the_official_sdk() {
    let s = Signer::from_pem("ins_conformance", include_str!("fixtures/instance-private.pem")).unwrap();
    let other = Signer::from_pem("ins_conformance", include_str!("fixtures/other-private.pem")).unwrap();
    let t = now();
    let claims = |sid: &str, iat: i64| json!({"sub": "user_1", "sid": sid, "iss": "https://clerk.example.com", "azp": APP, "iat": iat, "nbf": iat - 10, "exp": iat + 60});
    let fresh = s.sign_session(&claims("sess_ok", t - 1));
    let forged = other.sign_session(&claims("sess_forged", t - 1));
    let stub = refresh_stub(fresh, forged);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let sfx = PublishableKey::parse(PROD_PK).unwrap().cookie_suffix().to_string();
    let mut cases = Vec::new();
    for sid in [
        "sess_ok",
        "sess_invalid",
        "sess_unexpected",
        "sess_down",
        "sess_gateway",
        "sess_empty",
        "sess_forged",
        "sess_unreachable",
    ] {
        let expired = s.sign_session(&claims(sid, t - 120));
        let cookie = format!("__session={expired}; __client_uat={}; __refresh_{sfx}=rt_{sid}", t - 200);
        for (variant, method, dest) in
            [("document", "GET", "document"), ("fetch", "GET", "empty"), ("document POST", "POST", "document")]
        {
            if method == "POST" && sid != "sess_ok" {
                continue;
            }
            let mut c = case(
                &format!("refresh {sid} / {variant}"),
                method,
                "/dashboard?x=1",
                &[("cookie", cookie.clone()), ("sec-fetch-dest", dest.to_string())],
            );
            c.api_url = Some(if sid == "sess_unreachable" { closed.clone() } else { stub.clone() });
            cases.push(c);
        }
    }
    // No refresh cookie, and no Backend API client at all: nothing to refresh with.
    let expired = s.sign_session(&claims("sess_ok", t - 120));
    let mut c = case(
        "refresh without a cookie",
        "GET",
        "/",
        &[("cookie", format!("__session={expired}; __client_uat={}", t - 200)), ("sec-fetch-dest", "document".into())],
    );
    c.api_url = Some(stub.clone());
    cases.push(c);
    let sdk = oracle_allowing(&cases.iter().map(sdk_input).collect::<Vec<_>>(), &[&stub, &closed]);
    let mut mismatches = Vec::new();
    let mut statuses = Vec::new();
    for (c, theirs) in cases.iter().zip(sdk) {
        let mine = normalize(ours(c).await);
        let mut theirs = normalize(theirs);
        if theirs["status"] != "error" {
            theirs["typedAuth"] = typed_auth(&theirs["auth"]);
        }
        statuses.push(format!("{}: {} {}", c.name, theirs["status"], theirs));
        if mine != theirs {
            mismatches.push(format!("{}:\n  sdk:  {theirs}\n  ours: {mine}", c.name));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} refresh cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
    // The cases reach what they name: a refreshed session, and each failure's own reason.
    let joined = statuses.join("\n");
    assert!(joined.contains("refresh sess_ok / document: \"signed-in\""), "{joined}");
    assert!(joined.contains("refresh sess_ok / fetch: \"signed-in\""), "{joined}");
    for reason in [
        "refresh_token_invalid",
        "internal_clerk_error",
        "fetch-error",
        "unexpected-bapi-error",
        "invalid-session-token",
        "unexpected-sdk-error",
        "non-eligible-non-get",
        "non-eligible-no-refresh-cookie",
    ] {
        assert!(joined.contains(reason), "no case ends in {reason}:\n{joined}");
    }
}
