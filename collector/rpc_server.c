/* rpc_server.c: gRPC C core server for ProbeService, QueryService, AdminService
 * and Health: the completion-queue loop, the life of unary calls and Connect
 * streams, and dispatch through one method table. The completion-queue thread
 * never touches PostgreSQL: decoded batches go to ingest's bounded writer queues
 * and short database work to its control thread. Those threads answer by
 * starting batches on the call themselves (grpc_call_start_batch is
 * thread-safe), under the call's mutex so that only one send is ever in flight;
 * completions come back to this thread. What each method does lives in
 * rpc_probe.c, rpc_admin.c, rpc_query_service.c and rpc_health.c; who may call
 * it in rpc_auth.c (rpc_int.h lists the family). */
#include "rpc_server.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_gate.h"
#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "pb_arena.h"
#include "rpc_int.h"
#include "tls_buffers.h"
#include "wire.h"

/* A call waiting to be accepted. */
struct acceptor {
    struct tag tag;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array metadata;
};

#define M_REGISTER_PATH "/picket.v1.ProbeService/Register"
#define M_CONNECT_PATH "/picket.v1.ProbeService/Connect"
#define M_STATUS_PATH "/picket.v1.QueryService/Status"
#define M_AVAILABILITY_PATH "/picket.v1.QueryService/Availability"
#define M_LATENCY_PATH "/picket.v1.QueryService/Latency"
#define M_TREND_PATH "/picket.v1.QueryService/Trend"
#define M_INCIDENTS_PATH "/picket.v1.QueryService/Incidents"
#define M_SLO_PATH "/picket.v1.QueryService/Slo"
#define M_REPORT_PATH "/picket.v1.QueryService/Report"
#define M_REGRESSIONS_PATH "/picket.v1.QueryService/Regressions"
#define M_SLO_BACKTEST_PATH "/picket.v1.QueryService/SloBacktest"
#define M_HEALTH_PATH "/grpc.health.v1.Health/Check"
#define M_ADD_PROBE_PATH "/picket.v1.AdminService/AddProbe"
#define M_REVOKE_PATH "/picket.v1.AdminService/RevokeCredential"
#define M_APPLY_PATH "/picket.v1.AdminService/ApplyChecks"
#define M_DIFF_PATH "/picket.v1.AdminService/DiffChecks"
#define M_MAINT_ADD_PATH "/picket.v1.AdminService/AddMaintenance"
#define M_MAINT_LIST_PATH "/picket.v1.AdminService/ListMaintenance"
#define M_MAINT_END_PATH "/picket.v1.AdminService/EndMaintenance"

/* ------------------------------------------------------------ helpers */

static grpc_byte_buffer *buffer_from(const uint8_t *data, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg)
{
    uint8_t *buf;
    size_t len;
    if (wire_pack(msg, &buf, &len) < 0)
        return NULL;
    grpc_byte_buffer *bb = buffer_from(buf, len);
    free(buf);
    return bb;
}

/* allocator NULL: malloc (free with protobuf_c_message_free_unpacked). */
static ProtobufCMessage *unpack_with(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb,
                                     ProtobufCAllocator *allocator)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return NULL;
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(desc, allocator, GRPC_SLICE_LENGTH(slice), GRPC_SLICE_START_PTR(slice));
    grpc_slice_unref(slice);
    return msg;
}

ProtobufCMessage *rpc_unpack_message(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb)
{
    return unpack_with(desc, bb, NULL);
}

/* Stream messages (result batches above all) unpack into this thread's arena,
 * forgotten at once after they are handled (common/pb_arena.h); without one
 * (out of memory) they are malloc'd as usual. */
static _Thread_local struct pb_arena *recv_arena;

static int method_is(const grpc_call_details *d, const char *path)
{
    size_t n = strlen(path);
    return GRPC_SLICE_LENGTH(d->method) == n && memcmp(GRPC_SLICE_START_PTR(d->method), path, n) == 0;
}

