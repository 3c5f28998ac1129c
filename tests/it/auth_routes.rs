//! Every auth-related route, signed in and out, by cookie and by Bearer token.
//!
//! Over 500 lines on purpose: every auth-related route and refusal in one place, so the gate's whole behaviour is read together.

use crate::helpers::{now, spawn_app, SIGN_IN};
use serde_json::{json, Value};

#[tokio::test]
async fn public_api_needs_no_session() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/api/public")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap()["message"].is_string());
}

#[tokio::test]
async fn whoami_signed_out_is_401_json_with_clerk_headers() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/api/whoami")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 401, "API routes never redirect");
    assert_eq!(r.headers()["x-clerk-auth-status"], "signed-out");
    assert_eq!(r.headers()["x-clerk-auth-reason"], "session-token-and-uat-missing");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "session-token-and-uat-missing");
    assert!(body["error"].is_string());
}

/// The token's own claims, as the SDK's auth object carries them (`sessionClaims`).
fn claims_of(token: &str) -> Value {
    clerk::verify::decode_jwt(token).unwrap().into_payload()
}

/// `/api/whoami` answers what `@clerk/backend`'s `auth()` (`authenticateRequest(…).toAuth()`)
/// answers for the same token, less its functions: the values below are the SDK's own
/// (3.25.0), `null` and absent members included.
#[tokio::test]
async fn whoami_with_bearer_and_with_cookie() {
    let app = spawn_app().await;
    let tok = app.token("user_1", json!({"v": 2, "fea": "o:projects", "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "manage,read", "fpm": "3"}}));
    let r = app.http.get(app.url("/api/whoami")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"tokenType": "session_token", "sessionClaims": claims_of(&tok), "sessionId": "sess_user_1",
               "sessionStatus": null, "userId": "user_1", "orgId": "org_1", "orgRole": "org:admin", "orgSlug": "acme",
               "orgPermissions": ["org:projects:manage", "org:projects:read"], "factorVerificationAge": null,
               "isAuthenticated": true})
    );

    // v1 claims with nothing but the user: no organization members at all (the SDK copies the
    // absent `org_*` claims, so they stay undefined).
    let plain = app.token("user_2", json!({}));
    let r = app.http.get(app.url("/api/whoami")).header("cookie", app.session_cookie(&plain)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"tokenType": "session_token", "sessionClaims": claims_of(&plain), "sessionId": "sess_user_2",
               "sessionStatus": null, "userId": "user_2", "factorVerificationAge": null, "isAuthenticated": true})
    );

    // v1 organization claims without `org_permissions`: the SDK leaves `orgPermissions` out.
    let v1 = app.token("user_3", json!({"org_id": "org_1", "org_role": "org:member", "org_slug": "acme"}));
    let body: Value = app.http.get(app.url("/api/whoami")).bearer_auth(&v1).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        body,
        json!({"tokenType": "session_token", "sessionClaims": claims_of(&v1), "sessionId": "sess_user_3",
               "sessionStatus": null, "userId": "user_3", "orgId": "org_1", "orgRole": "org:member", "orgSlug": "acme",
               "factorVerificationAge": null, "isAuthenticated": true})
    );
}

