/* maint_exact.c: the maintenance cut of SLOs and availability's counts made
 * exact at round level (maint_apply.h, docs/ANALYTICS.md "Maintenance").
 * Rollups count whole minutes by when results started; a window may begin or
 * end mid-minute and a round belongs to a window by its scheduled start. So the minutes a window
 * edge falls in (and the next one, for results that started late) are counted
 * again from raw results, each by its round; every other minute is wholly in
 * or wholly out. A minute whose raw results are gone (retention) keeps the
 * minute rule: left out when it starts inside a window. Runs on the caller's
 * thread with the caller's store handle; never reads more than the edge
 * minutes raw. */
#include "maint_apply.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"
#include "rollup.h"
#include "store_round_outcomes.h"

/* How late after its round a result may start and still be placed by its
 * round: results of a round that started more than this after a window edge
 * are judged by the minute they started in. */
#define EDGE_LAG_US ROLLUP_MINUTE_US

struct span {
    int64_t from, to;
};

/* Counts of one edge minute (of one region, by_region): all its results, and
 * those of rounds outside the windows. */
struct edge_minute {
    int64_t minute_us;
    char region[128];
    uint64_t total;
    struct pk_an_counts outside;
};

struct edges {
    const struct maint_interval *iv;
    size_t niv;
    int by_region; /* 1: one entry per minute and region; 0: per minute, every region together */
    struct edge_minute *m; /* sorted by minute */
    size_t n, cap;
};

static int64_t ceil_minute(int64_t us)
{
    return rollup_floor(us + ROLLUP_MINUTE_US - 1, ROLLUP_MINUTE_US);
}

/* The edge spans of the intervals: for each start and end B,
 * [floor(B), ceil(B + lag)) in whole minutes, clipped to [from, to), merged.
 * out has room for 2 * niv. Returns how many. */
static size_t edge_spans(const struct maint_interval *iv, size_t niv, int64_t from, int64_t to, struct span *out)
{
    size_t n = 0;
    for (size_t i = 0; i < 2 * niv; i++) {
        int64_t b = i % 2 ? iv[i / 2].end_us : iv[i / 2].start_us;
        struct span sp = {rollup_floor(b, ROLLUP_MINUTE_US), ceil_minute(b + EDGE_LAG_US)};
        if (sp.from < from)
            sp.from = from;
        if (sp.to > to)
            sp.to = to;
        if (sp.to <= sp.from)
            continue;
        if (n && sp.from <= out[n - 1].to) {
            if (sp.to > out[n - 1].to)
                out[n - 1].to = sp.to;
        } else {
            out[n++] = sp;
        }
    }
    return n;
}

static void count_into(struct pk_an_counts *c, int outcome, uint64_t n)
{
    switch (outcome) {
    case 1: c->ok += n; break;
    case 2: c->degraded += n; break;
    case 3: c->failed += n; break;
    default: c->unknown += n; break;
    }
}

/* Reads the raw results of [from, to) into e->m, one entry per minute with results. */
static const struct edge_minute *edge_find(const struct edges *e, int64_t minute_us, const char *region);

static int edges_read(struct store *s, const struct store_check_meta *m, const char *region, int64_t from,
                      int64_t to, struct edges *e, char *err, size_t errlen)
{
    struct store_round_outcome *rows = NULL;
    size_t n = 0;
    if (store_round_outcomes(s, m->name, region, from, to, &rows, &n, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct edge_minute *em =
            (struct edge_minute *)edge_find(e, rows[i].minute_us, e->by_region ? rows[i].region : NULL);
        if (!em) { /* rows come by minute: a new entry goes at the end */
            struct edge_minute *grown = pk_grow(e->m, &e->cap, e->n + 1, sizeof *grown, 0);
            if (!grown) {
                free(rows);
                return pk_fail(err, errlen, "out of memory");
            }
            e->m = grown;
            em = &e->m[e->n++];
            *em = (struct edge_minute){.minute_us = rows[i].minute_us};
            memcpy(em->region, rows[i].region, sizeof em->region);
        }
        em->total += rows[i].count;
        if (!maint_covers(e->iv, e->niv, rows[i].round_us))
            count_into(&em->outside, rows[i].outcome, rows[i].count);
    }
    free(rows);
    return 0;
}

/* The entry of the minute (and region, when given), or NULL. */
static const struct edge_minute *edge_find(const struct edges *e, int64_t minute_us, const char *region)
{
    size_t lo = 0, hi = e->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->m[mid].minute_us < minute_us)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < e->n && e->m[lo].minute_us == minute_us; lo++)
        if (!region || strcmp(e->m[lo].region, region) == 0)
            return &e->m[lo];
    return NULL;
}