static void request_next_call(struct server *srv)
{
    struct acceptor *a = calloc(1, sizeof *a);
    a->tag.kind = TAG_NEW_CALL;
    a->tag.owner = a;
    grpc_call_details_init(&a->details);
    grpc_metadata_array_init(&a->metadata);
    grpc_call_error e = grpc_server_request_call(srv->server, &a->call, &a->details, &a->metadata, srv->cq, srv->cq,
                                                 &a->tag);
    if (e != GRPC_CALL_OK) {
        PK_ERROR("rpc", "request_call failed", "code=%d", (int)e);
        grpc_call_details_destroy(&a->details);
        grpc_metadata_array_destroy(&a->metadata);
        free(a);
    }
}

/* ------------------------------------------------------------ unary calls */

static void unary_free(struct unary *u)
{
    if (u->request)
        grpc_byte_buffer_destroy(u->request);
    if (u->response)
        grpc_byte_buffer_destroy(u->response);
    grpc_metadata_array_destroy(&u->trailing);
    grpc_slice_unref(u->status_details);
    if (u->job_data)
        protobuf_c_message_free_unpacked(u->job_data, NULL);
    grpc_call_unref(u->call);
    free(u);
}

void rpc_unary_reply(struct unary *u, grpc_status_code code, const char *details, const ProtobufCMessage *resp)
{
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (resp && code == GRPC_STATUS_OK) {
        u->response = pack_message(resp);
        if (!u->response) {
            code = GRPC_STATUS_INTERNAL;
            details = "could not encode the answer";
        } else {
            ops[n].op = GRPC_OP_SEND_MESSAGE;
            ops[n].data.send_message.send_message = u->response;
            n++;
        }
    }
    u->status_details = grpc_slice_from_copied_string(details ? details : "");
    rpc_stat_status(code);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n].data.send_status_from_server.status_details = &u->status_details;
    ops[n].data.send_status_from_server.trailing_metadata_count = 0;
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &u->close_cancelled;
    n++;
    u->done_tag.kind = TAG_UNARY_DONE;
    u->done_tag.owner = u;
    grpc_call_error e = grpc_call_start_batch(u->call, ops, n, &u->done_tag, NULL);
    if (e != GRPC_CALL_OK) {
        PK_ERROR("rpc", "could not send unary answer", "code=%d", (int)e);
        unary_free(u);
    }
}

/* The on_request of most methods: unpacks u->request as u->method->request into
 * u->job_data and queues u->method->job, or answers the call (malformed request,
 * collector busy). */
static void unary_decode_and_queue(struct unary *u)
{
    ProtobufCMessage *req = rpc_unpack_message(u->method->request, u->request);
    if (!req) {
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, u->method->malformed, NULL);
        return;
    }
    u->job_data = req;
    if (u->method->counts_as_query)
        rpc_stat_add(RPC_STAT_QUERIES, 1);
    if (ingest_job(u->srv->ingest, u->method->job, u) < 0)
        rpc_unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "collector busy", NULL);
}

static void unary_on_request(struct unary *u, int success)
{
    if (!success || !u->request) {
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "no request message", NULL);
        return;
    }
    u->method->on_request(u);
}

