/* test_term.c: common/term.c, the escaper every picketctl table printer uses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "term.h"

static void escapes_c0_del_and_c1(void **state)
{
    (void)state;
    char buf[256];
    assert_string_equal(pk_term_escape(buf, sizeof buf, "a\x1b[31mred\x07\r\nX\x7f"),
                        "a\\x1b[31mred\\x07\\x0d\\x0aX\\x7f");
    /* U+009B is the 8-bit CSI */
    assert_string_equal(pk_term_escape(buf, sizeof buf, "x\xc2\x9b" "2J"), "x\\u009b2J");
    /* invalid UTF-8 bytes */
    assert_string_equal(pk_term_escape(buf, sizeof buf, "\xff\xfe"), "\\xff\\xfe");
    assert_string_equal(pk_term_escape(buf, sizeof buf, NULL), "");
}

static void keeps_ordinary_text(void **state)
{
    (void)state;
    char buf[256];
    const char *s = "api-health / caf\xc3\xa9 \xe2\x9c\x93 C:\\path \xc2\xa0nbsp";
    assert_string_equal(pk_term_escape(buf, sizeof buf, s), s);
}

static void cuts_on_a_character_boundary(void **state)
{
    (void)state;
    char buf[10];
    /* 'a' then 4 two-byte characters: must not end in half a character */
    pk_term_escape(buf, sizeof buf, "a\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_true(strlen(buf) < sizeof buf);
    assert_string_equal(buf, "a\xc3\xa9\xc3\xa9...");
    /* an escape is never half-written */
    pk_term_escape(buf, sizeof buf, "abcd\x1b\x1b\x1b");
    assert_string_equal(buf, "abcd...");
    char big[12];
    pk_term_escape(big, sizeof big, "abcd\x1b\x1b\x1b");
    assert_string_equal(big, "abcd\\x1b...");
    assert_null(strchr(big, 0x1b));
}

static void rotating_slots_are_independent(void **state)
{
    (void)state;
    const char *a = pk_term("one\n");
    const char *b = pk_term("two\t");
    assert_string_equal(a, "one\\x0a");
    assert_string_equal(b, "two\\x09");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes_c0_del_and_c1),
        cmocka_unit_test(keeps_ordinary_text),
        cmocka_unit_test(cuts_on_a_character_boundary),
        cmocka_unit_test(rotating_slots_are_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
