/* ingest_load.c: picket-bench-ingest, the load generator of the ingest benchmark
 * (docs/PERFORMANCE.md, "Ingest, end to end"). P simulated probes, each a thread with its own
 * channel and completion queue, Register and then stream pre-encoded batches on
 * one Connect call, keeping up to --window batches unacknowledged, exactly as
 * probe/rpc_uplink.c does. Measures from the first batch sent to the last Ack
 * covering the last sequence, and prints one key=value line. With --hold S each
 * simulated probe then stays connected for S seconds, idle, sending a Heartbeat
 * every heartbeat interval as a real idle probe does (the collector's memory
 * with many idle probes), and closes cleanly. Like the rpc_* files it talks gRPC
 * directly: a bench tool has no other job. Never waits unbounded. */
#include <errno.h>
#include <getopt.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "result.h"
#include "rpc_client.h"
#include "wire.h"

#define CONNECT_PATH "/picket.v1.ProbeService/Connect"
#define REGISTER_PATH "/picket.v1.ProbeService/Register"
#define CHECKS_PER_PROBE 10 /* the default of --checks */
#define MAX_CHECKS 10000
/* After the last ack: how long a clean end of the call may take before we cancel. */
#define CLOSE_GRACE_MS 5000
/* Thread stacks: 1,000 simulated probes at the 8 MB default would reserve 8 GB. */
#define SIM_STACK_BYTES (512 * 1024)
#define MAX_PROBES 4096
#define REGISTER_ATTEMPTS 5

static const char *const default_names[CHECKS_PER_PROBE] = {
    "api-login", "api-search", "api-checkout", "api-profile", "api-cart",
    "web-home",  "web-docs",   "rag-answer",   "cdn-assets",  "status-page",
};
/* --checks and --interval: every probe runs n_checks checks, each every
 * interval_us; results go round the checks in order, so consecutive results are
 * interval_us / n_checks apart. With many checks and a long interval every
 * result of a batch is its own (check, minute): one partial rollup row each. */
static int n_checks = CHECKS_PER_PROBE;
static int64_t interval_us = 1000000;
/* --end-ago: each probe's history ends this long before now (default: now). */
static int64_t end_ago_us = 0;
static char (*check_names)[32];

struct options {
    const char *collector;
    int probes;
    uint64_t results;
    int batch;
    int window;
    int timeout_s;
    int hold_s; /* after the last ack, stay connected and idle this long (0: close at once) */
    /* Security: every simulated probe speaks as itself (CN probe:bench-probe-N or its token). */
    int plaintext;
    const char *tls_ca, *tls_cert_dir, *token_file;
};

enum tag_kind { T_START, T_SEND, T_RECV, T_STATUS, T_CLOSE };

struct tag {
    enum tag_kind kind;
};

/* One simulated probe: its prepared batches and what happened to them. */
struct sim_probe {
    int index;
    const struct options *opt;
    struct pk_tls_client sec; /* this probe's credentials, owned */
    pthread_barrier_t *ready; /* every probe registered and encoded: start the clock */
    int64_t deadline_mono_us;

    uint64_t n_results;
    int64_t probe_id;
    uint64_t first_seq;
    /* Pre-encoded ProbeMessage{batch} buffers, all malloc'd, freed by sim_free. */
    uint8_t **bufs;
    size_t *lens;
    uint64_t *end_seq; /* last sequence in each batch */
    size_t n_batches;
    size_t bytes;

    int prepared; /* 1 when registered and encoded */
    int ok;       /* 1 when every result was acked */
    uint64_t acked_seq;
    uint64_t acks;
    int64_t first_send_mono_us, last_ack_mono_us;
    int heartbeat_ms; /* from the Register answer, as a real probe takes it */
    int held;         /* 1 when the stream stayed open for the whole --hold */
    uint64_t heartbeats_sent, heartbeats_heard;
    char err[512];
    pthread_t thread;
};

/* xorshift64*: deterministic, cheap, good enough for plausible-looking data. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

static int64_t rand_between(uint64_t *state, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(next_rand(state) % (uint64_t)(hi - lo + 1));
}

/* A plausible http check result: 95% ok, 3% failed (HTTP 503 or timeout), 2%
 * degraded (slow); phase timings, status, body size and one metric. */
