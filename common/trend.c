/* trend.c: Theil–Sen slope of a series with Sen's (1968) rank-based confidence
 * band, as units and as % of the series median per day. O(n^2) time and memory in
 * the number of points, hence PK_TREND_MAX_POINTS. Owns only scratch arrays freed
 * before return. Definitions: docs/ANALYTICS.md, "Trend". */
#include "analytics.h"
#include "pk_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_DAY 86400e6

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The standard normal quantile z with P(Z <= z) = p, by bisection (60 halvings of
 * [-10, 10] is far below double precision). */
static double normal_quantile(double p)
{
    double lo = -10.0, hi = 10.0;
    for (int i = 0; i < 60; i++) {
        double mid = (lo + hi) / 2.0;
        if (0.5 * erfc(-mid / sqrt(2.0)) < p)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2.0;
}

/* The 0-based index of a 1-based rank, clamped to 1..n. */
static size_t rank_index(size_t n, double rank)
{
    long r = lround(rank);
    if (r < 1)
        r = 1;
    if ((size_t)r > n)
        r = (long)n;
    return (size_t)r - 1;
}

static void swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* Puts into d[k] the value a full sort of d[lo, hi) would put there, with every
 * value before it <= it and every value after it >= it (quickselect, median of
 * three pivots): the order statistics the slope and its band need in O(pairs)
 * instead of sorting every pair (a 30-day hourly series has 259,000). */
static void select_k(double *d, size_t lo, size_t hi, size_t k)
{
    while (hi - lo > 2) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (d[mid] < d[lo])
            swap_d(&d[mid], &d[lo]);
        if (d[last] < d[lo])
            swap_d(&d[last], &d[lo]);
        if (d[last] < d[mid])
            swap_d(&d[last], &d[mid]);
        double pivot = d[mid];
        size_t i = lo, j = last;
        for (;;) { /* Hoare partition: [lo, j] <= pivot <= [j + 1, hi) */
            while (d[i] < pivot)
                i++;
            while (d[j] > pivot)
                j--;
            if (i >= j)
                break;
            swap_d(&d[i], &d[j]);
            i++;
            j--;
        }
        if (k <= j)
            hi = j + 1;
        else
            lo = j + 1;
    }
    if (hi - lo == 2 && d[lo + 1] < d[lo])
        swap_d(&d[lo], &d[lo + 1]);
}

/* The value at index k (0-based rank) once d[m] is selected inside [lo, hi),
 * which holds ranks lo..hi-1 (narrow): look only on k's side. */
static double select_side(double *d, size_t lo, size_t hi, size_t m, size_t k)
{
    if (k < m)
        select_k(d, lo, m, k);
    else if (k > m)
        select_k(d, m + 1, hi, k);
    return d[k];
}

#define NARROW_FROM 4096 /* slopes: below this, quickselect over all of them is as cheap */
#define NARROW_SAMPLE 512
#define NARROW_SLACK 24 /* sample ranks kept outside the band on each side */

/* Moves d[0, n) so that [*lo, *hi) holds ranks *lo..*hi-1 and ranks k_lo..k_hi
 * lie inside it, every value before *lo and after *hi being on the right side:
 * one three-way pass around two values of a sorted sample that bracket the
 * ranks (Floyd and Rivest's idea), after which the selections run over the
 * few thousand slopes of the band instead of all of them (a 10-day hourly
 * series has 28,000; three quickselects over them were most of a 1,000-check
 * report's time). Leaves [0, n) when the sample missed, which is as correct.
 * Returns 1 when every value of [*lo, *hi) is the same (many tied slopes: an
 * error rate that is mostly 0), so no selection is needed. */
static int narrow(double *d, size_t n, size_t k_lo, size_t k_hi, size_t *lo, size_t *hi)
{
    *lo = 0;
    *hi = n;
    if (n < NARROW_FROM)
        return 0;
    double s[NARROW_SAMPLE];
    for (size_t i = 0; i < NARROW_SAMPLE; i++)
        s[i] = d[i * (n / NARROW_SAMPLE)];
    qsort(s, NARROW_SAMPLE, sizeof *s, cmp_double);
    size_t a = k_lo * NARROW_SAMPLE / n, b = k_hi * NARROW_SAMPLE / n;
    a = a > NARROW_SLACK ? a - NARROW_SLACK : 0;
    b = b + NARROW_SLACK < NARROW_SAMPLE ? b + NARROW_SLACK : NARROW_SAMPLE - 1;
    const double p1 = s[a], p2 = s[b];
    size_t lt = 0, i = 0, gt = n; /* [0, lt) < p1 <= [lt, i) <= p2 < [gt, n) */
    while (i < gt) {
        if (d[i] < p1)
            swap_d(&d[lt++], &d[i++]);
        else if (d[i] > p2)
            swap_d(&d[i], &d[--gt]);
        else
            i++;
    }
    if (lt > k_lo || k_hi >= gt)
        return 0;
    *lo = lt;
    *hi = gt;
    return p1 == p2;
}

