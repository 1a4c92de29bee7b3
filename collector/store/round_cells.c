/* round_cells.c: the per-round result counts behind round_cells.h. The writers
 * add one cell per stored result (st_cells_add), then, before the commit,
 * merge equal (check, region, instant) cells and COPY (binary) one row per
 * (check, region, minute) into round_cells (st_cells_copy). The tracker reads a
 * group's rows in one statement (st_cells_read) and decodes them
 * (st_cells_row_*); store_round_cells_prune deletes rows older than
 * ROUND_CELLS_KEEP_US. */
#include "round_cells.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"
#include "rounds.h"
#include "store_int.h"
#include "typed_sort.h"

#define MINUTE_US INT64_C(60000000)


int st_cells_add(struct round_cells *c, int64_t check_id, int region, const struct pk_result *r)
{
    int good = r->outcome == PK_OUTCOME_OK || r->outcome == PK_OUTCOME_DEGRADED;
    if (!good && r->outcome != PK_OUTCOME_FAILED)
        return 0;
    struct round_cell_in *v = pk_grow(c->v, &c->cap, c->n + 1, sizeof *v, 0);
    if (!v)
        return -1;
    c->v = v;
    v[c->n++] = (struct round_cell_in){check_id, r->scheduled_at_us > 0 ? r->scheduled_at_us : r->started_at_us,
                                       region, (uint32_t)good, (uint32_t)!good};
    return 0;
}

void st_cells_free(struct round_cells *c)
{
    free(c->v);
    *c = (struct round_cells){0};
}

/* Equal cells (check, region, instant): merged into one. */
static inline int same_cell(const struct round_cell_in *a, const struct round_cell_in *b)
{
    return a->check_id == b->check_id && a->region == b->region && a->at_us == b->at_us;
}

/* The order the COPY wants: (region, minute, check, instant). Each row (one
 * check, region and minute) is then contiguous with its cells by instant, and
 * equal cells are neighbours. Any order of the rows would do for the table. */
static inline int cell_before(const struct round_cell_in *a, const struct round_cell_in *b)
{
    if (a->region != b->region)
        return a->region < b->region;
    int64_t ma = pk_floor_div(a->at_us, MINUTE_US), mb = pk_floor_div(b->at_us, MINUTE_US);
    if (ma != mb)
        return ma < mb;
    if (a->check_id != b->check_id)
        return a->check_id < b->check_id;
    return a->at_us < b->at_us;
}

/* The same inside one (region, minute) run. */
static inline int cell_in_run_before(const struct round_cell_in *a, const struct round_cell_in *b)
{
    if (a->check_id != b->check_id)
        return a->check_id < b->check_id;
    return a->at_us < b->at_us;
}

/* Typed (common/typed_sort.h): this runs over every ingest group. */
PK_TYPED_SORT(cells_sort, struct round_cell_in, cell_before)
PK_TYPED_SORT(cells_run_sort, struct round_cell_in, cell_in_run_before)

/* The writer adds cells probe by probe, each probe's in the order it sent its
 * results (minutes ascending), but probes of one region are not adjacent: the
 * region number is the job's first probe of that region. A stable counting sort
 * on (region, minute) groups them in one pass when that key space is small (a
 * group spans a few minutes; not a replayed spool of days); each run of one
 * region and minute, a few dozen cells, is then sorted by (check, instant).
 * Otherwise, or without memory for the counts, the whole array is sorted. */
#define CELLS_COUNTING_SLACK 1024

void st_cells_order(struct round_cell_in *v, size_t n)
{
    if (n < 2)
        return;
    int rmax = 0;
    int64_t mlo = INT64_MAX, mhi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t m = pk_floor_div(v[i].at_us, MINUTE_US);
        rmax = v[i].region > rmax ? v[i].region : rmax;
        mlo = m < mlo ? m : mlo;
        mhi = m > mhi ? m : mhi;
        if (v[i].region < 0)
            rmax = INT32_MAX; /* not a writer's number: sort whole */
    }
    uint64_t range = (uint64_t)mhi - (uint64_t)mlo + 1, keys = 0;
    size_t *counts = NULL;
    struct round_cell_in *tmp = NULL;
    if (range <= n + CELLS_COUNTING_SLACK && (uint64_t)rmax < n + CELLS_COUNTING_SLACK &&
        (keys = ((uint64_t)rmax + 1) * range) <= 4 * (uint64_t)n + CELLS_COUNTING_SLACK) {
        counts = calloc((size_t)keys + 1, sizeof *counts);
        tmp = malloc(n * sizeof *tmp);
    }
    if (!counts || !tmp) {
        free(counts);
        free(tmp);
        cells_sort(v, n);
        return;
    }
