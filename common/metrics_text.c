/* metrics_text.c: the Prometheus text format writer (see metrics_text.h).
 * Writes only into the caller's buffer and never allocates; a body that does
 * not fit ends at the last whole line and sets `truncated`. */
#include "metrics_text.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void pk_mt_init(struct pk_mt *w, char *buf, size_t size)
{
    w->buf = buf;
    w->size = size;
    w->used = 0;
    w->truncated = 0;
    if (size)
        buf[0] = '\0';
}

/* Appends a whole piece or nothing. */
static void put(struct pk_mt *w, const char *s, size_t len)
{
    if (w->truncated)
        return;
    if (w->size == 0 || len >= w->size - w->used) {
        w->truncated = 1;
        return;
    }
    memcpy(w->buf + w->used, s, len);
    w->used += len;
    w->buf[w->used] = '\0';
}

size_t pk_mt_escape_label(const char *value, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return 0;
    for (const char *p = value ? value : ""; *p; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '"')
            rep = "\\\"";
        else if (*p == '\n')
            rep = "\\n";
        size_t need = rep ? 2 : 1;
        if (o + need > outlen - 1)
            break;
        if (rep) {
            out[o++] = rep[0];
            out[o++] = rep[1];
        } else
            out[o++] = *p;
    }
    out[o] = '\0';
    return o;
}

void pk_mt_format_value(double v, char *out, size_t outlen)
{
    if (isnan(v))
        snprintf(out, outlen, "NaN");
    else if (isinf(v))
        snprintf(out, outlen, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) <= 9007199254740992.0)
        snprintf(out, outlen, "%.0f", v);
    else {
        /* The shortest of %.15g..%.17g that reads back exactly. */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, outlen, "%.*g", prec, v);
            double back = 0;
            if (sscanf(out, "%lf", &back) == 1 && back == v)
                return;
        }
    }
}

void pk_mt_family(struct pk_mt *w, const char *name, const char *type, const char *help)
{
    char line[1024];
    size_t o = (size_t)snprintf(line, sizeof line, "# HELP %s ", name);
    for (const char *p = help; *p && o + 4 < sizeof line; p++) {
        if (*p == '\\') {
            line[o++] = '\\';
            line[o++] = '\\';
        } else if (*p == '\n') {
            line[o++] = '\\';
            line[o++] = 'n';
        } else
            line[o++] = *p;
    }
    line[o++] = '\n';
    put(w, line, o);
    int n = snprintf(line, sizeof line, "# TYPE %s %s\n", name, type);
    if (n > 0 && (size_t)n < sizeof line)
        put(w, line, (size_t)n);
    else
        w->truncated = 1;
}

void pk_mt_sample(struct pk_mt *w, const char *name, const char *const *labels, double value)
{
    char line[2048], esc[700], num[64];
    size_t o = 0;
    int n = snprintf(line, sizeof line, "%s", name);
    if (n < 0 || (size_t)n >= sizeof line) {
        w->truncated = 1;
        return;
    }
    o = (size_t)n;
    if (labels && labels[0]) {
        line[o++] = '{';
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            pk_mt_escape_label(labels[i + 1], esc, sizeof esc);
            n = snprintf(line + o, sizeof line - o, "%s%s=\"%s\"", i ? "," : "", labels[i], esc);
            if (n < 0 || (size_t)n >= sizeof line - o) {
                w->truncated = 1;
                return;
            }
            o += (size_t)n;
        }
        if (o + 1 >= sizeof line) {
            w->truncated = 1;
            return;
        }
        line[o++] = '}';
    }
    pk_mt_format_value(value, num, sizeof num);
    n = snprintf(line + o, sizeof line - o, " %s\n", num);
    if (n < 0 || (size_t)n >= sizeof line - o) {
        w->truncated = 1;
        return;
    }
    put(w, line, o + (size_t)n);
}

void pk_mt_single(struct pk_mt *w, const char *name, const char *type, const char *help, double value)
{
    pk_mt_family(w, name, type, help);
    pk_mt_sample(w, name, NULL, value);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

void pk_mt_process(struct pk_mt *w, double start_time_s)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        pk_mt_single(w, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
                     (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                         (double)ru.ru_stime.tv_usec / 1e6);
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size_pages, rss_pages;
        if (fscanf(f, "%ld %ld", &size_pages, &rss_pages) == 2) {
            pk_mt_single(w, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                         (double)rss_pages * (double)page);
            pk_mt_single(w, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                         (double)size_pages * (double)page);
        }
        fclose(f);
    }
    pk_mt_single(w, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                 start_time_s);
    int fds = count_fds();
    if (fds >= 0)
        pk_mt_single(w, "process_open_fds", "gauge", "Number of open file descriptors.", (double)fds);
    f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        long threads = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "Threads: %ld", &threads) == 1)
                break;
        fclose(f);
        if (threads >= 0)
            pk_mt_single(w, "process_threads", "gauge", "Number of OS threads in the process.", (double)threads);
    }
}
