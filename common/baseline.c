/* baseline.c: learned baselines (hour-of-week median and MAD, with fallbacks when
 * a slot has too little history, and no verdict while it is learning), the robust
 * deviation score, the k-consecutive regression detector, the regression rule that
 * report, alerts and back-testing share (pk_regression_judge), and static latency
 * budgets. Owns only scratch memory freed before return; the caller says which
 * windows are inside incidents or maintenance. Definitions: docs/ANALYTICS.md,
 * "Baselines". */
#include "analytics.h"
#include "pk_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAD_TO_SIGMA 1.4826 /* MAD * 1.4826 estimates sigma for normal data */
#define RATIO_FLOOR 1e-3   /* reciprocal: a value judged as at least this share of the median */

void pk_baseline_opts_default(struct pk_baseline_opts *o)
{
    memset(o, 0, sizeof *o);
    o->min_samples = 3;
    o->mad_floor_rel = 0.01;
    o->mad_floor_abs = 0.0;
    o->tz_offset_s = 0;
    o->pool_mad = 1;
    o->min_history_us = INT64_C(7) * 24 * 3600 * 1000000;
}

/* The whole hours since 1970-01-01 00:00 in the time zone, rounded down. */
static int64_t hours_of(int64_t t_us, int64_t tz_offset_s)
{
    int64_t s = t_us / 1000000 - (t_us % 1000000 < 0) + tz_offset_s; /* floor to seconds */
    return s >= 0 ? s / 3600 : -((-s + 3599) / 3600);
}

static int slot_of_hours(int64_t hours)
{
    /* 1970-01-01 00:00 UTC was a Thursday: hour 72 of a week starting Monday 00:00. */
    int64_t slot = (hours + 72) % PK_BASELINE_SLOTS;
    return (int)(slot < 0 ? slot + PK_BASELINE_SLOTS : slot);
}

int pk_baseline_slot_of(int64_t t_us, int64_t tz_offset_s)
{
    return slot_of_hours(hours_of(t_us, tz_offset_s));
}

/* The slots of a run of times (ascending ones mostly share an hour) without
 * dividing for each: the last hour looked up, [lo, hi) in microseconds. The
 * answers are pk_baseline_slot_of's. */
struct slot_cursor {
    int64_t lo, hi, tz;
    int slot;
};

#define CURSOR_T_MAX (INT64_C(1) << 61) /* hours x 3600 x 10^6 stays far inside int64 */

static void slot_cursor_init(struct slot_cursor *c, int64_t tz_offset_s)
{
    *c = (struct slot_cursor){1, 0, tz_offset_s, 0}; /* empty */
}

static int slot_at(struct slot_cursor *c, int64_t t_us)
{
    if (t_us >= c->lo && t_us < c->hi)
        return c->slot;
    int64_t hours = hours_of(t_us, c->tz);
    c->slot = slot_of_hours(hours);
    if (t_us > -CURSOR_T_MAX && t_us < CURSOR_T_MAX && c->tz > -CURSOR_T_MAX / 1000000 &&
        c->tz < CURSOR_T_MAX / 1000000) {
        c->lo = (hours * 3600 - c->tz) * 1000000;
        c->hi = c->lo + INT64_C(3600) * 1000000;
    } else {
        c->lo = 1, c->hi = 0;
    }
    return c->slot;
}

/* The slot of each time in t_us[0, n): slots (n bytes). */
static void slots_of(const int64_t *t_us, size_t n, int64_t tz_offset_s, unsigned char *slots)
{
    struct slot_cursor c;
    slot_cursor_init(&c, tz_offset_s);
    for (size_t i = 0; i < n; i++)
        slots[i] = (unsigned char)slot_at(&c, t_us[i]);
}

/* ------------------------------------------------------------ the memo */

#define MEMO_SLOTS 16384 /* a 28-day fast learning and its four held-out ones use some 1,200 groups */

struct memo_entry {
    uint64_t h1, h2;
    size_t n; /* 0: empty */
    double median, mad;
    int has_mad; /* 0: only the median was asked for so far */
};

struct pk_stats_memo {
    struct memo_entry e[MEMO_SLOTS];
    uint64_t hits, misses;
};

struct pk_stats_memo *pk_stats_memo_new(void)
{
    return calloc(1, sizeof(struct pk_stats_memo));
}

void pk_stats_memo_free(struct pk_stats_memo *m)
{
    free(m);
}

