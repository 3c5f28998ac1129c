//! Frontend API: hosted sign-in and sign-up pages, the `__client` cookie and `__client_uat`,
//! `GET /v1/client` (the client and its session, with its task while pending),
//! `GET /v1/client/handshake` (token and nonce transports), token refresh, sign-out, JWKS.
//!
//! Over 500 lines on purpose: the whole Frontend API surface a browser sees (hosted pages and protocol endpoints) shares its cookie and session helpers here.

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::state::{new_id, now_ms, Client, Session, State as World, User};
use crate::Shared;

pub const CLIENT_COOKIE: &str = "__client";

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/sign-in") }))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-up", get(sign_up_page).post(sign_up))
        .route("/accept-invitation", get(accept_invitation_page))
        .route("/user", get(user_profile_page))
        .route("/outbox", get(outbox_page))
        .route("/sign-out", get(sign_out).post(sign_out))
        .route("/v1/client", get(get_client))
        .route("/v1/client/handshake", get(handshake))
        .route("/v1/client/sessions/{sid}/tokens", post(refresh_token).options(preflight))
        .route("/.well-known/jwks.json", get(jwks))
}

#[derive(Debug, Deserialize, Default)]
pub struct Back {
    redirect_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Credentials {
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    redirect_url: Option<String>,
    /// Seeded users sign in with one click (development only).
    #[serde(default)]
    quick: Option<String>,
    /// An organization invitation's ticket: accepted once the user is signed in or up.
    #[serde(default)]
    ticket: Option<String>,
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    clerk::request::parse_cookies(headers).get(name).cloned()
}

/// Only origins configured as allowed may be redirected to (no open redirect).
fn allowed_redirect(emu: &Shared, url: Option<&str>) -> Option<String> {
    let u = url::Url::parse(url?).ok()?;
    let origin = u.origin().ascii_serialization();
    emu.config.allowed_origins.iter().any(|o| o.trim_end_matches('/') == origin).then(|| u.to_string())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Clerk emulator</title>
<style>body{{font-family:system-ui,sans-serif;background:#f8fafc;color:#0f172a;margin:0}}main{{max-width:26rem;margin:4rem auto;background:#fff;border:1px solid #e2e8f0;border-radius:.75rem;padding:2rem}}
label{{display:block;margin-top:1rem;font-size:.9rem}}input{{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #cbd5e1;border-radius:.4rem;margin-top:.3rem}}
button{{margin-top:1.2rem;width:100%;padding:.6rem;border:0;border-radius:.4rem;background:#4f46e5;color:#fff;font-weight:600;cursor:pointer}}
.quick button{{background:#fff;color:#334155;border:1px solid #cbd5e1;margin-top:.5rem;text-align:left}}.error{{background:#fef2f2;color:#991b1b;padding:.6rem;border-radius:.4rem;margin-top:1rem}}
.banner{{font-size:.75rem;color:#92400e;background:#fffbeb;padding:.4rem .6rem;border-radius:.4rem}}a{{color:#4f46e5}}</style></head>
<body><main><p class="banner">Clerk emulator: for local development and tests only.</p>{body}</main></body></html>"#
    ))
}

fn ticket_field(ticket: Option<&str>) -> String {
    ticket.map(|t| format!(r#"<input type="hidden" name="ticket" value="{}">"#, escape(t))).unwrap_or_default()
}

fn sign_in_form(emu: &Shared, back: Option<&str>, error: Option<&str>, email: &str) -> Html<String> {
    sign_in_form_with(emu, back, error, email, None)
}

fn sign_in_form_with(
    emu: &Shared,
    back: Option<&str>,
    error: Option<&str>,
    email: &str,
    ticket: Option<&str>,
) -> Html<String> {
    let ticket_input = ticket_field(ticket);
    let back = escape(back.unwrap_or(""));
    let error = error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))).unwrap_or_default();
    let quick: String = {
        let st = emu.lock();
        st.users
            .values()
            .filter(|u| u.password_hash.is_some() && ticket.is_none())
            .take(8)
            .map(|u| format!(r#"<form method="post" action="/sign-in" class="quick"><input type="hidden" name="email" value="{e}"><input type="hidden" name="quick" value="1"><input type="hidden" name="redirect_url" value="{back}"><button type="submit">Continue as {n} ({e})</button></form>"#, e = escape(u.email.as_deref().unwrap_or("")), n = escape(&u.display_name())))
            .collect()
    };
    page(
        "Sign in",
        &format!(
            r#"<h1>Sign in</h1>{error}
<form method="post" action="/sign-in"><input type="hidden" name="redirect_url" value="{back}">{ticket_input}
<label>Email address<input type="email" name="email" value="{email}" required autocomplete="username"></label>
<label>Password<input type="password" name="password" required autocomplete="current-password"></label>
<button type="submit">Continue</button></form>
<p>No account? <a href="/sign-up?redirect_url={back_q}">Sign up</a></p>{quick_block}"#,
            email = escape(email),
            back_q = form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>(),
            quick_block = if quick.is_empty() { String::new() } else { format!("<h2>Seeded users</h2>{quick}") },
        ),
    )
}

/// `/outbox`: the emails Clerk would have sent (organization invitations, newest first), each
/// with its link — the development mailbox, since the emulator sends no mail.
async fn outbox_page(State(emu): State<Shared>) -> Html<String> {
    let st = emu.lock();
    let mut invitations: Vec<_> = st.invitations.values().collect();
    invitations.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
    let items: String = invitations
        .iter()
        .map(|i| {
            let org = st.organizations.get(&i.org_id).map_or(i.org_id.as_str(), |o| o.name.as_str());
            let link = format!("{}/accept-invitation?ticket={}", emu.config.public_url, i.ticket);
            format!(
                r#"<li data-testid="mail" data-to="{to}" data-status="{status}">To {to}: join {org} as {role} ({status}) — <a href="{link}">Accept the invitation</a></li>"#,
                to = escape(&i.email),
                org = escape(org),
                role = escape(&i.role),
                status = escape(i.status()),
                link = escape(&link),
            )
        })
        .collect();
    let body = if items.is_empty() { "<p>No mail yet.</p>".to_string() } else { format!("<ul>{items}</ul>") };
    page("Outbox", &format!("<h1>Outbox</h1><p>Emails Clerk would have sent.</p>{body}"))
}

/// `/user`: a minimal stand-in for the Account Portal's user profile page (Clerk's hosted
/// `/user`), for the browser's signed-in user; a link back when `redirect_url` allows it.
async fn user_profile_page(State(emu): State<Shared>, headers: HeaderMap, Query(back): Query<Back>) -> Html<String> {
    let st = emu.lock();
    let user = cookie(&headers, CLIENT_COOKIE)
        .and_then(|c| st.clients.values().find(|cl| cl.cookie == c))
        .and_then(|c| c.session_id.as_ref())
        .and_then(|sid| st.sessions.get(sid))
        .filter(|s| s.status != "ended")
        .and_then(|s| st.users.get(&s.user_id));
    let back = allowed_redirect(&emu, back.redirect_url.as_deref());
    let back_link = back.map(|u| format!(r#"<p><a href="{}">Back</a></p>"#, escape(&u))).unwrap_or_default();
    match user {
        Some(u) => page(
            "Your account",
            &format!(
                r#"<h1>Your account</h1><dl><dt>Name</dt><dd data-testid="profile-name">{}</dd><dt>Email address</dt><dd>{}</dd><dt>User id</dt><dd>{}</dd></dl>{back_link}"#,
                escape(&u.display_name()),
                escape(u.email.as_deref().unwrap_or("")),
                escape(&u.id)
            ),
        ),
        None => page("Your account", &format!(r#"<h1>Your account</h1><p>You are signed out.</p>{back_link}"#)),
    }
}

async fn sign_in_page(State(emu): State<Shared>, Query(back): Query<Back>) -> Html<String> {
    sign_in_form(&emu, back.redirect_url.as_deref(), None, "")
}

async fn sign_in(State(emu): State<Shared>, headers: HeaderMap, Form(f): Form<Credentials>) -> Response {
    let user = {
        let st = emu.lock();
        st.user_by_email(&f.email).cloned()
    };
    let ok = match &user {
        // One-click sign-in exists only for users the seed gave a password (development data).
        Some(u) if f.quick.is_some() => u.password_hash.is_some(),
        Some(u) => u.password_matches(&f.password),
        None => false,
    };
    let refuse = |msg: &str| {
        let mut resp = sign_in_form_with(&emu, f.redirect_url.as_deref(), Some(msg), &f.email, f.ticket.as_deref())
            .into_response();
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        resp
    };
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(email = %f.email, "emulator sign-in refused");
        return refuse("Wrong email address or password.");
    };
    let org = match &f.ticket {
        Some(t) => match crate::bapi::accept_invitation(&emu, t, &user.id) {
            Ok(org) => Some(org),
            Err(e) => return refuse(e.message()),
        },
        None => None,
    };
    start_session(&emu, &headers, &user, f.redirect_url.as_deref(), org)
}

async fn sign_up_page(Query(back): Query<Back>) -> Html<String> {
    sign_up_form(back.redirect_url.as_deref(), None, "")
}

#[derive(Debug, Deserialize)]
pub struct TicketQuery {
    ticket: Option<String>,
}

/// The link of an organization invitation: sign up with the invited email (or sign in when that
/// address has an account); accepting it then creates the membership and activates the
/// organization, and the browser goes on to the invitation's `redirect_url`.
async fn accept_invitation_page(State(emu): State<Shared>, Query(q): Query<TicketQuery>) -> Response {
    let ticket = q.ticket.unwrap_or_default();
    let found = {
        let st = emu.lock();
        crate::bapi::pending_invitation(&st, &ticket).map(|inv| {
            let org_name = st.organizations.get(&inv.org_id).map(|o| o.name.clone());
            (st.user_by_email(&inv.email).is_some(), inv, org_name)
        })
    };
    match found {
        Err(e) => {
            let body = format!(r#"<h1>Invitation</h1><p class="error" role="alert">{}</p>"#, escape(e.message()));
            let mut resp = page("Invitation", &body).into_response();
            *resp.status_mut() = StatusCode::GONE;
            resp
        }
        Ok((has_account, inv, org_name)) => {
            let back = inv.redirect_url.as_deref();
            let note = format!("You have been invited to join {}.", org_name.unwrap_or_default());
            if has_account {
                sign_in_form_with(&emu, back, None, &inv.email, Some(&ticket)).into_response()
            } else {
                sign_up_form_with(back, None, &inv.email, Some(&ticket), Some(&note)).into_response()
            }
        }
    }
}

fn sign_up_form(back: Option<&str>, error: Option<&str>, email: &str) -> Html<String> {
    sign_up_form_with(back, error, email, None, None)
}

fn sign_up_form_with(
    back: Option<&str>,
    error: Option<&str>,
    email: &str,
    ticket: Option<&str>,
    note: Option<&str>,
) -> Html<String> {
    let ticket_input = ticket_field(ticket);
    let note = note.map(|n| format!("<p>{}</p>", escape(n))).unwrap_or_default();
    let back = escape(back.unwrap_or(""));
    let error = error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))).unwrap_or_default();
    page(
        "Sign up",
        &format!(
            r#"<h1>Create your account</h1>{note}{error}
<form method="post" action="/sign-up"><input type="hidden" name="redirect_url" value="{back}">{ticket_input}
<label>First name<input name="first_name" autocomplete="given-name"></label>
<label>Last name<input name="last_name" autocomplete="family-name"></label>
<label>Email address<input type="email" name="email" value="{}" required autocomplete="email"></label>
<label>Password<input type="password" name="password" required minlength="8" autocomplete="new-password"></label>
<button type="submit">Sign up</button></form>"#,
            escape(email)
        ),
    )
}

async fn sign_up(State(emu): State<Shared>, headers: HeaderMap, Form(f): Form<Credentials>) -> Response {
    let email = f.email.trim().to_lowercase();
    let problem = if !email.contains('@') {
        Some("Enter a valid email address.")
    } else if f.password.len() < 8 {
        Some("Passwords must be at least 8 characters.")
    } else if emu.lock().user_by_email(&email).is_some() {
        Some("That email address is taken. Please try another.")
    } else if let Some(t) = &f.ticket {
        // The invitation is checked before the account exists: a refused one creates nothing.
        match crate::bapi::pending_invitation(&emu.lock(), t) {
            Ok(inv) if inv.email == email => None,
            Ok(_) => Some(crate::bapi::NotAcceptable::OtherEmail.message()),
            Err(e) => Some(e.message()),
        }
    } else {
        None
    };
    if let Some(p) = problem {
        let mut resp =
            sign_up_form_with(f.redirect_url.as_deref(), Some(p), &email, f.ticket.as_deref(), None).into_response();
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return resp;
    }
    let mut user = User {
        id: new_id("user"),
        email: Some(email),
        first_name: Some(f.first_name.trim().to_string()).filter(|s| !s.is_empty()),
        last_name: Some(f.last_name.trim().to_string()).filter(|s| !s.is_empty()),
        username: None,
        password_hash: None,
        salt: String::new(),
        created_at: now_ms(),
        updated_at: now_ms(),
    };
    user.set_password(&f.password);
    emu.lock().users.insert(user.id.clone(), user.clone());
    emu.webhooks.emit("user.created", user.to_json());
    emu.persist();
    let org = match &f.ticket {
        Some(t) => match crate::bapi::accept_invitation(&emu, t, &user.id) {
            Ok(org) => Some(org),
            Err(e) => {
                let mut resp = sign_up_form(f.redirect_url.as_deref(), Some(e.message()), "").into_response();
                *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                return resp;
            }
        },
        None => None,
    };
    start_session(&emu, &headers, &user, f.redirect_url.as_deref(), org)
}

/// A new session on this browser's client; `__client` (HttpOnly, on the emulator host) and
/// `__client_uat` set; back to `redirect_url` when allowed.
/// `activate`: the organization to make active (an invitation just accepted); otherwise the
/// user's only organization, if they have exactly one.
fn start_session(
    emu: &Shared,
    headers: &HeaderMap,
    user: &User,
    redirect: Option<&str>,
    activate: Option<String>,
) -> Response {
    let now = now_ms();
    let (client_cookie, uat) = {
        let mut st = emu.lock();
        let existing = cookie(headers, CLIENT_COOKIE)
            .and_then(|c| st.clients.values().find(|cl| cl.cookie == c).map(|cl| cl.id.clone()));
        let client_id = existing.unwrap_or_else(|| {
            let c = Client {
                id: new_id("client"),
                cookie: new_id("cc"),
                session_id: None,
                updated_at: 0,
                created_at: now_ms(),
            };
            let id = c.id.clone();
            st.clients.insert(id.clone(), c);
            id
        });
        // One session per browser: a new sign-in ends the previous one.
        let previous = st.clients.get(&client_id).and_then(|c| c.session_id.clone());
        if let Some(prev) = previous.and_then(|p| st.sessions.get_mut(&p)) {
            prev.status = "ended".into();
        }
        let only_org = {
            let orgs: Vec<&str> =
                st.memberships.values().filter(|m| m.user_id == user.id).map(|m| m.org_id.as_str()).collect();
            (orgs.len() == 1).then(|| orgs[0].to_string())
        };
        let session = Session {
            id: new_id("sess"),
            client_id: client_id.clone(),
            user_id: user.id.clone(),
            status: "active".into(),
            active_org_id: activate.or(only_org),
            created_at: now,
            updated_at: now,
            refresh_token: Some(new_id("rt")),
        };
        let client = st.clients.get_mut(&client_id).expect("client exists");
        client.session_id = Some(session.id.clone());
        client.updated_at = now / 1000;
        let out = (client.cookie.clone(), client.updated_at);
        st.sessions.insert(session.id.clone(), session);
        out
    };
    emu.persist();
    tracing::info!(user = %user.id, "emulator sign-in");
    let target = allowed_redirect(emu, redirect).unwrap_or_else(|| "/signed-in".to_string());
    let mut resp = Redirect::to(&target).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{CLIENT_COOKIE}={client_cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000"
        ))
        .expect("ascii"),
    );
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!("__client_uat={uat}; Path=/; SameSite=Lax; Max-Age=315360000")).expect("ascii"),
    );
    resp
}

#[derive(Debug, Deserialize)]
pub struct HandshakeQuery {
    redirect_url: Option<String>,
    format: Option<String>,
    organization_id: Option<String>,
    suffixed_cookies: Option<String>,
}

/// `GET /v1/client/handshake`: work out the browser's real state, mint a fresh session token
/// (activating `organization_id` when the user belongs to it, which completes a pending
/// session's `choose-organization` task; empty = the personal account, where allowed), and go back to
/// `redirect_url` carrying the Set-Cookie directives as a handshake cookie (JWT) or nonce.
async fn handshake(State(emu): State<Shared>, headers: HeaderMap, Query(q): Query<HandshakeQuery>) -> Response {
    let Some(back) = allowed_redirect(&emu, q.redirect_url.as_deref()) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"errors": [{"code": "invalid_redirect_url", "message": "redirect_url is missing or not an allowed origin"}]}))).into_response();
    };
    let azp = url::Url::parse(&back).ok().map(|u| u.origin().ascii_serialization());
    let suffix = if q.suffixed_cookies.as_deref() == Some("true") {
        format!("_{}", emu.publishable_key.cookie_suffix())
    } else {
        String::new()
    };
    // The refresh cookie only exists suffixed (protocol §1.1); HttpOnly, unlike the session.
    let refresh_cookie = format!("__refresh_{}", emu.publishable_key.cookie_suffix());
    let mut directives = Vec::new();
    {
        let mut st = emu.lock();
        let client =
            cookie(&headers, CLIENT_COOKIE).and_then(|c| st.clients.values().find(|cl| cl.cookie == c).cloned());
        let session = client
            .as_ref()
            .and_then(|c| c.session_id.clone())
            .and_then(|sid| st.sessions.get(&sid).cloned())
            .filter(|s| s.status == "active");
        match (client, session) {
            (Some(client), Some(mut session)) => {
                if let Some(org) = &q.organization_id {
                    if org.is_empty() {
                        // The personal account: only where the instance allows them; otherwise
                        // the session keeps its organization (or its task).
                        if emu.config.allow_personal_accounts {
                            session.active_org_id = None;
                        }
                    } else if let Some(o) = st.org_by_id_or_slug(org).map(|o| o.id.clone()) {
                        if st.membership(&o, &session.user_id).is_some() {
                            session.active_org_id = Some(o);
                        }
                    }
                    // Activation changes the client's auth state: a new __client_uat.
                    if st.sessions.get(&session.id).map(|s| &s.active_org_id) != Some(&session.active_org_id) {
                        session.updated_at = now_ms();
                        if let Some(c) = st.clients.get_mut(&client.id) {
                            // Never ahead of the token minted below: `iat < __client_uat` reads as stale.
                            c.updated_at = now_ms() / 1000;
                        }
                    }
                    st.sessions.insert(session.id.clone(), session.clone());
                }
                let uat = st.clients.get(&client.id).map(|c| c.updated_at).unwrap_or(0);
                let token = emu.session_token(&st, &session, azp.as_deref(), None);
                directives.push(format!("__session{suffix}={token}; Path=/; SameSite=Lax"));
                directives.push(format!("__client_uat{suffix}={uat}; Path=/; SameSite=Lax; Max-Age=315360000"));
                if let Some(rt) = &session.refresh_token {
                    directives.push(format!("{refresh_cookie}={rt}; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000"));
                }
            }
            _ => {
                directives.push(format!("__session{suffix}=; Path=/; SameSite=Lax; Max-Age=0"));
                directives.push(format!("__client_uat{suffix}=0; Path=/; SameSite=Lax; Max-Age=315360000"));
                directives.push(format!("{refresh_cookie}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"));
            }
        }
    }
    let nonce_format = q.format.as_deref() == Some("nonce");
    let clear = if nonce_format {
        "__clerk_handshake_nonce=; Path=/; Max-Age=0"
    } else {
        "__clerk_handshake=; Path=/; Max-Age=0"
    };
    directives.push(clear.to_string());
    let carrier = if nonce_format {
        let nonce = new_id("nonce");
        emu.lock().nonces.insert(nonce.clone(), directives);
        format!("__clerk_handshake_nonce={nonce}; Path=/; SameSite=Lax; Max-Age=60")
    } else {
        let jwt = emu
            .signer
            .sign(&json!({"alg": "RS256", "typ": "JWT", "kid": emu.signer.kid()}), &json!({"handshake": directives}));
        format!("__clerk_handshake={jwt}; Path=/; SameSite=Lax; Max-Age=60")
    };
    let mut resp = Redirect::temporary(&back).into_response();
    resp.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&carrier).expect("ascii"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The request's `Origin`, if it is an allowed one.
fn allowed_origin(emu: &Shared, headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| emu.config.allowed_origins.iter().any(|a| a == o))
        .map(str::to_string)
}

/// CORS with credentials for an allowed origin.
fn with_cors(origin: Option<&str>, mut r: Response) -> Response {
    if let Some(o) = origin {
        r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_str(o).expect("ascii"));
        r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    r
}

/// The Frontend API's `Client` (`Client.Client-2` in Clerk's FAPI document) of this browser: its
/// live session, `pending` with `tasks: [{key: "choose-organization"}]` while it has that task,
/// with a fresh `last_active_token`. The session's optional `user` is left out.
pub fn client_json(emu: &Shared, st: &World, client: &Client, azp: Option<&str>) -> serde_json::Value {
    let sessions: Vec<serde_json::Value> = client
        .session_id
        .iter()
        .filter_map(|sid| st.sessions.get(sid))
        .filter(|s| s.status == "active")
        .map(|s| {
            let bapi = emu.session_json(st, s);
            let user = st.users.get(&s.user_id);
            json!({
                "object": "session", "id": s.id, "status": bapi["status"], "tasks": bapi["tasks"],
                "expire_at": bapi["expire_at"], "abandon_at": bapi["abandon_at"], "last_active_at": s.updated_at,
                "last_active_token": {"object": "token", "jwt": emu.session_token(st, s, azp, None)},
                "last_active_organization_id": s.active_org_id, "actor": null,
                "public_user_data": {
                    "first_name": user.and_then(|u| u.first_name.clone()), "last_name": user.and_then(|u| u.last_name.clone()),
                    "image_url": format!("https://img.clerk.test/{}", s.user_id), "has_image": false,
                    "identifier": user.and_then(|u| u.email.clone()).unwrap_or_default(),
                    "profile_image_url": format!("https://img.clerk.test/{}", s.user_id),
                    "user_id": s.user_id, "username": user.and_then(|u| u.username.clone()),
                },
                "factor_verification_age": [0, -1], "created_at": s.created_at, "updated_at": s.updated_at,
            })
        })
        .collect();
    json!({
        "object": "client", "id": client.id,
        "last_active_session_id": sessions.first().map(|s| s["id"].clone()),
        "sessions": sessions, "sign_in": null, "sign_up": null, "last_authentication_strategy": null,
        "cookie_expires_at": null, "captcha_bypass": false,
        "created_at": client.created_at, "updated_at": client.updated_at * 1000,
    })
}

/// `GET /v1/client`: the browser's client as `{response, client: null}` (`response` is `null`
/// without a `__client` cookie). CORS for the allowed origins only.
async fn get_client(State(emu): State<Shared>, headers: HeaderMap) -> Response {
    let origin = allowed_origin(&emu, &headers);
    let st = emu.lock();
    let client = cookie(&headers, CLIENT_COOKIE).and_then(|c| st.clients.values().find(|cl| cl.cookie == c));
    let response = client.map_or(serde_json::Value::Null, |c| client_json(&emu, &st, c, origin.as_deref()));
    with_cors(origin.as_deref(), Json(json!({"response": response, "client": null})).into_response())
}

/// `POST /v1/client/sessions/{sid}/tokens`: a fresh session token for the browser's own session
/// (what clerk-js calls before the token expires), `sts: "pending"` while the session has a task.
/// CORS for the allowed origins only.
async fn refresh_token(State(emu): State<Shared>, headers: HeaderMap, Path(sid): Path<String>) -> Response {
    let origin = allowed_origin(&emu, &headers);
    let cors = |r: Response| with_cors(origin.as_deref(), r);
    let st = emu.lock();
    let client = cookie(&headers, CLIENT_COOKIE).and_then(|c| st.clients.values().find(|cl| cl.cookie == c).cloned());
    let session = client
        .and_then(|c| c.session_id)
        .filter(|s| *s == sid)
        .and_then(|s| st.sessions.get(&s).cloned())
        .filter(|s| s.status == "active");
    match session {
        Some(session) => {
            let jwt = emu.session_token(&st, &session, origin.as_deref(), None);
            cors(Json(json!({"object": "token", "jwt": jwt})).into_response())
        }
        None => cors((StatusCode::UNAUTHORIZED, Json(json!({"errors": [{"code": "signed_out", "message": "Signed out", "long_message": "This session is no longer active."}]}))).into_response()),
    }
}

async fn preflight(State(emu): State<Shared>, headers: HeaderMap) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Some(o) = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| emu.config.allowed_origins.iter().any(|a| a == o))
    {
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_str(o).expect("ascii"));
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    }
    r
}

