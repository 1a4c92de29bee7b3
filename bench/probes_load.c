/* probes_load.c: picket-bench-probes, the load generator of the probes-at-scale
 * benchmark (bench/run_probes_scale, docs/PERFORMANCE.md "Many probes on one
 * collector"). One process simulates P probes, each with its own channel, its own
 * TLS connection and its own client certificate (CN probe:scale-probe-N, made by
 * run_probes_scale), like P separate picket-probe processes would: no channel or
 * connection is shared. Unlike picket-bench-ingest (one thread per probe, built to
 * push results as fast as possible) every probe here lives on one completion queue
 * driven by one thread, so that thousands of them cost the machine little and the
 * collector's figures are the collector's.
 *
 * Each probe registers with one check, opens its Connect stream, says Hello and
 * then sends a Heartbeat every heartbeat interval (the collector's, from Register).
 * After SIGUSR1 each also sends one result every --every seconds (staggered over
 * the interval), and the time from producing a result to receiving the Ack that
 * covers it (the collector acks after commit) is recorded in a 1 ms histogram.
 * SIGUSR2 or SIGTERM (or --duration) ends the run: every stream is half-closed,
 * the closes are awaited (bounded) and one summary line of key=value pairs is
 * printed, with the lag histogram as lag_hist=MS:COUNT,... so that a script can
 * merge several processes. Progress lines go to stderr. Never waits unbounded. */
#include <errno.h>
#include <getopt.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "auth.h"
#include "result.h"
#include "rpc_client.h"
#include "wire.h"

#define CONNECT_PATH "/picket.v1.ProbeService/Connect"
#define REGISTER_PATH "/picket.v1.ProbeService/Register"
#define CHECK_NAME "scale-check"
#define MAX_PROBES 20000
#define LAG_BUCKETS 120000 /* 1 ms each: up to 2 minutes; slower lands in the last */
#define PENDING_MAX 8      /* results sent and not yet acked, per probe */
#define TICK_MS 50
#define CLOSE_GRACE_MS 10000
#define REGISTER_TIMEOUT_MS 20000

enum tag_kind { T_START, T_SEND, T_RECV, T_STATUS };

struct sim;

struct tag {
    enum tag_kind kind;
    struct sim *sim;
};

/* One simulated probe. */
struct sim {
    int index;
    grpc_channel *ch;
    grpc_call *call;
    struct tag start_tag, send_tag, recv_tag, status_tag;
    grpc_byte_buffer *send_buf, *recv_buf;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    int streaming, send_inflight, half_closed, done;
    int64_t probe_id;
    uint64_t next_seq;
    int heartbeat_ms;
    int64_t next_heartbeat_us, next_result_us;
    int hello_pending;
    /* results sent and not yet acked: their sequence and when they were produced */
    uint64_t pend_seq[PENDING_MAX];
    int64_t pend_at[PENDING_MAX];
    int n_pend;
};

struct options {
    const char *collector, *tls_ca, *cert_dir, *prefix;
    int first, probes, every_s, duration_s, plaintext;
};

static volatile sig_atomic_t results_on, stop_now;

static void on_usr1(int sig)
{
    (void)sig;
    results_on = 1;
}

static void on_stop(int sig)
{
    (void)sig;
    stop_now = 1;
}

static struct counters {
    uint64_t registered, register_errors, streams_started, streams_lost, streams_closed_ok;
    uint64_t results_sent, results_acked, heartbeats_sent, heartbeats_heard, send_skipped;
    uint32_t *lag_ms; /* LAG_BUCKETS */
} c;

