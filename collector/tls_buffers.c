/* tls_buffers.c: OpenSSL's per-connection record buffers given back while a
 * connection is idle. gRPC core creates its own SSL_CTX and never sets
 * SSL_MODE_RELEASE_BUFFERS, so every TLS connection keeps its read and write
 * record buffers for its whole life, used or not, while thousands of probes sit
 * idle between one small message and the next (bench/run_probes_scale measured
 * about 8 kB less per connected probe with the mode). The collector's executable
 * defines SSL_CTX_new (exported with --export-dynamic-symbol, see
 * CMakeLists.txt), which the dynamic linker binds gRPC's call to before
 * libssl's; it calls the real one (dlsym RTLD_NEXT) and sets the mode on the
 * context, which every connection made from it inherits. Nothing else changes:
 * the buffers are allocated again for the next record. (Linked statically with
 * libssl, the collector would keep OpenSSL's defaults: the interposition needs
 * libssl as a shared library.)
 *
 * The same way, BIO_new_bio_pair: gRPC's TLS layer puts a pair of ring
 * buffers between each connection's SSL object and its socket, 17 kB each way
 * by default, allocated with the pair and kept for the connection's life. Each
 * is cut to what it must hold (tls_buffers.h): towards the socket, two of the
 * collector's records, which are at most 1 kB (GRPC_ARG_TSI_MAX_FRAME_SIZE in
 * rpc_server.c), so 2 kB; from the socket, one TCP read, at most 4 kB
 * (GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, honoured once tls_buffers_reads_sized has
 * turned off gRPC's fixed 8 kB read slices), because gRPC's handshaker writes
 * each read into the ring in one call and loses what does not fit. A peer's
 * record larger than the ring and the server's handshake flight pass through
 * in parts (tests/integration/test_tls_long_chain.py: a 10 kB server flight,
 * a 6 kB client flight, a large message both ways). The collector makes no
 * gRPC client connection; if it ever does, that channel's reads must be bounded
 * the same way. Measured with bench/run_probes_scale at 1,000 probes: heap in
 * use 101.3 -> 82.7 MB with the 1 kB records, 4 kB reads and these rings
 * together (docs/PERFORMANCE.md, "Many probes on one collector"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tls_buffers.h"

#include "buf.h"
#include "pk_error.h"

#include <dlfcn.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

static SSL_CTX *(*real_ctx_new)(const SSL_METHOD *);
static int (*real_bio_pair)(BIO **, size_t, BIO **, size_t);
/* 0 until tls_buffers_configure: gRPC's sizes are kept. */
static atomic_int configured;

/* The real functions, looked up once before main (no thread runs yet). */
__attribute__((constructor)) static void resolve_real(void)
{
    real_ctx_new = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
    real_bio_pair = (int (*)(BIO **, size_t, BIO **, size_t))dlsym(RTLD_NEXT, "BIO_new_bio_pair");
}

void tls_buffers_configure(void)
{
    atomic_store(&configured, 1);
}

int tls_buffers_reads_sized(char *err, size_t errlen)
{
    static const char off[] = "-tcp_read_chunks";
    const char *cur = getenv("GRPC_EXPERIMENTS");
    struct pk_buf b;
    pk_buf_init(&b, 0);
    if (cur && cur[0])
        pk_buf_addf(&b, "%s,", cur);
    pk_buf_adds(&b, off);
    int rc = b.failed ? -1 : setenv("GRPC_EXPERIMENTS", b.data, 1);
    pk_buf_free(&b);
    if (rc < 0)
        return pk_fail(err, errlen, "cannot set GRPC_EXPERIMENTS to turn off gRPC's fixed-size TCP reads");
    return 0;
}

/* gRPC 1.51 makes the pair as (network side, its ring: socket to OpenSSL;
 * SSL side, its ring: OpenSSL to socket), both asked as 0 (OpenSSL's 17 kB). */
int BIO_new_bio_pair(BIO **bio1, size_t writebuf1, BIO **bio2, size_t writebuf2)
{
    if (!real_bio_pair)
        return 0;
    if (atomic_load(&configured)) {
        if (writebuf1 == 0 || writebuf1 > TLS_BUFFERS_RECV_BIO)
            writebuf1 = TLS_BUFFERS_RECV_BIO;
        if (writebuf2 == 0 || writebuf2 > TLS_BUFFERS_SEND_BIO)
            writebuf2 = TLS_BUFFERS_SEND_BIO;
    }
    return real_bio_pair(bio1, writebuf1, bio2, writebuf2);
}

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method)
{
    if (!real_ctx_new)
        return NULL;
    SSL_CTX *ctx = real_ctx_new(method);
    if (ctx) {
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        /* No session tickets: probes never resume (their gRPC channels keep no
         * session cache), but a TLS 1.3 server sends two tickets after every
         * handshake, and OpenSSL builds each by encoding the session, decoding
         * it again (with the probe's certificate and key) and encoding the copy:
         * about as much CPU as the rest of the handshake (docs/PERFORMANCE.md),
         * paid 10,000 times when a fleet reconnects. No effect on a client's
         * context. */
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    return ctx;
}
