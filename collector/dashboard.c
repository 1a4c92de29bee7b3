/* dashboard.c: the web dashboard's routes. Pages and scripts are the embedded
 * files of web/; every figure comes from rpc_query_run (the same code as the
 * Query API and `picketctl report`) and is turned into JSON here by walking the
 * protobuf answer's descriptor, so the browser never computes a figure (the
 * latency series: dashboard_series.c). The default view is kept by two
 * background threads: the refresh thread's report (and the slower 7/30-day
 * uptimes, 90 days per service and 60 per check), and the live thread's last results, bars and incidents
 * (dashboard_live.c), joined in /api/board. Read-only: no route writes. */
#include "dashboard.h"
#include "json_num.h"
#include "dashboard_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "foreground.h"
#include "log.h"
#include "picket/v1/picket.pb-c.h"
#include "result.h"
#include "rpc_query.h"
#include "store.h"

#define MINUTE_US INT64_C(60000000)
#define REFRESH_US INT64_C(5000000) /* the default view's snapshot: never older than this while passes are fast */
#define REFRESH_MARGIN_US INT64_C(500000) /* for a pass that takes longer than the last */
#define SLOW_PART_US INT64_C(200000) /* a refresh of the 7/30-day uptimes that took this long puts the 90 days off */
/* The live part of the overview (last results, history bars, incidents): the
 * live thread starts a pass this often while someone reads, or less often when
 * a pass takes over half of it (the thread idle at least half the time). */
#define LIVE_EVERY_US INT64_C(1500000)
/* A refresh pass starts once no query someone waits for has run for this long
 * (foreground.c), waiting at most REFRESH_US; the 7/30-day uptimes, half a
 * second of work at 1,000 checks, are put off to a pass after a longer quiet,
 * at most LONG_YIELD_MAX_US. */
#define FG_QUIET_US INT64_C(300000)
#define LONG_QUIET_US INT64_C(2000000)
#define LONG_YIELD_MAX_US INT64_C(30000000)
/* Nobody read the snapshot for this long: stop recomputing it until someone does
 * (the default of --dashboard-idle-after-s). */
#define IDLE_AFTER_US INT64_C(60000000)
/* The first reader after a start waits this long at most for the part it
 * reads (await_part), then gets 503 "not computed yet" as before. */
#define FIRST_PART_WAIT_US INT64_C(10000000)

/* The default view (no arguments: the last 24 hours, every check) is computed
 * by a background thread (each pass ending within REFRESH_US of the last one's
 * start) on its own connection and served
 * from this snapshot, so a first load never waits for a report of every check. */
struct svc_state {
    char service[PK_NAME_MAX];
    int state; /* -1 unknown (no result yet), 0 down, 1 up */
    double uptime; /* the worst check's global uptime; NaN: no data */
};

struct snapshot {
    char *report, *incidents; /* JSON, NULL until the first pass finished */
    size_t report_len, incidents_len;
    struct svc_state *svcs; /* the public status of every service, from the report */
    size_t n_svcs;
    char *overview; /* the overview extras (dashboard_api.c); NULL until computed */
    size_t overview_len;
    struct dash_check_fig *figs; /* every check's badge figures */
    size_t n_figs;
    struct dash_hist *hist; /* 90 days per service (status_pages.c); NULL until computed */
    struct dash_maint *maint; /* the status pages' maintenance (status_pages.c); NULL until computed */
    char *board, *board_gz; /* /api/board (dashboard_live.c) and its gzip; NULL until computed */
    size_t board_len, board_gz_len;
};

/* Requests that need the database take one of these connections, so a check
 * page's six calls (made at once by the browser) run side by side on the HTTP
 * server's threads instead of one after another on one connection. Opened on
 * first use. */
#define DASH_CONNS 4
struct dash_conn {
    pthread_mutex_t mu; /* one request at a time on this connection */
    struct store *store;
    int64_t used_us; /* its last answer; 0 after a failure: ping (and reconnect) before the next */
};
/* A connection that answered this recently is used without a ping first. */
#define CONN_TRUSTED_US INT64_C(5000000)

struct dashboard {
    struct dash_conn conns[DASH_CONNS];
    unsigned next_conn; /* where a request that finds every connection busy waits (atomic) */
    char *conninfo;
    pthread_mutex_t snap_mu; /* guards snap and stop */
    pthread_cond_t wake;
    pthread_cond_t published; /* a part of snap was stored, or a pass ended (readers waiting for the first) */
    uint64_t refresh_passes, live_passes; /* passes ended, stored or not (guarded by snap_mu) */
    struct snapshot snap;
    atomic_int stop; /* also read by pk_fg_wait_quiet without snap_mu */
    int thread_started;
    int idle;               /* threads waiting for a reader (guarded by snap_mu) */
    int64_t last_demand_us; /* when the snapshot was last read, 0: never (guarded by snap_mu) */
    int64_t idle_after_us;  /* no reader for this long: stop refreshing (guarded by snap_mu) */
    pthread_t thread;
    /* The live thread (live_main) and the board's two parts: each part is
     * replaced, and the board rendered from both, under board_mu. */
    pthread_t live_thread;
    int live_started;
    pthread_mutex_t board_mu;
    struct dash_live *live;
    struct dash_agg *agg;
    char (*etags)[24]; /* of pk_web_assets[i]: "\"<fnv-1a 64 of its bytes>\"" (NULL: sent without) */
    struct dash_auth *auth; /* NULL: no login */
    struct status_pages *pages; /* NULL: no --status-pages file */
};

static void *refresh_main(void *arg);
static void *live_main(void *arg);
static const struct status_page *page_of(struct dashboard *d, const char *url, pk_http_arg_fn arg, void *ctx);

