-- 029_round_run_totals: running totals in round_runs (docs/ANALYTICS.md,
-- "Rounds"): up_before and down_before are the check's up and down rounds of
-- the same scope before the run's first round, so the rounds of any window are
-- two lookups per check and scope (the run holding the window's first round
-- and the one holding its end), not a sum over every run of the window
-- (1.35 M runs for 1,000 checks x 30 days). The tracker writes them with every
-- run it writes (a run's totals depend only on the runs before it, which the
-- tracker rewrites from the first one that changed anyway; a run that only
-- grows keeps them). NULL: not known (runs written before this migration on
-- Citus, or by an older collector during an upgrade): readers then sum the
-- runs as before. Runs already stored are filled by `picket-collector migrate`
-- right after this file runs (store/tracked_reads.c, st_fill_run_totals), in
-- the same transaction.
ALTER TABLE round_runs ADD COLUMN IF NOT EXISTS up_before bigint;
ALTER TABLE round_runs ADD COLUMN IF NOT EXISTS down_before bigint;
