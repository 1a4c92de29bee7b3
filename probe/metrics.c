/* metrics.c: the probe's /metrics state and its rendering (see metrics.h).
 * One mutex guards everything; the runner thread holds it for a few field
 * copies per result, the HTTP thread only long enough to copy the state out,
 * then formats without it. Per-check series use blackbox_exporter's names and
 * meaning (the table is in docs/METRICS.md). */
#include "metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "checks/registry.h"
#include "log.h"
#include "metrics_text.h"

static const double lateness_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
#define N_BOUNDS (sizeof lateness_bounds / sizeof lateness_bounds[0])
#define N_OUTCOMES 5

struct check_state {
    char name[PK_NAME_MAX];
    char type[PK_TYPE_MAX];
    int has_result;
    int outcome, error_class, status_code;
    int64_t started_at_us, body_bytes;
    int64_t dns_us, connect_us, tls_us, ttfb_us, total_us;
    int has_expiry;
    double expiry_unix;
    uint64_t runs[N_OUTCOMES];
    struct pk_metric metrics[PK_MAX_METRICS]; /* the last run's extractions and perfdata */
    int n_metrics;
};

struct probe_metrics {
    pthread_mutex_t mu;
    char region[128];
    struct check_state *checks; /* sorted by name */
    size_t n_checks;
    uint64_t rounds_started, results[N_OUTCOMES];
    uint64_t lateness_buckets[N_BOUNDS + 1]; /* last: +Inf only */
    double lateness_sum;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct check_state *)a)->name, ((const struct check_state *)b)->name);
}

static struct check_state *find(struct check_state *v, size_t n, const char *name)
{
    if (n == 0)
        return NULL; /* bsearch wants a non-NULL base even for no elements */
    struct check_state key;
    pk_strlcpy(key.name, name, sizeof key.name);
    return bsearch(&key, v, n, sizeof *v, by_name);
}

struct probe_metrics *probe_metrics_new(const char *region)
{
    struct probe_metrics *pm = calloc(1, sizeof *pm);
    if (!pm)
        return NULL;
    pthread_mutex_init(&pm->mu, NULL);
    pk_strlcpy(pm->region, region ? region : "", sizeof pm->region);
    return pm;
}

void probe_metrics_free(struct probe_metrics *pm)
{
    if (!pm)
        return;
    pthread_mutex_destroy(&pm->mu);
    free(pm->checks);
    free(pm);
}

int probe_metrics_set_checks(struct probe_metrics *pm, const struct pk_checkset *set)
{
    size_t n = set ? set->n_checks : 0;
    struct check_state *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        pk_strlcpy(v[i].name, set->checks[i].name, sizeof v[i].name);
        pk_strlcpy(v[i].type, set->checks[i].type, sizeof v[i].type);
    }
    qsort(v, n, sizeof *v, by_name);
    pthread_mutex_lock(&pm->mu);
    for (size_t i = 0; i < n; i++) {
        const struct check_state *old = find(pm->checks, pm->n_checks, v[i].name);
        if (old && strcmp(old->type, v[i].type) == 0)
            v[i] = *old;
    }
    free(pm->checks);
    pm->checks = v;
    pm->n_checks = n;
    pthread_mutex_unlock(&pm->mu);
    return 0;
}

void probe_metrics_round_started(struct probe_metrics *pm, int64_t lateness_us)
{
    double s = lateness_us > 0 ? (double)lateness_us / 1e6 : 0;
    size_t b = 0;
    while (b < N_BOUNDS && s > lateness_bounds[b])
        b++;
    pthread_mutex_lock(&pm->mu);
    pm->rounds_started++;
    pm->lateness_buckets[b]++;
    pm->lateness_sum += s;
    pthread_mutex_unlock(&pm->mu);
}

