-- 013_rollup_check_time: readers ask for one check over a window. The primary
-- keys are (check_id, probe_id, time): with the probe unconstrained, a scan by
-- check bounded by time walks the check's whole history in the key. These
-- indexes make a read of one check's window cost what the window holds,
-- however much older history is stored (docs/ANALYTICS.md, "Reading").
CREATE INDEX IF NOT EXISTS rollup_minute_check_minute_idx ON rollup_minute (check_id, minute);
CREATE INDEX IF NOT EXISTS rollup_hour_check_hour_idx ON rollup_hour (check_id, hour);
