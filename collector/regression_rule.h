/* regression_rule.h: the baseline regression rule as the alert thread, the
 * back-test (picketctl regressions) and its tests run it, on one check's hourly
 * series: the hourly p95 of its results, or the hourly median of one numeric
 * metric the check extracts (answer length, number of sources...). Definitions:
 * docs/ANALYTICS.md, "Baselines and regressions" and "Back-testing". */
#ifndef PK_REGRESSION_RULE_H
#define PK_REGRESSION_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "analytics.h"
#include "store.h"

/* The history the rule learns from and the hours it judges, ending at the end of
 * the hour being judged. */
#define REGRESSION_HISTORY_US (INT64_C(28) * 24 * 3600 * 1000000)
#define REGRESSION_RECENT_US (INT64_C(24) * 3600 * 1000000)
#define REGRESSION_HOUR_US (INT64_C(3600) * 1000000)

/* One check's series of windows over [from, from + n * width): y NAN where the hour has
 * no value; excluded[i] set where the hour is left out of learning (its failed
 * share marks it as inside an incident). All arrays malloc'd. */
struct regression_series {
    int64_t from, width; /* first window's start; window width (an hour, or 5 minutes) */
    size_t n;
    int64_t *t;
    double *y;
    unsigned char *excluded;
};

/* Reads check's series over [from, to) (both whole hours): the hourly p95 of its
 * results when metric is NULL or "", else the hourly median of that metric over
 * its successful results; region NULL: every region. 0, or -1 with err (out is
 * then empty and may be freed). */
int regression_series_read(struct store *s, const char *check, const char *region, const char *metric, int64_t from,
                           int64_t to, struct regression_series *out, char *err, size_t errlen);
void regression_series_free(struct regression_series *s);

/* The rule's options: threshold in robust z, k consecutive hours to raise and to
 * clear (<= 0: the defaults); metric_dir 0 for latency (upward), else a metric
 * deviant in that direction (PK_DIR_*; PK_REGRESSION_METRIC_DIR, down, by
 * default: a drop in answer quality is a regression as a rise in latency is),
 * scored as its reciprocal (pk_regression_kind). */
void regression_rule_opts(double threshold, int k, int metric_dir, struct pk_regression_opts *o);

/* The rule evaluated at the end of the hour ending at `end` (a whole hour, inside
 * the series): the 28 days before end - 24 h learn, the 24 hours to end are
 * judged (pk_regression_judge). Hours of the series outside its span count as
 * missing. 0 with *out, or -1 with err. */
int regression_rule_at(const struct regression_series *s, int64_t end, const struct pk_regression_opts *o,
                       struct pk_regression *out, char *err, size_t errlen);

/* The fast half of the rule (PK_REGRESSION_FAST_*, docs/ANALYTICS.md): on
 * 5-minute medians of the latency, or of the metric the rule judges. Evaluated at `end` (a whole 5 minutes), it learns from
 * the 28 days before split = the start of end's hour - 6 h and judges the windows
 * [split, end), 6 to 7 hours of them, so that every evaluation within one hour
 * shares its history (the back-test replays an hour with one call). */
#define REGRESSION_FAST_RECENT_US (INT64_C(6) * 3600 * 1000000)

/* The 5-minute medians of check's latency, or of metric (not NULL or ""; over
 * its successful results), and the windows left out of learning, over
 * [from, to), whole 5 minutes. 0, or -1 with err. */
int regression_fast_series_read(struct store *s, const char *check, const char *region, const char *metric,
                                int64_t from, int64_t to, struct regression_series *out, char *err, size_t errlen);
/* The latency windows of s over every probe (s->from, s->n set; 5-minute
 * width), whole ended hours from their stored summaries (rollup_check_hour.fast,
 * migration 043), the rest from the minute rows; an ended hour read from the
 * minute rows has its summary stored for the next reader. The windows are
 * those the minute rows give, bit for bit. 0, or -1 with err. */
int regression_fast_from_summaries(struct store *st, const char *check, struct regression_series *s, char *err,
                                   size_t errlen);
/* 0: regression_fast_series_read reads every window from the minute rows (tests
 * compare the two). Default 1. */
