/* rpc_baseline_cache.c: the report's baseline inputs in memory. A report over
 * all regions judges each check's hourly p95 of the 29 days before its window's
 * last hour (rpc_baseline_from_hours): at 1,000 checks that is 696,000
 * check-hour summaries (rollup_check_hour), most of a report's time, and they
 * change only when the span moves to the next hour or a summary of an ended
 * hour is rewritten (late results, the hour's last minutes folded after it
 * ended), which raises the check's counter in check_hour_marks in the same
 * transaction (migration 028, store/check_hours.c). So each check's summaries
 * are kept here with the span and counter they were read at; a report reads
 * the counters (one row per check) and only the summaries of checks whose
 * counter moved. Rows are returned exactly as store_check_hours_read gives
 * them, so the baselines are the same numbers (test_report_batch compares).
 *
 * Not kept (read as before, every time): a span with rows not compacted yet
 * (their hours come from the histograms), and a span that ended less than
 * RPC_BASELINE_CACHE_MARGIN_US ago (a compaction that began before the hour
 * ended raises no mark). One entry per check name, replaced when its span or
 * counter moves, all dropped past MAX_ENTRIES; about 28 KB per check.
 * Shared by the control thread and the dashboard's refresh (one mutex); never
 * includes gRPC or libpq. */
#include "rpc_baseline_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"
#include "result.h"

#define MAX_ENTRIES 100000 /* checks kept at most: past it, every entry goes */

struct hour_row {
    int64_t hour_us;
    double p95_us;
    uint32_t ok, degraded, failed, unknown, hist_count;
};

struct entry {
    char *name; /* NULL: free slot */
    int64_t check_id, seq, since_us, until_us;
    struct hour_row *rows;
    size_t n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table; /* open addressing, cap a power of two */
static size_t cap, used;
static uint64_t n_hits, n_misses;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct entry *slot_of(struct entry *t, size_t c, const char *name)
{
    size_t i = (size_t)hash(name) & (c - 1);
    while (t[i].name && strcmp(t[i].name, name) != 0)
        i = (i + 1) & (c - 1);
    return &t[i];
}

static void clear_locked(void)
{
    for (size_t i = 0; i < cap; i++) {
        free(table[i].name);
        free(table[i].rows);
    }
    free(table);
    table = NULL;
    cap = used = 0;
}

/* The slot for name, grown as needed; NULL when out of memory. */
static struct entry *slot_for_insert(const char *name)
{
    if (used >= MAX_ENTRIES)
        clear_locked();
    if ((used + 1) * 2 > cap) {
        size_t nc = cap ? cap * 2 : 1024;
        struct entry *nt = calloc(nc, sizeof *nt);
        if (!nt)
            return NULL;
        for (size_t i = 0; i < cap; i++)
            if (table[i].name)
                *slot_of(nt, nc, table[i].name) = table[i];
        free(table);
        table = nt;
        cap = nc;
    }
    return slot_of(table, cap, name);
}

static const struct entry *find(const char *name, const struct store_check_mark *m, int64_t since, int64_t until)
{
    if (!cap || !m->check_id)
        return NULL;
    const struct entry *e = slot_of(table, cap, name);
    if (!e->name || e->check_id != m->check_id || e->seq != m->seq || e->since_us != since || e->until_us != until)
        return NULL;
    return e;
}

/* Keeps rows[0..n) (all of check name) under its mark; a check whose counts do
 * not fit 32 bits is not kept. */
static void keep(const char *name, const struct store_check_mark *m, int64_t since, int64_t until,
                 const struct store_check_hour *rows, size_t n)
{
    if (!m->check_id)
        return;
    struct hour_row *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct store_check_hour *h = &rows[i];
        if ((h->ok | h->degraded | h->failed | h->unknown | h->hist_count) > UINT32_MAX) {
            free(v);
            return;
        }
        v[i] = (struct hour_row){h->hour_us, h->p95_us, (uint32_t)h->ok, (uint32_t)h->degraded,
                                 (uint32_t)h->failed, (uint32_t)h->unknown, (uint32_t)h->hist_count};
    }
    struct entry *e = slot_for_insert(name);
    if (!e) {
        free(v);
        return;
    }
    if (!e->name) {
        if (!(e->name = strdup(name))) {
            free(v);
            return;
        }
        used++;
    }
    free(e->rows);
    e->rows = v;
    e->n = n;
    e->check_id = m->check_id;
    e->seq = m->seq;
    e->since_us = since;
    e->until_us = until;
}

