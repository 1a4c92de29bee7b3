/* query.c: picketctl's analytics commands. Each parses its flags, makes one
 * QueryService call (rpc_ctl.c) and prints the answer as a table for people,
 * JSON (--json) or CSV (--csv) for scripts. A figure with no data is "-" in
 * tables, null in JSON and empty in CSV, never 0. Computes nothing itself: every
 * figure is the collector's (docs/ANALYTICS.md). */
#include "query.h"
#include "json_num.h"
#include "query_int.h"

#include <json-c/json.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "options.h"
#include "pk_error.h"
#include "result.h"
#include "rpc_ctl.h"
#include "term.h"
#include "timeparse.h"

#define MAX_QUANTILES 16

/* The order is the tags' bit order below (T_AVAILABILITY ...). */
static const struct {
    const char *name, *method, *summary;
} commands[] = {
    {"report", "Report", "the live quality dashboard: per service and check, the last result (e2e pass/fail),\n"
                         "p50/p95/p99 against budget, uptime per region, trend arrows, open incidents, SLO budget left"},
    {"availability", "Availability", "success ratio and time-based uptime per check, globally (region quorum) and per region"},
    {"latency", "Latency", "p50/p95/p99 (or --quantile) per check and region, against the check's budgets"},
    {"trend", "Trend", "Theil-Sen slope of hourly p95 and of hourly error rate, % per day with a 95% band"},
    {"incidents", "Incidents", "incidents (N down rounds open, M up rounds close) with MTTR/MTBF, per check and service"},
    {"slo", "Slo", "error budget left and burn rates (1h/5m, 6h/30m) of the checks that have an slo: key,\n"
                   "and of the SLOs over groups of checks in the collector's --slos file;\n"
                   "with --backtest, every alarm the burn-rate rules would have raised over the window"},
    {"regressions", "Regressions", "back-test: every alarm the baseline regression rule (the alert thread's and\n"
                                   "report's) would have raised over the window (at most 31 days), hour by hour;\n"
                                   "asked in parts of half the --timeout each until every check is judged\n"
                                   "(progress on a terminal's stderr)"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int command_index(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return (int)i;
    return -1;
}

int ctl_query_is_command(const char *name)
{
    return command_index(name) >= 0;
}

/* ---------------------------------------------------------------- options */


/* Bits of struct pk_option.tags: the commands an option belongs to (0: all). */
#define T_AVAILABILITY (1u << 1)
#define T_LATENCY (1u << 2)
#define T_INCIDENTS (1u << 4)
#define T_SLO (1u << 5)
#define T_REGRESSIONS (1u << 6)

/* What one analytics command's options set. */
struct query_opts {
    const char *name; /* the command */
    int idx;          /* its index in commands[] */
    Picket__V1__QueryWindow window;
    enum format fmt;
    long quorum, open_after, close_after;
    double quantiles[MAX_QUANTILES];
    size_t n_quantiles;
    const char *since, *until, *group;
    const char *metric;                      /* regressions --metric */
    int no_fast;                             /* regressions --no-fast */
    const char *direction;                   /* regressions --direction */
    int backtest;                            /* slo --backtest */
    double threshold, factor;                /* regressions --threshold; slo --backtest --factor */
    long consecutive, long_min, short_min, part_ms; /* --consecutive; --long-window, --short-window; --part-ms */
};

static int set_format(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    (void)v, (void)src;
    struct query_opts *q = t;
    if (q->fmt != TABLE)
        return pk_fail(err, errlen, "give --json or --csv, not both");
    q->fmt = strcmp(opt->name, "json") == 0 ? JSON : CSV;
    return 0;
}

/* --quorum, --open-after, --close-after: counts of the commands in opt->tags. */
static int set_count(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    struct query_opts *q = t;
    double d;
    if (!(opt->tags & (1u << (unsigned)q->idx)))
        return pk_fail(err, errlen, "%s is not an option of this command", src);
    if (pk_opts_number(opt, v, src, &d, err, errlen) < 0)
        return -1;
    *(long *)((char *)t + opt->offset) = (long)d;
    return 0;
}

static int set_quantile(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                        size_t errlen)
{
    (void)opt;
    struct query_opts *q = t;
    if (q->idx != command_index("latency"))
        return pk_fail(err, errlen, "%s is an option of latency", src);
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d >= 0 && d <= 1) || q->n_quantiles == MAX_QUANTILES)
        return pk_fail(err, errlen, "%s must be in 0..1 (at most %d), got '%s'", src, MAX_QUANTILES, v);
    q->quantiles[q->n_quantiles++] = d;
    return 0;
}

static int set_group(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    (void)opt;
    struct query_opts *q = t;
    if (q->idx != command_index("slo"))
        return pk_fail(err, errlen, "%s is an option of slo", src);
    q->group = v;
    return 0;
}

static int set_metric(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    (void)opt;
    struct query_opts *q = t;
    if (q->idx != command_index("regressions"))
        return pk_fail(err, errlen, "%s is an option of regressions", src);
    if (!strcmp(opt->name, "no-fast")) {
        q->no_fast = 1;
        return 0;
    }
    if (!strcmp(opt->name, "direction")) {
        q->direction = v; /* the collector checks it (down, up or both, with a metric) */
        return 0;
    }
    if (!v[0] || strlen(v) > 63)
        return pk_fail(err, errlen, "%s: a metric name of 1 to 63 characters, got '%.80s'", src, v);
    q->metric = v;
    return 0;
}

/* --backtest and the numbers of the back-tests, each only for its command. */
static int set_backtest_number(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                               size_t errlen)
{
    struct query_opts *q = t;
    if (!(opt->tags & (1u << (unsigned)q->idx)))
        return pk_fail(err, errlen, "%s is not an option of this command", src);
    if (opt->kind == PK_OPT_CALL && !opt->metavar) {
        q->backtest = 1;
        return 0;
    }
    double d;
    if (pk_opts_number(opt, v, src, &d, err, errlen) < 0)
        return -1;
    if (!strcmp(opt->name, "threshold"))
        q->threshold = d;
    else if (!strcmp(opt->name, "factor"))
        q->factor = d;
    else
        *(long *)((char *)t + opt->offset) = (long)d;
    return 0;
}

