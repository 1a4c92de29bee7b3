/* rpc_incidents.c: reads the tracker's stored runs and incidents for a window
 * (rpc_incidents.h). Nothing is re-derived from results or rollups: uptime is
 * the stored runs' up and down rounds, incidents are the stored ones; another
 * N and M walk the same rule over the stored runs, another quorum first
 * rebuilds the global runs from the regions' stored runs (a round is down when
 * at least quorum regions are down in it, up when any region has data). */
#include "rpc_incidents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "maint.h"
#include "pk_error.h"
#include "rounds.h"

#define ALL_HISTORY (INT64_MIN / 4)

/* The end of the window's last round: an open incident's duration runs to it. */
static int64_t window_end(const struct tracked_window *w)
{
    return pk_round_start(w->k_until, w->rule.interval_us, w->rule.spread_us);
}

/* Bits of a comma-separated region list in names (added when new). */
static uint64_t mask_of(const char *list, char (*names)[128], int *n_names)
{
    uint64_t m = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < *n_names && strcmp(names[k], t) != 0)
            k++;
        if (k == *n_names) {
            if (*n_names >= PK_AN_MAX_REGIONS)
                continue;
            snprintf(names[(*n_names)++], 128, "%s", t);
        }
        m |= UINT64_C(1) << k;
    }
    return m;
}

static int append_run(struct pk_timeline *tl, struct pk_round_run r)
{
    if (tl->n && tl->runs[tl->n - 1].to + 1 == r.from && tl->runs[tl->n - 1].state == r.state &&
        tl->runs[tl->n - 1].regions == r.regions) {
        tl->runs[tl->n - 1].to = r.to;
        return 0;
    }
    struct pk_round_run *v = pk_grow(tl->runs, &tl->cap, tl->n + 1, sizeof *v, PK_ROUNDS_MAX_RUNS);
    if (!v)
        return -1;
    tl->runs = v;
    tl->runs[tl->n++] = r;
    return 0;
}

static int by_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Global runs with another quorum, from the region runs (sorted by scope then
 * round): a sweep over every run boundary. */
static int derive_global(const struct store_round_run *runs, size_t n, int quorum, struct pk_timeline *tl,
                         char (*names)[128], int *n_names, char *err, size_t errlen)
{
    int64_t *b = malloc((2 * n + 1) * sizeof *b);
    size_t first[PK_AN_MAX_REGIONS + 1] = {0}, pos[PK_AN_MAX_REGIONS] = {0};
    int bit[PK_AN_MAX_REGIONS] = {0}, ns = 0;
    if (!b)
        return pk_fail(err, errlen, "incidents: out of memory");
    for (size_t i = 0; i < n; i++) {
        b[2 * i] = runs[i].from;
        b[2 * i + 1] = runs[i].to + 1;
        if ((i == 0 || strcmp(runs[i].scope, runs[i - 1].scope) != 0) && ns < PK_AN_MAX_REGIONS) {
            first[ns] = i;
            uint64_t m = mask_of(runs[i].scope, names, n_names);
            bit[ns++] = m ? __builtin_ctzll(m) : 0;
        }
    }
    first[ns] = n;
    qsort(b, 2 * n, sizeof *b, by_i64);
    for (int r = 0; r < ns; r++)
        pos[r] = first[r];
    int rc = 0;
    for (size_t i = 0; i + 1 < 2 * n && rc == 0; i++) {
        if (b[i] == b[i + 1])
            continue;
        int64_t k = b[i];
        uint64_t down = 0;
        int data = 0, n_down = 0;
        for (int r = 0; r < ns; r++) {
            while (pos[r] < first[r + 1] && runs[pos[r]].to < k)
                pos[r]++;
            if (pos[r] >= first[r + 1] || runs[pos[r]].from > k)
                continue;
            data = 1;
            if (runs[pos[r]].state == PK_ROUND_DOWN) {
                down |= UINT64_C(1) << bit[r];
                n_down++;
            }
        }
        if (data) {
            int dn = n_down >= quorum;
            rc = append_run(tl, (struct pk_round_run){k, b[i + 1] - 1, dn ? PK_ROUND_DOWN : PK_ROUND_UP,
                                                      dn ? down : 0});
        }
    }
    free(b);
    return rc < 0 ? pk_fail(err, errlen, "incidents: out of memory") : 0;
}

/* The scope's runs before k_until (from k_from; ALL_HISTORY for incidents). */
static int load_timeline(struct store *s, const char *check, const char *region, int derived, int quorum,
                         int64_t k_from, int64_t k_until, struct pk_timeline *tl, char (*names)[128], int *n_names,
                         char *err, size_t errlen)
{
    struct store_round_run *runs = NULL;
    size_t n = 0;
    if (store_round_runs_read(s, check, derived ? NULL : (region ? region : "*"), k_from, k_until, &runs, &n, err,
                              errlen) < 0)
        return -1;
    int rc = 0;
    if (derived) {
        rc = derive_global(runs, n, quorum, tl, names, n_names, err, errlen);
    } else {
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = append_run(tl, (struct pk_round_run){runs[i].from, runs[i].to, runs[i].state,
                                                      runs[i].state == PK_ROUND_DOWN
                                                          ? mask_of(runs[i].regions, names, n_names)
                                                          : 0});
        if (rc < 0)
            pk_fail(err, errlen, "incidents: out of memory");
    }
    free(runs);
    return rc;
}

