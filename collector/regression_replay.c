/* regression_replay.c: the back-test of the baseline regression rule for one
 * check (regression_replay, collector/regression_rule.h): the hourly half at the
 * end of every hour and the fast half at the end of every 5 minutes, each by the
 * function the alert thread calls, united as the alert thread unites them
 * (collector/alerts.c, judge_baseline). Reads rollups (and raw results for a
 * metric); owns only scratch memory and the alarms it appends. */
#include "regression_rule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"
#include "rollup.h"

#define FAST_US PK_REGRESSION_FAST_WIDTH_US
#define HOUR_US REGRESSION_HOUR_US

/* One half's state after an evaluation: -1 no verdict (learning), 0 normal, 1 raised. */
struct half {
    int state;
    int64_t since;
    double score, value, expected;
};

/* The fast half's raises and clears in one hour block, by window start. */
struct fast_events {
    struct {
        int64_t t, since;
        int raised;
        double score, value, expected;
    } v[128]; /* a block judges at most 7 hours of 5-minute windows: 84 */
    int n;
};

static void on_fast_event(void *user, int event, int64_t t_us, int64_t since_us, double score, double value,
                          double expected)
{
    struct fast_events *e = user;
    if (e->n < (int)(sizeof e->v / sizeof e->v[0])) {
        e->v[e->n].t = t_us;
        e->v[e->n].since = since_us;
        e->v[e->n].raised = event == PK_DET_RAISED;
        e->v[e->n].score = score;
        e->v[e->n].value = value;
        e->v[e->n].expected = expected;
        e->n++;
    }
}

/* The hourly half at every hour end in [first, last]: h[i] for first + i hours. */
static int hourly_states(struct store *st, const char *check, const char *region, const char *metric,
                         const struct pk_regression_opts *o, int64_t first, int64_t last, struct half *h, char *err,
                         size_t errlen)
{
    struct regression_series sr;
    if (regression_series_read(st, check, region, metric, first - REGRESSION_RECENT_US - REGRESSION_HISTORY_US, last,
                               &sr, err, errlen) < 0)
        return -1;
    int rc = 0;
    for (int64_t e = first; e <= last && rc == 0; e += HOUR_US) {
        struct pk_regression r;
        rc = regression_rule_at(&sr, e, o, &r, err, errlen);
        struct half *x = &h[(e - first) / HOUR_US];
        x->state = r.state == PK_REG_RAISED ? 1 : r.state == PK_REG_NORMAL ? 0 : -1;
        *x = (struct half){x->state, r.since_us, r.last_score, r.last_value, r.expected};
    }
    regression_series_free(&sr);
    return rc;
}

/* The fast half at every 5-minute end in [first, last]: f[i] for first + i * 5 min.
 * One judgement per hour block (every evaluation in it shares its history), read
 * off at each end from the raises and clears of the windows before it. */
static int fast_states(struct store *st, const char *check, const char *region, const char *metric, int dir,
                       struct pk_stats_memo *memo, int64_t first, int64_t last, struct half *f, char *err,
                       size_t errlen)
{
    struct pk_regression_opts o;
    regression_fast_opts(metric && metric[0] ? dir : 0, &o);
    o.base.memo = memo;
    int64_t b0 = rollup_floor(first, HOUR_US), b_end = rollup_floor(last, HOUR_US) + HOUR_US;
    struct regression_series sr;
    if (regression_fast_series_read(st, check, region, metric, regression_fast_split(b0) - REGRESSION_HISTORY_US, b_end, &sr,
                                    err, errlen) < 0)
        return -1;
    struct fast_events *ev = malloc(sizeof *ev);
    int rc = ev ? 0 : pk_fail(err, errlen, "back-test: out of memory");
    for (int64_t b = b0; b < b_end && rc == 0; b += HOUR_US) {
        struct pk_regression r;
        ev->n = 0;
        if ((rc = regression_fast_at(&sr, b + HOUR_US, &o, &r, on_fast_event, ev, err, errlen)) < 0)
            break;
        int learning = r.state == PK_REG_LEARNING || r.state == PK_REG_NO_HISTORY;
        struct half cur = {learning ? -1 : 0, -1, NAN, NAN, NAN};
        int k = 0;
        for (int64_t e = b; e < b + HOUR_US; e += FAST_US) {
            for (; !learning && k < ev->n && ev->v[k].t + FAST_US <= e; k++) {
                cur.state = ev->v[k].raised;
                cur.since = ev->v[k].since;
                cur.score = ev->v[k].score;
                cur.value = ev->v[k].value;
                cur.expected = ev->v[k].expected;
            }
            if (e >= first && e <= last)
                f[(e - first) / FAST_US] = cur;
        }
    }
    free(ev);
    regression_series_free(&sr);
    return rc;
}

