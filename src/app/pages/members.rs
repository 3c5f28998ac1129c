//! `/app/members`: everyone in the organization; admins change roles, remove members and manage
//! invitations; anyone but the last admin can leave. Forms post to server functions
//! (`PostForm`): hydrated they update in place, without JavaScript they are plain form posts
//! that come back to this page. Destructive actions ask first (a disclosure with the real
//! button, which works without JavaScript too).

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::app::api::{
    list_invitations, list_members, ChangeMemberRole, InviteMember, LeaveOrganization, RemoveMember, RevokeInvitation,
};
use crate::app::components::{ActionHeader, ErrorView, Forms, PostForm};
use crate::app::error::WorkspaceError;
use crate::app::hydration::island_resource;
use crate::model::{role_label, InvitationView, MemberView, ORG_ROLES};

#[component]
pub fn MembersPage() -> impl IntoView {
    crate::app::hydration::preload_lazy_island("members_editor");
    view! { <MembersEditor can_manage=may_manage_members()/> }
}

/// Whether the caller may manage members, read from the verified session of the request being
/// rendered, as the member server functions check it (`Caller::can_manage_members`). The island
/// only shows or hides its forms and invitations by it; the server functions check again.
/// Server only: this page never renders in the browser.
fn may_manage_members() -> bool {
    #[cfg(feature = "ssr")]
    {
        use crate::server::members::Caller;
        use_context::<http::request::Parts>()
            .and_then(|parts| Caller::from_request(&parts).ok())
            .is_some_and(|caller| caller.can_manage_members())
    }
    #[cfg(not(feature = "ssr"))]
    {
        false
    }
}