struct dashboard *dashboard_open(const char *conninfo)
{
    struct dashboard *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->conninfo = strdup(conninfo ? conninfo : "");
    if (!d->conninfo) {
        free(d);
        return NULL;
    }
    for (int i = 0; i < DASH_CONNS; i++)
        pthread_mutex_init(&d->conns[i].mu, NULL);
    d->etags = calloc(pk_web_assets_count ? pk_web_assets_count : 1, sizeof *d->etags);
    for (size_t i = 0; d->etags && i < pk_web_assets_count; i++) {
        uint64_t h = 1469598103934665603u;
        for (size_t k = 0; k < pk_web_assets[i].len; k++)
            h = (h ^ pk_web_assets[i].data[k]) * 1099511628211u;
        snprintf(d->etags[i], sizeof d->etags[i], "\"%016" PRIx64 "\"", h);
    }
    pthread_mutex_init(&d->snap_mu, NULL);
    pthread_cond_init(&d->wake, NULL);
    pthread_cond_init(&d->published, NULL);
    pthread_mutex_init(&d->board_mu, NULL);
    d->last_demand_us = 0; /* nothing is computed before the first reader (await_first_reader) */
    d->idle_after_us = IDLE_AFTER_US;
    d->thread_started = pthread_create(&d->thread, NULL, refresh_main, d) == 0;
    d->live_started = pthread_create(&d->live_thread, NULL, live_main, d) == 0;
    return d;
}

void dashboard_set_idle_after(struct dashboard *d, int64_t us)
{
    pthread_mutex_lock(&d->snap_mu);
    d->idle_after_us = us;
    pthread_mutex_unlock(&d->snap_mu);
}

void dashboard_close(struct dashboard *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->snap_mu);
    d->stop = 1;
    pthread_cond_broadcast(&d->wake);
    pthread_cond_broadcast(&d->published);
    pthread_mutex_unlock(&d->snap_mu);
    if (d->thread_started)
        pthread_join(d->thread, NULL);
    if (d->live_started)
        pthread_join(d->live_thread, NULL);
    dash_live_free(d->live);
    dash_agg_free(d->agg);
    free(d->snap.board);
    free(d->snap.board_gz);
    pthread_mutex_destroy(&d->board_mu);
    free(d->snap.report);
    free(d->snap.incidents);
    free(d->snap.svcs);
    free(d->snap.overview);
    free(d->snap.figs);
    dash_hist_free(d->snap.hist);
    dash_maint_free(d->snap.maint);
    status_pages_free(d->pages);
    pthread_cond_destroy(&d->wake);
    pthread_cond_destroy(&d->published);
    pthread_mutex_destroy(&d->snap_mu);
    for (int i = 0; i < DASH_CONNS; i++) {
        store_close(d->conns[i].store);
        pthread_mutex_destroy(&d->conns[i].mu);
    }
    dash_auth_free(d->auth);
    free(d->etags);
    free(d->conninfo);
    free(d);
}

int dashboard_owns(const char *url)
{
    return strcmp(url, "/") == 0 || strncmp(url, "/assets/", 8) == 0 || strncmp(url, "/api/", 5) == 0 ||
           strncmp(url, "/status/", 8) == 0 || strncmp(url, "/check/", 7) == 0 ||
           strncmp(url, "/service/", 9) == 0 || strcmp(url, "/quality") == 0 || strncmp(url, "/badge/", 7) == 0;
}

/* ------------------------------------------------------------ replies */

static const struct pk_web_asset *asset(const char *name)
{
    for (size_t i = 0; i < pk_web_assets_count; i++)
        if (strcmp(pk_web_assets[i].name, name) == 0)
            return &pk_web_assets[i];
    return NULL;
}

/* An embedded file with its ETag: 304 with no body when the browser's copy
 * (If-None-Match) is this one, so a page's scripts and styles are not sent
 * and compiled again on every load, and never stale after an upgrade. */
static void reply_asset(const struct dashboard *d, const struct pk_web_asset *a, pk_http_arg_fn arg, void *ctx,
                        struct pk_http_reply *out)
{
    const char *tag = d->etags ? d->etags[a - pk_web_assets] : NULL;
    const char *has = tag && arg ? arg(ctx, PK_HTTP_HEADER_ARG "If-None-Match") : NULL;
    if (has && strcmp(has, tag) == 0)
        *out = (struct pk_http_reply){304, a->type, "", 0, 0, NULL, tag};
    else
        *out = (struct pk_http_reply){200, a->type, a->data, a->len, 0, NULL, tag};
}

static void reply_json(struct pk_http_reply *out, unsigned int code, struct json_object *j)
{
    const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = strdup(s ? s : "null");
    json_object_put(j);
    if (!copy) {
        *out = (struct pk_http_reply){500, "text/plain", "out of memory\n", 14, 0};
        return;
    }
    *out = (struct pk_http_reply){code, "application/json", copy, strlen(copy), 1};
}

static void reply_error(struct pk_http_reply *out, unsigned int code, const char *msg)
{
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "error", json_object_new_string(msg));
    reply_json(out, code, j);
}

/* A database error stays in the log: its text names the database's host and
 * port, which an unauthenticated dashboard client must not learn. */
static void reply_store_error(struct pk_http_reply *out, const char *detail)
{
    char q[256];
    PK_WARN("dashboard", "database error", "detail=%s", pk_log_q(q, sizeof q, detail));
    reply_error(out, 503, "the database is unavailable; the collector's log has the detail");
}

void dash_reply_json(struct pk_http_reply *out, unsigned int code, struct json_object *j) { reply_json(out, code, j); }
void dash_reply_error(struct pk_http_reply *out, unsigned int code, const char *msg) { reply_error(out, code, msg); }
void dash_reply_store_error(struct pk_http_reply *out, const char *detail) { reply_store_error(out, detail); }

/* ---------------------------------------------------------- arguments */

/* A time: whole Unix seconds, or a duration before now ("90s", "30m", "6h", "7d").
 * 0 and *us = 0 when absent. */
static int parse_time(const char *name, const char *v, int64_t now_us, int64_t *us, char *err, size_t errlen)
{
    *us = 0;
    if (!v || !v[0])
        return 0;
    errno = 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || n < 0)
        goto bad;
    if (!*end) {
        if (n > 253402300799LL) /* after 9999-12-31: would overflow as microseconds */
            goto bad;
        *us = (int64_t)n * 1000000;
        return 0;
    }
    if (end[1])
        goto bad;
    int64_t unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
    if (!unit || n > 3660LL * 86400 / unit)
        goto bad;
    *us = now_us - (int64_t)n * unit * 1000000;
    return 0;
bad:
    snprintf(err, errlen, "%s=%.64s: expected Unix seconds or a duration before now like 30m, 6h, 7d", name, v);
    return -1;
}

