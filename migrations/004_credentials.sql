-- 004_credentials: bearer tokens issued to probes (picketctl probe add) and to
-- operators (picket-collector token add). Only a token's SHA-256 is stored: the
-- token itself is printed once and never kept. Certificates need no rows here
-- (their identity is the verified CN). Runs inside store_migrate's transaction.

CREATE TABLE credentials (
    id           bigserial PRIMARY KEY,
    role         text NOT NULL CHECK (role IN ('probe', 'read', 'write')),
    -- Who holds it: the probe's name for role probe, a person or tool otherwise.
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 127),
    -- The probe this credential may act as (role probe only).
    probe_name   text CHECK ((role = 'probe') = (probe_name IS NOT NULL)),
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
-- picketctl probe revoke NAME finds a probe's live credentials by name.
CREATE INDEX credentials_role_name_idx ON credentials (role, name) WHERE revoked_at IS NULL;