void pk_stats_memo_counts(const struct pk_stats_memo *m, uint64_t *hits, uint64_t *misses)
{
    *hits = m ? m->hits : 0;
    *misses = m ? m->misses : 0;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

/* Two independent 64-bit hashes of the values' bits, in order: two
 * multiply-rotate lanes with different odd constants, each finished by a full
 * avalanche (a look-up costs a few ns a value; a median some ten times more). */
static void hash_values(const double *v, size_t n, uint64_t *h1, uint64_t *h2)
{
    uint64_t a = UINT64_C(0x9e3779b97f4a7c15) ^ n, b = UINT64_C(0x6a09e667f3bcc909) + n;
    for (size_t i = 0; i < n; i++) {
        uint64_t x;
        memcpy(&x, &v[i], sizeof x);
        a = (a ^ x) * UINT64_C(0xff51afd7ed558ccd);
        a = (a << 29) | (a >> 35);
        b = (b + x) * UINT64_C(0xc4ceb9fe1a85ec53);
        b = (b << 37) | (b >> 27);
    }
    *h1 = mix64(a);
    *h2 = mix64(b + *h1);
}

/* Each hour-of-week slot's values hashed once per learning: the memo key of a
 * group of slots (a slot, an hour on a kind of day, an hour of any day) is
 * made from its slots' keys, so a group whose stats are memoised costs
 * neither a pass over its values nor gathering them. */
struct slot_keys {
    uint64_t h1[PK_BASELINE_SLOTS], h2[PK_BASELINE_SLOTS];
};

/* What one learning's groups of slots are computed from. */
struct learn_ctx {
    struct pk_stats_memo *memo; /* NULL: no memo */
    const struct slot_keys *sk;
    const double *by_slot;
    const size_t *start, *count;
    double *scratch;
};

/* The values of slots[0..n_slots) (by_slot[start[s], start[s] + count[s])) in
 * that order, gathered into c->scratch; their number. */
static size_t gather(const struct learn_ctx *c, const int *slots, int n_slots)
{
    size_t k = 0;
    for (int i = 0; i < n_slots; i++) {
        memcpy(c->scratch + k, c->by_slot + c->start[slots[i]], c->count[slots[i]] * sizeof *c->scratch);
        k += c->count[slots[i]];
    }
    return k;
}

/* The values of slots[0..n_slots): their number, median and (want_mad; else
 * NAN) MAD into out, through the memo (keys: c->sk). */
static void group_stats(const struct learn_ctx *c, const int *slots, int n_slots, struct pk_baseline_slot *out,
                        int source, int want_mad)
{
    size_t n = 0;
    for (int i = 0; i < n_slots; i++)
        n += c->count[slots[i]];
    out->n = (uint32_t)n;
    out->source = source;
    out->mad = NAN;
    struct memo_entry *e = NULL;
    uint64_t h1 = 0, h2 = 0;
    if (c->memo && n > 0) {
        const struct slot_keys *sk = c->sk;
        if (n_slots == 1) {
            h1 = sk->h1[slots[0]];
            h2 = sk->h2[slots[0]];
        } else { /* a group: its slots' keys and counts, in order, hashed again */
            uint64_t a = UINT64_C(0x243f6a8885a308d3) ^ (uint64_t)n_slots, b = UINT64_C(0x13198a2e03707344) + n;
            for (int i = 0; i < n_slots; i++) {
                a = (a ^ sk->h1[slots[i]]) * UINT64_C(0xff51afd7ed558ccd);
                a = (a << 29) | (a >> 35);
                b = (b + sk->h2[slots[i]] + c->count[slots[i]]) * UINT64_C(0xc4ceb9fe1a85ec53);
                b = (b << 37) | (b >> 27);
            }
            h1 = mix64(a);
            h2 = mix64(b + h1);
        }
        e = &c->memo->e[h1 % MEMO_SLOTS];
        if (e->n == n && e->h1 == h1 && e->h2 == h2) {
            c->memo->hits++;
            out->median = e->median;
            if (e->has_mad || !want_mad) {
                out->mad = e->has_mad ? e->mad : NAN;
                return;
            }
            out->mad = e->mad = pk_an_mad(c->scratch, gather(c, slots, n_slots), e->median);
            e->has_mad = 1;
            return;
        }
        c->memo->misses++;
    }
    gather(c, slots, n_slots);
    out->median = pk_an_median(c->scratch, n);
    if (want_mad)
        out->mad = pk_an_mad(c->scratch, n, out->median);
    if (e)
        *e = (struct memo_entry){h1, h2, n, out->median, out->mad, want_mad};
}

/* The fallbacks of a learning, each worked out when first needed (most
 * learnings need only the medians of some hours on a kind of day): hour of
 * day on the same kind of day (weekdays Monday-Friday, weekend) and hour of
 * day on any day. */
#define FB_ANY_DAY 2 /* kind: 0 weekdays, 1 weekend, 2 any day */
#define FB_COUNT 1   /* what is wanted: the count, the median too, the MAD too */
#define FB_MEDIAN 2
#define FB_MAD 3
struct fallbacks {
    struct pk_baseline_slot g[3][24];
    unsigned char have[3][24]; /* 0 or the FB_ level computed */
};

static const struct pk_baseline_slot *fallback(const struct learn_ctx *c, struct fallbacks *f, int kind, int h,
                                               int level)
{
    struct pk_baseline_slot *g = &f->g[kind][h];
    if (f->have[kind][h] >= level)
        return g;
    int group[7], k = 0;
    for (int d = kind == 1 ? 5 : 0; d < (kind == 0 ? 5 : 7); d++)
        group[k++] = d * 24 + h;
    int source = kind == FB_ANY_DAY ? PK_BASE_HOUR_OF_DAY : PK_BASE_HOUR_OF_DAY_TYPE;
    if (level == FB_COUNT) {
        size_t n = 0;
        for (int i = 0; i < k; i++)
            n += c->count[group[i]];
        *g = (struct pk_baseline_slot){NAN, NAN, (uint32_t)n, source};
    } else {
        group_stats(c, group, k, g, source, level == FB_MAD);
    }
    f->have[kind][h] = (unsigned char)level;
    return g;
}

/* pk_baseline_opts.pool_day_type: own's median becomes its kind of day's when
 * the two are within k x its own spread. */
static void pool_with_day_type(struct pk_baseline_slot *own, const struct pk_baseline_slot *type, double k)
{
    if (!(k > 0) || type->n <= own->n || isnan(type->median))
        return;
    if (fabs(own->median - type->median) <= k * MAD_TO_SIGMA * own->mad)
        own->median = type->median;
}

/* pk_baseline_learn with each time's slot given (slots_of); without pooled,
 * b->pooled_rel_mad is left NAN for the caller to work out (pooled_at_least). */
static int learn_slotted(struct pk_baseline *b, const struct pk_baseline_opts *o, const int64_t *t_us,
                         const unsigned char *slots, const double *y, size_t n, int pooled, char *err,
                         size_t errlen)
{
    memset(b, 0, sizeof *b);
    b->opts = *o;
    for (int s = 0; s < PK_BASELINE_SLOTS; s++)
        b->slot[s] = (struct pk_baseline_slot){NAN, NAN, 0, PK_BASE_NONE};
    if (o->min_samples < 1)
        return pk_fail(err, errlen, "baseline: min_samples must be >= 1 (got %d)", o->min_samples);
    if (o->mad_floor_rel < 0 || o->mad_floor_abs < 0)
        return pk_fail(err, errlen, "baseline: MAD floors must be >= 0");
    int rc = -1;
    size_t count[PK_BASELINE_SLOTS] = {0}, start[PK_BASELINE_SLOTS + 1] = {0}, fill[PK_BASELINE_SLOTS];
    size_t used = 0;
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (!isnan(y[i])) {
            count[slots[i]]++;
            used++;
            first = t_us[i] < first ? t_us[i] : first;
            last = t_us[i] > last ? t_us[i] : last;
        }
    double *by_slot = malloc((used ? used : 1) * sizeof *by_slot);
    double *scratch = malloc((used ? used : 1) * sizeof *scratch);
    if (!by_slot || !scratch) {
        pk_fail(err, errlen, "baseline: out of memory for %zu values", used);
        goto out;
    }
    if (used < (size_t)o->min_samples) {
        pk_fail(err, errlen, "baseline: %zu values of history, at least %d needed", used, o->min_samples);
        goto out;
    }
    for (int s = 0; s < PK_BASELINE_SLOTS; s++)
        start[s + 1] = start[s] + count[s];
    memcpy(fill, start, sizeof fill);
    for (size_t i = 0; i < n; i++)
        if (!isnan(y[i]))
            by_slot[fill[slots[i]]++] = y[i];
    b->n = used;
    struct slot_keys *sk = o->memo ? malloc(sizeof *sk) : NULL;
    if (o->memo && !sk) {
        pk_fail(err, errlen, "baseline: out of memory for %zu values", used);
        goto out;
    }
    for (int s = 0; sk && s < PK_BASELINE_SLOTS; s++)
        hash_values(by_slot + start[s], count[s], &sk->h1[s], &sk->h2[s]);
    const struct learn_ctx c = {sk ? o->memo : NULL, sk, by_slot, start, count, scratch};
    struct fallbacks fbs = {0}, *fb = &fbs;
    /* The span counts the last window whole (an hour of history from 00:00 spans
     * to 01:00); windows are an hour here. */
    int learning = used == 0 || last - first + INT64_C(3600000000) < o->min_history_us;
    for (int s = 0; s < PK_BASELINE_SLOTS; s++) {
        if (learning || count[s] == 0) {
            b->slot[s] = (struct pk_baseline_slot){NAN, NAN, 0, PK_BASE_LEARNING};
        } else if (count[s] >= (size_t)o->min_samples) {
            group_stats(&c, &s, 1, &b->slot[s], PK_BASE_HOUR_OF_WEEK, 1);
            if (o->pool_day_type > 0) { /* the kind of day's median only when it has more values */
                const struct pk_baseline_slot *t = fallback(&c, fb, s >= 5 * 24, s % 24, FB_COUNT);
                if (t->n > b->slot[s].n)
                    t = fallback(&c, fb, s >= 5 * 24, s % 24, FB_MEDIAN);
                pool_with_day_type(&b->slot[s], t, o->pool_day_type);
            }
        } else if (fallback(&c, fb, s >= 5 * 24, s % 24, FB_COUNT)->n >= (uint32_t)o->min_samples) {
            b->slot[s] = *fallback(&c, fb, s >= 5 * 24, s % 24, FB_MAD);
        } else if (fallback(&c, fb, FB_ANY_DAY, s % 24, FB_COUNT)->n >= (uint32_t)o->min_samples) {
            b->slot[s] = *fallback(&c, fb, FB_ANY_DAY, s % 24, FB_MAD);
        } else {
            b->slot[s] = (struct pk_baseline_slot){NAN, NAN, 0, PK_BASE_LEARNING};
        }
    }
    /* A slot's MAD from a few weeks of history is itself noisy (often far too
     * small); the noise level of the whole history, relative to each slot's
     * median, is a steadier floor. */
    size_t k = 0;
    b->pooled_rel_mad = NAN;
    for (int s = 0; pooled && s < PK_BASELINE_SLOTS; s++) {
        double m = b->slot[s].median;
        if (m == 0.0 || isnan(m))
            continue;
        for (size_t i = start[s]; i < start[s] + count[s]; i++)
            scratch[k++] = fabs(by_slot[i] - m) / fabs(m);
    }
    if (pooled)
        b->pooled_rel_mad = k ? pk_an_median(scratch, k) : 0.0;
    rc = 0;
    free(sk);
out:
    free(by_slot);
    free(scratch);
    return rc;
}

int pk_baseline_learn(struct pk_baseline *b, const struct pk_baseline_opts *o, const int64_t *t_us,
                      const double *y, size_t n, char *err, size_t errlen)
{
    unsigned char *slots = malloc(n ? n : 1);
    if (!slots) {
        memset(b, 0, sizeof *b);
        return pk_fail(err, errlen, "baseline: out of memory for %zu values", n);
    }
    slots_of(t_us, n, o->tz_offset_s, slots);
    int rc = learn_slotted(b, o, t_us, slots, y, n, 1, err, errlen);
    free(slots);
    return rc;
}

static int has_verdict(const struct pk_baseline_slot *s)
{
    return s->source != PK_BASE_NONE && s->source != PK_BASE_LEARNING;
}

/* pk_baseline_expected for a time in the given slot. */
static double expected_in(const struct pk_baseline *b, int slot, int64_t t_us)
{
    const struct pk_baseline_slot *s = &b->slot[slot];
    if (!has_verdict(s))
        return NAN;
    int64_t w = b->opts.interpolate_us;
    if (w <= 0)
        return s->median;
    /* the window's middle, as a fraction of its hour (the hour is its slot's) */
    int64_t mid_s = (t_us + w / 2) / 1000000 + b->opts.tz_offset_s;
    double frac = (double)(((mid_s % 3600) + 3600) % 3600) / 3600.0;
    if (pk_baseline_slot_of(t_us + w / 2, b->opts.tz_offset_s) != slot)
        return s->median; /* a window wider than what is left of its hour */
    int next = frac >= 0.5;
    const struct pk_baseline_slot *o =
        &b->slot[(slot + (next ? 1 : PK_BASELINE_SLOTS - 1)) % PK_BASELINE_SLOTS];
    if (!has_verdict(o) || isnan(o->median))
        return s->median;
    double a = next ? frac - 0.5 : 0.5 - frac; /* the neighbour's weight, 0 to 0.5 */
    return (1.0 - a) * s->median + a * o->median;
}

double pk_baseline_expected(const struct pk_baseline *b, int64_t t_us)
{
    return expected_in(b, pk_baseline_slot_of(t_us, b->opts.tz_offset_s), t_us);
}

/* pk_baseline_score for a time in the given slot. */
static double score_in(const struct pk_baseline *b, int slot, int64_t t_us, double x)
{
    if (isnan(x))
        return NAN;
    const struct pk_baseline_slot *s = &b->slot[slot];
    if (!has_verdict(s))
        return NAN;
    double m = expected_in(b, slot, t_us);
    double floor_ = b->opts.mad_floor_rel * fabs(s->median);
    if (b->opts.mad_floor_abs > floor_)
        floor_ = b->opts.mad_floor_abs;
    if (b->opts.pool_mad && b->pooled_rel_mad * fabs(s->median) > floor_)
        floor_ = b->pooled_rel_mad * fabs(s->median);
    double scale = MAD_TO_SIGMA * (s->mad > floor_ ? s->mad : floor_);
    if (scale == 0.0)
        return x == m ? 0.0 : copysign(INFINITY, x - m);
    if (b->opts.reciprocal && m > 0) {
        /* the score of the reciprocal, negated: (x - m) (m / x); x at least
         * RATIO_FLOOR x m, so that a 0 stays a finite (very low) score */
        double v = x > RATIO_FLOOR * m ? x : RATIO_FLOOR * m;
        return (v - m) * (m / v) / scale;
    }
    return (x - m) / scale;
}

double pk_baseline_score(const struct pk_baseline *b, int64_t t_us, double x)
{
    return isnan(x) ? NAN : score_in(b, pk_baseline_slot_of(t_us, b->opts.tz_offset_s), t_us, x);
}

void pk_detector_opts_default(struct pk_detector_opts *o)
{
    o->threshold = 3.0;
    o->k_raise = 3;
    o->k_clear = 3;
    o->direction = PK_DIR_UP;
    o->window = 0;
    o->clip = 0.0;
    o->window_threshold = 0.0;
    o->cusum_k = 0.0;
    o->cusum_h = 0.0;
    o->cusum_clip = 0.0;
    o->reject = 0.0;
    o->window_calibrated = 0;
    o->window_scale = 0.0;
    o->whiten = 0.0;
}

void pk_detector_init(struct pk_detector *d, const struct pk_detector_opts *o)
{
    memset(d, 0, sizeof *d);
    d->opts = *o;
    if (d->opts.k_raise < 1)
        d->opts.k_raise = 1;
    if (d->opts.k_clear < 1)
        d->opts.k_clear = d->opts.k_raise;
    if (!d->opts.direction)
        d->opts.direction = PK_DIR_UP;
    if (d->opts.window > PK_DETECTOR_WINDOW_MAX)
        d->opts.window = PK_DETECTOR_WINDOW_MAX;
    if (d->opts.window < 0)
        d->opts.window = 0;
    if (d->opts.window_calibrated && !(d->opts.window_scale > 0))
        d->opts.window = 0; /* nothing measured to judge the mean against */
    if (!(d->opts.whiten > 0 && d->opts.whiten < 1))
        d->opts.whiten = 0.0;
    d->prev_score = NAN;
    d->raised_at_us = -1;
    d->since_us = -1;
}

int pk_detector_feed_flag(struct pk_detector *d, int64_t t_us, int deviant)
{
    if (deviant) {
        d->normal_run = 0;
        if (d->deviant_run++ == 0)
            d->run_start_us = t_us;
        if (!d->raised && d->deviant_run >= d->opts.k_raise) {
            d->raised = 1;
            d->raised_at_us = t_us;
            d->since_us = d->run_start_us;
            return PK_DET_RAISED;
        }
        return PK_DET_NONE;
    }
    d->deviant_run = 0;
    if (d->raised && ++d->normal_run >= d->opts.k_clear) {
        d->raised = 0;
        d->normal_run = 0;
        d->raised_at_us = -1;
        d->since_us = -1;
        d->cusum_up = d->cusum_down = 0.0; /* a fresh test after the verdict */
        return PK_DET_CLEARED;
    }
    return PK_DET_NONE;
}

/* A score the windowed tests leave out (pk_detector_opts.reject). */
static int rejected(const struct pk_detector *d, double score)
{
    return d->opts.reject > 0 && fabs(score) > d->opts.reject;
}

/* score (not NAN, not rejected) less the whiten share of the previous one, over
 * 1 - whiten (pk_detector_opts.whiten); the score itself when whiten is 0. */
static double whitened(struct pk_detector *d, double score)
{
    double a = d->opts.whiten, prev = d->prev_score;
    d->prev_score = score;
    if (!(a > 0) || isnan(prev))
        return score;
    return (score - a * prev) / (1.0 - a);
}

double pk_detector_push(struct pk_detector *d, double score)
{
    if (isnan(score) || d->opts.window <= 0 || rejected(d, score))
        return NAN;
    score = whitened(d, score);
    double c = d->opts.clip;
    if (c > 0)
        score = score > c ? c : score < -c ? -c : score;
    int at = d->ring_i;
    d->ring[at] = score;
    d->ring_i = at + 1 == d->opts.window ? 0 : at + 1;
    if (d->ring_n < d->opts.window)
        d->ring_n++;
    /* The sum of the ring in index order, as ever; the sums of its first k
     * scores before the one replaced are unchanged, so only the rest is added. */
    for (int k = at; k < d->ring_n; k++)
        d->ring_sum[k + 1] = d->ring_sum[k] + d->ring[k];
    return d->ring_sum[d->ring_n] / d->ring_n;
}

/* Adds score (not NAN) to the CUSUM statistics; returns whether one is beyond
 * cusum_h in a direction the detector watches (0 when the CUSUM is off). */
static int cusum_push(struct pk_detector *d, double score, int up, int down)
{
    double h = d->opts.cusum_h, c = d->opts.cusum_clip;
    if (!(h > 0) || rejected(d, score))
        return (up && d->cusum_up > h) || (down && d->cusum_down > h);
    if (c > 0)
        score = score > c ? c : score < -c ? -c : score;
    d->cusum_up = fmin(2 * h, fmax(0.0, d->cusum_up + score - d->opts.cusum_k));
    d->cusum_down = fmin(2 * h, fmax(0.0, d->cusum_down - score - d->opts.cusum_k));
    return (up && d->cusum_up > h) || (down && d->cusum_down > h);
}

/* Pushes score (not NAN) into the detector's window and CUSUM and returns 0
 * (normal), or DEV_SCORE (the score is beyond the threshold) | DEV_WINDOW (the
 * windowed mean is beyond window_threshold, or the CUSUM beyond cusum_h). */
#define DEV_SCORE 1
#define DEV_WINDOW 2
static int detector_judge(struct pk_detector *d, double score)
{
    double m = pk_detector_push(d, score);
    if (d->opts.window_calibrated && d->opts.window_scale > 0)
        m /= d->opts.window_scale;
    int up = d->opts.direction & PK_DIR_UP, down = d->opts.direction & PK_DIR_DOWN, flags = 0;
    if (cusum_push(d, score, up, down))
        flags |= DEV_WINDOW;
    if ((up && score > d->opts.threshold) || (down && score < -d->opts.threshold))
        flags |= DEV_SCORE;
    if (d->opts.window > 0 && !isnan(m) &&
        ((up && m > d->opts.window_threshold) || (down && m < -d->opts.window_threshold)))
        flags |= DEV_WINDOW;
    return flags;
}

/* A windowed mean beyond its threshold raises at once (it already is the
 * evidence of `window` windows); a single score needs k_raise in a row. */
static int detector_apply(struct pk_detector *d, int64_t t_us, int flags)
{
    if ((flags & DEV_WINDOW) && !d->raised && d->deviant_run + 1 < d->opts.k_raise) {
        if (d->deviant_run == 0)
            d->run_start_us = t_us;
        d->deviant_run = d->opts.k_raise - 1;
    }
    return pk_detector_feed_flag(d, t_us, flags != 0);
}

int pk_detector_feed(struct pk_detector *d, int64_t t_us, double score)
{
    if (isnan(score))
        return PK_DET_NONE; /* no data: no evidence either way */
    return detector_apply(d, t_us, detector_judge(d, score));
}

/* ------------------------------------------------------- regression rule */

void pk_regression_opts_default(struct pk_regression_opts *o)
{
    pk_baseline_opts_default(&o->base);
    pk_detector_opts_default(&o->det);
}

void pk_regression_kind(struct pk_regression_opts *o, int metric_dir)
{
    o->det.direction = metric_dir ? metric_dir : PK_DIR_UP;
    o->base.reciprocal = metric_dir != 0;
}

void pk_regression_fast_opts(int metric_dir, struct pk_regression_opts *o)
{
    pk_regression_opts_default(o);
    o->det.threshold = PK_REGRESSION_FAST_Z;
    o->det.k_raise = o->det.k_clear = PK_REGRESSION_FAST_K;
    o->det.window = PK_REGRESSION_FAST_WINDOW;
    o->det.clip = PK_REGRESSION_FAST_CLIP;
    o->det.window_threshold = PK_REGRESSION_FAST_WINDOW_Z;
    o->det.cusum_k = PK_REGRESSION_FAST_CUSUM_K;
    o->det.cusum_h = PK_REGRESSION_FAST_CUSUM_H;
    o->det.cusum_clip = PK_REGRESSION_FAST_CUSUM_CLIP;
    o->det.reject = PK_REGRESSION_FAST_REJECT;
    o->det.window_calibrated = PK_REGRESSION_FAST_CALIBRATED;
    o->det.whiten = PK_REGRESSION_FAST_WHITEN;
    o->base.pool_out_of_sample = PK_REGRESSION_FAST_OUT_OF_SAMPLE;
    o->base.pool_day_type = PK_REGRESSION_FAST_POOL_DAY_TYPE;
    pk_regression_kind(o, metric_dir);
}

int pk_baseline_window_excluded(uint64_t ok, uint64_t degraded, uint64_t failed)
{
    uint64_t all = ok + degraded + failed;
    return all > 0 && (double)failed > PK_BASELINE_EXCLUDE_FAILED_RATIO * (double)all;
}

/* Marks (as NAN in y) the history windows inside runs the detector raises over
 * the history itself, from the run's first deviant window to its clearing.
 * Returns how many were marked. */
static size_t drop_raised_runs(const struct pk_baseline *b, const struct pk_detector_opts *dopt,
                               const int64_t *t_us, const unsigned char *slots, double *y, size_t n)
{
    struct pk_detector d;
    pk_detector_init(&d, dopt);
    size_t dropped = 0, run_start = 0;
    int was_deviant = 0;
    for (size_t i = 0; i < n; i++) {
        double z = score_in(b, slots[i], t_us[i], y[i]);
        if (isnan(z))
            continue;
        int flags = detector_judge(&d, z);
        int deviant = flags != 0;
        if (deviant && !was_deviant)
            run_start = i;
        was_deviant = deviant;
        int ev = detector_apply(&d, t_us[i], flags);
        size_t from = ev == PK_DET_RAISED ? run_start : i;
        if (!d.raised && ev != PK_DET_CLEARED)
            continue;
        for (size_t k = from; k <= i; k++) {
            dropped += !isnan(y[k]);
            y[k] = NAN;
        }
    }
    return dropped;
}

#define WEEK_US (INT64_C(7) * 24 * 3600 * 1000000)

/* The windowed means of the scores of h[from, to) against b, appended to out
 * (only full windows). */
static size_t held_out_means(const struct pk_baseline *b, const struct pk_detector_opts *dopt, const int64_t *t_us,
                             const unsigned char *slots, const double *h, size_t from, size_t to, double *out,
                             size_t n_out)
{
    struct pk_detector d;
    struct pk_detector_opts o = *dopt;
    o.window_calibrated = 0;
    pk_detector_init(&d, &o);
    for (size_t i = from; i < to; i++) {
        double m = pk_detector_push(&d, score_in(b, slots[i], t_us[i], h[i]));
        if (!isnan(m) && d.ring_n == d.opts.window)
            out[n_out++] = m;
    }
    return n_out;
}

/* Median |y - m| / |m| of the history values against the median m of their slot
 * in the baseline of the other weeks (wb[w] for week w; ok[w]: learned), or 0. */
static double out_of_sample_dev(const struct pk_baseline *wb, const unsigned char *ok, int weeks,
                                const size_t *week_at, const int64_t *t_us, const unsigned char *slots,
                                const double *h, double *dev)
{
    size_t nd = 0;
    for (int w = 0; w < weeks; w++) {
        for (size_t i = week_at[w]; ok[w] && i < week_at[w + 1]; i++) {
            if (isnan(h[i]))
                continue;
            double m = expected_in(&wb[w], slots[i], t_us[i]);
            if (!isnan(m) && m != 0.0)
                dev[nd++] = fabs(h[i] - m) / fabs(m);
        }
    }
    return nd ? pk_an_median(dev, nd) : 0.0;
}

/* max(wb's pooled_rel_mad, floor): wb learned (learn_slotted without pooled)
 * from h[0, n) less h[skip_from, skip_to). Its pooled value is the median of the
 * same deviations learn_slotted takes; when more than half of them are at most
 * floor, so is their median, and the median is not needed. scratch: room for n. */
static double pooled_at_least(const struct pk_baseline *wb, const unsigned char *slots, const double *h, size_t n,
                              size_t skip_from, size_t skip_to, double floor, double *scratch)
{
    size_t k = 0, below = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == skip_from)
            i = skip_to;
        if (i >= n)
            break;
        double m = wb->slot[slots[i]].median;
        if (isnan(h[i]) || m == 0.0 || isnan(m))
            continue;
        double d = fabs(h[i] - m) / fabs(m);
        scratch[k++] = d;
        below += d <= floor;
    }
    if (below >= k / 2 + 1)
        return floor;
    return fmax(k ? pk_an_median(scratch, k) : 0.0, floor);
}

