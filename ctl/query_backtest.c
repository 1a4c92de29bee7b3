/* query_backtest.c: the answers of the back-tests, `picketctl regressions` and
 * `picketctl slo --backtest`, as a table, JSON or CSV: one line per alarm the
 * rule would have raised, with when it fired and cleared. Prints what the
 * collector computed; computes nothing itself. `regressions` asks in parts
 * (query_regressions), each within the timeout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json_fields.h"
#include "json_num.h"
#include "query_int.h"
#include "rpc_ctl.h"

static void fmt_time(char *buf, size_t size, int64_t us)
{
    if (us == 0) {
        snprintf(buf, size, "-");
        return;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void query_out_regressions(const Picket__V1__RegressionsResponse *r, enum format fmt)
{
    int metric = r->metric && r->metric[0];
    if (fmt == JSON) {
        json_object *root = query_json_root(r->since_us, r->until_us), *arr = json_object_new_array();
        json_object_object_add(root, "threshold", json_object_new_double(r->threshold));
        json_object_object_add(root, "consecutive", json_object_new_int(r->consecutive));
        json_object_object_add(root, "checks", json_object_new_int(r->checks_judged));
        json_object_object_add(root, "checks_learning", json_object_new_int(r->checks_learning));
        json_object_object_add(root, "metric", r->metric && r->metric[0] ? json_object_new_string(r->metric) : NULL);
        json_object_object_add(root, "fast", json_object_new_boolean(r->fast));
        json_object_object_add(root, "direction", metric ? json_object_new_string(r->direction) : NULL);
        for (size_t i = 0; i < r->n_alarms; i++) {
            const Picket__V1__RegressionAlarm *a = r->alarms[i];
            json_object *o = json_object_new_object();
            json_object_object_add(o, "check", json_object_new_string(a->check_name));
            json_object_object_add(o, "service", json_object_new_string(a->service));
            json_object_object_add(o, "fired_at_us", json_object_new_int64(a->fired_at_us));
            json_object_object_add(o, "since_us", json_object_new_int64(a->since_us));
            json_object_object_add(o, "cleared_at_us", ctl_json_time(a->cleared_at_us));
            json_object_object_add(o, "score", pk_json_num(a->score));
            int hourly = a->window_us == 3600 * INT64_C(1000000);
            json_object_object_add(o, "window_s", json_object_new_int64(a->window_us / 1000000));
            json_object_object_add(o, "p95_us", metric || !hourly ? NULL : pk_json_num(a->p95_us));
            json_object_object_add(o, "expected_p95_us", metric || !hourly ? NULL : pk_json_num(a->expected_p95_us));
            json_object_object_add(o, "value", pk_json_num(a->value));
            json_object_object_add(o, "expected", pk_json_num(a->expected));
            json_object_array_add(arr, o);
        }
        json_object_object_add(root, "alarms", arr);
        query_print_json(root);
        return;
    }
    if (fmt == CSV)
        printf("check,service,fired_at_us,since_us,cleared_at_us,score,value,expected,window_s\n");
    else {
        query_print_window(r->since_us, r->until_us);
        if (metric)
            printf("rule: hourly median of %s beyond robust z %g %s for %d hours in a row%s "
                   "(docs/ANALYTICS.md)\n", r->metric, r->threshold,
                   !strcmp(r->direction, "up") ? "upward" : !strcmp(r->direction, "both") ? "either way" : "downward",
                   r->consecutive,
                   r->fast ? ", or its 5-minute median beyond the fast half's limits" : "");
        else
            printf("rule: hourly p95 beyond robust z %g for %d hours in a row%s (docs/ANALYTICS.md)\n", r->threshold,
                   r->consecutive, r->fast ? ", or 5-minute median beyond the fast half's limits" : "");
        if (r->checks_learning)
            printf("%d check(s) still learning at the end (under a week of history): no verdict for them\n",
                   r->checks_learning);
        if (r->n_alarms == 0) {
            printf("no alarm would have been raised\n");
            return;
        }
        printf("\n%-28s %-21s %-21s %-21s %7s %10s %10s %s\n", "CHECK", "FIRED", "SINCE", "CLEARED", "SCORE",
               metric ? "VALUE" : "P95/MEDIAN", "EXPECTED", "WINDOW");
    }
    for (size_t i = 0; i < r->n_alarms; i++) {
        const Picket__V1__RegressionAlarm *a = r->alarms[i];
        if (fmt == CSV) {
            query_csv_str(stdout, a->check_name);
            putchar(',');
            query_csv_str(stdout, a->service);
            printf(",%lld,%lld,", (long long)a->fired_at_us, (long long)a->since_us);
            if (a->cleared_at_us)
                printf("%lld", (long long)a->cleared_at_us);
            putchar(',');
            query_csv_num(stdout, a->score);
            putchar(',');
            query_csv_num(stdout, a->value);
            putchar(',');
            query_csv_num(stdout, a->expected);
            printf(",%lld\n", (long long)(a->window_us / 1000000));
            continue;
        }
        char fired[32], since[32], cleared[32], p95[32], expected[32];
        fmt_time(fired, sizeof fired, a->fired_at_us);
        fmt_time(since, sizeof since, a->since_us);
        fmt_time(cleared, sizeof cleared, a->cleared_at_us);
        if (metric) {
            snprintf(p95, sizeof p95, "%.2f", a->value);
            snprintf(expected, sizeof expected, "%.2f", a->expected);
        } else {
            query_fmt_us(p95, sizeof p95, a->value);
            query_fmt_us(expected, sizeof expected, a->expected);
        }
        printf("%-28s %-21s %-21s %-21s %7.1f %10s %10s %s\n", a->check_name, fired, since, cleared, a->score, p95,
               expected, a->window_us == 3600 * INT64_C(1000000) ? (metric ? "1h median" : "1h p95") : "5m median");
    }
}

#define BURN_JSON(key, field, kind) CTL_JSON(Picket__V1__SloBurnAlarm, key, field, kind)
static const struct ctl_json_field burn_fields[] = {
    BURN_JSON("check", check_name, STR), BURN_JSON("service", service, STR),
    BURN_JSON("long_window_us", long_window_us, I64), BURN_JSON("short_window_us", short_window_us, I64),
    BURN_JSON("factor", factor, DOUBLE), BURN_JSON("fired_at_us", fired_at_us, I64),
    BURN_JSON("cleared_at_us", cleared_at_us, TIME),
    BURN_JSON("burn_long", burn_long, NUM), BURN_JSON("burn_short", burn_short, NUM),
};

void query_out_slo_backtest(const Picket__V1__SloBacktestResponse *r, enum format fmt)
{
    if (fmt == JSON) {
        json_object *root = query_json_root(r->since_us, r->until_us), *arr = json_object_new_array();
        for (size_t i = 0; i < r->n_alarms; i++) {
            json_object_array_add(arr, ctl_json_object(r->alarms[i], burn_fields, CTL_JSON_NFIELDS(burn_fields)));
        }
        json_object_object_add(root, "alarms", arr);
        query_print_json(root);
        return;
    }
    if (fmt == CSV)
        printf("check,service,long_window_s,short_window_s,factor,fired_at_us,cleared_at_us,burn_long,burn_short\n");
    else {
        query_print_window(r->since_us, r->until_us);
        if (r->n_alarms == 0) {
            printf("no burn-rate alarm would have been raised (checks without an slo: key are not judged)\n");
            return;
        }
        printf("%-28s %-14s %-21s %-21s %s\n", "CHECK", "RULE", "FIRED", "CLEARED", "BURN (long/short)");
    }
    for (size_t i = 0; i < r->n_alarms; i++) {
        const Picket__V1__SloBurnAlarm *a = r->alarms[i];
        if (fmt == CSV) {
            query_csv_str(stdout, a->check_name);
            putchar(',');
            query_csv_str(stdout, a->service);
            printf(",%lld,%lld,%.17g,%lld,", (long long)(a->long_window_us / 1000000),
                   (long long)(a->short_window_us / 1000000), a->factor, (long long)a->fired_at_us);
            if (a->cleared_at_us)
                printf("%lld", (long long)a->cleared_at_us);
            putchar(',');
            query_csv_num(stdout, a->burn_long);
            putchar(',');
            query_csv_num(stdout, a->burn_short);
            putchar('\n');
            continue;
        }
        char rule[64], fired[32], cleared[32];
        snprintf(rule, sizeof rule, "%lldm/%lldm>%g", (long long)(a->long_window_us / 60000000),
                 (long long)(a->short_window_us / 60000000), a->factor);
        fmt_time(fired, sizeof fired, a->fired_at_us);
        fmt_time(cleared, sizeof cleared, a->cleared_at_us);
        printf("%-28s %-14s %-21s %-21s %.1fx / %.1fx\n", a->check_name, rule, fired, cleared, a->burn_long,
               a->burn_short);
    }
}

/* A back-test judges every check over up to 31 days of history (some 50 ms of
 * the collector's time per check and day at full size): for many checks the
 * answer comes in parts, each bounded by time, so that every call answers
 * within the timeout and the collector serves other queries between them. */
