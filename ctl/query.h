/* query.h: picketctl's analytics commands (report, availability, latency, trend,
 * incidents, slo; docs/ANALYTICS.md, "Query API and CLI"). */
#ifndef PK_CTL_QUERY_H
#define PK_CTL_QUERY_H

#include <stdint.h>
#include <stdio.h>

/* 1 when name is one of the analytics commands. */
int ctl_query_is_command(const char *name);
/* Prints the help of one command (name) to f. */
void ctl_query_usage(FILE *f, const char *name);
/* Runs one command; argv[0] is its name. Exit code: 0 ok, 1 the collector
 * could not answer, 2 usage (including a check, service or region the
 * collector does not know). */
int ctl_query_main(const char *collector, int timeout_ms, int argc, char **argv);

/* Parses --since/--until: RFC 3339 (2026-11-26T10:00:00Z, with an optional
 * fraction and a Z or +hh:mm offset), "now", or a duration before now_us such
 * as 90s, 30m, 24h, 7d, 2w. 0 with *us, or -1. Exposed for unit tests. */
int ctl_parse_time(const char *s, int64_t now_us, int64_t *us);

#endif
