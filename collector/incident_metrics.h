/* incident_metrics.h: the stored incidents as /metrics series (docs/METRICS.md):
 * per check and scope (a region, or
 * "*" for the global quorum incidents), picket_incident_open (1 while one is
 * open) and picket_incidents_total (incidents stored). The tracker thread reads
 * them from the incidents table (incident_metrics_refresh, at most once a
 * second); the HTTP thread writes the last snapshot (incident_metrics_write) and
 * never touches the database. */
#ifndef PK_INCIDENT_METRICS_H
#define PK_INCIDENT_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* One check and scope of the incidents table. */
struct store_incident_count {
    char check_name[256];
    char scope[128];
    int64_t total; /* incidents stored */
    int open;      /* 1 when one is open (no end) */
};
/* Every check and scope with a stored incident, by check then scope. *out
 * malloc'd. 0, or -1 with err. (collector/store/incident_counts.c) */
int store_incident_counts(struct store *s, struct store_incident_count **out, size_t *n, char *err, size_t errlen);

/* Reads the counts when a second has passed since the last read. 0, or -1 with
 * err (the last snapshot stays). */
int incident_metrics_refresh(struct store *s, int64_t now_us, char *err, size_t errlen);
/* Writes the snapshot's families into buf; returns the bytes written (a whole
 * number of lines). Nothing before the first refresh. */
size_t incident_metrics_write(char *buf, size_t size);

#endif
