/* rollup.h: per-(check, probe, minute) aggregates of results and their merging,
 * in C and without a database (docs/ANALYTICS.md, "Storage and rollups"). A
 * rollup row is counts by outcome plus a pk_hist (common/histogram.h) of the
 * total_us of its successful results, stored in pk_hist_encode's form. collector/store/ writes and reads the
 * rows; everything that adds them up is here, so it is unit-tested alone. */
#ifndef PK_ROLLUP_H
#define PK_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

#define ROLLUP_MINUTE_US INT64_C(60000000)
#define ROLLUP_HOUR_US INT64_C(3600000000)
#define ROLLUP_DAY_US INT64_C(86400000000)

/* Outcomes as common/result.h numbers them; unspecified (0) or anything out of
 * range counts as unknown. */
struct rollup_counts {
    uint64_t ok, degraded, failed, unknown;
};
void rollup_counts_add_outcome(struct rollup_counts *c, int outcome);
void rollup_counts_merge(struct rollup_counts *dst, const struct rollup_counts *src);
/* dst -= src, never below zero (dst holds src). */
void rollup_counts_unmerge(struct rollup_counts *dst, const struct rollup_counts *src);
uint64_t rollup_counts_total(const struct rollup_counts *c);

/* The part of a stored result that rollups need. total_us < 0: no latency (it
 * counts by outcome but adds nothing to the histogram). Only successful results
 * (ok and degraded) add their latency: a timeout or a refused connection says
 * nothing about how fast the service answers, and would sit in p99. */
struct rollup_input {
    int64_t check_id, probe_id, started_at_us, total_us;
    int outcome;
    int64_t minute; /* set by rollup_build_minutes; callers leave it 0 */
};

/* Rows with their encoded histograms in one growing byte buffer. */
struct rollup_row {
    int64_t check_id, probe_id, start_us;
    struct rollup_counts counts;
    size_t hist_off, hist_len; /* into rollup_rows.bytes */
};
struct rollup_rows {
    struct rollup_row *rows;
    size_t n, cap;
    uint8_t *bytes;
    size_t bytes_len, bytes_cap;
};
void rollup_rows_reset(struct rollup_rows *r); /* keeps the memory */
/* Appends one row, copying its encoded histogram. 0, or -1 when out of memory. */
int rollup_rows_append(struct rollup_rows *r, int64_t check_id, int64_t probe_id, int64_t start_us,
                       const struct rollup_counts *counts, const uint8_t *hist, size_t len);
void rollup_rows_free(struct rollup_rows *r);

/* 1 when a result of this outcome adds its total_us to the histogram (ok,
 * degraded), 0 otherwise (failed, unknown: they only count). */
int rollup_latency_counts(int outcome);

/* floor(us / width) * width, also for negative us. */
int64_t rollup_floor(int64_t us, int64_t width);

/* Appends one row per (check, probe, minute of started_at) found in `in`,
 * ordered by (probe, minute, check), the order packing wants. Sorts `in` in
 * place. 0, or -1 when out of memory. */
int rollup_build_minutes(struct rollup_input *in, size_t n, struct rollup_rows *out);

/* Partial rows are packed (migration 011): one stored row per (probe, minute) of
 * an ingest transaction holds the entries of every check of that probe and
 * minute, so a batch of 1,000 results of 1,000 different checks writes one
 * partial row, not 1,000. Form: a version byte, varint entry count, then per
 * entry, by ascending check id: varint check id (the first as is, the others as
 * the gap from the previous), varints ok, degraded, failed, unknown, varint
 * histogram length and the histogram (pk_hist_encode's form). */
struct rollup_pack {
    int64_t probe_id, minute_us;
    size_t entries;
    size_t off, len; /* into rollup_packs.bytes */
};
struct rollup_packs {
    struct rollup_pack *v;
    size_t n, cap;
    uint8_t *bytes;
    size_t len, bytes_cap;
};
void rollup_packs_reset(struct rollup_packs *p); /* keeps the memory */
void rollup_packs_free(struct rollup_packs *p);
/* Packs rows (sorting them by probe, minute, check) into out. 0, or -1 when out
 * of memory. */
