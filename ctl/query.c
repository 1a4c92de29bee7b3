/* query.c: picketctl's analytics commands. Each parses its flags, makes one
 * QueryService call (rpc_ctl.c) and prints the answer as a table for people,
 * JSON (--json) or CSV (--csv) for scripts. A figure with no data is "-" in
 * tables, null in JSON and empty in CSV, never 0. Computes nothing itself: every
 * figure is the collector's (docs/ANALYTICS.md). */
#include "query.h"

#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "result.h"
#include "rpc_ctl.h"
#include "timeparse.h"

#define MAX_QUANTILES 16

static const struct {
    const char *name, *method, *summary, *extra;
} commands[] = {
    {"report", "Report", "the live quality dashboard: per service and check, the last result (e2e pass/fail),\n"
                         "p50/p95/p99 against budget, uptime per region, trend arrows, open incidents, SLO budget left",
     ""},
    {"availability", "Availability", "success ratio and time-based uptime per check, globally (region quorum) and per region",
     "  --quorum N           regions down in one round for global down (default: a majority of\n"
     "                       the regions with data)\n"},
    {"latency", "Latency", "p50/p95/p99 (or --quantile) per check and region, against the check's budgets",
     "  --quantile Q         a quantile in 0..1, repeatable (default 0.5 0.95 0.99)\n"},
    {"trend", "Trend", "Theil-Sen slope of hourly p95 and of hourly error rate, % per day with a 95% band", ""},
    {"incidents", "Incidents", "incidents (N down rounds open, M up rounds close) with MTTR/MTBF, per check and service",
     "  --open-after N       consecutive down rounds that open an incident (default 3)\n"
     "  --close-after M      consecutive up rounds that close it (default 3)\n"
     "  --quorum N           regions down in one round for global down (default: a majority)\n"},
    {"slo", "Slo", "error budget left and burn rates (1h/5m, 6h/30m) of the checks that have an slo: key,\n"
                   "and of the SLOs over groups of checks in the collector's --slos file",
     "  --group NAME         only this group SLO (no per-check SLOs)\n"
     "                       (without --since the window is each SLO's own window)\n"},
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
            "\n"
            "  --since T            window start: RFC 3339 (2026-11-26T10:00:00Z) or a duration\n"
            "                       before now (90s, 30m, 24h, 7d, 2w); default: until - 24h\n"
            "  --until T            window end, the same forms or \"now\" (default)\n"
            "  --check NAME         only this check\n"
            "  --service S          only the checks of this service\n"
            "  --region R           only results from probes in this region\n"
            "%s"
            "  --json               JSON (no data: null)\n"
            "  --csv                CSV with a header line (no data: empty)\n"
            "  -h, --help           this text\n"
            "\n"
            "The window is cut to whole minutes (the rollups' resolution). Exit 0 ok, 1 the collector\n"
            "could not answer, 2 usage (also a check, service or region the collector does not know).\n"
            "Needs a read credential (docs/SECURITY.md).\n",
            commands[i].name, commands[i].summary, commands[i].extra);
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

static json_object *jnum(double v)
{
    return isnan(v) || isinf(v) ? NULL : json_object_new_double(v);
}

static json_object *jquantile(double v) /* -1: no data */
{
    return v < 0 || isnan(v) ? NULL : json_object_new_double(v);
}

static void csv_num(FILE *f, double v)
{
    if (!(isnan(v) || isinf(v)))
        fprintf(f, "%.17g", v);
}

static void csv_str(FILE *f, const char *s)
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

static void fmt_pct(char *buf, size_t size, double ratio)
{
    if (isnan(ratio))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2f%%", 100.0 * ratio);
}

static void fmt_us(char *buf, size_t size, double us)
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

static const char *arrow(const char *direction)
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
    json_object_object_add(o, "success_ratio", jnum(f->success_ratio));
    json_object_object_add(o, "uptime", jnum(f->uptime));
    json_object_object_add(o, "covered_us", json_object_new_int64(f->covered_us));
    json_object_object_add(o, "up_us", json_object_new_int64(f->up_us));
    return o;
}

static json_object *json_availability(const Picket__V1__CheckAvailability *a)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "check", json_object_new_string(a->check_name));
    json_object_object_add(o, "service", json_object_new_string(a->service));
    json_object_object_add(o, "quorum", json_object_new_int(a->quorum));
    json_object_object_add(o, "round_us", json_object_new_int64(a->round_us));
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

