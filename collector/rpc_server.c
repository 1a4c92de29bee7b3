/* rpc_server.c: gRPC C core server for ProbeService, QueryService and Health.
 * One completion-queue thread owns the server loop and never touches PostgreSQL:
 * decoded batches go to ingest's bounded writer queues and short database work to
 * its control thread. Those threads answer by starting batches on the call
 * themselves (grpc_call_start_batch is thread-safe), under the call's mutex so that
 * only one send is ever in flight; completions come back to this thread. A stream
 * whose writer queue is full is simply not read until one of its batches commits,
 * so gRPC flow control slows the probe instead of the collector buffering.
 * Every call but Health is authenticated when it arrives (verified client
 * certificate CN, or a bearer token whose hash the control thread looks up) and
 * authorized per method; see docs/SECURITY.md. Tokens are never logged.
 * Central assignment: AdminService ApplyChecks/DiffChecks run on the control
 * thread; each probe stream is sent its CheckSet after Hello, and, through a poll
 * of the current version queued about once a second, whenever that changes. */
#include "rpc_server.h"

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

#include "auth.h"
#include "assign.h"
#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "rpc_query.h"
#include "wire.h"

enum tag_kind { TAG_NEW_CALL, TAG_UNARY_RECV, TAG_UNARY_DONE, TAG_STREAM_RECV, TAG_STREAM_SEND, TAG_STREAM_CLOSE,
                TAG_STREAM_STATUS, TAG_SHUTDOWN };

struct tag {
    enum tag_kind kind;
    void *owner;
};

struct server;

/* A call waiting to be accepted. */
struct acceptor {
    struct tag tag;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array metadata;
};

enum unary_method { M_REGISTER, M_STATUS, M_HEALTH, M_ADD_PROBE, M_REVOKE, M_APPLY, M_DIFF, M_QUERY };

/* Who a call comes from. Known at once for a certificate; for a bearer token only
 * the hash is known until a job on the control thread looks it up. */
struct call_auth {
    struct pk_identity who;                  /* role PK_ROLE_NONE while a token is unresolved */
    char token_hash[PK_TOKEN_HASH_HEX + 1]; /* "" unless the credential is a token */
    int64_t credential_id;                   /* the token's row, for logs */
};

struct unary {
    struct tag recv_tag, done_tag;
    struct server *srv;
    grpc_call *call;
    enum unary_method method;
    grpc_byte_buffer *request;
    grpc_byte_buffer *response;
    grpc_metadata_array trailing;
    grpc_slice status_details;
    int close_cancelled;
    void *job_data; /* decoded request, owned */
    enum rpc_query_kind query; /* M_QUERY: which analytics call */
    struct call_auth auth;
};

struct outmsg {
    struct outmsg *next;
    grpc_byte_buffer *buf;
};

struct stream {
    struct tag recv_tag, send_tag, close_tag, status_tag;
    struct server *srv;
    grpc_call *call;
    pthread_mutex_t mu;
    int refs;
    grpc_byte_buffer *recv_buf;
    grpc_byte_buffer *send_buf;
    struct outmsg *out_head, *out_tail;
    int send_inflight;
    int recv_pending;
    int inflight_batches;
    int paused;
    int finished;     /* no more reads: half-closed, errored or cancelled */
    int status_sent;
    int close_cancelled;
    int64_t probe_id;   /* set once Hello is accepted */
    char probe_name[128]; /* after Hello: the registered name of probe_id */
    int hello_pending;  /* a Hello is being checked on the control thread */
    struct call_auth auth;
    uint64_t last_seq;
    int64_t opened_mono_us;    /* for the Hello deadline */
    int64_t last_recv_mono_us; /* for the silence deadline; reset when a paused stream resumes */
    int skew_logged;           /* the probe's heartbeat clock is past the skew bound (logged once) */
    int64_t checks_version; /* what the probe runs (Hello, then its acks); 0 = local files */
    int64_t checks_sent;    /* the last version queued to it on this stream */
    struct stream *prev, *next; /* in srv->streams */
    grpc_slice status_details;
    grpc_metadata_array trailing;
};

struct server {
    grpc_server *server;
    grpc_completion_queue *cq;
    struct ingest *ingest;
    int max_inflight;
    int heartbeat_ms;
    int plaintext; /* --insecure-plaintext: every caller may do everything */
    int hello_timeout_ms;
    int64_t max_skew_us;
    pthread_mutex_t streams_mu;
    struct stream *streams;
    atomic_long n_streams;
    atomic_int version_poll_queued;
    int64_t last_polled_version; /* control thread only */
};

static atomic_long stat_streams_open;
static atomic_ullong stat_streams_total, stat_batches, stat_results, stat_rejected, stat_registers, stat_queries,
    stat_paused, stat_auth_denied;
/* Calls and streams the collector ended with a non-OK status, by gRPC code. */
static atomic_ullong stat_status[RPC_STATUS_CODES];

static void count_status(grpc_status_code code)
{
    if (code != GRPC_STATUS_OK && (int)code > 0 && (int)code < RPC_STATUS_CODES)
        atomic_fetch_add(&stat_status[code], 1);
}

void rpc_server_get_stats(struct rpc_server_stats *out)
{
    out->streams_open = atomic_load(&stat_streams_open);
    out->streams_total = atomic_load(&stat_streams_total);
    out->batches_received = atomic_load(&stat_batches);
    out->results_received = atomic_load(&stat_results);
    out->streams_rejected = atomic_load(&stat_rejected);
    out->registers = atomic_load(&stat_registers);
    out->queries = atomic_load(&stat_queries);
    out->paused_reads = atomic_load(&stat_paused);
    out->auth_denied = atomic_load(&stat_auth_denied);
    for (int i = 0; i < RPC_STATUS_CODES; i++)
        out->status_errors[i] = atomic_load(&stat_status[i]);
}

#define M_REGISTER_PATH "/picket.v1.ProbeService/Register"
#define M_CONNECT_PATH "/picket.v1.ProbeService/Connect"
#define M_STATUS_PATH "/picket.v1.QueryService/Status"
#define M_AVAILABILITY_PATH "/picket.v1.QueryService/Availability"
#define M_LATENCY_PATH "/picket.v1.QueryService/Latency"
#define M_TREND_PATH "/picket.v1.QueryService/Trend"
#define M_INCIDENTS_PATH "/picket.v1.QueryService/Incidents"
#define M_SLO_PATH "/picket.v1.QueryService/Slo"
#define M_REPORT_PATH "/picket.v1.QueryService/Report"
#define M_HEALTH_PATH "/grpc.health.v1.Health/Check"
#define M_ADD_PROBE_PATH "/picket.v1.AdminService/AddProbe"
#define M_REVOKE_PATH "/picket.v1.AdminService/RevokeCredential"

/* ------------------------------------------------------------ authentication */

/* What a method needs. */
enum need { NEED_NOTHING, NEED_PROBE, NEED_READ, NEED_WRITE };

static const char *need_name(enum need n)
{
    return n == NEED_PROBE ? "a probe credential" : n == NEED_READ ? "a read credential" : "a write credential";
}

/* Authenticates a new call from its certificate or its authorization metadata.
 * 0 with *auth filled (the identity, or a token hash to resolve later); -1 with
 * why when the call has no usable credential. CQ thread, no database. */
