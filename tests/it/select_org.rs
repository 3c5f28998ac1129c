//! `/select-org`, the page of Clerk's `choose-organization` session task: activating an
//! organization goes through Clerk's handshake, never trusting the posted id, and the list is
//! the user's own organizations, from the mirror or from Clerk's Backend API.

use crate::helpers::spawn_app;
use crate::workspace::{token, Who};
use serde_json::json;

#[tokio::test]
async fn select_org_activation_goes_through_clerk() {
    let app = spawn_app().await;
    let t = token(&app, Who::NoOrg).unwrap();
    let cookie = app.session_cookie(&t);
    let activate = |site: &'static str| {
        app.http
            .post(app.url("/select-org/activate"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", site)
            .form(&[("org_id", "org_a")])
            .send()
    };
    let r = activate("same-origin").await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(&loc[..url::Position::AfterPath], "https://clerk.example.com/v1/client/handshake");
    let q: std::collections::HashMap<String, String> = loc.query_pairs().into_owned().collect();
    assert_eq!(q["organization_id"], "org_a");
    assert_eq!(q["redirect_url"], format!("{}/app/dashboard", app.base));
    // refused cross-site, and for signed-out callers
    let r = activate("cross-site").await.unwrap();
    assert_eq!(r.status(), 403);
    let r = app.http.post(app.url("/select-org/activate")).form(&[("org_id", "org_a")]).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

/// `/select-org` lists the signed-in user's organizations from the mirror — each by name and
/// role with the form that activates it, the active one to continue in, never a membership that
/// ended or another user's — without asking Clerk; with an empty mirror it shows what Clerk's
/// Backend API answers for that user, and an error, not an empty list, when Clerk refuses.
#[tokio::test]
async fn select_org_lists_the_users_organizations_from_the_mirror_or_from_clerk() {
    use axum::extract::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let stub = axum::Router::new().route(
        "/v1/users/{id}/organization_memberships",
        axum::routing::get(move |Path(id): Path<String>| {
            use axum::response::IntoResponse;
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if id == "user_broken" {
                    let error = json!({"errors": [{"code": "internal_clerk_error", "message": "Oops"}]});
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error)).into_response();
                }
                let mut m = crate::webhooks::membership("orgmem_z", "org_z", &id, "org:admin", 1);
                m["organization"]["name"] = json!("Zeta Works");
                let data = if id == "user_fresh" { vec![m] } else { vec![] };
                axum::Json(json!({"data": data, "total_count": data.len()})).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stub_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, stub).await.unwrap() });
    let app = crate::helpers::spawn_app_with(&[("CLERK_API_URL", &stub_url)]).await;
    for stmt in [
        "INSERT INTO organizations (id, slug, name) VALUES ('org_a', 'a', 'Acme Ltd'), ('org_b', 'b', 'Borealis Inc'),
         ('org_c', 'c', 'Cyberdyne'), ('org_d', 'd', 'Dharma')",
        "INSERT INTO org_memberships (org_id, user_clerk_id, role) VALUES ('org_b', 'user_x', 'org:member'),
         ('org_a', 'user_x', 'org:admin'), ('org_c', 'user_other', 'org:admin')",
        "INSERT INTO org_memberships (org_id, user_clerk_id, role, deleted_at) VALUES ('org_d', 'user_x', 'org:admin', now())",
    ] {
        sqlx::query(stmt).execute(&app.admin).await.unwrap();
    }
    let page = |token: String| {
        let app = &app;
        async move {
            let r = app.http.get(app.url("/select-org")).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };

    let html = page(app.token("user_x", json!({"org_id": "org_a", "org_role": "org:admin"}))).await;
    assert!(html.contains(r#"data-testid="org-list""#), "{html}");
    let (acme, borealis) =
        (html.find("Acme Ltd").expect("Acme listed"), html.find("Borealis Inc").expect("Borealis listed"));
    assert!(acme < borealis, "by name");
    assert!(html.contains(r#"value="org_a""#) && html.contains(r#"value="org_b""#), "each with its activation form");
    assert!(html[acme..borealis].contains("admin") && html[borealis..].contains("member"), "with the role");
    assert!(html[acme..borealis].contains("Continue") && html[borealis..].contains("Open"), "the active one continues");
    for absent in ["Cyberdyne", "org_c", "Dharma", "org_d", "Zeta Works"] {
        assert!(!html.contains(absent), "{absent} listed: {html}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 0, "the mirror answered: Clerk was not asked");

    // Nothing in the mirror yet: Clerk's list, by name.
    let html = page(app.token("user_fresh", json!({}))).await;
    assert_eq!(asked.load(Ordering::SeqCst), 1, "Clerk was asked once");
    assert!(html.contains(r#"data-testid="org-list""#) && !html.contains(r#"data-testid="no-orgs""#), "{html}");
    assert!(html.contains("Zeta Works") && html.contains(r#"value="org_z""#), "{html}");
    for absent in ["Acme Ltd", "Borealis Inc", "Cyberdyne"] {
        assert!(!html.contains(absent), "{absent} listed: {html}");
    }

    // Clerk answering with an error is not an empty list: the page says the list could not be
    // read, never that the user has no organization (who might then create a second one).
    let r = app.http.get(app.url("/select-org")).bearer_auth(app.token("user_broken", json!({}))).send().await.unwrap();
    let html = r.text().await.unwrap();
    assert!(asked.load(Ordering::SeqCst) > 1, "Clerk was asked");
    assert!(html.contains(r#"data-testid="load-error""#) && !html.contains(r#"data-testid="no-orgs""#), "{html}");
    // The page still lets them create one, knowingly.
    assert!(html.contains(r#"action="/select-org/create""#), "{html}");

    // Inside an organization the header says the list could not be loaded, and the page is
    // still answered in full: the list's failure changes neither its status (the audit log
    // renders whole before its status is sent) nor the rest of its header.
    let broken = app.token("user_broken", json!({"org_id": "org_a", "org_role": "org:admin"}));
    let before = asked.load(Ordering::SeqCst);
    let r = app.http.get(app.url("/app/audit")).bearer_auth(&broken).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(asked.load(Ordering::SeqCst) > before, "the shell asked Clerk for the list");
    assert!(
        html.contains(r#"data-testid="org-switcher-unavailable""#) && !html.contains(r#"data-testid="org-switcher""#),
        "the header says the list could not be loaded, and offers no empty switcher: {html}"
    );
    assert!(html.contains(r#"data-testid="user-menu""#) && html.contains(r#"href="/app/settings""#), "{html}");
    // The list as a JSON call says Clerk could not be asked, never `[]`.
    let r = app.http.post(app.url("/api/organizations/mine")).bearer_auth(&broken).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("unavailable"));
}