static int parse_small(const char *name, const char *v, int lo, int hi, int *out, char *err, size_t errlen)
{
    *out = 0;
    if (!v || !v[0])
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        snprintf(err, errlen, "%s=%.64s: expected a whole number %d..%d", name, v, lo, hi);
        return -1;
    }
    *out = (int)n;
    return 0;
}

typedef pk_http_arg_fn arg_fn;

/* The window of every /api/ call. until defaults to the end of the current
 * minute, so the live page includes the minute in progress. */
static int window_of(arg_fn arg, void *ctx, int64_t now_us, Picket__V1__QueryWindow *w, char *err, size_t errlen)
{
    picket__v1__query_window__init(w);
    if (parse_time("since", arg(ctx, "since"), now_us, &w->since_us, err, errlen) < 0 ||
        parse_time("until", arg(ctx, "until"), now_us, &w->until_us, err, errlen) < 0)
        return -1;
    if (!w->until_us)
        w->until_us = now_us + MINUTE_US;
    const char *s = arg(ctx, "service"), *c = arg(ctx, "check"), *r = arg(ctx, "region");
    w->service = (char *)(s ? s : "");
    w->check_name = (char *)(c ? c : "");
    w->region = (char *)(r ? r : "");
    return 0;
}

/* --------------------------------------------------------------- routes */

static int connect_store(const struct dashboard *d, struct dash_conn *c, char *err, size_t errlen)
{
    int64_t now = pk_now_us();
    if (c->store && (now - c->used_us < CONN_TRUSTED_US || store_ping(c->store) == 0)) {
        c->used_us = now;
        return 0;
    }
    c->used_us = 0;
    store_close(c->store);
    c->store = store_open(d->conninfo, err, errlen);
    return c->store ? 0 : -1;
}

/* A free connection (locked), or NULL when every one is busy. */
static struct dash_conn *try_take_conn(struct dashboard *d)
{
    for (int i = 0; i < DASH_CONNS; i++)
        if (pthread_mutex_trylock(&d->conns[i].mu) == 0)
            return &d->conns[i];
    return NULL;
}

/* A free connection, else the next one in turn (waiting for it); locked. */
static struct dash_conn *take_conn(struct dashboard *d)
{
    for (int i = 0; i < DASH_CONNS; i++)
        if (pthread_mutex_trylock(&d->conns[i].mu) == 0)
            return &d->conns[i];
    struct dash_conn *c = &d->conns[__atomic_fetch_add(&d->next_conn, 1, __ATOMIC_RELAXED) % DASH_CONNS];
    pthread_mutex_lock(&c->mu);
    return c;
}

static void run_query(struct store *st, enum rpc_query_kind kind, const ProtobufCMessage *req, int64_t now_us,
                      struct pk_http_reply *out)
{
    char err[512];
    ProtobufCMessage *resp = NULL;
    struct rpc_query_arena *arena = NULL;
    int rc = rpc_query_run(st, kind, req, now_us, &resp, &arena, err, sizeof err);
    if (rc == 0)
        reply_json(out, 200, dash_msg_json(resp));
    else if (rc == -2)
        reply_error(out, 400, err);
    else if (rc == -3) /* a check, service, region or SLO not known: as /api/latency-series */
        reply_error(out, 404, err);
    else
        reply_store_error(out, err);
    rpc_query_arena_free(arena);
}

/* Per service: up (every check's last result passed), down, or unknown, and
 * its worst check's uptime. r's checks come sorted by service. */
static struct svc_state *service_states(const Picket__V1__ReportResponse *r, size_t *n)
{
    struct svc_state *out = calloc(r->n_checks ? r->n_checks : 1, sizeof *out);
    *n = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < r->n_checks;) {
        const char *svc = r->checks[i]->service;
        int up = 1, known = 0;
        double uptime = NAN;
        size_t k = i;
        for (; k < r->n_checks && strcmp(r->checks[k]->service, svc) == 0; k++) {
            const Picket__V1__ReportCheck *c = r->checks[k];
            if (c->last_started_at_us) {
                known = 1;
                up &= c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_OK ||
                      c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_DEGRADED;
            }
            double u = c->availability && c->availability->global ? c->availability->global->uptime : NAN;
            if (!isnan(u) && (isnan(uptime) || u < uptime))
                uptime = u;
        }
        struct svc_state *st = &out[(*n)++];
        snprintf(st->service, sizeof st->service, "%s", svc);
        st->state = known ? up : -1;
        st->uptime = uptime;
        i = k;
    }
    return out;
}

/* Every check's badge figures from the report (7 and 30 days filled in later). */
static struct dash_check_fig *check_figs(const Picket__V1__ReportResponse *r, size_t *n)
{
    struct dash_check_fig *out = calloc(r->n_checks ? r->n_checks : 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; out && i < r->n_checks; i++) {
        const Picket__V1__ReportCheck *c = r->checks[i];
        struct dash_check_fig *f = &out[(*n)++];
        snprintf(f->check, sizeof f->check, "%s", c->check_name);
        snprintf(f->service, sizeof f->service, "%s", c->service);
        f->state = !c->last_started_at_us ? -1
                                          : c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_OK ||
                                                c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_DEGRADED;
        f->u24 = c->availability && c->availability->global ? c->availability->global->uptime : NAN;
        f->u7 = f->u30 = NAN;
        f->p95_us = c->latency && c->latency->p95_us > 0 ? (double)c->latency->p95_us : NAN;
        f->budget_p95_us = c->latency ? (double)c->latency->budget_p95_us : NAN;
    }
    return out;
}

/* The default view's report as JSON with when it was computed and how long it
 * took, its services' and checks' figures and the board's 24-hour part; NULL
 * when the store failed (logged by the caller's next live request). */
struct report_pass {
    char *json;
    size_t len;
    struct svc_state *svcs;
    size_t n_svcs;
    struct dash_check_fig *figs;
    size_t n_figs;
    struct dash_agg *agg;
};

static void report_pass_free(struct report_pass *p)
{
    free(p->json);
    free(p->svcs);
    free(p->figs);
    dash_agg_free(p->agg);
    memset(p, 0, sizeof *p);
}

/* A refresh thread's own connection: st as it is when it answers, else a new one
 * (NULL while the database is down; the thread tries again on its next pass). */
