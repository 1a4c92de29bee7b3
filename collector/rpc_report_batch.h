/* rpc_report_batch.h: the report's trend and baseline columns for every check
 * of the answer at once (rpc_report_batch.c). */
#ifndef PK_RPC_REPORT_BATCH_H
#define PK_RPC_REPORT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "picket/v1/picket.pb-c.h"
#include "rpc_query.h"

/* For checks[0..n): trends[i] (rpc_trend_of over [since, until)) and
 * baselines[i] (rpc_baseline_state ending at until, without metrics), the same
 * figures as the per-check functions, read in one rollup query per kind and
 * chunk of checks (a chunk is as many checks as keep the merged rows of one read
 * near RPC_BATCH_ROWS). baselines NULL: the trends only. 0, or -1 with err. */
int rpc_report_batch(struct store *store, struct rpc_query_arena *a, const struct store_check_meta *const *checks, size_t n,
                     int64_t since_us, int64_t until_us, const char *region, Picket__V1__CheckTrend **trends,
                     Picket__V1__BaselineState **baselines, char *err, size_t errlen);

/* The hour summaries of checks[0..n) in one region over [since, until) (whole
 * hours): what store_check_hours_read gives over every probe, from the
 * rollups (hourly, p95_only, by check) in chunks of checks; sorted by check
 * index, then hour. *out malloc'd. 0, or -1 with err. */
int rpc_region_hours_read(struct store *store, const char *const *checks, size_t n, const char *region,
                          int64_t since_us, int64_t until_us, struct store_check_hour **out, size_t *nout, char *err,
                          size_t errlen);

struct report_window;
/* The same for a window read by report_window_load (rpc_report_window.h): when
 * it was read in parts, the trends' clipped points come from it and only their
 * whole points are read (hourly ones over all regions from the baselines' hour
 * summaries); w NULL or not split: rpc_report_batch. */
int rpc_report_batch_window(struct store *store, struct rpc_query_arena *a,
                            const struct store_check_meta *const *checks, size_t n, int64_t since_us,
                            int64_t until_us, const char *region, const struct report_window *w,
                            Picket__V1__CheckTrend **trends, Picket__V1__BaselineState **baselines, char *err,
                            size_t errlen);

#endif
