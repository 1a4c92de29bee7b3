-- 037_round_run_totals_fill: running totals (migration 029) for the runs that
-- still have none. Migration 029 filled the runs stored then, except on Citus,
-- where the tracker wrote runs without totals until it learnt to write them
-- there too (collector/store/tracker.c, write_runs); a run written by an older
-- collector during an upgrade has none either. Readers sum such runs (slower,
-- same answer). Here every (check, scope) with a run whose totals are NULL gets
-- its whole chain of totals recomputed from its runs; the others are not
-- touched. On Citus both sides are distributed by check_id and joined on it,
-- so the statement runs inside each shard.
UPDATE round_runs r
SET up_before = t.ub, down_before = t.db
FROM (SELECT check_id, scope, from_round,
             coalesce(sum(CASE WHEN state = 1 THEN to_round - from_round + 1 ELSE 0 END) OVER w, 0) AS ub,
             coalesce(sum(CASE WHEN state = 2 THEN to_round - from_round + 1 ELSE 0 END) OVER w, 0) AS db
      FROM round_runs x
      WHERE EXISTS (SELECT 1 FROM round_runs n WHERE n.check_id = x.check_id AND n.scope = x.scope
                    AND n.up_before IS NULL)
      WINDOW w AS (PARTITION BY check_id, scope ORDER BY from_round
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) t
WHERE r.check_id = t.check_id AND r.scope = t.scope AND r.from_round = t.from_round
  AND (r.up_before IS DISTINCT FROM t.ub OR r.down_before IS DISTINCT FROM t.db);
