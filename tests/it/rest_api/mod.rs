//! REST API v1 (`/api/v1/*`) through HTTP: every route × every kind of caller (admin, member,
//! another organization's admin, no active organization, signed out, expired token), what each
//! write leaves in the database and the audit log, cursor pages, RFC 9457 problems, Bearer-only
//! authentication, and the served OpenAPI document.
//!
//! Over 500 lines on purpose: every route × every kind of caller is one matrix over one seed,
//! and the Schemathesis run checks the same routes against the same seed. Conditional writes
//! (`ETag`/`If-Match`) are a concern of their own, in `conditional.rs`, on the same helpers.

mod conditional;

use crate::helpers::{now, spawn_app, TestApp, AZP};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin,
    Member,
    OtherOrgAdmin,
    NoOrg,
    SignedOut,
    Expired,
}

const EVERYONE: [Who; 6] = [Who::Admin, Who::Member, Who::OtherOrgAdmin, Who::NoOrg, Who::SignedOut, Who::Expired];

fn user(who: Who) -> String {
    format!("user_{who:?}").to_lowercase()
}

fn org_claims(id: &str, rol: &str, fpm: &str) -> Value {
    json!({"v": 2, "fea": "o:projects", "o": {"id": id, "slg": format!("{id}-slug"), "rol": rol, "per": "manage,read", "fpm": fpm}})
}

fn token(app: &TestApp, who: Who) -> Option<String> {
    let claims = match who {
        Who::Admin => org_claims("org_a", "admin", "3"),
        Who::Member => org_claims("org_a", "member", "2"),
        Who::OtherOrgAdmin => org_claims("org_b", "admin", "3"),
        Who::NoOrg => json!({"v": 2}),
        Who::SignedOut => return None,
        Who::Expired => {
            let t = now() - 600;
            let mut c = org_claims("org_a", "admin", "3");
            for (k, v) in [("iat", t), ("nbf", t - 10), ("exp", t + 60)] {
                c[k] = json!(v);
            }
            c
        }
    };
    Some(app.token(&user(who), claims))
}

struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    /// The problem's `type` slug, after checking the whole RFC 9457 shape.
    fn problem(&self) -> &str {
        assert_eq!(self.content_type, "application/problem+json", "{}", self.body);
        assert_eq!(self.body["status"], self.status, "{}", self.body);
        assert!(self.body["title"].as_str().is_some_and(|t| !t.is_empty()), "{}", self.body);
        self.body["type"]
            .as_str()
            .and_then(|t| t.strip_prefix("tag:tenantry.dev,2026:problems/"))
            .unwrap_or_else(|| panic!("not a problem type: {}", self.body))
    }
}

/// A request to `/api/v1{path}` with `who`'s token (none when signed out).
fn request(app: &TestApp, who: Who, method: Method, path: &str) -> reqwest::RequestBuilder {
    let rb = app.http.request(method, app.url(&format!("/api/v1{path}")));
    match token(app, who) {
        Some(t) => rb.bearer_auth(t),
        None => rb,
    }
}

async fn call(app: &TestApp, who: Who, method: Method, path: &str, body: Option<Value>) -> Answer {
    let mut rb = request(app, who, method, path);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    send(rb).await
}

async fn send(rb: reqwest::RequestBuilder) -> Answer {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let content_type = headers.get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Answer { status, content_type, headers, body }
}

/// Users in the mirror, org_a named "Acme" (org_b has no row yet: its name comes from Clerk,
/// which is unreachable here, so it is the id), and one project in each organization.
async fn seed(app: &TestApp) -> (String, String) {
    for who in [Who::Admin, Who::Member, Who::OtherOrgAdmin, Who::NoOrg] {
        sqlx::query("INSERT INTO users (clerk_id, email, name) VALUES ($1, $2, $3)")
            .bind(user(who))
            .bind(format!("{}@example.test", user(who)))
            .bind(format!("{who:?}"))
            .execute(&app.admin)
            .await
            .unwrap();
    }
    sqlx::query("INSERT INTO organizations (id, slug, name) VALUES ('org_a', 'org_a-slug', 'Acme')")
        .execute(&app.admin)
        .await
        .unwrap();
    let a = call(app, Who::Admin, Method::POST, "/projects", Some(json!({"name": "Apollo", "description": "a"}))).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let b = call(app, Who::OtherOrgAdmin, Method::POST, "/projects", Some(json!({"name": "Borealis"}))).await;
    assert_eq!(b.status, 201, "{}", b.body);
    (a.body["id"].as_str().unwrap().to_string(), b.body["id"].as_str().unwrap().to_string())
}

