/* rollup.c: see rollup.h. Builds per-minute rows from stored results and adds
 * rows up (counts, and pk_hist_decode_merge for histograms). Pure C: no
 * database, no threads; every map and row buffer is owned by its caller. */
#include "rollup.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "result.h"
#include "rounds.h"
#include "typed_sort.h"

void rollup_counts_add_outcome(struct rollup_counts *c, int outcome)
{
    switch (outcome) {
    case PK_OUTCOME_OK: c->ok++; break;
    case PK_OUTCOME_DEGRADED: c->degraded++; break;
    case PK_OUTCOME_FAILED: c->failed++; break;
    default: c->unknown++; break;
    }
}

void rollup_counts_merge(struct rollup_counts *dst, const struct rollup_counts *src)
{
    dst->ok += src->ok;
    dst->degraded += src->degraded;
    dst->failed += src->failed;
    dst->unknown += src->unknown;
}

static uint64_t less(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

void rollup_counts_unmerge(struct rollup_counts *dst, const struct rollup_counts *src)
{
    dst->ok = less(dst->ok, src->ok);
    dst->degraded = less(dst->degraded, src->degraded);
    dst->failed = less(dst->failed, src->failed);
    dst->unknown = less(dst->unknown, src->unknown);
}

uint64_t rollup_counts_total(const struct rollup_counts *c) { return c->ok + c->degraded + c->failed + c->unknown; }

int rollup_latency_counts(int outcome) { return outcome == PK_OUTCOME_OK || outcome == PK_OUTCOME_DEGRADED; }

int64_t rollup_floor(int64_t us, int64_t width)
{
    return pk_floor_div(us, width) * width;
}

void rollup_rows_reset(struct rollup_rows *r)
{
    r->n = 0;
    r->bytes_len = 0;
}

void rollup_rows_free(struct rollup_rows *r)
{
    free(r->rows);
    free(r->bytes);
    memset(r, 0, sizeof *r);
}

/* Room for more bytes after the len already in *bytes: 0, or -1 when out of memory. */
static int bytes_reserve(uint8_t **bytes, size_t *cap, size_t len, size_t more)
{
    if (more > SIZE_MAX - len)
        return -1;
    uint8_t *grown = pk_grow(*bytes, cap, len + more, 1, 0);
    if (!grown)
        return -1;
    *bytes = grown;
    return 0;
}

static int rows_reserve(struct rollup_rows *r, size_t more_bytes)
{
    struct rollup_row *rows = pk_grow(r->rows, &r->cap, r->n + 1, sizeof *rows, 0);
    if (!rows)
        return -1;
    r->rows = rows;
    return bytes_reserve(&r->bytes, &r->bytes_cap, r->bytes_len, more_bytes);
}

int rollup_rows_append(struct rollup_rows *r, int64_t check_id, int64_t probe_id, int64_t start_us,
                       const struct rollup_counts *counts, const uint8_t *hist, size_t len)
{
    if (rows_reserve(r, len) < 0)
        return -1;
    memcpy(r->bytes + r->bytes_len, hist, len);
    r->rows[r->n++] = (struct rollup_row){check_id, probe_id, start_us, *counts, r->bytes_len, len};
    r->bytes_len += len;
    return 0;
}

/* (probe, minute, check): the order packed partial rows want, so packing
 * needs no second sort. The order inside a (probe, minute, check) row does not
 * matter: counts and a histogram are the same in any order. The minute is
 * computed once per result, not twice per comparison. Sorted by a typed
 * introsort (common/typed_sort.h): it runs over every ingest group. */
static inline int input_before(const struct rollup_input *a, const struct rollup_input *b)
{
    if (a->probe_id != b->probe_id)
        return a->probe_id < b->probe_id;
    if (a->minute != b->minute)
        return a->minute < b->minute;
    return a->check_id < b->check_id;
}

static inline int input_check_before(const struct rollup_input *a, const struct rollup_input *b)
{
    return a->check_id < b->check_id;
}

PK_TYPED_SORT(input_sort, struct rollup_input, input_before)
PK_TYPED_SORT(input_run_sort, struct rollup_input, input_check_before)

/* Sets each input's minute and sorts by input_before. The writers add a
 * probe's results together in the order it sent them, so (probe, minute)
 * nearly always already ascends: then only each run of one probe and minute is
 * sorted by check (a few dozen results, not the group's thousands), otherwise
 * the whole array. */
static void input_order(struct rollup_input *in, size_t n)
{
    int in_order = 1;
    for (size_t i = 0; i < n; i++) {
        in[i].minute = rollup_floor(in[i].started_at_us, ROLLUP_MINUTE_US);
        if (i > 0 && (in[i].probe_id < in[i - 1].probe_id ||
                      (in[i].probe_id == in[i - 1].probe_id && in[i].minute < in[i - 1].minute)))
            in_order = 0;
    }
    if (!in_order) {
        input_sort(in, n);
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && in[j].probe_id == in[i].probe_id && in[j].minute == in[i].minute)
            j++;
        input_run_sort(in + i, j - i);
        i = j;
    }
}

