/* dashboard_api.c: the dashboard's overview extras and the check page's last
 * results (docs/DASHBOARD.md). The overview extras are computed by the
 * dashboard's background thread beside the default view's report: per check
 * the history bar of its last 60 rounds (store_round_bars: the tracker's
 * stored rounds on the check's own grid, or for an untracked check its
 * interval in whole minutes, at least one), whether it is stale
 * (no result for 3 intervals, at least 3 minutes) and its uptime over 7 and 30
 * days (the Query API's availability, recomputed at most every LONG_EVERY_US).
 * Every figure here comes from the store or rpc_query; a round's state is read
 * in one place (round_state). */
#include "dashboard_int.h"
#include "json_num.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "picket/v1/picket.pb-c.h"
#include "result.h"
#include "rpc_query.h"
#include "store_dashboard.h"

#define DAY_US INT64_C(86400000000)
#define ROUND_US INT64_C(60000000) /* rounds are whole minutes (docs/ANALYTICS.md) */
#define N_ROUNDS DASH_ROUNDS
#define LONG_EVERY_US INT64_C(300000000) /* 7-day and 30-day uptimes: at most every 5 minutes */
#define LONG_SOON_US INT64_C(30000000)
#define STALE_MIN_US INT64_C(180000000)

struct long_uptime {
    char check[PK_NAME_MAX];
    double u7, u30;
};

struct dash_long {
    int64_t at_us, first_at_us;
    struct long_uptime *u;
    size_t n;
};

void dash_long_free(struct dash_long *c)
{
    if (!c)
        return;
    free(c->u);
    free(c);
}

int64_t dash_long_at(const struct dash_long *c) { return c ? c->at_us : 0; }

/* One round's state: '-' no data; a tracked round with a stored global state:
 * 'd' down, 'p' up with some region down, 'u' up. Otherwise (not tracked, or
 * its global state not decided yet) from its counts: 'u' every result (region)
 * passed, 'g' none failed but some degraded, 'p' some failed (fewer than half),
 * 'd' half or more failed. */
static char round_state(const struct store_bar_row *b)
{
    if (b->tracked && b->global_state == 2)
        return 'd';
    if (b->tracked && b->global_state == 1)
        return b->failed ? 'p' : 'u';
    uint64_t judged = b->ok + b->degraded + b->failed;
    if (!judged)
        return '-';
    if (!b->failed)
        return b->degraded ? 'g' : 'u';
    return b->failed * 2 >= judged ? 'd' : 'p';
}

/* The global uptime of every check over the days before now, into u7 or u30. */
static int long_pass(struct store *st, int64_t now_us, int days, struct dash_long *c, char *err, size_t errlen)
{
    Picket__V1__QueryWindow w = PICKET__V1__QUERY_WINDOW__INIT;
    w.until_us = now_us;
    w.since_us = now_us - days * DAY_US;
    Picket__V1__AvailabilityRequest req = PICKET__V1__AVAILABILITY_REQUEST__INIT;
    req.window = &w;
    ProtobufCMessage *resp = NULL;
    struct rpc_query_arena *arena = NULL;
    if (rpc_query_run(st, RQ_AVAILABILITY, &req.base, now_us, &resp, &arena, err, errlen) != 0) {
        rpc_query_arena_free(arena);
        return -1;
    }
    const Picket__V1__AvailabilityResponse *r = (const Picket__V1__AvailabilityResponse *)resp;
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__CheckAvailability *a = r->checks[i];
        double u = a->global ? a->global->uptime : NAN;
        size_t k = 0;
        while (k < c->n && strcmp(c->u[k].check, a->check_name) != 0)
            k++;
        if (k == c->n) {
            struct long_uptime *grown = realloc(c->u, (c->n + 1) * sizeof *grown);
            if (!grown)
                break;
            c->u = grown;
            snprintf(c->u[k].check, sizeof c->u[k].check, "%s", a->check_name);
            c->u[k].u7 = c->u[k].u30 = NAN;
            c->n++;
        }
        if (days == 7)
            c->u[k].u7 = u;
        else
            c->u[k].u30 = u;
    }
    rpc_query_arena_free(arena);
    return 0;
}

int dash_long_due(const struct dash_long *c, int64_t now_us)
{
    /* Every 30 s in the first 10 minutes (a new collector's figures show soon), then every 5 minutes. */
    return !c || now_us - c->at_us >= (now_us - c->first_at_us < 20 * LONG_SOON_US ? LONG_SOON_US : LONG_EVERY_US);
}

