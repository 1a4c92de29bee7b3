/* conn_gate.c: accept4() for the whole collector process, with a reserved
 * descriptor to shed connections on EMFILE and a table of the armed port's
 * open connections (descriptor, socket inode, peer address) to cap them in
 * total and per address (see conn_gate.h for why it sits at this level). Owns
 * the table, the reserve descriptor and the sweep thread; never blocks in
 * accept4() beyond the real call's own (non-blocking listeners) and never logs
 * more than once a second per kind of event. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "conn_gate.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define SWEEP_MS 200
#define MAX_REFUSALS_PER_CALL 100000 /* bounds one accept4() call's loop */

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

struct tracked {
    int fd;
    ino_t ino;
    unsigned char peer[16]; /* IPv4 in the first 4 bytes; IPv6's /64 in the first 8 */
    int family;
};

static struct {
    pthread_mutex_t mu;
    accept4_fn real_accept4;
    int reserve_fd; /* /dev/null, closed for a moment to shed on EMFILE; -1 when lost */
    int port;       /* armed port, 0: none */
    struct conn_gate_limits limits;
    struct tracked *table;
    long n, cap;
    int64_t last_inline_sweep_ms;
    struct conn_gate_stats stats;
    time_t last_log[4];
    unsigned long long unlogged[4];
    pthread_t sweeper;
    int sweeping, stop;
} gate = {.mu = PTHREAD_MUTEX_INITIALIZER, .reserve_fd = -1};

