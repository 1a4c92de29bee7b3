/* flow.c: the flow check type: ordered http steps on the runner's multi
 * handle, one at a time through one http exchange (http.h). Each step renders
 * its request with the check's vars and the captures of earlier steps, is
 * judged by its own assertions, and adds its extractions to the result. The
 * first failing step ends the flow and names itself: `step 2 "view": ...`; a
 * degraded step lets the flow go on and degrades the result. Owns the
 * captured values of the execution in flight; never includes curl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/* For checks built without a timeout; the loader always sets one. */
#define DEFAULT_TIMEOUT_MS 10000

struct flow_check {
    const struct check_env *env;
    const struct pk_check *check; /* borrowed from the check set */
    struct http_exchange *x;
    void *slot;                   /* non-NULL while an execution is in flight */
    size_t step;                  /* index of the step in flight */
    struct pk_kv *captures;       /* owned; made by the steps so far */
    size_t n_captures, cap_captures;
    struct pk_result result;      /* what the finished steps add up to */
    int64_t started_mono_us;
};

/* Without a status assertion a step must answer 200, like an http check. */
static const int default_status_range[2] = {200, 200};
static const struct pk_assertion default_status = {
    .kind = PK_ASSERT_STATUS,
    .severity = PK_SEV_FAILED,
    .status_ranges = (int *)default_status_range,
    .n_status_ranges = 1,
};

static void clear_captures(struct flow_check *f)
{
    for (size_t i = 0; i < f->n_captures; i++) {
        free(f->captures[i].key);
        free(f->captures[i].value);
    }
    f->n_captures = 0;
}

/* Takes `value`; a later capture of the same name replaces an earlier one. */
static int set_capture(struct flow_check *f, const char *name, char *value)
{
    for (size_t i = 0; i < f->n_captures; i++)
        if (strcmp(f->captures[i].key, name) == 0) {
            free(f->captures[i].value);
            f->captures[i].value = value;
            return 0;
        }
    if (f->n_captures == f->cap_captures) {
        size_t cap = f->cap_captures ? 2 * f->cap_captures : 8;
        struct pk_kv *grown = realloc(f->captures, cap * sizeof *grown);
        if (!grown)
            goto oom;
        f->captures = grown;
        f->cap_captures = cap;
    }
    char *key = strdup(name);
    if (!key)
        goto oom;
    f->captures[f->n_captures].key = key;
    f->captures[f->n_captures].value = value;
    f->n_captures++;
    return 0;
oom:
    free(value);
    return -1;
}

/* `step 2 "view": ` before a step's reason. */
static void step_message(const struct flow_check *f, const char *reason, char *out, size_t size)
{
    const struct pk_step *s = &f->check->u.flow.steps[f->step];
    char generated[32]; /* the loader names an unnamed step "step-N"; no need to say it twice */
    snprintf(generated, sizeof generated, "step-%zu", f->step + 1);
    if (s->name && s->name[0] && strcmp(s->name, generated) != 0)
        snprintf(out, size, "step %zu \"%s\": %s", f->step + 1, s->name, reason);
    else
        snprintf(out, size, "step %zu: %s", f->step + 1, reason);
    pk_utf8_sanitize(out);
}

static void add_phase(int64_t *sum, int64_t phase)
{
    if (phase >= 0)
        *sum = *sum < 0 ? phase : *sum + phase;
}

static void finish(struct flow_check *f)
{
    void *slot = f->slot;
    f->slot = NULL;
    clear_captures(f);
    f->env->done(slot, &f->result);
}

/* Ends the flow at the current step with the given outcome and reason. */
static void fail_step(struct flow_check *f, int outcome, int error_class, const char *reason)
{
    f->result.outcome = outcome;
    f->result.error_class = error_class;
    step_message(f, reason, f->result.message, sizeof f->result.message);
    finish(f);
}

/* Starts f->step; on failure ends the flow. */
static void start_step(struct flow_check *f)
{
    const struct pk_step *s = &f->check->u.flow.steps[f->step];
    char err[PK_MESSAGE_MAX - 48], reason[PK_MESSAGE_MAX];
    int64_t budget_ms = f->check->timeout_ms > 0 ? f->check->timeout_ms : DEFAULT_TIMEOUT_MS;
    int64_t left_ms = budget_ms - (pk_mono_us() - f->started_mono_us) / 1000;
    if (left_ms <= 0) {
        snprintf(reason, sizeof reason, "not started: the flow's timeout of %lld ms is spent", (long long)budget_ms);
        fail_step(f, PK_OUTCOME_FAILED, PK_ERR_TIMEOUT, reason);
        return;
    }
    if (http_exchange_start(f->x, &s->request, f->captures, f->n_captures, left_ms, err, sizeof err) < 0) {
        snprintf(reason, sizeof reason, "cannot build request: %s", err);
        fail_step(f, PK_OUTCOME_UNKNOWN, PK_ERR_INTERNAL, reason);
    }
}

