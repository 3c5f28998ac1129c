//! `/select-org`: choose or create the organization to work in (also the page Clerk's
//! `choose-organization` session task leads to).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::app::api::my_organizations;
use crate::app::components::{ErrorView, OrgButton};
use crate::app::hydration::page_resource;
use crate::model::SelectOrgError;

#[component]
pub fn SelectOrgPage() -> impl IntoView {
    let orgs = page_resource(|| (), |_| my_organizations());
    let query = use_query_map();
    let error = move || query.read().get("error").map(|code| SelectOrgError::text_for_code(&code));
    // Where the user was going when the app sent them here (checked again by the server).
    let back = move || query.read().get("redirect_url");
    view! {
        <main class="mx-auto max-w-xl px-6 py-16">
            <h1 class="text-2xl font-semibold">"Choose an organization"</h1>
            <p class="mt-2 text-slate-600">"Tenantry works inside one organization at a time."</p>
            {move || error().map(|e| view! { <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-red-800">{e}</p> })}
            <Suspense fallback=|| view! { <p class="mt-8 text-slate-500">"Loading your organizations…"</p> }>
                {move || Suspend::new(async move {
                    match orgs.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-8 rounded-lg border border-dashed border-slate-300 p-6 text-slate-600" data-testid="no-orgs">
                                "You are not a member of any organization yet. Create your first one below."
                            </p>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="mt-8 space-y-3" data-testid="org-list">
                                {list.into_iter().map(|org| view! { <OrgButton org back=back()/> }).collect_view()}
                            </div>
                        }.into_any(),
                        Err(error) => view! { <ErrorView error/> }.into_any(),
                    }
                })}
            </Suspense>
            <form method="post" action="/select-org/create" class="mt-10 rounded-lg border border-slate-200 bg-white p-4">
                {move || back().map(|b| view! { <input type="hidden" name="redirect_url" value=b/> })}
                <label class="block text-sm font-medium" for="new-org">"Create an organization"</label>
                <div class="mt-2 flex gap-2">
                    <input id="new-org" name="name" required maxlength="80" placeholder="Acme Inc."
                        class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                    <button type="submit" class="rounded-md bg-slate-900 px-3 py-1.5 text-sm font-medium text-white">"Create"</button>
                </div>
            </form>
        </main>
    }
}
