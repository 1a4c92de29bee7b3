/* query_int.h: private to the analytics commands (query.c and the printers beside
 * it): the output format and the formatting helpers they share. Not for
 * ctl/main.c, whose face is query.h. */
#ifndef PK_CTL_QUERY_INT_H
#define PK_CTL_QUERY_INT_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>

#include "picket/v1/picket.pb-c.h"

enum format { TABLE, JSON, CSV };

/* CSV fields: a number (empty when NaN) and a quoted-when-needed string. */
void query_csv_num(FILE *f, double v);
void query_csv_str(FILE *f, const char *s);
/* Table cells: "-" when there is no figure. */
void query_fmt_pct(char *buf, size_t size, double ratio);
void query_fmt_us(char *buf, size_t size, double us);
void query_fmt_slo_left(char *buf, size_t size, const Picket__V1__CheckSlo *s);
/* A trend direction as an arrow (three bytes, one column). */
const char *query_arrow(const char *direction);
/* JSON objects of the figures; the caller owns the result (json_object_put). */
json_object *query_json_availability(const Picket__V1__CheckAvailability *a);
json_object *query_json_latency(const Picket__V1__CheckLatency *l);
json_object *query_json_trend(const Picket__V1__CheckTrend *t);
json_object *query_json_slo(const Picket__V1__CheckSlo *s);
json_object *query_json_group_slos(Picket__V1__GroupSlo **groups, size_t n);
/* The root object with the window, printed (and freed) by query_print_json. */
json_object *query_json_root(int64_t since_us, int64_t until_us);
void query_print_json(json_object *root);
void query_print_window(int64_t since_us, int64_t until_us);
void query_print_group_slos(Picket__V1__GroupSlo **groups, size_t n);

/* The back-tests' answers (query_backtest.c): `regressions`, `slo --backtest`. */
void query_out_regressions(const Picket__V1__RegressionsResponse *r, enum format fmt);
/* `regressions`: req sent in parts, each given req->part_ms (0: half of
 * timeout_ms), until every check is judged; the parts' alarms printed as one answer. The exit code. */
int query_regressions(const char *collector, int timeout_ms, Picket__V1__RegressionsRequest *req, enum format fmt);
void query_out_slo_backtest(const Picket__V1__SloBacktestResponse *r, enum format fmt);

/* `report`'s answer as a table, JSON or CSV (query_report.c). */
void query_out_report(const Picket__V1__ReportResponse *r, enum format fmt);

#endif
