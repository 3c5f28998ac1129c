//! Shared application state, in its own module so handlers depend on it and not on the file
//! that assembles the router (the `AppState` + `FromRef` shape of leptos's session_auth_axum).

use axum::extract::FromRef;
use clerk::Clerk;
use leptos::config::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;

use super::config::Config;
use super::limits::{BackendApiBudget, CreationLimit};

/// Everything a handler may need, cheap to clone (pointers only).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub clerk: Clerk,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    /// Organizations created per user (each one is a Clerk object and a webhook burst).
    pub org_creation: Arc<CreationLimit>,
    /// Backend API calls made on behalf of requests.
    pub backend_api_budget: Arc<BackendApiBudget>,
}
