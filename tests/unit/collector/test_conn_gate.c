/* Unit tests for collector/conn_gate.c, with real sockets on loopback: the
 * armed port admits up to the per-address cap from one address and up to the
 * total cap overall, refusing the rest at accept (the client sees the
 * connection closed); a closed connection frees its slot once swept; another
 * port is never gated; out of descriptors, accept4 sheds the waiting
 * connection and says "try again" instead of failing for good. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn_gate.h"

static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A client connected from source address `from` (127.0.0.x). */
static int client(int port, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)port);
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&dst, sizeof dst), 0);
    return fd;
}

static int accept_one(int lfd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* 1 when the server side closed the client's connection. */
static int closed(int cfd)
{
    struct timeval tv = {1, 0};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b;
    return recv(cfd, &b, 1, 0) <= 0;
}

static void test_caps_per_address_and_total(void **state)
{
    (void)state;
    int port;
    int lfd = listener(&port);
    struct conn_gate_limits lim = {.max_total = 3, .max_per_peer = 2};
    assert_int_equal(conn_gate_arm(port, &lim), 0);
    struct conn_gate_stats before, after;
    conn_gate_get_stats(&before);

    int c1 = client(port, "127.0.0.1"), c2 = client(port, "127.0.0.1"), c3 = client(port, "127.0.0.1");
    int s1 = accept_one(lfd), s2 = accept_one(lfd);
    assert_true(s1 >= 0 && s2 >= 0);
    errno = 0;
    assert_int_equal(accept_one(lfd), -1); /* the third from 127.0.0.1 is refused, then nothing waits */
    assert_int_equal(errno, EAGAIN);
    assert_true(closed(c3));

    int c4 = client(port, "127.0.0.2");
    int s4 = accept_one(lfd);
    assert_true(s4 >= 0); /* another address: admitted, total now 3 */
    int c5 = client(port, "127.0.0.3");
    assert_int_equal(accept_one(lfd), -1);
    assert_true(closed(c5));
    conn_gate_get_stats(&after);
    assert_int_equal(after.refused_peer - before.refused_peer, 1);
    assert_int_equal(after.refused_total - before.refused_total, 1);
    assert_int_equal(after.open, 3);

    /* A slot comes back once its connection is closed and swept (every 200 ms). */
    close(s1);
    struct timespec pause = {0, 300 * 1000000L};
    nanosleep(&pause, NULL);
    int c6 = client(port, "127.0.0.1");
    int s6 = accept_one(lfd);
    assert_true(s6 >= 0);

    /* Another listener (HTTP's) is not counted. */
    int other_port;
    int lfd2 = listener(&other_port);
    int c7 = client(other_port, "127.0.0.1"), c8 = client(other_port, "127.0.0.1");
    int s7 = accept_one(lfd2), s8 = accept_one(lfd2);
    assert_true(s7 >= 0 && s8 >= 0);

    conn_gate_disarm();
    int fds[] = {c1, c2, c3, c4, c5, c6, c7, c8, s2, s4, s6, s7, s8, lfd, lfd2};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        close(fds[i]);
}

static void test_out_of_descriptors_sheds_and_retries(void **state)
{
    (void)state;
    int port;
    int lfd = listener(&port);
    assert_int_equal(accept_one(lfd), -1); /* nothing waits; sets the gate up (its reserve descriptor) */
    int c = client(port, "127.0.0.1");
    struct conn_gate_stats before, after;
    conn_gate_get_stats(&before);
    /* Use every descriptor left under a low limit. */
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 64;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int filler[64], n = 0;
    while (n < 64 && (filler[n] = dup(0)) >= 0)
        n++;
    errno = 0;
    int s = accept_one(lfd);
    int saved = errno;
    for (int i = 0; i < n; i++)
        close(filler[i]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(s, -1);
    assert_int_equal(saved, EAGAIN); /* not EMFILE: the caller keeps its listener */
    assert_true(closed(c));         /* the waiting connection was shed, not left to wake the poller */
    conn_gate_get_stats(&after);
    assert_int_equal(after.shed_no_descriptor - before.shed_no_descriptor, 1);
    /* With descriptors back, the listener accepts again. */
    int c2 = client(port, "127.0.0.1");
    int s2 = accept_one(lfd);
    assert_true(s2 >= 0);
    close(s2);
    close(c2);
    close(c);
    close(lfd);
}

static void test_default_total_leaves_room(void **state)
{
    (void)state;
    assert_int_equal(conn_gate_default_total(1024), 768);
    assert_int_equal(conn_gate_default_total(65536), 65280);
    assert_true(conn_gate_default_total(100) >= 1 && conn_gate_default_total(100) < 100);
    assert_int_equal(conn_gate_default_total(10000000), 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_per_address_and_total),
        cmocka_unit_test(test_out_of_descriptors_sheds_and_retries),
        cmocka_unit_test(test_default_total_leaves_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
