/* http_target.c: a minimal HTTP/1.1 responder for the probe benchmarks.
 * One thread, one epoll set, non-blocking sockets; every request (any method, no
 * request body expected) gets the same small 200 answer, with keep-alive unless the
 * client asks to close. Cheap and identical for every client, so the checker's CPU
 * is what a benchmark measures, not the target's. Never parses more than the end
 * of the headers; never allocates per request.
 *
 *     picket-bench-http-target [--port N] [--listen ADDR]
 *
 * Prints "port=N" on stdout once listening; runs until SIGTERM/SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define BUF_SIZE 8192

static const char ANSWER_KEEP[] = "HTTP/1.1 200 OK\r\n"
                                  "Content-Type: application/json\r\n"
                                  "Content-Length: 11\r\n"
                                  "\r\n"
                                  "{\"ok\":true}";
static const char ANSWER_CLOSE[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: application/json\r\n"
                                   "Content-Length: 11\r\n"
                                   "Connection: close\r\n"
                                   "\r\n"
                                   "{\"ok\":true}";

/* One connection's unparsed input; `fd` < 0 marks a free entry. */
struct conn {
    int fd;
    size_t used;
    char buf[BUF_SIZE];
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void conn_close(int epfd, struct conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Answers every complete request in c->buf. -1 when the connection must close. */
static int serve(struct conn *c)
{
    for (;;) {
        char *end = memmem(c->buf, c->used, "\r\n\r\n", 4);
        if (!end)
            return c->used == BUF_SIZE ? -1 : 0; /* headers larger than the buffer */
        size_t head = (size_t)(end - c->buf) + 4;
        /* HTTP/1.0 without keep-alive, or an explicit close, ends the connection. */
        int close_after = 0;
        for (size_t i = 0; i + 17 <= head; i++)
            if ((c->buf[i] == 'C' || c->buf[i] == 'c') && strncasecmp(c->buf + i, "connection: close", 17) == 0) {
                close_after = 1;
                break;
            }
        if (memmem(c->buf, head, "HTTP/1.0", 8) && !memmem(c->buf, head, "eep-alive", 9))
            close_after = 1;
        const char *answer = close_after ? ANSWER_CLOSE : ANSWER_KEEP;
        size_t len = close_after ? sizeof ANSWER_CLOSE - 1 : sizeof ANSWER_KEEP - 1;
        /* Small answers fit the socket buffer; a short write means a stuck client. */
        if (send(c->fd, answer, len, MSG_NOSIGNAL) != (ssize_t)len)
            return -1;
        if (close_after)
            return -1;
        memmove(c->buf, c->buf + head, c->used - head);
        c->used -= head;
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *addr = "127.0.0.1";
    static const struct option options[] = {
        {"port", required_argument, NULL, 'p'},
        {"listen", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'l':
            addr = optarg;
            break;
        case 'h':
            printf("usage: picket-bench-http-target [--port N] [--listen ADDR]\n");
            return 0;
        default:
            return 2;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int rc = 1, epfd = -1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        perror("http_target: socket");
        goto out;
    }
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
        fprintf(stderr, "http_target: --listen %s: not an IPv4 address\n", addr);
        goto out;
    }
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 4096) < 0) {
        perror("http_target: bind/listen");
        goto out;
    }
    socklen_t slen = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &slen);
    printf("port=%d\n", ntohs(sin.sin_port));
    fflush(stdout);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        perror("http_target: epoll");
        goto out;
    }
    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, 200);
        if (n < 0 && errno != EINTR) {
            perror("http_target: epoll_wait");
            goto out;
        }
        for (int i = 0; i < n; i++) {
            struct conn *cn = events[i].data.ptr;
            if (!cn) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = malloc(sizeof *nc);
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    nc->used = 0;
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc};
                    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev) < 0) {
                        close(fd);
                        free(nc);
                    }
                }
                continue;
            }
            ssize_t got = recv(cn->fd, cn->buf + cn->used, BUF_SIZE - cn->used, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (got <= 0) {
                conn_close(epfd, cn);
                continue;
            }
            cn->used += (size_t)got;
            if (serve(cn) < 0)
                conn_close(epfd, cn);
        }
    }
    rc = 0;
out:
    if (epfd >= 0)
        close(epfd);
    if (lfd >= 0)
        close(lfd);
    return rc;
}
