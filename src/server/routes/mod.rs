//! Plain axum routes next to the Leptos pages.

pub mod api;
pub mod assets;
pub mod health;
pub mod orgs;
pub mod proxy;
pub mod session;
pub mod v1;
pub mod webhooks;
