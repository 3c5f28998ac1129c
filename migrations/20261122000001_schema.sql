-- Tenantry schema: the Clerk mirror (users, organizations, memberships), tenant data (projects,
-- audit log) and webhook bookkeeping.
--
-- Tenant tables lead their primary key with org_id and are guarded by row-level security on
-- current_setting('app.org_id', true), set per transaction with SET LOCAL by the tenant scope.
-- FORCE makes the policy apply to the table owner too; the runtime role is neither superuser nor
-- BYPASSRLS (the app refuses to start otherwise), so a query that forgets its org filter returns
-- nothing rather than another tenant's rows.
--
-- Mirror rows keep Clerk's updated_at (ms) and a deleted_at tombstone so that webhooks delivered
-- twice or out of order converge on the same state.

CREATE TABLE users (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    clerk_id         text NOT NULL UNIQUE,
    email            text UNIQUE,
    name             text,
    image_url        text,
    clerk_updated_at bigint NOT NULL DEFAULT 0,
    deleted_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organizations (
    id               text PRIMARY KEY,          -- Clerk org id (org_…)
    slug             text,
    name             text NOT NULL DEFAULT '',
    image_url        text,
    clerk_updated_at bigint NOT NULL DEFAULT 0,
    deleted_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_slug_live ON organizations (slug) WHERE deleted_at IS NULL AND slug IS NOT NULL;

-- No foreign keys to users/organizations: a membership event may arrive before its user or
-- organization event, and must not be lost.
CREATE TABLE org_memberships (
    org_id           text NOT NULL,
    user_clerk_id    text NOT NULL,
    clerk_id         text,                      -- orgmem_…
    role             text NOT NULL,             -- org:admin, org:member, …
    permissions      text[] NOT NULL DEFAULT '{}',
    clerk_updated_at bigint NOT NULL DEFAULT 0,
    deleted_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_clerk_id)
);
CREATE INDEX org_memberships_user ON org_memberships (user_clerk_id);

CREATE TABLE projects (
    org_id      text NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    archived_at timestamptz,
    created_by  text NOT NULL,                 -- Clerk user id
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX projects_name_per_org ON projects (org_id, lower(btrim(name)));

CREATE TABLE audit_log (
    org_id      text NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    actor       text NOT NULL,                 -- Clerk user id, or 'clerk:webhook'
    action      text NOT NULL,                 -- project.created, project.renamed, …
    project_id  uuid,
    before      jsonb,
    after       jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CREATE INDEX audit_log_newest ON audit_log (org_id, created_at DESC, id DESC);

-- Svix message ids already applied; written in the same transaction as the effect.
CREATE TABLE webhook_deliveries (
    svix_id     text PRIMARY KEY,
    event_type  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Row-level security: the second lock behind the tenant scope's own org filters.
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (org_id = current_setting('app.org_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true));

-- Memberships are visible inside their organization, and to the member themself (app.user_id),
-- which is what /select-org needs to list a user's organizations.
ALTER TABLE org_memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_memberships
    USING (org_id = current_setting('app.org_id', true)
           OR user_clerk_id = current_setting('app.user_id', true))
    WITH CHECK (org_id = current_setting('app.org_id', true)
           OR user_clerk_id = current_setting('app.user_id', true));
