/* test_runner.c: the scheduler against a real HTTP server on 127.0.0.1 (a
 * thread in this test). Checks run about once per interval on a fixed grid,
 * never overlap themselves (seen from both the results and the server),
 * skip and log late rounds without drifting, and run_once runs each check
 * exactly once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "log.h"
#include "result.h"
#include "runner.h"
#include "loopback.h"

/* ------------------------------------------------------------ test server */

/* Paths /a, /b, /c answer after 50 ms; /hang and /hang-swap never answer (the
 * swap test has its own, so a /hang request left over from an earlier test
 * cannot look like its check in flight). */
#define N_PATHS 5
static const char *const paths[N_PATHS] = {"/a", "/b", "/c", "/hang", "/hang-swap"};

static struct {
    struct lb_server *server;
    int port;
    atomic_int in_path[N_PATHS];
    atomic_int max_in_path[N_PATHS];
} srv;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void handle_connection(int fd, void *user)
{
    (void)user;
    char req[2048], path[64] = "";
    lb_read_request(fd, req, sizeof req);
    sscanf(req, "%*s %63s", path);
    int i = 0;
    while (i < N_PATHS && strcmp(path, paths[i]) != 0)
        i++;
    if (i < N_PATHS) {
        int now = atomic_fetch_add(&srv.in_path[i], 1) + 1;
        int seen = atomic_load(&srv.max_in_path[i]);
        while (now > seen && !atomic_compare_exchange_weak(&srv.max_in_path[i], &seen, now))
            ;
    }
    if (i < N_PATHS && strncmp(path, "/hang", 5) == 0) {
        lb_drain(fd, 3000);
    } else {
        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        sleep_ms(50);
        lb_send_all(fd, answer, sizeof answer - 1);
    }
    if (i < N_PATHS)
        atomic_fetch_sub(&srv.in_path[i], 1);
}

static int server_start(void **state)
{
    (void)state;
    return lb_start_at(&srv.server, &srv.port, LB_THREAD_PER_CONNECTION, handle_connection, NULL);
}

static int server_stop(void **state)
{
    (void)state;
    lb_stop(srv.server);
    return 0;
}

static void reset_path_stats(void)
{
    for (int i = 0; i < N_PATHS; i++)
        atomic_store(&srv.max_in_path[i], 0);
}

/* --------------------------------------------------------------- helpers */

#define MAX_RUNS 64

struct record {
    char name[PK_NAME_MAX];
    int64_t start_us, end_us, seen_mono_us, scheduled_us;
    int error_class;
    int retries; /* the "retries" metric, -1 when absent */
};

struct collected {
    struct record runs[MAX_RUNS];
    int n;
    int sleep_first_ms; /* block the runner thread inside the first callback */
};

static void collect(const struct pk_result *r, void *user)
{
    struct collected *c = user;
    if (c->n < MAX_RUNS) {
        struct record *rec = &c->runs[c->n++];
        pk_strlcpy(rec->name, r->check_name, sizeof rec->name);
        rec->start_us = r->started_at_us;
        rec->scheduled_us = r->scheduled_at_us;
        rec->end_us = r->started_at_us + r->total_us;
        rec->seen_mono_us = pk_mono_us();
        rec->error_class = r->error_class;
        rec->retries = -1;
        for (int i = 0; i < r->n_metrics; i++)
            if (strcmp(r->metrics[i].name, "retries") == 0)
                rec->retries = (int)r->metrics[i].value;
    }
    if (c->n == 1 && c->sleep_first_ms)
        sleep_ms(c->sleep_first_ms);
}

static int count_of(const struct collected *c, const char *name)
{
    int n = 0;
    for (int i = 0; i < c->n; i++)
        n += strcmp(c->runs[i].name, name) == 0;
    return n;
}

/* Results of one check arrive in order and each starts after the previous ended. */
static void assert_no_overlap(const struct collected *c, const char *name)
{
    const struct record *prev = NULL;
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->runs[i].name, name) != 0)
            continue;
        if (prev && c->runs[i].start_us < prev->end_us)
            fail_msg("%s: run at %lld started before the previous one ended at %lld", name,
                     (long long)c->runs[i].start_us, (long long)prev->end_us);
        prev = &c->runs[i];
    }
}

static volatile sig_atomic_t stop_flag;

