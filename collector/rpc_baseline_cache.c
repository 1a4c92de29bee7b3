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
 * counter moved, and of those only the hours from the first one rewritten
 * since the entry was read (check_hour_rewrites, migration 038: each raise
 * records its hour; the compaction folds every hour's last minutes after the
 * hour ended, so every counter rises once an hour and one hour per check is
 * read again, not 29 days). Rows are returned exactly as
 * store_check_hours_read gives them, so the baselines are the same numbers
 * (test_report_batch compares).
 *
 * When the span has moved on (the next hour's reports), a check's kept hours
 * from the new start on still hold and only the hours after them are read:
 * one hour for every check, not 29 days. Not kept (read every time): a span
 * with rows not compacted yet (read whole: its hours come from the
 * histograms), and an hour that ended less than RPC_BASELINE_CACHE_MARGIN_US
 * ago (a compaction that began before the hour ended raises no mark: the
 * span's older hours are still taken from memory). One entry per check name,
 * replaced when its span or counter moves; about 28 KB per check. The cache
 * is bounded in bytes (rpc_baseline_cache_set_limit, the collector's
 * --baseline-cache-mb) and in entries: past either bound, entries not read
 * since the last sweep go first, then any, until a quarter of it is free (a
 * clock sweep; a working set larger than the bound is read from PostgreSQL,
 * never kept beyond it). A report for one region keeps that region's hours
 * the same way (rpc_region_hours_read: the region's rollup_hour rows, whose
 * rewrites raise the same counter, as the summaries are written with them),
 * each under a key of its own that also names the region's probes.
 * Shared by the control thread and the dashboard's refresh (one mutex); never
 * includes gRPC or libpq. */
#include "rpc_baseline_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"
#include "result.h"
#include "rollup.h"
#include "buf.h"
#include "rpc_report_batch.h"

#define MAX_ENTRIES 100000 /* (check, region) pairs kept at most */

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
    unsigned char ref; /* read or kept since the last sweep */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* The fill in progress (guarded by mu): its span and its checks' first name, so
 * that a caller asking the same waits for it (fill_cv) and others never do. */
static pthread_cond_t fill_cv = PTHREAD_COND_INITIALIZER;
static int fill_active;
static int64_t fill_since, fill_stable;
static char fill_first[PK_NAME_MAX + 200]; /* a key (a name, or region_keys') */
static struct entry *table; /* open addressing, cap a power of two */
static size_t cap, used;
static uint64_t n_hits, n_misses, n_partial, n_rows_read, n_evicted;
static size_t bytes_kept, byte_limit = (size_t)RPC_BASELINE_CACHE_DEFAULT_MB << 20;

/* What an entry of n rows costs: its rows, its name, its share of the table
 * (kept at most half full). */
static size_t entry_bytes(const char *name, size_t n)
{
    return n * sizeof(struct hour_row) + strlen(name) + 1 + 2 * sizeof(struct entry);
}

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
    bytes_kept = 0;
}

/* The clock sweep: entries not read since the last sweep go first (the others
 * lose their mark), then any, until the cache is within 3/4 of both bounds
 * with room for `adding` bytes; the survivors are placed again (linear probing
 * leaves no holes). */
static void evict_locked(size_t adding)
{
    const size_t want_bytes = byte_limit / 4 * 3, want_used = MAX_ENTRIES / 4 * 3;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < cap && (bytes_kept + adding > want_bytes || used > want_used); i++) {
            struct entry *e = &table[i];
            if (!e->name)
                continue;
            if (pass == 0 && e->ref) {
                e->ref = 0;
                continue;
            }
            bytes_kept -= entry_bytes(e->name, e->n);
            free(e->name);
            free(e->rows);
            memset(e, 0, sizeof *e);
            used--;
            n_evicted++;
        }
    struct entry *nt = calloc(cap, sizeof *nt);
    if (!nt) { /* cannot place them again: start over */
        clear_locked();
        return;
    }
    for (size_t i = 0; i < cap; i++)
        if (table[i].name)
            *slot_of(nt, cap, table[i].name) = table[i];
    free(table);
    table = nt;
}