/* Register with one check, as a real probe would; 0, or -1 with err. */
static int sim_register(struct sim *s, const struct options *o, char *err, size_t errlen)
{
    char name[64], region[32];
    snprintf(name, sizeof name, "%s-%d", o->prefix, s->index);
    snprintf(region, sizeof region, "scale-%d", s->index % 4);
    Picket__V1__CheckInfo check = PICKET__V1__CHECK_INFO__INIT;
    check.name = (char *)CHECK_NAME;
    check.type = (char *)"tcp";
    check.target = (char *)"127.0.0.1:9";
    check.interval_ms = (uint64_t)o->every_s * 1000;
    Picket__V1__CheckInfo *checks[] = {&check};
    char *caps[] = {(char *)"tcp"};
    Picket__V1__RegisterRequest req = PICKET__V1__REGISTER_REQUEST__INIT;
    req.probe_name = name;
    req.region = region;
    req.version = (char *)PICKET_VERSION;
    req.n_capabilities = 1;
    req.capabilities = caps;
    req.n_checks = 1;
    req.checks = checks;
    uint8_t *buf = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    if (wire_pack(&req.base, &buf, &len) < 0) {
        snprintf(err, errlen, "cannot encode the register request");
        return -1;
    }
    char e[400];
    int rc = rpc_unary(s->ch, REGISTER_PATH, buf, len, &resp, &resp_len, REGISTER_TIMEOUT_MS, NULL, e, sizeof e);
    free(buf);
    if (rc < 0) {
        snprintf(err, errlen, "%s: register: %s", name, e);
        return -1;
    }
    Picket__V1__RegisterResponse *r = picket__v1__register_response__unpack(NULL, resp_len, resp);
    free(resp);
    if (!r || r->probe_id <= 0) {
        snprintf(err, errlen, "%s: register: malformed answer", name);
        if (r)
            picket__v1__register_response__free_unpacked(r, NULL);
        return -1;
    }
    s->probe_id = r->probe_id;
    s->next_seq = r->committed_sequence + 1;
    s->heartbeat_ms = r->heartbeat_interval_ms > 0 ? (int)r->heartbeat_interval_ms : 10000;
    picket__v1__register_response__free_unpacked(r, NULL);
    return 0;
}

/* Starts a send of bytes gRPC copies; 0 or -1. */
static int sim_send(struct sim *s, const uint8_t *data, size_t len)
{
    if (rpc_call_send(s->call, rpc_buffer_from(data, len), &s->send_buf, &s->send_tag) < 0)
        return -1;
    s->send_inflight = 1;
    return 0;
}

static int sim_send_message(struct sim *s, Picket__V1__ProbeMessage *m)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_pack(&m->base, &buf, &len) < 0)
        return -1;
    int rc = sim_send(s, buf, len);
    free(buf);
    return rc;
}

static int sim_recv(struct sim *s) { return rpc_call_recv(s->call, &s->recv_buf, &s->recv_tag); }