#define OFF(member) offsetof(struct query_opts, member)
static const struct pk_option query_options[] = {
    {.name = "since", .kind = PK_OPT_STRING, .offset = OFF(since), .metavar = "T",
     .help = "window start: RFC 3339 (2026-11-26T10:00:00Z) or a duration\n"
             "before now (90s, 30m, 24h, 7d, 2w); default: until - 24h"},
    {.name = "until", .kind = PK_OPT_STRING, .offset = OFF(until), .metavar = "T",
     .help = "window end, the same forms or \"now\" (default)"},
    {.name = "check", .kind = PK_OPT_STRING, .offset = OFF(window.check_name), .metavar = "NAME",
     .help = "only this check"},
    {.name = "service", .kind = PK_OPT_STRING, .offset = OFF(window.service), .metavar = "S",
     .help = "only the checks of this service"},
    {.name = "region", .kind = PK_OPT_STRING, .offset = OFF(window.region), .metavar = "R",
     .help = "only results from probes in this region"},
    {.name = "quorum", .kind = PK_OPT_CALL, .set = set_count, .offset = OFF(quorum), .min = 1, .max = 64,
     .metavar = "N", .tags = T_AVAILABILITY | T_INCIDENTS,
     .help = "regions down in one round for global down (default: a majority of\nthe regions with data)"},
    {.name = "quantile", .kind = PK_OPT_CALL, .set = set_quantile, .metavar = "Q", .tags = T_LATENCY,
     .help = "a quantile in 0..1, repeatable (default 0.5 0.95 0.99)"},
    {.name = "open-after", .kind = PK_OPT_CALL, .set = set_count, .offset = OFF(open_after), .min = 1, .max = 10000,
     .metavar = "N", .tags = T_INCIDENTS, .help = "consecutive down rounds that open an incident (default 3)"},
    {.name = "close-after", .kind = PK_OPT_CALL, .set = set_count, .offset = OFF(close_after), .min = 1,
     .max = 10000, .metavar = "M", .tags = T_INCIDENTS, .help = "consecutive up rounds that close it (default 3)"},
    {.name = "group", .kind = PK_OPT_CALL, .set = set_group, .metavar = "NAME", .tags = T_SLO,
     .help = "only this group SLO (no per-check SLOs)\n(without --since the window is each SLO's own window)"},
    {.name = "backtest", .kind = PK_OPT_CALL, .set = set_backtest_number, .tags = T_SLO,
     .help = "list when each burn-rate rule would have fired and cleared over\nthe window (at most 31 days)"},
    {.name = "long-window", .kind = PK_OPT_CALL, .set = set_backtest_number, .offset = OFF(long_min), .min = 1,
     .max = 10080, .metavar = "MIN", .tags = T_SLO,
     .help = "with --backtest: one rule's long window in minutes (with\n--short-window and --factor; default: 60/5 at 14.4 and 360/30 at 6)"},
    {.name = "short-window", .kind = PK_OPT_CALL, .set = set_backtest_number, .offset = OFF(short_min), .min = 1,
     .max = 10080, .metavar = "MIN", .tags = T_SLO, .help = "with --backtest: that rule's short window in minutes"},
    {.name = "factor", .kind = PK_OPT_CALL, .set = set_backtest_number, .min = 0.001, .max = 1e6, .metavar = "F",
     .tags = T_SLO, .help = "with --backtest: the burn rate both windows must exceed"},
    {.name = "threshold", .kind = PK_OPT_CALL, .set = set_backtest_number, .min = 0.1, .max = 1000, .metavar = "Z",
     .tags = T_REGRESSIONS, .help = "robust z beyond which an hour is deviant (default 3, the rule's)"},
    {.name = "consecutive", .kind = PK_OPT_CALL, .set = set_backtest_number, .offset = OFF(consecutive), .min = 1,
     .max = 168, .metavar = "K", .tags = T_REGRESSIONS,
     .help = "deviant hours in a row that raise, normal ones that clear (default 3)"},
    {.name = "metric", .kind = PK_OPT_CALL, .set = set_metric, .metavar = "NAME", .tags = T_REGRESSIONS,
     .help = "judge this numeric metric the checks extract (answer_length,\nsources...) instead of the latency: "
             "its hourly median and (unless\n--no-fast) its 5-minute medians, deviant in --direction"},
    {.name = "direction", .kind = PK_OPT_CALL, .set = set_metric, .metavar = "DIR", .tags = T_REGRESSIONS,
     .help = "with --metric: down (the default: a drop regresses), up or both"},
    {.name = "no-fast", .kind = PK_OPT_CALL, .set = set_metric, .tags = T_REGRESSIONS,
     .help = "the hourly half of the rule only (an alert rule's fast: false);\n"
             "by default latency (or --metric) is also judged on 5-minute medians"},
    {.name = "part-ms", .kind = PK_OPT_CALL, .set = set_backtest_number, .offset = OFF(part_ms), .min = 1, .max = 600000,
     .metavar = "MS", .tags = T_REGRESSIONS, .help = "each part's time on the collector (default: half the --timeout)"},
    {.name = "json", .kind = PK_OPT_CALL, .set = set_format, .help = "JSON (no data: null)"},
    {.name = "csv", .kind = PK_OPT_CALL, .set = set_format, .help = "CSV with a header line (no data: empty)"},
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
};
#undef OFF

void ctl_query_usage(FILE *f, const char *name)
{
    int i = command_index(name);
    if (i < 0)
        return;
    fprintf(f,
            "usage: picketctl [options] %s [--since T] [--until T] [--check NAME] [--service S]\n"
            "                 [--region R] [--json | --csv]\n"
            "\n"
            "%s.\n"
            "\n",
            commands[i].name, commands[i].summary);
    pk_opts_print(f, query_options, sizeof query_options / sizeof query_options[0], 23, 1u << (unsigned)i);
    fputs("\n"
          "The window is cut to whole minutes (the rollups' resolution). Exit 0 ok, 1 the collector\n"
          "could not answer, 2 usage (also a check, service or region the collector does not know).\n"
          "Needs a read credential (docs/SECURITY.md).\n",
          f);
}

/* ------------------------------------------------------------------ time */

int ctl_parse_time(const char *s, int64_t now_us, int64_t *us) { return pk_parse_time(s, now_us, us); }

