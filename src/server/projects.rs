//! Projects, always inside a [`TenantTx`]: every statement filters on the tenant's org id
//! itself, and row-level security checks the same thing again. Every write is audited in the
//! same transaction (see [`super::audit`]), so the entry rolls back with its write.

use serde_json::json;
use uuid::Uuid;

use super::audit;
use super::format::rfc3339;
use super::tenant::{ScopeError, StatementScope, TenantTx};
use crate::model::{validate_description, validate_project_name, Dashboard, ProjectView, TextProblem};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("only organization admins and project managers can do that")]
    Forbidden,
    #[error("no such project")]
    NotFound,
    /// A page cursor that is not a project id.
    #[error("invalid page cursor")]
    BadCursor,
    #[error("invalid {0}: {1:?}")]
    Invalid(&'static str, TextProblem),
    #[error("a project named {0:?} already exists in this organization")]
    NameTaken(String),
    /// Refused by the tenant scope's check in the read's own statement ([`list_after_alone`]).
    #[error(transparent)]
    Scope(ScopeError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Active,
    Archived,
    All,
}

impl StatusFilter {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("archived") => Self::Archived,
            Some("all") => Self::All,
            _ => Self::Active,
        }
    }
}

/// One `projects` row as every read selects it.
struct ProjectRow {
    id: Uuid,
    name: String,
    description: String,
    archived: bool,
    created_by: String,
    updated_at: time::OffsetDateTime,
}

impl From<ProjectRow> for ProjectView {
    fn from(r: ProjectRow) -> Self {
        ProjectView {
            id: r.id.to_string(),
            name: r.name,
            description: r.description,
            archived: r.archived,
            created_by: r.created_by,
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// Ids arrive as text from forms and URLs: a malformed one is simply not found.
pub fn parse_id(id: &str) -> Result<Uuid, ProjectError> {
    Uuid::parse_str(id).map_err(|_| ProjectError::NotFound)
}

/// Writes are for admins and project managers.
pub fn require_manager(tx: &TenantTx) -> Result<(), ProjectError> {
    if tx.tenant().can_manage_projects() {
        Ok(())
    } else {
        Err(ProjectError::Forbidden)
    }
}

/// The unique constraint on a project's name, as Postgres names it, or as Citus names it on a
/// shard (`projects_name_per_org_102046`).
fn is_name_per_org(constraint: &str) -> bool {
    constraint.strip_prefix("projects_name_per_org").is_some_and(|rest| {
        rest.is_empty()
            || rest.strip_prefix('_').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The constraint a unique violation names: Postgres's error field, or — through a Citus
/// coordinator, which forwards a worker's message but not its constraint field — the quoted name
/// in the message (`duplicate key value violates unique constraint "projects_name_per_org_102046"`).
fn violated_constraint(db: &dyn sqlx::error::DatabaseError) -> Option<&str> {
    if db.code().as_deref() != Some("23505") {
        return None;
    }
    db.constraint().or_else(|| quoted_constraint(db.message()))
}

fn quoted_constraint(message: &str) -> Option<&str> {
    let rest = &message[message.find("unique constraint \"")? + "unique constraint \"".len()..];
    rest.get(..rest.find('"')?)
}

fn map_unique(e: sqlx::Error, name: &str) -> ProjectError {
    match &e {
        sqlx::Error::Database(db) if violated_constraint(db.as_ref()).is_some_and(is_name_per_org) => {
            ProjectError::NameTaken(name.to_string())
        }
        _ => ProjectError::Database(e),
    }
}

/// Longest search term accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

/// Where a page starts: after the project with this sort key — `lower(btrim(name))`, unique in
/// an organization (the `projects_name_per_org` index, which serves the order) — and id. `name`
/// may also be the project's name as stored: the query normalises it the same way.
/// Carried by the REST API as an opaque cursor ([`SortKey::encode`]), so a walk survives the
/// deletion of the row it stopped at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub name: String,
    pub id: Uuid,
}

impl SortKey {
    /// Base64url (no padding) of the JSON array `[name, id]`.
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::json!([self.name, self.id]).to_string())
    }

    /// [`ProjectError::BadCursor`] for anything [`SortKey::encode`] did not produce.
    pub fn decode(cursor: &str) -> Result<Self, ProjectError> {
        use base64::Engine;
        let bytes =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| ProjectError::BadCursor)?;
        let (name, id): (String, Uuid) = serde_json::from_slice(&bytes).map_err(|_| ProjectError::BadCursor)?;
        if name.contains('\0') {
            return Err(ProjectError::BadCursor);
        }
        Ok(Self { name, id })
    }
}

/// One listed project with its [`SortKey`].
pub struct Listed {
    pub key: SortKey,
    pub project: ProjectView,
}

struct ListedRow {
    id: Uuid,
    name: String,
    description: String,
    archived: bool,
    created_by: String,
    updated_at: time::OffsetDateTime,
    sort_key: String,
}

/// Longest `after_name` accepted, in characters (a name is at most 80 once trimmed).
const MAX_AFTER_NAME_CHARS: usize = 200;

/// Where a page of [`list`] starts, from the pages' `?after=&after_name=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The first page.
    Start,
    /// After this position, whether or not a project is still there.
    After(SortKey),
    /// After the project with this id, by its current name (a link from before `after_name`
    /// existed): looked up in the page's transaction.
    AfterId(Uuid),
}

impl Cursor {
    /// `after` and `after_name` as [`list`] takes them. [`ProjectError::BadCursor`] for a
    /// malformed id, or a name with NUL or longer than any stored name could be.
    pub fn parse(after: Option<&str>, after_name: Option<&str>) -> Result<Self, ProjectError> {
        let Some(after) = after.filter(|a| !a.is_empty()) else { return Ok(Self::Start) };
        let id = Uuid::parse_str(after).map_err(|_| ProjectError::BadCursor)?;
        Ok(match after_name {
            Some(n) if n.contains('\0') || n.chars().count() > MAX_AFTER_NAME_CHARS => {
                return Err(ProjectError::BadCursor)
            }
            // The query compares it as `lower(btrim(…))`, as it does the stored names.
            Some(n) => Self::After(SortKey { name: n.to_string(), id }),
            None => Self::AfterId(id),
        })
    }

