/* rpc_uplink.c: the probe's gRPC client (Register, then one Connect stream).
 * Owns the buffer of unacknowledged results: a ring in memory, oldest first;
 * a result leaves it only when an Ack covers its sequence, or when the ring is
 * full and it is the oldest (counted and reported, never silent). One thread,
 * one completion queue, at most one send in flight, a bounded window of batches
 * sent ahead of their acks. */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rpc_client.h"
#include "uplink.h"
#include "wire.h"

#define CONNECT_PATH "/picket.v1.ProbeService/Connect"
#define REGISTER_PATH "/picket.v1.ProbeService/Register"

enum tag_kind { T_SEND, T_RECV, T_STATUS, T_START };

struct tag {
    enum tag_kind kind;
};

struct uplink {
    /* configuration (owned copies) */
    char **collectors;
    size_t n_collectors;
    char *probe_name, *region;
    struct pk_kv *labels;
    size_t n_labels;
    struct uplink_check_info *checks;
    size_t n_checks;
    int batch_max, flush_ms, heartbeat_ms, window_batches;
    size_t buffer_max;

    pthread_t thread;
    atomic_int stopping;

    /* the ring of unacknowledged results, guarded by mu */
    pthread_mutex_t mu;
    struct pk_result *ring;
    size_t head, count; /* oldest at ring[head] */
    size_t sent;        /* how many from head are in flight on the current stream */
    int registered;     /* sequence numbers are assigned once the collector said where to start */
    uint64_t next_seq;
    uint64_t acked_seq;
    uint64_t produced, dropped, reconnects;
    int connected;
    int64_t oldest_unsent_mono_us;
    /* central assignment */
    int (*on_checks)(int64_t, const char *const *, const char *const *, size_t, void *, char *, size_t);
    void *checks_user;
    atomic_llong checks_version; /* the version the probe runs, told in Hello */
};

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static void *uplink_main(void *arg);

struct uplink *uplink_start(const struct uplink_config *cfg, char *err, size_t errlen)
{
    if (cfg->n_collectors == 0) {
        snprintf(err, errlen, "no collector address given");
        return NULL;
    }
    if (!cfg->probe_name || !cfg->probe_name[0]) {
        snprintf(err, errlen, "the probe has no name");
        return NULL;
    }
    struct uplink *u = calloc(1, sizeof *u);
    if (!u)
        goto oom;
    u->batch_max = cfg->batch_max > 0 ? cfg->batch_max : 500;
    if (u->batch_max > PK_WIRE_MAX_BATCH)
        u->batch_max = PK_WIRE_MAX_BATCH;
    u->flush_ms = cfg->flush_ms > 0 ? cfg->flush_ms : 200;
    u->heartbeat_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : 10000;
    u->window_batches = cfg->window_batches > 0 ? cfg->window_batches : 8;
    u->buffer_max = cfg->buffer_max ? cfg->buffer_max : 100000;
    u->collectors = calloc(cfg->n_collectors, sizeof *u->collectors);
    u->labels = calloc(cfg->n_labels ? cfg->n_labels : 1, sizeof *u->labels);
    u->checks = calloc(cfg->n_checks ? cfg->n_checks : 1, sizeof *u->checks);
    u->ring = malloc(u->buffer_max * sizeof *u->ring);
    if (!u->collectors || !u->labels || !u->checks || !u->ring)
        goto oom;
    u->n_collectors = cfg->n_collectors;
    for (size_t i = 0; i < cfg->n_collectors; i++)
        u->collectors[i] = dup_or_empty(cfg->collectors[i]);
    u->n_labels = cfg->n_labels;
    for (size_t i = 0; i < cfg->n_labels; i++) {
        u->labels[i].key = dup_or_empty(cfg->labels[i].key);
        u->labels[i].value = dup_or_empty(cfg->labels[i].value);
    }
    u->n_checks = cfg->n_checks;
    for (size_t i = 0; i < cfg->n_checks; i++) {
        u->checks[i].name = dup_or_empty(cfg->checks[i].name);
        u->checks[i].type = dup_or_empty(cfg->checks[i].type);
        u->checks[i].target = dup_or_empty(cfg->checks[i].target);
        u->checks[i].interval_ms = cfg->checks[i].interval_ms;
    }
    u->probe_name = dup_or_empty(cfg->probe_name);
    u->region = dup_or_empty(cfg->region);
    pthread_mutex_init(&u->mu, NULL);
    atomic_init(&u->stopping, 0);
    u->next_seq = 1;
    u->on_checks = cfg->on_checks;
    u->checks_user = cfg->checks_user;
    atomic_init(&u->checks_version, 0);
    grpc_init();
    if (pthread_create(&u->thread, NULL, uplink_main, u) != 0) {
        snprintf(err, errlen, "cannot start the uplink thread");
        return NULL; /* leaks the copies; only at start-up, and the probe exits */
    }
    return u;
oom:
    snprintf(err, errlen, "out of memory");
    if (u) {
        free(u->collectors);
        free(u->labels);
        free(u->checks);
        free(u->ring);
        free(u);
    }
    return NULL;
}

