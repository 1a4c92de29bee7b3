/* rpc_baseline_cache.h: the report's baseline inputs kept in memory
 * (rpc_baseline_cache.c): each check's hourly summaries of the 29 days the
 * baseline reads, read again only when the check's check_hour_marks counter
 * moved (migration 028; then from the first hour rewritten since, migration
 * 038) or the span moved to the next hour. */
#ifndef PK_RPC_BASELINE_CACHE_H
#define PK_RPC_BASELINE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* store_check_hours_read for checks[0..n) over [since, until) (region NULL),
 * or rpc_region_hours_read for one region, the same rows, from the cache
 * where each check's mark still holds (a region's entries also while the
 * region's probes are the same): the kept hours from since on, and the hours
 * after a check's kept ones read (the span moved on: one hour read, not 29
 * days). The last hour, when it ended less than RPC_BASELINE_CACHE_MARGIN_US
 * ago, is read and not kept; a span holding uncompacted rows is read whole and
 * not kept. *out malloc'd, sorted by check index then hour. 0, or -1 with err. */
int rpc_baseline_cache_hours(struct store *s, const char *const *checks, size_t n, const char *region,
                             int64_t since_us, int64_t until_us, struct store_check_hour **out, size_t *nout,
                             char *err, size_t errlen);

/* An hour that ended less than this before now is read, not cached: a rewrite
 * of it by a compaction that started before the hour ended raises no mark. */
#define RPC_BASELINE_CACHE_MARGIN_US (120 * 1000000LL)

/* Checks answered from memory and read from PostgreSQL since the start (tests,
 * /metrics-style counters). */
void rpc_baseline_cache_counts(uint64_t *hits, uint64_t *misses);

/* Of the hits, the checks whose entry was older than their mark and served up
 * to the first hour rewritten since (check_hour_rewrites, migration 038), and
 * the summaries read from PostgreSQL for the cache, since the start. */
void rpc_baseline_cache_reads(uint64_t *partial, uint64_t *rows_read);

/* The bytes and entries kept now, and the entries swept out since the start
 * (/metrics: picket_baseline_cache_bytes, _entries, _evicted_total). */
void rpc_baseline_cache_size(size_t *bytes, size_t *entries, uint64_t *evicted);
/* Its bound in bytes (rpc_baseline_cache_set_limit). */
size_t rpc_baseline_cache_limit(void);

/* The cache's bound in bytes (about 28 KB per check, or per check and region
 * asked); entries past it are swept out. Default RPC_BASELINE_CACHE_DEFAULT_MB. */
#define RPC_BASELINE_CACHE_DEFAULT_MB 512
void rpc_baseline_cache_set_limit(size_t bytes);

/* Its /metrics series (Prometheus text) into buf; the bytes written. */
size_t rpc_baseline_cache_metrics(char *buf, size_t size);

/* Drops every entry (tests; a collector frees them at exit). */
void rpc_baseline_cache_clear(void);

#endif
