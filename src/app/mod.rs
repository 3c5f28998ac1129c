//! The Leptos UI: the HTML shell and the routes, rendered on the server.
//!
//! Islands mode (Leptos's `islands` feature): every page is HTML from the server, and a
//! navigation is a page load. Only the parts of a page that react in place are `#[island]`s,
//! compiled to wasm and hydrated: the projects editor, the members editor, the organization
//! settings, and the landing page's hydration probe. An island takes what it needs from the page
//! as serialized props (never a context: the page around it does not run in the browser), and
//! calls server functions itself. Everything else — the workspace shell, the organization
//! switcher, the user menu, the dashboard, the audit log, `/select-org` — is server-only, plain
//! links and forms.

pub mod api;
pub mod auth;
mod components;
pub mod error;
pub mod hydration;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment};

pub use pages::LandingPage;
use pages::{AppShell, AuditPage, DashboardPage, MembersPage, NotFound, ProjectsPage, SelectOrgPage, SettingsPage};

/// The session keeper (`assets/session-keeper.js`): keeps the 60-second session token fresh in
/// an open tab, as clerk-js does. Served at [`session_keeper_path`] as an immutable asset.
pub const SESSION_KEEPER_JS: &str = include_str!("../../assets/session-keeper.js");

/// FNV-1a of the script, so its URL changes whenever its content does (long-lived caching).
const SESSION_KEEPER_HASH: u64 = {
    let bytes = SESSION_KEEPER_JS.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
};

/// `/assets/session-keeper.<hash>.js`.
pub fn session_keeper_path() -> String {
    format!("/assets/session-keeper.{SESSION_KEEPER_HASH:016x}.js")
}

/// The pages that hold no island, by path. They load no wasm and no Leptos loader (no
/// `HydrationScripts`; of `/pkg`, the stylesheet alone): the 100 KiB main module would only
/// have marked them hydrated, so their body is marked as it is sent. Every other page loads the
/// islands' scripts, so a page missing here costs a download, never a dead island; one listed
/// here that renders an island would leave it dead, which `tests/it/page_reads.rs` looks for.
pub const PAGES_WITHOUT_ISLANDS: [&str; 3] = ["/app/dashboard", "/app/audit", "/select-org"];

/// Whether the page being rendered may hold an island (see [`PAGES_WITHOUT_ISLANDS`]). The shell
/// renders on the server only.
fn page_may_hold_islands() -> bool {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>().is_none_or(|p| !PAGES_WITHOUT_ISLANDS.contains(&p.uri.path()))
    }
    #[cfg(not(feature = "ssr"))]
    {
        true
    }
}

/// `/pkg/tenantry.css`, or its hashed name in a build with hashed file names: what
/// leptos_meta's `HashedStylesheet` links to (leptos_meta 0.8 `stylesheet.rs`), with the build's
/// hash file (beside the executable) read once per process instead of on every render (a
/// blocking `readlink`, `statx`, `open` and `read`s per page; issue 18).
fn stylesheet_href(options: &LeptosOptions) -> String {
    let name = &options.output_name;
    let pkg = &options.site_pkg_dir;
    match options.hash_files.then(|| css_hash(&options.hash_file)).flatten() {
        Some(hash) => format!("/{pkg}/{name}.{hash}.css"),
        None => format!("/{pkg}/{name}.css"),
    }
}

/// The `css:` line of the hash file named `hash_file` beside the executable, kept for the
/// process once read (a process serves one build); `None` without the file or the line (read
/// again on the next render, as leptos_meta does every time: a failed read is not kept).
#[cfg(feature = "ssr")]
fn css_hash(hash_file: &str) -> Option<String> {
    use std::sync::OnceLock;
    static READ: OnceLock<(String, String)> = OnceLock::new();
    if let Some((file, hash)) = READ.get() {
        if file == hash_file {
            return Some(hash.clone());
        }
    }
    let path = std::env::current_exe().ok()?.parent()?.join(hash_file);
    let hashes = std::fs::read_to_string(&path)
        .map_err(|error| tracing::error!(path = %path.display(), %error, "cannot read the build's hash file"))
        .ok()?;
    let hash = css_line(&hashes)?;
    // Kept for the first hash file asked for (the only one in a build).
    let _ = READ.set((hash_file.to_string(), hash.clone()));
    Some(hash)
}

/// The hash of a hash file's `css: HASH` line (cargo-leptos's `hash.txt`: `js: …`, `wasm: …`,
/// `css: …`, one a line), trimmed.
#[cfg(any(feature = "ssr", test))]
fn css_line(hashes: &str) -> Option<String> {
    hashes.lines().find_map(|line| match line.trim().split_once(':') {
        Some(("css", hash)) => Some(hash.trim().to_string()),
        _ => None,
    })
}

/// The shell renders on the server only.
#[cfg(not(feature = "ssr"))]
fn css_hash(_: &str) -> Option<String> {
    None
}

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::security::use_page_nonce();
    let islands = page_may_hold_islands();
    if !islands {
        // What `HydrationScripts` does for islands mode: outside an island nothing is rendered
        // for hydration (no markers).
        if let Some(context) = leptos::reactive::owner::Owner::current_shared_context() {
            context.set_is_hydrating(false);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/assets/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <link id="leptos" rel="stylesheet" href=stylesheet_href(&options)/>
                // Islands: the loader fetches the wasm when the browser is idle and hydrates each
                // island. A page without islands loads none of it.
                {islands.then(|| view! { <HydrationScripts options islands=true/> })}
                <MetaTags/>
                <script src=session_keeper_path() nonce=leptos::nonce::use_nonce()></script>
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased" data-hydrated=(!islands).then_some("true")>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Tenantry"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=StaticSegment("") view=LandingPage/>
                // In-order streaming: the HTML is complete without JavaScript (no out-of-order
                // Suspense swaps), so every page also works as plain forms and links.
                <Route path=StaticSegment("select-org") view=SelectOrgPage ssr=SsrMode::InOrder/>
                <ParentRoute path=StaticSegment("app") view=AppShell ssr=SsrMode::InOrder>
                    <Route path=StaticSegment("dashboard") view=DashboardPage ssr=SsrMode::InOrder/>
                    <Route path=StaticSegment("projects") view=ProjectsPage ssr=SsrMode::InOrder/>
                    // Async: rendered whole before the response starts, so a refusal found
                    // while loading (non-admins) still sets the status to 403.
                    <Route path=StaticSegment("audit") view=AuditPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("members") view=MembersPage ssr=SsrMode::InOrder/>
                    // Async for the same reason as the audit log: a non-admin gets the 403.
                    <Route path=StaticSegment("settings") view=SettingsPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[cfg(test)]
mod tests {
    use super::css_line;

    #[test]
    fn the_css_hash_is_read_from_its_line_of_the_hash_file() {
        let file =
            "js: qZQ81_hq6Ggms4A4X2Kygw\nwasm: cC5cVoa_47Ts35Q9aivPFA\n  css:  BKvohWA3LhecdW6EdMt46w \nmanifest: x\n";
        assert_eq!(css_line(file).as_deref(), Some("BKvohWA3LhecdW6EdMt46w"));
        assert_eq!(css_line("js: a\nwasm: b\n"), None);
        assert_eq!(css_line(""), None);
    }
}
