/* analytics.h: the analytics figures (docs/ANALYTICS.md) — availability (success ratio, time-based
 * uptime, region quorum), incidents with MTTR/MTBF, SLO error budget and burn rate,
 * Theil–Sen trend, hour-of-week robust baselines with a k-consecutive regression
 * detector, and static latency budgets. Pure computation over caller-owned arrays:
 * no database, no gRPC, no clock, no logging. Every definition is written out in
 * docs/ANALYTICS.md ("Analytics definitions"); this header says only the contract.
 *
 * Inputs come in two shapes, so the same code serves rollups and raw results:
 *   struct pk_an_bucket — one rollup row (time bucket, counts by outcome, a histogram);
 *   struct pk_an_round  — one raw result (time, region, outcome, latency).
 * Times are Unix epoch microseconds; windows are half-open [from_us, until_us).
 * A figure with no data behind it is NAN (never 0, never "down"). */
#ifndef PK_ANALYTICS_H
#define PK_ANALYTICS_H

#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

#define PK_AN_MAX_REGIONS 64            /* region indexes 0..63 (bit masks) */
#define PK_AN_MAX_SLOTS 1000000         /* rounds per call (a year of minutes is 525,600) */
#define PK_TREND_MAX_POINTS 3000        /* Theil–Sen is O(n^2) in time and memory */
#define PK_BASELINE_SLOTS 168           /* hours of the week, slot 0 = Monday 00:00 */

/* ------------------------------------------------------------------ inputs */

struct pk_an_counts {
    uint64_t ok, degraded, failed, unknown;
};

/* One aggregate over [start_us, start_us + width_us) for one check (and one region
 * or probe): a per-minute/hour/day rollup row, or anything summed the same way. */
struct pk_an_bucket {
    int64_t start_us;
    int64_t width_us;
    struct pk_an_counts n;
    const struct pk_hist *hist; /* latencies of its results; may be NULL; borrowed */
    int region;                 /* 0..PK_AN_MAX_REGIONS-1 (its probe's); 0 when unused */
};

/* One raw result of one check. */
struct pk_an_round {
    int64_t at_us;      /* started_at */
    int region;         /* 0..PK_AN_MAX_REGIONS-1: an index into the caller's region list */
    int outcome;        /* enum pk_outcome (result.h) */
    int64_t latency_us; /* total_us; -1 when none */
};

/* How a degraded result counts for availability and SLOs: as up (default: it
 * answered, only slower or softer than wished) or as down. */
enum pk_degraded_policy { PK_DEGRADED_UP = 0, PK_DEGRADED_DOWN = 1 };

/* Adds a result of this outcome to c (UNSPECIFIED counts as unknown). */
void pk_an_counts_add(struct pk_an_counts *c, int outcome, uint64_t n);

/* ------------------------------------------------------------ availability */

struct pk_avail {
    struct pk_an_counts n;  /* results in the window */
    uint64_t good, bad;     /* ok (+ degraded) / failed (+ degraded), per the policy */
    double success_ratio;   /* good / (good + bad); NAN when good + bad == 0 */
    int64_t covered_us;     /* time with data (buckets or rounds that had results) */
    int64_t up_us;          /* of which up */
    double uptime;          /* up_us / covered_us; NAN when covered_us == 0 */
};

/* From buckets (one check, one region or probe, or any set whose buckets do not
 * overlap in time). A bucket counts when its start is in [from_us, until_us); it
 * covers min(width, until - start) of time; it is down when more than half of its
 * results with data are bad. Unknown results are no data. */
void pk_avail_buckets(const struct pk_an_bucket *b, size_t n, int64_t from_us, int64_t until_us,
                      int degraded_policy, struct pk_avail *out);

/* Rounds: the round of a result is its check's interval-aligned slot,
 * floor((at_us - origin_us) / interval_us). */
struct pk_round_opts {
    int64_t interval_us; /* the check's interval (> 0) */
    int64_t origin_us;   /* slot alignment; 0 = aligned to the epoch like the scheduler */
    int quorum;          /* regions down in the same round for global down (>= 1) */
    int degraded_policy;
};

