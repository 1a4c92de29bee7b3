/* rpc_backtest.h: QueryService's back-testing calls (Regressions, SloBacktest;
 * docs/ANALYTICS.md, "Back-testing"): every alarm the live baseline and SLO
 * burn-rate rules would have raised over a stored period, computed by the same
 * functions the alert thread calls (pk_regression_judge, pk_slo_eval). */
#ifndef PK_RPC_BACKTEST_H
#define PK_RPC_BACKTEST_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "rpc_query.h"

/* The longest window a back-test replays. */
#define RPC_BACKTEST_MAX_US (INT64_C(31) * 86400 * 1000000)

/* kind is RQ_REGRESSIONS or RQ_SLO_BACKTEST, req its request. 0 with *resp (in
 * the scope's arena); -1 with err (*invalid set when it is the caller's fault). */
int rpc_backtest_run(const struct rpc_query_scope *s, enum rpc_query_kind kind, const ProtobufCMessage *req,
                     ProtobufCMessage **resp, char *err, size_t errlen, int *invalid);

#endif
