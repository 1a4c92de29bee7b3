/* incident_deps.h: depends_on applied to incidents (docs/CHECKS.md,
 * "depends_on"): an incident that starts while a check it depends on (or a
 * check of a service it depends on) has one open is caused by that one's root.
 * The readers (rpc_query.c for picketctl incidents, alerts.c for paging) call
 * these; the dependency lists come with the check metadata (store_check_meta). */
#ifndef PK_INCIDENT_DEPS_H
#define PK_INCIDENT_DEPS_H

#include <stddef.h>
#include <stdint.h>

#include "analytics.h"
#include "store.h"

/* 1 when check a depends directly on check b (by name or by b's service). */
int incident_deps_direct(const struct store_check_meta *a, const struct store_check_meta *b);

/* Appends to all[n..cap) the checks of meta[0..n_meta) that all[0..n) depend
 * on, directly or through each other, that all does not hold yet (by name);
 * returns the new count. */
size_t incident_deps_closure(const struct store_check_meta *meta, size_t n_meta, const struct store_check_meta **all,
                             size_t n, size_t cap);

/* The root of the incident of checks[i] that starts at start_us: the check,
 * following dependencies, whose incident open at that time has no cause of its
 * own; NULL when no dependency had one open. raw[j] / n_raw[j]: each check's
 * incidents (pk_incident start_us, end_us < 0 open). */
const char *incident_deps_root(const struct store_check_meta *const *checks, size_t n,
                               struct pk_incident *const *raw, const size_t *n_raw, size_t i, int64_t start_us);

#endif
