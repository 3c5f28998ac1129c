-- One page of an organization's projects, and the same page in a statement that enters the
-- tenant scope itself.
--
-- `projects_page` is the projects list's one query (src/server/projects.rs, `list_after`):
-- keyset pagination on `projects_name_per_org`, by `lower(btrim(name))` then id. A SQL function
-- the planner inlines into the statement that calls it (LANGUAGE sql, STABLE, one SELECT, no
-- SET clause, not SECURITY DEFINER), so it costs what the query costs written out, and
-- row-level security applies as to the caller's own query.
CREATE FUNCTION projects_page(
    org text, pattern text, with_active boolean, with_archived boolean,
    after_key text, after_id uuid, page_size bigint
) RETURNS TABLE (
    id uuid, name text, description text, archived boolean, created_by text,
    updated_at timestamptz, sort_key text
)
LANGUAGE sql STABLE
AS $$
    SELECT p.id, p.name, p.description, p.archived_at IS NOT NULL, p.created_by, p.updated_at,
           lower(btrim(p.name))
      FROM public.projects p
     WHERE p.org_id = org AND (p.name ILIKE pattern OR p.description ILIKE pattern)
       AND ((p.archived_at IS NULL AND with_active) OR (p.archived_at IS NOT NULL AND with_archived))
       AND (after_id IS NULL OR (lower(btrim(p.name)), p.id) > (lower(btrim(after_key)), after_id))
     ORDER BY lower(btrim(p.name)), p.id
     LIMIT page_size
$$;

-- `projects_page` as one statement that is its request's only read (the REST list, the list
-- server function called on its own): what `Tenant::begin` sends before a read — read-only,
-- the settings, `tenant_scope_check()` (which raises TN410/TN403/TN400) — then the read, in
-- the statement's own implicit transaction: one round trip, and no `BEGIN` or `ROLLBACK`.
-- `is_local` settings end with that transaction, so they end with the statement. Called only
-- on a connection outside any transaction (src/server/tenant.rs, `StatementScope`): inside one
-- it would scope the rest of it. Plain Postgres only: Citus evaluates the policies on its
-- workers, which see `SET LOCAL` sent to them, not `set_config` called in a query.
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
    PERFORM set_config('transaction_read_only', 'on', true);
    PERFORM set_config('app.org_id', tenant_projects_page.org_id, true);
    PERFORM set_config('app.user_id', tenant_projects_page.user_id, true);
    PERFORM public.tenant_scope_check();
    RETURN QUERY SELECT * FROM public.projects_page(tenant_projects_page.org_id, pattern, with_active,
                                                    with_archived, after_key, after_id, page_size);
END
$$;
