-- Organizations created through the app (each one a Clerk object made with the secret key,
-- which bypasses Clerk's own per-user limits): the allowance of a user is counted here, in the
-- database every replica shares, not in one process's memory. Rows older than the window are
-- removed by the next creation of the same user. Not tenant data (a user acts across
-- organizations): a reference table in a distributed Postgres.
CREATE TABLE org_creations (
    user_clerk_id text NOT NULL,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_clerk_id, id)
);
CREATE INDEX org_creations_recent ON org_creations (user_clerk_id, created_at);
