/* histogram.c: see histogram.h. */
#include "histogram.h"

#include <math.h>
#include <string.h>

#define VERSION 1

/* log(gamma) = log((1 + PK_HIST_ALPHA) / (1 - PK_HIST_ALPHA)), written out so that
 * no thread fills it at run time; tests/unit/common/test_histogram.c checks it
 * against the formula. Change it with PK_HIST_ALPHA. */
const double pk_hist_gamma_ln = 0x1.47b0e059d057dp-6; /* 0.020000666706669435 */

void pk_hist_init(struct pk_hist *h) { memset(h, 0, sizeof *h); }

int pk_hist_index(int64_t us)
{
    if (us <= 0)
        return 0;
    if (us == 1)
        return 1; /* bucket 1 is (1, gamma]; 1 us is reported within exactly alpha */
    if (us > PK_HIST_MAX_US)
        us = PK_HIST_MAX_US;
    int i = (int)ceil(log((double)us) / pk_hist_gamma_ln);
    /* guard the edges against rounding in log() */
    if (i < 1)
        i = 1;
    if (i >= PK_HIST_BUCKETS)
        i = PK_HIST_BUCKETS - 1;
    return i;
}

double pk_hist_value(int index)
{
    if (index <= 0)
        return 0.0;
    double g = exp(pk_hist_gamma_ln);
    return 2.0 * exp(pk_hist_gamma_ln * index) / (g + 1.0);
}

/* Adds n values us (>= 0) that fall in bucket index. */
static void add_at(struct pk_hist *h, int64_t us, int index, uint64_t n)
{
    h->b[index] += n;
    if (h->count == 0 || us < h->min_us)
        h->min_us = us;
    if (h->count == 0 || us > h->max_us)
        h->max_us = us;
    if (us > PK_HIST_MAX_US)
        h->clamped += n;
    h->count += n;
    h->sum_us += (double)us * (double)n;
}

void pk_hist_add_n(struct pk_hist *h, int64_t us, uint64_t n)
{
    if (n == 0)
        return;
    if (us < 0)
        us = 0;
    add_at(h, us, pk_hist_index(us), n);
}

void pk_hist_add_at(struct pk_hist *h, int64_t us, int index) { add_at(h, us < 0 ? 0 : us, index, 1); }

void pk_hist_add(struct pk_hist *h, int64_t us) { pk_hist_add_n(h, us, 1); }

void pk_hist_merge(struct pk_hist *dst, const struct pk_hist *src)
{
    if (src->count == 0)
        return;
    if (dst->count == 0 || src->min_us < dst->min_us)
        dst->min_us = src->min_us;
    if (dst->count == 0 || src->max_us > dst->max_us)
        dst->max_us = src->max_us;
    dst->count += src->count;
    dst->clamped += src->clamped;
    dst->sum_us += src->sum_us;
    for (int i = 0; i < PK_HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
}

double pk_hist_quantile(const struct pk_hist *h, double q)
{
    if (h->count == 0)
        return -1.0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    int i = 0;
    for (; i < PK_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank)
            break;
    }
    double v = pk_hist_value(i);
    if (v < (double)h->min_us)
        v = (double)h->min_us;
    if (v > (double)h->max_us)
        v = (double)h->max_us;
    return v;
}

double pk_hist_mean(const struct pk_hist *h) { return h->count ? h->sum_us / (double)h->count : -1.0; }

/* ------------------------------------------------------------ encoding */

size_t pk_varint_put(uint8_t *out, size_t cap, size_t pos, uint64_t v)
{
    do {
        if (pos >= cap)
            return 0;
        uint8_t byte = v & 0x7f;
        v >>= 7;
        out[pos++] = byte | (v ? 0x80 : 0);
    } while (v);
    return pos;
}

int pk_varint_get(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= len)
            return -1;
        uint8_t byte = buf[(*pos)++];
        r |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* pk_varint_get with a fast path for one-byte values (a run's gap and most
 * counts): readers decode tens of thousands of encodings per query. */
