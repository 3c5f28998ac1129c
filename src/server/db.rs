//! Database: the runtime pool, the refusal to run as a privileged role, and migrations.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use super::config::PoolSettings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("DATABASE_URL is not a valid Postgres URL: {0}")]
    BadUrl(sqlx::Error),
    #[error("cannot reach the database: {0}")]
    Unreachable(sqlx::Error),
    #[error("refusing to start: database role {role:?} is a superuser; the app must run as a role that row-level security applies to")]
    Superuser { role: String },
    #[error("refusing to start: database role {role:?} has BYPASSRLS; the app must run as a role that row-level security applies to")]
    BypassRls { role: String },
    #[error("refusing to start: database role {role:?} owns {tables} table(s) in the public schema (directly or through a role it belongs to), so it could switch row-level security off; run `tenantry migrate` as the schema owner (DATABASE_ADMIN_URL) and the app as another role")]
    OwnsTables { role: String, tables: i64 },
    #[error("refusing to start: the database lacks the tenant scope's functions; run `tenantry migrate` first")]
    NotMigrated,
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// A connection used this recently is taken as alive without a ping (HikariCP's
/// `aliveBypassWindowMs`, 500 ms there too): under load every connection is, and sqlx's default
/// ping on every acquire was one database round trip per transaction. A connection idle longer
/// (the quiet moments in which a Postgres restart or a failover usually happens) is pinged
/// first, and replaced if it does not answer. The price, taken on purpose as HikariCP takes it: a
/// connection that breaks within that window of its last use fails the one request that gets it
/// (a 503, retryable), where the ping would have replaced it unseen.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_millis(500);

/// A lazily connecting pool: the app starts (and `/readyz` says not ready) when Postgres is down.
/// Every connection has the configured `statement_timeout`, so no request holds the database
/// longer than that, and `idle_in_transaction_session_timeout`, so no forgotten transaction
/// holds its locks and snapshot longer than that; waiting longer than the acquire timeout for a
/// connection is an error (503).
/// Idle connections are pinged before use only past [`PING_IF_IDLE_FOR`].
pub fn pool(database_url: &str, settings: PoolSettings) -> Result<PgPool, DbSetupError> {
    let statement = settings.statement_timeout_ms.to_string();
    let idle_in_transaction = settings.idle_in_transaction_timeout_ms.to_string();
    let opts = PgConnectOptions::from_str(database_url).map_err(DbSetupError::BadUrl)?.options([
        ("statement_timeout", statement.as_str()),
        ("idle_in_transaction_session_timeout", idle_in_transaction.as_str()),
    ]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    // An error here closes the connection and the pool opens a new one.
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(opts))
}

/// Which Postgres the database is, where the app must speak to it differently: only the tenant
/// scope's messages differ (`tenant/mod.rs`, ARCHITECTURE.md "Distribution").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Plain Postgres.
    Postgres,
    /// Citus (the `citus` extension is installed in the database), which forwards a propagated
    /// `SET`'s whole message to its workers.
    Citus,
}

/// The runtime pool and the [`Dialect`] of its database, read once at startup ([`Db::detect`]):
/// converting a running app's database to Citus needs a restart of the app. Derefs to the pool.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
    dialect: Dialect,
    /// Whether the runtime role may call the one-statement scopes' functions and `set_config`,
    /// which they call (PUBLIC may, unless a hardened database revoked it):
    /// `tenant::StatementScope`, `tenant::MemberStatementScope`.
    calls_scope_functions: bool,
}

impl Db {
    /// A pool whose database is known to be of `dialect`, whose role may call the one-statement
    /// scopes' functions and `set_config`.
    pub fn new(pool: PgPool, dialect: Dialect) -> Self {
        Self { pool, dialect, calls_scope_functions: true }
    }