async fn projects_in(app: &TestApp, org: &str) -> Vec<(String, String, bool)> {
    sqlx::query_as("SELECT name, description, archived_at IS NOT NULL FROM projects WHERE org_id = $1 ORDER BY name")
        .bind(org)
        .fetch_all(&app.admin)
        .await
        .unwrap()
}

async fn audit(app: &TestApp, org: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT actor, action FROM audit_log WHERE org_id = $1 ORDER BY id")
        .bind(org)
        .fetch_all(&app.admin)
        .await
        .unwrap()
}

/// The answers every route gives the callers who cannot get in at all.
fn assert_refused(who: Who, a: &Answer) -> bool {
    match who {
        Who::SignedOut => {
            assert_eq!((a.status, a.problem()), (401, "unauthenticated"), "{who:?}: {}", a.body);
            assert_eq!(a.headers["www-authenticate"], "Bearer");
            true
        }
        Who::Expired => {
            assert_eq!((a.status, a.problem()), (401, "unauthenticated"), "{who:?}: {}", a.body);
            // Clerk's reason for an expired token it could not refresh (no refresh cookie on a
            // Bearer request; `-non-get` for writes), as the SDK names it.
            let reason = a.body["reason"].as_str().unwrap_or_default();
            assert!(reason.starts_with("session-token-expired-refresh-non-eligible-"), "{reason}");
            assert_eq!(a.headers["www-authenticate"], r#"Bearer error="invalid_token""#);
            true
        }
        _ => false,
    }
}

#[tokio::test]
async fn me_is_the_callers_mirrored_profile() {
    let app = spawn_app().await;
    seed(&app).await;
    for who in EVERYONE {
        let a = call(&app, who, Method::GET, "/me", None).await;
        if assert_refused(who, &a) {
            continue;
        }
        assert_eq!(a.status, 200, "{who:?}: {}", a.body);
        assert_eq!(a.body["id"], user(who));
        assert_eq!(a.body["email"], format!("{}@example.test", user(who)));
        assert_eq!(a.headers["cache-control"], "no-store");
    }
    // Signed in before the user.created webhook: a precise 404.
    let t = app.token("user_new", json!({"v": 2}));
    let a = send(app.http.get(app.url("/api/v1/me")).bearer_auth(t)).await;
    assert_eq!((a.status, a.problem()), (404, "profile-not-synced"), "{}", a.body);
}

#[tokio::test]
async fn organization_is_the_active_one_with_the_callers_role() {
    let app = spawn_app().await;
    seed(&app).await;
    for who in EVERYONE {
        let a = call(&app, who, Method::GET, "/organization", None).await;
        if assert_refused(who, &a) {
            continue;
        }
        let expected = match who {
            Who::Admin => json!({"id": "org_a", "name": "Acme", "slug": "org_a-slug", "role": "org:admin",
                "permissions": ["org:projects:manage", "org:projects:read"], "can_manage_projects": true}),
            Who::Member => json!({"id": "org_a", "name": "Acme", "slug": "org_a-slug", "role": "org:member",
                "permissions": ["org:projects:read"], "can_manage_projects": false}),
            Who::OtherOrgAdmin => json!({"id": "org_b", "name": "org_b", "slug": "org_b-slug", "role": "org:admin",
                "permissions": ["org:projects:manage", "org:projects:read"], "can_manage_projects": true}),
            Who::NoOrg => {
                assert_eq!((a.status, a.problem()), (403, "organization-required"), "{}", a.body);
                continue;
            }
            _ => unreachable!(),
        };
        assert_eq!((a.status, &a.body), (200, &expected), "{who:?}");
    }
}

#[tokio::test]
async fn listing_shows_each_caller_their_own_organizations_projects() {
    let app = spawn_app().await;
    seed(&app).await;
    for who in EVERYONE {
        let a = call(&app, who, Method::GET, "/projects", None).await;
        if assert_refused(who, &a) {
            continue;
        }
        let names: Vec<&str> = match a.status {
            200 => a.body["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect(),
            _ => vec![],
        };
        match who {
            Who::Admin | Who::Member => assert_eq!((a.status, names), (200, vec!["Apollo"]), "{who:?}"),
            Who::OtherOrgAdmin => assert_eq!((a.status, names), (200, vec!["Borealis"]), "{who:?}"),
            Who::NoOrg => assert_eq!((a.status, a.problem()), (403, "organization-required"), "{}", a.body),
            _ => unreachable!(),
        }
    }
}

#[tokio::test]
async fn creating_is_for_managers_and_audited() {
    let app = spawn_app().await;
    seed(&app).await;
    for who in EVERYONE {
        let (before_a, before_b) = (projects_in(&app, "org_a").await.len(), projects_in(&app, "org_b").await.len());
        let name = format!("New {who:?}");
        let a = call(&app, who, Method::POST, "/projects", Some(json!({"name": name, "description": "d"}))).await;
        let (after_a, after_b) = (projects_in(&app, "org_a").await.len(), projects_in(&app, "org_b").await.len());
        if assert_refused(who, &a) {
            assert_eq!((after_a, after_b), (before_a, before_b), "{who:?} wrote nothing");
            continue;
        }
        match who {
            Who::Admin | Who::OtherOrgAdmin => {
                assert_eq!(a.status, 201, "{who:?}: {}", a.body);
                assert_eq!(a.body["name"], name.as_str());
                assert_eq!(a.body["created_by"], user(who));
                let location = a.headers["location"].to_str().unwrap();
                assert_eq!(location, format!("/api/v1/projects/{}", a.body["id"].as_str().unwrap()));
                let again = send(app.http.get(app.url(location)).bearer_auth(token(&app, who).unwrap())).await;
                assert_eq!((again.status, &again.body), (200, &a.body));
                let grew = if who == Who::Admin { (after_a, after_b) } else { (after_b, after_a) };
                let was = if who == Who::Admin { (before_a, before_b) } else { (before_b, before_a) };
                assert_eq!(grew, (was.0 + 1, was.1), "{who:?} created in its own organization only");
            }
            Who::Member => {
                assert_eq!((a.status, a.problem()), (403, "forbidden"), "{}", a.body);
                assert_eq!((after_a, after_b), (before_a, before_b));
            }
            Who::NoOrg => {
                assert_eq!((a.status, a.problem()), (403, "organization-required"), "{}", a.body);
                assert_eq!((after_a, after_b), (before_a, before_b));
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(
        audit(&app, "org_a").await,
        vec![("user_admin".into(), "project.created".into()), ("user_admin".into(), "project.created".into())]
    );
}

#[tokio::test]
async fn reading_one_project_is_for_its_organization_only() {
    let app = spawn_app().await;
    let (apollo, _) = seed(&app).await;
    for who in EVERYONE {
        let a = call(&app, who, Method::GET, &format!("/projects/{apollo}"), None).await;
        if assert_refused(who, &a) {
            continue;
        }
        match who {
            Who::Admin | Who::Member => {
                assert_eq!(a.status, 200, "{who:?}: {}", a.body);
                assert_eq!((a.body["id"].as_str(), a.body["name"].as_str()), (Some(apollo.as_str()), Some("Apollo")));
            }
            // Another organization's project does not exist for this caller.
            Who::OtherOrgAdmin => assert_eq!((a.status, a.problem()), (404, "not-found"), "{}", a.body),
            Who::NoOrg => assert_eq!((a.status, a.problem()), (403, "organization-required"), "{}", a.body),
            _ => unreachable!(),
        }
    }
    let a = call(&app, Who::Admin, Method::GET, "/projects/not-a-uuid", None).await;
    assert_eq!((a.status, a.problem()), (404, "not-found"));
}

#[tokio::test]
async fn patching_changes_only_what_is_given_for_managers_of_that_organization() {
    let app = spawn_app().await;
    let (apollo, _) = seed(&app).await;
    let path = format!("/projects/{apollo}");
    for who in EVERYONE {
        let before = projects_in(&app, "org_a").await;
        let a = call(&app, who, Method::PATCH, &path, Some(json!({"description": format!("by {who:?}")}))).await;
        let after = projects_in(&app, "org_a").await;
        if assert_refused(who, &a) {
            assert_eq!(after, before);
            continue;
        }
        match who {
            Who::Admin => {
                assert_eq!(a.status, 200, "{}", a.body);
                assert_eq!(
                    (a.body["name"].as_str(), a.body["description"].as_str()),
                    (Some("Apollo"), Some("by Admin"))
                );
                assert_eq!(after, vec![("Apollo".into(), "by Admin".into(), false)]);
            }
            Who::Member => assert_eq!((a.status, a.problem(), &after), (403, "forbidden", &before), "{}", a.body),
            Who::OtherOrgAdmin => {
                assert_eq!((a.status, a.problem(), &after), (404, "not-found", &before), "{}", a.body)
            }
            Who::NoOrg => {
                assert_eq!((a.status, a.problem(), &after), (403, "organization-required", &before), "{}", a.body)
            }
            _ => unreachable!(),
        }
    }
    // Rename and archive in one request: two audited changes, one answer.
    let a = call(&app, Who::Admin, Method::PATCH, &path, Some(json!({"name": "Artemis", "archived": true}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!((a.body["name"].as_str(), a.body["archived"].as_bool()), (Some("Artemis"), Some(true)));
    assert_eq!(projects_in(&app, "org_a").await, vec![("Artemis".into(), "by Admin".into(), true)]);
    let actions: Vec<String> = audit(&app, "org_a").await.into_iter().map(|(_, a)| a).collect();
    assert_eq!(actions, ["project.created", "project.updated", "project.renamed", "project.archived"]);
    // Asking for the state it is already in changes nothing and audits nothing, through PATCH
    // as through the archive server function.
    let updated_at = "SELECT updated_at FROM projects WHERE org_id = 'org_a'";
    let stamp: time::OffsetDateTime = sqlx::query_scalar(updated_at).fetch_one(&app.admin).await.unwrap();
    let a = call(&app, Who::Admin, Method::PATCH, &path, Some(json!({"archived": true}))).await;
    assert_eq!((a.status, a.body["archived"].as_bool()), (200, Some(true)), "{}", a.body);
    let form = [("id", apollo.as_str()), ("archived", "true")];
    let r = app.http.post(app.url("/api/projects/archive")).bearer_auth(token(&app, Who::Admin).unwrap()).form(&form);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(audit(&app, "org_a").await.len(), 4);
    let now: time::OffsetDateTime = sqlx::query_scalar(updated_at).fetch_one(&app.admin).await.unwrap();
    assert_eq!(now, stamp);
}

#[tokio::test]
async fn deleting_is_for_managers_of_that_organization_and_audited() {
    let app = spawn_app().await;
    let (apollo, borealis) = seed(&app).await;
    for who in [Who::SignedOut, Who::Expired, Who::Member, Who::OtherOrgAdmin, Who::NoOrg, Who::Admin] {
        let a = call(&app, who, Method::DELETE, &format!("/projects/{apollo}"), None).await;
        let left = projects_in(&app, "org_a").await.len();
        if assert_refused(who, &a) {
            assert_eq!(left, 1);
            continue;
        }
        match who {
            Who::Admin => assert_eq!((a.status, &a.body, left), (204, &Value::Null, 0)),
            Who::Member => assert_eq!((a.status, a.problem(), left), (403, "forbidden", 1), "{}", a.body),
            Who::OtherOrgAdmin => assert_eq!((a.status, a.problem(), left), (404, "not-found", 1), "{}", a.body),
            Who::NoOrg => assert_eq!((a.status, a.problem(), left), (403, "organization-required", 1), "{}", a.body),
            _ => unreachable!(),
        }
    }
    let a = call(&app, Who::Admin, Method::DELETE, &format!("/projects/{apollo}"), None).await;
    assert_eq!((a.status, a.problem()), (404, "not-found"), "gone is gone");
    // The admin of org_a cannot delete org_b's project either.
    let a = call(&app, Who::Admin, Method::DELETE, &format!("/projects/{borealis}"), None).await;
    assert_eq!((a.status, a.problem()), (404, "not-found"));
    assert_eq!(projects_in(&app, "org_b").await.len(), 1);
    assert_eq!(audit(&app, "org_a").await.last().unwrap(), &("user_admin".into(), "project.deleted".into()));
}

#[tokio::test]
async fn cursor_pages_walk_every_project_once_in_name_order() {
    let app = spawn_app().await;
    seed(&app).await;
    for i in 0..6 {
        let a = call(&app, Who::Admin, Method::POST, "/projects", Some(json!({"name": format!("p{i}")}))).await;
        assert_eq!(a.status, 201);
    }
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let a = call(&app, Who::Member, Method::GET, &format!("/projects?limit=3{q}"), None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let data = a.body["data"].as_array().unwrap();
        seen.extend(data.iter().map(|p| p["name"].as_str().unwrap().to_string()));
        pages += 1;
        match a.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(data.len(), 3);
                cursor = Some(c.to_string());
            }
            None => {
                assert_eq!(a.body["next_cursor"], Value::Null);
                break;
            }
        }
    }
    assert_eq!(seen, ["Apollo", "p0", "p1", "p2", "p3", "p4", "p5"]);
    assert_eq!(pages, 3, "3 + 3 + 1: the last page says it is the last");
    // Exactly a page's worth: no empty page after it.
    let a = call(&app, Who::Member, Method::GET, "/projects?limit=7", None).await;
    assert_eq!((a.body["data"].as_array().unwrap().len(), &a.body["next_cursor"]), (7, &Value::Null));
    // Search, status and the refusals.
    let a = call(&app, Who::Member, Method::GET, "/projects?search=P3", None).await;
    assert_eq!(a.body["data"][0]["name"], "p3");
    assert_eq!(a.body["data"].as_array().unwrap().len(), 1);
    let a = call(&app, Who::Member, Method::GET, "/projects?status=archived", None).await;
    assert_eq!((a.status, a.body["data"].as_array().unwrap().len()), (200, 0));
    let id = call(&app, Who::Member, Method::GET, "/projects?search=p4", None).await.body["data"][0]["id"].clone();
    let p = call(
        &app,
        Who::Admin,
        Method::PATCH,
        &format!("/projects/{}", id.as_str().unwrap()),
        Some(json!({"archived": true})),
    )
    .await;
    assert_eq!(p.status, 200);
    let a = call(&app, Who::Member, Method::GET, "/projects?status=archived", None).await;
    assert_eq!((a.body["data"][0]["name"].as_str(), a.body["data"].as_array().unwrap().len()), (Some("p4"), 1));
    assert!(a.body.as_object().unwrap().contains_key("next_cursor") && a.body["next_cursor"].is_null());
    let a = call(&app, Who::Member, Method::GET, "/projects?status=all&search=p4", None).await;
    assert_eq!(a.body["data"].as_array().unwrap().len(), 1);
    let a = call(&app, Who::Member, Method::GET, "/projects?search=p4", None).await;
    assert_eq!(a.body["data"].as_array().unwrap().len(), 0, "active only by default");
    for (query, status, kind) in [
        ("cursor=nope", 400, "invalid-request"),
        ("cursor=", 400, "invalid-request"),
        ("limit=0", 400, "invalid-request"),
        ("limit=101", 400, "invalid-request"),
        ("limit=x", 400, "invalid-request"),
        ("status=deleted", 400, "invalid-request"),
        ("search=%00", 422, "validation-failed"),
    ] {
        let a = call(&app, Who::Member, Method::GET, &format!("/projects?{query}"), None).await;
        assert_eq!((a.status, a.problem()), (status, kind), "{query}: {}", a.body);
    }
    let long = "x".repeat(101);
    let a = call(&app, Who::Member, Method::GET, &format!("/projects?search={long}"), None).await;
    assert_eq!((a.status, a.problem()), (422, "validation-failed"));
    assert_eq!(a.body["errors"], json!([{"field": "search", "problem": "too_long"}]));
    // A cursor outlives the project it follows: deleted (or renamed) under a walk, the walk
    // goes on in name order instead of ending early.
    let a = call(&app, Who::Member, Method::GET, "/projects?limit=2", None).await;
    let (cursor, last) = (a.body["next_cursor"].as_str().unwrap().to_string(), a.body["data"][1]["id"].clone());
    assert_eq!(a.body["data"][1]["name"], "p0");
    let d = call(&app, Who::Admin, Method::DELETE, &format!("/projects/{}", last.as_str().unwrap()), None).await;
    assert_eq!(d.status, 204);
    let a = call(&app, Who::Member, Method::GET, &format!("/projects?limit=2&cursor={cursor}"), None).await;
    let names: Vec<&str> = a.body["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!((a.status, names), (200, vec!["p1", "p2"]), "{}", a.body);
}

#[tokio::test]
async fn bad_bodies_get_precise_problems_and_change_nothing() {
    let app = spawn_app().await;
    seed(&app).await;
    let before = projects_in(&app, "org_a").await;
    let bearer = token(&app, Who::Admin).unwrap();
    let post = || app.http.post(app.url("/api/v1/projects")).bearer_auth(&bearer);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str, Option<Value>)> = vec![
        (
            post().json(&json!({"name": "   "})),
            422,
            "validation-failed",
            Some(json!([{"field": "name", "problem": "missing"}])),
        ),
        (
            post().json(&json!({"name": "x".repeat(81)})),
            422,
            "validation-failed",
            Some(json!([{"field": "name", "problem": "too_long"}])),
        ),
        (
            post().json(&json!({"name": "bell\u{7}"})),
            422,
            "validation-failed",
            Some(json!([{"field": "name", "problem": "control_character"}])),
        ),
        (
            post().json(&json!({"name": "ok", "description": "nul\u{0}"})),
            422,
            "validation-failed",
            Some(json!([{"field": "description", "problem": "control_character"}])),
        ),
        (post().json(&json!({"name": "ok", "org_id": "org_b"})), 422, "validation-failed", None),
        (post().json(&json!({"description": "no name"})), 422, "validation-failed", None),
        (post().json(&json!({"name": "Apollo"})), 409, "name-taken", None),
        (post().header("content-type", "application/json").body("{\"name\":"), 400, "invalid-request", None),
        (post().header("content-type", "text/plain").body("name=x"), 415, "unsupported-media-type", None),
    ];
    for (rb, status, kind, errors) in cases {
        let a = send(rb).await;
        assert_eq!((a.status, a.problem()), (status, kind), "{}", a.body);
        if let Some(e) = errors {
            assert_eq!(a.body["errors"], e);
        }
    }
    assert_eq!(projects_in(&app, "org_a").await, before, "nothing written");
    assert_eq!(audit(&app, "org_a").await.len(), 1, "only the seed's creation is audited");
}

#[tokio::test]
async fn only_a_bearer_token_authenticates() {
    let app = spawn_app().await;
    seed(&app).await;
    let admin = token(&app, Who::Admin).unwrap();
    // The same valid session as a cookie, with every same-origin sign a browser sends: refused.
    let a = send(
        app.http
            .post(app.url("/api/v1/projects"))
            .header("cookie", app.session_cookie(&admin))
            .header("origin", AZP)
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"name": "via cookie"})),
    )
    .await;
    assert_eq!((a.status, a.problem()), (401, "unauthenticated"), "{}", a.body);
    assert!(a.body["detail"].as_str().unwrap().contains("Bearer"), "{}", a.body);
    assert_eq!(projects_in(&app, "org_a").await.len(), 1, "nothing written");
    // A Bearer token and someone else's cookie: the token is the credential, the cookie unread.
    let other = app.session_cookie(&token(&app, Who::OtherOrgAdmin).unwrap());
    let a = send(app.http.get(app.url("/api/v1/organization")).bearer_auth(&admin).header("cookie", &other)).await;
    assert_eq!((a.status, a.body["id"].as_str()), (200, Some("org_a")), "{}", a.body);
    // A refused Bearer token is not rescued by a valid cookie.
    let a = send(
        app.http
            .get(app.url("/api/v1/organization"))
            .bearer_auth(crate::helpers::foreign_token())
            .header("cookie", &other),
    )
    .await;
    assert_eq!((a.status, a.problem()), (401, "unauthenticated"), "{}", a.body);
    // A cross-site cookie write is refused by the same gate, in the API's words.
    let a = send(
        app.http
            .post(app.url("/api/v1/projects"))
            .header("cookie", app.session_cookie(&admin))
            .header("origin", "https://evil.example")
            .json(&json!({"name": "cross-site"})),
    )
    .await;
    assert_eq!((a.status, a.problem()), (401, "unauthenticated"), "{}", a.body);
    // A method the API does not have: 405 as a problem, with `Allow`.
    let a = send(app.http.put(app.url("/api/v1/projects")).bearer_auth(&admin)).await;
    assert_eq!((a.status, a.problem()), (405, "method-not-allowed"), "{}", a.body);
    assert!(a.headers["allow"].to_str().unwrap().contains("GET"));
    // A body over the limit: 413 as a problem.
    let big = json!({"name": "big", "description": "x".repeat(2 << 20)});
    let a = send(app.http.post(app.url("/api/v1/projects")).bearer_auth(&admin).json(&big)).await;
    assert_eq!((a.status, a.problem()), (413, "payload-too-large"), "{}", a.body);
    assert_eq!(projects_in(&app, "org_a").await.len(), 1, "nothing written");
    // Another scheme is not a Bearer token.
    let a = send(app.http.get(app.url("/api/v1/me")).header("authorization", format!("Basic {admin}"))).await;
    assert_eq!((a.status, a.problem()), (401, "unauthenticated"));
    // A token this instance did not sign.
    let a = send(app.http.get(app.url("/api/v1/me")).bearer_auth(crate::helpers::foreign_token())).await;
    assert_eq!((a.status, a.problem()), (401, "unauthenticated"));
    assert_eq!(a.headers["www-authenticate"], r#"Bearer error="invalid_token""#);
    // A pending session (organizations required): its task is named.
    let pending = app.token("user_p", json!({"v": 2, "sts": "pending"}));
    let a = send(app.http.get(app.url("/api/v1/me")).bearer_auth(pending)).await;
    assert_eq!((a.status, a.problem(), a.body["reason"].as_str()), (401, "session-pending", Some("session-pending")));
    // Unknown routes: 401 for strangers, a 404 problem for callers.
    let a = send(app.http.get(app.url("/api/v1/nothing"))).await;
    assert_eq!((a.status, a.problem()), (401, "unauthenticated"));
    let a = send(app.http.get(app.url("/api/v1/nothing")).bearer_auth(&admin)).await;
    assert_eq!((a.status, a.problem()), (404, "not-found"));
    // The older JSON routes keep their own shapes.
    let r = app.http.get(app.url("/api/whoami")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["orgId"], "org_a");
}

#[tokio::test]
async fn a_deleted_organization_and_an_ended_membership_are_refused() {
    let app = spawn_app().await;
    seed(&app).await;
    sqlx::query(
        "INSERT INTO org_memberships (org_id, user_clerk_id, role, deleted_at) VALUES ('org_a', 'user_member', 'org:member', now())",
    )
    .execute(&app.admin)
    .await
    .unwrap();
    for path in ["/organization", "/projects"] {
        let a = call(&app, Who::Member, Method::GET, path, None).await;
        assert_eq!((a.status, a.problem()), (403, "membership-ended"), "{path}: {}", a.body);
        let a = call(&app, Who::Admin, Method::GET, path, None).await;
        assert_eq!(a.status, 200, "{path}: the admin's membership is not ended");
    }
    sqlx::query("UPDATE organizations SET deleted_at = now() WHERE id = 'org_a'").execute(&app.admin).await.unwrap();
    let a = call(&app, Who::Admin, Method::POST, "/projects", Some(json!({"name": "after deletion"}))).await;
    assert_eq!((a.status, a.problem()), (410, "organization-deleted"), "{}", a.body);
    assert_eq!(projects_in(&app, "org_a").await.len(), 1);
}

#[tokio::test]
async fn the_openapi_document_is_public_and_describes_every_route() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc, serde_json::to_value(tenantry::server::routes::v1::openapi()).unwrap(), "served as generated");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut operations: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations.push(format!("{} {path}", method.to_uppercase()));
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("401"), "{method} {path} documents its 401");
            for (status, resp) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(resp["content"]["application/problem+json"].is_object(), "{method} {path} {status}");
                }
            }
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        [
            "DELETE /api/v1/projects/{id}",
            "GET /api/v1/me",
            "GET /api/v1/organization",
            "GET /api/v1/projects",
            "GET /api/v1/projects/{id}",
            "PATCH /api/v1/projects/{id}",
            "POST /api/v1/projects",
        ]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["clerk_session"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A Clerk session token (valid for about a minute; refresh with `getToken()`)."})
    );
    assert_eq!(doc["security"], json!([{"clerk_session": []}]));
}