enum pk_slot_state { PK_SLOT_NO_DATA = 0, PK_SLOT_UP = 1, PK_SLOT_DOWN = 2 };

struct pk_slot {
    int64_t start_us;
    int state;             /* enum pk_slot_state */
    uint64_t regions_data; /* bit r: region r had a result with data in this round */
    uint64_t regions_down; /* bit r: region r was down in this round */
};

/* The rounds whose slot starts in [from_us, until_us), in order, one struct pk_slot
 * each. A region is down in a round when more than half of its results with data
 * in that round are bad. region >= 0: that region alone (down = it is down);
 * region == -1: global (down = at least o->quorum regions down; a region without
 * data is not down). Results outside the window or of other regions are ignored.
 * *out is malloc'd (caller frees); 0, or -1 with err (bad options, too many rounds,
 * a region index out of range — named with the result's index and time). */
int pk_rounds_slots(const struct pk_an_round *r, size_t n, int region, int64_t from_us,
                    int64_t until_us, const struct pk_round_opts *o, struct pk_slot **out,
                    size_t *nout, char *err, size_t errlen);

/* The same from buckets (rollups per check and probe, region from the probe): the
 * round is the bucket, o->interval_us its width (slot = floor((start - origin) /
 * width)); a region is down in a bucket when more than half of its results with data
 * in all its buckets of that time are bad. Exactly pk_rounds_slots when the check's
 * interval equals the bucket width; with shorter intervals each bucket holds several
 * rounds and is judged by the majority of them. */
int pk_buckets_slots(const struct pk_an_bucket *b, size_t n, int region, int64_t from_us,
                     int64_t until_us, const struct pk_round_opts *o, struct pk_slot **out,
                     size_t *nout, char *err, size_t errlen);

/* Availability from rounds: success ratio over the results (of the region, or of
 * all regions when region == -1) whose round is in the window; uptime over rounds
 * with data, each covering interval_us, up unless down as pk_rounds_slots says. */
int pk_avail_rounds(const struct pk_an_round *r, size_t n, int region, int64_t from_us,
                    int64_t until_us, const struct pk_round_opts *o, struct pk_avail *out,
                    char *err, size_t errlen);

/* Availability from buckets with the region quorum: success ratio over the buckets'
 * counts, uptime over the slots of pk_buckets_slots. */
int pk_avail_buckets_quorum(const struct pk_an_bucket *b, size_t n, int region, int64_t from_us,
                            int64_t until_us, const struct pk_round_opts *o, struct pk_avail *out,
                            char *err, size_t errlen);

/* Latency of a window: merges the histograms of the buckets that start in
 * [from_us, until_us) (of one region, or all when region == -1) into *out (which
 * it initialises). Returns how many were merged; quantiles: pk_hist_quantile. */
int pk_an_latency(const struct pk_an_bucket *b, size_t n, int region, int64_t from_us, int64_t until_us,
                  struct pk_hist *out);

/* --------------------------------------------------------------- incidents */

struct pk_incident_opts {
    int open_after;  /* N: consecutive down rounds that open an incident (>= 1) */
    int close_after; /* M: consecutive up rounds that close it (>= 1) */
};

struct pk_incident {
    int64_t start_us;    /* start of its first down round */
    int64_t end_us;      /* start of the first of the M up rounds that closed it; -1 open */
    int64_t duration_us; /* end - start; for an open one, window end - start */
    uint64_t regions;    /* union of regions down in its down rounds */
    int down_rounds;     /* down rounds between start and end */
};

/* Walks slots from pk_rounds_slots (in order, all slot_us apart). Rounds with no
 * data neither count as down nor as up: they do not break a run. *out is malloc'd
 * (caller frees; NULL when none). 0, or -1 with err. */
int pk_incidents_detect(const struct pk_slot *s, size_t n, int64_t slot_us,
                        const struct pk_incident_opts *o, struct pk_incident **out, size_t *nout,
                        char *err, size_t errlen);

/* Merges the incidents of several checks (a service): overlapping or touching
 * incidents become one (earliest start, latest end, regions united, open if any
 * part is open). *out malloc'd (caller frees). 0, or -1 on out of memory. */
