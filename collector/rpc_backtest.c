/* rpc_backtest.c: Regressions and SloBacktest, the back-tests of the alert rules
 * (docs/ANALYTICS.md, "Back-testing"). Replays a stored period hour by hour (the
 * baseline rule, on latency or on a metric the checks extract, through
 * collector/regression_rule.c as the alert thread) or minute by minute (SLO burn
 * rates), calling at each step the very function the alert thread calls with the
 * history it would have had, and lists every raise and clear. Regressions
 * answers in parts bounded by time (checks_after, part_ms) and judges two checks
 * at once, the second on the store's side connection. Reads rollups (and raw
 * results for a metric); never includes gRPC; every answer lives in the
 * caller's arena; scratch memory is freed before return. */
#include "rpc_backtest.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "buf.h"
#include "picket/v1/picket.pb-c.h"
#include "pk_error.h"
#include "read_beside.h"
#include "regression_rule.h"
#include "result.h"
#include "rollup.h"

#define HOUR_US ROLLUP_HOUR_US
#define MINUTE_US ROLLUP_MINUTE_US
/* The baseline rule's windows (collector/regression_rule.h). */
#define HISTORY_US REGRESSION_HISTORY_US
#define RECENT_US REGRESSION_RECENT_US
/* Minutes read per rollup query (a row holds a whole histogram). */
#define SLO_CHUNK_US (INT64_C(24) * HOUR_US)

/* A growing list of alarms, copied into the arena at the end. */
struct alarm {
    const struct store_check_meta *m;
    int rule; /* index of the SLO rule; for regressions 1 when the fast half raised it */
    int64_t fired, since, cleared;
    double a, b, c; /* regressions: score, p95, expected; SLO: burn long, burn short */
    size_t k;       /* regressions: the check's index in the scope (the order of the answer) */
};
struct alarms {
    struct alarm *v;
    size_t n, cap;
};

static struct alarm *alarm_add(struct alarms *l)
{
    struct alarm *v = pk_grow(l->v, &l->cap, l->n + 1, sizeof *v, 0);
    if (!v)
        return NULL;
    l->v = v;
    memset(&v[l->n], 0, sizeof v[l->n]);
    return &v[l->n++];
}

