//! `/app/members`: everyone in the organization; admins change roles, remove members and manage
//! invitations; anyone but the last admin can leave. Forms post to server functions
//! (`ActionForm`): hydrated they update in place, without JavaScript they are plain form posts
//! that come back to this page. Destructive actions ask first (a disclosure with the real
//! button, which works without JavaScript too).

use leptos::prelude::*;

use crate::app::api::{
    list_invitations, list_members, ChangeMemberRole, InviteMember, LeaveOrganization, RemoveMember, RevokeInvitation,
};
use crate::app::components::{provide_returned_error, ActionHeader, ErrorView, Flash};
use crate::app::error::WorkspaceError;
use crate::model::{role_label, InvitationView, MemberView, ORG_ROLES};

/// The whole page is an island: each action reloads the list it changed.
#[island(lazy)]
pub fn MembersPage() -> impl IntoView {
    crate::app::hydration::preload_lazy_island("members_page");
    crate::app::hydration::island_hydrated();
    provide_returned_error();
    let role = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let leave = ServerAction::<LeaveOrganization>::new();
    let invite = ServerAction::<InviteMember>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    let members = Resource::new(
        move || (role.version().get(), remove.version().get(), invite.version().get()),
        |_| list_members(),
    );
    // Created here rather than in `Invitations`: a resource created while the members render
    // (inside their `Suspend`) is not sent with the island's HTML, and hydrating without its
    // data fails. Loaded only for those who may manage members (a refusal would set the page's
    // status); `None` for the others.
    let invitations = Resource::new(
        move || (invite.version().get(), revoke.version().get()),
        move |_| async move {
            match members.await {
                Ok(view) if view.can_manage => list_invitations().await.map(Some),
                Ok(_) => Ok(None),
                Err(error) => Err(error),
            }
        },
    );

    let flash = Flash::new([
        role.value().get_untracked().and_then(Result::err),
        remove.value().get_untracked().and_then(Result::err),
        leave.value().get_untracked().and_then(Result::err),
        revoke.value().get_untracked().and_then(Result::err),
        invite.value().get_untracked().and_then(Result::err),
    ]);
    Effect::new(move |_| role.value().get().map(|r| flash.show(r.map(|_| "Role changed.".to_string()))));
    Effect::new(move |_| remove.value().get().map(|r| flash.show(r.map(|_| "Member removed.".to_string()))));
    Effect::new(move |_| leave.value().get().map(|r| flash.show(r.map(|_| "You left the organization.".to_string()))));
    Effect::new(move |_| {
        invite.value().get().map(|r| flash.show(r.map(|i| format!("Invitation sent to {}.", i.email))))
    });
    Effect::new(move |_| revoke.value().get().map(|r| flash.show(r.map(|_| "Invitation revoked.".to_string()))));
    let pending = move || {
        role.pending().get()
            || remove.pending().get()
            || leave.pending().get()
            || invite.pending().get()
            || revoke.pending().get()
    };

    view! {
        <ActionHeader title="Members" pending=Signal::derive(pending) flash/>
        <Transition fallback=|| view! { <p class="mt-6 text-slate-500">"Loading members…"</p> }>
            {move || Suspend::new(async move {
                match members.await {
                    Ok(view) => {
                        let can_manage = view.can_manage;
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
                                    {view.members.into_iter().map(|m| view! { <MemberRow m can_manage role remove leave/> }).collect_view()}
                                </tbody>
                            </table>
                            {can_manage.then(|| view! { <Invitations invite revoke invitations/> })}
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorView error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn MemberRow(
    m: MemberView,
    can_manage: bool,
    role: ServerAction<ChangeMemberRole>,
    remove: ServerAction<RemoveMember>,
    leave: ServerAction<LeaveOrganization>,
) -> impl IntoView {
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
                        <ActionForm action=role attr:class="flex gap-1" attr:data-testid="role-form">
                            <input type="hidden" name="user_id" value=uid_role/>
                            <select name="role" aria-label="Role" class="rounded-md border border-slate-300 px-1 py-0.5 text-sm">
                                {ORG_ROLES.iter().map(|(r, label)| view! { <option value=*r selected=current == *r>{*label}</option> }).collect_view()}
                            </select>
                            <button type="submit" class="rounded-md border border-slate-300 px-2 py-0.5 text-sm">"Change role"</button>
                        </ActionForm>
                        <details class="text-sm" data-testid="remove">
                            <summary class="cursor-pointer text-red-700">"Remove…"</summary>
                            <ActionForm action=remove attr:class="mt-1">
                                <input type="hidden" name="user_id" value=uid_remove/>
                                <button type="submit" class="rounded-md border border-red-300 px-2 py-0.5 text-red-700">"Remove from organization"</button>
                            </ActionForm>
                        </details>
                    })}
                    {m.is_self.then(|| view! {
                        <details class="text-sm" data-testid="leave">
                            <summary class="cursor-pointer text-red-700">"Leave…"</summary>
                            <ActionForm action=leave attr:class="mt-1">
                                <button type="submit" class="rounded-md border border-red-300 px-2 py-0.5 text-red-700">"Leave this organization"</button>
                            </ActionForm>
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
    invite: ServerAction<InviteMember>,
    revoke: ServerAction<RevokeInvitation>,
    invitations: Resource<Result<Option<Vec<InvitationView>>, WorkspaceError>>,
) -> impl IntoView {
    view! {
        <section class="mt-10" data-testid="invitations">
            <h2 class="text-lg font-semibold">"Invitations"</h2>
            <ActionForm action=invite attr:class="mt-3 flex flex-wrap gap-2 rounded-lg border border-slate-200 bg-white p-4" attr:data-testid="invite-form">
                <input type="email" name="email" required placeholder="colleague@example.com" aria-label="Email address" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                <select name="role" aria-label="Role" class="rounded-md border border-slate-300 px-2 py-1.5">
                    {ORG_ROLES.iter().map(|(r, label)| view! { <option value=*r selected=*r == "org:member">{*label}</option> }).collect_view()}
                </select>
                <button type="submit" class="rounded-md bg-indigo-600 px-3 py-1.5 font-medium text-white">"Send invitation"</button>
            </ActionForm>
            <Transition fallback=|| view! { <p class="mt-3 text-slate-500">"Loading invitations…"</p> }>
                {move || Suspend::new(async move {
                    match invitations.await {
                        Ok(None) => ().into_any(),
                        Ok(Some(list)) if list.is_empty() => view! { <p class="mt-3 rounded-lg border border-dashed border-slate-300 p-4 text-slate-500" data-testid="no-invitations">"No pending invitations."</p> }.into_any(),
                        Ok(Some(list)) => view! {
                            <ul class="mt-3 space-y-2" data-testid="invitation-list">
                                {list.into_iter().map(|i| view! {
                                    <li class="flex items-center justify-between rounded-lg border border-slate-200 bg-white px-4 py-2" data-testid="invitation" data-email=i.email.clone()>
                                        <span>{i.email.clone()}<span class="ml-2 text-sm text-slate-500">{role_label(&i.role)}</span></span>
                                        <ActionForm action=revoke>
                                            <input type="hidden" name="id" value=i.id.clone()/>
                                            <button type="submit" class="rounded-md border border-slate-300 px-2 py-0.5 text-sm">"Revoke"</button>
                                        </ActionForm>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(error) => view! { <ErrorView error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    // Erased, as `MemberRow`'s.
    .into_any()
}