#define CELL_KEY(c) ((size_t)(c).region * (size_t)range + (size_t)(pk_floor_div((c).at_us, MINUTE_US) - mlo))
    for (size_t i = 0; i < n; i++)
        counts[CELL_KEY(v[i]) + 1]++;
    for (size_t k = 1; k <= keys; k++)
        counts[k] += counts[k - 1];
    for (size_t i = 0; i < n; i++)
        tmp[counts[CELL_KEY(v[i])]++] = v[i];
#undef CELL_KEY
    memcpy(v, tmp, n * sizeof *v);
    free(tmp);
    free(counts);
    for (size_t i = 0; i < n;) {
        int64_t m = pk_floor_div(v[i].at_us, MINUTE_US);
        size_t j = i + 1;
        while (j < n && v[j].region == v[i].region && pk_floor_div(v[j].at_us, MINUTE_US) == m)
            j++;
        cells_run_sort(v + i, j - i);
        i = j;
    }
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int k = bytes - 1; k >= 0; k--)
        *p++ = (uint8_t)(v >> (8 * k));
}

/* Cells [a, b) (one check, region and minute, merged) as one COPY tuple. */
static int copy_row(struct copy_state *copy, const struct round_cell_in *a, size_t n, const char *region,
                    char *err, size_t errlen)
{
    size_t rl = strlen(region);
    uint8_t head[2 + 4 + 8 + 4];
    put_be(head, 4, 2);
    put_be(head + 2, 8, 4);
    put_be(head + 6, (uint64_t)a->check_id, 8);
    put_be(head + 14, rl, 4);
    uint8_t mid[4 + 8 + 4];
    put_be(mid, 8, 4);
    put_be(mid + 4, (uint64_t)pk_floor_div(a->at_us, MINUTE_US), 8);
    put_be(mid + 12, n * ROUND_CELL_BYTES, 4);
    if (st_copy_put(copy, (const char *)head, sizeof head, err, errlen) < 0 ||
        st_copy_put(copy, region, rl, err, errlen) < 0 ||
        st_copy_put(copy, (const char *)mid, sizeof mid, err, errlen) < 0)
        return -1;
    int64_t base = pk_floor_div(a->at_us, MINUTE_US) * MINUTE_US;
    for (size_t i = 0; i < n; i++) {
        uint8_t cell[ROUND_CELL_BYTES];
        put_be(cell, (uint64_t)(a[i].at_us - base), 4);
        put_be(cell + 4, a[i].good, 2);
        put_be(cell + 6, a[i].bad, 2);
        if (st_copy_put(copy, (const char *)cell, sizeof cell, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int st_cells_copy(struct store *s, struct round_cells *c, const char *const *regions, char *err, size_t errlen)
{
    if (!c->n)
        return 0;
    st_cells_order(c->v, c->n);
    size_t m = 0; /* merge equal (check, region, instant), up to what a cell holds */
    for (size_t i = 0; i < c->n; i++) {
        if (m && same_cell(&c->v[m - 1], &c->v[i]) && c->v[m - 1].good + c->v[i].good <= UINT16_MAX &&
            c->v[m - 1].bad + c->v[i].bad <= UINT16_MAX) {
            c->v[m - 1].good += c->v[i].good;
            c->v[m - 1].bad += c->v[i].bad;
        } else
            c->v[m++] = c->v[i];
    }
    c->n = m;
    struct copy_state copy;
    if (st_copy_begin(&copy, s, "COPY round_cells (check_id, region, minute, cells) FROM STDIN (FORMAT binary)",
                      "COPY round_cells", err, errlen) < 0)
        return -1;
    if (st_copy_put(&copy, st_copy_bin_header, sizeof st_copy_bin_header, err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < m;) {
        const struct round_cell_in *a = &c->v[i];
        int64_t minute = pk_floor_div(a->at_us, MINUTE_US);
        size_t j = i + 1;
        while (j < m && c->v[j].check_id == a->check_id && c->v[j].region == a->region &&
               pk_floor_div(c->v[j].at_us, MINUTE_US) == minute)
            j++;
        if (copy_row(&copy, a, j - i, regions[a->region], err, errlen) < 0)
            goto fail;
        i = j;
    }
    if (st_copy_put(&copy, st_copy_bin_trailer, sizeof st_copy_bin_trailer, err, errlen) < 0)
        goto fail;
    return st_copy_finish(&copy, err, errlen);
fail:
    st_copy_abort(&copy);
    return -1;
}

int st_cells_since(struct store *s, int64_t *since_us, char *err, size_t errlen)
{
    PGresult *r = st_run(s, "SELECT since_us FROM round_cells_since", 0, NULL, PGRES_TUPLES_OK,
                         "tracker: reading round_cells_since", err, errlen);
    if (!r)
        return -1;
    /* no row (deleted by hand): no round is known to have all its cells */
    *since_us = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : INT64_MAX;
    PQclear(r);
    return 0;
}

PGresult *st_cells_read(struct store *s, const int64_t *ids, const int64_t *lo, const int64_t *hi, const int64_t *o,
                        size_t n, char *err, size_t errlen)
{
    int64_t *mlo = calloc(n ? n : 1, sizeof *mlo), *mhi = calloc(n ? n : 1, sizeof *mhi);
    char *a[5] = {0};
    PGresult *r = NULL;
    if (mlo && mhi) {
        for (size_t i = 0; i < n; i++) {
            mlo[i] = pk_floor_div(lo[i], MINUTE_US);
            mhi[i] = pk_floor_div(hi[i] - 1, MINUTE_US);
        }
        a[0] = st_bigint_array(ids, n);
        a[1] = st_bigint_array(mlo, n);
        a[2] = st_bigint_array(mhi, n);
        a[3] = st_bigint_array(o, n);
    }
    if (!a[0] || !a[1] || !a[2] || !a[3])
        pk_fail(err, errlen, "tracker: out of memory");
    else if (!st_deadline_passed(s, err, errlen)) {
        const char *p[] = {a[0], a[1], a[2], a[3]};
        char one[4][24];
        const char *p1[] = {one[0], one[1], one[2], one[3]};
        int citus = st_is_citus(s);
        if (citus && n == 1) {
            const int64_t v[4] = {ids[0], mlo[0], mhi[0], o[0]};
            for (int k = 0; k < 4; k++)
                snprintf(one[k], sizeof one[k], "%" PRId64, v[k]);
        }
        /* One index range per check (OFFSET 0: never a hash join over the table).
         * Citus refuses OFFSET in a lateral subquery over a table function, and
         * sends such a join to every shard: its tracker reads one check at a time
         * (tracker.c, routed()), named by a value, so that the read goes to the
         * one shard that holds the check. */
        if (citus && n == 1)
            r = PQexecParams(s->conn,
                             "SELECT $4::bigint, region, cells, minute FROM round_cells WHERE check_id = $1::bigint "
                             "AND minute BETWEEN $2::bigint AND $3::bigint",
                             4, NULL, p1, NULL, NULL, 1);
        else
            r = PQexecParams(s->conn,
                             citus ? "SELECT x.o, c.region, c.cells, c.minute FROM unnest($1::bigint[], "
                                     "$2::bigint[], $3::bigint[], $4::bigint[]) AS x(id, mlo, mhi, o) CROSS JOIN "
                                     "LATERAL (SELECT region, cells, minute FROM round_cells c WHERE c.check_id = "
                                     "x.id AND c.minute BETWEEN x.mlo AND x.mhi) c"
                                   : "SELECT x.o, c.region, c.cells, c.minute FROM unnest($1::bigint[], "
                                     "$2::bigint[], $3::bigint[], $4::bigint[]) AS x(id, mlo, mhi, o) CROSS JOIN "
                                     "LATERAL (SELECT region, cells, minute FROM round_cells c WHERE c.check_id = "
                                     "x.id AND c.minute BETWEEN x.mlo AND x.mhi OFFSET 0) c",
                             4, NULL, p, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            st_pg_err(s, r, "tracker: reading round cells", err, errlen);
            PQclear(r);
            r = NULL;
        }
    }
    for (int k = 0; k < 5; k++)
        free(a[k]);
    free(mlo);
    free(mhi);
    return r;
}

int64_t st_cells_row_o(const PGresult *r, int row) { return st_bin_i64(r, row, 0); }

size_t st_cells_row_n(const PGresult *r, int row) { return (size_t)PQgetlength(r, row, 2) / ROUND_CELL_BYTES; }

static uint64_t get_be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int k = 0; k < bytes; k++)
        v = (v << 8) | p[k];
    return v;
}

void st_cells_row_get(const PGresult *r, int row, size_t i, int64_t *at_us, uint32_t *good, uint32_t *bad)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, 2) + i * ROUND_CELL_BYTES;
    *at_us = st_bin_i64(r, row, 3) * MINUTE_US + (int64_t)get_be(p, 4);
    *good = (uint32_t)get_be(p + 4, 2);
    *bad = (uint32_t)get_be(p + 6, 2);
}

int store_round_cells_prune(struct store *s, int64_t now_us, char *err, size_t errlen)
{
    char before[24];
    snprintf(before, sizeof before, "%" PRId64, pk_floor_div(now_us - ROUND_CELLS_KEEP_US, MINUTE_US));
    const char *p[] = {before};
    st_ensure_ready(s);
    return st_run_cmd(s, "DELETE FROM round_cells WHERE minute < $1::bigint", 1, p, "pruning round_cells", err,
                      errlen);
}