void probe_metrics_record(struct probe_metrics *pm, const struct pk_result *r)
{
    int outcome = r->outcome >= 0 && r->outcome < N_OUTCOMES ? r->outcome : PK_OUTCOME_UNSPECIFIED;
    int has_expiry = 0;
    double expiry = 0;
    for (int i = 0; i < r->n_metrics && i < PK_MAX_METRICS; i++)
        if (strcmp(r->metrics[i].name, "expiry_unix") == 0) {
            has_expiry = 1;
            expiry = r->metrics[i].value;
        }
    pthread_mutex_lock(&pm->mu);
    pm->results[outcome]++;
    struct check_state *c = find(pm->checks, pm->n_checks, r->check_name);
    if (c) {
        c->has_result = 1;
        c->outcome = outcome;
        c->error_class = r->error_class;
        c->status_code = r->status_code;
        c->started_at_us = r->started_at_us;
        c->body_bytes = r->body_bytes;
        c->dns_us = r->dns_us;
        c->connect_us = r->connect_us;
        c->tls_us = r->tls_us;
        c->ttfb_us = r->ttfb_us;
        c->total_us = r->total_us;
        /* A failed handshake says nothing about the certificate: keep the last known expiry. */
        if (has_expiry) {
            c->has_expiry = 1;
            c->expiry_unix = expiry;
        }
        c->runs[outcome]++;
        /* A run without figures (a plugin that could not run) keeps the last ones. */
        if (r->n_metrics > 0) {
            c->n_metrics = r->n_metrics < PK_MAX_METRICS ? r->n_metrics : PK_MAX_METRICS;
            memcpy(c->metrics, r->metrics, (size_t)c->n_metrics * sizeof *c->metrics);
        }
    }
    pthread_mutex_unlock(&pm->mu);
}

static double seconds(int64_t us) { return us > 0 ? (double)us / 1e6 : 0; }

static int is_http(const struct check_state *c) { return strcmp(c->type, "http") == 0; }

/* One family over every check that has a result (and passes `want`). */
typedef int (*want_fn)(const struct check_state *c);
typedef double (*value_fn)(const struct check_state *c);

static int want_any(const struct check_state *c) { return c->has_result; }
static int want_http(const struct check_state *c) { return c->has_result && is_http(c); }
static int want_total(const struct check_state *c) { return c->has_result && c->total_us >= 0; }
static int want_dns(const struct check_state *c) { return c->has_result && c->dns_us >= 0; }
static int want_expiry(const struct check_state *c) { return c->has_expiry; }

static double v_success(const struct check_state *c)
{
    return c->outcome == PK_OUTCOME_OK || c->outcome == PK_OUTCOME_DEGRADED;
}
static double v_degraded(const struct check_state *c) { return c->outcome == PK_OUTCOME_DEGRADED; }
static double v_duration(const struct check_state *c) { return seconds(c->total_us); }
static double v_status(const struct check_state *c) { return c->status_code; }
static double v_length(const struct check_state *c) { return (double)c->body_bytes; }
static double v_dns(const struct check_state *c) { return seconds(c->dns_us); }
static double v_expiry(const struct check_state *c) { return c->expiry_unix; }
static double v_regex(const struct check_state *c) { return c->error_class == PK_ERR_ASSERTION; }
static double v_started(const struct check_state *c) { return (double)c->started_at_us / 1e6; }
static double v_error_class(const struct check_state *c) { return c->error_class; }

static void family(struct pk_mt *w, const char *region, const struct check_state *v, size_t n, const char *name,
                   const char *help, want_fn want, value_fn value)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += want(&v[i]) != 0;
    if (!k)
        return;
    pk_mt_family(w, name, "gauge", help);
    for (size_t i = 0; i < n; i++)
        if (want(&v[i])) {
            const char *labels[] = {"check", v[i].name, "type", v[i].type, "region", region, NULL};
            pk_mt_sample(w, name, labels, value(&v[i]));
        }
}

/* Each check's numbers (extract:, exec perfdata, burst and samples figures):
 * the last value of each, labelled by its name, e.g. npm audit's
 * vulnerabilities. */
static void check_values(struct pk_mt *w, const char *region, const struct check_state *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += v[i].n_metrics > 0;
    if (!k)
        return;
    pk_mt_family(w, "picket_check_value", "gauge",
                 "The last value of each number a check extracts (extract:, exec perfdata), by name.");
    for (size_t i = 0; i < n; i++)
        for (int m = 0; m < v[i].n_metrics; m++) {
            const char *labels[] = {"check", v[i].name, "type", v[i].type, "region", region,
                                    "name", v[i].metrics[m].name, NULL};
            pk_mt_sample(w, "picket_check_value", labels, v[i].metrics[m].value);
        }
}

