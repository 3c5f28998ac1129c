//! `/app/projects`: search, create, rename, archive and delete the organization's projects.
//! The page reads the query and the caller's rights on the server and hands them to an island,
//! [`ProjectsEditor`], whose forms post to server functions (`PostForm`): hydrated they update
//! in place, without JavaScript they are plain form posts that come back to this page.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::app::api::{list_projects, ArchiveProject, CreateProject, DeleteProject, RenameProject};
use crate::app::components::{ActionHeader, ErrorView, Forms, PostForm};
use crate::app::hydration::island_resource;
use crate::model::{ProjectView, PROJECTS_PAGE_SIZE};

#[component]
pub fn ProjectsPage() -> impl IntoView {
    crate::app::hydration::preload_lazy_island("projects_editor");
    let query = use_query_map();
    let query = query.read_untracked();
    // The island is created here, as the page is built, and not in a `Suspend` awaiting the
    // workspace: Suspense walks its children again to find their resources (`dry_resolve`), and
    // each walk that reaches a `Suspend` closure runs it anew, so an island inside one was
    // created (and its projects read) two to four times a page. Created here, its read starts
    // with the shell's and shares their transaction (`RequestReads`).
    view! {
        <ProjectsEditor
            search=query.get("q").unwrap_or_default()
            status=query.get("status").unwrap_or_else(|| "active".into())
            after=query.get("after")
            after_name=query.get("after_name")
            can_manage=may_manage_projects()
        />
    }
}

/// Whether the caller may manage projects, read from the verified session of the request being
/// rendered, as the project server functions check it (`Tenant::can_manage_projects`). The
/// island only shows or hides its forms by it; the server functions check again. Server only:
/// this page never renders in the browser.
fn may_manage_projects() -> bool {
    #[cfg(feature = "ssr")]
    {
        use crate::server::tenant::Tenant;
        use_context::<http::request::Parts>()
            .and_then(|parts| Tenant::from_request(&parts).ok())
            .is_some_and(|t| t.can_manage_projects())
    }
    #[cfg(not(feature = "ssr"))]
    {
        false
    }
}

/// The list with its filter and forms (an island). `after`/`after_name`: keyset pagination, the
/// id and name of the previous page's last project.
#[island(lazy)]
fn ProjectsEditor(
    search: String,
    status: String,
    after: Option<String>,
    after_name: Option<String>,
    can_manage: bool,
) -> impl IntoView {
    crate::app::hydration::island_hydrated();
    let forms = Forms::new();
    let (search, status) = (StoredValue::new(search), StoredValue::new(status));
    let search = move || search.get_value();
    let status = move || status.get_value();
    let projects = island_resource(
        move || (search(), status(), after.clone(), after_name.clone(), forms.version()),
        |(q, s, a, an, _)| list_projects(q, s, a, an),
    );
    view! {
        <ActionHeader title="Projects" forms/>
        <form method="get" action="/app/projects" class="mt-4 flex gap-2">
            <input name="q" value=search() placeholder="Search projects" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5" aria-label="Search projects"/>
            <select name="status" class="rounded-md border border-slate-300 px-2 py-1.5" aria-label="Status">
                <option value="active" selected=status() == "active">"Active"</option>
                <option value="archived" selected=status() == "archived">"Archived"</option>
                <option value="all" selected=status() == "all">"All"</option>
            </select>
            <button type="submit" class="rounded-md border border-slate-300 px-3 py-1.5">"Filter"</button>
        </form>
        {can_manage.then(|| view! {
            <PostForm target={forms.call::<CreateProject>(|p| format!("Created “{}”.", p.name))} attr:class="mt-6 flex flex-wrap gap-2 rounded-lg border border-slate-200 bg-white p-4" attr:data-testid="create-form">
                <input name="name" required maxlength="80" placeholder="New project name" aria-label="Project name" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                <input name="description" placeholder="Description (optional)" aria-label="Description" class="flex-1 rounded-md border border-slate-300 px-3 py-1.5"/>
                <button type="submit" class="rounded-md bg-indigo-600 px-3 py-1.5 font-medium text-white">"Create project"</button>
            </PostForm>
        })}
        <Transition fallback=|| view! { <p class="mt-6 text-slate-500">"Loading projects…"</p> }>
            {move || Suspend::new(async move {
                match projects.await {
                    Ok(list) if list.is_empty() => view! { <p class="mt-6 rounded-lg border border-dashed border-slate-300 p-6 text-slate-500" data-testid="empty">"No projects here yet."</p> }.into_any(),
                    Ok(list) => {
                        // A full page may have a next one, which starts after its last project.
                        let next = (list.len() == PROJECTS_PAGE_SIZE).then(|| list.last().map(|p| next_page_href(&search(), &status(), p))).flatten();
                        view! {
                            <ul class="mt-6 space-y-3" data-testid="project-list">
                                {list.into_iter().map(|p| view! { <ProjectRow p can_manage forms/> }).collect_view()}
                            </ul>
                            {next.map(|href| view! { <a class="mt-4 inline-block text-sm text-indigo-600" href=href data-testid="next-page">"More projects →"</a> })}
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorView error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The next page starts after `last`: its id and name, so the link still works once `last` is
/// deleted.
fn next_page_href(search: &str, status: &str, last: &ProjectView) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("q", search)
        .append_pair("status", status)
        .append_pair("after", &last.id)
        .append_pair("after_name", &last.name);
    format!("/app/projects?{}", q.finish())
}

#[component]
fn ProjectRow(p: ProjectView, can_manage: bool, forms: Forms) -> impl IntoView {
    let name = p.name.clone();
    let (id_rename, id_archive, id_delete) = (p.id.clone(), p.id.clone(), p.id.clone());
    let current_name = p.name.clone();
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
                    <PostForm target={forms.call::<RenameProject>(|p| format!("Saved “{}”.", p.name))} attr:class="flex gap-2">
                        <input type="hidden" name="id" value=id_rename/>
                        <input name="name" value=current_name required maxlength="80" aria-label="New name" class="rounded-md border border-slate-300 px-2 py-1 text-sm"/>
                        <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-sm">"Rename"</button>
                    </PostForm>
                    <PostForm target={forms.call::<ArchiveProject>(archived_or_restored)}>
                        <input type="hidden" name="id" value=id_archive/>
                        <input type="hidden" name="archived" value=archive_to/>
                        <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-sm">{archive_label}</button>
                    </PostForm>
                    <PostForm target={forms.call::<DeleteProject>(|()| "Deleted.".into())}>
                        <input type="hidden" name="id" value=id_delete/>
                        <button type="submit" class="rounded-md border border-red-300 px-2 py-1 text-sm text-red-700">"Delete"</button>
                    </PostForm>
                </div>
            })}
        </li>
    }
}

fn archived_or_restored(p: ProjectView) -> String {
    format!("{} “{}”.", if p.archived { "Archived" } else { "Restored" }, p.name)
}
