/* rpc_probe.c: ProbeService. Register checks a probe's request and clock on the
 * completion-queue thread and stores it on the control thread. On the Connect
 * stream a Hello is checked against the credential on the control thread before
 * anything else is read; batches go to ingest's bounded writer queues (a stream
 * whose queue is full is not read until a batch commits, so gRPC flow control
 * slows the probe); heartbeats feed /metrics and the probe's row. Central
 * assignment: each stream is sent its CheckSet after Hello and whenever the
 * current version changes (rpc_probe_version_poll_job), and its acks are stored.
 * Never calls PostgreSQL from the completion-queue thread. */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hb_batch.h"
#include "log.h"
#include "result_pool.h"
#include "rpc_int.h"
#include "wire.h"

/* Decoded batches alive in the whole collector (result_pool.h) above which a
 * stream that has just handed a batch to the writers stops reading until one
 * of its batches is stored. Decoded, a result takes about 1 kB against about
 * 80 bytes on the wire, and each new array's pages are faulted in and zeroed
 * by the kernel: with 100 probes keeping 4 batches each in flight, the
 * collector held about 250 MB of decoded batches, more than the writers can
 * fold into their next transactions (20,000 results each), and page faults
 * were a seventh of its CPU. Past this bound every stream keeps one batch in
 * flight (so every paused stream is resumed by its own batch's commit, as with
 * the per-stream bound), and the arrays come back through the pool. */
#define DECODED_SOFT_MAX_BYTES ((size_t)64 << 20)

/* ------------------------------------------------------------ Register */

/* Control thread: a probe credential registers only its own name; stores the
 * probe, its labels and its checks, and answers with its id and where its
 * sequence was committed. */
static void register_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__RegisterRequest *req = u->job_data;
    if (rpc_job_admit(store, u) < 0)
        return;
    char err[512];
    if (!pk_identity_is_probe(&u->auth.who, req->probe_name)) {
        char qa[300], qb[300];
        snprintf(err, sizeof err, "credential of probe '%s' cannot register as probe '%.127s'", u->auth.who.name,
                 req->probe_name);
        PK_WARN("auth", "register refused", "credential_probe=%s probe=%s", pk_log_q(qa, sizeof qa, u->auth.who.name),
                pk_log_q(qb, sizeof qb, req->probe_name));
        rpc_stat_add(RPC_STAT_AUTH_DENIED, 1);
        rpc_unary_reply(u, GRPC_STATUS_PERMISSION_DENIED, err, NULL);
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
        rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
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
            checks[i].meta.budget_p50_ms = req->checks[i]->budget_p50_ms;
            checks[i].meta.budget_p95_ms = req->checks[i]->budget_p95_ms;
            checks[i].meta.budget_p99_ms = req->checks[i]->budget_p99_ms;
            checks[i].meta.slo_target_percent = req->checks[i]->slo_target_percent;
            checks[i].meta.slo_window_ms = req->checks[i]->slo_window_ms;
            pk_strlcpy(checks[i].meta.depends_on, req->checks[i]->depends_on, sizeof checks[i].meta.depends_on);
            pk_strlcpy(checks[i].meta.labels, req->checks[i]->labels, sizeof checks[i].meta.labels);
        }
        int rc = checks ? store_set_probe_checks(store, probe_id, checks, req->n_checks, err, sizeof err) : -1;
        free(checks);
        if (rc < 0) {
            rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, checks ? err : "out of memory", NULL);
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
    rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
}

/* Decodes and checks a RegisterRequest, then queues register_job. CQ thread. */
void rpc_probe_register_on_request(struct unary *u)
{
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
        rpc_unary_reply(u, code, why, NULL);
        return;
    }
    u->job_data = req;
    rpc_stat_add(RPC_STAT_REGISTERS, 1);
    if (ingest_job(u->srv->ingest, register_job, u) < 0)
        rpc_unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "collector busy", NULL);
}

/* ------------------------------------------------------------ the Connect stream */