/* Opens the Connect stream; the Hello goes out from the event loop. */
static int sim_start_stream(struct sim *s, grpc_completion_queue *cq)
{
    s->start_tag = (struct tag){T_START, s};
    s->send_tag = (struct tag){T_SEND, s};
    s->recv_tag = (struct tag){T_RECV, s};
    s->status_tag = (struct tag){T_STATUS, s};
    grpc_slice method = grpc_slice_from_static_string(CONNECT_PATH);
    s->call = grpc_channel_create_call(s->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    struct rpc_call_end end = {&s->status, &s->details, &s->trailing_md};
    if (rpc_call_begin(s->call, &s->initial_md, &s->start_tag, &end, &s->status_tag) < 0)
        return -1;
    s->streaming = 1;
    s->hello_pending = 1;
    return sim_recv(s);
}

static void record_lag(int64_t us)
{
    int64_t ms = us / 1000;
    if (ms < 0)
        ms = 0;
    if (ms >= LAG_BUCKETS)
        ms = LAG_BUCKETS - 1;
    c.lag_ms[ms]++;
}

static void on_ack(struct sim *s, uint64_t committed, int64_t now)
{
    int keep = 0;
    for (int i = 0; i < s->n_pend; i++) {
        if (s->pend_seq[i] <= committed) {
            record_lag(now - s->pend_at[i]);
            c.results_acked++;
        } else {
            s->pend_seq[keep] = s->pend_seq[i];
            s->pend_at[keep] = s->pend_at[i];
            keep++;
        }
    }
    s->n_pend = keep;
}

static void on_recv(struct sim *s, int success, grpc_completion_queue *cq)
{
    (void)cq;
    grpc_byte_buffer *bb = s->recv_buf;
    s->recv_buf = NULL;
    if (!success || !bb)
        return; /* the call is ending; its status follows */
    size_t len = 0;
    uint8_t *data = rpc_buffer_read(bb, &len);
    grpc_byte_buffer_destroy(bb);
    Picket__V1__CollectorMessage *m = data ? picket__v1__collector_message__unpack(NULL, len, data) : NULL;
    free(data);
    if (m && m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_HEARTBEAT)
        c.heartbeats_heard++;
    if (m && m->kind_case == PICKET__V1__COLLECTOR_MESSAGE__KIND_ACK)
        on_ack(s, m->ack->committed_sequence, pk_now_us());
    if (m)
        picket__v1__collector_message__free_unpacked(m, NULL);
    if (sim_recv(s) < 0)
        grpc_call_cancel(s->call, NULL);
}

/* What a probe sends next, if anything: its Hello, a result, a heartbeat or the
 * half-close. One send in flight at a time, as the real uplink does. */
static void sim_tick(struct sim *s, const struct options *o, int64_t now_mono, int closing)
{
    if (!s->streaming || s->done || s->send_inflight || s->half_closed)
        return;
    if (s->hello_pending) {
        char name[64];
        snprintf(name, sizeof name, "%s-%d", o->prefix, s->index);
        Picket__V1__Hello hello = PICKET__V1__HELLO__INIT;
        hello.probe_id = s->probe_id;
        hello.probe_name = name;
        Picket__V1__ProbeMessage m = PICKET__V1__PROBE_MESSAGE__INIT;
        m.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_HELLO;
        m.hello = &hello;
        if (sim_send_message(s, &m) == 0)
            s->hello_pending = 0;
        s->next_heartbeat_us = now_mono + (int64_t)s->heartbeat_ms * 1000;
        return;
    }
    if (closing) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        if (grpc_call_start_batch(s->call, &op, 1, &s->send_tag, NULL) == GRPC_CALL_OK) {
            s->send_inflight = 1;
            s->half_closed = 1;
        }
        return;
    }
    if (results_on && now_mono >= s->next_result_us) {
        s->next_result_us += (int64_t)o->every_s * 1000000;
        if (s->n_pend >= PENDING_MAX) {
            c.send_skipped++;
            return;
        }
        struct pk_result r;
        memset(&r, 0, sizeof r);
        r.seq = s->next_seq;
        pk_strlcpy(r.check_name, CHECK_NAME, sizeof r.check_name);
        pk_strlcpy(r.check_type, "tcp", sizeof r.check_type);
        r.started_at_us = pk_now_us();
        r.outcome = PK_OUTCOME_OK;
        r.connect_us = 180 + s->index % 50;
        r.total_us = r.connect_us + 20;
        uint8_t *buf = NULL;
        size_t len = 0;
        if (wire_encode_batch(&r, 1, &buf, &len) == 0 && sim_send(s, buf, len) == 0) {
            s->pend_seq[s->n_pend] = s->next_seq++;
            s->pend_at[s->n_pend++] = r.started_at_us;
            c.results_sent++;
        }
        free(buf);
        return;
    }
    if (now_mono >= s->next_heartbeat_us) {
        s->next_heartbeat_us = now_mono + (int64_t)s->heartbeat_ms * 1000;
        Picket__V1__Heartbeat hb = PICKET__V1__HEARTBEAT__INIT;
        hb.sent_at_us = pk_now_us();
        Picket__V1__ProbeMessage m = PICKET__V1__PROBE_MESSAGE__INIT;
        m.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_HEARTBEAT;
        m.heartbeat = &hb;
        if (sim_send_message(s, &m) == 0)
            c.heartbeats_sent++;
    }
}