int pk_trend_theil_sen(const int64_t *t_us, const double *y, size_t n, double confidence,
                       struct pk_trend *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->median = out->slope_per_day = out->lo_per_day = out->hi_per_day = NAN;
    out->pct_per_day = out->pct_lo = out->pct_hi = NAN;
    if (!(confidence > 0.0 && confidence < 1.0))
        return pk_fail(err, errlen, "trend: confidence must be between 0 and 1 exclusive (got %g)", confidence);
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(y[i]))
            used++;
    if (used > PK_TREND_MAX_POINTS)
        return pk_fail(err, errlen, "trend: %zu points, at most %d (use coarser buckets)", used,
                    PK_TREND_MAX_POINTS);
    int rc = -1;
    size_t npairs = used * (used - (used > 0)) / 2;
    int64_t *t = malloc((used ? used : 1) * sizeof *t);
    double *v = malloc((used ? used : 1) * sizeof *v);
    double *slopes = malloc((npairs ? npairs : 1) * sizeof *slopes);
    if (!t || !v || !slopes) {
        pk_fail(err, errlen, "trend: out of memory for %zu points", used);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(y[i])) {
            t[k] = t_us[i];
            v[k++] = y[i];
        }
    size_t ns = 0;
    for (size_t i = 0; i < used; i++)
        for (size_t j = i + 1; j < used; j++)
            if (t[j] != t[i])
                slopes[ns++] = (v[j] - v[i]) / (double)(t[j] - t[i]) * US_PER_DAY;
    if (ns == 0) {
        pk_fail(err, errlen, "trend: needs values at 2 distinct times at least (got %zu values)", used);
        goto out;
    }
    out->n = used;
    size_t mid = ns / 2;
    /* the ranks wanted: mid - 1 and mid (the median), and the band's ends */
    size_t k_lo = mid ? mid - 1 : 0, k_hi = mid, r_lo = 0, r_hi = 0;
    if (used >= 10) {
        /* Var(S) of Kendall's S under no trend, corrected for tied values. */
        qsort(v, used, sizeof *v, cmp_double);
        double var = (double)used * (double)(used - 1) * (double)(2 * used + 5);
        for (size_t i = 0; i < used;) {
            size_t j = i;
            while (j < used && v[j] == v[i])
                j++;
            double tie = (double)(j - i);
            var -= tie * (tie - 1) * (2 * tie + 5);
            i = j;
        }
        var /= 18.0;
        double c = normal_quantile(1.0 - (1.0 - confidence) / 2.0) * sqrt(var > 0 ? var : 0);
        r_lo = rank_index(ns, ((double)ns - c) / 2.0);
        r_hi = rank_index(ns, ((double)ns + c) / 2.0 + 1.0);
        k_lo = r_lo < k_lo ? r_lo : k_lo;
        k_hi = r_hi > k_hi ? r_hi : k_hi;
    }
    size_t lo, hi;
    const int flat = narrow(slopes, ns, k_lo, k_hi, &lo, &hi); /* then every rank wanted holds one value */
    if (!flat)
        select_k(slopes, lo, hi, mid);
    double below = slopes[mid > lo ? lo : 0]; /* the largest left of mid: rank mid - 1 of the sorted slopes */
    for (size_t i = lo + 1; !flat && i < mid; i++)
        if (slopes[i] > below)
            below = slopes[i];
    out->slope_per_day = ns % 2 ? slopes[mid] : (below + slopes[mid]) / 2.0;
    if (used >= 10) {
        out->lo_per_day = flat ? slopes[r_lo] : select_side(slopes, lo, hi, mid, r_lo);
        out->hi_per_day = flat ? slopes[r_hi] : select_side(slopes, lo, hi, mid, r_hi);
    }
    out->median = pk_an_median(v, used);
    if (out->median != 0.0) {
        double m = fabs(out->median);
        out->pct_per_day = 100.0 * out->slope_per_day / m;
        out->pct_lo = 100.0 * out->lo_per_day / m;
        out->pct_hi = 100.0 * out->hi_per_day / m;
    }
    rc = 0;
out:
    free(t);
    free(v);
    free(slopes);
    return rc;
}
