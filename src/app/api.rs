//! Server functions of the workspace. The organization, role and user always come from the
//! verified session (through [`ssr::tenant`]); arguments carry only what the user typed.

use leptos::prelude::*;

use crate::model::{AuditEntry, Dashboard, OrgChoice, ProjectView, Workspace};

#[cfg(feature = "ssr")]
pub mod ssr {
    use http::StatusCode;
    use leptos::prelude::*;

    use crate::server::projects::ProjectError;
    use crate::server::startup::AppState;
    use crate::server::tenant::{Tenant, TenantTx};

    /// The HTTP status of a refusal. Not for a form posted without JavaScript: server_fn answers
    /// that with a redirect back to the page carrying the error (which the page then shows), and
    /// a status set here would replace the redirect with a bare error body.
    fn status(code: StatusCode) {
        let plain_form_post = use_context::<http::request::Parts>().is_some_and(|p| {
            p.method == http::Method::POST
                && p.headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|a| a.contains("text/html"))
        });
        if plain_form_post {
            return;
        }
        if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
            r.set_status(code);
        }
    }

    pub fn state() -> Result<AppState, ServerFnError> {
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))
    }

    /// The verified session (the route gate already refused signed-out calls).
    pub async fn auth() -> Result<clerk::Auth, ServerFnError> {
        let clerk::axum::MaybeAuth(auth) =
            leptos_axum::extract().await.map_err(|e| ServerFnError::new(e.to_string()))?;
        auth.ok_or_else(|| {
            status(StatusCode::UNAUTHORIZED);
            ServerFnError::new("sign in first")
        })
    }

    pub async fn tenant() -> Result<Tenant, ServerFnError> {
        Tenant::from_auth(&auth().await?).ok_or_else(|| {
            status(StatusCode::FORBIDDEN);
            ServerFnError::new("choose an organization first")
        })
    }

    pub async fn tenant_tx() -> Result<TenantTx, ServerFnError> {
        let t = tenant().await?;
        t.begin(&state()?.pool).await.map_err(|e| fail(ProjectError::Database(e)))
    }

    /// Domain errors → precise statuses; database errors are logged and not echoed.
    pub fn fail(e: ProjectError) -> ServerFnError {
        let code = match &e {
            ProjectError::Forbidden | ProjectError::AdminOnly => StatusCode::FORBIDDEN,
            ProjectError::NotFound => StatusCode::NOT_FOUND,
            ProjectError::Invalid(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ProjectError::NameTaken(_) => StatusCode::CONFLICT,
            ProjectError::Database(err) => {
                tracing::error!(error = %err, "workspace query failed");
                status(StatusCode::INTERNAL_SERVER_ERROR);
                return ServerFnError::new("something went wrong; please try again");
            }
        };
        tracing::info!(status = code.as_u16(), error = %e, "workspace request refused");
        status(code);
        ServerFnError::new(e.to_string())
    }
}

#[server(endpoint = "workspace")]
pub async fn get_workspace() -> Result<Workspace, ServerFnError> {
    let tenant = ssr::tenant().await?;
    let st = ssr::state()?;
    let mut name =
        sqlx::query_scalar!("SELECT name FROM organizations WHERE id = $1 AND deleted_at IS NULL", tenant.org_id())
            .fetch_optional(&st.pool)
            .await
            .map_err(|e| ssr::fail(e.into()))?;
    if name.is_none() {
        // The mirror may lag behind a just-created organization: ask Clerk.
        if let Some(api) = st.clerk.api() {
            name = api.get_organization(tenant.org_id()).await.ok().map(|o| o.name);
        }
    }
    Ok(Workspace {
        org_id: tenant.org_id().to_string(),
        org_name: name.unwrap_or_else(|| tenant.org_id().to_string()),
        role: tenant.role().unwrap_or("").to_string(),
        can_manage: tenant.can_manage_projects(),
        is_admin: tenant.is_admin(),
        user_id: tenant.user_id().to_string(),
    })
}