/* The slot for name, grown as needed, the cache swept first when an entry of
 * `adding` bytes would pass a bound; NULL when out of memory. */
static struct entry *slot_for_insert(const char *name, size_t adding)
{
    if (cap && (used >= MAX_ENTRIES || bytes_kept + adding > byte_limit)) {
        struct entry *e = slot_of(table, cap, name);
        if (e->name) /* replaced: its bytes go first */
            adding = adding > entry_bytes(e->name, e->n) ? adding - entry_bytes(e->name, e->n) : 0;
        if (used >= MAX_ENTRIES || bytes_kept + adding > byte_limit)
            evict_locked(adding);
    }
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

/* The entry of check name (check_id) kept at counter seq whose rows serve a
 * span starting at since and cached up to stable: from at or before since, up
 * to a time after since and not after stable (the span may have moved on
 * since: the hours after the entry's end are read). NULL: none. */
static const struct entry *entry_at(const char *name, int64_t check_id, int64_t seq, int64_t since, int64_t stable)
{
    if (!cap || !check_id)
        return NULL;
    struct entry *e = slot_of(table, cap, name);
    if (!e->name || e->check_id != check_id || e->seq != seq || e->since_us > since || e->until_us <= since ||
        e->until_us > stable)
        return NULL;
    e->ref = 1;
    return e;
}

/* The entry read at the check's current mark. */
static const struct entry *usable(const char *name, const struct store_check_mark *m, int64_t since, int64_t stable)
{
    return entry_at(name, m->check_id, m->seq, since, stable);
}

/* Keeps rows[0..n) (all of check name, the hours [since, until)) under its
 * mark; a check whose counts do not fit 32 bits is not kept. */
static void keep(const char *name, const struct store_check_mark *m, int64_t since, int64_t until,
                 const struct store_check_hour *rows, size_t n)
{
    if (!m->check_id)
        return;
    const struct entry *has = cap ? slot_of(table, cap, name) : NULL;
    if (has && has->name && has->check_id == m->check_id && has->seq == m->seq && has->since_us == since &&
        has->until_us == until)
        return; /* kept already */
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
    size_t bytes = entry_bytes(name, n);
    if (bytes > byte_limit / 2) { /* would crowd out everything else */
        free(v);
        return;
    }
    struct entry *e = slot_for_insert(name, bytes);
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
    } else {
        bytes_kept -= entry_bytes(e->name, e->n);
    }
    bytes_kept += bytes;
    e->ref = 1;
    free(e->rows);
    e->rows = v;
    e->n = n;
    e->check_id = m->check_id;
    e->seq = m->seq;
    e->since_us = since;
    e->until_us = until;
}

/* One source of rows, sorted by its own check number, which maps to the
 * caller's check index increasing (map NULL: the same). */
struct source {
    struct store_check_hour *r;
    size_t n, at;
    int *map;
};

static void source_free(struct source *src)
{
    free(src->r);
    free(src->map);
    memset(src, 0, sizeof *src);
}

/* Appends src's rows of check i to v; their count. */
static size_t take_check(struct source *src, int i, struct store_check_hour *v)
{
    size_t k = 0;
    while (src->at < src->n && (src->map ? src->map[src->r[src->at].check] : src->r[src->at].check) == i) {
        v[k] = src->r[src->at++];
        v[k++].check = i;
    }
    return k;
}

/* What one call gathers: the cached rows, the hours read for the rest of the
 * stable span (misses whole, hits from their entry's end), the fresh hours. */
struct gather {
    struct source cached, missed, fresh;
    struct source *tail; /* one per end of the hits' entries (one when the span moved by an hour) */
    size_t n_tails, cap_tails;
};