/* The rule and the window's rounds; *derived when global with another quorum. */
static int window_of(struct store *s, const char *check, const char *region, int quorum, int64_t since_us,
                     int64_t until_us, struct tracked_window *w, int *derived, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    int got = store_track_rule_read(s, check, &w->rule, err, errlen);
    if (got < 0)
        return -1;
    w->tracked = got && w->rule.interval_us > 0;
    w->open_after = got ? w->rule.open_after : 3;
    w->close_after = got ? w->rule.close_after : 3;
    w->quorum = region ? 1 : (quorum ? quorum : w->rule.quorum);
    *derived = !region && quorum && quorum != w->rule.quorum;
    if (w->tracked) {
        w->k_from = pk_round_at_or_after(since_us, w->rule.interval_us, w->rule.spread_us);
        w->k_until = pk_round_at_or_after(until_us, w->rule.interval_us, w->rule.spread_us);
    }
    return 0;
}

int tracked_rounds(struct store *s, const char *check, const char *region, int quorum, int64_t since_us,
                   int64_t until_us, struct tracked_window *w, char *err, size_t errlen)
{
    return tracked_rounds_outside(s, check, region, quorum, since_us, until_us, NULL, 0, w, err, errlen);
}

int tracked_rounds_outside(struct store *s, const char *check, const char *region, int quorum, int64_t since_us,
                           int64_t until_us, const struct maint_interval *iv, size_t niv, struct tracked_window *w,
                           char *err, size_t errlen)
{
    int derived;
    if (window_of(s, check, region, quorum, since_us, until_us, w, &derived, err, errlen) < 0)
        return -1;
    if (!w->tracked)
        return 0;
    char names[PK_AN_MAX_REGIONS][128];
    int n_names = 0;
    struct pk_timeline tl = {0};
    if (load_timeline(s, check, region, derived, w->quorum, w->k_from, w->k_until, &tl, names, &n_names, err,
                      errlen) < 0) {
        pk_timeline_free(&tl);
        return -1;
    }
    struct pk_round_counts rc;
    pk_timeline_count(&tl, w->k_from, w->k_until, &rc);
    w->up = rc.up;
    w->down = rc.down;
    /* Rounds that start inside a maintenance interval are left out. */
    for (size_t i = 0; i < niv; i++) {
        int64_t a = pk_round_at_or_after(iv[i].start_us, w->rule.interval_us, w->rule.spread_us);
        int64_t b = pk_round_at_or_after(iv[i].end_us, w->rule.interval_us, w->rule.spread_us);
        a = a > w->k_from ? a : w->k_from;
        b = b < w->k_until ? b : w->k_until;
        if (a >= b)
            continue;
        pk_timeline_count(&tl, a, b, &rc);
        w->up -= rc.up;
        w->down -= rc.down;
    }
    pk_timeline_free(&tl);
    return 0;
}

int tracked_rounds_all(struct store *s, const char *check, int64_t since_us, int64_t until_us,
                       struct tracked_window *global, char (*names)[128], int n_names, struct tracked_window *regions,
                       char *err, size_t errlen)
{
    int derived;
    if (window_of(s, check, NULL, 0, since_us, until_us, global, &derived, err, errlen) < 0)
        return -1;
    for (int i = 0; i < n_names; i++) {
        regions[i] = *global;
        regions[i].quorum = 1;
    }
    if (!global->tracked)
        return 0;
    if (store_round_counts(s, check, "*", global->k_from, global->k_until, &global->up, &global->down)) {
        for (int i = 0; i < n_names; i++) /* counted for every check at once (store_tracked_prefetch) */
            store_round_counts(s, check, names[i], global->k_from, global->k_until, &regions[i].up, &regions[i].down);
        return 0;
    }
    /* One check (its page, --check): every scope's counts from the runs'
     * running totals, not the runs of the whole window. */
    struct store_round_count_row *rows = NULL;
    size_t n = 0;
    if (store_round_counts_one(s, check, NULL, global->k_from, global->k_until, &rows, &n, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct tracked_window *w = NULL;
        if (strcmp(rows[i].scope, "*") == 0)
            w = global;
        for (int k = 0; !w && k < n_names; k++)
            if (strcmp(rows[i].scope, names[k]) == 0)
                w = &regions[k];
        if (w) {
            w->up += rows[i].up;
            w->down += rows[i].down;
        }
    }
    free(rows);
    return 0;
}

/* Up and down rounds of one stored scope in w's window (w's rule already read). */
static int count_rounds(struct store *s, const char *check, const char *scope, struct tracked_window *w, char *err,
                        size_t errlen)
{
    int64_t up, down;
    if (store_round_counts(s, check, scope, w->k_from, w->k_until, &up, &down)) {
        w->up += up;
        w->down += down;
        return 0;
    }
    struct store_round_count_row *rows = NULL;
    size_t n = 0;
    if (store_round_counts_one(s, check, scope, w->k_from, w->k_until, &rows, &n, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].scope, scope) == 0) {
            w->up += rows[i].up;
            w->down += rows[i].down;
        }
    free(rows);
    return 0;
}

