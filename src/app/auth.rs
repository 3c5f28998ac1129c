//! Auth in components, as Clerk's React hooks give it to React apps: [`use_auth`] (the session,
//! the active organization's role and permissions, `has_role`/`has_permission`), [`use_user`]
//! (the signed-in user) and [`use_organization`] (the active organization). They read one
//! snapshot that the workspace shell (`/app`) loads per page on the server, so no component
//! fetches its own. Read them inside a `<Suspense>` so rendering waits for them (they are `None`
//! until loaded, and when signed out). Server components only: an island (see `app`) gets
//! what it needs as props, since the page around it never runs in the browser. Every page is a
//! full page load, so a renewed token or another organization is read by the next page.

use leptos::prelude::*;

use crate::app::api::get_auth;
use crate::app::error::WorkspaceError;
use crate::app::hydration::page_resource;
use crate::model::{ActiveOrganization, AuthSnapshot, CurrentUser, SessionAuth};

/// The snapshot every hook reads.
#[derive(Clone, Copy)]
pub struct AuthContext {
    pub snapshot: Resource<Result<Option<AuthSnapshot>, WorkspaceError>>,
}

/// Loads the snapshot for this page and provides it (the workspace shell calls this once).
pub fn provide_auth() {
    let snapshot = page_resource(|| (), |_| get_auth());
    provide_context(AuthContext { snapshot });
}

/// The whole snapshot, for a component that awaits it (e.g. in a `Suspend`).
pub fn use_auth_snapshot() -> Resource<Result<Option<AuthSnapshot>, WorkspaceError>> {
    expect_context::<AuthContext>().snapshot
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
