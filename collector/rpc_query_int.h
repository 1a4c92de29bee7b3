/* rpc_query_int.h: private to QueryService's analytics calls (rpc_query.c, the
 * calls; rpc_query_slo.c, the SLOs of checks and of groups): one request's
 * context and its failures. Never includes gRPC or libpq. */
#ifndef PK_RPC_QUERY_INT_H
#define PK_RPC_QUERY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "maint_apply.h"
#include "picket/v1/picket.pb-c.h"
#include "store.h"

/* One request: its window, the checks its filters select, the answer's arena. */
struct ctx {
    struct store *store;
    struct rpc_query_arena *a;
    int64_t now_us, since_us, until_us;
    int since_given;
    const char *region; /* NULL: every region */
    struct store_check_meta *meta;
    size_t n_meta;
    const struct store_check_meta **checks; /* the checks the filters select */
    size_t n_checks;
    char *err;
    size_t errlen;
    int invalid; /* err is the caller's fault: 1 invalid, 2 names something not known */
    int check_named; /* the window names one check (--check) */
    struct maint_window *maint; /* maintenance windows (maint_apply.h); freed with meta */
    size_t n_maint;
};


/* err is the caller's fault (c->invalid 1): -1. */
int rq_fail_invalid(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A named thing (check, service, region, SLO) the collector does not know (c->invalid 2): -1. */
int rq_fail_not_found(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One check's SLO over the request's window (rpc_query_slo.c): NULL when it has
 * none, or with c->err set on failure. */
Picket__V1__CheckSlo *rq_slo_of(struct ctx *c, const struct store_check_meta *m);
/* The --slos file's groups with a member among the selected checks (only: that
 * group alone, NULL: all), sorted by name. 0, or -1 with c->err. */
int rq_group_slos(struct ctx *c, const char *only, Picket__V1__GroupSlo ***out, size_t *n);

#endif