/* Empties h, whose non-empty buckets all lie in [lo, hi]: a minute usually holds
 * a handful of results, and clearing 1,160 buckets per row would cost more than
 * the row. */
static void hist_clear_range(struct pk_hist *h, int lo, int hi)
{
    if (lo <= hi)
        memset(&h->b[lo], 0, (size_t)(hi - lo + 1) * sizeof h->b[0]);
    h->count = h->clamped = 0;
    h->sum_us = 0;
    h->min_us = h->max_us = 0;
}

int rollup_build_minutes(struct rollup_input *in, size_t n, struct rollup_rows *out)
{
    if (n == 0)
        return 0;
    struct pk_hist *h = malloc(sizeof *h);
    if (!h)
        return -1;
    pk_hist_init(h);
    input_order(in, n);
    int rc = 0;
    for (size_t i = 0; i < n;) {
        int64_t minute = in[i].minute;
        size_t j = i;
        struct rollup_counts counts = {0, 0, 0, 0};
        int lo = PK_HIST_BUCKETS, hi = -1; /* the buckets this row filled */
        for (; j < n && in[j].check_id == in[i].check_id && in[j].probe_id == in[i].probe_id &&
               in[j].minute == minute;
             j++) {
            rollup_counts_add_outcome(&counts, in[j].outcome);
            if (in[j].total_us >= 0 && rollup_latency_counts(in[j].outcome)) {
                int k = pk_hist_index(in[j].total_us);
                pk_hist_add_at(h, in[j].total_us, k);
                lo = k < lo ? k : lo;
                hi = k > hi ? k : hi;
            }
        }
        if (rows_reserve(out, PK_HIST_ENCODED_MAX) < 0) {
            rc = -1;
            break;
        }
        size_t len = pk_hist_encode_range(h, lo, hi, out->bytes + out->bytes_len, out->bytes_cap - out->bytes_len);
        out->rows[out->n++] = (struct rollup_row){in[i].check_id, in[i].probe_id, minute, counts, out->bytes_len, len};
        out->bytes_len += len;
        hist_clear_range(h, lo, hi);
        i = j;
    }
    free(h);
    return rc;
}

/* --------------------------------------------------------------- packing */

#define PACK_VERSION 1

void rollup_packs_reset(struct rollup_packs *p)
{
    p->n = 0;
    p->len = 0;
}

void rollup_packs_free(struct rollup_packs *p)
{
    free(p->v);
    free(p->bytes);
    memset(p, 0, sizeof *p);
}

static int by_probe_minute_check(const void *x, const void *y)
{
    const struct rollup_row *a = x, *b = y;
    if (a->probe_id != b->probe_id)
        return a->probe_id < b->probe_id ? -1 : 1;
    if (a->start_us != b->start_us)
        return a->start_us < b->start_us ? -1 : 1;
    return (a->check_id > b->check_id) - (a->check_id < b->check_id);
}

static int packs_reserve(struct rollup_packs *p, size_t more_bytes)
{
    struct rollup_pack *v = pk_grow(p->v, &p->cap, p->n + 1, sizeof *v, 0);
    if (!v)
        return -1;
    p->v = v;
    return bytes_reserve(&p->bytes, &p->bytes_cap, p->len, more_bytes);
}

