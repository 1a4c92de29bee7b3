/* http.h: one HTTP request/response on the runner's curl multi handle, shared
 * by the http check (single request or burst) and the flow check (steps in
 * order). Private to checks/; curl-free so that flow.c stays curl-free. An
 * exchange renders its pk_request's templates at start, so every execution
 * gets fresh uuid()/now() values and the captures of earlier flow steps. */
#ifndef PK_CHECKS_HTTP_H
#define PK_CHECKS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "assertions.h"
#include "registry.h"

struct http_exchange;

/* Called on the runner thread when a started exchange has finished (the
 * transfer is already off the multi handle). The exchange may be started
 * again or freed from inside the callback. */
typedef void (*http_exchange_done_fn)(void *user, struct http_exchange *x);

/* NULL when out of memory. `check` is borrowed and must outlive the exchange. */
struct http_exchange *http_exchange_new(const struct check_env *env, const struct pk_check *check,
                                        http_exchange_done_fn done, void *user);

/* Renders `req` (templates resolve against captures, then the check's vars) and adds the
 * transfer to the multi handle with a total time limit of timeout_ms. `req`
 * and `captures` are only read during the call. 0, or -1 with a sentence in
 * err that names the part (url, header X, body, form field f) and never holds
 * a rendered value; then nothing was started and done will not be called. */
int http_exchange_start(struct http_exchange *x, const struct pk_request *req, const struct pk_kv *captures,
                        size_t n_captures, int64_t timeout_ms, char *err, size_t errlen);

/* After done: fills r's status_code, body_bytes and phase timings. Returns 0
 * when an HTTP answer came back, or -1 after also setting r's outcome (failed),
 * error_class and message from the transport error. Leaves the other fields. */
int http_exchange_result(struct http_exchange *x, struct pk_result *r);

/* After done: a view of the answer for assert.c, valid until the exchange is
 * started again or freed. The caller releases it (assert_response_release). */
void http_exchange_response(struct http_exchange *x, struct assert_response *view);

/* Takes the transfer off the multi handle if it is in flight; done is not called. */
void http_exchange_cancel(struct http_exchange *x);

/* Cancels, then frees everything. NULL is fine. */
void http_exchange_free(struct http_exchange *x);

#endif
