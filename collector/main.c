/* main.c: picket-collector's command line: `migrate` applies the schema, `serve`
 * (the default) runs the gRPC server with its writer threads, `rollup-backfill`
 * rebuilds rollups from raw results. Configuration comes
 * from flags, then PICKET_* environment variables. Exit codes: 0 ok, 1 runtime
 * failure, 2 usage error. */
#include <dirent.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "auth.h"
#include "conn_gate.h"
#include "dashboard.h"
#include "hb_batch.h"
#include "http_server.h"
#include "ingest.h"
#include "incident_metrics.h"
#include "leader.h"
#include "log.h"
#include "metrics_text.h"
#include "options.h"
#include "rollup.h"
#include "rpc_query.h"
#include "rpc_warm.h"
#include "rpc_server.h"
#include "heap_trim.h"
#include "tls_buffers.h"
#include "maint_apply.h"
#include "slo_config.h"
#include "store.h"
#include "timeparse.h"
#include "rpc_baseline_cache.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct serve_limits {
    int heartbeat_ms, hello_timeout_ms, max_clock_skew_ms;
    int retention_days, rollups_off, compact_interval_s;
    int tracking_off, open_after, close_after, quorum, round_deadline_ms; /* round tracking */
    int skip_result_validation; /* hidden, benchmarks only */
    const char *deny_certificates;
    const char *alerts_file; /* --alerts / PICKET_ALERTS; NULL: no alerting */
    const char *slos_file;   /* --slos / PICKET_SLOS; NULL: no group SLOs */
    const char *maint_file;  /* --maintenance / PICKET_MAINTENANCE; NULL: none but picketctl's */
    /* gRPC connections (docs/SECURITY.md, "Connection limits") */
    int handshake_timeout_s, idle_timeout_s, max_connection_age_s;
    int max_connections, max_connections_per_address; /* 0: automatic / none */
    /* HTTP listener */
    int http_timeout_s, http_max_connections, http_max_per_address;
    const char *http_allowed_hosts;
    const char *http_tls_cert, *http_tls_key, *http_client_ca; /* HTTPS; NULL: plain HTTP */
    const char *dashboard_auth; /* the dashboard's login file; NULL: none */
    const char *status_pages;   /* the status pages file; NULL: none */
    int dashboard_idle_after_s; /* 0: the dashboard's default (60 s) */
    int baseline_cache_mb;      /* the report's baseline summaries kept in memory */
    int prefetch_mb;            /* the reports' tables read ahead at start (0: none) */
};

/* Everything the command line and the environment set. */
struct collector_opts {
    const char *db, *listen, *http_listen;
    int writers, queue_batches;
    struct serve_limits limits;
    struct pk_tls_opts tls;
    const char *role, *region, *since, *until; /* token add/revoke, rollup-backfill */
    long long cred_id;
    int citus, citus_shards; /* migrate --citus [--citus-shards N] */
};