static struct store *thread_store(const struct dashboard *d, struct store *st)
{
    if (st && store_ping(st) == 0)
        return st;
    store_close(st);
    char err[512];
    return store_open(d->conninfo, err, sizeof err);
}

static int report_pass(struct store *st, struct report_pass *p)
{
    char err[512];
    int64_t now_us = pk_now_us();
    memset(p, 0, sizeof *p);
    Picket__V1__QueryWindow w = PICKET__V1__QUERY_WINDOW__INIT;
    w.until_us = now_us + MINUTE_US;
    Picket__V1__ReportRequest rr = PICKET__V1__REPORT_REQUEST__INIT;
    rr.window = &w;
    ProtobufCMessage *resp = NULL;
    struct rpc_query_arena *arena = NULL;
    if (rpc_query_run(st, RQ_REPORT, &rr.base, now_us, &resp, &arena, err, sizeof err) == 0) {
        double ms = (double)(pk_now_us() - now_us) / 1000.0;
        p->svcs = service_states((const Picket__V1__ReportResponse *)resp, &p->n_svcs);
        p->figs = check_figs((const Picket__V1__ReportResponse *)resp, &p->n_figs);
        p->agg = dash_agg_from_report(resp, now_us, ms);
        struct json_object *j = dash_msg_json(resp);
        json_object_object_add(j, "computed_at_us", json_object_new_int64(now_us));
        json_object_object_add(j, "compute_ms", json_object_new_double(ms));
        const char *txt = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        p->json = strdup(txt ? txt : "null");
        p->len = p->json ? strlen(p->json) : 0;
        json_object_put(j);
    }
    rpc_query_arena_free(arena);
    if (p->json && p->svcs && p->figs && p->agg)
        return 0;
    report_pass_free(p);
    return -1;
}

/* The board from both parts into the snapshot (caller holds board_mu; no board
 * before the first live part: its rows are the live part's checks). */
static void render_board(struct dashboard *d)
{
    char *json = NULL, *gz = NULL;
    size_t len = 0, gzlen = 0;
    if (!d->live || dash_board_render(d->live, d->agg, &json, &len, &gz, &gzlen) < 0)
        return;
    pthread_mutex_lock(&d->snap_mu);
    char *old = d->snap.board, *old_gz = d->snap.board_gz;
    d->snap.board = json;
    d->snap.board_len = len;
    d->snap.board_gz = gz;
    d->snap.board_gz_len = gzlen;
    pthread_cond_broadcast(&d->published);
    pthread_mutex_unlock(&d->snap_mu);
    free(old);
    free(old_gz);
}

/* The live part's current state of every check into the badges' figures, and
 * each service's state from its checks' (caller holds board_mu and snap_mu):
 * what the status pages and badges show is as fresh as the live part. */
static void apply_live_states(struct dashboard *d)
{
    struct dash_check_fig *f = d->snap.figs;
    size_t nf = d->snap.n_figs, k = 0;
    for (size_t i = 0; d->live && i < nf; i++)
        dash_live_state(d->live, f[i].check, &f[i].state);
    for (size_t s = 0; d->live && s < d->snap.n_svcs; s++) { /* both by service (the report's order) */
        struct svc_state *sv = &d->snap.svcs[s];
        int up = 1, known = 0;
        while (k < nf && strcmp(f[k].service, sv->service) != 0)
            k++;
        for (; k < nf && strcmp(f[k].service, sv->service) == 0; k++)
            if (f[k].state >= 0) {
                known = 1;
                up &= f[k].state;
            }
        sv->state = known ? up : -1;
    }
}

/* A new report into the snapshot and the board's 24-hour part. */
static void publish_report(struct dashboard *d, struct report_pass *p)
{
    pthread_mutex_lock(&d->board_mu);
    pthread_mutex_lock(&d->snap_mu);
    free(d->snap.report);
    free(d->snap.svcs);
    free(d->snap.figs);
    d->snap.report = p->json;
    d->snap.report_len = p->len;
    d->snap.svcs = p->svcs;
    d->snap.n_svcs = p->n_svcs;
    d->snap.figs = p->figs;
    d->snap.n_figs = p->n_figs;
    apply_live_states(d);
    pthread_cond_broadcast(&d->published);
    pthread_mutex_unlock(&d->snap_mu);
    dash_agg_free(d->agg);
    d->agg = p->agg;
    render_board(d);
    pthread_mutex_unlock(&d->board_mu);
    memset(p, 0, sizeof *p);
}

/* Waits until wake_us (or stop), then, while nobody has read the snapshot for
 * the idle period and have_snapshot is still set, until a reader comes (caller
 * holds snap_mu). */
static void pace(struct dashboard *d, int64_t wake_us, char *const *have_snapshot)
{
    struct timespec ts = {(time_t)(wake_us / 1000000), (long)(wake_us % 1000000) * 1000};
    while (!d->stop && pk_now_us() < wake_us)
        if (pthread_cond_timedwait(&d->wake, &d->snap_mu, &ts) == ETIMEDOUT)
            break;
    /* Nobody is looking: an idle collector runs no query until a reader comes
     * back (who then gets the last snapshot, with its age, and wakes us). */
    d->idle++;
    while (!d->stop && *have_snapshot && pk_now_us() - d->last_demand_us > d->idle_after_us)
        pthread_cond_wait(&d->wake, &d->snap_mu);
    d->idle--;
}

/* Before anyone has read the dashboard, its threads compute nothing: a
 * collector started with --http-listen and never looked at runs no dashboard
 * query, and a command run right after a start does not share the machine
 * with a first pass nobody asked for. The first reader wakes them and waits
 * for the part it reads (await_part). Caller holds snap_mu. */
static void await_first_reader(struct dashboard *d)
{
    d->idle++;
    while (!d->stop && d->last_demand_us == 0)
        pthread_cond_wait(&d->wake, &d->snap_mu);
    d->idle--;
}

/* The refresh thread: the default view's report (the board's 24-hour part),
 * then the 7/30-day uptimes and the 90 days per service on their own cadence. */