static inline int varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
    if (*pos < len && buf[*pos] < 0x80) {
        *v = buf[(*pos)++];
        return 0;
    }
    return pk_varint_get(buf, len, pos, v);
}

static uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

size_t pk_hist_encode(const struct pk_hist *h, uint8_t *out, size_t cap)
{
    return pk_hist_encode_range(h, 0, PK_HIST_BUCKETS - 1, out, cap);
}

size_t pk_hist_encode_range(const struct pk_hist *h, int lo, int hi, uint8_t *out, size_t cap)
{
    uint16_t idx[PK_HIST_BUCKETS]; /* the non-empty buckets, in order: one pass over the range */
    size_t pos = 0, nonempty = 0;
    if (lo < 0)
        lo = 0;
    if (hi > PK_HIST_BUCKETS - 1)
        hi = PK_HIST_BUCKETS - 1;
    int i = lo;
    for (; i + 8 <= hi + 1; i += 8) { /* eight empty buckets skipped at once: most are empty */
        const uint64_t *b = &h->b[i];
        if ((b[0] | b[1] | b[2] | b[3] | b[4] | b[5] | b[6] | b[7]) == 0)
            continue;
        for (int k = 0; k < 8; k++)
            if (b[k])
                idx[nonempty++] = (uint16_t)(i + k);
    }
    for (; i <= hi; i++)
        if (h->b[i])
            idx[nonempty++] = (uint16_t)i;
    if (cap < 1)
        return 0;
    out[pos++] = VERSION;
    double sum = h->sum_us < 0 ? 0 : h->sum_us;
    if (!(pos = pk_varint_put(out, cap, pos, h->count)) || !(pos = pk_varint_put(out, cap, pos, h->clamped)) ||
        !(pos = pk_varint_put(out, cap, pos, zigzag(h->count ? h->min_us : 0))) ||
        !(pos = pk_varint_put(out, cap, pos, zigzag(h->count ? h->max_us : 0))) ||
        !(pos = pk_varint_put(out, cap, pos, (uint64_t)llround(sum))) || !(pos = pk_varint_put(out, cap, pos, nonempty)))
        return 0;
    int last = -1;
    for (size_t k = 0; k < nonempty; k++) {
        int at = idx[k];
        if (!(pos = pk_varint_put(out, cap, pos, (uint64_t)(at - last))) || !(pos = pk_varint_put(out, cap, pos, h->b[at])))
            return 0;
        last = at;
    }
    return pos;
}

/* A parsed encoding: its header and its runs (into the caller's arrays). */
struct parsed {
    uint64_t count, clamped, sum, runs;
    int64_t min_us, max_us;
};

/* The header of an encoding (version, count, clamped, extremes, sum, runs)
 * into p, *pos past it: 0, or -1 when it is not a valid one. */
static int parse_header(const uint8_t *buf, size_t len, size_t *pos, struct parsed *p)
{
    uint64_t zmin, zmax;
    *pos = 0;
    if (len < 1 || buf[(*pos)++] != VERSION || varint(buf, len, pos, &p->count) < 0 ||
        varint(buf, len, pos, &p->clamped) < 0 || varint(buf, len, pos, &zmin) < 0 ||
        varint(buf, len, pos, &zmax) < 0 || varint(buf, len, pos, &p->sum) < 0 ||
        varint(buf, len, pos, &p->runs) < 0 || p->runs > PK_HIST_BUCKETS || p->clamped > p->count)
        return -1;
    p->min_us = unzigzag(zmin);
    p->max_us = unzigzag(zmax);
    return 0;
}

/* Validates buf and reads its runs into run_index/run_count: 0, or -1. The
 * runs go to a small list instead of a whole temporary histogram, because
 * readers merge tens of thousands of encodings per query. */
