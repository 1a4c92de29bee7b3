/* runner.c: the probe's scheduler and executor. One thread drives one libcurl
 * multi handle. Each check fires on a fixed grid, start + offset + k*interval
 * with offset = fnv1a(name) % interval, so checks spread out and never drift;
 * a check never overlaps itself, and a round that is late or would overlap is
 * skipped and logged. Owns the multi handle and every check's type state. Owns
 * the event loop, so it is the one file besides checks/http.c that includes
 * curl; it never blocks anywhere but curl_multi_poll. */
#include "runner.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "checks/registry.h"

/* Longest poll, so *stop is noticed within 100 ms. */
#define POLL_CAP_MS 100

struct slot {
    struct runner *runner;
    const struct pk_check *check; /* borrowed from the set */
    const struct check_type *type;
    void *state;    /* owned; freed by type->destroy */
    int64_t due_us; /* monotonic time of the next planned round */
    int running;
    int once_pending;
    int attempt;       /* retries used by the execution in progress */
    int retry_pending; /* failed; start again on the next pass (still counted running) */
};

struct runner {
    runner_result_fn on_result;
    void *user;
    CURLM *multi;
    struct check_env env;
    struct slot *slots;
    size_t n_slots;
    size_t in_flight;
    runner_lateness_fn on_lateness;
    void *lateness_user;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void init_curl(void) { curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT); }

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void wake_poll(const struct check_env *env) { curl_multi_wakeup(env->curl_multi); }

static void slot_done(void *slot, const struct pk_result *result)
{
    struct slot *s = slot;
    int failed = result->outcome == PK_OUTCOME_FAILED || result->outcome == PK_OUTCOME_UNKNOWN;
    if (failed && s->attempt < s->check->retries) {
        /* Not reported: the round is only over when a try passes or retries run out.
         * Started again from drive(), never from inside the type's own callback. */
        s->attempt++;
        s->retry_pending = 1;
        char qname[PK_NAME_MAX * 2 + 8], qmsg[PK_MESSAGE_MAX * 2 + 8];
        PK_INFO("runner", "retrying", "check=%s attempt=%d retries=%d reason=%s",
                pk_log_q(qname, sizeof qname, s->check->name), s->attempt, s->check->retries,
                pk_log_q(qmsg, sizeof qmsg, result->message));
        return;
    }
    s->running = 0;
    s->runner->in_flight--;
    if (s->runner->on_result) {
        if (s->attempt > 0) {
            struct pk_result copy = *result;
            if (copy.n_metrics < PK_MAX_METRICS) {
                pk_strlcpy(copy.metrics[copy.n_metrics].name, "retries", PK_METRIC_NAME_MAX);
                copy.metrics[copy.n_metrics].value = s->attempt;
                copy.n_metrics++;
            }
            s->runner->on_result(&copy, s->runner->user);
        } else {
            s->runner->on_result(result, s->runner->user);
        }
    }
    s->attempt = 0;
}

/* Starts every retry that became due; returns how many. */
static int start_retries(struct runner *r)
{
    int started = 0;
    for (size_t i = 0; i < r->n_slots; i++) {
        struct slot *s = &r->slots[i];
        if (s->retry_pending) {
            s->retry_pending = 0;
            s->type->start(s->state, s);
            started++;
        }
    }
    return started;
}

static void slot_start(struct runner *r, struct slot *s)
{
    s->running = 1;
    r->in_flight++;
    s->type->start(s->state, s); /* may complete (and call slot_done) right away */
}

/* Lets curl move every transfer forward and hands finished ones to their owners. */
static int drive(struct runner *r)
{
    int still_running, left;
    CURLMcode mc = curl_multi_perform(r->multi, &still_running);
    if (mc != CURLM_OK) {
        PK_ERROR("runner", "curl_multi_perform failed", "error=\"%s\"", curl_multi_strerror(mc));
        return -1;
    }
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(r->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *owner = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &owner);
        if (owner)
            ((struct check_curl_io *)(void *)owner)
                ->on_done((struct check_curl_io *)(void *)owner, (int)msg->data.result);
    }
    /* Bounded: each pass uses up one retry of a check, and retries are at most 10. */
    while (start_retries(r) > 0) {
    }
    return 0;
}

static int poll_for(struct runner *r, int64_t wait_us)
{
    int wait_ms = wait_us <= 0 ? 0 : wait_us >= POLL_CAP_MS * 1000 ? POLL_CAP_MS : (int)((wait_us + 999) / 1000);
    CURLMcode mc = curl_multi_poll(r->multi, NULL, 0, wait_ms, NULL);
    if (mc != CURLM_OK) {
        PK_ERROR("runner", "curl_multi_poll failed", "error=\"%s\"", curl_multi_strerror(mc));
        return -1;
    }
    /* Types that work off the runner thread hand their finished executions back
     * here (they wake the poll with curl_multi_wakeup). */
    check_types_poll_completions();
    return 0;
}

