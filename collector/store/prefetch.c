/* prefetch.c: the tables the reports read, brought into the kernel's page
 * cache at a collector's start by pg_prewarm's 'prefetch' mode (posix_fadvise
 * over each relation's file, read ahead in large sequential runs).
 *
 * After a reboot every page a report needs is on disk, and the reports' index
 * scans read them one 8 kB block at a time: on the machine of
 * docs/PERFORMANCE.md ("Read ahead at start") about 0.07 ms a block, and a
 * first 30-day report over 1,000 checks took 1.0-2.1 s against 0.55 s with
 * the pages cached. Read sequentially, the 850 MB those reports need come in
 * at over 1 GB/s. pg_prewarm is a
 * contrib extension shipped with PostgreSQL; `picket-collector migrate`
 * creates it when its role may (store_prefetch_install). Without it nothing
 * is prefetched and the reports read as before. */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

/* Most wanted first: what the default 24-hour report and the dashboard read,
 * then the 30-day report's day packs, then the regions' packs. Each table is
 * taken with its indexes, whole, while the budget has room. */
const char *const store_prefetch_tables[] = {
    "checks",           "probes",          "round_trackers", "incidents",  "rollup_check_hour", "round_runs",
    "check_hour_days",  "rollup_check_day", "rollup_day",    "region_hour_days",
};
const size_t store_prefetch_tables_n = sizeof store_prefetch_tables / sizeof store_prefetch_tables[0];

int store_prefetch_install(struct store *s, char *why, size_t whylen)
{
    st_ensure_ready(s);
    char err[512];
    if (st_run_cmd(s, "CREATE EXTENSION IF NOT EXISTS pg_prewarm", 0, NULL, "creating the extension pg_prewarm",
                   err, sizeof err) < 0) {
        snprintf(why, whylen, "%s", err);
        return 1;
    }
    return 0;
}

/* Every listed table that exists and its indexes: (table's position, regclass
 * text, bytes), in the list's order, each table's heap before its indexes. */
#define PREFETCH_RELATIONS_SQL                                                                                    \
    "WITH t AS (SELECT t.ord, to_regclass(t.name) AS rel "                                                        \
    "FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS t(name, ord)) "                                 \
    "SELECT r.ord, r.rel::regclass::text, pg_relation_size(r.rel) FROM ("                                          \
    "SELECT t.ord, t.rel, 0 AS idx FROM t WHERE t.rel IS NOT NULL "                                               \
    "UNION ALL SELECT t.ord, i.indexrelid, i.indexrelid::bigint FROM t JOIN pg_index i ON i.indrelid = t.rel"      \
    ") r ORDER BY r.ord, r.idx"

int store_prefetch(struct store *s, int64_t budget_bytes, struct store_prefetch_stats *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    st_ensure_ready(s);
    PGresult *r = st_run(s, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm')", 0, NULL,
                         PGRES_TUPLES_OK, "prefetch: looking for pg_prewarm", err, errlen);
    if (!r)
        return -1;
    out->installed = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!out->installed || budget_bytes <= 0)
        return 0;
    char *names = st_strings_json((char *const *)store_prefetch_tables, store_prefetch_tables_n);
    if (!names)
        return pk_fail(err, errlen, "prefetch: out of memory");
    const char *params[] = {names};
    r = st_run(s, PREFETCH_RELATIONS_SQL, 1, params, PGRES_TUPLES_OK, "prefetch: listing the tables", err, errlen);
    free(names);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *rel = PQgetvalue(r, i, 1);
        int64_t bytes = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        if (bytes == 0)
            continue; /* empty (or, under Citus, a distributed table's shell here) */
        if (bytes > budget_bytes - out->bytes) {
            out->skipped++;
            out->skipped_bytes += bytes;
            continue;
        }
        const char *p[] = {rel};
        char what[160];
        snprintf(what, sizeof what, "prefetch of %.100s", rel);
        PGresult *w = st_run(s, "SELECT pg_prewarm($1::regclass, 'prefetch')", 1, p, PGRES_TUPLES_OK, what, err,
                             errlen);
        if (!w) { /* e.g. a table this role may not read: the others still come */
            out->failed++;
            continue;
        }
        out->relations++;
        out->bytes += bytes;
        PQclear(w);
    }
    PQclear(r);
    if (out->failed == 0)
        err[0] = '\0';
    return 0;
}
