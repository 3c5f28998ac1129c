use leptos::prelude::*;

use crate::app::error::WorkspaceError;

/// Gives an island's server actions the error a form posted without JavaScript came back with
/// (`?__err=…&__path=…`, e.g. posted before the island hydrated): call it before creating them.
/// On the server the router provides it; in the browser an island has no router, and without
/// this it would start without the error the server rendered.
pub fn provide_returned_error() {
    #[cfg(feature = "hydrate")]
    {
        let search = window().location().search().unwrap_or_default();
        let (mut err, mut path) = (None, None);
        // Decoded as the router decodes it on the server (the query's pairs, then each value
        // once more), so both sides start from the same text.
        let decode = |value: std::borrow::Cow<str>| {
            percent_encoding::percent_decode_str(&value).decode_utf8_lossy().into_owned()
        };
        for (key, value) in form_urlencoded::parse(search.trim_start_matches('?').as_bytes()) {
            match &*key {
                "__err" => err = Some(decode(value)),
                "__path" => path = Some(decode(value)),
                _ => {}
            }
        }
        if let (Some(err), Some(path)) = (err, path) {
            provide_context(leptos::server::ServerActionError::new(&path, &err));
        }
    }
}

/// The outcome of a page's latest form action, shown above its content: a success message, or
/// the error's text (derived from its code). Each action reports to it through [`Flash::show`].
#[derive(Clone, Copy)]
pub struct Flash(RwSignal<Option<Result<String, String>>>);

impl Flash {
    /// Starts with the first of `returned`: the error a form posted without JavaScript came back
    /// with (its action starts with it; effects never run on the server, so this is also what the
    /// server renders).
    pub fn new(returned: impl IntoIterator<Item = Option<WorkspaceError>>) -> Self {
        let first = returned.into_iter().flatten().next();
        Self(RwSignal::new(first.map(|e| Err(e.to_string()))))
    }

    /// An action finished: its success message, or its error.
    pub fn show(self, outcome: Result<String, WorkspaceError>) {
        self.0.set(Some(outcome.map_err(|e| e.to_string())));
    }
}

/// A page's title with its actions' pending state, and the [`Flash`] below it.
#[component]
pub fn ActionHeader(title: &'static str, #[prop(into)] pending: Signal<bool>, flash: Flash) -> impl IntoView {
    view! {
        <div class="flex items-center justify-between">
            <h1 class="text-2xl font-semibold">{title}</h1>
            <span class="text-sm text-slate-500" aria-live="polite" data-testid="pending">{move || pending.get().then_some("Saving…")}</span>
        </div>
        <div aria-live="polite">
            {move || flash.0.get().map(|r| match r {
                Ok(m) => view! { <p class="mt-3 rounded-md bg-emerald-50 px-3 py-2 text-emerald-800" data-testid="flash-ok">{m}</p> }.into_any(),
                Err(e) => view! { <p role="alert" class="mt-3 rounded-md bg-red-50 px-3 py-2 text-red-800" data-testid="flash-error">{e}</p> }.into_any(),
            })}
        </div>
    }
}
