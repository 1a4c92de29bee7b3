/* log.h: one line per event, "ts=... level=... comp=... msg=... key=value".
 * Values with spaces, quotes or '=' are quoted; control characters are escaped,
 * so a hostile label can never forge a second log line. Thread-safe. */
#ifndef PK_LOG_H
#define PK_LOG_H

#include <stdio.h>

enum pk_log_level { PK_LOG_DEBUG = 0, PK_LOG_INFO = 1, PK_LOG_WARN = 2, PK_LOG_ERROR = 3 };

/* Minimum level printed (default info); from PICKET_LOG_LEVEL too. */
void pk_log_set_level(int level);
int pk_log_parse_level(const char *name); /* -1 when unknown */
void pk_log_set_stream(FILE *f);          /* default stderr */

/* kv is a printf format of "key=%s key2=%d" pairs; %s values are written as given,
 * so pass user-controlled strings through pk_log_q() first. */
void pk_log(int level, const char *comp, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Quote/escape a value for a log line into buf; returns buf. */
const char *pk_log_q(char *buf, size_t size, const char *value);

#define PK_INFO(comp, msg, ...) pk_log(PK_LOG_INFO, comp, msg, __VA_ARGS__)
#define PK_WARN(comp, msg, ...) pk_log(PK_LOG_WARN, comp, msg, __VA_ARGS__)
#define PK_ERROR(comp, msg, ...) pk_log(PK_LOG_ERROR, comp, msg, __VA_ARGS__)
#define PK_DEBUG(comp, msg, ...) pk_log(PK_LOG_DEBUG, comp, msg, __VA_ARGS__)

#endif
