use leptos::prelude::*;

/// Any path no route matches: a real 404, with a way back.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="mx-auto max-w-xl px-6 py-24 text-center">
            <h1 class="text-3xl font-semibold">"Page not found"</h1>
            <p class="mt-4 text-slate-600">"There is nothing at this address."</p>
            <a class="mt-8 inline-block text-indigo-600 hover:underline" href="/">"Back to Tenantry"</a>
        </main>
    }
}
