/* runner.c: the probe's scheduler and executor. One thread drives one libcurl
 * multi handle. Each check fires on a fixed grid, k*interval + offset in
 * wall-clock time (epoch-aligned, kept on the monotonic clock) with offset =
 * pk_round_spread_us (fnv1a(name) % interval), so checks spread out, never
 * drift, and every probe fires a check's round k at the same instant: the grid
 * point travels with the
 * result as scheduled_at_us (the round of the collector's incident tracking);
 * a check never overlaps itself, and a round that is late or would overlap is
 * skipped and logged. Owns the multi handle and every check's type state. Owns
 * the event loop, so it is the one file besides checks/http.c that includes
 * curl; it never blocks anywhere but curl_multi_poll.
 * Swaps (central assignment): another thread posts a new set into a one-slot
 * mailbox and wakes the poll; between passes the runner keeps the slots whose
 * definition did not change (schedule and run in flight untouched), lets removed
 * or changed ones finish what is in flight (reported as usual) and then frees
 * them, and starts new ones on their grid point. */
#include "runner.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks/registry.h"
#include "log.h"
#include "rounds.h"

/* Longest poll, so *stop is noticed within 100 ms. */
#define POLL_CAP_MS 100

/* A set the runner took over in a swap; freed when no slot points into it. */
struct owned_set {
    struct pk_checkset set;
    size_t refs;
};

