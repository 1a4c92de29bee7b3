/* test_store_rows.c: the store's row reader (collector/store/rows.c), pure: the
 * results are built in memory with libpq's PQmakeEmptyPGresult, no server. Each
 * column type, lookup by name whatever the result's column order, NULLs, a
 * missing column and a field of the wrong size. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

struct row {
    int64_t i64;
    uint64_t u64;
    int i;
    double d;
    int flag;
    char text[8];
    char *dup;
};

#define COL(field, name, type) STORE_COL(struct row, field, name, type)
static const struct store_col cols[] = {
    COL(i64, "i64", STORE_COL_I64),    COL(u64, "u64", STORE_COL_U64),    COL(i, "int", STORE_COL_INT),
    COL(d, "dbl", STORE_COL_DOUBLE),   COL(flag, "flag", STORE_COL_BOOL), COL(text, "text", STORE_COL_TEXT),
    COL(dup, "dup", STORE_COL_STRDUP),
};
#define NCOLS (sizeof cols / sizeof cols[0])

/* A text-format result with these column names; values[row][col], NULL for SQL NULL. */
static PGresult *make_result(const char *const *names, int ncols, const char *const *values, int nrows)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(r);
    PGresAttDesc attrs[16];
    assert_true(ncols <= 16);
    memset(attrs, 0, sizeof attrs);
    for (int c = 0; c < ncols; c++) {
        attrs[c].name = (char *)names[c];
        attrs[c].typlen = -1;
    }
    assert_int_equal(PQsetResultAttrs(r, ncols, attrs), 1);
    for (int i = 0; i < nrows; i++)
        for (int c = 0; c < ncols; c++) {
            const char *v = values[i * ncols + c];
            assert_int_equal(PQsetvalue(r, i, c, (char *)v, v ? (int)strlen(v) : -1), 1);
        }
    return r;
}

/* The result's columns in another order than the table's, and an extra one. */
static const char *const result_names[] = {"dup", "extra", "text", "flag", "dbl", "int", "u64", "i64"};

static void reads_every_type_by_name(void **state)
{
    (void)state;
    const char *const values[] = {
        "dup-0", "x", "truncated-long", "t", "2.5", "-7", "18446744073709551615", "-5",
        "dup-1", "y", "short",          "f", "-1e3", "42", "0",                   "9223372036854775807",
    };
    PGresult *r = make_result(result_names, 8, values, 2);
    struct row *rows = NULL;
    size_t n = 99;
    char err[256] = "";
    assert_int_equal(store_read_rows(r, "test", cols, NCOLS, sizeof *rows, (void **)&rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].i64, -5);
    assert_true(rows[0].u64 == UINT64_MAX);
    assert_int_equal(rows[0].i, -7);
    assert_true(rows[0].d == 2.5);
    assert_int_equal(rows[0].flag, 1);
    assert_string_equal(rows[0].text, "truncat"); /* cut to the field, NUL-terminated */
    assert_string_equal(rows[0].dup, "dup-0");
    assert_int_equal(rows[1].i64, INT64_MAX);
    assert_true(rows[1].u64 == 0);
    assert_int_equal(rows[1].i, 42);
    assert_true(rows[1].d == -1000.0);
    assert_int_equal(rows[1].flag, 0);
    assert_string_equal(rows[1].text, "short");
    assert_string_equal(rows[1].dup, "dup-1");
    store_free_rows(rows, n, cols, NCOLS, sizeof *rows);
    PQclear(r);
}

static void nulls_read_as_zero_empty_and_null(void **state)
{
    (void)state;
    const char *const values[] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    PGresult *r = make_result(result_names, 8, values, 1);
    struct row *rows = NULL;
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(store_read_rows(r, "test", cols, NCOLS, sizeof *rows, (void **)&rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].i64, 0);
    assert_true(rows[0].u64 == 0);
    assert_int_equal(rows[0].i, 0);
    assert_true(rows[0].d == 0);
    assert_int_equal(rows[0].flag, 0);
    assert_string_equal(rows[0].text, "");
    assert_null(rows[0].dup);
    store_free_rows(rows, n, cols, NCOLS, sizeof *rows);
    PQclear(r);
}

static void missing_column_is_an_error(void **state)
{
    (void)state;
    const char *const names[] = {"i64", "u64", "int", "dbl", "flag", "txt", "dup"}; /* "text" misspelt */
    const char *const values[] = {"1", "2", "3", "4", "t", "6", "7"};
    PGresult *r = make_result(names, 7, values, 1);
    struct row *rows = (struct row *)&rows;
    size_t n = 5;
    char err[256] = "";
    assert_int_equal(store_read_rows(r, "reading things", cols, NCOLS, sizeof *rows, (void **)&rows, &n, err,
                                     sizeof err),
                     -1);
    assert_null(rows);
    assert_int_equal(n, 0);
    assert_string_equal(err, "reading things: result has no column \"text\"");
    PQclear(r);
}

static void wrong_field_size_is_an_error(void **state)
{
    (void)state;
    const struct store_col bad[] = {{"i64", STORE_COL_I64, offsetof(struct row, i), sizeof(int)}};
    const char *const values[] = {"dup", "x", "t", "t", "1", "2", "3", "4"};
    PGresult *r = make_result(result_names, 8, values, 1);
    struct row *rows = NULL;
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(store_read_rows(r, "test", bad, 1, sizeof *rows, (void **)&rows, &n, err, sizeof err), -1);
    assert_null(rows);
    assert_non_null(strstr(err, "\"i64\" does not fit"));
    PQclear(r);
}

static void no_rows(void **state)
{
    (void)state;
    PGresult *r = make_result(result_names, 8, NULL, 0);
    struct row *rows = NULL;
    size_t n = 7;
    char err[256] = "";
    assert_int_equal(store_read_rows(r, "test", cols, NCOLS, sizeof *rows, (void **)&rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_non_null(rows); /* callers free() it whatever n is */
    free(rows);
    PQclear(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_every_type_by_name),   cmocka_unit_test(nulls_read_as_zero_empty_and_null),
        cmocka_unit_test(missing_column_is_an_error), cmocka_unit_test(wrong_field_size_is_an_error),
        cmocka_unit_test(no_rows),
    };
    return cmocka_run_group_tests_name("store row reader", tests, NULL, NULL);
}
