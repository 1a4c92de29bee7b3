/* check_meta.h: the analytics metadata a check carries from its file to the
 * store and the query API (docs/CHECKS.md): latency budgets and an SLO. One
 * struct, embedded as `.meta` in the probe's uplink_check_info and in the store's
 * check rows (store_check_info, store_assign_check, store_check_meta), so a new
 * field is added once. The service name stays beside it in each of those: the
 * wire structs borrow it, the rows the query API reads own a copy. */
#ifndef PK_CHECK_META_H
#define PK_CHECK_META_H

#include <stdint.h>

/* depends_on: as one string, the names joined by ',' (room for a few dozen). */
#define PK_DEPENDS_MAX 1024
/* labels: as one string, "key=value" lines sorted by key (room for a dozen). */
#define PK_LABELS_MAX 512

struct pk_check_meta {
    int64_t budget_p50_ms, budget_p95_ms, budget_p99_ms; /* 0: none */
    double slo_target_percent;                           /* 0: none */
    int64_t slo_window_ms;                               /* 0: none */
    /* depends_on: check names and service:NAME entries joined by ','; "": none */
    char depends_on[PK_DEPENDS_MAX];
    /* labels: the check's `labels:` as "key=value" lines joined by '\n', sorted by key; "": none */
    char labels[PK_LABELS_MAX];
};

#endif