/* The rows of the hits, in check order, each with its check index; hit[i] set. */
static int take_hits(const char *const *checks, size_t n, const struct store_check_mark *marks, int64_t since,
                     int64_t until, unsigned char *hit, struct store_check_hour **rows, size_t *nrows)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = find(checks[i], &marks[i], since, until);
        hit[i] = e != NULL;
        total += e ? e->n : 0;
    }
    *rows = malloc((total ? total : 1) * sizeof **rows);
    if (!*rows)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = hit[i] ? find(checks[i], &marks[i], since, until) : NULL;
        for (size_t j = 0; e && j < e->n; j++) {
            const struct hour_row *h = &e->rows[j];
            (*rows)[k++] = (struct store_check_hour){.check = (int)i, .hour_us = h->hour_us, .ok = h->ok,
                                                     .degraded = h->degraded, .failed = h->failed,
                                                     .unknown = h->unknown, .hist_count = h->hist_count,
                                                     .p95_us = h->p95_us};
        }
    }
    *nrows = k;
    return 0;
}

/* Merges the hits' rows and the misses' rows (miss rows indexed by miss number)
 * into one array by check, keeping the misses' rows in the cache. */
static int merge(const char *const *checks, size_t n, const struct store_check_mark *marks, int64_t since,
                 int64_t until, const unsigned char *hit, const struct store_check_hour *hr, size_t nh,
                 const struct store_check_hour *mr, size_t nm, struct store_check_hour **out, size_t *nout)
{
    struct store_check_hour *v = malloc((nh + nm ? nh + nm : 1) * sizeof *v);
    if (!v)
        return -1;
    size_t k = 0, a = 0, b = 0;
    int miss = 0;
    for (size_t i = 0; i < n; i++) {
        if (hit[i]) {
            while (a < nh && hr[a].check == (int)i)
                v[k++] = hr[a++];
            continue;
        }
        size_t first = b;
        while (b < nm && mr[b].check == miss)
            b++;
        keep(checks[i], &marks[i], since, until, mr + first, b - first);
        for (size_t j = first; j < b; j++) {
            v[k] = mr[j];
            v[k++].check = (int)i;
        }
        miss++;
    }
    *out = v;
    *nout = k;
    return 0;
}

int rpc_baseline_cache_hours(struct store *s, const char *const *checks, size_t n, int64_t since_us,
                             int64_t until_us, struct store_check_hour **out, size_t *nout, char *err,
                             size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    if (until_us > pk_now_us() - RPC_BASELINE_CACHE_MARGIN_US)
        return store_check_hours_read(s, checks, n, since_us, until_us, out, nout, err, errlen);
    struct store_check_mark *marks = calloc(n, sizeof *marks);
    unsigned char *hit = calloc(n, 1);
    const char **missing = calloc(n, sizeof *missing);
    struct store_check_hour *hr = NULL, *mr = NULL;
    size_t nh = 0, nm = 0, n_missing = 0;
    int dirty = 0, rc = -1;
    if (!marks || !hit || !missing) {
        pk_fail(err, errlen, "baseline cache: out of memory");
        goto out;
    }
    if (store_check_hours_marks(s, checks, n, since_us, until_us, marks, &dirty, err, errlen) < 0)
        goto out;
    if (dirty) {
        rc = store_check_hours_read(s, checks, n, since_us, until_us, out, nout, err, errlen);
        goto out;
    }
    pthread_mutex_lock(&mu);
    int ok = take_hits(checks, n, marks, since_us, until_us, hit, &hr, &nh);
    pthread_mutex_unlock(&mu);
    if (ok < 0) {
        pk_fail(err, errlen, "baseline cache: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (!hit[i])
            missing[n_missing++] = checks[i];
    if (n_missing && store_check_hours_read(s, missing, n_missing, since_us, until_us, &mr, &nm, err, errlen) < 0)
        goto out;
    pthread_mutex_lock(&mu);
    n_hits += n - n_missing;
    n_misses += n_missing;
    ok = merge(checks, n, marks, since_us, until_us, hit, hr, nh, mr, nm, out, nout);
    pthread_mutex_unlock(&mu);
    rc = ok < 0 ? pk_fail(err, errlen, "baseline cache: out of memory") : 0;
out:
    free(marks);
    free(hit);
    free(missing);
    free(hr);
    free(mr);
    return rc;
}

void rpc_baseline_cache_counts(uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&mu);
    *hits = n_hits;
    *misses = n_misses;
    pthread_mutex_unlock(&mu);
}

void rpc_baseline_cache_clear(void)
{
    pthread_mutex_lock(&mu);
    clear_locked();
    n_hits = n_misses = 0;
    pthread_mutex_unlock(&mu);
}
