//! `/app/dashboard`: the active organization at a glance.

use leptos::prelude::*;

use super::workspace_layout::use_workspace;
use crate::app::api::get_dashboard;
use crate::app::components::{AuditList, ErrorView};
use crate::app::hydration::page_resource;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let ws = use_workspace();
    let dash = page_resource(|| (), |_| get_dashboard());
    view! {
        <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (ws.await, dash.await) {
                    (Ok(w), Ok(d)) => view! {
                        <h1 class="text-2xl font-semibold" data-testid="org-name">{w.org_name.clone()}</h1>
                        <p class="mt-1 text-slate-600">"Your role: " <span data-testid="role">{w.role.trim_start_matches("org:").to_string()}</span></p>
                        <div class="mt-6 grid grid-cols-2 gap-4 sm:max-w-md">
                            <div class="rounded-lg border border-slate-200 bg-white p-4"><div class="text-3xl font-semibold">{d.active_projects}</div><div class="text-sm text-slate-500">"active projects"</div></div>
                            <div class="rounded-lg border border-slate-200 bg-white p-4"><div class="text-3xl font-semibold">{d.archived_projects}</div><div class="text-sm text-slate-500">"archived"</div></div>
                        </div>
                        {d.recent.map(|entries| view! {
                            <h2 class="mt-8 font-semibold">"Recent activity"</h2>
                            <AuditList entries/>
                        })}
                    }.into_any(),
                    (Err(error), _) | (_, Err(error)) => view! { <ErrorView error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