/* s in the arena; NULL when out of memory. */
static char *astrdup(const struct rpc_query_scope *sc, const char *s)
{
    size_t n = strlen(s);
    char *p = rpc_query_alloc(sc->a, n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

/* ------------------------------------------------------------ regressions */

/* One check: every alarm of the rule over (since, until] (regression_replay, the
 * functions the alert thread calls). Returns 1 when the check was still learning
 * at the last step. */
static int regressions_of(struct store *st, const struct rpc_query_scope *s, const struct store_check_meta *m,
                          const char *metric, int fast, const struct pk_regression_opts *ro, struct alarms *out,
                          char *err, size_t errlen)
{
    struct regression_alarms got = {0};
    int learning = 0;
    if (regression_replay(st, m->name, s->region, metric, fast, ro, s->since_us, s->until_us, &got, &learning, err,
                          errlen) < 0) {
        free(got.v);
        return -1;
    }
    for (size_t i = 0; i < got.n; i++) {
        struct alarm *a = alarm_add(out);
        if (!a) {
            free(got.v);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        const struct regression_alarm *g = &got.v[i];
        *a = (struct alarm){m, g->fast, g->fired, g->since, g->cleared, g->score, g->value, g->expected};
    }
    free(got.v);
    return learning;
}

/* A part's checks, shared by two judges (the second on the store's side
 * connection, on a thread beside the caller: read_beside.h): each takes the
 * next check nobody has taken until the part's time has passed, so that
 * neither waits for the other's slower check (judged two at a time, one pair
 * after the other, the two cores were busy about half the time). The checks
 * taken are always a run [first, next) of the sorted list, each judged whole. */
struct judge_queue {
    const struct rpc_query_scope *s;
    const char *metric;
    int fast;
    int64_t t0, part_us;
    size_t first, end;
    atomic_size_t next; /* the next check to take; beyond first: the part has begun */
    atomic_int failed;
};

/* One judge: its options (with a memo of its own), alarms (the check's index
 * in k, in the order judged) and counts. */
struct judge {
    struct judge_queue *q;
    const struct pk_regression_opts *ro;
    struct alarms out;
    size_t judged;
    int learning;
};

static int judge_run(struct store *st, void *arg, char *err, size_t errlen)
{
    struct judge *j = arg;
    struct judge_queue *q = j->q;
    while (!atomic_load(&q->failed)) {
        if (q->part_us && atomic_load(&q->next) > q->first && pk_mono_us() - q->t0 >= q->part_us)
            break;
        size_t i = atomic_fetch_add(&q->next, 1);
        if (i >= q->end)
            break;
        size_t first_alarm = j->out.n;
        int got = regressions_of(st, q->s, q->s->checks[i], q->metric, q->fast, j->ro, &j->out, err, errlen);
        if (got < 0) {
            atomic_store(&q->failed, 1);
            return -1;
        }
        for (size_t k = first_alarm; k < j->out.n; k++)
            j->out.v[k].k = i;
        j->learning += got;
        j->judged++;
    }
    return 0;
}

/* The two judges' alarms into dst, in the order of their checks (each judge's
 * are already in it), as one judge alone would have listed them; frees them. */
static int alarms_merge(struct alarms *dst, struct alarms src[2])
{
    int rc = 0;
    for (size_t a = 0, b = 0; rc == 0 && (a < src[0].n || b < src[1].n);) {
        int first = b == src[1].n || (a < src[0].n && src[0].v[a].k <= src[1].v[b].k);
        struct alarm *d = alarm_add(dst);
        if (d)
            *d = first ? src[0].v[a++] : src[1].v[b++];
        else
            rc = -1;
    }
    free(src[0].v);
    free(src[1].v);
    return rc;
}

/* The part's checks: those after `after` (sorted by name, byte order), by two
 * judges (struct judge_queue; each check's replay is its own reads and
 * learnings: a back-test is CPU-bound, and two cores halve it), until part_us
 * have passed (0: all). ro[0], ro[1]: the two judges' options. *left: the
 * checks not judged; *last: the last judged. */
struct part {
    size_t judged, left;
    int learning;
    const char *last;
};
static int judge_part(const struct rpc_query_scope *s, const char *after, int64_t part_us, const char *metric,
                      int fast, const struct pk_regression_opts ro[2], struct alarms *l, struct part *p, char *err,
                      size_t errlen)
{
    size_t i = 0;
    while (i < s->n_checks && after && strcmp(s->checks[i]->name, after) <= 0)
        i++;
    struct judge_queue q = {.s = s, .metric = metric, .fast = fast, .t0 = pk_mono_us(), .part_us = part_us,
                            .first = i, .end = s->n_checks};
    atomic_init(&q.next, i);
    atomic_init(&q.failed, 0);
    struct judge j[2] = {{&q, &ro[0], {0}, 0, 0}, {&q, &ro[1], {0}, 0, 0}};
    struct read_beside rb;
    read_beside_start(&rb, s->store, judge_run, &j[1]);
    int rc = judge_run(s->store, &j[0], err, errlen);
    rc = read_beside_finish(&rb, s->store, rc, err, errlen);
    struct alarms got[2] = {j[0].out, j[1].out};
    if (alarms_merge(l, got) < 0 && rc == 0)
        rc = pk_fail(err, errlen, "out of memory");
    if (rc < 0)
        return -1;
    size_t done = j[0].judged + j[1].judged;
    p->judged += done;
    p->learning += j[0].learning + j[1].learning;
    if (done > 0)
        p->last = s->checks[i + done - 1]->name;
    p->left = s->n_checks - (i + done);
    return 0;
}

/* The request's metric (NULL: latency), direction and its name; -1 with err
 * when the request is not valid. */
static int regressions_request(const Picket__V1__RegressionsRequest *req, const char **metric, const char **dir_name,
                               int *dir, char *err, size_t errlen)
{
    if (req->threshold < 0 || req->consecutive < 0 || req->consecutive > 168) {
        snprintf(err, errlen, "threshold must be > 0 and consecutive in 1..168 (0: the defaults)");
        return -1;
    }
    *metric = req->metric && req->metric[0] ? req->metric : NULL;
    if (*metric && strlen(*metric) >= sizeof ((struct store_metric_point *)0)->metric) {
        snprintf(err, errlen, "metric name '%.64s...' is longer than 63 characters", *metric);
        return -1;
    }
    *dir_name = req->direction && req->direction[0] ? req->direction : "down";
    *dir = !strcmp(*dir_name, "down") ? PK_DIR_DOWN : !strcmp(*dir_name, "up") ? PK_DIR_UP
           : !strcmp(*dir_name, "both") ? PK_DIR_BOTH : 0;
    if (!*dir || (!*metric && req->direction && req->direction[0])) {
        snprintf(err, errlen, *dir ? "direction is for a metric (latency regresses upward)"
                                   : "direction must be down, up or both, got '%.32s'", *dir_name);
        return -1;
    }
    return 0;
}

/* The alarms as the answer's items (ptrs[i] = &items[i]), strings in the arena. */
static int alarms_out(const struct rpc_query_scope *s, const struct alarms *l, int metric,
                      Picket__V1__RegressionAlarm *items, Picket__V1__RegressionAlarm **ptrs, char *err, size_t errlen)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct alarm *a = &l->v[i];
        picket__v1__regression_alarm__init(&items[i]);
        if (!(items[i].check_name = astrdup(s, a->m->name)) || !(items[i].service = astrdup(s, a->m->service))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        items[i].fired_at_us = a->fired;
        items[i].since_us = a->since;
        items[i].cleared_at_us = a->cleared;
        items[i].score = a->a;
        items[i].value = a->b;
        items[i].expected = a->c;
        items[i].window_us = a->rule ? PK_REGRESSION_FAST_WIDTH_US : REGRESSION_HOUR_US;
        items[i].p95_us = metric || a->rule ? 0 : a->b;
        items[i].expected_p95_us = metric || a->rule ? 0 : a->c;
        ptrs[i] = &items[i];
    }
    return 0;
}

static int run_regressions(const struct rpc_query_scope *s, const Picket__V1__RegressionsRequest *req,
                           ProtobufCMessage **resp, char *err, size_t errlen, int *invalid)
{
    const char *metric, *dir_name;
    int dir;
    if (regressions_request(req, &metric, &dir_name, &dir, err, errlen) < 0) {
        *invalid = 1;
        return -1;
    }
    struct pk_regression_opts ro[2];
    regression_rule_opts(req->threshold, req->consecutive, metric ? dir : 0, &ro[0]);
    ro[1] = ro[0];
    struct alarms l = {0};
    struct part p = {0};
    int rc = -1;
    ro[0].base.memo = pk_stats_memo_new();
    ro[1].base.memo = pk_stats_memo_new();
    if (!ro[0].base.memo || !ro[1].base.memo) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* in parts: the checks after checks_after, until part_ms have passed */
    const char *after = req->checks_after && req->checks_after[0] ? req->checks_after : NULL;
    if (judge_part(s, after, req->part_ms > 0 ? (int64_t)req->part_ms * 1000 : 0, metric, !req->no_fast, ro, &l, &p,
                   err, errlen) < 0)
        goto out;
    Picket__V1__RegressionsResponse *r = rpc_query_alloc(s->a, sizeof *r);
    Picket__V1__RegressionAlarm *items = rpc_query_alloc(s->a, (l.n ? l.n : 1) * sizeof *items);
    Picket__V1__RegressionAlarm **ptrs = rpc_query_alloc(s->a, (l.n ? l.n : 1) * sizeof *ptrs);
    if (!r || !items || !ptrs) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    picket__v1__regressions_response__init(r);
    r->since_us = s->since_us;
    r->until_us = s->until_us;
    r->threshold = ro[0].det.threshold;
    r->consecutive = ro[0].det.k_raise;
    r->checks_learning = p.learning;
    r->fast = !req->no_fast;
    r->direction = metric ? (char *)dir_name : (char *)"";
    r->metric = metric ? astrdup(s, metric) : (char *)"";
    r->checks_total = (int32_t)s->n_checks;
    r->checks_judged = (int32_t)p.judged;
    r->continue_after = p.left && p.last ? astrdup(s, p.last) : (char *)"";
    if (!r->metric || !r->continue_after) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (alarms_out(s, &l, metric != NULL, items, ptrs, err, errlen) < 0)
        goto out;
    r->alarms = ptrs;
    r->n_alarms = l.n;
    *resp = &r->base;
    rc = 0;
out:
    pk_stats_memo_free(ro[0].base.memo);
    pk_stats_memo_free(ro[1].base.memo);
    free(l.v);
    return rc;
}

/* ------------------------------------------------------------------- SLO */

/* Per-minute counts of one check over [from, to), one bucket per minute (empty
 * when no result), read a day at a time. */
static int minutes_read(const struct rpc_query_scope *s, const struct store_check_meta *m, int64_t from, int64_t to,
                        struct pk_an_bucket **out, size_t *n_out, char *err, size_t errlen)
{
    size_t n = (size_t)((to - from) / MINUTE_US);
    struct pk_an_bucket *b = calloc(n ? n : 1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        b[i].start_us = from + (int64_t)i * MINUTE_US;
        b[i].width_us = MINUTE_US;
    }
    for (int64_t c = from; c < to; c += SLO_CHUNK_US) {
        struct store_rollup_filter f = {.since_us = c, .until_us = c + SLO_CHUNK_US < to ? c + SLO_CHUNK_US : to,
                                        .check = m->name, .region = s->region, .group = STORE_ROLLUP_BY_CHECK,
                                        .bucket_us = MINUTE_US};
        struct store_rollup_row *rows = NULL;
        size_t nr = 0;
        if (store_rollup_query(s->store, &f, &rows, &nr, err, errlen) < 0) {
            free(b);
            return -1;
        }
        for (size_t i = 0; i < nr; i++) {
            int64_t k = (rows[i].bucket_start_us - from) / MINUTE_US;
            if (k >= 0 && (size_t)k < n)
                b[k].n = (struct pk_an_counts){rows[i].ok, rows[i].degraded, rows[i].failed, rows[i].unknown};
        }
        free(rows);
    }
    *out = b;
    *n_out = n;
    return 0;
}

/* One check and one burn-rate rule: at the end of every minute M in (since,
 * until], pk_slo_eval over the minutes of [M - long, M), as the alert thread's
 * slo_burn rule evaluates it (one alert, window = the long window). */
static int slo_rule_of(const struct rpc_query_scope *s, const struct store_check_meta *m, int rule,
                       const struct pk_slo_alert_opts *ao, const struct pk_an_bucket *b, int64_t from,
                       struct alarms *out, char *err, size_t errlen)
{
    struct pk_slo_opts o = {.target = m->meta.slo_target_percent / 100.0, .window_us = ao->long_us,
                            .degraded_policy = PK_DEGRADED_UP, .n_alerts = 1};
    o.alert[0] = *ao;
    size_t span = (size_t)(ao->long_us / MINUTE_US);
    int firing = 0;
    size_t open_index = 0;
    for (int64_t e = rollup_floor(s->since_us, MINUTE_US) + MINUTE_US; e <= s->until_us; e += MINUTE_US) {
        size_t end = (size_t)((e - from) / MINUTE_US);
        size_t start = end >= span ? end - span : 0;
        struct pk_slo out_;
        if (pk_slo_eval(b + start, end - start, e, &o, &out_, err, errlen) < 0)
            return -1;
        const struct pk_slo_alert *al = &out_.alert[0];
        if (isnan(al->burn_long) || isnan(al->burn_short))
            continue; /* no verdict: the state stays */
        if (al->firing && !firing) {
            struct alarm *a = alarm_add(out);
            if (!a) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            *a = (struct alarm){m, rule, e, e, 0, al->burn_long, al->burn_short, 0};
            open_index = out->n - 1;
        } else if (!al->firing && firing) {
            out->v[open_index].cleared = e;
        }
        firing = al->firing;
    }
    return 0;
}

static int run_slo_backtest(const struct rpc_query_scope *s, const Picket__V1__SloBacktestRequest *req,
                            ProtobufCMessage **resp, char *err, size_t errlen, int *invalid)
{
    struct pk_slo_opts def;
    pk_slo_opts_default(&def);
    struct pk_slo_alert_opts rules[PK_SLO_MAX_ALERTS];
    int n_rules = def.n_alerts;
    memcpy(rules, def.alert, sizeof rules);
    if (req->long_window_ms || req->short_window_ms || req->factor) {
        if (req->long_window_ms <= 0 || req->short_window_ms <= 0 || !(req->factor > 0) ||
            req->long_window_ms % 60000 || req->short_window_ms % 60000 ||
            req->long_window_ms * 1000 > 7 * 24 * HOUR_US || req->short_window_ms > req->long_window_ms) {
            *invalid = 1;
            snprintf(err, errlen, "a burn-rate rule needs whole-minute windows, short <= long <= 7 days, and a "
                                  "factor > 0");
            return -1;
        }
        n_rules = 1;
        rules[0] = (struct pk_slo_alert_opts){req->long_window_ms * 1000, req->short_window_ms * 1000, req->factor};
    }
    int64_t longest = 0;
    for (int k = 0; k < n_rules; k++)
        longest = rules[k].long_us > longest ? rules[k].long_us : longest;
    int64_t from = rollup_floor(s->since_us, MINUTE_US) - longest;
    struct alarms l = {0};
    int rc = -1;
    for (size_t i = 0; i < s->n_checks; i++) {
        const struct store_check_meta *m = s->checks[i];
        if (!(m->meta.slo_target_percent > 0))
            continue;
        struct pk_an_bucket *b = NULL;
        size_t nb = 0;
        if (minutes_read(s, m, from, s->until_us, &b, &nb, err, errlen) < 0)
            goto out;
        int bad = 0;
        for (int k = 0; k < n_rules && !bad; k++)
            bad = slo_rule_of(s, m, k, &rules[k], b, from, &l, err, errlen) < 0;
        free(b);
        if (bad)
            goto out;
    }
    Picket__V1__SloBacktestResponse *r = rpc_query_alloc(s->a, sizeof *r);
    Picket__V1__SloBurnAlarm *items = rpc_query_alloc(s->a, (l.n ? l.n : 1) * sizeof *items);
    Picket__V1__SloBurnAlarm **ptrs = rpc_query_alloc(s->a, (l.n ? l.n : 1) * sizeof *ptrs);
    if (!r || !items || !ptrs) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    picket__v1__slo_backtest_response__init(r);
    r->since_us = s->since_us;
    r->until_us = s->until_us;
    for (size_t i = 0; i < l.n; i++) {
        const struct alarm *a = &l.v[i];
        picket__v1__slo_burn_alarm__init(&items[i]);
        if (!(items[i].check_name = astrdup(s, a->m->name)) || !(items[i].service = astrdup(s, a->m->service))) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        items[i].long_window_us = rules[a->rule].long_us;
        items[i].short_window_us = rules[a->rule].short_us;
        items[i].factor = rules[a->rule].factor;
        items[i].fired_at_us = a->fired;
        items[i].cleared_at_us = a->cleared;
        items[i].burn_long = a->a;
        items[i].burn_short = a->b;
        ptrs[i] = &items[i];
    }
    r->alarms = ptrs;
    r->n_alarms = l.n;
    *resp = &r->base;
    rc = 0;
out:
    free(l.v);
    return rc;
}

int rpc_backtest_run(const struct rpc_query_scope *s, enum rpc_query_kind kind, const ProtobufCMessage *req,
                     ProtobufCMessage **resp, char *err, size_t errlen, int *invalid)
{
    if (s->until_us - s->since_us > RPC_BACKTEST_MAX_US) {
        *invalid = 1;
        snprintf(err, errlen, "a back-test replays at most 31 days (asked for %.1f days)",
                 (double)(s->until_us - s->since_us) / 86400e6);
        return -1;
    }
    if (kind == RQ_REGRESSIONS)
        return run_regressions(s, (const Picket__V1__RegressionsRequest *)req, resp, err, errlen, invalid);
    return run_slo_backtest(s, (const Picket__V1__SloBacktestRequest *)req, resp, err, errlen, invalid);
}