/* A call's deadline on the wall clock in microseconds; 0 when it has none. */
static int64_t deadline_wall_us(gpr_timespec t)
{
    if (gpr_time_cmp(t, gpr_inf_future(t.clock_type)) == 0)
        return 0;
    t = gpr_convert_clock_type(t, GPR_CLOCK_REALTIME);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void unary_start(struct server *srv, grpc_call *call, const struct rpc_method *method,
                        const struct call_auth *auth, gpr_timespec deadline)
{
    struct unary *u = calloc(1, sizeof *u);
    if (!u) {
        grpc_call_cancel_with_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        grpc_call_unref(call);
        return;
    }
    u->deadline_us = deadline_wall_us(deadline);
    u->srv = srv;
    u->call = call;
    u->method = method;
    u->auth = *auth;
    u->status_details = grpc_empty_slice();
    grpc_metadata_array_init(&u->trailing);
    u->recv_tag.kind = TAG_UNARY_RECV;
    u->recv_tag.owner = u;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &u->request;
    if (grpc_call_start_batch(call, ops, 2, &u->recv_tag, NULL) != GRPC_CALL_OK)
        unary_free(u);
}

/* ------------------------------------------------------------ streams */

static void stream_free(struct stream *s)
{
    struct server *srv = s->srv;
    /* Lock order is streams_mu, then a stream's mu (streams_snapshot). With no
     * references left, only a snapshot can still reach s, and it skips refs == 0. */
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&srv->streams_mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&srv->streams_mu);
    atomic_fetch_sub(&srv->n_streams, 1);
    rpc_stat_streams_open(-1);
    for (struct outmsg *m = s->out_head, *next; m; m = next) {
        next = m->next;
        grpc_byte_buffer_destroy(m->buf);
        free(m);
    }
    if (s->recv_buf)
        grpc_byte_buffer_destroy(s->recv_buf);
    if (s->send_buf)
        grpc_byte_buffer_destroy(s->send_buf);
    grpc_slice_unref(s->status_details);
    grpc_metadata_array_destroy(&s->trailing);
    grpc_call_unref(s->call);
    free(s->checks);
    free(s->check_next);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void rpc_stream_unref_unlock(struct stream *s)
{
    if (--s->refs == 0)
        stream_free(s); /* unlocks first */
    else
        pthread_mutex_unlock(&s->mu);
}

void rpc_stream_unref(struct stream *s)
{
    pthread_mutex_lock(&s->mu);
    rpc_stream_unref_unlock(s);
}

/* Starts the next queued send if none is in flight. Call with s->mu held. */
static void stream_kick_send(struct stream *s)
{
    if (s->send_inflight || !s->out_head || s->status_sent)
        return;
    struct outmsg *m = s->out_head;
    s->out_head = m->next;
    if (!s->out_head)
        s->out_tail = NULL;
    s->send_buf = m->buf;
    free(m);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = s->send_buf;
    s->send_inflight = 1;
    s->refs++;
    if (grpc_call_start_batch(s->call, &op, 1, &s->send_tag, NULL) != GRPC_CALL_OK) {
        s->send_inflight = 0;
        s->refs--;
        grpc_byte_buffer_destroy(s->send_buf);
        s->send_buf = NULL;
    }
}

void rpc_stream_queue_send(struct stream *s, const ProtobufCMessage *msg)
{
    grpc_byte_buffer *bb = pack_message(msg);
    if (!bb)
        return;
    struct outmsg *m = calloc(1, sizeof *m);
    if (!m) {
        grpc_byte_buffer_destroy(bb);
        return;
    }
    m->buf = bb;
    if (s->out_tail)
        s->out_tail->next = m;
    else
        s->out_head = m;
    s->out_tail = m;
    stream_kick_send(s);
}

void rpc_stream_maybe_finish(struct stream *s)
{
    if (!s->finished || s->status_sent || s->inflight_batches || s->send_inflight || s->out_head || s->recv_pending)
        return;
    s->status_sent = 1;
    s->status_details = grpc_slice_from_static_string("");
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op.data.send_status_from_server.status = GRPC_STATUS_OK;
    op.data.send_status_from_server.status_details = &s->status_details;
    s->refs++;
    if (grpc_call_start_batch(s->call, &op, 1, &s->status_tag, NULL) != GRPC_CALL_OK)
        s->refs--;
}

void rpc_stream_abort(struct stream *s, grpc_status_code code, const char *why)
{
    char q[600], qp[300];
    PK_WARN("rpc", "stream closed by collector", "probe=%s probe_id=%lld code=%d reason=%s",
            pk_log_q(qp, sizeof qp, s->probe_name[0] ? s->probe_name : "?"), (long long)s->probe_id, (int)code,
            pk_log_q(q, sizeof q, why));
    s->finished = 1;
    s->status_sent = 1;
    rpc_stat_add(RPC_STAT_REJECTED, 1);
    rpc_stat_status(code);
    grpc_call_cancel_with_status(s->call, code, why, NULL);
}

void rpc_stream_post_recv(struct stream *s)
{
    if (s->recv_pending || s->finished)
        return;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv_buf;
    s->recv_pending = 1;
    s->refs++;
    if (grpc_call_start_batch(s->call, &op, 1, &s->recv_tag, NULL) != GRPC_CALL_OK) {
        s->recv_pending = 0;
        s->refs--;
        s->finished = 1;
    }
}

static void stream_on_recv(struct stream *s, int success)
{
    pthread_mutex_lock(&s->mu);
    s->recv_pending = 0;
    grpc_byte_buffer *bb = s->recv_buf;
    s->recv_buf = NULL;
    s->last_recv_mono_us = pk_mono_us();
    if (!success || !bb) {
        /* Half-close or broken call: stop reading, finish once pending acks are out. */
        s->finished = 1;
    } else if (!s->finished) {
        if (!recv_arena)
            recv_arena = pb_arena_new();
        Picket__V1__ProbeMessage *msg = (Picket__V1__ProbeMessage *)unpack_with(
            &picket__v1__probe_message__descriptor, bb, recv_arena ? pb_arena_allocator(recv_arena) : NULL);
        if (!msg) {
            char why[200];
            snprintf(why, sizeof why, "malformed ProbeMessage (%zu bytes): not a picket.v1.ProbeMessage",
                     grpc_byte_buffer_length(bb));
            rpc_stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, why);
        }
        else {
            rpc_probe_on_message(s, msg);
            if (!recv_arena)
                protobuf_c_message_free_unpacked(&msg->base, NULL);
        }
        if (recv_arena)
            pb_arena_reset(recv_arena); /* the message (or what a failed unpack left) */
    }
    if (bb)
        grpc_byte_buffer_destroy(bb);
    rpc_stream_maybe_finish(s);
    rpc_stream_unref_unlock(s);
}

