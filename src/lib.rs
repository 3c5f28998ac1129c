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
    // `leptos::mount::hydrate_lazy`'s steps, not `hydrate_body`: the signed-in pages are lazy
    // routes (`app::pages`) whose code may still be loading when hydration reaches them. Done
    // here so the page is marked hydrated only once all of it is (browser tests wait for the
    // mark before they click).
    let _ = any_spawner::Executor::init_wasm_bindgen();
    leptos::task::spawn_local(async {
        let body = leptos::prelude::document().body().expect("a page has a <body>");
        leptos::mount::hydrate_from_async(body.clone(), app::App).await.forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