static void fill_result(struct pk_result *r, uint64_t *rng, uint64_t seq, int64_t started_at_us)
{
    memset(r, 0, sizeof *r);
    r->seq = seq;
    pk_strlcpy(r->check_name, check_names[seq % (uint64_t)n_checks], sizeof r->check_name);
    pk_strlcpy(r->check_type, "http", sizeof r->check_type);
    r->started_at_us = started_at_us;
    r->dns_us = rand_between(rng, 300, 2500);
    r->connect_us = rand_between(rng, 500, 4000);
    r->tls_us = rand_between(rng, 4000, 15000);
    r->ttfb_us = rand_between(rng, 15000, 180000);
    r->total_us = r->dns_us + r->connect_us + r->tls_us + r->ttfb_us + rand_between(rng, 100, 5000);
    r->status_code = 200;
    r->body_bytes = rand_between(rng, 300, 8192);
    r->outcome = PK_OUTCOME_OK;
    r->error_class = PK_ERR_NONE;
    int dice = (int)(next_rand(rng) % 100);
    if (dice < 2) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_HTTP;
        r->status_code = 503;
        r->body_bytes = 162;
        snprintf(r->message, sizeof r->message, "status 503, expected 200 (GET https://%s.example.com/health)",
                 r->check_name);
    } else if (dice < 3) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_TIMEOUT;
        r->status_code = 0;
        r->body_bytes = 0;
        r->ttfb_us = -1;
        r->total_us = 10000000;
        snprintf(r->message, sizeof r->message, "timeout after 10000 ms waiting for the first byte");
    } else if (dice < 5) {
        r->outcome = PK_OUTCOME_DEGRADED;
        r->error_class = PK_ERR_ASSERTION;
        r->total_us += 2000000;
        snprintf(r->message, sizeof r->message, "total %lld ms over the 2000 ms threshold",
                 (long long)(r->total_us / 1000));
    }
    r->n_metrics = 1;
    pk_strlcpy(r->metrics[0].name, "items", sizeof r->metrics[0].name);
    r->metrics[0].value = (double)rand_between(rng, 0, 50);
}

/* Register like a real probe (with its checks); 0 or -1 with p->err set. */
static int sim_register(struct sim_probe *p, grpc_channel *ch)
{
    char name[64], region[32];
    snprintf(name, sizeof name, "bench-probe-%d", p->index);
    snprintf(region, sizeof region, "bench-%d", p->index % 2);
    Picket__V1__RegisterRequest req = PICKET__V1__REGISTER_REQUEST__INIT;
    Picket__V1__CheckInfo *checks = calloc((size_t)n_checks, sizeof *checks);
    Picket__V1__CheckInfo **check_ptrs = calloc((size_t)n_checks, sizeof *check_ptrs);
    char(*targets)[96] = calloc((size_t)n_checks, sizeof *targets);
    if (!checks || !check_ptrs || !targets) {
        snprintf(p->err, sizeof p->err, "out of memory");
        free(checks);
        free(check_ptrs);
        free(targets);
        return -1;
    }
    for (int i = 0; i < n_checks; i++) {
        picket__v1__check_info__init(&checks[i]);
        snprintf(targets[i], sizeof targets[i], "https://%s.example.com/health", check_names[i]);
        checks[i].name = (char *)check_names[i];
        checks[i].type = (char *)"http";
        checks[i].target = targets[i];
        checks[i].interval_ms = (uint64_t)(interval_us / 1000);
        check_ptrs[i] = &checks[i];
    }
    char *caps[] = {(char *)"http"};
    req.probe_name = name;
    req.region = region;
    req.version = (char *)PICKET_VERSION;
    req.n_capabilities = 1;
    req.capabilities = caps;
    req.n_checks = (size_t)n_checks;
    req.checks = check_ptrs;
    uint8_t *buf = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    int rc = -1;
    if (wire_pack(&req.base, &buf, &len) < 0) {
        snprintf(p->err, sizeof p->err, "cannot encode the register request");
        goto out;
    }
    char err[400];
    /* A connection that fails (UNAVAILABLE) is tried again, as a real probe
     * does, a few times while the deadline allows: one of 20 simulated probes
     * once met "failed to connect to all addresses" on a busy CI machine. */
    for (int attempt = 1;; attempt++) {
        int64_t left_ms = (p->deadline_mono_us - pk_mono_us()) / 1000;
        int timeout_ms = left_ms < 1 ? 1 : left_ms > 10000 ? 10000 : (int)left_ms, code = 0;
        if (rpc_unary(ch, REGISTER_PATH, buf, len, &resp, &resp_len, timeout_ms, &code, err, sizeof err) == 0)
            break;
        if (code != GRPC_STATUS_UNAVAILABLE || attempt == REGISTER_ATTEMPTS || left_ms < 1000) {
            snprintf(p->err, sizeof p->err, "register (attempt %d): %s", attempt, err);
            goto out;
        }
        fprintf(stderr, "picket-bench-ingest: probe %s: register: %s; trying again\n", name, err);
        struct timespec pause = {0, 200 * 1000000L};
        nanosleep(&pause, NULL);
    }
    Picket__V1__RegisterResponse *r = picket__v1__register_response__unpack(NULL, resp_len, resp);
    if (!r || r->probe_id <= 0) {
        snprintf(p->err, sizeof p->err, "register: malformed answer");
        if (r)
            picket__v1__register_response__free_unpacked(r, NULL);
        goto out;
    }
    p->probe_id = r->probe_id;
    p->first_seq = r->committed_sequence + 1;
    p->heartbeat_ms = r->heartbeat_interval_ms > 0 ? (int)r->heartbeat_interval_ms : 10000;
    picket__v1__register_response__free_unpacked(r, NULL);
    rc = 0;
out:
    free(buf);
    free(resp);
    free(checks);
    free(check_ptrs);
    free(targets);
    return rc;
}

