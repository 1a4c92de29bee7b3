/* rpc_query.h: the analytics half of QueryService (Availability, Latency, Trend,
 * Incidents, Slo, Report; docs/ANALYTICS.md, "Query API and CLI"). Runs on the
 * control thread with its store; reads rollups only (store_rollup_query) and
 * computes every figure with common/analytics.h. No gRPC here: rpc_query_service.c
 * decodes the request, calls rpc_query_run and sends the answer. */
#ifndef PK_RPC_QUERY_H
#define PK_RPC_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "store.h"

enum rpc_query_kind { RQ_AVAILABILITY, RQ_LATENCY, RQ_TREND, RQ_INCIDENTS, RQ_SLO, RQ_REPORT, RQ_REGRESSIONS,
                      RQ_SLO_BACKTEST };

/* Everything an answer points to; freed in one call. */
struct rpc_query_arena;

/* Answers req (of the kind's request type) at now_us. 0 with *resp (owned by
 * *arena); -1 with err when the store failed; -2 with err when the request is
 * invalid (an empty window, a bad quantile, a quorum above the known regions);
 * -3 with err when it names a check, service, region or SLO not known. *arena is set in every case and must be freed with
 * rpc_query_arena_free. */
int rpc_query_run(struct store *s, enum rpc_query_kind kind, const ProtobufCMessage *req, int64_t now_us,
                  ProtobufCMessage **resp, struct rpc_query_arena **arena, char *err, size_t errlen);
void rpc_query_arena_free(struct rpc_query_arena *a);

/* What a call's window and filters resolved to, for the calls computed beside
 * rpc_query.c (rpc_backtest.c). Everything is borrowed for the call. */
struct rpc_query_scope {
    struct store *store;
    struct rpc_query_arena *a;
    int64_t now_us, since_us, until_us; /* whole minutes */
    const char *region;                 /* NULL: every region */
    const struct store_check_meta **checks;
    size_t n_checks;
};
/* Zeroed memory owned by the arena (freed with it); NULL when out of memory. */
void *rpc_query_alloc(struct rpc_query_arena *a, size_t size);

struct slo_config;
/* The group SLOs (--slos) that Slo and Report answer; NULL: none. Call once
 * before any thread runs a query; cfg is borrowed and must outlive them. */
void rpc_query_set_slo_groups(const struct slo_config *cfg);

#endif
