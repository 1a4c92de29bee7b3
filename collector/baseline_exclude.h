/* baseline_exclude.h: what baseline learning leaves out besides the windows
 * whose failed share marks them (pk_baseline_window_excluded): windows that
 * overlap one of the check's stored incidents (the tracker's, any scope when
 * no region is asked, else that region's and the global ones) or one of its
 * maintenance windows (docs/ANALYTICS.md, "Baselines and regressions"). The
 * regression rule (collector/regression_rule.c) and the report's baseline column
 * (collector/rpc_baseline.c) call it on the windows they learn from. */
#ifndef PK_BASELINE_EXCLUDE_H
#define PK_BASELINE_EXCLUDE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* One interval [start, end) to leave out; end INT64_MAX: still open. */
struct baseline_gap {
    int64_t start_us, end_us;
};

/* Sets excluded[i] for every window [t[i], t[i] + width) (t ascending) that
 * overlaps one of the intervals; returns how many it set that were not set. */
size_t baseline_exclude_mark(const int64_t *t, size_t n, int64_t width, const struct baseline_gap *g, size_t ng,
                             unsigned char *excluded);

/* Reads check's incidents (region NULL: every scope; else region and global)
 * and its maintenance windows over [from, to) and marks the windows they
 * overlap (baseline_exclude_mark). *marked (may be NULL): how many were newly
 * marked. 0, or -1 with err. */
int baseline_exclude_known(struct store *s, const char *check, const char *region, int64_t from, int64_t to,
                           const int64_t *t, size_t n, int64_t width, unsigned char *excluded, size_t *marked,
                           char *err, size_t errlen);

/* For the calls of a batch on this thread (a report's baselines of every
 * check): the maintenance windows are read once here; while none is in force,
 * baseline_exclude_known reads no windows per check. Release after the batch. */
int baseline_exclude_hold(struct store *s, char *err, size_t errlen);
void baseline_exclude_release(void);

#endif
