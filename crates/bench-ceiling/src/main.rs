//! The ceiling for `scripts/bench-http`: what a minimal axum + sqlx + jsonwebtoken server does
//! for the same requests as Tenantry's workspace page and projects JSON call, and nothing more —
//! verify the RS256 session token (signature, `exp`/`nbf`, `azp`) from the `__session` cookie or
//! the Bearer header, run the same projects query for the token's organization, and answer the
//! rows as a small HTML page or as JSON. No Clerk decision table, no handshake, no row-level
//! security settings, no audit, no framework: Tenantry is measured as a fraction of this.
//!
//! `POST /api/projects/list-scoped` is the JSON call with one thing added, to tell the tenant
//! scope's database work from the rest of Tenantry's cost: Tenantry's own statement for the
//! list as its request's only read, on a role under row-level security
//! (`tenant_projects_page(…)`, which enters the scope — read-only, the two settings, the
//! tombstone check — then runs Tenantry's list query; `src/server/tenant/mod.rs`, `StatementScope`).
//! It is not the goal's baseline (issue 18 measures against the plain call).
//!
//! `GET /app/projects-scoped` is the page likewise, with the workspace page's database work
//! added as Tenantry does it on plain Postgres: two statements side by side, each on a pooled
//! connection and entering its scope itself — the shell's (`member_workspace_shell(…)`: the
//! member scope, the active organization's name, the user, their organizations;
//! `src/server/workspace.rs`, `mirrored_shell_alone`) and the page's projects
//! (`tenant_projects_page(…)` with the page's size, 50: `projects::list_after_alone`) — on
//! connections with Tenantry's default timeouts. The statements are those files'; the page
//! renders the same small HTML, with the organization's name and the switcher's names added.
//!
//! Environment: `CEILING_ADDR` (default 127.0.0.1:3900), `DATABASE_URL` (a role that may read
//! `projects`), `CLERK_JWT_KEY` (the instance's public key, PEM), `CLERK_AUTHORIZED_PARTIES`;
//! `SCOPED_DATABASE_URL` (Tenantry's runtime role, under row-level security) for the scoped
//! call, which answers 404 without it.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;

struct Ceiling {
    pool: PgPool,
    /// `SCOPED_DATABASE_URL`'s pool, for the scoped call.
    scoped: Option<PgPool>,
    key: DecodingKey,
    validation: Validation,
    /// `CLERK_AUTHORIZED_PARTIES`: the token's `azp` must be one of them.
    parties: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    azp: Option<String>,
    o: Option<Org>,
}

#[derive(Deserialize)]
struct Org {
    id: String,
}

#[derive(Serialize)]
struct Project {
    id: uuid::Uuid,
    name: String,
    description: String,
    archived: bool,
    created_by: String,
    updated_at: String,
}

fn token(headers: &HeaderMap, cookie: bool) -> Option<&str> {
    if cookie {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        cookies.split(';').find_map(|c| c.trim().strip_prefix("__session="))
    } else {
        headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
    }
}

/// Which database work a request does: the plain query, or Tenantry's scoped statement.
#[derive(Clone, Copy)]
enum Query {
    Plain,
    Scoped,
}

const PROJECTS: &str = "SELECT id, name, description, archived_at IS NOT NULL, created_by, updated_at FROM projects
  WHERE org_id = $1 AND archived_at IS NULL ORDER BY lower(name), id LIMIT 50";

const SCOPED: &str = "SELECT id, name, description, archived, created_by, updated_at
  FROM public.tenant_projects_page($1, $2, '%%', true, false, NULL, NULL, 51) WITH ORDINALITY AS page
  ORDER BY page.ordinality";

type Row = (uuid::Uuid, String, String, bool, String, time::OffsetDateTime);

async fn projects(
    c: &Ceiling,
    headers: &HeaderMap,
    cookie: bool,
    query: Query,
) -> Result<(String, Vec<Project>), Response> {
    let (user, org) = session(c, headers, cookie).map_err(IntoResponse::into_response)?;
    let unavailable = |_| StatusCode::SERVICE_UNAVAILABLE.into_response();
    let rows: Vec<Row> = match query {
        Query::Plain => sqlx::query_as(PROJECTS).bind(&org).fetch_all(&c.pool).await.map_err(unavailable)?,
        // Tenantry's JSON call's one statement (`tenant_projects_page`, its read alone): the
        // scope's settings, its check, read-only, then the list query, for the first page of
        // active projects (51 rows asked: one more than the page, as Tenantry's REST list asks).
        Query::Scoped => {
            let pool = c.scoped.as_ref().ok_or_else(|| StatusCode::NOT_FOUND.into_response())?;
            sqlx::query_as(SCOPED).bind(&org).bind(&user).fetch_all(pool).await.map_err(unavailable)?
        }
    };
    let rows = rows
        .into_iter()
        .map(|(id, name, description, archived, created_by, updated_at)| Project {
            id,
            name,
            description,
            archived,
            created_by,
            updated_at: updated_at.to_string(),
        })
        .collect();
    Ok((user, rows))
}

/// The token's user and organization, verified: from the `__session` cookie, or the Bearer
/// header.
fn session(c: &Ceiling, headers: &HeaderMap, cookie: bool) -> Result<(String, String), StatusCode> {
    let t = token(headers, cookie).ok_or(StatusCode::UNAUTHORIZED)?;
    let claims = jsonwebtoken::decode::<Claims>(t, &c.key, &c.validation).map_err(|_| StatusCode::UNAUTHORIZED)?.claims;
    if !claims.azp.as_ref().is_some_and(|azp| c.parties.contains(azp)) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let org = claims.o.ok_or(StatusCode::FORBIDDEN)?.id;
    Ok((claims.sub, org))
}

