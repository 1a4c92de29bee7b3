/* round_outcomes.c: store_round_outcomes (store_round_outcomes.h), the raw
 * read behind the SLO's exact maintenance edges. Reads only the check's results
 * in the asked range through the (check_id, started_at) index, the check's id
 * taken once as a constant so each partition is searched by it; the range is a
 * minute or two per window edge, never a long window. */
#include <stdio.h>

#include "store_int.h"

#include "pk_error.h"
#include "store_round_outcomes.h"

#define RO_COL(field, name, type) STORE_COL(struct store_round_outcome, field, name, type)
static const struct store_col round_outcome_cols[] = {
    RO_COL(minute_us, "minute_us", STORE_COL_I64), RO_COL(region, "region", STORE_COL_TEXT),
    RO_COL(round_us, "round_us", STORE_COL_I64),
    RO_COL(outcome, "outcome", STORE_COL_INT), RO_COL(count, "n", STORE_COL_U64),
};

int store_round_outcomes(struct store *s, const char *check, const char *region, int64_t from_us, int64_t to_us,
                         struct store_round_outcome **rows, size_t *n, char *err, size_t errlen)
{
    char from[40], to[40];
    *rows = NULL;
    *n = 0;
    if (st_format_timestamp(from, sizeof from, from_us) < 0 || st_format_timestamp(to, sizeof to, to_us) < 0)
        return pk_fail(err, errlen, "check '%s': round outcomes: time out of range", check);
    const char *params[] = {check, region, from, to};
    const struct store_query q = {
        "SELECT (floor(extract(epoch FROM r.started_at) / 60) * 60000000)::bigint AS minute_us, p.region, "
        "(extract(epoch FROM coalesce(r.scheduled_at, r.started_at)) * 1000000)::bigint AS round_us, "
        "r.outcome::int AS outcome, count(*) AS n FROM results r JOIN probes p ON p.id = r.probe_id "
        "WHERE r.check_id = (SELECT id FROM checks WHERE name = $1) "
        "AND r.started_at >= $3::timestamptz AND r.started_at < $4::timestamptz "
        "AND ($2::text IS NULL OR p.region = $2) "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        4, params, "reading round outcomes", "round outcomes", round_outcome_cols, STORE_NCOLS(round_outcome_cols),
        sizeof **rows};
    return store_query_rows(s, &q, (void **)rows, n, err, errlen);
}
