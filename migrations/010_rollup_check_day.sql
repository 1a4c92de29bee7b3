-- 010_rollup_check_day: day rollups merged over every probe of a check
-- (docs/ANALYTICS.md, "Storage and rollups"). rollup_day keeps one row per
-- (check, probe, day) for answers per region or probe; the question asked most
-- — a check over all regions for whole days (30-day availability and p95 of
-- every check) — reads this table instead, a third of the rows with three
-- regions. The compaction job writes it in the same transaction as rollup_day,
-- so the two always agree. Rows already in rollup_day are merged into it in C by
-- `picket-collector migrate` right after this file runs (store_pg.c,
-- fill_check_days), inside the same transaction.

CREATE TABLE rollup_check_day (
    check_id bigint NOT NULL,
    day      timestamptz NOT NULL,
    ok       bigint NOT NULL,
    degraded bigint NOT NULL,
    failed   bigint NOT NULL,
    unknown  bigint NOT NULL,
    hist     bytea NOT NULL,
    PRIMARY KEY (check_id, day)
);
CREATE INDEX rollup_check_day_day_idx ON rollup_check_day (day);