const SHELL: &str = "SELECT org_name, user_clerk_id, user_name, user_email, user_image_url,
         member_org_id, member_role, member_org_name, member_org_slug
    FROM public.member_workspace_shell($1, $2) WITH ORDINALITY AS shell
    ORDER BY shell.ordinality";

const PAGE_PROJECTS: &str = "SELECT id, name, description, archived, created_by, updated_at, sort_key
    FROM public.tenant_projects_page($1, $2, $3, $4, $5, $6, $7, $8) WITH ORDINALITY AS page
    ORDER BY page.ordinality";

/// `member_workspace_shell`'s row: the organization's name, the user (id, name, email, image),
/// then one membership (organization id, role, name, slug).
type ShellRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

type ProjectRow = (uuid::Uuid, String, String, bool, String, time::OffsetDateTime, String);

async fn page_scoped(State(c): State<Arc<Ceiling>>, headers: HeaderMap) -> Response {
    let (user, org) = match session(&c, &headers, true) {
        Ok(s) => s,
        Err(status) => return status.into_response(),
    };
    let Some(pool) = c.scoped.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // The shell's read and the page's start together, as a page's resources do.
    let shell = sqlx::query_as::<_, ShellRow>(SHELL).bind(&user).bind(&org).fetch_all(pool);
    let projects = sqlx::query_as::<_, ProjectRow>(PAGE_PROJECTS)
        .bind(&org)
        .bind(&user)
        .bind("%%")
        .bind(true)
        .bind(false)
        .bind(None::<String>)
        .bind(None::<uuid::Uuid>)
        .bind(50_i64)
        .fetch_all(pool);
    let (shell, rows) = match tokio::try_join!(shell, projects) {
        Ok(read) => read,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let org_name = shell.first().and_then(|r| r.0.as_deref()).unwrap_or(&org);
    let mut body = format!("<p>{} · {}</p><ul>", esc(&user), esc(org_name));
    for (.., id, _, name, _) in &shell {
        if let Some(id) = id {
            body.push_str(&format!("<li>{}</li>", esc(name.as_deref().unwrap_or(id))));
        }
    }
    body.push_str("</ul>");
    push_projects(&mut body, rows.iter().map(|(_, name, description, ..)| (name.as_str(), description.as_str())));
    html_page(body)
}

/// `s` with `&`, `<` and `>` escaped, for the pages' text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The projects as the pages list them: `<ul>`, a `<li>` of name and description each.
fn push_projects<'a>(body: &mut String, projects: impl Iterator<Item = (&'a str, &'a str)>) {
    body.push_str("<ul>");
    for (name, description) in projects {
        body.push_str(&format!("<li>{} <small>{}</small></li>", esc(name), esc(description)));
    }
    body.push_str("</ul>");
}

/// A whole page around `body`, never stored.
fn html_page(body: String) -> Response {
    let html = format!("<!DOCTYPE html><html><head><title>Projects</title></head><body>{body}</body></html>");
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

async fn page(State(c): State<Arc<Ceiling>>, headers: HeaderMap) -> Response {
    match projects(&c, &headers, true, Query::Plain).await {
        Ok((user, rows)) => {
            let mut body = format!("<p>{}</p>", esc(&user));
            push_projects(&mut body, rows.iter().map(|p| (p.name.as_str(), p.description.as_str())));
            html_page(body)
        }
        Err(r) => r,
    }
}

async fn json(c: &Ceiling, headers: &HeaderMap, query: Query) -> Response {
    match projects(c, headers, false, query).await {
        Ok((_, rows)) => Json(rows).into_response(),
        Err(r) => r,
    }
}

async fn list(State(c): State<Arc<Ceiling>>, headers: HeaderMap) -> Response {
    json(&c, &headers, Query::Plain).await
}

async fn list_scoped(State(c): State<Arc<Ceiling>>, headers: HeaderMap) -> Response {
    json(&c, &headers, Query::Scoped).await
}

#[tokio::main]
async fn main() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is required"));
    let key = DecodingKey::from_rsa_pem(var("CLERK_JWT_KEY").as_bytes()).expect("CLERK_JWT_KEY is an RSA public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 5;
    validation.validate_nbf = true;
    validation.required_spec_claims = ["exp", "nbf", "sub"].iter().map(|s| s.to_string()).collect();
    validation.validate_aud = false;
    let parties = var("CLERK_AUTHORIZED_PARTIES").split(',').map(str::to_string).collect();
    let pool =
        sqlx::postgres::PgPoolOptions::new().max_connections(10).connect(&var("DATABASE_URL")).await.expect("database");
    let scoped = match std::env::var("SCOPED_DATABASE_URL") {
        // No ping before each checkout, as Tenantry's pool under load (it pings only a
        // connection idle for 500 ms): the scope's message and the query are all it waits for.
        // Its connections' settings as Tenantry's default (`db::pool`: statement and
        // idle-in-transaction timeouts). The plain pool keeps sqlx's defaults (a ping, then the
        // query).
        Ok(url) => Some(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .test_before_acquire(false)
                .connect_with(
                    url.parse::<sqlx::postgres::PgConnectOptions>()
                        .expect("SCOPED_DATABASE_URL")
                        .options([("statement_timeout", "5000"), ("idle_in_transaction_session_timeout", "60000")]),
                )
                .await
                .expect("scoped database"),
        ),
        Err(_) => None,
    };
    let state = Arc::new(Ceiling { pool, scoped, key, validation, parties });
    let app = Router::new()
        .route("/app/projects", get(page))
        .route("/app/projects-scoped", get(page_scoped))
        .route("/api/projects/list", post(list))
        .route("/api/projects/list-scoped", post(list_scoped))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state);
    let addr = std::env::var("CEILING_ADDR").unwrap_or_else(|_| "127.0.0.1:3900".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
