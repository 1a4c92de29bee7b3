-- 007_alerts: alert state and the notification outbox (docs/ALERTS.md).
-- Runs inside store_migrate's transaction.

-- One row per (rule, subject): subject is the check's name (incident, budget,
-- baseline, SLO rules) or the probe's name (silent probe, spool drops).
CREATE TABLE alert_state (
    rule          text NOT NULL,
    subject       text NOT NULL,
    firing        boolean NOT NULL,
    since         timestamptz NOT NULL,          -- start of the current firing/resolved state
    last_change   timestamptz NOT NULL,          -- when the state last flipped
    flips         int NOT NULL DEFAULT 0,        -- flips since flap_window_start
    flap_window_start timestamptz NOT NULL DEFAULT now(),
    flapping      boolean NOT NULL DEFAULT false,
    last_notified timestamptz,                   -- last firing notification (repeat_interval)
    notified_firing boolean NOT NULL DEFAULT false, -- receivers were told it fires
    value         double precision,              -- rule-specific memory (spool drops: last total)
    summary       text,
    PRIMARY KEY (rule, subject)
);

-- One row per (receiver, event): the unique key makes enqueueing idempotent, so
-- an evaluation repeated after a restart never enqueues the same event twice.
CREATE TABLE alert_outbox (
    id           bigserial PRIMARY KEY,
    receiver     text NOT NULL,
    event_key    text NOT NULL,
    group_key    text NOT NULL DEFAULT '',       -- rows of one receiver and group are sent in one POST
    payload      jsonb NOT NULL,                 -- the event as its receiver wants it (one alert)
    created_at   timestamptz NOT NULL DEFAULT now(),
    attempts     int NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    last_error   text,
    UNIQUE (receiver, event_key)
);
CREATE INDEX alert_outbox_due_idx ON alert_outbox (next_attempt) WHERE delivered_at IS NULL;
