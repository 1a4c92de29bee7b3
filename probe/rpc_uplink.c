/* rpc_uplink.c: the probe's gRPC client (Register, then one Connect stream).
 * Every result goes into the on-disk spool (probe/spool.c) first; the stream
 * reads batches back from the spool and a result leaves the spool only when an
 * Ack covers its sequence (or the spool is over its cap, counted and reported).
 * One thread, one completion queue, at most one send in flight, a bounded
 * window of batches sent ahead of their acks. Nothing is held in memory but
 * the batch being sent. */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rpc_client.h"
#include "spool.h"
#include "uplink.h"
#include "wire.h"

#define CONNECT_PATH "/picket.v1.ProbeService/Connect"
#define REGISTER_PATH "/picket.v1.ProbeService/Register"
/* Room for protobuf framing under the collector's message limit. */
#define BATCH_MAX_BYTES (PK_WIRE_MAX_MESSAGE - 64 * 1024)

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

    pthread_t thread;
    atomic_int stopping;
    struct spool *spool;

    /* touched by the submitting thread too */
    atomic_uint_least64_t lost; /* results that could not be spooled (disk full...) */
    atomic_uint_least64_t reconnects;
    atomic_int connected;
    atomic_int registered;

    /* uplink thread only */
    uint64_t base;     /* wire sequence = base + lsn */
    uint64_t send_lsn; /* highest lsn sent on the current stream */
    int64_t last_send_mono_us;
    struct spool_batch rb;
    struct wire_encoded *items;
    /* timing of a backlog's drain (logged: the spool replay rate) */
    int64_t last_ack_mono_us, drain_t0_us;
    uint64_t drain_seq0;
    int draining;
    /* central assignment */
    int (*on_checks)(int64_t, const char *const *, const char *const *, size_t, void *, char *, size_t);
    void *checks_user;
    atomic_llong checks_version; /* the version the probe runs, told in Hello */
};

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static void *uplink_main(void *arg);

static void free_copies(struct uplink *u)
{
    for (size_t i = 0; u->collectors && i < u->n_collectors; i++)
        free(u->collectors[i]);
    for (size_t i = 0; u->labels && i < u->n_labels; i++) {
        free(u->labels[i].key);
        free(u->labels[i].value);
    }
    for (size_t i = 0; u->checks && i < u->n_checks; i++) {
        free((char *)u->checks[i].name);
        free((char *)u->checks[i].type);
        free((char *)u->checks[i].target);
        free((char *)u->checks[i].service);
    }
    free(u->collectors);
    free(u->labels);
    free(u->checks);
    free(u->probe_name);
    free(u->region);
    free(u->items);
    spool_batch_free(&u->rb);
    spool_close(u->spool);
    free(u);
}

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
    u->collectors = calloc(cfg->n_collectors, sizeof *u->collectors);
    u->labels = calloc(cfg->n_labels ? cfg->n_labels : 1, sizeof *u->labels);
    u->checks = calloc(cfg->n_checks ? cfg->n_checks : 1, sizeof *u->checks);
    u->items = calloc((size_t)u->batch_max, sizeof *u->items);
    if (!u->collectors || !u->labels || !u->checks || !u->items)
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
        u->checks[i].service = dup_or_empty(cfg->checks[i].service);
        u->checks[i].meta = cfg->checks[i].meta;
    }
    u->probe_name = dup_or_empty(cfg->probe_name);
    u->region = dup_or_empty(cfg->region);
    struct spool_config sc = {
        .dir = cfg->spool_dir,
        .cap_bytes = cfg->spool_cap_bytes,
        .segment_bytes = cfg->spool_segment_bytes,
        .fsync_ms = cfg->spool_fsync_ms,
    };
    u->spool = spool_open(&sc, err, errlen);
    if (!u->spool) {
        free_copies(u);
        return NULL;
    }
    struct spool_stats st;
    spool_get_stats(u->spool, &st);
    if (st.next_lsn > st.first_lsn)
        PK_INFO("uplink", "spool holds results from before; they will be sent", "dir=%s records=%" PRIu64
                " bytes=%" PRIu64, cfg->spool_dir, st.next_lsn - st.first_lsn, st.bytes);
    atomic_init(&u->stopping, 0);
    u->on_checks = cfg->on_checks;
    u->checks_user = cfg->checks_user;
    atomic_init(&u->checks_version, 0);
    grpc_init();
    if (pthread_create(&u->thread, NULL, uplink_main, u) != 0) {
        snprintf(err, errlen, "cannot start the uplink thread");
        free_copies(u);
        grpc_shutdown();
        return NULL;
    }
    return u;
