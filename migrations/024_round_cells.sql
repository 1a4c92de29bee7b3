-- 024_round_cells: per-round result counts written by the ingest writers
-- (docs/ANALYTICS.md, "The tracker"). The tracker used to read back every
-- result of the rounds it folds; now the writers store, in the same
-- transaction as the results, the counts it needs: one row per (check, region,
-- minute) that a transaction touched, holding packed cells (the round's
-- instant: the result's scheduled time, or its start when the probe sent none;
-- good = ok or degraded, bad = failed). Several rows may hold the same cell
-- (results of one round stored by different transactions): the tracker adds
-- them up. Rows are kept for a day and a half (the control thread deletes older
-- ones); a fold of older rounds reads the results instead.

CREATE TABLE IF NOT EXISTS round_cells (
    check_id bigint NOT NULL,
    region   text NOT NULL,
    minute   bigint NOT NULL,  -- floor(instant / 60 s), instants in us since the epoch
    cells    bytea NOT NULL    -- 8 bytes a cell, big-endian: the instant's offset in the minute
                               -- (us, uint32), good, bad (uint16)
);
CREATE INDEX IF NOT EXISTS round_cells_check_idx ON round_cells (check_id, minute);
CREATE INDEX IF NOT EXISTS round_cells_minute_brin ON round_cells USING brin (minute);
-- Packed cells hardly compress: out of line when large, never pglz.
ALTER TABLE round_cells ALTER COLUMN cells SET STORAGE EXTERNAL;

-- Rounds at or after since_us have all their results' cells stored: results
-- stored before this migration have none, so when results exist already the
-- tracker reads results for rounds before an hour from now (a probe's clock
-- may run ahead). One row.
CREATE TABLE IF NOT EXISTS round_cells_since (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    since_us bigint NOT NULL
);
-- (The read of results is its own statement: on Citus results is distributed,
-- round_cells_since a table on the coordinator.)
DO $$
DECLARE
    any_results boolean;
BEGIN
    SELECT EXISTS (SELECT 1 FROM results) INTO any_results;
    INSERT INTO round_cells_since (since_us)
    VALUES (CASE WHEN any_results THEN (extract(epoch FROM now()) * 1000000)::bigint + 3600000000
                 ELSE -9223372036854775807 END)
    ON CONFLICT (one) DO NOTHING;
END
$$;