static json_object *json_latency(const Picket__V1__CheckLatency *l)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "check", json_object_new_string(l->check_name));
    json_object_object_add(o, "service", json_object_new_string(l->service));
    json_object_object_add(o, "count", json_object_new_int64(l->all ? l->all->count : 0));
    json_object_object_add(o, "quantiles_us", l->all ? json_quantiles(l->all) : json_object_new_array());
    json_object_object_add(o, "mean_us", l->all ? jnum(l->all->mean_us) : NULL);
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
    json_object_object_add(o, "median", jnum(f->median));
    json_object_object_add(o, "slope_per_day", jnum(f->slope_per_day));
    json_object_object_add(o, "lo_per_day", jnum(f->lo_per_day));
    json_object_object_add(o, "hi_per_day", jnum(f->hi_per_day));
    json_object_object_add(o, "pct_per_day", jnum(f->pct_per_day));
    json_object_object_add(o, "pct_lo", jnum(f->pct_lo));
    json_object_object_add(o, "pct_hi", jnum(f->pct_hi));
    json_object_object_add(o, "direction", f->direction[0] ? json_object_new_string(f->direction) : NULL);
    return o;
}

static json_object *json_trend(const Picket__V1__CheckTrend *t)
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
    json_object_object_add(o, "mttr_s", jnum(s->mttr_s));
    json_object_object_add(o, "mtbf_s", jnum(s->mtbf_s));
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
        json_object_object_add(x, "burn_long", jnum(b->burn_long));
        json_object_object_add(x, "burn_short", jnum(b->burn_short));
        json_object_object_add(x, "firing", json_object_new_boolean(b->firing));
        json_object_array_add(arr, x);
    }
    return arr;
}

static json_object *json_slo(const Picket__V1__CheckSlo *s)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "check", json_object_new_string(s->check_name));
    json_object_object_add(o, "service", json_object_new_string(s->service));
    json_object_object_add(o, "target", json_object_new_double(s->target));
    json_object_object_add(o, "window_us", json_object_new_int64(s->window_us));
    json_object_object_add(o, "good", json_object_new_int64(s->good));
    json_object_object_add(o, "bad", json_object_new_int64(s->bad));
    json_object_object_add(o, "error_budget", jnum(s->error_budget));
    json_object_object_add(o, "budget_left", jnum(s->budget_left));
    json_object_object_add(o, "budget_left_min", jnum(s->budget_left_min));
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
    json_object_object_add(o, "error_budget", jnum(g->error_budget));
    json_object_object_add(o, "budget_left", jnum(g->budget_left));
    json_object_object_add(o, "budget_left_min", jnum(g->budget_left_min));
    json_object_object_add(o, "burns", json_burns(g->burns, g->n_burns));
    return o;
}

static json_object *json_group_slos(Picket__V1__GroupSlo **groups, size_t n)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, json_group_slo(groups[i]));
    return arr;
}

static void print_json(json_object *root)
{
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static json_object *json_root(int64_t since_us, int64_t until_us)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "since_us", json_object_new_int64(since_us));
    json_object_object_add(root, "until_us", json_object_new_int64(until_us));
    return root;
}

static void print_window(int64_t since_us, int64_t until_us)
{
    char a[40], b[40];
    format_time(a, sizeof a, since_us);
    format_time(b, sizeof b, until_us);
    printf("window %s .. %s\n\n", a, b);
}

/* ---------------------------------------------------------- per command */

enum format { TABLE, JSON, CSV };

static void out_availability(const Picket__V1__AvailabilityResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = json_root(r->since_us, r->until_us), *arr = json_object_new_array();
        for (size_t i = 0; i < r->n_checks; i++)
            json_object_array_add(arr, json_availability(r->checks[i]));
        json_object_object_add(root, "checks", arr);
        print_json(root);
        return;
    }
    if (fmt == CSV)
        printf("check,service,region,ok,degraded,failed,unknown,success_ratio,uptime,covered_s,up_s\n");
    else {
        print_window(r->since_us, r->until_us);
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
                csv_str(stdout, a->check_name);
                putchar(',');
                csv_str(stdout, a->service);
                putchar(',');
                csv_str(stdout, region);
                printf(",%lld,%lld,%lld,%lld,", (long long)(n ? n->ok : 0), (long long)(n ? n->degraded : 0),
                       (long long)(n ? n->failed : 0), (long long)(n ? n->unknown : 0));
                csv_num(stdout, f->success_ratio);
                putchar(',');
                csv_num(stdout, f->uptime);
                printf(",%.3f,%.3f\n", (double)f->covered_us / 1e6, (double)f->up_us / 1e6);
            } else {
                char sr[32], up[32], reg[48];
                fmt_pct(sr, sizeof sr, f->success_ratio);
                fmt_pct(up, sizeof up, f->uptime);
                if (k == 0)
                    snprintf(reg, sizeof reg, "* (quorum %d)", a->quorum);
                else
                    snprintf(reg, sizeof reg, "%s", f->region);
                printf("%-28s %-16s %-12s %9s %9s %8lld %8lld %8lld\n", k == 0 ? a->check_name : "",
                       k == 0 ? (a->service[0] ? a->service : "-") : "", reg, sr, up, (long long)(n ? n->ok : 0),
                       (long long)(n ? n->failed : 0), a->round_us ? (long long)(f->covered_us / a->round_us) : 0LL);
            }
        }
    }
}

