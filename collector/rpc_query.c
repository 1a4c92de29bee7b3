/* rpc_query.c: QueryService's analytics calls. Each call resolves its window
 * (whole minutes, default the last 24 h), picks the checks its filters name
 * (store_check_meta), reads their rollups (store_rollup_query, merged in C) and
 * feeds them to common/analytics.h, so every figure is the one docs/ANALYTICS.md
 * defines. Never reads raw results; never includes gRPC (rpc_query_service.c
 * does the transport). Runs on the control thread; answers live in one arena. */
#include "rpc_query.h"
#include "rpc_query_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "buf.h"
#include "maint_apply.h"
#include "pk_error.h"
#include "quorum.h"
#include "picket/v1/picket.pb-c.h"
#include "result.h"
#include "rollup.h"
#include "rpc_backtest.h"
#include "rpc_baseline.h"
#include "rpc_incidents.h"
#include "rpc_query_arena.h"
#include "rpc_query_coarse.h"
#include "rpc_report_batch.h"
#include "rpc_report_window.h"
#include "incident_deps.h"
#include "rpc_query_marks.h"
#include "rpc_trend.h"
#include "slo_config.h"

#define DAY_US (ROLLUP_DAY_US)
#define MAX_QUANTILES 16

int rq_fail_invalid(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    c->invalid = 1;
    return -1;
}

/* A named thing (check, service, region, SLO) the collector does not know. */
int rq_fail_not_found(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    c->invalid = 2;
    return -1;
}

/* A quorum above the regions the collector knows is refused (quorum.c). */
static int check_quorum(struct ctx *c, int quorum)
{
    int rc = query_quorum_check(c->store, quorum, c->err, c->errlen);
    c->invalid = rc == -2;
    return rc < 0 ? -1 : 0;
}

static const char *opt_str(const char *s)
{
    return s && s[0] ? s : NULL;
}

