/* detection_rounds.c: the detection benchmark at round resolution (docs/PERFORMANCE.md,
 * "Detection", "Steps within the hour"). Where bench/detection.c generates hourly
 * p95 values, this generates every round of a check (60 s, 3 regions) for four
 * weeks of history and an evaluated week: log-normal round latencies around the
 * same daily and weekly shape, an hour-level noise of the check's sigma, short
 * bursts (5-30 minutes, about one a week; noise), and a step, ramp or seasonal
 * shift starting at a random minute. It then runs, on the same rounds, the hourly
 * rule (pk_regression_judge on hourly p95s, z > 3, k = 3 hours), the fast rule
 * (pk_regression_judge on 5-minute medians against their own hour-of-week
 * baseline, k consecutive windows) and their union, which is what the
 * baseline_regression alert rule raises, and reports recall, false alarms per
 * check-week and detection delay (minutes from the anomaly's first round to the
 * end of the window that raised). --metric: the same for drops of a quality
 * metric (the rule on a metric: hourly medians, both halves deviant downward by
 * default, the metric scored as its reciprocal).
 * Owns every array it allocates; reads no file, no network, no clock. */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "bench_random.h"

#define MIN_US (60LL * 1000000)
#define WEEK_MIN 10080
#define REGIONS 3
#define FAST_MIN 5 /* width of a fast window */
#define T0 (1704067200LL * 1000000) /* Monday 2024-01-01 00:00 UTC */

enum anomaly { A_NONE = 0, A_STEP = 1, A_RAMP = 2, A_SHIFT = 3, A_TYPES = 4 };
enum rule { R_HOURLY = 0, R_FAST = 1, R_UNION = 2, R_RULES = 3 };
static const char *const rule_names[R_RULES] = {"hourly p95 z>3 k=3", "fast 5-min median", "union (the rule)"};

/* The options a sweep may list several values of (comma-separated): each
 * combination is judged on the same generated rounds. */
enum sweep_param { P_FAST_Z = 0, P_FAST_WZ = 1, P_CUSUM_K = 2, P_CUSUM_H = 3, P_CUSUM_CLIP = 4, P_REJECT = 5, P_WHITEN = 6, P_PARAMS = 7 };
static const char *const param_names[P_PARAMS] = {"fast-z", "window-z", "cusum-k", "cusum-h", "cusum-clip", "reject", "whiten"};
#define SWEEP_VALUES 8
#define SWEEP_MAX 64

struct options {
    uint64_t seed;
    int checks, history_weeks, fast_k, fast_window, verbose, check_goal, metric, fast_oos, fast_calibrated;
    double fast_clip, size_lo, size_hi;
    double pool_day; /* --fast-pool-day K; -1: the rule's */
    int interp;      /* --fast-interpolate 0|1; -1: the rule's */
    double param[P_PARAMS][SWEEP_VALUES]; /* the values of each swept option */
    int n_param[P_PARAMS];
    int combos;                           /* product of n_param */
};

