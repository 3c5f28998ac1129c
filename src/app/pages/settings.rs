//! `/app/settings`: the organization's name and slug, and its deletion (after typing its name),
//! for admins. Every change is made in Clerk; the mirror follows by webhook.

use leptos::prelude::*;

use crate::app::api::{get_org_settings, ChangeOrganizationSlug, DeleteOrganization, RenameOrganization};
use crate::app::components::{ActionHeader, ErrorView, Forms, PostForm};
use crate::app::hydration::island_resource;

/// The whole page is an island: a rename or a new slug reloads the form with the result.
#[island(lazy)]
pub fn SettingsPage() -> impl IntoView {
    crate::app::hydration::preload_lazy_island("settings_page");
    crate::app::hydration::island_hydrated();
    let forms = Forms::new();
    let settings = island_resource(move || forms.version(), |_| get_org_settings());
    view! {
        <ActionHeader title="Organization settings" forms/>
        <Transition fallback=|| view! { <p class="mt-6 text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(o) => {
                        let (name, confirm_name, slug_value) = (o.name.clone(), o.name, o.slug);
                        view! {
                        <section class="mt-6 space-y-6">
                            <PostForm target={forms.call::<RenameOrganization>(|o| format!("Renamed to “{}”.", o.name))} attr:class="rounded-lg border border-slate-200 bg-white p-4" attr:data-testid="rename-form">
                                <label class="block text-sm font-medium" for="org-name">"Name"</label>
                                <div class="mt-1 flex gap-2">
                                    <input id="org-name" name="name" value=name required maxlength="80" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                                    <button type="submit" class="rounded-md border border-slate-300 px-3 py-1.5">"Rename"</button>
                                </div>
                            </PostForm>
                            <PostForm target={forms.call::<ChangeOrganizationSlug>(|o| format!("Slug changed to “{}”.", o.slug))} attr:class="rounded-lg border border-slate-200 bg-white p-4" attr:data-testid="slug-form">
                                <label class="block text-sm font-medium" for="org-slug">"Slug"</label>
                                <p class="text-sm text-slate-500">"Lowercase letters, digits and hyphens."</p>
                                <div class="mt-1 flex gap-2">
                                    <input id="org-slug" name="slug" value=slug_value required maxlength="64" pattern="[a-z0-9]+(-[a-z0-9]+)*" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                                    <button type="submit" class="rounded-md border border-slate-300 px-3 py-1.5">"Change slug"</button>
                                </div>
                            </PostForm>
                            <PostForm target={forms.call::<DeleteOrganization>(|()| "Organization deleted.".into())} attr:class="rounded-lg border border-red-200 bg-white p-4" attr:data-testid="delete-form">
                                <h2 class="font-semibold text-red-800">"Delete this organization"</h2>
                                <p class="text-sm text-slate-600">
                                    "Its members lose access at once. Its data is kept for the retention period, then removed. Type "
                                    <strong>{confirm_name}</strong>" to confirm."
                                </p>
                                <div class="mt-2 flex gap-2">
                                    <input name="confirm" required autocomplete="off" aria-label="Organization name, to confirm" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                                    <button type="submit" class="rounded-md bg-red-600 px-3 py-1.5 font-medium text-white">"Delete organization"</button>
                                </div>
                            </PostForm>
                        </section>
                    }.into_any()
                    }
                    Err(error) => view! { <ErrorView error/> }.into_any(),
                }
            })}
        </Transition>
    }
}