/// Schemathesis (PyPI, installed by scripts/bootstrap into `.data/venv`) generates requests from
/// the served document, valid and invalid, and checks every answer: no server error, every
/// status, content type, header and body as the document says, invalid input refused, valid
/// input accepted, a deleted project gone, no answer without the token. Deterministic (fixed
/// seed, no example database), loopback only, bounded by a deadline.
#[tokio::test]
async fn schemathesis_finds_every_answer_as_documented() {
    let app = spawn_app().await;
    seed(&app).await;
    // Long enough for the whole run (a real session token lives a minute and is refreshed).
    let t = now();
    let bearer = app.token("user_admin", {
        let mut c = org_claims("org_a", "admin", "3");
        c["exp"] = json!(t + 900);
        c
    });
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let program = root.join(".data/venv/bin/schemathesis");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // No crash cache replayed from earlier runs; warnings (e.g. every call refused) fail the run.
    // A cursor is opaque: only one this API gave out is valid, so any other string the schema
    // allows is refused with 400; likewise an `If-Match` tag the API did not give out is
    // refused (412, or 400 when it is not an entity tag at all): the exceptions to
    // "schema-valid input is accepted". A body the schema refuses but the server reads can
    // meet such a tag first, so 412 is also a right answer to invalid input there. `If-Match` is
    // documented as a plain string, which Schemathesis writes as RFC 9110 does, except in its
    // coverage phase, which sends an empty one as valid input (refused: 400); so for these two
    // operations the two warnings that count refused valid input (validation_mismatch,
    // missing_test_data) are not shown, and `positive_data_acceptance` above still judges every
    // answer to valid input.
    std::fs::write(
        dir.join("schemathesis.toml"),
        "[cache]\nenabled = false\n\n[warnings]\nfail-on = true\n\n\
         [[operations]]\ninclude-name = \"GET /api/v1/projects\"\n\
         checks.positive_data_acceptance.expected-statuses = [200, 400, 401, 403, 404, 409, 429]\n\n\
         [[operations]]\ninclude-name = \"PATCH /api/v1/projects/{id}\"\n\
         warnings.display = [\"missing_auth\", \"base_url_mismatch\", \"missing_deserializer\", \"unused_openapi_auth\", \"unsupported_regex\", \"method_not_allowed\", \"constants_extraction\", \"unmatched_filter\", \"unresolvable_reference\", \"low_valid_rate\", \"rate_limited\", \"dictionary_mismatch\", \"timeout_units\"]\n\
         checks.positive_data_acceptance.expected-statuses = [200, 400, 401, 403, 404, 409, 412, 429]\n\
         checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 406, 412, 422, 428]\n\n\
         [[operations]]\ninclude-name = \"DELETE /api/v1/projects/{id}\"\n\
         warnings.display = [\"missing_auth\", \"base_url_mismatch\", \"missing_deserializer\", \"unused_openapi_auth\", \"unsupported_regex\", \"method_not_allowed\", \"constants_extraction\", \"unmatched_filter\", \"unresolvable_reference\", \"low_valid_rate\", \"rate_limited\", \"dictionary_mismatch\", \"timeout_units\"]\n\
         checks.positive_data_acceptance.expected-statuses = [204, 400, 401, 403, 404, 409, 412, 429]\n\
         checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 406, 412, 422, 428]\n",
    )
    .unwrap();
    let run = tokio::process::Command::new(&program)
        .current_dir(dir)
        .env("HYPOTHESIS_STORAGE_DIRECTORY", dir.join(".hypothesis"))
        .args(["--config-file", "schemathesis.toml", "--no-color", "run"])
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--url", &app.base])
        .args(["-H", &format!("Authorization: Bearer {bearer}")])
        .args(["--checks", "all", "--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "30", "--seed", "42", "--generation-database", "none"])
        .args(["--workers", "1", "--request-timeout", "10", "--max-failures", "20"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("schemathesis finished within 5 minutes")
        .unwrap_or_else(|e| panic!("{} is required (scripts/bootstrap installs it): {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found problems:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("No issues found"), "{stdout}");
}
