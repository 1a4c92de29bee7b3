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

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"
#include "read_beside.h"
#include "rollup.h"

/* The index of the first edge whose check name is not below check (w->edges is
 * kept sorted by name). */
static size_t edge_lower_bound(const struct report_window *w, const char *check)
{
    size_t lo = 0, hi = w->n_edges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(w->edges[mid].check_name, check) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* check's edge in w->edges (kept sorted by name), added empty when missing;
 * NULL: out of memory. */
static struct report_edge *edge_slot(struct report_window *w, const char *check)
{
    size_t lo = edge_lower_bound(w, check);
    if (lo == w->n_edges || strcmp(w->edges[lo].check_name, check) != 0) {
        struct report_edge *e = pk_grow(w->edges, &w->cap_edges, w->n_edges + 1, sizeof *e, 0);
        if (!e)
            return NULL;
        w->edges = e;
        memmove(&e[lo + 1], &e[lo], (w->n_edges - lo) * sizeof *e);
        memset(&e[lo], 0, sizeof *e);
        pk_strlcpy(e[lo].check_name, check, sizeof e[lo].check_name);
        w->n_edges++;
    }
    return &w->edges[lo];
}

/* Sets the first or last point of check in w->edges. */
static int edge_put(struct report_window *w, const char *check, int first, int64_t t, const struct pk_hist *h,
                    uint64_t ok, uint64_t degraded, uint64_t failed)
{
    struct report_edge *e = edge_slot(w, check);
    if (!e)
        return -1;
    if (first) {
        e->has_first = 1;
        rpc_trend_point_of(t, h, ok, degraded, failed, &e->first);
    } else {
        e->has_last = 1;
        rpc_trend_point_of(t, h, ok, degraded, failed, &e->last);
    }
    return 0;
}

/* One part's read (store_rollup_query_each): its rows summed into w->cr (in
 * place: both are by check and region), those of keys w->cr lacks gathered in
 * extra; an edge part's rows merged over the regions of each check. */
struct part_read {
    struct report_window *w;
    int fill;          /* w->cr was empty: the part's rows become it */
    int edge, first;   /* an edge part; the first (else the last) */
    int64_t t, label;  /* the part's start; the window's (the rows' bucket) */
    size_t at;         /* w->cr rows before it are behind the part's */
    struct coarse_rows extra;
    size_t cap, cap_extra;
    char check[PK_NAME_MAX]; /* the edge being merged ("" none) */
    struct pk_hist *h;
    uint64_t ok, degraded, failed;
};

static int append_row(struct store_rollup_row **rows, size_t *n, size_t *cap, const struct store_rollup_entry *e,
                      int64_t label)
{
    struct store_rollup_row *v = pk_grow(*rows, cap, *n + 1, sizeof *v, 0);
    if (!v)
        return -2;
    *rows = v;
    struct store_rollup_row *r = &v[(*n)++];
    pk_strlcpy(r->check_name, e->check_name, sizeof r->check_name);
    pk_strlcpy(r->group, e->group, sizeof r->group);
    r->bucket_start_us = label;
    r->ok = e->ok;
    r->degraded = e->degraded;
    r->failed = e->failed;
    r->unknown = e->unknown;
    r->hist = *e->hist;
    r->p95_us = NAN;
    return 0;
}

static int edge_close(struct part_read *p)
{
    if (!p->check[0])
        return 0;
    int rc = edge_put(p->w, p->check, p->first, p->t, p->h, p->ok, p->degraded, p->failed);
    p->check[0] = '\0';
    return rc < 0 ? -2 : 0;
}

static int part_row(void *ctx, const struct store_rollup_entry *e)
{
    struct part_read *p = ctx;
    struct coarse_rows *acc = &p->w->cr;
    if (p->edge && strcmp(p->check, e->check_name) != 0) {
        if (edge_close(p) < 0)
            return -2;
        pk_strlcpy(p->check, e->check_name, sizeof p->check);
        pk_hist_init(p->h);
        p->ok = p->degraded = p->failed = 0;
    }
    if (p->edge) {
        p->ok += e->ok;
        p->degraded += e->degraded;
        p->failed += e->failed;
        pk_hist_merge(p->h, e->hist);
    }
    if (p->fill)
        return append_row(&acc->rows, &acc->n, &p->cap, e, p->label);
    int c = -1;
    while (p->at < acc->n) {
        c = strcmp(acc->rows[p->at].check_name, e->check_name);
        c = c ? c : strcmp(acc->rows[p->at].group, e->group);
        if (c >= 0)
            break;
        p->at++;
    }
    if (p->at == acc->n || c != 0)
        return append_row(&p->extra.rows, &p->extra.n, &p->cap_extra, e, p->label);
    struct store_rollup_row *r = &acc->rows[p->at];
    r->ok += e->ok;
    r->degraded += e->degraded;
    r->failed += e->failed;
    r->unknown += e->unknown;
    pk_hist_merge(&r->hist, e->hist);
    return 0;
}

/* Reads [from, to) into w (part_row); first: the first edge part, edge: an edge. */
static int read_part(struct store *s, struct report_window *w, int64_t from, int64_t to, int64_t label, int edge,
                     int first, const char *region, const char *check, char *err, size_t errlen)
{
    struct part_read p = {.w = w, .fill = w->cr.n == 0, .edge = edge, .first = first, .t = from, .label = label,
                          .cap = w->cr.n};
    struct store_rollup_filter f = {.since_us = from, .until_us = to, .check = check, .region = region,
                                    .group = STORE_ROLLUP_BY_REGION};
    if (!(p.h = malloc(sizeof *p.h)))
        return pk_fail(err, errlen, "report: out of memory");
    err[0] = '\0';
    int rc = store_rollup_query_each(s, &f, part_row, &p, err, errlen);
    if (rc == 0 && edge_close(&p) < 0)
        rc = pk_fail(err, errlen, "report: out of memory");
    if (rc == 0 && p.extra.n && coarse_sum_into(&w->cr, &p.extra, label) < 0)
        rc = pk_fail(err, errlen, "report: out of memory");
    coarse_free(&p.extra);
    free(p.h);
    return rc;
}

/* The window's last part, read on the side connection into a window of its own. */
struct last_part {
    struct report_window w;
    int64_t from, to, label;
    const char *region, *check;
};

static int read_last(struct store *s, void *arg, char *err, size_t errlen)
{
    struct last_part *p = arg;
    return read_part(s, &p->w, p->from, p->to, p->label, 1, 0, p->region, p->check, err, errlen);
}

/* w += last: its rows summed (labelled since), its checks' last points set.
 * -1: out of memory. */
static int merge_last(struct report_window *w, struct report_window *last, int64_t since)
{
    if (coarse_sum_into(&w->cr, &last->cr, since) < 0)
        return -1;
    for (size_t i = 0; i < last->n_edges; i++) {
        const struct report_edge *l = &last->edges[i];
        if (!l->has_last)
            continue;
        struct report_edge *e = edge_slot(w, l->check_name);
        if (!e)
            return -1;
        e->has_last = 1;
        e->last = l->last;
    }
    return 0;
}

int report_window_load(struct store *s, int64_t since_us, int64_t until_us, const char *region, const char *check,
                       int parts, struct report_window *w, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    int64_t since = rollup_floor(since_us, ROLLUP_MINUTE_US), until = rollup_floor(until_us, ROLLUP_MINUTE_US);
    int64_t width = rpc_trend_point_width(since_us, until_us);
    int64_t inner_from = since % width ? rollup_floor(since, width) + width : since;
    int64_t inner_to = rollup_floor(until, width);
    w->width_us = width;
    if (!parts || width < ROLLUP_HOUR_US || until <= since || inner_from > inner_to)
        return coarse_load(s, since_us, until_us, region, check, 0, &w->cr, err, errlen);
    w->split = 1;
    w->inner_from_us = inner_from;
    w->inner_to_us = inner_to;
    const int64_t cut[4] = {since, inner_from, inner_to, until};
    /* The last part is read beside the first two (read_beside.h), into its own window. */
    struct last_part last = {.from = cut[2], .to = cut[3], .label = since, .region = region, .check = check};
    struct read_beside b;
    const int with_last = cut[3] > cut[2];
    if (with_last)
        read_beside_start(&b, s, read_last, &last);
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++)
        if (cut[k + 1] > cut[k])
            rc = read_part(s, w, cut[k], cut[k + 1], since, k == 0, k == 0, region, check, err, errlen);
    if (with_last) {
        rc = read_beside_finish(&b, s, rc, err, errlen);
        if (rc == 0 && merge_last(w, &last.w, since) < 0)
            rc = pk_fail(err, errlen, "report: out of memory");
        report_window_free(&last.w);
    }
    if (rc < 0)
        report_window_free(w);
    return rc;
}

const struct report_edge *report_window_edge(const struct report_window *w, const char *check)
{
    size_t lo = edge_lower_bound(w, check);
    return lo < w->n_edges && strcmp(w->edges[lo].check_name, check) == 0 ? &w->edges[lo] : NULL;
}

void report_window_free(struct report_window *w)
{
    coarse_free(&w->cr);
    free(w->edges);
    memset(w, 0, sizeof *w);
}