static void on_event(grpc_event ev, int closing, grpc_completion_queue *cq)
{
    struct tag *t = ev.tag;
    struct sim *s = t->sim;
    switch (t->kind) {
    case T_START:
        break;
    case T_SEND:
        s->send_inflight = 0;
        if (s->send_buf) {
            grpc_byte_buffer_destroy(s->send_buf);
            s->send_buf = NULL;
        }
        break;
    case T_RECV:
        on_recv(s, ev.success, cq);
        break;
    case T_STATUS:
        s->done = 1;
        if (closing && s->half_closed && s->status == GRPC_STATUS_OK)
            c.streams_closed_ok++;
        else {
            c.streams_lost++;
            if (c.streams_lost <= 5)
                fprintf(stderr, "picket-bench-probes: probe %d: stream ended: status %d: %.*s\n", s->index,
                        (int)s->status, (int)GRPC_SLICE_LENGTH(s->details),
                        (const char *)GRPC_SLICE_START_PTR(s->details));
        }
        break;
    }
}

static int load_security(const struct options *o, int index, struct pk_tls_client *sec)
{
    char cert[1024], key[1024], err[512];
    struct pk_tls_opts t = {.ca_file = o->tls_ca, .insecure_plaintext = o->plaintext};
    if (!o->plaintext) {
        snprintf(cert, sizeof cert, "%s/probe-%s-%d.crt", o->cert_dir, o->prefix, index);
        snprintf(key, sizeof key, "%s/probe-%s-%d.key", o->cert_dir, o->prefix, index);
        t.cert_file = cert;
        t.key_file = key;
    }
    if (pk_tls_client_load(&t, "picket-bench-probes", sec, err, sizeof err) < 0) {
        fprintf(stderr, "picket-bench-probes: probe %d: %s\n", index, err);
        return -1;
    }
    return 0;
}

/* Channels, Register and streams for every probe, in order; the stagger of each
 * probe's results over the interval is fixed here. */
