/* probe_test.h: what the probe's unit tests build checks and assertions with:
 * jq and PCRE2 programs compiled or the test fails, and one check run once
 * through a runner the way the probe runs it. Include after <cmocka.h> (and its
 * prerequisites); static inline, so a test file takes only what it calls. */
#ifndef PK_TEST_PROBE_TEST_H
#define PK_TEST_PROBE_TEST_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <jq.h>
#include <pcre2.h>
#include <string.h>

#include "checks.h"
#include "result.h"
#include "runner.h"

/* A compiled jq program (jq_teardown frees it); fails the test when src does not compile. */
static inline void *compile_jq(const char *src)
{
    jq_state *jq = jq_init();
    assert_non_null(jq);
    assert_true(jq_compile(jq, src));
    return jq;
}

/* A compiled regex (pcre2_code_free frees it); fails the test when src does not compile. */
static inline void *compile_re(const char *src)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    assert_non_null(re);
    return re;
}

static inline void copy_result(const struct pk_result *r, void *user) { *(struct pk_result *)user = *r; }

/* Runs the one check c once through a runner; its result into *out (filled with
 * 0xff bytes first, so a result that never came fails the test's assertions). */
static inline void run_check_once(struct pk_check *c, struct pk_result *out)
{
    struct pk_checkset set = {c, 1, NULL, 0};
    char err[512] = "";
    memset(out, 0xff, sizeof *out);
    struct runner *r = runner_new(&set, copy_result, out, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    assert_int_equal(runner_run_once(r), 0);
    runner_free(r);
}

#endif