void uplink_submit(struct uplink *u, const struct pk_result *r)
{
    pthread_mutex_lock(&u->mu);
    if (u->count == u->buffer_max) {
        /* Full: the oldest result goes, and the loss is counted. */
        u->head = (u->head + 1) % u->buffer_max;
        u->count--;
        if (u->sent)
            u->sent--;
        u->dropped++;
        if (u->dropped == 1 || u->dropped % 10000 == 0)
            PK_WARN("uplink", "buffer full; dropping oldest results", "dropped_total=%llu buffer_max=%zu",
                    (unsigned long long)u->dropped, u->buffer_max);
    }
    struct pk_result *slot = &u->ring[(u->head + u->count) % u->buffer_max];
    *slot = *r;
    slot->seq = u->registered ? u->next_seq++ : 0;
    if (u->count == u->sent)
        u->oldest_unsent_mono_us = pk_mono_us();
    u->count++;
    u->produced++;
    pthread_mutex_unlock(&u->mu);
}

void uplink_get_stats(struct uplink *u, struct uplink_stats *out)
{
    pthread_mutex_lock(&u->mu);
    out->produced = u->produced;
    out->acked_seq = u->acked_seq;
    out->pending = u->count;
    out->dropped = u->dropped;
    out->reconnects = u->reconnects;
    out->connected = u->connected;
    pthread_mutex_unlock(&u->mu);
}

/* The collector told us its high-water mark for this probe. Results it already
 * has leave the ring; on the first registration, numbering starts above it. */
static void on_registered(struct uplink *u, uint64_t committed)
{
    pthread_mutex_lock(&u->mu);
    if (!u->registered) {
        /* A restarted probe continues the sequence where the store left it. */
        u->next_seq = committed + 1;
        for (size_t i = 0; i < u->count; i++)
            u->ring[(u->head + i) % u->buffer_max].seq = u->next_seq++;
        u->registered = 1;
    }
    while (u->count && u->ring[u->head].seq <= committed) {
        u->head = (u->head + 1) % u->buffer_max;
        u->count--;
    }
    if (committed > u->acked_seq)
        u->acked_seq = committed;
    u->sent = 0;
    pthread_mutex_unlock(&u->mu);
}

static void on_ack(struct uplink *u, uint64_t committed)
{
    pthread_mutex_lock(&u->mu);
    while (u->count && u->ring[u->head].seq <= committed) {
        u->head = (u->head + 1) % u->buffer_max;
        u->count--;
        if (u->sent)
            u->sent--;
    }
    if (committed > u->acked_seq)
        u->acked_seq = committed;
    pthread_mutex_unlock(&u->mu);
}

/* Copies the next batch to send, if one is due. Returns how many (0 = nothing). */
static size_t take_batch(struct uplink *u, struct pk_result *out, int force)
{
    pthread_mutex_lock(&u->mu);
    size_t unsent = u->count - u->sent;
    size_t n = 0;
    int due = unsent >= (size_t)u->batch_max ||
              (unsent > 0 && (force || pk_mono_us() - u->oldest_unsent_mono_us >= (int64_t)u->flush_ms * 1000));
    if (due && u->registered) {
        n = unsent > (size_t)u->batch_max ? (size_t)u->batch_max : unsent;
        for (size_t i = 0; i < n; i++)
            out[i] = u->ring[(u->head + u->sent + i) % u->buffer_max];
        u->sent += n;
        u->oldest_unsent_mono_us = pk_mono_us();
    }
    pthread_mutex_unlock(&u->mu);
    return n;
}

