/* test_buf.c: common/buf.c (growable capped buffer, JSON string escaper, UTF-8
 * policy) and common/pk_error.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

static void grows_and_terminates(void **state)
{
    (void)state;
    struct pk_buf b;
    pk_buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pk_buf_addf(&b, "%d,", i % 10), 0);
    assert_int_equal(b.len, 2000);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(pk_buf_ok(&b), 0);
    assert_memory_equal(b.data, "0,1,2,", 6);
    char *s = pk_buf_take(&b);
    assert_int_equal(strlen(s), 2000);
    free(s);
    assert_int_equal(b.len, 0);
    pk_buf_free(&b);
}

static void cap_latches_failure(void **state)
{
    (void)state;
    struct pk_buf b;
    pk_buf_init(&b, 8); /* 7 bytes and the NUL */
    assert_int_equal(pk_buf_adds(&b, "1234567"), 0);
    assert_int_equal(pk_buf_addc(&b, '8'), -1);
    assert_int_equal(pk_buf_ok(&b), -1);
    assert_int_equal(pk_buf_adds(&b, ""), -1); /* latched */
    assert_null(pk_buf_take(&b));
    pk_buf_reset(&b);
    assert_int_equal(pk_buf_ok(&b), 0);
    assert_int_equal(pk_buf_addf(&b, "%s", "a long string past the cap"), -1);
    pk_buf_free(&b);
}

static void long_format(void **state)
{
    (void)state;
    struct pk_buf b;
    pk_buf_init(&b, 0);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(pk_buf_addf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    pk_buf_free(&b);
}

static void fixed_storage(void **state)
{
    (void)state;
    char mem[6];
    struct pk_buf b;
    pk_buf_init_fixed(&b, mem, sizeof mem);
    assert_int_equal(pk_buf_adds(&b, "abcde"), 0);
    assert_string_equal(mem, "abcde");
    assert_int_equal(pk_buf_addc(&b, 'f'), -1);
    pk_buf_free(&b); /* never frees the caller's array */
    assert_string_equal(mem, "abcde");
}

static void json_escaping(void **state)
{
    (void)state;
    struct pk_buf b;
    pk_buf_init(&b, 0);
    const char in[] = "a\"b\\c\n\x01\x7f" "\xc3\xa9" "\xff" "\xe2\x82";
    pk_buf_add_json_string(&b, in, sizeof in - 1);
    assert_int_equal(pk_buf_ok(&b), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\xc3\xa9\\ufffd\\ufffd\\ufffd\"");
    pk_buf_free(&b);
}

static void utf8_policy(void **state)
{
    (void)state;
    assert_int_equal(pk_utf8_seq_len((const unsigned char *)"A", 1), 1);
    assert_int_equal(pk_utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(pk_utf8_seq_len((const unsigned char *)"\xc0\x80", 2), 0);     /* overlong */
    assert_int_equal(pk_utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
    assert_int_equal(pk_utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    assert_int_equal(pk_utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(pk_utf8_seq_len((const unsigned char *)"\xf0\x9f\x98", 3), 0); /* cut */
}

static void fail_writes_and_returns(void **state)
{
    (void)state;
    char err[16];
    assert_int_equal(pk_fail(err, sizeof err, "check %s: %d", "web", 42), -1);
    assert_string_equal(err, "check web: 42");
    assert_int_equal(pk_fail(NULL, 0, "ignored %d", 1), -1);
    assert_int_equal(pk_fail(err, 4, "%s", "truncated"), -1);
    assert_string_equal(err, "tru");
}

static void grow_doubles_and_caps(void **state)
{
    (void)state;
    int64_t *v = NULL;
    size_t cap = 0;
    for (size_t n = 0; n < 100; n++) {
        int64_t *g = pk_grow(v, &cap, n + 1, sizeof *v, 0);
        assert_non_null(g);
        v = g;
        assert_true(cap >= n + 1);
        v[n] = (int64_t)n; /* writable up to cap: ASan would see otherwise */
    }
    assert_int_equal(cap, 128); /* 16, 32, 64, 128 */
    for (size_t n = 0; n < 100; n++)
        assert_int_equal(v[n], (int64_t)n);
    assert_ptr_equal(pk_grow(v, &cap, 128, sizeof *v, 0), v); /* fits: untouched */
    /* Past max: NULL, and the array and cap stay the caller's. */
    assert_null(pk_grow(v, &cap, 201, sizeof *v, 200));
    assert_int_equal(cap, 128);
    assert_int_equal(v[99], 99);
    int64_t *g = pk_grow(v, &cap, 129, sizeof *v, 200);
    assert_non_null(g);
    v = g;
    assert_int_equal(cap, 200); /* doubling stops at max */
    /* need * elem would overflow size_t: refused, not wrapped. */
    assert_null(pk_grow(v, &cap, SIZE_MAX / 4, sizeof *v, 0));
    assert_int_equal(cap, 200);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grows_and_terminates), cmocka_unit_test(cap_latches_failure),
        cmocka_unit_test(long_format),          cmocka_unit_test(fixed_storage),
        cmocka_unit_test(json_escaping),        cmocka_unit_test(utf8_policy),
        cmocka_unit_test(fail_writes_and_returns), cmocka_unit_test(grow_doubles_and_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
