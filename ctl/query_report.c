/* query_report.c: `picketctl report`, the live quality dashboard: per service
 * and check the last result, latency against budget, uptime, trend arrows,
 * baseline, incidents and SLO budget left, as a table, JSON or CSV. Prints what
 * the collector computed (ReportResponse); computes nothing itself. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "query_int.h"
#include "result.h"
#include "term.h"

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
    json_object_object_add(o, "state", json_object_new_string(b->state && b->state[0] ? b->state : "no_history"));
    json_object_object_add(o, "excluded_points", json_object_new_int64(b->excluded_points));
    json_object *metrics = json_object_new_array();
    for (size_t i = 0; i < b->n_metrics; i++) {
        const Picket__V1__MetricBaseline *mb = b->metrics[i];
        json_object *m = json_object_new_object();
        json_object_object_add(m, "metric", json_object_new_string(mb->metric));
        json_object_object_add(m, "state", json_object_new_string(mb->state));
        json_object_object_add(m, "history_points", json_object_new_int64(mb->history_points));
        json_object_object_add(m, "regression", json_object_new_boolean(mb->regression));
        json_object_object_add(m, "since_us", mb->regression ? json_object_new_int64(mb->since_us) : NULL);
        json_object_object_add(m, "last_score", json_num_or_null(mb->last_score));
        json_object_object_add(m, "last_value", json_num_or_null(mb->last_value));
        json_object_object_add(m, "expected", json_num_or_null(mb->expected));
        json_object_array_add(metrics, m);
    }
    json_object_object_add(o, "metrics", metrics);
    return o;
}

/* BASE column: regression against the learned baseline, or not, or not yet learned. */
static const char *baseline_word(const Picket__V1__BaselineState *b)
{
    if (!b || b->history_points == 0)
        return "-";
    if (b->state && !strcmp(b->state, "learning"))
        return "learn"; /* under a week of its own history: no verdict yet */
    int metric_regressed = 0;
    for (size_t i = 0; i < b->n_metrics; i++)
        metric_regressed |= b->metrics[i]->regression;
    return b->regression || metric_regressed ? "REGR" : "ok";
}

static json_object *json_metrics(Picket__V1__Metric *const *m, size_t n)
{
    json_object *o = json_object_new_object();
    for (size_t i = 0; i < n; i++)
        json_object_object_add(o, m[i]->name, json_object_new_double(m[i]->value));
    return o;
}

static void report_json(const Picket__V1__ReportResponse *r)
{
    json_object *root = query_json_root(r->since_us, r->until_us), *arr = json_object_new_array();
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
        json_object_object_add(o, "availability", c->availability ? query_json_availability(c->availability) : NULL);
        json_object_object_add(o, "latency", c->latency ? query_json_latency(c->latency) : NULL);
        json_object_object_add(o, "trend", c->trend ? query_json_trend(c->trend) : NULL);
        json_object_object_add(o, "incidents", json_object_new_int(c->incidents));
        json_object_object_add(o, "open_incidents", json_object_new_int(c->open_incidents));
        json_object_object_add(o, "slo", c->slo ? query_json_slo(c->slo) : NULL);
        json_object_object_add(o, "baseline", c->baseline ? json_baseline(c->baseline) : NULL);
        json_object_object_add(o, "metrics", json_metrics(c->last_metrics, c->n_last_metrics));
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "checks", arr);
    json_object_object_add(root, "groups", query_json_group_slos(r->groups, r->n_groups));
    query_print_json(root);
}

