/* rpc_baseline.h: the report's baseline column (BaselineState), latency and the
 * check's extracted metrics, by pk_regression_judge (docs/ANALYTICS.md,
 * "Baselines and regressions"). */
#ifndef PK_RPC_BASELINE_H
#define PK_RPC_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "picket/v1/picket.pb-c.h"
#include "rpc_query.h"

/* Hourly p95 of the 28 days before the last 24 hours to until_us learn; the last
 * 24 are judged. with_metrics: also every extracted metric (reads raw results:
 * for a report of one check). The answer is in arena a; NULL with err when the
 * store failed or memory ran out. */
Picket__V1__BaselineState *rpc_baseline_state(struct store *store, struct rpc_query_arena *a,
                                              const struct store_check_meta *m, const char *region, int64_t until_us,
                                              int with_metrics, char *err, size_t errlen);

#endif