static void format_time(char *buf, size_t size, int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --------------------------------------------------------------- printing */

static json_object *jquantile(double v) /* -1: no data */
{
    return v < 0 || isnan(v) ? NULL : json_object_new_double(v);
}

void query_csv_num(FILE *f, double v)
{
    if (!(isnan(v) || isinf(v)))
        fprintf(f, "%.17g", v);
}

void query_csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void query_fmt_pct(char *buf, size_t size, double ratio)
{
    if (isnan(ratio))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2f%%", 100.0 * ratio);
}

void query_fmt_us(char *buf, size_t size, double us)
{
    if (us < 0 || isnan(us))
        snprintf(buf, size, "-");
    else if (us < 1000)
        snprintf(buf, size, "%.0fus", us);
    else if (us < 1e6)
        snprintf(buf, size, "%.1fms", us / 1000.0);
    else
        snprintf(buf, size, "%.2fs", us / 1e6);
}

static void fmt_dur_s(char *buf, size_t size, double s)
{
    if (isnan(s) || s < 0)
        snprintf(buf, size, "-");
    else if (s < 120)
        snprintf(buf, size, "%.0fs", s);
    else if (s < 7200)
        snprintf(buf, size, "%.1fm", s / 60);
    else if (s < 172800)
        snprintf(buf, size, "%.1fh", s / 3600);
    else
        snprintf(buf, size, "%.1fd", s / 86400);
}

const char *query_arrow(const char *direction)
{
    return strcmp(direction, "up") == 0 ? "↑" : strcmp(direction, "down") == 0 ? "↓" : strcmp(direction, "flat") == 0 ? "→" : "·";
}

static json_object *json_avail_figure(const Picket__V1__AvailabilityFigure *f)
{
    json_object *o = json_object_new_object();
    if (f->region[0])
        json_object_object_add(o, "region", json_object_new_string(f->region));
    const Picket__V1__OutcomeCounts *n = f->counts;
    json_object_object_add(o, "ok", json_object_new_int64(n ? n->ok : 0));
    json_object_object_add(o, "degraded", json_object_new_int64(n ? n->degraded : 0));
    json_object_object_add(o, "failed", json_object_new_int64(n ? n->failed : 0));
    json_object_object_add(o, "unknown", json_object_new_int64(n ? n->unknown : 0));
    json_object_object_add(o, "success_ratio", pk_json_num(f->success_ratio));
    json_object_object_add(o, "uptime", pk_json_num(f->uptime));
    json_object_object_add(o, "covered_us", json_object_new_int64(f->covered_us));
    json_object_object_add(o, "up_us", json_object_new_int64(f->up_us));
    return o;
}

json_object *query_json_availability(const Picket__V1__CheckAvailability *a)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "check", json_object_new_string(a->check_name));
    json_object_object_add(o, "service", json_object_new_string(a->service));
    json_object_object_add(o, "quorum", json_object_new_int(a->quorum));
    json_object_object_add(o, "round_us", json_object_new_int64(a->round_us));
    json_object_object_add(o, "interval_us", json_object_new_int64(a->interval_us));
    json_object_object_add(o, "rounds", json_object_new_int64(a->rounds));
    json_object_object_add(o, "maintenance_us", json_object_new_int64(a->maintenance_us));
    json_object_object_add(o, "global", a->global ? json_avail_figure(a->global) : NULL);
    json_object *regions = json_object_new_array();
    for (size_t i = 0; i < a->n_regions; i++)
        json_object_array_add(regions, json_avail_figure(a->regions[i]));
    json_object_object_add(o, "regions", regions);
    return o;
}

static json_object *json_quantiles(const Picket__V1__LatencyFigure *f)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < f->n_quantiles_us; i++)
        json_object_array_add(arr, jquantile(f->quantiles_us[i]));
    return arr;
}

json_object *query_json_latency(const Picket__V1__CheckLatency *l)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "check", json_object_new_string(l->check_name));
    json_object_object_add(o, "service", json_object_new_string(l->service));
    json_object_object_add(o, "count", json_object_new_int64(l->all ? l->all->count : 0));
    json_object_object_add(o, "quantiles_us", l->all ? json_quantiles(l->all) : json_object_new_array());
    json_object_object_add(o, "mean_us", l->all ? pk_json_num(l->all->mean_us) : NULL);
    json_object_object_add(o, "p50_us", jquantile(l->p50_us));
    json_object_object_add(o, "p95_us", jquantile(l->p95_us));
    json_object_object_add(o, "p99_us", jquantile(l->p99_us));
    json_object *budget = json_object_new_object();
    json_object_object_add(budget, "p50_us", l->budget_p50_us ? json_object_new_int64(l->budget_p50_us) : NULL);
    json_object_object_add(budget, "p95_us", l->budget_p95_us ? json_object_new_int64(l->budget_p95_us) : NULL);
    json_object_object_add(budget, "p99_us", l->budget_p99_us ? json_object_new_int64(l->budget_p99_us) : NULL);
    json_object_object_add(o, "budget", budget);
    json_object *breaches = json_object_new_array();
    static const char *const names[3] = {"p50", "p95", "p99"};
    for (int i = 0; i < 3; i++)
        if (l->breaches & (1u << i))
            json_object_array_add(breaches, json_object_new_string(names[i]));
    json_object_object_add(o, "breaches", breaches);
    json_object *regions = json_object_new_array();
    for (size_t i = 0; i < l->n_regions; i++) {
        json_object *r = json_object_new_object();
        json_object_object_add(r, "region", json_object_new_string(l->regions[i]->region));
        json_object_object_add(r, "count", json_object_new_int64(l->regions[i]->count));
        json_object_object_add(r, "quantiles_us", json_quantiles(l->regions[i]));
        json_object_array_add(regions, r);
    }
    json_object_object_add(o, "regions", regions);
    return o;
}

static json_object *json_trend_figure(const Picket__V1__TrendFigure *f)
{
    json_object *o = json_object_new_object();
    if (!f)
        return o;
    json_object_object_add(o, "points", json_object_new_int64(f->points));
    const struct {
        const char *key;
        double value;
    } figures[] = {
        {"median", f->median},         {"slope_per_day", f->slope_per_day}, {"lo_per_day", f->lo_per_day},
        {"hi_per_day", f->hi_per_day}, {"pct_per_day", f->pct_per_day},     {"pct_lo", f->pct_lo},
        {"pct_hi", f->pct_hi},
    };
    for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++)
        json_object_object_add(o, figures[i].key, pk_json_num(figures[i].value));
    json_object_object_add(o, "direction", f->direction[0] ? json_object_new_string(f->direction) : NULL);
    return o;
}

json_object *query_json_trend(const Picket__V1__CheckTrend *t)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "check", json_object_new_string(t->check_name));
    json_object_object_add(o, "service", json_object_new_string(t->service));
    json_object_object_add(o, "p95_us", json_trend_figure(t->p95_us));
    json_object_object_add(o, "error_rate", json_trend_figure(t->error_rate));
    return o;
}

static json_object *json_incident_list(Picket__V1__Incident **inc, size_t n)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_new_object();
        if (inc[i]->check_name[0])
            json_object_object_add(o, "check", json_object_new_string(inc[i]->check_name));
        json_object_object_add(o, "start_us", json_object_new_int64(inc[i]->start_us));
        json_object_object_add(o, "end_us", inc[i]->end_us >= 0 ? json_object_new_int64(inc[i]->end_us) : NULL);
        json_object_object_add(o, "open", json_object_new_boolean(inc[i]->end_us < 0));
        json_object_object_add(o, "duration_us", json_object_new_int64(inc[i]->duration_us));
        json_object_object_add(o, "down_rounds", json_object_new_int(inc[i]->down_rounds));
        json_object *regions = json_object_new_array();
        for (size_t k = 0; k < inc[i]->n_regions; k++)
            json_object_array_add(regions, json_object_new_string(inc[i]->regions[k]));
        json_object_object_add(o, "regions", regions);
        json_object_object_add(o, "maintenance", json_object_new_boolean(inc[i]->maintenance));
        if (inc[i]->maintenance)
            json_object_object_add(o, "maintenance_window", json_object_new_string(inc[i]->maintenance_window));
        json_object_object_add(o, "caused_by", inc[i]->caused_by[0] ? json_object_new_string(inc[i]->caused_by) : NULL);
        json_object_array_add(arr, o);
    }
    return arr;
}