/* The spread of the windowed mean out of sample (pk_detector_opts.window_calibrated):
 * each week's windows scored against the baseline of the other weeks (with the
 * model's pooled scale, as judged windows are), the windowed means pooled;
 * 1.4826 x their median distance from 0, never under 1 / sqrt(window); 0 with
 * too few means. means: room for n. */
static double window_spread(const struct pk_baseline *b, struct pk_baseline *wb, const unsigned char *ok, int weeks,
                            const size_t *week_at, const struct pk_detector_opts *dopt, const int64_t *t_us,
                            const unsigned char *slots, const double *h, size_t n, double *means,
                            double *scratch)
{
    int win = dopt->window > PK_DETECTOR_WINDOW_MAX ? PK_DETECTOR_WINDOW_MAX : dopt->window;
    if (win <= 0)
        return 0.0;
    size_t nm = 0;
    for (int w = 0; w < weeks; w++) {
        size_t from = week_at[w], to = week_at[w + 1];
        if (ok[w] && to > from) {
            wb[w].pooled_rel_mad = pooled_at_least(&wb[w], slots, h, n, from, to, b->pooled_rel_mad, scratch);
            nm = held_out_means(&wb[w], dopt, t_us, slots, h, from, to, means, nm);
        }
    }
    if (nm < (size_t)win)
        return 0.0;
    for (size_t i = 0; i < nm; i++)
        means[i] = fabs(means[i]);
    return fmax(MAD_TO_SIGMA * pk_an_median(means, nm), 1.0 / sqrt((double)win));
}

