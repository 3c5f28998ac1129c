use leptos::prelude::*;

use crate::model::AuthSnapshot;

/// Who is signed in (avatar initial and name or email), with the account page, the switch to
/// another organization, and sign-out. A `<details>` menu: it opens without JavaScript.
/// `snapshot`: the page's auth snapshot, loaded (nothing is shown without one).
#[component]
pub fn UserMenu(snapshot: Option<AuthSnapshot>) -> impl IntoView {
    let item = "block w-full rounded px-3 py-1.5 text-left text-sm text-slate-700 hover:bg-slate-100";
    snapshot.map(|s| {
        let (initial, name) = (s.user.initial(), s.user.display_name().to_string());
        view! {
            <details class="relative" data-testid="user-menu">
                <summary class="flex cursor-pointer list-none items-center gap-2 text-sm text-slate-700" aria-label="Account menu">
                    <span aria-hidden="true" data-testid="avatar"
                        class="flex h-7 w-7 items-center justify-center rounded-full bg-indigo-600 text-xs font-semibold text-white">{initial}</span>
                    <span data-testid="user-name">{name}</span>
                </summary>
                <div class="absolute right-0 z-10 mt-2 w-56 rounded-md border border-slate-200 bg-white p-1 shadow-lg">
                    <a class=item href=s.account_url>"Account"</a>
                    <a class=item href="/select-org">"Switch organization"</a>
                    <form method="post" action="/sign-out">
                        <button type="submit" class=item>"Sign out"</button>
                    </form>
                </div>
            </details>
        }
    })
}
