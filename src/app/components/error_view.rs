use leptos::prelude::*;

use crate::app::error::WorkspaceError;

/// A failed load, shown where its content would have been (an alert for screen readers).
#[component]
pub fn ErrorView(error: WorkspaceError) -> impl IntoView {
    view! { <p role="alert" class="mt-4 text-red-700" data-testid="load-error">{error.to_string()}</p> }
}
