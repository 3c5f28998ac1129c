//! The Leptos UI: the HTML shell and the routes. Rendered on the server, hydrated in the browser.

pub mod api;
mod landing;
mod workspace;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment};

pub use landing::LandingPage;
use workspace::{AppShell, AuditPage, DashboardPage, ProjectsPage, SelectOrgPage};

/// Keeps the 60-second session token fresh in an open tab, as clerk-js does: shortly before
/// `exp`, ask the Frontend API (the token's `iss`) for a new one with the browser's client
/// cookie, and hold same-origin `/api/` calls until it is in place.
const SESSION_KEEPER: &str = r#"(()=>{const now=()=>Date.now()/1e3;
function cur(){const m=document.cookie.match(/(?:^|; )(__session(?:_[A-Za-z0-9_-]{8})?)=([^;]+)/);return m?{name:m[1],jwt:m[2]}:null}
function claims(t){try{return JSON.parse(atob(t.split('.')[1].replace(/-/g,'+').replace(/_/g,'/')))}catch(e){return null}}
let busy=null;function refresh(){const c=cur();if(!c)return Promise.resolve();const p=claims(c.jwt);if(!p||!p.sid||!p.iss||p.exp-now()>15)return Promise.resolve();
busy=busy||fetch(p.iss+'/v1/client/sessions/'+p.sid+'/tokens',{method:'POST',credentials:'include'}).then(r=>r.ok?r.json():null)
.then(j=>{if(j&&j.jwt)document.cookie=c.name+'='+j.jwt+'; path=/; SameSite=Lax'}).catch(()=>{}).finally(()=>{busy=null});return busy}
setInterval(refresh,5e3);document.addEventListener('visibilitychange',refresh);
const f=window.fetch;window.fetch=async(i,o)=>{try{const u=new URL(typeof i==='string'?i:i.url,location.href);if(u.origin===location.origin&&u.pathname.startsWith('/api/'))await refresh()}catch(e){}return f(i,o)};})();"#;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
                <script>{SESSION_KEEPER}</script>
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page as hydrated (effects run only in the browser): browser tests wait for it.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/tenantry.css"/>
        <Title text="Tenantry"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=StaticSegment("") view=LandingPage/>
                // In-order streaming: the HTML is complete without JavaScript (no out-of-order
                // Suspense swaps), so every page also works as plain forms and links.
                <Route path=StaticSegment("select-org") view=SelectOrgPage ssr=SsrMode::InOrder/>
                <ParentRoute path=StaticSegment("app") view=AppShell ssr=SsrMode::InOrder>
                    <Route path=StaticSegment("") view=|| view! { <Redirect path="/app/dashboard"/> } ssr=SsrMode::InOrder/>
                    <Route path=StaticSegment("dashboard") view=DashboardPage ssr=SsrMode::InOrder/>
                    <Route path=StaticSegment("projects") view=ProjectsPage ssr=SsrMode::InOrder/>
                    // Async: rendered whole before the response starts, so a refusal found
                    // while loading (non-admins) still sets the status to 403.
                    <Route path=StaticSegment("audit") view=AuditPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
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