/* The rule walked over the stored runs (another N, M or quorum). */
static int walk_runs(struct store *s, const char *check, const char *region, int derived, struct tracked_window *w,
                     int64_t since_us, int64_t until_us, struct pk_incident **out, size_t *n, char (*names)[128],
                     int *n_names, char *err, size_t errlen)
{
    struct pk_timeline tl = {0};
    struct pk_round_incident *inc = NULL;
    size_t ni = 0;
    int rc = load_timeline(s, check, region, derived, w->quorum, ALL_HISTORY, w->k_until, &tl, names, n_names, err,
                           errlen);
    if (rc == 0) {
        struct pk_round_counts cnt;
        pk_timeline_count(&tl, w->k_from, w->k_until, &cnt);
        w->up = cnt.up;
        w->down = cnt.down;
        int64_t from = tl.n ? tl.runs[0].from : w->k_from;
        rc = pk_timeline_incidents(&tl, from, w->k_until, w->open_after, w->close_after, &inc, &ni, err, errlen);
    }
    pk_timeline_free(&tl);
    struct pk_incident *v = rc == 0 ? calloc(ni ? ni : 1, sizeof *v) : NULL;
    if (rc == 0 && !v)
        rc = pk_fail(err, errlen, "incidents: out of memory");
    const int64_t iv = w->rule.interval_us, sp = w->rule.spread_us;
    for (size_t i = 0; rc == 0 && i < ni; i++) {
        int64_t start = pk_round_start(inc[i].start, iv, sp);
        int64_t end = inc[i].end >= 0 ? pk_round_start(inc[i].end, iv, sp) : -1;
        if (start >= until_us || (end >= 0 && end <= since_us))
            continue;
        v[(*n)++] = (struct pk_incident){start, end, (end >= 0 ? end : window_end(w)) - start, inc[i].regions,
                                         (int)inc[i].down_rounds};
    }
    free(inc);
    if (rc < 0) {
        free(v);
        *n = 0;
        return -1;
    }
    *out = v;
    return 0;
}

int tracked_incidents(struct store *s, const char *check, const char *region, int quorum, int open_after,
                      int close_after, int64_t since_us, int64_t until_us, struct pk_incident **out, size_t *n,
                      char (*names)[128], int *n_names, struct tracked_window *w, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    int derived;
    if (window_of(s, check, region, quorum, since_us, until_us, w, &derived, err, errlen) < 0)
        return -1;
    if (!w->tracked)
        return 0;
    if (open_after)
        w->open_after = open_after;
    if (close_after)
        w->close_after = close_after;
    if (derived || w->open_after != w->rule.open_after || w->close_after != w->rule.close_after)
        return walk_runs(s, check, region, derived, w, since_us, until_us, out, n, names, n_names, err, errlen);
    if (count_rounds(s, check, region ? region : "*", w, err, errlen) < 0)
        return -1;
    struct store_incident *rows = NULL;
    size_t nr = 0;
    if (store_incidents_read(s, check, region ? region : "*", since_us, until_us, &rows, &nr, err, errlen) < 0)
        return -1;
    struct pk_incident *v = calloc(nr ? nr : 1, sizeof *v);
    if (!v) {
        free(rows);
        return pk_fail(err, errlen, "incidents: out of memory");
    }
    for (size_t i = 0; i < nr; i++) {
        const struct store_incident *x = &rows[i];
        v[i] = (struct pk_incident){x->start_us, x->end_us,
                                    (x->end_us >= 0 ? x->end_us : window_end(w)) - x->start_us,
                                    mask_of(x->regions, names, n_names), (int)x->down_rounds};
    }
    *n = nr;
    *out = v;
    free(rows);
    return 0;
}

void tracked_clip(const struct tracked_window *w, const struct pk_incident *in, size_t n, struct pk_incident *out)
{
    int64_t first = pk_round_start(w->k_from, w->rule.interval_us, w->rule.spread_us), last = window_end(w);
    for (size_t i = 0; i < n; i++) {
        out[i] = in[i];
        int64_t a = in[i].start_us > first ? in[i].start_us : first;
        int64_t b = in[i].end_us >= 0 && in[i].end_us < last ? in[i].end_us : last;
        out[i].duration_us = b > a ? b - a : 0;
    }
}
