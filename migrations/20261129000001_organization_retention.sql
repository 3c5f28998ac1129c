-- A deleted organization's data is kept for the retention period, then purged by
-- `tenantry purge`; the tombstone stays and records when its data was removed, so a purged
-- organization is never "restored" empty.
ALTER TABLE organizations ADD COLUMN purged_at timestamptz;