static void report_csv(const Picket__V1__ReportResponse *r)
{
    printf("service,check,last_outcome,p50_us,p95_us,p99_us,budget_p50_us,budget_p95_us,budget_p99_us,"
           "breaches,uptime,success_ratio,p95_trend,error_trend,open_incidents,slo_budget_left,baseline\n");
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__ReportCheck *c = r->checks[i];
        const Picket__V1__CheckLatency *l = c->latency;
        const Picket__V1__AvailabilityFigure *g = c->availability ? c->availability->global : NULL;
        query_csv_str(stdout, c->service);
        putchar(',');
        query_csv_str(stdout, c->check_name);
        printf(",%s,", c->last_started_at_us ? pk_outcome_name(c->last_outcome) : "");
        const double q[3] = {l ? l->p50_us : -1, l ? l->p95_us : -1, l ? l->p99_us : -1};
        for (int k = 0; k < 3; k++) {
            if (q[k] >= 0)
                query_csv_num(stdout, q[k]);
            putchar(',');
        }
        printf("%lld,%lld,%lld,%u,", (long long)(l ? l->budget_p50_us : 0), (long long)(l ? l->budget_p95_us : 0),
               (long long)(l ? l->budget_p99_us : 0), l ? l->breaches : 0u);
        query_csv_num(stdout, g ? g->uptime : NAN);
        putchar(',');
        query_csv_num(stdout, g ? g->success_ratio : NAN);
        printf(",%s,%s,%d,", c->trend && c->trend->p95_us ? c->trend->p95_us->direction : "",
               c->trend && c->trend->error_rate ? c->trend->error_rate->direction : "", c->open_incidents);
        query_csv_num(stdout, c->slo ? c->slo->budget_left : NAN);
        printf(",%s\n", baseline_word(c->baseline));
    }
}

/* One check's table row. */
static void report_row(const Picket__V1__ReportCheck *c)
{
    const Picket__V1__CheckLatency *l = c->latency;
    char q[3][64];
    const double v[3] = {l ? l->p50_us : -1, l ? l->p95_us : -1, l ? l->p99_us : -1};
    const int64_t b[3] = {l ? l->budget_p50_us : 0, l ? l->budget_p95_us : 0, l ? l->budget_p99_us : 0};
    for (int k = 0; k < 3; k++) {
        char a[24], bb[24];
        query_fmt_us(a, sizeof a, v[k]);
        if (b[k]) {
            query_fmt_us(bb, sizeof bb, (double)b[k]);
            snprintf(q[k], sizeof q[k], "%s%s (%s)", (l->breaches >> k) & 1 ? "!" : "", a, bb);
        } else
            snprintf(q[k], sizeof q[k], "%s", a);
    }
    char up[32], slo[64], trend[48], regions[512] = "";
    const Picket__V1__AvailabilityFigure *g = c->availability ? c->availability->global : NULL;
    query_fmt_pct(up, sizeof up, g ? g->uptime : NAN);
    query_fmt_slo_left(slo, sizeof slo, c->slo);
    snprintf(trend, sizeof trend, "%s%s", query_arrow(c->trend && c->trend->p95_us ? c->trend->p95_us->direction : ""),
             query_arrow(c->trend && c->trend->error_rate ? c->trend->error_rate->direction : ""));
    struct pk_buf rb;
    pk_buf_init_fixed(&rb, regions, sizeof regions);
    for (size_t k = 0; c->availability && k < c->availability->n_regions; k++) {
        char p[32];
        query_fmt_pct(p, sizeof p, c->availability->regions[k]->uptime);
        pk_buf_addf(&rb, "%s%s %s", k ? "  " : "", c->availability->regions[k]->region, p);
    }
    char inc[16];
    snprintf(inc, sizeof inc, "%d", c->open_incidents);
    /* The arrows are one column but three bytes each: pad by hand. */
    printf("   %-26s %-9s %-24s %-24s %-24s %-9s %s    %-4s %-4s %-18s %s\n", pk_term(c->check_name),
           !c->last_started_at_us                                    ? "-"
           : c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_OK ||
                   c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_DEGRADED ? "PASS"
           : c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_FAILED      ? "FAIL"
                                                                         : "UNKNOWN",
           q[0], q[1], q[2], up, trend, baseline_word(c->baseline), inc, slo, pk_term(regions));
}

/* The seed plan's "live quality dashboard" in five lines: E2E tests passed and
 * failed (each check's last result), each latency budget's p95 against it,
 * security findings (every check's `vulnerabilities` number, as check_npm_audit
 * reports it), uptime over the window (up time over covered time of all
 * checks) and incidents. */