oom:
    snprintf(err, errlen, "out of memory");
    if (u)
        free_copies(u);
    return NULL;
}

void uplink_submit(struct uplink *u, const struct pk_result *r)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[300];
    uint64_t lsn;
    if (wire_encode_result_unsequenced(r, &buf, &len) < 0) {
        snprintf(err, sizeof err, "cannot encode the result");
    } else if (spool_append(u->spool, buf, len, &lsn, err, sizeof err) == 0) {
        free(buf);
        return;
    }
    free(buf);
    uint64_t lost = atomic_fetch_add(&u->lost, 1) + 1;
    if (lost == 1 || lost % 1000 == 0) {
        char q[400];
        PK_ERROR("uplink", "result lost: it could not be spooled", "lost_total=%" PRIu64 " error=%s", lost,
                 pk_log_q(q, sizeof q, err));
    }
}

void uplink_get_stats(struct uplink *u, struct uplink_stats *out)
{
    struct spool_stats st;
    spool_get_stats(u->spool, &st);
    /* The spool's own count of appended records: it survives restarts with the spool. */
    out->produced = st.next_lsn > 0 ? st.next_lsn - 1 : 0;
    out->acked_seq = st.has_base ? st.base + st.acked_lsn : 0;
    /* Pending are the records still on disk and not acknowledged: those the cap
     * dropped (before first_lsn) are counted in dropped, not here. */
    uint64_t from = st.acked_lsn + 1 > st.first_lsn ? st.acked_lsn + 1 : st.first_lsn;
    out->pending = st.next_lsn > from ? st.next_lsn - from : 0;
    out->dropped = st.dropped + atomic_load(&u->lost);
    out->spool_bytes = st.bytes;
    out->spool_corrupt = st.corrupt_records;
    out->reconnects = atomic_load(&u->reconnects);
    out->connected = atomic_load(&u->connected);
}

/* The collector told us its high-water mark for this probe. Results it already
 * has leave the spool; resending starts right after it. The first time (or
 * when the collector is ahead of this spool: a wiped or restored spool), the
 * sequence base is fixed so that everything pending numbers above the mark. */
static void on_registered(struct uplink *u, uint64_t committed)
{
    struct spool_stats st;
    spool_get_stats(u->spool, &st);
    uint64_t last = st.next_lsn - 1;
    if (!st.has_base || committed > st.base + last) {
        uint64_t oldest = st.first_lsn > st.acked_lsn + 1 ? st.first_lsn : st.acked_lsn + 1;
        uint64_t base = committed >= oldest - 1 ? committed - (oldest - 1) : 0;
        if (st.has_base)
            PK_WARN("uplink", "the collector has sequences this spool never made (spool wiped or restored?); "
                    "renumbering pending results above them", "committed_seq=%" PRIu64 " old_base=%" PRIu64
                    " new_base=%" PRIu64, committed, st.base, base);
        char err[300];
        if (spool_set_base(u->spool, base, err, sizeof err) < 0)
            PK_ERROR("uplink", "cannot record the sequence base", "error=%s", err);
        st.base = base;
    }
    u->base = st.base;
    uint64_t acked = committed > u->base ? committed - u->base : 0;
    spool_ack(u->spool, acked);
    spool_get_stats(u->spool, &st);
    u->send_lsn = st.acked_lsn;
    u->last_ack_mono_us = 0;
    u->draining = 0;
    atomic_store(&u->registered, 1);
}

static void on_ack(struct uplink *u, uint64_t committed)
{
    if (committed > u->base)
        spool_ack(u->spool, committed - u->base);
    /* The first ack after a pause (a new stream, or a store that was down)
     * with a backlog behind it starts timing the drain; catching up ends it. */
    struct spool_stats st;
    spool_get_stats(u->spool, &st);
    uint64_t last = st.next_lsn - 1, pending = last > st.acked_lsn ? last - st.acked_lsn : 0;
    int64_t now = pk_mono_us();
    if (!u->draining && (u->last_ack_mono_us == 0 || now - u->last_ack_mono_us >= 1000000) && pending >= 2000) {
        u->draining = 1;
        u->drain_t0_us = now;
        u->drain_seq0 = committed;
    } else if (u->draining && pending < (uint64_t)u->batch_max) {
        double secs = (double)(now - u->drain_t0_us) / 1e6;
        uint64_t n = committed > u->drain_seq0 ? committed - u->drain_seq0 : 0;
        PK_INFO("uplink", "backlog drained", "results=%" PRIu64 " seconds=%.3f rate_per_s=%.0f", n, secs,
                secs > 0 ? (double)n / secs : 0.0);
        u->draining = 0;
    }
    u->last_ack_mono_us = now;
}