struct slot {
    struct runner *runner;
    const struct pk_check *check; /* borrowed from the set */
    struct owned_set *origin;     /* the swapped-in set `check` lives in; NULL: the set given to runner_new */
    int retiring;                 /* removed or replaced: finishes its run in flight, never fires again */
    const struct check_type *type;
    void *state;    /* owned; freed by type->destroy */
    int64_t due_us; /* monotonic time of the next planned round */
    int64_t run_due_us; /* monotonic grid point of the run in flight; 0: not a scheduled round */
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
    struct slot **slots; /* each slot is its own allocation: types keep its address while running */
    size_t n_slots;
    size_t in_flight;
    size_t n_retiring;
    int64_t start_us; /* origin of every check's grid: the monotonic time of the Unix epoch */
    pthread_mutex_t mailbox_mu;
    struct pk_checkset *mailbox; /* posted by runner_swap, taken by the runner thread */
    runner_lateness_fn on_lateness;
    void *lateness_user;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void init_curl(void) { curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT); }

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
        int64_t scheduled = s->run_due_us ? s->run_due_us - s->runner->start_us : 0;
        if (s->attempt > 0 || scheduled != result->scheduled_at_us) {
            struct pk_result copy = *result;
            copy.scheduled_at_us = scheduled;
            if (s->attempt > 0 && copy.n_metrics < PK_MAX_METRICS) {
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
        struct slot *s = r->slots[i];
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

/* A replaced version of this check is still finishing: do not overlap it. */
static int predecessor_running(const struct runner *r, const struct slot *s)
{
    for (size_t i = 0; r->n_retiring && i < r->n_slots; i++) {
        const struct slot *o = r->slots[i];
        if (o != s && o->retiring && (o->running || o->retry_pending) && strcmp(o->check->name, s->check->name) == 0)
            return 1;
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
    if (s->running || predecessor_running(r, s))
        PK_WARN("runner", "round skipped", "check=%s reason=still_running",
                pk_log_q(qname, sizeof qname, s->check->name));
    else {
        if (r->on_lateness)
            r->on_lateness(pk_mono_us() - s->due_us, r->lateness_user);
        s->run_due_us = s->due_us;
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

int runner_can_run(const struct pk_checkset *set, char *err, size_t errlen)
{
    for (size_t i = 0; i < set->n_checks; i++) {
        const struct pk_check *c = &set->checks[i];
        if (!check_type_find(c->type)) {
            snprintf(err, errlen, "%s:%d: check '%s' has type '%s', which this probe cannot run", c->file, c->line,
                     c->name, c->type);
            return -1;
        }
        if (c->interval_ms <= 0) {
            snprintf(err, errlen, "%s:%d: check '%s' has no interval", c->file, c->line, c->name);
            return -1;
        }
    }
    return 0;
}

/* A slot for check c (borrowed from origin's set, or from the runner_new set). */
static struct slot *slot_new(struct runner *r, const struct pk_check *c, struct owned_set *origin, char *err,
                             size_t errlen)
{
    struct pk_checkset one = {.checks = (struct pk_check *)c, .n_checks = 1};
    if (runner_can_run(&one, err, errlen) < 0)
        return NULL;
    struct slot *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->runner = r;
    s->check = c;
    s->type = check_type_find(c->type);
    if (s->type->create(&r->env, c, &s->state, err, errlen) < 0) {
        free(s);
        return NULL;
    }
    s->origin = origin;
    if (origin)
        origin->refs++;
    return s;
}

static void owned_set_unref(struct owned_set *os)
{
    if (os && --os->refs == 0) {
        pk_checkset_free(&os->set);
        free(os);
    }
}

static void slot_free(struct slot *s)
{
    s->type->destroy(s->state);
    owned_set_unref(s->origin);
    free(s);
}

/* The first point of c's grid (epoch + spread + k * interval) not before now. */
static int64_t first_due(const struct runner *r, const struct pk_check *c, int64_t now)
{
    int64_t interval_us = c->interval_ms * 1000;
    int64_t due = r->start_us + pk_round_spread_us(c->name, c->interval_ms);
    if (due < now)
        due += ((now - due + interval_us - 1) / interval_us) * interval_us;
    return due;
}

void runner_swap(struct runner *r, struct pk_checkset *set)
{
    struct pk_checkset *moved = malloc(sizeof *moved);
    if (!moved) {
        PK_ERROR("runner", "check swap dropped", "reason=\"out of memory\" checks=%zu", set->n_checks);
        pk_checkset_free(set);
        return;
    }
    *moved = *set;
    *set = (struct pk_checkset){0};
    pthread_mutex_lock(&r->mailbox_mu);
    struct pk_checkset *older = r->mailbox;
    r->mailbox = moved;
    pthread_mutex_unlock(&r->mailbox_mu);
    if (older) { /* superseded before the runner picked it up */
        pk_checkset_free(older);
        free(older);
    }
    curl_multi_wakeup(r->multi);
}

/* Frees retiring slots whose last run has been reported. */
static void sweep_retired(struct runner *r)
{
    if (!r->n_retiring)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < r->n_slots; i++) {
        struct slot *s = r->slots[i];
        if (s->retiring && !s->running && !s->retry_pending) {
            slot_free(s);
            r->n_retiring--;
        } else {
            r->slots[kept++] = s;
        }
    }
    r->n_slots = kept;
}

/* Runner thread: applies a posted set, all or nothing. */
static void apply_swap(struct runner *r, int64_t now)
{
    pthread_mutex_lock(&r->mailbox_mu);
    struct pk_checkset *posted = r->mailbox;
    r->mailbox = NULL;
    pthread_mutex_unlock(&r->mailbox_mu);
    if (!posted)
        return;
    char err[512];
    struct owned_set *os = calloc(1, sizeof *os);
    size_t n_new = posted->n_checks, made = 0, kept = 0, removed = 0;
    struct slot **fresh = calloc(n_new ? n_new : 1, sizeof *fresh);   /* per new check: its slot */
    int *reuse = calloc(r->n_slots ? r->n_slots : 1, sizeof *reuse); /* per old slot: still wanted */
    struct slot **all = calloc(r->n_slots + n_new + 1, sizeof *all);
    if (!os || !fresh || !reuse || !all) {
        snprintf(err, sizeof err, "out of memory");
        goto refuse;
    }
    os->set = *posted;
    *posted = (struct pk_checkset){0};
    for (size_t i = 0; i < n_new; i++) {
        const struct pk_check *c = &os->set.checks[i];
        for (size_t j = 0; j < r->n_slots && !fresh[i]; j++) {
            struct slot *s = r->slots[j];
            if (!s->retiring && !reuse[j] && strcmp(s->check->name, c->name) == 0 &&
                pk_check_same_definition(s->check, c)) {
                reuse[j] = 1;
                fresh[i] = s;
                kept++;
            }
        }
        if (!fresh[i]) {
            if (!(fresh[i] = slot_new(r, c, os, err, sizeof err)))
                goto refuse;
            fresh[i]->due_us = first_due(r, c, now);
            made++;
        }
    }
    size_t n_all = 0;
    for (size_t i = 0; i < n_new; i++)
        all[n_all++] = fresh[i];
    for (size_t j = 0; j < r->n_slots; j++) {
        struct slot *s = r->slots[j];
        if (reuse[j])
            continue;
        if (!s->retiring) {
            s->retiring = 1;
            r->n_retiring++;
            removed++;
        }
        all[n_all++] = s; /* freed by sweep_retired once idle */
    }
    free(r->slots);
    r->slots = all;
    r->n_slots = n_all;
    all = NULL;
    PK_INFO("runner", "checks swapped", "checks=%zu kept=%zu started=%zu retired=%zu", n_new, kept, made, removed);
    sweep_retired(r);
    if (os->refs == 0) { /* every check was kept: nothing points into the new set */
        pk_checkset_free(&os->set);
        free(os);
    }
    os = NULL;
    goto out;
refuse: {
    char q[1100];
    PK_ERROR("runner", "check swap refused; the old schedule keeps running", "error=%s",
             pk_log_q(q, sizeof q, err));
}
    for (size_t i = 0; fresh && i < n_new; i++)
        if (fresh[i] && fresh[i]->origin == os) {
            fresh[i]->origin = NULL; /* os is freed whole below */
            slot_free(fresh[i]);
        }
    if (os) {
        pk_checkset_free(&os->set);
        free(os);
    }
out:
    pk_checkset_free(posted);
    free(posted);
    free(fresh);
    free(reuse);
    free(all);
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
    if (r)
        pthread_mutex_init(&r->mailbox_mu, NULL);
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
        struct slot *s = slot_new(r, &set->checks[i], NULL, err, errlen);
        if (!s)
            goto fail;
        r->slots[r->n_slots++] = s;
    }
    return r;
fail:
    runner_free(r);
    return NULL;
}

int runner_run(struct runner *r, volatile sig_atomic_t *stop)
{
    int64_t start = pk_mono_us();
    r->start_us = start - pk_now_us();
    for (size_t i = 0; i < r->n_slots; i++) {
        struct slot *s = r->slots[i];
        s->due_us = first_due(r, s->check, start);
    }
    while (!*stop) {
        /* Completions first, so a check that ends right at its next round is not skipped. */
        if (drive(r) < 0)
            return -1;
        sweep_retired(r);
        int64_t now = pk_mono_us();
        apply_swap(r, now);
        int64_t next_due = now + POLL_CAP_MS * 1000;
        for (size_t i = 0; i < r->n_slots; i++) {
            struct slot *s = r->slots[i];
            if (s->retiring)
                continue;
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
    size_t pending = 0;
    for (size_t i = 0; i < r->n_slots; i++)
        if (!r->slots[i]->retiring) {
            r->slots[i]->once_pending = 1;
            pending++;
        }
    for (;;) {
        /* A check still running from runner_run() starts once it is free. */
        for (size_t i = 0; i < r->n_slots; i++) {
            struct slot *s = r->slots[i];
            if (s->once_pending && !s->running) {
                s->once_pending = 0;
                pending--;
                s->run_due_us = 0;
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
        slot_free(r->slots[i]);
    if (r->multi)
        curl_multi_cleanup(r->multi);
    free(r->slots);
    if (r->mailbox) {
        pk_checkset_free(r->mailbox);
        free(r->mailbox);
    }
    pthread_mutex_destroy(&r->mailbox_mu);
    free(r);
}
