/* round_cells.h: private to collector/store/ (results.c writes, tracker.c
 * reads): the per-round result counts the ingest writers store in the same
 * transaction as the results (migrations/024_round_cells.sql), so the tracker
 * folds rounds without reading the results back. A cell is (check, region,
 * round instant, good, bad); a row packs a transaction's cells of one (check,
 * region, minute). On Citus, round_cells is distributed by check with the
 * results (collector/store/citus.c). */
#ifndef PK_ROUND_CELLS_H
#define PK_ROUND_CELLS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "result.h"

struct store;

/* Cells are kept this long after their minute; the tracker reads them only for
 * rounds inside ROUND_CELLS_USE_US of now (an hour less: the prune runs late). */
#define ROUND_CELLS_KEEP_US (INT64_C(36) * 3600 * 1000000)
#define ROUND_CELLS_USE_US (ROUND_CELLS_KEEP_US - INT64_C(3600) * 1000000)
/* A cell: its instant's offset in its minute (us, uint32), good, bad (uint16), big-endian. */
#define ROUND_CELL_BYTES 8

struct round_cell_in {
    int64_t check_id, at_us;
    int region; /* the writer's region number: equal numbers, equal names */
    uint32_t good, bad;
};

struct round_cells {
    struct round_cell_in *v;
    size_t n, cap;
};

/* The cell of one stored result (results of unknown outcome count nowhere). -1 out of memory. */
int st_cells_add(struct round_cells *c, int64_t check_id, int region, const struct pk_result *r);
/* Merges the cells per (check, region, instant) and COPYs them into round_cells, one
 * row per (check, region, minute); regions[region] names each region number. In
 * the caller's transaction; 0 when there are none. */
int st_cells_copy(struct store *s, struct round_cells *c, const char *const *regions, char *err, size_t errlen);
void st_cells_free(struct round_cells *c);
/* Sorts cells by (region, minute, check, instant), the order st_cells_copy
 * writes in: each row's cells contiguous and by instant, equal cells adjacent.
 * A group that spans few minutes (what the writers add) is grouped by (region,
 * minute) in one counting pass and sorted run by run; anything else whole. */
void st_cells_order(struct round_cell_in *v, size_t n);

/* Rounds at or after this instant have every result's cell stored (round_cells_since). */
int st_cells_since(struct store *s, int64_t *since_us, char *err, size_t errlen);
/* The cells of n checks: for each, ids[i] and the instants [lo[i], hi[i]); rows
 * (o[i], region, cells, minute) in binary format, caller PQclears; NULL + err. */
PGresult *st_cells_read(struct store *s, const int64_t *ids, const int64_t *lo, const int64_t *hi, const int64_t *o,
                        size_t n, char *err, size_t errlen);
/* Row `row` of st_cells_read: its fold index, its cell count, cell i. */
int64_t st_cells_row_o(const PGresult *r, int row);
size_t st_cells_row_n(const PGresult *r, int row);
void st_cells_row_get(const PGresult *r, int row, size_t i, int64_t *at_us, uint32_t *good, uint32_t *bad);

#endif
