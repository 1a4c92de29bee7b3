/* tls_buffers.h: the collector's hold on OpenSSL's and gRPC's per-connection
 * buffers (tls_buffers.c): record buffers released while idle, TLS records of
 * at most 1 kB, TCP reads of at most 4 kB, and the two ring buffers gRPC puts
 * between each connection's SSL object and its socket sized from those two
 * bounds. */
#ifndef PICKET_COLLECTOR_TLS_BUFFERS_H
#define PICKET_COLLECTOR_TLS_BUFFERS_H

#include <stddef.h>

/* The longest TLS record the collector writes (GRPC_ARG_TSI_MAX_FRAME_SIZE;
 * gRPC's lower bound: it makes this much less its 100-byte overhead bound the
 * plaintext of one record). */
#define TLS_BUFFERS_FRAME 1024
/* The longest TCP read on a connection (GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, with
 * gRPC's fixed-slice reads turned off: tls_buffers_reads_sized). */
#define TLS_BUFFERS_READ_MAX 4096
/* The first read's size; later ones follow what the connection has been
 * reading, between gRPC's floor of 256 bytes and TLS_BUFFERS_READ_MAX. */
#define TLS_BUFFERS_READ_FIRST 1024
/* Socket to OpenSSL: one whole read. gRPC's TLS handshaker writes each read
 * into this ring in one call and drops what does not fit. */
#define TLS_BUFFERS_RECV_BIO TLS_BUFFERS_READ_MAX
/* OpenSSL to socket: two records. gRPC drains the ring after each record it
 * seals but may leave part of one when its output buffer is full, and then
 * seals the next; a handshake flight larger than the ring passes in parts. */
#define TLS_BUFFERS_SEND_BIO (2 * TLS_BUFFERS_FRAME)

/* From now on every BIO pair made (each TLS connection gRPC accepts) gets
 * the two ring sizes above. Call once before the server starts, with
 * tls_buffers_reads_sized before grpc_init. */
void tls_buffers_configure(void);

/* Turns off gRPC 1.51's "tcp_read_chunks" experiment (on by default), which
 * reads into fixed 8 kB slices (64 kB ones when it expects more) whatever the
 * read chunk channel arguments say: only without it is a read at most
 * TLS_BUFFERS_READ_MAX, which TLS_BUFFERS_RECV_BIO relies on. It appends
 * "-tcp_read_chunks" to GRPC_EXPERIMENTS (the last entry wins, so the
 * operator's other entries are kept). Before grpc_init, while no other thread
 * runs. 0, or -1 with err when the variable could not be set. */
int tls_buffers_reads_sized(char *err, size_t errlen);

#endif