int query_regressions(const char *collector, int timeout_ms, Picket__V1__RegressionsRequest *req, enum format fmt)
{
    Picket__V1__RegressionsResponse **parts = NULL, merged;
    Picket__V1__RegressionAlarm **alarms = NULL;
    size_t n_parts = 0, n_alarms = 0;
    int judged = 0; /* over the parts so far: the progress line */
    int rc = 1, tty = isatty(STDERR_FILENO);
    char after[512] = "", err[1400];
    if (req->part_ms <= 0)
        req->part_ms = timeout_ms / 2 > 0 ? timeout_ms / 2 : 1;
    for (;;) {
        req->checks_after = after;
        ProtobufCMessage *answer = NULL;
        int invalid = 0;
        if (ctl_admin_call(collector, "/picket.v1.QueryService/Regressions", &req->base,
                           &picket__v1__regressions_response__descriptor, timeout_ms, &answer, &invalid, err,
                           sizeof err) < 0) {
            fprintf(stderr, "%spicketctl regressions: %s\n", tty && n_parts ? "\n" : "", err);
            rc = invalid ? 2 : 1;
            goto out;
        }
        Picket__V1__RegressionsResponse *r = (Picket__V1__RegressionsResponse *)answer;
        Picket__V1__RegressionsResponse **p = realloc(parts, (n_parts + 1) * sizeof *p);
        Picket__V1__RegressionAlarm **a = realloc(alarms, (n_alarms + r->n_alarms + 1) * sizeof *a);
        if (p)
            parts = p;
        if (a)
            alarms = a;
        if (!p || !a) {
            protobuf_c_message_free_unpacked(answer, NULL);
            fprintf(stderr, "picketctl regressions: out of memory\n");
            goto out;
        }
        parts[n_parts++] = r;
        if (r->n_alarms)
            memcpy(alarms + n_alarms, r->alarms, r->n_alarms * sizeof *alarms);
        n_alarms += r->n_alarms;
        int done = !r->continue_after || !r->continue_after[0];
        if (!done && (strlen(r->continue_after) >= sizeof after || strcmp(r->continue_after, after) <= 0)) {
            fprintf(stderr, "picketctl regressions: the collector's answer does not move on (after '%.64s')\n",
                    r->continue_after);
            goto out;
        }
        judged += r->checks_judged;
        if (tty) {
            fprintf(stderr, "\rpicketctl regressions: %d of %d checks judged", judged, r->checks_total);
            if (done)
                fputc('\n', stderr);
        }
        if (done)
            break;
        snprintf(after, sizeof after, "%s", r->continue_after);
    }
    merged = *parts[0];
    merged.alarms = alarms;
    merged.n_alarms = n_alarms;
    merged.checks_learning = 0;
    merged.checks_judged = 0;
    for (size_t i = 0; i < n_parts; i++) {
        merged.checks_learning += parts[i]->checks_learning;
        merged.checks_judged += parts[i]->checks_judged;
    }
    query_out_regressions(&merged, fmt);
    rc = 0;
out:
    for (size_t i = 0; i < n_parts; i++)
        protobuf_c_message_free_unpacked(&parts[i]->base, NULL);
    free(parts);
    free(alarms);
    return rc;
}
