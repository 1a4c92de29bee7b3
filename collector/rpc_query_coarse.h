/* rpc_query_coarse.h: whole-window rollups per check and region, every check at
 * once (rpc_query_coarse.c). */
#ifndef PICKET_RPC_QUERY_COARSE_H
#define PICKET_RPC_QUERY_COARSE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct coarse_rows {
    struct store_rollup_row *rows; /* sorted by check name, then region; malloc'd */
    size_t n;
};

/* One row per (check, region) over [since, until): every check (check NULL) or
 * the one named, every region or the one named; counts_only: without the
 * latency histograms (availability needs none). 0, or -1 with err. */
int coarse_load(struct store *s, int64_t since_us, int64_t until_us, const char *region, const char *check,
                int counts_only, struct coarse_rows *out, char *err, size_t errlen);

/* acc (sorted by check, region) += part (sorted the same), the rows taken
 * from part labelled t; part's rows may be taken (part->rows NULL then).
 * 0, or -1: out of memory. */
int coarse_sum_into(struct coarse_rows *acc, struct coarse_rows *part, int64_t t);
/* One check's rows inside cr (NULL and 0 when it has none): valid while cr is. */
void coarse_find(const struct coarse_rows *cr, const char *check, struct store_rollup_row **rows, size_t *n);

void coarse_free(struct coarse_rows *cr);

/* The last-result rows of every check (store_last_results) by check name, each
 * check's rows in their order: a lookup per check, not a scan of every row. */
struct status_index {
    size_t *ord; /* row indexes by (name, index) */
    const struct store_status_row *rows;
    size_t n;
};
int status_index_build(struct status_index *ix, const struct store_status_row *rows, size_t n);
/* ix->ord[*from .. *to) are check's rows. */
void status_index_find(const struct status_index *ix, const char *check, size_t *from, size_t *to);
void status_index_free(struct status_index *ix);

#endif