int pk_incidents_merge(const struct pk_incident *const *lists, const size_t *counts, size_t nlists,
                       struct pk_incident **out, size_t *nout);

struct pk_incident_stats {
    size_t count;        /* incidents */
    size_t closed;       /* of which closed */
    int64_t downtime_us; /* sum of durations (open ones up to the window end) */
    int64_t observed_us; /* as given: time with data in the window */
    double mttr_s;       /* mean duration of closed incidents; NAN when none closed */
    double mtbf_s;       /* (observed - downtime) / count; NAN when count == 0 */
};

void pk_incident_stats(const struct pk_incident *inc, size_t n, int64_t observed_us,
                       struct pk_incident_stats *out);

/* --------------------------------------------------------------------- SLO */

#define PK_SLO_MAX_ALERTS 4

struct pk_slo_alert_opts {
    int64_t long_us, short_us; /* both windows must burn faster than factor */
    double factor;
};

struct pk_slo_opts {
    double target;      /* e.g. 0.999 (0 < target < 1) */
    int64_t window_us;  /* e.g. 30 days */
    int degraded_policy;
    int n_alerts;
    struct pk_slo_alert_opts alert[PK_SLO_MAX_ALERTS];
};

struct pk_slo_alert {
    double burn_long, burn_short; /* NAN when that window has no data */
    int firing;                   /* both > factor */
};

struct pk_slo {
    uint64_t good, bad;        /* in the SLO window */
    double error_budget;       /* (1 - target) * (good + bad): bad results allowed */
    double budget_left;        /* 1 - bad / error_budget; NAN without data; < 0 when overspent */
    double budget_left_min;    /* budget_left * (1 - target) * window, in minutes */
    struct pk_slo_alert alert[PK_SLO_MAX_ALERTS];
};

/* 99.9 % over 30 days; page: 1 h with 5 min at 14.4; ticket: 6 h with 30 min at 6
 * (Google SRE workbook, "Alerting on SLOs", multiwindow, multi-burn-rate). */
void pk_slo_opts_default(struct pk_slo_opts *o);

/* Over buckets of one check, or of every check of a group (counts add up). A
 * bucket is in a window [now - w, now) when its start is. Use per-minute buckets
 * for the short windows. 0, or -1 with err on bad options. */
int pk_slo_eval(const struct pk_an_bucket *b, size_t n, int64_t now_us, const struct pk_slo_opts *o,
                struct pk_slo *out, char *err, size_t errlen);

/* ------------------------------------------------------------------- trend */

struct pk_trend {
    size_t n;              /* points used (NAN values skipped) */
    double median;         /* median of the values */
    double slope_per_day;  /* Theil–Sen: median of pairwise slopes, units per day */
    double lo_per_day, hi_per_day; /* confidence band; NAN when n < 10 */
    double pct_per_day, pct_lo, pct_hi; /* the same as % of median per day; NAN when median == 0 */
};

/* Points (t_us[i], y[i]), any order; NAN y values are skipped; at least 2 distinct
 * times needed. confidence in (0, 1), e.g. 0.95. 0, or -1 with err (too many or
 * too few points, out of memory). */
int pk_trend_theil_sen(const int64_t *t_us, const double *y, size_t n, double confidence,
                       struct pk_trend *out, char *err, size_t errlen);

/* ---------------------------------------------------------------- baseline */