static void *refresh_main(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "pk-dash-refresh");
    struct dashboard *d = arg;
    struct store *st = NULL;
    struct dash_long *long_cache = NULL;
    int hist_waited = 0; /* the 90 days were put off by one pass */
    int64_t long_due_us = 0; /* when the 7/30-day uptimes fell due and were put off (0: not) */
    pthread_mutex_lock(&d->snap_mu);
    await_first_reader(d);
    while (!d->stop) {
        int have_report = d->snap.report != NULL;
        pthread_mutex_unlock(&d->snap_mu);
        /* Queries someone waits for go first (foreground.c); not the first
         * pass, which the first reader waits for. */
        int64_t waited = have_report ? pk_fg_wait_quiet(FG_QUIET_US, REFRESH_US, &d->stop) : 0;
        int64_t started = pk_now_us();
        st = thread_store(d, st);
        struct report_pass rp;
        if (st && report_pass(st, &rp) == 0) {
            /* The badges' 7/30-day uptimes from the last overview (refreshed
             * every 5 minutes below); the report is published at once, not
             * after the slower parts below. */
            for (size_t i = 0; i < rp.n_figs; i++)
                dash_long_lookup(long_cache, rp.figs[i].check, &rp.figs[i].u7, &rp.figs[i].u30);
            dash_agg_set_long(rp.agg, long_cache);
            publish_report(d, &rp);
            PK_DEBUG("dashboard", "report pass", "ms=%.0f waited_ms=%.0f", (double)(pk_now_us() - started) / 1000.0,
                     (double)waited / 1000.0);
        }
        struct dash_maint *maint = st ? dash_maint_compute(st, pk_now_us()) : NULL;
        /* The 7/30-day uptimes and the 90 days per service: every 5 minutes (every
         * 30 s in a collector's first 10 minutes), not counted in took below. Both
         * fall due together; the 90 days wait one pass when the uptimes were just
         * computed (half a second at 1,000 checks). The uptimes are put off, pass
         * after pass, while users' queries run (at most LONG_YIELD_MAX_US). */
        int64_t slow_us = 0, long_was = dash_long_at(long_cache);
        int64_t now = pk_now_us();
        int long_ok = 0;
        if (st && dash_long_due(long_cache, now)) {
            if (!long_due_us)
                long_due_us = now;
            long_ok = pk_fg_quiet(LONG_QUIET_US) || now - long_due_us >= LONG_YIELD_MAX_US;
            PK_DEBUG("dashboard", "7/30-day uptimes due", "put_off_ms=%.0f now=%d", (double)(now - long_due_us) / 1000.0,
                     long_ok);
            if (long_ok)
                long_due_us = 0;
        }
        size_t ol = 0;
        char *ov = st && !d->stop ? dash_overview_json(st, now, &long_cache, long_ok, &ol, &slow_us) : NULL;
        struct dash_hist *hist = NULL;
        if (st && (slow_us < SLOW_PART_US || hist_waited)) {
            int64_t t = pk_now_us();
            dash_hist_refresh(st, t, &d->snap.hist, &hist); /* only this thread writes d->snap.hist */
            slow_us += pk_now_us() - t;
            hist_waited = 0;
        } else {
            hist_waited = st != NULL;
        }
        if (dash_long_at(long_cache) != long_was) { /* new 7/30-day uptimes: into the board */
            pthread_mutex_lock(&d->board_mu);
            dash_agg_set_long(d->agg, long_cache);
            render_board(d);
            pthread_mutex_unlock(&d->board_mu);
        }
        pthread_mutex_lock(&d->snap_mu);
        if (ov) {
            free(d->snap.overview);
            d->snap.overview = ov;
            d->snap.overview_len = ol;
        }
        if (hist) {
            dash_hist_free(d->snap.hist);
            d->snap.hist = hist;
        }
        if (maint) {
            dash_maint_free(d->snap.maint);
            d->snap.maint = maint;
        }
        for (size_t i = 0; i < d->snap.n_figs; i++) /* the first pass published them before they were known */
            dash_long_lookup(long_cache, d->snap.figs[i].check, &d->snap.figs[i].u7, &d->snap.figs[i].u30);
        d->refresh_passes++;
        pthread_cond_broadcast(&d->published);
        /* The next pass starts so that it ends within REFRESH_US of this one's
         * start while a pass takes under half of it, and the thread is idle at
         * least half the time (a pass that takes longer widens the period). */
        int64_t took = pk_now_us() - started - slow_us;
        int64_t period = REFRESH_US - REFRESH_MARGIN_US - took;
        pace(d, started + (period > took ? period : took), &d->snap.report);
    }
    pthread_mutex_unlock(&d->snap_mu);
    dash_long_free(long_cache);
    store_close(st);
    return NULL;
}

/* The live thread: the board's live part (and the default view's incidents)
 * every LIVE_EVERY_US while someone reads, on its own connection, so the
 * overview's last results, history bars and incidents never wait for the
 * report. */
static void *live_main(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "pk-dash-live");
    struct dashboard *d = arg;
    struct store *st = NULL;
    pthread_mutex_lock(&d->snap_mu);
    await_first_reader(d);
    while (!d->stop) {
        pthread_mutex_unlock(&d->snap_mu);
        int64_t started = pk_now_us();
        st = thread_store(d, st);
        char *inc = NULL;
        size_t il = 0;
        struct dash_live *lp = st ? dash_live_compute(st, started, &inc, &il) : NULL;
        if (lp) {
            pthread_mutex_lock(&d->board_mu);
            dash_live_free(d->live);
            d->live = lp;
            pthread_mutex_lock(&d->snap_mu);
            free(d->snap.incidents);
            d->snap.incidents = inc;
            d->snap.incidents_len = il;
            apply_live_states(d);
            pthread_cond_broadcast(&d->published);
            pthread_mutex_unlock(&d->snap_mu);
            render_board(d);
            pthread_mutex_unlock(&d->board_mu);
        }
        int64_t took = pk_now_us() - started;
        pthread_mutex_lock(&d->snap_mu);
        d->live_passes++;
        pthread_cond_broadcast(&d->published);
        pace(d, started + (LIVE_EVERY_US > 2 * took ? LIVE_EVERY_US : 2 * took), &d->snap.board);
    }
    pthread_mutex_unlock(&d->snap_mu);
    store_close(st);
    return NULL;
}

/* A reader of the snapshot came (caller holds snap_mu): keep it fresh. */
static void note_demand(struct dashboard *d)
{
    d->last_demand_us = pk_now_us();
    if (d->idle)
        pthread_cond_broadcast(&d->wake);
}