#define OFF(member) offsetof(struct collector_opts, member)
static const struct pk_option options[] = {
    {.name = "db", .kind = PK_OPT_STRING, .env = "PICKET_DB_URL", .offset = OFF(db), .metavar = "URL",
     .help = "PostgreSQL connection URL or key=value string\n"},
    {.name = "listen", .kind = PK_OPT_STRING, .env = "PICKET_LISTEN", .offset = OFF(listen), .metavar = "ADDR",
     .help = "gRPC address, default 127.0.0.1:7700"},
    {.name = "http-listen", .kind = PK_OPT_STRING, .env = "PICKET_HTTP_LISTEN", .offset = OFF(http_listen),
     .metavar = "ADDR",
     .help = "/metrics, /healthz and the read-only dashboard (/, /api/, /status/<group>;\n"
             "docs/DASHBOARD.md), default 127.0.0.1:7701, \"none\" to turn off\n"},
    {.name = "dashboard-idle-after-s", .kind = PK_OPT_INT, .env = "PICKET_DASHBOARD_IDLE_AFTER_S",
     .offset = OFF(limits.dashboard_idle_after_s), .min = 1, .max = 86400, .metavar = "S",
     .help = "after S seconds without a reader the dashboard stops refreshing\n"
             "its default view until one comes back, default 60"},
    {.name = "baseline-cache-mb", .kind = PK_OPT_INT, .env = "PICKET_BASELINE_CACHE_MB",
     .offset = OFF(limits.baseline_cache_mb), .min = 1, .max = 1048576, .metavar = "MB",
     .help = "memory for the baselines' 29 days of hourly summaries kept between\n"
             "reports (about 28 KB a check, and a check and region asked),\n"
             "least recently read first out past it, default 512"},
    {.name = "prefetch-mb", .kind = PK_OPT_INT, .env = "PICKET_PREFETCH_MB", .offset = OFF(limits.prefetch_mb),
     .min = 0, .max = 1048576, .metavar = "MB",
     .help = "at start, have PostgreSQL's server read ahead into its page cache\n"
             "the tables the reports read, most wanted first, while they fit\n"
             "in MB (needs pg_prewarm, which migrate installs; 0: none), default 1024"},
    {.name = "dashboard-auth", .kind = PK_OPT_STRING, .env = "PICKET_DASHBOARD_AUTH",
     .offset = OFF(limits.dashboard_auth), .metavar = "FILE",
     .help = "require a login for the dashboard (status pages stay public): lines\n"
             "\"token SHA256HEX\", \"user NAME CRYPT-HASH\" and \"cert CN\"\n"
             "(a client certificate: --http-client-ca; docs/DASHBOARD.md)"},
    {.name = "status-pages", .kind = PK_OPT_STRING, .env = "PICKET_STATUS_PAGES",
     .offset = OFF(limits.status_pages), .metavar = "FILE",
     .help = "status pages for groups of services: title, logo, services, public\n"
             "(YAML; docs/DASHBOARD.md)"},
    {.name = "writers", .kind = PK_OPT_INT, .env = "PICKET_WRITERS", .offset = OFF(writers), .min = 1, .max = 64,
     .metavar = "N", .help = "database writer threads, default 2"},
    {.name = "queue-batches", .kind = PK_OPT_INT, .offset = OFF(queue_batches), .min = 1, .max = 100000,
     .metavar = "N", .help = "batches queued per writer before streams are paused, default 64"},
    {.name = "heartbeat-ms", .kind = PK_OPT_INT, .offset = OFF(limits.heartbeat_ms), .min = 100, .max = 3600000,
     .metavar = "N",
     .help = "heartbeat interval probes are told to use, default 10000; a stream\n"
             "silent for 3 intervals is cut off (DEADLINE_EXCEEDED)"},
    {.name = "hello-timeout-ms", .kind = PK_OPT_INT, .offset = OFF(limits.hello_timeout_ms), .min = 100,
     .max = 3600000, .metavar = "N", .help = "a stream that sends no Hello within N ms is cut off,\ndefault 10000"},
    {.name = "max-clock-skew-ms", .kind = PK_OPT_INT, .offset = OFF(limits.max_clock_skew_ms), .min = 1000,
     .max = 2000000000, .metavar = "N",
     .help = "refuse Register from a probe whose clock is off by more\n"
             "than N ms, and batches with results more than N ms in the\n"
             "future (FAILED_PRECONDITION), default 300000 (5 minutes)"},
    {.name = "retention-days", .kind = PK_OPT_INT, .env = "PICKET_RETENTION_DAYS", .offset = OFF(limits.retention_days),
     .min = 1, .max = 36500, .metavar = "N",
     .help = "raw results (daily partitions) and minute rollups older than N\ndays are dropped, default 90"},
    {.name = "compact-interval-s", .kind = PK_OPT_INT, .offset = OFF(limits.compact_interval_s), .min = 1,
     .max = 86400, .metavar = "N",
     .help = "fold partial rollups into minute/hour/day rollups every\nN seconds, default 30"},
    {.name = "alerts", .kind = PK_OPT_STRING, .env = "PICKET_ALERTS", .offset = OFF(limits.alerts_file),
     .metavar = "FILE",
     .help = "alert rules and receivers (YAML, docs/ALERTS.md); evaluated and\ndelivered by the collector"},
    {.name = "slos", .kind = PK_OPT_STRING, .env = "PICKET_SLOS", .offset = OFF(limits.slos_file), .metavar = "FILE",
     .help = "SLOs over groups of checks (YAML: name, target, window, service and/or\n"
             "checks; docs/ANALYTICS.md) answered by picketctl slo and report\n"},
    {.name = "maintenance", .kind = PK_OPT_STRING, .env = "PICKET_MAINTENANCE", .offset = OFF(limits.maint_file),
     .metavar = "FILE",
     .help = "maintenance windows (YAML: name, for, start/end/duration or every/cron\n"
             "with duration, timezone; docs/ANALYTICS.md): rounds inside are left out\n"
             "of availability and SLOs, incidents starting inside do not page"},
    {.name = "handshake-timeout-s", .kind = PK_OPT_INT, .env = "PICKET_HANDSHAKE_TIMEOUT_S",
     .offset = OFF(limits.handshake_timeout_s), .min = 1, .max = 3600, .metavar = "N",
     .help = "a gRPC connection must finish TLS and start HTTP/2 within N s,\ndefault 10"},
    {.name = "idle-timeout-s", .kind = PK_OPT_INT, .env = "PICKET_IDLE_TIMEOUT_S", .offset = OFF(limits.idle_timeout_s),
     .min = 1, .max = 86400, .metavar = "N",
     .help = "a gRPC connection with no call for N s is closed, default 30\n"
             "(a probe's stream is a call: probes are never idle)"},
    {.name = "max-connection-age-s", .kind = PK_OPT_INT, .env = "PICKET_MAX_CONNECTION_AGE_S",
     .offset = OFF(limits.max_connection_age_s), .min = 0, .max = 2000000, .metavar = "N",
     .help = "close any gRPC connection after N s (its calls get 30 s more;\n"
             "probes reconnect at once), default 0: no limit"},
    {.name = "max-connections", .kind = PK_OPT_INT, .env = "PICKET_MAX_CONNECTIONS",
     .offset = OFF(limits.max_connections), .min = 0, .max = 1000000, .metavar = "N",
     .help = "gRPC connections at once; more are closed on accept. Default 0:\n"
             "the descriptor limit less 256 (at most 100000)"},
    {.name = "max-connections-per-address", .kind = PK_OPT_INT, .env = "PICKET_MAX_CONNECTIONS_PER_ADDRESS",
     .offset = OFF(limits.max_connections_per_address), .min = 0, .max = 1000000, .metavar = "N",
     .help = "gRPC connections from one IPv4 address or IPv6 /64, default 64;\n0: no limit"},
    {.name = "http-timeout-s", .kind = PK_OPT_INT, .env = "PICKET_HTTP_TIMEOUT_S", .offset = OFF(limits.http_timeout_s),
     .min = 1, .max = 3600, .metavar = "N", .help = "an HTTP connection silent for N s is closed, default 10"},
    {.name = "http-max-connections", .kind = PK_OPT_INT, .env = "PICKET_HTTP_MAX_CONNECTIONS",
     .offset = OFF(limits.http_max_connections), .min = 1, .max = 100000, .metavar = "N",
     .help = "HTTP connections at once, default 512"},
    {.name = "http-max-per-address", .kind = PK_OPT_INT, .env = "PICKET_HTTP_MAX_PER_ADDRESS",
     .offset = OFF(limits.http_max_per_address), .min = 1, .max = 100000, .metavar = "N",
     .help = "HTTP connections from one IP address, default 32"},
    {.name = "http-allowed-hosts", .kind = PK_OPT_STRING, .env = "PICKET_HTTP_ALLOWED_HOSTS",
     .offset = OFF(limits.http_allowed_hosts), .metavar = "LIST",
     .help = "comma-separated names (or addresses) the HTTP Host: header may\n"
             "carry, without port; others get 421 (stops DNS rebinding).\n"
             "Default: any"},
    {.name = "http-tls-cert", .kind = PK_OPT_STRING, .env = "PICKET_HTTP_TLS_CERT",
     .offset = OFF(limits.http_tls_cert), .metavar = "FILE",
     .help = "serve the HTTP listener over HTTPS with this PEM certificate (chain)"},
    {.name = "http-tls-key", .kind = PK_OPT_STRING, .env = "PICKET_HTTP_TLS_KEY", .offset = OFF(limits.http_tls_key),
     .metavar = "FILE", .help = "the PEM key of --http-tls-cert"},
    {.name = "http-client-ca", .kind = PK_OPT_STRING, .env = "PICKET_HTTP_CLIENT_CA",
     .offset = OFF(limits.http_client_ca), .metavar = "FILE",
     .help = "verify dashboard client certificates against this PEM CA (the\n"
             "--dashboard-auth file's \"cert CN\" lines; needs --http-tls-cert)"},
    {.name = "no-rollups", .kind = PK_OPT_FLAG, .offset = OFF(limits.rollups_off),
     .help = "store no rollups (benchmarks only: queries then miss those results)"},
    {.name = "no-tracking", .kind = PK_OPT_FLAG, .offset = OFF(limits.tracking_off),
     .help = "keep no round states or incidents as results arrive (benchmarks\n"
             "only: incidents and global uptime then stay empty)"},
    {.name = "open-after", .kind = PK_OPT_INT, .env = "PICKET_OPEN_AFTER", .offset = OFF(limits.open_after), .min = 1,
     .max = 1000, .metavar = "N", .help = "an incident opens after N consecutive down rounds, default 3"},
    {.name = "close-after", .kind = PK_OPT_INT, .env = "PICKET_CLOSE_AFTER", .offset = OFF(limits.close_after),
     .min = 1, .max = 1000, .metavar = "M", .help = "and closes after M consecutive up rounds, default 3"},
    {.name = "quorum", .kind = PK_OPT_INT, .env = "PICKET_QUORUM", .offset = OFF(limits.quorum), .min = 0, .max = 64,
     .metavar = "Q",
     .help = "regions down for a round to be globally down, default 0:\n"
             "a majority of the regions whose probes run the check"},
    {.name = "round-deadline-ms", .kind = PK_OPT_INT, .offset = OFF(limits.round_deadline_ms), .min = 100,
     .max = 3600000, .metavar = "MS",
     .help = "a global round waits MS after its end for regions that have not\n"
             "reported, then is decided without them, default 5000"},
    /* Hidden: bench/run_ingest --compare-validation measures what checking each
     * result against its probe's checks costs. Never for production. */
    {.name = "bench-skip-result-validation", .kind = PK_OPT_FLAG, .offset = OFF(limits.skip_result_validation)},
    {.name = "log-level", .kind = PK_OPT_LOG_LEVEL, .env = "PICKET_LOG_LEVEL", .flags = PK_OPTF_ENV_ELSEWHERE,
     .metavar = "LEVEL", .help = "debug, info, warn or error"},
    {.name = "tls-ca", .kind = PK_OPT_STRING, .env = "PICKET_TLS_CA", .flags = PK_OPTF_ENV_ELSEWHERE,
     .offset = OFF(tls.ca_file), .metavar = "FILE", .help = "CA that client certificates must chain to"},
    {.name = "tls-cert", .kind = PK_OPT_STRING, .env = "PICKET_TLS_CERT", .flags = PK_OPTF_ENV_ELSEWHERE,
     .offset = OFF(tls.cert_file), .metavar = "FILE", .help = "the collector's server certificate"},
    {.name = "tls-key", .kind = PK_OPT_STRING, .env = "PICKET_TLS_KEY", .flags = PK_OPTF_ENV_ELSEWHERE,
     .offset = OFF(tls.key_file), .metavar = "FILE", .help = "its private key"},
    {.name = "token-file", .kind = PK_OPT_CALL, .set = pk_opts_set_token_file, .offset = OFF(tls), .metavar = "FILE"},
    {.name = "deny-certificates", .kind = PK_OPT_STRING, .env = "PICKET_DENY_CERTIFICATES",
     .offset = OFF(limits.deny_certificates), .metavar = "FILE",
     .help = "client certificates refused by SHA-256 fingerprint, one per line\n"
             "(openssl x509 -noout -fingerprint -sha256); re-read within a second\n"
             "of a change, and open streams of a denied certificate are closed\n"},
    {.name = "insecure-plaintext", .kind = PK_OPT_FLAG, .offset = OFF(tls.insecure_plaintext),
     .help = "no TLS and no authentication: development only (warns at every start)"},
    {.name = "since", .kind = PK_OPT_STRING, .offset = OFF(since), .metavar = "T",
     .help = "rollup-backfill's window start: RFC 3339 (2026-11-26T10:00:00Z), \"now\"\n"
             "or a duration before now (90m, 24h, 7d); widened to whole UTC days.\n"
             "Default: from the oldest raw result"},
    {.name = "until", .kind = PK_OPT_STRING, .offset = OFF(until), .metavar = "T",
     .help = "its end, the same forms; default now"},
    {.name = "role", .kind = PK_OPT_STRING, .offset = OFF(role), .metavar = "ROLE"},
    {.name = "region", .kind = PK_OPT_STRING, .offset = OFF(region), .metavar = "R"},
    {.name = "id", .kind = PK_OPT_LLONG, .offset = OFF(cred_id), .min = 1, .max = 9.3e18,
     .range_text = "a positive integer", .metavar = "N"},
    {.name = "citus", .kind = PK_OPT_FLAG, .offset = OFF(citus),
     .help = "migrate: then distribute the tables over the Citus cluster the database\n"
             "is the coordinator of (docs/SCALING-citus.md); idempotent"},
    {.name = "citus-shards", .kind = PK_OPT_INT, .offset = OFF(citus_shards), .min = 1, .max = 1024, .metavar = "N",
     .help = "shards of results and the rollups when --citus first distributes them,\ndefault 8"},
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
    {.name = "version", .kind = PK_OPT_VERSION},
};
#undef OFF