static void out_latency(const Picket__V1__LatencyResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = json_root(r->since_us, r->until_us), *q = json_object_new_array(),
                    *arr = json_object_new_array();
        for (size_t i = 0; i < r->n_quantiles; i++)
            json_object_array_add(q, json_object_new_double(r->quantiles[i]));
        json_object_object_add(root, "quantiles", q);
        for (size_t i = 0; i < r->n_checks; i++)
            json_object_array_add(arr, json_latency(r->checks[i]));
        json_object_object_add(root, "checks", arr);
        print_json(root);
        return;
    }
    if (fmt == CSV) {
        printf("check,service,region,count");
        for (size_t i = 0; i < r->n_quantiles; i++)
            printf(",q%g_us", r->quantiles[i]);
        printf(",budget_p50_us,budget_p95_us,budget_p99_us\n");
    } else {
        print_window(r->since_us, r->until_us);
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
                csv_str(stdout, l->check_name);
                putchar(',');
                csv_str(stdout, l->service);
                putchar(',');
                csv_str(stdout, k == 0 ? "*" : f->region);
                printf(",%lld", (long long)f->count);
                for (size_t q = 0; q < f->n_quantiles_us; q++) {
                    putchar(',');
                    if (f->quantiles_us[q] >= 0)
                        csv_num(stdout, f->quantiles_us[q]);
                }
                printf(",%lld,%lld,%lld\n", (long long)l->budget_p50_us, (long long)l->budget_p95_us,
                       (long long)l->budget_p99_us);
                continue;
            }
            printf("%-28s %-12s %8lld", k == 0 ? l->check_name : "", k == 0 ? "*" : f->region, (long long)f->count);
            for (size_t q = 0; q < f->n_quantiles_us; q++) {
                char v[32];
                fmt_us(v, sizeof v, f->quantiles_us[q]);
                printf(" %10s", v);
            }
            if (k == 0 && (l->budget_p50_us || l->budget_p95_us || l->budget_p99_us)) {
                char a[32], b[32], c[32];
                fmt_us(a, sizeof a, l->budget_p50_us ? (double)l->budget_p50_us : -1);
                fmt_us(b, sizeof b, l->budget_p95_us ? (double)l->budget_p95_us : -1);
                fmt_us(c, sizeof c, l->budget_p99_us ? (double)l->budget_p99_us : -1);
                printf("  %s/%s/%s%s", a, b, c, l->breaches ? " OVER" : " ok");
            }
            printf("\n");
        }
    }
}

static void out_trend(const Picket__V1__TrendResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = json_root(r->since_us, r->until_us), *arr = json_object_new_array();
        for (size_t i = 0; i < r->n_checks; i++)
            json_object_array_add(arr, json_trend(r->checks[i]));
        json_object_object_add(root, "checks", arr);
        print_json(root);
        return;
    }
    if (fmt == CSV)
        printf("check,service,metric,points,median,slope_per_day,lo_per_day,hi_per_day,pct_per_day,pct_lo,pct_hi,"
               "direction\n");
    else {
        print_window(r->since_us, r->until_us);
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
                csv_str(stdout, t->check_name);
                putchar(',');
                csv_str(stdout, t->service);
                printf(",%s,%lld,", metric, (long long)f->points);
                const double v[7] = {f->median, f->slope_per_day, f->lo_per_day, f->hi_per_day,
                                     f->pct_per_day, f->pct_lo, f->pct_hi};
                for (int k = 0; k < 7; k++) {
                    csv_num(stdout, v[k]);
                    putchar(',');
                }
                printf("%s\n", f->direction);
                continue;
            }
            char med[32], slope[48], pct[80];
            if (m == 0) {
                fmt_us(med, sizeof med, f->median);
                if (isnan(f->slope_per_day))
                    snprintf(slope, sizeof slope, "-");
                else {
                    char s[32];
                    fmt_us(s, sizeof s, fabs(f->slope_per_day));
                    snprintf(slope, sizeof slope, "%s%s", f->slope_per_day < 0 ? "-" : "+", s);
                }
            } else {
                fmt_pct(med, sizeof med, f->median);
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
            printf("%-28s %-11s %6lld %12s %12s %26s  %s\n", m == 0 ? t->check_name : "", metric,
                   (long long)f->points, med, slope, pct, arrow(f->direction));
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
        printf("  %-26s %-20s %-20s %8s %6d  %s\n", who, start, end, dur, inc[i]->down_rounds, regions);
    }
}

