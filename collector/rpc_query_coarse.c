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

int coarse_load(struct store *s, int64_t since_us, int64_t until_us, const char *region, const char *check,
                int counts_only, struct coarse_rows *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct store_rollup_filter f = {.since_us = since_us, .until_us = until_us, .check = check, .region = region,
                                    .group = STORE_ROLLUP_BY_REGION, .bucket_us = 0, .counts_only = counts_only};
    return store_rollup_query(s, &f, &out->rows, &out->n, err, errlen);
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