struct pk_baseline_opts {
    int min_samples;      /* history a slot needs before it is used (default 3) */
    double mad_floor_rel; /* MAD floor as a fraction of |median| (default 0.01) */
    double mad_floor_abs; /* and in the metric's unit (default 0) */
    int64_t tz_offset_s;  /* hour-of-week in this offset from UTC (default 0) */
    int pool_mad;         /* also floor each slot's MAD by the pooled relative MAD (default 1) */
    int64_t min_history_us; /* no verdict for any slot until the history spans this (default 7 days) */
    /* pk_regression_learn only: the pooled relative MAD measured out of sample
     * too (each week of the history against a baseline learned from the other
     * weeks), and the larger of the two kept: a slot's median from a few weeks
     * sits closer to its own values than to a new week's, so the in-sample MAD
     * is too small where whole hours move together. 0 (the default): in sample. */
    int pool_out_of_sample;
    /* 1: x is scored as its reciprocal's rise would be, negated: (x - m) (m / x)
     * where latency's score is (x - m), both over the same scale, x at least
     * 0.001 m (m > 0; else the difference). A drop by a factor then weighs as
     * much as a rise of latency by that factor (a halving as a doubling: the
     * difference makes it 1 - 1/f against f - 1), and a rise as latency's drop.
     * Set for the rule on a metric, whose regressions are drops
     * (pk_regression_kind). 0 (the default): the difference. */
    int reciprocal;
    /* pool_day_type > 0: a slot learned from its own history takes the median of
     * its hour on its kind of day (weekday or weekend, PK_BASE_HOUR_OF_DAY_TYPE)
     * when its own median is within pool_day_type x 1.4826 x its own MAD of it:
     * a slot's median from a few weeks carries those weeks' hour-level noise,
     * the same hour of five weekdays carries a fifth of it; a slot whose hour
     * differs from its kind of day by more keeps its own. 0 (the default): off. */
    double pool_day_type;
    /* interpolate_us > 0: the windows judged are this wide (the fast half's 5
     * minutes) and a window's expected value is the median of its slot and of
     * the nearer neighbouring slot, interpolated linearly between the two
     * hours' middles at the window's middle: a slot's median is its hour's
     * middle, and a daily curve rising through the hour puts the hour's first
     * windows below it and its last above. 0 (the default): the slot's median. */
    int64_t interpolate_us;
    /* Not a setting: when set, pk_baseline_learn looks each group's median and
     * MAD up here by the group's values before computing them (pk_stats_memo_new).
     * Learnings of histories that overlap (a back-test's hour after hour) share
     * every group but the few the hour changed. The answer is the same. */
    struct pk_stats_memo *memo;
};

/* A memo of medians and MADs keyed by a 128-bit hash of the values they are of
 * (in order) and their count; a fixed table, the newest entry winning a slot.
 * Used by one thread at a time. NULL when out of memory. */
struct pk_stats_memo *pk_stats_memo_new(void);
void pk_stats_memo_free(struct pk_stats_memo *m);
/* Look-ups and computations so far (tests, benches). */
void pk_stats_memo_counts(const struct pk_stats_memo *m, uint64_t *hits, uint64_t *misses);

/* Where a slot's median and MAD come from: its own history, else (too little) the
 * same hour on the same kind of day (weekday or weekend), else the same hour on any
 * day. A slot is LEARNING (no verdict) until the history spans min_history_us and
 * the slot has a value of its own: a weekday peak judged against all hours is what
 * raised false alarms on a check's second and third day. PK_BASE_ALL is no longer
 * used (kept so the numbers stay). */
enum pk_baseline_source { PK_BASE_HOUR_OF_WEEK = 0, PK_BASE_HOUR_OF_DAY_TYPE = 1, PK_BASE_HOUR_OF_DAY = 2,
                          PK_BASE_ALL = 3, PK_BASE_NONE = 4, PK_BASE_LEARNING = 5 };

struct pk_baseline_slot {
    double median, mad; /* of the history it is learned from */
    uint32_t n;         /* values behind it */
    int source;         /* enum pk_baseline_source */
};

struct pk_baseline {
    struct pk_baseline_opts opts;
    struct pk_baseline_slot slot[PK_BASELINE_SLOTS];
    size_t n;              /* history values used */
    double pooled_rel_mad; /* median over history of |y - m| / |m|, m its slot's median
                            * (values with m == 0 left out); 0 when none */
};

void pk_baseline_opts_default(struct pk_baseline_opts *o);
/* Hour-of-week slot of a time: 0 = Monday 00:00–01:00 (in tz_offset_s). */
int pk_baseline_slot_of(int64_t t_us, int64_t tz_offset_s);
/* Learns from history (t_us[i], y[i]); NAN values are skipped. 0, or -1 with err
 * (no usable value, out of memory). */
int pk_baseline_learn(struct pk_baseline *b, const struct pk_baseline_opts *o, const int64_t *t_us,
                      const double *y, size_t n, char *err, size_t errlen);
