/* registry.h: the check types a probe can execute, in the collectd style: each
 * type is a table of callbacks, defined in its own file (checks/http.c, tcp.c,
 * dns.c, tls.c, rpc_grpc.c, exec.c, flow.c) and listed once in registry.c
 * under its enum pk_check_kind (common/checks.h), which also keys the
 * loader's table of names and parsers. The runner owns the event loop; a type only
 * starts executions on it and reports each one exactly once through
 * check_env.done. Curl-free on purpose: CURL handles travel as void *. */
#ifndef PK_CHECK_REGISTRY_H
#define PK_CHECK_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "checks.h"
#include "result.h"

/* What the runner lends every check type. Lives as long as the runner. */
struct check_env {
    void *curl_multi; /* the runner's CURLM *; types add their easy handles to it */
    /* Reports one finished execution; `slot` is what start() was given. The
     * result is only valid during the call. Runs on the runner thread. */
    void (*done)(void *slot, const struct pk_result *result);
    /* Wakes the runner's poll from any thread (so a type that works off the
     * runner thread gets its poll_completions called soon). */
    void (*wake)(const struct check_env *env);
};

/* Every CURL easy handle added to env->curl_multi carries, as CURLOPT_PRIVATE,
 * a pointer to one of these, so the runner can hand a finished transfer back
 * to its owner without knowing the type. `curl_code` is a CURLcode. The owner
 * removes the handle from the multi handle. */
struct check_curl_io {
    void (*on_done)(struct check_curl_io *io, int curl_code);
};

struct check_type {
    /* Builds per-check state (*state, owned by the type, freed by destroy).
     * `check` is borrowed and must outlive the state. -1 with err on failure. */
    int (*create)(const struct check_env *env, const struct pk_check *check, void **state, char *err, size_t errlen);
    /* Starts one execution. Never blocks. Calls env->done(slot, ...) exactly
     * once, later or, when it cannot even start, before returning. Never
     * called again on the same state before that done. */
    void (*start)(void *state, void *slot);
    /* Cancels an execution in flight (without calling done) and frees state. */
    void (*destroy)(void *state);
    /* Optional, for types that run off the runner thread (tcp, dns, tls, grpc,
     * exec): called on the runner thread after every poll; calls env->done for
     * executions that finished since. Such a type wakes the poll with
     * env->wake(env) when one finishes. */
    void (*poll_completions)(void);
};

/* Calls every type's poll_completions. Runner thread only. */
void check_types_poll_completions(void);

/* NULL when no type has that name. */
const struct check_type *check_type_find(const char *name);
/* The executor of a kind (enum pk_check_kind); NULL when out of range. */
const struct check_type *check_type_of(int kind);

/* One per file in checks/; registry.c lists them. */
extern const struct check_type check_type_http;
extern const struct check_type check_type_flow;
extern const struct check_type check_type_tcp;
extern const struct check_type check_type_dns;
extern const struct check_type check_type_tls;
extern const struct check_type check_type_grpc;
extern const struct check_type check_type_exec;
/* Exec perfdata labels cut to the metric name limit since start (exec.c). */
uint64_t check_exec_names_truncated(void);

/* ---- Blocking work off the runner thread (tcp, dns, tls, grpc, exec) ----
 * Such a type embeds one check_job in its state and one check_job_queue per
 * type (static). check_job_start runs work(job) on a fresh thread; work fills
 * job->result (bounded by the check's timeout, polling check_job_cancelled at
 * least every 50 ms) and returns; the job is then queued, the runner's poll is
 * woken with env->wake, and the type's poll_completions hook calls
 * check_job_queue_drain, which joins the thread and calls env->done on the
 * runner thread. One runner per process: the queues are not per runner. */
struct check_job_queue {
    pthread_mutex_t lock; /* init with PTHREAD_MUTEX_INITIALIZER */
    struct check_job *head;
};

