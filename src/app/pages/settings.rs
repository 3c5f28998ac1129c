//! `/app/settings`: the organization's name and slug, and its deletion (after typing its name),
//! for admins. Every change is made in Clerk; the mirror follows by webhook.

use leptos::prelude::*;

use crate::app::api::{get_org_settings, ChangeOrganizationSlug, DeleteOrganization, RenameOrganization};
use crate::app::components::{provide_returned_error, ActionHeader, ErrorView, Flash};

/// The whole page is an island: a rename or a new slug reloads the form with the result.
#[island(lazy)]
pub fn SettingsPage() -> impl IntoView {
    crate::app::hydration::preload_lazy_island("settings_page");
    crate::app::hydration::island_hydrated();
    provide_returned_error();
    let rename = ServerAction::<RenameOrganization>::new();
    let slug = ServerAction::<ChangeOrganizationSlug>::new();
    let delete = ServerAction::<DeleteOrganization>::new();
    let settings = Resource::new(move || (rename.version().get(), slug.version().get()), |_| get_org_settings());
    let flash = Flash::new([
        rename.value().get_untracked().and_then(Result::err),
        slug.value().get_untracked().and_then(Result::err),
        delete.value().get_untracked().and_then(Result::err),
    ]);
    Effect::new(move |_| rename.value().get().map(|r| flash.show(r.map(|o| format!("Renamed to “{}”.", o.name)))));
    Effect::new(move |_| slug.value().get().map(|r| flash.show(r.map(|o| format!("Slug changed to “{}”.", o.slug)))));
    Effect::new(move |_| delete.value().get().map(|r| flash.show(r.map(|_| "Organization deleted.".to_string()))));
    let pending = move || rename.pending().get() || slug.pending().get() || delete.pending().get();
    view! {
        <ActionHeader title="Organization settings" pending=Signal::derive(pending) flash/>
        <Transition fallback=|| view! { <p class="mt-6 text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(o) => {
                        let (name, confirm_name, slug_value) = (o.name.clone(), o.name, o.slug);
                        view! {
                        <section class="mt-6 space-y-6">
                            <ActionForm action=rename attr:class="rounded-lg border border-slate-200 bg-white p-4" attr:data-testid="rename-form">
                                <label class="block text-sm font-medium" for="org-name">"Name"</label>
                                <div class="mt-1 flex gap-2">
                                    <input id="org-name" name="name" value=name required maxlength="80" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                                    <button type="submit" class="rounded-md border border-slate-300 px-3 py-1.5">"Rename"</button>
                                </div>
                            </ActionForm>
                            <ActionForm action=slug attr:class="rounded-lg border border-slate-200 bg-white p-4" attr:data-testid="slug-form">
                                <label class="block text-sm font-medium" for="org-slug">"Slug"</label>
                                <p class="text-sm text-slate-500">"Lowercase letters, digits and hyphens."</p>
                                <div class="mt-1 flex gap-2">
                                    <input id="org-slug" name="slug" value=slug_value required maxlength="64" pattern="[a-z0-9]+(-[a-z0-9]+)*" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                                    <button type="submit" class="rounded-md border border-slate-300 px-3 py-1.5">"Change slug"</button>
                                </div>
                            </ActionForm>
                            <ActionForm action=delete attr:class="rounded-lg border border-red-200 bg-white p-4" attr:data-testid="delete-form">
                                <h2 class="font-semibold text-red-800">"Delete this organization"</h2>
                                <p class="text-sm text-slate-600">
                                    "Its members lose access at once. Its data is kept for the retention period, then removed. Type "
                                    <strong>{confirm_name}</strong>" to confirm."
                                </p>
                                <div class="mt-2 flex gap-2">
                                    <input name="confirm" required autocomplete="off" aria-label="Organization name, to confirm" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                                    <button type="submit" class="rounded-md bg-red-600 px-3 py-1.5 font-medium text-white">"Delete organization"</button>
                                </div>
                            </ActionForm>
                        </section>
                    }.into_any()
                    }
                    Err(error) => view! { <ErrorView error/> }.into_any(),
                }
            })}
        </Transition>
    }
}
