/* test_incident_deps.c: collector/incident_deps.c, the root cause of an
 * incident by depends_on: followed through a chain (by name and by service),
 * only while the dependency's incident is open, and bounded on a cycle. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "incident_deps.h"
#include "result.h"

static struct store_check_meta meta(const char *name, const char *service, const char *deps)
{
    struct store_check_meta m;
    memset(&m, 0, sizeof m);
    pk_strlcpy(m.name, name, sizeof m.name);
    pk_strlcpy(m.service, service, sizeof m.service);
    pk_strlcpy(m.meta.depends_on, deps, sizeof m.meta.depends_on);
    return m;
}

static void chain(void **state)
{
    (void)state;
    /* rag <- assistants (by name) <- approval (by service) */
    struct store_check_meta m[3] = {meta("rag", "rag-api", ""), meta("assistants", "assistants-api", "rag"),
                                    meta("approval", "approval-app", "other,service:assistants-api")};
    const struct store_check_meta *checks[3] = {&m[0], &m[1], &m[2]};
    struct pk_incident rag[1] = {{100, 500, 400, 1, 4}}, asst[1] = {{150, 400, 250, 1, 2}},
                       appr[2] = {{200, -1, 0, 1, 3}, {450, -1, 0, 1, 1}};
    struct pk_incident *raw[3] = {rag, asst, appr};
    size_t n_raw[3] = {1, 1, 2};
    assert_true(incident_deps_direct(&m[1], &m[0]));
    assert_true(incident_deps_direct(&m[2], &m[1]));
    assert_false(incident_deps_direct(&m[2], &m[0])); /* not directly */
    assert_false(incident_deps_direct(&m[0], &m[1]));
    assert_null(incident_deps_root(checks, 3, raw, n_raw, 0, 100));
    assert_string_equal(incident_deps_root(checks, 3, raw, n_raw, 1, 150), "rag");
    assert_string_equal(incident_deps_root(checks, 3, raw, n_raw, 2, 200), "rag"); /* through assistants */
    /* At 450 assistants' incident is closed (rag's is open, but approval does not depend on rag). */
    assert_null(incident_deps_root(checks, 3, raw, n_raw, 2, 450));
    /* A dependency's incident that starts later is not the cause. */
    assert_null(incident_deps_root(checks, 3, raw, n_raw, 1, 99));
    /* "rag" is not "rag-api" nor a prefix match. */
    struct store_check_meta ragx = meta("ra", "", "");
    assert_false(incident_deps_direct(&m[1], &ragx));
}

/* The checks an answer's checks depend on, read for their causes only: the
 * chain's checks by name and by service, each once, a cycle ending, the room
 * given respected. */
static void closure_of_dependencies(void **state)
{
    (void)state;
    struct store_check_meta m[5] = {meta("rag", "rag-api", ""), meta("assistants", "assistants-api", "rag"),
                                    meta("approval", "approval-app", "other,service:assistants-api"),
                                    meta("x", "", "y"), meta("y", "", "x")};
    const struct store_check_meta *all[5] = {&m[2]};
    assert_int_equal(incident_deps_closure(m, 5, all, 1, 5), 3);
    assert_ptr_equal(all[1], &m[1]); /* approval -> assistants (its service) */
    assert_ptr_equal(all[2], &m[0]); /* -> rag, through assistants */
    all[0] = &m[1]; /* assistants alone: rag only */
    assert_int_equal(incident_deps_closure(m, 5, all, 1, 5), 2);
    assert_ptr_equal(all[1], &m[0]);
    all[0] = &m[0]; /* no dependency */
    assert_int_equal(incident_deps_closure(m, 5, all, 1, 5), 1);
    all[0] = &m[3]; /* a cycle: y once */
    assert_int_equal(incident_deps_closure(m, 5, all, 1, 5), 2);
    assert_ptr_equal(all[1], &m[4]);
    all[0] = &m[2]; /* room for one more only */
    assert_int_equal(incident_deps_closure(m, 5, all, 1, 2), 2);
}

static void cycle_is_bounded(void **state)
{
    (void)state;
    struct store_check_meta m[2] = {meta("x", "", "y"), meta("y", "", "x")};
    const struct store_check_meta *checks[2] = {&m[0], &m[1]};
    struct pk_incident ix[1] = {{10, -1, 0, 1, 1}}, iy[1] = {{10, -1, 0, 1, 1}};
    struct pk_incident *raw[2] = {ix, iy};
    size_t n_raw[2] = {1, 1};
    const char *root = incident_deps_root(checks, 2, raw, n_raw, 0, 10);
    assert_non_null(root); /* some answer, and it returns */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(chain), cmocka_unit_test(cycle_is_bounded),
                                       cmocka_unit_test(closure_of_dependencies)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