int rollup_pack_rows(struct rollup_rows *rows, struct rollup_packs *out)
{
    size_t sorted = 1; /* rollup_build_minutes already gives this order */
    while (sorted < rows->n && by_probe_minute_check(&rows->rows[sorted - 1], &rows->rows[sorted]) <= 0)
        sorted++;
    if (sorted < rows->n)
        qsort(rows->rows, rows->n, sizeof *rows->rows, by_probe_minute_check);
    for (size_t i = 0; i < rows->n;) {
        size_t j = i, need = 11;
        while (j < rows->n && rows->rows[j].probe_id == rows->rows[i].probe_id &&
               rows->rows[j].start_us == rows->rows[i].start_us) {
            need += 7 * 10 + rows->rows[j].hist_len;
            j++;
        }
        if (packs_reserve(out, need) < 0)
            return -1;
        uint8_t *b = out->bytes + out->len;
        size_t pos = 0;
        b[pos++] = PACK_VERSION;
        pos = pk_varint_put(b, need, pos, (uint64_t)(j - i));
        int64_t prev = 0;
        for (size_t k = i; k < j && pos; k++) {
            const struct rollup_row *r = &rows->rows[k];
            const uint64_t v[6] = {(uint64_t)(r->check_id - prev), r->counts.ok, r->counts.degraded,
                                   r->counts.failed, r->counts.unknown, r->hist_len};
            for (int f = 0; f < 6 && pos; f++)
                pos = pk_varint_put(b, need, pos, v[f]);
            if (pos && need - pos >= r->hist_len) {
                memcpy(b + pos, rows->bytes + r->hist_off, r->hist_len);
                pos += r->hist_len;
            } else {
                pos = 0;
            }
            prev = r->check_id;
        }
        if (!pos)
            return -1; /* cannot happen: need is an upper bound */
        out->v[out->n++] = (struct rollup_pack){rows->rows[i].probe_id, rows->rows[i].start_us, j - i, out->len, pos};
        out->len += pos;
        i = j;
    }
    return 0;
}

int rollup_unpack_begin(struct rollup_unpack *u, const uint8_t *buf, size_t len)
{
    *u = (struct rollup_unpack){buf, len, 1, 0, 0};
    if (len < 2 || buf[0] != PACK_VERSION || pk_varint_get(buf, len, &u->pos, &u->left) < 0 || u->left > len)
        return -1;
    return 0;
}

int rollup_unpack_next(struct rollup_unpack *u, int64_t *check_id, struct rollup_counts *c, const uint8_t **hist,
                       size_t *hist_len)
{
    if (u->left == 0)
        return u->pos == u->len ? 0 : -1;
    uint64_t v[6];
    for (int f = 0; f < 6; f++)
        if (pk_varint_get(u->buf, u->len, &u->pos, &v[f]) < 0)
            return -1;
    if (v[0] > (uint64_t)INT64_MAX - (uint64_t)u->check_id || v[5] > u->len - u->pos)
        return -1;
    u->check_id += (int64_t)v[0];
    *check_id = u->check_id;
    *c = (struct rollup_counts){v[1], v[2], v[3], v[4]};
    *hist = u->buf + u->pos;
    *hist_len = (size_t)v[5];
    u->pos += (size_t)v[5];
    u->left--;
    return 1;
}

/* ------------------------------------------------------------------ merge */

struct rollup_merge {
    struct rollup_entry *entries;
    size_t n, cap;
    size_t *slots; /* index + 1 into entries, 0 = free; open addressing */
    size_t n_slots;
};

static uint64_t key_hash(int64_t a, int64_t b, int64_t t)
{
    uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15ULL;
    h ^= (uint64_t)b + 0x632BE59BD9B4E019ULL + (h << 6) + (h >> 2);
    h ^= (uint64_t)t + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    h ^= h >> 31;
    return h * 0xBF58476D1CE4E5B9ULL;
}

struct rollup_merge *rollup_merge_new(void) { return calloc(1, sizeof(struct rollup_merge)); }

void rollup_merge_free(struct rollup_merge *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->entries[i].hist);
    free(m->entries);
    free(m->slots);
    free(m);
}

static void slots_insert(size_t *slots, size_t n_slots, const struct rollup_entry *e, size_t index)
{
    for (size_t i = key_hash(e->a, e->b, e->t) & (n_slots - 1);; i = (i + 1) & (n_slots - 1))
        if (!slots[i]) {
            slots[i] = index + 1;
            return;
        }
}

static int rehash(struct rollup_merge *m, size_t n_slots)
{
    size_t *slots = calloc(n_slots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->n; i++)
        slots_insert(slots, n_slots, &m->entries[i], i);
    free(m->slots);
    m->slots = slots;
    m->n_slots = n_slots;
    return 0;
}