/* Blackbox's phases from Picket's: resolve = dns, connect = TCP connect, tls =
 * handshake, processing = request sent to first byte, transfer = the rest of
 * total. A phase that did not happen is 0, as blackbox reports it. */
static void http_phases(struct pk_mt *w, const char *region, const struct check_state *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += want_http(&v[i]) != 0;
    if (!k)
        return;
    const char *name = "probe_http_duration_seconds";
    pk_mt_family(w, name, "gauge", "Duration of http request by phase, summed over all redirects");
    for (size_t i = 0; i < n; i++) {
        const struct check_state *c = &v[i];
        if (!want_http(c))
            continue;
        int64_t before = (c->dns_us > 0 ? c->dns_us : 0) + (c->connect_us > 0 ? c->connect_us : 0) +
                         (c->tls_us > 0 ? c->tls_us : 0) + (c->ttfb_us > 0 ? c->ttfb_us : 0);
        int64_t transfer = c->total_us > before && c->ttfb_us >= 0 ? c->total_us - before : 0;
        static const char *const phases[] = {"resolve", "connect", "tls", "processing", "transfer"};
        double values[] = {seconds(c->dns_us), seconds(c->connect_us), seconds(c->tls_us), seconds(c->ttfb_us),
                           seconds(transfer)};
        for (size_t p = 0; p < 5; p++) {
            const char *labels[] = {"check", c->name, "type", c->type, "region", region, "phase", phases[p], NULL};
            pk_mt_sample(w, name, labels, values[p]);
        }
    }
}

