-- The projects list as one statement that enters the tenant scope itself, for a list that is its
-- request's only read (the REST list; the list server function called on its own): what
-- `Tenant::begin` sends before a read (src/server/tenant.rs: read-only, the two settings,
-- `tenant_scope_check()`, which raises TN410/TN403/TN400), then the list query, in the
-- statement's own implicit transaction: one round trip where a scoped transaction takes two and
-- a `ROLLBACK`. `is_local` settings end with that transaction, so with the statement.
--
-- Called only on a pooled connection outside any transaction (`tenant::StatementScope`):
-- inside one it would scope, and make read-only, the rest of it. Plain Postgres only: Citus
-- evaluates the policies on its workers, which see the `SET LOCAL`s sent to them and not a
-- `set_config` called inside a query; there the list reads in a scoped transaction.
--
-- The query is `projects::list_after`'s (src/server/projects.rs), which the transaction path
-- keeps in Rust (a set-returning SQL function over a distributed table is not something Citus
-- has been checked to plan); `tests/it/scope.rs` reads the same pages both ways. SECURITY
-- INVOKER (the default): row-level security applies to the caller, and the query filters on the
-- organization itself as well.
CREATE FUNCTION tenant_projects_page(
    org_id text, user_id text, pattern text, with_active boolean, with_archived boolean,
    after_key text, after_id uuid, page_size bigint
) RETURNS TABLE (
    id uuid, name text, description text, archived boolean, created_by text,
    updated_at timestamptz, sort_key text
)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    -- One statement for the three settings (independent of one another; pgbench: ~5 % more
    -- calls a second than a statement each), then the check, which reads them.
    PERFORM set_config('transaction_read_only', 'on', true),
            set_config('app.org_id', tenant_projects_page.org_id, true),
            set_config('app.user_id', tenant_projects_page.user_id, true);
    PERFORM public.tenant_scope_check();
    RETURN QUERY
        SELECT p.id, p.name, p.description, p.archived_at IS NOT NULL, p.created_by, p.updated_at,
               lower(btrim(p.name))
          FROM public.projects p
         WHERE p.org_id = tenant_projects_page.org_id
           AND (p.name ILIKE pattern OR p.description ILIKE pattern)
           AND ((p.archived_at IS NULL AND with_active) OR (p.archived_at IS NOT NULL AND with_archived))
           AND (after_id IS NULL OR (lower(btrim(p.name)), p.id) > (lower(btrim(after_key)), after_id))
         ORDER BY lower(btrim(p.name)), p.id
         LIMIT page_size;
END
$$;
