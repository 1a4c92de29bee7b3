/* metrics.h: what the probe's /metrics shows. Per-check state (the last result
 * of every configured check, keyed by check name so a central-assignment swap
 * keeps what did not change), runner counters and a lateness histogram, all
 * updated on the runner thread and read by the HTTP thread under one mutex.
 * Rendering is pure text (common/metrics_text.h): no HTTP, no gRPC here. */
#ifndef PK_PROBE_METRICS_H
#define PK_PROBE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "checks.h"
#include "result.h"
#include "uplink.h"

struct probe_metrics;

/* region labels every per-check series. NULL on out of memory. Free with
 * probe_metrics_free. */
struct probe_metrics *probe_metrics_new(const char *region);
void probe_metrics_free(struct probe_metrics *pm);

/* Any thread: the checks this probe now runs. Checks that keep their name and
 * type keep their last result; the others' series go away (a result that
 * arrives later for a check no longer in the set is not shown). -1 on out of
 * memory (the old set stays). */
int probe_metrics_set_checks(struct probe_metrics *pm, const struct pk_checkset *set);

/* Runner thread: a round is starting, late by lateness_us (runner's lateness hook). */
void probe_metrics_round_started(struct probe_metrics *pm, int64_t lateness_us);
/* Runner thread: a round finished with this result. */
void probe_metrics_record(struct probe_metrics *pm, const struct pk_result *r);

/* Any thread: the whole /metrics body into buf (process, uplink when `up` is
 * not NULL, runner, per-check). Returns its length. */
size_t probe_metrics_render(struct probe_metrics *pm, const struct uplink_stats *up, double start_time_s, char *buf,
                            size_t size);

#endif