/* Encodes every batch of this probe up front so the client's encoding cost stays
 * out of the timed part (it would compete with the collector for the same cores). */
static int sim_encode(struct sim_probe *p)
{
    size_t batch = (size_t)p->opt->batch;
    p->n_batches = (size_t)((p->n_results + batch - 1) / batch);
    p->bufs = calloc(p->n_batches ? p->n_batches : 1, sizeof *p->bufs);
    p->lens = calloc(p->n_batches ? p->n_batches : 1, sizeof *p->lens);
    p->end_seq = calloc(p->n_batches ? p->n_batches : 1, sizeof *p->end_seq);
    struct pk_result *results = malloc(batch * sizeof *results);
    if (!p->bufs || !p->lens || !p->end_seq || !results) {
        snprintf(p->err, sizeof p->err, "out of memory");
        free(results);
        return -1;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(p->index + 1) * 0xD1B54A32D192ED03ULL);
    /* n_checks checks, each every interval: the probe's history ends now (or --end-ago before). */
    int64_t step_us = interval_us / n_checks > 0 ? interval_us / n_checks : 1;
    int64_t span_us = (int64_t)p->n_results * step_us;
    int64_t base_us = pk_now_us() - end_ago_us - span_us + p->index * 1000;
    uint64_t seq = p->first_seq;
    uint64_t left = p->n_results;
    for (size_t b = 0; b < p->n_batches; b++) {
        size_t n = left < batch ? (size_t)left : batch;
        for (size_t i = 0; i < n; i++, seq++) {
            int64_t offset = (int64_t)(seq - p->first_seq) * step_us;
            fill_result(&results[i], &rng, seq, base_us + offset);
        }
        if (wire_encode_batch(results, n, &p->bufs[b], &p->lens[b]) < 0) {
            snprintf(p->err, sizeof p->err, "cannot encode batch %zu", b);
            free(results);
            return -1;
        }
        p->end_seq[b] = seq - 1;
        p->bytes += p->lens[b];
        left -= n;
    }
    free(results);
    return 0;
}

struct stream {
    grpc_call *call;
    grpc_completion_queue *cq;
    struct tag start_tag, send_tag, recv_tag, status_tag, close_tag;
    grpc_byte_buffer *send_buf, *recv_buf;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    int send_inflight, recv_pending, status_done, closing;
};

/* Sends bytes that outlive the call (pre-encoded batches, the hello) without a
 * copy, or (copy 1) a message encoded just now, of which gRPC keeps its own copy. */
static int stream_send(struct stream *s, const uint8_t *buf, size_t len, int copy)
{
    grpc_byte_buffer *bb;
    if (copy)
        bb = rpc_buffer_from(buf, len);
    else {
        grpc_slice slice = grpc_slice_from_static_buffer(buf, len);
        bb = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
    }
    if (rpc_call_send(s->call, bb, &s->send_buf, &s->send_tag) < 0)
        return -1;
    s->send_inflight = 1;
    return 0;
}

