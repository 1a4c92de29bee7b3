/* dashboard_live.c: /api/board, the overview's first load in one compact answer
 * (docs/DASHBOARD.md, "The overview's answer"). It joins two parts, each with
 * the time it was computed, so the page says how old each is:
 *
 * - the live part (dash_live), recomputed by the dashboard's live thread every
 *   second or two while someone reads: every known check with its last result
 *   (store_last_results), the history bar of its last 60 rounds and whether it
 *   is stale (store_round_bars, dash_bar_line), its labels, and the incidents
 *   of the last 24 hours (the Query API's incidents, as /api/incidents);
 * - the 24-hour figures (dash_agg), taken from the default view's report by the
 *   refresh thread on its own cadence (seconds at 1,000 checks): uptime, p95
 *   against budget, trend, SLO budget left, regions, group SLOs, and the 7- and
 *   30-day uptimes.
 *
 * One row per check, an array in the order of "cols", rows by service then
 * check (as the report); at most BOARD_INCIDENTS incidents, open ones first then
 * newest. The answer is rendered once per publication of either part and kept
 * with its gzip, which browsers that accept it get. Nothing here computes a
 * figure: every one is the store's or rpc_query's. */
#include "dashboard_int.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "log.h"
#include "picket/v1/picket.pb-c.h"
#include "rpc_query.h"
#include "store_dashboard.h"

#define MINUTE_US INT64_C(60000000)
#define BOARD_INCIDENTS 200
#define BOARD_MAX_BYTES ((size_t)64 << 20)

/* ------------------------------------------------------------ the live part */

struct live_check {
    const struct store_check_meta *m;
    const struct store_status_row *last; /* NULL: no result yet */
    struct dash_bar_line bars;
    int64_t inc_open_us; /* the first open incident's start in the answer's order; 0: none open */
    int n_inc;
};

struct live_incident {
    const char *check;
    const Picket__V1__Incident *inc;
};

struct dash_live {
    int64_t at_us;
    double compute_ms;
    struct store_check_meta *meta;
    size_t n;
    struct store_status_row *rows;
    struct live_check *c; /* by service, then check name */
    struct live_check *by_name; /* the same, by check name */
    char *incidents;      /* the incidents' rows as JSON arrays, comma-separated */
    size_t n_incidents;   /* in the window; at most BOARD_INCIDENTS are in incidents */
};

void dash_live_free(struct dash_live *lp)
{
    if (!lp)
        return;
    free(lp->meta);
    free(lp->rows);
    free(lp->c);
    free(lp->by_name);
    free(lp->incidents);
    free(lp);
}

static int by_service_then_name(const void *a, const void *b)
{
    const struct live_check *x = a, *y = b;
    int c = strcmp(x->m->service, y->m->service);
    return c ? c : strcmp(x->m->name, y->m->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct live_check *)a)->m->name, ((const struct live_check *)b)->m->name);
}

static struct live_check *live_find(const struct dash_live *lp, struct live_check *sorted, const char *check)
{
    struct store_check_meta key;
    snprintf(key.name, sizeof key.name, "%s", check);
    struct live_check k = {.m = &key};
    return bsearch(&k, sorted, lp->n, sizeof *sorted, by_name);
}

int dash_live_state(const struct dash_live *lp, const char *check, int *state)
{
    const struct live_check *c = lp ? live_find(lp, lp->by_name, check) : NULL;
    if (!c)
        return 0;
    const struct store_status_row *r = c->last;
    *state = !r ? -1
                : r->last_outcome == PICKET__V1__OUTCOME__OUTCOME_OK ||
                      r->last_outcome == PICKET__V1__OUTCOME__OUTCOME_DEGRADED;
    return 1;
}

/* Open incidents first, then the newest (as the page lists them). */
static int incident_order(const void *a, const void *b)
{
    const Picket__V1__Incident *x = ((const struct live_incident *)a)->inc, *y = ((const struct live_incident *)b)->inc;
    int ox = x->end_us < 0, oy = y->end_us < 0;
    if (ox != oy)
        return oy - ox;
    return (y->start_us > x->start_us) - (y->start_us < x->start_us);
}

