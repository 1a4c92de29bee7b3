/* main.c: picket-collector's command line: `migrate` applies the schema, `serve`
 * (the default) runs the gRPC server with its writer threads. Configuration comes
 * from flags, then PICKET_* environment variables. Exit codes: 0 ok, 1 runtime
 * failure, 2 usage error. */
#include <getopt.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "ingest.h"
#include "log.h"
#include "rpc_server.h"
#include "store.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: picket-collector [serve] [options]\n"
            "       picket-collector migrate [--db URL]\n"
            "       picket-collector version\n"
            "\n"
            "Receives probe results over gRPC, stores them in PostgreSQL, answers queries.\n"
            "\n"
            "options:\n"
            "  --db URL            PostgreSQL connection URL or key=value string\n"
            "                      (env PICKET_DB_URL)\n"
            "  --listen ADDR       gRPC address, default 127.0.0.1:7700 (env PICKET_LISTEN)\n"
            "  --http-listen ADDR  /metrics and /healthz, default 127.0.0.1:7701, \"none\" to turn off\n"
            "                      (env PICKET_HTTP_LISTEN)\n"
            "  --writers N         database writer threads, default 2 (env PICKET_WRITERS)\n"
            "  --queue-batches N   batches queued per writer before streams are paused, default 64\n"
            "  --heartbeat-ms N    heartbeat interval probes are told to use, default 10000; a stream\n"
            "                      silent for 3 intervals is cut off (DEADLINE_EXCEEDED)\n"
            "  --hello-timeout-ms N  a stream that sends no Hello within N ms is cut off,\n"
            "                      default 10000\n"
            "  --max-clock-skew-ms N  refuse Register from a probe whose clock is off by more\n"
            "                      than N ms, and batches with results more than N ms in the\n"
            "                      future (FAILED_PRECONDITION), default 300000 (5 minutes)\n"
            "  --log-level LEVEL   debug, info, warn or error (env PICKET_LOG_LEVEL)\n"
            "  -h, --help          this text\n"
            "\n"
            "serve refuses to start on a database whose schema it does not know:\n"
            "run `picket-collector migrate` first.\n");
}

static int parse_int(const char *flag, const char *value, int min, int max, int *out)
{
    char *end;
    long v = strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "picket-collector: %s must be an integer in %d..%d, got '%s'\n", flag, min, max, value);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int cmd_migrate(const char *db)
{
    char err[1024];
    struct store *s = store_open(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "picket-collector migrate: %s\n", err);
        return 1;
    }
    int applied = 0, version = 0;
    int rc = store_migrate(s, &applied, err, sizeof err);
    if (rc == 0)
        rc = store_schema_version(s, &version, err, sizeof err);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "picket-collector migrate: %s\n", err);
        return 1;
    }
    printf("schema at version %d (%d migration%s applied)\n", version, applied, applied == 1 ? "" : "s");
    return 0;
}

static double start_time_s;

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
        "picket_collector_queries_total %llu\n",
        cpu, rss_pages * sysconf(_SC_PAGESIZE), start_time_s, ingest_db_healthy(in), rs.streams_open,
        rs.streams_total, rs.streams_rejected, rs.batches_received, rs.results_received,
        (unsigned long long)is.results_committed, (unsigned long long)is.results_duplicate,
        (unsigned long long)is.transactions, (unsigned long long)is.write_errors, is.queued_batches,
        rs.paused_reads, rs.registers, rs.queries);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

static int health(void *user) { return ingest_db_healthy(user); }

struct serve_limits {
    int heartbeat_ms, hello_timeout_ms, max_clock_skew_ms;
};