/* Each week of the history [0, n) held out once: a baseline learned from the
 * other weeks. Then, when oos (pool_out_of_sample), b->pooled_rel_mad is raised to
 * the median relative deviation of every value from its held-out slot median, and
 * when spread is not NULL (window_calibrated) *spread is the windowed mean's
 * out-of-sample spread (0: none). Nothing with under two weeks. The history's
 * times ascend. -1 when out of memory. */
static int hold_out_weeks(struct pk_baseline *b, int oos, const struct pk_detector_opts *dopt, const int64_t *t_us,
                          const unsigned char *slots, const double *h, size_t n, double *spread)
{
    if (spread)
        *spread = 0.0;
    if (n == 0 || t_us[n - 1] - t_us[0] < WEEK_US)
        return 0;
    int weeks = (int)((t_us[n - 1] - t_us[0]) / WEEK_US) + 1;
    double *other = malloc(n * sizeof *other), *scratch = malloc(n * sizeof *scratch);
    struct pk_baseline *wb = malloc((size_t)weeks * sizeof *wb);
    unsigned char *ok = calloc((size_t)weeks, 1);
    size_t *week_at = malloc(((size_t)weeks + 1) * sizeof *week_at); /* week w: [week_at[w], week_at[w + 1]) */
    int rc = -1;
    if (!other || !scratch || !wb || !ok || !week_at)
        goto out;
    size_t i = 0;
    for (int w = 0; w < weeks; w++) { /* the times ascend: each week is one run */
        while (i < n && t_us[i] - t_us[0] < (int64_t)w * WEEK_US)
            i++;
        week_at[w] = i;
    }
    week_at[weeks] = n;
    memcpy(other, h, n * sizeof *other);
    for (int w = 0; w < weeks; w++) {
        for (i = week_at[w]; i < week_at[w + 1]; i++)
            other[i] = NAN;
        char err[128];
        /* its pooled_rel_mad only when window_spread needs it */
        ok[w] = learn_slotted(&wb[w], &b->opts, t_us, slots, other, n, 0, err, sizeof err) == 0;
        memcpy(other + week_at[w], h + week_at[w], (week_at[w + 1] - week_at[w]) * sizeof *other);
    }
    double pooled = oos ? out_of_sample_dev(wb, ok, weeks, week_at, t_us, slots, h, scratch) : 0.0;
    if (pooled > b->pooled_rel_mad)
        b->pooled_rel_mad = pooled;
    if (spread)
        *spread = window_spread(b, wb, ok, weeks, week_at, dopt, t_us, slots, h, n, scratch, other);
    rc = 0;
out:
    free(other);
    free(scratch);
    free(wb);
    free(ok);
    free(week_at);
    return rc;
}