/* The values of combination c: the last option varies fastest. */
static void combo_values(const struct options *o, int c, double v[P_PARAMS])
{
    for (int p = P_PARAMS - 1; p >= 0; p--) {
        v[p] = o->param[p][c % o->n_param[p]];
        c /= o->n_param[p];
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One check: its hourly p95s and 5-minute medians (ms), and its anomaly. */
struct series {
    int hours, fast;          /* windows of each kind */
    int64_t *th, *tf;         /* window starts; owned */
    double *yh, *yf;          /* values; owned */
    int type;                 /* enum anomaly */
    int onset, duration;      /* minutes from the start of the evaluated week */
    double size_sigmas;
    double sigma, sigma_round; /* hour-level and round noise, log */
    double *oracle;            /* --oracle: per minute of the evaluated week, the true
                                * deviation from the shape (hour-level noise plus the
                                * anomaly, no burst, no round noise) in sigmas; owned */
};

static void series_free(struct series *sr)
{
    free(sr->th);
    free(sr->tf);
    free(sr->yh);
    free(sr->yf);
    free(sr->oracle);
}

/* The per-check parameters, drawn as bench/detection.c draws them. */
struct params {
    double level, amplitude, peak, weekend, sigma, sigma_round, size, shift_hours;
    int ramp_min;
};

static void draw(struct series *sr, struct params *p, uint64_t *s, int check, double size_lo, double size_hi)
{
    memset(p, 0, sizeof *p);
    p->level = uniform_in(s, log(50.0), log(500.0)); /* log ms */
    p->amplitude = uniform_in(s, 0.2, 0.7);
    p->peak = uniform_in(s, 10.0, 16.0);
    p->weekend = uniform_in(s, 0.0, 0.3);
    p->sigma = uniform_in(s, 0.02, 0.08);       /* hour-level noise, log: the hourly p95's sigma */
    p->sigma_round = uniform_in(s, 0.05, 0.15); /* one round around its hour, log */
    sr->type = check % A_TYPES;
    sr->size_sigmas = uniform_in(s, size_lo, size_hi);
    p->size = sr->size_sigmas * p->sigma;
    int onset_h = 0;
    switch (sr->type) {
    case A_STEP:
        sr->duration = int_in(s, 12, 48) * 60;
        break;
    case A_RAMP:
        p->ramp_min = int_in(s, 6, 24) * 60;
        sr->duration = p->ramp_min + int_in(s, 6, 36) * 60;
        break;
    case A_SHIFT:
        if (p->amplitude < 1.2 * p->size)
            p->amplitude = 1.2 * p->size;
        p->shift_hours = 24.0 / M_PI * asin(p->size / p->amplitude);
        sr->duration = int_in(s, 24, 72) * 60;
        break;
    default:
        break;
    }
    onset_h = sr->type == A_NONE ? -1 : int_in(s, 12, 168 - 12 - (sr->type == A_SHIFT ? 24 : 12));
    sr->onset = sr->type == A_NONE ? -1 : onset_h * 60 + int_in(s, 0, 59);
    if (sr->type != A_NONE && sr->onset + sr->duration > WEEK_MIN)
        sr->duration = WEEK_MIN - sr->onset;
}

/* --metric: the anomalies are drops of a quality metric (answer length), a
 * seasonal shift moves the peak earlier, bursts stay upward (noise); the hourly
 * half judges the hourly median and both halves are deviant in the metric
 * rule's direction (down; --direction), scored as the rule scores a metric
 * (docs/ANALYTICS.md). */
static int metric_mode;
static int oracle_mode; /* --oracle */
static int metric_relative; /* --metric-relative: a step drops by the relative change a rise has */
static int fast_direction;  /* --fast-direction: 0 the rule's (up; a metric rule's, down) */
static int reciprocal = -1; /* --reciprocal 0|1: -1 the rule's (on for a metric) */
static int metric_direction = PK_REGRESSION_METRIC_DIR; /* --direction, with --metric */
static int bursts_down;     /* --bursts-down: with --metric, bursts are drops too */
static int mirror_noise;    /* --mirror-noise: every noise draw's sign flipped (the same |draws|) */

static int generate(struct series *sr, uint64_t seed, int check, int history_weeks, double size_lo, double size_hi)
{
    uint64_t s = seed * 1000003ull + (uint64_t)check * 7919ull + 17;
    for (int i = 0; i < 4; i++)
        splitmix(&s);
    memset(sr, 0, sizeof *sr);
    struct params p = {0};
    draw(sr, &p, &s, check, size_lo, size_hi);
    sr->sigma = p.sigma;
    sr->sigma_round = p.sigma_round;
    int minutes = (history_weeks + 1) * WEEK_MIN, eval_start = history_weeks * WEEK_MIN;
    sr->hours = minutes / 60;
    sr->fast = minutes / FAST_MIN;
    sr->th = malloc((size_t)sr->hours * sizeof *sr->th);
    sr->yh = malloc((size_t)sr->hours * sizeof *sr->yh);
    sr->tf = malloc((size_t)sr->fast * sizeof *sr->tf);
    sr->yf = malloc((size_t)sr->fast * sizeof *sr->yf);
    if (!sr->th || !sr->yh || !sr->tf || !sr->yf)
        return -1;
    if (oracle_mode && !(sr->oracle = malloc(WEEK_MIN * sizeof *sr->oracle)))
        return -1;
    double hour_v[60 * REGIONS], fast_v[FAST_MIN * REGIONS], u_hour = 0, burst = 0;
    int burst_left = 0;
    for (int m = 0; m < minutes; m++) {
        double flip = mirror_noise ? -1.0 : 1.0;
        if (m % 60 == 0)
            u_hour = flip * p.sigma * gaussian(&s);
        int rel = m - eval_start, slot_min = m % WEEK_MIN;
        int in_anomaly = sr->type != A_NONE && rel >= sr->onset && rel < sr->onset + sr->duration;
        double hod = (slot_min % 1440) / 60.0, peak_now = p.peak;
        if (in_anomaly && sr->type == A_SHIFT)
            peak_now = metric_mode ? p.peak - p.shift_hours : p.peak + p.shift_hours;
        double shape = p.level + p.amplitude * bump(hod, p.peak) - (slot_min >= 5 * 1440 ? p.weekend : 0.0);
        double v = p.level + p.amplitude * bump(hod, peak_now) - (slot_min >= 5 * 1440 ? p.weekend : 0.0) + u_hour;
        /* bursts: 5-30 minutes, about one a week, on every region; noise, not anomalies */
        if (burst_left == 0 && uniform(&s) < 1.0 / WEEK_MIN) {
            burst_left = int_in(&s, 5, 30);
            burst = uniform_in(&s, 0.3, 1.0);
        }
        double burst_now = burst_left > 0 ? (bursts_down && metric_mode ? -burst : burst) : 0.0;
        if (burst_left > 0) {
            v += bursts_down && metric_mode ? -burst : burst;
            burst_left--;
        }
        double sign = metric_mode ? -1.0 : 1.0;
        if (in_anomaly && sr->type == A_STEP)
            v += metric_relative && metric_mode ? log(fmax(1e-3, 2.0 - exp(p.size))) : sign * p.size;
        if (in_anomaly && sr->type == A_RAMP)
            v += sign * p.size * fmin(1.0, (double)(rel - sr->onset + 1) / p.ramp_min);
        if (sr->oracle && rel >= 0)
            sr->oracle[rel] = sign * (v - burst_now - shape) / p.sigma;
        for (int r = 0; r < REGIONS; r++) {
            double x = v + flip * p.sigma_round * gaussian(&s);
            hour_v[(m % 60) * REGIONS + r] = x;
            fast_v[(m % FAST_MIN) * REGIONS + r] = x;
        }
        if (m % FAST_MIN == FAST_MIN - 1) {
            int w = m / FAST_MIN;
            qsort(fast_v, FAST_MIN * REGIONS, sizeof *fast_v, cmp_double);
            sr->tf[w] = T0 + (int64_t)(m - FAST_MIN + 1) * MIN_US;
            sr->yf[w] = exp(fast_v[FAST_MIN * REGIONS / 2]);
        }
        if (m % 60 == 59) {
            int h = m / 60;
            qsort(hour_v, 60 * REGIONS, sizeof *hour_v, cmp_double);
            sr->th[h] = T0 + (int64_t)(m - 59) * MIN_US;
            /* nearest rank: the p95 of latency, the median of a metric */
            sr->yh[h] = exp(hour_v[(int)ceil((metric_mode ? 0.5 : 0.95) * 60 * REGIONS) - 1]);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ evaluation */

struct event {
    int64_t t;  /* end of the window that raised or cleared */
    int rule;   /* R_HOURLY or R_FAST */
    int raised; /* 1 raise, 0 clear */
};
struct events {
    struct event v[4096];
    int n;
    int64_t width; /* of the rule being judged */
    int rule;
};

static void on_event(void *user, int event, int64_t t_us, int64_t since_us, double score, double value,
                     double expected)
{
    struct events *e = user;
    (void)since_us, (void)score, (void)value, (void)expected;
    if (e->n < (int)(sizeof e->v / sizeof e->v[0]))
        e->v[e->n++] = (struct event){t_us + e->width, e->rule, event == PK_DET_RAISED};
}

static int cmp_event(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

struct tally {
    int anomalies[A_TYPES], detected[R_RULES][A_TYPES], within_hour[R_RULES][A_TYPES];
    long false_alarms[R_RULES];
    int weeks;
    double *delays[R_RULES][A_TYPES]; /* minutes; owned */
    int n_delays[R_RULES][A_TYPES];
};

/* One raise of rule r at t (end of its window): a detection or a false alarm. */
static double last_union_delay; /* of the series last tallied: minutes, or -1 (--verbose) */

static void count_raise(struct tally *ta, const struct series *sr, int r, int64_t t, int64_t width, int64_t week0,
                        int *detected)
{
    int64_t start_min = (t - width - week0) / MIN_US; /* the raising window's first minute */
    int in_anomaly = sr->type != A_NONE && start_min + (width / MIN_US) > sr->onset &&
                     start_min < sr->onset + sr->duration;
    if (!in_anomaly) {
        ta->false_alarms[r]++;
        return;
    }
    if (detected[r])
        return;
    detected[r] = 1;
    double delay = (double)((t - week0) / MIN_US - sr->onset);
    ta->detected[r][sr->type]++;
    ta->within_hour[r][sr->type] += delay <= 60.0;
    ta->delays[r][sr->type][ta->n_delays[r][sr->type]++] = delay;
    if (r == R_UNION)
        last_union_delay = delay;
}

/* The rule's kind: latency (0), or a metric judged in the metric rule's direction
 * (down by default; --fast-direction for the fast half) and, unless --reciprocal 0,
 * scored as its reciprocal (pk_regression_kind). */
static int metric_dir(void)
{
    return metric_mode ? metric_direction : 0;
}

static void rule_kind(struct pk_regression_opts *ro, int fast)
{
    pk_regression_kind(ro, metric_dir());
    if (fast && fast_direction)
        ro->det.direction = fast_direction;
    if (reciprocal >= 0)
        ro->base.reciprocal = reciprocal;
}

/* The fast half's options of combination c: the alert thread's
 * (pk_regression_fast_opts), with the swept and given values. */
static void fast_opts(const struct options *o, int c, struct pk_regression_opts *ro)
{
    double v[P_PARAMS];
    combo_values(o, c, v);
    pk_regression_fast_opts(metric_dir(), ro);
    rule_kind(ro, 1);
    ro->det.threshold = v[P_FAST_Z];
    ro->det.k_raise = ro->det.k_clear = o->fast_k;
    ro->det.window = o->fast_window;
    ro->det.clip = o->fast_clip;
    ro->det.window_threshold = v[P_FAST_WZ];
    ro->det.cusum_k = v[P_CUSUM_K];
    ro->det.cusum_h = v[P_CUSUM_H];
    ro->det.cusum_clip = v[P_CUSUM_CLIP];
    ro->det.reject = v[P_REJECT];
    ro->det.whiten = v[P_WHITEN];
    if (o->pool_day >= 0)
        ro->base.pool_day_type = o->pool_day;
    if (o->interp >= 0)
        ro->base.interpolate_us = o->interp ? PK_REGRESSION_FAST_WIDTH_US : 0;
    ro->base.pool_out_of_sample = o->fast_oos;
    ro->det.window_calibrated = o->fast_calibrated;
}

/* Tallies the merged raises of the hourly half (the first n_hourly events of ev)
 * and the fast half (the rest) of one series. */
static void tally_events(struct events *ev, const struct series *sr, const struct options *o, struct tally *ta)
{
    qsort(ev->v, (size_t)ev->n, sizeof ev->v[0], cmp_event);
    int64_t week0 = T0 + (int64_t)o->history_weeks * WEEK_MIN * MIN_US;
    int detected[R_RULES] = {0}, up[2] = {0};
    last_union_delay = -1;
    for (int i = 0; i < ev->n; i++) {
        const struct event *e = &ev->v[i];
        int64_t width = e->rule == R_HOURLY ? 60 * MIN_US : FAST_MIN * MIN_US;
        int was = up[0] || up[1];
        up[e->rule] = e->raised;
        if (e->raised)
            count_raise(ta, sr, e->rule, e->t, width, week0, detected);
        if (e->raised && !was)
            count_raise(ta, sr, R_UNION, e->t, width, week0, detected);
    }
    ta->weeks++;
    if (sr->type != A_NONE)
        ta->anomalies[sr->type]++;
}

/* Judges one series by the hourly half once and by the fast half of every
 * combination of the swept options (ta[c]). */
static int evaluate(const struct series *sr, const struct options *o, struct tally *ta)
{
    char err[256];
    struct events *ev = calloc(2, sizeof *ev), *hourly = ev ? ev + 1 : NULL;
    if (!ev)
        return -1;
    struct pk_regression reg;
    struct pk_regression_opts ro;
    pk_regression_opts_default(&ro);
    rule_kind(&ro, 0);
    int hh = o->history_weeks * 168, fh = o->history_weeks * WEEK_MIN / FAST_MIN;
    double first_delay = -1;
    hourly->width = 60 * MIN_US;
    hourly->rule = R_HOURLY;
    if (pk_regression_judge(&ro, sr->th, sr->yh, NULL, (size_t)hh, (size_t)sr->hours, &reg, on_event, hourly, err,
                            sizeof err) < 0)
        goto fail;
    for (int c = 0; c < o->combos; c++) {
        *ev = *hourly;
        fast_opts(o, c, &ro);
        ev->width = FAST_MIN * MIN_US;
        ev->rule = R_FAST;
        if (pk_regression_judge(&ro, sr->tf, sr->yf, NULL, (size_t)fh, (size_t)sr->fast, &reg, on_event, ev, err,
                                sizeof err) < 0)
            goto fail;
        tally_events(ev, sr, o, &ta[c]);
        if (c == 0)
            first_delay = last_union_delay;
    }
    last_union_delay = first_delay;
    free(ev);
    return 0;
fail:
    fprintf(stderr, "picket-bench-detection-rounds: %s\n", err);
    free(ev);
    return -1;
}

static double median_of(double *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* One rule's figures over a run. */
struct stats {
    double recall, fa, step_hour, delay[A_TYPES], found[A_TYPES];
};

static void rule_stats(struct tally *ta, int r, struct stats *st)
{
    int an = 0, det = 0;
    for (int a = 1; a < A_TYPES; a++) {
        an += ta->anomalies[a];
        det += ta->detected[r][a];
        st->delay[a] = median_of(ta->delays[r][a], ta->n_delays[r][a]);
        st->found[a] = ta->anomalies[a] ? (double)ta->detected[r][a] / ta->anomalies[a] : NAN;
    }
    st->fa = (double)ta->false_alarms[r] / ta->weeks;
    st->recall = an ? (double)det / an : NAN;
    st->step_hour = ta->anomalies[A_STEP] ? (double)ta->within_hour[r][A_STEP] / ta->anomalies[A_STEP] : NAN;
}

static int goal_met(const struct stats *st)
{
    return st->recall >= 0.95 && st->fa <= 0.1 && st->delay[A_STEP] <= 60.0;
}

/* Prints one line per rule; returns whether the union meets the goal. */
static int report(struct tally *ta)
{
    int met = 0;
    printf("%-22s %7s %7s %7s %7s %9s  %-26s %s\n", "rule", "recall", "step", "ramp", "shift", "FA/week",
           "median delay min s/r/sh", "steps <= 60 min");
    for (int r = 0; r < R_RULES; r++) {
        struct stats st;
        rule_stats(ta, r, &st);
        char delays[64];
        snprintf(delays, sizeof delays, "%.0f / %.0f / %.0f", st.delay[A_STEP], st.delay[A_RAMP], st.delay[A_SHIFT]);
        const char *name = r == R_HOURLY && metric_mode ? "hourly median z>3 k=3" : rule_names[r];
        printf("%-22s %6.1f%% %6.1f%% %6.1f%% %6.1f%% %9.3f  %-26s %5.1f%%\n", name, 100 * st.recall,
               100 * st.found[A_STEP], 100 * st.found[A_RAMP], 100 * st.found[A_SHIFT], st.fa, delays,
               100 * st.step_hour);
        if (r == R_UNION)
            met = goal_met(&st);
    }
    return met;
}

/* A sweep: one line per combination, the union's figures and the fast half's
 * false alarms; returns how many combinations meet the goal. */
static int report_sweep(const struct options *o, struct tally *ta)
{
    int met = 0;
    for (int p = 0; p < P_PARAMS; p++)
        printf("%-10s ", param_names[p]);
    printf("%7s %9s %9s  %-22s %s\n", "recall", "FA/week", "fast FA", "union delay s/r/sh", "steps <= 60 min");
    for (int c = 0; c < o->combos; c++) {
        double v[P_PARAMS];
        combo_values(o, c, v);
        struct stats u, f;
        rule_stats(&ta[c], R_UNION, &u);
        rule_stats(&ta[c], R_FAST, &f);
        for (int p = 0; p < P_PARAMS; p++)
            printf("%-10g ", v[p]);
        char delays[64];
        snprintf(delays, sizeof delays, "%.0f / %.0f / %.0f", u.delay[A_STEP], u.delay[A_RAMP], u.delay[A_SHIFT]);
        printf("%6.1f%% %9.3f %9.3f  %-22s %5.1f%%%s\n", 100 * u.recall, u.fa, f.fa, delays, 100 * u.step_hour,
               goal_met(&u) ? "  goal met" : "");
        met += goal_met(&u);
    }
    return met;
}

/* --oracle: a bound, not a rule. A detector that knows every minute's true
 * deviation from the check's shape in its hour-level sigmas (the generator's
 * hour-level noise plus the anomaly; no burst, no round noise, no baseline error)
 * and raises while the mean of its last W minutes is above T. For each W, the
 * lowest T of the grid with at most 0.1 false alarms per check-week, and the
 * median step delay it then has: what no detector judging a trailing stretch
 * against the baseline can beat on these series. */
static const int oracle_w[] = {10, 20, 30, 45, 60, 90, 120};
#define ORACLE_W ((int)(sizeof oracle_w / sizeof oracle_w[0]))
#define ORACLE_T 61 /* T = 1.0, 1.1, ..., 7.0 */

struct oracle_tally {
    long fa[ORACLE_W][ORACLE_T];
    int found[ORACLE_W][ORACLE_T], within_hour[ORACLE_W][ORACLE_T];
    double *delays[ORACLE_W][ORACLE_T]; /* step delays, minutes; owned */
    int steps, weeks;
};

static void oracle_judge(const struct series *sr, struct oracle_tally *ot, double *prefix)
{
    prefix[0] = 0;
    for (int m = 0; m < WEEK_MIN; m++)
        prefix[m + 1] = prefix[m] + sr->oracle[m];
    for (int w = 0; w < ORACLE_W; w++)
        for (int ti = 0; ti < ORACLE_T; ti++) {
            double t = 1.0 + 0.1 * ti;
            int W = oracle_w[w], raised = 0, found = 0;
            for (int m = W - 1; m < WEEK_MIN; m++) {
                int above = (prefix[m + 1] - prefix[m + 1 - W]) / W > t;
                if (above && !raised) {
                    int overlaps = sr->type != A_NONE && m >= sr->onset && m - W + 1 < sr->onset + sr->duration;
                    if (!overlaps)
                        ot->fa[w][ti]++;
                    else if (!found && sr->type == A_STEP) {
                        double d = m + 1 - sr->onset;
                        ot->delays[w][ti][ot->found[w][ti]++] = d;
                        ot->within_hour[w][ti] += d <= 60;
                    }
                    found |= overlaps;
                }
                raised = above;
            }
        }
    ot->weeks++;
    ot->steps += sr->type == A_STEP;
}

static void oracle_report(struct oracle_tally *ot)
{
    printf("\n--oracle: the true hour-level deviation (no burst, round noise or baseline error), mean of the last W "
           "minutes > T,\nthe lowest T (grid 0.1) with <= 0.1 false alarms per check-week\n");
    printf("%-6s %5s %9s %10s %12s %s\n", "W min", "T", "FA/week", "steps", "median step", "steps <= 60 min");
    for (int w = 0; w < ORACLE_W; w++)
        for (int ti = 0; ti < ORACLE_T; ti++) {
            double fa = (double)ot->fa[w][ti] / ot->weeks;
            if (fa > 0.1)
                continue;
            printf("%-6d %5.1f %9.3f %9.1f%% %12.0f %5.1f%%\n", oracle_w[w], 1.0 + 0.1 * ti, fa,
                   100.0 * ot->found[w][ti] / ot->steps, median_of(ot->delays[w][ti], ot->found[w][ti]),
                   100.0 * ot->within_hour[w][ti] / ot->steps);
            break;
        }
}

static void oracle_free(struct oracle_tally *ot)
{
    for (int w = 0; ot && w < ORACLE_W; w++)
        for (int ti = 0; ti < ORACLE_T; ti++)
            free(ot->delays[w][ti]);
    free(ot);
}

static struct oracle_tally *oracle_new(int checks)
{
    struct oracle_tally *ot = calloc(1, sizeof *ot);
    for (int w = 0; ot && w < ORACLE_W; w++)
        for (int ti = 0; ti < ORACLE_T; ti++)
            if (!(ot->delays[w][ti] = malloc(((size_t)checks / 4 + 1) * sizeof(double)))) {
                oracle_free(ot);
                return NULL;
            }
    return ot;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: picket-bench-detection-rounds [options]\n"
            "Detection benchmark at round resolution: every round (60 s, 3 regions) of\n"
            "400 check-weeks with injected steps, ramps and seasonal shifts starting at a\n"
            "random minute; the hourly p95 rule, the fast 5-minute rule and their union\n"
            "(the baseline_regression rule). Prints recall, false alarms per check-week,\n"
            "median delay (minutes from the anomaly's first round to the end of the window\n"
            "that raised) and the share of steps found within 60 minutes.\n"
            "  --seed N           generator seed (default 2, the reporting seed; 1 is for tuning)\n"
            "  --checks N         check-weeks, a quarter each clean/step/ramp/shift (default 400)\n"
            "  --history-weeks W  weeks of history (default 4)\n"
            "  --fast-z Z         robust z of a deviant 5-minute window (default %g)\n"
            "  --fast-k K         deviant 5-minute windows in a row that raise (default %d)\n"
            "  --fast-window W    judge the mean of the last W 5-minute scores (0: each alone;\n"
            "                     default %d)\n"
            "  --fast-window-z Z  the windowed mean beyond Z raises at once (default %g)\n"
            "  --fast-clip C      clip each score to [-C, C] before the mean (0: none; default %g)\n"
            "  --fast-cusum-k K   the CUSUM's reference value, in scores (default %g)\n"
            "  --fast-cusum-h H   the CUSUM beyond H raises at once (0: off; default %g)\n"
            "  --fast-cusum-clip C  clip each score to [-C, C] before the CUSUM (default %g)\n"
            "  --fast-reject R    scores beyond +-R are left out of the windowed mean and the\n"
            "                     CUSUM (0: none; default %g)\n"
            "  --fast-pool-day K  a slot's median is its hour's on its kind of day when within\n"
            "                     K x its own spread (pk_baseline_opts.pool_day_type; 0: off;\n"
            "                     default the rule's)\n"
            "  --fast-interpolate 0|1  a window's expected value interpolated between the\n"
            "                     medians of the two nearest hours (default the rule's)\n"
            "  --fast-whiten A    each score enters the windowed mean less A x the previous\n"
            "                     score, over 1 - A (0 <= A < 1; 0: off; default %g)\n"
            "  --fast-calibrated 0|1  judge the windowed mean in its own out-of-sample spread\n"
            "                     (--fast-window-z then in those units; default %d)\n"
            "  --fast-oos 0|1     the fast half's scale also measured out of sample, each\n"
            "                     history week against the other weeks (default %d)\n"
            "  --sizes LO,HI      anomaly sizes in the check's hourly noise sigmas (default 5,10)\n"
            "  --metric           anomalies are drops of a quality metric; the hourly half\n"
            "                     judges hourly medians, both halves deviant as a metric\n"
            "                     rule's (down by default)\n"
            "  --check-goal       exit 1 unless the union finds >= 95%% of the anomalies with at\n"
            "                     most 0.1 false alarms per check-week and a median step delay\n"
            "                     of at most 60 minutes (in a sweep: unless one combination does)\n"
            "  --metric-relative  with --metric, a step drops by the relative change a rise of\n"
            "                     its size has (1 - e^-x is smaller than e^x - 1)\n"
            "  --fast-direction up|down|both  the fast half's direction (default: the rule's;\n"
            "                     a metric rule's is down)\n"
            "  --direction up|down|both  with --metric, both halves' direction (default down)\n"
            "  --reciprocal 0|1   with --metric, score the metric as its reciprocal (default 1,\n"
            "                     the rule's; 0: the difference, as before 2026-12-05)\n"            "  --bursts-down      with --metric, bursts are drops (a few minutes of poor\n"
            "                     answers) instead of rises; noise either way\n"
            "  --mirror-noise     every noise draw with its sign flipped: the same seed's\n"
            "                     mirror image (latency then meets the noise a metric meets)\n"
            "  --oracle           also the bound of a detector that knows each minute's true\n"
            "                     hour-level deviation (see docs/PERFORMANCE.md)\n"
            "  --verbose          one line per check-week\n"
            "  -h, --help         this text\n"
            "A sweep: --fast-z, --fast-window-z, --fast-whiten and the --fast-cusum-* options take up to %d\n"
            "comma-separated values each (e.g. --fast-cusum-h 6,8,10); every combination\n"
            "(at most %d) is judged on the same rounds, one line each.\n",
            PK_REGRESSION_FAST_Z, PK_REGRESSION_FAST_K, PK_REGRESSION_FAST_WINDOW, PK_REGRESSION_FAST_WINDOW_Z,
            PK_REGRESSION_FAST_CLIP, PK_REGRESSION_FAST_CUSUM_K, PK_REGRESSION_FAST_CUSUM_H,
            PK_REGRESSION_FAST_CUSUM_CLIP, PK_REGRESSION_FAST_REJECT, PK_REGRESSION_FAST_WHITEN, PK_REGRESSION_FAST_CALIBRATED,
            PK_REGRESSION_FAST_OUT_OF_SAMPLE, SWEEP_VALUES, SWEEP_MAX);
}

/* A comma-separated list of values, each >= 0. -1 when malformed. */
static int parse_list(const char *arg, struct options *o, int p)
{
    const char *c = arg;
    char *end;
    o->n_param[p] = 0;
    for (;;) {
        double v = strtod(c, &end);
        if (end == c || !(v >= 0) || o->n_param[p] == SWEEP_VALUES)
            return -1;
        o->param[p][o->n_param[p]++] = v;
        if (*end == '\0')
            return 0;
        if (*end != ',')
            return -1;
        c = end + 1;
    }
}

static int parse(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},       {"checks", required_argument, NULL, 'c'},
        {"history-weeks", required_argument, NULL, 'w'}, {"fast-z", required_argument, NULL, 'z'},
        {"fast-k", required_argument, NULL, 'k'},     {"sizes", required_argument, NULL, 'r'},
        {"fast-window", required_argument, NULL, 'W'}, {"fast-clip", required_argument, NULL, 'C'},
        {"fast-window-z", required_argument, NULL, 'Z'}, {"fast-cusum-k", required_argument, NULL, 'K'},
        {"fast-cusum-h", required_argument, NULL, 'H'}, {"fast-cusum-clip", required_argument, NULL, 'L'},
        {"fast-reject", required_argument, NULL, 'R'}, {"fast-calibrated", required_argument, NULL, 'A'},
        {"fast-whiten", required_argument, NULL, 'X'}, {"fast-pool-day", required_argument, NULL, 'P'},
        {"fast-interpolate", required_argument, NULL, 'I'},
        {"check-goal", no_argument, NULL, 'g'},       {"metric", no_argument, NULL, 'm'},
        {"fast-oos", required_argument, NULL, 'O'}, {"oracle", no_argument, NULL, 'o'},
        {"metric-relative", no_argument, NULL, 'M'}, {"reciprocal", required_argument, NULL, 'D'},
        {"direction", required_argument, NULL, 'T'}, {"bursts-down", no_argument, NULL, 'B'},
        {"mirror-noise", no_argument, NULL, 'N'}, {"fast-direction", required_argument, NULL, 'd'},       {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': o->seed = strtoull(optarg, &end, 10); if (*end) goto bad; break;
        case 'c': o->checks = (int)strtol(optarg, &end, 10); if (*end || o->checks < 4) goto bad; break;
        case 'w': o->history_weeks = (int)strtol(optarg, &end, 10); if (*end || o->history_weeks < 1) goto bad; break;
        case 'z': if (parse_list(optarg, o, P_FAST_Z) < 0) goto bad; break;
        case 'k': o->fast_k = (int)strtol(optarg, &end, 10); if (*end || o->fast_k < 1) goto bad; break;
        case 'W': o->fast_window = (int)strtol(optarg, &end, 10); if (*end || o->fast_window < 0 || o->fast_window > PK_DETECTOR_WINDOW_MAX) goto bad; break;
        case 'Z': if (parse_list(optarg, o, P_FAST_WZ) < 0) goto bad; break;
        case 'K': if (parse_list(optarg, o, P_CUSUM_K) < 0) goto bad; break;
        case 'H': if (parse_list(optarg, o, P_CUSUM_H) < 0) goto bad; break;
        case 'L': if (parse_list(optarg, o, P_CUSUM_CLIP) < 0) goto bad; break;
        case 'A': o->fast_calibrated = (int)strtol(optarg, &end, 10); if (*end || o->fast_calibrated < 0 || o->fast_calibrated > 1) goto bad; break;
        case 'R': if (parse_list(optarg, o, P_REJECT) < 0) goto bad; break;
        case 'X':
            if (parse_list(optarg, o, P_WHITEN) < 0)
                goto bad;
            for (int i = 0; i < o->n_param[P_WHITEN]; i++)
                if (o->param[P_WHITEN][i] >= 1.0)
                    goto bad;
            break;
        case 'I': o->interp = (int)strtol(optarg, &end, 10); if (*end || o->interp < 0 || o->interp > 1) goto bad; break;
        case 'P': o->pool_day = strtod(optarg, &end); if (*end || !(o->pool_day >= 0)) goto bad; break;
        case 'C': o->fast_clip = strtod(optarg, &end); if (*end || o->fast_clip < 0) goto bad; break;
        case 'r':
            o->size_lo = strtod(optarg, &end);
            if (*end != ',' || !(o->size_lo > 0))
                goto bad;
            o->size_hi = strtod(end + 1, &end);
            if (*end || !(o->size_hi >= o->size_lo))
                goto bad;
            break;
        case 'g': o->check_goal = 1; break;
        case 'O': o->fast_oos = (int)strtol(optarg, &end, 10); if (*end || o->fast_oos < 0 || o->fast_oos > 1) goto bad; break;
        case 'm': metric_mode = o->metric = 1; break;
        case 'v': o->verbose = 1; break;
        case 'o': oracle_mode = 1; break;
        case 'M': metric_relative = 1; break;
        case 'B': bursts_down = 1; break;
        case 'N': mirror_noise = 1; break;
        case 'D': reciprocal = (int)strtol(optarg, &end, 10); if (*end || reciprocal < 0 || reciprocal > 1) goto bad; break;
        case 'd':
        case 'T': {
            int dir = !strcmp(optarg, "up") ? PK_DIR_UP : !strcmp(optarg, "down") ? PK_DIR_DOWN
                      : !strcmp(optarg, "both") ? PK_DIR_BOTH : -1;
            if (dir < 0)
                goto bad;
            *(ch == 'd' ? &fast_direction : &metric_direction) = dir;
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
        continue;
    bad:
        fprintf(stderr, "picket-bench-detection-rounds: bad value '%s' for an option (see --help)\n", optarg);
        return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "picket-bench-detection-rounds: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    o->combos = 1;
    for (int p = 0; p < P_PARAMS; p++)
        o->combos *= o->n_param[p];
    if (o->combos > SWEEP_MAX) {
        fprintf(stderr, "picket-bench-detection-rounds: %d combinations to sweep, at most %d\n", o->combos, SWEEP_MAX);
        return -1;
    }
    return 0;
}

static void tallies_free(struct tally *ta, int n)
{
    for (int c = 0; ta && c < n; c++)
        for (int r = 0; r < R_RULES; r++)
            for (int a = 0; a < A_TYPES; a++)
                free(ta[c].delays[r][a]);
    free(ta);
}

static struct tally *tallies_new(int n, int checks)
{
    struct tally *ta = calloc((size_t)n, sizeof *ta);
    for (int c = 0; ta && c < n; c++)
        for (int r = 0; r < R_RULES; r++)
            for (int a = 0; a < A_TYPES; a++)
                if (!(ta[c].delays[r][a] = malloc((size_t)checks * sizeof(double)))) {
                    tallies_free(ta, n);
                    return NULL;
                }
    return ta;
}

/* --verbose: the steps' union delays by the ratio of the noise of a 5-minute
 * median (0.3236 x the round noise: a median of 15) to the hour-level noise,
 * in quarters: where a rule loses its time. */
struct step_delay {
    double ratio, delay; /* delay -1: not found */
};

static int cmp_ratio(const void *a, const void *b)
{
    const struct step_delay *x = a, *y = b;
    return x->ratio < y->ratio ? -1 : x->ratio > y->ratio;
}

static void report_quarters(struct step_delay *sd, int n)
{
    qsort(sd, (size_t)n, sizeof *sd, cmp_ratio);
    printf("\nsteps by noise ratio (5-minute median noise / hour-level noise), the union (first of a sweep):\n");
    for (int q = 0; q < 4 && n >= 4; q++) {
        int a = q * n / 4, b = (q + 1) * n / 4, within = 0, k = 0;
        double d[1024];
        for (int i = a; i < b && k < 1024; i++) {
            d[k++] = sd[i].delay < 0 ? INFINITY : sd[i].delay;
            within += sd[i].delay >= 0 && sd[i].delay <= 60.0;
        }
        printf("  ratio %.2f-%.2f: %d steps, median delay %.0f min, %d within 60 min\n", sd[a].ratio, sd[b - 1].ratio,
               b - a, median_of(d, k), within);
    }
}

int main(int argc, char **argv)
{
    struct options o = {.seed = 2, .checks = 400, .history_weeks = 4, .fast_k = PK_REGRESSION_FAST_K,
                        .fast_window = PK_REGRESSION_FAST_WINDOW, .pool_day = -1, .interp = -1, .fast_clip = PK_REGRESSION_FAST_CLIP,
                        .fast_oos = PK_REGRESSION_FAST_OUT_OF_SAMPLE, .fast_calibrated = PK_REGRESSION_FAST_CALIBRATED, .size_lo = 5.0, .size_hi = 10.0,
                        .param = {{PK_REGRESSION_FAST_Z}, {PK_REGRESSION_FAST_WINDOW_Z}, {PK_REGRESSION_FAST_CUSUM_K},
                                  {PK_REGRESSION_FAST_CUSUM_H}, {PK_REGRESSION_FAST_CUSUM_CLIP},
                                  {PK_REGRESSION_FAST_REJECT}, {PK_REGRESSION_FAST_WHITEN}},
                        .n_param = {1, 1, 1, 1, 1, 1, 1}};
    if (parse(argc, argv, &o) < 0)
        return 2;
    int rc = 1, ok = 1;
    struct tally *ta = tallies_new(o.combos, o.checks);
    struct oracle_tally *ot = oracle_mode ? oracle_new(o.checks) : NULL;
    double *prefix = oracle_mode ? malloc((WEEK_MIN + 1) * sizeof *prefix) : NULL;
    struct step_delay *sd = o.verbose ? calloc((size_t)o.checks, sizeof *sd) : NULL;
    int n_sd = 0;
    if (!ta || (oracle_mode && (!ot || !prefix)) || (o.verbose && !sd)) {
        fprintf(stderr, "picket-bench-detection-rounds: out of memory\n");
        goto out;
    }
    if (o.metric)
        printf("--metric: drops of a quality metric; hourly half on hourly medians; deviant %s; scored %s\n",
               metric_direction == PK_DIR_UP ? "up" : metric_direction == PK_DIR_BOTH ? "both ways" : "down",
               reciprocal == 0 ? "as the difference" : "as the reciprocal");
    printf("seed=%llu check_weeks=%d rounds: 60 s x %d regions, anomalies sized %g-%g hourly noise sigmas, "
           "history_weeks=%d, fast rule: 5-minute medians, z > %g for %d windows in a row, or the mean of %d windows",
           (unsigned long long)o.seed, o.checks, REGIONS, o.size_lo, o.size_hi, o.history_weeks, o.param[P_FAST_Z][0],
           o.fast_k, o.fast_window);
    if (o.fast_clip > 0)
        printf(" clipped at %g", o.fast_clip);
    if (o.param[P_REJECT][0] > 0)
        printf(" (|z| > %g left out)", o.param[P_REJECT][0]);
    printf(" > %g%s", o.param[P_FAST_WZ][0], o.fast_calibrated ? " x its own spread" : "");
    if (o.param[P_CUSUM_H][0] > 0 || o.n_param[P_CUSUM_H] > 1)
        printf(", CUSUM k = %g, h = %g, clip %g", o.param[P_CUSUM_K][0], o.param[P_CUSUM_H][0],
               o.param[P_CUSUM_CLIP][0]);
    printf("%s%s\n\n", o.fast_oos ? ", scale out of sample" : "", o.combos > 1 ? " (first of the sweep)" : "");
    for (int c = 0; ok && c < o.checks; c++) {
        struct series sr;
        ok = generate(&sr, o.seed, c, o.history_weeks, o.size_lo, o.size_hi) == 0 && evaluate(&sr, &o, ta) == 0;
        if (ok && ot)
            oracle_judge(&sr, ot, prefix);
        if (ok && o.verbose)
            printf("check=%d type=%d onset_min=%d duration_min=%d size_sigmas=%.2f sigma=%.3f sigma_round=%.3f "
                   "union_delay_min=%.0f\n", c, sr.type, sr.onset, sr.duration, sr.size_sigmas, sr.sigma,
                   sr.sigma_round, last_union_delay);
        if (ok && sd && sr.type == A_STEP)
            sd[n_sd++] = (struct step_delay){0.3236 * sr.sigma_round / sr.sigma, last_union_delay};
        series_free(&sr);
    }
    if (!ok) {
        fprintf(stderr, "picket-bench-detection-rounds: out of memory or a rule failed\n");
        goto out;
    }
    int met = o.combos > 1 ? report_sweep(&o, ta) > 0 : report(ta);
    if (ot)
        oracle_report(ot);
    if (sd)
        report_quarters(sd, n_sd);
    rc = 0;
    if (o.check_goal) {
        printf("\ngoal (union: recall >= 95%%, <= 0.1 false alarms per check-week, median step delay <= 60 min): "
               "%s\n", met ? "met" : "NOT met");
        rc = met ? 0 : 1;
    }
out:
    tallies_free(ta, ta ? o.combos : 0);
    oracle_free(ot);
    free(prefix);
    free(sd);
    return rc;
}