static void incident_row(struct pk_buf *b, const struct live_incident *li)
{
    const Picket__V1__Incident *i = li->inc;
    pk_buf_addc(b, '[');
    pk_buf_add_json_string(b, li->check, strlen(li->check));
    pk_buf_addf(b, ",%lld,%lld,%lld,[", (long long)i->start_us, (long long)i->end_us, (long long)i->duration_us);
    for (size_t r = 0; r < i->n_regions; r++) {
        if (r)
            pk_buf_addc(b, ',');
        pk_buf_add_json_string(b, i->regions[r], strlen(i->regions[r]));
    }
    pk_buf_adds(b, "],");
    const char *mw = i->maintenance ? (i->maintenance_window ? i->maintenance_window : "") : NULL;
    if (mw)
        pk_buf_add_json_string(b, mw, strlen(mw));
    else
        pk_buf_adds(b, "null");
    pk_buf_addc(b, ',');
    if (i->caused_by && i->caused_by[0])
        pk_buf_add_json_string(b, i->caused_by, strlen(i->caused_by));
    else
        pk_buf_adds(b, "null");
    pk_buf_addc(b, ']');
}

/* Each check's incident summary and the listed incidents from an IncidentsResponse. */
static int live_incidents(struct dash_live *lp, struct live_check *sorted, const Picket__V1__IncidentsResponse *r)
{
    size_t total = 0;
    for (size_t k = 0; k < r->n_checks; k++)
        total += r->checks[k]->n_incidents;
    struct live_incident *all = calloc(total ? total : 1, sizeof *all);
    if (!all)
        return -1;
    size_t n = 0;
    for (size_t k = 0; k < r->n_checks; k++) {
        const Picket__V1__CheckIncidents *ci = r->checks[k];
        struct live_check *c = live_find(lp, sorted, ci->check_name);
        for (size_t i = 0; i < ci->n_incidents; i++) {
            all[n++] = (struct live_incident){ci->check_name, ci->incidents[i]};
            if (c && ci->incidents[i]->end_us < 0 && !c->inc_open_us)
                c->inc_open_us = ci->incidents[i]->start_us;
        }
        if (c)
            c->n_inc = (int)ci->n_incidents;
    }
    qsort(all, n, sizeof *all, incident_order);
    struct pk_buf b;
    pk_buf_init(&b, BOARD_MAX_BYTES);
    pk_buf_adds(&b, "");
    for (size_t i = 0; i < n && i < BOARD_INCIDENTS; i++) {
        if (i)
            pk_buf_addc(&b, ',');
        incident_row(&b, &all[i]);
    }
    free(all);
    lp->n_incidents = n;
    lp->incidents = pk_buf_take(&b);
    return lp->incidents ? 0 : -1;
}

/* The default view's incidents (the last 24 hours): the live part's summaries
 * and rows, and the /api/incidents answer as JSON. 0, or -1 with err. */
static int live_incidents_pass(struct store *st, struct dash_live *lp, struct live_check *sorted, int64_t now_us,
                               char **json, size_t *jl, char *err, size_t errlen)
{
    Picket__V1__QueryWindow w = PICKET__V1__QUERY_WINDOW__INIT;
    w.until_us = now_us + MINUTE_US;
    Picket__V1__IncidentsRequest ir = PICKET__V1__INCIDENTS_REQUEST__INIT;
    ir.window = &w;
    ProtobufCMessage *resp = NULL;
    struct rpc_query_arena *arena = NULL;
    int64_t t0 = pk_now_us();
    int rc = rpc_query_run(st, RQ_INCIDENTS, &ir.base, now_us, &resp, &arena, err, errlen);
    if (rc == 0 && live_incidents(lp, sorted, (const Picket__V1__IncidentsResponse *)resp) < 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0 && json) {
        struct json_object *j = dash_msg_json(resp);
        json_object_object_add(j, "computed_at_us", json_object_new_int64(now_us));
        json_object_object_add(j, "compute_ms", json_object_new_double((double)(pk_now_us() - t0) / 1000.0));
        const char *txt = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        *json = strdup(txt ? txt : "null");
        *jl = *json ? strlen(*json) : 0;
        json_object_put(j);
    }
    rpc_query_arena_free(arena);
    return rc == 0 ? 0 : -1;
}

