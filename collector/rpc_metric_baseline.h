/* rpc_metric_baseline.h: the baseline rule (pk_regression_judge) on the numeric
 * metrics a check extracts, for the report's BaselineState.metrics. */
#ifndef PK_RPC_METRIC_BASELINE_H
#define PK_RPC_METRIC_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "picket/v1/picket.pb-c.h"
#include "rpc_query.h"

/* Hourly medians of check's metrics over [split - history_us, split + recent_us):
 * the hours before split learn, the rest are judged, both directions deviant.
 * Hours whose start is in excluded_hours[0..n_excluded) are left out of learning.
 * Fills bs->metrics (in the arena). 0, or -1 with err. */
int rpc_metric_baselines(struct store *s, struct rpc_query_arena *a, const char *check, const char *region,
                         int64_t split, int64_t history_us, int64_t recent_us, const int64_t *excluded_hours,
                         size_t n_excluded, Picket__V1__BaselineState *bs, char *err, size_t errlen);

#endif