static void usage(FILE *f)
{
    fputs("usage: picket-collector [serve] [options]\n"
          "       picket-collector migrate [--citus [--citus-shards N]] [--db URL]\n"
          "       picket-collector rollup-backfill [--since T] [--until T] [--db URL]\n"
          "       picket-collector token add --role probe|read|write NAME [--region R] [--db URL]\n"
          "       picket-collector token revoke (--role probe|read|write NAME | --id N) [--db URL]\n"
          "       picket-collector version\n"
          "\n"
          "Receives probe results over gRPC, stores them in PostgreSQL, answers queries.\n"
          "\n"
          "options:\n",
          f);
    pk_opts_print(f, options, sizeof options / sizeof options[0], 22, 0);
    fputs("\n"
          "serve needs --tls-ca, --tls-cert and --tls-key, or --insecure-plaintext.\n"
          "token add (run on the collector host, direct database access) stores only the\n"
          "token's SHA-256 and prints the token once: bootstrap read/write tokens for\n"
          "picketctl, or probe tokens. See docs/SECURITY.md.\n"
          "\n"
          "rollup-backfill rebuilds minute/hour/day rollups from the raw results still kept,\n"
          "one UTC day per transaction (results stored before migration 005, or restored from\n"
          "a dump of results only); idempotent, safe while collectors run. docs/ANALYTICS.md.\n"
          "\n"
          "serve refuses to start on a database whose schema it does not know:\n"
          "run `picket-collector migrate` first.\n",
          f);
}

static void format_day(char *buf, size_t size, int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

static void citus_note(void *user, const char *table, const char *when, const char *what)
{
    (void)user;
    printf("%s: %s %s\n", table, when, what);
}

static int cmd_migrate(const char *db, int citus, int citus_shards)
{
    char err[1024];
    struct store *s = store_open(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "picket-collector migrate: %s\n", err);
        return 1;
    }
    int applied = 0, version = 0;
    struct store_rollup_coverage cov;
    int rc = store_migrate(s, &applied, err, sizeof err);
    if (rc == 0)
        rc = store_schema_version(s, &version, err, sizeof err);
    if (rc == 0)
        rc = store_rollup_coverage(s, &cov, err, sizeof err);
    int converted = 0, workers = 0, parts = 0;
    const int64_t now_us = pk_now_us();
    if (rc == 0 && citus) {
        printf("schema at version %d (%d migration%s applied)\n", version, applied, applied == 1 ? "" : "s");
        rc = store_citus_distribute(s, citus_shards > 0 ? citus_shards : 8, citus_note, NULL, &converted, &workers,
                                    err, sizeof err);
    }
    /* The days around now partitioned before the first result: a fresh
     * installation's first results would otherwise land in results_default
     * and be moved by the leader's first upkeep, while probes stream. */
    if (rc == 0)
        rc = store_make_current_partitions(s, now_us, STORE_PARTITIONS_AHEAD_DAYS, &parts, err, sizeof err);
    char why[600];
    int no_prewarm = rc == 0 ? store_prefetch_install(s, why, sizeof why) : 0;
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "picket-collector migrate: %s\n", err);
        return 1;
    }
    if (citus)
        printf("citus: %d table%s converted; %d worker%s; results and rollups co-located by check_id\n", converted,
               converted == 1 ? "" : "s", workers, workers == 1 ? "" : "s");
    else
        printf("schema at version %d (%d migration%s applied)\n", version, applied, applied == 1 ? "" : "s");
    if (parts) {
        char first[16], last[16];
        format_day(first, sizeof first, now_us - ROLLUP_DAY_US);
        format_day(last, sizeof last, now_us + (int64_t)(STORE_PARTITIONS_AHEAD_DAYS + 1) * ROLLUP_DAY_US - 1);
        printf("results: %d daily partition%s made (the days %s to %s UTC that had none)\n", parts,
               parts == 1 ? "" : "s", first, last);
    }
    if (no_prewarm)
        fprintf(stderr,
                "picket-collector migrate: notice: no pg_prewarm (%s): a collector's start cannot read the reports' "
                "tables ahead, so first reports after a reboot read them block by block (a superuser can run "
                "CREATE EXTENSION pg_prewarm; docs/DEPLOY.md)\n",
                why);
    if (cov.results_before_rollups) {
        /* An upgrade from before migration 005, or a restore of results alone. */
        char since[16], until[16];
        format_day(since, sizeof since, cov.oldest_result_day_us);
        format_day(until, sizeof until, cov.first_rollup_us);
        fprintf(stderr,
                "picket-collector migrate: notice: raw results from %s on are older than any rollup, so queries "
                "show no data for them; run `picket-collector rollup-backfill --since %sT00:00:00Z%s%s%s` to "
                "build their rollups\n",
                since, since, cov.has_rollups ? " --until " : "", cov.has_rollups ? until : "",
                cov.has_rollups ? "T00:00:00Z" : "");
    }
    return 0;
}