static int setup(struct sim *sims, const struct options *o, grpc_completion_queue *cq)
{
    int64_t t0 = pk_mono_us(), next_sweep = 0;
    for (int i = 0; i < o->probes && !stop_now; i++) {
        struct sim *s = &sims[i];
        s->index = o->first + i;
        struct pk_tls_client sec;
        memset(&sec, 0, sizeof sec);
        if (load_security(o, s->index, &sec) < 0)
            return -1;
        s->ch = rpc_channel_create_with(o->collector, &sec);
        pk_tls_client_free(&sec);
        char err[600];
        if (!s->ch || sim_register(s, o, err, sizeof err) < 0) {
            c.register_errors++;
            if (c.register_errors <= 5)
                fprintf(stderr, "picket-bench-probes: %s\n", s->ch ? err : "cannot create a channel");
            continue;
        }
        c.registered++;
        if (sim_start_stream(s, cq) == 0)
            c.streams_started++;
        s->next_result_us = 0; /* set when results start */
        if ((i + 1) % 500 == 0)
            fprintf(stderr, "picket-bench-probes: %d of %d probes streaming after %.1f s\n", i + 1, o->probes,
                    (double)(pk_mono_us() - t0) / 1e6);
        /* Serve completions that are already due (acks to hellos, heartbeats). */
        for (;;) {
            grpc_event ev = grpc_completion_queue_next(cq, gpr_time_0(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type != GRPC_OP_COMPLETE)
                break;
            on_event(ev, 0, cq);
        }
        int64_t now = pk_mono_us();
        sim_tick(s, o, now, 0); /* its Hello */
        if (now >= next_sweep) { /* heartbeats of the ones already streaming */
            next_sweep = now + 1000000;
            for (int k = 0; k < i; k++)
                sim_tick(&sims[k], o, now, 0);
        }
    }
    fprintf(stderr, "picket-bench-probes: setup done: %" PRIu64 " registered, %" PRIu64 " errors, %.1f s\n",
            c.registered, c.register_errors, (double)(pk_mono_us() - t0) / 1e6);
    return 0;
}

/* Heartbeats (and results after SIGUSR1) until stopped or --duration; then the
 * half-closes and their statuses, at most CLOSE_GRACE_MS. */
static void run(struct sim *sims, const struct options *o, grpc_completion_queue *cq)
{
    int64_t start = pk_mono_us();
    int64_t end = o->duration_s > 0 ? start + (int64_t)o->duration_s * 1000000 : INT64_MAX;
    int closing = 0, was_on = 0;
    int64_t close_deadline = 0, next_tick = 0;
    for (;;) {
        int64_t now = pk_mono_us();
        if (!closing && (stop_now || now >= end)) {
            closing = 1;
            close_deadline = now + CLOSE_GRACE_MS * 1000LL;
            fprintf(stderr, "picket-bench-probes: closing\n");
        }
        if (results_on && !was_on) {
            was_on = 1;
            int64_t every = (int64_t)o->every_s * 1000000;
            for (int i = 0; i < o->probes; i++) /* spread over one interval */
                sims[i].next_result_us = now + (every * i) / (o->probes > 0 ? o->probes : 1);
        }
        if (now >= next_tick) {
            next_tick = now + TICK_MS * 1000;
            int open = 0;
            for (int i = 0; i < o->probes; i++) {
                sim_tick(&sims[i], o, now, closing);
                open += sims[i].streaming && !sims[i].done;
            }
            if (closing && (open == 0 || now > close_deadline))
                break;
        }
        grpc_event ev = grpc_completion_queue_next(
            cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(TICK_MS, GPR_TIMESPAN)), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            on_event(ev, closing, cq);
        else if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
}

static void teardown(struct sim *sims, const struct options *o, grpc_completion_queue *cq)
{
    for (int i = 0; i < o->probes; i++)
        if (sims[i].call) {
            grpc_call_cancel(sims[i].call, NULL);
            grpc_call_unref(sims[i].call);
            sims[i].call = NULL;
        }
    grpc_completion_queue_shutdown(cq);
    int64_t deadline = pk_mono_us() + 5000000;
    while (pk_mono_us() < deadline) {
        grpc_event ev = grpc_completion_queue_next(
            cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(100, GPR_TIMESPAN)), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE) {
            struct tag *t = ev.tag;
            if (t->kind == T_RECV && t->sim->recv_buf) {
                grpc_byte_buffer_destroy(t->sim->recv_buf);
                t->sim->recv_buf = NULL;
            }
        }
    }
    for (int i = 0; i < o->probes; i++) {
        struct sim *s = &sims[i];
        if (s->send_buf)
            grpc_byte_buffer_destroy(s->send_buf);
        if (s->streaming) {
            grpc_slice_unref(s->details);
            grpc_metadata_array_destroy(&s->initial_md);
            grpc_metadata_array_destroy(&s->trailing_md);
        }
        if (s->ch)
            grpc_channel_destroy(s->ch);
    }
}

static void print_summary(const struct options *o, double seconds)
{
    uint64_t n = 0, sum = 0;
    for (int i = 0; i < LAG_BUCKETS; i++) {
        n += c.lag_ms[i];
        sum += (uint64_t)i * c.lag_ms[i];
    }
    printf("first=%d probes=%d registered=%" PRIu64 " register_errors=%" PRIu64 " streams_started=%" PRIu64
           " streams_closed_ok=%" PRIu64 " streams_lost=%" PRIu64 " results_sent=%" PRIu64 " results_acked=%" PRIu64
           " results_skipped=%" PRIu64 " heartbeats_sent=%" PRIu64 " heartbeats_heard=%" PRIu64
           " lag_mean_ms=%.1f seconds=%.1f lag_hist=",
           o->first, o->probes, c.registered, c.register_errors, c.streams_started, c.streams_closed_ok,
           c.streams_lost, c.results_sent, c.results_acked, c.send_skipped, c.heartbeats_sent, c.heartbeats_heard,
           n ? (double)sum / (double)n : 0.0, seconds);
    const char *sep = "";
    for (int i = 0; i < LAG_BUCKETS; i++)
        if (c.lag_ms[i]) {
            printf("%s%d:%u", sep, i, c.lag_ms[i]);
            sep = ",";
        }
    printf("%s\n", n ? "" : "none");
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: picket-bench-probes --collector HOST:PORT --probes P [--first I] [--every S]\n"
            "                           [--duration S] [--prefix NAME] (--tls-ca FILE --tls-cert-dir DIR |\n"
            "                           --insecure-plaintext)\n"
            "  --collector ADDR   the collector's gRPC address (required)\n"
            "  --probes P         simulated probes in this process, each its own channel, TLS\n"
            "                     connection and certificate (at most %d)\n"
            "  --first I          index of the first (probe names PREFIX-I ... PREFIX-(I+P-1)), default 0\n"
            "  --prefix NAME      probe name prefix, default scale-probe\n"
            "  --every S          after SIGUSR1, one result per probe every S s, default 10\n"
            "  --duration S       end after S s of streaming (0: only on SIGUSR2/SIGTERM), default 0\n"
            "  --tls-ca FILE      the CA of the collector's certificate\n"
            "  --tls-cert-dir DIR client certificates DIR/probe-PREFIX-N.crt and .key\n"
            "  --insecure-plaintext  no TLS (the collector must run with it too)\n"
            "Heartbeats every heartbeat interval (the collector's) from the start. SIGUSR1 starts\n"
            "the results, SIGUSR2 or SIGTERM ends the run. Prints one line of key=value pairs\n"
            "(lag_hist=MS:COUNT,...: produced -> Ack after commit, 1 ms buckets). Exit 0 when\n"
            "every probe registered and every stream stayed up until it was closed with OK.\n",
            MAX_PROBES);
}