/* A send completed: start the next one. */
static void stream_on_sent(struct stream *s, int success)
{
    pthread_mutex_lock(&s->mu);
    s->send_inflight = 0;
    if (s->send_buf) {
        grpc_byte_buffer_destroy(s->send_buf);
        s->send_buf = NULL;
    }
    if (!success)
        s->finished = 1;
    else
        stream_kick_send(s);
    rpc_stream_maybe_finish(s);
    rpc_stream_unref_unlock(s);
}

/* The call is over (the probe went away, or the status went out). */
static void stream_on_close(struct stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->finished = 1;
    s->status_sent = 1; /* the call is over: nothing more can be sent */
    if (s->probe_id) {
        char qp[300];
        PK_INFO("rpc", "probe stream closed", "probe=%s probe_id=%lld cancelled=%d",
                pk_log_q(qp, sizeof qp, s->probe_name), (long long)s->probe_id, s->close_cancelled);
    }
    rpc_stream_unref_unlock(s);
}

static void stream_start(struct server *srv, grpc_call *call, const struct call_auth *auth)
{
    struct stream *s = calloc(1, sizeof *s);
    s->srv = srv;
    s->call = call;
    s->auth = *auth;
    pthread_mutex_init(&s->mu, NULL);
    s->recv_tag = (struct tag){TAG_STREAM_RECV, s};
    s->send_tag = (struct tag){TAG_STREAM_SEND, s};
    s->close_tag = (struct tag){TAG_STREAM_CLOSE, s};
    s->status_tag = (struct tag){TAG_STREAM_STATUS, s};
    s->status_details = grpc_empty_slice();
    grpc_metadata_array_init(&s->trailing);
    s->refs = 1; /* held until this function returns */
    s->opened_mono_us = s->last_recv_mono_us = pk_mono_us();
    pthread_mutex_lock(&srv->streams_mu);
    s->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = s;
    srv->streams = s;
    pthread_mutex_unlock(&srv->streams_mu);
    atomic_fetch_add(&srv->n_streams, 1);
    rpc_stat_streams_open(1);
    rpc_stat_add(RPC_STAT_STREAMS_TOTAL, 1);

    pthread_mutex_lock(&s->mu);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[0].data.recv_close_on_server.cancelled = &s->close_cancelled;
    s->refs++;
    if (grpc_call_start_batch(call, ops, 1, &s->close_tag, NULL) != GRPC_CALL_OK)
        s->refs--;
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &s->recv_buf;
    s->recv_pending = 1;
    s->refs++;
    if (grpc_call_start_batch(call, ops, 2, &s->recv_tag, NULL) != GRPC_CALL_OK) {
        s->recv_pending = 0;
        s->refs--;
        s->finished = 1;
    }
    rpc_stream_unref_unlock(s);
}

