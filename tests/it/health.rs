use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"), "every response carries its request id");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "ok");
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["database"], "ok");
}

#[tokio::test]
async fn readyz_reports_a_lost_database() {
    let app = spawn_app().await;
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), 200);
    // Take the database away from the app role: no new connections, existing ones killed.
    let db = &app.db.name;
    for stmt in [
        format!("REVOKE CONNECT ON DATABASE {db} FROM PUBLIC, {}", pg_harness::APP_ROLE),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND usename = '{}'",
            pg_harness::APP_ROLE
        ),
    ] {
        sqlx::query(&stmt).execute(&app.admin).await.unwrap();
    }
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["database"], "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn unknown_page_is_a_404_page() {
    let app = spawn_app().await;
    // The landing page is a page rendered on the server (and the 404 below is not an empty router answer).
    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Multi-tenant SaaS"), "landing page rendered on the server");
    assert!(html.contains("hydration-probe"));
    // A path no route matches, for a signed-in user (signed out, the gate sends any such path
    // to sign-in first).
    let token = app.token("user_1", serde_json::json!({}));
    let r = app
        .http
        .get(app.url("/no-such-page"))
        .header("cookie", app.session_cookie(&token))
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    assert!(html.contains("There is nothing at this address."));
    assert!(html.contains(r#"href="/""#), "a way back");
    assert!(!html.contains("Multi-tenant SaaS"), "not the landing page");
}

/// The session keeper is a real file served as an immutable asset whose URL names its content.
#[tokio::test]
async fn session_keeper_is_a_hashed_immutable_asset() {
    let app = spawn_app().await;
    let html = app.http.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let start = html.find("/assets/session-keeper.").expect("the page loads the session keeper");
    let path = &html[start..start + html[start..].find('"').unwrap()];
    assert!(path.len() == "/assets/session-keeper.".len() + 16 + ".js".len(), "{path}");
    let r = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(r.text().await.unwrap(), include_str!("../../assets/session-keeper.js"));
    let stale = app.http.get(app.url("/assets/session-keeper.0000000000000000.js")).send().await.unwrap();
    assert_eq!(stale.status(), 404, "only the current content's URL is served");
}

/// Components read the signed-in user, session and organization from one snapshot the page
/// loads (`use_auth()` & co): the header's user menu shows the mirrored user, and the
/// snapshot's server function answers `null` to a signed-out caller without an error status.
#[tokio::test]
async fn the_header_shows_who_is_signed_in_from_the_auth_snapshot() {
    let app = crate::helpers::spawn_app().await;
    sqlx::query("INSERT INTO users (clerk_id, email, name) VALUES ('user_1', 'zoe@acme.test', 'Zoë Admin')")
        .execute(&app.admin)
        .await
        .unwrap();
    sqlx::query("INSERT INTO organizations (id, name, slug) VALUES ('org_1', 'Acme', 'acme')")
        .execute(&app.admin)
        .await
        .unwrap();
    let tok = app.token("user_1", serde_json::json!({"v": 2, "o": {"id": "org_1", "slg": "acme", "rol": "admin"}}));

    let html = app.http.get(app.url("/app/dashboard")).bearer_auth(&tok).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"data-testid="user-name">Zoë Admin<"#), "{html}");
    let avatar = &html[html.find(r#"data-testid="avatar""#).expect("an avatar")..];
    assert!(avatar.split_once('>').is_some_and(|(_, rest)| rest.starts_with("Z<")), "the avatar's initial");
    assert!(html.contains(r#"href="https://accounts.example.com/user""#), "the Account link: Clerk's hosted profile");

    let r = app.http.post(app.url("/api/auth")).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let snapshot: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        snapshot["user"],
        serde_json::json!({"id": "user_1", "name": "Zoë Admin", "email": "zoe@acme.test", "image_url": null})
    );
    assert_eq!(snapshot["organization"], serde_json::json!({"id": "org_1", "name": "Acme", "slug": "acme"}));
    assert_eq!(
        (snapshot["auth"]["org_role"].as_str(), snapshot["auth"]["session_status"].clone()),
        (Some("org:admin"), serde_json::Value::Null)
    );

    // Public pages read it too: signed out it is simply nothing.
    let r = app.http.post(app.url("/api/auth")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the route gate answers /api/** for signed-out callers first");
    let landing = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(landing.status(), 200, "the snapshot's absence is not an error on a public page");
}
