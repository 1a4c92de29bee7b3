/* result.h: one check execution's outcome, the unit that travels probe -> collector.
 * Fixed-size and self-contained (no pointers) so it can be copied, queued and
 * spooled without ownership questions. Durations are per phase, in microseconds;
 * -1 means the phase did not happen (no TLS on plain http, no answer at all...). */
#ifndef PK_RESULT_H
#define PK_RESULT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum pk_outcome {
    PK_OUTCOME_UNSPECIFIED = 0,
    PK_OUTCOME_OK = 1,
    PK_OUTCOME_DEGRADED = 2,
    PK_OUTCOME_FAILED = 3,
    PK_OUTCOME_UNKNOWN = 4,
};

enum pk_error_class {
    PK_ERR_NONE = 0,
    PK_ERR_DNS = 1,
    PK_ERR_CONNECT = 2,
    PK_ERR_TLS = 3,
    PK_ERR_TIMEOUT = 4,
    PK_ERR_HTTP = 5,
    PK_ERR_ASSERTION = 6,
    PK_ERR_INTERNAL = 7,
};

#define PK_NAME_MAX 128
#define PK_TYPE_MAX 16
#define PK_MESSAGE_MAX 256
#define PK_METRIC_NAME_MAX 64
#define PK_MAX_METRICS 8

struct pk_metric {
    char name[PK_METRIC_NAME_MAX];
    double value;
};

struct pk_result {
    uint64_t seq;                 /* per-probe sequence; assigned by the uplink */
    char check_name[PK_NAME_MAX];
    char check_type[PK_TYPE_MAX]; /* "http", ... */
    int64_t started_at_us;        /* Unix epoch microseconds */
    int64_t scheduled_at_us;      /* the round's grid point (wall clock, µs); 0 = not known */
    int outcome;                  /* enum pk_outcome */
    int error_class;              /* enum pk_error_class */
    char message[PK_MESSAGE_MAX]; /* human reason when not ok; "" when ok */
    int status_code;              /* HTTP status, 0 when none */
    int64_t body_bytes;
    int64_t dns_us, connect_us, tls_us, ttfb_us, total_us;
    int n_metrics;
    struct pk_metric metrics[PK_MAX_METRICS];
    /* Collector only, never on the wire: the check's id once the stream matched
     * the result to one of its probe's checks, so the writer need not look the
     * name up again; 0 = not known. */
    int64_t check_id;
};

/* Name tables for logs, CLI and SQL; never NULL (unknown values give "unknown"). */
const char *pk_outcome_name(int outcome);
const char *pk_error_class_name(int error_class);
/* Parse the names above back; -1 when unknown. */
int pk_outcome_parse(const char *name);
int pk_error_class_parse(const char *name);

/* Bounded copy that always NUL-terminates (truncates silently). */
void pk_strlcpy(char *dst, const char *src, size_t size);

/* Replaces every byte that is not part of valid UTF-8 with '?', in place, so text
 * from a hostile peer can always be stored and printed. */
void pk_utf8_sanitize(char *s);

/* Wall clock, Unix epoch microseconds, and monotonic microseconds. */
int64_t pk_now_us(void);
int64_t pk_mono_us(void);

/* The wall-clock instant ms milliseconds from now, as the absolute deadline
 * pthread_cond_timedwait takes (its clock is CLOCK_REALTIME). */
struct timespec pk_realtime_after_ms(int64_t ms);

#endif
