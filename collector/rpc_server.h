/* rpc_server.h: the collector's gRPC face (ProbeService, QueryService,
 * grpc.health.v1.Health). The only collector header that mentions the server;
 * it exposes no gRPC types. */
#ifndef PK_RPC_SERVER_H
#define PK_RPC_SERVER_H

#include <signal.h>

#include "ingest.h"

struct rpc_server_config {
    const char *listen;            /* "127.0.0.1:7700" */
    struct ingest *ingest;         /* owned from here on: stopped during shutdown,
                                      because open calls wait on its callbacks */
    int max_inflight_per_stream;   /* batches of one probe queued at once, default 4 */
    int heartbeat_ms;              /* what probes are told to use, default 10000; a stream
                                      silent for 3 intervals is cut off */
    int hello_timeout_ms;          /* a stream without Hello by then is cut off, default 10000 */
    int max_clock_skew_ms;         /* Register refused past this clock difference, default 300000 */
    /* TLS (PEM text, borrowed): the CA client certificates must chain to, and the
     * collector's own certificate and key. Required unless insecure_plaintext. */
    const char *tls_ca_pem, *tls_cert_pem, *tls_key_pem;
    int insecure_plaintext;        /* no TLS, no authentication: development only */
    const char *deny_certificates; /* --deny-certificates FILE: SHA-256 fingerprints refused (NULL: none) */
    int skip_result_validation;    /* benchmarks only (--bench-skip-result-validation): results are
                                      not checked against the checks their probe runs */
    /* Connection limits (docs/SECURITY.md): TLS handshake and first HTTP/2 frames
     * within handshake_timeout_ms (default 10000); a connection with no call for
     * idle_timeout_ms is closed (default 30000); max_age_ms > 0 ends any
     * connection that old (its calls get 30 s more); caps in total and per
     * address (<= 0: none), enforced by conn_gate.c. */
    int handshake_timeout_ms, idle_timeout_ms, max_age_ms;
    long max_connections, max_connections_per_peer;
};

/* gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED). */
#define RPC_STATUS_CODES 17

struct rpc_server_stats {
    long streams_open;
    unsigned long long streams_total;
    unsigned long long batches_received;
    unsigned long long results_received;
    unsigned long long streams_rejected; /* closed for bad input */
    unsigned long long registers;
    unsigned long long queries;
    unsigned long long paused_reads;     /* times a stream was paused for backpressure */
    unsigned long long auth_denied;      /* calls refused for a missing, bad or insufficient credential */
    unsigned long long foreign_results;  /* streams closed for a result of a check the probe does not run */
    unsigned long long revoked_streams;  /* open streams closed because their credential was revoked */
    unsigned long long status_errors[RPC_STATUS_CODES]; /* calls and streams ended non-OK, by code */
};
/* Process-wide counters; any thread. */
void rpc_server_get_stats(struct rpc_server_stats *out);

/* What a probe last reported about its spool (heartbeats). */
struct probe_spool_metric {
    int64_t probe_id;
    char name[128];
    unsigned long long pending, dropped, spool_bytes;
};
/* Copies up to max entries; any thread. */
size_t rpc_server_probe_metrics(struct probe_spool_metric *out, size_t max);

/* gRPC's process-wide state, so that main() needs no gRPC header: init once
 * before rpc_server_run, shutdown once after it (each init needs a shutdown). */
void rpc_server_library_init(void);
void rpc_server_library_shutdown(void);

/* Binds, serves until *stop is set, then shuts down calls cleanly.
 * Returns 0 on clean stop, -1 with err when it could not start. */
int rpc_server_run(const struct rpc_server_config *cfg, volatile sig_atomic_t *stop, char *err, size_t errlen);

#endif
