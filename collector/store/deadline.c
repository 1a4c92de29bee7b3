/* deadline.c: a caller's deadline on a store connection. A query job whose caller
 * gives up (picketctl --timeout, a cancelled call) must stop using the collector:
 * while a deadline is set, every statement started after it fails at once with
 * "the caller's deadline passed", and PostgreSQL's statement_timeout stops a
 * statement still running when it passes, so the control thread is free again
 * within the caller's own budget, not after the whole answer nobody reads. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>

#include "pk_error.h"
#include "result.h"

int store_set_deadline(struct store *s, int64_t deadline_us, char *err, size_t errlen)
{
    if (!s->deadline_us && !deadline_us)
        return 0;
    s->deadline_us = 0; /* the SET itself must run */
    int64_t left_ms = deadline_us ? (deadline_us - pk_now_us()) / 1000 : 0;
    if (deadline_us && left_ms < 1) {
        pk_fail(err, errlen, "the caller's deadline passed before the query started");
        s->deadline_us = deadline_us;
        return -1;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "SET statement_timeout = %" PRId64, deadline_us ? left_ms : 0);
    st_ensure_ready(s);
    if (st_run_cmd(s, sql, 0, NULL, "setting the deadline", err, errlen) < 0)
        return -1;
    s->deadline_us = deadline_us;
    return 0;
}

int st_deadline_passed(struct store *s, char *err, size_t errlen)
{
    if (!s->deadline_us || pk_now_us() < s->deadline_us)
        return 0;
    pk_fail(err, errlen, "the caller's deadline passed: the query stopped");
    return 1;
}