/* The model's out-of-sample parts (pool_out_of_sample, window_calibrated) after
 * a learning of m->b; -1 with err when out of memory. */
static int learn_held_out(const struct pk_regression_opts *o, struct pk_regression_model *m, const int64_t *t_us,
                          const unsigned char *slots, const double *h, size_t n, char *err, size_t errlen)
{
    m->window_scale = 0.0;
    if (!o->base.pool_out_of_sample && !o->det.window_calibrated)
        return 0;
    if (hold_out_weeks(&m->b, o->base.pool_out_of_sample, &o->det, t_us, slots, h, n,
                       o->det.window_calibrated ? &m->window_scale : NULL) < 0)
        return pk_fail(err, errlen, "regression: out of memory for %zu windows", n);
    return 0;
}

int pk_regression_learn(const struct pk_regression_opts *o, const int64_t *t_us, const double *y,
                        const unsigned char *excluded, size_t n_hist, struct pk_regression_model *m, char *err,
                        size_t errlen)
{
    memset(m, 0, sizeof *m);
    double *h = malloc((n_hist ? n_hist : 1) * sizeof *h);
    unsigned char *slots = malloc(n_hist ? n_hist : 1);
    if (!h || !slots) {
        free(h);
        free(slots);
        return pk_fail(err, errlen, "regression: out of memory for %zu windows", n_hist);
    }
    size_t present = 0;
    for (size_t i = 0; i < n_hist; i++) {
        h[i] = excluded && excluded[i] ? NAN : y[i];
        m->excluded_points += excluded && excluded[i] && !isnan(y[i]);
        present += !isnan(h[i]);
    }
    int rc = 0;
    if (present < (size_t)(o->base.min_samples > 0 ? o->base.min_samples : 1))
        goto out; /* no history: no baseline, no verdict */
    slots_of(t_us, n_hist, o->base.tz_offset_s, slots);
    if (learn_slotted(&m->b, &o->base, t_us, slots, h, n_hist, 1, err, errlen) < 0) {
        rc = -1;
        goto out;
    }
    if (learn_held_out(o, m, t_us, slots, h, n_hist, err, errlen) < 0) {
        rc = -1;
        goto out;
    }
    struct pk_detector_opts dopt = o->det;
    dopt.window_scale = m->window_scale;
    size_t dropped = drop_raised_runs(&m->b, &dopt, t_us, slots, h, n_hist);
    m->excluded_points += dropped;
    if (dropped > 0 && (learn_slotted(&m->b, &o->base, t_us, slots, h, n_hist, 1, err, errlen) < 0 ||
                        learn_held_out(o, m, t_us, slots, h, n_hist, err, errlen) < 0)) {
        rc = -1;
        goto out;
    }
    m->has_history = 1;
out:
    m->b.opts.memo = NULL; /* the caller's; the model may outlive it */
    free(h);
    free(slots);
    return rc;
}