/* The parts of the snapshot a reader may wait for (await_part). */
enum snap_part { PART_REPORT, PART_INCIDENTS, PART_OVERVIEW, PART_HIST, PART_BOARD };

static int have_part(const struct snapshot *s, enum snap_part part)
{
    switch (part) {
    case PART_REPORT: /* the badges' figures and the services' states come with it */
        return s->report != NULL;
    case PART_INCIDENTS:
        return s->incidents != NULL;
    case PART_OVERVIEW:
        return s->overview != NULL;
    case PART_HIST:
        return s->hist != NULL;
    case PART_BOARD:
        return s->board != NULL;
    }
    return 0;
}

/* note_demand, then, while the part is not computed yet (the first reader
 * since the start: await_first_reader), waits for it up to FIRST_PART_WAIT_US
 * (caller holds snap_mu; the part may still be NULL after). */
static void await_part(struct dashboard *d, enum snap_part part)
{
    note_demand(d);
    /* A pass of the thread that makes the part ended without it (the
     * database unreachable, a query failed): no use waiting for the next. */
    const uint64_t *passes = part == PART_BOARD || part == PART_INCIDENTS ? &d->live_passes : &d->refresh_passes;
    const uint64_t enough = *passes + (part == PART_HIST ? 2 : 1); /* the 90 days may be put off one pass */
    int64_t until = pk_now_us() + FIRST_PART_WAIT_US;
    struct timespec ts = {(time_t)(until / 1000000), (long)(until % 1000000) * 1000};
    while (!d->stop && !have_part(&d->snap, part) && *passes < enough)
        if (pthread_cond_timedwait(&d->published, &d->snap_mu, &ts) == ETIMEDOUT)
            break;
}

/* The snapshot's copy of the report or incidents; 0 when there is none yet. */
static int from_snapshot(struct dashboard *d, enum rpc_query_kind kind, struct pk_http_reply *out)
{
    pthread_mutex_lock(&d->snap_mu);
    await_part(d, kind == RQ_REPORT ? PART_REPORT : kind == RQ_INCIDENTS ? PART_INCIDENTS : PART_OVERVIEW);
    const char *src = kind == RQ_REPORT ? d->snap.report : kind == RQ_INCIDENTS ? d->snap.incidents : d->snap.overview;
    size_t len = kind == RQ_REPORT      ? d->snap.report_len
                 : kind == RQ_INCIDENTS ? d->snap.incidents_len
                                        : d->snap.overview_len;
    char *copy = src ? malloc(len + 1) : NULL;
    if (copy)
        memcpy(copy, src, len + 1);
    pthread_mutex_unlock(&d->snap_mu);
    if (!copy)
        return 0;
    *out = (struct pk_http_reply){200, "application/json", copy, len, 1};
    return 1;
}

/* /api/board from the snapshot, gzipped for a client that accepts it; 0 when
 * there is none yet. */
static int board_reply(struct dashboard *d, arg_fn arg, void *ctx, struct pk_http_reply *out)
{
    const char *ae = arg(ctx, PK_HTTP_HEADER_ARG "Accept-Encoding");
    pthread_mutex_lock(&d->snap_mu);
    await_part(d, PART_BOARD);
    int gz = d->snap.board_gz && ae && strstr(ae, "gzip");
    const char *src = gz ? d->snap.board_gz : d->snap.board;
    size_t len = gz ? d->snap.board_gz_len : d->snap.board_len;
    char *copy = src ? malloc(len + 1) : NULL;
    if (copy)
        memcpy(copy, src, len);
    pthread_mutex_unlock(&d->snap_mu);
    if (!copy)
        return 0;
    *out = (struct pk_http_reply){200, "application/json", copy, len, 1, NULL, NULL, gz ? "gzip" : NULL};
    return 1;
}

/* /api/day-bars: each check's last 60 UTC days, rendered with the status
 * pages' history (status_pages.c) by the refresh thread every 5 minutes (30 s
 * in the collector's first 10), so at most that old plus a pass; 0 when there
 * is none yet. */
static int day_bars_reply(struct dashboard *d, struct pk_http_reply *out)
{
    pthread_mutex_lock(&d->snap_mu);
    await_part(d, PART_HIST);
    const struct dash_hist *h = d->snap.hist;
    size_t len = h && h->day_bars ? h->day_bars_len : 0;
    char *copy = h && h->day_bars ? malloc(len + 1) : NULL;
    if (copy)
        memcpy(copy, h->day_bars, len + 1);
    pthread_mutex_unlock(&d->snap_mu);
    if (!copy)
        return 0;
    *out = (struct pk_http_reply){200, "application/json", copy, len, 1};
    return 1;
}

static int no_arguments(arg_fn arg, void *ctx)
{
    static const char *const keys[] = {"since", "until", "service", "check", "region", "open_after", "close_after",
                                       "quorum"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (arg(ctx, keys[i]))
            return 0;
    return 1;
}

/* The public status of a service group (a page of --status-pages, or the
 * services under the group's name): per service only up/down, uptime over the
 * last 24 hours, 90 daily bars and its incidents, and the maintenance windows
 * ongoing or planned on its services, from the background snapshot
 * (so a public page never starts a report). Nothing else leaves: no check
 * names, targets, messages or latencies. */
static void api_status(struct dashboard *d, const char *group, struct pk_http_reply *out)
{
    char err[512];
    if (!group[0] || strlen(group) > 128) {
        reply_error(out, 400, "status needs a service group: /status/<group>");
        return;
    }
    pthread_mutex_lock(&d->snap_mu);
    await_part(d, PART_REPORT);
    if (!d->snap.report) {
        pthread_mutex_unlock(&d->snap_mu);
        reply_error(out, 503, "the status is not computed yet; retry in a few seconds");
        return;
    }
    const struct status_page *page = status_page_find(d->pages, group);
    struct json_object *j = json_object_new_object(), *svcs = json_object_new_array();
    json_object_object_add(j, "group", json_object_new_string(group));
    dash_status_page_json(j, page, d->snap.hist);
    dash_status_maint_json(j, d->snap.maint, page, group, pk_now_us());
    for (size_t i = 0; i < d->snap.n_svcs; i++) {
        const struct svc_state *st = &d->snap.svcs[i];
        if (!status_page_has(page, group, st->service))
            continue;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "service", json_object_new_string(st->service));
        json_object_object_add(o, "state",
                               json_object_new_string(st->state < 0 ? "unknown" : st->state ? "up" : "down"));
        json_object_object_add(o, "uptime", pk_json_num(st->uptime));
        dash_status_service_json(o, d->snap.hist, st->service);
        json_object_array_add(svcs, o);
    }
    pthread_mutex_unlock(&d->snap_mu);
    json_object_object_add(j, "services", svcs);
    if (json_object_array_length(svcs) == 0) {
        json_object_put(j);
        snprintf(err, sizeof err, "no service in group '%.128s'", group);
        reply_error(out, 404, err);
        return;
    }
    reply_json(out, 200, j);
}