/* Each check's history bar from the bar rows (sorted by check, then round). */
static void live_bars(struct dash_live *lp, struct live_check *sorted, const struct store_bar_row *bars, size_t nb,
                      int64_t now_us)
{
    for (size_t i = 0; i < lp->n; i++) /* checks without a row: no result in the window */
        dash_bar_line(sorted[i].m, NULL, 0, now_us, &sorted[i].bars);
    for (size_t b = 0; b < nb;) {
        size_t e = b;
        while (e < nb && strcmp(bars[e].check_name, bars[b].check_name) == 0)
            e++;
        struct live_check *c = live_find(lp, sorted, bars[b].check_name);
        if (c)
            dash_bar_line(c->m, bars + b, e - b, now_us, &c->bars);
        b = e;
    }
}

struct dash_live *dash_live_compute(struct store *st, int64_t now_us, char **incidents_json, size_t *il)
{
    char err[512], q[256];
    struct store_bar_row *bars = NULL;
    size_t nb = 0, nr = 0;
    int64_t end = (now_us / MINUTE_US + 1) * MINUTE_US; /* the minute in progress is in the last round */
    struct dash_live *lp = calloc(1, sizeof *lp);
    struct live_check *sorted = NULL;
    if (incidents_json)
        *incidents_json = NULL;
    if (!lp)
        return NULL;
    lp->at_us = now_us;
    if (store_check_meta(st, &lp->meta, &lp->n, err, sizeof err) < 0 ||
        store_last_results(st, NULL, &lp->rows, &nr, err, sizeof err) < 0 ||
        store_round_bars(st, end, now_us, DASH_ROUNDS, &bars, &nb, err, sizeof err) < 0)
        goto fail;
    lp->c = calloc(lp->n ? lp->n : 1, sizeof *lp->c);
    sorted = calloc(lp->n ? lp->n : 1, sizeof *sorted);
    if (!lp->c || !sorted) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < lp->n; i++)
        sorted[i].m = &lp->meta[i];
    qsort(sorted, lp->n, sizeof *sorted, by_name);
    for (size_t k = 0; k < nr; k++) { /* a check's newest result */
        struct live_check *c = live_find(lp, sorted, lp->rows[k].check_name);
        if (c && lp->rows[k].last_started_at_us &&
            (!c->last || lp->rows[k].last_started_at_us > c->last->last_started_at_us))
            c->last = &lp->rows[k];
    }
    live_bars(lp, sorted, bars, nb, now_us);
    if (live_incidents_pass(st, lp, sorted, now_us, incidents_json, il, err, sizeof err) < 0)
        goto fail;
    memcpy(lp->c, sorted, lp->n * sizeof *sorted);
    qsort(lp->c, lp->n, sizeof *lp->c, by_service_then_name);
    lp->by_name = sorted;
    free(bars);
    lp->compute_ms = (double)(pk_now_us() - now_us) / 1000.0;
    return lp;
fail:
    PK_WARN("dashboard", "live overview failed", "detail=%s", pk_log_q(q, sizeof q, err));
    free(sorted);
    free(bars);
    dash_live_free(lp);
    if (incidents_json) {
        free(*incidents_json);
        *incidents_json = NULL;
    }
    return NULL;
}

/* ------------------------------------------------------ the 24-hour figures */

struct agg_check {
    char check[PK_NAME_MAX];
    char regions[256]; /* "eu,us": the regions with figures, for the page's filter */
    double u24, p95_us, budget_p95_us, trend_pct, slo_left, u7, u30; /* NaN: no data */
    char trend_dir[8];
    int has_slo;
};

struct dash_agg {
    int64_t at_us, since_us, until_us, long_at_us;
    double compute_ms;
    struct agg_check *c; /* by check name */
    size_t n;
    char *groups; /* the report's group SLOs as a JSON array */
};

void dash_agg_free(struct dash_agg *a)
{
    if (!a)
        return;
    free(a->c);
    free(a->groups);
    free(a);
}

static int agg_by_name(const void *a, const void *b)
{
    return strcmp(((const struct agg_check *)a)->check, ((const struct agg_check *)b)->check);
}