static json_object *json_incident_stats(const Picket__V1__IncidentStats *s)
{
    json_object *o = json_object_new_object();
    if (!s)
        return o;
    json_object_object_add(o, "count", json_object_new_int64(s->count));
    json_object_object_add(o, "closed", json_object_new_int64(s->closed));
    json_object_object_add(o, "downtime_us", json_object_new_int64(s->downtime_us));
    json_object_object_add(o, "observed_us", json_object_new_int64(s->observed_us));
    json_object_object_add(o, "mttr_s", pk_json_num(s->mttr_s));
    json_object_object_add(o, "mtbf_s", pk_json_num(s->mtbf_s));
    return o;
}

static json_object *json_burns(Picket__V1__SloBurn **burns, size_t n)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        const Picket__V1__SloBurn *b = burns[i];
        json_object *x = json_object_new_object();
        json_object_object_add(x, "long_window_us", json_object_new_int64(b->long_window_us));
        json_object_object_add(x, "short_window_us", json_object_new_int64(b->short_window_us));
        json_object_object_add(x, "factor", json_object_new_double(b->factor));
        json_object_object_add(x, "burn_long", pk_json_num(b->burn_long));
        json_object_object_add(x, "burn_short", pk_json_num(b->burn_short));
        json_object_object_add(x, "firing", json_object_new_boolean(b->firing));
        json_object_array_add(arr, x);
    }
    return arr;
}

json_object *query_json_slo(const Picket__V1__CheckSlo *s)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "check", json_object_new_string(s->check_name));
    json_object_object_add(o, "service", json_object_new_string(s->service));
    json_object_object_add(o, "target", json_object_new_double(s->target));
    json_object_object_add(o, "window_us", json_object_new_int64(s->window_us));
    json_object_object_add(o, "good", json_object_new_int64(s->good));
    json_object_object_add(o, "bad", json_object_new_int64(s->bad));
    json_object_object_add(o, "error_budget", pk_json_num(s->error_budget));
    json_object_object_add(o, "budget_left", pk_json_num(s->budget_left));
    json_object_object_add(o, "budget_left_min", pk_json_num(s->budget_left_min));
    json_object_object_add(o, "burns", json_burns(s->burns, s->n_burns));
    return o;
}

static json_object *json_group_slo(const Picket__V1__GroupSlo *g)
{
    json_object *o = json_object_new_object(), *pat = json_object_new_array(), *mem = json_object_new_array();
    json_object_object_add(o, "name", json_object_new_string(g->name));
    json_object_object_add(o, "description", json_object_new_string(g->description));
    json_object_object_add(o, "service", json_object_new_string(g->service));
    for (size_t i = 0; i < g->n_check_patterns; i++)
        json_object_array_add(pat, json_object_new_string(g->check_patterns[i]));
    json_object_object_add(o, "check_patterns", pat);
    for (size_t i = 0; i < g->n_members; i++)
        json_object_array_add(mem, json_object_new_string(g->members[i]));
    json_object_object_add(o, "members", mem);
    json_object_object_add(o, "target", json_object_new_double(g->target));
    json_object_object_add(o, "window_us", json_object_new_int64(g->window_us));
    json_object_object_add(o, "good", json_object_new_int64(g->good));
    json_object_object_add(o, "bad", json_object_new_int64(g->bad));
    json_object_object_add(o, "error_budget", pk_json_num(g->error_budget));
    json_object_object_add(o, "budget_left", pk_json_num(g->budget_left));
    json_object_object_add(o, "budget_left_min", pk_json_num(g->budget_left_min));
    json_object_object_add(o, "burns", json_burns(g->burns, g->n_burns));
    return o;
}

json_object *query_json_group_slos(Picket__V1__GroupSlo **groups, size_t n)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, json_group_slo(groups[i]));
    return arr;
}

void query_print_json(json_object *root)
{
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

json_object *query_json_root(int64_t since_us, int64_t until_us)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "since_us", json_object_new_int64(since_us));
    json_object_object_add(root, "until_us", json_object_new_int64(until_us));
    return root;
}

void query_print_window(int64_t since_us, int64_t until_us)
{
    char a[40], b[40];
    format_time(a, sizeof a, since_us);
    format_time(b, sizeof b, until_us);
    printf("window %s .. %s\n\n", a, b);
}

/* ---------------------------------------------------------- per command */

static void out_availability(const Picket__V1__AvailabilityResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = query_json_root(r->since_us, r->until_us), *arr = json_object_new_array();
        for (size_t i = 0; i < r->n_checks; i++)
            json_object_array_add(arr, query_json_availability(r->checks[i]));
        json_object_object_add(root, "checks", arr);
        query_print_json(root);
        return;
    }
    if (fmt == CSV)
        printf("check,service,region,ok,degraded,failed,unknown,success_ratio,uptime,covered_s,up_s\n");
    else {
        query_print_window(r->since_us, r->until_us);
        printf("%-28s %-16s %-12s %9s %9s %8s %8s %8s\n", "CHECK", "SERVICE", "REGION", "SUCCESS", "UPTIME", "OK",
               "FAILED", "ROUNDS");
    }
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__CheckAvailability *a = r->checks[i];
        for (size_t k = 0; k <= a->n_regions; k++) {
            const Picket__V1__AvailabilityFigure *f = k == 0 ? a->global : a->regions[k - 1];
            if (!f)
                continue;
            const Picket__V1__OutcomeCounts *n = f->counts;
            const char *region = k == 0 ? "*" : f->region;
            if (fmt == CSV) {
                query_csv_str(stdout, a->check_name);
                putchar(',');
                query_csv_str(stdout, a->service);
                putchar(',');
                query_csv_str(stdout, region);
                printf(",%lld,%lld,%lld,%lld,", (long long)(n ? n->ok : 0), (long long)(n ? n->degraded : 0),
                       (long long)(n ? n->failed : 0), (long long)(n ? n->unknown : 0));
                query_csv_num(stdout, f->success_ratio);
                putchar(',');
                query_csv_num(stdout, f->uptime);
                printf(",%.3f,%.3f\n", (double)f->covered_us / 1e6, (double)f->up_us / 1e6);
            } else {
                char sr[32], up[32], reg[48];
                query_fmt_pct(sr, sizeof sr, f->success_ratio);
                query_fmt_pct(up, sizeof up, f->uptime);
                if (k == 0)
                    snprintf(reg, sizeof reg, "* (quorum %d)", a->quorum);
                else
                    snprintf(reg, sizeof reg, "%s", pk_term(f->region));
                printf("%-28s %-16s %-12s %9s %9s %8lld %8lld %8lld\n", k == 0 ? pk_term(a->check_name) : "",
                       k == 0 ? (a->service[0] ? pk_term(a->service) : "-") : "", reg, sr, up, (long long)(n ? n->ok : 0),
                       (long long)(n ? n->failed : 0), a->round_us ? (long long)(f->covered_us / a->round_us) : 0LL);
            }
        }
    }
}

