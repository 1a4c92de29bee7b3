/* analytics.c: availability (buckets and rounds with region quorum), SLO error
 * budget and burn rates, and the median/MAD helpers the other analytics files use.
 * Pure functions over caller-owned arrays; owns only the slot array it returns.
 * Never logs, never reads a clock: the caller gives every time (docs/ANALYTICS.md). */
#include "analytics.h"
#include "pk_error.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

void pk_an_counts_add(struct pk_an_counts *c, int outcome, uint64_t n)
{
    switch (outcome) {
    case PK_OUTCOME_OK: c->ok += n; break;
    case PK_OUTCOME_DEGRADED: c->degraded += n; break;
    case PK_OUTCOME_FAILED: c->failed += n; break;
    default: c->unknown += n; break;
    }
}

static uint64_t good_of(const struct pk_an_counts *c, int policy)
{
    return c->ok + (policy == PK_DEGRADED_DOWN ? 0 : c->degraded);
}

static uint64_t bad_of(const struct pk_an_counts *c, int policy)
{
    return c->failed + (policy == PK_DEGRADED_DOWN ? c->degraded : 0);
}

static void counts_sum(struct pk_an_counts *dst, const struct pk_an_counts *src)
{
    dst->ok += src->ok;
    dst->degraded += src->degraded;
    dst->failed += src->failed;
    dst->unknown += src->unknown;
}

static void avail_finish(struct pk_avail *a, int policy)
{
    a->good = good_of(&a->n, policy);
    a->bad = bad_of(&a->n, policy);
    a->success_ratio = a->good + a->bad ? (double)a->good / (double)(a->good + a->bad) : NAN;
    a->uptime = a->covered_us > 0 ? (double)a->up_us / (double)a->covered_us : NAN;
}

void pk_avail_buckets(const struct pk_an_bucket *b, size_t n, int64_t from_us, int64_t until_us,
                      int degraded_policy, struct pk_avail *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (b[i].start_us < from_us || b[i].start_us >= until_us)
            continue;
        counts_sum(&out->n, &b[i].n);
        uint64_t good = good_of(&b[i].n, degraded_policy), bad = bad_of(&b[i].n, degraded_policy);
        if (good + bad == 0)
            continue; /* no data: neither up nor down, not covered */
        int64_t width = b[i].width_us;
        if (width > until_us - b[i].start_us)
            width = until_us - b[i].start_us;
        out->covered_us += width;
        if (!(bad > good))
            out->up_us += width;
    }
    avail_finish(out, degraded_policy);
}

/* Results of one region in one round: good and bad counts. */
struct region_tally {
    uint64_t good, bad;
};

/* What build_slots needs of one input item (a raw result or a bucket). */
struct item {
    int64_t at_us;
    int region;
    uint64_t good, bad;
};

typedef void (*item_fn)(const void *items, size_t i, int policy, struct item *out);

static void round_item(const void *items, size_t i, int policy, struct item *out)
{
    const struct pk_an_round *r = (const struct pk_an_round *)items + i;
    out->at_us = r->at_us;
    out->region = r->region;
    out->good = r->outcome == PK_OUTCOME_OK || (r->outcome == PK_OUTCOME_DEGRADED && policy != PK_DEGRADED_DOWN);
    out->bad = r->outcome == PK_OUTCOME_FAILED || (r->outcome == PK_OUTCOME_DEGRADED && policy == PK_DEGRADED_DOWN);
}

static void bucket_item(const void *items, size_t i, int policy, struct item *out)
{
    const struct pk_an_bucket *b = (const struct pk_an_bucket *)items + i;
    out->at_us = b->start_us;
    out->region = b->region;
    out->good = good_of(&b->n, policy);
    out->bad = bad_of(&b->n, policy);
}

