/* test_log.c: the event logger. Values are quoted and escaped so no input can
 * forge a second line or a fake key; lines have the documented shape; levels
 * filter; lines written from many threads never interleave. Output is
 * captured with pk_log_set_stream on a tmpfile. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static void test_quote(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"plain", "plain"},
        {"", "\"\""},
        {"two words", "\"two words\""},
        {"k=v", "\"k=v\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"line1\nline2", "\"line1\\nline2\""},
        {"cr\rbell\a", "\"cr\\x0dbell\\x07\""},
        {"tab\there", "\"tab\\x09here\""},
        {"del\x7f", "\"del\\x7f\""},
        {"back\\slash", "back\\\\slash"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[128];
        assert_ptr_equal(pk_log_q(buf, sizeof buf, cases[i][0]), buf);
        assert_string_equal(buf, cases[i][1]);
    }
}

static void test_quote_truncates_safely(void **state)
{
    (void)state;
    char buf[16];
    memset(buf, 'x', sizeof buf);
    pk_log_q(buf, sizeof buf, "a very long value with \n newlines \n everywhere");
    assert_true(strlen(buf) < sizeof buf);
    assert_int_equal(buf[0], '"');
    assert_int_equal(buf[strlen(buf) - 1], '"');
    assert_null(strchr(buf, '\n'));
    char tiny[2] = "x";
    pk_log_q(tiny, sizeof tiny, "abc");
    assert_string_equal(tiny, "");
}

static void test_parse_level(void **state)
{
    (void)state;
    assert_int_equal(pk_log_parse_level("debug"), PK_LOG_DEBUG);
    assert_int_equal(pk_log_parse_level("INFO"), PK_LOG_INFO);
    assert_int_equal(pk_log_parse_level("warn"), PK_LOG_WARN);
    assert_int_equal(pk_log_parse_level("error"), PK_LOG_ERROR);
    assert_int_equal(pk_log_parse_level("verbose"), -1);
}

/* Reads everything written to f so far into buf. */
static size_t slurp(FILE *f, char *buf, size_t cap)
{
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    return n;
}

static void test_line_shape_and_levels(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    pk_log_set_stream(f);
    pk_log_set_level(PK_LOG_INFO);
    PK_DEBUG("test", "hidden", "k=%d", 1);
    char q[128];
    PK_INFO("test", "hello world", "check=%s n=%d", pk_log_q(q, sizeof q, "evil\nlevel=error msg=forged"), 5);
    /* Even an unquoted %s cannot split the event. */
    PK_WARN("test", "raw", "v=%s", "a\nb");
    pk_log_set_stream(NULL);

    char out[4096];
    slurp(f, out, sizeof out);
    fclose(f);
    assert_null(strstr(out, "hidden"));
    int newlines = 0;
    for (const char *p = out; *p; p++)
        newlines += *p == '\n';
    assert_int_equal(newlines, 2); /* two events, two lines */
    char *second = strchr(out, '\n');
    assert_non_null(second);
    *second++ = '\0';
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    assert_true(strncmp(out, "ts=", 3) == 0);
    assert_true(strlen(out) > 28 && out[13] == 'T' && out[26] == 'Z');
    assert_string_equal(out + 27,
                        " level=info comp=test msg=\"hello world\" check=\"evil\\nlevel=error msg=forged\" n=5");
    assert_non_null(strstr(second, " level=warn comp=test msg=raw v=a b\n"));
}

#define THREADS 4
#define LINES 200

static void *spam(void *arg)
{
    for (int i = 0; i < LINES; i++)
        PK_INFO("thread", "line", "thread=%d i=%d pad=%s", (int)(intptr_t)arg, i,
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    return NULL;
}

static void test_threads_never_interleave(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    pk_log_set_stream(f);
    pk_log_set_level(PK_LOG_INFO);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, spam, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pk_log_set_stream(NULL);
    rewind(f);
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        assert_true(strncmp(line, "ts=", 3) == 0);
        assert_non_null(strstr(line, " level=info comp=thread msg=line thread="));
        assert_non_null(strstr(line, "xxxxxxxxxx\n"));
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, THREADS * LINES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_quote_truncates_safely),
        cmocka_unit_test(test_parse_level),
        cmocka_unit_test(test_line_shape_and_levels),
        cmocka_unit_test(test_threads_never_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
