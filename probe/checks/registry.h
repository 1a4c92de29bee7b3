/* registry.h: the check types a probe can execute, in the collectd style: each
 * type is a table of callbacks under a name, defined in its own file
 * (checks/http.c, later tcp.c, dns.c, tls.c, grpc.c, exec.c, flow.c) and
 * listed once in registry.c. The runner owns the event loop; a type only
 * starts executions on it and reports each one exactly once through
 * check_env.done. Curl-free on purpose: CURL handles travel as void *. */
#ifndef PK_CHECK_REGISTRY_H
#define PK_CHECK_REGISTRY_H

#include <stddef.h>

#include "../../common/checks.h"
#include "../../common/result.h"

/* What the runner lends every check type. Lives as long as the runner. */
struct check_env {
    void *curl_multi; /* the runner's CURLM *; types add their easy handles to it */
    /* Reports one finished execution; `slot` is what start() was given. The
     * result is only valid during the call. Runs on the runner thread. */
    void (*done)(void *slot, const struct pk_result *result);
};

/* Every CURL easy handle added to env->curl_multi carries, as CURLOPT_PRIVATE,
 * a pointer to one of these, so the runner can hand a finished transfer back
 * to its owner without knowing the type. `curl_code` is a CURLcode. The owner
 * removes the handle from the multi handle. */
struct check_curl_io {
    void (*on_done)(struct check_curl_io *io, int curl_code);
};

struct check_type {
    const char *name; /* the `type:` value in check files */
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
     * curl_multi_wakeup(env->curl_multi) when one finishes. */
    void (*poll_completions)(void);
};

/* Calls every type's poll_completions. Runner thread only. */
void check_types_poll_completions(void);

/* NULL when no type has that name. */
const struct check_type *check_type_find(const char *name);

/* One per file in checks/; registry.c lists them. */
extern const struct check_type check_type_http;

#endif
