/* result.c: name tables and small helpers for struct pk_result.
 * Owns nothing; every function is pure or reads a clock. */
#include "result.h"

#include <string.h>
#include <time.h>

static const char *const outcome_names[] = {"unspecified", "ok", "degraded", "failed", "unknown"};
static const char *const error_names[] = {"none", "dns", "connect", "tls", "timeout", "http", "assertion", "internal"};

const char *pk_outcome_name(int outcome)
{
    if (outcome < 0 || outcome >= (int)(sizeof outcome_names / sizeof *outcome_names))
        return "unknown";
    return outcome_names[outcome];
}

const char *pk_error_class_name(int error_class)
{
    if (error_class < 0 || error_class >= (int)(sizeof error_names / sizeof *error_names))
        return "unknown";
    return error_names[error_class];
}

int pk_outcome_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof outcome_names / sizeof *outcome_names); i++)
        if (strcmp(name, outcome_names[i]) == 0)
            return i;
    return -1;
}

int pk_error_class_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof error_names / sizeof *error_names); i++)
        if (strcmp(name, error_names[i]) == 0)
            return i;
    return -1;
}

void pk_strlcpy(char *dst, const char *src, size_t size)
{
    if (size == 0)
        return;
    size_t n = src ? strlen(src) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

int64_t pk_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t pk_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec pk_realtime_after_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ms < 0)
        ms = 0;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

void pk_utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t len = 0;
        unsigned int cp = 0;
        if (p[0] < 0x80) {
            p++;
            continue;
        } else if ((p[0] & 0xe0) == 0xc0) {
            len = 2;
            cp = p[0] & 0x1f;
        } else if ((p[0] & 0xf0) == 0xe0) {
            len = 3;
            cp = p[0] & 0x0f;
        } else if ((p[0] & 0xf8) == 0xf0) {
            len = 4;
            cp = p[0] & 0x07;
        }
        size_t i = 1;
        for (; len && i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                break;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        int valid = len && i == len;
        /* Reject overlong forms, surrogates and values past U+10FFFF. */
        if (valid && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                      (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff))
            valid = 0;
        if (valid) {
            p += len;
        } else {
            *p = '?';
            p++;
        }
    }
}
