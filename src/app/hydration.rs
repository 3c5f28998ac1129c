//! The end of a page's hydration: once every island on it has hydrated, the hydration data is
//! closed and the body marked `data-hydrated` (browser tests wait for the mark before they click).
//!
//! Leptos's islands loader calls `hydrate` (src/lib.rs), then each island's hydration function
//! in document order, awaiting a lazy island's module as it goes; nothing tells the page when
//! the last has finished. So `hydrate` counts the page's islands ([`expect_islands`]) and each
//! island reports itself once hydrated ([`island_hydrated`]).
//!
//! Closing the hydration data is what `hydrate_body` does after a whole page, and what
//! `hydrate_islands` leaves undone: until then every resource created reads the server's
//! serialized value under its sequence number, so a resource an island created after hydrating
//! would start from whatever value the server sent under that number.

#[cfg(feature = "hydrate")]
use std::cell::Cell;

#[cfg(feature = "hydrate")]
thread_local! {
    /// Islands on the page not hydrated yet.
    static PENDING: Cell<u32> = const { Cell::new(0) };
}

/// Counts the page's islands; marks the body at once if it has none. Called by `hydrate`
/// before any island hydrates.
#[cfg(feature = "hydrate")]
pub fn expect_islands() {
    let document = leptos::prelude::document();
    let count = document.query_selector_all("leptos-island").map(|list| list.length()).unwrap_or(0);
    PENDING.with(|p| p.set(count));
    if count == 0 {
        hydration_done();
    }
}

/// Called in every island's body: once it has hydrated (its effects run after), it counts down,
/// and the last island marks the body.
pub fn island_hydrated() {
    #[cfg(feature = "hydrate")]
    leptos::prelude::Effect::new(|_| {
        let left = PENDING.with(|p| {
            let left = p.get().saturating_sub(1);
            p.set(left);
            left
        });
        if left == 0 {
            hydration_done();
        }
    });
}

#[cfg(feature = "hydrate")]
fn hydration_done() {
    if let Some(context) = leptos::reactive::owner::Owner::current_shared_context() {
        context.hydration_complete();
    }
    if let Some(body) = leptos::prelude::document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