static void agg_check_of(const Picket__V1__ReportCheck *c, struct agg_check *o)
{
    snprintf(o->check, sizeof o->check, "%s", c->check_name);
    const Picket__V1__CheckAvailability *av = c->availability;
    o->u24 = av && av->global ? av->global->uptime : NAN;
    size_t at = 0;
    for (size_t r = 0; av && r < av->n_regions; r++) {
        int w = snprintf(o->regions + at, sizeof o->regions - at, "%s%s", at ? "," : "", av->regions[r]->region);
        if (w < 0 || (size_t)w >= sizeof o->regions - at) {
            o->regions[at] = '\0'; /* a region list that does not fit ends at the last whole name */
            break;
        }
        at += (size_t)w;
    }
    o->p95_us = c->latency && c->latency->p95_us > 0 ? c->latency->p95_us : NAN;
    o->budget_p95_us = c->latency ? (double)c->latency->budget_p95_us : NAN;
    const Picket__V1__TrendFigure *t = c->trend ? c->trend->p95_us : NULL;
    snprintf(o->trend_dir, sizeof o->trend_dir, "%s", t && t->direction ? t->direction : "");
    o->trend_pct = t ? t->pct_per_day : NAN;
    o->has_slo = c->slo != NULL;
    o->slo_left = c->slo ? c->slo->budget_left : NAN;
    o->u7 = o->u30 = NAN;
}