/// An active v2 session without an organization (a personal account, where the instance allows
/// them): the SDK has no `orgId`, `orgRole`, `orgSlug` or `orgPermissions` member at all — not
/// `null`, not `[]` — and carries `sessionStatus` and `factorVerificationAge` from the claims.
/// (`orgPermissions: null` belongs to the signed-out object, e.g. a pending session's, which the
/// API refuses instead.)
#[tokio::test]
async fn whoami_without_an_active_organization_is_the_sdks_object() {
    let app = spawn_app().await;
    let tok = app.token("user_4", json!({"v": 2, "sts": "active", "fva": [3, -1]}));
    let r = app.http.get(app.url("/api/whoami")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"tokenType": "session_token", "sessionClaims": claims_of(&tok), "sessionId": "sess_user_4",
               "sessionStatus": "active", "userId": "user_4", "factorVerificationAge": [3, -1], "isAuthenticated": true})
    );
    for member in ["orgId", "orgRole", "orgSlug", "orgPermissions", "actor"] {
        assert!(body.get(member).is_none(), "{member} is absent, as in the SDK: {body}");
    }
    // The same session pending (organizations required): 401, the session's task named.
    let pending = app.token("user_4", json!({"v": 2, "sts": "pending", "fva": [3, -1]}));
    let r = app.http.get(app.url("/api/whoami")).bearer_auth(&pending).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["reason"], "session-pending");
    // A workspace page leads a pending session to its task; anything but a GET there is told
    // the session is pending (a redirect would turn a write into a page load).
    let r = app.http.get(app.url("/app/projects")).bearer_auth(&pending).send().await.unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "/select-org?redirect_url=%2Fapp%2Fprojects");
    let r = app.http.post(app.url("/app/projects")).bearer_auth(&pending).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["reason"], "session-pending");
}

#[tokio::test]
async fn bad_tokens_get_their_reason() {
    let app = spawn_app().await;
    let expired = app.token("user_1", json!({"iat": now() - 120, "nbf": now() - 130, "exp": now() - 60}));
    let cases = [
        (expired, "session-token-expired-refresh-non-eligible-no-refresh-cookie"),
        ("garbage".to_string(), "token-invalid"),
        (app.token("user_1", json!({"azp": "https://evil.example"})), "token-invalid-authorized-parties"),
    ];
    for (tok, reason) in cases {
        let r = app.http.get(app.url("/api/whoami")).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), 401, "{reason}");
        assert_eq!(r.headers()["x-clerk-auth-reason"], reason);
        assert_eq!(r.json::<Value>().await.unwrap()["reason"], reason);
    }
}

#[tokio::test]
async fn protected_pages_redirect_to_sign_in_and_sign_in_to_clerk() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/app/dashboard?tab=1")).header("sec-fetch-dest", "document").send().await.unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "/sign-in?redirect_url=%2Fapp%2Fdashboard%3Ftab%3D1");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = app.http.get(app.url("/select-org")).send().await.unwrap();
    assert_eq!(r.status(), 307);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/sign-in?"));

    // /sign-in itself is public (no loop) and forwards to Clerk with an absolute way back.
    let r = app.http.get(app.url("/sign-in?redirect_url=%2Fapp%2Fdashboard%3Ftab%3D1")).send().await.unwrap();
    assert_eq!(r.status(), 307);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let back = format!("{}/app/dashboard?tab=1", app.base);
    let expected = format!(
        "{SIGN_IN}?{}",
        form_urlencoded::Serializer::new(String::new()).append_pair("redirect_url", &back).finish()
    );
    assert_eq!(loc, expected);
    // no open redirect
    let r = app.http.get(app.url("/sign-in?redirect_url=https%3A%2F%2Fevil.example%2F")).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(
        loc.contains(
            &form_urlencoded::byte_serialize(format!("{}/select-org", app.base).as_bytes()).collect::<String>()
        ),
        "{loc}"
    );
    assert!(!loc.contains("evil"));
}

#[tokio::test]
async fn tenant_pages_need_an_active_org() {
    let app = spawn_app().await;
    let no_org = app.token("user_1", json!({}));
    let r = app
        .http
        .get(app.url("/app/dashboard"))
        .header("cookie", app.session_cookie(&no_org))
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "/select-org?redirect_url=%2Fapp%2Fdashboard");
    sqlx::query("INSERT INTO organizations (id, slug, name) VALUES ('org_1', 'acme', 'Acme Rockets')")
        .execute(&app.admin)
        .await
        .unwrap();
    let with_org = app.token("user_1", json!({"org_id": "org_1", "org_role": "org:member", "org_slug": "acme"}));
    let r = app
        .http
        .get(app.url("/app/dashboard"))
        .header("cookie", app.session_cookie(&with_org))
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "signed in with an org passes the gate");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("data-testid=\"org-name\""), "the dashboard rendered");
    assert!(html.contains("Acme Rockets"), "with the active organization's name from the mirror");
    assert!(html.contains("active projects"));
    // `/app` itself is the dashboard's address, by a redirect (after the gate, so the same caller).
    let r = app
        .http
        .get(app.url("/app"))
        .header("cookie", app.session_cookie(&with_org))
        .header("sec-fetch-dest", "document")
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "/app/dashboard");
    assert_eq!(r.text().await.unwrap(), "", "a bare redirect, no page rendered into its body");
    let r = app.http.get(app.url("/app")).header("sec-fetch-dest", "document").send().await.unwrap();
    assert_eq!(r.status(), 307, "signed out, the gate answers first");
    assert_eq!(r.headers()["location"].to_str().unwrap(), "/sign-in?redirect_url=%2Fapp");
}

