-- 001_init: probes, checks, which probe runs which check, and raw results.
-- Runs inside one transaction opened by store_migrate (which also owns the
-- picket_schema table): no BEGIN/COMMIT here.

CREATE TABLE probes (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    region          text NOT NULL,
    labels          jsonb NOT NULL DEFAULT '{}',
    version         text,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    -- Highest result seq stored for this probe: the exactly-once high-water mark,
    -- read under a row lock and raised in the transaction that stores the results.
    committed_seq   bigint NOT NULL DEFAULT 0,
    -- Results the probe reports having dropped from its spool (disk cap).
    dropped_results bigint NOT NULL DEFAULT 0
);

CREATE TABLE checks (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    type        text NOT NULL,
    target      text,
    interval_ms bigint,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE probe_checks (
    probe_id   bigint NOT NULL REFERENCES probes (id) ON DELETE CASCADE,
    check_id   bigint NOT NULL REFERENCES checks (id) ON DELETE CASCADE,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (probe_id, check_id)
);
-- "How many probes run this check" (status) must not scan the whole table.
CREATE INDEX probe_checks_check_id_idx ON probe_checks (check_id);

-- No foreign keys and no unique (probe_id, seq): both would cost on every COPYed
-- row, and dedup is done by probes.committed_seq. A unique index would also have to
-- include the partition key once results are partitioned by time.
CREATE TABLE results (
    probe_id    bigint NOT NULL,
    seq         bigint NOT NULL,
    check_id    bigint NOT NULL,
    started_at  timestamptz NOT NULL,
    outcome     smallint NOT NULL,
    error_class smallint NOT NULL,
    status_code int,
    body_bytes  bigint,
    -- Phase durations in microseconds; NULL when the phase did not happen.
    dns_us      bigint,
    connect_us  bigint,
    tls_us      bigint,
    ttfb_us     bigint,
    total_us    bigint,
    message     text,
    metrics     jsonb,
    received_at timestamptz DEFAULT now()
);
CREATE INDEX results_check_started_idx ON results (check_id, started_at);
CREATE INDEX results_probe_seq_idx ON results (probe_id, seq);