static void print_stats(const char *what, const char *name, const Picket__V1__IncidentStats *s)
{
    char mttr[32], mtbf[32];
    fmt_dur_s(mttr, sizeof mttr, s ? s->mttr_s : NAN);
    fmt_dur_s(mtbf, sizeof mtbf, s ? s->mtbf_s : NAN);
    printf("%s %s: %lld incident%s (%lld closed), MTTR %s, MTBF %s\n", what, name, (long long)(s ? s->count : 0),
           s && s->count == 1 ? "" : "s", (long long)(s ? s->closed : 0), mttr, mtbf);
}

static void out_incidents(const Picket__V1__IncidentsResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = json_root(r->since_us, r->until_us), *arr = json_object_new_array(),
                    *svc = json_object_new_array();
        for (size_t i = 0; i < r->n_checks; i++) {
            const Picket__V1__CheckIncidents *c = r->checks[i];
            json_object *o = json_object_new_object();
            json_object_object_add(o, "check", json_object_new_string(c->check_name));
            json_object_object_add(o, "service", json_object_new_string(c->service));
            json_object_object_add(o, "incidents", json_incident_list(c->incidents, c->n_incidents));
            json_object_object_add(o, "stats", json_incident_stats(c->stats));
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
        print_json(root);
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
                    csv_str(stdout, name);
                    printf(",%lld,", (long long)inc[k]->start_us);
                    if (inc[k]->end_us >= 0)
                        printf("%lld", (long long)inc[k]->end_us);
                    printf(",%.3f,%d,", (double)inc[k]->duration_us / 1e6, inc[k]->down_rounds);
                    char regions[512] = "";
                    struct pk_buf rb;
                    pk_buf_init_fixed(&rb, regions, sizeof regions);
                    for (size_t x = 0; x < inc[k]->n_regions; x++)
                        pk_buf_addf(&rb, "%s%s", x ? ";" : "", inc[k]->regions[x]);
                    csv_str(stdout, regions);
                    putchar('\n');
                }
            }
        }
        return;
    }
    print_window(r->since_us, r->until_us);
    printf("  %-26s %-20s %-20s %8s %6s  %s\n", "CHECK / SERVICE", "START", "END", "DURATION", "ROUNDS",
           "REGIONS");
    for (size_t i = 0; i < r->n_checks; i++)
        print_incident_rows(r->checks[i]->check_name, r->checks[i]->incidents, r->checks[i]->n_incidents,
                            r->until_us);
    for (size_t i = 0; i < r->n_services; i++)
        print_incident_rows(r->services[i]->service, r->services[i]->incidents, r->services[i]->n_incidents,
                            r->until_us);
    printf("\n");
    for (size_t i = 0; i < r->n_checks; i++)
        print_stats("check", r->checks[i]->check_name, r->checks[i]->stats);
    for (size_t i = 0; i < r->n_services; i++)
        print_stats("service", r->services[i]->service, r->services[i]->stats);
}

static void fmt_slo_left(char *buf, size_t size, const Picket__V1__CheckSlo *s)
{
    if (!s)
        snprintf(buf, size, "-");
    else if (isnan(s->budget_left))
        snprintf(buf, size, "no data");
    else
        snprintf(buf, size, "%.1f%% (%.0fmin)", 100 * s->budget_left, s->budget_left_min);
}

static void fmt_budget_left(char *buf, size_t size, double left, double left_min)
{
    if (isnan(left))
        snprintf(buf, size, "no data");
    else
        snprintf(buf, size, "%.1f%% (%.0fmin)", 100 * left, left_min);
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
            csv_num(stdout, burns[k]->burn_long);
        putchar(',');
        if (k < n)
            csv_num(stdout, burns[k]->burn_short);
    }
    for (size_t k = 0; k < n; k++)
        firing |= burns[k]->firing;
    printf(",%d", firing);
}

/* The group SLO table (slo and report). */
static void print_group_slos(Picket__V1__GroupSlo **groups, size_t n)
{
    printf("%-28s %8s %6s %7s %10s %8s %20s %s\n", "SLO (GROUP)", "TARGET", "WINDOW", "CHECKS", "GOOD", "BAD",
           "BUDGET LEFT", "BURN (long/short)");
    for (size_t i = 0; i < n; i++) {
        const Picket__V1__GroupSlo *g = groups[i];
        char left[64], win[32], burns[160];
        fmt_budget_left(left, sizeof left, g->budget_left, g->budget_left_min);
        fmt_dur_s(win, sizeof win, (double)g->window_us / 1e6);
        fmt_burns(burns, sizeof burns, g->burns, g->n_burns);
        printf("%-28s %7.3f%% %6s %7zu %10lld %8lld %20s %s\n", g->name, 100 * g->target, win, g->n_members,
               (long long)g->good, (long long)g->bad, left, burns);
    }
}

