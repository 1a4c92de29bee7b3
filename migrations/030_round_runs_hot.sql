-- 030_round_runs_hot: the tracker extends a check's last run in place.
-- (docs/ANALYTICS.md, "The tracker"). Each round that keeps a check's state
-- moves the last run's to_round one round on. That used to be a delete and an
-- insert of the run, leaving a dead row per check and scope every round
-- (13.7 M dead rows for 227 k live ones after 5 days of 1,000 checks). It is
-- now an UPDATE of to_round (and state, regions), and an UPDATE that changes
-- no indexed column is a HOT update: the new row goes on the same page and the
-- old one is pruned without vacuum. So to_round has no index any more; runs of
-- one (check, scope) never overlap, so readers find the runs that reach round k
-- by the primary key, from the last run that starts at or before k
-- (ST_RUNS_REACHING in collector/store/store_int.h). The free space left on
-- each page keeps room for the updated rows.
DROP INDEX IF EXISTS round_runs_check_to_idx;
ALTER TABLE round_runs SET (fillfactor = 80);