size_t probe_metrics_render(struct probe_metrics *pm, const struct uplink_stats *up, double start_time_s, char *buf,
                            size_t size)
{
    struct pk_mt w;
    pk_mt_init(&w, buf, size);
    pthread_mutex_lock(&pm->mu);
    size_t n = pm->n_checks;
    struct check_state *v = malloc((n ? n : 1) * sizeof *v);
    if (v && n)
        memcpy(v, pm->checks, n * sizeof *v);
    uint64_t rounds = pm->rounds_started, results[N_OUTCOMES], buckets[N_BOUNDS + 1];
    memcpy(results, pm->results, sizeof results);
    memcpy(buckets, pm->lateness_buckets, sizeof buckets);
    double lateness_sum = pm->lateness_sum;
    pthread_mutex_unlock(&pm->mu);
    if (!v)
        n = 0;

    pk_mt_process(&w, start_time_s);

    if (up) {
        pk_mt_single(&w, "picket_probe_results_produced_total", "counter",
                     "Results handed to the uplink (appended to the spool) since the spool was created.",
                     (double)up->produced);
        pk_mt_single(&w, "picket_probe_acked_sequence", "gauge",
                     "Highest result sequence the collector has committed.", (double)up->acked_seq);
        pk_mt_single(&w, "picket_probe_pending_results", "gauge",
                     "Results in the spool that the collector has not acknowledged.", (double)up->pending);
        pk_mt_single(&w, "picket_probe_dropped_results_total", "counter",
                     "Results lost to the spool's disk cap or never spooled, since the spool was created.",
                     (double)up->dropped);
        pk_mt_single(&w, "picket_probe_spool_bytes", "gauge", "Bytes in the on-disk spool.",
                     (double)up->spool_bytes);
        pk_mt_single(&w, "picket_probe_spool_corrupt_records_total", "counter",
                     "Broken spool records cut off when the spool was opened.", (double)up->spool_corrupt);
        pk_mt_single(&w, "picket_probe_reconnects_total", "counter", "Times the uplink connected again.",
                     (double)up->reconnects);
        pk_mt_single(&w, "picket_probe_connected", "gauge", "1 while a stream to a collector is open.",
                     (double)up->connected);
    }

    pk_mt_single(&w, "picket_probe_checks", "gauge", "Checks this probe runs now.", (double)n);
    pk_mt_single(&w, "picket_probe_result_names_truncated_total", "counter",
                 "Exec perfdata labels cut to the metric name limit (63 bytes) since start; each is logged.",
                 (double)check_exec_names_truncated());
    pk_mt_family(&w, "picket_probe_runs_total", "counter", "Check executions finished, by outcome.");
    for (int o = 0; o < N_OUTCOMES; o++) {
        const char *labels[] = {"outcome", pk_outcome_name(o), NULL};
        pk_mt_sample(&w, "picket_probe_runs_total", labels, (double)results[o]);
    }
    uint64_t finished = 0;
    for (int o = 0; o < N_OUTCOMES; o++)
        finished += results[o];
    pk_mt_single(&w, "picket_probe_runs_in_flight", "gauge", "Check executions started and not finished.",
                 rounds > finished ? (double)(rounds - finished) : 0);
    pk_mt_family(&w, "picket_probe_round_lateness_seconds", "histogram",
                 "How late each scheduled round started, against its planned grid point.");
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= N_BOUNDS; b++) {
        cumulative += buckets[b];
        char le[32];
        if (b == N_BOUNDS)
            strcpy(le, "+Inf");
        else
            pk_mt_format_value(lateness_bounds[b], le, sizeof le);
        const char *labels[] = {"le", le, NULL};
        pk_mt_sample(&w, "picket_probe_round_lateness_seconds_bucket", labels, (double)cumulative);
    }
    pk_mt_sample(&w, "picket_probe_round_lateness_seconds_sum", NULL, lateness_sum);
    pk_mt_sample(&w, "picket_probe_round_lateness_seconds_count", NULL, (double)cumulative);

    const char *region = pm->region;
    family(&w, region, v, n, "probe_success", "Whether the last run of the check succeeded (degraded counts as success)",
           want_any, v_success);
    family(&w, region, v, n, "probe_duration_seconds", "Returns how long the last run of the check took to complete in seconds",
           want_total, v_duration);
    family(&w, region, v, n, "probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds",
           want_dns, v_dns);
    family(&w, region, v, n, "probe_http_status_code", "Response HTTP status code (0 when there was no response)",
           want_http, v_status);
    family(&w, region, v, n, "probe_http_content_length", "Length of http content response (body bytes received)",
           want_http, v_length);
    http_phases(&w, region, v, n);
    family(&w, region, v, n, "probe_failed_due_to_regex",
           "Indicates if probe failed due to an assertion on the response (body, header, JSON)", want_http, v_regex);
    family(&w, region, v, n, "probe_ssl_earliest_cert_expiry", "Returns last SSL chain expiry in unixtime",
           want_expiry, v_expiry);
    family(&w, region, v, n, "picket_check_degraded", "1 when the last run of the check was degraded", want_any,
           v_degraded);
    family(&w, region, v, n, "picket_check_error_class",
           "Error class of the last run: 0 none, 1 dns, 2 connect, 3 tls, 4 timeout, 5 http, 6 assertion, 7 internal",
           want_any, v_error_class);
    family(&w, region, v, n, "picket_check_last_run_timestamp_seconds",
           "When the last finished run of the check started, unix seconds", want_any, v_started);
    check_values(&w, region, v, n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += v[i].has_result != 0;
    if (k) {
        pk_mt_family(&w, "picket_check_runs_total", "counter", "Runs of the check since the probe started, by outcome.");
        for (size_t i = 0; i < n; i++) {
            if (!v[i].has_result)
                continue;
            for (int o = PK_OUTCOME_OK; o < N_OUTCOMES; o++) {
                const char *labels[] = {"check", v[i].name, "type", v[i].type, "region", region,
                                        "outcome", pk_outcome_name(o), NULL};
                pk_mt_sample(&w, "picket_check_runs_total", labels, (double)v[i].runs[o]);
            }
        }
    }
    free(v);
    if (w.truncated)
        PK_WARN("metrics", "/metrics body cut at the buffer size; later series are missing", "bytes=%zu checks=%zu",
                w.used, n);
    return w.used;
}