/* The slots of pk_rounds_slots and pk_buckets_slots; `what` names an item in errors. */
static int build_slots(const void *items, size_t n, item_fn get, const char *what, int region,
                       int64_t from_us, int64_t until_us, const struct pk_round_opts *o,
                       struct pk_slot **out, size_t *nout, char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (o->interval_us <= 0)
        return pk_fail(err, errlen, "round interval must be > 0 (got %lld us)", (long long)o->interval_us);
    if (region == -1 && (o->quorum < 1 || o->quorum > PK_AN_MAX_REGIONS))
        return pk_fail(err, errlen, "region quorum must be 1..%d (got %d)", PK_AN_MAX_REGIONS, o->quorum);
    if (region < -1 || region >= PK_AN_MAX_REGIONS)
        return pk_fail(err, errlen, "region index %d out of range 0..%d", region, PK_AN_MAX_REGIONS - 1);
    if (until_us <= from_us)
        return 0;
    /* First slot starting at or after from, last one starting before until. */
    int64_t first = (from_us - o->origin_us) / o->interval_us;
    if (o->origin_us + first * o->interval_us < from_us)
        first++;
    int64_t last = (until_us - 1 - o->origin_us) / o->interval_us;
    if (o->origin_us + last * o->interval_us > until_us - 1)
        last--;
    if (last < first)
        return 0;
    if (last - first + 1 > PK_AN_MAX_SLOTS)
        return pk_fail(err, errlen, "window holds %lld rounds of %lld us, more than %d",
                    (long long)(last - first + 1), (long long)o->interval_us, PK_AN_MAX_SLOTS);
    size_t nslots = (size_t)(last - first + 1);
    int rc = -1;
    struct region_tally *tally = NULL;
    struct pk_slot *slots = calloc(nslots, sizeof *slots);
    struct item it;
    /* Tallies only for regions up to the highest index seen. */
    int max_region = 0;
    for (size_t i = 0; i < n; i++) {
        get(items, i, o->degraded_policy, &it);
        if (it.region < 0 || it.region >= PK_AN_MAX_REGIONS) {
            pk_fail(err, errlen, "%s %zu (at %lld us) has region index %d, out of range 0..%d", what, i,
                 (long long)it.at_us, it.region, PK_AN_MAX_REGIONS - 1);
            goto out;
        }
        if (it.region > max_region)
            max_region = it.region;
    }
    int nregions = region == -1 ? max_region + 1 : 1;
    if (!slots || !(tally = calloc(nslots * (size_t)nregions, sizeof *tally))) {
        pk_fail(err, errlen, "out of memory for %zu rounds", nslots);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        get(items, i, o->degraded_policy, &it);
        if (region >= 0 && it.region != region)
            continue;
        int64_t rel = it.at_us - o->origin_us;
        int64_t k = rel >= 0 ? rel / o->interval_us : -((-rel + o->interval_us - 1) / o->interval_us);
        if (k < first || k > last)
            continue;
        struct region_tally *t = &tally[(size_t)(k - first) * (size_t)nregions + (region >= 0 ? 0 : (size_t)it.region)];
        t->good += it.good;
        t->bad += it.bad;
    }
    for (size_t s = 0; s < nslots; s++) {
        struct pk_slot *sl = &slots[s];
        sl->start_us = o->origin_us + (first + (int64_t)s) * o->interval_us;
        int down = 0;
        for (int g = 0; g < nregions; g++) {
            const struct region_tally *t = &tally[s * (size_t)nregions + (size_t)g];
            int bit = region >= 0 ? region : g;
            if (t->good + t->bad == 0)
                continue;
            sl->regions_data |= 1ull << bit;
            if (t->bad > t->good) {
                sl->regions_down |= 1ull << bit;
                down++;
            }
        }
        if (!sl->regions_data)
            sl->state = PK_SLOT_NO_DATA;
        else if (down >= (region == -1 ? o->quorum : 1))
            sl->state = PK_SLOT_DOWN;
        else
            sl->state = PK_SLOT_UP;
    }
    *out = slots;
    *nout = nslots;
    slots = NULL;
    rc = 0;
out:
    free(tally);
    free(slots);
    return rc;
}

int pk_rounds_slots(const struct pk_an_round *r, size_t n, int region, int64_t from_us,
                    int64_t until_us, const struct pk_round_opts *o, struct pk_slot **out,
                    size_t *nout, char *err, size_t errlen)
{
    return build_slots(r, n, round_item, "result", region, from_us, until_us, o, out, nout, err, errlen);
}

int pk_buckets_slots(const struct pk_an_bucket *b, size_t n, int region, int64_t from_us,
                     int64_t until_us, const struct pk_round_opts *o, struct pk_slot **out,
                     size_t *nout, char *err, size_t errlen)
{
    return build_slots(b, n, bucket_item, "bucket", region, from_us, until_us, o, out, nout, err, errlen);
}