/* Robust z of x at time t: (x - median) / (1.4826 * max(MAD, floor)) of t's slot,
 * floor = max(mad_floor_abs, mad_floor_rel * |median|, and when pool_mad is set
 * pooled_rel_mad * |median|); NAN when x is NAN or the baseline is empty; when MAD
 * and floor are both 0: 0 if x == median, else +-INF. */
double pk_baseline_score(const struct pk_baseline *b, int64_t t_us, double x);
/* The expected value (the median pk_baseline_score judges x against) at t_us:
 * its slot's median, interpolated when opts.interpolate_us > 0; NAN when the
 * slot has no verdict. */
double pk_baseline_expected(const struct pk_baseline *b, int64_t t_us);

/* The k-consecutive regression detector, fed one window at a time. */
enum pk_direction { PK_DIR_UP = 1, PK_DIR_DOWN = 2, PK_DIR_BOTH = 3 };
enum pk_detector_event { PK_DET_NONE = 0, PK_DET_RAISED = 1, PK_DET_CLEARED = 2 };

struct pk_detector_opts {
    double threshold; /* a window is deviant when its score is beyond this (default 3) */
    int k_raise;      /* consecutive deviant windows that raise (default 3) */
    int k_clear;      /* consecutive normal windows that clear (default = k_raise) */
    int direction;    /* enum pk_direction: latency regresses up (default) */
    /* window > 0: besides each score against threshold (k_raise in a row), the
     * mean of the last `window` scores (missing windows skipped), each clipped to
     * [-clip, clip] (clip > 0), against window_threshold, which raises at once: a
     * two-window test of the recent stretch against the baseline, where a short
     * burst moves the mean by at most its length x clip / window, and a step
     * too small for threshold is found once `window` windows add up. 0 (the
     * default): each window on its own. */
    int window;
    double clip, window_threshold;
    /* cusum_h > 0: besides, Page's CUSUM of the scores (each clipped to
     * [-cusum_clip, cusum_clip] when cusum_clip > 0), S = max(0, S + z - cusum_k)
     * upward and its mirror downward, per direction; S beyond cusum_h raises at
     * once, S is held at most at 2 x cusum_h (so it falls back soon after a long
     * regression ends) and restarts from 0 when the detector clears. The
     * sequential test for a mean shift of about 2 x cusum_k. 0 (the default): off. */
    double cusum_k, cusum_h, cusum_clip;
    /* reject > 0: a score beyond +-reject is left out of the windowed mean and
     * the CUSUM (they look for shifts much smaller than a burst; the score
     * itself is still judged against threshold, k_raise in a row). 0: off. */
    double reject;
    /* window_calibrated: pk_regression_learn measures how far the windowed mean
     * strays without a regression (each history week judged against a baseline
     * of the other weeks: 1.4826 x the median |mean|, at least 1 / sqrt(window))
     * and the windowed test judges mean / that spread (window_scale), so
     * window_threshold is in the check's own units: a check whose 5-minute
     * windows are noisy but whose hours are steady gets a lower bar than one
     * whose whole hours wander. No history to measure it from: the windowed test
     * is off. window_scale is set by the rule (pk_regression_learn). */
    int window_calibrated;
    double window_scale;
    /* whiten in [0, 1): each score enters the windowed mean as
     * (z - whiten x z_prev) / (1 - whiten), z_prev the previous score pushed:
     * the part of the noise carried over from the previous window is taken out
     * and a step's first window weighs 1 / (1 - whiten). 0 (the default): off. */
    double whiten;
};

#define PK_DETECTOR_WINDOW_MAX 48

struct pk_detector {
    struct pk_detector_opts opts;
    double ring[PK_DETECTOR_WINDOW_MAX]; /* the last scores, clipped (window > 0) */
    double ring_sum[PK_DETECTOR_WINDOW_MAX + 1]; /* [k]: 0 + ring[0] + ... + ring[k - 1], added in that order */
    int ring_n, ring_i;
    int raised;
    int deviant_run, normal_run;
    int64_t run_start_us; /* first window of the current deviant run */
    int64_t raised_at_us; /* window that raised; -1 when not raised */
    int64_t since_us;     /* first deviant window of the raised regression */
    double cusum_up, cusum_down; /* the CUSUM statistics (cusum_h > 0) */
    double prev_score;           /* the previous score pushed (whiten > 0); NAN: none */
};