static void serve_store_api(struct dashboard *d, const char *name, const Picket__V1__QueryWindow *wp, int64_t now_us,
                            arg_fn arg, void *ctx, struct pk_http_reply *out);

static void serve_api(struct dashboard *d, const char *name, arg_fn arg, void *ctx, struct pk_http_reply *out)
{
    char err[512];
    int64_t now_us = pk_now_us();
    Picket__V1__QueryWindow w;
    if (window_of(arg, ctx, now_us, &w, err, sizeof err) < 0) {
        reply_error(out, 400, err);
        return;
    }
    int known = strcmp(name, "report") == 0 || strcmp(name, "incidents") == 0 ||
                strcmp(name, "latency-series") == 0 || strcmp(name, "probes") == 0 || strcmp(name, "status") == 0 ||
                strcmp(name, "overview") == 0 || strcmp(name, "check-results") == 0 || strcmp(name, "slo") == 0 ||
                strcmp(name, "check-marks") == 0 || strcmp(name, "check-page") == 0 || strcmp(name, "board") == 0 ||
                strcmp(name, "day-bars") == 0;
    if (!known) {
        snprintf(err, sizeof err,
                 "no API /api/%.64s (board, day-bars, report, incidents, latency-series, probes, status, "
                 "overview, check-results, slo, check-marks, check-page)",
                 name);
        reply_error(out, 404, err);
        return;
    }
    if (strcmp(name, "status") == 0) {
        const char *g = arg(ctx, "group");
        api_status(d, g ? g : "", out);
        return;
    }
    if (strcmp(name, "board") == 0) { /* the background threads' parts only: never computed per request */
        if (!board_reply(d, arg, ctx, out))
            reply_error(out, 503, "the overview is not computed yet; retry in a few seconds");
        return;
    }
    if (strcmp(name, "day-bars") == 0) { /* the status history's pass only: never computed per request */
        if (!day_bars_reply(d, out))
            reply_error(out, 503, "the day bars are not computed yet; retry in a few seconds");
        return;
    }
    if (strcmp(name, "overview") == 0) { /* the background thread's extras only: never computed per request */
        if (!from_snapshot(d, RQ_AVAILABILITY, out))
            reply_error(out, 503, "the overview is not computed yet; retry in a few seconds");
        return;
    }
    if ((strcmp(name, "report") == 0 || strcmp(name, "incidents") == 0) && no_arguments(arg, ctx) &&
        from_snapshot(d, name[0] == 'r' ? RQ_REPORT : RQ_INCIDENTS, out))
        return;
    serve_store_api(d, name, &w, now_us, arg, ctx, out);
}

/* The calls that read the database, on st (a connection of the pool): 1 when
 * name is one of them, with *out filled. */
int dash_store_call(struct store *st, const char *name, const Picket__V1__QueryWindow *wp, int64_t now_us, arg_fn arg,
                    void *ctx, struct pk_http_reply *out)
{
    char err[512];
    Picket__V1__QueryWindow w = *wp;
    if (strcmp(name, "report") == 0) {
        Picket__V1__ReportRequest req = PICKET__V1__REPORT_REQUEST__INIT;
        req.window = &w;
        run_query(st, RQ_REPORT, &req.base, now_us, out);
    } else if (strcmp(name, "incidents") == 0) {
        Picket__V1__IncidentsRequest req = PICKET__V1__INCIDENTS_REQUEST__INIT;
        req.window = &w;
        if (parse_small("open_after", arg(ctx, "open_after"), 1, 10000, &req.open_after, err, sizeof err) < 0 ||
            parse_small("close_after", arg(ctx, "close_after"), 1, 10000, &req.close_after, err, sizeof err) < 0 ||
            parse_small("quorum", arg(ctx, "quorum"), 1, 64, &req.quorum, err, sizeof err) < 0) {
            reply_error(out, 400, err);
        } else {
            run_query(st, RQ_INCIDENTS, &req.base, now_us, out);
        }
    } else if (strcmp(name, "latency-series") == 0) {
        dash_latency_series(st, &w, now_us, out);
    } else if (strcmp(name, "probes") == 0) {
        dash_probes(st, now_us, out);
    } else if (strcmp(name, "check-marks") == 0) {
        dash_check_marks(st, w.check_name, w.since_us, w.until_us, out);
    } else if (strcmp(name, "check-page") == 0) {
        dash_check_page(st, NULL, &w, now_us, arg, ctx, out);
    } else {
        return dash_api_route(st, name, arg, ctx, w.until_us, out); /* dashboard_api.c's */
    }
    return 1;
}

/* The calls that read the database, on a connection of their own. */
static void serve_store_api_on(struct dashboard *d, const char *name, const Picket__V1__QueryWindow *wp,
                               int64_t now_us, arg_fn arg, void *ctx, struct pk_http_reply *out)
{
    char err[512];
    struct dash_conn *c = take_conn(d);
    if (connect_store(d, c, err, sizeof err) < 0) {
        pthread_mutex_unlock(&c->mu);
        reply_store_error(out, err);
        return;
    }
    if (strcmp(name, "check-page") == 0) { /* its parts on two connections when a second one is free */
        struct dash_conn *c2 = try_take_conn(d);
        if (c2 && connect_store(d, c2, err, sizeof err) < 0) {
            pthread_mutex_unlock(&c2->mu);
            c2 = NULL;
        }
        dash_check_page(c->store, c2 ? c2->store : NULL, wp, now_us, arg, ctx, out);
        if (c2) {
            if (out->code == 503)
                c2->used_us = 0;
            pthread_mutex_unlock(&c2->mu);
        }
    } else if (!dash_store_call(c->store, name, wp, now_us, arg, ctx, out)) { /* else status */
        pthread_mutex_unlock(&c->mu);
        const char *g = arg(ctx, "group");
        api_status(d, g ? g : "", out);
        return;
    }
    if (out->code == 503) /* the database failed it: ping (and reconnect) before trusting the link again */
        c->used_us = 0;
    pthread_mutex_unlock(&c->mu);
}