int rollup_pack_rows(struct rollup_rows *rows, struct rollup_packs *out);
/* Reads a packed row entry by entry; hist points into the row. */
struct rollup_unpack {
    const uint8_t *buf;
    size_t len, pos;
    uint64_t left;
    int64_t check_id;
};
/* 0, or -1 when buf is not a packed row. */
int rollup_unpack_begin(struct rollup_unpack *u, const uint8_t *buf, size_t len);
/* 1 and the next entry, 0 at the end (with every byte used), -1 when invalid. */
int rollup_unpack_next(struct rollup_unpack *u, int64_t *check_id, struct rollup_counts *c, const uint8_t **hist,
                       size_t *hist_len);

/* A map (a, b, t) -> counts + pk_hist, adding up rows. The key is (check, probe,
 * bucket) when compacting and (check, probe or region, bucket) when answering a
 * query. Entries keep insertion order until rollup_merge_sort. */
struct rollup_entry {
    int64_t a, b, t;
    struct rollup_counts counts;
    struct pk_hist *hist; /* owned by the map; NULL only for rollup_merge_get_bare's until set */
};
struct rollup_merge;
struct rollup_merge *rollup_merge_new(void);
void rollup_merge_free(struct rollup_merge *m);
/* Adds a row (hist in pk_hist_encode form; len 0 = empty). -1 when the
 * encoding is invalid (nothing is added) or out of memory. */
int rollup_merge_add(struct rollup_merge *m, int64_t a, int64_t b, int64_t t, const struct rollup_counts *c,
                     const uint8_t *hist, size_t len);
/* The entry for a key, made empty when new; NULL when out of memory. */
struct rollup_entry *rollup_merge_get(struct rollup_merge *m, int64_t a, int64_t b, int64_t t);
/* The same, but a new entry's hist is left NULL: the caller sets it (to a
 * malloc'd pk_hist the map then owns) once it needs one. */
struct rollup_entry *rollup_merge_get_bare(struct rollup_merge *m, int64_t a, int64_t b, int64_t t);
size_t rollup_merge_count(const struct rollup_merge *m);
struct rollup_entry *rollup_merge_entry(struct rollup_merge *m, size_t i);
void rollup_merge_sort(struct rollup_merge *m); /* by (a, b, t); the map stays usable */

/* Which stored level answers which part of a window [since, until) (both whole
 * minutes): whole UTC days inside it from rollup_day, whole hours at its edges
 * from rollup_hour, the minutes left from rollup_minute. Every minute of the
 * window is in exactly one range; empty ranges have from == to. */
struct rollup_range {
    int64_t from_us, to_us;
};
struct rollup_plan {
    struct rollup_range day;
    struct rollup_range hour[2];
    struct rollup_range minute[2];
};
void rollup_plan_window(int64_t since_us, int64_t until_us, struct rollup_plan *p);

/* The same window as a signed sum: each edge is read from whichever is fewer
 * rows, its own finer rows added or the coarser row that holds it less the
 * finer rows outside the window (a 30-day window from 04:05 is the day's row
 * less 4 hours and 5 minutes, not 19 hours and 55 minutes). Minutes are
 * subtracted only from hours at or after minutes_from (retention deletes
 * minutes, never hours), hours only from days that end by days_closed (the
 * days whose rows are written). Every minute of the window is added once more than
 * it is subtracted and every other minute as often; levels are consistent
 * (an hour's row is the sum of its minutes', a closed day's of its hours'), so
 * the sum is exact. Neither edge is rounded within one hour. The rows are
 * counted as the levels hold them: none at or after stored_until (the
 * compaction's mark), so a window ending now is its hour's row less nothing,
 * not the minutes since the hour began. */
struct rollup_signed_plan {
    struct rollup_range day;
    struct rollup_range hour[2], minute[2];         /* added */
    struct rollup_range hour_neg[2], minute_neg[2]; /* subtracted */
};
void rollup_plan_signed(int64_t since_us, int64_t until_us, int64_t minutes_from_us, int64_t days_closed_us,
                        int64_t stored_until_us, struct rollup_signed_plan *p);

#endif
