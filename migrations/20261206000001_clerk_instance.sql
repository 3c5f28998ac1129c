-- The Clerk instance this mirror was made from (Backend API `GET /v1/instance`), recorded by the
-- first `tenantry sync --apply`. A mirror belongs to one instance for life: another instance's
-- secret key sees none of its users and organizations, so a sync against it would take every
-- row for deleted. `tenantry sync` refuses to run against any other instance.
CREATE TABLE clerk_instance (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),  -- at most one row
    instance_id      text NOT NULL CHECK (instance_id <> ''),
    environment_type text NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);

-- Once recorded, the row is not changed or removed by anyone but the schema owner (who would
-- have to drop this trigger first, knowing the mirror's ids then belong to no instance).
CREATE FUNCTION clerk_instance_is_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'this mirror belongs to Clerk instance %; it cannot be changed', OLD.instance_id
        USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER clerk_instance_is_fixed BEFORE UPDATE OR DELETE ON clerk_instance
    FOR EACH ROW EXECUTE FUNCTION clerk_instance_is_fixed();
