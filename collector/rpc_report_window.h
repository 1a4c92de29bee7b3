/* rpc_report_window.h: the report's window read once for its latency columns
 * and its trend's clipped edges (rpc_report_window.c). */
#ifndef PK_RPC_REPORT_WINDOW_H
#define PK_RPC_REPORT_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "rpc_query_coarse.h"
#include "rpc_trend.h"

/* A check's clipped trend points: the part of the window before the trend's
 * first whole point and the part after its last. */
struct report_edge {
    char check_name[PK_NAME_MAX];
    int has_first, has_last; /* 0: no rows in that part */
    struct rpc_trend_point first, last;
};

struct report_window {
    struct coarse_rows cr;   /* one row per (check, region) over the whole window, as coarse_load */
    int split;               /* 1: read in parts; the edges and [inner_from, inner_to) hold */
    int64_t width_us;        /* the trend's point width (rpc_trend_point_width) */
    int64_t inner_from_us;   /* the trend's whole points: [inner_from, inner_to), on the width's UTC grid */
    int64_t inner_to_us;
    struct report_edge *edges; /* by check name (sorted), only checks with rows in an edge */
    size_t n_edges, cap_edges;
};

/* Reads [since, until) for every check (check NULL) or the one named, every
 * region or the one named: with parts, when the trend's points are an hour or wider and the
 * window holds at least one whole point, in three parts (before the first
 * whole point, the whole points, after the last), each one store_rollup_query
 * at the coarsest levels, summed per (check, region) into w->cr and, per check,
 * the two edge parts merged over the regions into trend points; else one read
 * (w->split 0, what coarse_load gives; also without parts: one check's
 * edges are a few rows, and one read costs fewer statements). Each part is
 * its own consistent read: the parts cover disjoint times. 0, or -1 with err. */
int report_window_load(struct store *s, int64_t since_us, int64_t until_us, const char *region, const char *check,
                       int parts, struct report_window *w, char *err, size_t errlen);

/* The edges of check (NULL: none). */
const struct report_edge *report_window_edge(const struct report_window *w, const char *check);

void report_window_free(struct report_window *w);

#endif