static int parse(const uint8_t *buf, size_t len, struct parsed *p, uint16_t *run_index, uint64_t *run_count)
{
    size_t pos;
    if (parse_header(buf, len, &pos, p) < 0)
        return -1;
    int64_t idx = -1;
    uint64_t total = 0;
    for (uint64_t r = 0; r < p->runs; r++) {
        uint64_t gap, c;
        if (varint(buf, len, &pos, &gap) < 0 || varint(buf, len, &pos, &c) < 0 || gap == 0 ||
            gap > PK_HIST_BUCKETS || c == 0)
            return -1;
        idx += (int64_t)gap;
        if (idx >= PK_HIST_BUCKETS || total + c < total)
            return -1;
        run_index[r] = (uint16_t)idx;
        run_count[r] = c;
        total += c;
    }
    if (pos != len || total != p->count || (p->count && p->min_us > p->max_us))
        return -1;
    return 0;
}

int pk_hist_decode_merge(const uint8_t *buf, size_t len, struct pk_hist *h)
{
    /* Validate everything first, then add: h is untouched on error. */
    uint16_t run_index[PK_HIST_BUCKETS];
    uint64_t run_count[PK_HIST_BUCKETS];
    struct parsed p;
    if (parse(buf, len, &p, run_index, run_count) < 0)
        return -1;
    if (p.count == 0)
        return 0;
    if (h->count == 0 || p.min_us < h->min_us)
        h->min_us = p.min_us;
    if (h->count == 0 || p.max_us > h->max_us)
        h->max_us = p.max_us;
    h->count += p.count;
    h->clamped += p.clamped;
    h->sum_us += (double)p.sum;
    for (uint64_t r = 0; r < p.runs; r++)
        h->b[run_index[r]] += run_count[r];
    return 0;
}

static uint64_t less(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

int pk_hist_decode_unmerge(const uint8_t *buf, size_t len, struct pk_hist *h)
{
    uint16_t run_index[PK_HIST_BUCKETS];
    uint64_t run_count[PK_HIST_BUCKETS];
    struct parsed p;
    if (parse(buf, len, &p, run_index, run_count) < 0)
        return -1;
    if (p.count == 0)
        return 0;
    uint64_t removed = 0; /* what h really held of it: never below an empty bucket */
    for (uint64_t r = 0; r < p.runs; r++) {
        uint64_t *b = &h->b[run_index[r]];
        removed += *b < run_count[r] ? *b : run_count[r];
        *b = less(*b, run_count[r]);
    }
    h->count = less(h->count, removed);
    h->clamped = less(h->clamped, p.clamped);
    h->sum_us = h->sum_us > (double)p.sum ? h->sum_us - (double)p.sum : 0.0;
    return 0;
}

int pk_hist_decode(const uint8_t *buf, size_t len, struct pk_hist *h)
{
    pk_hist_init(h);
    return pk_hist_decode_merge(buf, len, h);
}

double pk_hist_encoded_quantile(const uint8_t *buf, size_t len, double q, uint64_t *count_out)
{
    /* pk_hist_quantile of the decoded histogram, walking the runs in place: a
     * reader that wants one quantile of many stored histograms (a trend's
     * check-days) needs no 9 kB histogram per row. */
    size_t pos;
    struct parsed p;
    *count_out = 0;
    if (parse_header(buf, len, &pos, &p) < 0)
        return NAN;
    const uint64_t count = p.count, runs = p.runs;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)ceil(q * (double)count), seen = 0;
    if (rank < 1)
        rank = 1;
    int64_t idx = -1, found = -1;
    for (uint64_t r = 0; r < runs; r++) {
        uint64_t gap, c;
        if (varint(buf, len, &pos, &gap) < 0 || varint(buf, len, &pos, &c) < 0 || gap == 0 ||
            gap > PK_HIST_BUCKETS || c == 0 || seen + c < seen)
            return NAN;
        idx += (int64_t)gap;
        if (idx >= PK_HIST_BUCKETS)
            return NAN;
        seen += c;
        if (found < 0 && seen >= rank)
            found = idx;
    }
    const int64_t min_us = p.min_us, max_us = p.max_us;
    if (pos != len || seen != count || (count && min_us > max_us))
        return NAN;
    *count_out = count;
    if (count == 0)
        return -1.0;
    double v = pk_hist_value((int)found);
    if (v < (double)min_us)
        v = (double)min_us;
    if (v > (double)max_us)
        v = (double)max_us;
    return v;
}