/* Refreshes the 7-day and 30-day uptimes when due (dash_long_due). */
static void refresh_long(struct store *st, int64_t now_us, struct dash_long **cache)
{
    if (!dash_long_due(*cache, now_us))
        return;
    int64_t first = *cache ? (*cache)->first_at_us : now_us;
    char err[512];
    struct dash_long *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->at_us = now_us;
    c->first_at_us = first;
    if (long_pass(st, now_us, 7, c, err, sizeof err) < 0 || long_pass(st, now_us, 30, c, err, sizeof err) < 0) {
        char q[256];
        PK_WARN("dashboard", "long uptimes failed", "detail=%s", pk_log_q(q, sizeof q, err));
        dash_long_free(c);
        return;
    }
    PK_DEBUG("dashboard", "7/30-day uptimes computed", "checks=%zu ms=%.0f", c->n,
             (double)(pk_now_us() - now_us) / 1000.0);
    dash_long_free(*cache);
    *cache = c;
}

static const struct long_uptime *long_of(const struct dash_long *c, const char *check)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->u[i].check, check) == 0)
            return &c->u[i];
    return NULL;
}

int dash_long_lookup(const struct dash_long *c, const char *check, double *u7, double *u30)
{
    const struct long_uptime *u = long_of(c, check);
    *u7 = u ? u->u7 : NAN;
    *u30 = u ? u->u30 : NAN;
    return u != NULL;
}


void dash_bar_line(const struct store_check_meta *m, const struct store_bar_row *bars, size_t nb, int64_t now_us,
                   struct dash_bar_line *out)
{
    memset(out->line, '-', DASH_ROUNDS);
    out->line[DASH_ROUNDS] = '\0';
    out->last_us = 0;
    for (size_t i = 0; i < nb; i++) {
        if (bars[i].bucket >= 0 && bars[i].bucket < DASH_ROUNDS)
            out->line[bars[i].bucket] = round_state(&bars[i]);
        if (bars[i].last_us > out->last_us)
            out->last_us = bars[i].last_us;
    }
    int64_t interval_us = m->interval_ms * 1000;
    out->round_us = nb ? bars[0].round_us : interval_us > ROUND_US ? interval_us / ROUND_US * ROUND_US : ROUND_US;
    int64_t stale_after = 3 * interval_us > STALE_MIN_US ? 3 * interval_us : STALE_MIN_US;
    /* Unknown (-1) when the check's interval is longer than the bars' window saw. */
    if (out->last_us)
        out->stale = now_us - out->last_us > stale_after;
    else
        out->stale = stale_after <= DASH_ROUNDS * out->round_us ? 1 : -1;
}

/* One check's entry of the overview extras. */
static struct json_object *check_extras(const struct store_check_meta *m, const struct store_bar_row *bars,
                                        size_t nb, int64_t now_us, const struct dash_long *lc)
{
    struct dash_bar_line bl;
    dash_bar_line(m, bars, nb, now_us, &bl);
    int64_t interval_us = m->interval_ms * 1000;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "check", json_object_new_string(m->name));
    json_object_object_add(o, "interval_us", json_object_new_int64(interval_us));
    json_object_object_add(o, "round_us", json_object_new_int64(bl.round_us));
    json_object_object_add(o, "bars", json_object_new_string(bl.line));
    json_object_object_add(o, "last_us", json_object_new_int64(bl.last_us));
    json_object_object_add(o, "stale", bl.stale < 0 ? NULL : json_object_new_boolean(bl.stale));
    struct json_object *labels = json_object_new_object(); /* "k=v" lines, as stored */
    for (const char *p = m->meta.labels; *p;) {
        size_t n = strcspn(p, "\n");
        const char *eq = memchr(p, '=', n);
        if (eq) {
            char key[PK_LABELS_MAX];
            snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
            json_object_object_add(labels, key, json_object_new_string_len(eq + 1, (int)(n - (size_t)(eq - p) - 1)));
        }
        p += n;
        p += *p == '\n';
    }
    json_object_object_add(o, "labels", labels);
    const struct long_uptime *u = long_of(lc, m->name);
    json_object_object_add(o, "uptime_7d", u ? pk_json_num(u->u7) : NULL);
    json_object_object_add(o, "uptime_30d", u ? pk_json_num(u->u30) : NULL);
    return o;
}

