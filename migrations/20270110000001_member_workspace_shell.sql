-- What the `/app` shell reads from the mirror, as one statement that enters the member's scope
-- itself: the active organization's name, the signed-in user, and the organizations the user
-- can switch to. Neither the organization nor the user is tenant data; the memberships are
-- (row-level security shows a member their own through `app.user_id`). One round trip where a
-- member transaction waits for one per step (its `SET LOCAL` message, then each read) and ends
-- with a `ROLLBACK`.
--
-- The member scope's settings as `Member::open` makes them (src/server/tenant/mod.rs): no
-- organization, the user; read-only, as the request's reads begin their transaction
-- (`RequestReads`); all `is_local`, so they end with the statement's own implicit
-- transaction. Called only on a pooled connection outside any transaction
-- (`tenant::MemberStatementScope`), and on plain Postgres only, as `tenant_projects_page`
-- (migrations/20270103000001): elsewhere the two queries it writes out again
-- (`workspace::mirrored_snapshot`, `workspace::mirrored_organizations`) run in the request's
-- read transaction; `tests/it/statement_scope.rs` reads the same answers both ways.
--
-- One row per membership, the organization and user columns repeated on each; with no
-- membership one row whose membership columns are null. SECURITY INVOKER (the default).
CREATE FUNCTION member_workspace_shell(user_id text, active_org_id text)
RETURNS TABLE (
    org_name text, user_clerk_id text, user_name text, user_email text, user_image_url text,
    member_org_id text, member_role text, member_org_name text, member_org_slug text
)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM set_config('transaction_read_only', 'on', true),
            set_config('app.org_id', '', true),
            set_config('app.user_id', member_workspace_shell.user_id, true);
    RETURN QUERY
        SELECT (SELECT o.name FROM public.organizations o
                 WHERE o.id = member_workspace_shell.active_org_id AND o.deleted_at IS NULL),
               u.clerk_id, u.name, u.email, u.image_url,
               m.org_id, m.role, mo.name, mo.slug
          FROM (VALUES (1)) AS one (x)
          LEFT JOIN public.users u ON u.clerk_id = member_workspace_shell.user_id AND u.deleted_at IS NULL
          LEFT JOIN public.org_memberships m
                 ON m.user_clerk_id = member_workspace_shell.user_id AND m.deleted_at IS NULL
          LEFT JOIN public.organizations mo ON mo.id = m.org_id AND mo.deleted_at IS NULL
         ORDER BY lower(coalesce(mo.name, m.org_id)), m.org_id;
END
$$;