/* An idle probe's Heartbeat: nothing pending, nothing dropped, an empty spool. */
static int stream_send_heartbeat(struct stream *s)
{
    Picket__V1__Heartbeat hb = PICKET__V1__HEARTBEAT__INIT;
    hb.sent_at_us = pk_now_us();
    Picket__V1__ProbeMessage m = PICKET__V1__PROBE_MESSAGE__INIT;
    m.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_HEARTBEAT;
    m.heartbeat = &hb;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_pack(&m.base, &buf, &len) < 0)
        return -1;
    int rc = stream_send(s, buf, len, 1);
    free(buf);
    return rc;
}

static int stream_recv(struct stream *s)
{
    if (rpc_call_recv(s->call, &s->recv_buf, &s->recv_tag) < 0)
        return -1;
    s->recv_pending = 1;
    return 0;
}

static int stream_half_close(struct stream *s)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    if (grpc_call_start_batch(s->call, &op, 1, &s->close_tag, NULL) != GRPC_CALL_OK)
        return -1;
    s->send_inflight = 1;
    return 0;
}

/* Streams every prepared batch and waits for the acks; then, with --hold, stays
 * connected and idle (heartbeats only) for that long. Sets p->ok and p->held. */
static void sim_stream(struct sim_probe *p, grpc_channel *ch)
{
    struct stream s;
    memset(&s, 0, sizeof s);
    s.start_tag.kind = T_START;
    s.send_tag.kind = T_SEND;
    s.recv_tag.kind = T_RECV;
    s.status_tag.kind = T_STATUS;
    s.close_tag.kind = T_CLOSE;
    s.cq = grpc_completion_queue_create_for_next(NULL);
    grpc_slice method = grpc_slice_from_static_string(CONNECT_PATH);
    s.call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, s.cq, method, NULL,
                                      gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    uint8_t *hello_buf = NULL;
    size_t hello_len = 0;
    struct rpc_call_end end = {&s.status, &s.details, &s.trailing_md};
    rpc_call_begin(s.call, &s.initial_md, &s.start_tag, &end, &s.status_tag);

    char name[64];
    snprintf(name, sizeof name, "bench-probe-%d", p->index);
    Picket__V1__Hello hello = PICKET__V1__HELLO__INIT;
    hello.probe_id = p->probe_id;
    hello.probe_name = name;
    Picket__V1__ProbeMessage hm = PICKET__V1__PROBE_MESSAGE__INIT;
    hm.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_HELLO;
    hm.hello = &hello;
    if (wire_pack(&hm.base, &hello_buf, &hello_len) < 0 || stream_send(&s, hello_buf, hello_len, 0) < 0 ||
        stream_recv(&s) < 0) {
        snprintf(p->err, sizeof p->err, "cannot start the Connect stream");
        grpc_call_cancel(s.call, NULL);
    }

    uint64_t last_seq = p->n_batches ? p->end_seq[p->n_batches - 1] : 0;
    size_t next_batch = 0, acked_batches = 0;
    int cancelled = 0;
    int64_t close_deadline = 0, hold_until = 0, next_heartbeat = 0;
    int hold_done = 0;
    p->acked_seq = p->first_seq - 1;
    while (!s.status_done) {
        int64_t now = pk_mono_us();
        /* --timeout bounds the streaming; the hold has its own end (then the close grace). */
        if (!cancelled && !hold_until && now > p->deadline_mono_us) {
            snprintf(p->err, sizeof p->err, "timed out with %" PRIu64 " of %" PRIu64 " results acked",
                     p->acked_seq - (p->first_seq - 1), p->n_results);
            grpc_call_cancel(s.call, NULL);
            cancelled = 1;
        }
        if (!cancelled && close_deadline && now > close_deadline) {
            grpc_call_cancel(s.call, NULL); /* everything is acked; do not wait on a slow close */
            cancelled = 1;
        }
        if (!cancelled && !s.send_inflight && !s.closing) {
            if (next_batch < p->n_batches && next_batch - acked_batches < (size_t)p->opt->window) {
                if (p->first_send_mono_us == 0)
                    p->first_send_mono_us = pk_mono_us();
                if (stream_send(&s, p->bufs[next_batch], p->lens[next_batch], 0) == 0)
                    next_batch++;
            } else if (acked_batches == p->n_batches) {
                if (p->opt->hold_s > 0 && !hold_until) {
                    hold_until = now + (int64_t)p->opt->hold_s * 1000000;
                    next_heartbeat = now + (int64_t)p->heartbeat_ms * 1000;
                }
                if (hold_until && now < hold_until) {
                    if (now >= next_heartbeat) {
                        if (stream_send_heartbeat(&s) == 0)
                            p->heartbeats_sent++;
                        next_heartbeat = now + (int64_t)p->heartbeat_ms * 1000;
                    }
                } else if (stream_half_close(&s) == 0) {
                    hold_done = hold_until != 0; /* the stream stayed open the whole hold */
                    s.closing = 1;
                    close_deadline = now + CLOSE_GRACE_MS * 1000LL;
                }
            }
        }
        grpc_event ev = grpc_completion_queue_next(
            s.cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(100, GPR_TIMESPAN)), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            continue;
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        struct tag *t = ev.tag;
        switch (t->kind) {
        case T_START:
            break;
        case T_SEND:
        case T_CLOSE:
            s.send_inflight = 0;
            if (s.send_buf) {
                grpc_byte_buffer_destroy(s.send_buf);
                s.send_buf = NULL;
            }
            break;
        case T_RECV: {
            s.recv_pending = 0;
            grpc_byte_buffer *bb = s.recv_buf;
            s.recv_buf = NULL;
            if (!ev.success || !bb)
                break; /* the call is ending; its status follows */
            size_t len = 0;
            uint8_t *data = rpc_buffer_read(bb, &len);
            grpc_byte_buffer_destroy(bb);
            Picket__V1__CollectorMessage *m = data ? picket__v1__collector_message__unpack(NULL, len, data) : NULL;
            free(data);
            if (m && m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_HEARTBEAT)
                p->heartbeats_heard++;
            if (m && m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_ACK) {
                uint64_t committed = m->ack->committed_sequence;
                p->acks++;
                if (committed > p->acked_seq)
                    p->acked_seq = committed;
                /* Acks are cumulative: every batch ending at or below the mark is done. */
                while (acked_batches < next_batch && p->end_seq[acked_batches] <= p->acked_seq)
                    acked_batches++;
                if (p->acked_seq >= last_seq && p->last_ack_mono_us == 0)
                    p->last_ack_mono_us = pk_mono_us();
            }
            if (m)
                picket__v1__collector_message__free_unpacked(m, NULL);
            if (!cancelled)
                stream_recv(&s);
            break;
        }
        case T_STATUS:
            s.status_done = 1;
            break;
        }
    }
    p->ok = p->n_batches > 0 && p->acked_seq >= last_seq && p->last_ack_mono_us > 0;
    /* Held: open for the whole hold, then ended by the collector with OK after our half-close. */
    p->held = hold_done && !cancelled && s.status == GRPC_STATUS_OK;
    if (p->ok && p->opt->hold_s > 0 && !p->held && !p->err[0])
        snprintf(p->err, sizeof p->err, "hold of %d s not completed: stream ended (status %d: %.*s)%s",
                 p->opt->hold_s, (int)s.status, (int)GRPC_SLICE_LENGTH(s.details),
                 (const char *)GRPC_SLICE_START_PTR(s.details),
                 hold_done ? " after the half-close" : " before the hold was over");
    if (!p->ok && !p->err[0])
        snprintf(p->err, sizeof p->err, "stream ended (status %d: %.*s) with %" PRIu64 " of %" PRIu64 " results acked",
                 (int)s.status, (int)GRPC_SLICE_LENGTH(s.details), (const char *)GRPC_SLICE_START_PTR(s.details),
                 p->acked_seq - (p->first_seq - 1), p->n_results);

    /* Drain whatever is still pending on the call before the queue goes. */
    grpc_call_cancel(s.call, NULL);
    grpc_call_unref(s.call);
    grpc_completion_queue_shutdown(s.cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    grpc_completion_queue_destroy(s.cq);
    if (s.send_buf)
        grpc_byte_buffer_destroy(s.send_buf);
    if (s.recv_buf)
        grpc_byte_buffer_destroy(s.recv_buf);
    grpc_slice_unref(s.details);
    grpc_metadata_array_destroy(&s.initial_md);
    grpc_metadata_array_destroy(&s.trailing_md);
    free(hello_buf);
}

/* Plaintext channels with equal arguments share one TCP connection (gRPC's global
 * subchannel pool), but a real probe is its own process with its own connection.
 * So with --hold (the idle-connection benchmark) each plaintext simulated probe gets
 * a subchannel pool of its own, hence its own connection. TLS channels never share:
 * each has its own credentials. Without --hold nothing changes. */
static grpc_channel *sim_channel(const struct sim_probe *p)
{
    if (!p->opt->plaintext || p->opt->hold_s == 0)
        return rpc_channel_create_with(p->opt->collector, &p->sec);
    return rpc_channel_create_alone(p->opt->collector, &p->sec);
}

static void *sim_main(void *arg)
{
    struct sim_probe *p = arg;
    grpc_channel *ch = sim_channel(p);
    p->prepared = sim_register(p, ch) == 0 && sim_encode(p) == 0;
    /* Everyone meets here, prepared or not, so the clock starts for all at once. */
    pthread_barrier_wait(p->ready);
    if (p->prepared)
        sim_stream(p, ch);
    grpc_channel_destroy(ch);
    return NULL;
}

static void sim_free(struct sim_probe *p)
{
    for (size_t b = 0; b < p->n_batches && p->bufs; b++)
        free(p->bufs[b]);
    free(p->bufs);
    free(p->lens);
    free(p->end_seq);
}

/* Loads simulated probe i's credentials: its certificate from the directory, or
 * its line "bench-probe-i TOKEN" of the token file. 0, or -1 with a message. */
static int load_probe_security(const struct options *opt, int i, struct pk_tls_client *sec)
{
    char err[512], name[64];
    snprintf(name, sizeof name, "bench-probe-%d", i);
    struct pk_tls_opts o = {.ca_file = opt->tls_ca, .insecure_plaintext = opt->plaintext};
    char cert[4096], key[4096], token[PK_TOKEN_LEN + 1] = "";
    if (!opt->plaintext && opt->tls_cert_dir) {
        snprintf(cert, sizeof cert, "%s/probe-%s.crt", opt->tls_cert_dir, name);
        snprintf(key, sizeof key, "%s/probe-%s.key", opt->tls_cert_dir, name);
        o.cert_file = cert;
        o.key_file = key;
    } else if (!opt->plaintext) {
        FILE *f = fopen(opt->token_file, "r");
        if (!f) {
            fprintf(stderr, "picket-bench-ingest: --token-file %s: %s\n", opt->token_file, strerror(errno));
            return -1;
        }
        char line[512], who[128], tok[128];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "%127s %127s", who, tok) == 2 && !strcmp(who, name) && strlen(tok) == PK_TOKEN_LEN)
                memcpy(token, tok, sizeof token);
        fclose(f);
        if (!token[0]) {
            fprintf(stderr, "picket-bench-ingest: --token-file %s: no line \"%s TOKEN\"\n", opt->token_file, name);
            return -1;
        }
        o.token = token;
    }
    if (pk_tls_client_load(&o, "picket-bench-ingest", sec, err, sizeof err) < 0) {
        fprintf(stderr, "picket-bench-ingest: %s: %s\n", name, err);
        return -1;
    }
    return 0;
}

