//! Pages of an organization's projects: the status filter and search term ([`Filter`]), keyset
//! pagination by sort key and id ([`SortKey`], [`Cursor`]), read in the request's transaction
//! ([`list`], [`list_after`]) or as one statement that enters the tenant scope itself
//! ([`list_after_alone`]).

use uuid::Uuid;

use super::{ProjectError, ProjectRow};
use crate::model::ProjectView;
use crate::model::TextProblem;
use crate::server::tenant::ScopeError;
use crate::server::tenant::{StatementScope, TenantTx};

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
