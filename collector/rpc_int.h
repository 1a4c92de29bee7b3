/* rpc_int.h: private to the collector's rpc_*.c files (the gRPC server family):
 * the call structs, the method table entry and the helpers they share. It
 * includes gRPC, so nothing outside collector/rpc_*.c includes it; the public
 * face stays rpc_server.h.
 *
 *   rpc_server.c         completion-queue loop, call lifecycle, method table, dispatch
 *   rpc_auth.c           who a call comes from and what it may do
 *   rpc_probe.c          ProbeService: Register, the Connect stream, CheckSet pushes
 *   rpc_admin.c          AdminService: credentials, ApplyChecks, DiffChecks
 *   rpc_maint.c          AdminService: maintenance windows
 *   rpc_query_service.c  QueryService: Status, and the transport of rpc_query.c
 *   rpc_health.c         grpc.health.v1.Health
 *   rpc_stats.c          process-wide counters and the probes' spool table */
#ifndef PK_RPC_INT_H
#define PK_RPC_INT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "auth.h"
#include "cert_deny.h"
#include "ingest.h"
#include "picket/v1/picket.pb-c.h"
#include "rpc_query.h"
#include "rpc_server.h"

/* ------------------------------------------------------------ calls */

enum tag_kind { TAG_NEW_CALL, TAG_UNARY_RECV, TAG_UNARY_DONE, TAG_STREAM_RECV, TAG_STREAM_SEND, TAG_STREAM_CLOSE,
                TAG_STREAM_STATUS, TAG_SHUTDOWN };

/* What the completion queue hands back: the kind of operation and its call. */
struct tag {
    enum tag_kind kind;
    void *owner;
};

/* What a method needs. */
enum need { NEED_NOTHING, NEED_PROBE, NEED_READ, NEED_WRITE };

/* Who a call comes from. Known at once for a certificate; for a bearer token only
 * the hash is known until a job on the control thread looks it up. */
struct call_auth {
    struct pk_identity who;                  /* role PK_ROLE_NONE while a token is unresolved */
    char token_hash[PK_TOKEN_HASH_HEX + 1]; /* "" unless the credential is a token */
    int64_t credential_id;                   /* the token's row, for logs */
    char cert_sha256[65];                    /* a certificate's fingerprint when a deny list is on; else "" */
};

struct unary;

/* One row of the method table (rpc_server.c). A unary call's request arrives on
 * the completion-queue thread, which calls on_request: it decodes u->request and
 * either answers at once or queues `job` on ingest's control thread. */
struct rpc_method {
    const char *path;  /* "/package.Service/Method" */
    int stream;        /* 1: the Connect stream; the fields below are for unary calls */
    enum need need;    /* checked before the call is accepted (and again once a token resolves) */
    void (*on_request)(struct unary *u);
    const ProtobufCMessageDescriptor *request; /* the request type, for the generic decoder */
    const char *malformed;                     /* status details when the request does not parse */
    ingest_job_fn job;                         /* the control-thread half; ctx is the struct unary */
    int counts_as_query;                       /* counted in rpc_server_stats.queries */
    enum rpc_query_kind query;                 /* the analytics calls: which one */
};

struct server;

struct unary {
    struct tag recv_tag, done_tag;
    struct server *srv;
    grpc_call *call;
    const struct rpc_method *method;
    grpc_byte_buffer *request;
    grpc_byte_buffer *response;
    grpc_metadata_array trailing;
    grpc_slice status_details;
    int close_cancelled;
    void *job_data; /* decoded request, owned */
    struct call_auth auth;
    int64_t deadline_us; /* the caller's deadline, wall clock; 0 none */
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
    /* The checks this probe may send results for (registered or assigned), sorted
     * by name; loaded on the control thread after Hello and after each accepted
     * CheckSet, during which reads stop (checks_loading). Owned; freed with s. */
    struct store_probe_check *checks;
    size_t n_checks;
    /* Which check's result came after each check's last time (index + 1; 0:
     * none seen), and the last one's (index + 1): results follow the probe's
     * schedule round after round, so the guess is nearly always right and
     * spares the name search (a guess is only taken when the name matches).
     * Sized and freed with checks; NULL when that allocation failed. */
    size_t *check_next, check_last;
    int checks_loading;
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
    int skip_result_validation; /* benchmarks only: results are not checked against the probe's checks */
    struct cert_deny *deny;     /* --deny-certificates; NULL: none */
    pthread_mutex_t streams_mu;
    struct stream *streams;
    atomic_long n_streams;
    atomic_int version_poll_queued;
    int64_t last_polled_version; /* control thread only */
    /* The checks version last read, and when (monotonic µs): new streams reuse
     * it for a second instead of a statement each (rpc_probe.c). Control thread only. */
    int64_t read_version, read_version_mono_us;
};