/* Runs on a writer thread once a batch is committed. */
static void stream_batch_done(void *ctx, int ok, uint64_t committed_seq, size_t n_inserted)
{
    struct stream *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->inflight_batches--;
    if (!ok) {
        if (!s->finished)
            rpc_stream_abort(s, GRPC_STATUS_UNAVAILABLE, "batch not stored; resend");
    } else if (!s->status_sent) {
        Picket__V1__Ack ack = PICKET__V1__ACK__INIT;
        ack.committed_sequence = committed_seq;
        Picket__V1__CollectorMessage msg = PICKET__V1__COLLECTOR_MESSAGE__INIT;
        msg.kind_case = PICKET__V1__COLLECTOR_MESSAGE__KIND_ACK;
        msg.ack = &ack;
        rpc_stream_queue_send(s, &msg.base);
    }
    if (s->paused && !s->finished) {
        s->paused = 0;
        s->last_recv_mono_us = pk_mono_us(); /* the silence was ours */
        if (!s->checks_loading)
            rpc_stream_post_recv(s);
    }
    rpc_stream_maybe_finish(s);
    rpc_stream_unref_unlock(s);
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
            rpc_stream_queue_send(s, &msg.base);
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

/* New streams within this long of a read of the current version reuse it: a
 * fleet reconnecting at once (100 Hellos in a few hundred ms) then costs one
 * statement, not one per probe, on the control thread its Hellos wait on. A
 * version applied meanwhile reaches them with the next poll (once a second:
 * rpc_probe_version_poll_job pushes a new version to every open stream). */
#define VERSION_REUSE_US 1000000

static void push_new_stream_job(struct store *store, void *ctx)
{
    struct stream *s = ctx;
    struct server *srv = s->srv;
    char err[512];
    int64_t now = pk_mono_us();
    if (store && (srv->read_version_mono_us == 0 || now - srv->read_version_mono_us >= VERSION_REUSE_US)) {
        int64_t version = 0;
        if (store_assign_current(store, &version, err, sizeof err) == 0) {
            srv->read_version = version;
            srv->read_version_mono_us = now;
        }
    }
    if (store && srv->read_version_mono_us != 0 && now - srv->read_version_mono_us < VERSION_REUSE_US)
        push_checks(store, s, srv->read_version);
    rpc_stream_unref(s);
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

static void recheck_stream_credentials(struct store *store, struct server *srv);

/* Closes every open stream whose certificate is on the deny list (re-read when
 * the file changes, about once a second). Control thread. */
static void close_denied_certificates(struct server *srv)
{
    size_t n = 0;
    struct stream **list = streams_snapshot(srv, &n);
    for (size_t i = 0; list && i < n; i++) {
        struct stream *s = list[i];
        pthread_mutex_lock(&s->mu);
        if (!s->finished && s->auth.cert_sha256[0] && cert_deny_has(srv->deny, s->auth.cert_sha256)) {
            char why[300];
            snprintf(why, sizeof why, "certificate of '%s' (SHA-256 %s) is on the deny list: this stream is closed",
                     s->auth.who.name, s->auth.cert_sha256);
            rpc_stat_add(RPC_STAT_REVOKED_STREAMS, 1);
            rpc_stream_abort(s, GRPC_STATUS_UNAUTHENTICATED, why);
        }
        pthread_mutex_unlock(&s->mu);
        rpc_stream_unref(s);
    }
    free(list);
}

void rpc_probe_version_poll_job(struct store *store, void *ctx)
{
    struct server *srv = ctx;
    char err[512];
    if (store && !srv->plaintext)
        recheck_stream_credentials(store, srv);
    if (srv->deny) {
        cert_deny_refresh(srv->deny);
        close_denied_certificates(srv);
    }
    int64_t version = 0;
    int read = store && store_assign_current(store, &version, err, sizeof err) == 0;
    if (read) {
        srv->read_version = version;
        srv->read_version_mono_us = pk_mono_us();
    }
    if (read && version != srv->last_polled_version) {
        size_t n = 0;
        struct stream **list = streams_snapshot(srv, &n);
        PK_INFO("rpc", "checks version changed", "version=%lld previous=%lld streams=%zu", (long long)version,
                (long long)srv->last_polled_version, n);
        srv->last_polled_version = version;
        for (size_t i = 0; i < n; i++) {
            push_checks(store, list[i], version);
            rpc_stream_unref(list[i]);
        }
        free(list);
    }
    atomic_store(&srv->version_poll_queued, 0);
}

struct ack_ctx {
    int64_t probe_id, version;
    int accepted;
    char error[512];
    struct stream *s; /* with a reference: its checks are reloaded and reading resumes */
};

static void record_ack(struct store *store, const struct ack_ctx *a)
{
    char err[512];
    if (store && store_assign_ack(store, a->probe_id, a->version, a->accepted, a->error, err, sizeof err) < 0) {
        char q[600];
        PK_ERROR("rpc", "cannot record a checks ack", "probe_id=%lld error=%s", (long long)a->probe_id,
                 pk_log_q(q, sizeof q, err));
    }
}

/* The stream's checks become `checks` (owned from here on). */
static void install_stream_checks(struct stream *s, struct store_probe_check *checks, size_t n)
{
    size_t *next = calloc(n ? n : 1, sizeof *next);
    pthread_mutex_lock(&s->mu);
    free(s->checks);
    free(s->check_next);
    s->checks = checks;
    s->n_checks = n;
    s->check_next = next;
    s->check_last = 0;
    pthread_mutex_unlock(&s->mu);
}

/* Control thread: loads the checks the probe behind s may send results for.
 * -1 (logged) when the database failed: the caller closes the stream, the probe
 * reconnects and resends. */
static int load_stream_checks(struct store *store, struct stream *s, int64_t probe_id)
{
    char err[512];
    struct store_probe_check *checks = NULL;
    size_t n = 0;
    if (!store || store_probe_check_types(store, probe_id, &checks, &n, err, sizeof err) < 0) {
        char q[600];
        PK_ERROR("rpc", "cannot load a probe's checks", "probe_id=%lld error=%s", (long long)probe_id,
                 pk_log_q(q, sizeof q, store ? err : "database unavailable"));
        return -1;
    }
    install_stream_checks(s, checks, n);
    return 0;
}

static void checks_ack_job(struct store *store, void *ctx)
{
    struct ack_ctx *a = ctx;
    record_ack(store, a);
    struct stream *s = a->s;
    if (s) {
        int loaded = load_stream_checks(store, s, a->probe_id);
        pthread_mutex_lock(&s->mu);
        s->checks_loading = 0;
        s->last_recv_mono_us = pk_mono_us(); /* the silence was ours */
        if (loaded < 0 && !s->finished)
            rpc_stream_abort(s, GRPC_STATUS_UNAVAILABLE, "cannot load the probe's checks; reconnect");
        else if (!s->paused)
            rpc_stream_post_recv(s);
        rpc_stream_maybe_finish(s);
        rpc_stream_unref_unlock(s);
    }
    free(a);
}

/* ---- credentials of open streams (control thread, about once a second) ---- */

/* Closes every open stream whose bearer token was revoked (or deleted) since it
 * opened, wherever it was revoked: the credentials table is the one truth, so a
 * revocation through any collector reaches this one's streams within a poll. */
static void recheck_stream_credentials(struct store *store, struct server *srv)
{
    size_t n = 0, k = 0;
    struct stream **list = streams_snapshot(srv, &n);
    int64_t *ids = calloc(n ? n : 1, sizeof *ids);
    unsigned char *dead = calloc(n ? n : 1, 1);
    struct stream **tok = calloc(n ? n : 1, sizeof *tok);
    char err[512];
    if (list && ids && dead && tok) {
        for (size_t i = 0; i < n; i++)
            if (list[i]->auth.credential_id > 0) { /* fixed after Hello: read without the lock */
                ids[k] = list[i]->auth.credential_id;
                tok[k++] = list[i];
            }
        if (k && store_credentials_dead(store, ids, k, dead, err, sizeof err) < 0) {
            char q[600];
            PK_ERROR("auth", "cannot re-check open streams' credentials", "streams=%zu error=%s", k,
                     pk_log_q(q, sizeof q, err));
            k = 0;
        }
        for (size_t i = 0; i < k; i++) {
            if (!dead[i])
                continue;
            pthread_mutex_lock(&tok[i]->mu);
            if (!tok[i]->finished) {
                char why[300];
                snprintf(why, sizeof why, "credential %lld of '%s' was revoked: this stream is closed",
                         (long long)ids[i], tok[i]->auth.who.name);
                rpc_stat_add(RPC_STAT_REVOKED_STREAMS, 1);
                rpc_stream_abort(tok[i], GRPC_STATUS_UNAUTHENTICATED, why);
            }
            pthread_mutex_unlock(&tok[i]->mu);
        }
    }
    for (size_t i = 0; list && i < n; i++)
        rpc_stream_unref(list[i]);
    free(list);
    free(ids);
    free(dead);
    free(tok);
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
    /* The probe's name and its checks come in one statement (one round trip
     * less per Hello: a reconnecting fleet waits on this thread). */
    struct store_probe_check *checks = NULL;
    size_t n_checks = 0;
    if (!store) {
        code = GRPC_STATUS_UNAVAILABLE;
        snprintf(why, sizeof why, "database unavailable");
    } else if (rpc_auth_resolve(store, &s->auth, NEED_PROBE, &code, why, sizeof why) < 0) {
        /* code and why are set */
    } else if ((found = store_probe_hello(store, h->probe_id, name, sizeof name, &checks, &n_checks, why,
                                          sizeof why)) < 0) {
        code = GRPC_STATUS_UNAVAILABLE;
    } else if (!found) {
        code = GRPC_STATUS_FAILED_PRECONDITION;
        snprintf(why, sizeof why, "probe id %lld is not registered: call Register first", (long long)h->probe_id);
    } else if (!pk_identity_is_probe(&s->auth.who, name) ||
               (s->auth.who.role != PK_ROLE_ANY && h->hello_name[0] && strcmp(h->hello_name, name) != 0)) {
        code = GRPC_STATUS_PERMISSION_DENIED;
        snprintf(why, sizeof why, "credential of probe '%s' cannot send as probe '%s' (probe id %lld)",
                 s->auth.who.name, name, (long long)h->probe_id);
        rpc_stat_add(RPC_STAT_AUTH_DENIED, 1);
    }
    if (code == GRPC_STATUS_OK) {
        /* Keep probe_checks right when it reconnects running a pushed version,
         * then load what it may send results for. */
        pthread_mutex_lock(&s->mu);
        int64_t running = s->checks_version;
        pthread_mutex_unlock(&s->mu);
        if (running > 0) {
            /* record_ack may change them: read them again after it */
            struct ack_ctx a = {h->probe_id, running, 1, "", NULL};
            record_ack(store, &a);
            if (load_stream_checks(store, s, h->probe_id) < 0) {
                code = GRPC_STATUS_UNAVAILABLE;
                snprintf(why, sizeof why, "cannot load the checks of probe id %lld; retry", (long long)h->probe_id);
            }
        } else {
            install_stream_checks(s, checks, n_checks);
            checks = NULL;
        }
    }
    free(checks);
    pthread_mutex_lock(&s->mu);
    s->hello_pending = 0;
    if (!s->finished) {
        if (code != GRPC_STATUS_OK) {
            rpc_stream_abort(s, code, why);
        } else {
            s->probe_id = h->probe_id;
            pk_strlcpy(s->probe_name, name, sizeof s->probe_name);
            char qp[300], qw[300];
            PK_INFO("rpc", "probe stream open", "probe=%s probe_id=%lld credential=%s checks_version=%lld",
                    pk_log_q(qp, sizeof qp, s->probe_name), (long long)s->probe_id,
                    pk_log_q(qw, sizeof qw, s->auth.who.name), (long long)s->checks_version);
            rpc_stream_post_recv(s);
            /* Central assignment: send the probe its checks, and keep probe_checks
             * right when it reconnects running a pushed version. */
            s->refs++;
            if (ingest_job(s->srv->ingest, push_new_stream_job, s) < 0)
                s->refs--; /* the version poll sends it later */
        }
    }
    rpc_stream_maybe_finish(s);
    free(h);
    rpc_stream_unref_unlock(s);
}

/* A Hello: checked on the control thread (hello_job) before anything more is read. s->mu held. */
static void on_hello(struct stream *s, Picket__V1__ProbeMessage *msg)
{
    if (s->probe_id || s->hello_pending) {
        rpc_stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, "second hello on one stream");
        return;
    }
    if (msg->hello->probe_id <= 0) {
        rpc_stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, "hello without a probe_id: call Register first");
        return;
    }
    /* Nothing more is read until the control thread has checked the Hello. */
    struct hello_ctx *h = calloc(1, sizeof *h);
    if (!h) {
        rpc_stream_abort(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
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
        rpc_stream_abort(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "collector busy");
    }
}

static int by_name_and_type(const void *key, const void *elem)
{
    const struct pk_result *r = key;
    const struct store_probe_check *c = elem;
    int d = strcmp(r->check_name, c->name);
    return d ? d : strcmp(r->check_type, c->type);
}

/* A probe may send results only for the checks it registered or was assigned,
 * each with the type it has: anything else would let one probe overwrite
 * another's latest result or change a check's type for everyone. -1 + why for
 * the first result that is not its own. s->mu held. */
static int check_results_are_own(struct stream *s, struct pk_result *results, size_t n,
                                 const char *quoted_probe, char *why, size_t whylen)
{
    for (size_t i = 0; i < n; i++) {
        struct pk_result *r = &results[i];
        /* the check that followed the last one before, or the last one again,
         * else the search by name */
        size_t last = s->check_last, guess = last && s->check_next ? s->check_next[last - 1] : 0;
        const struct store_probe_check *c = NULL;
        if (guess && guess <= s->n_checks && by_name_and_type(r, &s->checks[guess - 1]) == 0)
            c = &s->checks[guess - 1];
        else if (last && last <= s->n_checks && by_name_and_type(r, &s->checks[last - 1]) == 0)
            c = &s->checks[last - 1];
        else
            c = bsearch(r, s->checks, s->n_checks, sizeof *s->checks, by_name_and_type);
        if (c && last && s->check_next)
            s->check_next[last - 1] = (size_t)(c - s->checks) + 1;
        if (!c) {
            char qc[300], qt[64];
            snprintf(why, whylen,
                     "probe %s (id %lld): result seq %llu is for check %s of type %s, which this probe neither "
                     "registered nor was assigned",
                     quoted_probe, (long long)s->probe_id, (unsigned long long)r->seq,
                     pk_log_q(qc, sizeof qc, r->check_name), pk_log_q(qt, sizeof qt, r->check_type));
            return -1;
        }
        r->check_id = c->id; /* the writer stores it without a lookup */
        s->check_last = (size_t)(c - s->checks) + 1;
    }
    return 0;
}

/* A batch of results: checked here, stored by an ingest writer (stream_batch_done). s->mu held. */
static void on_batch(struct stream *s, Picket__V1__ProbeMessage *msg)
{
    if (!s->probe_id) {
        rpc_stream_abort(s, GRPC_STATUS_FAILED_PRECONDITION, "batch before hello");
        return;
    }
    char err[300], why[1000], qp[300];
    struct pk_result *results = NULL;
    size_t n = 0;
    pk_log_q(qp, sizeof qp, s->probe_name);
    if (wire_decode_batch(msg->batch, &results, &n, err, sizeof err) < 0) {
        snprintf(why, sizeof why, "probe %s (id %lld): %s", qp, (long long)s->probe_id, err);
        rpc_stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, why);
        return;
    }
    if (results[0].seq <= s->last_seq) {
        snprintf(why, sizeof why,
                 "probe %s (id %lld): sequence went backwards on this stream: batch starts at %llu after %llu",
                 qp, (long long)s->probe_id, (unsigned long long)results[0].seq,
                 (unsigned long long)s->last_seq);
        pk_results_free(results, n);
        rpc_stream_abort(s, GRPC_STATUS_INVALID_ARGUMENT, why);
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
            pk_results_free(results, n);
            rpc_stream_abort(s, GRPC_STATUS_FAILED_PRECONDITION, why);
            return;
        }
    if (!s->srv->skip_result_validation && check_results_are_own(s, results, n, qp, why, sizeof why) < 0) {
        pk_results_free(results, n);
        rpc_stat_add(RPC_STAT_FOREIGN_RESULTS, 1);
        rpc_stream_abort(s, GRPC_STATUS_PERMISSION_DENIED, why);
        return;
    }
    s->last_seq = results[n - 1].seq;
    rpc_stat_add(RPC_STAT_BATCHES, 1);
    rpc_stat_add(RPC_STAT_RESULTS, n);
    s->inflight_batches++;
    s->refs++;
    /* ingest may call back on a writer thread before it returns: drop our lock. */
    int64_t probe_id = s->probe_id;
    pthread_mutex_unlock(&s->mu);
    int full = ingest_submit(s->srv->ingest, probe_id, results, n, stream_batch_done, s);
    pthread_mutex_lock(&s->mu);
    if (full || s->inflight_batches >= s->srv->max_inflight || pk_results_live_bytes() > DECODED_SOFT_MAX_BYTES) {
        s->paused = 1;
        rpc_stat_add(RPC_STAT_PAUSED, 1);
    }
    else
        rpc_stream_post_recv(s);
}