/* Runs the round planned at s->due_us (unless the last one is still going) and
 * plans the next grid point that is still in the future. */
static void fire(struct runner *r, struct slot *s, int64_t now)
{
    int64_t interval_us = s->check->interval_ms * 1000;
    char qname[PK_NAME_MAX * 2 + 8];
    if (s->running)
        PK_WARN("runner", "round skipped", "check=%s reason=still_running",
                pk_log_q(qname, sizeof qname, s->check->name));
    else {
        if (r->on_lateness)
            r->on_lateness(pk_mono_us() - s->due_us, r->lateness_user);
        slot_start(r, s);
    }
    s->due_us += interval_us;
    if (s->due_us <= now) {
        int64_t behind = (now - s->due_us) / interval_us + 1;
        s->due_us += behind * interval_us;
        PK_WARN("runner", "rounds skipped", "check=%s reason=late skipped=%lld",
                pk_log_q(qname, sizeof qname, s->check->name), (long long)behind);
    }
}

void runner_set_lateness_hook(struct runner *r, runner_lateness_fn fn, void *user)
{
    r->on_lateness = fn;
    r->lateness_user = user;
}

struct runner *runner_new(const struct pk_checkset *set, runner_result_fn on_result, void *user, char *err,
                          size_t errlen)
{
    struct runner *r = NULL;
    pthread_once(&curl_once, init_curl);
    if (curl_init_code != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_code));
        return NULL;
    }
    if (!set) {
        snprintf(err, errlen, "no check set");
        return NULL;
    }
    r = calloc(1, sizeof *r);
    if (!r || !(r->slots = calloc(set->n_checks ? set->n_checks : 1, sizeof *r->slots)) ||
        !(r->multi = curl_multi_init())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    r->on_result = on_result;
    r->user = user;
    r->env.curl_multi = r->multi;
    r->env.done = slot_done;
    r->env.wake = wake_poll;
    for (size_t i = 0; i < set->n_checks; i++) {
        const struct pk_check *c = &set->checks[i];
        struct slot *s = &r->slots[i];
        s->runner = r;
        s->check = c;
        s->type = check_type_find(c->type);
        if (!s->type) {
            snprintf(err, errlen, "%s:%d: check '%s' has type '%s', which this probe cannot run", c->file, c->line,
                     c->name, c->type);
            goto fail;
        }
        if (c->interval_ms <= 0) {
            snprintf(err, errlen, "%s:%d: check '%s' has no interval", c->file, c->line, c->name);
            goto fail;
        }
        if (s->type->create(&r->env, c, &s->state, err, errlen) < 0)
            goto fail;
        r->n_slots++;
    }
    return r;
fail:
    runner_free(r);
    return NULL;
}

int runner_run(struct runner *r, volatile sig_atomic_t *stop)
{
    int64_t start = pk_mono_us();
    for (size_t i = 0; i < r->n_slots; i++) {
        struct slot *s = &r->slots[i];
        s->due_us = start + (int64_t)(fnv1a(s->check->name) % (uint64_t)s->check->interval_ms) * 1000;
    }
    while (!*stop) {
        /* Completions first, so a check that ends right at its next round is not skipped. */
        if (drive(r) < 0)
            return -1;
        int64_t now = pk_mono_us();
        int64_t next_due = now + POLL_CAP_MS * 1000;
        for (size_t i = 0; i < r->n_slots; i++) {
            struct slot *s = &r->slots[i];
            if (s->due_us <= now)
                fire(r, s, now);
            if (s->due_us < next_due)
                next_due = s->due_us;
        }
        if (drive(r) < 0 || poll_for(r, next_due - pk_mono_us()) < 0)
            return -1;
    }
    if (r->in_flight)
        PK_INFO("runner", "stopping", "in_flight=%zu", r->in_flight);
    return 0;
}

int runner_run_once(struct runner *r)
{
    size_t pending = r->n_slots;
    for (size_t i = 0; i < r->n_slots; i++)
        r->slots[i].once_pending = 1;
    for (;;) {
        /* A check still running from runner_run() starts once it is free. */
        for (size_t i = 0; i < r->n_slots; i++) {
            struct slot *s = &r->slots[i];
            if (s->once_pending && !s->running) {
                s->once_pending = 0;
                pending--;
                slot_start(r, s);
            }
        }
        if (drive(r) < 0)
            return -1;
        if (!pending && !r->in_flight)
            return 0;
        if (poll_for(r, POLL_CAP_MS * 1000) < 0)
            return -1;
    }
}

void runner_free(struct runner *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_slots; i++)
        r->slots[i].type->destroy(r->slots[i].state);
    if (r->multi)
        curl_multi_cleanup(r->multi);
    free(r->slots);
    free(r);
}
