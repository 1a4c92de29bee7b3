/* rpc_stats.c: the gRPC server's process-wide counters (rpc_server_get_stats)
 * and what each probe last said about its spool in a heartbeat
 * (rpc_server_probe_metrics), both read by /metrics from the HTTP thread.
 * Lock-free counters and one small mutex; never touches PostgreSQL. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "result.h"
#include "rpc_int.h"

static atomic_long stat_streams_open;
static atomic_ullong counters[RPC_STAT_COUNTERS];
/* Calls and streams the collector ended with a non-OK status, by gRPC code. */
static atomic_ullong stat_status[RPC_STATUS_CODES];

void rpc_stat_add(enum rpc_counter counter, unsigned long long n)
{
    atomic_fetch_add(&counters[counter], n);
}

void rpc_stat_streams_open(long delta)
{
    atomic_fetch_add(&stat_streams_open, delta);
}

void rpc_stat_status(grpc_status_code code)
{
    if (code != GRPC_STATUS_OK && (int)code > 0 && (int)code < RPC_STATUS_CODES)
        atomic_fetch_add(&stat_status[code], 1);
}

void rpc_server_get_stats(struct rpc_server_stats *out)
{
    out->streams_open = atomic_load(&stat_streams_open);
    out->streams_total = atomic_load(&counters[RPC_STAT_STREAMS_TOTAL]);
    out->batches_received = atomic_load(&counters[RPC_STAT_BATCHES]);
    out->results_received = atomic_load(&counters[RPC_STAT_RESULTS]);
    out->streams_rejected = atomic_load(&counters[RPC_STAT_REJECTED]);
    out->registers = atomic_load(&counters[RPC_STAT_REGISTERS]);
    out->queries = atomic_load(&counters[RPC_STAT_QUERIES]);
    out->paused_reads = atomic_load(&counters[RPC_STAT_PAUSED]);
    out->auth_denied = atomic_load(&counters[RPC_STAT_AUTH_DENIED]);
    out->foreign_results = atomic_load(&counters[RPC_STAT_FOREIGN_RESULTS]);
    out->revoked_streams = atomic_load(&counters[RPC_STAT_REVOKED_STREAMS]);
    for (int i = 0; i < RPC_STATUS_CODES; i++)
        out->status_errors[i] = atomic_load(&stat_status[i]);
}

/* What each probe last said about its spool, for /metrics (which never touches
 * PostgreSQL). Bounded; probes beyond it are still in the database. */
#define PROBE_TABLE_MAX 4096
static pthread_mutex_t probe_tab_mu = PTHREAD_MUTEX_INITIALIZER;
static struct probe_spool_metric probe_tab[PROBE_TABLE_MAX];
static size_t probe_tab_n;

void rpc_stat_heartbeat(int64_t probe_id, const char *name, const Picket__V1__Heartbeat *hb)
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
