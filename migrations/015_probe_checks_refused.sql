-- 015_probe_checks_refused: which checks version a probe refused, beside why
-- (probes.checks_error, 003), and when it last answered a pushed version, so
-- `picketctl status`, /api/probes and `apply --wait` can say which probes run
-- the current version and which refused it.
-- Runs inside one transaction opened by store_migrate: no BEGIN/COMMIT here.

ALTER TABLE probes ADD COLUMN IF NOT EXISTS checks_refused_version bigint NOT NULL DEFAULT 0;
ALTER TABLE probes ADD COLUMN IF NOT EXISTS checks_answered_at timestamptz;