static void backfill_progress(void *user, const struct store_backfill_day *d)
{
    (void)user;
    char day[16];
    format_day(day, sizeof day, d->day_us);
    printf("%s: %llu results, %llu minute rows (%llu partial rows replaced)\n", day, (unsigned long long)d->results,
           (unsigned long long)d->minutes, (unsigned long long)d->partials_replaced);
    fflush(stdout);
}

/* `rollup-backfill`: rollups rebuilt from raw results, one day at a time. */
static int cmd_backfill(const char *db, const char *since, const char *until)
{
    char err[1024];
    int64_t now = pk_now_us(), since_us = 0, until_us = now;
    if (since && pk_parse_time(since, now, &since_us) < 0) {
        fprintf(stderr, "picket-collector rollup-backfill: --since '%s' is neither RFC 3339 (2026-11-26T10:00:00Z) "
                        "nor a duration like 24h or 7d\n", since);
        return 2;
    }
    if (until && pk_parse_time(until, now, &until_us) < 0) {
        fprintf(stderr, "picket-collector rollup-backfill: --until '%s' is neither RFC 3339 (2026-11-26T10:00:00Z) "
                        "nor a duration like 24h or 7d\n", until);
        return 2;
    }
    struct store *s = store_open(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "picket-collector rollup-backfill: %s\n", err);
        return 1;
    }
    int rc = store_check_schema(s, err, sizeof err);
    if (rc == 0 && !since) {
        struct store_rollup_coverage cov;
        rc = store_rollup_coverage(s, &cov, err, sizeof err);
        if (rc == 0 && !cov.has_results) {
            printf("no raw results: nothing to backfill\n");
            store_close(s);
            return 0;
        }
        since_us = cov.oldest_result_day_us;
    }
    if (rc == 0 && since_us >= until_us) {
        store_close(s);
        fprintf(stderr, "picket-collector rollup-backfill: --since must be before --until\n");
        return 2;
    }
    struct store_backfill_day total;
    if (rc == 0)
        rc = store_rollup_backfill(s, since_us, until_us, backfill_progress, NULL, &total, err, sizeof err);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "picket-collector rollup-backfill: %s\n", err);
        return 1;
    }
    printf("rebuilt %d day%s: %llu results, %llu minute rows; %d day%s without raw results left as they were\n",
           total.days, total.days == 1 ? "" : "s", (unsigned long long)total.results,
           (unsigned long long)total.minutes, total.days_skipped, total.days_skipped == 1 ? "" : "s");
    return 0;
}

/* `token add` / `token revoke`: the operator's direct path to the credentials table. */
static int cmd_token(const char *db, const char *action, const char *role_name, const char *name, const char *region,
                     long long id)
{
    enum pk_role role = pk_role_parse(role_name);
    int add = strcmp(action, "add") == 0;
    if (!add && strcmp(action, "revoke") != 0) {
        fprintf(stderr, "picket-collector token: unknown action '%s' (add or revoke)\n", action);
        return 2;
    }
    if ((add || id <= 0) && role == PK_ROLE_NONE) {
        fprintf(stderr, "picket-collector token %s: --role must be probe, read or write%s\n", action,
                add ? "" : " (or give --id N)");
        return 2;
    }
    if ((add || id <= 0) && (!name || !name[0])) {
        fprintf(stderr, "picket-collector token %s: give the credential's NAME (for --role probe: the probe's name)\n",
                action);
        return 2;
    }
    char err[1024];
    if (add) {
        struct pk_identity check;
        char cn[200];
        snprintf(cn, sizeof cn, "%s:%s", pk_role_name(role), name);
        if (pk_identity_from_cn(cn, &check, err, sizeof err) < 0) {
            fprintf(stderr, "picket-collector token add: name '%s' must be 1..127 printable ASCII bytes, no spaces\n",
                    name);
            return 2;
        }
    }
    struct store *s = store_open(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "picket-collector token: %s\n", err);
        return 1;
    }
    int rc = store_check_schema(s, err, sizeof err);
    if (rc == 0 && add) {
        char token[PK_TOKEN_LEN + 1], hash[PK_TOKEN_HASH_HEX + 1];
        int64_t cred_id = 0;
        rc = pk_token_generate(token, err, sizeof err);
        if (rc == 0) {
            pk_token_hash_hex(token, hash);
            rc = store_credential_add(s, role, name, region, hash, &cred_id, err, sizeof err);
        }
        if (rc == 0) {
            /* The only time the token exists outside its holder: stdout, once. */
            printf("%s\n", token);
            fflush(stdout);
            fprintf(stderr,
                    "picket-collector: %s token for '%s' issued (credential id %lld); it is shown only once.\n"
                    "Save it to a file readable only by its user and pass --token-file FILE (or PICKET_TOKEN).\n",
                    pk_role_name(role), name, (long long)cred_id);
        }
        memset(token, 0, sizeof token);
    } else if (rc == 0) {
        long revoked = 0;
        rc = store_credential_revoke(s, id, role, name, &revoked, err, sizeof err);
        if (rc == 0) {
            printf("revoked %ld credential%s\n", revoked, revoked == 1 ? "" : "s");
            if (revoked == 0)
                rc = -1, snprintf(err, sizeof err, "no live credential matched");
        }
    }
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "picket-collector token %s: %s\n", action, err);
        return 1;
    }
    return 0;
}

static double start_time_s;

