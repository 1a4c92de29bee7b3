-- 023_check_labels: a check's own labels (`labels:` in its file, docs/CHECKS.md),
-- for the dashboard's label filter (docs/DASHBOARD.md). Text: "key=value" lines
-- sorted by key, NULL when none; the same from Register (CheckInfo.labels) and
-- from an applied version (check_labels beside the selector's labels).
-- Runs inside store_migrate's transaction.

ALTER TABLE checks ADD COLUMN IF NOT EXISTS labels text;
ALTER TABLE check_version_checks ADD COLUMN IF NOT EXISTS check_labels text;
