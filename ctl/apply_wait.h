/* apply_wait.h: `picketctl apply --wait`: after a version is stored, waits
 * until every connected probe runs it or refused it (ctl/apply_wait.c). */
#ifndef PK_CTL_APPLY_WAIT_H
#define PK_CTL_APPLY_WAIT_H

#include <stdint.h>

/* Probes seen within this long before the wait starts are the ones waited for. */
#define CTL_WAIT_RECENT_US (120 * INT64_C(1000000))
/* The exit code of apply --wait when a probe refused the version or did not
 * answer in time (or no probe is connected to run it). */
#define CTL_EXIT_NOT_RUNNING 5

/* Polls the collector's Status until every probe seen in the last
 * CTL_WAIT_RECENT_US runs `version` or refused it, or timeout_ms passed.
 * Prints one line per probe that refused (with its reason) or did not answer.
 * Returns 0 when all run it, CTL_EXIT_NOT_RUNNING otherwise, 1 when the
 * collector could not be asked. */
int ctl_apply_wait(const char *collector, int call_timeout_ms, int64_t version, int64_t timeout_ms);

#endif