static struct regression_alarm *alarm_add(struct regression_alarms *l)
{
    struct regression_alarm *v = pk_grow(l->v, &l->cap, l->n + 1, sizeof *v, 0);
    if (!v)
        return NULL;
    l->v = v;
    memset(&v[l->n], 0, sizeof v[l->n]);
    return &v[l->n++];
}

int regression_replay(struct store *st, const char *check, const char *region, const char *metric, int fast,
                      const struct pk_regression_opts *o, int64_t since, int64_t until, struct regression_alarms *out,
                      int *learning, char *err, size_t errlen)
{
    int64_t step = fast ? FAST_US : HOUR_US;
    int64_t h_first = rollup_floor(since, HOUR_US) + HOUR_US, h_last = rollup_floor(until, HOUR_US);
    int64_t first = rollup_floor(since, step) + step, last = rollup_floor(until, step);
    *learning = 0;
    if (last < first)
        return 0;
    size_t nh = h_last >= h_first ? (size_t)((h_last - h_first) / HOUR_US) + 1 : 0;
    size_t nf = fast ? (size_t)((last - first) / FAST_US) + 1 : 0;
    struct half *h = calloc(nh ? nh : 1, sizeof *h), *f = calloc(nf ? nf : 1, sizeof *f);
    int rc = -1;
    if (!h || !f) {
        pk_fail(err, errlen, "back-test of %.128s: out of memory", check);
        goto out;
    }
    if ((nh && hourly_states(st, check, region, metric, o, h_first, h_last, h, err, errlen) < 0) ||
        (nf && fast_states(st, check, region, metric, o->det.direction, o->base.memo, first, last, f, err, errlen) < 0))
        goto out;
    struct half hc = {-1, -1, NAN, NAN, NAN}, fc = {-1, -1, NAN, NAN, NAN};
    int raised = 0;
    size_t open_index = 0;
    for (int64_t e = first; e <= last; e += step) {
        if (e % HOUR_US == 0 && e >= h_first && e <= h_last)
            hc = h[(e - h_first) / HOUR_US];
        if (fast)
            fc = f[(e - first) / FAST_US];
        *learning = hc.state < 0 && fc.state < 0;
        if (*learning)
            continue; /* the alert thread applies nothing: the state stays */
        int now_raised = hc.state == 1 || fc.state == 1;
        if (now_raised && !raised) {
            int use_fast = fc.state == 1 && (hc.state != 1 || fc.since < hc.since);
            const struct half *x = use_fast ? &fc : &hc;
            struct regression_alarm *a = alarm_add(out);
            if (!a) {
                pk_fail(err, errlen, "back-test of %.128s: out of memory", check);
                goto out;
            }
            *a = (struct regression_alarm){e, x->since, 0, x->score, x->value, x->expected, use_fast};
            open_index = out->n - 1;
        } else if (!now_raised && raised) {
            out->v[open_index].cleared = e;
        }
        raised = now_raised;
    }
    rc = 0;
out:
    free(h);
    free(f);
    return rc;
}