/// Ends the browser's session and clears the client; back to `redirect_url` when allowed.
async fn sign_out(State(emu): State<Shared>, headers: HeaderMap, Query(back): Query<Back>) -> Response {
    {
        let mut st = emu.lock();
        let World { clients, sessions, .. } = &mut *st;
        if let Some(client) =
            cookie(&headers, CLIENT_COOKIE).and_then(|c| clients.values_mut().find(|cl| cl.cookie == c))
        {
            if let Some(s) = client.session_id.take().and_then(|sid| sessions.get_mut(&sid)) {
                s.status = "ended".into();
            }
            client.updated_at = now_ms() / 1000;
        }
    }
    emu.persist();
    let target = allowed_redirect(&emu, back.redirect_url.as_deref()).unwrap_or_else(|| "/sign-in".into());
    let mut resp = Redirect::to(&target).into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, HeaderValue::from_static("__client=; Path=/; HttpOnly; Max-Age=0"));
    h.append(header::SET_COOKIE, HeaderValue::from_static("__client_uat=0; Path=/; SameSite=Lax; Max-Age=315360000"));
    h.append(header::SET_COOKIE, HeaderValue::from_static("__session=; Path=/; Max-Age=0"));
    resp
}

pub fn jwks_json(emu: &Shared) -> serde_json::Value {
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPublicKey::from_public_key_pem(&emu.public_pem).expect("own key");
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    json!({"keys": [{"use": "sig", "kty": "RSA", "kid": emu.signer.kid(), "alg": "RS256", "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be())}]})
}

async fn jwks(State(emu): State<Shared>) -> Json<serde_json::Value> {
    Json(jwks_json(&emu))
}
