-- 012_scheduled_at: the round each result is (docs/ANALYTICS.md "Rounds").
-- The probe fires a check on a grid k * interval + spread in wall-clock time
-- (spread = fnv1a(check name) % interval), the same grid on every probe, and
-- sends the grid point it fired for as Result.scheduled_at_us. Stored here so
-- a round is the same instant for every region and can be recomputed from raw
-- results. NULL for results of older probes (the round then comes from
-- started_at).
ALTER TABLE results ADD COLUMN IF NOT EXISTS scheduled_at timestamptz;
