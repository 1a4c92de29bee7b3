-- 011_packed_partials: partial rollups packed per (probe, minute)
-- (collector/rollup.h, docs/ANALYTICS.md "Storage and rollups"). The ingest
-- transaction wrote one partial row per (check, probe, minute) it touched: with
-- one result per check per minute that is one extra row per result, and ingest
-- ran at about half the speed of ingest without rollups. A packed row holds the
-- entries of every check of one probe in one minute (varints, merged in C), so
-- a batch writes one or two rows whatever its checks. Rows of the old shape are
-- packed by `picket-collector migrate` right after this file runs (store_pg.c,
-- pack_old_partials), which then drops rollup_partial_v1, in the same transaction.

ALTER TABLE rollup_partial RENAME TO rollup_partial_v1;
ALTER INDEX rollup_partial_minute_idx RENAME TO rollup_partial_v1_minute_idx;

CREATE TABLE rollup_partial (
    probe_id bigint NOT NULL,
    minute   timestamptz NOT NULL,
    entries  bytea NOT NULL
);
CREATE INDEX rollup_partial_minute_idx ON rollup_partial (minute);
-- A packed row of many checks is larger than PostgreSQL's 2 kB TOAST threshold;
-- varints hardly compress, and pglz was a tenth of the server's CPU in the worst
-- case: out of line, uncompressed.
ALTER TABLE rollup_partial ALTER COLUMN entries SET STORAGE EXTERNAL;
