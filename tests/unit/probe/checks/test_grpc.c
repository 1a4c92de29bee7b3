/* test_grpc.c: the grpc check through the real runner against a real gRPC
 * server on 127.0.0.1 (gRPC core, in a thread of this test) that implements
 * grpc.health.v1.Health/Check: "" and "up" are SERVING, "down" NOT_SERVING,
 * "limbo" SERVICE_UNKNOWN, "slow" answers after 1 s, anything else NOT_FOUND.
 * Also a closed port (connect error). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checks.h"
#include "grpc/health/v1/health.pb-c.h"
#include "result.h"
#include "runner.h"
#include "loopback.h"

static struct {
    grpc_server *server;
    grpc_completion_queue *cq;
    int port, tls_port;
    char dir[64], cert[128];
    pthread_t thread;
    atomic_int stop;
    int shutdown_seen; /* the TAG_SHUTDOWN event came through wait_tag */
} srv;

#define TAG_CALL ((void *)1)
#define TAG_RECV ((void *)2)
#define TAG_SEND ((void *)3)
#define TAG_SHUTDOWN ((void *)4)

static grpc_event wait_tag(void *tag)
{
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(srv.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == TAG_SHUTDOWN)
            srv.shutdown_seen = 1;
        if (ev.type != GRPC_OP_COMPLETE || ev.tag == tag)
            return ev;
    }
}

static void answer(grpc_call *call, const char *method)
{
    grpc_byte_buffer *in = NULL;
    grpc_op recv = {0};
    recv.op = GRPC_OP_RECV_MESSAGE;
    recv.data.recv_message.recv_message = &in;
    grpc_call_start_batch(call, &recv, 1, TAG_RECV, NULL);
    wait_tag(TAG_RECV);
    char service[128] = "";
    if (in) {
        grpc_byte_buffer_reader reader;
        grpc_byte_buffer_reader_init(&reader, in);
        grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        Grpc__Health__V1__HealthCheckRequest *req = grpc__health__v1__health_check_request__unpack(
            NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        if (req) {
            snprintf(service, sizeof service, "%s", req->service ? req->service : "");
            grpc__health__v1__health_check_request__free_unpacked(req, NULL);
        }
        grpc_slice_unref(s);
        grpc_byte_buffer_destroy(in);
    }
    int status = -1;
    grpc_status_code code = GRPC_STATUS_OK;
    if (strcmp(method, "/grpc.health.v1.Health/Check") != 0)
        code = GRPC_STATUS_UNIMPLEMENTED;
    else if (!strcmp(service, "") || !strcmp(service, "up"))
        status = 1;
    else if (!strcmp(service, "down"))
        status = 2;
    else if (!strcmp(service, "limbo"))
        status = 3;
    else if (!strcmp(service, "slow")) {
        usleep(1000000);
        status = 1;
    } else
        code = GRPC_STATUS_NOT_FOUND;
    grpc_byte_buffer *out = NULL;
    if (status >= 0) {
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        resp.status = status;
        uint8_t buf[16];
        size_t n = grpc__health__v1__health_check_response__pack(&resp, buf);
        grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, n);
        out = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
    }
    int cancelled = 0;
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n_ops = 0;
    ops[n_ops++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (out) {
        ops[n_ops].op = GRPC_OP_SEND_MESSAGE;
        ops[n_ops++].data.send_message.send_message = out;
    }
    ops[n_ops].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n_ops].data.send_status_from_server.status = code;
    grpc_slice details = grpc_slice_from_static_string(code == GRPC_STATUS_NOT_FOUND ? "unknown service" : "");
    ops[n_ops++].data.send_status_from_server.status_details = &details;
    ops[n_ops].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n_ops++].data.recv_close_on_server.cancelled = &cancelled;
    grpc_call_start_batch(call, ops, n_ops, TAG_SEND, NULL);
    wait_tag(TAG_SEND);
    if (out)
        grpc_byte_buffer_destroy(out);
}