struct dash_agg *dash_agg_from_report(const ProtobufCMessage *report, int64_t at_us, double compute_ms)
{
    const Picket__V1__ReportResponse *r = (const Picket__V1__ReportResponse *)report;
    struct dash_agg *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->at_us = at_us;
    a->compute_ms = compute_ms;
    a->since_us = r->since_us;
    a->until_us = r->until_us;
    a->c = calloc(r->n_checks ? r->n_checks : 1, sizeof *a->c);
    struct json_object *g = json_object_new_array_ext((int)r->n_groups);
    for (size_t i = 0; g && i < r->n_groups; i++)
        json_object_array_add(g, dash_msg_json(&r->groups[i]->base));
    const char *txt = g ? json_object_to_json_string_ext(g, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                        : NULL;
    a->groups = txt ? strdup(txt) : NULL;
    json_object_put(g);
    if (!a->c || !a->groups) {
        dash_agg_free(a);
        return NULL;
    }
    for (size_t i = 0; i < r->n_checks; i++)
        agg_check_of(r->checks[i], &a->c[i]);
    a->n = r->n_checks;
    qsort(a->c, a->n, sizeof *a->c, agg_by_name);
    return a;
}

void dash_agg_set_long(struct dash_agg *a, const struct dash_long *c)
{
    if (!a)
        return;
    a->long_at_us = dash_long_at(c);
    for (size_t i = 0; i < a->n; i++)
        dash_long_lookup(c, a->c[i].check, &a->c[i].u7, &a->c[i].u30);
}

/* ---------------------------------------------------------------- the board */

static const char BOARD_COLS[] =
    "[\"check\",\"service\",\"type\",\"last_at_us\",\"outcome\",\"message\",\"metrics\",\"bars\",\"round_us\","
    "\"last_us\",\"stale\",\"labels\",\"inc_open_us\",\"incidents\",\"regions\",\"uptime_24h\",\"uptime_7d\","
    "\"uptime_30d\",\"p95_us\",\"budget_p95_us\",\"trend\",\"trend_pct\",\"slo_left\"]";

static void add_num(struct pk_buf *b, double v)
{
    if (isfinite(v))
        pk_buf_addf(b, ",%.10g", v);
    else
        pk_buf_adds(b, ",null");
}

static void add_str(struct pk_buf *b, const char *s)
{
    pk_buf_addc(b, ',');
    pk_buf_add_json_string(b, s, strlen(s));
}

/* One check's row: the live part's columns, then the 24-hour figures' (nulls when x is NULL). */
static void board_row(struct pk_buf *b, const struct live_check *c, const struct agg_check *x)
{
    const struct store_status_row *r = c->last;
    pk_buf_addc(b, '[');
    pk_buf_add_json_string(b, c->m->name, strlen(c->m->name));
    add_str(b, c->m->service);
    add_str(b, c->m->type);
    if (r) {
        pk_buf_addf(b, ",%lld", (long long)r->last_started_at_us);
        add_str(b, pk_outcome_name(r->last_outcome));
        add_str(b, r->last_message);
        pk_buf_adds(b, ",[");
        for (int i = 0; i < r->n_last_metrics; i++) {
            pk_buf_adds(b, i ? ",[" : "[");
            pk_buf_add_json_string(b, r->last_metrics[i].name, strlen(r->last_metrics[i].name));
            add_num(b, r->last_metrics[i].value);
            pk_buf_addc(b, ']');
        }
        pk_buf_addc(b, ']');
    } else {
        pk_buf_adds(b, ",0,null,\"\",[]");
    }
    add_str(b, c->bars.line);
    pk_buf_addf(b, ",%lld,%lld,%s", (long long)c->bars.round_us, (long long)c->bars.last_us,
                c->bars.stale < 0 ? "null" : c->bars.stale ? "true" : "false");
    add_str(b, c->m->meta.labels);
    pk_buf_addf(b, ",%lld,%d", (long long)c->inc_open_us, c->n_inc);
    if (!x) {
        pk_buf_adds(b, ",null,null,null,null,null,null,null,null,null]");
        return;
    }
    add_str(b, x->regions);
    add_num(b, x->u24);
    add_num(b, x->u7);
    add_num(b, x->u30);
    add_num(b, x->p95_us);
    add_num(b, x->budget_p95_us);
    add_str(b, x->trend_dir);
    add_num(b, x->trend_pct);
    if (x->has_slo)
        add_num(b, x->slo_left);
    else
        pk_buf_adds(b, ",false"); /* no slo: key (null: an SLO without data) */
    pk_buf_addc(b, ']');
}

/* gzip of n bytes of src (RFC 1952), malloc'd; NULL on failure. */
static char *gzip_of(const char *src, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&z, (uLong)n);
    char *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static void add_at(struct pk_buf *b, const char *key, int64_t at_us)
{
    if (at_us)
        pk_buf_addf(b, ",\"%s\":%lld", key, (long long)at_us);
    else
        pk_buf_addf(b, ",\"%s\":null", key);
}

int dash_board_render(const struct dash_live *lp, const struct dash_agg *ag, char **json, size_t *len, char **gz,
                      size_t *gzlen)
{
    struct pk_buf b;
    pk_buf_init(&b, BOARD_MAX_BYTES);
    pk_buf_adds(&b, "{\"cols\":");
    pk_buf_adds(&b, BOARD_COLS);
    /* Each part's age: when it was computed (null: not yet) and how long it took. */
    add_at(&b, "live_at_us", lp ? lp->at_us : 0);
    pk_buf_addf(&b, ",\"live_ms\":%.1f", lp ? lp->compute_ms : 0.0);
    add_at(&b, "computed_at_us", ag ? ag->at_us : 0);
    pk_buf_addf(&b, ",\"compute_ms\":%.1f", ag ? ag->compute_ms : 0.0);
    add_at(&b, "long_at_us", ag ? ag->long_at_us : 0);
    add_at(&b, "since_us", ag ? ag->since_us : 0);
    add_at(&b, "until_us", ag ? ag->until_us : 0);
    pk_buf_addf(&b, ",\"rounds\":%d,\"checks\":[", DASH_ROUNDS);
    for (size_t i = 0; lp && i < lp->n; i++) {
        const struct agg_check *x = NULL;
        if (ag) {
            struct agg_check key;
            snprintf(key.check, sizeof key.check, "%s", lp->c[i].m->name);
            x = bsearch(&key, ag->c, ag->n, sizeof *ag->c, agg_by_name);
        }
        if (i)
            pk_buf_addc(&b, ',');
        board_row(&b, &lp->c[i], x);
    }
    pk_buf_adds(&b, "],\"groups\":");
    pk_buf_adds(&b, ag ? ag->groups : "[]");
    pk_buf_addf(&b, ",\"incidents_total\":%zu,\"incidents\":[", lp ? lp->n_incidents : 0);
    pk_buf_adds(&b, lp ? lp->incidents : "");
    pk_buf_adds(&b, "]}");
    *len = b.len;
    *json = pk_buf_take(&b);
    if (!*json)
        return -1;
    *gz = gzip_of(*json, *len, gzlen);
    if (!*gz)
        *gzlen = 0;
    return 0;
}