static void out_latency(const Picket__V1__LatencyResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = query_json_root(r->since_us, r->until_us), *q = json_object_new_array(),
                    *arr = json_object_new_array();
        for (size_t i = 0; i < r->n_quantiles; i++)
            json_object_array_add(q, json_object_new_double(r->quantiles[i]));
        json_object_object_add(root, "quantiles", q);
        for (size_t i = 0; i < r->n_checks; i++)
            json_object_array_add(arr, query_json_latency(r->checks[i]));
        json_object_object_add(root, "checks", arr);
        query_print_json(root);
        return;
    }
    if (fmt == CSV) {
        printf("check,service,region,count");
        for (size_t i = 0; i < r->n_quantiles; i++)
            printf(",q%g_us", r->quantiles[i]);
        printf(",budget_p50_us,budget_p95_us,budget_p99_us\n");
    } else {
        query_print_window(r->since_us, r->until_us);
        printf("%-28s %-12s %8s", "CHECK", "REGION", "COUNT");
        for (size_t i = 0; i < r->n_quantiles; i++) {
            char h[32];
            snprintf(h, sizeof h, "p%g", r->quantiles[i] * 100);
            printf(" %10s", h);
        }
        printf("  BUDGET p50/p95/p99\n");
    }
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__CheckLatency *l = r->checks[i];
        for (size_t k = 0; k <= l->n_regions; k++) {
            const Picket__V1__LatencyFigure *f = k == 0 ? l->all : l->regions[k - 1];
            if (!f)
                continue;
            if (fmt == CSV) {
                query_csv_str(stdout, l->check_name);
                putchar(',');
                query_csv_str(stdout, l->service);
                putchar(',');
                query_csv_str(stdout, k == 0 ? "*" : f->region);
                printf(",%lld", (long long)f->count);
                for (size_t q = 0; q < f->n_quantiles_us; q++) {
                    putchar(',');
                    if (f->quantiles_us[q] >= 0)
                        query_csv_num(stdout, f->quantiles_us[q]);
                }
                printf(",%lld,%lld,%lld\n", (long long)l->budget_p50_us, (long long)l->budget_p95_us,
                       (long long)l->budget_p99_us);
                continue;
            }
            printf("%-28s %-12s %8lld", k == 0 ? pk_term(l->check_name) : "", k == 0 ? "*" : pk_term(f->region), (long long)f->count);
            for (size_t q = 0; q < f->n_quantiles_us; q++) {
                char v[32];
                query_fmt_us(v, sizeof v, f->quantiles_us[q]);
                printf(" %10s", v);
            }
            if (k == 0 && (l->budget_p50_us || l->budget_p95_us || l->budget_p99_us)) {
                char a[32], b[32], c[32];
                query_fmt_us(a, sizeof a, l->budget_p50_us ? (double)l->budget_p50_us : -1);
                query_fmt_us(b, sizeof b, l->budget_p95_us ? (double)l->budget_p95_us : -1);
                query_fmt_us(c, sizeof c, l->budget_p99_us ? (double)l->budget_p99_us : -1);
                printf("  %s/%s/%s%s", a, b, c, l->breaches ? " OVER" : " ok");
            }
            printf("\n");
        }
    }
}

static void out_trend(const Picket__V1__TrendResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = query_json_root(r->since_us, r->until_us), *arr = json_object_new_array();
        for (size_t i = 0; i < r->n_checks; i++)
            json_object_array_add(arr, query_json_trend(r->checks[i]));
        json_object_object_add(root, "checks", arr);
        query_print_json(root);
        return;
    }
    if (fmt == CSV)
        printf("check,service,metric,points,median,slope_per_day,lo_per_day,hi_per_day,pct_per_day,pct_lo,pct_hi,"
               "direction\n");
    else {
        query_print_window(r->since_us, r->until_us);
        printf("%-28s %-11s %6s %12s %12s %26s  %s\n", "CHECK", "METRIC", "HOURS", "MEDIAN", "SLOPE/DAY",
               "%/DAY [95% BAND]", "");
    }
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__CheckTrend *t = r->checks[i];
        for (int m = 0; m < 2; m++) {
            const Picket__V1__TrendFigure *f = m == 0 ? t->p95_us : t->error_rate;
            const char *metric = m == 0 ? "p95_us" : "error_rate";
            if (!f)
                continue;
            if (fmt == CSV) {
                query_csv_str(stdout, t->check_name);
                putchar(',');
                query_csv_str(stdout, t->service);
                printf(",%s,%lld,", metric, (long long)f->points);
                const double v[7] = {f->median, f->slope_per_day, f->lo_per_day, f->hi_per_day,
                                     f->pct_per_day, f->pct_lo, f->pct_hi};
                for (int k = 0; k < 7; k++) {
                    query_csv_num(stdout, v[k]);
                    putchar(',');
                }
                printf("%s\n", f->direction);
                continue;
            }
            char med[32], slope[48], pct[80];
            if (m == 0) {
                query_fmt_us(med, sizeof med, f->median);
                if (isnan(f->slope_per_day))
                    snprintf(slope, sizeof slope, "-");
                else {
                    char s[32];
                    query_fmt_us(s, sizeof s, fabs(f->slope_per_day));
                    snprintf(slope, sizeof slope, "%s%s", f->slope_per_day < 0 ? "-" : "+", s);
                }
            } else {
                query_fmt_pct(med, sizeof med, f->median);
                if (isnan(f->slope_per_day))
                    snprintf(slope, sizeof slope, "-");
                else
                    snprintf(slope, sizeof slope, "%+.3f%%", 100 * f->slope_per_day);
            }
            if (isnan(f->pct_per_day))
                snprintf(pct, sizeof pct, "-");
            else if (isnan(f->pct_lo))
                snprintf(pct, sizeof pct, "%+.1f%%", f->pct_per_day);
            else
                snprintf(pct, sizeof pct, "%+.1f%% [%+.1f, %+.1f]", f->pct_per_day, f->pct_lo, f->pct_hi);
            printf("%-28s %-11s %6lld %12s %12s %26s  %s\n", m == 0 ? pk_term(t->check_name) : "", pk_term(metric),
                   (long long)f->points, med, slope, pct, query_arrow(f->direction));
        }
    }
}