enum { LOG_PEER, LOG_TOTAL, LOG_SHED, LOG_ERROR };

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve_real(void)
{
    gate.real_accept4 = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
    gate.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static const char *const log_msgs[] = {"connection refused: per-address cap", "connection refused: total cap",
                                       "out of descriptors: connection shed", "accept failed: will retry"};

/* At most one line a second per kind; the line says how many events it stands
 * for (the sweep thread flushes the rest). Called under gate.mu. */
static void log_bounded(int kind, int err_no)
{
    time_t now = time(NULL);
    gate.unlogged[kind]++;
    if (gate.last_log[kind] == now)
        return;
    gate.last_log[kind] = now;
    PK_WARN("conn", log_msgs[kind], "events=%llu open=%ld errno=%d port=%d", gate.unlogged[kind], gate.n, err_no,
            gate.port);
    gate.unlogged[kind] = 0;
}

/* Logs the events held back by log_bounded once their second is over. */
static void flush_logs_locked(void)
{
    time_t now = time(NULL);
    for (int kind = 0; kind < 4; kind++)
        if (gate.unlogged[kind] && gate.last_log[kind] != now) {
            gate.last_log[kind] = now;
            PK_WARN("conn", log_msgs[kind], "events=%llu open=%ld port=%d", gate.unlogged[kind], gate.n, gate.port);
            gate.unlogged[kind] = 0;
        }
}

static int peer_key(const struct sockaddr_storage *ss, unsigned char key[16], int *family)
{
    memset(key, 0, 16);
    if (ss->ss_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        *family = AF_INET;
        return 0;
    }
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            memcpy(key, a->s6_addr + 12, 4);
            *family = AF_INET;
        } else {
            memcpy(key, a->s6_addr, 8); /* one /64 is one peer: a host owns many addresses in it */
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

static int same_socket(const struct tracked *t)
{
    struct stat st;
    return fstat(t->fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == t->ino;
}

/* Forgets connections whose descriptor was closed (or reused). Under gate.mu. */
static void sweep_locked(void)
{
    for (long i = 0; i < gate.n;) {
        if (same_socket(&gate.table[i]))
            i++;
        else
            gate.table[i] = gate.table[--gate.n];
    }
    gate.stats.open = gate.n;
}

static int is_armed_listener(int listen_fd)
{
    if (!gate.port)
        return 0;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    int port = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
               : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                          : -1;
    return port == gate.port;
}

/* A sweep on the refusal path, at most every 20 ms: under a flood every
 * accept is a refusal, and a sweep costs one fstat per open connection. */
static void sweep_soon_locked(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (ms - gate.last_inline_sweep_ms < 20)
        return;
    gate.last_inline_sweep_ms = ms;
    sweep_locked();
}

static long count_peer_locked(const struct tracked *t)
{
    size_t keylen = t->family == AF_INET ? 4 : 8;
    long same = 0;
    for (long i = 0; i < gate.n; i++)
        same += gate.table[i].family == t->family && memcmp(gate.table[i].peer, t->peer, keylen) == 0;
    return same;
}

/* 1 when fd (just accepted from ss) may stay; records it. Under gate.mu. */
static int admit_locked(int fd, const struct sockaddr_storage *ss)
{
    struct tracked t = {.fd = fd};
    struct stat st;
    if (peer_key(ss, t.peer, &t.family) < 0 || fstat(fd, &st) < 0)
        return 1; /* not an IP socket: not ours to count */
    t.ino = st.st_ino;
    /* The number may be a closed connection's, reused before the sweep saw it. */
    for (long i = 0; i < gate.n; i++)
        if (gate.table[i].fd == fd) {
            gate.table[i] = gate.table[--gate.n];
            break;
        }
    long limit = gate.limits.max_total > 0 && gate.limits.max_total < gate.cap ? gate.limits.max_total : gate.cap;
    if (gate.n >= limit)
        sweep_soon_locked();
    if (gate.n >= limit) {
        gate.stats.refused_total++;
        log_bounded(LOG_TOTAL, 0);
        return 0;
    }
    if (gate.limits.max_per_peer > 0 && count_peer_locked(&t) >= gate.limits.max_per_peer) {
        sweep_soon_locked();
        if (count_peer_locked(&t) >= gate.limits.max_per_peer) {
            gate.stats.refused_peer++;
            log_bounded(LOG_PEER, 0);
            return 0;
        }
    }
    gate.table[gate.n++] = t;
    gate.stats.accepted++;
    gate.stats.open = gate.n;
    if (gate.n > gate.stats.peak)
        gate.stats.peak = gate.n;
    return 1;
}

/* No descriptor left: take the reserve back for a moment to accept and drop
 * the waiting connection, so the listener's queue drains instead of waking
 * its poller forever. 1 when one was shed, 0 when none was waiting, -1 when
 * the reserve is lost. */
static int shed_one(int listen_fd, int err_no)
{
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl < 0 || !(fl & O_NONBLOCK))
        return -1; /* a blocking listener would wait here holding the lock */
    pthread_mutex_lock(&gate.mu);
    int shed = -1;
    if (gate.reserve_fd >= 0) {
        close(gate.reserve_fd);
        int fd = gate.real_accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        shed = fd >= 0;
        if (fd >= 0) {
            close(fd);
            gate.stats.shed_no_descriptor++;
            log_bounded(LOG_SHED, err_no);
        }
        gate.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    pthread_mutex_unlock(&gate.mu);
    return shed;
}

int accept4(int listen_fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    pthread_once(&resolve_once, resolve_real);
    if (!gate.real_accept4) {
        errno = ENOSYS;
        return -1;
    }
    for (int round = 0; round < MAX_REFUSALS_PER_CALL; round++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = gate.real_accept4(listen_fd, (struct sockaddr *)&ss, &len, flags);
        if (fd < 0) {
            int e = errno;
            int shed = e == EMFILE || e == ENFILE ? shed_one(listen_fd, e) : -1;
            if (shed == 1)
                continue;
            if (shed == 0) { /* the queue is empty: nothing to report */
                errno = EAGAIN;
                return -1;
            }
            /* Callers (gRPC 1.51) stop their listener for good on anything but
             * EAGAIN/EINTR/ECONNABORTED: say "try again" for descriptor
             * exhaustion and transient network errors. */
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == EPROTO || e == ENETDOWN ||
                e == EHOSTUNREACH || e == ENETUNREACH || e == EPERM) {
                pthread_mutex_lock(&gate.mu);
                log_bounded(LOG_ERROR, e);
                pthread_mutex_unlock(&gate.mu);
                e = EAGAIN;
            }
            errno = e;
            return -1;
        }
        pthread_mutex_lock(&gate.mu);
        int keep = !is_armed_listener(listen_fd) || admit_locked(fd, &ss);
        pthread_mutex_unlock(&gate.mu);
        if (keep) {
            if (addr && addrlen) {
                memcpy(addr, &ss, len < *addrlen ? len : *addrlen);
                *addrlen = len;
            }
            return fd;
        }
        close(fd);
    }
    errno = EAGAIN;
    return -1;
}

static void *sweep_thread(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "pk-conn-sweep");
    (void)arg;
    long last_peak_open = 0;
    int trim_in = 0; /* sweeps until a second trim, 0: none planned */
    for (;;) {
        struct timespec ts = {0, SWEEP_MS * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&gate.mu);
        if (gate.stop) {
            pthread_mutex_unlock(&gate.mu);
            return NULL;
        }
        sweep_locked();
        flush_logs_locked();
        long open = gate.n;
        pthread_mutex_unlock(&gate.mu);
        /* A flood leaves freed per-connection memory in malloc's arenas; once
         * the count has fallen to a quarter of its high mark, give it back, and
         * again 5 s later for what gRPC released after its connections closed. */
        if (open > last_peak_open)
            last_peak_open = open;
        int trim = 0;
        if (last_peak_open >= 64 && open <= last_peak_open / 4) {
            PK_INFO("conn", "flood over: freed memory returned", "open=%ld high=%ld", open, last_peak_open);
            last_peak_open = open;
            trim = 1;
            trim_in = 5000 / SWEEP_MS;
        } else if (trim_in > 0 && --trim_in == 0)
            trim = 1;
        if (trim) {
            malloc_trim(0);
            pthread_mutex_lock(&gate.mu);
            gate.stats.trims++;
            pthread_mutex_unlock(&gate.mu);
        }
    }
}

long conn_gate_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            rl.rlim_cur = old;
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1L << 30 ? 1L << 30 : (long)rl.rlim_cur;
}

