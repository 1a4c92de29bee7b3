/* uplink.h: the probe's link to its collector(s). Results handed to
 * uplink_submit() go into the on-disk spool and stay there until the collector
 * acknowledges that they are committed; after a reconnect or a restart
 * everything unacknowledged is sent again. Runs on its own thread; submit is
 * thread-safe and never blocks on the network. */
#ifndef PK_UPLINK_H
#define PK_UPLINK_H

#include <stddef.h>
#include <stdint.h>

#include "check_meta.h"
#include "checks.h"
#include "result.h"

struct uplink;

struct uplink_check_info {
    const char *name;
    const char *type;
    const char *target;
    int64_t interval_ms;
    /* analytics metadata (docs/CHECKS.md): NULL / 0 when not given */
    const char *service;
    struct pk_check_meta meta;
};

struct uplink_config {
    const char *const *collectors; /* addresses, tried in order, rotating on failure */
    size_t n_collectors;
    const char *probe_name;
    const char *region;
    const struct pk_kv *labels;
    size_t n_labels;
    const struct uplink_check_info *checks; /* what this probe runs, reported at Register */
    size_t n_checks;
    int batch_max;          /* results per batch (1..5000), default 500 */
    int flush_ms;           /* longest a result waits for a fuller batch, default 200 */
    int heartbeat_ms;       /* default 10000 */
    const char *spool_dir;  /* required */
    uint64_t spool_cap_bytes;     /* default 256 MiB; the oldest results go beyond it */
    uint64_t spool_segment_bytes; /* default 8 MiB */
    int spool_fsync_ms;     /* see spool.h; default (0 here) means fsync every append */
    int window_batches;     /* batches sent but not yet acknowledged, default 8 */
    /* Central assignment: called on the uplink thread with each CheckSet the
     * collector sends (documents[i] is a check file named origins[i]; n may be 0).
     * Returns 0 when the probe now runs `version`, -1 with err when it refused it;
     * the answer goes back to the collector. NULL: CheckSets are ignored. */
    int (*on_checks)(int64_t version, const char *const *origins, const char *const *documents, size_t n,
                     void *user, char *err, size_t errlen);
    void *checks_user;
};

/* Copies what it needs from cfg. NULL + err on bad config. */
struct uplink *uplink_start(const struct uplink_config *cfg, char *err, size_t errlen);
/* Encodes the result and appends it to the spool. */
void uplink_submit(struct uplink *u, const struct pk_result *r);

struct uplink_stats {
    uint64_t produced;     /* appended to the spool since it was created (survives restarts) */
    uint64_t acked_seq;    /* highest sequence the collector has committed */
    uint64_t pending;      /* in the spool, not yet acknowledged (not those the cap dropped) */
    uint64_t dropped;      /* dropped for the spool's cap, or not spooled at all */
    uint64_t spool_bytes;
    uint64_t spool_corrupt; /* broken records cut off when the spool was opened */
    uint64_t reconnects;
    int connected;
};
void uplink_get_stats(struct uplink *u, struct uplink_stats *out);

/* Waits up to drain_ms for pending results to be acknowledged, then stops. */
void uplink_stop(struct uplink *u, int drain_ms);

#endif
