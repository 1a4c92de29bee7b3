/* tls_buffers.h: the collector's hold on OpenSSL's per-connection buffers
 * (tls_buffers.c): record buffers released while idle, and the size of the
 * two ring buffers gRPC puts between each connection's SSL object and its
 * socket. */
#ifndef PICKET_COLLECTOR_TLS_BUFFERS_H
#define PICKET_COLLECTOR_TLS_BUFFERS_H

#include <stddef.h>

/* The smallest ring buffer ever used, whatever the certificates. */
#define TLS_BUFFERS_MIN_BIO 8192

/* Sets the ring buffers' size for every connection accepted afterwards: the
 * floor, or room for the server's whole first handshake flight (its chain and
 * the client CA names it sends, from the PEM texts; either may be NULL) when
 * that is larger. Returns the size chosen. Call before the server starts. */
size_t tls_buffers_configure(const char *cert_pem, const char *ca_pem);

#endif
