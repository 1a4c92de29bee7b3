/* registry.c: the executors of the check types this probe can run, keyed by
 * enum pk_check_kind. Adding a type is one row in common/checks/types.c, one
 * parse file in common/checks/, one executor file here and one line below. Owns nothing. Also the small job
 * helper that lets blocking check types (tcp, dns, tls, grpc, exec) work on a
 * thread of their own and hand results back on the runner thread (waking the
 * runner through env->wake, so this file needs no libcurl). */
#include "registry.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

/* Keyed by the loader's enum pk_check_kind: the type's name, keys and parser
 * are its row in pk_check_types (common/checks/types.c), the executor is here. */
static const struct check_type *const types[PK_CHECK_KINDS] = {
    [PK_CHECK_HTTP] = &check_type_http,
    [PK_CHECK_FLOW] = &check_type_flow,
    [PK_CHECK_TCP] = &check_type_tcp,
    [PK_CHECK_DNS] = &check_type_dns,
    [PK_CHECK_TLS] = &check_type_tls,
    [PK_CHECK_GRPC] = &check_type_grpc,
    [PK_CHECK_EXEC] = &check_type_exec,
};

const struct check_type *check_type_of(int kind)
{
    return kind >= 0 && kind < PK_CHECK_KINDS ? types[kind] : NULL;
}

const struct check_type *check_type_find(const char *name)
{
    const struct pk_check_type *t = pk_check_type_find(name);
    return t ? check_type_of(t->kind) : NULL;
}

void check_types_poll_completions(void)
{
    for (size_t i = 0; i < PK_CHECK_KINDS; i++)
        if (types[i] && types[i]->poll_completions)
            types[i]->poll_completions();
}

/* ------------------------------------------------------------------ jobs */

static void *job_main(void *arg)
{
    struct check_job *job = arg;
    job->work(job);
    pthread_mutex_lock(&job->queue->lock);
    job->next = job->queue->head;
    job->queue->head = job;
    pthread_mutex_unlock(&job->queue->lock);
    /* The runner joins this thread before it frees the multi handle. */
    if (job->env->wake)
        job->env->wake(job->env);
    return NULL;
}

