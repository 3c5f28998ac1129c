//! REST API v1's conditional writes (RFC 9110): every single-project answer carries an `ETag`,
//! and `PATCH`/`DELETE` with a stale `If-Match` are refused (412) with nothing written or audited.

use super::{audit, call, projects_in, request, seed, send, token, Answer, Who};
use crate::helpers::spawn_app;
use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::json;

/// A request as `call` makes it, with `If-Match: tag`.
fn conditional(app: &TestApp, who: Who, method: Method, path: &str, tag: &str) -> reqwest::RequestBuilder {
    request(app, who, method, path).header("if-match", tag)
}

fn etag(a: &Answer) -> String {
    a.headers.get("etag").unwrap_or_else(|| panic!("no ETag: {}", a.body)).to_str().unwrap().to_string()
}

#[tokio::test]
async fn if_match_applies_a_write_only_to_the_version_the_client_read() {
    let app = spawn_app().await;
    let (apollo, borealis) = seed(&app).await;
    let path = format!("/projects/{apollo}");
    let read = call(&app, Who::Admin, Method::GET, &path, None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let v1 = etag(&read);
    assert!(v1.starts_with('"') && v1.ends_with('"') && v1.len() > 2, "a strong entity tag: {v1}");
    // The tag names the bytes as sent: an answer with one is never gzipped (a list, without one, is).
    for (route, gzipped) in [(path.as_str(), false), ("/projects?status=all", true)] {
        let rb = app.http.get(app.url(&format!("/api/v1{route}"))).header("accept-encoding", "gzip");
        let r = rb.bearer_auth(token(&app, Who::Admin).unwrap()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers().get("content-encoding").is_some(), gzipped, "{route}: {:?}", r.headers());
    }

    // Two clients read v1. The first writes with it and gets the new version's tag, which a
    // read now answers too.
    let first =
        send(conditional(&app, Who::Admin, Method::PATCH, &path, &v1).json(&json!({"description": "first"}))).await;
    assert_eq!((first.status, first.body["description"].as_str()), (200, Some("first")), "{}", first.body);
    let v2 = etag(&first);
    assert_ne!(v2, v1);
    assert_eq!(etag(&call(&app, Who::Admin, Method::GET, &path, None).await), v2);

    // The second still holds v1: refused, nothing written, nothing audited, the project kept.
    let (rows, entries) = (projects_in(&app, "org_a").await, audit(&app, "org_a").await.len());
    let stale = [
        send(conditional(&app, Who::Admin, Method::PATCH, &path, &v1).json(&json!({"description": "second"}))).await,
        send(conditional(&app, Who::Admin, Method::DELETE, &path, &v1)).await,
        // If-Match compares strongly: the weak form of the current tag does not match.
        send(conditional(&app, Who::Admin, Method::PATCH, &path, &format!("W/{v2}")).json(&json!({"name": "Weak"})))
            .await,
    ];
    for a in stale {
        assert_eq!((a.status, a.problem()), (412, "precondition-failed"), "{}", a.body);
    }
    // A tag that is not one at all is a malformed request, not a conflict.
    for bad in ["xyzzy", "\"open", "W/xyzzy"] {
        let a = send(conditional(&app, Who::Admin, Method::PATCH, &path, bad).json(&json!({"name": "Typo"}))).await;
        assert_eq!((a.status, a.problem()), (400, "invalid-request"), "{bad}: {}", a.body);
    }
    assert_eq!(projects_in(&app, "org_a").await, rows);
    assert_eq!(audit(&app, "org_a").await.len(), entries);

    // The caller's rights and the project's existence are answered before the precondition.
    let a = send(conditional(&app, Who::Member, Method::PATCH, &path, &v1).json(&json!({"name": "M"}))).await;
    assert_eq!((a.status, a.problem()), (403, "forbidden"), "{}", a.body);
    let a = send(conditional(&app, Who::Admin, Method::DELETE, &format!("/projects/{borealis}"), "*")).await;
    assert_eq!((a.status, a.problem()), (404, "not-found"), "{}", a.body);
    assert_eq!(projects_in(&app, "org_b").await.len(), 1);

    // A list naming the current tag, and `*`, pass; so does no If-Match at all.
    let list = format!("\"stale\", {v2}");
    let a = send(conditional(&app, Who::Admin, Method::PATCH, &path, &list).json(&json!({"name": "Artemis"}))).await;
    assert_eq!((a.status, a.body["name"].as_str()), (200, Some("Artemis")), "{}", a.body);
    let a = send(conditional(&app, Who::Admin, Method::PATCH, &path, "*").json(&json!({"archived": true}))).await;
    assert_eq!((a.status, a.body["archived"].as_bool()), (200, Some(true)), "{}", a.body);
    let a = call(&app, Who::Admin, Method::PATCH, &path, Some(json!({"description": "third"}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let current = etag(&a);
    assert_eq!(projects_in(&app, "org_a").await, vec![("Artemis".into(), "third".into(), true)]);
    let a = send(conditional(&app, Who::Admin, Method::DELETE, &path, &current)).await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert!(projects_in(&app, "org_a").await.is_empty());
    // Two writers holding the same tag at once: the check runs on the row the write locks, so
    // exactly one applies and the other is refused, whichever comes first.
    let created = call(&app, Who::Admin, Method::POST, "/projects", Some(json!({"name": "Zeus"}))).await;
    let (zeus, tag) = (format!("/projects/{}", created.body["id"].as_str().unwrap()), etag(&created));
    let entries = audit(&app, "org_a").await.len();
    let (x, y) = tokio::join!(
        send(conditional(&app, Who::Admin, Method::PATCH, &zeus, &tag).json(&json!({"description": "x"}))),
        send(conditional(&app, Who::Admin, Method::PATCH, &zeus, &tag).json(&json!({"description": "y"}))),
    );
    let mut statuses = [x.status, y.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412], "{} / {}", x.body, y.body);
    let winner = if x.status == 200 { "x" } else { "y" };
    let stored = projects_in(&app, "org_a").await;
    assert_eq!(stored, vec![("Zeus".into(), winner.into(), false)]);
    assert_eq!(audit(&app, "org_a").await.len(), entries + 1);

    // Creating answers the new project's tag, the one a read of it answers.
    let created = call(&app, Who::Admin, Method::POST, "/projects", Some(json!({"name": "Hermes"}))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let hermes = format!("/projects/{}", created.body["id"].as_str().unwrap());
    let read = call(&app, Who::Admin, Method::GET, &hermes, None).await;
    assert_eq!(etag(&read), etag(&created));
}
