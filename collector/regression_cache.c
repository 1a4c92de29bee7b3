/* regression_cache.c: the alert thread's cache of the baseline rule's learned
 * history (regression_fast_cached, regression_hourly_cached;
 * collector/regression_rule.h): per rule, check and half, the model learned
 * from the 28 days before the half's current split (pk_regression_learn, about
 * 5 KB), learned again when the split moves (once an hour); each evaluation
 * reads only the windows it judges and judges them against the model, which is
 * what regression_fast_at and regression_rule_at compute in one call. Used by
 * one thread; owns its entries until regression_cache_free. */
#include "regression_rule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

struct regression_cache_entry {
    char check[PK_NAME_MAX];
    int rule; /* one rule judges one thing: latency or one metric */
    int hourly; /* the half: 1 hourly, 0 fast */
    int64_t split; /* the model learned [split - 28 days, split); -1: none */
    struct pk_regression_model model;
    int has_judged; /* judged: the windows the next evaluation judges, read for many checks at once */
    struct regression_series judged;
};

/* A model that can give a verdict: one without (a slot with a baseline) is learned
 * again at every evaluation, so a check whose history arrives within the hour
 * (a new check, a backfill) is judged at once; a ready model is kept for the hour
 * (history arriving late for it is learned at the next hour). */
static int ready(const struct pk_regression_model *m)
{
    if (!m->has_history)
        return 0;
    for (int i = 0; i < PK_BASELINE_SLOTS; i++)
        if (m->b.slot[i].source != PK_BASE_NONE && m->b.slot[i].source != PK_BASE_LEARNING)
            return 1;
    return 0;
}

static size_t key_hash(int rule, int hourly, const char *check)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(unsigned)rule * 2 ^ (uint64_t)hourly;
    for (; *check; check++)
        h = (h ^ (unsigned char)*check) * 1099511628211ULL;
    return (size_t)(h ^ h >> 29);
}

/* The slot of (rule, hourly, check): its entry's, or the empty one where it goes. */
static size_t *slot_of(struct regression_cache *c, int rule, int hourly, const char *check)
{
    size_t i = key_hash(rule, hourly, check) & (c->n_slots - 1);
    for (;; i = (i + 1) & (c->n_slots - 1)) {
        size_t at = c->slot[i];
        if (!at)
            return &c->slot[i];
        const struct regression_cache_entry *e = &c->v[at - 1];
        if (e->rule == rule && e->hourly == hourly && !strcmp(e->check, check))
            return &c->slot[i];
    }
}

/* Every evaluation looks each of its checks up (a rule on 10,000 checks: 20,000
 * look-ups a minute), so by hash, not by a walk over the entries. */
static struct regression_cache_entry *entry_of(struct regression_cache *c, int rule, int hourly, const char *check)
{
    if ((c->n + 1) * 2 > c->n_slots) {
        size_t ns = c->n_slots ? c->n_slots * 2 : 256;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots)
            return NULL;
        free(c->slot);
        c->slot = slots;
        c->n_slots = ns;
        for (size_t i = 0; i < c->n; i++)
            *slot_of(c, c->v[i].rule, c->v[i].hourly, c->v[i].check) = i + 1;
    }
    size_t *at = slot_of(c, rule, hourly, check);
    if (*at)
        return &c->v[*at - 1];
    struct regression_cache_entry *v = pk_grow(c->v, &c->cap, c->n + 1, sizeof *v, 0);
    if (!v)
        return NULL;
    c->v = v;
    *at = c->n + 1;
    struct regression_cache_entry *e = &v[c->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->check, sizeof e->check, "%s", check);
    e->rule = rule;
    e->hourly = hourly;
    e->split = -1;
    return e;
}

/* The model of the 28 days before split (learned again when split moved or it
 * gives no verdict), then the windows [split, end) judged against it. */
static int judge_cached(struct regression_cache *c, struct store *st, int rule, int hourly, const char *check,
                        const char *metric, int64_t split, int64_t end, const struct pk_regression_opts *o,
                        struct pk_regression *out, char *err, size_t errlen)
{
    struct regression_cache_entry *e = entry_of(c, rule, hourly, check);
    if (!e)
        return pk_fail(err, errlen, "baseline of %.128s: out of memory", check);
    if (e->split != split || !ready(&e->model)) {
        struct regression_series h;
        e->split = -1;
        if (regression_half_read(st, hourly, 1, check, metric, split - REGRESSION_HISTORY_US, split, &h, err, errlen) < 0)
            return -1;
        int rc = pk_regression_learn(o, h.t, h.y, h.excluded, h.n, &e->model, err, errlen);
        regression_series_free(&h);
        if (rc < 0)
            return -1;
        e->split = split;
    }
    struct regression_series rec;
    if (e->has_judged && e->judged.from == split && e->judged.from + (int64_t)e->judged.n * e->judged.width == end) {
        rec = e->judged; /* read by regression_cache_prefetch */
        e->has_judged = 0;
        memset(&e->judged, 0, sizeof e->judged);
    } else if (regression_half_read(st, hourly, 0, check, metric, split, end, &rec, err, errlen) < 0) {
        return -1;
    }
    pk_regression_judge_model(o, &e->model, rec.t, rec.y, rec.n, out, NULL, NULL);
    regression_series_free(&rec);
    return 0;
}

int regression_fast_cached(struct regression_cache *c, struct store *st, int rule, const char *check,
                           const char *metric, int64_t fend, const struct pk_regression_opts *o, struct pk_regression *out, char *err, size_t errlen)
{
    return judge_cached(c, st, rule, 0, check, metric, regression_fast_split(fend), fend, o, out, err, errlen);
}

int regression_hourly_cached(struct regression_cache *c, struct store *st, int rule, const char *check,
                             const char *metric, int64_t end, const struct pk_regression_opts *o,
                             struct pk_regression *out, char *err, size_t errlen)
{
    return judge_cached(c, st, rule, 1, check, metric, end - REGRESSION_RECENT_US, end, o, out, err, errlen);
}

int regression_cache_prefetch(struct regression_cache *c, struct store *st, int rule, int hourly,
                               const char *const *checks, size_t n, int64_t end, char *err, size_t errlen)
{
    int64_t split = hourly ? end - REGRESSION_RECENT_US : regression_fast_split(end);
    struct regression_series *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return pk_fail(err, errlen, "judged windows of %zu checks: out of memory", n);
    if (regression_judged_many(st, hourly, checks, n, split, end, v, err, errlen) < 0) {
        free(v);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct regression_cache_entry *e = rc == 0 ? entry_of(c, rule, hourly, checks[i]) : NULL;
        if (!e) {
            rc = pk_fail(err, errlen, "judged windows of %zu checks: out of memory", n);
            regression_series_free(&v[i]);
            continue;
        }
        regression_series_free(&e->judged);
        e->judged = v[i];
        e->has_judged = 1;
    }
    free(v);
    return rc;
}

void regression_cache_free(struct regression_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        regression_series_free(&c->v[i].judged);
    free(c->v);
    free(c->slot);
    memset(c, 0, sizeof *c);
}