/// The members and, for those who may manage them, the invitations (an island): every finished
/// call reloads the members, an invitation's the invitations too.
#[island(lazy)]
fn MembersEditor(can_manage: bool) -> impl IntoView {
    crate::app::hydration::island_hydrated();
    let forms = Forms::new();
    let members = island_resource(move || forms.version(), |_| list_members());
    // Created here rather than in `Invitations`: a resource created while the members render
    // (inside their `Suspend`) is not sent with the island's HTML, and hydrating without its
    // data fails. Read beside the members, only for those who may manage them (a refusal would
    // set the page's status), and read again only after an invitation's form (each read is a
    // Backend API call, from the caller's allowance).
    let invitations_changed = RwSignal::new(0);
    let invitations = can_manage.then(|| island_resource(move || invitations_changed.get(), |_| list_invitations()));
    view! {
        <ActionHeader title="Members" forms/>
        <Transition fallback=|| view! { <p class="mt-6 text-slate-500">"Loading members…"</p> }>
            {move || Suspend::new(async move {
                let invitations = match invitations {
                    Some(invitations) => Some(invitations.await),
                    None => None,
                };
                match members.await {
                    Ok(view) => {
                        view! {
                            <table class="mt-6 w-full border-collapse rounded-lg bg-white text-left text-sm" data-testid="member-list">
                                <thead>
                                    <tr class="border-b border-slate-200 text-slate-500">
                                        <th class="px-3 py-2 font-medium">"Name"</th>
                                        <th class="px-3 py-2 font-medium">"Email"</th>
                                        <th class="px-3 py-2 font-medium">"Role"</th>
                                        <th class="px-3 py-2 font-medium">"Joined"</th>
                                        <th class="px-3 py-2"><span class="sr-only">"Actions"</span></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {view.members.into_iter().map(|m| view! { <MemberRow m can_manage forms/> }).collect_view()}
                                </tbody>
                            </table>
                            {invitations.map(|invitations| view! { <Invitations forms invitations invitations_changed/> })}
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorView error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn MemberRow(m: MemberView, can_manage: bool, forms: Forms) -> impl IntoView {
    let shown_name = if m.name.is_empty() { m.email.clone() } else { m.name.clone() };
    let joined = m.joined.get(..10).unwrap_or(&m.joined).to_string();
    let (uid_role, uid_remove, current) = (m.user_id.clone(), m.user_id.clone(), m.role.clone());
    view! {
        <tr class="border-b border-slate-100" data-testid="member" data-email=m.email.clone() data-role=m.role.clone()>
            <td class="px-3 py-2 font-medium">{shown_name}{m.is_self.then(|| view! { <span class="ml-2 text-xs text-slate-500">"(you)"</span> })}</td>
            <td class="px-3 py-2 text-slate-600">{m.email.clone()}</td>
            <td class="px-3 py-2" data-testid="role">{role_label(&m.role)}</td>
            <td class="px-3 py-2 text-slate-600"><time datetime=m.joined.clone()>{joined}</time></td>
            <td class="px-3 py-2">
                <div class="flex flex-wrap items-center justify-end gap-2">
                    {(can_manage && !m.is_self).then(|| view! {
                        <PostForm target={forms.call::<ChangeMemberRole>(|()| "Role changed.".into())} attr:class="flex gap-1" attr:data-testid="role-form">
                            <input type="hidden" name="user_id" value=uid_role/>
                            <select name="role" aria-label="Role" class="rounded-md border border-slate-300 px-1 py-0.5 text-sm">
                                {ORG_ROLES.iter().map(|(r, label)| view! { <option value=*r selected=current == *r>{*label}</option> }).collect_view()}
                            </select>
                            <button type="submit" class="rounded-md border border-slate-300 px-2 py-0.5 text-sm">"Change role"</button>
                        </PostForm>
                        <details class="text-sm" data-testid="remove">
                            <summary class="cursor-pointer text-red-700">"Remove…"</summary>
                            <PostForm target={forms.call::<RemoveMember>(|()| "Member removed.".into())} attr:class="mt-1">
                                <input type="hidden" name="user_id" value=uid_remove/>
                                <button type="submit" class="rounded-md border border-red-300 px-2 py-0.5 text-red-700">"Remove from organization"</button>
                            </PostForm>
                        </details>
                    })}
                    // A plain form post, also once hydrated: leaving ends on `/select-org` (the
                    // server function redirects there), and a refusal comes back to this page in
                    // its URL, as any form posted without JavaScript (the header shows it).
                    {m.is_self.then(|| view! {
                        <details class="text-sm" data-testid="leave">
                            <summary class="cursor-pointer text-red-700">"Leave…"</summary>
                            <form method="post" action=LeaveOrganization::url() class="mt-1">
                                <button type="submit" class="rounded-md border border-red-300 px-2 py-0.5 text-red-700">"Leave this organization"</button>
                            </form>
                        </details>
                    })}
                </div>
            </td>
        </tr>
    }
    // Erased: the page's view type is otherwise too deep for the compiler's query limit.
    .into_any()
}

#[component]
fn Invitations(
    forms: Forms,
    invitations: Result<Vec<InvitationView>, WorkspaceError>,
    invitations_changed: RwSignal<usize>,
) -> impl IntoView {
    let list = match invitations {
        Ok(list) if list.is_empty() => view! { <p class="mt-3 rounded-lg border border-dashed border-slate-300 p-4 text-slate-500" data-testid="no-invitations">"No pending invitations."</p> }.into_any(),
        Ok(list) => view! {
            <ul class="mt-3 space-y-2" data-testid="invitation-list">
                {list.into_iter().map(|i| view! {
                    <li class="flex items-center justify-between rounded-lg border border-slate-200 bg-white px-4 py-2" data-testid="invitation" data-email=i.email.clone()>
                        <span>{i.email.clone()}<span class="ml-2 text-sm text-slate-500">{role_label(&i.role)}</span></span>
                        <PostForm target={forms.call::<RevokeInvitation>(|()| "Invitation revoked.".into()).counting(invitations_changed)}>
                            <input type="hidden" name="id" value=i.id.clone()/>
                            <button type="submit" class="rounded-md border border-slate-300 px-2 py-0.5 text-sm">"Revoke"</button>
                        </PostForm>
                    </li>
                }).collect_view()}
            </ul>
        }.into_any(),
        Err(error) => view! { <ErrorView error/> }.into_any(),
    };
    view! {
        <section class="mt-10" data-testid="invitations">
            <h2 class="text-lg font-semibold">"Invitations"</h2>
            <PostForm target={forms.call::<InviteMember>(|i| format!("Invitation sent to {}.", i.email)).counting(invitations_changed)} attr:class="mt-3 flex flex-wrap gap-2 rounded-lg border border-slate-200 bg-white p-4" attr:data-testid="invite-form">
                <input type="email" name="email" required placeholder="colleague@example.com" aria-label="Email address" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                <select name="role" aria-label="Role" class="rounded-md border border-slate-300 px-2 py-1.5">
                    {ORG_ROLES.iter().map(|(r, label)| view! { <option value=*r selected=*r == "org:member">{*label}</option> }).collect_view()}
                </select>
                <button type="submit" class="rounded-md bg-indigo-600 px-3 py-1.5 font-medium text-white">"Send invitation"</button>
            </PostForm>
            {list}
        </section>
    }
    // Erased, as `MemberRow`'s.
    .into_any()
}
