-- 016_probe_check_history: every (probe, check, type) a probe has ever been
-- registered or assigned. The collector accepts a result only for a check in
-- its probe's history, with a type it had there (docs/SECURITY.md): probe B
-- cannot write probe A's check, nor change a check's type for everyone. History
-- rather than probe_checks, so that results a probe still holds of a check it no
-- longer runs (a spool from before a restart with new files, a run in flight when
-- a new checks version arrived) are still accepted and the probe never wedges.
-- Rows are added by a trigger on probe_checks, whichever path writes it
-- (Register, a CheckSet ack); they go with the probe or the check. Safe to run
-- again (test_store_rollups re-applies every migration from 010 on).

CREATE TABLE IF NOT EXISTS probe_check_history (
    probe_id   bigint NOT NULL REFERENCES probes (id) ON DELETE CASCADE,
    check_id   bigint NOT NULL REFERENCES checks (id) ON DELETE CASCADE,
    type       text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (probe_id, check_id, type)
);

CREATE OR REPLACE FUNCTION probe_check_history_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO probe_check_history (probe_id, check_id, type)
    SELECT NEW.probe_id, NEW.check_id, c.type FROM checks c WHERE c.id = NEW.check_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS probe_checks_history ON probe_checks;
CREATE TRIGGER probe_checks_history AFTER INSERT OR UPDATE ON probe_checks
    FOR EACH ROW EXECUTE FUNCTION probe_check_history_add();

-- What probes run now, and what they sent in the last week (results of a check
-- already dropped from probe_checks may still sit in a probe's spool).
INSERT INTO probe_check_history (probe_id, check_id, type)
SELECT pc.probe_id, pc.check_id, c.type FROM probe_checks pc JOIN checks c ON c.id = pc.check_id
ON CONFLICT DO NOTHING;
INSERT INTO probe_check_history (probe_id, check_id, type)
SELECT DISTINCT r.probe_id, r.check_id, c.type FROM results r JOIN checks c ON c.id = r.check_id
WHERE r.started_at > now() - interval '7 days' AND EXISTS (SELECT 1 FROM probes p WHERE p.id = r.probe_id)
ON CONFLICT DO NOTHING;
