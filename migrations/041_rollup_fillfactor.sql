-- 041_rollup_fillfactor: room on each page of the rollup tables that the
-- compaction updates in place, so that an update can stay on its row's page.
-- rollup_day, rollup_check_day, rollup_hour, rollup_check_hour and
-- check_hour_days rows are rewritten as their period fills (every compaction
-- pass for the current hour and day), and a histogram grows as it fills.
-- On full pages such an update moves the row to another page (not a HOT
-- update). The live rows of past days then lie scattered over many mostly
-- empty pages, and a 30-day report reads tens of thousands of blocks for a few MB of rows
-- (docs/PERFORMANCE.md, "Full size on a new machine": rollup_day held 93,000
-- rows of about 208 bytes in 662 MB). With 30 % of each page left free, the
-- generator's 6 days at 100 checks (bench/rollup_layout) made 96 % of rollup_day's updates HOT
-- (53 % before) at 732 bytes of table per row (4,064 before); check_hour_days
-- 92 % (63 %) at 2,670 (7,421). The setting applies to pages written from now
-- on; an existing table keeps its layout until it is rewritten (VACUUM FULL,
-- or pg_repack without a lock).
ALTER TABLE rollup_day SET (fillfactor = 70);
ALTER TABLE rollup_check_day SET (fillfactor = 70);
ALTER TABLE rollup_hour SET (fillfactor = 70);
ALTER TABLE rollup_check_hour SET (fillfactor = 70);
ALTER TABLE check_hour_days SET (fillfactor = 70);
