//! The Backend API client against a local stub that misbehaves on purpose: 429 with
//! `Retry-After`, 5xx, shapes it does not understand, and ids that try to change the path.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use clerk::bapi::{ApiError, BackendApi, CreateOrganization, RetryPolicy};
use clerk::SecretKey;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Scripted answers, one per request in order (the last one repeats); every request's path and
/// query are recorded.
#[derive(Clone, Default)]
struct Stub {
    script: Arc<Vec<(u16, Option<&'static str>, String)>>,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn answer(State(s): State<Stub>, uri: Uri) -> Response {
    let n = {
        let mut seen = s.seen.lock().unwrap();
        seen.push(uri.to_string());
        seen.len() - 1
    };
    let (status, retry_after, body) = s.script[n.min(s.script.len() - 1)].clone();
    let mut r = (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], body).into_response();
    if let Some(ra) = retry_after {
        r.headers_mut().insert("retry-after", ra.parse().unwrap());
    }
    r
}

async fn stub(script: Vec<(u16, Option<&'static str>, String)>) -> (BackendApi, Stub) {
    let s = Stub { script: Arc::new(script), ..Default::default() };
    let app = Router::new().fallback(answer).with_state(s.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let api = BackendApi::new(&url, SecretKey::parse("sk_test_stub").unwrap()).with_retry(RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
    });
    (api, s)
}

fn clerk_error(code: &str) -> String {
    json!({"errors": [{"code": code, "message": code, "long_message": code}]}).to_string()
}

fn user() -> String {
    json!({"object": "user", "id": "user_1", "first_name": "Ada", "last_name": null, "username": null,
           "primary_email_address_id": null, "email_addresses": [], "created_at": 1, "updated_at": 2})
    .to_string()
}

fn calls(s: &Stub) -> usize {
    s.seen.lock().unwrap().len()
}

#[tokio::test]
async fn a_429_is_retried_after_the_time_clerk_asks_for() {
    let (api, s) = stub(vec![(429, Some("1"), clerk_error("too_many_requests")), (200, None, user())]).await;
    let t = Instant::now();
    assert_eq!(api.get_user("user_1").await.unwrap().id, "user_1");
    assert!(t.elapsed() >= Duration::from_secs(1), "waited {:?}, Clerk asked for 1 s", t.elapsed());
    assert_eq!(calls(&s), 2);
}

#[tokio::test]
async fn a_429_asking_for_longer_than_the_bound_is_returned_not_waited_out() {
    let (api, s) = stub(vec![(429, Some("30"), clerk_error("too_many_requests")), (200, None, user())]).await;
    let t = Instant::now();
    let e = api.get_user("user_1").await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!((e.status(), e.retry_after(), calls(&s)), (Some(429), Some(30), 1));
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_given_up() {
    let (api, s) =
        stub(vec![(503, None, "upstream down".into()), (502, None, clerk_error("x")), (200, None, user())]).await;
    assert_eq!(api.get_user("user_1").await.unwrap().id, "user_1");
    assert_eq!(calls(&s), 3);

    let (api, s) = stub(vec![(500, None, clerk_error("internal"))]).await;
    let e = api.list_organizations(10, 0).await.unwrap_err();
    assert_eq!((e.status(), calls(&s)), (Some(500), 4), "one attempt and three retries, no more");
    assert!(e.to_string().contains("ListOrganizations GET /v1/organizations"), "{e}");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (api, s) = stub(vec![(404, None, clerk_error("resource_not_found")), (200, None, user())]).await;
    assert_eq!(api.get_user("user_1").await.unwrap_err().code(), Some("resource_not_found"));
    assert_eq!(calls(&s), 1);
}

#[tokio::test]
async fn creating_an_organization_is_retried_on_429_only() {
    let org = json!({"object": "organization", "id": "org_1", "name": "Acme", "slug": "acme",
                     "created_at": 1, "updated_at": 1})
    .to_string();
    let body = CreateOrganization { name: "Acme".into(), created_by: "user_1".into(), slug: None };
    let (api, s) = stub(vec![(500, None, clerk_error("internal")), (200, None, org.clone())]).await;
    assert_eq!(api.create_organization(&body).await.unwrap_err().status(), Some(500));
    assert_eq!(calls(&s), 1, "a 5xx may have created it: never repeated");
    let (api, s) = stub(vec![(429, Some("0"), clerk_error("too_many_requests")), (200, None, org)]).await;
    assert_eq!(api.create_organization(&body).await.unwrap().id, "org_1");
    assert_eq!(calls(&s), 2);
}

/// The request path follows the SDK, which does not retry refresh or the handshake payload.
#[tokio::test]
async fn request_path_calls_are_not_retried() {
    let (api, s) = stub(vec![(503, None, clerk_error("unavailable"))]).await;
    assert_eq!(api.handshake_payload("n").await.unwrap_err().status(), Some(503));
    let e = api.refresh_session("sess_1", "t", "r", "https://a.test", &http::HeaderMap::new(), false).await;
    assert_eq!(e.unwrap_err().status(), Some(503));
    assert_eq!(calls(&s), 2);
}

#[tokio::test]
async fn a_shape_we_do_not_understand_is_a_clear_error_naming_the_endpoint() {
    // The shape this client used to expect, and Clerk's `GetUserList` does not answer.
    let (api, _s) = stub(vec![(200, None, json!({"data": [], "total_count": 0}).to_string())]).await;
    let e = api.list_users(10, 0).await.unwrap_err();
    assert!(matches!(e, ApiError::Unexpected { status: 200, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("GetUserList GET /v1/users") && msg.contains("does not understand"), "{msg}");
    // A non-JSON error body too.
    let (api, _s) = stub(vec![(418, None, "<html>teapot</html>".into())]).await;
    let msg = api.get_session("sess_1").await.unwrap_err().to_string();
    assert!(msg.contains("GetSession GET /v1/sessions/{session_id}") && msg.contains("teapot"), "{msg}");
}

#[tokio::test]
async fn ids_cannot_change_the_path() {
    let (api, s) = stub(vec![(200, None, user())]).await;
    api.get_user("../organizations/org_1?x=1#f").await.unwrap();
    api.get_user("user_1/../../jwks").await.unwrap();
    api.get_user("a\\b c%2F").await.unwrap();
    let seen = s.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "/v1/users/..%2Forganizations%2Forg_1%3Fx=1%23f",
            "/v1/users/user_1%2F..%2F..%2Fjwks",
            "/v1/users/a%5Cb%20c%252F",
        ]
    );
    for bad in ["", ".", ".."] {
        let e = api.get_user(bad).await.unwrap_err();
        assert!(matches!(e, ApiError::InvalidId { .. }), "{bad:?}: {e:?}");
    }
    assert_eq!(calls(&s), 3, "refused ids never reach Clerk");
}
