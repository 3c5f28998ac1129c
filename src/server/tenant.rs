//! The tenant scope: the only way tenant data is read or written.
//!
//! A [`Tenant`] is built from a verified [`Auth`] with an active organization and nothing else:
//! no org id, role or user id ever comes from request input. [`Tenant::begin`] opens a
//! transaction with `SET LOCAL app.org_id` / `app.user_id`, so row-level security applies to
//! every statement in it even if a query forgets its own `org_id` filter.

use clerk::Auth;
use sqlx::{PgPool, Postgres, Transaction};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    org_id: String,
    user_id: String,
    role: Option<String>,
    permissions: Vec<String>,
}

/// What a project manager may do: `org:admin`, or a member granted `org:projects:manage`.
pub const MANAGE_PROJECTS: &str = "org:projects:manage";

impl Tenant {
    /// `None` without an active organization.
    pub fn from_auth(auth: &Auth) -> Option<Self> {
        let org = auth.org.as_ref()?;
        Some(Self {
            org_id: org.id.clone(),
            user_id: auth.user_id.clone(),
            role: org.role.clone(),
            permissions: org.permissions.clone(),
        })
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }
    pub fn is_admin(&self) -> bool {
        self.role.as_deref() == Some("org:admin")
    }
    pub fn can_manage_projects(&self) -> bool {
        self.is_admin() || self.permissions.iter().any(|p| p == MANAGE_PROJECTS)
    }

    /// A transaction scoped to this organization (and user) for row-level security.
    pub async fn begin(&self, pool: &PgPool) -> Result<TenantTx, sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query!(
            r#"SELECT set_config('app.org_id', $1, true) AS "org", set_config('app.user_id', $2, true) AS "user""#,
            self.org_id,
            self.user_id
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok(TenantTx { tx, tenant: self.clone() })
    }
}

/// An open transaction inside one tenant. Dropped without `commit` = rolled back.
pub struct TenantTx {
    pub(crate) tx: Transaction<'static, Postgres>,
    tenant: Tenant,
}

impl TenantTx {
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}