extern int regression_fast_summaries;
/* The hourly (hourly 1) or fast half's windows over [from, to) of every probe,
 * as regression_series_read and regression_fast_series_read give them. With
 * learn 0 (windows only judged) of the windows left out of learning only those
 * marked by their own failed share (no stored incident or maintenance window is
 * read). 0, or -1 with err. */
int regression_half_read(struct store *st, int hourly, int learn, const char *check, const char *metric, int64_t from,
                         int64_t to, struct regression_series *s, char *err, size_t errlen);
/* regression_half_read with learn 0 and no metric for checks[0..n) at once
 * (out: n series, the same windows bit for bit): the alert thread's
 * evaluation of a rule on many checks reads each half's judged windows in a
 * few statements instead of several per check. 0, or -1 with err (out then
 * empty). */
int regression_judged_many(struct store *st, int hourly, const char *const *checks, size_t n, int64_t from,
                           int64_t to, struct regression_series *out, char *err, size_t errlen);
/* The fast half's options (pk_regression_fast_opts): metric_dir as for
 * regression_rule_opts. */
void regression_fast_opts(int metric_dir, struct pk_regression_opts *o);
/* The start of the judged windows of an evaluation at end. */
int64_t regression_fast_split(int64_t end);
/* The fast half at end; on_event (may be NULL) sees every raise and clear of the
 * judged windows, with the window's start. 0 with *out, or -1 with err. */
int regression_fast_at(const struct regression_series *s, int64_t end, const struct pk_regression_opts *o,
                       struct pk_regression *out, pk_regression_event_fn on_event, void *user, char *err,
                       size_t errlen);

/* The alert thread's memory of both halves' history: every evaluation within
 * one hour learns from the same 28 days, so the model is learned once an hour per
 * rule, check and half (pk_regression_learn), and each evaluation reads only the
 * windows it judges (pk_regression_judge_model): the answer of regression_fast_at
 * and regression_rule_at. Results arriving late into the learned days are
 * learned at the next hour. */
struct regression_cache_entry;
struct regression_cache {
    struct regression_cache_entry *v;
    size_t n, cap;
    size_t *slot, n_slots; /* open addressing over v: index + 1, 0 empty; n_slots a power of two */
};
/* regression_fast_at at fend for (rule, check), through the cache (o: the fast
 * half's options, the same at every call). */
int regression_fast_cached(struct regression_cache *c, struct store *s, int rule, const char *check,
                           const char *metric, int64_t fend, const struct pk_regression_opts *o, struct pk_regression *out, char *err, size_t errlen);
/* regression_rule_at at end (a whole hour) for (rule, check), through the cache
 * (o: the rule's options, the same at every call). */
int regression_hourly_cached(struct regression_cache *c, struct store *s, int rule, const char *check,
                             const char *metric, int64_t end, const struct pk_regression_opts *o,
                             struct pk_regression *out, char *err, size_t errlen);
/* The windows the next regression_fast_cached (hourly 0, at fend = end) or
 * regression_hourly_cached (hourly 1) of (rule, checks[i]) judges, read for
 * every check at once (regression_judged_many; latency rules only); each is
 * used by that one call, and a call at another end reads its own. 0, or -1
 * with err (the calls then read their own). */
int regression_cache_prefetch(struct regression_cache *c, struct store *st, int rule, int hourly,
                              const char *const *checks, size_t n, int64_t end, char *err, size_t errlen);
void regression_cache_free(struct regression_cache *c);

/* Back-testing (picketctl regressions): every alarm the rule would have raised
 * for one check over (since, until]: the hourly half at the end of every hour,
 * the fast half (when fast; on latency or on the metric) at the end of every 5 minutes, each by the functions
 * above, united as the alert thread unites them. */
struct regression_alarm {
    int64_t fired, since, cleared; /* cleared 0: still raised at until */
    double score, value, expected;
    int fast; /* raised by the fast half (5-minute windows) */
};
struct regression_alarms {
    struct regression_alarm *v;
    size_t n, cap;
};
/* Appends to out (free out->v); *learning set when neither half had a verdict at
 * the last step. o->base.memo, when set, serves both halves (the hours of a
 * back-test share most of their history). 0, or -1 with err. */
int regression_replay(struct store *s, const char *check, const char *region, const char *metric, int fast,
                      const struct pk_regression_opts *o, int64_t since, int64_t until, struct regression_alarms *out,
                      int *learning, char *err, size_t errlen);

#endif