static void print_incident_rows(const char *who, Picket__V1__Incident **inc, size_t n, int64_t until_us)
{
    (void)until_us;
    for (size_t i = 0; i < n; i++) {
        char start[40], end[40], dur[32], regions[256] = "";
        format_time(start, sizeof start, inc[i]->start_us);
        if (inc[i]->end_us >= 0)
            format_time(end, sizeof end, inc[i]->end_us);
        else
            snprintf(end, sizeof end, "open");
        fmt_dur_s(dur, sizeof dur, (double)inc[i]->duration_us / 1e6);
        struct pk_buf rb;
        pk_buf_init_fixed(&rb, regions, sizeof regions);
        for (size_t k = 0; k < inc[i]->n_regions; k++)
            pk_buf_addf(&rb, "%s%s", k ? "," : "", inc[i]->regions[k]);
        char note[300] = "";
        if (inc[i]->maintenance)
            snprintf(note, sizeof note, "  [maintenance: %s]", inc[i]->maintenance_window);
        else if (inc[i]->caused_by[0])
            snprintf(note, sizeof note, "  [caused by %s]", inc[i]->caused_by);
        printf("  %-26s %-20s %-20s %8s %6d  %s%s\n", pk_term(who), start, end, dur, inc[i]->down_rounds, pk_term(regions),
               pk_term(note));
    }
}

static void print_stats(const char *what, const char *name, const Picket__V1__IncidentStats *s)
{
    char mttr[32], mtbf[32];
    fmt_dur_s(mttr, sizeof mttr, s ? s->mttr_s : NAN);
    fmt_dur_s(mtbf, sizeof mtbf, s ? s->mtbf_s : NAN);
    if (s && s->count > 0 && s->mtbf_s == 0)
        snprintf(mtbf, sizeof mtbf, "none (never up)"); /* down the whole window: no time between failures */
    printf("%s %s: %lld incident%s (%lld closed), MTTR %s, MTBF %s\n", what, pk_term(name), (long long)(s ? s->count : 0),
           s && s->count == 1 ? "" : "s", (long long)(s ? s->closed : 0), mttr, mtbf);
}

static void out_incidents(const Picket__V1__IncidentsResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = query_json_root(r->since_us, r->until_us), *arr = json_object_new_array(),
                    *svc = json_object_new_array();
        for (size_t i = 0; i < r->n_checks; i++) {
            const Picket__V1__CheckIncidents *c = r->checks[i];
            json_object *o = json_object_new_object();
            json_object_object_add(o, "check", json_object_new_string(c->check_name));
            json_object_object_add(o, "service", json_object_new_string(c->service));
            json_object_object_add(o, "incidents", json_incident_list(c->incidents, c->n_incidents));
            json_object_object_add(o, "stats", json_incident_stats(c->stats));
            json_object_object_add(o, "open_after", json_object_new_int(c->open_after));
            json_object_object_add(o, "close_after", json_object_new_int(c->close_after));
            json_object_object_add(o, "quorum", json_object_new_int(c->quorum));
            json_object_object_add(o, "round_us", json_object_new_int64(c->round_us));
            json_object_object_add(o, "interval_us", json_object_new_int64(c->interval_us));
            json_object_object_add(o, "rounds", json_object_new_int64(c->rounds));
            json_object_array_add(arr, o);
        }
        for (size_t i = 0; i < r->n_services; i++) {
            const Picket__V1__ServiceIncidents *s = r->services[i];
            json_object *o = json_object_new_object();
            json_object_object_add(o, "service", json_object_new_string(s->service));
            json_object_object_add(o, "incidents", json_incident_list(s->incidents, s->n_incidents));
            json_object_object_add(o, "stats", json_incident_stats(s->stats));
            json_object_array_add(svc, o);
        }
        json_object_object_add(root, "checks", arr);
        json_object_object_add(root, "services", svc);
        query_print_json(root);
        return;
    }
    if (fmt == CSV) {
        printf("kind,name,start_us,end_us,duration_s,down_rounds,regions\n");
        for (int pass = 0; pass < 2; pass++) {
            size_t n = pass == 0 ? r->n_checks : r->n_services;
            for (size_t i = 0; i < n; i++) {
                const char *name = pass == 0 ? r->checks[i]->check_name : r->services[i]->service;
                Picket__V1__Incident **inc = pass == 0 ? r->checks[i]->incidents : r->services[i]->incidents;
                size_t ni = pass == 0 ? r->checks[i]->n_incidents : r->services[i]->n_incidents;
                for (size_t k = 0; k < ni; k++) {
                    printf("%s,", pass == 0 ? "check" : "service");
                    query_csv_str(stdout, name);
                    printf(",%lld,", (long long)inc[k]->start_us);
                    if (inc[k]->end_us >= 0)
                        printf("%lld", (long long)inc[k]->end_us);
                    printf(",%.3f,%d,", (double)inc[k]->duration_us / 1e6, inc[k]->down_rounds);
                    char regions[512] = "";
                    struct pk_buf rb;
                    pk_buf_init_fixed(&rb, regions, sizeof regions);
                    for (size_t x = 0; x < inc[k]->n_regions; x++)
                        pk_buf_addf(&rb, "%s%s", x ? ";" : "", inc[k]->regions[x]);
                    query_csv_str(stdout, regions);
                    putchar('\n');
                }
            }
        }
        return;
    }
    query_print_window(r->since_us, r->until_us);
    printf("  %-26s %-20s %-20s %8s %6s  %s\n", "CHECK / SERVICE", "START", "END", "DURATION", "ROUNDS",
           "REGIONS");
    for (size_t i = 0; i < r->n_checks; i++)
        print_incident_rows(r->checks[i]->check_name, r->checks[i]->incidents, r->checks[i]->n_incidents,
                            r->until_us);
    for (size_t i = 0; i < r->n_services; i++)
        print_incident_rows(r->services[i]->service, r->services[i]->incidents, r->services[i]->n_incidents,
                            r->until_us);
    printf("\n");
    for (size_t i = 0; i < r->n_checks; i++) {
        print_stats("check", r->checks[i]->check_name, r->checks[i]->stats);
        {
            const Picket__V1__CheckIncidents *c = r->checks[i];
            char iv[32];
            fmt_dur_s(iv, sizeof iv, (double)c->round_us / 1e6);
            printf("  rule: open after %d down rounds, close after %d up, quorum %d; %lld rounds of %s with data\n",
                   c->open_after, c->close_after, c->quorum, (long long)c->rounds, c->round_us ? iv : "-");
        }
    }
    for (size_t i = 0; i < r->n_services; i++)
        print_stats("service", r->services[i]->service, r->services[i]->stats);
}

/* The budget left as people read it: a share of the budget and minutes while
 * some is left, "overspent N.Nx" (the budget spent N.N times over) once it is
 * gone; JSON and CSV keep the signed fraction (1 - spent/budget). */
static void fmt_budget_left(char *buf, size_t size, double left, double left_min)
{
    if (isnan(left))
        snprintf(buf, size, "no data");
    else if (left < 0)
        snprintf(buf, size, "overspent %.1fx", 1.0 - left);
    else
        snprintf(buf, size, "%.1f%% (%.0fmin)", 100 * left, left_min);
}