/* The window, the region and the checks of a request. */
static int ctx_open(struct ctx *c, const Picket__V1__QueryWindow *w, int slo)
{
    int64_t until = w && w->until_us ? w->until_us : c->now_us;
    c->until_us = rollup_floor(until, ROLLUP_MINUTE_US);
    c->since_given = w && w->since_us;
    c->since_us = rollup_floor(c->since_given ? w->since_us : c->until_us - DAY_US, ROLLUP_MINUTE_US);
    if (c->until_us <= c->since_us && !(slo && !c->since_given))
        return rq_fail_invalid(c, "the window is empty: since must be at least a minute before until");
    const char *check = w ? opt_str(w->check_name) : NULL;
    c->check_named = check != NULL;
    const char *service = w ? opt_str(w->service) : NULL;
    c->region = w ? opt_str(w->region) : NULL;
    if (c->region) {
        struct store_probe_row *probes = NULL;
        size_t np = 0, k = 0;
        if (store_probe_status(c->store, &probes, &np, c->err, c->errlen) < 0)
            return -1;
        while (k < np && strcmp(probes[k].region, c->region) != 0)
            k++;
        free(probes);
        if (k == np)
            return rq_fail_not_found(c, "region '%.64s' is not known: no probe is in it", c->region);
    }
    if (store_check_meta(c->store, &c->meta, &c->n_meta, c->err, c->errlen) < 0 ||
        maint_apply_windows(c->store, &c->maint, &c->n_maint, c->err, c->errlen) < 0)
        return -1;
    c->checks = ralloc(c->a, (c->n_meta ? c->n_meta : 1) * sizeof *c->checks);
    if (!c->checks) {
        snprintf(c->err, c->errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < c->n_meta; i++) {
        if (check && strcmp(c->meta[i].name, check) != 0)
            continue;
        if (service && strcmp(c->meta[i].service, service) != 0)
            continue;
        c->checks[c->n_checks++] = &c->meta[i];
    }
    if (check && c->n_checks == 0) {
        for (size_t i = 0; i < c->n_meta; i++)
            if (strcmp(c->meta[i].name, check) == 0)
                return rq_fail_not_found(c, "check '%.128s' is not in service '%.128s'", check, service);
        return rq_fail_not_found(c, "check '%.128s' is not known", check);
    }
    if (service && c->n_checks == 0)
        return rq_fail_not_found(c, "no check has service '%.128s'", service);
    return 0;
}

/* One check's rollups per region over the window, one bucket per region for
 * the whole window (counts and latency are exact sums; rounds, uptime and
 * incidents come from the tracker's stored runs, rpc_incidents.h). */
struct rounds {
    struct store_rollup_row *rows;
    size_t n;
    int borrowed; /* rows are a coarse read's: not freed here */
    struct pk_an_bucket *b;
    char regions[PK_AN_MAX_REGIONS][128];
    int n_regions;
    int64_t round_us;
};

static void rounds_free(struct rounds *r)
{
    if (!r->borrowed)
        free(r->rows);
    free(r->b);
    memset(r, 0, sizeof *r);
}

static int rounds_index(struct ctx *c, const struct store_check_meta *m, struct rounds *r);

/* The window's rows without the rounds in the check's maintenance windows
 * (maint_exact_rows: exact at round level), one bucket per region and stretch. */
static int rounds_load_outside(struct ctx *c, const struct store_check_meta *m, struct rounds *r)
{
    memset(r, 0, sizeof *r);
    r->round_us = c->until_us - c->since_us;
    size_t cap = 0;
    if (maint_exact_rows(c->store, c->maint, c->n_maint, m, c->region, c->since_us, c->until_us, &r->rows, &r->n,
                         &cap, c->err, c->errlen) < 0)
        return -1;
    return rounds_index(c, m, r);
}

/* One bucket per region over the whole window, from rows read for every check at
 * once (rpc_query_coarse.c): for figures that need no rounds (latency). */
static int rounds_whole(struct ctx *c, const struct store_check_meta *m, const struct coarse_rows *cr,
                        struct rounds *r)
{
    memset(r, 0, sizeof *r);
    r->round_us = c->until_us - c->since_us;
    coarse_find(cr, m->name, &r->rows, &r->n); /* the rows stay cr's: no copy of their histograms */
    r->borrowed = 1;
    return rounds_index(c, m, r);
}

/* The index of region name among r's regions; r->n_regions when absent. */
static int rounds_region(const struct rounds *r, const char *name)
{
    int k = 0;
    while (k < r->n_regions && strcmp(r->regions[k], name) != 0)
        k++;
    return k;
}

static int rounds_index(struct ctx *c, const struct store_check_meta *m, struct rounds *r)
{
    r->b = calloc(r->n ? r->n : 1, sizeof *r->b);
    if (!r->b) {
        snprintf(c->err, c->errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct store_rollup_row *row = &r->rows[i];
        int k = rounds_region(r, row->group);
        if (k == r->n_regions) {
            if (r->n_regions == PK_AN_MAX_REGIONS) {
                snprintf(c->err, c->errlen, "check '%s': more than %d regions", m->name, PK_AN_MAX_REGIONS);
                return -1;
            }
            snprintf(r->regions[r->n_regions++], sizeof r->regions[0], "%s", row->group);
        }
        r->b[i] = (struct pk_an_bucket){.start_us = row->bucket_start_us, .width_us = r->round_us,
                                        .n = {row->ok, row->degraded, row->failed, row->unknown},
                                        .hist = &row->hist, .region = k};
    }
    return 0;
}

/* Uptime of one scope from its stored rounds (each with data covers one interval). */
static void tracked_uptime(const struct tracked_window *w, struct pk_avail *av)
{
    av->covered_us = (w->up + w->down) * w->rule.interval_us;
    av->up_us = w->up * w->rule.interval_us;
    av->uptime = w->up + w->down ? (double)w->up / (double)(w->up + w->down) : NAN;
}

/* ----------------------------------------------------------- availability */

static Picket__V1__AvailabilityFigure *avail_figure(struct ctx *c, const struct pk_avail *av, const char *region)
{
    Picket__V1__AvailabilityFigure *f = ralloc(c->a, sizeof *f);
    Picket__V1__OutcomeCounts *n = ralloc(c->a, sizeof *n);
    char *name = rstrdup(c->a, region);
    if (!f || !n || !name)
        return NULL;
    picket__v1__availability_figure__init(f);
    picket__v1__outcome_counts__init(n);
    n->ok = (int64_t)av->n.ok;
    n->degraded = (int64_t)av->n.degraded;
    n->failed = (int64_t)av->n.failed;
    n->unknown = (int64_t)av->n.unknown;
    f->region = name;
    f->counts = n;
    f->success_ratio = av->success_ratio;
    f->covered_us = av->covered_us;
    f->up_us = av->up_us;
    f->uptime = av->uptime;
    return f;
}

static Picket__V1__CheckAvailability *availability_of(struct ctx *c, const struct store_check_meta *m,
                                                      const struct rounds *all, int asked_quorum)
{
    struct rounds outside = {0};
    const struct rounds *r = all;
    struct maint_interval *iv = NULL;
    size_t niv = 0;
    Picket__V1__CheckAvailability *ca = ralloc(c->a, sizeof *ca);
    if (!ca)
        goto oom;
    picket__v1__check_availability__init(ca);
    ca->check_name = rstrdup(c->a, m->name);
    ca->service = rstrdup(c->a, m->service);
    /* Counts from the rollups, uptime from the tracker's stored rounds: both
     * without what falls in the check's maintenance windows. Rounds from the
     * stored runs: global (the stored quorum, or another one asked for) and each
     * region, one read of all the check's runs when no window intervenes. */
    struct tracked_window w, *wr;
    if (maint_check_intervals(c->maint, c->n_maint, m, c->since_us, c->until_us, &iv, &niv, c->err, c->errlen) < 0)
        goto fail;
    if (niv) {
        if (rounds_load_outside(c, m, &outside) < 0)
            goto fail;
        r = &outside;
        ca->maintenance_us = maint_overlap_us(iv, niv, c->since_us, c->until_us);
    }
    if (!(wr = ralloc(c->a, (size_t)(r->n_regions ? r->n_regions : 1) * sizeof *wr)))
        goto oom;
    if (niv) {
        if (tracked_rounds_outside(c->store, m->name, c->region, asked_quorum, c->since_us, c->until_us, iv, niv, &w,
                                   c->err, c->errlen) < 0)
            goto fail;
        for (int k = 0; k < r->n_regions; k++)
            if (tracked_rounds_outside(c->store, m->name, r->regions[k], 0, c->since_us, c->until_us, iv, niv, &wr[k],
                                       c->err, c->errlen) < 0)
                goto fail;
    } else if (tracked_rounds_all(c->store, m->name, c->since_us, c->until_us, &w, (char(*)[128])r->regions,
                                  r->n_regions, wr, c->err, c->errlen) < 0) {
        goto fail;
    } else if (c->region || (asked_quorum && asked_quorum != w.rule.quorum)) {
        /* One region: its rounds were counted with every scope's (quorum 1,
         * the stored runs); only a region without rows here, or another
         * quorum, walks the runs. */
        int k = c->region ? rounds_region(r, c->region) : r->n_regions;
        if (k < r->n_regions)
            w = wr[k];
        else if (tracked_rounds(c->store, m->name, c->region, asked_quorum, c->since_us, c->until_us, &w, c->err,
                                c->errlen) < 0)
            goto fail;
    }
    ca->quorum = w.quorum;
    ca->round_us = w.rule.interval_us;
    ca->interval_us = m->interval_ms * 1000;
    ca->rounds = w.up + w.down;
    struct pk_avail av;
    struct pk_round_opts o = {.interval_us = r->round_us, .origin_us = c->since_us, .quorum = 1,
                              .degraded_policy = PK_DEGRADED_UP};
    if (pk_avail_buckets_quorum(r->b, r->n, -1, c->since_us, c->until_us, &o, &av, c->err, c->errlen) < 0)
        goto fail;
    tracked_uptime(&w, &av);
    if (!(ca->global = avail_figure(c, &av, "")))
        goto oom;
    NEW_MSGS(c->a, Picket__V1__AvailabilityFigure, picket__v1__availability_figure__init, (size_t)r->n_regions,
             ca->regions);
    ca->n_regions = (size_t)r->n_regions;
    for (int k = 0; k < r->n_regions; k++) {
        if (pk_avail_buckets_quorum(r->b, r->n, k, c->since_us, c->until_us, &o, &av, c->err, c->errlen) < 0)
            goto fail;
        tracked_uptime(&wr[k], &av);
        if (!(ca->regions[k] = avail_figure(c, &av, r->regions[k])))
            goto oom;
    }
    rounds_free(&outside);
    free(iv);
    return ca;
oom:
    snprintf(c->err, c->errlen, "out of memory");
fail:
    rounds_free(&outside);
    free(iv);
    return NULL;
}

/* ---------------------------------------------------------------- latency */

static const double default_quantiles[3] = {0.5, 0.95, 0.99};

static Picket__V1__LatencyFigure *latency_figure(struct ctx *c, const struct rounds *r, int region,
                                                 const double *q, size_t nq)
{
    struct pk_hist *h = malloc(sizeof *h);
    Picket__V1__LatencyFigure *f = ralloc(c->a, sizeof *f);
    double *qs = ralloc(c->a, (nq ? nq : 1) * sizeof *qs);
    if (!h || !f || !qs) {
        free(h);
        return NULL;
    }
    picket__v1__latency_figure__init(f);
    pk_an_latency(r->b, r->n, region, c->since_us, c->until_us, h);
    f->region = rstrdup(c->a, region >= 0 ? r->regions[region] : "");
    f->count = (int64_t)h->count;
    for (size_t i = 0; i < nq; i++)
        qs[i] = pk_hist_quantile(h, q[i]);
    f->n_quantiles_us = nq;
    f->quantiles_us = qs;
    f->mean_us = h->count ? pk_hist_mean(h) : NAN;
    free(h);
    return f->region ? f : NULL;
}

static Picket__V1__CheckLatency *latency_of(struct ctx *c, const struct store_check_meta *m, const struct rounds *r,
                                            const double *q, size_t nq)
{
    Picket__V1__CheckLatency *cl = ralloc(c->a, sizeof *cl);
    struct pk_hist *h = malloc(sizeof *h);
    if (!cl || !h)
        goto oom;
    picket__v1__check_latency__init(cl);
    cl->check_name = rstrdup(c->a, m->name);
    cl->service = rstrdup(c->a, m->service);
    if (!(cl->all = latency_figure(c, r, -1, q, nq)))
        goto oom;
    NEW_MSGS(c->a, Picket__V1__LatencyFigure, picket__v1__latency_figure__init, (size_t)r->n_regions, cl->regions);
    cl->n_regions = (size_t)r->n_regions;
    for (int k = 0; k < r->n_regions; k++)
        if (!(cl->regions[k] = latency_figure(c, r, k, q, nq)))
            goto oom;
    cl->budget_p50_us = m->meta.budget_p50_ms * 1000;
    cl->budget_p95_us = m->meta.budget_p95_ms * 1000;
    cl->budget_p99_us = m->meta.budget_p99_ms * 1000;
    struct pk_budget b = {(double)cl->budget_p50_us, (double)cl->budget_p95_us, (double)cl->budget_p99_us};
    double q3[3];
    pk_an_latency(r->b, r->n, -1, c->since_us, c->until_us, h);
    cl->breaches = pk_budget_breaches(&b, h, q3);
    cl->p50_us = q3[0];
    cl->p95_us = q3[1];
    cl->p99_us = q3[2];
    free(h);
    return cl;
oom:
    free(h);
    snprintf(c->err, c->errlen, "out of memory");
    return NULL;
}

/* -------------------------------------------------------------- incidents */

struct opts_incidents {
    int open_after, close_after, quorum;
};

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int incident_msgs(struct ctx *c, const struct pk_incident *inc, size_t n, char (*regions)[128],
                         int n_regions, const char *check, Picket__V1__Incident ***out)
{
    NEW_MSGS(c->a, Picket__V1__Incident, picket__v1__incident__init, n, *out);
    for (size_t i = 0; i < n; i++) {
        Picket__V1__Incident *m = (*out)[i];
        m->start_us = inc[i].start_us;
        m->end_us = inc[i].end_us;
        m->duration_us = inc[i].duration_us;
        m->down_rounds = inc[i].down_rounds;
        m->check_name = rstrdup(c->a, check);
        int nr = __builtin_popcountll(inc[i].regions), k = 0;
        m->regions = ralloc(c->a, (size_t)(nr ? nr : 1) * sizeof *m->regions);
        if (!m->check_name || !m->regions)
            goto oom;
        for (int r = 0; r < n_regions && r < PK_AN_MAX_REGIONS; r++)
            if (inc[i].regions & (UINT64_C(1) << r))
                if (!(m->regions[k++] = rstrdup(c->a, regions[r])))
                    goto oom;
        qsort(m->regions, (size_t)k, sizeof *m->regions, by_str);
        m->n_regions = (size_t)k;
    }
    return 0;
oom:
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
}

static Picket__V1__IncidentStats *stats_msg(struct ctx *c, const struct pk_incident_stats *st)
{
    Picket__V1__IncidentStats *s = ralloc(c->a, sizeof *s);
    if (!s)
        return NULL;
    picket__v1__incident_stats__init(s);
    s->count = (int64_t)st->count;
    s->closed = (int64_t)st->closed;
    s->downtime_us = st->downtime_us;
    s->observed_us = st->observed_us;
    s->mttr_s = st->mttr_s;
    s->mtbf_s = st->mtbf_s;
    return s;
}

/* The check's stored incidents (global, or the one region asked for) that
 * overlap the window (rpc_incidents.h); *raw (malloc'd, caller frees) keeps
 * them for the service merge, with regions as indexes into names. */
static Picket__V1__CheckIncidents *incidents_of(struct ctx *c, const struct store_check_meta *m,
                                                const struct opts_incidents *oi, char (*names)[128], int *n_names,
                                                struct pk_incident **raw, size_t *n_raw, int64_t *observed_us)
{
    Picket__V1__CheckIncidents *ci = ralloc(c->a, sizeof *ci);
    *raw = NULL;
    *n_raw = 0;
    if (!ci) {
        snprintf(c->err, c->errlen, "out of memory");
        return NULL;
    }
    picket__v1__check_incidents__init(ci);
    ci->check_name = rstrdup(c->a, m->name);
    ci->service = rstrdup(c->a, m->service);
    struct tracked_window w;
    if (tracked_incidents(c->store, m->name, c->region, oi->quorum, oi->open_after, oi->close_after, c->since_us,
                          c->until_us, raw, n_raw, names, n_names, &w, c->err, c->errlen) < 0)
        return NULL;
    ci->open_after = w.open_after;
    ci->close_after = w.close_after;
    ci->quorum = w.quorum;
    ci->round_us = w.rule.interval_us;
    ci->interval_us = m->interval_ms * 1000;
    ci->rounds = w.up + w.down;
    int64_t observed = ci->rounds * w.rule.interval_us;
    *observed_us = observed;
    struct pk_incident_stats st;
    struct pk_incident *clipped = malloc((*n_raw ? *n_raw : 1) * sizeof *clipped);
    if (!clipped) {
        snprintf(c->err, c->errlen, "out of memory");
        return NULL;
    }
    tracked_clip(&w, *raw, *n_raw, clipped);
    pk_incident_stats(clipped, *n_raw, observed, &st);
    free(clipped);
    if (incident_msgs(c, *raw, *n_raw, names, *n_names, m->name, &ci->incidents) < 0)
        return NULL;
    ci->n_incidents = *n_raw;
    if (rpc_mark_maintenance(c->a, c->maint, c->n_maint, m, ci, *raw, *n_raw) < 0 ||
        !(ci->stats = stats_msg(c, &st))) {
        snprintf(c->err, c->errlen, "out of memory");
        return NULL;
    }
    return ci;
}

/* ------------------------------------------------------------------ calls */

/* The tracker's rules, counts (of scope only; NULL: every scope), incidents of
 * every check up front (3 statements). */
static int prefetch_tracked(struct ctx *c, int64_t inc_since, int64_t inc_until, const char *scope)
{
    if (c->n_checks < 2)
        return 0;
    const char **names = ralloc(c->a, c->n_checks * sizeof *names);
    if (!names)
        return pk_fail(c->err, c->errlen, "out of memory");
    for (size_t i = 0; i < c->n_checks; i++)
        names[i] = c->checks[i]->name;
    return store_tracked_prefetch_scope(c->store, names, c->n_checks, c->since_us, c->until_us,
                                        inc_since < c->since_us ? inc_since : c->since_us,
                                        inc_until > c->until_us ? inc_until : c->until_us, scope, c->err, c->errlen);
}

static int run_availability(struct ctx *c, const Picket__V1__AvailabilityRequest *req, ProtobufCMessage **out)
{
    if (check_quorum(c, req->quorum) < 0)
        return -1;
    Picket__V1__AvailabilityResponse *resp = ralloc(c->a, sizeof *resp);
    if (!resp)
        goto oom;
    picket__v1__availability_response__init(resp);
    resp->since_us = c->since_us;
    resp->until_us = c->until_us;
    resp->checks = ralloc(c->a, (c->n_checks ? c->n_checks : 1) * sizeof *resp->checks);
    if (!resp->checks)
        goto oom;
    struct coarse_rows cr; /* every check's window at once, from the coarsest levels; counts only */
    if (prefetch_tracked(c, c->since_us, c->until_us, NULL) < 0 ||
        coarse_load(c->store, c->since_us, c->until_us, c->region, c->n_checks == 1 ? c->checks[0]->name : NULL,
                    1, &cr, c->err, c->errlen) < 0)
        return -1;
    for (size_t i = 0; i < c->n_checks; i++) {
        struct rounds r;
        resp->checks[i] =
            rounds_whole(c, c->checks[i], &cr, &r) == 0 ? availability_of(c, c->checks[i], &r, req->quorum) : NULL;
        rounds_free(&r);
        if (!resp->checks[i]) {
            coarse_free(&cr);
            return -1;
        }
        resp->n_checks++;
    }
    coarse_free(&cr);
    *out = &resp->base;
    return 0;
oom:
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
}

static int run_latency(struct ctx *c, const Picket__V1__LatencyRequest *req, ProtobufCMessage **out)
{
    const double *q = req->n_quantiles ? req->quantiles : default_quantiles;
    size_t nq = req->n_quantiles ? req->n_quantiles : 3;
    if (nq > MAX_QUANTILES)
        return rq_fail_invalid(c, "at most %d quantiles, got %zu", MAX_QUANTILES, nq);
    for (size_t i = 0; i < nq; i++)
        if (!(q[i] >= 0 && q[i] <= 1))
            return rq_fail_invalid(c, "quantile %g is not between 0 and 1", q[i]);
    Picket__V1__LatencyResponse *resp = ralloc(c->a, sizeof *resp);
    double *qs = ralloc(c->a, nq * sizeof *qs);
    if (!resp || !qs)
        goto oom;
    picket__v1__latency_response__init(resp);
    memcpy(qs, q, nq * sizeof *qs);
    resp->since_us = c->since_us;
    resp->until_us = c->until_us;
    resp->quantiles = qs;
    resp->n_quantiles = nq;
    resp->checks = ralloc(c->a, (c->n_checks ? c->n_checks : 1) * sizeof *resp->checks);
    if (!resp->checks)
        goto oom;
    struct coarse_rows cr; /* every check's window at once, from the coarsest levels */
    if (coarse_load(c->store, c->since_us, c->until_us, c->region, c->n_checks == 1 ? c->checks[0]->name : NULL, 0,
                    &cr, c->err, c->errlen) < 0)
        return -1;
    for (size_t i = 0; i < c->n_checks; i++) {
        struct rounds r;
        resp->checks[i] = rounds_whole(c, c->checks[i], &cr, &r) == 0 ? latency_of(c, c->checks[i], &r, qs, nq) : NULL;
        rounds_free(&r);
        if (!resp->checks[i])
            break;
        resp->n_checks++;
    }
    coarse_free(&cr);
    if (resp->n_checks < c->n_checks)
        return -1;
    *out = &resp->base;
    return 0;
oom:
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
}

static int run_trend(struct ctx *c, ProtobufCMessage **out)
{
    Picket__V1__TrendResponse *resp = ralloc(c->a, sizeof *resp);
    if (!resp)
        goto oom;
    picket__v1__trend_response__init(resp);
    resp->since_us = c->since_us;
    resp->until_us = c->until_us;
    resp->checks = ralloc(c->a, (c->n_checks ? c->n_checks : 1) * sizeof *resp->checks);
    if (!resp->checks)
        goto oom;
    if (c->n_checks > 1) { /* every check at once, as the report reads them (rpc_report_batch.c) */
        struct report_window win;
        if (report_window_load(c->store, c->since_us, c->until_us, c->region, NULL, 1, &win, c->err, c->errlen) < 0)
            return -1;
        int rc = rpc_report_batch_window(c->store, c->a, c->checks, c->n_checks, c->since_us, c->until_us,
                                         c->region, &win, resp->checks, NULL, c->err, c->errlen);
        report_window_free(&win);
        if (rc < 0)
            return -1;
        resp->n_checks = c->n_checks;
    } else if (c->n_checks == 1) {
        if (!(resp->checks[0] = rpc_trend_of(c->store, c->a, c->checks[0], c->since_us, c->until_us, c->region,
                                             c->err, c->errlen))) /* Theil–Sen over its points (rpc_trend.c) */
            return -1;
        resp->n_checks = 1;
    }
    *out = &resp->base;
    return 0;
oom:
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
}

static int incident_opts(struct ctx *c, int32_t open_after, int32_t close_after, int32_t quorum,
                         struct opts_incidents *o)
{
    o->open_after = open_after; /* 0: the rule the incidents were stored with */
    o->close_after = close_after;
    o->quorum = quorum;
    if (o->open_after < 0 || o->open_after > 10000 || o->close_after < 0 || o->close_after > 10000)
        return rq_fail_invalid(c, "open_after and close_after must be 1..10000 rounds, got %d and %d", o->open_after,
                            o->close_after);
    return check_quorum(c, quorum);
}

static int run_incidents(struct ctx *c, const Picket__V1__IncidentsRequest *req, ProtobufCMessage **out)
{
    struct opts_incidents oi;
    int rc = -1;
    struct pk_incident **raw = NULL;
    size_t *n_raw = NULL;
    int64_t *observed = NULL;
    struct pk_incident *merged = NULL;
    if (incident_opts(c, req->open_after, req->close_after, req->quorum, &oi) < 0)
        return -1;
    Picket__V1__IncidentsResponse *resp = ralloc(c->a, sizeof *resp);
    /* raw, n_raw: the answer's checks, then the checks they depend on that it
     * does not hold (below); at most every known check. */
    size_t n_all = c->n_checks, cap_all = c->n_checks + c->n_meta + 1;
    const struct store_check_meta **all = ralloc(c->a, cap_all * sizeof *all);
    Picket__V1__CheckIncidents **all_ci = ralloc(c->a, cap_all * sizeof *all_ci);
    raw = calloc(cap_all, sizeof *raw);
    n_raw = calloc(cap_all, sizeof *n_raw);
    observed = calloc(c->n_checks + 1, sizeof *observed);
    if (!resp || !raw || !n_raw || !observed || !all || !all_ci)
        goto oom;
    picket__v1__incidents_response__init(resp);
    resp->since_us = c->since_us;
    resp->until_us = c->until_us;
    resp->checks = ralloc(c->a, (c->n_checks ? c->n_checks : 1) * sizeof *resp->checks);
    resp->services = ralloc(c->a, (c->n_checks ? c->n_checks : 1) * sizeof *resp->services);
    if (!resp->checks || !resp->services)
        goto oom;
    /* Region names of the service incidents: the union of the checks' lists. */
    char(*names)[128] = ralloc(c->a, PK_AN_MAX_REGIONS * 128);
    int n_names = 0;
    if (!names)
        goto oom;
    /* the incidents' rounds are of one scope: the regions' runs are not counted */
    if (prefetch_tracked(c, c->since_us, c->until_us, c->region ? c->region : "*") < 0)
        goto out;
    for (size_t i = 0; i < c->n_checks; i++) {
        resp->checks[i] = incidents_of(c, c->checks[i], &oi, names, &n_names, &raw[i], &n_raw[i], &observed[i]);
        if (!resp->checks[i])
            goto out;
        resp->n_checks++;
    }
    /* A cause is the same whatever the answer holds: the checks its checks
     * depend on (following depends_on, names and services) are read too when
     * it does not hold them (picketctl incidents --check, a check's page),
     * for the causes only. */
    for (size_t i = 0; i < c->n_checks; i++) {
        all[i] = c->checks[i];
        all_ci[i] = resp->checks[i];
    }
    char(*dep_names)[128] = ralloc(c->a, PK_AN_MAX_REGIONS * 128);
    int n_dep_names = 0;
    if (!dep_names)
        goto oom;
    n_all = incident_deps_closure(c->meta, c->n_meta, all, c->n_checks, cap_all);
    for (size_t i = c->n_checks; i < n_all; i++) {
        int64_t obs;
        if (!(all_ci[i] = incidents_of(c, all[i], &oi, dep_names, &n_dep_names, &raw[i], &n_raw[i], &obs)))
            goto out;
    }
    if (rpc_mark_causes(c->a, all, n_all, all_ci, raw, n_raw) < 0)
        goto oom;
    /* Services: the merged incidents of their checks (docs/ANALYTICS.md). */
    for (size_t i = 0; i < c->n_checks; i++) {
        const char *svc = c->checks[i]->service;
        if (!svc[0])
            continue;
        size_t first = 0;
        while (first < i && strcmp(c->checks[first]->service, svc) != 0)
            first++;
        if (first < i)
            continue; /* done with its first check */
        const struct pk_incident *lists[256];
        size_t counts[256], nl = 0;
        int64_t obs = 0;
        for (size_t j = i; j < c->n_checks && nl < 256; j++)
            if (strcmp(c->checks[j]->service, svc) == 0) {
                lists[nl] = raw[j];
                counts[nl++] = n_raw[j];
                if (observed[j] > obs)
                    obs = observed[j];
            }
        size_t nm = 0;
        free(merged);
        merged = NULL;
        if (pk_incidents_merge(lists, counts, nl, &merged, &nm) < 0)
            goto oom;
        Picket__V1__ServiceIncidents *si = ralloc(c->a, sizeof *si);
        if (!si)
            goto oom;
        picket__v1__service_incidents__init(si);
        si->service = rstrdup(c->a, svc);
        if (incident_msgs(c, merged, nm, names, n_names, "", &si->incidents) < 0)
            goto out;
        si->n_incidents = nm;
        struct pk_incident_stats st;
        pk_incident_stats(merged, nm, obs, &st);
        if (!(si->stats = stats_msg(c, &st)) || !si->service)
            goto oom;
        resp->services[resp->n_services++] = si;
    }
    *out = &resp->base;
    rc = 0;
    goto out;
oom:
    snprintf(c->err, c->errlen, "out of memory");
out:
    for (size_t i = 0; raw && i < n_all; i++)
        free(raw[i]);
    free(raw);
    free(n_raw);
    free(observed);
    free(merged);
    return rc;
}

static int run_slo(struct ctx *c, const Picket__V1__SloRequest *req, ProtobufCMessage **out)
{
    const char *only = opt_str(req->group);
    Picket__V1__SloResponse *resp = ralloc(c->a, sizeof *resp);
    if (!resp)
        goto oom;
    picket__v1__slo_response__init(resp);
    resp->until_us = c->until_us;
    resp->checks = ralloc(c->a, (c->n_checks ? c->n_checks : 1) * sizeof *resp->checks);
    if (!resp->checks)
        goto oom;
    if (rq_group_slos(c, only, &resp->groups, &resp->n_groups) < 0)
        return -1;
    for (size_t i = 0; !only && i < c->n_checks; i++) {
        Picket__V1__CheckSlo *s = rq_slo_of(c, c->checks[i]);
        if (!s && c->err[0])
            return -1;
        if (s)
            resp->checks[resp->n_checks++] = s;
    }
    *out = &resp->base;
    return 0;
oom:
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
}

static int by_service_then_name(const void *a, const void *b)
{
    const struct store_check_meta *x = *(const struct store_check_meta *const *)a;
    const struct store_check_meta *y = *(const struct store_check_meta *const *)b;
    int d = strcmp(x->service, y->service);
    return d ? d : strcmp(x->name, y->name);
}

static int run_report(struct ctx *c, ProtobufCMessage **out)
{
    int rc = -1;
    struct store_status_row *status = NULL;
    size_t n_status = 0;
    struct report_window win = {0}; /* latency and the trends' edges: every check's window at once */
    struct status_index six = {0}; /* the last results by check name */
    struct store_rollup_filter bf; /* the span the baselines leave incidents out of */
    rpc_baseline_filter(c->until_us, c->region, &bf);
    /* the last results (one check's page reads its own only) */
    if (prefetch_tracked(c, bf.since_us, bf.until_us, NULL) < 0 ||
        store_last_results(c->store, c->n_checks == 1 ? c->checks[0]->name : NULL, &status, &n_status, c->err,
                           c->errlen) < 0 ||
        report_window_load(c->store, c->since_us, c->until_us, c->region,
                           c->n_checks == 1 ? c->checks[0]->name : NULL, c->n_checks > 1, &win, c->err,
                           c->errlen) < 0)
        goto out;
    qsort(c->checks, c->n_checks, sizeof *c->checks, by_service_then_name);
    if (status_index_build(&six, status, n_status) < 0)
        goto oom;
    Picket__V1__ReportResponse *resp = ralloc(c->a, sizeof *resp);
    if (!resp)
        goto oom;
    picket__v1__report_response__init(resp);
    resp->since_us = c->since_us;
    resp->until_us = c->until_us;
    resp->now_us = c->now_us;
    NEW_MSGS(c->a, Picket__V1__ReportCheck, picket__v1__report_check__init, c->n_checks, resp->checks);
    /* trend and baseline of every check from a few rollup reads (rpc_report_batch.c) */
    Picket__V1__CheckTrend **trends = ralloc(c->a, (c->n_checks ? c->n_checks : 1) * sizeof *trends);
    Picket__V1__BaselineState **baselines = ralloc(c->a, (c->n_checks ? c->n_checks : 1) * sizeof *baselines);
    if (!trends || !baselines)
        goto oom;
    if (rpc_report_batch_window(c->store, c->a, c->checks, c->n_checks, c->since_us, c->until_us, c->region, &win,
                                trends, baselines, c->err, c->errlen) < 0)
        goto out;
    struct opts_incidents oi = {0, 0, 0}; /* the stored rule */
    char(*names)[128] = ralloc(c->a, PK_AN_MAX_REGIONS * 128);
    int n_names = 0;
    if (!names)
        goto oom;
    for (size_t i = 0; i < c->n_checks; i++) {
        const struct store_check_meta *m = c->checks[i];
        Picket__V1__ReportCheck *rc_ = resp->checks[i];
        rc_->check_name = rstrdup(c->a, m->name);
        rc_->service = rstrdup(c->a, m->service);
        rc_->check_type = rstrdup(c->a, m->type);
        rc_->last_message = (char *)"";
        size_t k0, k1; /* this check's rows, in their order */
        status_index_find(&six, m->name, &k0, &k1);
        for (size_t j = k0; j < k1; j++)
            if (status[six.ord[j]].last_started_at_us) {
                const struct store_status_row *st = &status[six.ord[j]];
                rc_->last_started_at_us = st->last_started_at_us;
                rc_->last_outcome = (Picket__V1__Outcome)st->last_outcome;
                rc_->last_message = rstrdup(c->a, st->last_message);
            }
        for (size_t r = k0; r < k1; r++)
            if (status[six.ord[r]].n_last_metrics > 0) {
                size_t k = six.ord[r], nm = (size_t)status[k].n_last_metrics;
                NEW_MSGS(c->a, Picket__V1__Metric, picket__v1__metric__init, nm, rc_->last_metrics);
                rc_->n_last_metrics = nm;
                for (size_t j = 0; j < nm; j++) {
                    if (!(rc_->last_metrics[j]->name = rstrdup(c->a, status[k].last_metrics[j].name)))
                        goto oom;
                    rc_->last_metrics[j]->value = status[k].last_metrics[j].value;
                }
            }
        if (!rc_->check_name || !rc_->service || !rc_->check_type || !rc_->last_message)
            goto oom;
        struct pk_incident *raw = NULL;
        size_t n_raw = 0;
        int64_t observed = 0;
        struct rounds whole = {0};
        if (rounds_whole(c, m, &win.cr, &whole) == 0 && (rc_->availability = availability_of(c, m, &whole, 0)))
            rc_->latency = latency_of(c, m, &whole, default_quantiles, 3);
        rounds_free(&whole);
        Picket__V1__CheckIncidents *ci =
            rc_->latency ? incidents_of(c, m, &oi, names, &n_names, &raw, &n_raw, &observed) : NULL;
        if (!ci) {
            free(raw);
            goto out;
        }
        rc_->incidents = (int32_t)n_raw;
        for (size_t k = 0; k < n_raw; k++)
            rc_->open_incidents += raw[k].end_us < 0;
        free(raw);
        rc_->trend = trends[i];
        rc_->baseline = baselines[i];
        /* Metric baselines read raw results: only for one check that extracts metrics. */
        if (c->check_named && rc_->n_last_metrics > 0 &&
            !(rc_->baseline = rpc_baseline_state(c->store, c->a, m, c->region, c->until_us, 1, c->err, c->errlen)))
            goto out;
        rc_->slo = rq_slo_of(c, m);
        if (!rc_->slo && c->err[0])
            goto out;
    }
    resp->n_checks = c->n_checks;
    if (rq_group_slos(c, NULL, &resp->groups, &resp->n_groups) < 0)
        goto out;
    *out = &resp->base;
    rc = 0;
    goto out;
oom:
    snprintf(c->err, c->errlen, "out of memory");
out:
    free(status);
    status_index_free(&six);
    report_window_free(&win);
    return rc;
}

/* Every request message starts with its QueryWindow as field 1. */
static const Picket__V1__QueryWindow *window_of(enum rpc_query_kind kind, const ProtobufCMessage *req)
{
    switch (kind) {
    case RQ_AVAILABILITY:
        return ((const Picket__V1__AvailabilityRequest *)req)->window;
    case RQ_LATENCY:
        return ((const Picket__V1__LatencyRequest *)req)->window;
    case RQ_TREND:
        return ((const Picket__V1__TrendRequest *)req)->window;
    case RQ_INCIDENTS:
        return ((const Picket__V1__IncidentsRequest *)req)->window;
    case RQ_SLO:
        return ((const Picket__V1__SloRequest *)req)->window;
    case RQ_REPORT:
        return ((const Picket__V1__ReportRequest *)req)->window;
    case RQ_REGRESSIONS:
        return ((const Picket__V1__RegressionsRequest *)req)->window;
    case RQ_SLO_BACKTEST:
        return ((const Picket__V1__SloBacktestRequest *)req)->window;
    }
    return NULL;
}

int rpc_query_run(struct store *s, enum rpc_query_kind kind, const ProtobufCMessage *req, int64_t now_us,
                  ProtobufCMessage **resp, struct rpc_query_arena **arena, char *err, size_t errlen)
{
    *resp = NULL;
    *arena = calloc(1, sizeof **arena);
    if (!*arena) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct ctx c = {.store = s, .a = *arena, .now_us = now_us, .err = err, .errlen = errlen};
    err[0] = '\0';
    int rc = ctx_open(&c, window_of(kind, req), kind == RQ_SLO);
    if (rc == 0) {
        switch (kind) {
        case RQ_AVAILABILITY:
            rc = run_availability(&c, (const Picket__V1__AvailabilityRequest *)req, resp);
            break;
        case RQ_LATENCY:
            rc = run_latency(&c, (const Picket__V1__LatencyRequest *)req, resp);
            break;
        case RQ_TREND:
            rc = run_trend(&c, resp);
            break;
        case RQ_INCIDENTS:
            rc = run_incidents(&c, (const Picket__V1__IncidentsRequest *)req, resp);
            break;
        case RQ_SLO:
            rc = run_slo(&c, (const Picket__V1__SloRequest *)req, resp);
            break;
        case RQ_REPORT:
            rc = run_report(&c, resp);
            break;
        case RQ_REGRESSIONS:
        case RQ_SLO_BACKTEST: {
            struct rpc_query_scope scope = {c.store, c.a, c.now_us, c.since_us, c.until_us, c.region, c.checks,
                                            c.n_checks};
            rc = rpc_backtest_run(&scope, kind, req, resp, err, errlen, &c.invalid);
            break;
        }
        }
    }
    store_tracked_prefetch_end(s);
    free(c.meta);
    free(c.maint);
    if (rc < 0)
        return c.invalid == 2 ? -3 : c.invalid ? -2 : -1;
    return 0;
}
