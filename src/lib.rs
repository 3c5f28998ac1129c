//! Tenantry: a multi-tenant SaaS foundation on Leptos, axum, Postgres and Clerk.
//!
//! `app` holds the Leptos UI: pages rendered on the server (`ssr`), and the islands among them
//! compiled for the browser too (`hydrate`).
//! `server` (ssr only) is the request path in front of it: config → startup → clerk layer →
//! route gate → Leptos / API handlers → tenant scope → Postgres.

pub mod app;
pub mod model;

#[cfg(feature = "ssr")]
pub mod server;

/// The wasm's entry, called by Leptos's islands loader (`HydrationScripts islands=true`) before it
/// hydrates each `<leptos-island>` of the page (see `app`).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Where a panic unwinds or aborts normally (debug builds), it is printed to the console.
    // The release wasm panics with immediate-abort (scripts/release-wasm/cargo): a panic traps
    // at once and no hook ever runs, so none is installed (its formatting would be dead weight).
    #[cfg(not(panic = "immediate-abort"))]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    app::hydration::expect_islands();
}