void query_fmt_slo_left(char *buf, size_t size, const Picket__V1__CheckSlo *s)
{
    if (!s)
        snprintf(buf, size, "-");
    else
        fmt_budget_left(buf, size, s->budget_left, s->budget_left_min);
}

/* "1.20/0.00  0.40/0.10 FIRING": long/short burn rate of each alert pair. */
static void fmt_burns(char *buf, size_t size, Picket__V1__SloBurn **burns, size_t n)
{
    struct pk_buf out;
    pk_buf_init_fixed(&out, buf, size);
    for (size_t k = 0; k < n; k++) {
        char a[24], b[24];
        snprintf(a, sizeof a, isnan(burns[k]->burn_long) ? "-" : "%.2f", burns[k]->burn_long);
        snprintf(b, sizeof b, isnan(burns[k]->burn_short) ? "-" : "%.2f", burns[k]->burn_short);
        pk_buf_addf(&out, "%s%s/%s%s", k ? "  " : "", a, b, burns[k]->firing ? " FIRING" : "");
    }
}

/* The CSV tail shared by check and group rows: burns of the two default pairs, firing. */
static void csv_burns(Picket__V1__SloBurn **burns, size_t n)
{
    int firing = 0;
    for (size_t k = 0; k < 2; k++) {
        putchar(',');
        if (k < n)
            query_csv_num(stdout, burns[k]->burn_long);
        putchar(',');
        if (k < n)
            query_csv_num(stdout, burns[k]->burn_short);
    }
    for (size_t k = 0; k < n; k++)
        firing |= burns[k]->firing;
    printf(",%d", firing);
}

/* The CSV columns service..burn_30m of a check's or a group's SLO (the messages
 * differ in type but share these fields). */
static void csv_slo_figures(const char *service, double target, int64_t window_us, int64_t good, int64_t bad,
                            double error_budget, double budget_left, double budget_left_min,
                            Picket__V1__SloBurn **burns, size_t n_burns)
{
    query_csv_str(stdout, service);
    printf(",%.17g,%.0f,%lld,%lld,", target, (double)window_us / 1e6, (long long)good, (long long)bad);
    query_csv_num(stdout, error_budget);
    putchar(',');
    query_csv_num(stdout, budget_left);
    putchar(',');
    query_csv_num(stdout, budget_left_min);
    csv_burns(burns, n_burns);
}
#define CSV_SLO_FIGURES(m)                                                                                           \
    csv_slo_figures((m)->service, (m)->target, (m)->window_us, (m)->good, (m)->bad, (m)->error_budget,               \
                    (m)->budget_left, (m)->budget_left_min, (m)->burns, (m)->n_burns)

/* The group SLO table (slo and report). */
void query_print_group_slos(Picket__V1__GroupSlo **groups, size_t n)
{
    printf("%-28s %8s %6s %7s %10s %8s %20s %s\n", "SLO (GROUP)", "TARGET", "WINDOW", "CHECKS", "GOOD", "BAD",
           "BUDGET LEFT", "BURN (long/short)");
    for (size_t i = 0; i < n; i++) {
        const Picket__V1__GroupSlo *g = groups[i];
        char left[64], win[32], burns[160];
        fmt_budget_left(left, sizeof left, g->budget_left, g->budget_left_min);
        fmt_dur_s(win, sizeof win, (double)g->window_us / 1e6);
        fmt_burns(burns, sizeof burns, g->burns, g->n_burns);
        printf("%-28s %7.3f%% %6s %7zu %10lld %8lld %20s %s\n", pk_term(g->name), 100 * g->target, win, g->n_members,
               (long long)g->good, (long long)g->bad, left, burns);
    }
}

static void out_slo(const Picket__V1__SloResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = json_object_new_object(), *arr = json_object_new_array();
        json_object_object_add(root, "until_us", json_object_new_int64(r->until_us));
        for (size_t i = 0; i < r->n_checks; i++)
            json_object_array_add(arr, query_json_slo(r->checks[i]));
        json_object_object_add(root, "checks", arr);
        json_object_object_add(root, "groups", query_json_group_slos(r->groups, r->n_groups));
        query_print_json(root);
        return;
    }
    if (fmt == CSV) {
        /* group rows: check empty, service = the group's service selector, group = its name */
        printf("check,service,target,window_s,good,bad,error_budget,budget_left,budget_left_min,"
               "burn_1h,burn_5m,burn_6h,burn_30m,firing,group\n");
        for (size_t i = 0; i < r->n_groups; i++) {
            const Picket__V1__GroupSlo *g = r->groups[i];
            putchar(',');
            CSV_SLO_FIGURES(g);
            putchar(',');
            query_csv_str(stdout, g->name);
            putchar('\n');
        }
    } else if (r->n_checks == 0 && r->n_groups == 0) {
        printf("no check selected has an slo: key (docs/CHECKS.md), and no group SLO of the collector's --slos "
               "file has a member among them\n");
        return;
    } else if (r->n_groups) {
        query_print_group_slos(r->groups, r->n_groups);
        if (r->n_checks == 0)
            return;
        printf("\n");
    }
    if (fmt != CSV)
        printf("%-28s %-16s %8s %6s %10s %8s %20s %s\n", "CHECK", "SERVICE", "TARGET", "WINDOW", "GOOD", "BAD",
               "BUDGET LEFT", "BURN (long/short)");
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__CheckSlo *s = r->checks[i];
        if (fmt == CSV) {
            query_csv_str(stdout, s->check_name);
            putchar(',');
            CSV_SLO_FIGURES(s);
            printf(",\n");
            continue;
        }
        char left[64], win[32], burns[160];
        query_fmt_slo_left(left, sizeof left, s);
        fmt_dur_s(win, sizeof win, (double)s->window_us / 1e6);
        fmt_burns(burns, sizeof burns, s->burns, s->n_burns);
        printf("%-28s %-16s %7.3f%% %6s %10lld %8lld %20s %s\n", pk_term(s->check_name),
               s->service[0] ? pk_term(s->service) : "-",
               100 * s->target, win, (long long)s->good, (long long)s->bad, left, burns);
    }
}

/* ---------------------------------------------------------------- main */