static struct rollup_entry *merge_get(struct rollup_merge *m, int64_t a, int64_t b, int64_t t, int with_hist)
{
    if (m->n_slots) {
        for (size_t i = key_hash(a, b, t) & (m->n_slots - 1); m->slots[i]; i = (i + 1) & (m->n_slots - 1)) {
            struct rollup_entry *e = &m->entries[m->slots[i] - 1];
            if (e->a == a && e->b == b && e->t == t)
                return e;
        }
    }
    if ((m->n + 1) * 2 > m->n_slots && rehash(m, m->n_slots ? m->n_slots * 2 : 64) < 0)
        return NULL;
    struct rollup_entry *entries = pk_grow(m->entries, &m->cap, m->n + 1, sizeof *entries, 0);
    if (!entries)
        return NULL;
    m->entries = entries;
    struct pk_hist *h = with_hist ? malloc(sizeof *h) : NULL;
    if (with_hist && !h)
        return NULL;
    if (h)
        pk_hist_init(h);
    struct rollup_entry *e = &m->entries[m->n];
    *e = (struct rollup_entry){a, b, t, {0, 0, 0, 0}, h};
    slots_insert(m->slots, m->n_slots, e, m->n);
    m->n++;
    return e;
}

struct rollup_entry *rollup_merge_get(struct rollup_merge *m, int64_t a, int64_t b, int64_t t)
{
    return merge_get(m, a, b, t, 1);
}

struct rollup_entry *rollup_merge_get_bare(struct rollup_merge *m, int64_t a, int64_t b, int64_t t)
{
    return merge_get(m, a, b, t, 0);
}

int rollup_merge_add(struct rollup_merge *m, int64_t a, int64_t b, int64_t t, const struct rollup_counts *c,
                     const uint8_t *hist, size_t len)
{
    struct rollup_entry *e = rollup_merge_get(m, a, b, t);
    if (!e)
        return -1;
    if (len > 0 && pk_hist_decode_merge(hist, len, e->hist) < 0)
        return -1;
    rollup_counts_merge(&e->counts, c);
    return 0;
}

size_t rollup_merge_count(const struct rollup_merge *m) { return m->n; }

struct rollup_entry *rollup_merge_entry(struct rollup_merge *m, size_t i) { return i < m->n ? &m->entries[i] : NULL; }

static inline int entry_before(const struct rollup_entry *a, const struct rollup_entry *b)
{
    if (a->a != b->a)
        return a->a < b->a;
    if (a->b != b->b)
        return a->b < b->b;
    return a->t < b->t;
}

PK_TYPED_SORT(entries_sort, struct rollup_entry, entry_before)

void rollup_merge_sort(struct rollup_merge *m)
{
    if (m->n < 2)
        return;
    entries_sort(m->entries, m->n);
    memset(m->slots, 0, m->n_slots * sizeof *m->slots);
    for (size_t i = 0; i < m->n; i++)
        slots_insert(m->slots, m->n_slots, &m->entries[i], i);
}

/* ------------------------------------------------------------------- plan */

static int64_t ceil_to(int64_t us, int64_t width)
{
    int64_t f = rollup_floor(us, width);
    return f == us ? us : f + width;
}

void rollup_plan_window(int64_t since_us, int64_t until_us, struct rollup_plan *p)
{
    memset(p, 0, sizeof *p);
    if (until_us <= since_us)
        return;
    int64_t h0 = ceil_to(since_us, ROLLUP_HOUR_US), h1 = rollup_floor(until_us, ROLLUP_HOUR_US);
    if (h0 >= h1) {
        p->minute[0] = (struct rollup_range){since_us, until_us};
        return;
    }
    p->minute[0] = (struct rollup_range){since_us, h0};
    p->minute[1] = (struct rollup_range){h1, until_us};
    int64_t d0 = ceil_to(h0, ROLLUP_DAY_US), d1 = rollup_floor(h1, ROLLUP_DAY_US);
    if (d0 >= d1) {
        p->hour[0] = (struct rollup_range){h0, h1};
        return;
    }
    p->hour[0] = (struct rollup_range){h0, d0};
    p->hour[1] = (struct rollup_range){d1, h1};
    p->day = (struct rollup_range){d0, d1};
}

/* The finer rows [a, b) holds: none at or after stored_until. */
static int64_t rows_in(int64_t a, int64_t b, int64_t stored_until, int64_t fine)
{
    if (b > stored_until)
        b = stored_until;
    return b > a ? (b - a + fine - 1) / fine : 0;
}

/* One edge of a window at one level: t is rounded down (subtracting [down, t))
 * or up (adding [t, up)) to a multiple of width, whichever reads fewer rows;
 * down only when may_subtract. Returns the rounded time. */