static void out_slo(const Picket__V1__SloResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = json_object_new_object(), *arr = json_object_new_array();
        json_object_object_add(root, "until_us", json_object_new_int64(r->until_us));
        for (size_t i = 0; i < r->n_checks; i++)
            json_object_array_add(arr, json_slo(r->checks[i]));
        json_object_object_add(root, "checks", arr);
        json_object_object_add(root, "groups", json_group_slos(r->groups, r->n_groups));
        print_json(root);
        return;
    }
    if (fmt == CSV) {
        /* group rows: check empty, service = the group's service selector, group = its name */
        printf("check,service,target,window_s,good,bad,error_budget,budget_left,budget_left_min,"
               "burn_1h,burn_5m,burn_6h,burn_30m,firing,group\n");
        for (size_t i = 0; i < r->n_groups; i++) {
            const Picket__V1__GroupSlo *g = r->groups[i];
            putchar(',');
            csv_str(stdout, g->service);
            printf(",%.17g,%.0f,%lld,%lld,", g->target, (double)g->window_us / 1e6, (long long)g->good,
                   (long long)g->bad);
            csv_num(stdout, g->error_budget);
            putchar(',');
            csv_num(stdout, g->budget_left);
            putchar(',');
            csv_num(stdout, g->budget_left_min);
            csv_burns(g->burns, g->n_burns);
            putchar(',');
            csv_str(stdout, g->name);
            putchar('\n');
        }
    } else if (r->n_checks == 0 && r->n_groups == 0) {
        printf("no check selected has an slo: key (docs/CHECKS.md), and no group SLO of the collector's --slos "
               "file has a member among them\n");
        return;
    } else if (r->n_groups) {
        print_group_slos(r->groups, r->n_groups);
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
            csv_str(stdout, s->check_name);
            putchar(',');
            csv_str(stdout, s->service);
            printf(",%.17g,%.0f,%lld,%lld,", s->target, (double)s->window_us / 1e6, (long long)s->good,
                   (long long)s->bad);
            csv_num(stdout, s->error_budget);
            putchar(',');
            csv_num(stdout, s->budget_left);
            putchar(',');
            csv_num(stdout, s->budget_left_min);
            csv_burns(s->burns, s->n_burns);
            printf(",\n");
            continue;
        }
        char left[64], win[32], burns[160];
        fmt_slo_left(left, sizeof left, s);
        fmt_dur_s(win, sizeof win, (double)s->window_us / 1e6);
        fmt_burns(burns, sizeof burns, s->burns, s->n_burns);
        printf("%-28s %-16s %7.3f%% %6s %10lld %8lld %20s %s\n", s->check_name, s->service[0] ? s->service : "-",
               100 * s->target, win, (long long)s->good, (long long)s->bad, left, burns);
    }
}

static json_object *json_num_or_null(double v) { return isnan(v) ? NULL : json_object_new_double(v); }

static json_object *json_baseline(const Picket__V1__BaselineState *b)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "history_points", json_object_new_int64(b->history_points));
    json_object_object_add(o, "windows", json_object_new_int64(b->windows));
    json_object_object_add(o, "regression", json_object_new_boolean(b->regression));
    json_object_object_add(o, "since_us", b->regression ? json_object_new_int64(b->since_us) : NULL);
    json_object_object_add(o, "last_score", json_num_or_null(b->last_score));
    json_object_object_add(o, "last_p95_us", json_num_or_null(b->last_p95_us));
    json_object_object_add(o, "expected_p95_us", json_num_or_null(b->expected_p95_us));
    return o;
}

/* BASE column: regression against the learned baseline, or not, or not yet learned. */
static const char *baseline_word(const Picket__V1__BaselineState *b)
{
    if (!b || b->history_points == 0)
        return "-";
    return b->regression ? "REGR" : "ok";
}

