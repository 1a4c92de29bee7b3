/* notify.c: the HTTP/1.1 POST client behind notify.h. */
#define _POSIX_C_SOURCE 200809L
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int notify_parse_url(const char *url, char *host, size_t hostlen, char *port, size_t portlen, char *path,
                     size_t pathlen, char *err, size_t errlen)
{
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "url '%s': only http:// URLs are supported", url);
        return -1;
    }
    const char *h = url + 7;
    size_t hl = strcspn(h, ":/");
    if (hl == 0 || hl >= hostlen) {
        snprintf(err, errlen, "url '%s': no host or host too long", url);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    const char *rest = h + hl;
    if (*rest == ':') {
        rest++;
        size_t pl = strspn(rest, "0123456789");
        if (pl == 0 || pl >= portlen || (rest[pl] && rest[pl] != '/')) {
            snprintf(err, errlen, "url '%s': bad port", url);
            return -1;
        }
        memcpy(port, rest, pl);
        port[pl] = '\0';
        rest += pl;
    } else {
        snprintf(port, portlen, "80");
    }
    const char *p = *rest ? rest : "/";
    if (strlen(p) >= pathlen || strpbrk(p, " \r\n")) {
        snprintf(err, errlen, "url '%s': path too long or has spaces", url);
        return -1;
    }
    snprintf(path, pathlen, "%s", p);
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for ev until the deadline: 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, ev, 0};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r;
    }
}

int notify_post(const char *url, const char *key, const char *body, int timeout_ms, char *err, size_t errlen)
{
    char host[256], port[16], path[1024];
    if (notify_parse_url(url, host, sizeof host, port, sizeof port, path, sizeof path, err, errlen) < 0)
        return -1;
    int64_t deadline = mono_ms() + timeout_ms;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "%s: cannot resolve %s: %s", url, host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    snprintf(err, errlen, "%s: no address", url);
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 1) {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr == 0)
                break;
            errno = soerr;
        } else if (errno == EINPROGRESS) {
            errno = ETIMEDOUT;
        }
        snprintf(err, errlen, "%s: connect: %s", url, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return -1;

    size_t blen = strlen(body);
    char head[2048];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: picket-collector\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%sConnection: close\r\n\r\n",
                      path, host, port, blen, key ? "Idempotency-Key: " : "", key ? key : "", key ? "\r\n" : "");
    if (hn < 0 || (size_t)hn >= sizeof head) {
        snprintf(err, errlen, "%s: request head too long", url);
        close(fd);
        return -1;
    }
    const char *parts[2] = {head, body};
    size_t lens[2] = {(size_t)hn, blen};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < lens[i]) {
            ssize_t w = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (wait_fd(fd, POLLOUT, deadline) == 1)
                    continue;
                snprintf(err, errlen, "%s: timed out sending after %d ms", url, timeout_ms);
            } else {
                snprintf(err, errlen, "%s: send: %s", url, strerror(errno));
            }
            close(fd);
            return -1;
        }
    }
    /* The status line is all we need. */
    char buf[256];
    size_t got = 0;
    while (got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EAGAIN || errno == EINTR) {
            if (wait_fd(fd, POLLIN, deadline) == 1)
                continue;
            snprintf(err, errlen, "%s: no answer within %d ms", url, timeout_ms);
        } else {
            snprintf(err, errlen, "%s: recv: %s", url, strerror(errno));
        }
        close(fd);
        return -1;
    }
    close(fd);
    buf[got] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 599) {
        snprintf(err, errlen, "%s: not an HTTP answer", url);
        return -1;
    }
    return status;
}