/* Register; 0 with *probe_id set, or -1 (logged). */
static int do_register(struct uplink *u, grpc_channel *ch, const char *address, int64_t *probe_id)
{
    Picket__V1__RegisterRequest req = PICKET__V1__REGISTER_REQUEST__INIT;
    req.probe_name = u->probe_name;
    req.region = u->region;
    req.version = (char *)PICKET_VERSION;
    Picket__V1__Label *labels = calloc(u->n_labels ? u->n_labels : 1, sizeof *labels);
    Picket__V1__Label **label_ptrs = calloc(u->n_labels ? u->n_labels : 1, sizeof *label_ptrs);
    Picket__V1__CheckInfo *checks = calloc(u->n_checks ? u->n_checks : 1, sizeof *checks);
    Picket__V1__CheckInfo **check_ptrs = calloc(u->n_checks ? u->n_checks : 1, sizeof *check_ptrs);
    char *caps[] = {"http"};
    int rc = -1;
    uint8_t *buf = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    if (!labels || !label_ptrs || !checks || !check_ptrs)
        goto out;
    for (size_t i = 0; i < u->n_labels; i++) {
        picket__v1__label__init(&labels[i]);
        labels[i].key = u->labels[i].key;
        labels[i].value = u->labels[i].value;
        label_ptrs[i] = &labels[i];
    }
    for (size_t i = 0; i < u->n_checks; i++) {
        picket__v1__check_info__init(&checks[i]);
        checks[i].name = (char *)u->checks[i].name;
        checks[i].type = (char *)u->checks[i].type;
        checks[i].target = (char *)u->checks[i].target;
        checks[i].interval_ms = u->checks[i].interval_ms;
        check_ptrs[i] = &checks[i];
    }
    req.n_labels = u->n_labels;
    req.labels = label_ptrs;
    req.n_checks = u->n_checks;
    req.checks = check_ptrs;
    req.n_capabilities = 1;
    req.capabilities = caps;
    if (wire_pack(&req.base, &buf, &len) < 0)
        goto out;
    char err[512];
    if (rpc_unary(ch, REGISTER_PATH, buf, len, &resp, &resp_len, 5000, NULL, err, sizeof err) < 0) {
        char q[600];
        PK_WARN("uplink", "register failed", "collector=%s error=%s", address, pk_log_q(q, sizeof q, err));
        goto out;
    }
    Picket__V1__RegisterResponse *r = picket__v1__register_response__unpack(NULL, resp_len, resp);
    if (!r || r->probe_id <= 0) {
        PK_WARN("uplink", "register answer malformed", "collector=%s", address);
        if (r)
            picket__v1__register_response__free_unpacked(r, NULL);
        goto out;
    }
    rc = 0;
    *probe_id = r->probe_id;
    on_registered(u, r->committed_sequence);
    PK_INFO("uplink", "registered", "collector=%s probe_id=%lld committed_seq=%llu", address,
            (long long)r->probe_id, (unsigned long long)r->committed_sequence);
    if (r->heartbeat_interval_ms > 0)
        u->heartbeat_ms = (int)r->heartbeat_interval_ms;
    picket__v1__register_response__free_unpacked(r, NULL);
out:
    free(buf);
    free(resp);
    free(labels);
    free(label_ptrs);
    free(checks);
    free(check_ptrs);
    return rc;
}

/* State of one Connect stream. */
struct conn {
    grpc_call *call;
    grpc_completion_queue *cq;
    struct tag send_tag, recv_tag, status_tag, start_tag;
    grpc_byte_buffer *send_buf, *recv_buf;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    int send_inflight, recv_pending, status_done, start_pending;
    int batches_unacked;
    uint64_t last_batch_end_seq;
    int checks_ack_pending, checks_ack_accepted;
    int64_t checks_ack_version;
    char checks_ack_error[512];
    int64_t last_heard_mono_us, last_heartbeat_mono_us;
};