static void out_report(const Picket__V1__ReportResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = json_root(r->since_us, r->until_us), *arr = json_object_new_array();
        json_object_object_add(root, "now_us", json_object_new_int64(r->now_us));
        for (size_t i = 0; i < r->n_checks; i++) {
            const Picket__V1__ReportCheck *c = r->checks[i];
            json_object *o = json_object_new_object();
            json_object_object_add(o, "check", json_object_new_string(c->check_name));
            json_object_object_add(o, "service", json_object_new_string(c->service));
            json_object_object_add(o, "type", json_object_new_string(c->check_type));
            json_object *last = NULL;
            if (c->last_started_at_us) {
                last = json_object_new_object();
                json_object_object_add(last, "outcome", json_object_new_string(pk_outcome_name(c->last_outcome)));
                json_object_object_add(last, "started_at_us", json_object_new_int64(c->last_started_at_us));
                json_object_object_add(last, "message", json_object_new_string(c->last_message));
            }
            json_object_object_add(o, "last", last);
            json_object_object_add(o, "availability", c->availability ? json_availability(c->availability) : NULL);
            json_object_object_add(o, "latency", c->latency ? json_latency(c->latency) : NULL);
            json_object_object_add(o, "trend", c->trend ? json_trend(c->trend) : NULL);
            json_object_object_add(o, "incidents", json_object_new_int(c->incidents));
            json_object_object_add(o, "open_incidents", json_object_new_int(c->open_incidents));
            json_object_object_add(o, "slo", c->slo ? json_slo(c->slo) : NULL);
            json_object_object_add(o, "baseline", c->baseline ? json_baseline(c->baseline) : NULL);
            json_object_array_add(arr, o);
        }
        json_object_object_add(root, "checks", arr);
        json_object_object_add(root, "groups", json_group_slos(r->groups, r->n_groups));
        print_json(root);
        return;
    }
    if (fmt == CSV) {
        printf("service,check,last_outcome,p50_us,p95_us,p99_us,budget_p50_us,budget_p95_us,budget_p99_us,"
               "breaches,uptime,success_ratio,p95_trend,error_trend,open_incidents,slo_budget_left,baseline\n");
        for (size_t i = 0; i < r->n_checks; i++) {
            const Picket__V1__ReportCheck *c = r->checks[i];
            const Picket__V1__CheckLatency *l = c->latency;
            const Picket__V1__AvailabilityFigure *g = c->availability ? c->availability->global : NULL;
            csv_str(stdout, c->service);
            putchar(',');
            csv_str(stdout, c->check_name);
            printf(",%s,", c->last_started_at_us ? pk_outcome_name(c->last_outcome) : "");
            const double q[3] = {l ? l->p50_us : -1, l ? l->p95_us : -1, l ? l->p99_us : -1};
            for (int k = 0; k < 3; k++) {
                if (q[k] >= 0)
                    csv_num(stdout, q[k]);
                putchar(',');
            }
            printf("%lld,%lld,%lld,%u,", (long long)(l ? l->budget_p50_us : 0), (long long)(l ? l->budget_p95_us : 0),
                   (long long)(l ? l->budget_p99_us : 0), l ? l->breaches : 0u);
            csv_num(stdout, g ? g->uptime : NAN);
            putchar(',');
            csv_num(stdout, g ? g->success_ratio : NAN);
            printf(",%s,%s,%d,", c->trend && c->trend->p95_us ? c->trend->p95_us->direction : "",
                   c->trend && c->trend->error_rate ? c->trend->error_rate->direction : "", c->open_incidents);
            csv_num(stdout, c->slo ? c->slo->budget_left : NAN);
            printf(",%s\n", baseline_word(c->baseline));
        }
        return;
    }
    print_window(r->since_us, r->until_us);
    if (r->n_checks == 0) {
        printf("no checks known yet: is a probe connected to this collector?\n");
        return;
    }
    const char *service = NULL;
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__ReportCheck *c = r->checks[i];
        if (!service || strcmp(service, c->service) != 0) {
            service = c->service;
            printf("%s== %s\n", i ? "\n" : "", service[0] ? service : "(no service)");
            printf("   %-26s %-9s %-24s %-24s %-24s %-9s %-5s %-4s %-4s %-18s %s\n", "CHECK", "E2E", "P50 (BUDGET)",
                   "P95 (BUDGET)", "P99 (BUDGET)", "UPTIME", "TREND", "BASE", "INC", "SLO LEFT", "UPTIME PER REGION");
        }
        const Picket__V1__CheckLatency *l = c->latency;
        char q[3][64];
        const double v[3] = {l ? l->p50_us : -1, l ? l->p95_us : -1, l ? l->p99_us : -1};
        const int64_t b[3] = {l ? l->budget_p50_us : 0, l ? l->budget_p95_us : 0, l ? l->budget_p99_us : 0};
        for (int k = 0; k < 3; k++) {
            char a[24], bb[24];
            fmt_us(a, sizeof a, v[k]);
            if (b[k]) {
                fmt_us(bb, sizeof bb, (double)b[k]);
                snprintf(q[k], sizeof q[k], "%s%s (%s)", (l->breaches >> k) & 1 ? "!" : "", a, bb);
            } else
                snprintf(q[k], sizeof q[k], "%s", a);
        }
        char up[32], slo[64], trend[48], regions[512] = "";
        const Picket__V1__AvailabilityFigure *g = c->availability ? c->availability->global : NULL;
        fmt_pct(up, sizeof up, g ? g->uptime : NAN);
        fmt_slo_left(slo, sizeof slo, c->slo);
        snprintf(trend, sizeof trend, "%s%s", arrow(c->trend && c->trend->p95_us ? c->trend->p95_us->direction : ""),
                 arrow(c->trend && c->trend->error_rate ? c->trend->error_rate->direction : ""));
        struct pk_buf rb;
        pk_buf_init_fixed(&rb, regions, sizeof regions);
        for (size_t k = 0; c->availability && k < c->availability->n_regions; k++) {
            char p[32];
            fmt_pct(p, sizeof p, c->availability->regions[k]->uptime);
            pk_buf_addf(&rb, "%s%s %s", k ? "  " : "", c->availability->regions[k]->region, p);
        }
        char inc[16];
        snprintf(inc, sizeof inc, "%d", c->open_incidents);
        /* The arrows are one column but three bytes each: pad by hand. */
        printf("   %-26s %-9s %-24s %-24s %-24s %-9s %s    %-4s %-4s %-18s %s\n", c->check_name,
               c->last_started_at_us ? (c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_OK ||
                                                c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_DEGRADED
                                            ? "PASS"
                                            : "FAIL")
                                     : "-",
               q[0], q[1], q[2], up, trend, baseline_word(c->baseline), inc, slo, regions);
    }
    if (r->n_groups) {
        printf("\n== SLOs over groups of checks (collector --slos)\n");
        print_group_slos(r->groups, r->n_groups);
    }
    printf("\nE2E: the last result; !: over budget; TREND: p95 then error rate (↑ ↓ → from the 95%% band, · no\n"
           "band yet); BASE: hourly p95 against its learned hour-of-week baseline (REGR: k deviant hours in\n"
           "a row, - not learned yet); INC: open incidents; SLO LEFT: error budget left (minutes of allowed\n"
           "downtime).\n");
}