/* Uptime from slots, and the counts of the items inside them. */
static int avail_slots(const void *items, size_t n, item_fn get, int is_round, int region,
                       int64_t from_us, int64_t until_us, const struct pk_round_opts *o,
                       struct pk_avail *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct pk_slot *slots;
    size_t nslots;
    if (build_slots(items, n, get, is_round ? "result" : "bucket", region, from_us, until_us, o, &slots,
                    &nslots, err, errlen) < 0)
        return -1;
    for (size_t s = 0; s < nslots; s++) {
        if (slots[s].state == PK_SLOT_NO_DATA)
            continue;
        out->covered_us += o->interval_us;
        if (slots[s].state == PK_SLOT_UP)
            out->up_us += o->interval_us;
    }
    if (nslots > 0) {
        int64_t lo = slots[0].start_us, hi = slots[nslots - 1].start_us + o->interval_us;
        for (size_t i = 0; i < n; i++) {
            if (is_round) {
                const struct pk_an_round *r = (const struct pk_an_round *)items + i;
                if ((region < 0 || r->region == region) && r->at_us >= lo && r->at_us < hi)
                    pk_an_counts_add(&out->n, r->outcome, 1);
            } else {
                const struct pk_an_bucket *b = (const struct pk_an_bucket *)items + i;
                if ((region < 0 || b->region == region) && b->start_us >= lo && b->start_us < hi)
                    counts_sum(&out->n, &b->n);
            }
        }
    }
    free(slots);
    avail_finish(out, o->degraded_policy);
    return 0;
}

int pk_avail_rounds(const struct pk_an_round *r, size_t n, int region, int64_t from_us,
                    int64_t until_us, const struct pk_round_opts *o, struct pk_avail *out,
                    char *err, size_t errlen)
{
    return avail_slots(r, n, round_item, 1, region, from_us, until_us, o, out, err, errlen);
}

int pk_avail_buckets_quorum(const struct pk_an_bucket *b, size_t n, int region, int64_t from_us,
                            int64_t until_us, const struct pk_round_opts *o, struct pk_avail *out,
                            char *err, size_t errlen)
{
    return avail_slots(b, n, bucket_item, 0, region, from_us, until_us, o, out, err, errlen);
}

int pk_an_latency(const struct pk_an_bucket *b, size_t n, int region, int64_t from_us, int64_t until_us,
                  struct pk_hist *out)
{
    pk_hist_init(out);
    int merged = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i].start_us < from_us || b[i].start_us >= until_us || !b[i].hist)
            continue;
        if (region >= 0 && b[i].region != region)
            continue;
        pk_hist_merge(out, b[i].hist);
        merged++;
    }
    return merged;
}

/* ------------------------------------------------------------------ SLO */

void pk_slo_opts_default(struct pk_slo_opts *o)
{
    memset(o, 0, sizeof *o);
    o->target = 0.999;
    o->window_us = 30LL * 86400 * 1000000;
    o->degraded_policy = PK_DEGRADED_UP;
    o->n_alerts = 2;
    o->alert[0] = (struct pk_slo_alert_opts){3600LL * 1000000, 300LL * 1000000, 14.4};
    o->alert[1] = (struct pk_slo_alert_opts){6 * 3600LL * 1000000, 1800LL * 1000000, 6.0};
}

static double burn_rate(const struct pk_an_bucket *b, size_t n, int64_t now_us, int64_t w_us,
                        const struct pk_slo_opts *o)
{
    uint64_t good = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i].start_us < now_us - w_us || b[i].start_us >= now_us)
            continue;
        good += good_of(&b[i].n, o->degraded_policy);
        bad += bad_of(&b[i].n, o->degraded_policy);
    }
    if (good + bad == 0)
        return NAN;
    return ((double)bad / (double)(good + bad)) / (1.0 - o->target);
}

int pk_slo_eval(const struct pk_an_bucket *b, size_t n, int64_t now_us, const struct pk_slo_opts *o,
                struct pk_slo *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!(o->target > 0.0 && o->target < 1.0))
        return pk_fail(err, errlen, "SLO target must be between 0 and 1 exclusive (got %g)", o->target);
    if (o->window_us <= 0)
        return pk_fail(err, errlen, "SLO window must be > 0 (got %lld us)", (long long)o->window_us);
    if (o->n_alerts < 0 || o->n_alerts > PK_SLO_MAX_ALERTS)
        return pk_fail(err, errlen, "SLO alerts: %d given, at most %d", o->n_alerts, PK_SLO_MAX_ALERTS);
    for (int a = 0; a < o->n_alerts; a++)
        if (o->alert[a].long_us <= 0 || o->alert[a].short_us <= 0 || o->alert[a].factor <= 0)
            return pk_fail(err, errlen, "SLO alert %d: windows and factor must be > 0", a + 1);
    for (size_t i = 0; i < n; i++) {
        if (b[i].start_us < now_us - o->window_us || b[i].start_us >= now_us)
            continue;
        out->good += good_of(&b[i].n, o->degraded_policy);
        out->bad += bad_of(&b[i].n, o->degraded_policy);
    }
    out->error_budget = (1.0 - o->target) * (double)(out->good + out->bad);
    if (out->good + out->bad == 0) {
        out->budget_left = NAN;
        out->budget_left_min = NAN;
    } else {
        out->budget_left = 1.0 - (double)out->bad / out->error_budget;
        out->budget_left_min = out->budget_left * (1.0 - o->target) * ((double)o->window_us / 60e6);
    }
    for (int a = 0; a < o->n_alerts; a++) {
        struct pk_slo_alert *al = &out->alert[a];
        al->burn_long = burn_rate(b, n, now_us, o->alert[a].long_us, o);
        al->burn_short = burn_rate(b, n, now_us, o->alert[a].short_us, o);
        /* NAN compares false: a window without data never fires */
        al->firing = al->burn_long > o->alert[a].factor && al->burn_short > o->alert[a].factor;
    }
    return 0;
}

