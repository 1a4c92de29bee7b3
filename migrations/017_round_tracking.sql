-- 017_round_tracking: round states and incidents kept as results arrive
-- (docs/ANALYTICS.md, "Rounds", "Incidents as results arrive", "The tracker").
-- The collector's tracker folds each committed batch into these tables, one
-- check at a time under a per-check advisory lock, so a restarted or second
-- collector continues from what is stored. Rounds are round indexes k of the
-- check's own grid (start = k * interval + spread). Runs inside store_migrate's
-- transaction.

-- Compact runs of one round state per check and scope. scope is a region name,
-- or '*' for the global state (decided by quorum over the regions). state:
-- 1 up, 2 down (0 no data is never stored; 3 is reserved for maintenance).
-- regions: for global down runs, the regions down in them.
CREATE TABLE IF NOT EXISTS round_runs (
    check_id   bigint NOT NULL,
    scope      text NOT NULL,
    from_round bigint NOT NULL,
    to_round   bigint NOT NULL,
    state      smallint NOT NULL,
    regions    text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (check_id, scope, from_round)
);
CREATE INDEX IF NOT EXISTS round_runs_check_to_idx ON round_runs (check_id, scope, to_round);

-- Incidents by the open-after-N / close-after-M rule, per check and scope, with
-- the rule they were made by. Rounds: start (first down round), opened (the
-- N-th down round), end_round (first of the M up rounds), closed (the M-th);
-- end_round and closed are NULL while open. *_us are those rounds' start times.
-- first_seen/closed_seen: when this collector first stored it open/closed (wall
-- clock; a late region makes them later than the rounds say). maintenance: set
-- when the incident falls in a maintenance window (never set by the tracker).
CREATE TABLE IF NOT EXISTS incidents (
    check_id      bigint NOT NULL,
    scope         text NOT NULL,
    start_round   bigint NOT NULL,
    opened_round  bigint NOT NULL,
    end_round     bigint,
    closed_round  bigint,
    start_us      bigint NOT NULL,
    opened_us     bigint NOT NULL,
    end_us        bigint,
    closed_us     bigint,
    interval_us   bigint NOT NULL,
    down_rounds   bigint NOT NULL,
    regions       text[] NOT NULL DEFAULT '{}',
    open_after    int NOT NULL,
    close_after   int NOT NULL,
    quorum        int NOT NULL,
    maintenance   boolean NOT NULL DEFAULT false,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    closed_seen   timestamptz,
    PRIMARY KEY (check_id, scope, start_round)
);
CREATE INDEX IF NOT EXISTS incidents_start_idx ON incidents (start_us);
CREATE INDEX IF NOT EXISTS incidents_open_idx ON incidents (check_id, scope) WHERE closed_round IS NULL;

-- Per check: the rule in use and the global rounds not decided yet (waiting
-- for a region until their deadline), so a deadline pass, a restart or another
-- collector decides them.
CREATE TABLE IF NOT EXISTS round_trackers (
    check_id         bigint PRIMARY KEY,
    interval_us      bigint NOT NULL,
    spread_us        bigint NOT NULL,
    open_after       int NOT NULL,
    close_after      int NOT NULL,
    quorum           int NOT NULL,
    pending_from     bigint,
    pending_to       bigint,
    pending_due_us   bigint,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS round_trackers_due_idx ON round_trackers (pending_due_us) WHERE pending_due_us IS NOT NULL;
