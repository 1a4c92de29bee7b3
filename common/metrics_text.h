/* metrics_text.h: writing the Prometheus text exposition format (0.0.4) into a
 * caller's buffer: families with HELP and TYPE, samples with escaped label
 * values, numbers formatted as Prometheus parses them (NaN, +Inf, -Inf). Pure
 * string work, no locks, no I/O except the process series (/proc/self). */
#ifndef PK_METRICS_TEXT_H
#define PK_METRICS_TEXT_H

#include <stddef.h>

/* A bounded writer. Once something does not fit, `truncated` is set and every
 * later write is ignored, so the body ends at a whole line. */
struct pk_mt {
    char *buf;
    size_t size, used;
    int truncated;
};

void pk_mt_init(struct pk_mt *w, char *buf, size_t size);

/* Escapes a label value: backslash, double quote and newline become \\, \" and
 * \n; writes at most outlen-1 bytes (cutting before an escape, never inside
 * one) and NUL-terminates. Returns the length written. */
size_t pk_mt_escape_label(const char *value, char *out, size_t outlen);

/* Formats v the way Prometheus parses it: "NaN", "+Inf", "-Inf", integers
 * without exponent up to 2^53, else shortest round-tripping %.17g. */
void pk_mt_format_value(double v, char *out, size_t outlen);

/* "# HELP name help\n# TYPE name type\n". Help text has \ and newline escaped. */
void pk_mt_family(struct pk_mt *w, const char *name, const char *type, const char *help);

/* One sample. labels: NULL-terminated pairs {"k1", v1, "k2", v2, ..., NULL}
 * (values escaped here), or NULL for none. */
void pk_mt_sample(struct pk_mt *w, const char *name, const char *const *labels, double value);

/* A whole family with one unlabelled sample. */
void pk_mt_single(struct pk_mt *w, const char *name, const char *type, const char *help, double value);

/* process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds, process_open_fds,
 * process_threads (from /proc/self; series it cannot read are left out). */
void pk_mt_process(struct pk_mt *w, double start_time_s);

#endif