/* -------------------------------------------------------------- helpers */

/* Wirth's selection: afterwards v[k] is the k-th smallest, v[0..k) <= v[k] <= v(k..n). */
static double select_kth(double *v, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    while (lo < hi) {
        double pivot = v[kk];
        ptrdiff_t i = lo, j = hi;
        do {
            while (v[i] < pivot)
                i++;
            while (pivot < v[j])
                j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < kk)
            lo = i;
        if (kk < i)
            hi = j;
    }
    return v[kk];
}

/* An order-preserving integer key of a double (IEEE 754 bits: the sign bit set
 * for non-negative values, every bit flipped for negative ones), and back. */
static inline uint64_t order_key(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return (u >> 63) ? ~u : u | (UINT64_C(1) << 63);
}

static inline double of_order_key(uint64_t k)
{
    uint64_t u = (k >> 63) ? k & ~(UINT64_C(1) << 63) : ~k;
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define RADIX_BITS 10
#define RADIX_SMALL 48

/* The k-th smallest of a[0, n) (keys; a is reordered and cut), and with lower
 * (k >= 1) the (k-1)-th: each pass counts the candidates by the RADIX_BITS
 * bits below the prefix they all share and keeps the bucket that holds the
 * k-th; the (k-1)-th is followed while it shares that bucket, else it is the
 * largest of the buckets below, taken in the same pass. A few passes of
 * straight loops instead of the data-dependent branches of a quickselect. */
static uint64_t radix_select(uint64_t *a, size_t n, size_t k, uint64_t *lower)
{
    uint32_t count[1u << RADIX_BITS];
    int follow = lower != NULL; /* the (k-1)-th is still among the candidates */
    while (n > RADIX_SMALL) {
        uint64_t mn = a[0], mx = a[0];
        for (size_t i = 1; i < n; i++) {
            mn = a[i] < mn ? a[i] : mn;
            mx = a[i] > mx ? a[i] : mx;
        }
        if (mn == mx) {
            if (follow)
                *lower = mn;
            return mn;
        }
        int top = 63 - __builtin_clzll(mn ^ mx), shift = top + 1 - RADIX_BITS;
        if (shift < 0)
            shift = 0;
        const uint64_t mask = (UINT64_C(1) << RADIX_BITS) - 1;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> shift) & mask]++;
        uint64_t b = 0;
        while (k >= count[b])
            k -= count[b++];
        size_t m = 0;
        uint64_t below_max = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t d = (a[i] >> shift) & mask;
            if (d == b)
                a[m++] = a[i];
            else if (d < b && a[i] > below_max)
                below_max = a[i];
        }
        if (follow && k == 0) { /* the (k-1)-th lies in a bucket below */
            *lower = below_max;
            follow = 0;
        }
        n = m;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort of the few left */
        for (size_t j = i; j > 0 && a[j - 1] > a[j]; j--) {
            uint64_t t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
    if (follow)
        *lower = a[k - 1];
    return a[k];
}

/* The median of n >= 256 values without reordering them; -1 without memory. */
static int median_by_keys(const double *v, size_t n, double *out)
{
    uint64_t *a = malloc(n * sizeof *a);
    if (!a)
        return -1;
    for (size_t i = 0; i < n; i++)
        a[i] = order_key(v[i]);
    uint64_t lower = 0, upper = radix_select(a, n, n / 2, n % 2 ? NULL : &lower);
    free(a);
    *out = n % 2 ? of_order_key(upper) : (of_order_key(lower) + of_order_key(upper)) / 2.0;
    return 0;
}

double pk_an_median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    double m;
    if (n >= 256 && median_by_keys(v, n, &m) == 0)
        return m;
    double upper = select_kth(v, n, n / 2);
    if (n % 2)
        return upper;
    /* the largest of the lower half, which quickselect left below n/2 */
    double lower = v[0];
    for (size_t i = 1; i < n / 2; i++)
        if (v[i] > lower)
            lower = v[i];
    return (lower + upper) / 2.0;
}

double pk_an_mad(double *v, size_t n, double m)
{
    for (size_t i = 0; i < n; i++)
        v[i] = fabs(v[i] - m);
    return pk_an_median(v, n);
}
