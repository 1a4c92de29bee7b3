/* tcp.c: the tcp check type. Connects to host:port without blocking past the
 * check's timeout, optionally sends a raw string and optionally waits for the
 * bytes read to match a PCRE2 regex. Runs on a worker thread of its own (see
 * check_job in registry.h); never touches the runner's loop. Also holds the
 * bounded connect that tls.c uses. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pcre2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "registry.h"

/* Bytes of the answer kept for expect and output assertions. */
#define TCP_READ_MAX 4096
/* Longest single wait, so a cancel is noticed quickly. */
#define SLICE_MS 50

struct tcp_check {
    struct check_worker w; /* first: check_worker_new, start and destroy */
};

static struct check_job_queue queue = {PTHREAD_MUTEX_INITIALIZER, NULL};

static int wait_fd(int fd, short events, int64_t deadline_us, const struct check_job *job)
{
    for (;;) {
        if (job && check_job_cancelled(job))
            return 0;
        int left = check_ms_left(deadline_us);
        if (left == 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, left < SLICE_MS ? left : SLICE_MS);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static void sentence(char *dst, size_t size, int errnum)
{
    snprintf(dst, size, "%s", strerror(errnum));
    if (dst[0] >= 'A' && dst[0] <= 'Z')
        dst[0] = (char)(dst[0] - 'A' + 'a');
}

int check_tcp_connect(const char *host, const char *shown_host, int port, int64_t deadline_us,
                      const struct check_job *job, int64_t *dns_us, int64_t *connect_us, int *error_class, char *err,
                      size_t errlen)
{
    struct addrinfo hints, *addrs = NULL;
    char service[16];
    int fd = -1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(service, sizeof service, "%d", port);
    int64_t t0 = pk_mono_us();
    /* getaddrinfo cannot be bounded; it runs on the worker, so only this check waits. */
    int gai = getaddrinfo(host ? host : "", service, &hints, &addrs);
    *dns_us = pk_mono_us() - t0;
    if (gai != 0) {
        *error_class = PK_ERR_DNS;
        snprintf(err, errlen, "cannot resolve %s: %s", shown_host ? shown_host : "(no host)", gai_strerror(gai));
        return -1;
    }
    int64_t t1 = pk_mono_us();
    *error_class = PK_ERR_CONNECT;
    snprintf(err, errlen, "no address for %s", shown_host ? shown_host : "(no host)");
    for (struct addrinfo *ai = addrs; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            *error_class = PK_ERR_INTERNAL;
            snprintf(err, errlen, "socket: %s", strerror(errno));
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen), so_error = 0;
        if (rc < 0 && errno == EINPROGRESS) {
            int ready = wait_fd(fd, POLLOUT, deadline_us, job);
            if (ready <= 0) {
                *error_class = PK_ERR_TIMEOUT;
                snprintf(err, errlen, "connect timed out after %lld ms",
                         (long long)((pk_mono_us() - t0 + 500) / 1000));
                close(fd);
                fd = -1;
                break;
            }
            socklen_t len = sizeof so_error;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        } else if (rc < 0) {
            so_error = errno;
        }
        if (so_error == 0)
            break;
        *error_class = PK_ERR_CONNECT;
        sentence(err, errlen, so_error);
        close(fd);
        fd = -1;
    }
    freeaddrinfo(addrs);
    *connect_us = fd >= 0 ? pk_mono_us() - t1 : -1;
    if (fd >= 0) {
        *error_class = PK_ERR_NONE;
        err[0] = '\0';
    }
    return fd;
}

/* First `max` bytes of data as printable ASCII with C escapes. */
static void escape(char *out, size_t size, const char *data, size_t len, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < max && o + 5 < size; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\n')
            o += (size_t)snprintf(out + o, size - o, "\\n");
        else if (c == '\r')
            o += (size_t)snprintf(out + o, size - o, "\\r");
        else if (c == '\t')
            o += (size_t)snprintf(out + o, size - o, "\\t");
        else if (c == '\\')
            o += (size_t)snprintf(out + o, size - o, "\\\\");
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

static int regex_matches(void *code, const char *data, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    if (!md)
        return 0;
    int rc = pcre2_match(code, (PCRE2_SPTR)data, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static int wants_output(const struct pk_check *c)
{
    for (size_t i = 0; i < c->n_asserts; i++)
        if (c->asserts[i].kind == PK_ASSERT_OUTPUT_CONTAINS)
            return 1;
    return 0;
}

static void tcp_work(struct check_job *job)
{
    const struct pk_check *c = job->check;
    const struct pk_tcp_options *o = &c->u.tcp;
    struct pk_result *r = &job->result;
    char *got = malloc(TCP_READ_MAX + 1);
    size_t got_len = 0;
    int64_t t0 = pk_mono_us(), deadline = t0 + (c->timeout_ms > 0 ? c->timeout_ms : 10000) * 1000;
    int fd = -1;
    char *host = NULL, *to_send = NULL;
    const char *shown_host, *shown_send;
    if (!got) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_INTERNAL;
        pk_strlcpy(r->message, "out of memory", sizeof r->message);
        goto out;
    }
    if (check_render(c, o->host, &host, &shown_host, r->message, sizeof r->message) < 0 ||
        check_render(c, o->send, &to_send, &shown_send, r->message, sizeof r->message) < 0) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_INTERNAL;
        goto out;
    }
    fd = check_tcp_connect(host, shown_host, o->port, deadline, job, &r->dns_us, &r->connect_us, &r->error_class,
                           r->message, sizeof r->message);
    if (fd < 0) {
        r->outcome = PK_OUTCOME_FAILED;
        goto out;
    }
    if (to_send && to_send[0]) {
        size_t len = strlen(to_send), sent = 0;
        while (sent < len) {
            ssize_t n = send(fd, to_send + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += (size_t)n;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline, job) > 0)
                continue;
            r->outcome = PK_OUTCOME_FAILED;
            r->error_class = n < 0 && errno != EAGAIN ? PK_ERR_CONNECT : PK_ERR_TIMEOUT;
            snprintf(r->message, sizeof r->message, "send failed after %zu of %zu bytes: %s", sent, len,
                     n < 0 && errno != EAGAIN ? strerror(errno) : "timed out");
            goto out;
        }
    }
    int matched = o->expect_regex == NULL;
    if (o->expect_regex || wants_output(c)) {
        /* Read until the regex matches, the peer closes, the buffer fills or time runs out. */
        for (;;) {
            if (o->expect_regex && got_len && regex_matches(o->expect_regex, got, got_len)) {
                matched = 1;
                break;
            }
            if (got_len == TCP_READ_MAX || (!o->expect_regex && got_len))
                break;
            if (wait_fd(fd, POLLIN, deadline, job) <= 0)
                break;
            ssize_t n = recv(fd, got + got_len, TCP_READ_MAX - got_len, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0)
                break;
            got_len += (size_t)n;
        }
    }
    got[got_len] = '\0';
    r->body_bytes = (int64_t)got_len;
    r->total_us = pk_mono_us() - t0;
    if (!matched) {
        char shown[400];
        escape(shown, sizeof shown, got, got_len, 80);
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_ASSERTION;
        snprintf(r->message, sizeof r->message, "expected /%s/ within %lld ms, got: %s", o->expect ? o->expect : "",
                 (long long)c->timeout_ms, got_len ? shown : "(nothing)");
        pk_utf8_sanitize(r->message);
        goto out;
    }
    r->outcome = PK_OUTCOME_OK;
    check_apply_asserts(c, got, got_len, r);
out:
    if (r->total_us < 0)
        r->total_us = pk_mono_us() - t0;
    if (fd >= 0)
        close(fd);
    free(host);
    free(to_send);
    free(got);
}

static int tcp_create(const struct check_env *env, const struct pk_check *check, void **state, char *err,
                      size_t errlen)
{
    if (!check->u.tcp.host || !check->u.tcp.host[0] || check->u.tcp.port <= 0 || check->u.tcp.port > 65535) {
        snprintf(err, errlen, "%s:%d: check '%s' needs a host and a port 1..65535", check->file ? check->file : "",
                 check->line, check->name);
        return -1;
    }
    return check_worker_create(sizeof(struct tcp_check), env, check, &queue, tcp_work, state, err, errlen);
}

static void tcp_poll(void) { check_job_queue_drain(&queue); }

const struct check_type check_type_tcp = {
    .create = tcp_create,
    .start = check_worker_start,
    .destroy = check_worker_destroy,
    .poll_completions = tcp_poll,
};
