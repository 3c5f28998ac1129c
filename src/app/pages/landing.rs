use leptos::prelude::*;

/// `/`: what Tenantry is, with one element that only reacts once the page has hydrated.
#[component]
pub fn LandingPage() -> impl IntoView {
    view! {
        <header class="border-b border-slate-200 bg-white">
            <nav class="mx-auto flex max-w-5xl items-center justify-between px-6 py-4">
                <span class="text-lg font-semibold tracking-tight">"Tenantry"</span>
                <div class="flex items-center gap-4 text-sm">
                    <a class="text-slate-600 hover:text-slate-900" href="/sign-in">"Sign in"</a>
                    <a class="rounded-md bg-indigo-600 px-3 py-1.5 font-medium text-white hover:bg-indigo-500" href="/sign-up">"Get started"</a>
                </div>
            </nav>
        </header>
        <main class="mx-auto max-w-5xl px-6 py-20">
            <h1 class="text-4xl font-bold tracking-tight sm:text-5xl">"Multi-tenant SaaS, in Rust, on Clerk."</h1>
            <p class="mt-6 max-w-2xl text-lg text-slate-600">
                "Sign in, pick your organization, and work inside it. Every query is scoped to the active "
                "organization by construction, and Postgres row-level security backs it up."
            </p>
            <div class="mt-10 flex items-center gap-4">
                <a class="rounded-md bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-500" href="/app/dashboard">"Open your workspace"</a>
                <HydrationProbe/>
            </div>
        </main>
    }
}

/// A counter: server-rendered as 0, and only counts once the wasm has hydrated it (an island).
#[island]
fn HydrationProbe() -> impl IntoView {
    crate::app::hydration::island_hydrated();
    let (count, set_count) = signal(0u32);
    view! {
        <button
            id="hydration-probe"
            type="button"
            class="rounded-md border border-slate-300 bg-white px-4 py-2 text-slate-700 hover:bg-slate-100"
            on:click=move |_| set_count.update(|n| *n += 1)
        >
            "Clicked " <span data-testid="count">{count}</span> " times"
        </button>
    }
}
