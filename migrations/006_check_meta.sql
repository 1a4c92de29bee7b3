-- 006_check_meta: what the query API needs to know about each check, as the
-- probes send it at Register (CheckInfo): its service, latency budgets and
-- SLO (docs/CHECKS.md, docs/ANALYTICS.md "Query API and CLI"). NULL: not given.
-- Runs inside store_migrate's transaction.

ALTER TABLE checks
    ADD COLUMN service            text,
    ADD COLUMN budget_p50_ms      bigint,
    ADD COLUMN budget_p95_ms      bigint,
    ADD COLUMN budget_p99_ms      bigint,
    ADD COLUMN slo_target_percent double precision,
    ADD COLUMN slo_window_ms      bigint;