void pk_regression_judge_model(const struct pk_regression_opts *o, const struct pk_regression_model *m,
                               const int64_t *t_us, const double *y, size_t n, struct pk_regression *out,
                               pk_regression_event_fn on_event, void *user)
{
    *out = (struct pk_regression){PK_REG_NO_HISTORY, 0, m->excluded_points, 0, 0, NAN, NAN, NAN, -1};
    if (!m->has_history)
        return;
    const struct pk_baseline *b = &m->b;
    out->history_points = b->n;
    out->state = PK_REG_LEARNING;
    struct pk_detector d;
    struct pk_detector_opts dopt = o->det;
    dopt.window_scale = m->window_scale;
    pk_detector_init(&d, &dopt);
    struct slot_cursor c;
    slot_cursor_init(&c, b->opts.tz_offset_s);
    for (size_t i = 0; i < n; i++) {
        out->windows++;
        int slot = slot_at(&c, t_us[i]);
        double z = score_in(b, slot, t_us[i], y[i]);
        int ev = pk_detector_feed(&d, t_us[i], z);
        if (isnan(z))
            continue;
        out->judged++;
        out->last_score = z;
        out->last_value = y[i];
        out->expected = expected_in(b, slot, t_us[i]);
        if (ev != PK_DET_NONE && on_event)
            on_event(user, ev, t_us[i], d.raised ? d.since_us : -1, z, y[i], out->expected);
    }
    if (d.raised)
        out->state = PK_REG_RAISED;
    else if (out->judged > 0)
        out->state = PK_REG_NORMAL;
    out->since_us = d.raised ? d.since_us : -1;
}

