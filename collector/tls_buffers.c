/* tls_buffers.c: OpenSSL's per-connection record buffers given back while a
 * connection is idle. gRPC core creates its own SSL_CTX and never sets
 * SSL_MODE_RELEASE_BUFFERS, so every TLS connection keeps a read and a write
 * buffer of about 17 kB each for its whole life, used or not: with thousands of
 * probes that sit idle between one small message and the next, most of the
 * collector's memory. The collector's executable defines SSL_CTX_new (exported
 * with --export-dynamic-symbol, see CMakeLists.txt), which the dynamic linker
 * binds gRPC's call to before libssl's; it calls the real one (dlsym RTLD_NEXT)
 * and sets the mode on the context, which every connection made from it
 * inherits. Nothing else changes: the buffers are allocated again for the next
 * record. tls_buffers_active() tells /metrics and the log whether the
 * interposition took effect (it does not when libssl is linked statically). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tls_buffers.h"

#include <dlfcn.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stddef.h>

static atomic_int contexts_tuned;

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method)
{
    static SSL_CTX *(*real)(const SSL_METHOD *);
    if (!real)
        real = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
    if (!real)
        return NULL;
    SSL_CTX *ctx = real(method);
    if (ctx) {
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        atomic_fetch_add(&contexts_tuned, 1);
    }
    return ctx;
}

int tls_buffers_active(void)
{
    return atomic_load(&contexts_tuned) > 0;
}
