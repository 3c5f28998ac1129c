//! The `/app` layout: the header with the organization switcher and the user menu, and the active
//! organization loaded once for every page under it.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::app::components::UserMenu;
use crate::app::error::WorkspaceError;
use crate::app::hydration::page_resource;
use crate::model::Workspace;

/// The active organization and the caller's rights in it, provided by [`AppShell`] to the
/// pages of the workspace (`use_context::<CurrentWorkspace>()`).
#[derive(Clone, Copy)]
pub struct CurrentWorkspace(pub Resource<Result<Workspace, WorkspaceError>>);

/// The workspace of the enclosing [`AppShell`] (its auth snapshot's organization).
pub fn use_workspace() -> Resource<Result<Workspace, WorkspaceError>> {
    expect_context::<CurrentWorkspace>().0
}

/// The shell's hold on the request's read transaction, from before its own reads until the page
/// below it is built, so the shell's reads and the page's share one transaction whatever their
/// timing where they take it (`RequestReads::hold`; on plain Postgres the shell's read and the
/// projects list are statements of their own, and the hold only spans the page's transaction).
/// Server only: the shell never renders in the browser.
struct PageBuild {
    #[cfg(feature = "ssr")]
    hold: std::sync::Mutex<Option<crate::server::tenant::ReadsHold>>,
}

impl PageBuild {
    fn start() -> Self {
        Self {
            #[cfg(feature = "ssr")]
            hold: std::sync::Mutex::new(crate::server::server_fns::hold_request_reads()),
        }
    }
    /// The page is built: its reads have begun (or joined) the transaction.
    fn built(&self) {
        #[cfg(feature = "ssr")]
        drop(self.hold.lock().ok().and_then(|mut h| h.take()));
    }
}

/// `/app/*`: header with the organization switcher and sign-out, then the page.
#[component]
pub fn AppShell() -> impl IntoView {
    let build = PageBuild::start();
    // The signed-in user, session and organization for every component below (`use_auth()`
    // & co), and the header's organizations: loaded inside the route, in one read per page.
    crate::app::auth::provide_auth();
    let shell = crate::app::auth::use_shell();
    // The workspace is that snapshot's organization (not a second load of the same rows); the
    // pages below read it from context.
    let ws = page_resource(
        || (),
        move |_| async move {
            match shell.await {
                Ok(Some(s)) => Workspace::from_snapshot(&s.auth).ok_or(WorkspaceError::ChooseOrganization),
                Ok(None) => Err(WorkspaceError::SignInRequired),
                Err(e) => Err(e),
            }
        },
    );
    provide_context(CurrentWorkspace(ws));
    view! {
        <header class="border-b border-slate-200 bg-white">
            <nav class="mx-auto flex max-w-5xl items-center gap-6 px-6 py-3">
                <a href="/app/dashboard" class="font-semibold">"Tenantry"</a>
                <A href="/app/dashboard" attr:class="text-sm text-slate-600 hover:text-slate-900">"Dashboard"</A>
                <A href="/app/projects" attr:class="text-sm text-slate-600 hover:text-slate-900">"Projects"</A>
                <A href="/app/members" attr:class="text-sm text-slate-600 hover:text-slate-900">"Members"</A>
                // One boundary for the header: the rights, the organizations and who is signed
                // in come from one read, sent in one piece once it is read.
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let shell = shell.await.ok().flatten();
                        let admin = shell.as_ref().and_then(|s| Workspace::from_snapshot(&s.auth)).filter(|w| w.is_admin).map(|_| view! {
                            <A href="/app/audit" attr:class="text-sm text-slate-600 hover:text-slate-900">"Audit log"</A>
                            <A href="/app/settings" attr:class="text-sm text-slate-600 hover:text-slate-900">"Settings"</A>
                        });
                        let (list, signed_in) = match shell {
                            Some(s) => (s.organizations.ok(), Some(s.auth)),
                            None => (None, None),
                        };
                        // A list that could not be read (or a shell that could not be) offers
                        // nothing to switch to, rather than an empty menu with a button that
                        // does nothing.
                        let switcher = match list {
                            Some(list) => view! {
                                <form method="post" action="/select-org/activate" class="flex items-center gap-2" data-testid="org-switcher">
                                    <label class="sr-only" for="switch-org">"Organization"</label>
                                    <select id="switch-org" name="org_id" class="rounded-md border border-slate-300 px-2 py-1 text-sm">
                                        {list.into_iter().map(|o| view! {
                                            <option value=o.id.clone() selected=o.active>{o.name.clone()}</option>
                                        }).collect_view()}
                                    </select>
                                    <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-sm">"Switch"</button>
                                </form>
                            }.into_any(),
                            None => view! {
                                <span class="text-sm text-amber-700" role="status" data-testid="org-switcher-unavailable">
                                    "Your organizations could not be loaded"
                                </span>
                            }.into_any(),
                        };
                        view! {
                            {admin}
                            <div class="ml-auto flex items-center gap-3">
                                {switcher}
                                <UserMenu snapshot=signed_in/>
                            </div>
                        }
                    })}
                </Suspense>
            </nav>
        </header>
        <main class="mx-auto max-w-5xl px-6 py-8">
            <Outlet/>
        </main>
        // Rendered after the page above, whose resources started their reads as it was built.
        {move || build.built()}
    }
}