static void gather_free(struct gather *g)
{
    source_free(&g->cached);
    source_free(&g->missed);
    for (size_t k = 0; k < g->n_tails; k++)
        source_free(&g->tail[k]);
    free(g->tail);
    source_free(&g->fresh);
}

/* The summaries of checks[0..n) over [since, until): over every probe, or
 * with region over that region's probes. */
static int hours_read(struct store *s, const char *const *checks, size_t n, const char *region, int64_t since,
                      int64_t until, struct store_check_hour **out, size_t *nout, char *err, size_t errlen)
{
    return region ? rpc_region_hours_read(s, checks, n, region, since, until, out, nout, err, errlen)
                  : store_check_hours_read(s, checks, n, since, until, out, nout, err, errlen);
}

/* Reads the rows of checks[idx[0..m)] over [from, to) into src (mapped to idx). */
static int read_some(struct store *s, const char *const *checks, const char *region, const int *idx, size_t m,
                     int64_t from, int64_t to, struct source *src, char *err, size_t errlen)
{
    const char **names = calloc(m ? m : 1, sizeof *names);
    if (!names || !(src->map = malloc((m ? m : 1) * sizeof *src->map))) {
        free(names);
        return pk_fail(err, errlen, "baseline cache: out of memory");
    }
    for (size_t k = 0; k < m; k++) {
        names[k] = checks[idx[k]];
        src->map[k] = idx[k];
    }
    int rc = hours_read(s, names, m, region, from, to, &src->r, &src->n, err, errlen);
    free(names);
    return rc;
}

/* Checks whose entry is older than their mark (old[i]: its counter) but whose
 * rewrites since are all recorded (migration 038); under the lock. */
static size_t find_stale(const char *const *checks, size_t n, const struct store_check_mark *marks, int64_t since,
                         int64_t stable, int64_t *old)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        old[i] = -1;
        if (!cap || !marks[i].check_id || usable(checks[i], &marks[i], since, stable))
            continue;
        const struct entry *e = slot_of(table, cap, checks[i]);
        if (e->name && e->check_id == marks[i].check_id && e->seq < marks[i].seq && e->seq >= marks[i].pruned &&
            entry_at(checks[i], e->check_id, e->seq, since, stable)) {
            old[i] = e->seq;
            m++;
        }
    }
    return m;
}

/* For the stale entries (old[i] >= 0): limit[i], the first hour rewritten
 * since (the entry's rows before it still hold); old[i] = -1 where none is
 * known or nothing before it is of use. */
static int stale_limits(struct store *s, size_t n, const struct store_check_mark *marks, int64_t since, int64_t *old,
                        int64_t *limit, size_t m, char *err, size_t errlen)
{
    int64_t *ids = malloc((m ? m : 1) * sizeof *ids), *seqs = malloc((m ? m : 1) * sizeof *seqs);
    int64_t *from = malloc((m ? m : 1) * sizeof *from);
    int rc = -1;
    if (!ids || !seqs || !from) {
        pk_fail(err, errlen, "baseline cache: out of memory");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (old[i] >= 0) {
            ids[k] = marks[i].check_id;
            seqs[k++] = old[i];
        }
    if (store_check_hours_rewritten(s, ids, seqs, k, from, err, errlen) < 0)
        goto out;
    k = 0;
    for (size_t i = 0; i < n; i++) {
        limit[i] = INT64_MAX;
        if (old[i] < 0)
            continue;
        int64_t f = from[k++];
        if (f == INT64_MAX || rollup_floor(f, ROLLUP_HOUR_US) <= since)
            old[i] = -1; /* nothing recorded (read it all), or nothing kept of use */
        else
            limit[i] = rollup_floor(f, ROLLUP_HOUR_US);
    }
    rc = 0;
out:
    free(ids);
    free(seqs);
    free(from);
    return rc;
}

/* The cached rows of the hits (hit[i], tail_from[i]: where each entry ends, or
 * the first hour rewritten since a stale entry was read), under the lock. */
static int take_cached(const char *const *checks, size_t n, const struct store_check_mark *marks, int64_t since,
                       int64_t stable, const int64_t *old, const int64_t *limit, unsigned char *hit,
                       int64_t *tail_from, struct source *cached)
{
    size_t total = 0;
    const struct entry **es = malloc((n ? n : 1) * sizeof *es);
    if (!es)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = usable(checks[i], &marks[i], since, stable);
        int64_t lim = INT64_MAX;
        if (!e && old[i] >= 0 && (e = entry_at(checks[i], marks[i].check_id, old[i], since, stable)))
            lim = limit[i];
        es[i] = e;
        hit[i] = e != NULL;
        tail_from[i] = e ? (e->until_us < lim ? e->until_us : lim) : since;
        total += e ? e->n : 0;
    }
    if (!(cached->r = malloc((total ? total : 1) * sizeof *cached->r))) {
        free(es);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = es[i];
        for (size_t j = 0; e && j < e->n; j++) {
            const struct hour_row *h = &e->rows[j];
            if (h->hour_us >= since && h->hour_us < tail_from[i])
                cached->r[cached->n++] =
                    (struct store_check_hour){.check = (int)i, .hour_us = h->hour_us, .ok = h->ok,
                                              .degraded = h->degraded, .failed = h->failed, .unknown = h->unknown,
                                              .hist_count = h->hist_count, .p95_us = h->p95_us};
        }
    }
    free(es);
    return 0;
}