static int in_spans(const struct span *sp, size_t n, int64_t t)
{
    for (size_t i = 0; i < n; i++)
        if (t >= sp[i].from && t < sp[i].to)
            return 1;
    return 0;
}

/* What of a minute with counts c (of region, or every region when NULL)
 * stays in: an edge minute (in_edge) with its raw results all there keeps the
 * counts of its rounds outside the windows; any other minute stays whole
 * unless it starts inside one. 2: recounted by round, in *keep; 1: whole, in
 * *keep; 0: left out. "All there": at least as many raw results as the
 * rollup counted. The raw read comes after the rollup read, and results keep
 * arriving in the current minute: more raw results is that, not a gap (the
 * minute rule would bring back the failures of rounds inside the window);
 * fewer is results gone (retention). */
static int minute_kept(const struct edges *e, int in_edge, int64_t start_us, const char *region,
                       const struct pk_an_counts *c, struct pk_an_counts *keep)
{
    const struct edge_minute *em = in_edge ? edge_find(e, rollup_floor(start_us, ROLLUP_MINUTE_US), region) : NULL;
    if (em && em->total >= c->ok + c->degraded + c->failed + c->unknown) {
        const struct pk_an_counts *o = &em->outside;
        *keep = *o;
        return o->ok + o->degraded + o->failed + o->unknown != 0 ? 2 : 0;
    }
    *keep = *c;
    return maint_covers(e->iv, e->niv, start_us) ? 0 : 1;
}

/* Appends to out the minute buckets b[0..nb) that stay in the SLO
 * (minute_kept); an edge minute recounted by round loses its histogram, whose
 * latencies mix both sides of the edge. out has room for nb more. */
static void keep_minutes(const struct edges *e, const struct span *sp, size_t nsp, const struct pk_an_bucket *b,
                         size_t nb, struct pk_an_bucket *out, size_t *n_out)
{
    for (size_t i = 0; i < nb; i++) {
        struct pk_an_counts keep;
        int how = minute_kept(e, in_spans(sp, nsp, b[i].start_us), b[i].start_us, NULL, &b[i].n, &keep);
        if (!how)
            continue;
        out[*n_out] = b[i];
        if (how == 2) {
            out[*n_out].n = keep;
            out[*n_out].hist = NULL;
        }
        (*n_out)++;
    }
}

/* Walks [at, end): the stretches between edge spans (each wholly inside a
 * window, skipped, or wholly outside: stretch()) and the edge spans (edge()),
 * in order. Between two edge spans no window starts or ends. */
struct walk {
    int (*stretch)(void *ctx, int64_t from, int64_t to, char *err, size_t errlen);
    int (*edge)(void *ctx, const struct span *sp, char *err, size_t errlen);
    void *ctx;
};

static int walk_window(const struct maint_interval *iv, size_t niv, int64_t at, int64_t end, const struct walk *w,
                       char *err, size_t errlen)
{
    struct span *sp = NULL;
    if (niv && !(sp = malloc(2 * niv * sizeof *sp)))
        return pk_fail(err, errlen, "out of memory");
    size_t nsp = niv ? edge_spans(iv, niv, at, end, sp) : 0;
    int rc = 0;
    for (size_t i = 0; i <= nsp && rc == 0; i++) {
        int64_t stretch_end = i < nsp ? sp[i].from : end;
        if (stretch_end > at && !maint_covers(iv, niv, at))
            rc = w->stretch(w->ctx, at, stretch_end, err, errlen);
        if (rc == 0 && i < nsp) {
            rc = w->edge(w->ctx, &sp[i], err, errlen);
            at = sp[i].to;
        }
    }
    free(sp);
    return rc;
}

