/* incident_metrics.c: the snapshot of stored incidents that /metrics shows
 * (incident_metrics.h). The tracker thread replaces the snapshot under a mutex;
 * the HTTP thread copies out of it under the same mutex. Owns the snapshot for
 * the life of the process. */
#include "incident_metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_text.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct store_incident_count *snap;
static size_t n_snap;
static int have_snap;
static int64_t last_read_us = INT64_MIN;

int incident_metrics_refresh(struct store *s, int64_t now_us, char *err, size_t errlen)
{
    if (last_read_us != INT64_MIN && now_us - last_read_us < 1000000)
        return 0;
    last_read_us = now_us;
    struct store_incident_count *v = NULL;
    size_t n = 0;
    if (store_incident_counts(s, &v, &n, err, errlen) < 0)
        return -1;
    pthread_mutex_lock(&mu);
    free(snap);
    snap = v;
    n_snap = n;
    have_snap = 1;
    pthread_mutex_unlock(&mu);
    return 0;
}

size_t incident_metrics_write(char *buf, size_t size)
{
    struct pk_mt w;
    pk_mt_init(&w, buf, size);
    pthread_mutex_lock(&mu);
    if (have_snap) {
        pk_mt_family(&w, "picket_incident_open", "gauge",
                     "1 while the check has an open incident in the scope (a region, or * for the global quorum "
                     "incident), from the stored incidents.");
        for (size_t i = 0; i < n_snap; i++) {
            const char *labels[] = {"check", snap[i].check_name, "region", snap[i].scope, NULL};
            pk_mt_sample(&w, "picket_incident_open", labels, snap[i].open ? 1.0 : 0.0);
        }
        pk_mt_family(&w, "picket_incidents_total", "counter",
                     "Incidents stored for the check in the scope (a region, or * for global); late results that "
                     "merge or split incidents change it as they change the stored incidents.");
        for (size_t i = 0; i < n_snap; i++) {
            const char *labels[] = {"check", snap[i].check_name, "region", snap[i].scope, NULL};
            pk_mt_sample(&w, "picket_incidents_total", labels, (double)snap[i].total);
        }
    }
    pthread_mutex_unlock(&mu);
    return w.used;
}
