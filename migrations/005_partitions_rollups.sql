-- 005_partitions_rollups: results partitioned by day of started_at (UTC), and
-- per-minute / hour / day rollups of outcomes and latency (docs/ANALYTICS.md,
-- "Storage and rollups"). Runs inside store_migrate's transaction.

-- 1. results becomes a partitioned table; existing rows are kept. -----------
ALTER TABLE results RENAME TO results_unpartitioned;
ALTER INDEX results_check_started_idx RENAME TO results_unpartitioned_check_started_idx;
ALTER INDEX results_probe_seq_idx RENAME TO results_unpartitioned_probe_seq_idx;

CREATE TABLE results (
    probe_id    bigint NOT NULL,
    seq         bigint NOT NULL,
    check_id    bigint NOT NULL,
    started_at  timestamptz NOT NULL,
    outcome     smallint NOT NULL,
    error_class smallint NOT NULL,
    status_code int,
    body_bytes  bigint,
    dns_us      bigint,
    connect_us  bigint,
    tls_us      bigint,
    ttfb_us     bigint,
    total_us    bigint,
    message     text,
    metrics     jsonb,
    received_at timestamptz DEFAULT now()
) PARTITION BY RANGE (started_at);
CREATE INDEX results_check_started_idx ON results (check_id, started_at);
CREATE INDEX results_probe_seq_idx ON results (probe_id, seq);
-- A result whose day has no partition yet (clock skew, a spool replayed days
-- later, a maintenance job that has not run) lands here; it is never refused.
-- picket_make_partition moves such rows into the day's partition when it makes one.
CREATE TABLE results_default PARTITION OF results DEFAULT;

-- Makes the partition results_YYYYMMDD for one UTC day, moving that day's rows
-- out of results_default first (a partition cannot be made over rows the default
-- partition holds). Returns false when it already exists. Serialized by an
-- advisory lock so several collectors may call it at once.
CREATE FUNCTION picket_make_partition(day date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    part text := 'results_' || to_char(day, 'YYYYMMDD');
    lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
    moved bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(112410397255029);
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    CREATE TEMP TABLE picket_moved_results ON COMMIT DROP AS
        WITH m AS (DELETE FROM results_default WHERE started_at >= lo AND started_at < hi RETURNING *)
        SELECT * FROM m;
    EXECUTE format('CREATE TABLE %I PARTITION OF results FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    INSERT INTO results SELECT * FROM picket_moved_results;
    GET DIAGNOSTICS moved = ROW_COUNT;
    DROP TABLE picket_moved_results;
    IF moved > 0 THEN
        RAISE NOTICE 'partition % took % rows from results_default', part, moved;
    END IF;
    RETURN true;
END $$;

-- Drops every daily partition that ends at or before `before` and deletes
-- older rows from results_default. Returns the partitions dropped.
CREATE FUNCTION picket_drop_partitions(before timestamptz) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    rec record;
    dropped int := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(112410397255029);
    FOR rec IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'results'::regclass AND c.relname ~ '^results_[0-9]{8}$'
    LOOP
        IF (to_date(substr(rec.relname, 9), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= before THEN
            EXECUTE format('DROP TABLE %I', rec.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    DELETE FROM results_default WHERE started_at < before;
    RETURN dropped;
END $$;

-- Partitions for every day the old table has rows on, then the rows.
SELECT picket_make_partition(d::date)
FROM (SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date AS d FROM results_unpartitioned) days;
INSERT INTO results SELECT * FROM results_unpartitioned;
DROP TABLE results_unpartitioned;

-- 2. rollups ---------------------------------------------------------------
-- Every rollup row: counts by outcome (unspecified counts as unknown) and
-- `hist`, common/histogram.c's encoding (pk_hist_encode) of total_us over the
-- results that have one. Merging is done in C (collector/rollup.c), never here.

-- Written by the writer thread in the transaction that stores the results: one
-- row per (check, probe, minute) of each stored group, so the same key may have
-- many rows. The compaction job folds rows into the final tables and deletes
-- them in one transaction; readers add the rows still here.
CREATE TABLE rollup_partial (
    check_id bigint NOT NULL,
    probe_id bigint NOT NULL,
    minute   timestamptz NOT NULL,
    ok       bigint NOT NULL,
    degraded bigint NOT NULL,
    failed   bigint NOT NULL,
    unknown  bigint NOT NULL,
    hist     bytea NOT NULL
);
CREATE INDEX rollup_partial_minute_idx ON rollup_partial (minute);

CREATE TABLE rollup_minute (
    check_id bigint NOT NULL,
    probe_id bigint NOT NULL,
    minute   timestamptz NOT NULL,
    ok       bigint NOT NULL,
    degraded bigint NOT NULL,
    failed   bigint NOT NULL,
    unknown  bigint NOT NULL,
    hist     bytea NOT NULL,
    PRIMARY KEY (check_id, probe_id, minute)
);
CREATE INDEX rollup_minute_minute_idx ON rollup_minute (minute);

CREATE TABLE rollup_hour (
    check_id bigint NOT NULL,
    probe_id bigint NOT NULL,
    hour     timestamptz NOT NULL,
    ok       bigint NOT NULL,
    degraded bigint NOT NULL,
    failed   bigint NOT NULL,
    unknown  bigint NOT NULL,
    hist     bytea NOT NULL,
    PRIMARY KEY (check_id, probe_id, hour)
);
CREATE INDEX rollup_hour_hour_idx ON rollup_hour (hour);

CREATE TABLE rollup_day (
    check_id bigint NOT NULL,
    probe_id bigint NOT NULL,
    day      timestamptz NOT NULL,
    ok       bigint NOT NULL,
    degraded bigint NOT NULL,
    failed   bigint NOT NULL,
    unknown  bigint NOT NULL,
    hist     bytea NOT NULL,
    PRIMARY KEY (check_id, probe_id, day)
);
CREATE INDEX rollup_day_day_idx ON rollup_day (day);

-- Progress of the compaction job: every partial row of a minute before `upto`
-- had been folded when it committed. Never moves back.
CREATE TABLE rollup_watermark (
    name       text PRIMARY KEY,
    upto       timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO rollup_watermark (name, upto) VALUES ('compact', 'epoch');

-- Rows stored before this migration get no rollups (docs/ANALYTICS.md says so):
-- the histogram encoding is made in C, and a migration is plain SQL.