void check_job_start(struct check_job *job, struct check_job_queue *queue, const struct check_env *env,
                     const struct pk_check *check, void *slot, void (*work)(struct check_job *job))
{
    memset(&job->result, 0, sizeof job->result);
    pk_strlcpy(job->result.check_name, check->name, sizeof job->result.check_name);
    pk_strlcpy(job->result.check_type, check->type, sizeof job->result.check_type);
    job->result.started_at_us = pk_now_us();
    job->result.dns_us = job->result.connect_us = job->result.tls_us = job->result.ttfb_us = -1;
    job->result.total_us = -1;
    job->queue = queue;
    job->env = env;
    job->check = check;
    job->slot = slot;
    job->work = work;
    job->next = NULL;
    atomic_store(&job->cancel, 0);
    job->phase = 1;
    /* Workers run with every signal blocked: process signals stay with the
     * daemon's threads, and a write to a closed socket (OpenSSL writes without
     * MSG_NOSIGNAL) gives EPIPE instead of killing the process. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&job->thread, NULL, job_main, job);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        job->phase = 0;
        job->result.outcome = PK_OUTCOME_FAILED;
        job->result.error_class = PK_ERR_INTERNAL;
        snprintf(job->result.message, sizeof job->result.message, "cannot start a worker thread: %s",
                 strerror(rc));
        env->done(slot, &job->result);
    }
}

void *check_worker_new(size_t size, const struct check_env *env, const struct pk_check *check,
                       struct check_job_queue *queue, void (*work)(struct check_job *job), char *err, size_t errlen)
{
    struct check_worker *w = calloc(1, size);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->env = env;
    w->check = check;
    w->queue = queue;
    w->work = work;
    return w;
}

int check_worker_create(size_t size, const struct check_env *env, const struct pk_check *check,
                        struct check_job_queue *queue, void (*work)(struct check_job *job), void **state, char *err,
                        size_t errlen)
{
    *state = check_worker_new(size, env, check, queue, work, err, errlen);
    return *state ? 0 : -1;
}

void check_worker_start(void *state, void *slot)
{
    struct check_worker *w = state;
    check_job_start(&w->job, w->queue, w->env, w->check, slot, w->work);
}

void check_worker_destroy(void *state)
{
    struct check_worker *w = state;
    if (!w)
        return;
    check_job_cancel(&w->job);
    free(w);
}

int check_job_cancelled(const struct check_job *job) { return atomic_load(&job->cancel); }

void check_job_cancel(struct check_job *job)
{
    if (!job->phase)
        return;
    atomic_store(&job->cancel, 1);
    pthread_join(job->thread, NULL);
    pthread_mutex_lock(&job->queue->lock);
    for (struct check_job **p = &job->queue->head; *p; p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            break;
        }
    pthread_mutex_unlock(&job->queue->lock);
    job->phase = 0;
}

void check_job_queue_drain(struct check_job_queue *queue)
{
    pthread_mutex_lock(&queue->lock);
    struct check_job *done = queue->head;
    queue->head = NULL;
    pthread_mutex_unlock(&queue->lock);
    while (done) {
        struct check_job *job = done;
        done = job->next;
        pthread_join(job->thread, NULL);
        job->phase = 0;
        job->env->done(job->slot, &job->result);
    }
}

int check_ms_left(int64_t deadline_us)
{
    int64_t left = deadline_us - pk_mono_us();
    return left <= 0 ? 0 : (int)((left + 999) / 1000);
}

static int contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 1;
    for (size_t i = 0; hay && i + n <= len; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

void check_apply_asserts(const struct pk_check *check, const char *output, size_t output_len, struct pk_result *r)
{
    for (size_t i = 0; i < check->n_asserts; i++) {
        if (r->outcome != PK_OUTCOME_OK && r->outcome != PK_OUTCOME_DEGRADED)
            return;
        const struct pk_assertion *a = &check->asserts[i];
        char why[PK_MESSAGE_MAX] = "";
        if (a->kind == PK_ASSERT_TIME_UNDER && r->total_us > a->max_ms * 1000)
            snprintf(why, sizeof why, "took %lld ms, limit %lld ms", (long long)(r->total_us / 1000),
                     (long long)a->max_ms);
        else if (a->kind == PK_ASSERT_OUTPUT_CONTAINS && a->text && !contains(output, output_len, a->text))
            snprintf(why, sizeof why, "output does not contain \"%s\"", a->text);
        if (!why[0])
            continue;
        int outcome = a->severity == PK_SEV_DEGRADED ? PK_OUTCOME_DEGRADED : PK_OUTCOME_FAILED;
        if (outcome == PK_OUTCOME_DEGRADED && r->outcome == PK_OUTCOME_DEGRADED)
            continue; /* already as bad, keep the first reason */
        r->outcome = outcome;
        r->error_class = PK_ERR_ASSERTION;
        if (a->describe && a->describe[0])
            snprintf(r->message, sizeof r->message, "%s: %s", a->describe, why);
        else
            pk_strlcpy(r->message, why, sizeof r->message);
        pk_utf8_sanitize(r->message);
    }
}

int check_render(const struct pk_check *check, const char *src, char **out, const char **shown, char *err,
                 size_t errlen)
{
    int used_secret = 0;
    *out = NULL;
    *shown = src;
    if (!src)
        return 0;
    if (!pk_template_has_any(src)) {
        if (!(*out = strdup(src))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        *shown = *out;
        return 0;
    }
    if (pk_check_render(check, src, NULL, 0, NULL, PK_TEMPLATE_RAW, out, &used_secret, err, errlen) < 0)
        return -1;
    *shown = used_secret ? src : *out;
    return 0;
}
