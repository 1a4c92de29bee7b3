-- 042_rollup_days_closed: rollup_day and rollup_check_day rows are written
-- once, when their UTC day has ended, instead of being updated by every
-- compaction pass while the day fills (collector/store/rollup_days.c).
-- A row updated some 2,880 times a day ends up on a page far from the rows of
-- its neighbours whatever the fillfactor: at full size (docs/PERFORMANCE.md,
-- "Full size on a new machine") rollup_day held 93,000 live rows of about
-- 208 bytes in 662 MB, and a 30-day report read 85,000 blocks of it. Written
-- once, a day's rows lie side by side in the order they were written.
--
-- The 'days' watermark is the end of the closed days: day rows before it are
-- whole (late results still merge into them), day rows at or after it are not
-- read: a reader takes those days from rollup_hour. Every day the compaction
-- has passed is whole already here (it kept them up to date), so the mark
-- starts at the day of the compaction's watermark.
INSERT INTO rollup_watermark (name, upto)
SELECT 'days', date_trunc('day', upto AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
FROM rollup_watermark WHERE name = 'compact'
ON CONFLICT (name) DO NOTHING;
