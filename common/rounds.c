/* rounds.c: round indexes, a round's state by region and by quorum, timelines of
 * round states as compact runs, and the open-after-N / close-after-M incident
 * rule over those runs. Owns only the arrays of a timeline and the incident
 * arrays it returns; never reads a clock. Definitions: docs/ANALYTICS.md,
 * "Rounds" and "Incidents as results arrive". */
#include "rounds.h"

#include "buf.h"
#include "pk_error.h"

#include <stdlib.h>
#include <string.h>

int64_t pk_round_spread_us(const char *check_name, int64_t interval_ms)
{
    if (interval_ms <= 0)
        return 0;
    uint64_t h = 1469598103934665603ull; /* fnv1a, as the probe's scheduler */
    for (const char *s = check_name; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (int64_t)(h % (uint64_t)interval_ms) * 1000;
}

int64_t pk_round_index(int64_t scheduled_at_us, int64_t started_at_us, int64_t interval_us, int64_t spread_us)
{
    int64_t t = scheduled_at_us > 0 ? scheduled_at_us : started_at_us;
    return pk_floor_div(t - spread_us, interval_us);
}

int pk_round_cell_state(const struct pk_round_cell *c)
{
    uint64_t n = (uint64_t)c->good + c->bad;
    if (n == 0)
        return PK_ROUND_NO_DATA;
    return 2 * (uint64_t)c->bad > n ? PK_ROUND_DOWN : PK_ROUND_UP;
}

static int popcount64(uint64_t v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

int pk_round_decide(uint64_t regions_data, uint64_t regions_down, uint64_t expected, int quorum, int64_t now_us,
                    int64_t round_end_us, int64_t deadline_us, int *state)
{
    if (quorum < 1)
        quorum = 1;
    int down = popcount64(regions_down & regions_data) >= quorum;
    *state = down ? PK_ROUND_DOWN : regions_data ? PK_ROUND_UP : PK_ROUND_NO_DATA;
    if (down)
        return 1; /* more regions cannot bring the count of down regions under the quorum */
    if (expected && (regions_data & expected) == expected)
        return 1;
    return now_us >= round_end_us + deadline_us;
}

/* ------------------------------------------------------------- timeline */

void pk_timeline_free(struct pk_timeline *t)
{
    free(t->runs);
    memset(t, 0, sizeof *t);
}

/* Index of the first run with to >= k (t->n when none). */
static size_t first_ending_at_or_after(const struct pk_timeline *t, int64_t k)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->runs[mid].to < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int insert_at(struct pk_timeline *t, size_t pos, struct pk_round_run run)
{
    if (t->n >= PK_ROUNDS_MAX_RUNS)
        return -1;
    struct pk_round_run *v = pk_grow(t->runs, &t->cap, t->n + 1, sizeof *v, PK_ROUNDS_MAX_RUNS);
    if (!v)
        return -1;
    t->runs = v;
    memmove(&v[pos + 1], &v[pos], (t->n - pos) * sizeof *v);
    v[pos] = run;
    t->n++;
    return 0;
}

static void remove_at(struct pk_timeline *t, size_t pos)
{
    memmove(&t->runs[pos], &t->runs[pos + 1], (t->n - pos - 1) * sizeof *t->runs);
    t->n--;
}

static int joinable(const struct pk_round_run *a, const struct pk_round_run *b)
{
    return a->to + 1 == b->from && a->state == b->state && a->regions == b->regions;
}

/* Merges run i with its neighbours where they touch and agree. */
static void coalesce(struct pk_timeline *t, size_t i)
{
    if (i + 1 < t->n && joinable(&t->runs[i], &t->runs[i + 1])) {
        t->runs[i].to = t->runs[i + 1].to;
        remove_at(t, i + 1);
    }
    if (i > 0 && joinable(&t->runs[i - 1], &t->runs[i])) {
        t->runs[i - 1].to = t->runs[i].to;
        remove_at(t, i);
    }
}

int pk_timeline_set(struct pk_timeline *t, int64_t k, int state, uint64_t regions)
{
    if (state != PK_ROUND_DOWN)
        regions = 0;
    size_t i = first_ending_at_or_after(t, k);
    if (i < t->n && t->runs[i].from <= k) {
        struct pk_round_run r = t->runs[i];
        if (r.state == state && r.regions == regions)
            return 0;
        if (r.from == k && r.to == k) {
            remove_at(t, i);
        } else if (r.from == k) {
            t->runs[i].from = k + 1;
        } else if (r.to == k) {
            t->runs[i].to = k - 1;
            i++;
        } else {
            struct pk_round_run tail = {k + 1, r.to, r.state, r.regions};
            if (insert_at(t, i + 1, tail) < 0)
                return -1;
            t->runs[i].to = k - 1;
            i++;
        }
    } else if (state == PK_ROUND_NO_DATA) {
        return 0;
    }
    if (state == PK_ROUND_NO_DATA)
        return 1;
    if (insert_at(t, i, (struct pk_round_run){k, k, state, regions}) < 0)
        return -1;
    coalesce(t, i);
    return 1;
}

int pk_timeline_get(const struct pk_timeline *t, int64_t k, uint64_t *regions)
{
    size_t i = first_ending_at_or_after(t, k);
    int in = i < t->n && t->runs[i].from <= k;
    if (regions)
        *regions = in ? t->runs[i].regions : 0;
    return in ? t->runs[i].state : PK_ROUND_NO_DATA;
}

void pk_timeline_count(const struct pk_timeline *t, int64_t from, int64_t until, struct pk_round_counts *out)
{
    memset(out, 0, sizeof *out);
    if (until <= from)
        return;
    for (size_t i = first_ending_at_or_after(t, from); i < t->n && t->runs[i].from < until; i++) {
        int64_t a = t->runs[i].from > from ? t->runs[i].from : from;
        int64_t b = t->runs[i].to < until - 1 ? t->runs[i].to : until - 1;
        if (t->runs[i].state == PK_ROUND_UP)
            out->up += b - a + 1;
        else if (t->runs[i].state == PK_ROUND_DOWN)
            out->down += b - a + 1;
    }
    out->no_data = (until - from) - out->up - out->down;
}

void pk_timeline_trim(struct pk_timeline *t, int64_t k)
{
    size_t i = first_ending_at_or_after(t, k);
    if (i > 0) {
        memmove(t->runs, &t->runs[i], (t->n - i) * sizeof *t->runs);
        t->n -= i;
    }
    if (t->n && t->runs[0].from < k)
        t->runs[0].from = k;
}

/* ------------------------------------------------------------- incidents */

struct fsm {
    int open_after, close_after;
    int in_incident;
    int64_t down_run, up_run, run_start, up_start;
    uint64_t run_regions;
    struct pk_round_incident cur;
    struct pk_round_incident *v;
    size_t n, cap;
};

static int fsm_push(struct fsm *f)
{
    struct pk_round_incident *v = pk_grow(f->v, &f->cap, f->n + 1, sizeof *v, 0);
    if (!v)
        return -1;
    f->v = v;
    f->v[f->n++] = f->cur;
    return 0;
}

/* Rounds [a, b] down (with regions). */
static void fsm_down(struct fsm *f, int64_t a, int64_t b, uint64_t regions)
{
    int64_t len = b - a + 1;
    f->up_run = 0;
    if (f->in_incident) {
        f->cur.regions |= regions;
        f->cur.down_rounds += len;
        return;
    }
    if (f->down_run == 0) {
        f->run_start = a;
        f->run_regions = 0;
    }
    f->run_regions |= regions;
    if (f->down_run + len >= f->open_after) {
        f->in_incident = 1;
        f->cur = (struct pk_round_incident){.start = f->run_start,
                                            .opened = a + (f->open_after - f->down_run - 1),
                                            .end = -1,
                                            .closed = -1,
                                            .down_rounds = f->down_run + len,
                                            .regions = f->run_regions};
        f->down_run = 0;
    } else {
        f->down_run += len;
    }
}

/* Rounds [a, b] up. */
static int fsm_up(struct fsm *f, int64_t a, int64_t b)
{
    int64_t len = b - a + 1;
    if (!f->in_incident) {
        f->down_run = 0;
        return 0;
    }
    if (f->up_run == 0)
        f->up_start = a;
    if (f->up_run + len < f->close_after) {
        f->up_run += len;
        return 0;
    }
    f->cur.end = f->up_start;
    f->cur.closed = a + (f->close_after - f->up_run - 1);
    f->in_incident = 0;
    f->down_run = f->up_run = 0;
    return fsm_push(f);
}

int pk_timeline_incidents(const struct pk_timeline *t, int64_t from, int64_t until, int open_after,
                          int close_after, struct pk_round_incident **out, size_t *nout, char *err,
                          size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (open_after < 1 || close_after < 1)
        return pk_fail(err, errlen, "incidents: open_after and close_after must be >= 1 (got %d and %d)",
                       open_after, close_after);
    struct fsm f = {.open_after = open_after, .close_after = close_after};
    for (size_t i = first_ending_at_or_after(t, from); i < t->n && t->runs[i].from < until; i++) {
        const struct pk_round_run *r = &t->runs[i];
        int64_t a = r->from > from ? r->from : from;
        int64_t b = r->to < until - 1 ? r->to : until - 1;
        if (r->state == PK_ROUND_DOWN)
            fsm_down(&f, a, b, r->regions);
        else if (r->state == PK_ROUND_UP && fsm_up(&f, a, b) < 0)
            goto oom;
        /* any other state (maintenance, later) is skipped like no data */
    }
    if (f.in_incident && fsm_push(&f) < 0)
        goto oom;
    *out = f.v;
    *nout = f.n;
    return 0;
oom:
    free(f.v);
    return pk_fail(err, errlen, "incidents: out of memory");
}