/* The check's intervals near [from, to), so an edge just outside it is a real edge. */
static int intervals_near(const struct maint_window *w, size_t n, const struct store_check_meta *m, int64_t from,
                          int64_t to, struct maint_interval **iv, size_t *niv, char *err, size_t errlen)
{
    return maint_check_intervals(w, n, m, rollup_floor(from, ROLLUP_MINUTE_US) - EDGE_LAG_US, to + 2 * EDGE_LAG_US,
                                 iv, niv, err, errlen);
}

int maint_exact_minutes(struct store *s, const struct maint_window *w, size_t n, const struct store_check_meta *m,
                        const char *region, int64_t from, int64_t to, const struct pk_an_bucket *b, size_t nb,
                        struct pk_an_bucket **kept, size_t *n_kept, char *err, size_t errlen)
{
    struct edges e = {0};
    struct maint_interval *iv = NULL;
    struct span *sp = NULL;
    size_t niv = 0, nsp = 0;
    int rc = -1;
    *n_kept = 0;
    if (!(*kept = malloc((nb ? nb : 1) * sizeof **kept)))
        return pk_fail(err, errlen, "out of memory");
    if (intervals_near(w, n, m, from, to, &iv, &niv, err, errlen) < 0)
        goto out;
    e.iv = iv;
    e.niv = niv;
    if (niv && !(sp = malloc(2 * niv * sizeof *sp))) {
        pk_fail(err, errlen, "out of memory");
        goto out;
    }
    nsp = niv ? edge_spans(iv, niv, rollup_floor(from, ROLLUP_MINUTE_US), ceil_minute(to), sp) : 0;
    for (size_t i = 0; i < nsp; i++)
        if (edges_read(s, m, region, sp[i].from, sp[i].to, &e, err, errlen) < 0)
            goto out;
    keep_minutes(&e, sp, nsp, b, nb, *kept, n_kept);
    rc = 0;
out:
    if (rc < 0) {
        free(*kept);
        *kept = NULL;
    }
    free(e.m);
    free(sp);
    free(iv);
    return rc;
}

/* Appends the rows of one read (bucket_us 0: one bucket over the range; else
 * minute buckets) to *b, growing it. */
static int append_read(struct store *s, const struct store_rollup_filter *f, int64_t width_us, struct pk_an_bucket **b,
                       size_t *nb, int64_t (*skip)(void *, int64_t), void *skip_arg, char *err, size_t errlen)
{
    struct store_rollup_row *rows = NULL;
    size_t nr = 0;
    if (store_rollup_query(s, f, &rows, &nr, err, errlen) < 0)
        return -1;
    struct pk_an_bucket *grown = realloc(*b, (*nb + nr + 1) * sizeof *grown);
    if (!grown) {
        free(rows);
        return pk_fail(err, errlen, "out of memory");
    }
    *b = grown;
    for (size_t i = 0; i < nr; i++) {
        if (skip && skip(skip_arg, rows[i].bucket_start_us))
            continue;
        grown[(*nb)++] = (struct pk_an_bucket){.start_us = rows[i].bucket_start_us, .width_us = width_us,
                                               .n = {rows[i].ok, rows[i].degraded, rows[i].failed, rows[i].unknown}};
    }
    free(rows);
    return 0;
}

struct cover_arg {
    const struct maint_interval *iv;
    size_t n;
};

static int64_t covered(void *arg, int64_t t)
{
    const struct cover_arg *c = arg;
    return maint_covers(c->iv, c->n, t) != NULL;
}

/* One edge span: its minute buckets from the rollups with the edge minutes
 * recounted by round (e's reads append to e->m), appended to *b. */
static int append_edge(struct store *s, const struct store_check_meta *m, struct edges *e, const struct span *sp,
                       struct store_rollup_filter *f, struct pk_an_bucket **b, size_t *nb, char *err, size_t errlen)
{
    struct pk_an_bucket *minutes = NULL;
    size_t n_minutes = 0;
    int rc = -1;
    f->since_us = sp->from;
    f->until_us = sp->to;
    f->bucket_us = ROLLUP_MINUTE_US;
    if (append_read(s, f, ROLLUP_MINUTE_US, &minutes, &n_minutes, NULL, NULL, err, errlen) < 0 ||
        edges_read(s, m, f->region, sp->from, sp->to, e, err, errlen) < 0)
        goto out;
    struct pk_an_bucket *grown = realloc(*b, (*nb + n_minutes + 1) * sizeof *grown);
    if (!grown) {
        pk_fail(err, errlen, "out of memory");
        goto out;
    }
    *b = grown;
    keep_minutes(e, sp, 1, minutes, n_minutes, grown, nb);
    rc = 0;
out:
    free(minutes);
    return rc;
}