/* A user waits for it: the dashboard's own passes wait (foreground.c). */
static void serve_store_api(struct dashboard *d, const char *name, const Picket__V1__QueryWindow *wp, int64_t now_us,
                            arg_fn arg, void *ctx, struct pk_http_reply *out)
{
    pk_fg_enter();
    serve_store_api_on(d, name, wp, now_us, arg, ctx, out);
    pk_fg_leave();
}

void dashboard_serve(struct dashboard *d, const char *url, arg_fn arg, void *ctx, struct pk_http_reply *out)
{
    const struct pk_web_asset *a = NULL;
    if (strcmp(url, "/") == 0)
        a = asset("index.html");
    else if (strncmp(url, "/assets/", 8) == 0)
        a = asset(url + 8);
    else if (strncmp(url, "/status/", 8) == 0 && strchr(url + 8, '/')) {
        const struct status_page *p = page_of(d, url, NULL, NULL);
        if (p && p->logo && strcmp(strchr(url + 8, '/'), "/logo") == 0)
            *out = (struct pk_http_reply){200, p->logo_type, p->logo, p->logo_len, 0, NULL};
        else
            *out = (struct pk_http_reply){404, "text/plain", "not found\n", 10, 0, NULL};
        return;
    } else if (strncmp(url, "/status/", 8) == 0)
        a = asset("status.html"); /* the page asks /api/status?group= itself */
    else if (strncmp(url, "/badge/", 7) == 0) {
        pthread_mutex_lock(&d->snap_mu);
        await_part(d, PART_REPORT);
        if (d->snap.figs)
            dash_badge(d->snap.figs, d->snap.n_figs, url + 7, out);
        else
            reply_error(out, 503, "not computed yet; retry in a few seconds");
        pthread_mutex_unlock(&d->snap_mu);
        return;
    }
    else if (strncmp(url, "/check/", 7) == 0)
        a = asset("check.html"); /* the check's name and range are read by the page from its URL */
    else if (strncmp(url, "/service/", 9) == 0)
        a = asset("index.html"); /* the overview, filtered to the service in the path */
    else if (strcmp(url, "/quality") == 0)
        a = asset("quality.html");
    if (a) {
        reply_asset(d, a, arg, ctx, out);
        return;
    }
    if (strncmp(url, "/api/", 5) != 0) {
        *out = (struct pk_http_reply){404, "text/plain", "not found\n", 10, 0};
        return;
    }
    serve_api(d, url + 5, arg, ctx, out);
}

int dashboard_set_auth(struct dashboard *d, const char *path, char *err, size_t errlen)
{
    struct dash_auth *a = dash_auth_load(path, err, errlen);
    if (!a)
        return -1;
    dash_auth_free(d->auth);
    d->auth = a;
    return 0;
}

int dashboard_wants_client_certs(const struct dashboard *d) { return dash_auth_wants_certs(d->auth); }

int dashboard_set_status_pages(struct dashboard *d, const char *path, char *err, size_t errlen)
{
    struct status_pages *sp = status_pages_load(path, err, errlen);
    if (!sp)
        return -1;
    status_pages_free(d->pages);
    d->pages = sp;
    return 0;
}

/* The page a /status/NAME[/logo] URL names, or the group of /api/status?group=. */
static const struct status_page *page_of(struct dashboard *d, const char *url, arg_fn arg, void *ctx)
{
    if (strcmp(url, "/api/status") == 0) {
        const char *g = arg(ctx, "group");
        return status_page_find(d->pages, g ? g : "");
    }
    char name[64];
    const char *p = url + 8, *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n >= sizeof name)
        return NULL;
    memcpy(name, p, n);
    name[n] = '\0';
    return status_page_find(d->pages, name);
}

/* What a public status page needs, and the badges of services on public pages;
 * everything else waits for a login when one is set. A page of --status-pages
 * with public: false is not public. */
static int is_public(struct dashboard *d, const char *url, arg_fn arg, void *ctx)
{
    if (strcmp(url, "/assets/status.js") == 0 || strcmp(url, "/assets/dashboard.css") == 0 ||
        strcmp(url, "/assets/common.js") == 0)
        return 1;
    if (strncmp(url, "/status/", 8) == 0 || strcmp(url, "/api/status") == 0) {
        const struct status_page *p = page_of(d, url, arg, ctx);
        return !p || p->public_page;
    }
    if (strncmp(url, "/badge/", 7) != 0)
        return 0;
    const char *slash = strrchr(url + 7, '/');
    size_t cl = slash ? (size_t)(slash - (url + 7)) : 0;
    int pub = 0;
    pthread_mutex_lock(&d->snap_mu);
    for (size_t i = 0; cl && i < d->snap.n_figs; i++)
        if (strlen(d->snap.figs[i].check) == cl && strncmp(d->snap.figs[i].check, url + 7, cl) == 0)
            pub = status_pages_publish(d->pages, d->snap.figs[i].service);
    pthread_mutex_unlock(&d->snap_mu);
    return pub;
}

int dashboard_route(void *d, const char *url, pk_http_arg_fn arg, void *argctx, struct pk_http_reply *out)
{
    struct dashboard *dash = d;
    if (!dashboard_owns(url))
        return 0;
    if (dash->auth && !is_public(dash, url, arg, argctx) &&
        !dash_auth_allows(dash->auth, arg(argctx, PK_HTTP_HEADER_ARG "Authorization"), arg(argctx, PK_HTTP_CLIENT_CN_ARG))) {
        static const char body[] =
            "{\"error\":\"log in: Authorization: Bearer TOKEN, a user and password, or a client certificate\"}";
        *out = (struct pk_http_reply){401, "application/json", body, sizeof body - 1, 0,
                                      "Basic realm=\"Picket dashboard\", charset=\"UTF-8\""};
        return 1;
    }
    dashboard_serve(d, url, arg, argctx, out);
    return 1;
}