/* A heartbeat: remembered for /metrics and the probe's row, and answered. s->mu held. */
static void on_heartbeat(struct stream *s, Picket__V1__ProbeMessage *msg)
{
    if (!s->probe_id) {
        rpc_stream_abort(s, GRPC_STATUS_FAILED_PRECONDITION, "heartbeat before hello");
        return;
    }
    rpc_stat_heartbeat(s->probe_id, s->probe_name, msg->heartbeat);
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
    struct store_heartbeat figures = {.pending = msg->heartbeat->pending_results,
                                      .dropped = msg->heartbeat->dropped_results,
                                      .spool_bytes = msg->heartbeat->spool_bytes};
    hb_batch_add(s->srv->ingest, s->probe_id, &figures); /* stored in batches: hb_batch.h */
    Picket__V1__Heartbeat hb = PICKET__V1__HEARTBEAT__INIT;
    hb.sent_at_us = pk_now_us();
    Picket__V1__CollectorMessage out = PICKET__V1__COLLECTOR_MESSAGE__INIT;
    out.kind_case = PICKET__V1__COLLECTOR_MESSAGE__KIND_HEARTBEAT;
    out.heartbeat = &hb;
    rpc_stream_queue_send(s, &out.base);
    rpc_stream_post_recv(s);
}

