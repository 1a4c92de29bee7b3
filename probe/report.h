/* report.h: what `picket-probe run --once` tells a person or a CI system about
 * one round of checks: a readable table, JUnit XML and TAP, and the exit code.
 * Pure functions over rows the caller owns; they only write to the FILE given. */
#ifndef PK_REPORT_H
#define PK_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "result.h"

/* One check's line in a report. Everything is borrowed. `name` and `type` are
 * the check's own (pk_result's copies may be truncated); `service` may be NULL. */
struct report_row {
    const char *name;
    const char *type;
    const char *service;
    const struct pk_result *result;
};

/* Exit codes of `run --once`. */
enum {
    REPORT_EXIT_OK = 0,       /* every check ok */
    REPORT_EXIT_DEGRADED = 1, /* something degraded, nothing failed */
    REPORT_EXIT_FAILED = 2,   /* something failed (or was unknown) */
    REPORT_EXIT_CONFIG = 3,   /* a check file did not load; nothing ran */
};

/* The exit code for these rows: failed and unknown count as failed. */
int report_exit_code(const struct report_row *rows, size_t n);

/* The table:
 *
 *   CHECK       TYPE  OUTCOME   STATUS  TIME      METRICS
 *   rag-query   http  failed    200     10.01 s   sources=2
 *     why: json '.answer | length > 0' is false
 *
 *   3 checks: 1 ok, 1 degraded, 1 failed
 *
 * Every check that is not ok gets its reason on its own line. */
void report_table(FILE *out, const struct report_row *rows, size_t n);

/* JUnit XML: one <testsuite name="suite">, one <testcase> per row with
 * classname = service (or type when there is none) and time in seconds.
 * failed -> <failure message=.. type="failed">; unknown -> <error type="unknown">;
 * degraded passes, with "degraded: reason" in <system-out> (CI must not go red
 * on a warning, but the note is kept). Metrics go to <properties>. Every text
 * and attribute is XML-escaped; bytes XML 1.0 cannot carry become '?'. */
void report_junit(FILE *out, const char *suite, const struct report_row *rows, size_t n);

/* TAP version 13: "ok 1 - name", "not ok 2 - name # reason",
 * "ok 3 - name # degraded: reason", unknown -> "not ok 4 - name # unknown: reason".
 * '#' and '\' in names are escaped with '\'; reasons are kept on one line. */
void report_tap(FILE *out, const struct report_row *rows, size_t n);

#endif