    /// Asks the database which it is (`pg_extension`) and whether the role may call the
    /// one-statement scopes' functions and `set_config` (else every read takes a scoped
    /// transaction), and refuses one whose migrations have not created the tenant scope's
    /// functions (tenant requests would fail).
    /// Errors: [`DbSetupError::NotMigrated`], or the database's as [`DbSetupError::Unreachable`].
    pub async fn detect(pool: PgPool) -> Result<Self, DbSetupError> {
        let found = sqlx::query!(
            r#"SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS "citus!",
                      to_regprocedure('public.tenant_scope_check()') IS NOT NULL
                      AND to_regprocedure($1) IS NOT NULL AND to_regprocedure($2) IS NOT NULL AS "migrated!",
                      coalesce(has_function_privilege('pg_catalog.set_config(text, text, boolean)', 'EXECUTE')
                               AND has_function_privilege(to_regprocedure($1), 'EXECUTE')
                               AND has_function_privilege(to_regprocedure($2), 'EXECUTE'), false)
                        AS "calls_scope_functions!""#,
            TENANT_PROJECTS_PAGE,
            MEMBER_WORKSPACE_SHELL
        )
        .fetch_one(&pool)
        .await
        .map_err(DbSetupError::Unreachable)?;
        if !found.migrated {
            return Err(DbSetupError::NotMigrated);
        }
        let dialect = if found.citus { Dialect::Citus } else { Dialect::Postgres };
        Ok(Self { pool, dialect, calls_scope_functions: found.calls_scope_functions })
    }

    /// Whether a read may scope its own statement (`tenant::StatementScope`,
    /// `tenant::MemberStatementScope`): plain Postgres, and a role that may call their functions
    /// and `set_config`.
    pub fn scopes_statements(&self) -> bool {
        self.dialect == Dialect::Postgres && self.calls_scope_functions
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

impl std::ops::Deref for Db {
    type Target = PgPool;
    fn deref(&self) -> &PgPool {
        &self.pool
    }
}

/// The projects list as a statement that enters the tenant scope itself
/// (migrations/20270103000001_tenant_projects_page.sql, `tenant::StatementScope`), by signature.
const TENANT_PROJECTS_PAGE: &str =
    "public.tenant_projects_page(text, text, text, boolean, boolean, text, uuid, bigint)";
/// The workspace shell's mirror reads as a statement that enters the member scope itself
/// (migrations/20270110000001_member_workspace_shell.sql, `tenant::MemberStatementScope`).
const MEMBER_WORKSPACE_SHELL: &str = "public.member_workspace_shell(text, text)";

/// `pool.begin()` through [`begin_with`]: a plain `BEGIN`.
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    begin_with(pool, "BEGIN").await
}

/// `pool.begin_with(statement)`, which a caller dropped half-way cannot leave half done. sqlx
/// (0.8.6, and 0.9.0) counts a transaction only once its `BEGIN` has been answered, and rolls
/// back on drop only a counted one: a caller dropped while it waits for that answer (a client
/// that disconnects, a timeout) leaves the session inside a transaction, and the pool hands the
/// connection on "idle in transaction". The next borrower's statements then run inside it: a
/// writer's `BEGIN` is ignored there, inside a `READ ONLY` one, and its writes refused
/// (transact-rs/sqlx#4393; fixed upstream after 0.9.0). Here the connection is taken and the
/// `BEGIN` sent in a task of their own, so they complete whatever happens to the caller; a
/// transaction nobody is left to take is dropped in that task, and rolled back as sqlx rolls
/// back any dropped transaction. The price of an abandoned caller: that task still waits for a
/// connection (within the pool's acquire timeout), then sends `BEGIN` and `ROLLBACK`. Every
/// transaction of the app begins here (clippy.toml disallows sqlx's own `begin`s elsewhere).
///
/// `statement` is sent as one simple-protocol message and must leave the session in a
/// transaction (else [`sqlx::Error::BeginFailed`]); it may hold several statements. If any of
/// them fails, the connection must be left with no transaction open: sqlx does not roll back a
/// transaction it has not counted, so a failure after a `BEGIN` in the same message would hand
/// the connection on inside an aborted transaction. A message whose `BEGIN` comes last has that
/// property (the statements before it run in an implicit transaction, rolled back whole on
/// failure, which `BEGIN` turns into the explicit one on success). Such a `BEGIN` may say
/// `READ ONLY`, but not an isolation level or `DEFERRABLE`: Postgres refuses those once a
/// statement has run in the transaction.
/// Errors: the pool's or the database's; [`sqlx::Error::PoolClosed`] if the runtime is
/// shutting down. A panic in the task is resumed here.
#[allow(clippy::disallowed_methods)]
pub async fn begin_with(
    pool: &PgPool,
    statement: impl Into<Cow<'static, str>>,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    use tracing::Instrument;
    let pool = pool.clone();
    let statement = statement.into();
    joined(tokio::spawn(async move { pool.begin_with(statement).await }.instrument(tracing::Span::current())).await)
}

/// What `begin_with`'s task answered: its own result, its panic resumed, or `PoolClosed` when it
/// was cancelled (the runtime shutting down).
fn joined<T>(task: Result<Result<T, sqlx::Error>, tokio::task::JoinError>) -> Result<T, sqlx::Error> {
    match task {
        Ok(begun) => begun,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(sqlx::Error::PoolClosed),
    }
}

/// Whether a database error means "not now" rather than "wrong": the pool is saturated or
/// closed, the connection broke, Postgres is shutting down or starting, the statement ran past
/// `statement_timeout` (SQLSTATE 57014), or the session was ended for idling in a transaction
/// (25P03). Those are 503s (retry later), not 500s.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c == "57014" || c == "25P03" || c == "57P01" || c == "57P02" || c == "57P03" || c.starts_with("08")
        }),
        _ => false,
    }
}