static int conn_send(struct conn *c, const uint8_t *buf, size_t len)
{
    c->send_buf = rpc_buffer_from(buf, len);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = c->send_buf;
    if (grpc_call_start_batch(c->call, &op, 1, &c->send_tag, NULL) != GRPC_CALL_OK) {
        grpc_byte_buffer_destroy(c->send_buf);
        c->send_buf = NULL;
        return -1;
    }
    c->send_inflight = 1;
    return 0;
}

static int conn_recv(struct conn *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_buf;
    if (grpc_call_start_batch(c->call, &op, 1, &c->recv_tag, NULL) != GRPC_CALL_OK)
        return -1;
    c->recv_pending = 1;
    return 0;
}

static int send_pack(struct conn *c, const ProtobufCMessage *msg)
{
    uint8_t *buf;
    size_t len;
    if (wire_pack(msg, &buf, &len) < 0)
        return -1;
    int rc = conn_send(c, buf, len);
    free(buf);
    return rc;
}

/* Runs one stream until it ends or the uplink stops. Returns 1 if it ever got an
 * ack or heartbeat (a healthy session), 0 otherwise. */
static int run_stream(struct uplink *u, grpc_channel *ch, int64_t probe_id, const char *address)
{
    struct conn c;
    memset(&c, 0, sizeof c);
    c.send_tag.kind = T_SEND;
    c.recv_tag.kind = T_RECV;
    c.status_tag.kind = T_STATUS;
    c.start_tag.kind = T_START;
    c.details = grpc_empty_slice();
    grpc_metadata_array_init(&c.initial_md);
    grpc_metadata_array_init(&c.trailing_md);
    c.cq = grpc_completion_queue_create_for_next(NULL);
    grpc_slice method = grpc_slice_from_static_string(CONNECT_PATH);
    c.call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, c.cq, method, NULL,
                                      gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    int healthy = 0;
    struct pk_result *batch = malloc((size_t)u->batch_max * sizeof *batch);

    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &c.initial_md;
    grpc_call_start_batch(c.call, ops, 2, &c.start_tag, NULL);
    c.start_pending = 1;
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.status = &c.status;
    ops[0].data.recv_status_on_client.status_details = &c.details;
    ops[0].data.recv_status_on_client.trailing_metadata = &c.trailing_md;
    grpc_call_start_batch(c.call, ops, 1, &c.status_tag, NULL);

    Picket__V1__Hello hello = PICKET__V1__HELLO__INIT;
    hello.probe_id = probe_id;
    hello.probe_name = u->probe_name;
    hello.checks_version = atomic_load(&u->checks_version);
    Picket__V1__ProbeMessage hm = PICKET__V1__PROBE_MESSAGE__INIT;
    hm.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_HELLO;
    hm.hello = &hello;
    send_pack(&c, &hm.base);
    conn_recv(&c);
    c.last_heard_mono_us = c.last_heartbeat_mono_us = pk_mono_us();
    pthread_mutex_lock(&u->mu);
    u->sent = 0;
    u->connected = 1;
    pthread_mutex_unlock(&u->mu);

    int cancelled = 0;
    while (!c.status_done) {
        int64_t now = pk_mono_us();
        int stopping = atomic_load(&u->stopping);
        if (!cancelled && stopping) {
            grpc_call_cancel(c.call, NULL);
            cancelled = 1;
        }
        /* A collector that stays silent for three heartbeats is gone: start over. */
        if (!cancelled && now - c.last_heard_mono_us > (int64_t)u->heartbeat_ms * 3000) {
            PK_WARN("uplink", "collector silent; reconnecting", "collector=%s silent_ms=%lld", address,
                    (long long)((now - c.last_heard_mono_us) / 1000));
            grpc_call_cancel(c.call, NULL);
            cancelled = 1;
        }
        if (!cancelled && !c.send_inflight) {
            if (c.checks_ack_pending) {
                Picket__V1__CheckSetAck ack = PICKET__V1__CHECK_SET_ACK__INIT;
                ack.version = c.checks_ack_version;
                ack.accepted = c.checks_ack_accepted;
                ack.error = c.checks_ack_error;
                Picket__V1__ProbeMessage m = PICKET__V1__PROBE_MESSAGE__INIT;
                m.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_CHECKS_ACK;
                m.checks_ack = &ack;
                send_pack(&c, &m.base);
                c.checks_ack_pending = 0;
            } else if (now - c.last_heartbeat_mono_us >= (int64_t)u->heartbeat_ms * 1000) {
                struct uplink_stats st;
                uplink_get_stats(u, &st);
                Picket__V1__Heartbeat hb = PICKET__V1__HEARTBEAT__INIT;
                hb.sent_at_us = pk_now_us();
                hb.pending_results = st.pending;
                hb.dropped_results = st.dropped;
                Picket__V1__ProbeMessage m = PICKET__V1__PROBE_MESSAGE__INIT;
                m.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_HEARTBEAT;
                m.heartbeat = &hb;
                send_pack(&c, &m.base);
                c.last_heartbeat_mono_us = now;
            } else if (c.batches_unacked < u->window_batches && batch) {
                size_t n = take_batch(u, batch, 0);
                if (n) {
                    uint8_t *buf;
                    size_t len;
                    if (wire_encode_batch(batch, n, &buf, &len) == 0) {
                        conn_send(&c, buf, len);
                        free(buf);
                        c.batches_unacked++;
                        c.last_batch_end_seq = batch[n - 1].seq;
                    }
                }
            }
        }
        grpc_event ev = grpc_completion_queue_next(
            c.cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(10, GPR_TIMESPAN)), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            continue;
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        struct tag *t = ev.tag;
        switch (t->kind) {
        case T_START:
            c.start_pending = 0;
            break;
        case T_SEND:
            c.send_inflight = 0;
            if (c.send_buf) {
                grpc_byte_buffer_destroy(c.send_buf);
                c.send_buf = NULL;
            }
            break;
        case T_RECV: {
            c.recv_pending = 0;
            grpc_byte_buffer *bb = c.recv_buf;
            c.recv_buf = NULL;
            if (!ev.success || !bb)
                break; /* the stream is ending; the status follows */
            size_t len = 0;
            uint8_t *data = rpc_buffer_read(bb, &len);
            grpc_byte_buffer_destroy(bb);
            Picket__V1__CollectorMessage *m = data ? picket__v1__collector_message__unpack(NULL, len, data) : NULL;
            free(data);
            c.last_heard_mono_us = pk_mono_us();
            if (m) {
                if (m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_ACK) {
                    on_ack(u, m->ack->committed_sequence);
                    healthy = 1;
                    /* Acks are cumulative: count what is still outstanding. */
                    if (m->ack->committed_sequence >= c.last_batch_end_seq)
                        c.batches_unacked = 0;
                    else if (c.batches_unacked > 0)
                        c.batches_unacked--;
                } else if (m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_HEARTBEAT) {
                    healthy = 1;
                } else if (m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_CHECKS && u->on_checks) {
                    /* Central assignment: the probe swaps (or refuses) and we say which. */
                    size_t n = m->checks->n_documents;
                    const char **origins = calloc(n ? n : 1, sizeof *origins);
                    const char **docs = calloc(n ? n : 1, sizeof *docs);
                    c.checks_ack_error[0] = '\0';
                    int ok = origins && docs;
                    for (size_t i = 0; ok && i < n; i++) {
                        origins[i] = m->checks->documents[i]->origin;
                        docs[i] = m->checks->documents[i]->yaml;
                    }
                    ok = ok && u->on_checks(m->checks->version, origins, docs, n, u->checks_user, c.checks_ack_error,
                                            sizeof c.checks_ack_error) == 0;
                    if (ok)
                        atomic_store(&u->checks_version, m->checks->version);
                    c.checks_ack_version = m->checks->version;
                    c.checks_ack_accepted = ok;
                    c.checks_ack_pending = 1;
                    free(origins);
                    free(docs);
                }
                picket__v1__collector_message__free_unpacked(m, NULL);
            }
            if (!cancelled)
                conn_recv(&c);
            break;
        }
        case T_STATUS:
            c.status_done = 1;
            break;
        }
    }
    /* Drain what is still pending on this call before destroying the queue. */
    grpc_call_cancel(c.call, NULL);
    grpc_call_unref(c.call);
    grpc_completion_queue_shutdown(c.cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    grpc_completion_queue_destroy(c.cq);
    if (c.send_buf)
        grpc_byte_buffer_destroy(c.send_buf);
    if (c.recv_buf)
        grpc_byte_buffer_destroy(c.recv_buf);
    if (!atomic_load(&u->stopping)) {
        char q[600];
        char details[400];
        snprintf(details, sizeof details, "%.*s", (int)GRPC_SLICE_LENGTH(c.details),
                 (const char *)GRPC_SLICE_START_PTR(c.details));
        PK_WARN("uplink", "stream ended", "collector=%s status=%d details=%s", address, (int)c.status,
                pk_log_q(q, sizeof q, details));
    }
    grpc_slice_unref(c.details);
    grpc_metadata_array_destroy(&c.initial_md);
    grpc_metadata_array_destroy(&c.trailing_md);
    pthread_mutex_lock(&u->mu);
    u->sent = 0;
    u->connected = 0;
    pthread_mutex_unlock(&u->mu);
    free(batch);
    return healthy;
}

static void sleep_while_running(struct uplink *u, int ms)
{
    for (int waited = 0; waited < ms && !atomic_load(&u->stopping); waited += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *uplink_main(void *arg)
{
    struct uplink *u = arg;
    size_t which = 0;
    int backoff_ms = 200;
    while (!atomic_load(&u->stopping)) {
        const char *address = u->collectors[which];
        grpc_channel *ch = rpc_channel_create(address);
        int healthy = 0;
        int64_t probe_id = 0;
        if (do_register(u, ch, address, &probe_id) == 0)
            healthy = run_stream(u, ch, probe_id, address);
        grpc_channel_destroy(ch);
        if (atomic_load(&u->stopping))
            break;
        pthread_mutex_lock(&u->mu);
        u->reconnects++;
        pthread_mutex_unlock(&u->mu);
        if (healthy) {
            backoff_ms = 200;
        } else {
            /* Try the next collector; back off once every address has failed. */
            which = (which + 1) % u->n_collectors;
            if (which == 0 || u->n_collectors == 1) {
                sleep_while_running(u, backoff_ms);
                backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
            }
        }
    }
    return NULL;
}

void uplink_stop(struct uplink *u, int drain_ms)
{
    if (!u)
        return;
    for (int waited = 0; waited < drain_ms; waited += 50) {
        struct uplink_stats st;
        uplink_get_stats(u, &st);
        if (st.pending == 0)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    atomic_store(&u->stopping, 1);
    pthread_join(u->thread, NULL);
    pthread_mutex_lock(&u->mu);
    if (u->count)
        PK_WARN("uplink", "stopping with unacknowledged results", "pending=%zu", u->count);
    PK_INFO("uplink", "stopped", "produced=%llu acked_seq=%llu pending=%zu dropped=%llu reconnects=%llu",
            (unsigned long long)u->produced, (unsigned long long)u->acked_seq, u->count,
            (unsigned long long)u->dropped, (unsigned long long)u->reconnects);
    pthread_mutex_unlock(&u->mu);
    for (size_t i = 0; i < u->n_collectors; i++)
        free(u->collectors[i]);
    for (size_t i = 0; i < u->n_labels; i++) {
        free(u->labels[i].key);
        free(u->labels[i].value);
    }
    for (size_t i = 0; i < u->n_checks; i++) {
        free((char *)u->checks[i].name);
        free((char *)u->checks[i].type);
        free((char *)u->checks[i].target);
    }
    free(u->collectors);
    free(u->labels);
    free(u->checks);
    free(u->probe_name);
    free(u->region);
    free(u->ring);
    pthread_mutex_destroy(&u->mu);
    free(u);
    grpc_shutdown();
}