    /// Whether the position is only known once the project's name is read ([`Cursor::AfterId`]).
    pub fn needs_lookup(&self) -> bool {
        matches!(self, Self::AfterId(_))
    }

    /// The position of [`Cursor::After`]; `None` for the others.
    pub fn key(&self) -> Option<&SortKey> {
        match self {
            Self::After(key) => Some(key),
            Self::Start | Self::AfterId(_) => None,
        }
    }
}

/// One page of at most `limit` of the tenant's projects matching `search` (in name or
/// description), by name, starting at `cursor`: an id ([`Cursor::AfterId`]) that no longer
/// names a project of this organization is [`ProjectError::BadCursor`]. A page shorter than
/// `limit` is the last. The pages use [`crate::model::PROJECTS_PAGE_SIZE`].
pub async fn list(
    tx: &mut TenantTx,
    search: &str,
    status: StatusFilter,
    cursor: Cursor,
    limit: usize,
) -> Result<Vec<ProjectView>, ProjectError> {
    let key = match cursor {
        Cursor::Start => None,
        Cursor::After(key) => Some(key),
        Cursor::AfterId(id) => {
            let org = tx.tenant().org_id().to_string();
            let name = sqlx::query_scalar!(
                r#"SELECT lower(btrim(name)) AS "key!" FROM projects WHERE org_id = $1 AND id = $2"#,
                org,
                id
            )
            .fetch_optional(&mut *tx.tx)
            .await?
            .ok_or(ProjectError::BadCursor)?;
            Some(SortKey { name, id })
        }
    };
    Ok(list_after(tx, search, status, key.as_ref(), limit).await?.into_iter().map(|l| l.project).collect())
}

/// A page's filter as the query takes it: the `ILIKE` pattern of `search` (trimmed, its
/// wildcards escaped) and which of active and archived projects it shows.
pub struct Filter {
    pattern: String,
    active: bool,
    archived: bool,
}

impl Filter {
    /// [`ProjectError::Invalid`] for a search longer than [`MAX_SEARCH_CHARS`] or with NUL.
    pub fn new(search: &str, status: StatusFilter) -> Result<Self, ProjectError> {
        let search = search.trim();
        if search.chars().count() > MAX_SEARCH_CHARS {
            return Err(ProjectError::Invalid("search", TextProblem::TooLong));
        }
        // Postgres text cannot hold NUL: refused here rather than failing the statement.
        if search.contains('\0') {
            return Err(ProjectError::Invalid("search", TextProblem::ControlCharacter));
        }
        let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let (active, archived) = match status {
            StatusFilter::Active => (true, false),
            StatusFilter::Archived => (false, true),
            StatusFilter::All => (true, true),
        };
        Ok(Self { pattern, active, archived })
    }
}

/// [`list`] from a [`SortKey`] (the REST API's cursors): keyset pagination on the
/// `projects_name_per_org` index, so a page costs the same however deep it is. The query is
/// also `tenant_projects_page(…)`'s ([`list_after_alone`]): change both.
pub async fn list_after(
    tx: &mut TenantTx,
    search: &str,
    status: StatusFilter,
    after: Option<&SortKey>,
    limit: usize,
) -> Result<Vec<Listed>, ProjectError> {
    let f = Filter::new(search, status)?;
    let org = tx.tenant().org_id().to_string();
    let rows = sqlx::query_as!(
        ListedRow,
        r#"SELECT id, name, description, archived_at IS NOT NULL AS "archived!", created_by, updated_at,
                  lower(btrim(name)) AS "sort_key!"
             FROM projects
            WHERE org_id = $1 AND (name ILIKE $2 OR description ILIKE $2)
              AND ((archived_at IS NULL AND $3) OR (archived_at IS NOT NULL AND $4))
              AND ($6::uuid IS NULL OR (lower(btrim(name)), id) > (lower(btrim($5::text)), $6::uuid))
            ORDER BY lower(btrim(name)), id
            LIMIT $7"#,
        org,
        f.pattern,
        f.active,
        f.archived,
        after.map(|k| k.name.as_str()),
        after.map(|k| k.id),
        limit as i64
    )
    .fetch_all(&mut *tx.tx)
    .await?;
    Ok(rows.into_iter().map(Listed::from).collect())
}

/// [`list_after`] as one statement that enters the tenant scope itself
/// (`tenant_projects_page(…)`, see [`StatementScope`]): no transaction, where no other read of
/// its request shares one with it.
/// Its filter is validated first ([`Filter::new`]); a caller whose input fails that reads in a
/// scoped transaction instead, where the scope's refusal comes before the input's, as ever.
/// The scope's refusals are [`ProjectError::Scope`].
pub async fn list_after_alone(
    scope: StatementScope<'_>,
    f: &Filter,
    after: Option<&SortKey>,
    limit: usize,
) -> Result<Vec<Listed>, ProjectError> {
    let rows = sqlx::query_as!(
        ListedRow,
        r#"SELECT id AS "id!", name AS "name!", description AS "description!", archived AS "archived!",
                  created_by AS "created_by!", updated_at AS "updated_at!", sort_key AS "sort_key!"
             FROM public.tenant_projects_page($1, $2, $3, $4, $5, $6, $7, $8) WITH ORDINALITY AS page
            ORDER BY page.ordinality"#,
        scope.org_id(),
        scope.user_id(),
        &f.pattern,
        f.active,
        f.archived,
        after.map(|k| k.name.as_str()),
        after.map(|k| k.id),
        limit as i64
    )
    .fetch_all(scope.pool())
    .await
    .map_err(|e| match ScopeError::from(e) {
        ScopeError::Database(e) => ProjectError::Database(e),
        refused => ProjectError::Scope(refused),
    })?;
    Ok(rows.into_iter().map(Listed::from).collect())
}

impl From<ListedRow> for Listed {
    fn from(r: ListedRow) -> Self {
        Listed {
            key: SortKey { name: r.sort_key, id: r.id },
            project: ProjectRow {
                id: r.id,
                name: r.name,
                description: r.description,
                archived: r.archived,
                created_by: r.created_by,
                updated_at: r.updated_at,
            }
            .into(),
        }
    }
}

pub async fn get(tx: &mut TenantTx, id: &str) -> Result<ProjectView, ProjectError> {
    let id = parse_id(id)?;
    let org = tx.tenant().org_id().to_string();
    let r = sqlx::query_as!(
        ProjectRow,
        r#"SELECT id, name, description, archived_at IS NOT NULL AS "archived!", created_by, updated_at FROM projects WHERE org_id = $1 AND id = $2"#,
        org,
        id
    )
    .fetch_optional(&mut *tx.tx)
    .await?
    .ok_or(ProjectError::NotFound)?;
    Ok(r.into())
}

/// The row locked until the transaction ends: concurrent writes to it wait, so the audit
/// entry's "before" is exactly what this write replaces.
async fn get_for_update(tx: &mut TenantTx, id: &str) -> Result<ProjectView, ProjectError> {
    let id = parse_id(id)?;
    let org = tx.tenant().org_id().to_string();
    let r = sqlx::query_as!(
        ProjectRow,
        r#"SELECT id, name, description, archived_at IS NOT NULL AS "archived!", created_by, updated_at FROM projects WHERE org_id = $1 AND id = $2 FOR UPDATE"#,
        org,
        id
    )
    .fetch_optional(&mut *tx.tx)
    .await?
    .ok_or(ProjectError::NotFound)?;
    Ok(r.into())
}

fn snapshot(p: &ProjectView) -> serde_json::Value {
    json!({"name": p.name, "description": p.description, "archived": p.archived})
}

pub async fn create(tx: &mut TenantTx, name: &str, description: &str) -> Result<ProjectView, ProjectError> {
    require_manager(tx)?;
    let name = validate_project_name(name).map_err(|m| ProjectError::Invalid("name", m))?;
    let description = validate_description(description).map_err(|m| ProjectError::Invalid("description", m))?;
    let (org, user) = (tx.tenant().org_id().to_string(), tx.tenant().user_id().to_string());
    let id = sqlx::query_scalar!(
        "INSERT INTO projects (org_id, name, description, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
        org,
        name,
        description,
        user
    )
    .fetch_one(&mut *tx.tx)
    .await
    .map_err(|e| map_unique(e, &name))?;
    let created = get(tx, &id.to_string()).await?;
    audit::record(tx, "project.created", Some(id), None, Some(snapshot(&created))).await?;
    Ok(created)
}

pub async fn update(tx: &mut TenantTx, id: &str, name: &str, description: &str) -> Result<ProjectView, ProjectError> {
    let before = current_for_write(tx, id).await?;
    update_locked(tx, before, name, description).await
}

async fn update_locked(
    tx: &mut TenantTx,
    LockedProject(before): LockedProject,
    name: &str,
    description: &str,
) -> Result<ProjectView, ProjectError> {
    let id = before.id.as_str();
    // A value left as it was is not judged again (a name stored before a rule existed stays
    // editable around), and a change to nothing writes nothing and audits nothing.
    let name = if name == before.name {
        before.name.clone()
    } else {
        validate_project_name(name).map_err(|m| ProjectError::Invalid("name", m))?
    };
    let description = if description == before.description {
        before.description.clone()
    } else {
        validate_description(description).map_err(|m| ProjectError::Invalid("description", m))?
    };
    if name == before.name && description == before.description {
        return Ok(before);
    }
    let (org, uid) = (tx.tenant().org_id().to_string(), parse_id(id)?);
    sqlx::query!(
        "UPDATE projects SET name = $3, description = $4, updated_at = now() WHERE org_id = $1 AND id = $2",
        org,
        uid,
        name,
        description
    )
    .execute(&mut *tx.tx)
    .await
    .map_err(|e| map_unique(e, &name))?;
    let after = get(tx, id).await?;
    let action = if before.name != after.name { "project.renamed" } else { "project.updated" };
    audit::record(tx, action, Some(uid), Some(snapshot(&before)), Some(snapshot(&after))).await?;
    Ok(after)
}

/// Changes only what is given (REST's `PATCH`), each change audited as its own action; nothing
/// given returns the project as it is (still for managers only: it is a write request).
pub async fn patch(
    tx: &mut TenantTx,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
    archived: Option<bool>,
) -> Result<ProjectView, ProjectError> {
    let current = current_for_write(tx, id).await?;
    patch_locked(tx, current, name, description, archived).await
}

/// [`patch`] on the project [`current_for_write`] locked in `tx`.
pub async fn patch_locked(
    tx: &mut TenantTx,
    current: LockedProject,
    name: Option<&str>,
    description: Option<&str>,
    archived: Option<bool>,
) -> Result<ProjectView, ProjectError> {
    let mut project = current.0;
    if name.is_some() || description.is_some() {
        let (name, description) =
            (name.unwrap_or(&project.name).to_string(), description.unwrap_or(&project.description).to_string());
        // Still locked: `tx` holds the row until it ends.
        project = update_locked(tx, LockedProject(project), &name, &description).await?;
    }
    match archived {
        Some(a) if a != project.archived => set_archived_locked(tx, LockedProject(project), a).await,
        _ => Ok(project),
    }
}

pub async fn set_archived(tx: &mut TenantTx, id: &str, archived: bool) -> Result<ProjectView, ProjectError> {
    let before = current_for_write(tx, id).await?;
    set_archived_locked(tx, before, archived).await
}

async fn set_archived_locked(
    tx: &mut TenantTx,
    LockedProject(before): LockedProject,
    archived: bool,
) -> Result<ProjectView, ProjectError> {
    let id = before.id.as_str();
    // Already in the asked state: nothing written, nothing audited (as `update`).
    if before.archived == archived {
        return Ok(before);
    }
    let (org, uid) = (tx.tenant().org_id().to_string(), parse_id(id)?);
    // Two statements rather than `CASE … COALESCE(archived_at, now())`: Citus refuses
    // non-IMMUTABLE functions inside CASE/COALESCE of a distributed UPDATE.
    if archived {
        sqlx::query!(
            "UPDATE projects SET archived_at = now(), updated_at = now() WHERE org_id = $1 AND id = $2 AND archived_at IS NULL",
            org,
            uid
        )
        .execute(&mut *tx.tx)
        .await?;
    } else {
        sqlx::query!(
            "UPDATE projects SET archived_at = NULL, updated_at = now() WHERE org_id = $1 AND id = $2 AND archived_at IS NOT NULL",
            org,
            uid
        )
        .execute(&mut *tx.tx)
        .await?;
    }
    let after = get(tx, id).await?;
    audit::record(
        tx,
        if archived { "project.archived" } else { "project.unarchived" },
        Some(uid),
        Some(snapshot(&before)),
        Some(snapshot(&after)),
    )
    .await?;
    Ok(after)
}

/// A project as a write finds it, its row locked by the transaction that read it
/// ([`current_for_write`]) until that transaction ends: the writes below take it instead of
/// reading the row again.
pub struct LockedProject(ProjectView);

impl LockedProject {
    pub fn view(&self) -> &ProjectView {
        &self.0
    }
}

/// The project as a write would find it: for managers only (403 before anything is read), the
/// row locked until `tx` ends (404 if it is not this organization's), so what is judged on it
/// (the audit's "before", REST's `If-Match`) still holds when the write that follows in `tx`
/// runs.
pub async fn current_for_write(tx: &mut TenantTx, id: &str) -> Result<LockedProject, ProjectError> {
    require_manager(tx)?;
    Ok(LockedProject(get_for_update(tx, id).await?))
}

pub async fn delete(tx: &mut TenantTx, id: &str) -> Result<(), ProjectError> {
    let before = current_for_write(tx, id).await?;
    delete_locked(tx, before).await
}

/// [`delete`] of the project [`current_for_write`] locked in `tx`.
pub async fn delete_locked(tx: &mut TenantTx, LockedProject(before): LockedProject) -> Result<(), ProjectError> {
    let id = before.id.as_str();
    let (org, uid) = (tx.tenant().org_id().to_string(), parse_id(id)?);
    sqlx::query!("DELETE FROM projects WHERE org_id = $1 AND id = $2", org, uid).execute(&mut *tx.tx).await?;
    audit::record(tx, "project.deleted", Some(uid), Some(snapshot(&before)), None).await?;
    Ok(())
}

pub async fn dashboard(tx: &mut TenantTx) -> Result<Dashboard, ProjectError> {
    let org = tx.tenant().org_id().to_string();
    let c = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE archived_at IS NULL) AS "active!", count(*) FILTER (WHERE archived_at IS NOT NULL) AS "archived!" FROM projects WHERE org_id = $1"#,
        org
    )
    .fetch_one(&mut *tx.tx)
    .await?;
    // The audit log is for admins, here as on its own page: members see the counts only.
    let recent = if tx.tenant().is_admin() { Some(audit::recent(tx, 0, 5).await?) } else { None };
    Ok(Dashboard { active_projects: c.active, archived_projects: c.archived, recent })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_name_constraint_is_recognised_on_postgres_and_on_citus_shards() {
        for c in ["projects_name_per_org", "projects_name_per_org_102046"] {
            assert!(super::is_name_per_org(c), "{c}");
        }
        for c in ["projects_name_per_org_", "projects_name_per_org_x1", "projects_name_per_orgx", "projects_pkey"] {
            assert!(!super::is_name_per_org(c), "{c}");
        }
        // What a Citus coordinator forwards: the worker's message, no constraint field.
        let citus = r#"duplicate key value violates unique constraint "projects_name_per_org_102046""#;
        assert_eq!(super::quoted_constraint(citus), Some("projects_name_per_org_102046"));
        assert_eq!(super::quoted_constraint("duplicate key value violates unique constraint"), None);
        assert_eq!(super::quoted_constraint(r#"unique constraint "unterminated"#), None);
    }
}