/* Reads what the cache lacks: the misses over [since, stable), each group of
 * hits with the same end over [end, stable), every check over [stable, until). */
static int read_rest(struct store *s, const char *const *checks, const char *region, size_t n, int64_t since,
                     int64_t stable, int64_t until, const unsigned char *hit, int64_t *tail_from, struct gather *g,
                     char *err, size_t errlen)
{
    int *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx)
        return pk_fail(err, errlen, "baseline cache: out of memory");
    size_t m = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (!hit[i])
            idx[m++] = (int)i;
    if (m)
        rc = read_some(s, checks, region, idx, m, since, stable, &g->missed, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!hit[i] || tail_from[i] >= stable)
            continue;
        struct source *tails = pk_grow(g->tail, &g->cap_tails, g->n_tails + 1, sizeof *tails, 0);
        if (!tails) {
            rc = pk_fail(err, errlen, "baseline cache: out of memory");
            break;
        }
        g->tail = tails;
        memset(&g->tail[g->n_tails], 0, sizeof g->tail[0]);
        int64_t t = tail_from[i];
        m = 0;
        for (size_t j = i; j < n; j++)
            if (hit[j] && tail_from[j] == t) {
                idx[m++] = (int)j;
                tail_from[j] = stable; /* done */
            }
        rc = read_some(s, checks, region, idx, m, t, stable, &g->tail[g->n_tails++], err, errlen);
    }
    if (rc == 0 && stable < until) {
        for (size_t i = 0; i < n; i++)
            idx[i] = (int)i;
        rc = read_some(s, checks, region, idx, n, stable, until, &g->fresh, err, errlen);
    }
    free(idx);
    return rc;
}

/* Every check's rows in order; the stable part of each kept under its mark. */
static int assemble(const char *const *checks, size_t n, const struct store_check_mark *marks, int64_t since,
                    int64_t stable, struct gather *g, struct store_check_hour **out, size_t *nout)
{
    size_t total = g->cached.n + g->missed.n + g->fresh.n;
    for (size_t k = 0; k < g->n_tails; k++)
        total += g->tail[k].n;
    struct store_check_hour *v = malloc((total ? total : 1) * sizeof *v);
    if (!v)
        return -1;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t first = at;
        at += take_check(&g->cached, (int)i, v + at);
        for (size_t k = 0; k < g->n_tails; k++)
            at += take_check(&g->tail[k], (int)i, v + at);
        at += take_check(&g->missed, (int)i, v + at);
        keep(checks[i], &marks[i], since, stable, v + first, at - first);
        at += take_check(&g->fresh, (int)i, v + at);
    }
    *out = v;
    *nout = at;
    return 0;
}