static double process_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: picket-bench-ingest --collector HOST:PORT [--probes P] [--results N] [--batch B]\n"
               "                           [--window W] [--checks N] [--interval S] [--timeout S] [--hold S]\n"
               "  --collector ADDR  the collector's gRPC address (required)\n"
               "  --probes P        simulated probes, one thread and one channel each, default 4\n"
               "                    (at most %d)\n"
               "  --results N       results in total, split evenly over the probes, default 1000000\n"
               "  --batch B         results per batch, default 1000 (at most %d)\n"
               "  --window W        batches sent ahead of their acks per probe, default 8\n"
               "  --checks N        checks per probe, default 10 (at most %d)\n"
               "  --interval S      each check's interval in seconds, default 1; results go round the\n"
               "                    checks, interval/checks apart (--checks 1000 --interval 60: every\n"
               "                    result of a batch is its own check and minute)\n"
               "  --end-ago S       each probe's history ends S seconds before now, default 0 (a bench\n"
               "                    gives runs in a row histories that follow each other, as a stream's)\n"
               "  --timeout S       give up after S seconds (exit 1), default 300\n"
               "  --hold S          after its results are acked, each probe stays connected and idle\n"
               "                    for S seconds, sending a Heartbeat every heartbeat interval (the\n"
               "                    collector's, from Register), then closes; default 0 (close at once)\n"
               "  --tls-ca FILE     TLS: the CA the collector's certificate chains to\n"
               "  --tls-cert-dir DIR  client certificates DIR/probe-bench-probe-N.crt/.key (scripts/pki\n"
               "                    DIR probe:bench-probe-0 ...), one per simulated probe\n"
               "  --token-file FILE instead of certificates: lines \"bench-probe-N TOKEN\"\n"
               "  --insecure-plaintext  no TLS (the collector must run with it too)\n"
               "Prints: results=N probes=P seconds=S results_per_sec=R ... (with --hold also\n"
               "hold_seconds=S held=K heartbeats_sent=H heartbeats_heard=A); exits 0 only when\n"
               "every result was acknowledged after commit (and, with --hold, every probe held\n"
               "its stream open for S seconds and the collector then ended it with OK).\n",
               MAX_PROBES, PK_WIRE_MAX_BATCH, MAX_CHECKS);
}

