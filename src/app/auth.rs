//! Auth in components, as Clerk's React hooks give it to React apps: [`use_auth`] (the session,
//! the active organization's role and permissions, `has_role`/`has_permission`), [`use_user`]
//! (the signed-in user) and [`use_organization`] (the active organization). They read one
//! snapshot that the workspace shell (`/app`) loads per page on the server, so no component
//! fetches its own. Read them inside a `<Suspense>` so rendering waits for them (they are `None`
//! until loaded, and when signed out). Server components only: an island (see `app`) gets
//! what it needs as props, since the page around it never runs in the browser. Every page is a
//! full page load, so a renewed token or another organization is read by the next page.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::app::api::get_shell;
use crate::app::error::WorkspaceError;
use crate::app::hydration::page_resource;
use crate::model::{ActiveOrganization, AuthSnapshot, CurrentUser, OrgChoice, SessionAuth};

/// What the `/app` shell shows, loaded in one read per page (`get_shell`): the snapshot every
/// hook reads, and the organizations the header's switcher lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShellSnapshot {
    pub auth: AuthSnapshot,
    /// The signed-in user's organizations; an error when the mirror has none and Clerk could
    /// not be asked (the header then says they could not be loaded, and offers no switcher).
    pub organizations: Result<Vec<OrgChoice>, WorkspaceError>,
}

/// The shell's snapshot, which every hook reads (`None` inside: signed out).
#[derive(Clone, Copy)]
pub struct AuthContext {
    pub shell: Resource<Result<Option<ShellSnapshot>, WorkspaceError>>,
}

/// Loads the shell's snapshot for this page and provides it (the workspace shell calls this
/// once).
pub fn provide_auth() {
    let shell = page_resource(|| (), |_| get_shell());
    provide_context(AuthContext { shell });
}

/// The whole shell snapshot, for a component that awaits it (e.g. in a `Suspend`).
pub fn use_shell() -> Resource<Result<Option<ShellSnapshot>, WorkspaceError>> {
    expect_context::<AuthContext>().shell
}

fn read<T: Send + Sync + 'static>(pick: fn(AuthSnapshot) -> Option<T>) -> Signal<Option<T>> {
    let shell = use_shell();
    Signal::derive(move || shell.get().and_then(Result::ok).flatten().and_then(|s| pick(s.auth)))
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
