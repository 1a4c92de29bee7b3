/* rpc_query_coarse.c: the whole-window rollups of every check a query selects,
 * per region, read in one store_rollup_query. A figure that needs no rounds
 * (latency percentiles, per-region counts) is a merge of the window's rows, so
 * it is read at the coarsest level that covers each part of the window (days,
 * then hours, then minutes at the edges) and for every check at once: the cost
 * follows the window and the number of checks, never the stored history nor a
 * round count. Also the index of the last results by check name. Never includes
 * gRPC or libpq. */
#include "rpc_query_coarse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"
#include "read_beside.h"
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

/* In place when every key of part is in acc (the parts of a window have the
 * same (check, region) keys but for checks without rows in a part): no copy of
 * the histograms. */
int coarse_sum_into(struct coarse_rows *acc, struct coarse_rows *p, int64_t t)
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

static int load_one(struct store *s, int64_t since_us, int64_t until_us, const char *region, const char *check,
                    int counts_only, struct coarse_rows *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct store_rollup_filter f = {.since_us = since_us, .until_us = until_us, .check = check, .region = region,
                                    .group = STORE_ROLLUP_BY_REGION, .bucket_us = 0, .counts_only = counts_only};
    return store_rollup_query(s, &f, &out->rows, &out->n, err, errlen);
}

/* The later half of a split window, read beside the first (read_beside.h). */
struct half {
    int64_t since_us, until_us;
    const char *region;
    int counts_only;
    struct coarse_rows rows;
};

static int read_half(struct store *s, void *arg, char *err, size_t errlen)
{
    struct half *h = arg;
    return load_one(s, h->since_us, h->until_us, h->region, NULL, h->counts_only, &h->rows, err, errlen);
}

int coarse_load(struct store *s, int64_t since_us, int64_t until_us, const char *region, const char *check,
                int counts_only, struct coarse_rows *out, char *err, size_t errlen)
{
    /* Every check over two days or more: two halves cut at a UTC midnight,
     * each with one of the window's edges, read at once (each half its own
     * consistent read: they cover disjoint times). */
    int64_t mid = rollup_floor(since_us + (until_us - since_us) / 2, ROLLUP_DAY_US);
    if (check || until_us - since_us < 2 * ROLLUP_DAY_US || mid <= since_us || mid >= until_us)
        return load_one(s, since_us, until_us, region, check, counts_only, out, err, errlen);
    struct half h = {mid, until_us, region, counts_only, {NULL, 0}};
    struct read_beside b;
    read_beside_start(&b, s, read_half, &h);
    int rc = load_one(s, since_us, mid, region, NULL, counts_only, out, err, errlen);
    rc = read_beside_finish(&b, s, rc, err, errlen);
    /* the halves' rows label the whole window (since), as one read's would */
    if (rc == 0 && coarse_sum_into(out, &h.rows, since_us) < 0)
        rc = pk_fail(err, errlen, "out of memory");
    coarse_free(&h.rows);
    if (rc < 0)
        coarse_free(out);
    return rc;
}

void coarse_find(const struct coarse_rows *cr, const char *check, struct store_rollup_row **rows, size_t *n)
{
    size_t lo = 0, hi = cr->n;
    while (lo < hi) { /* rows are sorted by check name: the first of this check */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(cr->rows[mid].check_name, check) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < cr->n && strcmp(cr->rows[end].check_name, check) == 0)
        end++;
    *rows = end > lo ? &cr->rows[lo] : NULL;
    *n = end - lo;
}

void coarse_free(struct coarse_rows *cr)
{
    free(cr->rows);
    memset(cr, 0, sizeof *cr);
}

struct name_idx {
    const char *name;
    size_t idx;
};

static int by_name_idx(const void *x, const void *y)
{
    const struct name_idx *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

int status_index_build(struct status_index *ix, const struct store_status_row *rows, size_t n)
{
    memset(ix, 0, sizeof *ix);
    struct name_idx *v = malloc((n ? n : 1) * sizeof *v);
    ix->ord = malloc((n ? n : 1) * sizeof *ix->ord);
    if (!v || !ix->ord) {
        free(v);
        free(ix->ord);
        ix->ord = NULL;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (struct name_idx){rows[i].check_name, i};
    qsort(v, n, sizeof *v, by_name_idx);
    for (size_t i = 0; i < n; i++)
        ix->ord[i] = v[i].idx;
    free(v);
    ix->rows = rows;
    ix->n = n;
    return 0;
}

void status_index_find(const struct status_index *ix, const char *check, size_t *from, size_t *to)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->rows[ix->ord[mid]].check_name, check) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < ix->n && strcmp(ix->rows[ix->ord[end]].check_name, check) == 0)
        end++;
    *from = lo;
    *to = end;
}

void status_index_free(struct status_index *ix)
{
    free(ix->ord);
    memset(ix, 0, sizeof *ix);
}
