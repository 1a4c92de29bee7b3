/* rpc_trend.h: a check's trend figures for QueryService (rpc_trend.c). */
#ifndef PK_RPC_TREND_H
#define PK_RPC_TREND_H

#include <stddef.h>
#include <stdint.h>

#include "picket/v1/picket.pb-c.h"
#include "rpc_query.h"

/* Hourly p95 and error rate of check m over [since, until) (region NULL: all),
 * each through Theil–Sen at 95 %, in arena a. NULL with err when the store
 * failed or memory ran out. */
Picket__V1__CheckTrend *rpc_trend_of(struct store *store, struct rpc_query_arena *a, const struct store_check_meta *m,
                                     int64_t since_us, int64_t until_us, const char *region, char *err, size_t errlen);

#endif
