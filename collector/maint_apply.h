/* maint_apply.h: maintenance windows where the collector's readers meet them
 * (docs/ANALYTICS.md, "Maintenance"): the windows in force (the --maintenance
 * file and the store's), one check's intervals over a range, and the two cuts
 * the readers make: rounds that start inside a window leave availability and
 * SLOs (exactly, at round level: maint_exact.c); an incident that starts
 * inside one is marked and does not page. The readers (rpc_query.c, alerts.c) call only these. */
#ifndef PK_MAINT_APPLY_H
#define PK_MAINT_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "analytics.h"
#include "maint.h"
#include "maint_config.h"
#include "store.h"

/* The file's windows, set once at start (cfg stays valid while the collector runs). */
void maint_apply_set_file(const struct maint_config *cfg);
/* Every window: the file's, then the store's. *w malloc'd (caller frees). 0, or -1 with err. */
int maint_apply_windows(struct store *s, struct maint_window **w, size_t *n, char *err, size_t errlen);

/* 1 when w applies to the check m (its name, service and stored labels, as
 * maint_check_intervals matches them). */
int maint_selects_check(const struct maint_window *w, const struct store_check_meta *m);

/* One check's intervals over [from, to) (sorted, merged); *iv malloc'd. */
int maint_check_intervals(const struct maint_window *w, size_t n, const struct store_check_meta *m, int64_t from,
                          int64_t to, struct maint_interval **iv, size_t *niv, char *err, size_t errlen);

/* The check's counts over [from, to) outside its windows, appended to *b (grown
 * with realloc): one bucket per stretch between windows, and the minutes a
 * window starts or ends in (and the next) counted by round from raw results,
 * so exactly the rounds that start inside a window are left out (at most
 * MAINT_MAX_GAPS stretches; past that, one bucket per hour that does not start
 * inside a window). For the SLO's long window (maint_exact.c). 0, or -1 with err. */
#define MAINT_MAX_GAPS 256
int maint_slo_buckets(struct store *s, const struct maint_window *w, size_t n, const struct store_check_meta *m,
                      const char *region, int64_t from, int64_t to, struct pk_an_bucket **b, size_t *nb, char *err,
                      size_t errlen);

/* The per-minute buckets b (rollup minutes over [from, to), of region or
 * every region when NULL) that stay in the SLO: a minute wholly outside the
 * windows whole, one wholly inside not at all, a minute a window starts or
 * ends in (or the next) with the counts of its rounds outside the windows,
 * read from raw results (hist then NULL); a minute whose raw results are gone
 * (fewer than its rollup counts; more is a result that came between the reads)
 * keeps the minute rule (kept unless it starts inside a window). *kept malloc'd (caller frees). 0, or -1 with err. */
int maint_exact_minutes(struct store *s, const struct maint_window *w, size_t n, const struct store_check_meta *m,
                        const char *region, int64_t from, int64_t to, const struct pk_an_bucket *b, size_t nb,
                        struct pk_an_bucket **kept, size_t *n_kept, char *err, size_t errlen);

/* The check's rows by region (region NULL: every region) over [from, to)
 * outside its windows, appended to *rows (grown with pk_grow; *cap its room):
 * one row per region and stretch between windows, and the minutes a window
 * starts or ends in (and the next) per region with the counts of their rounds
 * outside the windows (hist: the whole minute's), as maint_slo_buckets; past
 * MAINT_MAX_GAPS windows, whole minutes. For availability. 0, or -1 with err. */
int maint_exact_rows(struct store *s, const struct maint_window *w, size_t n, const struct store_check_meta *m,
                     const char *region, int64_t from, int64_t to, struct store_rollup_row **rows, size_t *nrows,
                     size_t *cap, char *err, size_t errlen);

/* The window an incident starting at start_us falls in, or NULL. *name_out is
 * set to its name (borrowed from w). */
int maint_incident_in_window(const struct maint_window *w, size_t n, const struct store_check_meta *m,
                             int64_t start_us, const char **name_out);

#endif
