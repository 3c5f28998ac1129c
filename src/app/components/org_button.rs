use leptos::prelude::*;

use crate::model::OrgChoice;

/// One organization to open. Posts to a plain route, not a server function: activation is a
/// redirect through Clerk's handshake, which only Clerk can complete.
#[component]
pub fn OrgButton(org: OrgChoice, back: Option<String>) -> impl IntoView {
    view! {
        <form method="post" action="/select-org/activate" class="flex items-center justify-between rounded-lg border border-slate-200 bg-white px-4 py-3">
            <input type="hidden" name="org_id" value=org.id.clone()/>
            {back.map(|b| view! { <input type="hidden" name="redirect_url" value=b/> })}
            <div>
                <div class="font-medium">{org.name.clone()}</div>
                <div class="text-sm text-slate-500">{org.role.trim_start_matches("org:").to_string()}</div>
            </div>
            <button type="submit" class="rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-indigo-500">
                {if org.active { "Continue" } else { "Open" }}
            </button>
        </form>
    }
}