/* The cache's names of checks[0..n) in one region (over every probe the
 * names themselves are the keys): the name, the region and the digest of the
 * region's probes (a probe that moves changes the region's past sums). One
 * block. */
static char **region_keys(struct store *s, const char *const *checks, size_t n, const char *region, char *err,
                          size_t errlen)
{
    char digest[64];
    if (store_region_probes_digest(s, region, digest, sizeof digest, err, errlen) < 0)
        return NULL;
    size_t bytes = n * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(checks[i]) + strlen(region) + strlen(digest) + 3;
    char **keys = malloc(bytes);
    if (!keys) {
        pk_fail(err, errlen, "baseline cache: out of memory");
        return NULL;
    }
    char *at = (char *)(keys + n);
    for (size_t i = 0; i < n; i++) {
        keys[i] = at;
        at += sprintf(at, "%s\x1f%s\x1f%s", checks[i], region, digest) + 1;
    }
    return keys;
}

int rpc_baseline_cache_hours(struct store *s, const char *const *checks, size_t n, const char *region,
                             int64_t since_us, int64_t until_us, struct store_check_hour **out, size_t *nout,
                             char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    /* The hours that ended under the margin ago are read, never kept; the
     * rest of the span is kept. */
    int64_t stable = until_us > pk_now_us() - RPC_BASELINE_CACHE_MARGIN_US ? until_us - ROLLUP_HOUR_US : until_us;
    if (stable <= since_us)
        return hours_read(s, checks, n, region, since_us, until_us, out, nout, err, errlen);
    char **keys = region ? region_keys(s, checks, n, region, err, errlen) : NULL;
    if (region && !keys)
        return -1;
    const char *const *key = keys ? (const char *const *)keys : checks;
    struct store_check_mark *marks = calloc(n, sizeof *marks);
    unsigned char *hit = calloc(n, 1);
    int64_t *tail_from = calloc(n, sizeof *tail_from), *old = calloc(n, sizeof *old), *limit = calloc(n, sizeof *limit);
    struct gather g = {0};
    int dirty = 0, rc = -1, filling = 0;
    if (!marks || !hit || !tail_from || !old || !limit) {
        pk_fail(err, errlen, "baseline cache: out of memory");
        goto out;
    }
    if (store_check_hours_marks(s, checks, n, since_us, until_us, marks, &dirty, err, errlen) < 0)
        goto out;
    if (dirty) {
        rc = hours_read(s, checks, n, region, since_us, until_us, out, nout, err, errlen);
        goto out;
    }
    /* A report that comes while another fills the cache for the same span and
     * checks (a collector's first minutes: the dashboard's first pass and a
     * command side by side) waits for that fill and takes its summaries,
     * instead of reading the same 29 days beside it on the other core. Any
     * other caller goes on: one fill is followed at a time, and a caller
     * waits only for the one it would repeat. */
    pthread_mutex_lock(&mu);
    while (fill_active && fill_since == since_us && fill_stable == stable && !strcmp(fill_first, key[0]))
        pthread_cond_wait(&fill_cv, &mu);
    if (!fill_active) {
        fill_active = filling = 1;
        fill_since = since_us;
        fill_stable = stable;
        pk_strlcpy(fill_first, key[0], sizeof fill_first);
    }
    /* entries older than their mark: kept up to the first hour rewritten since */
    size_t n_stale = find_stale(key, n, marks, since_us, stable, old);
    pthread_mutex_unlock(&mu);
    if (n_stale && stale_limits(s, n, marks, since_us, old, limit, n_stale, err, errlen) < 0)
        goto out;
    pthread_mutex_lock(&mu);
    int ok = take_cached(key, n, marks, since_us, stable, old, limit, hit, tail_from, &g.cached);
    pthread_mutex_unlock(&mu);
    if (ok < 0) {
        pk_fail(err, errlen, "baseline cache: out of memory");
        goto out;
    }
    if (read_rest(s, checks, region, n, since_us, stable, until_us, hit, tail_from, &g, err, errlen) < 0)
        goto out;
    size_t n_hit = 0, n_part = 0, n_read = g.missed.n + g.fresh.n;
    for (size_t i = 0; i < n; i++) {
        n_hit += hit[i];
        n_part += hit[i] && old[i] >= 0 && limit[i] != INT64_MAX;
    }
    for (size_t k = 0; k < g.n_tails; k++)
        n_read += g.tail[k].n;
    pthread_mutex_lock(&mu);
    n_hits += n_hit;
    n_misses += n - n_hit;
    n_partial += n_part;
    n_rows_read += n_read;
    ok = assemble(key, n, marks, since_us, stable, &g, out, nout);
    pthread_mutex_unlock(&mu);
    rc = ok < 0 ? pk_fail(err, errlen, "baseline cache: out of memory") : 0;
out:
    if (filling) {
        pthread_mutex_lock(&mu);
        fill_active = 0;
        pthread_cond_broadcast(&fill_cv);
        pthread_mutex_unlock(&mu);
    }
    gather_free(&g);
    free(marks);
    free(hit);
    free(tail_from);
    free(old);
    free(limit);
    free(keys);
    return rc;
}