/* Past MAINT_MAX_GAPS stretches: one bucket per hour that does not start in a window. */
static int hourly_outside(struct store *s, const struct maint_interval *iv, size_t niv, struct store_rollup_filter *f,
                          int64_t from, int64_t to, struct pk_an_bucket **b, size_t *nb, char *err, size_t errlen)
{
    struct cover_arg ca = {iv, niv};
    f->since_us = from;
    f->until_us = to;
    f->bucket_us = ROLLUP_HOUR_US;
    return append_read(s, f, ROLLUP_HOUR_US, b, nb, covered, &ca, err, errlen);
}

/* What the walk of maint_slo_buckets and maint_exact_rows appends to: buckets
 * (b) or rows by region (rows). */
struct walk_ctx {
    struct store *s;
    const struct store_check_meta *m;
    struct edges *e;
    struct store_rollup_filter *f;
    struct pk_an_bucket **b;
    size_t *nb;
    struct store_rollup_row **rows;
    size_t *nrows, *cap;
};

static int stretch_bucket(void *arg, int64_t from, int64_t to, char *err, size_t errlen)
{
    struct walk_ctx *c = arg;
    c->f->since_us = from;
    c->f->until_us = to;
    c->f->bucket_us = 0;
    return append_read(c->s, c->f, to - from, c->b, c->nb, NULL, NULL, err, errlen);
}

static int edge_buckets(void *arg, const struct span *sp, char *err, size_t errlen)
{
    struct walk_ctx *c = arg;
    return append_edge(c->s, c->m, c->e, sp, c->f, c->b, c->nb, err, errlen);
}

int maint_slo_buckets(struct store *s, const struct maint_window *w, size_t n, const struct store_check_meta *m,
                      const char *region, int64_t from, int64_t to, struct pk_an_bucket **b, size_t *nb, char *err,
                      size_t errlen)
{
    struct maint_interval *iv = NULL;
    size_t niv = 0;
    int rc;
    if (intervals_near(w, n, m, from, to, &iv, &niv, err, errlen) < 0)
        return -1;
    struct store_rollup_filter f = {.check = m->name, .region = region, .group = STORE_ROLLUP_BY_CHECK};
    struct edges e = {.iv = iv, .niv = niv};
    if (niv + 1 > MAINT_MAX_GAPS) {
        rc = hourly_outside(s, iv, niv, &f, from, to, b, nb, err, errlen);
    } else {
        struct walk_ctx c = {.s = s, .m = m, .e = &e, .f = &f, .b = b, .nb = nb};
        struct walk wk = {stretch_bucket, edge_buckets, &c};
        rc = walk_window(iv, niv, rollup_floor(from, ROLLUP_MINUTE_US), rollup_floor(to, ROLLUP_MINUTE_US), &wk, err,
                         errlen);
    }
    free(e.m);
    free(iv);
    return rc;
}

/* Room for need rows in *rows (pk_grow). 0, or -1 (out of memory, in err). */
static int rows_room(struct store_rollup_row **rows, size_t *cap, size_t need, char *err, size_t errlen)
{
    struct store_rollup_row *grown = pk_grow(*rows, cap, need ? need : 1, sizeof *grown, 0);
    if (!grown)
        return pk_fail(err, errlen, "out of memory");
    *rows = grown;
    return 0;
}

/* The check's rows by region over [from, to) (whole minutes), appended. */
static int append_stretch_rows(struct store *s, struct store_rollup_filter *f, int64_t from, int64_t to,
                               struct store_rollup_row **rows, size_t *n, size_t *cap, char *err, size_t errlen)
{
    struct store_rollup_row *got = NULL;
    size_t ng = 0;
    f->since_us = from;
    f->until_us = to;
    f->bucket_us = 0;
    if (store_rollup_query(s, f, &got, &ng, err, errlen) < 0)
        return -1;
    int rc = rows_room(rows, cap, *n + ng, err, errlen);
    if (rc == 0 && ng) {
        memcpy(*rows + *n, got, ng * sizeof *got);
        *n += ng;
    }
    free(got);
    return rc;
}