char *dash_overview_json(struct store *st, int64_t now_us, struct dash_long **cache, int long_ok, size_t *len,
                         int64_t *slow_us)
{
    char err[512], q[256];
    struct store_check_meta *meta = NULL;
    struct store_bar_row *bars = NULL;
    size_t nm = 0, nb = 0;
    int64_t end = (now_us / ROUND_US + 1) * ROUND_US; /* the minute in progress is in the last round */
    if (long_ok)
        refresh_long(st, now_us, cache);
    *slow_us += pk_now_us() - now_us;
    if (store_check_meta(st, &meta, &nm, err, sizeof err) < 0 ||
        store_round_bars(st, end, now_us, N_ROUNDS, &bars, &nb, err, sizeof err) < 0) {
        PK_WARN("dashboard", "overview extras failed", "detail=%s", pk_log_q(q, sizeof q, err));
        free(meta);
        return NULL;
    }
    struct json_object *j = json_object_new_object(), *a = json_object_new_array_ext((int)nm);
    json_object_object_add(j, "computed_at_us", json_object_new_int64(now_us));
    json_object_object_add(j, "end_us", json_object_new_int64(end));
    json_object_object_add(j, "rounds", json_object_new_int(N_ROUNDS));
    json_object_object_add(j, "long_at_us", json_object_new_int64(*cache ? (*cache)->at_us : 0));
    size_t b = 0;
    for (size_t i = 0; i < nm; i++) {
        while (b < nb && strcmp(bars[b].check_name, meta[i].name) < 0)
            b++;
        size_t e = b;
        while (e < nb && strcmp(bars[e].check_name, meta[i].name) == 0)
            e++;
        json_object_array_add(a, check_extras(&meta[i], bars + b, e - b, now_us, *cache));
        b = e;
    }
    json_object_object_add(j, "checks", a);
    const char *txt = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *out = strdup(txt ? txt : "null");
    *len = out ? strlen(out) : 0;
    json_object_put(j);
    free(meta);
    free(bars);
    return out;
}

/* /api/check-results?check=NAME[&until=][&limit=]: the check's newest results. */
static void api_check_results(struct store *st, const char *check, int64_t until_us, int limit,
                              struct pk_http_reply *out)
{
    char err[512];
    struct store_recent_result *rows = NULL;
    size_t n = 0;
    if (!check || !check[0]) {
        dash_reply_error(out, 400, "check-results needs check=NAME");
        return;
    }
    if (store_recent_results(st, check, until_us, limit, &rows, &n, err, sizeof err) < 0) {
        dash_reply_store_error(out, err);
        return;
    }
    struct json_object *j = json_object_new_object(), *a = json_object_new_array_ext((int)n);
    json_object_object_add(j, "check", json_object_new_string(check));
    for (size_t i = 0; i < n; i++) {
        const struct store_recent_result *r = &rows[i];
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "started_at_us", json_object_new_int64(r->started_at_us));
        json_object_object_add(o, "probe", json_object_new_string(r->probe));
        json_object_object_add(o, "region", json_object_new_string(r->region));
        json_object_object_add(o, "outcome", json_object_new_string(pk_outcome_name(r->outcome)));
        json_object_object_add(o, "error_class", json_object_new_string(pk_error_class_name(r->error_class)));
        json_object_object_add(o, "status_code", json_object_new_int(r->status_code));
        json_object_object_add(o, "total_us", r->total_us >= 0 ? json_object_new_int64(r->total_us) : NULL);
        json_object_object_add(o, "message", json_object_new_string(r->message));
        json_object_array_add(a, o);
    }
    json_object_object_add(j, "results", a);
    free(rows);
    dash_reply_json(out, 200, j);
}

/* /api/slo?check=&service=: each check's SLO over its own window (since is not
 * taken: an SLO is judged over the window it names) ending at until. */
static void api_slo(struct store *st, pk_http_arg_fn arg, void *ctx, int64_t until_us, struct pk_http_reply *out)
{
    char err[512];
    Picket__V1__QueryWindow w = PICKET__V1__QUERY_WINDOW__INIT;
    const char *c = arg(ctx, "check"), *s = arg(ctx, "service");
    w.until_us = until_us;
    w.check_name = (char *)(c ? c : "");
    w.service = (char *)(s ? s : "");
    Picket__V1__SloRequest req = PICKET__V1__SLO_REQUEST__INIT;
    req.window = &w;
    ProtobufCMessage *resp = NULL;
    struct rpc_query_arena *arena = NULL;
    int rc = rpc_query_run(st, RQ_SLO, &req.base, until_us, &resp, &arena, err, sizeof err);
    if (rc == 0)
        dash_reply_json(out, 200, dash_msg_json(resp));
    else if (rc == -2)
        dash_reply_error(out, 400, err);
    else if (rc == -3)
        dash_reply_error(out, 404, err);
    else
        dash_reply_store_error(out, err);
    rpc_query_arena_free(arena);
}

int dash_api_route(struct store *st, const char *name, pk_http_arg_fn arg, void *ctx, int64_t until_us,
                   struct pk_http_reply *out)
{
    if (strcmp(name, "slo") == 0) {
        api_slo(st, arg, ctx, until_us, out);
        return 1;
    }
    if (strcmp(name, "check-results") != 0)
        return 0;
    const char *l = arg(ctx, "limit");
    char *end = NULL;
    long limit = l && l[0] ? strtol(l, &end, 10) : 50;
    if (l && l[0] && (*end || limit < 1 || limit > 500)) {
        dash_reply_error(out, 400, "limit: expected a whole number 1..500");
        return 1;
    }
    api_check_results(st, arg(ctx, "check"), until_us, (int)limit, out);
    return 1;
}