/// Refuse superuser and BYPASSRLS roles, and owners of the tables: with them, row-level
/// security silently does nothing or can be switched off.
pub async fn ensure_restricted_role(pool: &PgPool) -> Result<(), DbSetupError> {
    let row = sqlx::query!(r#"SELECT current_user AS "role!", rolsuper AS "superuser!", rolbypassrls AS "bypass_rls!" FROM pg_roles WHERE rolname = current_user"#)
        .fetch_one(pool)
        .await
        .map_err(DbSetupError::Unreachable)?;
    if row.superuser {
        return Err(DbSetupError::Superuser { role: row.role });
    }
    if row.bypass_rls {
        return Err(DbSetupError::BypassRls { role: row.role });
    }
    let tables = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND pg_has_role(current_user, c.relowner, 'USAGE')"#
    )
    .fetch_one(pool)
    .await
    .map_err(DbSetupError::Unreachable)?;
    if tables > 0 {
        return Err(DbSetupError::OwnsTables { role: row.role, tables });
    }
    Ok(())
}

/// Apply migrations as the schema owner, then grant the runtime role what it needs (and no more:
/// no DDL, no ownership, so it cannot switch row-level security off).
pub async fn migrate(admin: &PgPool, runtime_role: Option<&str>) -> Result<(), DbSetupError> {
    MIGRATOR.run(admin).await?;
    if let Some(role) = runtime_role {
        let role = quote_ident(role);
        for stmt in [
            format!("GRANT USAGE ON SCHEMA public TO {role}"),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
            // Not left to PUBLIC's default, which a hardened database may have revoked.
            format!("GRANT EXECUTE ON FUNCTION public.tenant_scope_check() TO {role}"),
            format!("GRANT EXECUTE ON FUNCTION {TENANT_PROJECTS_PAGE} TO {role}"),
            format!("GRANT EXECUTE ON FUNCTION {MEMBER_WORKSPACE_SHELL} TO {role}"),
            format!("REVOKE ALL ON _sqlx_migrations FROM {role}"),
            // The audit log is append-only for the app: history cannot be rewritten.
            format!("REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {role}"),
        ] {
            sqlx::query::<Postgres>(&stmt).execute(admin).await?;
        }
    }
    Ok(())
}

/// The user name in a Postgres URL, decoded as Postgres's own URL parser decodes it (`%2B` is a
/// `+`, and a literal `+` stays a `+`).
pub fn role_of(database_url: &str) -> Option<String> {
    let opts = PgConnectOptions::from_str(database_url).ok()?;
    let user = opts.get_username();
    (!user.is_empty()).then(|| user.to_string())
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::{joined, role_of};

    #[test]
    fn role_names_are_decoded_as_postgres_does() {
        assert_eq!(role_of("postgres://app+eu:pw@localhost/db").as_deref(), Some("app+eu"));
        assert_eq!(role_of("postgres://app%2Beu:pw@localhost/db").as_deref(), Some("app+eu"));
        assert_eq!(role_of("postgres://te%20st@localhost/db").as_deref(), Some("te st"));
        assert_eq!(role_of("not a url"), None);
    }

    #[tokio::test]
    async fn a_cancelled_task_is_a_closed_pool_and_a_panic_is_resumed() {
        let cancelled = tokio::spawn(std::future::pending::<Result<(), sqlx::Error>>());
        cancelled.abort();
        assert!(matches!(joined(cancelled.await), Err(sqlx::Error::PoolClosed)));

        let panicked = tokio::spawn(async { panic!("in the task") }).await;
        let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| joined::<()>(panicked)));
        let payload = resumed.expect_err("the task's panic, resumed");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"in the task"));
    }
}
