//! The pages behind sign-in as lazy routes, all in one lazily loaded wasm module.
//!
//! Every cargo-leptos build splits the wasm (`--split`; scripts/dev, test, release): what only
//! [`signed_in_view`] reaches moves out of the main bundle into a module that the server's HTML
//! of a signed-in page preloads (Leptos's `#[lazy]` registers it for the page's
//! `<link rel="preload">`s) and hydration waits for. The public landing page's first load is
//! then the framework and itself alone; its link into the workspace is a full page load
//! (`rel="external"`), so the module is only fetched by a page that names its current hash.
//!
//! One module, not one per page (`#[lazy_route]` on each): per-page modules leave wasm-split
//! dozens of chunks of shared code (53 for these seven), fetched one by one and compressing
//! worse, which made a workspace page's first load heavier than with no splitting at all
//! (405 KiB gzip against 398). The routes therefore implement [`LazyRoute`] by hand, each
//! naming its page for the one lazy function.

use leptos::prelude::*;
use leptos_router::LazyRoute;

use super::{AppShell, AuditPage, DashboardPage, MembersPage, ProjectsPage, SelectOrgPage, SettingsPage};

/// Which signed-in page [`signed_in_view`] renders. `repr(u8)`: it crosses the split module's
/// boundary as a plain wasm argument.
#[derive(Clone, Copy)]
#[repr(u8)]
enum SignedIn {
    SelectOrg,
    AppShell,
    Dashboard,
    Projects,
    Audit,
    Members,
    Settings,
}

/// Every signed-in page's view: the one entry into the lazily loaded module (see the module's
/// docs). Async on both sides: in the browser it first loads the module, on the server it
/// records the module for the page's preload links.
#[lazy]
fn signed_in_view(page: SignedIn) -> AnyView {
    match page {
        SignedIn::SelectOrg => view! { <SelectOrgPage/> }.into_any(),
        SignedIn::AppShell => view! { <AppShell/> }.into_any(),
        SignedIn::Dashboard => view! { <DashboardPage/> }.into_any(),
        SignedIn::Projects => view! { <ProjectsPage/> }.into_any(),
        SignedIn::Audit => view! { <AuditPage/> }.into_any(),
        SignedIn::Members => view! { <MembersPage/> }.into_any(),
        SignedIn::Settings => view! { <SettingsPage/> }.into_any(),
    }
}

/// A route type per page for `Lazy::<…>::new()` in the route table.
macro_rules! signed_in_routes {
    ($($(#[$doc:meta])* $route:ident => $page:ident,)*) => {$(
        $(#[$doc])*
        pub struct $route;

        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            async fn view(_: Self) -> AnyView {
                signed_in_view(SignedIn::$page).await
            }

            // Loads the module: the router awaits it before hydrating the route, and ahead of a
            // client-side navigation to it.
            async fn preload() {
                #[cfg(feature = "hydrate")]
                __preload_signed_in_view().await;
            }
        }
    )*};
}

signed_in_routes! {
    /// `/select-org`.
    SelectOrgRoute => SelectOrg,
    /// The `/app` layout around the workspace pages.
    AppShellRoute => AppShell,
    /// `/app/dashboard`.
    DashboardRoute => Dashboard,
    /// `/app/projects`.
    ProjectsRoute => Projects,
    /// `/app/audit`.
    AuditRoute => Audit,
    /// `/app/members`.
    MembersRoute => Members,
    /// `/app/settings`.
    SettingsRoute => Settings,
}