#[tokio::test]
async fn stale_cookie_on_a_document_request_handshakes_with_the_frontend_api() {
    let app = spawn_app().await;
    let tok = app.token("user_1", json!({}));
    let r = app
        .http
        .get(app.url("/app/dashboard"))
        .header("cookie", format!("__session={tok}"))
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with("https://clerk.example.com/v1/client/handshake?redirect_url="), "{loc}");
    assert!(loc.contains("__clerk_hs_reason=session-token-but-no-client-uat"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-clerk-auth-status"], "handshake");
    // the same for a fetch() is a plain 401
    let r = app
        .http
        .get(app.url("/api/whoami"))
        .header("cookie", format!("__session={tok}"))
        .header("sec-fetch-dest", "empty")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-clerk-auth-reason"], "session-token-but-no-client-uat");
}

#[tokio::test]
async fn profile_is_404_until_synced_then_the_row() {
    let app = spawn_app().await;
    let tok = app.token("user_42", json!({}));
    let r = app.http.get(app.url("/api/profile")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("not synced"));
    sqlx::query("INSERT INTO users (clerk_id, email, name) VALUES ('user_42', 'ada@example.com', 'Ada Lovelace')")
        .execute(&app.admin)
        .await
        .unwrap();
    let r = app.http.get(app.url("/api/profile")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["clerkId"].as_str(), body["email"].as_str(), body["name"].as_str()),
        (Some("user_42"), Some("ada@example.com"), Some("Ada Lovelace"))
    );
    assert_eq!(app.http.get(app.url("/api/profile")).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn sign_out_clears_cookies_and_refuses_cross_site_posts() {
    let app = spawn_app().await;
    let tok = app.token("user_1", json!({}));
    let cookie = app.session_cookie(&tok);
    let r = app
        .http
        .post(app.url("/sign-out"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "CSRF");
    let r = app
        .http
        .post(app.url("/sign-out"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "CSRF by Origin");
    let r = app.http.post(app.url("/sign-out")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 403, "a cookie-authenticated write that does not say where it comes from");
    let r = app
        .http
        .post(app.url("/api/auth"))
        .header("cookie", &cookie)
        .header("origin", app.url(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "same-origin by Origin passes the guard");
    // Clerk unreachable (this app's Backend API is a closed port): the session cannot be ended,
    // so nothing is cleared and the page says so.
    for session in
        [cookie.clone(), app.session_cookie(&app.token("user_1", json!({"iat": now() - 600, "exp": now() - 540})))]
    {
        let r = app
            .http
            .post(app.url("/sign-out"))
            .header("cookie", &session)
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 502);
        assert!(r.headers().get("set-cookie").is_none(), "nothing cleared");
        assert!(r.text().await.unwrap().contains("You are still signed in"));
    }
    // No session (none, or a token this instance never signed): only the cookies to clear.
    let forged = crate::helpers::foreign_token();
    for session in [String::new(), format!("__session={forged}")] {
        let r = app
            .http
            .post(app.url("/sign-out"))
            .header("cookie", session)
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
    }
    let r = app.http.post(app.url("/sign-out")).header("sec-fetch-site", "same-origin").send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cleared: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(cleared.iter().any(|c| c.starts_with("__session=;") && c.contains("Max-Age=0")), "{cleared:?}");
    assert!(cleared.iter().any(|c| c.starts_with("__client_uat=0;")), "{cleared:?}");
    assert!(cleared.iter().any(|c| c.starts_with("__session_naoXFJnI=;")), "suffixed family too: {cleared:?}");
}

/// A development instance whose handshake token does not verify (typically: the keys changed
/// under the browser's cookies). Clerk's SDK throws with guidance to clear the cookies; a person
/// gets that guidance as a page, an API client as JSON, and nothing is signed in.
#[tokio::test]
async fn invalid_handshake_token_in_development_explains_itself() {
    let app = crate::helpers::spawn_app_with(&[("CLERK_PUBLISHABLE_KEY", "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k")]).await;
    let session = app.session_cookie(&app.token("user_1", json!({})));

    let page = app
        .http
        .get(app.url("/app/dashboard?__clerk_handshake=garbage.value.here"))
        .header("cookie", &session)
        .header("accept", "text/html")
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 500);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    // Server-built HTML runs no script at all.
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Handshake token verification failed") && html.contains("clear your cookies"), "{html}");

    let api = app
        .http
        .get(app.url("/api/whoami?__clerk_handshake=garbage.value.here"))
        .header("cookie", &session)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 500);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["code"], "handshake_invalid_in_development");
    assert!(body["error"].as_str().unwrap().contains("clear your cookies"), "{body}");

    // A handshake signed by another instance's key: the SDK's own message, word for word.
    let foreign = crate::helpers::foreign_token();
    let r = app
        .http
        .get(app.url(&format!("/app/dashboard?__clerk_handshake={foreign}")))
        .header("cookie", &session)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"],
        "Clerk: Handshake token verification failed due to an invalid signature. If you have switched Clerk keys locally, clear your cookies and try again."
    );
}

