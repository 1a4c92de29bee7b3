/* rpc_warm.h: one report at start (rpc_warm.c), so that the first report
 * after a restart finds the baselines' summaries and verdicts in memory. */
#ifndef PK_RPC_WARM_H
#define PK_RPC_WARM_H

#include <stdint.h>

/* Starts a thread that, on a connection of its own, has the reports' tables
 * read ahead (up to prefetch_limit_bytes, 0: none; store_prefetch), runs the
 * default report (every check, the last 24 hours) once and drops the answer,
 * then the other windows and regions (rpc_warm.c), then ends. Failing only
 * logs: the first report then does that work itself. */
void rpc_warm_start(const char *conninfo, int64_t prefetch_limit_bytes);

/* Joins the thread (no-op when not started); a report not begun yet is
 * skipped. */
void rpc_warm_stop(void);

#endif