/* Reads the next batch from the spool and encodes it, if one is due.
 * Returns the number of results in *buf (0 = nothing to send). */
static size_t take_batch(struct uplink *u, uint8_t **buf, size_t *len, uint64_t *last_seq)
{
    if (!atomic_load(&u->registered))
        return 0;
    struct spool_stats st;
    spool_get_stats(u->spool, &st);
    uint64_t last = st.next_lsn - 1;
    if (last <= u->send_lsn)
        return 0;
    uint64_t unsent = last - u->send_lsn;
    int64_t now = pk_mono_us();
    if (unsent < (uint64_t)u->batch_max && now - u->last_send_mono_us < (int64_t)u->flush_ms * 1000)
        return 0;
    char err[300];
    for (int tries = 0; tries < 64; tries++) {
        /* About 1 KiB per result is room for typical ones (150-400 bytes) in one
         * pread; bigger ones make the batch shorter, never the message too big. */
        size_t want = (size_t)u->batch_max * 1024 < BATCH_MAX_BYTES ? (size_t)u->batch_max * 1024 : BATCH_MAX_BYTES;
        if (spool_read(u->spool, u->send_lsn + 1, (size_t)u->batch_max, want, &u->rb, err, sizeof err) < 0) {
            PK_ERROR("uplink", "cannot read the spool", "error=%s", err);
            return 0;
        }
        if (u->rb.n)
            break;
        if (!u->rb.skip_to)
            return 0;
        u->send_lsn = u->rb.skip_to - 1;
    }
    if (!u->rb.n)
        return 0;
    for (size_t i = 0; i < u->rb.n; i++) {
        u->items[i].seq = u->base + u->rb.recs[i].lsn;
        u->items[i].data = u->rb.recs[i].data;
        u->items[i].len = u->rb.recs[i].len;
    }
    if (wire_build_batch(u->items, u->rb.n, buf, len) < 0)
        return 0;
    u->send_lsn = u->rb.recs[u->rb.n - 1].lsn;
    *last_seq = u->items[u->rb.n - 1].seq;
    u->last_send_mono_us = now;
    return u->rb.n;
}

/* Register; 0 with *probe_id set, or -1 (logged). */
static int do_register(struct uplink *u, grpc_channel *ch, const char *address, int64_t *probe_id)
{
    Picket__V1__RegisterRequest req = PICKET__V1__REGISTER_REQUEST__INIT;
    req.probe_name = u->probe_name;
    req.region = u->region;
    req.version = (char *)PICKET_VERSION;
    req.probe_time_us = pk_now_us(); /* the collector refuses a clock far off */
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
        checks[i].service = (char *)u->checks[i].service;
        checks[i].budget_p50_ms = u->checks[i].meta.budget_p50_ms;
        checks[i].budget_p95_ms = u->checks[i].meta.budget_p95_ms;
        checks[i].budget_p99_ms = u->checks[i].meta.budget_p99_ms;
        checks[i].slo_target_percent = u->checks[i].meta.slo_target_percent;
        checks[i].slo_window_ms = u->checks[i].meta.slo_window_ms;
        checks[i].depends_on = u->checks[i].meta.depends_on;
        checks[i].labels = u->checks[i].meta.labels;
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
    if (rpc_call_send(c->call, rpc_buffer_from(buf, len), &c->send_buf, &c->send_tag) < 0)
        return -1;
    c->send_inflight = 1;
    return 0;
}

