-- 003_assignment: central check assignment (issue 5). `picketctl apply` stores a
-- new version of the whole check set; the newest version is the current one.
-- Runs inside one transaction opened by store_migrate: no BEGIN/COMMIT here.

CREATE TABLE check_versions (
    version    bigint PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    n_checks   int NOT NULL
);

-- One row per file given to apply: its vars:/secrets: blocks as written
-- (normalised flow YAML), resolved on each probe, never here.
CREATE TABLE check_version_files (
    version    bigint NOT NULL REFERENCES check_versions (version) ON DELETE CASCADE,
    file_index int NOT NULL,
    origin     text NOT NULL,
    vars       text,
    secrets    text,
    PRIMARY KEY (version, file_index)
);

CREATE TABLE check_version_checks (
    version     bigint NOT NULL,
    name        text NOT NULL,
    file_index  int NOT NULL,
    position    int NOT NULL,
    -- The check as written, normalised; what probes receive and compare.
    definition  text NOT NULL,
    -- {"key": "normalised value", ...} plus "vars"/"secrets" of its file: what diff compares.
    keys        jsonb NOT NULL,
    regions     text[] NOT NULL DEFAULT '{}',
    labels      jsonb NOT NULL DEFAULT '{}',
    type        text NOT NULL,
    target      text,
    interval_ms bigint NOT NULL,
    PRIMARY KEY (version, name),
    FOREIGN KEY (version, file_index) REFERENCES check_version_files (version, file_index) ON DELETE CASCADE
);

-- The version a probe last acknowledged running (0: its local files), or why it refused one.
ALTER TABLE probes ADD COLUMN checks_version bigint NOT NULL DEFAULT 0;
ALTER TABLE probes ADD COLUMN checks_error text;
