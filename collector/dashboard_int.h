/* dashboard_int.h: private to the dashboard's files (dashboard.c, the routes
 * and snapshot; dashboard_api.c, the overview extras and the check page's
 * results; dashboard_auth.c, the optional login). */
#ifndef PK_DASHBOARD_INT_H
#define PK_DASHBOARD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dashboard.h"
#include "maint.h"
#include "result.h"
#include "store.h"

struct json_object;
struct ProtobufCMessage;
/* A protobuf answer as the API's JSON (dashboard_json.c). */
struct json_object *dash_msg_json(const struct ProtobufCMessage *m);

/* Replies, as dashboard.c makes them (j is consumed). */
void dash_reply_json(struct pk_http_reply *out, unsigned int code, struct json_object *j);
void dash_reply_error(struct pk_http_reply *out, unsigned int code, const char *msg);
/* 503; the detail goes to the log only. */
void dash_reply_store_error(struct pk_http_reply *out, const char *detail);

/* The 7-day and 30-day uptimes, kept between passes of the background thread. */
struct dash_long;
void dash_long_free(struct dash_long *c);
/* When c was computed (0: c NULL). */
int64_t dash_long_at(const struct dash_long *c);
/* 1 when the 7/30-day uptimes are to be computed again at now_us (NULL: never computed). */
int dash_long_due(const struct dash_long *c, int64_t now_us);
/* The overview extras as JSON (malloc'd), or NULL when the store failed (logged).
 * Refreshes the 7/30-day uptimes first when due and long_ok, and adds the time
 * that took to *slow_us. */
char *dash_overview_json(struct store *st, int64_t now_us, struct dash_long **cache, int long_ok, size_t *len,
                         int64_t *slow_us);

/* One check's history bar of the last DASH_ROUNDS rounds (dashboard_api.c):
 * one character per round ('u' up, 'g' degraded, 'p' partly failed, 'd' down,
 * '-' no result), its round width, its newest result and whether it is stale
 * (no result for 3 intervals, at least 3 minutes; -1 unknown). */
#define DASH_ROUNDS 60
struct store_check_meta;
struct store_bar_row;
struct dash_bar_line {
    char line[DASH_ROUNDS + 1];
    int64_t round_us, last_us;
    int stale;
};
void dash_bar_line(const struct store_check_meta *m, const struct store_bar_row *bars, size_t nb, int64_t now_us,
                   struct dash_bar_line *out);

/* ---- dashboard_live.c: /api/board, the overview's first load in one compact
 * answer from two parts with their own ages. The live part (every check's last
 * result, history bar, staleness and labels; the incidents of the last 24
 * hours) is computed by the dashboard's live thread every second or two while
 * someone reads; the 24-hour figures (dash_agg) come from the default view's
 * report on the refresh thread's own cadence. */
struct dash_live;
/* One live pass on st: NULL when the store failed (logged). *incidents_json
 * (malloc'd, or NULL) is the default view's /api/incidents answer, *il its length. */
struct dash_live *dash_live_compute(struct store *st, int64_t now_us, char **incidents_json, size_t *il);
void dash_live_free(struct dash_live *lp);
/* 1 with *state (-1 no result, 0 failing, 1 passing) when lp knows check. */
int dash_live_state(const struct dash_live *lp, const char *check, int *state);

struct dash_agg;
/* The 24-hour figures of every check from a ReportResponse computed at at_us
 * in compute_ms; NULL when out of memory. */
struct dash_agg *dash_agg_from_report(const struct ProtobufCMessage *report, int64_t at_us, double compute_ms);
/* Fills the 7- and 30-day uptimes from c (c NULL: not known yet). */
void dash_agg_set_long(struct dash_agg *a, const struct dash_long *c);
void dash_agg_free(struct dash_agg *a);

/* The board from both parts (either may be NULL: its fields are null): 0 with
 * *json (and its gzip, *gz, or NULL when compressing failed) malloc'd; -1 when
 * out of memory. */
int dash_board_render(const struct dash_live *lp, const struct dash_agg *ag, char **json, size_t *len, char **gz,
                      size_t *gzlen);

/* 1 when name (after /api/) is one of dashboard_api.c's, with *out filled. */
int dash_api_route(struct store *st, const char *name, pk_http_arg_fn arg, void *ctx, int64_t until_us,
                   struct pk_http_reply *out);

