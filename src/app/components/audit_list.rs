use leptos::prelude::*;

use crate::model::AuditEntry;

/// Audit entries, newest first, each with its before/after snapshot.
#[component]
pub fn AuditList(entries: Vec<AuditEntry>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="mt-2 text-slate-500">"Nothing yet."</p> }.into_any();
    }
    view! {
        <ul class="mt-2 divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white" data-testid="audit-list">
            {entries.into_iter().map(|e| view! {
                <li class="px-4 py-2 text-sm">
                    <span class="font-mono">{e.action.clone()}</span>
                    " by " {e.actor.clone()} " · " <time>{e.at.clone()}</time>
                    {e.after.clone().or(e.before.clone()).map(|s| view! { <div class="truncate text-slate-500">{s}</div> })}
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}
