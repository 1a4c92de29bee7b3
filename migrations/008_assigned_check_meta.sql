-- 008_assigned_check_meta: the analytics metadata of centrally assigned checks
-- (service, latency budgets, SLO), parsed by the collector when a version is
-- applied, so `checks` gets it without waiting for a probe to re-register
-- (docs/CHECKS.md "Central assignment", "Check metadata"). meta_known is false
-- on rows stored before this migration: their metadata was never parsed, so
-- they must not overwrite what the probes registered. NULL: not given.
-- Runs inside store_migrate's transaction.

ALTER TABLE check_version_checks
    ADD COLUMN meta_known         boolean NOT NULL DEFAULT false,
    ADD COLUMN service            text,
    ADD COLUMN budget_p50_ms      bigint,
    ADD COLUMN budget_p95_ms      bigint,
    ADD COLUMN budget_p99_ms      bigint,
    ADD COLUMN slo_target_percent double precision,
    ADD COLUMN slo_window_ms      bigint;