/* The probe took, or refused, a pushed checks version. s->mu held. */
static void on_checks_ack(struct stream *s, Picket__V1__ProbeMessage *msg)
{
    if (!s->probe_id) {
        rpc_stream_abort(s, GRPC_STATUS_FAILED_PRECONDITION, "checks ack before hello");
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
        *a = (struct ack_ctx){s->probe_id, ack->version, ack->accepted ? 1 : 0, "", NULL};
        pk_strlcpy(a->error, ack->error, sizeof a->error);
        if (ack->accepted) {
            /* Results of the new checks follow the ack: read nothing more until
             * the control thread has stored it and reloaded the probe's checks. */
            a->s = s;
            s->refs++;
            s->checks_loading = 1;
        }
        if (ingest_job(s->srv->ingest, checks_ack_job, a) < 0) {
            if (a->s) {
                s->refs--;
                s->checks_loading = 0;
            }
            free(a);
        } else if (a->s) {
            return;
        }
    }
    rpc_stream_post_recv(s);
}

/* A message arrived on a Connect stream. s->mu held. */
void rpc_probe_on_message(struct stream *s, Picket__V1__ProbeMessage *msg)
{
    switch (msg->kind_case) {
    case PICKET__V1__PROBE_MESSAGE__KIND_HELLO:
        on_hello(s, msg);
        return;
    case PICKET__V1__PROBE_MESSAGE__KIND_BATCH:
        on_batch(s, msg);
        return;
    case PICKET__V1__PROBE_MESSAGE__KIND_HEARTBEAT:
        on_heartbeat(s, msg);
        return;
    case PICKET__V1__PROBE_MESSAGE__KIND_CHECKS_ACK:
        on_checks_ack(s, msg);
        return;
    default:
        /* An unknown kind from a newer probe: ignore it, as the contract says. */
        rpc_stream_post_recv(s);
        return;
    }
}
