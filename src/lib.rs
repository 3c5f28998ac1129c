//! Tenantry: a multi-tenant SaaS foundation on Leptos, axum, Postgres and Clerk.
//!
//! `app` holds the Leptos UI, compiled for both the server (`ssr`) and the browser (`hydrate`).
//! `server` (ssr only) is the request path in front of it: config → startup → clerk layer →
//! route gate → Leptos / API handlers → tenant scope → Postgres.

pub mod app;
pub mod model;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
