/* loopback.h: the one test server of the unit tests, on 127.0.0.1 and an
 * ephemeral port. A test gives it a handler that speaks its protocol on one
 * connected socket (or, for UDP, on the bound socket when a datagram waits);
 * the server owns the sockets and the threads. Also the small pieces the
 * handlers share: reading an HTTP request, answering one, waiting out a client.
 * For tests only: every failure here is a test setup failure. */
#ifndef PK_TEST_LOOPBACK_H
#define PK_TEST_LOOPBACK_H

#include <stddef.h>

enum lb_mode {
    LB_THREAD_PER_CONNECTION, /* TCP: each accepted connection on its own thread */
    LB_SERIAL,                /* TCP: connections handled one after another on the server thread */
    LB_DATAGRAM,              /* UDP: the handler is called with the bound socket when it is readable */
};

/* Speaks the protocol on fd. Must not close fd: the server closes it after the
 * handler returns (LB_DATAGRAM: the bound socket stays open). */
typedef void (*lb_handler)(int fd, void *user);

struct lb_server;

/* Binds 127.0.0.1:0 and starts serving on a thread. NULL (with a line on
 * stderr) when the socket or the thread cannot be had. Stop with lb_stop. */
struct lb_server *lb_start(enum lb_mode mode, lb_handler handler, void *user);

/* The port lb_start bound. */
int lb_port(const struct lb_server *s);

/* lb_start into *server and its port into *port: 0, or -1 when it could not
 * start (a cmocka group setup returns that as it is). */
int lb_start_at(struct lb_server **server, int *port, enum lb_mode mode, lb_handler handler, void *user);

/* Stops accepting, joins the server thread, waits up to 4 s for connection
 * threads still running, closes the socket and frees s (the last connection
 * thread frees it if some are still running). NULL is allowed. */
void lb_stop(struct lb_server *s);

/* A socket of type (SOCK_STREAM: listening) bound to 127.0.0.1:0; the fd, or -1.
 * *port gets its port. */
int lb_listen(int type, int *port);

/* A port that was free a moment ago and has no listener now: connecting to it
 * is refused. */
int lb_closed_port(void);

/* Waits until something accepts connections on 127.0.0.1:port (a child process
 * starting up); 0, or -1 after timeout_ms. */
int lb_wait_listening(int port, int timeout_ms);

void lb_sleep_ms(int ms);

/* Sends all of data (gives up quietly when the peer has gone). */
void lb_send_all(int fd, const void *data, size_t len);

/* Sends "HTTP/1.1 <status> X" with Content-Length, Connection: close, the
 * extra_headers ("" or lines ending in \r\n) and the body. */
void lb_respond(int fd, int status, const char *extra_headers, const void *body, size_t body_len);

/* Reads an HTTP request head and its Content-Length body into buf (NUL
 * terminated); stops early when the first byte is not an HTTP method letter
 * (a TLS hello) or nothing comes for 2 s. Returns the bytes read. */
size_t lb_read_request(int fd, char *buf, size_t cap);

/* Reads and discards until the peer closes or nothing comes for idle_ms: a
 * server that never answers. */
void lb_drain(int fd, int idle_ms);

#endif