/* Per-probe spool figures, as the probes last reported them. */
static size_t write_probe_metrics(char *buf, size_t size)
{
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        {"picket_probe_dropped_results", "gauge",
         "Results a probe reports lost since its spool was created (cap, torn record, not spoolable)."},
        {"picket_probe_pending_results", "gauge", "Results a probe holds that the collector has not acknowledged."},
        {"picket_probe_spool_bytes", "gauge", "Bytes in a probe's spool."},
    };
    size_t max = 4096;
    struct probe_spool_metric *m = malloc(max * sizeof *m);
    if (!m)
        return 0;
    size_t n = rpc_server_probe_metrics(m, max), used = 0;
    for (size_t k = 0; k < 3 && n; k++) {
        int w = snprintf(buf + used, size - used, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help,
                         series[k].name, series[k].type);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
        for (size_t i = 0; i < n; i++) {
            char label[300];
            pk_mt_escape_label(m[i].name, label, sizeof label);
            unsigned long long v = k == 0 ? m[i].dropped : k == 1 ? m[i].pending : m[i].spool_bytes;
            w = snprintf(buf + used, size - used, "%s{probe=\"%s\"} %llu\n", series[k].name, label, v);
            if (w < 0 || (size_t)w >= size - used)
                break;
            used += (size_t)w;
        }
    }
    free(m);
    return used;
}

/* RPC errors by code and rollup lag (the control thread's cached compaction cutoff). */
static size_t write_more_metrics(const struct rpc_server_stats *rs, const struct ingest_stats *is, char *buf,
                                 size_t size)
{
    static const char *const code_names[RPC_STATUS_CODES] = {
        "OK",           "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",    "DEADLINE_EXCEEDED",
        "NOT_FOUND",    "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED",      "OUT_OF_RANGE",       "UNIMPLEMENTED",  "INTERNAL",            "UNAVAILABLE",
        "DATA_LOSS",    "UNAUTHENTICATED",
    };
    struct pk_mt w;
    pk_mt_init(&w, buf, size);
    pk_mt_family(&w, "picket_collector_rpc_errors_total", "counter",
                 "Calls and streams the collector ended with a non-OK gRPC status, by code.");
    for (int c = 1; c < RPC_STATUS_CODES; c++) {
        const char *labels[] = {"code", code_names[c], NULL};
        pk_mt_sample(&w, "picket_collector_rpc_errors_total", labels, (double)rs->status_errors[c]);
    }
    uint64_t hb_stored = 0, hb_statements = 0;
    hb_batch_stats(&hb_stored, &hb_statements);
    pk_mt_single(&w, "picket_collector_heartbeats_stored_total", "counter",
                 "Probe heartbeats recorded in the database (last_seen, spool figures).", (double)hb_stored);
    pk_mt_single(&w, "picket_collector_heartbeat_statements_total", "counter",
                 "UPDATE statements that recorded them (batched: fewer under load).", (double)hb_statements);
    struct leader_stats ls;
    leader_get_stats(&ls);
    pk_mt_single(&w, "picket_collector_leader", "gauge",
                 "1 while this collector is the installation's leader (partitions, retention, compaction, alerts).",
                 ls.leader);
    pk_mt_single(&w, "picket_collector_leader_acquired_total", "counter",
                 "Times this collector took the leader lock.", (double)ls.became_leader);
    pk_mt_single(&w, "picket_collector_leader_lost_total", "counter",
                 "Times this collector lost the leader lock (its database session broke).", (double)ls.lost);
    if (is->rollups_on) {
        pk_mt_single(&w, "picket_collector_rollup_compactions_total", "counter",
                     "Rollup compaction rounds that committed (this process).", (double)is->rollup_compactions);
        pk_mt_single(&w, "picket_collector_rollup_compaction_seconds_total", "counter",
                     "Seconds the committed rollup compaction rounds took (this process).",
                     is->rollup_compaction_seconds);
        pk_mt_single(&w, "picket_collector_rollup_compaction_max_seconds", "gauge",
                     "The longest committed rollup compaction round (this process): the round that closes a UTC "
                     "day writes its day rows.",
                     is->rollup_compaction_max_seconds);
        pk_mt_single(&w, "picket_collector_rollup_compaction_errors_total", "counter",
                     "Rollup compaction rounds that failed and will be retried.", (double)is->rollup_compaction_errors);
        if (is->rollup_compacted_until_us > 0) {
            double until = (double)is->rollup_compacted_until_us / 1e6;
            pk_mt_single(&w, "picket_collector_rollup_compacted_until_seconds", "gauge",
                         "Every partial rollup row of a minute before this time (unix seconds) is compacted.", until);
            double lag = (double)pk_now_us() / 1e6 - until;
            pk_mt_single(&w, "picket_collector_rollup_lag_seconds", "gauge",
                         "Now minus the compaction cutoff; about 2-3 minutes plus the compaction interval when healthy.",
                         lag > 0 ? lag : 0);
        }
    }
    if (is->tracking_on) {
        pk_mt_single(&w, "picket_collector_tracker_checks_folded_total", "counter",
                     "Checks folded into stored round states and incidents (docs/ANALYTICS.md).",
                     (double)is->track_checks_folded);
        pk_mt_single(&w, "picket_collector_tracker_errors_total", "counter",
                     "Check folds that failed (their rounds are folded again by later batches).",
                     (double)is->track_errors);
        pk_mt_single(&w, "picket_collector_tracker_pending_checks", "gauge",
                     "Checks committed but not folded yet; 0 when the tracker has caught up.",
                     (double)is->track_pending);
    }
    return w.used;
}

