-- 044_region_hour_days: the hour summaries of each region (counts and the p95
-- of the hour's histogram merged over the region's probes), of each whole UTC
-- day that check_hour_days (migration 039) has packed, one row per (check,
-- region, day) in the same 50-byte records. A one-region report's baseline
-- (29 days of hourly p95 for every check) reads 29 small rows per check
-- instead of 696 rollup_hour rows with their histograms, which are spread over
-- the whole table: from disk, after a restart, that read took 8 to 11 s at
-- 1,000 checks (docs/PERFORMANCE.md). Written by the compaction beside
-- check_hour_days, under its lock and in its transaction
-- (collector/store/region_hour_days.c); the days already packed are packed
-- here by `picket-collector migrate`, right after this file runs.
CREATE TABLE IF NOT EXISTS region_hour_days (
    check_id bigint      NOT NULL,
    region   text        NOT NULL,
    day      timestamptz NOT NULL,
    hours    bytea       NOT NULL,
    PRIMARY KEY (check_id, region, day)
);
ALTER TABLE region_hour_days SET (fillfactor = 70);

-- Regions whose packs do not hold their probes' rows as they are now: a probe
-- that registered again in another region marks both (collector/store/
-- probes.c). Their packs are not read (the rollups are) until the compaction
-- packs the region's days again and clears the mark.
CREATE TABLE IF NOT EXISTS region_hour_days_stale (
    region text PRIMARY KEY
);