/* ------------------------------------------------------------ deadlines */

/* Cuts off streams that never said Hello, and streams silent for three heartbeat
 * intervals while we were reading them (a paused stream's silence is ours). Runs
 * on the completion-queue thread. Lock order elsewhere is s->mu then streams_mu,
 * so a stream whose mutex is busy is simply looked at on the next sweep. */
static void sweep_deadlines(struct server *srv)
{
    int64_t now = pk_mono_us();
    int64_t hello_us = (int64_t)srv->hello_timeout_ms * 1000, silent_us = (int64_t)srv->heartbeat_ms * 3000;
    pthread_mutex_lock(&srv->streams_mu);
    for (struct stream *s = srv->streams; s; s = s->next) {
        if (pthread_mutex_trylock(&s->mu) != 0)
            continue;
        char why[200];
        if (s->checks_loading) {
            /* reads are stopped while its checks load: the silence is ours */
        } else if (!s->finished && !s->paused && !s->probe_id && now - s->opened_mono_us > hello_us) {
            snprintf(why, sizeof why, "no Hello within %d ms of opening the stream", srv->hello_timeout_ms);
            rpc_stream_abort(s, GRPC_STATUS_DEADLINE_EXCEEDED, why);
        } else if (!s->finished && !s->paused && s->probe_id && now - s->last_recv_mono_us > silent_us) {
            snprintf(why, sizeof why, "stream silent for %lld ms (over 3 heartbeat intervals of %d ms)",
                     (long long)((now - s->last_recv_mono_us) / 1000), srv->heartbeat_ms);
            rpc_stream_abort(s, GRPC_STATUS_DEADLINE_EXCEEDED, why);
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&srv->streams_mu);
}

/* ------------------------------------------------------------ the loop */

/* Every method the collector serves: who may call it and what answers it. */
static const struct rpc_method methods[] = {
    {.path = M_CONNECT_PATH, .stream = 1, .need = NEED_PROBE},
    {.path = M_REGISTER_PATH, .need = NEED_PROBE, .on_request = rpc_probe_register_on_request},
    {.path = M_STATUS_PATH,
     .need = NEED_READ,
     .on_request = unary_decode_and_queue,
     .request = &picket__v1__status_request__descriptor,
     .malformed = "malformed StatusRequest",
     .job = rpc_status_job,
     .counts_as_query = 1},
    {.path = M_HEALTH_PATH,
     .need = NEED_NOTHING,
     .on_request = rpc_health_on_request,
     .request = &grpc__health__v1__health_check_request__descriptor,
     .malformed = "malformed HealthCheckRequest"},
/* The admin calls: a writer's unary request, answered on the control thread. */
#define ADMIN_METHOD(p, type, malformed_, job_)                                                                       \
    {.path = (p),                                                                                                    \
     .need = NEED_WRITE,                                                                                             \
     .on_request = unary_decode_and_queue,                                                                           \
     .request = &(type),                                                                                             \
     .malformed = (malformed_),                                                                                      \
     .job = (job_)}
    ADMIN_METHOD(M_ADD_PROBE_PATH, picket__v1__add_probe_request__descriptor, "malformed AddProbeRequest",
                 rpc_admin_add_probe_job),
    ADMIN_METHOD(M_REVOKE_PATH, picket__v1__revoke_credential_request__descriptor,
                 "malformed RevokeCredentialRequest", rpc_admin_revoke_job),
    ADMIN_METHOD(M_APPLY_PATH, picket__v1__apply_checks_request__descriptor, "malformed request",
                 rpc_admin_apply_job),
    ADMIN_METHOD(M_DIFF_PATH, picket__v1__diff_checks_request__descriptor, "malformed request", rpc_admin_diff_job),
    ADMIN_METHOD(M_MAINT_ADD_PATH, picket__v1__add_maintenance_request__descriptor, "malformed request",
                 rpc_maint_add_job),
    ADMIN_METHOD(M_MAINT_END_PATH, picket__v1__end_maintenance_request__descriptor, "malformed request",
                 rpc_maint_end_job),
    {.path = M_MAINT_LIST_PATH,
     .need = NEED_READ,
     .on_request = unary_decode_and_queue,
     .request = &picket__v1__list_maintenance_request__descriptor,
     .malformed = "malformed request",
     .job = rpc_maint_list_job},
#undef ADMIN_METHOD
/* The analytics calls: rpc_query.c computes each kind from rollups. */
#define QUERY_METHOD(p, kind, type)                                                                                  \
    {.path = (p),                                                                                                    \
     .need = NEED_READ,                                                                                              \
     .on_request = unary_decode_and_queue,                                                                       \
     .request = &(type),                                                                                             \
     .malformed = "malformed query request",                                                                         \
     .job = rpc_query_job,                                                                                           \
     .counts_as_query = 1,                                                                                           \
     .query = (kind)}
    QUERY_METHOD(M_AVAILABILITY_PATH, RQ_AVAILABILITY, picket__v1__availability_request__descriptor),
    QUERY_METHOD(M_LATENCY_PATH, RQ_LATENCY, picket__v1__latency_request__descriptor),
    QUERY_METHOD(M_TREND_PATH, RQ_TREND, picket__v1__trend_request__descriptor),
    QUERY_METHOD(M_INCIDENTS_PATH, RQ_INCIDENTS, picket__v1__incidents_request__descriptor),
    QUERY_METHOD(M_SLO_PATH, RQ_SLO, picket__v1__slo_request__descriptor),
    QUERY_METHOD(M_REPORT_PATH, RQ_REPORT, picket__v1__report_request__descriptor),
    QUERY_METHOD(M_REGRESSIONS_PATH, RQ_REGRESSIONS, picket__v1__regressions_request__descriptor),
    QUERY_METHOD(M_SLO_BACKTEST_PATH, RQ_SLO_BACKTEST, picket__v1__slo_backtest_request__descriptor),
#undef QUERY_METHOD
};

static const struct rpc_method *method_find(const grpc_call_details *d)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (method_is(d, methods[i].path))
            return &methods[i];
    return NULL;
}

