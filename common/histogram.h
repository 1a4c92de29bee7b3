/* histogram.h: a mergeable, log-bucketed latency histogram with a bounded
 * relative error on every quantile (the idea of DDSketch, Masson et al. 2019).
 *
 * Bucket i > 0 holds values v (microseconds) with gamma^(i-1) < v <= gamma^i,
 * gamma = (1 + a) / (1 - a), a = PK_HIST_ALPHA = 0.01. A bucket is reported as
 * 2 gamma^i / (gamma + 1), which is within a (1 %) of every value in it, so any
 * quantile is within 1 % of the exact one (of the value at that rank). Zero (and
 * negative values, counted as zero) goes to bucket 0, reported as 0; values above
 * PK_HIST_MAX_US are clamped into the last bucket and counted in `clamped`.
 *
 * Merging is adding bucket counts: exact, associative and commutative, so
 * per-minute histograms roll up to hours, days and any window without error
 * beyond the 1 % of the buckets themselves. The wire/storage form is a compact
 * varint encoding of the non-empty buckets (pk_hist_encode). */
#ifndef PK_HISTOGRAM_H
#define PK_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define PK_HIST_ALPHA 0.01
#define PK_HIST_MAX_US 10000000000LL /* 10^10 us, 2.8 hours */
#define PK_HIST_BUCKETS 1160         /* ceil(log(10^10) / log(gamma)) + 1 */
/* log(gamma), the bucket width in log space (a constant; see histogram.c). */
extern const double pk_hist_gamma_ln;
#define PK_HIST_ENCODED_MAX (16 + 10 * 4 + PK_HIST_BUCKETS * 15)

struct pk_hist {
    uint64_t count;   /* values added */
    uint64_t clamped; /* of which above PK_HIST_MAX_US */
    double sum_us;    /* for the mean */
    int64_t min_us, max_us; /* exact; meaningless when count == 0 */
    uint64_t b[PK_HIST_BUCKETS];
};

void pk_hist_init(struct pk_hist *h);
/* Adds one value in microseconds (negative counts as 0). */
void pk_hist_add(struct pk_hist *h, int64_t us);
/* Adds one value whose bucket the caller already has (pk_hist_index(us)). */
void pk_hist_add_at(struct pk_hist *h, int64_t us, int index);
/* Adds n equal values (for tests and generators). */
void pk_hist_add_n(struct pk_hist *h, int64_t us, uint64_t n);
/* dst += src. */
void pk_hist_merge(struct pk_hist *dst, const struct pk_hist *src);

/* The bucket a value falls in, and the value a bucket reports. */
int pk_hist_index(int64_t us);
double pk_hist_value(int index);

/* The q-quantile (0 <= q <= 1) in microseconds: the reported value of the bucket
 * holding the value of rank ceil(q * count) (rank 1 for q = 0), clamped to
 * [min_us, max_us]. -1 when the histogram is empty. */
double pk_hist_quantile(const struct pk_hist *h, double q);
double pk_hist_mean(const struct pk_hist *h);

/* Compact encoding: version byte, then varints (count, clamped, min, max, sum as
 * rounded us, number of runs) and the non-empty buckets as (index gap, count)
 * pairs. Returns the length written, or 0 if cap is too small (at most
 * PK_HIST_ENCODED_MAX is ever needed). */
size_t pk_hist_encode(const struct pk_hist *h, uint8_t *out, size_t cap);
/* The same when every non-empty bucket is known to lie in [lo, hi]: only those
 * are looked at (a minute's histogram of a few values need not scan 1,160). */
size_t pk_hist_encode_range(const struct pk_hist *h, int lo, int hi, uint8_t *out, size_t cap);
/* 0, or -1 when buf is not a valid encoding (h is then empty). Decoding and
 * merging in one step: pk_hist_decode_merge adds into h instead of replacing. */
int pk_hist_decode(const uint8_t *buf, size_t len, struct pk_hist *h);
int pk_hist_decode_merge(const uint8_t *buf, size_t len, struct pk_hist *h);
/* h -= the histogram encoded in buf, which h must hold (h was merged from a
 * superset of it: an hour's rows less some of its minutes). Counts, buckets
 * and sum are exact; min and max stay h's (a bound of what is left, not its
 * exact extremes), so a quantile is still within the buckets' accuracy. A
 * bucket never goes below zero. 0, or -1 when buf is not valid (h untouched). */
int pk_hist_decode_unmerge(const uint8_t *buf, size_t len, struct pk_hist *h);

/* pk_hist_quantile(q) of the histogram encoded in buf (pk_hist_encode),
 * without decoding it; *count: its count (0 when empty: -1 is returned). NaN
 * when buf is not a valid encoding. */
double pk_hist_encoded_quantile(const uint8_t *buf, size_t len, double q, uint64_t *count);

/* Unsigned LEB128 varints, as the encoding uses them (also for
 * collector/rollup.c's packed partial rows). put: the position after the value,
 * or 0 when it does not fit in cap. get: 0, or -1 when buf ends first or the
 * value is longer than 64 bits. */
size_t pk_varint_put(uint8_t *out, size_t cap, size_t pos, uint64_t v);
int pk_varint_get(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v);

#endif