static void report_summary(const Picket__V1__ReportResponse *r)
{
    int passed = 0, failed = 0, unknown = 0, open = 0, incidents = 0, scans = 0;
    double vulns = 0, up_us = 0, covered_us = 0;
    char names[256] = "";
    struct pk_buf nb;
    pk_buf_init_fixed(&nb, names, sizeof names);
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__ReportCheck *c = r->checks[i];
        int o = c->last_started_at_us ? (int)c->last_outcome : 0;
        passed += o == PICKET__V1__OUTCOME__OUTCOME_OK || o == PICKET__V1__OUTCOME__OUTCOME_DEGRADED;
        failed += o == PICKET__V1__OUTCOME__OUTCOME_FAILED;
        unknown += !(o == PICKET__V1__OUTCOME__OUTCOME_OK || o == PICKET__V1__OUTCOME__OUTCOME_DEGRADED ||
                     o == PICKET__V1__OUTCOME__OUTCOME_FAILED);
        open += c->open_incidents;
        incidents += c->incidents;
        const Picket__V1__AvailabilityFigure *g = c->availability ? c->availability->global : NULL;
        if (g && g->covered_us > 0) {
            up_us += (double)g->up_us;
            covered_us += (double)g->covered_us;
        }
        for (size_t k = 0; k < c->n_last_metrics; k++)
            if (strcmp(c->last_metrics[k]->name, "vulnerabilities") == 0) {
                vulns += c->last_metrics[k]->value;
                pk_buf_addf(&nb, "%s%s", scans++ ? ", " : "", c->check_name);
            }
    }
    printf("\n== Quality dashboard (the seed plan's live figures)\n");
    printf("E2E tests:     %d passed, %d failed", passed, failed);
    if (unknown)
        printf(", %d without a verdict (no result yet, or unknown)", unknown);
    printf("\nPerformance:  ");
    int any = 0;
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__CheckLatency *l = r->checks[i]->latency;
        if (!l || !l->budget_p95_us)
            continue;
        char v[24], b[24];
        query_fmt_us(v, sizeof v, l->p95_us);
        query_fmt_us(b, sizeof b, (double)l->budget_p95_us);
        printf("%s%s P95 %s%s (baseline %s)", any++ ? "\n               " : " ", r->checks[i]->check_name,
               (l->breaches >> 1) & 1 ? "!" : "", v, b);
    }
    printf("%s\n", any ? "" : " no check has a p95 budget");
    if (scans)
        printf("Security:      %.0f vulnerabilities (%s)\n", vulns, names);
    else
        printf("Security:      - (no check reports a 'vulnerabilities' figure yet)\n");
    char up[32];
    query_fmt_pct(up, sizeof up, covered_us > 0 ? up_us / covered_us : NAN);
    printf("Availability:  %s uptime, %d incidents in the window, %d open\n", up, incidents, open);
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__ReportCheck *c = r->checks[i];
        if (c->last_started_at_us && c->last_outcome == PICKET__V1__OUTCOME__OUTCOME_UNKNOWN)
            printf("No verdict:    %s: %.160s\n", c->check_name, c->last_message);
    }
}

static void report_table(const Picket__V1__ReportResponse *r)
{
    query_print_window(r->since_us, r->until_us);
    if (r->n_checks == 0) {
        printf("no checks known yet: is a probe connected to this collector?\n");
        return;
    }
    const char *service = NULL;
    for (size_t i = 0; i < r->n_checks; i++) {
        const Picket__V1__ReportCheck *c = r->checks[i];
        if (!service || strcmp(service, c->service) != 0) {
            service = c->service;
            printf("%s== %s\n", i ? "\n" : "", service[0] ? pk_term(service) : "(no service)");
            printf("   %-26s %-9s %-24s %-24s %-24s %-9s %-5s %-4s %-4s %-18s %s\n", "CHECK", "E2E", "P50 (BUDGET)",
                   "P95 (BUDGET)", "P99 (BUDGET)", "UPTIME", "TREND", "BASE", "INC", "SLO LEFT", "UPTIME PER REGION");
        }
        report_row(c);
    }
    if (r->n_groups) {
        printf("\n== SLOs over groups of checks (collector --slos)\n");
        query_print_group_slos(r->groups, r->n_groups);
    }
    report_summary(r);
    printf("\nE2E: the last result; !: over budget; TREND: p95 then error rate (↑ ↓ → from the 95%% band, · no\n"
           "band yet); BASE: hourly p95 against its learned hour-of-week baseline (REGR: k deviant hours in\n"
           "a row, - not learned yet); INC: open incidents; SLO LEFT: error budget left (minutes of allowed\n"
           "downtime).\n");
}

void query_out_report(const Picket__V1__ReportResponse *r, enum format fmt)
{
    if (fmt == JSON)
        report_json(r);
    else if (fmt == CSV)
        report_csv(r);
    else
        report_table(r);
}
