-- 002_probe_spool: what each probe's spool reports in its heartbeats.
-- dropped_results (001) becomes the running total of results the probe lost
-- (spool cap, a torn record cut off at start, a result it could not spool);
-- dropped_reported is the probe's own cumulative counter as last heard, so a
-- counter that restarts (a new spool) is detected and nothing is counted twice.
ALTER TABLE probes
    ADD COLUMN dropped_reported bigint NOT NULL DEFAULT 0,
    ADD COLUMN pending_results  bigint NOT NULL DEFAULT 0,
    ADD COLUMN spool_bytes      bigint NOT NULL DEFAULT 0;
