/* rpc_incidents.h: the readers' side of the tracker (docs/ANALYTICS.md, "The
 * tracker"): a check's stored incidents and round states over any window, for
 * QueryService (incidents, availability, report) and anything else that shows
 * incidents or uptime. A window only clips: the rounds whose start is in
 * [since, until), the incidents that overlap it, each with its real start.
 * Another N, M or quorum than the stored rule is answered from the stored runs
 * (another quorum from the regions' runs), never from rollups.
 * No gRPC, no protobuf: plain structs for rpc_query.c to wrap. */
#ifndef PK_RPC_INCIDENTS_H
#define PK_RPC_INCIDENTS_H

#include <stddef.h>
#include <stdint.h>

#include "analytics.h"
#include "store.h"

struct tracked_window {
    int tracked;                  /* 0: the tracker has not seen the check yet (no rounds) */
    struct store_track_rule rule; /* interval, spread, and the N, M, quorum it stored with */
    int open_after, close_after, quorum; /* the rule this answer used (quorum 1 for a region) */
    int64_t k_from, k_until;      /* the window's rounds, half-open */
    int64_t up, down;             /* of those rounds, with data */
};

/* Rounds of the window for one scope (a region name, or NULL for global with
 * `quorum`, 0: the stored one). 0, or -1 with err. */
int tracked_rounds(struct store *s, const char *check, const char *region, int quorum, int64_t since_us,
                   int64_t until_us, struct tracked_window *w, char *err, size_t errlen);
/* The same, leaving out the rounds that start inside the niv intervals (sorted,
 * merged: maintenance windows). */
struct maint_interval;
int tracked_rounds_outside(struct store *s, const char *check, const char *region, int quorum, int64_t since_us,
                           int64_t until_us, const struct maint_interval *iv, size_t niv, struct tracked_window *w,
                           char *err, size_t errlen);

/* Up and down rounds of the window for the global scope (the stored quorum)
 * and each region: one read of the rule and one of the runs. regions[i] gets
 * the counts of names[i] (0 and 0 when it has no runs). 0, or -1 with err. */
int tracked_rounds_all(struct store *s, const char *check, int64_t since_us, int64_t until_us,
                       struct tracked_window *global, char (*names)[128], int n_names, struct tracked_window *regions,
                       char *err, size_t errlen);

/* Incidents of one scope overlapping the window. open_after, close_after and
 * quorum 0 (or the stored rule's): the stored incidents; otherwise the same
 * rule over the stored runs. An open incident's duration runs to the end of
 * the window's last round (so a check down all window has MTBF 0).
 * Regions are indexes into names (*n_names in and out, at most
 * PK_AN_MAX_REGIONS; callers share one list across checks). *out malloc'd.
 * Also fills *w (as tracked_rounds). 0, or -1 with err. */
int tracked_incidents(struct store *s, const char *check, const char *region, int quorum, int open_after,
                      int close_after, int64_t since_us, int64_t until_us, struct pk_incident **out, size_t *n,
                      char (*names)[128], int *n_names, struct tracked_window *w, char *err, size_t errlen);

/* Copies of incidents clipped to the window's rounds (start no earlier than its
 * first round, end no later than the end of its last), for downtime, MTTR and
 * MTBF over the window; the answer lists the real ones. */
void tracked_clip(const struct tracked_window *w, const struct pk_incident *in, size_t n, struct pk_incident *out);

#endif
