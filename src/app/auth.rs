//! Auth in components, as Clerk's React hooks give it to React apps: [`use_auth`] (the session,
//! the active organization's role and permissions, `has_role`/`has_permission`), [`use_user`]
//! (the signed-in user) and [`use_organization`] (the active organization). They read one
//! snapshot that the workspace shell (`/app`) loads per page — resolved on the server, sent with the page,
//! hydrated — so no component fetches its own. Read them inside a `<Suspense>` or
//! `<Transition>` so server rendering waits for them (they are `None` until loaded, and when
//! signed out). The snapshot is loaded again when the session keeper renews the token
//! (`tenantry:session-renewed` on `window`); switching organizations is a navigation.

use leptos::prelude::*;

use crate::app::api::get_auth;
use crate::app::error::WorkspaceError;
use crate::model::{ActiveOrganization, AuthSnapshot, CurrentUser, SessionAuth};

/// The snapshot every hook reads.
#[derive(Clone, Copy)]
pub struct AuthContext {
    pub snapshot: Resource<Result<Option<AuthSnapshot>, WorkspaceError>>,
    /// Counts token renewals: what the snapshot reloads on (and whatever derives from it).
    pub renewals: RwSignal<u32>,
}

/// The event the session keeper sends on `window` after writing a renewed token.
pub const SESSION_RENEWED_EVENT: &str = "tenantry:session-renewed";

/// Loads the snapshot for this page and provides it (the workspace shell calls this once).
pub fn provide_auth() {
    let renewals = RwSignal::new(0u32);
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener_untyped(SESSION_RENEWED_EVENT, move |_| renewals.update(|n| *n += 1));
        on_cleanup(move || handle.remove());
    }
    let snapshot = Resource::new(move || renewals.get(), |_| get_auth());
    provide_context(AuthContext { snapshot, renewals });
}

/// The whole snapshot, for a component that awaits it (e.g. in a `Suspend`).
pub fn use_auth_snapshot() -> Resource<Result<Option<AuthSnapshot>, WorkspaceError>> {
    expect_context::<AuthContext>().snapshot
}

/// The renewal counter the snapshot reloads on, for a resource derived from the snapshot (a
/// resource's fetcher tracks nothing: it reloads on its source alone).
pub fn use_auth_renewals() -> RwSignal<u32> {
    expect_context::<AuthContext>().renewals
}

fn read<T: Send + Sync + 'static>(pick: fn(AuthSnapshot) -> Option<T>) -> Signal<Option<T>> {
    let snapshot = use_auth_snapshot();
    Signal::derive(move || snapshot.get().and_then(Result::ok).flatten().and_then(pick))
}

/// Clerk's `useAuth()`: the signed-in session.
pub fn use_auth() -> Signal<Option<SessionAuth>> {
    read(|s| Some(s.auth))
}

/// Clerk's `useUser()`: the signed-in user.
pub fn use_user() -> Signal<Option<CurrentUser>> {
    read(|s| Some(s.user))
}

/// Clerk's `useOrganization()`: the active organization, if any.
pub fn use_organization() -> Signal<Option<ActiveOrganization>> {
    read(|s| s.organization)
}
