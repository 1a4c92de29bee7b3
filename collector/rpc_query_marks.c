/* rpc_query_marks.c: maintenance and caused_by marks on the incidents of an
 * answer (rpc_query_marks.h). Strings live in the answer's arena. */
#include "rpc_query_marks.h"

#include "incident_deps.h"
#include "maint_apply.h"

int rpc_mark_maintenance(struct rpc_query_arena *a, const struct maint_window *w, size_t n_w,
                         const struct store_check_meta *m, Picket__V1__CheckIncidents *ci,
                         const struct pk_incident *raw, size_t n_raw)
{
    for (size_t i = 0; i < n_raw && i < ci->n_incidents; i++) {
        const char *window = NULL;
        if (!maint_incident_in_window(w, n_w, m, raw[i].start_us, &window))
            continue;
        ci->incidents[i]->maintenance = 1;
        if (!(ci->incidents[i]->maintenance_window = rstrdup(a, window)))
            return -1;
    }
    return 0;
}

int rpc_mark_causes(struct rpc_query_arena *a, const struct store_check_meta *const *checks, size_t n,
                    Picket__V1__CheckIncidents *const *ci, struct pk_incident *const *raw, const size_t *n_raw)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n_raw[i] && k < ci[i]->n_incidents; k++) {
            const char *root = incident_deps_root(checks, n, raw, n_raw, i, raw[i][k].start_us);
            if (root && !(ci[i]->incidents[k]->caused_by = rstrdup(a, root)))
                return -1;
        }
    return 0;
}