static int64_t round_edge(int64_t t, int64_t width, int64_t fine, int64_t stored_until, int may_subtract, int start,
                          struct rollup_range *add, struct rollup_range *sub)
{
    int64_t down = rollup_floor(t, width), up = down + width;
    *add = *sub = (struct rollup_range){0, 0};
    if (down == t)
        return t;
    /* the start: [t, up) added or [down, t) subtracted; the end: the reverse */
    int64_t before = rows_in(down, t, stored_until, fine), after = rows_in(t, up, stored_until, fine);
    int64_t added = start ? after : before, subtracted = start ? before : after;
    if (may_subtract && subtracted + 1 < added) { /* the coarser row is one row more */
        *sub = start ? (struct rollup_range){down, t} : (struct rollup_range){t, up};
        return start ? down : up;
    }
    *add = start ? (struct rollup_range){t, up} : (struct rollup_range){down, t};
    return start ? up : down;
}

void rollup_plan_signed(int64_t since_us, int64_t until_us, int64_t minutes_from_us, int64_t days_closed_us,
                        int64_t stored_until_us, struct rollup_signed_plan *p)
{
    memset(p, 0, sizeof *p);
    int64_t hs = rollup_floor(since_us, ROLLUP_HOUR_US), he = rollup_floor(until_us - 1, ROLLUP_HOUR_US);
    if (until_us <= since_us)
        return;
    if (hs == he) {
        /* Within one hour: its minutes, or the hour's row when that holds no
         * stored minute outside the window (one from the hour's start to now:
         * nothing stored after now). Then the row is the window's exactly,
         * its minimum and maximum too, so both reads give the same answer;
         * the hour less a few minutes would clamp the quantiles to the hour's
         * extremes, and the report's parts and a check's trend points would
         * then differ in their last digits. */
        const int64_t su = stored_until_us, he1 = hs + ROLLUP_HOUR_US;
        int64_t inside = rows_in(since_us, until_us, su, ROLLUP_MINUTE_US);
        int64_t outside = rows_in(hs, since_us, su, ROLLUP_MINUTE_US) + rows_in(until_us, he1, su, ROLLUP_MINUTE_US);
        if (hs >= minutes_from_us && outside == 0 && inside > 1) {
            p->hour[0] = (struct rollup_range){hs, he1};
            if (until_us < he1) /* nothing stored there: kept so that the plan says what it covers */
                p->minute_neg[1] = (struct rollup_range){until_us, he1};
            return;
        }
        struct rollup_plan plain;
        rollup_plan_window(since_us, until_us, &plain);
        p->day = plain.day;
        memcpy(p->hour, plain.hour, sizeof p->hour);
        memcpy(p->minute, plain.minute, sizeof p->minute);
        return;
    }
    /* Minutes: subtracted only from an hour whose minutes are all stored. */
    const int64_t su = stored_until_us;
    int64_t s_h = round_edge(since_us, ROLLUP_HOUR_US, ROLLUP_MINUTE_US, su, hs >= minutes_from_us, 1,
                             &p->minute[0], &p->minute_neg[0]);
    int64_t e_h = round_edge(until_us, ROLLUP_HOUR_US, ROLLUP_MINUTE_US, su, he >= minutes_from_us, 0,
                             &p->minute[1], &p->minute_neg[1]);
    int64_t ds = rollup_floor(s_h, ROLLUP_DAY_US), de = rollup_floor(e_h - 1, ROLLUP_DAY_US);
    if (e_h <= s_h) /* both edges rounded to one hour boundary: minutes only */
        return;
    if (ds == de) { /* within one day: hours only */
        p->hour[0] = (struct rollup_range){s_h, e_h};
        return;
    }
    /* Hours: subtracted only from a day whose row is written (closed). */
    int64_t s_d = round_edge(s_h, ROLLUP_DAY_US, ROLLUP_HOUR_US, su, ds + ROLLUP_DAY_US <= days_closed_us, 1,
                             &p->hour[0], &p->hour_neg[0]);
    int64_t e_d = round_edge(e_h, ROLLUP_DAY_US, ROLLUP_HOUR_US, su, de + ROLLUP_DAY_US <= days_closed_us, 0,
                             &p->hour[1], &p->hour_neg[1]);
    if (e_d > s_d)
        p->day = (struct rollup_range){s_d, e_d};
}