/* ---------------------------------------------------------------- main */

int ctl_query_main(const char *collector, int timeout_ms, int argc, char **argv)
{
    static const struct option options[] = {
        {"since", required_argument, NULL, 's'},     {"until", required_argument, NULL, 'u'},
        {"check", required_argument, NULL, 'c'},     {"service", required_argument, NULL, 'S'},
        {"region", required_argument, NULL, 'r'},    {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'v'},             {"quorum", required_argument, NULL, 'q'},
        {"quantile", required_argument, NULL, 'Q'},  {"open-after", required_argument, NULL, 'o'},
        {"close-after", required_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
        {"group", required_argument, NULL, 'g'},
        {NULL, 0, NULL, 0},
    };
    int idx = command_index(argv[0]);
    const char *name = argv[0];
    Picket__V1__QueryWindow window = PICKET__V1__QUERY_WINDOW__INIT;
    enum format fmt = TABLE;
    long quorum = 0, open_after = 0, close_after = 0;
    double quantiles[MAX_QUANTILES];
    size_t n_quantiles = 0;
    int64_t now_us = pk_now_us();
    const char *since = NULL, *until = NULL, *group = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 's':
            since = optarg;
            break;
        case 'u':
            until = optarg;
            break;
        case 'c':
            window.check_name = optarg;
            break;
        case 'S':
            window.service = optarg;
            break;
        case 'r':
            window.region = optarg;
            break;
        case 'j':
        case 'v':
            if (fmt != TABLE) {
                fprintf(stderr, "picketctl %s: give --json or --csv, not both\n", name);
                return 2;
            }
            fmt = c == 'j' ? JSON : CSV;
            break;
        case 'q':
        case 'o':
        case 'C': {
            const char *flag = c == 'q' ? "--quorum" : c == 'o' ? "--open-after" : "--close-after";
            if ((c == 'q' && strcmp(name, "availability") != 0 && strcmp(name, "incidents") != 0) ||
                (c != 'q' && strcmp(name, "incidents") != 0)) {
                fprintf(stderr, "picketctl %s: %s is not an option of this command\n", name, flag);
                return 2;
            }
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > (c == 'q' ? 64 : 10000)) {
                fprintf(stderr, "picketctl %s: %s must be an integer in 1..%d, got '%s'\n", name, flag,
                        c == 'q' ? 64 : 10000, optarg);
                return 2;
            }
            *(c == 'q' ? &quorum : c == 'o' ? &open_after : &close_after) = v;
            break;
        }
        case 'Q': {
            if (strcmp(name, "latency") != 0) {
                fprintf(stderr, "picketctl %s: --quantile is an option of latency\n", name);
                return 2;
            }
            double v = strtod(optarg, &end);
            if (!*optarg || *end || !(v >= 0 && v <= 1) || n_quantiles == MAX_QUANTILES) {
                fprintf(stderr, "picketctl latency: --quantile must be in 0..1 (at most %d), got '%s'\n",
                        MAX_QUANTILES, optarg);
                return 2;
            }
            quantiles[n_quantiles++] = v;
            break;
        }
        case 'g':
            if (strcmp(name, "slo") != 0) {
                fprintf(stderr, "picketctl %s: --group is an option of slo\n", name);
                return 2;
            }
            group = optarg;
            break;
        case 'h':
            ctl_query_usage(stdout, name);
            return 0;
        default:
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "picketctl %s: unexpected argument '%s'\n", name, argv[optind]);
        return 2;
    }
    if (since && ctl_parse_time(since, now_us, &window.since_us) < 0) {
        fprintf(stderr, "picketctl %s: --since '%s' is neither RFC 3339 (2026-11-26T10:00:00Z) nor a duration "
                        "like 24h or 7d\n", name, since);
        return 2;
    }
    if (until && ctl_parse_time(until, now_us, &window.until_us) < 0) {
        fprintf(stderr, "picketctl %s: --until '%s' is neither RFC 3339 (2026-11-26T10:00:00Z), \"now\", nor a "
                        "duration like 1h\n", name, until);
        return 2;
    }
    if (since && until && window.since_us >= window.until_us) {
        fprintf(stderr, "picketctl %s: --since must be before --until\n", name);
        return 2;
    }
    if (until && !since && strcmp(name, "slo") != 0)
        window.since_us = window.until_us - INT64_C(86400000000);

    ProtobufCMessage *req = NULL;
    Picket__V1__AvailabilityRequest areq = PICKET__V1__AVAILABILITY_REQUEST__INIT;
    Picket__V1__LatencyRequest lreq = PICKET__V1__LATENCY_REQUEST__INIT;
    Picket__V1__TrendRequest treq = PICKET__V1__TREND_REQUEST__INIT;
    Picket__V1__IncidentsRequest ireq = PICKET__V1__INCIDENTS_REQUEST__INIT;
    Picket__V1__SloRequest sreq = PICKET__V1__SLO_REQUEST__INIT;
    Picket__V1__ReportRequest rreq = PICKET__V1__REPORT_REQUEST__INIT;
    const ProtobufCMessageDescriptor *resp_desc = NULL;
    switch (idx) {
    case 0:
        rreq.window = &window;
        req = &rreq.base;
        resp_desc = &picket__v1__report_response__descriptor;
        break;
    case 1:
        areq.window = &window;
        areq.quorum = (int32_t)quorum;
        req = &areq.base;
        resp_desc = &picket__v1__availability_response__descriptor;
        break;
    case 2:
        lreq.window = &window;
        lreq.quantiles = quantiles;
        lreq.n_quantiles = n_quantiles;
        req = &lreq.base;
        resp_desc = &picket__v1__latency_response__descriptor;
        break;
    case 3:
        treq.window = &window;
        req = &treq.base;
        resp_desc = &picket__v1__trend_response__descriptor;
        break;
    case 4:
        ireq.window = &window;
        ireq.open_after = (int32_t)open_after;
        ireq.close_after = (int32_t)close_after;
        ireq.quorum = (int32_t)quorum;
        req = &ireq.base;
        resp_desc = &picket__v1__incidents_response__descriptor;
        break;
    default:
        sreq.window = &window;
        sreq.group = (char *)(group ? group : "");
        req = &sreq.base;
        resp_desc = &picket__v1__slo_response__descriptor;
        break;
    }
    char method[96], err[1400];
    snprintf(method, sizeof method, "/picket.v1.QueryService/%s", commands[idx].method);
    ProtobufCMessage *answer = NULL;
    int invalid = 0;
    if (ctl_admin_call(collector, method, req, resp_desc, timeout_ms, &answer, &invalid, err, sizeof err) < 0) {
        fprintf(stderr, "picketctl %s: %s\n", name, err);
        return invalid ? 2 : 1;
    }
    switch (idx) {
    case 0:
        out_report((const Picket__V1__ReportResponse *)answer, fmt);
        break;
    case 1:
        out_availability((const Picket__V1__AvailabilityResponse *)answer, fmt);
        break;
    case 2:
        out_latency((const Picket__V1__LatencyResponse *)answer, fmt);
        break;
    case 3:
        out_trend((const Picket__V1__TrendResponse *)answer, fmt);
        break;
    case 4:
        out_incidents((const Picket__V1__IncidentsResponse *)answer, fmt);
        break;
    default:
        out_slo((const Picket__V1__SloResponse *)answer, fmt);
        break;
    }
    protobuf_c_message_free_unpacked(answer, NULL);
    return 0;
}