static int parse_int(const char *flag, const char *text, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < lo || v > hi) {
        fprintf(stderr, "picket-bench-probes: %s must be a number from %d to %d, got '%s'\n", flag, lo, hi, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option long_opts[] = {
        {"collector", required_argument, NULL, 'c'}, {"probes", required_argument, NULL, 'p'},
        {"first", required_argument, NULL, 'f'},     {"every", required_argument, NULL, 'e'},
        {"duration", required_argument, NULL, 'd'},  {"prefix", required_argument, NULL, 'n'},
        {"tls-ca", required_argument, NULL, 'a'},    {"tls-cert-dir", required_argument, NULL, 'r'},
        {"insecure-plaintext", no_argument, NULL, 'i'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch, rc = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->collector = optarg; break;
        case 'p': rc = parse_int("--probes", optarg, 1, MAX_PROBES, &o->probes); break;
        case 'f': rc = parse_int("--first", optarg, 0, 10000000, &o->first); break;
        case 'e': rc = parse_int("--every", optarg, 1, 3600, &o->every_s); break;
        case 'd': rc = parse_int("--duration", optarg, 0, 86400, &o->duration_s); break;
        case 'n': o->prefix = optarg; break;
        case 'a': o->tls_ca = optarg; break;
        case 'r': o->cert_dir = optarg; break;
        case 'i': o->plaintext = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (rc < 0)
        return -1;
    if (optind < argc || !o->collector || o->probes < 1) {
        fprintf(stderr, "picket-bench-probes: give --collector and --probes\n");
        usage(stderr);
        return -1;
    }
    if (!o->plaintext && (!o->tls_ca || !o->cert_dir)) {
        fprintf(stderr, "picket-bench-probes: give --tls-ca and --tls-cert-dir, or --insecure-plaintext\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {.prefix = "scale-probe", .every_s = 10};
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_stop;
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    c.lag_ms = calloc(LAG_BUCKETS, sizeof *c.lag_ms);
    struct sim *sims = calloc((size_t)o.probes, sizeof *sims);
    if (!c.lag_ms || !sims) {
        fprintf(stderr, "picket-bench-probes: out of memory\n");
        return 1;
    }
    grpc_init();
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    int64_t t0 = pk_mono_us();
    int rc = setup(sims, &o, cq);
    if (rc == 0)
        run(sims, &o, cq);
    double seconds = (double)(pk_mono_us() - t0) / 1e6;
    teardown(sims, &o, cq);
    grpc_completion_queue_destroy(cq);
    print_summary(&o, seconds);
    grpc_shutdown();
    free(sims);
    free(c.lag_ms);
    int ok = rc == 0 && c.registered == (uint64_t)o.probes && c.streams_lost == 0 &&
             c.streams_closed_ok == (uint64_t)o.probes;
    return ok ? 0 : 1;
}