int pk_regression_judge(const struct pk_regression_opts *o, const int64_t *t_us, const double *y,
                        const unsigned char *excluded, size_t n_hist, size_t n, struct pk_regression *out,
                        pk_regression_event_fn on_event, void *user, char *err, size_t errlen)
{
    *out = (struct pk_regression){PK_REG_NO_HISTORY, 0, 0, 0, 0, NAN, NAN, NAN, -1};
    if (n_hist > n)
        return pk_fail(err, errlen, "regression: %zu history windows of %zu", n_hist, n);
    struct pk_regression_model *m = malloc(sizeof *m);
    if (!m)
        return pk_fail(err, errlen, "regression: out of memory");
    int rc = pk_regression_learn(o, t_us, y, excluded, n_hist, m, err, errlen);
    if (rc == 0)
        pk_regression_judge_model(o, m, t_us + n_hist, y + n_hist, n - n_hist, out, on_event, user);
    else
        out->excluded_points = m->excluded_points;
    free(m);
    return rc;
}

unsigned pk_budget_breaches(const struct pk_budget *b, const struct pk_hist *h, double q_us[3])
{
    static const double qs[3] = {0.50, 0.95, 0.99};
    const double budget[3] = {b->p50_us, b->p95_us, b->p99_us};
    unsigned mask = 0;
    for (int i = 0; i < 3; i++) {
        double q = h && h->count ? pk_hist_quantile(h, qs[i]) : -1.0;
        if (q_us)
            q_us[i] = q;
        if (q >= 0 && budget[i] > 0 && q > budget[i])
            mask |= 1u << i;
    }
    return mask;
}
