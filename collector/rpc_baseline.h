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

/* The rollup read of the baseline ending at until_us (region NULL: all), for
 * every check: the caller sets check or checks. Hourly, p95_only. */
void rpc_baseline_filter(int64_t until_us, const char *region, struct store_rollup_filter *f);

/* The baseline of check m from its rows of that read (bucket order); the store
 * is read only with_metrics. In arena a; NULL with err. */
Picket__V1__BaselineState *rpc_baseline_from_rows(struct store *store, struct rpc_query_arena *a,
                                                  const struct store_check_meta *m, const char *region,
                                                  int64_t until_us, int with_metrics,
                                                  const struct store_rollup_row *rows, size_t n, char *err,
                                                  size_t errlen);

/* The same (without metrics) from the check's hour summaries over the
 * rpc_baseline_filter span (region NULL: store_check_hours_read, else
 * rpc_region_hours_read): the same figures as from its rows, with no
 * histogram to decode. */
Picket__V1__BaselineState *rpc_baseline_from_hours(struct store *store, struct rpc_query_arena *a,
                                                   const struct store_check_meta *m, const char *region,
                                                   int64_t until_us, const struct store_check_hour *h, size_t n,
                                                   char *err, size_t errlen);

/* Verdicts of rpc_baseline_from_hours taken from memory (the same inputs as
 * the check's (and region's) last report: hours, p95s and exclusions compared whole) and
 * judged, since the start (tests). */
void rpc_baseline_memo_counts(uint64_t *hits, uint64_t *misses);
/* Forgets every remembered verdict (tests). */
void rpc_baseline_memo_clear(void);

#endif
