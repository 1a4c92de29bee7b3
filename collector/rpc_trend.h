/* rpc_trend.h: a check's trend figures for QueryService (rpc_trend.c). */
#ifndef PK_RPC_TREND_H
#define PK_RPC_TREND_H

#include <stddef.h>
#include <stdint.h>

#include "picket/v1/picket.pb-c.h"
#include "rpc_query.h"

/* Hourly p95 and error rate of check m over [since, until) (region NULL: all),
 * each through Theil–Sen at 95 %, in arena a. NULL with err when the store
 * failed or memory ran out. */
Picket__V1__CheckTrend *rpc_trend_of(struct store *store, struct rpc_query_arena *a, const struct store_check_meta *m,
                                     int64_t since_us, int64_t until_us, const char *region, char *err, size_t errlen);

/* The width of the trend's points over [since, until): an hour, wider when the
 * window holds more than PK_TREND_MAX_POINTS hours, a minute under an hour. */
int64_t rpc_trend_width(int64_t since_us, int64_t until_us);

/* The rollup read of the trend over [since, until) (region NULL: all), for every
 * check: the caller sets check or checks. */
void rpc_trend_filter(int64_t since_us, int64_t until_us, const char *region, struct store_rollup_filter *f);

/* At most this many trend points: a longer window's points are wider
 * (docs/ANALYTICS.md, "Query API and CLI"), so Theil–Sen's pairs stay bounded
 * (240 points: 28,680 pairs; 30 days of hours would be 259,000). A window under
 * RPC_TREND_DAYS_FROM days has hourly points (at most 240), whose p95s the
 * check-hour summaries hold; from RPC_TREND_DAYS_FROM days on, points of whole
 * UTC days, read from the day rows merged over probes (30 rows a check for 30
 * days, not 2,160 hour rows). Points of two hours or more would have to be read
 * from the hour rows' histograms: 500,000 rows for a week of 1,000 checks. */
#define RPC_TREND_POINTS 240
#define RPC_TREND_DAYS_FROM 10

/* The width of the trend's points over [since, until): rpc_trend_width while
 * the window holds at most RPC_TREND_POINTS of those, else the smallest whole
 * number of hours (under RPC_TREND_DAYS_FROM days) or days that does. */
int64_t rpc_trend_point_width(int64_t since_us, int64_t until_us);

/* The trend of check m over [since, until) from its rows of that read (bucket
 * order), merged into points of rpc_trend_point_width, in arena a; NULL with
 * err when memory ran out. */
Picket__V1__CheckTrend *rpc_trend_from_rows(struct rpc_query_arena *a, const struct store_check_meta *m,
                                            const struct store_rollup_row *rows, size_t n, int64_t since_us,
                                            int64_t until_us, char *err, size_t errlen);

/* One point of a trend: its start (the window's start for a clipped first
 * point), the p95 of its successful results (NaN: none) and its counts (good:
 * ok and degraded; bad: failed; the error rate is bad / (good + bad)). */
struct rpc_trend_point {
    int64_t t;
    double p95_us;
    uint64_t good, bad;
};

/* The point of a bucket from its merged histogram and counts. */
void rpc_trend_point_of(int64_t t, const struct pk_hist *h, uint64_t ok, uint64_t degraded, uint64_t failed,
                        struct rpc_trend_point *p);

/* The trend of check m from its points p[0..n) (in time order), in arena a:
 * what rpc_trend_from_rows gives for the rows the points come from. NULL with
 * err when memory ran out. */
Picket__V1__CheckTrend *rpc_trend_from_points(struct rpc_query_arena *a, const struct store_check_meta *m,
                                              const struct rpc_trend_point *p, size_t n, char *err, size_t errlen);

#endif
