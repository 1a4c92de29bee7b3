-- 038_check_hour_rewrites: which hour each raise of a check's counter in
-- check_hour_marks (migration 028) was for. The compaction folds an hour's last
-- minutes after the hour has ended, so every check's counter rises once an hour;
-- with this table the collector's baseline cache (collector/rpc_baseline_cache.c)
-- re-reads a check's summaries from the earliest hour rewritten since it read
-- them, not its whole 29 days. One row per raise: (check, its new counter, the
-- earliest ended hour that write rewrote). Rows older than two days are deleted
-- once a day (store/check_hour_days.c); check_hour_marks.pruned holds the
-- highest counter deleted for the check, and a cache entry older than that is
-- read again whole.
CREATE TABLE IF NOT EXISTS check_hour_rewrites (
    check_id bigint      NOT NULL,
    seq      bigint      NOT NULL,
    hour     timestamptz NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (check_id, seq)
);

ALTER TABLE check_hour_marks ADD COLUMN IF NOT EXISTS pruned bigint NOT NULL DEFAULT 0;