static int call_authenticate(struct server *srv, grpc_call *call, const grpc_metadata_array *md,
                             struct call_auth *auth, char *why, size_t whylen)
{
    memset(auth, 0, sizeof *auth);
    if (srv->plaintext) {
        auth->who.role = PK_ROLE_ANY;
        pk_strlcpy(auth->who.name, "plaintext", sizeof auth->who.name);
        return 0;
    }
    int rc = -1;
    grpc_auth_context *ctx = grpc_call_auth_context(call);
    if (ctx) {
        grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ctx, "x509_common_name");
        const grpc_auth_property *prop = grpc_auth_property_iterator_next(&it);
        if (prop) {
            /* The handshake verified this certificate against the CA already. */
            char cn[256];
            size_t n = prop->value_length < sizeof cn - 1 ? prop->value_length : sizeof cn - 1;
            memcpy(cn, prop->value, n);
            cn[n] = '\0';
            rc = pk_identity_from_cn(cn, &auth->who, why, whylen);
            grpc_auth_context_release(ctx);
            return rc;
        }
        grpc_auth_context_release(ctx);
    }
    for (size_t i = 0; i < md->count; i++) {
        const grpc_metadata *m = &md->metadata[i];
        if (GRPC_SLICE_LENGTH(m->key) != 13 || memcmp(GRPC_SLICE_START_PTR(m->key), "authorization", 13) != 0)
            continue;
        char token[PK_TOKEN_LEN + 8];
        if (pk_bearer_token((const char *)GRPC_SLICE_START_PTR(m->value), GRPC_SLICE_LENGTH(m->value), token,
                            sizeof token) < 0 ||
            pk_token_check_format(token) < 0) {
            snprintf(why, whylen, "malformed bearer token (expected authorization: Bearer %s...)", PK_TOKEN_PREFIX);
            return -1;
        }
        pk_token_hash_hex(token, auth->token_hash);
        memset(token, 0, sizeof token);
        return 0;
    }
    snprintf(why, whylen, "no credential: present a client certificate from the Picket CA or a bearer token");
    return -1;
}

/* 1 when the (resolved) identity may call a method that needs `need`. */
static int auth_allows(const struct call_auth *auth, enum need need)
{
    switch (need) {
    case NEED_NOTHING:
        return 1;
    case NEED_PROBE:
        return auth->who.role == PK_ROLE_PROBE || auth->who.role == PK_ROLE_ANY;
    case NEED_READ:
        return pk_identity_can_read(&auth->who);
    case NEED_WRITE:
        return pk_identity_can_write(&auth->who);
    }
    return 0;
}

/* Control thread: turns a token hash into an identity and checks `need`. 0 when
 * allowed; otherwise -1 with *code and why set. */
static int auth_resolve(struct store *store, struct call_auth *auth, enum need need, grpc_status_code *code,
                        char *why, size_t whylen)
{
    if (auth->who.role == PK_ROLE_NONE && auth->token_hash[0]) {
        char err[300];
        int found = store_credential_lookup(store, auth->token_hash, &auth->who, &auth->credential_id, err, sizeof err);
        if (found < 0) {
            *code = GRPC_STATUS_UNAVAILABLE;
            snprintf(why, whylen, "cannot check the token: %s", err);
            return -1;
        }
        if (!found) {
            *code = GRPC_STATUS_UNAUTHENTICATED;
            snprintf(why, whylen, "unknown or revoked token");
            atomic_fetch_add(&stat_auth_denied, 1);
            PK_WARN("auth", "call refused", "reason=\"unknown or revoked token\"");
            return -1;
        }
    }
    if (!auth_allows(auth, need)) {
        *code = GRPC_STATUS_PERMISSION_DENIED;
        snprintf(why, whylen, "%s credential '%s' cannot do this: it needs %s", pk_role_name(auth->who.role),
                 auth->who.name, need_name(need));
        char q[400];
        PK_WARN("auth", "call refused", "reason=%s", pk_log_q(q, sizeof q, why));
        atomic_fetch_add(&stat_auth_denied, 1);
        return -1;
    }
    return 0;
}

#define M_APPLY_PATH "/picket.v1.AdminService/ApplyChecks"
#define M_DIFF_PATH "/picket.v1.AdminService/DiffChecks"

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

/* Unpacks a received message with its descriptor; NULL when it does not parse. */
static ProtobufCMessage *unpack_message(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return NULL;
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(slice), GRPC_SLICE_START_PTR(slice));
    grpc_slice_unref(slice);
    return msg;
}

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

/* Sends the answer (or an error status) and closes the call. Any thread. */
static void unary_reply(struct unary *u, grpc_status_code code, const char *details, const ProtobufCMessage *resp)
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
    count_status(code);
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

/* The start of every unary job on the control thread: a database to work with,
 * and a caller allowed to do this (a token is looked up here). 0, or -1 after
 * answering the call. */
static int job_admit(struct store *store, struct unary *u, enum need need)
{
    if (!store) {
        unary_reply(u, GRPC_STATUS_UNAVAILABLE, "database unavailable", NULL);
        return -1;
    }
    char why[512];
    grpc_status_code code;
    if (auth_resolve(store, &u->auth, need, &code, why, sizeof why) < 0) {
        unary_reply(u, code, why, NULL);
        return -1;
    }
    return 0;
}

static void register_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__RegisterRequest *req = u->job_data;
    if (job_admit(store, u, NEED_PROBE) < 0)
        return;
    char err[512];
    if (!pk_identity_is_probe(&u->auth.who, req->probe_name)) {
        char qa[300], qb[300];
        snprintf(err, sizeof err, "credential of probe '%s' cannot register as probe '%.127s'", u->auth.who.name,
                 req->probe_name);
        PK_WARN("auth", "register refused", "credential_probe=%s probe=%s", pk_log_q(qa, sizeof qa, u->auth.who.name),
                pk_log_q(qb, sizeof qb, req->probe_name));
        atomic_fetch_add(&stat_auth_denied, 1);
        unary_reply(u, GRPC_STATUS_PERMISSION_DENIED, err, NULL);
        return;
    }
    struct pk_kv labels[64];
    size_t n_labels = req->n_labels > 64 ? 64 : req->n_labels;
    for (size_t i = 0; i < n_labels; i++) {
        labels[i].key = req->labels[i]->key;
        labels[i].value = req->labels[i]->value;
    }
    struct store_probe_info info = {.name = req->probe_name, .region = req->region, .labels = labels,
                                     .n_labels = n_labels, .version = req->version};
    int64_t probe_id = 0;
    uint64_t committed = 0;
    if (store_upsert_probe(store, &info, &probe_id, &committed, err, sizeof err) < 0) {
        char q[600];
        PK_ERROR("rpc", "register failed", "probe=%s error=%s", req->probe_name, pk_log_q(q, sizeof q, err));
        unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    if (req->n_checks) {
        struct store_check_info *checks = calloc(req->n_checks, sizeof *checks);
        for (size_t i = 0; checks && i < req->n_checks; i++) {
            checks[i].name = req->checks[i]->name;
            checks[i].type = req->checks[i]->type;
            checks[i].target = req->checks[i]->target;
            checks[i].interval_ms = req->checks[i]->interval_ms;
            checks[i].service = req->checks[i]->service;
            checks[i].budget_p50_ms = req->checks[i]->budget_p50_ms;
            checks[i].budget_p95_ms = req->checks[i]->budget_p95_ms;
            checks[i].budget_p99_ms = req->checks[i]->budget_p99_ms;
            checks[i].slo_target_percent = req->checks[i]->slo_target_percent;
            checks[i].slo_window_ms = req->checks[i]->slo_window_ms;
        }
        int rc = checks ? store_set_probe_checks(store, probe_id, checks, req->n_checks, err, sizeof err) : -1;
        free(checks);
        if (rc < 0) {
            unary_reply(u, GRPC_STATUS_UNAVAILABLE, checks ? err : "out of memory", NULL);
            return;
        }
    }
    char qn[300], qr[200];
    PK_INFO("rpc", "probe registered", "probe=%s probe_id=%lld region=%s checks=%zu committed_seq=%llu",
            pk_log_q(qn, sizeof qn, req->probe_name), (long long)probe_id, pk_log_q(qr, sizeof qr, req->region),
            req->n_checks, (unsigned long long)committed);
    Picket__V1__RegisterResponse resp = PICKET__V1__REGISTER_RESPONSE__INIT;
    resp.probe_id = probe_id;
    resp.committed_sequence = committed;
    resp.heartbeat_interval_ms = u->srv->heartbeat_ms;
    unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
}