/* The connection gate's counters and the process's descriptors. */
static size_t write_conn_metrics(char *buf, size_t size)
{
    struct conn_gate_stats g;
    conn_gate_get_stats(&g);
    long fds = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        fds += e->d_name[0] != '.';
    if (d) {
        closedir(d);
        fds--; /* the listing's own */
    }
    struct rlimit rl;
    struct pk_mt w;
    pk_mt_init(&w, buf, size);
    pk_mt_single(&w, "process_open_fds", "gauge", "Number of open file descriptors.", (double)fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        pk_mt_single(&w, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                     (double)rl.rlim_cur);
    pk_mt_single(&w, "picket_collector_connections_open", "gauge",
                 "gRPC connections open now (counted at accept, forgotten when closed).", (double)g.open);
    pk_mt_single(&w, "picket_collector_connections_peak", "gauge", "Most gRPC connections open at once since start.",
                 (double)g.peak);
    pk_mt_family(&w, "picket_collector_connections_refused_total", "counter",
                 "gRPC connections closed at accept: over the total or per-address cap, or no descriptor left.");
    const char *total[] = {"reason", "total_cap", NULL}, *peer[] = {"reason", "address_cap", NULL},
               *fd[] = {"reason", "no_descriptor", NULL};
    pk_mt_sample(&w, "picket_collector_connections_refused_total", total, (double)g.refused_total);
    pk_mt_sample(&w, "picket_collector_connections_refused_total", peer, (double)g.refused_peer);
    pk_mt_sample(&w, "picket_collector_connections_refused_total", fd, (double)g.shed_no_descriptor);
    return w.used;
}

/* Prometheus text format: process series, then the collector's own. */
static size_t write_metrics(char *buf, size_t size, void *user)
{
    struct ingest *in = user;
    struct ingest_stats is;
    ingest_get_stats(in, &is);
    struct rpc_server_stats rs;
    rpc_server_get_stats(&rs);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec / 1e6;
    long rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size_pages;
        if (fscanf(f, "%ld %ld", &size_pages, &rss_pages) != 2)
            rss_pages = 0;
        fclose(f);
    }
    int n = snprintf(
        buf, size,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total %.3f\n"
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes %ld\n"
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
        "# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds %.3f\n"
        "# HELP picket_collector_database_up 1 when the last database contact succeeded.\n"
        "# TYPE picket_collector_database_up gauge\n"
        "picket_collector_database_up %d\n"
        "# HELP picket_collector_streams_open Probe streams open now.\n"
        "# TYPE picket_collector_streams_open gauge\n"
        "picket_collector_streams_open %ld\n"
        "# HELP picket_collector_streams_total Probe streams accepted.\n"
        "# TYPE picket_collector_streams_total counter\n"
        "picket_collector_streams_total %llu\n"
        "# HELP picket_collector_streams_rejected_total Streams closed by the collector for bad input.\n"
        "# TYPE picket_collector_streams_rejected_total counter\n"
        "picket_collector_streams_rejected_total %llu\n"
        "# HELP picket_collector_batches_received_total Result batches received.\n"
        "# TYPE picket_collector_batches_received_total counter\n"
        "picket_collector_batches_received_total %llu\n"
        "# HELP picket_collector_results_received_total Results received (before deduplication).\n"
        "# TYPE picket_collector_results_received_total counter\n"
        "picket_collector_results_received_total %llu\n"
        "# HELP picket_collector_results_stored_total Results committed to PostgreSQL.\n"
        "# TYPE picket_collector_results_stored_total counter\n"
        "picket_collector_results_stored_total %llu\n"
        "# HELP picket_collector_results_duplicate_total Results skipped because already stored.\n"
        "# TYPE picket_collector_results_duplicate_total counter\n"
        "picket_collector_results_duplicate_total %llu\n"
        "# HELP picket_collector_transactions_total Write transactions committed.\n"
        "# TYPE picket_collector_transactions_total counter\n"
        "picket_collector_transactions_total %llu\n"
        "# HELP picket_collector_write_errors_total Write transactions that failed (and were retried).\n"
        "# TYPE picket_collector_write_errors_total counter\n"
        "picket_collector_write_errors_total %llu\n"
        "# HELP picket_collector_queued_batches Batches waiting for a writer.\n"
        "# TYPE picket_collector_queued_batches gauge\n"
        "picket_collector_queued_batches %zu\n"
        "# HELP picket_collector_stream_pauses_total Times a stream stopped being read for backpressure.\n"
        "# TYPE picket_collector_stream_pauses_total counter\n"
        "picket_collector_stream_pauses_total %llu\n"
        "# HELP picket_collector_registers_total Register calls.\n"
        "# TYPE picket_collector_registers_total counter\n"
        "picket_collector_registers_total %llu\n"
        "# HELP picket_collector_queries_total Query calls.\n"
        "# TYPE picket_collector_queries_total counter\n"
        "picket_collector_queries_total %llu\n"
        "# HELP picket_collector_auth_denied_total Calls refused for a missing, bad or insufficient credential.\n"
        "# TYPE picket_collector_auth_denied_total counter\n"
        "picket_collector_auth_denied_total %llu\n"
        "# HELP picket_collector_foreign_results_total Streams closed (PERMISSION_DENIED) for a result of a check "
        "the probe neither registered nor was assigned, or with another type.\n"
        "# TYPE picket_collector_foreign_results_total counter\n"
        "picket_collector_foreign_results_total %llu\n"
        "# HELP picket_collector_revoked_streams_total Open streams closed (UNAUTHENTICATED) because their "
        "credential was revoked.\n"
        "# TYPE picket_collector_revoked_streams_total counter\n"
        "picket_collector_revoked_streams_total %llu\n",
        cpu, rss_pages * sysconf(_SC_PAGESIZE), start_time_s, ingest_db_healthy(in), rs.streams_open,
        rs.streams_total, rs.streams_rejected, rs.batches_received, rs.results_received,
        (unsigned long long)is.results_committed, (unsigned long long)is.results_duplicate,
        (unsigned long long)is.transactions, (unsigned long long)is.write_errors, is.queued_batches,
        rs.paused_reads, rs.registers, rs.queries, rs.auth_denied, rs.foreign_results, rs.revoked_streams);
    if (n < 0)
        return 0;
    size_t used = (size_t)n < size ? (size_t)n : size - 1;
    used += write_more_metrics(&rs, &is, buf + used, size - used);
    used += write_conn_metrics(buf + used, size - used);
    used += incident_metrics_write(buf + used, size - used);
    used += heap_trim_metrics(buf + used, size - used);
    used += rpc_baseline_cache_metrics(buf + used, size - used);
    /* Per-probe series last: with thousands of probes they are what the body's
     * cap cuts (at a line's end), never the collector's own series. */
    return used + write_probe_metrics(buf + used, size - used);
}

static int health(void *user) { return ingest_db_healthy(user); }

/* Reads the server's TLS material, or says exactly what is missing. */
static int load_server_tls(const struct pk_tls_opts *tls, char **ca, char **cert, char **key)
{
    char err[600];
    if (!tls->ca_file || !tls->cert_file || !tls->key_file) {
        fprintf(stderr,
                "picket-collector: no TLS configuration: give --tls-ca FILE --tls-cert FILE --tls-key FILE "
                "(env PICKET_TLS_CA, PICKET_TLS_CERT, PICKET_TLS_KEY; scripts/pki makes them), "
                "or --insecure-plaintext for development (missing: %s%s%s)\n",
                tls->ca_file ? "" : "--tls-ca ", tls->cert_file ? "" : "--tls-cert ", tls->key_file ? "" : "--tls-key");
        return -1;
    }
    const char *flag = "--tls-ca";
    *ca = pk_read_small_file(tls->ca_file, err, sizeof err);
    if (*ca) {
        flag = "--tls-cert";
        *cert = pk_read_small_file(tls->cert_file, err, sizeof err);
    }
    if (*ca && *cert) {
        flag = "--tls-key";
        *key = pk_read_small_file(tls->key_file, err, sizeof err);
    }
    if (!*ca || !*cert || !*key) {
        fprintf(stderr, "picket-collector: %s %s\n", flag, err);
        return -1;
    }
    return 0;
}


/* The --maintenance file, validated now (maint_config.h), made the readers' (maint_apply.h). */
static struct maint_config file_maint; /* read by every thread until exit */

static int load_maintenance(const char *path)
{
    char err[1024], q[600];
    if (!path || !path[0])
        return 0;
    if (maint_config_load(path, pk_now_us(), &file_maint, err, sizeof err) < 0) {
        fprintf(stderr, "picket-collector: %s\n", err);
        return -1;
    }
    maint_apply_set_file(&file_maint);
    PK_INFO("collector", "maintenance windows loaded", "file=%s windows=%zu", pk_log_q(q, sizeof q, path),
            file_maint.n_windows);
    return 0;
}

/* The alert rules, SLO groups and maintenance windows named by the flags, each
 * checked whole before the collector starts. 0, or -1 (printed; nothing to free). */
