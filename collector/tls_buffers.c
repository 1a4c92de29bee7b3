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
 * libssl as a shared library.) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <openssl/ssl.h>
#include <stddef.h>

static SSL_CTX *(*real_ctx_new)(const SSL_METHOD *);

/* The real function, looked up once before main (no thread runs yet). */
__attribute__((constructor)) static void resolve_real(void)
{
    real_ctx_new = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
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