static void status_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__StatusRequest *req = u->job_data;
    if (job_admit(store, u, NEED_READ) < 0)
        return;
    char err[512];
    struct store_status_row *rows = NULL;
    size_t n = 0, np = 0;
    struct store_probe_row *prows = NULL;
    Picket__V1__ProbeStatus *ps = NULL, **psp = NULL;
    if (store_status(store, req->check_name && req->check_name[0] ? req->check_name : NULL, &rows, &n, err,
                     sizeof err) < 0) {
        unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    Picket__V1__CheckStatus *cs = calloc(n ? n : 1, sizeof *cs);
    Picket__V1__CheckStatus **csp = calloc(n ? n : 1, sizeof *csp);
    size_t n_regions = 0;
    for (size_t i = 0; i < n; i++)
        n_regions += rows[i].n_regions;
    Picket__V1__RegionRatio *rr = calloc(n_regions ? n_regions : 1, sizeof *rr);
    Picket__V1__RegionRatio **rrp = calloc(n_regions ? n_regions : 1, sizeof *rrp);
    if (!cs || !csp || !rr || !rrp) {
        unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct store_status_row *row = &rows[i];
        picket__v1__check_status__init(&cs[i]);
        cs[i].check_name = row->check_name;
        cs[i].check_type = row->check_type;
        cs[i].last_started_at_us = row->last_started_at_us;
        cs[i].last_outcome = (Picket__V1__Outcome)row->last_outcome;
        cs[i].last_message = row->last_message;
        cs[i].last_total_us = row->last_total_us;
        cs[i].last_probe = row->last_probe;
        cs[i].last_region = row->last_region;
        cs[i].probes = row->probes;
        cs[i].last_status_code = row->last_status_code;
        cs[i].n_last_hour = row->n_regions;
        cs[i].last_hour = row->n_regions ? &rrp[k] : NULL;
        for (size_t j = 0; j < row->n_regions; j++, k++) {
            picket__v1__region_ratio__init(&rr[k]);
            rr[k].region = row->regions[j].region;
            rr[k].total = row->regions[j].total;
            rr[k].ok = row->regions[j].ok;
            rrp[k] = &rr[k];
        }
        csp[i] = &cs[i];
    }
    Picket__V1__StatusResponse resp = PICKET__V1__STATUS_RESPONSE__INIT;
    resp.now_us = pk_now_us();
    resp.n_checks = n;
    resp.checks = csp;
    if (!(req->check_name && req->check_name[0])) {
        if (store_probe_status(store, &prows, &np, err, sizeof err) < 0) {
            unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
            goto out;
        }
        ps = calloc(np ? np : 1, sizeof *ps);
        psp = calloc(np ? np : 1, sizeof *psp);
        if (!ps || !psp) {
            unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
            goto out;
        }
        for (size_t i = 0; i < np; i++) {
            picket__v1__probe_status__init(&ps[i]);
            ps[i].name = prows[i].name;
            ps[i].region = prows[i].region;
            ps[i].last_seen_us = prows[i].last_seen_us;
            ps[i].pending_results = prows[i].pending;
            ps[i].dropped_results = prows[i].dropped;
            ps[i].spool_bytes = prows[i].spool_bytes;
            ps[i].committed_sequence = prows[i].committed_seq;
            psp[i] = &ps[i];
        }
        resp.n_probes = np;
        resp.probes = psp;
    }
    unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
out:
    free(ps);
    free(psp);
    free(prows);
    free(cs);
    free(csp);
    free(rr);
    free(rrp);
    free(rows);
}

/* Availability, Latency, Trend, Incidents, Slo, Report: rpc_query.c computes,
 * from rollups only; this sends the answer. */
static void query_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    if (job_admit(store, u, NEED_READ) < 0)
        return;
    char err[512];
    ProtobufCMessage *resp = NULL;
    struct rpc_query_arena *arena = NULL;
    int rc = rpc_query_run(store, u->query, u->job_data, pk_now_us(), &resp, &arena, err, sizeof err);
    if (rc == 0)
        unary_reply(u, GRPC_STATUS_OK, NULL, resp);
    else {
        char q[600];
        PK_WARN("rpc", "query failed", "query=%d invalid=%d error=%s", (int)u->query, rc == -2,
                pk_log_q(q, sizeof q, err));
        unary_reply(u, rc == -2 ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_UNAVAILABLE, err, NULL);
    }
    rpc_query_arena_free(arena);
}

static int valid_probe_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 127)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

static void add_probe_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__AddProbeRequest *req = u->job_data;
    if (job_admit(store, u, NEED_WRITE) < 0)
        return;
    char err[512];
    if (!valid_probe_name(req->probe_name)) {
        /* The name ends up in certificate CNs and logs: keep it plain. */
        unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "probe name must be 1..127 printable ASCII bytes, no spaces",
                    NULL);
        return;
    }
    if (strlen(req->region) > 63) {
        unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "region must be at most 63 bytes", NULL);
        return;
    }
    pk_utf8_sanitize(req->region);
    char token[PK_TOKEN_LEN + 1], hash[PK_TOKEN_HASH_HEX + 1];
    int64_t id = 0;
    if (pk_token_generate(token, err, sizeof err) < 0) {
        unary_reply(u, GRPC_STATUS_INTERNAL, err, NULL);
        return;
    }
    pk_token_hash_hex(token, hash);
    if (store_credential_add(store, PK_ROLE_PROBE, req->probe_name, req->region, hash, &id, err, sizeof err) < 0) {
        memset(token, 0, sizeof token);
        unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    char qp[300], qb[300];
    PK_INFO("auth", "probe credential issued", "probe=%s credential_id=%lld by=%s",
            pk_log_q(qp, sizeof qp, req->probe_name), (long long)id, pk_log_q(qb, sizeof qb, u->auth.who.name));
    Picket__V1__AddProbeResponse resp = PICKET__V1__ADD_PROBE_RESPONSE__INIT;
    resp.token = token;
    resp.credential_id = id;
    unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
    memset(token, 0, sizeof token);
}

static void revoke_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__RevokeCredentialRequest *req = u->job_data;
    if (job_admit(store, u, NEED_WRITE) < 0)
        return;
    char err[512];
    if (req->credential_id <= 0 && !valid_probe_name(req->probe_name)) {
        unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "give a probe name or a credential id", NULL);
        return;
    }
    long revoked = 0;
    if (store_credential_revoke(store, req->credential_id, PK_ROLE_PROBE, req->probe_name, &revoked, err,
                                sizeof err) < 0) {
        unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    char qp[300], qb[300];
    PK_INFO("auth", "credentials revoked", "probe=%s credential_id=%lld revoked=%ld by=%s",
            pk_log_q(qp, sizeof qp, req->probe_name), (long long)req->credential_id, revoked,
            pk_log_q(qb, sizeof qb, u->auth.who.name));
    if (revoked == 0) {
        if (req->credential_id > 0)
            snprintf(err, sizeof err, "no live credential with id %lld", (long long)req->credential_id);
        else
            snprintf(err, sizeof err, "probe '%s' has no live token", req->probe_name);
        unary_reply(u, GRPC_STATUS_NOT_FOUND, err, NULL);
        return;
    }
    Picket__V1__RevokeCredentialResponse resp = PICKET__V1__REVOKE_CREDENTIAL_RESPONSE__INIT;
    resp.revoked = revoked;
    unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
}

