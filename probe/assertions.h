/* assertions.h: judging one response against a check's assertions, and pulling
 * captures and numeric extractions out of it. Knows nothing about how the
 * response was fetched (no curl): http, flow and burst fill a response view,
 * exec and tcp can reuse it with their output as the body. Runs on the runner
 * thread only, because the compiled jq programs it runs are not thread-safe. */
#ifndef PK_ASSERTIONS_H
#define PK_ASSERTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "checks.h"
#include "result.h"

/* A response as the assertions see it. Everything is borrowed from the caller
 * and must stay valid until assert_response_release(). Header names compare
 * case-insensitively; when a header repeats, the first one counts. */
struct assert_response {
    int status;                  /* 0 when there was none */
    const struct pk_kv *headers; /* value without the trailing CRLF */
    size_t n_headers;
    const char *body;            /* need not be NUL-terminated; may hold NULs */
    size_t body_len;
    int64_t body_bytes;          /* all body bytes received: more than body_len when the
                                  * body was cut at max_body; 0 = same as body_len */
    int64_t total_us;
    void *json;                  /* private: the body parsed once, on first use */
    int json_state;              /* private: 0 not yet, 1 parsed, -1 not JSON */
};

struct assert_verdict {
    int outcome;     /* PK_OUTCOME_OK, _DEGRADED or _FAILED: the worst severity that failed */
    int error_class; /* PK_ERR_NONE; PK_ERR_HTTP when the deciding failure is the status;
                      * PK_ERR_ASSERTION otherwise */
    char message[PK_MESSAGE_MAX]; /* "" when OK; else the first failure of the worst
                                   * severity, e.g. "status 503, expected 200" */
};

/* Evaluates every assertion in order and fills *v. Never fails: a problem in
 * evaluating one (a jq error, a body that is not JSON) fails that assertion. */
void assert_evaluate(struct assert_response *resp, const struct pk_assertion *asserts, size_t n_asserts,
                     struct assert_verdict *v);

/* Evaluates one capture. 0 with *value (malloc'd, NUL-terminated; the caller
 * frees it), or -1 with a reason in err ("header Location missing", "regex
 * 'draft_\d+' did not match the body", ...). */
int assert_capture(struct assert_response *resp, const struct pk_capture *capture, char **value, char *err,
                   size_t errlen);

/* Runs every extraction and appends one metric per numeric answer (a bool
 * counts as 1 or 0) to r->metrics, up to PK_MAX_METRICS in all. An extraction
 * that yields no number is skipped and logged as an event naming `check_name`.
 * Returns how many metrics were added. */
int assert_extract(struct assert_response *resp, const struct pk_extraction *extracts, size_t n_extracts,
                   const char *check_name, struct pk_result *r);

/* Frees what the view cached (the parsed JSON body); the view may then be refilled. */
void assert_response_release(struct assert_response *resp);

#endif