static void *stop_after(void *arg)
{
    sleep_ms((int)(intptr_t)arg);
    stop_flag = 1;
    return NULL;
}

__attribute__((format(printf, 2, 3))) static void load(struct pk_checkset *set, const char *yaml_fmt, ...)
{
    char yaml[2048], err[512];
    va_list ap;
    va_start(ap, yaml_fmt);
    vsnprintf(yaml, sizeof yaml, yaml_fmt, ap);
    va_end(ap);
    if (pk_checkset_load_string(yaml, strlen(yaml), "test", set, err, sizeof err) < 0)
        fail_msg("%s", err);
}

/* Runs the set on schedule for run_ms; returns the runner's exit code. */
static int run_for(const struct pk_checkset *set, struct collected *c, int run_ms)
{
    char err[512];
    struct runner *r = runner_new(set, collect, c, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    pthread_t stopper;
    stop_flag = 0;
    int64_t t0 = pk_mono_us();
    assert_int_equal(pthread_create(&stopper, NULL, stop_after, (void *)(intptr_t)run_ms), 0);
    int rc = runner_run(r, &stop_flag);
    int64_t took_ms = (pk_mono_us() - t0) / 1000;
    pthread_join(stopper, NULL);
    assert_in_range(took_ms, run_ms, run_ms + 250); /* stop noticed within ~100 ms */
    runner_free(r);
    return rc;
}

/* ------------------------------------------------------------------ tests */

static void test_schedule_two_checks(void **state)
{
    (void)state;
    struct pk_checkset set = {0};
    struct collected c = {0};
    load(&set,
         "checks:\n"
         "  - {name: alpha, type: http, url: 'http://127.0.0.1:%d/a', interval: 200ms, timeout: 200ms}\n"
         "  - {name: beta, type: http, url: 'http://127.0.0.1:%d/b', interval: 200ms, timeout: 200ms}\n",
         srv.port, srv.port);
    reset_path_stats();
    assert_int_equal(run_for(&set, &c, 1100), 0);
    /* First run at offset in [0, 200) ms, then every 200 ms: 5 or 6 runs in 1.1 s. */
    assert_in_range(count_of(&c, "alpha"), 4, 6);
    assert_in_range(count_of(&c, "beta"), 4, 6);
    assert_no_overlap(&c, "alpha");
    assert_no_overlap(&c, "beta");
    assert_int_equal(atomic_load(&srv.max_in_path[0]), 1);
    assert_int_equal(atomic_load(&srv.max_in_path[1]), 1);
    /* A fixed grid: consecutive starts 200 ms apart, with no drift accumulating. */
    int64_t first = -1, prev = -1;
    int n = 0;
    for (int i = 0; i < c.n; i++) {
        if (strcmp(c.runs[i].name, "alpha") != 0)
            continue;
        if (prev >= 0)
            assert_in_range(c.runs[i].start_us - prev, 150000, 250000);
        if (first < 0)
            first = c.runs[i].start_us;
        prev = c.runs[i].start_us;
        n++;
    }
    assert_in_range(prev - first, (int64_t)(n - 1) * 200000 - 40000, (int64_t)(n - 1) * 200000 + 40000);
    /* Each result names its round: the wall-clock grid point k * 200 ms + spread,
     * the same spread for every run of a check (so every probe's run of round k
     * has the same scheduled time), consecutive rounds exactly 200 ms apart, and
     * the run started at (not before, and soon after) its grid point. */
    for (int name = 0; name < 2; name++) {
        const char *want = name ? "beta" : "alpha";
        int64_t prev_sched = 0, spread = -1;
        for (int i = 0; i < c.n; i++) {
            if (strcmp(c.runs[i].name, want) != 0)
                continue;
            int64_t sched = c.runs[i].scheduled_us;
            assert_true(sched > 0);
            if (spread < 0)
                spread = sched % 200000;
            assert_int_equal(sched % 200000, spread);
            if (prev_sched)
                assert_int_equal(sched - prev_sched, 200000);
            int64_t late = c.runs[i].start_us - sched;
            if (late < -2000 || late > 60000)
                fail_msg("%s started %lld us after its grid point", want, (long long)late);
            prev_sched = sched;
        }
    }
    pk_checkset_free(&set);
}

static void test_never_overlaps_itself(void **state)
{
    (void)state;
    struct pk_checkset set = {0};
    struct collected c = {0};
    /* Each run takes its whole timeout, which equals the interval. */
    load(&set,
         "checks:\n"
         "  - {name: stuck, type: http, url: 'http://127.0.0.1:%d/hang', interval: 200ms, timeout: 200ms}\n",
         srv.port);
    reset_path_stats();
    assert_int_equal(run_for(&set, &c, 1100), 0);
    assert_in_range(count_of(&c, "stuck"), 2, 6);
    for (int i = 0; i < c.n; i++)
        assert_int_equal(c.runs[i].error_class, PK_ERR_TIMEOUT);
    /* Only the client side can tell here: the server notices a timed-out
     * connection close a moment after the next one may have arrived. */
    assert_no_overlap(&c, "stuck");
    pk_checkset_free(&set);
}

static void test_late_rounds_are_skipped_and_logged(void **state)
{
    (void)state;
    struct pk_checkset set = {0};
    struct collected c = {.sleep_first_ms = 450};
    FILE *log = tmpfile();
    assert_non_null(log);
    pk_log_set_stream(log);
    load(&set,
         "checks:\n"
         "  - {name: late, type: http, url: 'http://127.0.0.1:%d/c', interval: 200ms, timeout: 200ms}\n",
         srv.port);
    assert_int_equal(run_for(&set, &c, 1100), 0);
    pk_log_set_stream(NULL);
    /* The first callback blocks the runner past two grid points: the older one
     * runs late, as soon as the runner is free, the newer one is skipped, and
     * everything after is back on the original grid. */
    assert_in_range(count_of(&c, "late"), 3, 5);
    assert_in_range(c.runs[1].start_us - c.runs[0].start_us, 440000, 600000);
    for (int i = 2; i < c.n; i++) {
        int64_t gap = c.runs[i].start_us - c.runs[0].start_us;
        int64_t off_grid = gap % 200000;
        if (off_grid > 100000)
            off_grid -= 200000;
        assert_in_range(off_grid + 40000, 0, 80000);
        assert_true(gap >= 560000); /* the grid point at +400 ms was skipped */
    }
    assert_no_overlap(&c, "late");
    char line[1024];
    int logged = 0;
    rewind(log);
    while (fgets(line, sizeof line, log))
        logged |= strstr(line, "msg=\"rounds skipped\" check=late reason=late skipped=1") != NULL;
    fclose(log);
    assert_true(logged);
    pk_checkset_free(&set);
}

static void test_run_once(void **state)
{
    (void)state;
    struct pk_checkset set = {0};
    struct collected c = {0};
    char err[512];
    load(&set,
         "checks:\n"
         "  - {name: one, type: http, url: 'http://127.0.0.1:%d/a', interval: 1h}\n"
         "  - {name: two, type: http, url: 'http://127.0.0.1:%d/b', interval: 1h}\n"
         "  - {name: three, type: http, url: 'http://127.0.0.1:%d/hang', interval: 1h, timeout: 300ms}\n",
         srv.port, srv.port, srv.port);
    struct runner *r = runner_new(&set, collect, &c, err, sizeof err);
    assert_non_null(r);
    int64_t t0 = pk_mono_us();
    assert_int_equal(runner_run_once(r), 0);
    int64_t took_us = pk_mono_us() - t0;
    assert_int_equal(c.n, 3);
    assert_int_equal(count_of(&c, "one"), 1);
    assert_int_equal(count_of(&c, "two"), 1);
    assert_int_equal(count_of(&c, "three"), 1);
    /* Concurrent, not one after another: bounded by the slowest (the 300 ms timeout). */
    assert_in_range(took_us, 290000, 900000);
    /* A second call runs everything once more. */
    assert_int_equal(runner_run_once(r), 0);
    assert_int_equal(c.n, 6);
    runner_free(r);
    pk_checkset_free(&set);
}

/* A failing check is tried again at once, up to `retries` times, and reported
 * once, with how many retries it took; a passing check is not retried. */
static void test_retries(void **state)
{
    (void)state;
    struct pk_checkset set = {0};
    struct collected c = {0};
    char err[512];
    load(&set,
         "checks:\n"
         "  - {name: flaky, type: http, url: 'http://127.0.0.1:%d/hang', interval: 1h, timeout: 200ms, retries: 2}\n"
         "  - {name: fine, type: http, url: 'http://127.0.0.1:%d/a', interval: 1h, retries: 3}\n",
         srv.port, srv.port);
    struct runner *r = runner_new(&set, collect, &c, err, sizeof err);
    assert_non_null(r);
    int64_t t0 = pk_mono_us();
    assert_int_equal(runner_run_once(r), 0);
    int64_t took_us = pk_mono_us() - t0;
    assert_int_equal(c.n, 2);
    for (int i = 0; i < c.n; i++) {
        if (strcmp(c.runs[i].name, "flaky") == 0) {
            assert_int_equal(c.runs[i].error_class, PK_ERR_TIMEOUT);
            assert_int_equal(c.runs[i].retries, 2);
        } else {
            assert_int_equal(c.runs[i].error_class, PK_ERR_NONE);
            assert_int_equal(c.runs[i].retries, -1);
        }
    }
    /* Three tries of 200 ms each, one after another. */
    assert_in_range(took_us, 580000, 1500000);
    runner_free(r);
    pk_checkset_free(&set);
}

static void test_unknown_type_refused(void **state)
{
    (void)state;
    struct pk_check check = {.name = "x", .type = "smtp", .file = "f.yaml", .line = 3, .interval_ms = 1000};
    struct pk_checkset set = {&check, 1};
    char err[512] = "";
    assert_null(runner_new(&set, collect, NULL, err, sizeof err));
    assert_string_equal(err, "f.yaml:3: check 'x' has type 'smtp', which this probe cannot run");
}

/* ---------------------------------------------------------- swaps */

struct swapper {
    struct runner *runner;
    struct pk_checkset next;  /* handed over at the swap */
    int64_t swapped_at_us;    /* wall clock, like pk_result.started_at_us */
    int wait_for_hang;        /* swap only once /hang has a run in flight */
    int stop_after_ms;        /* after the swap */
};

static void *swap_later(void *arg)
{
    struct swapper *sw = arg;
    for (int i = 0; i < 400 && sw->wait_for_hang && atomic_load(&srv.in_path[4]) == 0; i++)
        sleep_ms(10);
    if (sw->wait_for_hang && atomic_load(&srv.in_path[4]) == 0)
        fail_msg("the slow check never started");
    /* and "keep" (path /a) once before the swap: on the wall-clock grid its phase
     * may come after slow's start, and the test needs a run on each side. slow
     * stays in flight for 1.5 s; keep comes within 200 ms. */
    for (int i = 0; i < 100 && sw->wait_for_hang && atomic_load(&srv.max_in_path[0]) == 0; i++)
        sleep_ms(10);
    sleep_ms(50);
    sw->swapped_at_us = pk_now_us();
    runner_swap(sw->runner, &sw->next);
    sleep_ms(sw->stop_after_ms);
    stop_flag = 1;
    return NULL;
}

static void run_with_swap(const struct pk_checkset *set, struct collected *c, struct swapper *sw)
{
    char err[512];
    sw->runner = runner_new(set, collect, c, err, sizeof err);
    if (!sw->runner)
        fail_msg("%s", err);
    pthread_t t;
    stop_flag = 0;
    assert_int_equal(pthread_create(&t, NULL, swap_later, sw), 0);
    assert_int_equal(runner_run(sw->runner, &stop_flag), 0);
    pthread_join(t, NULL);
    runner_free(sw->runner);
}

/* The swap: an unchanged check keeps its grid, a removed check's run in flight
 * still finishes and reports (and it never starts again), a changed check runs
 * its new definition, a new one starts. */
static void test_swap_keeps_unchanged_and_finishes_in_flight(void **state)
{
    (void)state;
    struct pk_checkset set = {0};
    struct collected c = {0};
    struct swapper sw = {.wait_for_hang = 1, .stop_after_ms = 1700};
    load(&set,
         "checks:\n"
         "  - {name: keep, type: http, url: 'http://127.0.0.1:%d/a', interval: 200ms, timeout: 200ms}\n"
         "  - {name: slow, type: http, url: 'http://127.0.0.1:%d/hang-swap', interval: 3s, timeout: 1500ms}\n"
         "  - {name: moved, type: http, url: 'http://127.0.0.1:%d/b', interval: 200ms, timeout: 200ms}\n",
         srv.port, srv.port, srv.port);
    load(&sw.next,
         "checks:\n"
         "  - {name: moved, type: http, url: 'http://127.0.0.1:%d/c', interval: 200ms, timeout: 200ms}\n"
         "  - {name: keep, timeout: 200ms, type: http, interval: 200ms, url: 'http://127.0.0.1:%d/a'}\n"
         "  - {name: fresh, type: http, url: 'http://127.0.0.1:%d/c', interval: 200ms, timeout: 200ms}\n",
         srv.port, srv.port, srv.port);
    reset_path_stats();
    run_with_swap(&set, &c, &sw);
    int64_t t = sw.swapped_at_us;

    /* slow (timeout 1.5 s; the run stops 1.7 s after the swap): exactly the one
     * run that was in flight, reported after the swap. */
    assert_int_equal(count_of(&c, "slow"), 1);
    for (int i = 0; i < c.n; i++)
        if (strcmp(c.runs[i].name, "slow") == 0) {
            assert_true(c.runs[i].start_us < t);
            assert_true(c.runs[i].end_us > t);
            assert_int_equal(c.runs[i].error_class, PK_ERR_TIMEOUT);
        }
    /* keep: one grid across the swap, 200 ms apart, never restarted. */
    int64_t prev = -1;
    int before = 0, after = 0;
    for (int i = 0; i < c.n; i++) {
        if (strcmp(c.runs[i].name, "keep") != 0)
            continue;
        if (prev >= 0)
            assert_in_range(c.runs[i].start_us - prev, 150000, 250000);
        prev = c.runs[i].start_us;
        if (c.runs[i].start_us < t)
            before++;
        else
            after++;
    }
    assert_true(before >= 1);
    assert_in_range(after, 7, 10);
    assert_no_overlap(&c, "keep");
    /* fresh: started after the swap, on its grid. */
    assert_in_range(count_of(&c, "fresh"), 7, 10);
    for (int i = 0; i < c.n; i++)
        if (strcmp(c.runs[i].name, "fresh") == 0)
            assert_true(c.runs[i].start_us >= t);
    /* moved: its new definition (/c) ran; the old one (/b) did not start after the swap. */
    assert_no_overlap(&c, "moved");
    assert_true(atomic_load(&srv.max_in_path[2]) >= 1);
    assert_int_equal(atomic_load(&srv.max_in_path[4]), 1);
    pk_checkset_free(&set);
}

/* A set the probe cannot run is refused as a whole; the old schedule goes on. */
static void test_swap_refused_keeps_old_schedule(void **state)
{
    (void)state;
    struct pk_checkset set = {0};
    struct collected c = {0};
    struct swapper sw = {.wait_for_hang = 0, .stop_after_ms = 800};
    load(&set, "checks:\n  - {name: keep, type: http, url: 'http://127.0.0.1:%d/a', interval: 200ms}\n", srv.port);
    load(&sw.next,
         "checks:\n"
         "  - {name: other, type: http, url: 'http://127.0.0.1:%d/a', interval: 200ms}\n"
         "  - {name: odd, type: http, url: 'http://127.0.0.1:%d/a', interval: 200ms}\n",
         srv.port, srv.port);
    free(sw.next.checks[1].type);
    sw.next.checks[1].type = strdup("smtp");
    char err[256];
    assert_int_equal(runner_can_run(&sw.next, err, sizeof err), -1);
    assert_string_equal(err, "test:3: check 'odd' has type 'smtp', which this probe cannot run");
    run_with_swap(&set, &c, &sw);
    assert_int_equal(count_of(&c, "other"), 0);
    assert_int_equal(count_of(&c, "odd"), 0);
    int after = 0;
    for (int i = 0; i < c.n; i++)
        after += strcmp(c.runs[i].name, "keep") == 0 && c.runs[i].start_us >= sw.swapped_at_us;
    assert_in_range(after, 3, 5);
    pk_checkset_free(&set);
}

int main(void)
{
    pk_log_set_level(PK_LOG_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_two_checks),
        cmocka_unit_test(test_never_overlaps_itself),
        cmocka_unit_test(test_late_rounds_are_skipped_and_logged),
        cmocka_unit_test(test_run_once),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_unknown_type_refused),
        cmocka_unit_test(test_swap_keeps_unchanged_and_finishes_in_flight),
        cmocka_unit_test(test_swap_refused_keeps_old_schedule),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