/* One QueryService call with q's request; prints the answer. The exit code. */
static int query_call(const char *collector, int timeout_ms, struct query_opts *q)
{
    ProtobufCMessage *req = NULL;
    Picket__V1__AvailabilityRequest areq = PICKET__V1__AVAILABILITY_REQUEST__INIT;
    Picket__V1__LatencyRequest lreq = PICKET__V1__LATENCY_REQUEST__INIT;
    Picket__V1__TrendRequest treq = PICKET__V1__TREND_REQUEST__INIT;
    Picket__V1__IncidentsRequest ireq = PICKET__V1__INCIDENTS_REQUEST__INIT;
    Picket__V1__SloRequest sreq = PICKET__V1__SLO_REQUEST__INIT;
    Picket__V1__ReportRequest rreq = PICKET__V1__REPORT_REQUEST__INIT;
    Picket__V1__RegressionsRequest greq = PICKET__V1__REGRESSIONS_REQUEST__INIT;
    Picket__V1__SloBacktestRequest breq = PICKET__V1__SLO_BACKTEST_REQUEST__INIT;
    const ProtobufCMessageDescriptor *resp_desc = NULL;
    const char *method_name = commands[q->idx].method;
    switch (q->idx) {
    case 0:
        rreq.window = &q->window;
        req = &rreq.base;
        resp_desc = &picket__v1__report_response__descriptor;
        break;
    case 1:
        areq.window = &q->window;
        areq.quorum = (int32_t)q->quorum;
        req = &areq.base;
        resp_desc = &picket__v1__availability_response__descriptor;
        break;
    case 2:
        lreq.window = &q->window;
        lreq.quantiles = q->quantiles;
        lreq.n_quantiles = q->n_quantiles;
        req = &lreq.base;
        resp_desc = &picket__v1__latency_response__descriptor;
        break;
    case 3:
        treq.window = &q->window;
        req = &treq.base;
        resp_desc = &picket__v1__trend_response__descriptor;
        break;
    case 4:
        ireq.window = &q->window;
        ireq.open_after = (int32_t)q->open_after;
        ireq.close_after = (int32_t)q->close_after;
        ireq.quorum = (int32_t)q->quorum;
        req = &ireq.base;
        resp_desc = &picket__v1__incidents_response__descriptor;
        break;
    case 6:
        greq.window = &q->window;
        greq.threshold = q->threshold;
        greq.consecutive = (int32_t)q->consecutive;
        if (q->metric)
            greq.metric = (char *)q->metric;
        greq.no_fast = q->no_fast;
        greq.direction = (char *)(q->direction ? q->direction : "");
        greq.part_ms = (int32_t)q->part_ms;
        return query_regressions(collector, timeout_ms, &greq, q->fmt);
    default:
        if (q->backtest) {
            breq.window = &q->window;
            breq.long_window_ms = q->long_min * 60000;
            breq.short_window_ms = q->short_min * 60000;
            breq.factor = q->factor;
            req = &breq.base;
            resp_desc = &picket__v1__slo_backtest_response__descriptor;
            method_name = "SloBacktest";
            break;
        }
        sreq.window = &q->window;
        sreq.group = (char *)(q->group ? q->group : "");
        req = &sreq.base;
        resp_desc = &picket__v1__slo_response__descriptor;
        break;
    }
    char method[96], err[1400];
    snprintf(method, sizeof method, "/picket.v1.QueryService/%s", method_name);
    ProtobufCMessage *answer = NULL;
    int invalid = 0;
    if (ctl_admin_call(collector, method, req, resp_desc, timeout_ms, &answer, &invalid, err, sizeof err) < 0) {
        fprintf(stderr, "picketctl %s: %s\n", q->name, err);
        return invalid ? 2 : 1;
    }
    switch (q->idx) {
    case 0:
        query_out_report((const Picket__V1__ReportResponse *)answer, q->fmt);
        break;
    case 1:
        out_availability((const Picket__V1__AvailabilityResponse *)answer, q->fmt);
        break;
    case 2:
        out_latency((const Picket__V1__LatencyResponse *)answer, q->fmt);
        break;
    case 3:
        out_trend((const Picket__V1__TrendResponse *)answer, q->fmt);
        break;
    case 4:
        out_incidents((const Picket__V1__IncidentsResponse *)answer, q->fmt);
        break;
    default:
        if (q->backtest)
            query_out_slo_backtest((const Picket__V1__SloBacktestResponse *)answer, q->fmt);
        else
            out_slo((const Picket__V1__SloResponse *)answer, q->fmt);
        break;
    }
    protobuf_c_message_free_unpacked(answer, NULL);
    return 0;
}

/* The command's options and its window; 0, or -1 with *exit_code (0 after --help). */
static int query_parse(struct query_opts *q, int argc, char **argv, int *exit_code)
{
    char prog[64];
    snprintf(prog, sizeof prog, "picketctl %s", q->name);
    const struct pk_opts spec = {.prog = prog,
                                 .table = query_options,
                                 .n = sizeof query_options / sizeof query_options[0],
                                 .flags = PK_OPTS_IN_ORDER | PK_OPTS_NO_ENV};
    int next;
    *exit_code = 2;
    switch (pk_opts_parse(&spec, q, argc, argv, &next)) {
    case PK_OPTS_OK:
        break;
    case PK_OPTS_HELP:
        ctl_query_usage(stdout, q->name);
        *exit_code = 0;
        return -1;
    default:
        return -1;
    }
    if (next < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[next]);
        return -1;
    }
    int64_t now_us = pk_now_us();
    Picket__V1__QueryWindow *w = &q->window;
    if (q->since && ctl_parse_time(q->since, now_us, &w->since_us) < 0) {
        fprintf(stderr, "%s: --since '%s' is neither RFC 3339 (2026-11-26T10:00:00Z) nor a duration like 24h or 7d\n",
                prog, q->since);
        return -1;
    }
    if (q->until && ctl_parse_time(q->until, now_us, &w->until_us) < 0) {
        fprintf(stderr, "%s: --until '%s' is neither RFC 3339 (2026-11-26T10:00:00Z), \"now\", nor a duration like 1h\n",
                prog, q->until);
        return -1;
    }
    if (q->since && q->until && w->since_us >= w->until_us) {
        fprintf(stderr, "%s: --since must be before --until\n", prog);
        return -1;
    }
    if (q->until && !q->since && (strcmp(q->name, "slo") != 0 || q->backtest))
        w->since_us = w->until_us - INT64_C(86400000000);
    if (!q->backtest && (q->long_min || q->short_min || q->factor > 0)) {
        fprintf(stderr, "%s: --long-window, --short-window and --factor go with --backtest\n", prog);
        return -1;
    }
    if (q->backtest && q->group) {
        fprintf(stderr, "%s: --backtest replays the checks' own SLOs; --group is not for it\n", prog);
        return -1;
    }
    if (q->backtest && (q->long_min || q->short_min || q->factor > 0) &&
        !(q->long_min && q->short_min && q->factor > 0 && q->short_min <= q->long_min)) {
        fprintf(stderr, "%s: a burn-rate rule needs --long-window, --short-window (<= long) and --factor together\n",
                prog);
        return -1;
    }
    return 0;
}

int ctl_query_main(const char *collector, int timeout_ms, int argc, char **argv)
{
    struct query_opts q = {.name = argv[0], .idx = command_index(argv[0]), .fmt = TABLE};
    picket__v1__query_window__init(&q.window);
    int rc;
    if (query_parse(&q, argc, argv, &rc) < 0)
        return rc;
    return query_call(collector, timeout_ms, &q);
}