struct check_job {
    /* Filled by check_job_start; private to registry.c. */
    struct check_job *next;
    struct check_job_queue *queue;
    const struct check_env *env;
    void *slot;
    void (*work)(struct check_job *job);
    pthread_t thread;
    int phase;  /* 0 idle, 1 running, 2 queued */
    atomic_int cancel; /* read with check_job_cancelled */
    /* The execution's result: work fills it; started_at, name and type are set
     * by check_job_start from `check`, timings preset to -1. */
    struct pk_result result;
    const struct pk_check *check;
};

/* The state every worker-thread type begins with (tcp, dns, tls, grpc, exec):
 * check_worker_new allocates a type's state (size bytes, zeroed, this first),
 * check_worker_start is the type's start, check_worker_destroy its destroy when
 * the state owns nothing else (else the type's destroy calls check_job_cancel on
 * w.job first). A work function finds its state from the job with
 * offsetof(struct its_state, w.job). */
struct check_worker {
    const struct check_env *env;
    const struct pk_check *check; /* borrowed */
    struct check_job_queue *queue;
    void (*work)(struct check_job *job);
    struct check_job job;
};
/* NULL with "out of memory" in err when the allocation fails. */
void *check_worker_new(size_t size, const struct check_env *env, const struct pk_check *check,
                       struct check_job_queue *queue, void (*work)(struct check_job *job), char *err, size_t errlen);
/* check_worker_new for a type whose state holds nothing more: *state is set; 0 or -1. */
int check_worker_create(size_t size, const struct check_env *env, const struct pk_check *check,
                        struct check_job_queue *queue, void (*work)(struct check_job *job), void **state, char *err,
                        size_t errlen);
void check_worker_start(void *state, void *slot);
void check_worker_destroy(void *state);

/* Starts one execution of `check`. When the thread cannot be created, reports
 * a failed result through env->done before returning. Runner thread only. */
void check_job_start(struct check_job *job, struct check_job_queue *queue, const struct check_env *env,
                     const struct pk_check *check, void *slot, void (*work)(struct check_job *job));
/* Non-zero once check_job_cancel was called: work should return soon. */
int check_job_cancelled(const struct check_job *job);
/* For destroy: asks the work to stop, joins its thread and drops a queued
 * completion without calling done. Runner thread only. */
void check_job_cancel(struct check_job *job);
/* For poll_completions: reports every finished job of this queue. */
void check_job_queue_drain(struct check_job_queue *queue);
/* Applies the check-level assertions PK_ASSERT_TIME_UNDER (against
 * r->total_us) and PK_ASSERT_OUTPUT_CONTAINS (against output) to a result that
 * is ok or degraded: a failing one makes it degraded or failed by its severity,
 * with error class assertion and a message naming it. Other kinds are left to
 * the loader to refuse. */
void check_apply_asserts(const struct pk_check *check, const char *output, size_t output_len, struct pk_result *r);
/* Renders a (template) string of check (checks.h) for a worker, without
 * captures: *out is malloc'd (caller frees); NULL src gives NULL. *shown points
 * at what may appear in messages: *out, or src itself when a secret went into
 * it. 0, or -1 with the reason in err (which never holds a value). */
int check_render(const struct pk_check *check, const char *src, char **out, const char **shown, char *err,
                 size_t errlen);
/* Defined in tcp.c, shared with tls.c: resolves host (getaddrinfo) and
 * connects without blocking past deadline_us, trying each address. Returns a
 * connected blocking-mode-off socket, or -1 with an error class in *error_class
 * (dns, connect, timeout, internal) and a sentence in err naming shown_host
 * (host unless a secret is in it). Sets *dns_us and
 * *connect_us. Gives up early when job is cancelled. */
int check_tcp_connect(const char *host, const char *shown_host, int port, int64_t deadline_us,
                      const struct check_job *job, int64_t *dns_us, int64_t *connect_us, int *error_class, char *err,
                      size_t errlen);
/* Milliseconds left until deadline_us (pk_mono_us clock), at least 0. */
int check_ms_left(int64_t deadline_us);

#endif
