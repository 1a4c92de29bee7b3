-- 027_rollup_check_hour: one summary row per (check, hour) over every probe
-- (docs/ANALYTICS.md, "Storage and rollups"): the hour's counts and the p95 of
-- its latency histogram (rollup_hour merged over the check's probes), so the
-- report's baseline (28 days of hourly p95 for every check) reads one small
-- row per check-hour instead of decoding a histogram per probe-hour. Written by
-- the compaction in the same transaction as the rollup_hour rows it comes
-- from, so the two always agree. Hours already in rollup_hour are summarised
-- in C by `picket-collector migrate` right after this file runs (check_hours.c,
-- st_fill_check_hours), inside the same transaction.
CREATE TABLE IF NOT EXISTS rollup_check_hour (
    check_id   bigint NOT NULL,
    hour       timestamptz NOT NULL,
    ok         bigint NOT NULL,
    degraded   bigint NOT NULL,
    failed     bigint NOT NULL,
    unknown    bigint NOT NULL,
    hist_count bigint NOT NULL, -- values in the merged histogram
    p95_us     double precision, -- NULL when hist_count is 0
    PRIMARY KEY (check_id, hour)
);
