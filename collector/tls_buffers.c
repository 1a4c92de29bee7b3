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
 * buffers between each connection's SSL object and its socket, 16 kB each way
 * by default, allocated with the pair and kept for the connection's life. The
 * collector's TLS records are at most 4 kB (GRPC_ARG_TSI_MAX_FRAME_SIZE) and
 * gRPC writes one only into an empty ring, so 8 kB each way holds any of them;
 * a peer's larger record and a handshake flight larger than the ring pass
 * through in parts (tests/integration/test_tls_long_chain.py: a 10 kB server
 * flight through an 8 kB ring). As a margin the ring is still made as large
 * as the server's own flight (tls_buffers_configure). Measured with valgrind
 * massif: 16 kB less heap per connection; resident memory barely changed
 * (bench/run_probes_scale), as most of a ring's pages were never touched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tls_buffers.h"

#include <dlfcn.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

static SSL_CTX *(*real_ctx_new)(const SSL_METHOD *);
static int (*real_bio_pair)(BIO **, size_t, BIO **, size_t);
/* 0 until tls_buffers_configure: gRPC's sizes are kept. */
static atomic_size_t bio_size;

/* The real functions, looked up once before main (no thread runs yet). */
__attribute__((constructor)) static void resolve_real(void)
{
    real_ctx_new = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
    real_bio_pair = (int (*)(BIO **, size_t, BIO **, size_t))dlsym(RTLD_NEXT, "BIO_new_bio_pair");
}

size_t tls_buffers_configure(const char *cert_pem, const char *ca_pem)
{
    /* PEM is a third larger than the DER that goes on the wire: a safe bound
     * for the chain and the CA names, plus 4 kB for the rest of the flight. */
    size_t need = (cert_pem ? strlen(cert_pem) : 0) + (ca_pem ? strlen(ca_pem) : 0) + 4096;
    size_t size = need > TLS_BUFFERS_MIN_BIO ? need : TLS_BUFFERS_MIN_BIO;
    atomic_store(&bio_size, size);
    return size;
}

/* A size of 0 asks OpenSSL for its default (17 kB). */
static size_t cut(size_t asked)
{
    size_t want = atomic_load(&bio_size);
    if (want == 0)
        return asked;
    return asked == 0 || asked > want ? want : asked;
}

int BIO_new_bio_pair(BIO **bio1, size_t writebuf1, BIO **bio2, size_t writebuf2)
{
    if (!real_bio_pair)
        return 0;
    return real_bio_pair(bio1, cut(writebuf1), bio2, cut(writebuf2));
}

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method)
{
    if (!real_ctx_new)
        return NULL;
    SSL_CTX *ctx = real_ctx_new(method);
    if (ctx)
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}