static int load_config_files(const struct serve_limits *limits, struct alert_config **acfg, struct slo_config *slos)
{
    char err[1024];
    if (limits->alerts_file && limits->alerts_file[0]) {
        *acfg = malloc(sizeof **acfg);
        if (!*acfg || alert_config_load(limits->alerts_file, *acfg, err, sizeof err) < 0) {
            fprintf(stderr, "picket-collector: %s\n", *acfg ? err : "out of memory");
            free(*acfg);
            *acfg = NULL;
            return -1;
        }
    }
    if (limits->slos_file && limits->slos_file[0]) {
        if (slo_config_load(limits->slos_file, slos, err, sizeof err) < 0) {
            fprintf(stderr, "picket-collector: %s\n", err);
            free(*acfg);
            *acfg = NULL;
            return -1;
        }
        rpc_query_set_slo_groups(slos);
        if (*acfg)
            (*acfg)->slos = slos;
    }
    if (load_maintenance(limits->maint_file) < 0) {
        rpc_query_set_slo_groups(NULL);
        slo_config_free(slos);
        free(*acfg);
        *acfg = NULL;
        return -1;
    }
    return 0;
}

/* The dashboard (NULL when out of memory: served without it) with its login
 * file when one is given. -1 with err when that file cannot be used. */
static int open_dashboard(const char *db, const struct serve_limits *limits, struct dashboard **dash, char *err,
                          size_t errlen)
{
    char detail[512];
    *dash = dashboard_open(db);
    if (*dash && limits->dashboard_idle_after_s > 0)
        dashboard_set_idle_after(*dash, (int64_t)limits->dashboard_idle_after_s * 1000000);
    const char *auth = limits->dashboard_auth, *pages = limits->status_pages;
    if (auth && auth[0] && (!*dash || dashboard_set_auth(*dash, auth, detail, sizeof detail) < 0)) {
        snprintf(err, errlen, "--dashboard-auth: %s", *dash ? detail : "out of memory");
        return -1;
    }
    if (*dash && dashboard_wants_client_certs(*dash) && !(limits->http_client_ca && limits->http_client_ca[0])) {
        snprintf(err, errlen, "--dashboard-auth: %s has \"cert\" lines: give --http-client-ca (the CA of the "
                 "client certificates) and --http-tls-cert/--http-tls-key", auth);
        return -1;
    }
    if (pages && pages[0] && (!*dash || dashboard_set_status_pages(*dash, pages, detail, sizeof detail) < 0)) {
        snprintf(err, errlen, "--status-pages: %s", *dash ? detail : "out of memory");
        return -1;
    }
    return 0;
}

/* The writers and the control thread, and the leader election: collectors side
 * by side elect one leader for the once-per-installation work (leader.h). */
static struct ingest *start_ingest(const char *db, int writers, int queue_batches, const struct serve_limits *limits,
                                   char *err, size_t errlen)
{
    rpc_baseline_cache_set_limit((size_t)limits->baseline_cache_mb << 20);
    struct ingest_config icfg = {.conninfo = db,
                                 .writers = writers,
                                 .queue_batches = (size_t)queue_batches,
                                 .retention_days = limits->retention_days,
                                 .rollups_off = limits->rollups_off,
                                 .compact_interval_s = limits->compact_interval_s,
                                 .tracking_off = limits->tracking_off,
                                 .track = {limits->open_after, limits->close_after, limits->quorum,
                                           (int64_t)limits->round_deadline_ms * 1000}};
    /* The election first: the upkeep thread asks leader_holds() at once, and
     * before an election has started every process holds. */
    if (leader_start(db, err, errlen) < 0)
        return NULL;
    struct ingest *in = ingest_start(&icfg, err, errlen);
    if (!in)
        leader_stop();
    return in;
}

static int cmd_serve(const char *db, const char *listen, const char *http_listen, int writers, int queue_batches,
                     const struct pk_tls_opts *tls, const struct serve_limits *limits)
{
    start_time_s = (double)time(NULL);
    char err[1024];
    char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL;
    struct alert_config *acfg = NULL;
    struct alerts *alerts = NULL;
    struct slo_config slos = {0};
    if (load_config_files(limits, &acfg, &slos) < 0)
        return 2;
    struct store *s = store_open(db, err, sizeof err);
    int rc = s ? store_check_schema(s, err, sizeof err) : -1;
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "picket-collector: %s\n", err);
        goto out;
    }
    /* After the schema check, so "run migrate first" comes before TLS questions. */
    if (tls->insecure_plaintext)
        pk_warn_plaintext("picket-collector");
    else if (load_server_tls(tls, &tls_ca, &tls_cert, &tls_key) < 0) {
        rc = 2;
        goto out;
    } else
        tls_buffers_configure();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* systemd's default soft limit is 1,024: take what the hard limit allows. */
    long nofile = conn_gate_raise_nofile();

    if (tls_buffers_reads_sized(err, sizeof err) < 0) {
        fprintf(stderr, "picket-collector: %s\n", err);
        rc = -1;
        goto out;
    }
    rpc_server_library_init();
    struct ingest *in = start_ingest(db, writers, queue_batches, limits, err, sizeof err);
    if (!in) {
        fprintf(stderr, "picket-collector: %s\n", err);
        rpc_server_library_shutdown();
        rc = -1;
        goto out;
    }
    struct pk_http_server *http = NULL;
    struct dashboard *dash = NULL;
    if (http_listen && http_listen[0] && strcmp(http_listen, "none") != 0) {
        int auth_rc = open_dashboard(db, limits, &dash, err, sizeof err);
        struct pk_http_server_options ho = {.body_max = 256 * 1024,
                                     .connection_limit = (unsigned)limits->http_max_connections,
                                     .per_address_limit = (unsigned)limits->http_max_per_address,
                                     .timeout_s = (unsigned)limits->http_timeout_s,
                                     .allowed_hosts = limits->http_allowed_hosts,
                                     .tls_cert_file = limits->http_tls_cert,
                                     .tls_key_file = limits->http_tls_key,
                                     .tls_client_ca_file = limits->http_client_ca,
                                     .threads = 4,
                                     .metrics = write_metrics,
                                     .health = health,
                                     .unhealthy_body = "database unreachable\n",
                                     .user = in,
                                     .route = dash ? dashboard_route : NULL,
                                     .route_user = dash};
        http = auth_rc < 0 ? NULL : pk_http_start(http_listen, &ho, err, sizeof err);
        if (!http) {
            fprintf(stderr, "picket-collector: %s\n", err);
            dashboard_close(dash);
            leader_stop();
            ingest_stop(in);
            rpc_server_library_shutdown();
            rc = auth_rc < 0 ? 2 : -1;
            goto out;
        }
    }
    if (acfg) {
        alerts = alerts_start(db, acfg, err, sizeof err);
        if (!alerts) {
            fprintf(stderr, "picket-collector: %s\n", err);
            pk_http_stop(http);
            dashboard_close(dash);
            leader_stop();
            ingest_stop(in);
            rpc_server_library_shutdown();
            rc = -1;
            goto out;
        }
    }
    /* Free heap pages back to the kernel, looked at every 10 s: once 16 MB
     * lie free, and again each time 16 MB more are resident but unused. */
    if (heap_trim_start(10000, 16u << 20, err, sizeof err) < 0)
        PK_WARN("collector", "heap not trimmed", "reason=\"%s\"", err);
    /* the reports' tables read ahead, then one report, so the first a user runs
     * finds the baselines' caches filled */
    rpc_warm_start(db, (int64_t)limits->prefetch_mb << 20);
    PK_INFO("collector", "starting",
            "version=%s writers=%d listen=%s http_listen=%s alerts=%s slos=%s groups=%zu max_descriptors=%ld",
            PICKET_VERSION, writers, listen, http ? http_listen : "none", acfg ? limits->alerts_file : "none",
            slos.n_groups ? limits->slos_file : "none", slos.n_groups, nofile);
    struct rpc_server_config rcfg = {.listen = listen,
                                     .ingest = in,
                                     .tls_ca_pem = tls_ca,
                                     .tls_cert_pem = tls_cert,
                                     .tls_key_pem = tls_key,
                                     .insecure_plaintext = tls->insecure_plaintext,
                                     .heartbeat_ms = limits->heartbeat_ms,
                                     .hello_timeout_ms = limits->hello_timeout_ms,
                                     .max_clock_skew_ms = limits->max_clock_skew_ms,
                                     .skip_result_validation = limits->skip_result_validation,
                                     .deny_certificates = limits->deny_certificates,
                                     .handshake_timeout_ms = limits->handshake_timeout_s * 1000,
                                     .idle_timeout_ms = limits->idle_timeout_s * 1000,
                                     .max_age_ms = limits->max_connection_age_s * 1000,
                                     .max_connections = limits->max_connections > 0
                                                            ? limits->max_connections
                                                            : conn_gate_default_total(nofile),
                                     .max_connections_per_peer = limits->max_connections_per_address};
    rc = rpc_server_run(&rcfg, &stop_requested, err, sizeof err);
    if (rc < 0) {
        ingest_stop(in);
        fprintf(stderr, "picket-collector: %s\n", err);
    }
    rpc_warm_stop();
    alerts_stop(alerts);
    leader_stop();
    pk_http_stop(http);
    dashboard_close(dash);
    rpc_server_library_shutdown();
    heap_trim_stop();
    PK_INFO("collector", "exited", "code=%d", rc < 0 ? 1 : 0);
