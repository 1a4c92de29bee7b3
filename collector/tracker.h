/* tracker.h: folding a check's results into stored round states and incidents
 * as they arrive (docs/ANALYTICS.md, "The tracker"). Pure: no database, no
 * clock; collector/store/tracker.c loads a check's stored runs and incidents,
 * calls tracker_apply with the results of the rounds a batch touched, and
 * writes back what changed.
 *
 * Scopes: one per region (index 0..n_regions-1) and the global one (index
 * n_regions, decided by quorum). The fold recomputes every round of
 * [k_lo, k_hi] from all of its results (a late region decides a round again),
 * then the open-after-N / close-after-M incidents of each scope from a quiet
 * point before the first changed round, so a late result changes runs and
 * incidents exactly as if it had come on time. */
#ifndef PK_TRACKER_H
#define PK_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "rounds.h"

#define TRACKER_MAX_REGIONS 64
/* Stored runs read before the first changed round, to find a quiet point. */
#define TRACKER_LOOKBACK_RUNS 64
/* Most rounds one fold recomputes (a day of 5 s rounds is 17,280). */
#define TRACKER_MAX_SPAN INT64_C(2000000)

struct tracker_rule {
    int64_t interval_us, spread_us;
    int open_after, close_after; /* N and M, >= 1 */
    int quorum;                  /* regions down for a global down round, >= 1 */
    int64_t deadline_us;         /* a global round is decided at its end + this */
};

/* One result: its round, its region (index), good (ok, degraded) or bad (failed). */
struct tracker_cell {
    int64_t k;
    int region;
    uint32_t good, bad;
};

struct tracker_scope {
    struct pk_timeline tl; /* in: the stored runs that end at or after inc_from0, and up to
                              TRACKER_LOOKBACK_RUNS before; out: edited */
    int lookback_full;     /* in: 1 when older runs than those loaded exist */
    int64_t inc_from0;     /* in: min(k_lo, start of the earliest stored incident open or closed >= k_lo) */
    int changed;           /* out: a run changed */
    int64_t inc_from;      /* out: stored incidents starting at or after this are replaced by inc */
    struct pk_round_incident *inc; /* out, malloc'd (tracker_fold_free) */
    size_t n_inc;
};

struct tracker_fold {
    struct tracker_rule rule;
    int n_regions;
    uint64_t expected; /* regions whose probes run the check */
    int64_t k_lo, k_hi; /* rounds to recompute, inclusive */
    struct tracker_scope scopes[TRACKER_MAX_REGIONS + 1];
    /* out: global rounds not decided yet (a region may still report); -1 none */
    int64_t pending_from, pending_to, pending_due_us;
};

/* Recomputes rounds [k_lo, k_hi] of every scope from cells (all the results of
 * those rounds, any order; cells outside the range are ignored), then each
 * scope's incidents. 0, or -1 with err (bad rule, span too long, out of memory). */
int tracker_apply(struct tracker_fold *f, const struct tracker_cell *cells, size_t n, int64_t now_us, char *err,
                  size_t errlen);

/* Frees every scope's timeline and incidents. */
void tracker_fold_free(struct tracker_fold *f);

#endif
