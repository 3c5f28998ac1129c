//! The end of a page's hydration: once every island on it has hydrated, the hydration data is
//! closed and the body marked `data-hydrated` (browser tests wait for the mark before they click).
//! A page without islands ([`super::PAGES_WITHOUT_ISLANDS`]) loads no wasm; the shell marks it as sent.
//!
//! Leptos's islands loader calls `hydrate` (src/lib.rs), then each island's hydration function
//! in document order, awaiting a lazy island's module as it goes; nothing tells the page when
//! the last has finished. So `hydrate` counts the page's islands ([`expect_islands`]) and each
//! island reports itself once hydrated ([`island_hydrated`]). Islands here are never nested
//! (an island inside another has no `<leptos-island>` of its own, so it would count down
//! without having been counted).
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

/// On the server: has the page's `<head>` preload a lazy island's wasm modules, so the browser
/// fetches them beside the main module instead of after it. Leptos does this for a `#[lazy]`
/// function called while the page renders; a lazy island's loader only ever runs in the
/// browser. `island` is the island's name in snake case (`projects_editor`); call it while the
/// page renders, before any `Suspense` (the head's links are settled with the first chunk).
///
/// The links are registered here, while the page renders under its own reactive owner, as the
/// same `<link>`s Leptos would add (a `preload` of each of the loader's modules as
/// `application/wasm`, then a `modulepreload` of `__wasm_split.js`). Not through
/// `prefetch_lazy_fn_on_server`: leptos_integration_utils 0.8.9 (`from_app`) adds those after
/// awaiting the page's stream, reading the manifest, the nonce and the meta context from the
/// thread's current owner — the request's own only if the future never moved. Under
/// `SsrMode::Async` it moves: `/app/settings` then lost its preloads on most requests, and under
/// load got other requests' (with their nonces) added to its own
/// (end2end/release/serving.test.mjs).
pub fn preload_lazy_island(island: &'static str) {
    #[cfg(feature = "ssr")]
    if let Some(id) = lazy_island_loader(island) {
        preload_modules(id);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = island;
}

/// The `<link>`s for `loader`'s modules, registered with the page's meta context (a
/// `leptos_meta` component's `to_html` registers it rather than returning HTML). The
/// `crossorigin` mode is `anonymous`, which is what the fetch of a same-origin module makes
/// (Leptos writes the nonce there, which browsers read as `anonymous` too). Each call adds the
/// `__wasm_split.js` link and the loader's shared chunks again: a page holds one lazy island.
#[cfg(feature = "ssr")]
fn preload_modules(loader: &str) {
    use leptos::prelude::{use_context, RenderHtml, WithValue};
    use leptos_meta::Link;
    let Some(manifest) = use_context::<leptos::WasmSplitManifest>() else {
        return;
    };
    manifest.0.with_value(|(pkg_path, modules, split_js)| {
        for module in modules.get(loader).into_iter().flatten() {
            let _ = leptos::view! {
                <Link rel="preload" href=format!("{pkg_path}/{module}.wasm") as_="fetch" type_="application/wasm" crossorigin="anonymous"/>
            }
            .to_html();
        }
        let _ = leptos::view! { <Link rel="modulepreload" href=format!("{pkg_path}/{split_js}") crossorigin="anonymous"/> }.to_html();
    });
}

/// The split manifest's key for `island`'s loader (`<island>_loader_<hash of its source
/// location>`, leptos_macro's `lazy`), found once per island and kept for the process (the
/// manifest is the build's). `None` in a build without the manifest (not split).
#[cfg(feature = "ssr")]
fn lazy_island_loader(island: &'static str) -> Option<&'static str> {
    use leptos::prelude::WithValue;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static FOUND: OnceLock<Mutex<HashMap<&'static str, Option<&'static str>>>> = OnceLock::new();
    let mut found = FOUND.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(id) = found.get(island) {
        return *id;
    }
    // Provided by `HydrationScripts` (doc-hidden in Leptos, but what its own preloading reads).
    let manifest = leptos::prelude::use_context::<leptos::WasmSplitManifest>()?;
    let prefix = format!("{island}_loader_");
    let id = manifest.0.with_value(|(_, modules, _)| {
        modules.keys().find(|key| key.starts_with(&prefix)).map(|key| &*Box::leak(key.clone().into_boxed_str()))
    });
    // One entry per island name, so at most one leaked key each.
    found.insert(island, id);
    id
}

/// The codec an island's resources cross from the server to the browser in: JSON, as Leptos's
/// default (`JsonSerdeCodec`), but read from the text's bytes (`serde_json::from_slice`), the
/// reader the server functions' responses are read with. With `from_str` the browser carried a
/// second copy of every model type's JSON reader (issue 18: page weight; README Performance).
pub struct JsonCodec;

impl<T: serde::Serialize> leptos::server::codee::Encoder<T> for JsonCodec {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: serde::de::DeserializeOwned> leptos::server::codee::Decoder<T> for JsonCodec {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(text.as_bytes())
    }
}

/// A resource's fetch, boxed on the server: Leptos moves a resource's future by value several
/// times while it creates the resource (into its sandbox, its async-derived state and the task
/// it spawns), and a server function's future is as large as its largest step (a pooled query,
/// a Backend API call: tens of KB). Boxed, each move copies a pointer. Measured with callgrind
/// on `/app/projects` (README Performance, issue 18). In the browser a server function's future
/// is a small HTTP call, left as is (no extra code in the wasm).
fn boxed_on_server<T, Fut>(fut: Fut) -> impl std::future::Future<Output = T> + Send + 'static
where
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    #[cfg(feature = "ssr")]
    let fut = Box::pin(fut);
    fut
}

/// `Resource::new` (Leptos's default codec) with its future [`boxed_on_server`]: every
/// resource of the app is made here or by [`island_resource`] (clippy.toml refuses
/// `Resource::new` elsewhere, so none is created unboxed).
#[track_caller]
pub fn page_resource<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> leptos::prelude::Resource<T>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    #[allow(clippy::disallowed_methods)] // the one place it is called
    leptos::prelude::Resource::new(source, move |s| boxed_on_server(fetcher(s)))
}

/// A resource whose value crosses to the browser in [`JsonCodec`].
pub type IslandResource<T> = leptos::prelude::Resource<T, JsonCodec>;

/// `Resource::new` in [`JsonCodec`]: `fetcher` runs on the server while the page renders, and
/// again in the browser whenever `source` changes; its future is [`boxed_on_server`].
#[track_caller]
pub fn island_resource<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> IslandResource<T>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    #[allow(clippy::disallowed_methods)] // the one place it is called
    leptos::prelude::Resource::new_with_options(source, move |s| boxed_on_server(fetcher(s)), false)
}
