/* incident_counts.c: per check and scope, how many incidents the tracker stored
 * and whether one is open (store_incident_counts, collector/incident_metrics.h),
 * for /metrics. One grouped read of the incidents table; writes nothing. */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "incident_metrics.h"

#define CNT_COL(field, name, type) STORE_COL(struct store_incident_count, field, name, type)
static const struct store_col count_cols[] = {
    CNT_COL(check_name, "check_name", STORE_COL_TEXT),
    CNT_COL(scope, "scope", STORE_COL_TEXT),
    CNT_COL(total, "total", STORE_COL_I64),
    CNT_COL(open, "open", STORE_COL_INT),
};

int store_incident_counts(struct store *s, struct store_incident_count **out, size_t *n, char *err, size_t errlen)
{
    struct store_query q = {
        .sql = "SELECT c.name AS check_name, i.scope, count(*) AS total, "
               "(count(*) FILTER (WHERE i.end_us IS NULL) > 0)::int AS open "
               "FROM incidents i JOIN checks c ON c.id = i.check_id "
               "GROUP BY c.name, i.scope ORDER BY c.name COLLATE \"C\", i.scope COLLATE \"C\"",
        .nparams = 0,
        .params = NULL,
        .what_run = "incident counts: reading",
        .what_read = "incident counts",
        .cols = count_cols,
        .ncols = STORE_NCOLS(count_cols),
        .row_size = sizeof **out,
    };
    return store_query_rows(s, &q, (void **)out, n, err, errlen);
}