/* dashboard.c: one of the calls that read the database (report, incidents,
 * latency-series, probes, check-marks, check-page and dashboard_api.c's), on
 * st, with w the request's window: 1 with *out filled, 0 when name is none. */
struct Picket__V1__QueryWindow;
int dash_store_call(struct store *st, const char *name, const struct Picket__V1__QueryWindow *w, int64_t now_us,
                    pk_http_arg_fn arg, void *ctx, struct pk_http_reply *out);

/* dashboard_series.c: /api/latency-series of w's check (and region) over w's
 * window, and /api/probes. */
void dash_latency_series(struct store *st, const struct Picket__V1__QueryWindow *w, int64_t now_us,
                         struct pk_http_reply *out);
void dash_probes(struct store *st, int64_t now_us, struct pk_http_reply *out);

/* dashboard_series.c: each of regions' latency series of w's check over w's window,
 * exactly as /api/latency-series?region= answers them, from one rollup read
 * grouped by region, into b as "REGION":{...} pairs separated by commas. 0, or
 * -1 with *out the error. */
struct pk_buf;
int dash_region_series(struct store *st, const struct Picket__V1__QueryWindow *w, int64_t now_us,
                       const char (*regions)[PK_NAME_MAX], size_t n_regions, struct pk_buf *b,
                       struct pk_http_reply *out);

/* ---- dashboard_page.c: /api/check-page, every part of a check's page in one
 * answer (report, incidents, series, per-region series, results, slo, marks);
 * with st2 (a second connection, or NULL) the series and marks are read on it
 * beside the rest. */
void dash_check_page(struct store *st, struct store *st2, const struct Picket__V1__QueryWindow *w, int64_t now_us,
                     pk_http_arg_fn arg, void *ctx, struct pk_http_reply *out);

/* ---- dashboard_marks.c: /api/check-marks, the check's maintenance intervals
 * and learned baseline band over [since, until). */
void dash_check_marks(struct store *st, const char *check, int64_t since_us, int64_t until_us,
                      struct pk_http_reply *out);

/* 1 with *u7 and *u30 (NaN: no data) when the cache knows the check. */
int dash_long_lookup(const struct dash_long *c, const char *check, double *u7, double *u30);

/* ---- status_pages.c: the --status-pages file and 90 days per service */
#define STATUS_PAGE_MAX_SERVICES 200
struct status_page {
    char name[64];   /* /status/NAME */
    char title[128];
    char *logo;      /* the logo file's bytes, or NULL */
    size_t logo_len;
    const char *logo_type;
    int public_page; /* 1: served without login */
    char services[STATUS_PAGE_MAX_SERVICES][PK_NAME_MAX];
    size_t n_services;
};
struct status_pages {
    struct status_page *pages;
    size_t n;
};
/* NULL with err naming FILE:LINE:COL when the file is malformed. */
struct status_pages *status_pages_load(const char *path, char *err, size_t errlen);
void status_pages_free(struct status_pages *sp);
const struct status_page *status_page_find(const struct status_pages *sp, const char *name);
/* 1 when service is on page p, or (p NULL: a page not in the file) is group or under "group." / "group/". */
int status_page_has(const struct status_page *p, const char *group, const char *service);
/* 1 when a public page of the file lists service. */
int status_pages_publish(const struct status_pages *sp, const char *service);

#define DASH_DAYS 90
struct dash_incident {
    int64_t start_us, end_us, duration_us; /* end_us -1: open */
};
struct dash_svc_hist {
    char service[PK_NAME_MAX];
    double day[DASH_DAYS]; /* the worst check's good / judged results that day (UTC); NaN: none */
    struct dash_incident *inc;
    size_t n_inc;
};
/* One check's days, as read for its service (the overview's day bars). */
struct dash_check_days {
    char check[PK_NAME_MAX];
    double day[DASH_DAYS]; /* good / judged results that day (UTC); NaN: none */
};
struct dash_hist {
    int64_t at_us, day0_us; /* computed at; the first day's start (day DASH_DAYS - 1 is today) */
    int64_t first_at_us;    /* the first history's at_us */
    double compute_ms;
    struct dash_svc_hist *svcs;
    size_t n;
    struct dash_check_days *checks; /* every check's days, from the same rollup reads */
    size_t n_checks;
    char *day_bars; /* /api/day-bars (dash_day_bars_json), rendered with the history; NULL: out of memory */
    size_t day_bars_len;
};
void dash_hist_free(struct dash_hist *h);
/* *fresh: a new history when *cur is missing or older than 5 minutes (30 s in
 * the first 10 minutes); NULL otherwise or on failure (logged). */
