/* log.c: the event logger behind log.h. Formats a whole line in a local buffer
 * and writes it with one fwrite under a lock, so lines from threads never mix. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int min_level = -1;
static FILE *out;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int pk_log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void pk_log_set_level(int level) { min_level = level; }
void pk_log_set_stream(FILE *f) { out = f; }

const char *pk_log_q(char *buf, size_t size, const char *value)
{
    size_t o = 0;
    int needs_quotes = value[0] == '\0';
    for (const char *p = value; *p; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20 || *p == 0x7f)
            needs_quotes = 1;
    if (size < 3) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    if (needs_quotes)
        buf[o++] = '"';
    for (const char *p = value; *p && o + 5 < size; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    if (needs_quotes)
        buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void pk_log(int level, const char *comp, const char *msg, const char *kv_fmt, ...)
{
    if (min_level < 0) {
        const char *env = getenv("PICKET_LOG_LEVEL");
        int parsed = env ? pk_log_parse_level(env) : -1;
        min_level = parsed >= 0 ? parsed : PK_LOG_INFO;
    }
    if (level < min_level)
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char qmsg[512];
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level < 0 ? 0 : level > 3 ? 3 : level], comp,
                     pk_log_q(qmsg, sizeof qmsg, msg));
    if (n < 0)
        return;
    if ((size_t)n < sizeof line - 2 && kv_fmt && kv_fmt[0]) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, kv_fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, kv_fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
        if ((size_t)n > sizeof line - 2)
            n = (int)sizeof line - 2;
    }
    /* A %s value may carry a newline; never let it split the event. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    pthread_mutex_lock(&lock);
    FILE *f = out ? out : stderr;
    fwrite(line, 1, (size_t)n, f);
    fflush(f);
    pthread_mutex_unlock(&lock);
}