/* ApplyChecks and DiffChecks: validate again (never trust the client's check),
 * then compare with, and for apply store, the current version. Control thread. */
static void assign_admin_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    int apply = u->method == M_APPLY;
    size_t n_files = apply ? ((Picket__V1__ApplyChecksRequest *)u->job_data)->n_files
                           : ((Picket__V1__DiffChecksRequest *)u->job_data)->n_files;
    Picket__V1__CheckFile **files = apply ? ((Picket__V1__ApplyChecksRequest *)u->job_data)->files
                                          : ((Picket__V1__DiffChecksRequest *)u->job_data)->files;
    char err[1024];
    struct assign_input *in = calloc(n_files ? n_files : 1, sizeof *in);
    struct assign_set set = {0};
    struct store_assign_change *changes = NULL;
    size_t n_changes = 0;
    Picket__V1__CheckChange *cc = NULL, **ccp = NULL;
    char ***keyv = NULL;
    if (job_admit(store, u, NEED_WRITE) < 0)
        goto out;
    if (!in) {
        unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    for (size_t i = 0; i < n_files; i++)
        in[i] = (struct assign_input){files[i]->name, files[i]->content, strlen(files[i]->content)};
    if (assign_load(in, n_files, &set, err, sizeof err) < 0) {
        char q[1100];
        PK_WARN("rpc", apply ? "apply refused" : "diff refused", "error=%s", pk_log_q(q, sizeof q, err));
        unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, err, NULL);
        goto out;
    }
    int64_t version = 0;
    int created = 0;
    if (store_assign_apply(store, set.files, set.n_sets, set.checks, set.n_checks, apply, &version, &created,
                           &changes, &n_changes, err, sizeof err) < 0) {
        char q[1100];
        PK_ERROR("rpc", apply ? "apply failed" : "diff failed", "error=%s", pk_log_q(q, sizeof q, err));
        unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        goto out;
    }
    cc = calloc(n_changes ? n_changes : 1, sizeof *cc);
    ccp = calloc(n_changes ? n_changes : 1, sizeof *ccp);
    keyv = calloc(n_changes ? n_changes : 1, sizeof *keyv);
    if (!cc || !ccp || !keyv) {
        unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    for (size_t i = 0; i < n_changes; i++) {
        picket__v1__check_change__init(&cc[i]);
        cc[i].name = changes[i].name;
        cc[i].change = changes[i].change;
        size_t nk = 0;
        for (char *k = changes[i].keys; *k; k++)
            nk += *k == ',';
        nk += changes[i].keys[0] ? 1 : 0;
        keyv[i] = calloc(nk ? nk : 1, sizeof *keyv[i]);
        if (keyv[i] && nk) {
            size_t j = 0;
            for (char *save = NULL, *k = strtok_r(changes[i].keys, ",", &save); k && j < nk;
                 k = strtok_r(NULL, ",", &save))
                keyv[i][j++] = k;
            cc[i].n_keys = j;
            cc[i].keys = keyv[i];
        }
        ccp[i] = &cc[i];
    }
    if (apply) {
        PK_INFO("rpc", created ? "checks applied" : "checks applied; nothing changed", "version=%lld checks=%zu changes=%zu",
                (long long)version, set.n_checks, n_changes);
        Picket__V1__ApplyChecksResponse resp = PICKET__V1__APPLY_CHECKS_RESPONSE__INIT;
        resp.version = version;
        resp.created = created;
        resp.n_changes = n_changes;
        resp.changes = ccp;
        unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
    } else {
        Picket__V1__DiffChecksResponse resp = PICKET__V1__DIFF_CHECKS_RESPONSE__INIT;
        resp.current_version = version;
        resp.n_changes = n_changes;
        resp.changes = ccp;
        unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
    }
out:
    for (size_t i = 0; keyv && i < n_changes; i++)
        free(keyv[i]);
    free(keyv);
    free(cc);
    free(ccp);
    free(changes);
    assign_free(&set);
    free(in);
}

static void unary_on_request(struct unary *u, int success)
{
    if (!success || !u->request) {
        unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "no request message", NULL);
        return;
    }
    switch (u->method) {
    case M_HEALTH: {
        Grpc__Health__V1__HealthCheckRequest *req = (Grpc__Health__V1__HealthCheckRequest *)unpack_message(
            &grpc__health__v1__health_check_request__descriptor, u->request);
        if (!req) {
            unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "malformed HealthCheckRequest", NULL);
            return;
        }
        const char *svc = req->service ? req->service : "";
        int known = !svc[0] || !strcmp(svc, "picket.v1.ProbeService") || !strcmp(svc, "picket.v1.QueryService");
        protobuf_c_message_free_unpacked(&req->base, NULL);
        if (!known) {
            unary_reply(u, GRPC_STATUS_NOT_FOUND, "unknown service", NULL);
            return;
        }
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        resp.status = ingest_db_healthy(u->srv->ingest)
                          ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                          : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
        unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
        return;
    }
    case M_REGISTER: {
        Picket__V1__RegisterRequest *req = NULL;
        char why[400];
        grpc_status_code code = GRPC_STATUS_INVALID_ARGUMENT;
        int bad = 0;
        {
            grpc_byte_buffer_reader reader;
            if (grpc_byte_buffer_reader_init(&reader, u->request)) {
                grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
                grpc_byte_buffer_reader_destroy(&reader);
                if (wire_find_nul(&picket__v1__register_request__descriptor, GRPC_SLICE_START_PTR(slice),
                                  GRPC_SLICE_LENGTH(slice), why, sizeof why) < 0)
                    bad = 1;
                else
                    req = picket__v1__register_request__unpack(NULL, GRPC_SLICE_LENGTH(slice),
                                                               GRPC_SLICE_START_PTR(slice));
                grpc_slice_unref(slice);
            }
        }
        if (bad) {
            /* why says which field held a NUL */
        } else if (!req) {
            snprintf(why, sizeof why, "malformed RegisterRequest (%zu bytes): not a picket.v1.RegisterRequest",
                     grpc_byte_buffer_length(u->request));
            bad = 1;
        } else if (wire_validate_register(req, why, sizeof why) < 0) {
            bad = 1;
        } else if (req->probe_time_us != 0) {
            /* 0 is a probe from before the field existed: its clock is judged by
             * its results' timestamps only. */
            int64_t skew = req->probe_time_us - pk_now_us();
            if (skew > u->srv->max_skew_us || skew < -u->srv->max_skew_us) {
                snprintf(why, sizeof why,
                         "probe clock is %.1f s %s the collector's (allowed %lld s): fix NTP on the probe",
                         (double)(skew < 0 ? -skew : skew) / 1e6, skew < 0 ? "behind" : "ahead of",
                         (long long)(u->srv->max_skew_us / 1000000));
                code = GRPC_STATUS_FAILED_PRECONDITION;
                bad = 1;
            }
        }
        if (bad) {
            char q[600], qp[300];
            PK_WARN("rpc", "register rejected", "probe=%s code=%d reason=%s",
                    pk_log_q(qp, sizeof qp, req && req->probe_name ? req->probe_name : "?"), (int)code,
                    pk_log_q(q, sizeof q, why));
            if (req)
                protobuf_c_message_free_unpacked(&req->base, NULL);
            unary_reply(u, code, why, NULL);
            return;
        }
        u->job_data = req;
        atomic_fetch_add(&stat_registers, 1);
        if (ingest_job(u->srv->ingest, register_job, u) < 0)
            unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "collector busy", NULL);
        return;
    }
    case M_APPLY:
    case M_DIFF: {
        ProtobufCMessage *req = unpack_message(u->method == M_APPLY ? &picket__v1__apply_checks_request__descriptor
                                                                    : &picket__v1__diff_checks_request__descriptor,
                                               u->request);
        if (!req) {
            unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "malformed request", NULL);
            return;
        }
        u->job_data = req;
        if (ingest_job(u->srv->ingest, assign_admin_job, u) < 0)
            unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "collector busy", NULL);
        return;
    }
    case M_STATUS: {
        Picket__V1__StatusRequest *req =
            (Picket__V1__StatusRequest *)unpack_message(&picket__v1__status_request__descriptor, u->request);
        if (!req) {
            unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "malformed StatusRequest", NULL);
            return;
        }
        u->job_data = req;
        atomic_fetch_add(&stat_queries, 1);
        if (ingest_job(u->srv->ingest, status_job, u) < 0)
            unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "collector busy", NULL);
        return;
    }
    case M_QUERY: {
        ProtobufCMessage *req = unpack_message(rpc_query_request_descriptor(u->query), u->request);
        if (!req) {
            unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "malformed query request", NULL);
            return;
        }
        u->job_data = req;
        atomic_fetch_add(&stat_queries, 1);
        if (ingest_job(u->srv->ingest, query_job, u) < 0)
            unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "collector busy", NULL);
        return;
    }
    case M_ADD_PROBE:
    case M_REVOKE: {
        int add = u->method == M_ADD_PROBE;
        ProtobufCMessage *req = unpack_message(
            add ? &picket__v1__add_probe_request__descriptor : &picket__v1__revoke_credential_request__descriptor,
            u->request);
        if (!req) {
            unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT,
                        add ? "malformed AddProbeRequest" : "malformed RevokeCredentialRequest", NULL);
            return;
        }
        u->job_data = req;
        if (ingest_job(u->srv->ingest, add ? add_probe_job : revoke_job, u) < 0)
            unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "collector busy", NULL);
        return;
    }
    }
}