void dash_hist_refresh(struct store *st, int64_t now_us, struct dash_hist **cur, struct dash_hist **fresh);

/* The overview's day bars (bars=days): each check's last DASH_DAY_BARS UTC days
 * (today last) of the history above, one character per day by the status
 * page's thresholds: 'u' a share of good results of DASH_DAY_UP or more, 'p'
 * DASH_DAY_PARTIAL or more, 'd' below, '-' no result that day. */
#define DASH_DAY_BARS 60
#define DASH_DAY_UP 0.999
#define DASH_DAY_PARTIAL 0.99
char dash_day_state(double good);
/* {"at_us","compute_ms","first_day_us","days":60,"checks":{NAME:[LINE,[share of
 * each day with data, oldest first]]}} of h (malloc'd, *len its length), NULL
 * when out of memory. */
char *dash_day_bars_json(const struct dash_hist *h, size_t *len);

/* The page's title, logo URL and the history's days (p NULL: a page not in the file). */
void dash_status_page_json(struct json_object *j, const struct status_page *p, const struct dash_hist *h);
/* Adds "days" (DASH_DAYS ratios, null: no data) and "incidents" (newest first) of one service. */
void dash_status_service_json(struct json_object *o, const struct dash_hist *h, const char *service);

/* The maintenance windows status pages show (status_pages.c): per window its
 * occurrence that holds now or the next one starting within
 * DASH_MAINT_AHEAD_US, and per service how many of its checks the window
 * covers. Computed by the refresh thread on every pass; requests only read. */
#define DASH_MAINT_AHEAD_US (INT64_C(30) * 86400 * 1000000)
struct dash_maint_cover {
    char service[PK_NAME_MAX];
    int checks, checks_total; /* the service's checks the window covers; all of them */
};
struct dash_maint_occ {
    char name[MAINT_NAME_MAX], reason[sizeof ((struct maint_window *)0)->reason];
    int64_t start_us, end_us; /* [start, end) */
    struct dash_maint_cover *cover; /* owned */
    size_t n_cover;
};
struct dash_maint {
    int64_t at_us;
    struct dash_maint_occ *occ; /* by start */
    size_t n;
};
void dash_maint_free(struct dash_maint *m);
/* The windows of maint_apply_windows (the --maintenance file's and the
 * store's) as of now_us; NULL when the store failed (logged). Caller frees. */
struct dash_maint *dash_maint_compute(struct store *st, int64_t now_us);
/* Adds "maintenance" (the occurrences not over at now_us that cover a
 * service of the page, with only those services) and "maintenance_at_us". */
void dash_status_maint_json(struct json_object *j, const struct dash_maint *m, const struct status_page *p,
                            const char *group, int64_t now_us);

/* ---- badges.c: SVG badges of one check from the default view */
struct dash_check_fig {
    char check[PK_NAME_MAX], service[PK_NAME_MAX];
    int state; /* -1 no result, 0 failing, 1 passing */
    double u24, u7, u30, p95_us, budget_p95_us; /* NaN: no data */
};
/* /badge/CHECK/KIND.svg with KIND uptime-24h, uptime-7d, uptime-30d, status or p95: 1 with *out filled. */
void dash_badge(const struct dash_check_fig *figs, size_t n, const char *path, struct pk_http_reply *out);

/* dashboard_auth.c: the optional login (--dashboard-auth FILE). */
struct dash_auth;
/* NULL with err naming the file and line when it cannot be read or is malformed. */
struct dash_auth *dash_auth_load(const char *path, char *err, size_t errlen);
void dash_auth_free(struct dash_auth *a);
/* 1 when the Authorization header's value names a token or user of a, or
 * client_cn (a verified TLS client certificate's common name, NULL: none) is
 * one of a's cert lines. */
int dash_auth_allows(struct dash_auth *a, const char *authorization, const char *client_cn);
/* 1 when a has cert lines (the listener must then verify client certificates). */
int dash_auth_wants_certs(const struct dash_auth *a);

#endif