void rpc_baseline_cache_counts(uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&mu);
    *hits = n_hits;
    *misses = n_misses;
    pthread_mutex_unlock(&mu);
}

void rpc_baseline_cache_reads(uint64_t *partial, uint64_t *rows_read)
{
    pthread_mutex_lock(&mu);
    *partial = n_partial;
    *rows_read = n_rows_read;
    pthread_mutex_unlock(&mu);
}

void rpc_baseline_cache_size(size_t *bytes, size_t *entries, uint64_t *evicted)
{
    pthread_mutex_lock(&mu);
    *bytes = bytes_kept;
    *entries = used;
    *evicted = n_evicted;
    pthread_mutex_unlock(&mu);
}

size_t rpc_baseline_cache_metrics(char *buf, size_t size)
{
    size_t bytes, entries;
    uint64_t evicted;
    if (size == 0)
        return 0;
    rpc_baseline_cache_size(&bytes, &entries, &evicted);
    int n = snprintf(buf, size,
                     "# HELP picket_baseline_cache_bytes Hourly summaries kept in memory for the reports' "
                     "baselines (bound: --baseline-cache-mb).\n"
                     "# TYPE picket_baseline_cache_bytes gauge\n"
                     "picket_baseline_cache_bytes %zu\n"
                     "# HELP picket_baseline_cache_entries Checks (and checks in one region) kept.\n"
                     "# TYPE picket_baseline_cache_entries gauge\n"
                     "picket_baseline_cache_entries %zu\n"
                     "# HELP picket_baseline_cache_evicted_total Entries swept out to stay within the bound "
                     "(a steady rise: the bound is under the working set).\n"
                     "# TYPE picket_baseline_cache_evicted_total counter\n"
                     "picket_baseline_cache_evicted_total %llu\n",
                     bytes, entries, (unsigned long long)evicted);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

size_t rpc_baseline_cache_limit(void)
{
    pthread_mutex_lock(&mu);
    size_t v = byte_limit;
    pthread_mutex_unlock(&mu);
    return v;
}

void rpc_baseline_cache_set_limit(size_t bytes)
{
    pthread_mutex_lock(&mu);
    byte_limit = bytes;
    if (bytes_kept > byte_limit)
        evict_locked(0);
    pthread_mutex_unlock(&mu);
}

void rpc_baseline_cache_clear(void)
{
    pthread_mutex_lock(&mu);
    clear_locked();
    n_hits = n_misses = n_partial = n_rows_read = n_evicted = 0;
    pthread_mutex_unlock(&mu);
}