static int cmd_serve(const char *db, const char *listen, const char *http_listen, int writers, int queue_batches,
                     const struct serve_limits *limits)
{
    start_time_s = (double)time(NULL);
    char err[1024];
    struct store *s = store_open(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "picket-collector: %s\n", err);
        return 1;
    }
    int rc = store_check_schema(s, err, sizeof err);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "picket-collector: %s\n", err);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    grpc_init();
    struct ingest_config icfg = {.conninfo = db, .writers = writers, .queue_batches = (size_t)queue_batches};
    struct ingest *in = ingest_start(&icfg, err, sizeof err);
    if (!in) {
        fprintf(stderr, "picket-collector: %s\n", err);
        grpc_shutdown();
        return 1;
    }
    struct http_server *http = NULL;
    if (http_listen && http_listen[0] && strcmp(http_listen, "none") != 0) {
        http = http_start(http_listen, write_metrics, health, in, err, sizeof err);
        if (!http) {
            fprintf(stderr, "picket-collector: %s\n", err);
            ingest_stop(in);
            grpc_shutdown();
            return 1;
        }
    }
    PK_INFO("collector", "starting", "version=%s writers=%d listen=%s http_listen=%s", PICKET_VERSION, writers,
            listen, http ? http_listen : "none");
    struct rpc_server_config rcfg = {.listen = listen,
                                     .ingest = in,
                                     .heartbeat_ms = limits->heartbeat_ms,
                                     .hello_timeout_ms = limits->hello_timeout_ms,
                                     .max_clock_skew_ms = limits->max_clock_skew_ms};
    rc = rpc_server_run(&rcfg, &stop_requested, err, sizeof err);
    if (rc < 0) {
        ingest_stop(in);
        fprintf(stderr, "picket-collector: %s\n", err);
    }
    http_stop(http);
    grpc_shutdown();
    PK_INFO("collector", "exited", "code=%d", rc < 0 ? 1 : 0);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *db = getenv("PICKET_DB_URL");
    const char *listen = getenv("PICKET_LISTEN");
    const char *http_listen = getenv("PICKET_HTTP_LISTEN");
    if (!http_listen || !http_listen[0])
        http_listen = "127.0.0.1:7701";
    int writers = 2, queue_batches = 64;
    struct serve_limits limits = {.heartbeat_ms = 10000, .hello_timeout_ms = 10000, .max_clock_skew_ms = 300000};
    if (getenv("PICKET_WRITERS") && parse_int("PICKET_WRITERS", getenv("PICKET_WRITERS"), 1, 64, &writers) < 0)
        return 2;
    if (!listen || !listen[0])
        listen = "127.0.0.1:7700";

    const char *command = "serve";
    if (argc > 1 && argv[1][0] != '-') {
        command = argv[1];
        argv++;
        argc--;
    }
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'},        {"listen", required_argument, NULL, 'l'},
        {"http-listen", required_argument, NULL, 'H'},
        {"writers", required_argument, NULL, 'w'},   {"queue-batches", required_argument, NULL, 'q'},
        {"log-level", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
        {"heartbeat-ms", required_argument, NULL, 'B'},
        {"hello-timeout-ms", required_argument, NULL, 'O'},
        {"max-clock-skew-ms", required_argument, NULL, 'S'},
        {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'H':
            http_listen = optarg;
            break;
        case 'w':
            if (parse_int("--writers", optarg, 1, 64, &writers) < 0)
                return 2;
            break;
        case 'q':
            if (parse_int("--queue-batches", optarg, 1, 100000, &queue_batches) < 0)
                return 2;
            break;
        case 'B':
            if (parse_int("--heartbeat-ms", optarg, 100, 3600000, &limits.heartbeat_ms) < 0)
                return 2;
            break;
        case 'O':
            if (parse_int("--hello-timeout-ms", optarg, 100, 3600000, &limits.hello_timeout_ms) < 0)
                return 2;
            break;
        case 'S':
            if (parse_int("--max-clock-skew-ms", optarg, 1000, 2000000000, &limits.max_clock_skew_ms) < 0)
                return 2;
            break;
        case 'L': {
            int level = pk_log_parse_level(optarg);
            if (level < 0) {
                fprintf(stderr, "picket-collector: unknown --log-level '%s'\n", optarg);
                return 2;
            }
            pk_log_set_level(level);
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("picket-collector %s\n", PICKET_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "picket-collector: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (strcmp(command, "version") == 0) {
        printf("picket-collector %s\n", PICKET_VERSION);
        return 0;
    }
    if (strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(command, "migrate") != 0 && strcmp(command, "serve") != 0) {
        fprintf(stderr, "picket-collector: unknown command '%s'\n", command);
        usage(stderr);
        return 2;
    }
    if (!db || !db[0]) {
        fprintf(stderr, "picket-collector: no database: give --db URL or set PICKET_DB_URL\n");
        return 2;
    }
    if (strcmp(command, "migrate") == 0)
        return cmd_migrate(db);
    return cmd_serve(db, listen, http_listen, writers, queue_batches, &limits);
}
