//! Shared application state, in its own module so handlers depend on it and not on the file
//! that assembles the router (the `AppState` + `FromRef` shape of leptos's session_auth_axum).

use axum::extract::FromRef;
use clerk::Clerk;
use leptos::config::LeptosOptions;
use std::sync::Arc;

use super::config::Config;
use super::db::Db;
use super::limits::{BackendApiBudget, CreationLimit};

/// Everything a handler may need, behind one pointer: a clone (one per extractor, middleware
/// and server-function call that takes the state) is one reference count, where a struct of
/// fields cost one per field (`LeptosOptions` alone holds seven). Fields read through `Deref`
/// (`state.db`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] points to.
pub struct Shared {
    pub db: Db,
    pub clerk: Clerk,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    /// Organizations created per user (each one is a Clerk object and a webhook burst).
    pub org_creation: Arc<CreationLimit>,
    /// Backend API calls made on behalf of requests.
    pub backend_api_budget: Arc<BackendApiBudget>,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// For leptos_axum, which takes its options from the state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
