-- The tenant scope's tombstone check (src/server/tenant.rs, `Tenant::open`), run right after the
-- scope's settings and before anything reads tenant data: a deleted organization, or this
-- user's membership of it recorded as ended, refuses the scope with an error of its own
-- SQLSTATE. It is a function that raises, not a query that answers, so that on plain Postgres
-- the settings, the check and `BEGIN` travel in one message: a refusal aborts that message's
-- implicit transaction whole, and no transaction is left open on the connection.
--
-- SECURITY INVOKER (the default): it reads under the caller's row-level security, with the
-- settings just made, as the query it replaces did. Tables are schema-qualified so that nothing
-- earlier on the search path (a temporary table) can stand in for them.
CREATE FUNCTION tenant_scope_check() RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM public.organizations
                WHERE id = current_setting('app.org_id', true) AND deleted_at IS NOT NULL) THEN
        RAISE EXCEPTION 'this organization has been deleted' USING ERRCODE = 'TN410';
    END IF;
    IF EXISTS (SELECT 1 FROM public.org_memberships
                WHERE org_id = current_setting('app.org_id', true)
                  AND user_clerk_id = current_setting('app.user_id', true)
                  AND deleted_at IS NOT NULL) THEN
        RAISE EXCEPTION 'this membership has ended' USING ERRCODE = 'TN403';
    END IF;
END
$$;