static void on_new_call(struct server *srv, struct acceptor *a, int success)
{
    if (success && a->call) {
        const struct rpc_method *m = method_find(&a->details);
        struct call_auth auth;
        memset(&auth, 0, sizeof auth);
        char why[400];
        grpc_status_code refuse;
        if (!m) {
            refuse = GRPC_STATUS_UNIMPLEMENTED;
            snprintf(why, sizeof why, "unknown method");
        } else
            refuse = rpc_auth_admit_call(srv, m, a->call, &a->metadata, &auth, why, sizeof why);
        if (refuse != GRPC_STATUS_OK) {
            rpc_stat_status(refuse);
            grpc_call_cancel_with_status(a->call, refuse, why, NULL);
            grpc_call_unref(a->call);
        } else if (m->stream)
            stream_start(srv, a->call, &auth);
        else
            unary_start(srv, a->call, m, &auth, a->details.deadline);
    }
    grpc_call_details_destroy(&a->details);
    grpc_metadata_array_destroy(&a->metadata);
    free(a);
}

static void dispatch(struct server *srv, struct tag *tag, int success, int shutting_down)
{
    switch (tag->kind) {
    case TAG_NEW_CALL:
        if (!shutting_down && success)
            request_next_call(srv);
        on_new_call(srv, tag->owner, success);
        break;
    case TAG_UNARY_RECV:
        unary_on_request(tag->owner, success);
        break;
    case TAG_UNARY_DONE:
        unary_free(tag->owner);
        break;
    case TAG_STREAM_RECV:
        stream_on_recv(tag->owner, success);
        break;
    case TAG_STREAM_SEND:
        stream_on_sent(tag->owner, success);
        break;
    case TAG_STREAM_CLOSE:
        stream_on_close(tag->owner);
        break;
    case TAG_STREAM_STATUS:
        rpc_stream_unref(tag->owner);
        break;
    case TAG_SHUTDOWN:
        break;
    }
}