static int conn_recv(struct conn *c)
{
    if (rpc_call_recv(c->call, &c->recv_buf, &c->recv_tag) < 0)
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

/* Creates the Connect call on its own queue and starts its first two batches:
 * metadata both ways, and the status the call ends with. */
static void stream_open(struct conn *c, grpc_channel *ch)
{
    memset(c, 0, sizeof *c);
    c->send_tag.kind = T_SEND;
    c->recv_tag.kind = T_RECV;
    c->status_tag.kind = T_STATUS;
    c->start_tag.kind = T_START;
    c->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_slice method = grpc_slice_from_static_string(CONNECT_PATH);
    c->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, method, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    struct rpc_call_end end = {&c->status, &c->details, &c->trailing_md};
    rpc_call_begin(c->call, &c->initial_md, &c->start_tag, &end, &c->status_tag);
    c->start_pending = 1;
}

/* Sends Hello and posts the first receive. */
static void stream_hello(struct uplink *u, struct conn *c, int64_t probe_id)
{
    Picket__V1__Hello hello = PICKET__V1__HELLO__INIT;
    hello.probe_id = probe_id;
    hello.probe_name = u->probe_name;
    hello.checks_version = atomic_load(&u->checks_version);
    Picket__V1__ProbeMessage hm = PICKET__V1__PROBE_MESSAGE__INIT;
    hm.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_HELLO;
    hm.hello = &hello;
    send_pack(c, &hm.base);
    conn_recv(c);
    c->last_heard_mono_us = pk_mono_us();
    /* The first heartbeat goes right after Hello: the collector learns the
     * spool's backlog and any drops at once, not a heartbeat interval later. */
    c->last_heartbeat_mono_us = c->last_heard_mono_us - (int64_t)u->heartbeat_ms * 1000;
}

/* With no send in flight, sends the next thing due, in order of priority: the
 * answer to a check set, a heartbeat, a batch of results within the window. */
static void stream_send_next(struct uplink *u, struct conn *c, int64_t now)
{
    if (c->checks_ack_pending) {
        Picket__V1__CheckSetAck ack = PICKET__V1__CHECK_SET_ACK__INIT;
        ack.version = c->checks_ack_version;
        ack.accepted = c->checks_ack_accepted;
        ack.error = c->checks_ack_error;
        Picket__V1__ProbeMessage m = PICKET__V1__PROBE_MESSAGE__INIT;
        m.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_CHECKS_ACK;
        m.checks_ack = &ack;
        send_pack(c, &m.base);
        c->checks_ack_pending = 0;
    } else if (now - c->last_heartbeat_mono_us >= (int64_t)u->heartbeat_ms * 1000) {
        struct uplink_stats st;
        uplink_get_stats(u, &st);
        Picket__V1__Heartbeat hb = PICKET__V1__HEARTBEAT__INIT;
        hb.sent_at_us = pk_now_us();
        hb.pending_results = st.pending;
        hb.dropped_results = st.dropped;
        hb.spool_bytes = st.spool_bytes;
        Picket__V1__ProbeMessage m = PICKET__V1__PROBE_MESSAGE__INIT;
        m.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_HEARTBEAT;
        m.heartbeat = &hb;
        send_pack(c, &m.base);
        c->last_heartbeat_mono_us = now;
    } else if (c->batches_unacked < u->window_batches) {
        uint8_t *buf = NULL;
        size_t len = 0;
        uint64_t last_seq = 0;
        if (take_batch(u, &buf, &len, &last_seq)) {
            conn_send(c, buf, len);
            free(buf);
            c->batches_unacked++;
            c->last_batch_end_seq = last_seq;
        }
    }
}

/* Central assignment: the probe swaps (or refuses) the check set and the next
 * send says which. */
static void on_check_set(struct uplink *u, struct conn *c, const Picket__V1__CheckSet *set)
{
    size_t n = set->n_documents;
    const char **origins = calloc(n ? n : 1, sizeof *origins);
    const char **docs = calloc(n ? n : 1, sizeof *docs);
    c->checks_ack_error[0] = '\0';
    int ok = origins && docs;
    for (size_t i = 0; ok && i < n; i++) {
        origins[i] = set->documents[i]->origin;
        docs[i] = set->documents[i]->yaml;
    }
    ok = ok && u->on_checks(set->version, origins, docs, n, u->checks_user, c->checks_ack_error,
                            sizeof c->checks_ack_error) == 0;
    if (ok)
        atomic_store(&u->checks_version, set->version);
    c->checks_ack_version = set->version;
    c->checks_ack_accepted = ok;
    c->checks_ack_pending = 1;
    free(origins);
    free(docs);
}

/* One message from the collector. Returns 1 if it shows a healthy session (an ack
 * or a heartbeat), else 0. */
static int on_collector_message(struct uplink *u, struct conn *c, const Picket__V1__CollectorMessage *m)
{
    if (m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_ACK) {
        on_ack(u, m->ack->committed_sequence);
        /* Acks are cumulative: count what is still outstanding. */
        if (m->ack->committed_sequence >= c->last_batch_end_seq)
            c->batches_unacked = 0;
        else if (c->batches_unacked > 0)
            c->batches_unacked--;
        return 1;
    }
    if (m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_HEARTBEAT)
        return 1;
    if (m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_CHECKS && u->on_checks)
        on_check_set(u, c, m->checks);
    return 0;
}

/* A completed receive: decodes and handles the message and posts the next
 * receive unless the call is being cancelled. Returns 1 for a healthy session. */
static int on_received(struct uplink *u, struct conn *c, int success, int cancelled)
{
    c->recv_pending = 0;
    grpc_byte_buffer *bb = c->recv_buf;
    c->recv_buf = NULL;
    if (!success || !bb)
        return 0; /* the stream is ending; the status follows */
    size_t len = 0;
    uint8_t *data = rpc_buffer_read(bb, &len);
    grpc_byte_buffer_destroy(bb);
    Picket__V1__CollectorMessage *m = data ? picket__v1__collector_message__unpack(NULL, len, data) : NULL;
    free(data);
    c->last_heard_mono_us = pk_mono_us();
    int healthy = 0;
    if (m) {
        healthy = on_collector_message(u, c, m);
        picket__v1__collector_message__free_unpacked(m, NULL);
    }
    if (!cancelled)
        conn_recv(c);
    return healthy;
}

/* Cancels the call, drains what is still pending before destroying the queue,
 * and says why the stream ended unless the uplink is stopping. */
static void stream_close(struct uplink *u, struct conn *c, const char *address)
{
    grpc_call_cancel(c->call, NULL);
    grpc_call_unref(c->call);
    grpc_completion_queue_shutdown(c->cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    grpc_completion_queue_destroy(c->cq);
    if (c->send_buf)
        grpc_byte_buffer_destroy(c->send_buf);
    if (c->recv_buf)
        grpc_byte_buffer_destroy(c->recv_buf);
    if (!atomic_load(&u->stopping)) {
        char q[600];
        char details[400];
        snprintf(details, sizeof details, "%.*s", (int)GRPC_SLICE_LENGTH(c->details),
                 (const char *)GRPC_SLICE_START_PTR(c->details));
        PK_WARN("uplink", "stream ended", "collector=%s status=%d details=%s", address, (int)c->status,
                pk_log_q(q, sizeof q, details));
    }
    grpc_slice_unref(c->details);
    grpc_metadata_array_destroy(&c->initial_md);
    grpc_metadata_array_destroy(&c->trailing_md);
}

/* Runs one stream until it ends or the uplink stops. Returns 1 if it ever got an
 * ack or heartbeat (a healthy session), 0 otherwise. */
static int run_stream(struct uplink *u, grpc_channel *ch, int64_t probe_id, const char *address)
{
    struct conn c;
    stream_open(&c, ch);
    int healthy = 0;
    stream_hello(u, &c, probe_id);
    atomic_store(&u->connected, 1);

    int cancelled = 0;
    while (!c.status_done) {
        int64_t now = pk_mono_us();
        int stopping = atomic_load(&u->stopping);
        spool_sync_if_due(u->spool);
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
        if (!cancelled && !c.send_inflight)
            stream_send_next(u, &c, now);
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
        case T_RECV:
            if (on_received(u, &c, ev.success, cancelled))
                healthy = 1;
            break;
        case T_STATUS:
            c.status_done = 1;
            break;
        }
    }
    stream_close(u, &c, address);
    atomic_store(&u->connected, 0);
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
        atomic_fetch_add(&u->reconnects, 1);
        if (healthy) {
            /* The list is an order of preference: after a session that worked
             * (its collector went away, or closed the connection at its
             * --max-connection-age-s) start again from the first address, so a
             * probe that failed over returns to its own collector once it is
             * back; a dead first address costs one refused attempt. */
            backoff_ms = 200;
            which = 0;
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
    struct uplink_stats st;
    uplink_get_stats(u, &st);
    if (st.pending)
        PK_INFO("uplink", "stopping with results not yet acknowledged; they stay in the spool", "pending=%" PRIu64,
                st.pending);
    PK_INFO("uplink", "stopped", "produced=%" PRIu64 " acked_seq=%" PRIu64 " pending=%" PRIu64 " dropped=%" PRIu64
            " reconnects=%" PRIu64, st.produced, st.acked_seq, st.pending, st.dropped, st.reconnects);
    free_copies(u);
    grpc_shutdown();
}
