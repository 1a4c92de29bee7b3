-- 019_maintenance: maintenance windows added at run time (`picketctl
-- maintenance add`; docs/ANALYTICS.md, "Maintenance"). Windows from the
-- collector's --maintenance file are not stored: the file is read at start.
-- kind: 0 one-off [start_us, end_us); 1 weekly (schedule "mon-fri 02:00");
-- 2 cron (schedule "0 3 * * 0"); recurring ones last duration_us each time, in
-- force from start_us until end_us (0: no bound), local times in tz ('' = UTC).
-- targets (one per line): check name globs, 'service:NAME', 'label:KEY=VALUE'. ended_us > 0:
-- ended early by `picketctl maintenance end` (rows are kept: history still
-- needs them). Safe to run again.

CREATE TABLE IF NOT EXISTS maintenance_windows (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    kind        smallint NOT NULL CHECK (kind IN (0, 1, 2)),
    start_us    bigint NOT NULL DEFAULT 0,
    end_us      bigint NOT NULL DEFAULT 0,
    schedule    text NOT NULL DEFAULT '',
    duration_us bigint NOT NULL DEFAULT 0,
    tz          text NOT NULL DEFAULT '',
    targets     text NOT NULL, -- one per line
    reason      text NOT NULL DEFAULT '',
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    ended_us    bigint NOT NULL DEFAULT 0
);

-- depends_on (docs/CHECKS.md): the check names and service:NAME entries a check
-- depends on, joined by ','; NULL when none. In checks (what Register or the
-- central assignment says) and in check_version_checks (a version's own).
ALTER TABLE checks ADD COLUMN IF NOT EXISTS depends_on text;
ALTER TABLE check_version_checks ADD COLUMN IF NOT EXISTS depends_on text;