static void unary_start(struct server *srv, grpc_call *call, enum unary_method method, enum rpc_query_kind query,
                        const struct call_auth *auth)
{
    struct unary *u = calloc(1, sizeof *u);
    u->srv = srv;
    u->call = call;
    u->method = method;
    u->query = query;
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

static void stream_unref_locked(struct stream *s, int *freed);

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
    atomic_fetch_sub(&stat_streams_open, 1);
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
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Drops one reference; frees (and unlocks) at zero. Call with s->mu held; if
 * *freed is set afterwards the mutex is gone. */
static void stream_unref_locked(struct stream *s, int *freed)
{
    *freed = 0;
    if (--s->refs == 0) {
        stream_free(s);
        *freed = 1;
    }
}

static void stream_unref(struct stream *s)
{
    int freed;
    pthread_mutex_lock(&s->mu);
    stream_unref_locked(s, &freed);
    if (!freed)
        pthread_mutex_unlock(&s->mu);
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

static void stream_queue_send(struct stream *s, const ProtobufCMessage *msg)
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

/* Ends the stream with OK once nothing is pending, after a half-close. s->mu held. */
static void stream_maybe_finish(struct stream *s)
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

/* Cuts the stream off with an error status; the probe reconnects and resends. */
static void stream_abort(struct stream *s, grpc_status_code code, const char *why)
{
    char q[600], qp[300];
    PK_WARN("rpc", "stream closed by collector", "probe=%s probe_id=%lld code=%d reason=%s",
            pk_log_q(qp, sizeof qp, s->probe_name[0] ? s->probe_name : "?"), (long long)s->probe_id, (int)code,
            pk_log_q(q, sizeof q, why));
    s->finished = 1;
    s->status_sent = 1;
    atomic_fetch_add(&stat_rejected, 1);
    count_status(code);
    grpc_call_cancel_with_status(s->call, code, why, NULL);
}

static void stream_post_recv(struct stream *s)
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

/* Runs on a writer thread once a batch is committed. */
static void stream_batch_done(void *ctx, int ok, uint64_t committed_seq, size_t n_inserted)
{
    struct stream *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->inflight_batches--;
    if (!ok) {
        if (!s->finished)
            stream_abort(s, GRPC_STATUS_UNAVAILABLE, "batch not stored; resend");
    } else if (!s->status_sent) {
        Picket__V1__Ack ack = PICKET__V1__ACK__INIT;
        ack.committed_sequence = committed_seq;
        Picket__V1__CollectorMessage msg = PICKET__V1__COLLECTOR_MESSAGE__INIT;
        msg.kind_case = PICKET__V1__COLLECTOR_MESSAGE__KIND_ACK;
        msg.ack = &ack;
        stream_queue_send(s, &msg.base);
    }
    if (s->paused && !s->finished) {
        s->paused = 0;
        s->last_recv_mono_us = pk_mono_us(); /* the silence was ours */
        stream_post_recv(s);
    }
    stream_maybe_finish(s);
    int freed;
    stream_unref_locked(s, &freed);
    if (!freed)
        pthread_mutex_unlock(&s->mu);
}

struct touch_ctx {
    int64_t probe_id;
    struct store_heartbeat hb;
};

static void touch_job(struct store *store, void *ctx)
{
    struct touch_ctx *t = ctx;
    char err[256];
    if (store)
        store_probe_heartbeat(store, t->probe_id, &t->hb, err, sizeof err);
    free(t);
}

/* ---- central assignment: pushing CheckSets (control thread) ---- */

/* Sends the probe behind s the current version unless it runs it or has it. */
static void push_checks(struct store *store, struct stream *s, int64_t version)
{
    pthread_mutex_lock(&s->mu);
    int skip = version <= 0 || s->finished || s->status_sent || s->checks_version == version ||
               s->checks_sent == version;
    int64_t probe_id = s->probe_id;
    pthread_mutex_unlock(&s->mu);
    if (skip)
        return;
    char err[512];
    struct store_assign_doc *docs = NULL;
    size_t n = 0;
    if (store_assign_documents(store, version, probe_id, &docs, &n, err, sizeof err) < 0) {
        char q[600];
        PK_ERROR("rpc", "cannot build a probe's checks", "probe_id=%lld version=%lld error=%s", (long long)probe_id,
                 (long long)version, pk_log_q(q, sizeof q, err));
        return;
    }
    Picket__V1__CheckDocument *d = calloc(n ? n : 1, sizeof *d);
    Picket__V1__CheckDocument **dp = calloc(n ? n : 1, sizeof *dp);
    if (d && dp) {
        for (size_t i = 0; i < n; i++) {
            picket__v1__check_document__init(&d[i]);
            d[i].origin = docs[i].origin;
            d[i].yaml = docs[i].yaml;
            dp[i] = &d[i];
        }
        Picket__V1__CheckSet set = PICKET__V1__CHECK_SET__INIT;
        set.version = version;
        set.n_documents = n;
        set.documents = dp;
        Picket__V1__CollectorMessage msg = PICKET__V1__COLLECTOR_MESSAGE__INIT;
        msg.kind_case = PICKET__V1__COLLECTOR_MESSAGE__KIND_CHECKS;
        msg.checks = &set;
        pthread_mutex_lock(&s->mu);
        if (!s->status_sent && s->checks_sent != version) {
            stream_queue_send(s, &msg.base);
            s->checks_sent = version;
            char qp[300];
            PK_INFO("rpc", "checks sent", "probe=%s probe_id=%lld version=%lld documents=%zu",
                    pk_log_q(qp, sizeof qp, s->probe_name), (long long)probe_id, (long long)version, n);
        }
        pthread_mutex_unlock(&s->mu);
    }
    free(d);
    free(dp);
    store_assign_documents_free(docs, n);
}

static void push_new_stream_job(struct store *store, void *ctx)
{
    struct stream *s = ctx;
    char err[512];
    int64_t version = 0;
    if (store && store_assign_current(store, &version, err, sizeof err) == 0)
        push_checks(store, s, version);
    stream_unref(s);
}

/* Every open stream that said Hello, each with a reference taken. */
static struct stream **streams_snapshot(struct server *srv, size_t *n)
{
    *n = 0;
    pthread_mutex_lock(&srv->streams_mu);
    size_t cap = (size_t)atomic_load(&srv->n_streams) + 1, k = 0;
    struct stream **list = calloc(cap, sizeof *list);
    for (struct stream *s = srv->streams; list && s && k < cap; s = s->next) {
        pthread_mutex_lock(&s->mu);
        if (s->refs > 0 && s->probe_id && !s->status_sent) {
            s->refs++;
            list[k++] = s;
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&srv->streams_mu);
    *n = k;
    return list;
}

static void version_poll_job(struct store *store, void *ctx)
{
    struct server *srv = ctx;
    char err[512];
    int64_t version = 0;
    if (store && store_assign_current(store, &version, err, sizeof err) == 0 &&
        version != srv->last_polled_version) {
        size_t n = 0;
        struct stream **list = streams_snapshot(srv, &n);
        PK_INFO("rpc", "checks version changed", "version=%lld previous=%lld streams=%zu", (long long)version,
                (long long)srv->last_polled_version, n);
        srv->last_polled_version = version;
        for (size_t i = 0; i < n; i++) {
            push_checks(store, list[i], version);
            stream_unref(list[i]);
        }
        free(list);
    }
    atomic_store(&srv->version_poll_queued, 0);
}

struct ack_ctx {
    int64_t probe_id, version;
    int accepted;
    char error[512];
};

static void checks_ack_job(struct store *store, void *ctx)
{
    struct ack_ctx *a = ctx;
    char err[512];
    if (store && store_assign_ack(store, a->probe_id, a->version, a->accepted, a->error, err, sizeof err) < 0) {
        char q[600];
        PK_ERROR("rpc", "cannot record a checks ack", "probe_id=%lld error=%s", (long long)a->probe_id,
                 pk_log_q(q, sizeof q, err));
    }
    free(a);
}

/* What each probe last said about its spool, for /metrics (which never touches
 * PostgreSQL). Bounded; probes beyond it are still in the database. */
#define PROBE_TABLE_MAX 4096
static pthread_mutex_t probe_tab_mu = PTHREAD_MUTEX_INITIALIZER;
static struct probe_spool_metric probe_tab[PROBE_TABLE_MAX];
static size_t probe_tab_n;

static void probe_table_update(int64_t probe_id, const char *name, const Picket__V1__Heartbeat *hb)
{
    pthread_mutex_lock(&probe_tab_mu);
    size_t i = 0;
    while (i < probe_tab_n && probe_tab[i].probe_id != probe_id)
        i++;
    if (i == probe_tab_n && probe_tab_n < PROBE_TABLE_MAX) {
        probe_tab_n++;
        probe_tab[i].probe_id = probe_id;
        pk_strlcpy(probe_tab[i].name, name, sizeof probe_tab[i].name);
    }
    if (i < probe_tab_n) {
        probe_tab[i].pending = hb->pending_results;
        probe_tab[i].dropped = hb->dropped_results;
        probe_tab[i].spool_bytes = hb->spool_bytes;
    }
    pthread_mutex_unlock(&probe_tab_mu);
}

size_t rpc_server_probe_metrics(struct probe_spool_metric *out, size_t max)
{
    pthread_mutex_lock(&probe_tab_mu);
    size_t n = probe_tab_n < max ? probe_tab_n : max;
    memcpy(out, probe_tab, n * sizeof *out);
    pthread_mutex_unlock(&probe_tab_mu);
    return n;
}

/* The probe this stream is authenticated as, for code that must send a probe
 * only what is its own (central check assignment): after an accepted Hello, the
 * registered name of the stream's probe id, which a probe credential has been
 * checked to own; NULL before that. s->mu held. */
static inline const char *stream_authenticated_probe(const struct stream *s)
{
    return s->probe_id ? s->probe_name : NULL;
}

struct hello_ctx {
    struct stream *s;
    int64_t probe_id;
    char hello_name[128];
};

/* Control thread: checks that the stream's credential owns the probe id of its
 * Hello, then opens the stream for batches. */
static void hello_job(struct store *store, void *ctx)
{
    struct hello_ctx *h = ctx;
    struct stream *s = h->s;
    char why[512], name[128] = "";
    grpc_status_code code = GRPC_STATUS_OK;
    int found = 0;
    if (!store) {
        code = GRPC_STATUS_UNAVAILABLE;
        snprintf(why, sizeof why, "database unavailable");
    } else if (auth_resolve(store, &s->auth, NEED_PROBE, &code, why, sizeof why) < 0) {
        /* code and why are set */
    } else if ((found = store_probe_name(store, h->probe_id, name, sizeof name, why, sizeof why)) < 0) {
        code = GRPC_STATUS_UNAVAILABLE;
    } else if (!found) {
        code = GRPC_STATUS_FAILED_PRECONDITION;
        snprintf(why, sizeof why, "probe id %lld is not registered: call Register first", (long long)h->probe_id);
    } else if (!pk_identity_is_probe(&s->auth.who, name) ||
               (s->auth.who.role != PK_ROLE_ANY && h->hello_name[0] && strcmp(h->hello_name, name) != 0)) {
        code = GRPC_STATUS_PERMISSION_DENIED;
        snprintf(why, sizeof why, "credential of probe '%s' cannot send as probe '%s' (probe id %lld)",
                 s->auth.who.name, name, (long long)h->probe_id);
        atomic_fetch_add(&stat_auth_denied, 1);
    }
    pthread_mutex_lock(&s->mu);
    s->hello_pending = 0;
    if (!s->finished) {
        if (code != GRPC_STATUS_OK) {
            stream_abort(s, code, why);
        } else {
            s->probe_id = h->probe_id;
            pk_strlcpy(s->probe_name, name, sizeof s->probe_name);
            char qp[300], qw[300];
            PK_INFO("rpc", "probe stream open", "probe=%s probe_id=%lld credential=%s checks_version=%lld",
                    pk_log_q(qp, sizeof qp, s->probe_name), (long long)s->probe_id,
                    pk_log_q(qw, sizeof qw, s->auth.who.name), (long long)s->checks_version);
            stream_post_recv(s);
            /* Central assignment: send the probe its checks, and keep probe_checks
             * right when it reconnects running a pushed version. */
            s->refs++;
            if (ingest_job(s->srv->ingest, push_new_stream_job, s) < 0)
                s->refs--; /* the version poll sends it later */
            if (s->checks_version > 0) {
                struct ack_ctx *a = calloc(1, sizeof *a);
                if (a) {
                    *a = (struct ack_ctx){s->probe_id, s->checks_version, 1, ""};
                    if (ingest_job(s->srv->ingest, checks_ack_job, a) < 0)
                        free(a);
                }
            }
        }
    }
    stream_maybe_finish(s);
    free(h);
    int freed;
    stream_unref_locked(s, &freed);
    if (!freed)
        pthread_mutex_unlock(&s->mu);
}

/* A message arrived on a Connect stream. s->mu held. */
static void stream_on_message(struct stream *s, Picket__V1__ProbeMessage *msg)
{
    switch (msg->kind_case) {
    case PICKET__V1__PROBE_MESSAGE__KIND_HELLO: {
        if (s->probe_id || s->hello_pending) {
            stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, "second hello on one stream");
            return;
        }
        if (msg->hello->probe_id <= 0) {
            stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, "hello without a probe_id: call Register first");
            return;
        }
        /* Nothing more is read until the control thread has checked the Hello. */
        struct hello_ctx *h = calloc(1, sizeof *h);
        if (!h) {
            stream_abort(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        h->s = s;
        s->checks_version = msg->hello->checks_version;
        h->probe_id = msg->hello->probe_id;
        pk_strlcpy(h->hello_name, msg->hello->probe_name, sizeof h->hello_name);
        s->hello_pending = 1;
        s->refs++;
        if (ingest_job(s->srv->ingest, hello_job, h) < 0) {
            s->hello_pending = 0;
            s->refs--;
            free(h);
            stream_abort(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "collector busy");
        }
        return;
    }
    case PICKET__V1__PROBE_MESSAGE__KIND_BATCH: {
        if (!s->probe_id) {
            stream_abort(s, GRPC_STATUS_FAILED_PRECONDITION, "batch before hello");
            return;
        }
        char err[300], why[1000], qp[300];
        struct pk_result *results = NULL;
        size_t n = 0;
        pk_log_q(qp, sizeof qp, s->probe_name);
        if (wire_decode_batch(msg->batch, &results, &n, err, sizeof err) < 0) {
            snprintf(why, sizeof why, "probe %s (id %lld): %s", qp, (long long)s->probe_id, err);
            stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, why);
            return;
        }
        if (results[0].seq <= s->last_seq) {
            snprintf(why, sizeof why,
                     "probe %s (id %lld): sequence went backwards on this stream: batch starts at %llu after %llu",
                     qp, (long long)s->probe_id, (unsigned long long)results[0].seq,
                     (unsigned long long)s->last_seq);
            free(results);
            stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, why);
            return;
        }
        /* Results from the future mean a wrong clock; results from the past are
         * legitimate (a probe sending what it buffered through an outage). */
        int64_t latest_ok = pk_now_us() + s->srv->max_skew_us;
        for (size_t i = 0; i < n; i++)
            if (results[i].started_at_us > latest_ok) {
                snprintf(why, sizeof why,
                         "probe %s (id %lld): result seq %llu started %.1f s in the future (allowed %lld s): "
                         "fix NTP on the probe",
                         qp, (long long)s->probe_id, (unsigned long long)results[i].seq,
                         (double)(results[i].started_at_us - latest_ok + s->srv->max_skew_us) / 1e6,
                         (long long)(s->srv->max_skew_us / 1000000));
                free(results);
                stream_abort(s, GRPC_STATUS_FAILED_PRECONDITION, why);
                return;
            }
        s->last_seq = results[n - 1].seq;
        atomic_fetch_add(&stat_batches, 1);
        atomic_fetch_add(&stat_results, n);
        s->inflight_batches++;
        s->refs++;
        /* ingest may call back on a writer thread before it returns: drop our lock. */
        int64_t probe_id = s->probe_id;
        pthread_mutex_unlock(&s->mu);
        int full = ingest_submit(s->srv->ingest, probe_id, results, n, stream_batch_done, s);
        pthread_mutex_lock(&s->mu);
        if (full || s->inflight_batches >= s->srv->max_inflight) {
            s->paused = 1;
            atomic_fetch_add(&stat_paused, 1);
        }
        else
            stream_post_recv(s);
        return;
    }
    case PICKET__V1__PROBE_MESSAGE__KIND_HEARTBEAT: {
        if (!s->probe_id) {
            stream_abort(s, GRPC_STATUS_FAILED_PRECONDITION, "heartbeat before hello");
            return;
        }
        probe_table_update(s->probe_id, s->probe_name, msg->heartbeat);
        if (msg->heartbeat->sent_at_us != 0) {
            int64_t skew = msg->heartbeat->sent_at_us - pk_now_us();
            int over = skew > s->srv->max_skew_us || skew < -s->srv->max_skew_us;
            if (over && !s->skew_logged) {
                char qp[300];
                PK_WARN("rpc", "probe clock skew over the bound", "probe=%s probe_id=%lld skew_ms=%lld allowed_ms=%lld",
                        pk_log_q(qp, sizeof qp, s->probe_name), (long long)s->probe_id, (long long)(skew / 1000),
                        (long long)(s->srv->max_skew_us / 1000));
            } else if (!over && s->skew_logged) {
                char qp[300];
                PK_INFO("rpc", "probe clock skew back within the bound", "probe=%s probe_id=%lld skew_ms=%lld",
                        pk_log_q(qp, sizeof qp, s->probe_name), (long long)s->probe_id, (long long)(skew / 1000));
            }
            s->skew_logged = over;
        }
        struct touch_ctx *t = malloc(sizeof *t);
        if (t) {
            t->probe_id = s->probe_id;
            t->hb.pending = msg->heartbeat->pending_results;
            t->hb.dropped = msg->heartbeat->dropped_results;
            t->hb.spool_bytes = msg->heartbeat->spool_bytes;
            if (ingest_job(s->srv->ingest, touch_job, t) < 0)
                free(t);
        }
        Picket__V1__Heartbeat hb = PICKET__V1__HEARTBEAT__INIT;
        hb.sent_at_us = pk_now_us();
        Picket__V1__CollectorMessage out = PICKET__V1__COLLECTOR_MESSAGE__INIT;
        out.kind_case = PICKET__V1__COLLECTOR_MESSAGE__KIND_HEARTBEAT;
        out.heartbeat = &hb;
        stream_queue_send(s, &out.base);
        stream_post_recv(s);
        return;
    }
    case PICKET__V1__PROBE_MESSAGE__KIND_CHECKS_ACK: {
        if (!s->probe_id) {
            stream_abort(s, GRPC_STATUS_FAILED_PRECONDITION, "checks ack before hello");
            return;
        }
        Picket__V1__CheckSetAck *ack = msg->checks_ack;
        char qp[300], qe[1100];
        if (ack->accepted)
            s->checks_version = ack->version;
        pk_utf8_sanitize(ack->error);
        if (ack->accepted)
            PK_INFO("rpc", "probe runs checks version", "probe=%s probe_id=%lld version=%lld",
                    pk_log_q(qp, sizeof qp, s->probe_name), (long long)s->probe_id, (long long)ack->version);
        else
            PK_WARN("rpc", "probe refused checks version", "probe=%s probe_id=%lld version=%lld error=%s",
                    pk_log_q(qp, sizeof qp, s->probe_name), (long long)s->probe_id, (long long)ack->version,
                    pk_log_q(qe, sizeof qe, ack->error));
        struct ack_ctx *a = calloc(1, sizeof *a);
        if (a) {
            *a = (struct ack_ctx){s->probe_id, ack->version, ack->accepted ? 1 : 0, ""};
            pk_strlcpy(a->error, ack->error, sizeof a->error);
            if (ingest_job(s->srv->ingest, checks_ack_job, a) < 0)
                free(a);
        }
        stream_post_recv(s);
        return;
    }
    default:
        /* An unknown kind from a newer probe: ignore it, as the contract says. */
        stream_post_recv(s);
        return;
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
        Picket__V1__ProbeMessage *msg =
            (Picket__V1__ProbeMessage *)unpack_message(&picket__v1__probe_message__descriptor, bb);
        if (!msg) {
            char why[200];
            snprintf(why, sizeof why, "malformed ProbeMessage (%zu bytes): not a picket.v1.ProbeMessage",
                     grpc_byte_buffer_length(bb));
            stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, why);
        }
        else {
            stream_on_message(s, msg);
            protobuf_c_message_free_unpacked(&msg->base, NULL);
        }
    }
    if (bb)
        grpc_byte_buffer_destroy(bb);
    stream_maybe_finish(s);
    int freed;
    stream_unref_locked(s, &freed);
    if (!freed)
        pthread_mutex_unlock(&s->mu);
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
    atomic_fetch_add(&stat_streams_open, 1);
    atomic_fetch_add(&stat_streams_total, 1);

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
    int freed;
    stream_unref_locked(s, &freed);
    if (!freed)
        pthread_mutex_unlock(&s->mu);
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
        if (!s->finished && !s->paused && !s->probe_id && now - s->opened_mono_us > hello_us) {
            snprintf(why, sizeof why, "no Hello within %d ms of opening the stream", srv->hello_timeout_ms);
            stream_abort(s, GRPC_STATUS_DEADLINE_EXCEEDED, why);
        } else if (!s->finished && !s->paused && s->probe_id && now - s->last_recv_mono_us > silent_us) {
            snprintf(why, sizeof why, "stream silent for %lld ms (over 3 heartbeat intervals of %d ms)",
                     (long long)((now - s->last_recv_mono_us) / 1000), srv->heartbeat_ms);
            stream_abort(s, GRPC_STATUS_DEADLINE_EXCEEDED, why);
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&srv->streams_mu);
}