long conn_gate_default_total(long nofile)
{
    /* Keep 256 for the database, HTTP clients, gRPC's own pipes and files. */
    long room = nofile - 256;
    if (room < 16)
        room = nofile / 2 > 1 ? nofile / 2 : 1;
    return room > 100000 ? 100000 : room;
}

int conn_gate_arm(int port, const struct conn_gate_limits *limits)
{
    pthread_once(&resolve_once, resolve_real);
    struct rlimit rl;
    long cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 100000;
    if (limits->max_total > 0 && limits->max_total < cap)
        cap = limits->max_total;
    if (cap > 1000000)
        cap = 1000000;
    struct tracked *table = calloc((size_t)cap, sizeof *table);
    if (!table)
        return -1;
    pthread_mutex_lock(&gate.mu);
    free(gate.table);
    gate.table = table;
    gate.cap = cap;
    gate.n = 0;
    gate.limits = *limits;
    gate.port = port;
    gate.stop = 0;
    pthread_mutex_unlock(&gate.mu);
    if (pthread_create(&gate.sweeper, NULL, sweep_thread, NULL) != 0)
        return -1;
    gate.sweeping = 1;
    PK_INFO("conn", "gate armed", "port=%d max_connections=%ld max_per_address=%ld", port, cap,
            limits->max_per_peer);
    return 0;
}

void conn_gate_disarm(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.stop = 1;
    gate.port = 0;
    pthread_mutex_unlock(&gate.mu);
    if (gate.sweeping)
        pthread_join(gate.sweeper, NULL);
    gate.sweeping = 0;
    pthread_mutex_lock(&gate.mu);
    free(gate.table);
    gate.table = NULL;
    gate.n = gate.cap = 0;
    pthread_mutex_unlock(&gate.mu);
}

void conn_gate_get_stats(struct conn_gate_stats *out)
{
    pthread_mutex_lock(&gate.mu);
    *out = gate.stats;
    out->open = gate.n;
    pthread_mutex_unlock(&gate.mu);
}
