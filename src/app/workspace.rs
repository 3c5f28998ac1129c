//! The tenant workspace: choosing an organization, the `/app` shell with its switcher, the
//! dashboard, projects and the audit log. Forms post to server functions (`ActionForm`):
//! hydrated they update in place, without JavaScript they are plain form posts.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::use_query_map;

use super::api::*;
use crate::model::{AuditEntry, OrgChoice, ProjectView};

fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Organization forms post to plain routes: activation is a redirect through Clerk.
#[component]
fn OrgButton(org: OrgChoice, back: Option<String>) -> impl IntoView {
    view! {
        <form method="post" action="/select-org/activate" class="flex items-center justify-between rounded-lg border border-slate-200 bg-white px-4 py-3">
            <input type="hidden" name="org_id" value=org.id.clone()/>
            {back.map(|b| view! { <input type="hidden" name="redirect_url" value=b/> })}
            <div>
                <div class="font-medium">{org.name.clone()}</div>
                <div class="text-sm text-slate-500">{org.role.trim_start_matches("org:").to_string()}</div>
            </div>
            <button type="submit" class="rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-indigo-500">
                {if org.active { "Continue" } else { "Open" }}
            </button>
        </form>
    }
}

#[component]
pub fn SelectOrgPage() -> impl IntoView {
    let orgs = Resource::new(|| (), |_| my_organizations());
    let query = use_query_map();
    let error = move || query.read().get("error").map(|code| crate::model::select_org_error_text(&code));
    // Where the user was going when the app sent them here (checked again by the server).
    let back = move || query.read().get("redirect_url");
    view! {
        <main class="mx-auto max-w-xl px-6 py-16">
            <h1 class="text-2xl font-semibold">"Choose an organization"</h1>
            <p class="mt-2 text-slate-600">"Tenantry works inside one organization at a time."</p>
            {move || error().map(|e| view! { <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-red-800">{e}</p> })}
            <Suspense fallback=|| view! { <p class="mt-8 text-slate-500">"Loading your organizations…"</p> }>
                {move || Suspend::new(async move {
                    match orgs.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-8 rounded-lg border border-dashed border-slate-300 p-6 text-slate-600" data-testid="no-orgs">
                                "You are not a member of any organization yet. Create your first one below."
                            </p>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="mt-8 space-y-3" data-testid="org-list">
                                {list.into_iter().map(|org| view! { <OrgButton org back=back()/> }).collect_view()}
                            </div>
                        }.into_any(),
                        Err(e) => view! { <p role="alert" class="mt-8 text-red-700">{error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <form method="post" action="/select-org/create" class="mt-10 rounded-lg border border-slate-200 bg-white p-4">
                {move || back().map(|b| view! { <input type="hidden" name="redirect_url" value=b/> })}
                <label class="block text-sm font-medium" for="new-org">"Create an organization"</label>
                <div class="mt-2 flex gap-2">
                    <input id="new-org" name="name" required maxlength="80" placeholder="Acme Inc."
                        class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                    <button type="submit" class="rounded-md bg-slate-900 px-3 py-1.5 text-sm font-medium text-white">"Create"</button>
                </div>
            </form>
        </main>
    }
}

/// `/app/*`: header with the organization switcher and sign-out, then the page.
#[component]
pub fn AppShell() -> impl IntoView {
    let ws = Resource::new(|| (), |_| get_workspace());
    let orgs = Resource::new(|| (), |_| my_organizations());
    view! {
        <header class="border-b border-slate-200 bg-white">
            <nav class="mx-auto flex max-w-5xl items-center gap-6 px-6 py-3">
                <a href="/app/dashboard" class="font-semibold">"Tenantry"</a>
                <A href="/app/dashboard" attr:class="text-sm text-slate-600 hover:text-slate-900">"Dashboard"</A>
                <A href="/app/projects" attr:class="text-sm text-slate-600 hover:text-slate-900">"Projects"</A>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        ws.await.ok().filter(|w| w.is_admin).map(|_| view! {
                            <A href="/app/audit" attr:class="text-sm text-slate-600 hover:text-slate-900">"Audit log"</A>
                        })
                    })}
                </Suspense>
                <div class="ml-auto flex items-center gap-3">
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            let list = orgs.await.unwrap_or_default();
                            view! {
                                <form method="post" action="/select-org/activate" class="flex items-center gap-2" data-testid="org-switcher">
                                    <label class="sr-only" for="switch-org">"Organization"</label>
                                    <select id="switch-org" name="org_id" class="rounded-md border border-slate-300 px-2 py-1 text-sm">
                                        {list.into_iter().map(|o| view! {
                                            <option value=o.id.clone() selected=o.active>{o.name.clone()}</option>
                                        }).collect_view()}
                                    </select>
                                    <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-sm">"Switch"</button>
                                </form>
                            }
                        })}
                    </Suspense>
                    <form method="post" action="/sign-out">
                        <button type="submit" class="text-sm text-slate-600 hover:text-slate-900">"Sign out"</button>
                    </form>
                </div>
            </nav>
        </header>
        <main class="mx-auto max-w-5xl px-6 py-8">
            <Outlet/>
        </main>
    }
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let ws = Resource::new(|| (), |_| get_workspace());
    let dash = Resource::new(|| (), |_| get_dashboard());
    view! {
        <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (ws.await, dash.await) {
                    (Ok(w), Ok(d)) => view! {
                        <h1 class="text-2xl font-semibold" data-testid="org-name">{w.org_name.clone()}</h1>
                        <p class="mt-1 text-slate-600">"Your role: " <span data-testid="role">{w.role.trim_start_matches("org:").to_string()}</span></p>
                        <div class="mt-6 grid grid-cols-2 gap-4 sm:max-w-md">
                            <div class="rounded-lg border border-slate-200 bg-white p-4"><div class="text-3xl font-semibold">{d.active_projects}</div><div class="text-sm text-slate-500">"active projects"</div></div>
                            <div class="rounded-lg border border-slate-200 bg-white p-4"><div class="text-3xl font-semibold">{d.archived_projects}</div><div class="text-sm text-slate-500">"archived"</div></div>
                        </div>
                        <h2 class="mt-8 font-semibold">"Recent activity"</h2>
                        <AuditList entries=d.recent/>
                    }.into_any(),
                    (Err(e), _) | (_, Err(e)) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditList(entries: Vec<AuditEntry>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="mt-2 text-slate-500">"Nothing yet."</p> }.into_any();
    }
    view! {
        <ul class="mt-2 divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white" data-testid="audit-list">
            {entries.into_iter().map(|e| view! {
                <li class="px-4 py-2 text-sm">
                    <span class="font-mono">{e.action.clone()}</span>
                    " by " {e.actor.clone()} " · " <time>{e.at.clone()}</time>
                    {e.after.clone().or(e.before.clone()).map(|s| view! { <div class="truncate text-slate-500">{s}</div> })}
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let page = move || query.read().get("page").and_then(|p| p.parse::<i64>().ok()).unwrap_or(0).max(0);
    let entries = Resource::new(page, get_audit);
    view! {
        <h1 class="text-2xl font-semibold">"Audit log"</h1>
        <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let p = page();
                match entries.await {
                    Ok(list) => {
                        let more = list.len() == 25;
                        view! {
                            <AuditList entries=list/>
                            <nav class="mt-4 flex gap-4 text-sm">
                                {(p > 0).then(|| view! { <a href=format!("/app/audit?page={}", p - 1)>"← Newer"</a> })}
                                {more.then(|| view! { <a href=format!("/app/audit?page={}", p + 1)>"Older →"</a> })}
                            </nav>
                        }.into_any()
                    }
                    Err(e) => view! { <p role="alert" class="mt-4 text-red-700">{error_text(&e)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn ProjectsPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let status = move || query.read().get("status").unwrap_or_else(|| "active".into());
    let ws = Resource::new(|| (), |_| get_workspace());
    let create = ServerAction::<CreateProject>::new();
    let update = ServerAction::<UpdateProject>::new();
    let archive = ServerAction::<ArchiveProject>::new();
    let delete = ServerAction::<DeleteProject>::new();
    let projects = Resource::new(
        move || {
            (
                search(),
                status(),
                create.version().get(),
                update.version().get(),
                archive.version().get(),
                delete.version().get(),
            )
        },
        |(q, s, ..)| list_projects(q, s),
    );
    // The latest finished action's outcome: each effect follows one action. A form posted
    // without JavaScript comes back with its error in the URL, and its action starts with it;
    // effects never run on the server, so that error is also the flash's first value.
    let returned_error = [
        create.value().get_untracked().and_then(Result::err),
        update.value().get_untracked().and_then(Result::err),
        archive.value().get_untracked().and_then(Result::err),
        delete.value().get_untracked().and_then(Result::err),
    ]
    .into_iter()
    .flatten()
    .next();
    let flash = RwSignal::new(returned_error.map(|e| Err(error_text(&e))));
    let show = move |r: Result<String, ServerFnError>| flash.set(Some(r.map_err(|e| error_text(&e))));
    Effect::new(move |_| create.value().get().map(|r| show(r.map(|p| format!("Created “{}”.", p.name)))));
    Effect::new(move |_| update.value().get().map(|r| show(r.map(|p| format!("Saved “{}”.", p.name)))));
    Effect::new(move |_| {
        archive
            .value()
            .get()
            .map(|r| show(r.map(|p| format!("{} “{}”.", if p.archived { "Archived" } else { "Restored" }, p.name))))
    });
    Effect::new(move |_| delete.value().get().map(|r| show(r.map(|_| "Deleted.".to_string()))));
    let pending =
        move || create.pending().get() || update.pending().get() || archive.pending().get() || delete.pending().get();
    view! {
        <div class="flex items-center justify-between">
            <h1 class="text-2xl font-semibold">"Projects"</h1>
            <span class="text-sm text-slate-500" aria-live="polite" data-testid="pending">{move || pending().then_some("Saving…")}</span>
        </div>
        <div aria-live="polite">
            {move || flash.get().map(|r| match r {
                Ok(m) => view! { <p class="mt-3 rounded-md bg-emerald-50 px-3 py-2 text-emerald-800" data-testid="flash-ok">{m}</p> }.into_any(),
                Err(e) => view! { <p role="alert" class="mt-3 rounded-md bg-red-50 px-3 py-2 text-red-800" data-testid="flash-error">{e}</p> }.into_any(),
            })}
        </div>
        <form method="get" action="/app/projects" class="mt-4 flex gap-2">
            <input name="q" value=search placeholder="Search projects" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5" aria-label="Search projects"/>
            <select name="status" class="rounded-md border border-slate-300 px-2 py-1.5" aria-label="Status">
                <option value="active" selected=move || status() == "active">"Active"</option>
                <option value="archived" selected=move || status() == "archived">"Archived"</option>
                <option value="all" selected=move || status() == "all">"All"</option>
            </select>
            <button type="submit" class="rounded-md border border-slate-300 px-3 py-1.5">"Filter"</button>
        </form>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                ws.await.ok().filter(|w| w.can_manage).map(|_| view! {
                    <ActionForm action=create attr:class="mt-6 flex flex-wrap gap-2 rounded-lg border border-slate-200 bg-white p-4" attr:data-testid="create-form">
                        <input name="name" required maxlength="80" placeholder="New project name" aria-label="Project name" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                        <input name="description" placeholder="Description (optional)" aria-label="Description" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                        <button type="submit" class="rounded-md bg-indigo-600 px-3 py-1.5 font-medium text-white">"Create project"</button>
                    </ActionForm>
                })
            })}
        </Suspense>
        <Transition fallback=|| view! { <p class="mt-6 text-slate-500">"Loading projects…"</p> }>
            {move || Suspend::new(async move {
                let can_manage = ws.await.map(|w| w.can_manage).unwrap_or(false);
                match projects.await {
                    Ok(list) if list.is_empty() => view! { <p class="mt-6 rounded-lg border border-dashed border-slate-300 p-6 text-slate-500" data-testid="empty">"No projects here yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="mt-6 space-y-3" data-testid="project-list">
                            {list.into_iter().map(|p| view! { <ProjectRow p can_manage update archive delete/> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <p role="alert" class="mt-6 text-red-700">{error_text(&e)}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ProjectRow(
    p: ProjectView,
    can_manage: bool,
    update: ServerAction<UpdateProject>,
    archive: ServerAction<ArchiveProject>,
    delete: ServerAction<DeleteProject>,
) -> impl IntoView {
    let name = p.name.clone();
    let (id_rename, id_archive, id_delete) = (p.id.clone(), p.id.clone(), p.id.clone());
    let (current_name, current_description) = (p.name.clone(), p.description.clone());
    let archive_to = (!p.archived).to_string();
    let archive_label = if p.archived { "Unarchive" } else { "Archive" };
    view! {
        <li class="rounded-lg border border-slate-200 bg-white p-4" data-testid="project" data-name=name.clone()>
            <div class="flex items-center justify-between">
                <div>
                    <span class="font-medium">{p.name.clone()}</span>
                    {p.archived.then(|| view! { <span class="ml-2 rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-600">"archived"</span> })}
                    <p class="text-sm text-slate-500">{p.description.clone()}</p>
                </div>
            </div>
            {can_manage.then(|| view! {
                <div class="mt-3 flex flex-wrap gap-2">
                    <ActionForm action=update attr:class="flex gap-2">
                        <input type="hidden" name="id" value=id_rename/>
                        <input name="name" value=current_name required maxlength="80" aria-label="New name" class="rounded-md border border-slate-300 px-2 py-1 text-sm"/>
                        <input type="hidden" name="description" value=current_description/>
                        <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-sm">"Rename"</button>
                    </ActionForm>
                    <ActionForm action=archive>
                        <input type="hidden" name="id" value=id_archive/>
                        <input type="hidden" name="archived" value=archive_to/>
                        <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-sm">{archive_label}</button>
                    </ActionForm>
                    <ActionForm action=delete>
                        <input type="hidden" name="id" value=id_delete/>
                        <button type="submit" class="rounded-md border border-red-300 px-2 py-1 text-sm text-red-700">"Delete"</button>
                    </ActionForm>
                </div>
            })}
        </li>
    }
}