/// The signed-in user's organizations: from the mirror, or from Clerk when it has none yet.
#[server(endpoint = "organizations/mine")]
pub async fn my_organizations() -> Result<Vec<OrgChoice>, ServerFnError> {
    let auth = ssr::auth().await?;
    let st = ssr::state()?;
    let active = auth.org_id().map(str::to_string);
    let mut tx = st.pool.begin().await.map_err(|e| ssr::fail(e.into()))?;
    sqlx::query!("SELECT set_config('app.user_id', $1, true) AS \"v\"", auth.user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| ssr::fail(e.into()))?;
    let rows = sqlx::query!(
        r#"SELECT m.org_id, m.role, o.name AS "name?", o.slug FROM org_memberships m
             LEFT JOIN organizations o ON o.id = m.org_id AND o.deleted_at IS NULL
            WHERE m.user_clerk_id = $1 AND m.deleted_at IS NULL ORDER BY lower(coalesce(o.name, m.org_id))"#,
        auth.user_id
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| ssr::fail(e.into()))?;
    let mut out: Vec<OrgChoice> = rows
        .into_iter()
        .map(|r| OrgChoice {
            active: active.as_deref() == Some(r.org_id.as_str()),
            name: r.name.unwrap_or_else(|| r.org_id.clone()),
            id: r.org_id,
            slug: r.slug,
            role: r.role,
        })
        .collect();
    if out.is_empty() {
        if let Some(api) = st.clerk.api() {
            if let Ok(page) = api.user_memberships(&auth.user_id, 100, 0).await {
                out = page
                    .data
                    .into_iter()
                    .map(|m| OrgChoice {
                        active: active.as_deref() == Some(m.organization.id.as_str()),
                        id: m.organization.id,
                        name: m.organization.name,
                        slug: m.organization.slug,
                        role: m.role,
                    })
                    .collect();
            }
        }
    }
    Ok(out)
}

#[server(endpoint = "projects/list")]
pub async fn list_projects(search: String, status: String) -> Result<Vec<ProjectView>, ServerFnError> {
    use crate::server::projects::{self, StatusFilter};
    let mut tx = ssr::tenant_tx().await?;
    projects::list(&mut tx, &search, StatusFilter::parse(Some(&status))).await.map_err(ssr::fail)
}

#[server(endpoint = "projects/get")]
pub async fn get_project(id: String) -> Result<ProjectView, ServerFnError> {
    let mut tx = ssr::tenant_tx().await?;
    crate::server::projects::get(&mut tx, &id).await.map_err(ssr::fail)
}

#[server(endpoint = "projects/create")]
pub async fn create_project(name: String, description: String) -> Result<ProjectView, ServerFnError> {
    let mut tx = ssr::tenant_tx().await?;
    let p = crate::server::projects::create(&mut tx, &name, &description).await.map_err(ssr::fail)?;
    tx.commit().await.map_err(|e| ssr::fail(e.into()))?;
    Ok(p)
}

#[server(endpoint = "projects/update")]
pub async fn update_project(id: String, name: String, description: String) -> Result<ProjectView, ServerFnError> {
    let mut tx = ssr::tenant_tx().await?;
    let p = crate::server::projects::update(&mut tx, &id, &name, &description).await.map_err(ssr::fail)?;
    tx.commit().await.map_err(|e| ssr::fail(e.into()))?;
    Ok(p)
}

#[server(endpoint = "projects/archive")]
pub async fn archive_project(id: String, archived: bool) -> Result<ProjectView, ServerFnError> {
    let mut tx = ssr::tenant_tx().await?;
    let p = crate::server::projects::set_archived(&mut tx, &id, archived).await.map_err(ssr::fail)?;
    tx.commit().await.map_err(|e| ssr::fail(e.into()))?;
    Ok(p)
}

#[server(endpoint = "projects/delete")]
pub async fn delete_project(id: String) -> Result<(), ServerFnError> {
    let mut tx = ssr::tenant_tx().await?;
    crate::server::projects::delete(&mut tx, &id).await.map_err(ssr::fail)?;
    tx.commit().await.map_err(|e| ssr::fail(e.into()))
}

#[server(endpoint = "dashboard")]
pub async fn get_dashboard() -> Result<Dashboard, ServerFnError> {
    let mut tx = ssr::tenant_tx().await?;
    crate::server::projects::dashboard(&mut tx).await.map_err(ssr::fail)
}

#[server(endpoint = "audit")]
pub async fn get_audit(page: i64) -> Result<Vec<AuditEntry>, ServerFnError> {
    let mut tx = ssr::tenant_tx().await?;
    crate::server::projects::audit_page(&mut tx, page, 25).await.map_err(ssr::fail)
}
