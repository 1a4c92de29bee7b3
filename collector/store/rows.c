/* rows.c: the one row reader. A table of columns (name, type, field offset and
 * size) says how each column of a text-format result lands in a row struct;
 * columns are found by name, so a query that reorders or drops a column fails
 * loudly instead of filling the wrong field. Also the binary-format readers the
 * rollup code uses. Owns nothing after it returns. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

/* PostgreSQL's binary timestamptz counts microseconds from 2000-01-01 UTC. */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

int64_t st_bin_i64(const PGresult *r, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

int32_t st_bin_i32(const PGresult *r, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

int64_t st_bin_ts(const PGresult *r, int row, int col) { return st_bin_i64(r, row, col) + PG_EPOCH_OFFSET_US; }

void store_free_rows(void *rows, size_t n, const struct store_col *cols, size_t ncols, size_t row_size)
{
    if (!rows)
        return;
    for (size_t c = 0; c < ncols; c++) {
        if (cols[c].type != STORE_COL_STRDUP)
            continue;
        for (size_t i = 0; i < n; i++)
            free(*(char **)((char *)rows + i * row_size + cols[c].offset));
    }
    free(rows);
}

/* One value into its field; -1 when out of memory (STORE_COL_STRDUP). */
static int read_value(const char *v, int is_null, const struct store_col *col, char *field)
{
    switch (col->type) {
    case STORE_COL_I64: {
        int64_t x = is_null ? 0 : strtoll(v, NULL, 10);
        memcpy(field, &x, sizeof x);
        break;
    }
    case STORE_COL_U64: {
        uint64_t x = is_null ? 0 : strtoull(v, NULL, 10);
        memcpy(field, &x, sizeof x);
        break;
    }
    case STORE_COL_INT: {
        int x = is_null ? 0 : (int)strtol(v, NULL, 10);
        memcpy(field, &x, sizeof x);
        break;
    }
    case STORE_COL_DOUBLE: {
        double x = is_null ? 0 : strtod(v, NULL);
        memcpy(field, &x, sizeof x);
        break;
    }
    case STORE_COL_BOOL: {
        int x = !is_null && v[0] == 't';
        memcpy(field, &x, sizeof x);
        break;
    }
    case STORE_COL_TEXT:
        pk_strlcpy(field, is_null ? "" : v, col->size);
        break;
    case STORE_COL_STRDUP: {
        char *x = is_null ? NULL : strdup(v);
        memcpy(field, &x, sizeof x);
        if (!is_null && !x)
            return -1;
        break;
    }
    }
    return 0;
}

/* A field's size must match its type: a table entry that does not is a bug
 * caught on the first read, not a write past the field. */
static int size_fits(const struct store_col *col)
{
    switch (col->type) {
    case STORE_COL_I64: return col->size == sizeof(int64_t);
    case STORE_COL_U64: return col->size == sizeof(uint64_t);
    case STORE_COL_INT:
    case STORE_COL_BOOL: return col->size == sizeof(int);
    case STORE_COL_DOUBLE: return col->size == sizeof(double);
    case STORE_COL_TEXT: return col->size > 0;
    case STORE_COL_STRDUP: return col->size == sizeof(char *);
    }
    return 0;
}

int store_read_rows(const PGresult *r, const char *what, const struct store_col *cols, size_t ncols, size_t row_size,
                    void **rows, size_t *n, char *err, size_t errlen)
{
    int index[64];
    *rows = NULL;
    *n = 0;
    if (ncols > sizeof index / sizeof index[0])
        return pk_fail(err, errlen, "%s: %zu columns, at most %zu", what, ncols, sizeof index / sizeof index[0]);
    for (size_t c = 0; c < ncols; c++) {
        index[c] = PQfnumber(r, cols[c].name);
        if (index[c] < 0)
            return pk_fail(err, errlen, "%s: result has no column \"%s\"", what, cols[c].name);
        if (!size_fits(&cols[c]) || cols[c].offset + cols[c].size > row_size)
            return pk_fail(err, errlen, "%s: column \"%s\" does not fit its field", what, cols[c].name);
    }
    size_t count = (size_t)PQntuples(r);
    char *out = calloc(count ? count : 1, row_size);
    if (!out)
        return pk_fail(err, errlen, "%s: out of memory", what);
    for (size_t i = 0; i < count; i++) {
        char *row = out + i * row_size;
        for (size_t c = 0; c < ncols; c++) {
            if (read_value(PQgetvalue(r, (int)i, index[c]), PQgetisnull(r, (int)i, index[c]), &cols[c],
                           row + cols[c].offset) < 0) {
                store_free_rows(out, i + 1, cols, ncols, row_size);
                return pk_fail(err, errlen, "%s: out of memory", what);
            }
        }
    }
    *rows = out;
    *n = count;
    return 0;
}

int store_query_rows(struct store *s, const struct store_query *q, void **rows, size_t *n, char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    st_ensure_ready(s);
    PGresult *r = st_run(s, q->sql, q->nparams, q->params, PGRES_TUPLES_OK, q->what_run, err, errlen);
    if (!r)
        return -1;
    int rc = store_read_rows(r, q->what_read, q->cols, q->ncols, q->row_size, rows, n, err, errlen);
    PQclear(r);
    return rc;
}
