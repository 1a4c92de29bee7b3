/* rpc_query_marks.h: the marks an incidents answer carries besides the
 * incidents themselves (docs/ANALYTICS.md, "Maintenance" and "Dependencies"):
 * started inside a maintenance window (maint_apply.h), caused by a dependency's
 * open incident (incident_deps.h). Kept out of rpc_query.c so the readers call
 * one function each. */
#ifndef PK_RPC_QUERY_MARKS_H
#define PK_RPC_QUERY_MARKS_H

#include <stddef.h>

#include "analytics.h"
#include "maint.h"
#include "picket/v1/picket.pb-c.h"
#include "rpc_query_arena.h"
#include "store.h"

/* Sets maintenance and maintenance_window of ci's incidents (raw: the same
 * incidents, in order). 0, or -1 when out of memory. */
int rpc_mark_maintenance(struct rpc_query_arena *a, const struct maint_window *w, size_t n_w,
                         const struct store_check_meta *m, Picket__V1__CheckIncidents *ci,
                         const struct pk_incident *raw, size_t n_raw);
/* Sets caused_by of every check's incidents (ci[i] and raw[i] for checks[i]). 0, or -1 (out of memory). */
int rpc_mark_causes(struct rpc_query_arena *a, const struct store_check_meta *const *checks, size_t n,
                    Picket__V1__CheckIncidents *const *ci, struct pk_incident *const *raw, const size_t *n_raw);

#endif
