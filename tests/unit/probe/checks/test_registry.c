/* test_registry.c: the probe's registry of executors and the loader's table of
 * check types stay one list: every kind has an executor with the callbacks the
 * runner calls, a type's name finds the executor of its kind, and nothing else
 * does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "checks/registry.h"

static void test_every_kind_has_an_executor(void **state)
{
    (void)state;
    for (int k = 0; k < PK_CHECK_KINDS; k++) {
        const struct check_type *t = check_type_of(k);
        assert_non_null(t);
        assert_non_null(t->create);
        assert_non_null(t->start);
        assert_non_null(t->destroy);
        assert_ptr_equal(check_type_find(pk_check_types[k].name), t);
        for (int other = 0; other < k; other++)
            assert_ptr_not_equal(check_type_of(other), t);
    }
    assert_ptr_equal(check_type_of(PK_CHECK_HTTP), &check_type_http);
    assert_ptr_equal(check_type_of(PK_CHECK_EXEC), &check_type_exec);
}

static void test_unknown_types(void **state)
{
    (void)state;
    assert_null(check_type_of(-1));
    assert_null(check_type_of(PK_CHECK_KINDS));
    assert_null(check_type_find("smtp"));
    assert_null(check_type_find(""));
    assert_null(check_type_find(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_has_an_executor),
        cmocka_unit_test(test_unknown_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