void pk_detector_opts_default(struct pk_detector_opts *o);
void pk_detector_init(struct pk_detector *d, const struct pk_detector_opts *o);
/* One window's score; NAN (no data) changes nothing. Returns the event. */
int pk_detector_feed(struct pk_detector *d, int64_t t_us, double score);
/* Adds score to the detector's window and returns the windowed mean (NAN when
 * score is NAN or opts.window is 0); pk_detector_feed calls it. */
double pk_detector_push(struct pk_detector *d, double score);
/* The same, for a window already judged deviant or not (static thresholds). */
int pk_detector_feed_flag(struct pk_detector *d, int64_t t_us, int deviant);

/* The regression rule in one function, so that picketctl report, the alert
 * thread and back-testing decide alike: learn a baseline from the windows
 * [0, n_hist) of (t_us, y) — leaving out windows marked in `excluded` (may be
 * NULL; incidents, maintenance: the caller's knowledge) and windows the rule
 * itself would have raised over that history (a regression is not the new
 * normal) — then feed windows [n_hist, n) to the k-consecutive detector.
 * on_event (may be NULL) sees every raise and clear of the judged windows, in
 * order, with the window's time, score, value and expected value. */
/* The fast half of the baseline_regression rule (docs/ANALYTICS.md): the same
 * judgement on 5-minute medians of the results, against their own hour-of-week
 * baseline, raised by either of two tests: PK_REGRESSION_FAST_K windows in a row
 * beyond PK_REGRESSION_FAST_Z (large steps, and bursts of under K windows are
 * not), or the mean of the last PK_REGRESSION_FAST_WINDOW windows beyond
 * PK_REGRESSION_FAST_WINDOW_Z times that mean's own out-of-sample spread, scores
 * beyond +-PK_REGRESSION_FAST_REJECT (burst-sized) left out of it (small steps
 * within the hour). A slot's median is its hour's on its kind of day (weekday or
 * weekend) unless the slot's own differs by more than
 * PK_REGRESSION_FAST_POOL_DAY_TYPE times its spread. The hourly p95 rule keeps finding what moves only the tail.
 * Chosen on bench/detection_rounds.c's training seed (docs/PERFORMANCE.md). */
#define PK_REGRESSION_FAST_WIDTH_US (INT64_C(5) * 60 * 1000000)
#define PK_REGRESSION_FAST_Z 4.0
#define PK_REGRESSION_FAST_K 8
#define PK_REGRESSION_FAST_WINDOW 6
#define PK_REGRESSION_FAST_CLIP 0.0
#define PK_REGRESSION_FAST_WINDOW_Z 4.6
#define PK_REGRESSION_FAST_REJECT 6.0
#define PK_REGRESSION_FAST_CALIBRATED 1
/* the fast half's whitening (pk_detector_opts.whiten) */
#define PK_REGRESSION_FAST_WHITEN 0.0
/* the fast half's CUSUM (pk_detector_opts.cusum_*): measured, not kept (off) */
#define PK_REGRESSION_FAST_CUSUM_K 1.5
#define PK_REGRESSION_FAST_CUSUM_H 0.0
#define PK_REGRESSION_FAST_CUSUM_CLIP 4.0
/* the fast half's scale is the larger of the in-sample and out-of-sample pooled
 * MAD (pk_baseline_opts.pool_out_of_sample) */
#define PK_REGRESSION_FAST_OUT_OF_SAMPLE 1
/* the fast half's slot takes its hour's median on its kind of day when within
 * this many times its own spread of it (pk_baseline_opts.pool_day_type) */
#define PK_REGRESSION_FAST_POOL_DAY_TYPE 3.0

enum pk_regression_state { PK_REG_NO_HISTORY = 0, PK_REG_LEARNING = 1, PK_REG_NORMAL = 2, PK_REG_RAISED = 3 };

struct pk_regression_opts {
    struct pk_baseline_opts base;
    struct pk_detector_opts det;
};