void rpc_server_library_init(void)
{
    grpc_init();
}

void rpc_server_library_shutdown(void)
{
    grpc_shutdown();
}

/* Creates the server and its completion queue and binds cfg->listen with TLS
 * (or plaintext). 0, or -1 with err and nothing left behind. */
static int server_listen(struct server *srv, const struct rpc_server_config *cfg, char *err, size_t errlen)
{
    /* Connection limits (all honoured by gRPC core 1.51): the TLS handshake and
     * the client's first HTTP/2 SETTINGS within the handshake deadline; a
     * connection without a call for the idle time is closed (GOAWAY, then
     * closed since nothing is open); an optional maximum age with a grace for
     * calls in flight. Counts per address and in total: conn_gate.c. */
    int handshake_ms = cfg->handshake_timeout_ms > 0 ? cfg->handshake_timeout_ms : 10000;
    int idle_ms = cfg->idle_timeout_ms > 0 ? cfg->idle_timeout_ms : 30000;
    struct {
        const char *key;
        int value;
    } ints[] = {
        {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, PK_WIRE_MAX_MESSAGE},
        {GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, PK_WIRE_MAX_MESSAGE},
        {GRPC_ARG_ALLOW_REUSEPORT, 0}, /* two collectors must never share a port silently */
        {GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0},
        {GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, handshake_ms},
        {GRPC_ARG_MAX_CONNECTION_IDLE_MS, idle_ms},
        {GRPC_ARG_MAX_CONNECTION_AGE_MS, cfg->max_age_ms > 0 ? cfg->max_age_ms : INT32_MAX},
        {GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, cfg->max_age_ms > 0 ? 30000 : INT32_MAX},
        /* Per-connection buffers kept small (tls_buffers.h): TLS records of
         * at most 1 kB (the frame protector keeps one frame's buffer per
         * connection, 16 kB by default, and the ring towards the socket need
         * hold only two records); TCP reads sized by what the connection has
         * been reading, at most 4 kB (gRPC otherwise reads into 8 kB slices
         * and keeps the unused rest of the last one for the next read, idle
         * or not). Probes send small messages; a large one takes more reads. */
        {GRPC_ARG_TSI_MAX_FRAME_SIZE, TLS_BUFFERS_FRAME},
        {GRPC_ARG_TCP_READ_CHUNK_SIZE, TLS_BUFFERS_READ_FIRST},
        {GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, TLS_BUFFERS_READ_MAX},
    };
    enum { N_ARGS = sizeof ints / sizeof ints[0] };
    grpc_arg args[N_ARGS];
    memset(args, 0, sizeof args);
    for (size_t i = 0; i < N_ARGS; i++) {
        args[i].type = GRPC_ARG_INTEGER;
        args[i].key = (char *)ints[i].key;
        args[i].value.integer = ints[i].value;
    }
    grpc_channel_args channel_args = {N_ARGS, args};

    srv->cq = grpc_completion_queue_create_for_next(NULL);
    srv->server = grpc_server_create(&channel_args, NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    srv->plaintext = cfg->insecure_plaintext;
    grpc_server_credentials *creds;
    if (cfg->insecure_plaintext)
        creds = grpc_insecure_server_credentials_create();
    else {
        /* A client certificate, when presented, must chain to the CA; a client
         * without one must bring a bearer token (checked per call). */
        grpc_ssl_pem_key_cert_pair pair = {cfg->tls_key_pem, cfg->tls_cert_pem};
        creds = grpc_ssl_server_credentials_create_ex(cfg->tls_ca_pem, &pair, 1,
                                                      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
    }
    int port = grpc_server_add_http2_port(srv->server, cfg->listen, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        snprintf(err, errlen, "cannot listen on %s (address in use or invalid)", cfg->listen);
        grpc_server_destroy(srv->server);
        grpc_completion_queue_shutdown(srv->cq);
        while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(srv->cq);
        return -1;
    }
    struct conn_gate_limits gl = {cfg->max_connections, cfg->max_connections_per_peer};
    if (conn_gate_arm(port, &gl) < 0)
        PK_WARN("rpc", "connection gate without its sweep thread", "port=%d", port);
    return 0;
}

int rpc_server_run(const struct rpc_server_config *cfg, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    struct server srv;
    memset(&srv, 0, sizeof srv);
    srv.ingest = cfg->ingest;
    srv.max_inflight = cfg->max_inflight_per_stream > 0 ? cfg->max_inflight_per_stream : 4;
    srv.heartbeat_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : 10000;
    srv.hello_timeout_ms = cfg->hello_timeout_ms > 0 ? cfg->hello_timeout_ms : 10000;
    srv.max_skew_us = (int64_t)(cfg->max_clock_skew_ms > 0 ? cfg->max_clock_skew_ms : 300000) * 1000;
    srv.skip_result_validation = cfg->skip_result_validation;
    if (cfg->deny_certificates && !cfg->insecure_plaintext &&
        !(srv.deny = cert_deny_open(cfg->deny_certificates, err, errlen)))
        return -1;
    pthread_mutex_init(&srv.streams_mu, NULL);
    atomic_init(&srv.n_streams, 0);

    if (server_listen(&srv, cfg, err, errlen) < 0) {
        pthread_mutex_destroy(&srv.streams_mu);
        cert_deny_close(srv.deny);
        return -1;
    }
    grpc_server_start(srv.server);
    for (int i = 0; i < 8; i++)
        request_next_call(&srv);
    PK_INFO("rpc", "listening", "address=%s tls=%s", cfg->listen, cfg->insecure_plaintext ? "off" : "on");

    struct tag shutdown_tag = {TAG_SHUTDOWN, NULL};
    int shutting_down = 0, shutdown_done = 0;
    int64_t last_sweep = pk_mono_us();
    int64_t next_version_poll = pk_mono_us();
    atomic_init(&srv.version_poll_queued, 0);
    while (!shutdown_done) {
        if (!shutting_down && pk_mono_us() - last_sweep >= 200000) {
            last_sweep = pk_mono_us();
            sweep_deadlines(&srv);
        }
        /* Central assignment: one cheap "current version?" query about once a
         * second, never more than one queued; it pushes to every stream on a change. */
        if (!shutting_down && pk_mono_us() >= next_version_poll) {
            next_version_poll = pk_mono_us() + 1000000;
            if (!atomic_exchange(&srv.version_poll_queued, 1) &&
                ingest_job(cfg->ingest, rpc_probe_version_poll_job, &srv) < 0)
                atomic_store(&srv.version_poll_queued, 0);
        }
        if (*stop && !shutting_down) {
            shutting_down = 1;
            PK_INFO("rpc", "shutting down", "streams=%ld", atomic_load(&srv.n_streams));
            ingest_request_stop(cfg->ingest);
            grpc_server_shutdown_and_notify(srv.server, srv.cq, &shutdown_tag);
            grpc_server_cancel_all_calls(srv.server);
        }
        grpc_event ev = grpc_completion_queue_next(srv.cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                                         gpr_time_from_millis(200, GPR_TIMESPAN)),
                                                   NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            continue;
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        struct tag *tag = ev.tag;
        if (tag == &shutdown_tag) {
            shutdown_done = 1;
            continue;
        }
        dispatch(&srv, tag, ev.success, shutting_down);
    }
    /* Calls still alive wait on ingest callbacks; stop ingest so they complete. */
    ingest_stop(cfg->ingest);
    grpc_server_destroy(srv.server);
    grpc_completion_queue_shutdown(srv.cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(srv.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag != &shutdown_tag)
            dispatch(&srv, ev.tag, ev.success, 1);
    }
    grpc_completion_queue_destroy(srv.cq);
    pb_arena_free(recv_arena); /* this thread's: every message is handled */
    recv_arena = NULL;
    conn_gate_disarm();
    pthread_mutex_destroy(&srv.streams_mu);
    cert_deny_close(srv.deny);
    PK_INFO("rpc", "stopped", "%s", "");
    return 0;
}
