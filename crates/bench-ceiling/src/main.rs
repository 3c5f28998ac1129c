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
  FROM public.tenant_projects_page($1, $2, '%%', true, false, NULL, NULL, 51)";

type Row = (uuid::Uuid, String, String, bool, String, time::OffsetDateTime);

async fn projects(
    c: &Ceiling,
    headers: &HeaderMap,
    cookie: bool,
    query: Query,
) -> Result<(String, Vec<Project>), Response> {
    let unauthorized = || StatusCode::UNAUTHORIZED.into_response();
    let t = token(headers, cookie).ok_or_else(unauthorized)?;
    let claims = jsonwebtoken::decode::<Claims>(t, &c.key, &c.validation).map_err(|_| unauthorized())?.claims;
    if !claims.azp.as_ref().is_some_and(|azp| c.parties.contains(azp)) {
        return Err(unauthorized());
    }
    let org = claims.o.ok_or_else(|| StatusCode::FORBIDDEN.into_response())?.id;
    let unavailable = |_| StatusCode::SERVICE_UNAVAILABLE.into_response();
    let rows: Vec<Row> = match query {
        Query::Plain => sqlx::query_as(PROJECTS).bind(&org).fetch_all(&c.pool).await.map_err(unavailable)?,
        // Tenantry's JSON call's one statement (`tenant_projects_page`, its read alone): the
        // scope's settings, its check, read-only, then the list query, for the first page of
        // active projects (51 rows asked: one more than the page, as Tenantry's REST list asks).
        Query::Scoped => {
            let pool = c.scoped.as_ref().ok_or_else(|| StatusCode::NOT_FOUND.into_response())?;
            sqlx::query_as(SCOPED).bind(&org).bind(&claims.sub).fetch_all(pool).await.map_err(unavailable)?
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
    Ok((claims.sub, rows))
}

async fn page(State(c): State<Arc<Ceiling>>, headers: HeaderMap) -> Response {
    match projects(&c, &headers, true, Query::Plain).await {
        Ok((user, rows)) => {
            let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let mut html =
                format!("<!DOCTYPE html><html><head><title>Projects</title></head><body><p>{}</p><ul>", esc(&user));
            for p in rows {
                html.push_str(&format!("<li>{} <small>{}</small></li>", esc(&p.name), esc(&p.description)));
            }
            html.push_str("</ul></body></html>");
            ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
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
        // The plain pool keeps sqlx's default (a ping, then the query).
        Ok(url) => Some(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .test_before_acquire(false)
                .connect(&url)
                .await
                .expect("scoped database"),
        ),
        Err(_) => None,
    };
    let state = Arc::new(Ceiling { pool, scoped, key, validation, parties });
    let app = Router::new()
        .route("/app/projects", get(page))
        .route("/api/projects/list", post(list))
        .route("/api/projects/list-scoped", post(list_scoped))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state);
    let addr = std::env::var("CEILING_ADDR").unwrap_or_else(|_| "127.0.0.1:3900".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