/* ------------------------------------------------------------ the loop */

static const struct {
    const char *path;
    int stream;
    enum unary_method method;
    enum need need;
    enum rpc_query_kind query; /* M_QUERY only */
} methods[] = {
    {M_CONNECT_PATH, 1, M_REGISTER, NEED_PROBE},   {M_REGISTER_PATH, 0, M_REGISTER, NEED_PROBE},
    {M_STATUS_PATH, 0, M_STATUS, NEED_READ},       {M_HEALTH_PATH, 0, M_HEALTH, NEED_NOTHING},
    {M_ADD_PROBE_PATH, 0, M_ADD_PROBE, NEED_WRITE}, {M_REVOKE_PATH, 0, M_REVOKE, NEED_WRITE},
    {M_APPLY_PATH, 0, M_APPLY, NEED_WRITE},         {M_DIFF_PATH, 0, M_DIFF, NEED_WRITE},
    {M_AVAILABILITY_PATH, 0, M_QUERY, NEED_READ, RQ_AVAILABILITY},
    {M_LATENCY_PATH, 0, M_QUERY, NEED_READ, RQ_LATENCY},
    {M_TREND_PATH, 0, M_QUERY, NEED_READ, RQ_TREND},
    {M_INCIDENTS_PATH, 0, M_QUERY, NEED_READ, RQ_INCIDENTS},
    {M_SLO_PATH, 0, M_QUERY, NEED_READ, RQ_SLO},
    {M_REPORT_PATH, 0, M_QUERY, NEED_READ, RQ_REPORT},
};