/// Only a Bearer token replaces the session cookie: with any other `Authorization` scheme the
/// cookie is still the credential, so a cross-site write is refused.
#[tokio::test]
async fn a_non_bearer_authorization_header_does_not_skip_the_csrf_check() {
    let app = spawn_app().await;
    let tok = app.token("user_1", json!({"v": 2, "o": {"id": "org_1", "rol": "admin"}}));
    let cookie = app.session_cookie(&tok);
    let post = |auth: &'static str| {
        app.http
            .post(app.url("/api/projects/create"))
            .header("cookie", &cookie)
            .header("authorization", auth)
            .header("sec-fetch-site", "cross-site")
            .form(&[("name", "x"), ("description", "")])
    };
    let r = post("Basic dXNlcjpwYXNz").send().await.unwrap();
    assert_eq!(r.status(), 403, "Basic + cookie is a cookie request");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "cross_site");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects").fetch_one(&app.admin).await.unwrap();
    assert_eq!(n, 0, "nothing written");
    // A Bearer request carries its own credential: no CSRF question, and it is authorized.
    let r = app
        .http
        .post(app.url("/api/projects/create"))
        .bearer_auth(&tok)
        .header("cookie", "__session=stale")
        .header("sec-fetch-site", "cross-site")
        .form(&[("name", "x"), ("description", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Forwarded headers are the proxy's words: ignored unless the operator trusts a proxy, and a
/// trusted proxy must name a real scheme. None of this may panic.
#[tokio::test]
async fn forwarded_headers_count_only_behind_a_trusted_proxy() {
    let app = spawn_app().await;
    let tok = app.token("user_1", json!({}));
    let activate = |app: &crate::helpers::TestApp, headers: &[(&'static str, &'static str)]| {
        let mut rb = app
            .http
            .post(app.url("/select-org/activate"))
            .bearer_auth(&tok)
            .form(&[("org_id", "org_1"), ("redirect_url", "/app/projects")]);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb
    };
    // Untrusted: the headers are dropped; the way back is this server, not the header's host.
    let r = activate(&app, &[("x-forwarded-proto", "foo"), ("x-forwarded-host", "evil.example")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(!loc.contains("evil.example"), "{loc}");
    assert!(loc.contains(&form_urlencoded::byte_serialize(app.base.as_bytes()).collect::<String>()), "{loc}");

    let trusted = crate::helpers::spawn_app_with(&[("TENANTRY_TRUST_PROXY", "true")]).await;
    let r = activate(&trusted, &[("x-forwarded-proto", "foo")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "bad_forwarded_proto");
    let r = activate(&trusted, &[("x-forwarded-proto", "https"), ("x-forwarded-host", "app.example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.contains("https%3A%2F%2Fapp.example.com%2Fapp%2Fprojects"), "{loc}");
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains");
}

/// Every page carries the security headers; a Leptos page's policy allows only its own nonce'd
/// scripts, and the nonce is the one on its scripts.
#[tokio::test]
async fn pages_carry_security_headers_and_a_nonce_policy() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "strict-origin-when-cross-origin");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(!r.headers().contains_key("strict-transport-security"), "plain http: no HSTS");
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    let nonce =
        csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).expect("a nonce in the policy").to_string();
    assert!(nonce.len() >= 16, "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("https://clerk.example.com"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the page's scripts carry the policy's nonce");
    let again = app.http.get(app.url("/")).send().await.unwrap();
    assert!(
        !again.headers()["content-security-policy"].to_str().unwrap().contains(&nonce),
        "a fresh nonce per response"
    );
}

/// A pending session (Clerk's `choose-organization` task: organizations required, none active
/// yet) is signed in with a task left: pages lead to the task page `/select-org`, never to
/// sign-in; the task page and its actions work; APIs answer 401 saying the session is pending.
#[tokio::test]
async fn pending_sessions_go_to_the_task_page_not_to_sign_in() {
    let app = spawn_app().await;
    let pending = app.token("user_p", json!({"v": 2, "sts": "pending"}));
    let cookie = app.session_cookie(&pending);

    let r = app
        .http
        .get(app.url("/app/projects?q=x"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "/select-org?redirect_url=%2Fapp%2Fprojects%3Fq%3Dx");

    let r = app
        .http
        .get(app.url("/select-org"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    // The task page, with its form to create an organization (the list itself needs Clerk,
    // unreachable here, while the mirror has none of this user's memberships).
    assert!(html.contains("Choose an organization") && html.contains(r#"action="/select-org/create""#), "{html}");
    assert!(html.contains(r#"data-testid="load-error""#) && !html.contains(r#"data-testid="no-orgs""#), "{html}");

    for path in ["/api/whoami", "/api/profile"] {
        let r = app.http.get(app.url(path)).bearer_auth(&pending).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers()["x-clerk-auth-reason"], "session-pending");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (body["code"].as_str(), body["reason"].as_str()),
            (Some("session_pending"), Some("session-pending"))
        );
    }
    // A server function of the workspace is an API too.
    let r = app
        .http
        .post(app.url("/api/projects/list"))
        .bearer_auth(&pending)
        .form(&[("search", ""), ("status", "all")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Choosing an organization is the task: activation goes through Clerk's handshake.
    let r = app
        .http
        .post(app.url("/select-org/activate"))
        .bearer_auth(&pending)
        .form(&[("org_id", "org_1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"].to_str().unwrap().contains("organization_id=org_1"));
}

/// `CLERK_JWT_KEY` may be the instance's key as PKCS#1 (`BEGIN RSA PUBLIC KEY`), on one line with
/// literal `\n` escapes as env files hold it: tokens signed by the instance verify, others not.
#[tokio::test]
async fn a_pkcs1_jwt_key_verifies_the_instances_tokens() {
    let pkcs1 = include_str!("fixtures/instance-public-pkcs1.pem");
    assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    let escaped = pkcs1.trim().replace('\n', "\\n");
    for key in [pkcs1.to_string(), escaped] {
        let app = crate::helpers::spawn_app_with(&[("CLERK_JWT_KEY", &key)]).await;
        let tok = app.token("user_1", json!({}));
        let r = app.http.get(app.url("/api/whoami")).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["userId"], "user_1");
        let r = app.http.get(app.url("/api/whoami")).bearer_auth(crate::helpers::foreign_token()).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["x-clerk-auth-reason"], "token-invalid-signature");
    }
}