static int parse_count(const char *flag, const char *text, long long lo, long long hi, long long *out)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || v < lo || v > hi) {
        fprintf(stderr, "picket-bench-ingest: %s must be a number from %lld to %lld, got '%s'\n", flag, lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt = {NULL, 4, 1000000, 1000, 8, 300, 0};
    static const struct option long_opts[] = {
        {"collector", required_argument, NULL, 'c'}, {"probes", required_argument, NULL, 'p'},
        {"results", required_argument, NULL, 'n'},   {"batch", required_argument, NULL, 'b'},
        {"window", required_argument, NULL, 'w'},    {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},            {"tls-ca", required_argument, NULL, 'A'},
        {"tls-cert-dir", required_argument, NULL, 'D'}, {"token-file", required_argument, NULL, 'T'},
        {"insecure-plaintext", no_argument, NULL, 'P'}, {"hold", required_argument, NULL, 'H'},
        {"checks", required_argument, NULL, 'C'},       {"interval", required_argument, NULL, 'I'},
        {"end-ago", required_argument, NULL, 'E'},
        {NULL, 0, NULL, 0},
    };
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt.collector = optarg;
            break;
        case 'p':
            if (parse_count("--probes", optarg, 1, MAX_PROBES, &v) < 0)
                return 2;
            opt.probes = (int)v;
            break;
        case 'n':
            if (parse_count("--results", optarg, 1, 1000000000LL, &v) < 0)
                return 2;
            opt.results = (uint64_t)v;
            break;
        case 'b':
            if (parse_count("--batch", optarg, 1, PK_WIRE_MAX_BATCH, &v) < 0)
                return 2;
            opt.batch = (int)v;
            break;
        case 'w':
            if (parse_count("--window", optarg, 1, 1000, &v) < 0)
                return 2;
            opt.window = (int)v;
            break;
        case 't':
            if (parse_count("--timeout", optarg, 1, 86400, &v) < 0)
                return 2;
            opt.timeout_s = (int)v;
            break;
        case 'H':
            if (parse_count("--hold", optarg, 0, 86400, &v) < 0)
                return 2;
            opt.hold_s = (int)v;
            break;
        case 'C':
            if (parse_count("--checks", optarg, 1, MAX_CHECKS, &v) < 0)
                return 2;
            n_checks = (int)v;
            break;
        case 'I':
            if (parse_count("--interval", optarg, 1, 3600, &v) < 0)
                return 2;
            interval_us = v * 1000000;
            break;
        case 'E':
            if (parse_count("--end-ago", optarg, 0, 30 * 86400, &v) < 0)
                return 2;
            end_ago_us = v * 1000000;
            break;
        case 'A':
            opt.tls_ca = optarg;
            break;
        case 'D':
            opt.tls_cert_dir = optarg;
            break;
        case 'T':
            opt.token_file = optarg;
            break;
        case 'P':
            opt.plaintext = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!opt.plaintext && (!opt.tls_ca || (!opt.tls_cert_dir == !opt.token_file))) {
        fprintf(stderr, "picket-bench-ingest: give --tls-ca FILE with --tls-cert-dir DIR or --token-file FILE, "
                        "or --insecure-plaintext\n");
        return 2;
    }
    if (!opt.collector || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (opt.results < (uint64_t)opt.probes) {
        fprintf(stderr, "picket-bench-ingest: --results must be at least --probes\n");
        return 2;
    }

    check_names = calloc((size_t)n_checks, sizeof *check_names);
    if (!check_names)
        return 1;
    for (int i = 0; i < n_checks; i++) {
        if (i < CHECKS_PER_PROBE)
            pk_strlcpy(check_names[i], default_names[i], sizeof check_names[i]);
        else
            snprintf(check_names[i], sizeof check_names[i], "bench-check-%04d", i);
    }
    struct pk_tls_client *secs = calloc((size_t)opt.probes, sizeof *secs);
    if (!secs)
        return 1;
    for (int i = 0; i < opt.probes; i++)
        if (load_probe_security(&opt, i, &secs[i]) < 0) {
            for (int j = 0; j < i; j++)
                pk_tls_client_free(&secs[j]);
            free(secs);
            return 2;
        }

    grpc_init();
    int rc = 1;
    int64_t start_mono_us = pk_mono_us();
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, (unsigned)opt.probes + 1);
    struct sim_probe *probes = calloc((size_t)opt.probes, sizeof *probes);
    if (!probes) {
        fprintf(stderr, "picket-bench-ingest: out of memory\n");
        return 1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, SIM_STACK_BYTES);
    for (int i = 0; i < opt.probes; i++) {
        struct sim_probe *p = &probes[i];
        p->index = i;
        p->opt = &opt;
        p->sec = secs[i];
        p->ready = &ready;
        p->deadline_mono_us = start_mono_us + (int64_t)opt.timeout_s * 1000000;
        /* The first (results % probes) probes take one more. */
        p->n_results = opt.results / (uint64_t)opt.probes + ((uint64_t)i < opt.results % (uint64_t)opt.probes);
        int err = pthread_create(&p->thread, &attr, sim_main, p);
        if (err != 0) {
            fprintf(stderr, "picket-bench-ingest: cannot start probe thread %d: %s\n", i, strerror(err));
            return 1; /* the barrier can never complete: nothing to unwind */
        }
    }
    pthread_attr_destroy(&attr);
    pthread_barrier_wait(&ready);
    int64_t prepared_mono_us = pk_mono_us();
    double prepared_cpu_s = process_cpu_seconds();
    for (int i = 0; i < opt.probes; i++)
        pthread_join(probes[i].thread, NULL);
    double streaming_cpu_s = process_cpu_seconds() - prepared_cpu_s;

    uint64_t acked = 0, acks = 0, hb_sent = 0, hb_heard = 0;
    int held = 0;
    size_t bytes = 0;
    int64_t first_send = 0, last_ack = 0;
    int all_ok = 1;
    for (int i = 0; i < opt.probes; i++) {
        struct sim_probe *p = &probes[i];
        if (p->prepared)
            acked += p->acked_seq - (p->first_seq - 1);
        acks += p->acks;
        bytes += p->bytes;
        held += p->held;
        hb_sent += p->heartbeats_sent;
        hb_heard += p->heartbeats_heard;
        if (p->first_send_mono_us && (!first_send || p->first_send_mono_us < first_send))
            first_send = p->first_send_mono_us;
        if (p->last_ack_mono_us > last_ack)
            last_ack = p->last_ack_mono_us;
        if (!p->ok || (opt.hold_s > 0 && !p->held)) {
            all_ok = 0;
            fprintf(stderr, "picket-bench-ingest: probe bench-probe-%d: %s\n", i, p->err[0] ? p->err : "failed");
        }
    }
    double seconds = all_ok && last_ack > first_send ? (double)(last_ack - first_send) / 1e6 : 0.0;
    double per_sec = seconds > 0 ? (double)opt.results / seconds : 0.0;
    printf("results=%" PRIu64 " probes=%d seconds=%.3f results_per_sec=%.0f acked=%" PRIu64 " batch=%d window=%d "
           "acks=%" PRIu64 " wire_bytes=%zu prepare_seconds=%.3f client_cpu_seconds=%.2f",
           opt.results, opt.probes, seconds, per_sec, acked, opt.batch, opt.window, acks, bytes,
           (double)(prepared_mono_us - start_mono_us) / 1e6, streaming_cpu_s);
    if (opt.hold_s > 0)
        printf(" hold_seconds=%d held=%d heartbeats_sent=%" PRIu64 " heartbeats_heard=%" PRIu64, opt.hold_s, held,
               hb_sent, hb_heard);
    printf(" ok=%d\n", all_ok);
    fflush(stdout);
    rc = all_ok ? 0 : 1;
    for (int i = 0; i < opt.probes; i++) {
        sim_free(&probes[i]);
        pk_tls_client_free(&secs[i]);
    }
    free(probes);
    free(secs);
    pthread_barrier_destroy(&ready);
    grpc_shutdown();
    return rc;
}
