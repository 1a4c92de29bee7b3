-- 031_round_trackers_hot: the tracker's per-check row is updated in place.
-- (docs/ANALYTICS.md, "The tracker"). A fold that leaves global rounds waiting
-- for a region, or decides them, rewrites the check's round_trackers row with
-- its pending rounds and their deadline. The partial index on the deadline
-- (pending_due_us) made every such update a new row version with new index
-- entries, and a dead row for vacuum, several times a second per busy check.
-- Without it the update changes no indexed column and is HOT, like the last
-- run's in round_runs (migration 030). The deadline pass twice a second reads
-- the table whole: one row per check, a few pages per thousand checks.
DROP INDEX IF EXISTS round_trackers_due_idx;
ALTER TABLE round_trackers SET (fillfactor = 80);
