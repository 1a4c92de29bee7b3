/* loopback.c: the unit tests' one server on 127.0.0.1 (see loopback.h). A
 * thread polls the bound socket every 50 ms so that lb_stop is prompt, and
 * hands each connection (or readable datagram socket) to the test's handler.
 * The server struct is shared by reference count with connection threads, so
 * one that outlives lb_stop never touches freed memory. Never exits the test. */
#include "loopback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct lb_server {
    enum lb_mode mode;
    lb_handler handler;
    void *user;
    int fd, port;
    pthread_t thread;
    atomic_int stop;
    atomic_int active; /* connection threads still running */
    atomic_int refs;   /* lb_stop's one plus one per connection thread */
};

struct connection {
    struct lb_server *server;
    int fd;
};

static void release(struct lb_server *s)
{
    if (atomic_fetch_sub(&s->refs, 1) == 1)
        free(s);
}

void lb_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int lb_listen(int type, int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || (type == SOCK_STREAM && listen(fd, 64) < 0) ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int lb_closed_port(void)
{
    int port = 0;
    int fd = lb_listen(SOCK_STREAM, &port);
    if (fd >= 0)
        close(fd);
    return port;
}

int lb_wait_listening(int port, int timeout_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return 0;
        lb_sleep_ms(20);
    }
    return -1;
}

void lb_send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

void lb_respond(int fd, int status, const char *extra_headers, const void *body, size_t body_len)
{
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     body_len, extra_headers);
    if (n < 0 || (size_t)n >= sizeof head)
        return;
    lb_send_all(fd, head, (size_t)n);
    lb_send_all(fd, body, body_len);
}

size_t lb_read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0, want = 0;
    buf[0] = '\0';
    while (len < cap - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0)
            break;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (buf[0] < 'A' || buf[0] > 'Z')
            break; /* not HTTP (a TLS hello): answer at once */
        char *end = strstr(buf, "\r\n\r\n");
        if (end && !want) {
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            want = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (want && len >= want)
            break;
    }
    buf[len] = '\0';
    return len;
}

void lb_drain(int fd, int idle_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char sink[64];
    while (poll(&p, 1, idle_ms) > 0 && recv(fd, sink, sizeof sink, 0) > 0)
        ;
}

static void *run_connection(void *arg)
{
    struct connection *c = arg;
    struct lb_server *s = c->server;
    s->handler(c->fd, s->user);
    close(c->fd);
    free(c);
    atomic_fetch_sub(&s->active, 1);
    release(s);
    return NULL;
}

/* Hands one accepted connection to a thread of its own; on failure closes it. */
static void spawn(struct lb_server *s, int fd)
{
    struct connection *c = malloc(sizeof *c);
    pthread_t t;
    if (!c) {
        close(fd);
        return;
    }
    *c = (struct connection){s, fd};
    atomic_fetch_add(&s->active, 1);
    atomic_fetch_add(&s->refs, 1);
    if (pthread_create(&t, NULL, run_connection, c) != 0) {
        atomic_fetch_sub(&s->active, 1);
        atomic_fetch_sub(&s->refs, 1);
        close(fd);
        free(c);
        return;
    }
    pthread_detach(t);
}

static void *serve(void *arg)
{
    struct lb_server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        if (s->mode == LB_DATAGRAM) {
            s->handler(s->fd, s->user);
            continue;
        }
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        if (s->mode == LB_SERIAL) {
            s->handler(fd, s->user);
            close(fd);
        } else {
            spawn(s, fd);
        }
    }
    return NULL;
}

int lb_start_at(struct lb_server **server, int *port, enum lb_mode mode, lb_handler handler, void *user)
{
    *server = lb_start(mode, handler, user);
    if (!*server)
        return -1;
    *port = lb_port(*server);
    return 0;
}

struct lb_server *lb_start(enum lb_mode mode, lb_handler handler, void *user)
{
    struct lb_server *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "loopback: out of memory\n");
        return NULL;
    }
    s->mode = mode;
    s->handler = handler;
    s->user = user;
    atomic_init(&s->refs, 1);
    s->fd = lb_listen(mode == LB_DATAGRAM ? SOCK_DGRAM : SOCK_STREAM, &s->port);
    if (s->fd < 0) {
        fprintf(stderr, "loopback: cannot bind 127.0.0.1: %s\n", strerror(errno));
        free(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, serve, s) != 0) {
        fprintf(stderr, "loopback: cannot start the server thread\n");
        close(s->fd);
        free(s);
        return NULL;
    }
    return s;
}

int lb_port(const struct lb_server *s)
{
    return s->port;
}

void lb_stop(struct lb_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (int i = 0; i < 400 && atomic_load(&s->active) > 0; i++)
        lb_sleep_ms(10);
    release(s);
}
