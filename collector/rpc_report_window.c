/* rpc_report_window.c: the report's window read once. The latency columns need
 * one merge per (check, region) over the whole window; the trend needs its
 * points, the first and last of which are clipped by the window and so are
 * read at minute (and hour) resolution. Reading the window as the trend's
 * parts -- [since, first whole point), the whole points, [last whole point,
 * until) -- gives both from one pass over the edges: the parts summed per
 * (check, region) are the latency rows, and the edge parts merged over regions
 * are the trend's clipped points; the whole points are read without any edge
 * (rpc_report_batch.c). Before, the edges were read once for the latency and
 * once more per chunk of checks for the trend. Never includes gRPC or libpq. */
#include "rpc_report_window.h"

#include <stdlib.h>
#include <string.h>

#include "pk_error.h"
#include "rollup.h"

static int by_name_group(const struct store_rollup_row *a, const struct store_rollup_row *b)
{
    int c = strcmp(a->check_name, b->check_name);
    return c ? c : strcmp(a->group, b->group);
}

static void add_row(struct store_rollup_row *dst, const struct store_rollup_row *src)
{
    dst->ok += src->ok;
    dst->degraded += src->degraded;
    dst->failed += src->failed;
    dst->unknown += src->unknown;
    pk_hist_merge(&dst->hist, &src->hist);
}

/* acc (sorted by check, region) += part (sorted the same), labelled t; part's
 * rows may be taken (part->rows NULL then). In place when every key of part is
 * in acc (the parts of a window have the same (check, region) keys but for
 * checks without rows in a part): no copy of the histograms. */
static int sum_into(struct coarse_rows *acc, struct coarse_rows *p, int64_t t)
{
    const struct store_rollup_row *part = p->rows;
    size_t np = p->n;
    if (acc->n == 0) {
        coarse_free(acc);
        *acc = *p;
        p->rows = NULL;
        p->n = 0;
        for (size_t i = 0; i < acc->n; i++)
            acc->rows[i].bucket_start_us = t;
        return 0;
    }
    size_t i = 0, j = 0;
    while (j < np) { /* every key of part in acc? */
        while (i < acc->n && by_name_group(&acc->rows[i], &part[j]) < 0)
            i++;
        if (i == acc->n || by_name_group(&acc->rows[i], &part[j]) != 0)
            break;
        j++;
    }
    if (j == np) {
        for (i = 0, j = 0; j < np; j++) {
            while (by_name_group(&acc->rows[i], &part[j]) < 0)
                i++;
            add_row(&acc->rows[i], &part[j]);
        }
        return 0;
    }
    struct store_rollup_row *v = malloc((acc->n + np ? acc->n + np : 1) * sizeof *v);
    if (!v)
        return -1;
    i = j = 0;
    size_t k = 0;
    while (i < acc->n || j < np) {
        int c = i == acc->n ? 1 : j == np ? -1 : by_name_group(&acc->rows[i], &part[j]);
        if (c < 0) {
            v[k++] = acc->rows[i++];
        } else if (c > 0) {
            v[k] = part[j++];
            v[k++].bucket_start_us = t;
        } else {
            v[k] = acc->rows[i++];
            add_row(&v[k++], &part[j++]);
        }
    }
    free(acc->rows);
    acc->rows = v;
    acc->n = k;
    return 0;
}

/* The edge points of part (sorted by check), merged over regions, into w->edges
 * (first: the part before the whole points, labelled t). */
static int edges_of(struct report_window *w, const struct store_rollup_row *part, size_t np, int first, int64_t t)
{
    struct pk_hist *h = malloc(sizeof *h);
    if (!h)
        return -1;
    for (size_t i = 0; i < np;) {
        size_t j = i;
        uint64_t ok = 0, degraded = 0, failed = 0;
        pk_hist_init(h);
        for (; j < np && strcmp(part[j].check_name, part[i].check_name) == 0; j++) {
            ok += part[j].ok;
            degraded += part[j].degraded;
            failed += part[j].failed;
            pk_hist_merge(h, &part[j].hist);
        }
        /* the edges so far are sorted by name: find or insert */
        size_t lo = 0, hi = w->n_edges;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(w->edges[mid].check_name, part[i].check_name) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == w->n_edges || strcmp(w->edges[lo].check_name, part[i].check_name) != 0) {
            struct report_edge *e = realloc(w->edges, (w->n_edges + 1) * sizeof *e);
            if (!e) {
                free(h);
                return -1;
            }
            w->edges = e;
            memmove(&e[lo + 1], &e[lo], (w->n_edges - lo) * sizeof *e);
            memset(&e[lo], 0, sizeof *e);
            pk_strlcpy(e[lo].check_name, part[i].check_name, sizeof e[lo].check_name);
            w->n_edges++;
        }
        struct report_edge *e = &w->edges[lo];
        if (first) {
            e->has_first = 1;
            rpc_trend_point_of(t, h, ok, degraded, failed, &e->first);
        } else {
            e->has_last = 1;
            rpc_trend_point_of(t, h, ok, degraded, failed, &e->last);
        }
        i = j;
    }
    free(h);
    return 0;
}

int report_window_load(struct store *s, int64_t since_us, int64_t until_us, const char *region, const char *check,
                       struct report_window *w, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    int64_t since = rollup_floor(since_us, ROLLUP_MINUTE_US), until = rollup_floor(until_us, ROLLUP_MINUTE_US);
    int64_t width = rpc_trend_point_width(since_us, until_us);
    int64_t inner_from = since % width ? rollup_floor(since, width) + width : since;
    int64_t inner_to = rollup_floor(until, width);
    w->width_us = width;
    if (width < ROLLUP_HOUR_US || until <= since || inner_from > inner_to)
        return coarse_load(s, since_us, until_us, region, check, 0, &w->cr, err, errlen);
    w->split = 1;
    w->inner_from_us = inner_from;
    w->inner_to_us = inner_to;
    const int64_t cut[4] = {since, inner_from, inner_to, until};
    for (int k = 0; k < 3; k++) {
        if (cut[k + 1] <= cut[k])
            continue;
        struct coarse_rows part;
        if (coarse_load(s, cut[k], cut[k + 1], region, check, 0, &part, err, errlen) < 0) {
            report_window_free(w);
            return -1;
        }
        int rc = k != 1 ? edges_of(w, part.rows, part.n, k == 0, cut[k]) : 0;
        if (rc == 0)
            rc = sum_into(&w->cr, &part, since);
        coarse_free(&part);
        if (rc < 0) {
            report_window_free(w);
            return pk_fail(err, errlen, "report: out of memory");
        }
    }
    return 0;
}

const struct report_edge *report_window_edge(const struct report_window *w, const char *check)
{
    size_t lo = 0, hi = w->n_edges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(w->edges[mid].check_name, check) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->n_edges && strcmp(w->edges[lo].check_name, check) == 0 ? &w->edges[lo] : NULL;
}

void report_window_free(struct report_window *w)
{
    coarse_free(&w->cr);
    free(w->edges);
    memset(w, 0, sizeof *w);
}
