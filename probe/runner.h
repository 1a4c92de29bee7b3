/* runner.h: the probe's check scheduler and executor. One thread, one libcurl
 * multi handle, no thread per check. Each check fires every interval_ms at a
 * deterministic per-check offset; a check never overlaps itself; results are
 * handed to a callback on the runner's thread. */
#ifndef PK_RUNNER_H
#define PK_RUNNER_H

#include <signal.h>

#include "checks.h"
#include "result.h"

struct runner;

/* Called once per finished check execution, on the runner thread. The result is
 * only valid during the call: copy what you keep. */
typedef void (*runner_result_fn)(const struct pk_result *result, void *user);

/* Does not take ownership of `set`; it must outlive the runner. NULL + err on failure. */
struct runner *runner_new(const struct pk_checkset *set, runner_result_fn on_result, void *user, char *err,
                          size_t errlen);
/* Any thread: hands the runner a new set of checks (central assignment). The
 * runner takes over everything *set owns (*set is emptied) and applies it
 * between passes of runner_run: checks with the same definition
 * (pk_check_same_definition) keep their schedule and their run in flight;
 * removed or changed ones finish the run in flight, whose result is reported,
 * and do not start again; new and changed ones start at their next grid point
 * (the same spread as at start). A set the runner cannot build (see
 * runner_can_run) is refused and logged; the old schedule keeps running. A set
 * posted before the previous one was picked up replaces it. */
void runner_swap(struct runner *r, struct pk_checkset *set);
/* 0 when every check of set has a type this probe runs and an interval; -1 + err. */
int runner_can_run(const struct pk_checkset *set, char *err, size_t errlen);
/* Runs until *stop becomes non-zero (checked at least every 100 ms). 0 on clean stop. */
int runner_run(struct runner *r, volatile sig_atomic_t *stop);
/* Runs every check once, concurrently, and returns when all have finished. */
int runner_run_once(struct runner *r);
void runner_free(struct runner *r);

/* Called on the runner thread just before each scheduled round starts, with how
 * late it starts (actual minus planned, microseconds). For metrics and benches. */
typedef void (*runner_lateness_fn)(int64_t lateness_us, void *user);
void runner_set_lateness_hook(struct runner *r, runner_lateness_fn fn, void *user);

#endif