static void *serve(void *arg)
{
    (void)arg;
    while (!srv.stop) {
        grpc_call *call = NULL;
        grpc_call_details details;
        grpc_metadata_array md;
        grpc_call_details_init(&details);
        grpc_metadata_array_init(&md);
        grpc_server_request_call(srv.server, &call, &details, &md, srv.cq, srv.cq, TAG_CALL);
        grpc_event ev = wait_tag(TAG_CALL);
        if (ev.type == GRPC_OP_COMPLETE && ev.success && call) {
            char method[128];
            snprintf(method, sizeof method, "%.*s", (int)GRPC_SLICE_LENGTH(details.method),
                     (const char *)GRPC_SLICE_START_PTR(details.method));
            answer(call, method);
            grpc_call_unref(call);
        }
        grpc_call_details_destroy(&details);
        grpc_metadata_array_destroy(&md);
        if (ev.type != GRPC_OP_COMPLETE || !ev.success)
            break;
    }
    return NULL;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 65536);
    if (f && buf)
        (void)!fread(buf, 1, 65535, f);
    if (f)
        fclose(f);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    grpc_init();
    srv.server = grpc_server_create(NULL, NULL);
    srv.cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv.server, srv.cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    srv.port = grpc_server_add_http2_port(srv.server, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    if (srv.port <= 0)
        return -1;
    /* The same server on a second, TLS port, with a certificate made now. */
    snprintf(srv.dir, sizeof srv.dir, "/tmp/picket-grpc-XXXXXX");
    if (!mkdtemp(srv.dir))
        return -1;
    char cmd[512], key[128];
    snprintf(srv.cert, sizeof srv.cert, "%s/cert.pem", srv.dir);
    snprintf(key, sizeof key, "%s/key.pem", srv.dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 30 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
             key, srv.cert);
    if (system(cmd) != 0)
        return -1;
    char *cert_pem = slurp(srv.cert), *key_pem = slurp(key);
    grpc_ssl_pem_key_cert_pair pair = {key_pem, cert_pem};
    grpc_server_credentials *tls = grpc_ssl_server_credentials_create(NULL, &pair, 1, 0, NULL);
    srv.tls_port = grpc_server_add_http2_port(srv.server, "127.0.0.1:0", tls);
    grpc_server_credentials_release(tls);
    free(cert_pem);
    free(key_pem);
    if (srv.tls_port <= 0)
        return -1;
    grpc_server_start(srv.server);
    srv.stop = 0;
    srv.shutdown_seen = 0;
    pthread_create(&srv.thread, NULL, serve, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    srv.stop = 1;
    grpc_server_shutdown_and_notify(srv.server, srv.cq, TAG_SHUTDOWN);
    grpc_server_cancel_all_calls(srv.server);
    pthread_join(srv.thread, NULL); /* its pending request_call fails now */
    while (!srv.shutdown_seen) {
        grpc_event ev = grpc_completion_queue_next(srv.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type != GRPC_OP_COMPLETE || ev.tag == TAG_SHUTDOWN)
            break;
    }
    grpc_server_destroy(srv.server);
    grpc_completion_queue_shutdown(srv.cq);
    while (grpc_completion_queue_next(srv.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(srv.cq);
    grpc_shutdown();
    snprintf(srv.cert, sizeof srv.cert, "rm -rf '%s'", srv.dir);
    return system(srv.cert) == 0 ? 0 : -1;
}

static struct pk_result last;

static void on_result(const struct pk_result *r, void *user)
{
    (void)user;
    last = *r;
}

static void run_grpc_tls(const char *target, const char *service, int64_t timeout_ms, int tls, const char *ca_file)
{
    struct pk_check c;
    memset(&c, 0, sizeof c);
    c.name = "grpc-check";
    c.type = "grpc";
    c.file = "test.yaml";
    c.interval_ms = 60000;
    c.timeout_ms = timeout_ms;
    c.u.grpc.target = (char *)target;
    c.u.grpc.service = (char *)service;
    c.u.grpc.tls = tls;
    c.u.grpc.ca_file = (char *)ca_file;
    struct pk_checkset set = {&c, 1, NULL, 0};
    char err[256];
    memset(&last, 0, sizeof last);
    struct runner *r = runner_new(&set, on_result, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(runner_run_once(r), 0);
    runner_free(r);
}

static void run_grpc(const char *target, const char *service, int64_t timeout_ms)
{
    run_grpc_tls(target, service, timeout_ms, 0, NULL);
}

static const char *target(void)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "127.0.0.1:%d", srv.port);
    return buf;
}

static void serving(void **state)
{
    (void)state;
    run_grpc(target(), "up", 3000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    assert_string_equal(last.message, "");
    assert_string_equal(last.check_type, "grpc");
    assert_true(last.total_us > 0);
    run_grpc(target(), "", 3000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
}

static void not_serving(void **state)
{
    (void)state;
    run_grpc(target(), "down", 3000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_ASSERTION);
    assert_string_equal(last.message, "service 'down' is NOT_SERVING");
    run_grpc(target(), "limbo", 3000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_string_equal(last.message, "service 'limbo' is SERVICE_UNKNOWN");
}

static void unknown_service(void **state)
{
    (void)state;
    run_grpc(target(), "nope", 3000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_ASSERTION);
    char want[128];
    snprintf(want, sizeof want, "service 'nope' is unknown to %s", target());
    assert_string_equal(last.message, want);
}

static void slow_times_out(void **state)
{
    (void)state;
    int64_t t0 = pk_mono_us();
    run_grpc(target(), "slow", 300);
    int64_t took = pk_mono_us() - t0;
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_TIMEOUT);
    char want[128];
    snprintf(want, sizeof want, "no health answer from %s within 300 ms", target());
    assert_string_equal(last.message, want);
    assert_true(took < 900000);
}

static void refused(void **state)
{
    (void)state;
    char closed[64];
    snprintf(closed, sizeof closed, "127.0.0.1:%d", lb_closed_port());
    run_grpc(closed, "up", 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_CONNECT);
    assert_non_null(strstr(last.message, closed));
}

static void over_tls(void **state)
{
    (void)state;
    char tls_target[64];
    snprintf(tls_target, sizeof tls_target, "127.0.0.1:%d", srv.tls_port);
    run_grpc_tls(tls_target, "down", 3000, 1, srv.cert);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_string_equal(last.message, "service 'down' is NOT_SERVING");
    run_grpc_tls(tls_target, "up", 3000, 1, srv.cert);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    /* Default roots do not trust a self-signed certificate. */
    run_grpc_tls(tls_target, "up", 3000, 1, NULL);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_CONNECT);
    /* Plaintext against the TLS port fails too. */
    run_grpc(tls_target, "up", 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
}

static void missing_target(void **state)
{
    (void)state;
    struct pk_check c;
    memset(&c, 0, sizeof c);
    c.name = "grpc-bad";
    c.type = "grpc";
    c.file = "t.yaml";
    c.line = 2;
    c.interval_ms = 1000;
    struct pk_checkset set = {&c, 1, NULL, 0};
    char err[256];
    assert_null(runner_new(&set, on_result, NULL, err, sizeof err));
    assert_string_equal(err, "t.yaml:2: check 'grpc-bad' needs a target (host:port)");
    c.u.grpc.target = "127.0.0.1:1";
    c.u.grpc.tls = 1;
    c.u.grpc.ca_file = "/nonexistent/ca.pem";
    assert_null(runner_new(&set, on_result, NULL, err, sizeof err));
    assert_string_equal(err, "t.yaml:2: check 'grpc-bad': cannot read ca_file /nonexistent/ca.pem: No such file or "
                             "directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serving),        cmocka_unit_test(not_serving), cmocka_unit_test(unknown_service),
        cmocka_unit_test(slow_times_out), cmocka_unit_test(refused),     cmocka_unit_test(over_tls),
        cmocka_unit_test(missing_target),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
