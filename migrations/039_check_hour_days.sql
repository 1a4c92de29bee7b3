-- 039_check_hour_days: the check-hour summaries (rollup_check_hour, migration
-- 027) of each whole UTC day that has ended, packed into one row per (check,
-- day): 24 records of 50 bytes (hour of the day int2, ok, degraded, failed,
-- unknown, hist_count int8, p95_us float8; big-endian, as int2send, int8send
-- and float8send write them), in hour order. A report's baseline reads 29 days
-- of every check: 29,000 rows instead of 696,000 at 1,000 checks, which is what
-- made the first report after a collector starts slow
-- (collector/store/check_hour_days.c).
-- check_hour_days_done.until: the days before it are packed (NULL: none yet).
-- The compaction packs each day about an hour after it ends and repacks a
-- packed day whenever it rewrites one of its summaries, in the same transaction
-- and under the same lock; the collector fills the days before this migration
-- right after it (store/migrate.c).
CREATE TABLE IF NOT EXISTS check_hour_days (
    check_id bigint      NOT NULL,
    day      timestamptz NOT NULL,
    hours    bytea       NOT NULL,
    PRIMARY KEY (check_id, day)
);

CREATE TABLE IF NOT EXISTS check_hour_days_done (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    until timestamptz
);
INSERT INTO check_hour_days_done (one, until) VALUES (true, NULL) ON CONFLICT DO NOTHING;
