/* probe_lateness.c: scheduling lateness of the probe's runner.
 * Loads one check file, runs it on the real runner (probe/runner.c, libcurl multi,
 * the real check types) for a fixed time, and records every round's lateness
 * (actual start minus planned start) through runner_set_lateness_hook. Results are
 * counted and dropped: no uplink, so only the scheduler and the checks are measured.
 * Prints one key=value line: rounds, results, outcomes, the process's CPU over the
 * counted window, p50/p95/p99/max lateness in µs.
 *
 *     picket-bench-lateness --checks FILE [--seconds 20] [--warmup 2]
 *
 * Rounds in the first --warmup seconds are not counted (start-up, first connects).
 * Owns the lateness array; never touches the network itself. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "buf.h"
#include "checks.h"
#include "result.h"
#include "runner.h"

/* What the hooks gather; touched only on the runner thread. */
struct samples {
    int64_t *lateness_us; /* owned; grown by doubling */
    size_t n, cap;
    int64_t count_from_us; /* monotonic; rounds before this are warm-up */
    size_t results, ok, failed, other;
    int64_t cpu_at_count_us; /* process CPU when counting began; -1 until then */
    int out_of_memory;
};

struct timer_arg {
    volatile sig_atomic_t *stop;
    double seconds;
};

static int64_t process_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void on_lateness(int64_t lateness_us, void *user)
{
    struct samples *s = user;
    if (pk_mono_us() < s->count_from_us)
        return;
    if (s->cpu_at_count_us < 0)
        s->cpu_at_count_us = process_cpu_us();
    int64_t *grown = pk_grow(s->lateness_us, &s->cap, s->n + 1, sizeof *grown, 0);
    if (!grown) {
        s->out_of_memory = 1;
        return;
    }
    s->lateness_us = grown;
    s->lateness_us[s->n++] = lateness_us;
}

static void on_result(const struct pk_result *r, void *user)
{
    struct samples *s = user;
    if (pk_mono_us() < s->count_from_us)
        return;
    s->results++;
    if (r->outcome == PK_OUTCOME_OK)
        s->ok++;
    else if (r->outcome == PK_OUTCOME_FAILED)
        s->failed++;
    else
        s->other++;
}

static void *stop_after(void *p)
{
    struct timer_arg *t = p;
    struct timespec ts = {.tv_sec = (time_t)t->seconds,
                          .tv_nsec = (long)((t->seconds - (double)(time_t)t->seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
    *t->stop = 1;
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t percentile(const int64_t *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
    const char *checks_file = NULL;
    double seconds = 20.0, warmup = 2.0;
    static const struct option options[] = {
        {"checks", required_argument, NULL, 'k'},
        {"seconds", required_argument, NULL, 's'},
        {"warmup", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'k':
            checks_file = optarg;
            break;
        case 's':
            seconds = atof(optarg);
            break;
        case 'w':
            warmup = atof(optarg);
            break;
        case 'h':
            printf("usage: picket-bench-lateness --checks FILE [--seconds 20] [--warmup 2]\n");
            return 0;
        default:
            return 2;
        }
    }
    if (!checks_file || seconds <= 0 || warmup < 0) {
        fprintf(stderr, "picket-bench-lateness: give --checks FILE and a positive --seconds\n");
        return 2;
    }

    int rc = 1;
    char err[1024];
    struct pk_checkset set = {0};
    struct runner *runner = NULL;
    struct samples s = {.cpu_at_count_us = -1};
    if (pk_checkset_load_file(checks_file, &set, err, sizeof err) < 0) {
        fprintf(stderr, "picket-bench-lateness: %s\n", err);
        rc = 3;
        goto out;
    }
    runner = runner_new(&set, on_result, &s, err, sizeof err);
    if (!runner) {
        fprintf(stderr, "picket-bench-lateness: %s\n", err);
        goto out;
    }
    runner_set_lateness_hook(runner, on_lateness, &s);
    s.count_from_us = pk_mono_us() + (int64_t)(warmup * 1e6);

    static volatile sig_atomic_t stop;
    struct timer_arg targ = {.stop = &stop, .seconds = warmup + seconds};
    pthread_t timer;
    if (pthread_create(&timer, NULL, stop_after, &targ) != 0) {
        fprintf(stderr, "picket-bench-lateness: cannot start the timer thread\n");
        goto out;
    }
    int run_rc = runner_run(runner, &stop);
    int64_t cpu_counted_us = s.cpu_at_count_us < 0 ? 0 : process_cpu_us() - s.cpu_at_count_us;
    pthread_join(timer, NULL);
    if (run_rc != 0 || s.out_of_memory) {
        fprintf(stderr, "picket-bench-lateness: runner failed (rc=%d oom=%d)\n", run_rc, s.out_of_memory);
        goto out;
    }

    /* Rounds a check should have had in the counted window, had none been skipped. */
    double planned = 0;
    for (size_t i = 0; i < set.n_checks; i++)
        planned += seconds * 1000.0 / (double)set.checks[i].interval_ms;
    qsort(s.lateness_us, s.n, sizeof *s.lateness_us, cmp_i64);
    printf("checks=%zu seconds=%.1f planned_rounds=%.0f rounds=%zu results=%zu ok=%zu failed=%zu other=%zu "
           "cpu_us=%lld p50_us=%lld p95_us=%lld p99_us=%lld p999_us=%lld max_us=%lld min_us=%lld\n",
           set.n_checks, seconds, planned, s.n, s.results, s.ok, s.failed, s.other, (long long)cpu_counted_us,
           (long long)percentile(s.lateness_us, s.n, 50), (long long)percentile(s.lateness_us, s.n, 95),
           (long long)percentile(s.lateness_us, s.n, 99), (long long)percentile(s.lateness_us, s.n, 99.9),
           (long long)(s.n ? s.lateness_us[s.n - 1] : 0), (long long)(s.n ? s.lateness_us[0] : 0));
    rc = 0;
out:
    if (runner)
        runner_free(runner);
    pk_checkset_free(&set);
    free(s.lateness_us);
    return rc;
}