static void on_new_call(struct server *srv, struct acceptor *a, int success)
{
    if (success && a->call) {
        size_t i = 0;
        while (i < sizeof methods / sizeof methods[0] && !method_is(&a->details, methods[i].path))
            i++;
        struct call_auth auth;
        memset(&auth, 0, sizeof auth);
        char why[400];
        grpc_status_code refuse = GRPC_STATUS_OK;
        if (i == sizeof methods / sizeof methods[0]) {
            refuse = GRPC_STATUS_UNIMPLEMENTED;
            snprintf(why, sizeof why, "unknown method");
        } else if (methods[i].need != NEED_NOTHING) {
            if (call_authenticate(srv, a->call, &a->metadata, &auth, why, sizeof why) < 0)
                refuse = GRPC_STATUS_UNAUTHENTICATED;
            /* A certificate's role is known now; a token's only after the lookup. */
            else if (auth.who.role != PK_ROLE_NONE && !auth_allows(&auth, methods[i].need)) {
                refuse = GRPC_STATUS_PERMISSION_DENIED;
                snprintf(why, sizeof why, "%s credential '%s' cannot do this: it needs %s",
                         pk_role_name(auth.who.role), auth.who.name, need_name(methods[i].need));
            }
            if (refuse != GRPC_STATUS_OK) {
                char q[500], qm[200];
                PK_WARN("auth", "call refused", "method=%s code=%d reason=%s",
                        pk_log_q(qm, sizeof qm, methods[i].path), (int)refuse, pk_log_q(q, sizeof q, why));
                atomic_fetch_add(&stat_auth_denied, 1);
            }
        }
        if (refuse != GRPC_STATUS_OK) {
            count_status(refuse);
            grpc_call_cancel_with_status(a->call, refuse, why, NULL);
            grpc_call_unref(a->call);
        } else if (methods[i].stream)
            stream_start(srv, a->call, &auth);
        else
            unary_start(srv, a->call, methods[i].method, methods[i].query, &auth);
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
    case TAG_STREAM_SEND: {
        struct stream *s = tag->owner;
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
        stream_maybe_finish(s);
        int freed;
        stream_unref_locked(s, &freed);
        if (!freed)
            pthread_mutex_unlock(&s->mu);
        break;
    }
    case TAG_STREAM_CLOSE: {
        struct stream *s = tag->owner;
        pthread_mutex_lock(&s->mu);
        s->finished = 1;
        s->status_sent = 1; /* the call is over: nothing more can be sent */
        if (s->probe_id) {
            char qp[300];
            PK_INFO("rpc", "probe stream closed", "probe=%s probe_id=%lld cancelled=%d",
                    pk_log_q(qp, sizeof qp, s->probe_name), (long long)s->probe_id, s->close_cancelled);
        }
        int freed;
        stream_unref_locked(s, &freed);
        if (!freed)
            pthread_mutex_unlock(&s->mu);
        break;
    }
    case TAG_STREAM_STATUS:
        stream_unref(tag->owner);
        break;
    case TAG_SHUTDOWN:
        break;
    }
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
    pthread_mutex_init(&srv.streams_mu, NULL);
    atomic_init(&srv.n_streams, 0);

    grpc_arg args[4];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = PK_WIRE_MAX_MESSAGE;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = PK_WIRE_MAX_MESSAGE;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_ALLOW_REUSEPORT; /* two collectors must never share a port silently */
    args[2].value.integer = 0;
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA;
    args[3].value.integer = 0;
    grpc_channel_args channel_args = {4, args};

    srv.cq = grpc_completion_queue_create_for_next(NULL);
    srv.server = grpc_server_create(&channel_args, NULL);
    grpc_server_register_completion_queue(srv.server, srv.cq, NULL);
    srv.plaintext = cfg->insecure_plaintext;
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
    int port = grpc_server_add_http2_port(srv.server, cfg->listen, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        snprintf(err, errlen, "cannot listen on %s (address in use or invalid)", cfg->listen);
        grpc_server_destroy(srv.server);
        grpc_completion_queue_shutdown(srv.cq);
        while (grpc_completion_queue_next(srv.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(srv.cq);
        pthread_mutex_destroy(&srv.streams_mu);
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
            if (!atomic_exchange(&srv.version_poll_queued, 1) && ingest_job(cfg->ingest, version_poll_job, &srv) < 0)
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
    pthread_mutex_destroy(&srv.streams_mu);
    PK_INFO("rpc", "stopped", "%s", "");
    return 0;
}
