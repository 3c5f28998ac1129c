//! `/app/audit`: the organization's audit log, for admins, 25 entries a page.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::app::api::get_audit;
use crate::app::components::{AuditList, ErrorView};
use crate::app::hydration::page_resource;

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let page = move || query.read().get("page").and_then(|p| p.parse::<i64>().ok()).unwrap_or(0).max(0);
    let entries = page_resource(page, get_audit);
    view! {
        <h1 class="text-2xl font-semibold">"Audit log"</h1>
        <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let p = page();
                match entries.await {
                    Ok(list) => {
                        let more = list.len() == 25;
                        view! {
                            <AuditList entries=list/>
                            <nav class="mt-4 flex gap-4 text-sm">
                                {(p > 0).then(|| view! { <a href=format!("/app/audit?page={}", p - 1)>"← Newer"</a> })}
                                {more.then(|| view! { <a href=format!("/app/audit?page={}", p + 1)>"Older →"</a> })}
                            </nav>
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorView error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
