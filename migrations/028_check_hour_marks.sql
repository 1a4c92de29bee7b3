-- 028_check_hour_marks: one counter per check, raised whenever the compaction
-- rewrites a check-hour summary (rollup_check_hour) of an hour that has ended:
-- late results, or the last minutes of an hour folded after it ended. The
-- collector keeps each check's 29 days of summaries for the report's baseline
-- in memory (collector/rpc_baseline_cache.c) and reads them again only when this
-- counter moved, so a report's baselines read 1,000 small rows, not 696,000,
-- once the first report of the hour has paid. Written in the compaction's
-- transaction with the summaries (check_hours.c), so a reader that sees a
-- rewritten summary sees the raised counter too. Starts empty: a check without a
-- row has counter 0 (an upgraded installation needs no fill: no collector holds
-- anything in memory across the upgrade).
CREATE TABLE IF NOT EXISTS check_hour_marks (
    check_id bigint PRIMARY KEY,
    seq      bigint NOT NULL
);
