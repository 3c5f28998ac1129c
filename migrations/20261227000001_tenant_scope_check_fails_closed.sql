-- The tombstone check fails closed: called without the scope's settings (no organization or no
-- user set in this transaction, or either empty), it raises instead of passing. Before, nothing
-- matched an absent setting and the check passed; only a call outside `Tenant::open`
-- (src/server/tenant.rs, which always sets both first) or a verified token with an empty id
-- could do that, and row-level security still hid every row, but a check that says yes to
-- nothing is one mistake away from a hole.
--
-- `CREATE OR REPLACE` keeps the function's owner and grants (the runtime role's EXECUTE).
-- Otherwise unchanged from 20261220000001: SECURITY INVOKER, schema-qualified tables, the
-- deletion checked before the membership.
CREATE OR REPLACE FUNCTION tenant_scope_check() RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF coalesce(current_setting('app.org_id', true), '') = ''
       OR coalesce(current_setting('app.user_id', true), '') = '' THEN
        RAISE EXCEPTION 'tenant_scope_check() called without the scope''s settings (app.org_id, app.user_id)'
            USING ERRCODE = 'TN400';
    END IF;
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