/* One edge span's minute rows by region, each recounted by round (e by region). */
static int append_edge_rows(struct store *s, const struct store_check_meta *m, struct edges *e, const struct span *sp,
                            struct store_rollup_filter *f, struct store_rollup_row **rows, size_t *n, size_t *cap,
                            char *err, size_t errlen)
{
    struct store_rollup_row *got = NULL;
    size_t ng = 0;
    f->since_us = sp->from;
    f->until_us = sp->to;
    f->bucket_us = ROLLUP_MINUTE_US;
    if (store_rollup_query(s, f, &got, &ng, err, errlen) < 0)
        return -1;
    if (edges_read(s, m, f->region, sp->from, sp->to, e, err, errlen) < 0 ||
        rows_room(rows, cap, *n + ng, err, errlen) < 0) {
        free(got);
        return -1;
    }
    for (size_t i = 0; i < ng; i++) {
        struct store_rollup_row *r = &got[i];
        struct pk_an_counts c = {r->ok, r->degraded, r->failed, r->unknown}, keep;
        if (!minute_kept(e, 1, r->bucket_start_us, r->group, &c, &keep))
            continue;
        r->ok = keep.ok;
        r->degraded = keep.degraded;
        r->failed = keep.failed;
        r->unknown = keep.unknown;
        (*rows)[(*n)++] = *r;
    }
    free(got);
    return 0;
}

/* Past MAINT_MAX_GAPS windows: the stretches between them in whole minutes
 * (a minute a window starts in is left out, the one it ends in counted). */
static int whole_minute_rows(struct store *s, struct store_rollup_filter *f, const struct maint_interval *iv,
                             size_t niv, int64_t at, int64_t end, struct store_rollup_row **rows, size_t *n,
                             size_t *cap, char *err, size_t errlen)
{
    for (size_t g = 0; g <= niv && at < end; g++) {
        int64_t cut = g < niv ? rollup_floor(iv[g].start_us, ROLLUP_MINUTE_US) : end;
        if ((cut < end ? cut : end) > at && append_stretch_rows(s, f, at, cut < end ? cut : end, rows, n, cap, err,
                                                                errlen) < 0)
            return -1;
        if (g < niv && rollup_floor(iv[g].end_us, ROLLUP_MINUTE_US) > at)
            at = rollup_floor(iv[g].end_us, ROLLUP_MINUTE_US);
    }
    return 0;
}

static int stretch_rows(void *arg, int64_t from, int64_t to, char *err, size_t errlen)
{
    struct walk_ctx *c = arg;
    return append_stretch_rows(c->s, c->f, from, to, c->rows, c->nrows, c->cap, err, errlen);
}

static int edge_rows(void *arg, const struct span *sp, char *err, size_t errlen)
{
    struct walk_ctx *c = arg;
    return append_edge_rows(c->s, c->m, c->e, sp, c->f, c->rows, c->nrows, c->cap, err, errlen);
}

int maint_exact_rows(struct store *s, const struct maint_window *w, size_t n, const struct store_check_meta *m,
                     const char *region, int64_t from, int64_t to, struct store_rollup_row **rows, size_t *nrows,
                     size_t *cap, char *err, size_t errlen)
{
    struct maint_interval *iv = NULL;
    size_t niv = 0;
    int rc;
    if (intervals_near(w, n, m, from, to, &iv, &niv, err, errlen) < 0)
        return -1;
    struct store_rollup_filter f = {.check = m->name, .region = region, .group = STORE_ROLLUP_BY_REGION};
    struct edges e = {.iv = iv, .niv = niv, .by_region = 1};
    int64_t at = rollup_floor(from, ROLLUP_MINUTE_US), end = rollup_floor(to, ROLLUP_MINUTE_US);
    if (niv + 1 > MAINT_MAX_GAPS) {
        rc = whole_minute_rows(s, &f, iv, niv, at, end, rows, nrows, cap, err, errlen);
    } else {
        struct walk_ctx c = {.s = s, .m = m, .e = &e, .f = &f, .rows = rows, .nrows = nrows, .cap = cap};
        struct walk wk = {stretch_rows, edge_rows, &c};
        rc = walk_window(iv, niv, at, end, &wk, err, errlen);
    }
    free(e.m);
    free(iv);
    return rc;
}
