/* conn_gate.h: the collector's descriptor-level gate on accepted connections.
 * gRPC C core (1.51) accepts on its own threads and offers no hook before a
 * connection takes a descriptor, no per-address limit and no recovery from
 * EMFILE (its listener stops for good). The gate wraps accept4() for the whole
 * process (the executable's definition interposes libc's for libgrpc and
 * libmicrohttpd alike) and:
 *   - on EMFILE/ENFILE on any listener, sheds the waiting connection with a
 *     reserved descriptor and reports "try again", so no listener ever stops
 *     and no caller loops on the error;
 *   - on the armed (gRPC) port, refuses a connection past the total or
 *     per-address cap (IPv6 counts per /64) by closing it at once;
 *   - logs refusals and errors at most once per second per kind, with counts.
 * It knows a connection ended when its descriptor no longer names the same
 * socket (a sweep thread, every 200 ms), and gives freed heap back to the
 * system (malloc_trim) once a flood is over. */
#ifndef PK_CONN_GATE_H
#define PK_CONN_GATE_H

#include <stddef.h>

struct conn_gate_limits {
    long max_total;    /* connections to the armed port at once; <= 0: no cap */
    long max_per_peer; /* from one IPv4 address or IPv6 /64; <= 0: no cap */
};

/* Raises RLIMIT_NOFILE's soft limit to the hard limit. Returns the soft limit
 * now in force (or the old one when it could not be raised). */
long conn_gate_raise_nofile(void);

/* The total cap the collector uses when none is given: room left for the
 * database, HTTP and gRPC's own descriptors under a soft limit of nofile. */
long conn_gate_default_total(long nofile);

/* Gates accept4() on the listener bound to TCP port `port` (any address) and
 * starts the sweep thread. Call once, before the listener accepts. 0, or -1
 * when the thread cannot start (the gate then still sheds on EMFILE). */
int conn_gate_arm(int port, const struct conn_gate_limits *limits);
/* Stops the sweep thread; accept4() goes back to shedding only. */
void conn_gate_disarm(void);

struct conn_gate_stats {
    long open;                             /* tracked connections to the armed port */
    long peak;                             /* highest `open` since start */
    unsigned long long accepted;           /* admitted on the armed port */
    unsigned long long refused_total;      /* closed: total cap */
    unsigned long long refused_peer;       /* closed: per-address cap */
    unsigned long long shed_no_descriptor; /* closed on EMFILE/ENFILE, any listener */
    unsigned long long trims;              /* times freed heap was returned */
};
/* Any thread. */
void conn_gate_get_stats(struct conn_gate_stats *out);

#endif