struct pk_regression {
    int state;              /* enum pk_regression_state after the last window */
    size_t history_points;  /* history values learned from */
    size_t excluded_points; /* history values left out (excluded or inside a raised run) */
    size_t windows, judged; /* judged windows, and of them those with a verdict */
    double last_score, last_value, expected; /* of the newest judged window with a verdict; NAN: none */
    int64_t since_us;       /* first deviant window of the raised regression; -1 when not raised */
};

/* A raise or clear of the judged windows: t_us the window's start; since_us the
 * first deviant window of the raised run (-1 on a clear). */
typedef void (*pk_regression_event_fn)(void *user, int event, int64_t t_us, int64_t since_us, double score,
                                       double value, double expected);
void pk_regression_opts_default(struct pk_regression_opts *o);
/* What the rule judges: latency (metric_dir 0: upward, the difference score) or
 * a metric a check extracts, deviant in metric_dir (PK_DIR_DOWN, the default of
 * a metric rule: a drop in answer quality is a regression like a rise in
 * latency; PK_DIR_UP; PK_DIR_BOTH), scored as its reciprocal (reciprocal above)
 * so that a drop is judged as latency's rise of the same factor. */
#define PK_REGRESSION_METRIC_DIR PK_DIR_DOWN
void pk_regression_kind(struct pk_regression_opts *o, int metric_dir);
/* The fast half's options (PK_REGRESSION_FAST_*) for latency or a metric
 * (pk_regression_kind): what the alert thread, the back-test and the bench run. */
void pk_regression_fast_opts(int metric_dir, struct pk_regression_opts *o);
/* 0 (out filled; state NO_HISTORY when the history has no value), or -1 with err
 * (out of memory, bad options). */
int pk_regression_judge(const struct pk_regression_opts *o, const int64_t *t_us, const double *y,
                        const unsigned char *excluded, size_t n_hist, size_t n, struct pk_regression *out,
                        pk_regression_event_fn on_event, void *user, char *err, size_t errlen);
/* pk_regression_judge in two steps, for callers that judge many times against one
 * history (the alert thread's fast half): the learned model (the baseline of the
 * history without excluded windows and raised runs), then the judged windows. */
struct pk_regression_model {
    struct pk_baseline b;
    int has_history;        /* 0: no history value, no verdict (NO_HISTORY) */
    size_t excluded_points;
    double window_scale;    /* det.window_calibrated: the windowed mean's out-of-sample spread; 0: none */
};
int pk_regression_learn(const struct pk_regression_opts *o, const int64_t *t_us, const double *y,
                        const unsigned char *excluded, size_t n_hist, struct pk_regression_model *m, char *err,
                        size_t errlen);
void pk_regression_judge_model(const struct pk_regression_opts *o, const struct pk_regression_model *m,
                               const int64_t *t_us, const double *y, size_t n, struct pk_regression *out,
                               pk_regression_event_fn on_event, void *user);
/* A window whose failed share (failed / all results) is above this is left out of
 * learning: it is inside an incident, as far as a window's counts can tell. */
#define PK_BASELINE_EXCLUDE_FAILED_RATIO 0.05
int pk_baseline_window_excluded(uint64_t ok, uint64_t degraded, uint64_t failed);

/* Static latency budgets (the seed's P50/P95/P99 table); 0 = no budget. */
struct pk_budget {
    double p50_us, p95_us, p99_us;
};

enum { PK_BUDGET_P50 = 1, PK_BUDGET_P95 = 2, PK_BUDGET_P99 = 4 };

/* Bit mask of budgets breached (quantile strictly above the budget) by the window's
 * histogram; the three quantiles go to q_us (may be NULL; -1 when empty). An empty
 * histogram (no data) breaches nothing. */
unsigned pk_budget_breaches(const struct pk_budget *b, const struct pk_hist *h, double q_us[3]);

/* ----------------------------------------------------------------- helpers */

/* Median of v[0..n) (reorders v); NAN when n == 0. */
double pk_an_median(double *v, size_t n);
/* Median absolute deviation from m (reorders v). */
double pk_an_mad(double *v, size_t n, double m);

#endif
