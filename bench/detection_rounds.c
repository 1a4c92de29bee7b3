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
 * metric (the rule on a metric: hourly medians, both halves deviant both ways).
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

struct options {
    uint64_t seed;
    int checks, history_weeks, fast_k, fast_window, verbose, check_goal, metric, fast_oos;
    double fast_z, fast_clip, fast_wz, size_lo, size_hi;
};

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
};

static void series_free(struct series *sr)
{
    free(sr->th);
    free(sr->tf);
    free(sr->yh);
    free(sr->yf);
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
 * half judges the hourly median and both halves are deviant both ways, as the
 * rule on a metric is (docs/ANALYTICS.md). */
static int metric_mode;

static int generate(struct series *sr, uint64_t seed, int check, int history_weeks, double size_lo, double size_hi)
{
    uint64_t s = seed * 1000003ull + (uint64_t)check * 7919ull + 17;
    for (int i = 0; i < 4; i++)
        splitmix(&s);
    memset(sr, 0, sizeof *sr);
    struct params p = {0};
    draw(sr, &p, &s, check, size_lo, size_hi);
    int minutes = (history_weeks + 1) * WEEK_MIN, eval_start = history_weeks * WEEK_MIN;
    sr->hours = minutes / 60;
    sr->fast = minutes / FAST_MIN;
    sr->th = malloc((size_t)sr->hours * sizeof *sr->th);
    sr->yh = malloc((size_t)sr->hours * sizeof *sr->yh);
    sr->tf = malloc((size_t)sr->fast * sizeof *sr->tf);
    sr->yf = malloc((size_t)sr->fast * sizeof *sr->yf);
    if (!sr->th || !sr->yh || !sr->tf || !sr->yf)
        return -1;
    double hour_v[60 * REGIONS], fast_v[FAST_MIN * REGIONS], u_hour = 0, burst = 0;
    int burst_left = 0;
    for (int m = 0; m < minutes; m++) {
        if (m % 60 == 0)
            u_hour = p.sigma * gaussian(&s);
        int rel = m - eval_start, slot_min = m % WEEK_MIN;
        int in_anomaly = sr->type != A_NONE && rel >= sr->onset && rel < sr->onset + sr->duration;
        double hod = (slot_min % 1440) / 60.0, peak_now = p.peak;
        if (in_anomaly && sr->type == A_SHIFT)
            peak_now = metric_mode ? p.peak - p.shift_hours : p.peak + p.shift_hours;
        double v = p.level + p.amplitude * bump(hod, peak_now) - (slot_min >= 5 * 1440 ? p.weekend : 0.0) + u_hour;
        /* bursts: 5-30 minutes, about one a week, on every region; noise, not anomalies */
        if (burst_left == 0 && uniform(&s) < 1.0 / WEEK_MIN) {
            burst_left = int_in(&s, 5, 30);
            burst = uniform_in(&s, 0.3, 1.0);
        }
        if (burst_left > 0) {
            v += burst;
            burst_left--;
        }
        double sign = metric_mode ? -1.0 : 1.0;
        if (in_anomaly && sr->type == A_STEP)
            v += sign * p.size;
        if (in_anomaly && sr->type == A_RAMP)
            v += sign * p.size * fmin(1.0, (double)(rel - sr->onset + 1) / p.ramp_min);
        for (int r = 0; r < REGIONS; r++) {
            double x = v + p.sigma_round * gaussian(&s);
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
}

static int evaluate(const struct series *sr, const struct options *o, struct tally *ta)
{
    char err[256];
    struct events *ev = calloc(1, sizeof *ev);
    if (!ev)
        return -1;
    struct pk_regression reg;
    struct pk_regression_opts ro;
    pk_regression_opts_default(&ro);
    ro.det.direction = metric_mode ? PK_DIR_BOTH : PK_DIR_UP;
    int hh = o->history_weeks * 168, fh = o->history_weeks * WEEK_MIN / FAST_MIN;
    ev->width = 60 * MIN_US;
    ev->rule = R_HOURLY;
    if (pk_regression_judge(&ro, sr->th, sr->yh, NULL, (size_t)hh, (size_t)sr->hours, &reg, on_event, ev, err,
                            sizeof err) < 0)
        goto fail;
    ro.det.threshold = o->fast_z;
    ro.det.k_raise = ro.det.k_clear = o->fast_k;
    ro.det.window = o->fast_window;
    ro.det.clip = o->fast_clip;
    ro.det.window_threshold = o->fast_wz;
    ro.base.pool_out_of_sample = o->fast_oos;
    ev->width = FAST_MIN * MIN_US;
    ev->rule = R_FAST;
    if (pk_regression_judge(&ro, sr->tf, sr->yf, NULL, (size_t)fh, (size_t)sr->fast, &reg, on_event, ev, err,
                            sizeof err) < 0)
        goto fail;
    qsort(ev->v, (size_t)ev->n, sizeof ev->v[0], cmp_event);
    int64_t week0 = T0 + (int64_t)o->history_weeks * WEEK_MIN * MIN_US;
    int detected[R_RULES] = {0}, up[2] = {0};
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

/* Prints one line per rule; returns whether the union meets the goal. */
static int report(struct tally *ta)
{
    int met = 0;
    printf("%-22s %7s %7s %7s %7s %9s  %-26s %s\n", "rule", "recall", "step", "ramp", "shift", "FA/week",
           "median delay min s/r/sh", "steps <= 60 min");
    for (int r = 0; r < R_RULES; r++) {
        int an = 0, det = 0;
        for (int a = 1; a < A_TYPES; a++) {
            an += ta->anomalies[a];
            det += ta->detected[r][a];
        }
        double fa = (double)ta->false_alarms[r] / ta->weeks, rec = an ? (double)det / an : NAN;
        double d[A_TYPES];
        for (int a = 1; a < A_TYPES; a++)
            d[a] = median_of(ta->delays[r][a], ta->n_delays[r][a]);
        double step_hour = ta->anomalies[A_STEP] ? (double)ta->within_hour[r][A_STEP] / ta->anomalies[A_STEP] : NAN;
        char delays[64];
        snprintf(delays, sizeof delays, "%.0f / %.0f / %.0f", d[A_STEP], d[A_RAMP], d[A_SHIFT]);
        const char *name = r == R_HOURLY && metric_mode ? "hourly median z>3 k=3" : rule_names[r];
        printf("%-22s %6.1f%% %6.1f%% %6.1f%% %6.1f%% %9.3f  %-26s %5.1f%%\n", name, 100 * rec,
               100.0 * ta->detected[r][A_STEP] / ta->anomalies[A_STEP],
               100.0 * ta->detected[r][A_RAMP] / ta->anomalies[A_RAMP],
               100.0 * ta->detected[r][A_SHIFT] / ta->anomalies[A_SHIFT], fa, delays, 100 * step_hour);
        if (r == R_UNION)
            met = rec >= 0.95 && fa <= 0.1 && d[A_STEP] <= 60.0;
    }
    return met;
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
            "  --fast-clip C      clip each score to [-C, C] before the mean (default %g)\n"
            "  --fast-oos 0|1     the fast half's scale also measured out of sample, each\n"
            "                     history week against the other weeks (default %d)\n"
            "  --sizes LO,HI      anomaly sizes in the check's hourly noise sigmas (default 5,10)\n"
            "  --metric           anomalies are drops of a quality metric; the hourly half\n"
            "                     judges hourly medians, both halves deviant both ways\n"
            "  --check-goal       exit 1 unless the union finds >= 95%% of the anomalies with at\n"
            "                     most 0.1 false alarms per check-week and a median step delay\n"
            "                     of at most 60 minutes\n"
            "  --verbose          one line per check-week\n"
            "  -h, --help         this text\n",
            PK_REGRESSION_FAST_Z, PK_REGRESSION_FAST_K, PK_REGRESSION_FAST_WINDOW, PK_REGRESSION_FAST_WINDOW_Z, PK_REGRESSION_FAST_CLIP,
            PK_REGRESSION_FAST_OUT_OF_SAMPLE);
}

static int parse(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},       {"checks", required_argument, NULL, 'c'},
        {"history-weeks", required_argument, NULL, 'w'}, {"fast-z", required_argument, NULL, 'z'},
        {"fast-k", required_argument, NULL, 'k'},     {"sizes", required_argument, NULL, 'r'},
        {"fast-window", required_argument, NULL, 'W'}, {"fast-clip", required_argument, NULL, 'C'},
        {"fast-window-z", required_argument, NULL, 'Z'},
        {"check-goal", no_argument, NULL, 'g'},       {"metric", no_argument, NULL, 'm'},
        {"fast-oos", required_argument, NULL, 'O'},       {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': o->seed = strtoull(optarg, &end, 10); if (*end) goto bad; break;
        case 'c': o->checks = (int)strtol(optarg, &end, 10); if (*end || o->checks < 4) goto bad; break;
        case 'w': o->history_weeks = (int)strtol(optarg, &end, 10); if (*end || o->history_weeks < 1) goto bad; break;
        case 'z': o->fast_z = strtod(optarg, &end); if (*end || !(o->fast_z > 0)) goto bad; break;
        case 'k': o->fast_k = (int)strtol(optarg, &end, 10); if (*end || o->fast_k < 1) goto bad; break;
        case 'W': o->fast_window = (int)strtol(optarg, &end, 10); if (*end || o->fast_window < 0 || o->fast_window > PK_DETECTOR_WINDOW_MAX) goto bad; break;
        case 'Z': o->fast_wz = strtod(optarg, &end); if (*end || o->fast_wz < 0) goto bad; break;
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
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {.seed = 2, .checks = 400, .history_weeks = 4, .fast_z = PK_REGRESSION_FAST_Z,
                        .fast_k = PK_REGRESSION_FAST_K, .fast_window = PK_REGRESSION_FAST_WINDOW,
                        .fast_clip = PK_REGRESSION_FAST_CLIP, .fast_wz = PK_REGRESSION_FAST_WINDOW_Z,
                        .fast_oos = PK_REGRESSION_FAST_OUT_OF_SAMPLE, .size_lo = 5.0, .size_hi = 10.0};
    if (parse(argc, argv, &o) < 0)
        return 2;
    struct tally ta = {0};
    int rc = 1, ok = 1;
    for (int r = 0; r < R_RULES; r++)
        for (int a = 0; a < A_TYPES; a++)
            ok &= (ta.delays[r][a] = malloc((size_t)o.checks * sizeof(double))) != NULL;
    if (o.metric)
        printf("--metric: drops of a quality metric; hourly half on hourly medians; both halves deviant both ways\n");
    printf("seed=%llu check_weeks=%d rounds: 60 s x %d regions, anomalies sized %g-%g hourly noise sigmas, "
           "history_weeks=%d, fast rule: 5-minute medians, z > %g for %d windows in a row, mean of %d windows clipped at %g > %g%s\n\n",
           (unsigned long long)o.seed, o.checks, REGIONS, o.size_lo, o.size_hi, o.history_weeks, o.fast_z, o.fast_k,
           o.fast_window, o.fast_clip, o.fast_wz, o.fast_oos ? ", scale out of sample" : "");
    for (int c = 0; ok && c < o.checks; c++) {
        struct series sr;
        ok = generate(&sr, o.seed, c, o.history_weeks, o.size_lo, o.size_hi) == 0 && evaluate(&sr, &o, &ta) == 0;
        if (ok && o.verbose)
            printf("check=%d type=%d onset_min=%d duration_min=%d size_sigmas=%.2f\n", c, sr.type, sr.onset,
                   sr.duration, sr.size_sigmas);
        series_free(&sr);
    }
    if (!ok) {
        fprintf(stderr, "picket-bench-detection-rounds: out of memory or a rule failed\n");
        goto out;
    }
    int met = report(&ta);
    rc = 0;
    if (o.check_goal) {
        printf("\ngoal (union: recall >= 95%%, <= 0.1 false alarms per check-week, median step delay <= 60 min): "
               "%s\n", met ? "met" : "NOT met");
        rc = met ? 0 : 1;
    }
out:
    for (int r = 0; r < R_RULES; r++)
        for (int a = 0; a < A_TYPES; a++)
            free(ta.delays[r][a]);
    return rc;
}
