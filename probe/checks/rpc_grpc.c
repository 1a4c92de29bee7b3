/* rpc_grpc.c: the grpc check type: grpc.health.v1.Health/Check for a service
 * name, over a fresh channel per execution (plaintext, or TLS trusting
 * ca_file or gRPC's default roots). SERVING is ok; NOT_SERVING, UNKNOWN and
 * SERVICE_UNKNOWN fail with error class assertion; transport errors fail as
 * connect or timeout. Holds a grpc_init reference per check. Works on a
 * worker thread (check_job); a destroy during a call waits for it to end,
 * which the call's deadline (the check's timeout) bounds. The only check file
 * that includes gRPC headers. */
#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "registry.h"
#include "rpc_client.h"

#define HEALTH_CHECK_METHOD "/grpc.health.v1.Health/Check"
#define CA_FILE_MAX (1 << 20)

struct grpc_check {
    struct check_worker w; /* first: check_worker_new, start and destroy */
    char *root_pem; /* owned; ca_file's contents, NULL for default roots */
};

static struct check_job_queue queue = {PTHREAD_MUTEX_INITIALIZER, NULL};

static grpc_channel *open_channel(const struct grpc_check *g)
{
    const struct pk_grpc_options *o = &g->w.check->u.grpc;
    if (!o->tls)
        return rpc_channel_create(o->target);
    char target[512];
    rpc_target(target, sizeof target, o->target);
    grpc_channel_credentials *creds = grpc_ssl_credentials_create(g->root_pem, NULL, NULL, NULL);
    if (!creds)
        return NULL;
    grpc_channel *ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    return ch;
}

static const char *status_name(int status)
{
    switch (status) {
    case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING:
        return "SERVING";
    case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING:
        return "NOT_SERVING";
    case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN:
        return "SERVICE_UNKNOWN";
    default:
        return "UNKNOWN";
    }
}

static void grpc_work(struct check_job *job)
{
    const struct grpc_check *g = (const struct grpc_check *)((const char *)job - offsetof(struct grpc_check, w.job));
    const struct pk_check *c = job->check;
    const struct pk_grpc_options *o = &c->u.grpc;
    struct pk_result *r = &job->result;
    int64_t timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 10000;
    int64_t t0 = pk_mono_us();
    const char *service = o->service ? o->service : "";
    uint8_t *req = NULL, *resp = NULL;
    size_t resp_len = 0;
    Grpc__Health__V1__HealthCheckResponse *answer = NULL;
    char err[160];
    int code = -1;
    r->outcome = PK_OUTCOME_FAILED;
    grpc_channel *ch = open_channel(g);
    if (!ch) {
        r->error_class = PK_ERR_INTERNAL;
        snprintf(r->message, sizeof r->message, "cannot open a channel to %s", o->target);
        goto out;
    }
    Grpc__Health__V1__HealthCheckRequest request = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    request.service = (char *)service;
    size_t req_len = grpc__health__v1__health_check_request__get_packed_size(&request);
    if (!(req = malloc(req_len ? req_len : 1))) {
        r->error_class = PK_ERR_INTERNAL;
        snprintf(r->message, sizeof r->message, "out of memory");
        goto out;
    }
    grpc__health__v1__health_check_request__pack(&request, req);
    int rc = rpc_unary(ch, HEALTH_CHECK_METHOD, req, req_len, &resp, &resp_len, (int)timeout_ms, &code, err,
                       sizeof err);
    r->total_us = pk_mono_us() - t0;
    if (rc < 0) {
        switch (code) {
        case GRPC_STATUS_DEADLINE_EXCEEDED:
            r->error_class = PK_ERR_TIMEOUT;
            snprintf(r->message, sizeof r->message, "no health answer from %s within %lld ms", o->target,
                     (long long)timeout_ms);
            break;
        case GRPC_STATUS_NOT_FOUND:
            r->error_class = PK_ERR_ASSERTION;
            snprintf(r->message, sizeof r->message, "service '%s' is unknown to %s", service, o->target);
            break;
        case GRPC_STATUS_UNIMPLEMENTED:
            r->error_class = PK_ERR_ASSERTION;
            snprintf(r->message, sizeof r->message, "%s does not implement grpc.health.v1.Health", o->target);
            break;
        default:
            r->error_class = PK_ERR_CONNECT;
            snprintf(r->message, sizeof r->message, "%.90s: %s", o->target, err);
            break;
        }
        goto out;
    }
    answer = grpc__health__v1__health_check_response__unpack(NULL, resp_len, resp);
    if (!answer) {
        r->error_class = PK_ERR_ASSERTION;
        snprintf(r->message, sizeof r->message, "%s answered with a malformed HealthCheckResponse", o->target);
        goto out;
    }
    if (answer->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        r->outcome = PK_OUTCOME_OK;
        r->error_class = PK_ERR_NONE;
        check_apply_asserts(c, NULL, 0, r);
    } else {
        r->error_class = PK_ERR_ASSERTION;
        if (service[0])
            snprintf(r->message, sizeof r->message, "service '%s' is %s", service, status_name(answer->status));
        else
            snprintf(r->message, sizeof r->message, "server %s is %s", o->target, status_name(answer->status));
    }
out:
    pk_utf8_sanitize(r->message);
    if (r->total_us < 0)
        r->total_us = pk_mono_us() - t0;
    if (answer)
        grpc__health__v1__health_check_response__free_unpacked(answer, NULL);
    free(resp);
    free(req);
    if (ch)
        grpc_channel_destroy(ch);
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    if (!(buf = malloc(CA_FILE_MAX + 1))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    size_t n = fread(buf, 1, CA_FILE_MAX + 1, f);
    if (n > CA_FILE_MAX || ferror(f)) {
        snprintf(err, errlen, n > CA_FILE_MAX ? "larger than 1 MiB" : "read error");
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
out:
    fclose(f);
    return buf;
}

static int grpc_create(const struct check_env *env, const struct pk_check *check, void **state, char *err,
                       size_t errlen)
{
    const char *file = check->file ? check->file : "";
    const struct pk_grpc_options *o = &check->u.grpc;
    if (!o->target || !o->target[0]) {
        snprintf(err, errlen, "%s:%d: check '%s' needs a target (host:port)", file, check->line, check->name);
        return -1;
    }
    struct grpc_check *g = check_worker_new(sizeof *g, env, check, &queue, grpc_work, err, errlen);
    if (!g)
        return -1;
    if (o->tls && o->ca_file && o->ca_file[0]) {
        char why[128];
        if (!(g->root_pem = read_file(o->ca_file, why, sizeof why))) {
            snprintf(err, errlen, "%s:%d: check '%s': cannot read ca_file %s: %s", file, check->line, check->name,
                     o->ca_file, why);
            free(g);
            return -1;
        }
    }
    grpc_init();
    *state = g;
    return 0;
}

static void grpc_destroy(void *state)
{
    struct grpc_check *g = state;
    if (!g)
        return;
    check_job_cancel(&g->w.job);
    free(g->root_pem);
    free(g);
    grpc_shutdown();
}

static void grpc_poll(void) { check_job_queue_drain(&queue); }

const struct check_type check_type_grpc = {
    .create = grpc_create,
    .start = check_worker_start,
    .destroy = grpc_destroy,
    .poll_completions = grpc_poll,
};