/* ------------------------------------------------------------ rpc_server.c */

/* Unpacks a received message with its descriptor; NULL when it does not parse.
 * Free with protobuf_c_message_free_unpacked. */
ProtobufCMessage *rpc_unpack_message(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb);

/* Sends the answer (or an error status) and closes the call; u is freed when the
 * completion comes back, so it must not be touched afterwards. Any thread. */
void rpc_unary_reply(struct unary *u, grpc_status_code code, const char *details, const ProtobufCMessage *resp);

/* Stream helpers; call with s->mu held unless said otherwise. */
/* Drops one reference and unlocks s->mu; at zero the stream is freed. */
void rpc_stream_unref_unlock(struct stream *s);
/* Drops one reference; s->mu not held. */
void rpc_stream_unref(struct stream *s);
/* Queues a message to the probe (one send in flight at a time). */
void rpc_stream_queue_send(struct stream *s, const ProtobufCMessage *msg);
/* Ends the stream with OK once nothing is pending, after a half-close. */
void rpc_stream_maybe_finish(struct stream *s);
/* Cuts the stream off with an error status; the probe reconnects and resends. */
void rpc_stream_abort(struct stream *s, grpc_status_code code, const char *why);
/* Reads the next message unless a read is pending or the stream is finished. */
void rpc_stream_post_recv(struct stream *s);

/* ------------------------------------------------------------ rpc_auth.c */

/* Whether a new call to m may start: GRPC_STATUS_OK with *auth filled (for a
 * bearer token only its hash, resolved later by rpc_auth_resolve), or the status
 * to refuse it with and why (logged and counted here). CQ thread, no database. */
grpc_status_code rpc_auth_admit_call(struct server *srv, const struct rpc_method *m, grpc_call *call,
                                     const grpc_metadata_array *md, struct call_auth *auth, char *why,
                                     size_t whylen);
/* Control thread: turns a token hash into an identity and checks `need`. 0 when
 * allowed; otherwise -1 with *code and why set. */
int rpc_auth_resolve(struct store *store, struct call_auth *auth, enum need need, grpc_status_code *code, char *why,
                     size_t whylen);
/* The start of every unary job on the control thread: a database to work with,
 * and a caller allowed to do u->method's work (a token is looked up here). 0, or
 * -1 after answering the call. */
int rpc_job_admit(struct store *store, struct unary *u);

/* ------------------------------------------------------------ the services */

/* rpc_probe.c */
void rpc_probe_register_on_request(struct unary *u);
/* A message arrived on a Connect stream. s->mu held. */
void rpc_probe_on_message(struct stream *s, Picket__V1__ProbeMessage *msg);
/* Control thread, ctx the struct server: pushes a new checks version to every
 * stream; clears srv->version_poll_queued when done. */
void rpc_probe_version_poll_job(struct store *store, void *ctx);

/* rpc_admin.c: control-thread jobs. */
void rpc_admin_add_probe_job(struct store *store, void *ctx);
void rpc_admin_revoke_job(struct store *store, void *ctx);
void rpc_admin_apply_job(struct store *store, void *ctx);
void rpc_admin_diff_job(struct store *store, void *ctx);
/* rpc_maint.c: maintenance windows (control thread). */
void rpc_maint_add_job(struct store *store, void *ctx);
void rpc_maint_list_job(struct store *store, void *ctx);
void rpc_maint_end_job(struct store *store, void *ctx);

/* rpc_query_service.c: control-thread jobs. */
void rpc_status_job(struct store *store, void *ctx);
void rpc_query_job(struct store *store, void *ctx);

/* rpc_health.c: answered on the CQ thread. */
void rpc_health_on_request(struct unary *u);

/* ------------------------------------------------------------ rpc_stats.c */

enum rpc_counter {
    RPC_STAT_STREAMS_TOTAL,
    RPC_STAT_BATCHES,
    RPC_STAT_RESULTS,
    RPC_STAT_REJECTED,
    RPC_STAT_REGISTERS,
    RPC_STAT_QUERIES,
    RPC_STAT_PAUSED,
    RPC_STAT_AUTH_DENIED,
    RPC_STAT_FOREIGN_RESULTS, /* streams closed for a result of a check the probe does not run */
    RPC_STAT_REVOKED_STREAMS, /* open streams closed because their credential was revoked */
    RPC_STAT_COUNTERS
};

/* Any thread. */
void rpc_stat_add(enum rpc_counter counter, unsigned long long n);
void rpc_stat_streams_open(long delta);
/* Counts a call or stream the collector ended with a non-OK status. */
void rpc_stat_status(grpc_status_code code);
/* Remembers what a probe's heartbeat said about its spool (rpc_server_probe_metrics). */
void rpc_stat_heartbeat(int64_t probe_id, const char *name, const Picket__V1__Heartbeat *hb);

#endif