static int has_status_assertion(const struct pk_step *s)
{
    for (size_t i = 0; i < s->n_asserts; i++)
        if (s->asserts[i].kind == PK_ASSERT_STATUS)
            return 1;
    return 0;
}

static void step_done(void *user, struct http_exchange *x)
{
    struct flow_check *f = user;
    const struct pk_step *s = &f->check->u.flow.steps[f->step];
    struct pk_result one;
    memset(&one, 0, sizeof one);
    int answered = http_exchange_result(x, &one) == 0;
    struct pk_result *r = &f->result;
    r->status_code = one.status_code;
    r->body_bytes += one.body_bytes;
    add_phase(&r->dns_us, one.dns_us);
    add_phase(&r->connect_us, one.connect_us);
    add_phase(&r->tls_us, one.tls_us);
    add_phase(&r->ttfb_us, one.ttfb_us);
    r->total_us += one.total_us;
    if (!answered) {
        fail_step(f, one.outcome, one.error_class, one.message);
        return;
    }

    struct assert_response view;
    struct assert_verdict v, status_v = {.outcome = PK_OUTCOME_OK};
    char reason[PK_MESSAGE_MAX];
    http_exchange_response(x, &view);
    if (!has_status_assertion(s))
        assert_evaluate(&view, &default_status, 1, &status_v);
    assert_evaluate(&view, s->asserts, s->n_asserts, &v);
    if (status_v.outcome == PK_OUTCOME_FAILED)
        v = status_v;
    if (!(v.outcome == PK_OUTCOME_FAILED && v.error_class == PK_ERR_HTTP))
        assert_extract(&view, s->extracts, s->n_extracts, f->check->name, r);
    if (v.outcome == PK_OUTCOME_FAILED) {
        assert_response_release(&view);
        fail_step(f, v.outcome, v.error_class, v.message);
        return;
    }
    if (v.outcome == PK_OUTCOME_DEGRADED && r->outcome != PK_OUTCOME_DEGRADED) {
        r->outcome = PK_OUTCOME_DEGRADED; /* the first degraded step explains it */
        r->error_class = v.error_class;
        step_message(f, v.message, r->message, sizeof r->message);
    }
    for (size_t i = 0; i < s->n_captures; i++) {
        const struct pk_capture *c = &s->captures[i];
        char *value = NULL, err[PK_MESSAGE_MAX - 64];
        if (assert_capture(&view, c, &value, err, sizeof err) < 0) {
            assert_response_release(&view);
            snprintf(reason, sizeof reason, "capture %s: %s", c->name, err);
            fail_step(f, PK_OUTCOME_FAILED, PK_ERR_ASSERTION, reason);
            return;
        }
        if (set_capture(f, c->name, value) < 0) {
            assert_response_release(&view);
            fail_step(f, PK_OUTCOME_UNKNOWN, PK_ERR_INTERNAL, "out of memory");
            return;
        }
    }
    assert_response_release(&view);
    if (++f->step < f->check->u.flow.n_steps) {
        start_step(f);
        return;
    }
    finish(f);
}

static void flow_start(void *state, void *slot)
{
    struct flow_check *f = state;
    struct pk_result *r = &f->result;
    f->slot = slot;
    f->step = 0;
    clear_captures(f);
    memset(r, 0, sizeof *r);
    pk_strlcpy(r->check_name, f->check->name, sizeof r->check_name);
    pk_strlcpy(r->check_type, "flow", sizeof r->check_type);
    r->started_at_us = pk_now_us();
    r->outcome = PK_OUTCOME_OK;
    r->dns_us = r->connect_us = r->tls_us = r->ttfb_us = -1;
    f->started_mono_us = pk_mono_us();
    start_step(f);
}

static void flow_destroy(void *state)
{
    struct flow_check *f = state;
    if (!f)
        return;
    http_exchange_free(f->x);
    clear_captures(f);
    free(f->captures);
    free(f);
}

static int flow_create(const struct check_env *env, const struct pk_check *c, void **state, char *err, size_t errlen)
{
    struct flow_check *f = NULL;
    if (c->u.flow.n_steps == 0) {
        snprintf(err, errlen, "%s:%d: flow check '%s' has no steps", c->file ? c->file : "?", c->line, c->name);
        return -1;
    }
    if (!(f = calloc(1, sizeof *f)) || !(f->x = http_exchange_new(env, c, step_done, f))) {
        free(f);
        snprintf(err, errlen, "check '%s': out of memory", c->name);
        return -1;
    }
    f->env = env;
    f->check = c;
    *state = f;
    return 0;
}

const struct check_type check_type_flow = {
    .create = flow_create,
    .start = flow_start,
    .destroy = flow_destroy,
};