out:
    rpc_query_set_slo_groups(NULL);
    slo_config_free(&slos);
    free(acfg);
    free(tls_ca);
    free(tls_cert);
    if (tls_key) {
        memset(tls_key, 0, strlen(tls_key));
        free(tls_key);
    }
    return rc == 2 ? 2 : rc < 0 ? 1 : 0;
}

/* `token`'s action, moved out of argv: add or revoke. NULL when missing. */
static const char *take_token_action(int *argc, char ***argv)
{
    if (*argc < 2 || (*argv)[1][0] == '-')
        return NULL;
    const char *action = (*argv)[1];
    (*argv)++;
    (*argc)--;
    return action;
}

/* The command line: the command (default serve), token's action and NAME, and
 * the options. */
struct command_line {
    const char *command, *token_action, *token_name;
};

/* Environment, command and options into o and cl. 0, or -1 with *exit_code. */
static int parse_command_line(struct collector_opts *o, struct command_line *cl, int argc, char **argv,
                              int *exit_code)
{
    struct pk_opts spec = {.prog = "picket-collector", .table = options, .n = sizeof options / sizeof options[0]};
    *exit_code = 2;
    /* The environment first: a bad variable is reported before anything else. */
    if (pk_opts_parse(&spec, o, 1, argv, NULL) != PK_OPTS_OK)
        return -1;
    spec.flags = PK_OPTS_NO_ENV;
    cl->command = "serve";
    if (argc > 1 && argv[1][0] != '-') {
        cl->command = argv[1];
        argv++;
        argc--;
    }
    if (strcmp(cl->command, "token") == 0 && !(cl->token_action = take_token_action(&argc, &argv))) {
        fprintf(stderr, "picket-collector token: give an action: add or revoke\n");
        return -1;
    }
    pk_tls_opts_from_env(&o->tls);
    int next;
    switch (pk_opts_parse(&spec, o, argc, argv, &next)) {
    case PK_OPTS_OK:
        break;
    case PK_OPTS_HELP:
        usage(stdout);
        *exit_code = 0;
        return -1;
    case PK_OPTS_VERSION:
        printf("picket-collector %s\n", PICKET_VERSION);
        *exit_code = 0;
        return -1;
    case PK_OPTS_UNKNOWN:
        usage(stderr);
        return -1;
    default:
        return -1;
    }
    if (cl->token_action && next < argc)
        cl->token_name = argv[next++];
    if (next < argc) {
        fprintf(stderr, "picket-collector: unexpected argument '%s'\n", argv[next]);
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct collector_opts o = {.listen = "127.0.0.1:7700",
                               .http_listen = "127.0.0.1:7701",
                               .writers = 2,
                               .queue_batches = 64,
                               .limits = {.heartbeat_ms = 10000,
                                          .hello_timeout_ms = 10000,
                                          .max_clock_skew_ms = 300000,
                                          .retention_days = 90,
                                          .compact_interval_s = 30,
                                          .baseline_cache_mb = RPC_BASELINE_CACHE_DEFAULT_MB,
                                          .prefetch_mb = 1024,
                                          .open_after = 3,
                                          .close_after = 3,
                                          .round_deadline_ms = 5000,
                                          .handshake_timeout_s = 10,
                                          .idle_timeout_s = 30,
                                          .max_connections_per_address = 64,
                                          .http_timeout_s = 10,
                                          .http_max_connections = 512,
                                          .http_max_per_address = 32}};
    struct command_line cl = {0};
    int rc;
    if (parse_command_line(&o, &cl, argc, argv, &rc) < 0)
        return rc;
    const char *command = cl.command;
    if (strcmp(command, "version") == 0) {
        printf("picket-collector %s\n", PICKET_VERSION);
        return 0;
    }
    if (strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(command, "migrate") != 0 && strcmp(command, "serve") != 0 && strcmp(command, "token") != 0 &&
        strcmp(command, "rollup-backfill") != 0) {
        fprintf(stderr, "picket-collector: unknown command '%s'\n", command);
        usage(stderr);
        return 2;
    }
    if (!o.db || !o.db[0]) {
        fprintf(stderr, "picket-collector: no database: give --db URL or set PICKET_DB_URL\n");
        return 2;
    }
    if (strcmp(command, "migrate") != 0 && (o.citus || o.citus_shards)) {
        fprintf(stderr, "picket-collector: --citus and --citus-shards belong to migrate\n");
        return 2;
    }
    if (o.citus_shards && !o.citus) {
        fprintf(stderr, "picket-collector: --citus-shards needs --citus\n");
        return 2;
    }
    if (strcmp(command, "migrate") == 0)
        return cmd_migrate(o.db, o.citus, o.citus_shards);
    if (strcmp(command, "rollup-backfill") == 0)
        return cmd_backfill(o.db, o.since, o.until);
    if (o.since || o.until) {
        fprintf(stderr, "picket-collector: --since and --until belong to rollup-backfill\n");
        return 2;
    }
    if (cl.token_action)
        return cmd_token(o.db, cl.token_action, o.role, cl.token_name, o.region, o.cred_id);
    return cmd_serve(o.db, o.listen, o.http_listen, o.writers, o.queue_batches, &o.tls, &o.limits);
}
